// The worker endpoints' fewer round trips over real HTTP (part of api_tests,
// beside api_test.cpp): a report that carries the worker's next claim and is
// answered with its next tries; several reports in one request
// (POST /workers/reports), each answered on its own; heartbeats of several
// tries in one request; a queued try wakes one parked claim of its queues.
// SQLite has no remote workers: refused there.
#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>
#include <nlohmann/json.hpp>

#include "baton/api/server.h"
#include "baton/core/sha256.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"
#include "test_db.h"

using namespace baton;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kWorkerToken = "batch-worker-secret";
const char* kAdminToken = "batch-admin-secret";

// The worker endpoints need no scheduler: every Control call is refused.
class NoControl final : public scheduler::Control {
 public:
  Result<scheduler::TriggerResult> trigger(const std::string&, const scheduler::TriggerRequest&,
                                           const std::string&) override {
    return no();
  }
  Status cancel_run(const std::string&, const std::string&, const std::string&) override { return no(); }
  Status clear_task(const std::string&, const std::string&, const std::string&, bool, bool,
                    const std::string&) override {
    return no();
  }
  Status mark_task(const std::string&, const std::string&, const std::string&, TaskState,
                   const std::string&) override {
    return no();
  }
  Status set_paused(const std::string&, bool, const std::string&) override { return no(); }
  Result<scheduler::BackfillResult> create_backfill(const scheduler::BackfillRequest&, const std::string&) override {
    return no();
  }
  Status cancel_backfill(long long, const std::string&) override { return no(); }
  Result<std::vector<std::string>> waiting_for(const std::string&, const std::string&, const std::string&,
                                               int) override {
    return no();
  }
  scheduler::SchedulerStatus status() override { return {}; }
  Result<scheduler::SchedulerMetrics> metrics() override { return scheduler::SchedulerMetrics{}; }
  std::string logs_dir() const override { return "."; }

 private:
  static Error no() { return Error{"unsupported", "no scheduler in this test"}; }
};

struct WorkerEnv {
  fs::path dir;
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::unique_ptr<store::Store> store;
  NoControl control;
  std::unique_ptr<api::ApiServer> server;
  std::unique_ptr<httplib::Client> http;
  long long ti_id = 0;
  long long run_pk = 0;

  explicit WorkerEnv(std::chrono::milliseconds claim_recheck = std::chrono::seconds(1)) {
    static int counter = 0;
    dir = fs::temp_directory_path() /
          ("baton-api-batch-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto url = store::parse_database_url(testing::test_database_url(dir));
    REQUIRE(url.ok());
    auto s = store::open_store(*url, clock);
    REQUIRE(s.ok());
    store = std::move(*s);
    REQUIRE(store->create_token("wb", store::Role::worker, sha256_hex(kWorkerToken), "test").ok());
    REQUIRE(store->create_token("adm", store::Role::admin, sha256_hex(kAdminToken), "test").ok());
    api::ApiOptions options;
    options.port = 0;
    options.threads = 2;
    options.claim_recheck = claim_recheck;
    server = std::make_unique<api::ApiServer>(*store, control, clock, options);
    REQUIRE(server->start().ok());
    http = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    http->set_read_timeout(10, 0);
    http->set_keep_alive(true);
    http->set_tcp_nodelay(true);
  }

  ~WorkerEnv() {
    http.reset();
    server.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  bool remote() const { return store->url().engine == store::DatabaseUrl::Engine::postgres; }

  // Tries queued by the owner of partition 3, highest priority first.
  void enqueue(const std::vector<std::string>& tokens) {
    if (ti_id == 0) {
      store::DagVersionRecord v;
      v.dag_id = "d";
      v.version = "v1";
      v.compiled = "{}";
      v.source = "dag: d\n";
      v.file = "dags/d.yaml";
      REQUIRE(store->register_dag_version(v, "default", 3, "system").ok());
      store::RunRecord r;
      r.dag_id = "d";
      r.run_id = "manual__batch";
      r.run_type = "manual";
      r.dag_version = "v1";
      store::TaskInstanceRecord t;
      t.task_id = "a";
      auto run = store->create_run(r, {t}, "test");
      REQUIRE(run.ok());
      ti_id = run->task_instances[0].id;
      run_pk = run->run.pk;
    }
    store::WriteBatch b;
    int priority = 100;
    for (auto& tok : tokens) {
      store::QueueItem q;
      q.attempt_token = tok;
      q.ti_id = ti_id;
      q.run_pk = run_pk;
      q.partition = 3;
      q.priority = priority--;
      q.payload = R"({"command": "echo )" + tok + R"("})";
      b.enqueue.push_back(q);
    }
    REQUIRE(store->apply(b).ok());
  }

  json report(const std::string& token, const std::string& outcome = "success") const {
    return {{"attempt_token", token}, {"ti_id", ti_id}, {"try_number", 1}, {"outcome", outcome}, {"exit_code", 0}};
  }

  // A series of GET /metrics, as a number (-1: not there).
  long long metric(const std::string& series) {
    auto r = http->Get("/api/v1/metrics", {{"Authorization", std::string("Bearer ") + kAdminToken}});
    REQUIRE(r);
    REQUIRE(r->status == 200);
    auto at = r->body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(r->body.substr(at + series.size() + 2));
  }

  // Waits (10 s at most) until `series` reads `value`.
  bool metric_reaches(const std::string& series, long long value) {
    for (int i = 0; i < 1000; ++i) {
      if (metric(series) == value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::pair<int, json> post(const std::string& path, const json& body) {
    auto r = http->Post(("/api/v1" + path).c_str(), {{"Authorization", std::string("Bearer ") + kWorkerToken}},
                        body.dump(), "application/json");
    REQUIRE(r);
    return {r->status, json::parse(r->body, nullptr, false)};
  }
};

std::vector<std::string> tokens_of(const json& items) {
  std::vector<std::string> out;
  for (auto& i : items) out.push_back(i["attempt_token"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("worker endpoints: a report carries the next claim and is answered with the next tries") {
  WorkerEnv env;
  if (!env.remote()) {
    json body = env.report("t");
    body["worker"] = "w";
    body["ti_id"] = 1;
    body["claim"] = {{"queues", {"default"}}, {"slots", 1}};
    auto [status, answer] = env.post("/workers/report", body);
    CHECK(status == 400);
    CHECK(answer["error"]["code"] == "unsupported");
    return;
  }
  env.enqueue({"tok-1", "tok-2", "tok-3"});
  auto [status, claimed] = env.post("/workers/claim", {{"worker", "w"}, {"slots", 1}, {"wait_ms", 0}});
  REQUIRE(status == 200);
  CHECK(tokens_of(claimed["items"]) == std::vector<std::string>{"tok-1"});
  CHECK(claimed["waited_us"].is_number_integer());
  CHECK(claimed["waited_us"].get<long long>() >= 0);

  // Bad claims are refused before anything is stored.
  json body = env.report("tok-1");
  body["worker"] = "w";
  for (json bad : {json{{"slots", 0}}, json{{"slots", 1001}}, json{{"queues", json::array()}}, json{{"queue", "x"}},
                   json("default"), json{{"queues", {1}}}}) {
    body["claim"] = bad;
    auto [s, e] = env.post("/workers/report", body);
    INFO(bad.dump());
    CHECK(s == 400);
    CHECK(e["error"]["message"].get<std::string>().find("claim") != std::string::npos);
  }
  CHECK(env.store->worker_events({3}, 10)->size() == 1);  // the claim's started event only

  // The report, with a claim of the slot it frees: tok-2 comes back with it.
  body["claim"] = {{"queues", {"default"}}, {"slots", 1}};
  auto [s2, next] = env.post("/workers/report", body);
  REQUIRE(s2 == 200);
  CHECK(next["accepted"] == true);
  CHECK(tokens_of(next["items"]) == std::vector<std::string>{"tok-2"});
  CHECK(next["items"][0]["payload"]["command"] == "echo tok-2");
  CHECK(next["waited_us"].get<long long>() >= 0);
  auto evs = env.store->worker_events({3}, 10);
  REQUIRE(evs->size() == 3);  // started tok-1, finished tok-1, started tok-2
  CHECK((*evs)[1].kind == "finished");
  CHECK((*evs)[2].kind == "started");
  CHECK((*evs)[2].attempt_token == "tok-2");
  CHECK((*evs)[2].worker == "w");

  // A stale report claims nothing: tok-3 stays queued.
  auto [s3, stale] = env.post("/workers/report", body);
  CHECK(s3 == 409);
  CHECK_FALSE(stale.contains("items"));
  // Without a claim the answer is as before.
  json plain = env.report("tok-2");
  plain["worker"] = "w";
  auto [s4, answer] = env.post("/workers/report", plain);
  CHECK(s4 == 200);
  CHECK(answer == json{{"accepted", true}});
  auto [s5, last] = env.post("/workers/claim", {{"worker", "w"}, {"slots", 5}, {"wait_ms", 0}});
  CHECK(tokens_of(last["items"]) == std::vector<std::string>{"tok-3"});
}

TEST_CASE("worker endpoints: several reports and heartbeats of several tries go in one request") {
  WorkerEnv env;
  if (!env.remote()) {
    json r = env.report("t");
    r["ti_id"] = 1;
    auto [status, answer] = env.post("/workers/reports", {{"worker", "w"}, {"reports", {r}}});
    REQUIRE(status == 200);
    CHECK(answer["results"][0]["status"] == 400);
    CHECK(answer["results"][0]["error"]["code"] == "unsupported");
    return;
  }
  env.enqueue({"a", "b", "c", "d"});
  auto [s1, claimed] = env.post("/workers/claim", {{"worker", "w"}, {"slots", 3}, {"wait_ms", 0}});
  REQUIRE(s1 == 200);
  CHECK(tokens_of(claimed["items"]) == std::vector<std::string>{"a", "b", "c"});  // its free slots, at once

  // One heartbeat renews all three (and names a try it does not hold).
  json tries = json::array();
  for (auto t : {"a", "b", "c", "zz"}) tries.push_back({{"attempt_token", t}});
  auto [s2, beat] = env.post("/workers/heartbeat", {{"worker", "w"}, {"tries", tries}});
  REQUIRE(s2 == 200);
  CHECK(beat["stale"] == json::array({"zz"}));

  // Three reports (one of them bad, one on a try another worker holds) and
  // a claim of the two slots the good ones free: only d is left.
  json bad = env.report("c", "meh");
  json foreign = env.report("d");
  auto [s3, answer] = env.post(
      "/workers/reports",
      {{"worker", "w"},
       {"reports", {env.report("a"), env.report("b", "failed"), bad, foreign}},
       {"claim", {{"queues", {"default"}}, {"slots", 2}}}});
  REQUIRE(s3 == 200);
  REQUIRE(answer["results"].size() == 4);
  CHECK(answer["results"][0] == json{{"attempt_token", "a"}, {"status", 200}});
  CHECK(answer["results"][1]["status"] == 200);
  CHECK(answer["results"][2]["status"] == 400);
  CHECK(answer["results"][2]["error"]["message"].get<std::string>().find("outcome") != std::string::npos);
  CHECK(answer["results"][3]["status"] == 409);  // d was not claimed by w then
  CHECK(tokens_of(answer["items"]) == std::vector<std::string>{"d"});
  // c is still w's (its report was refused): its good report is taken alone.
  auto [s4, again] = env.post("/workers/reports", {{"worker", "w"}, {"reports", {env.report("c"), env.report("a")}}});
  REQUIRE(s4 == 200);
  CHECK(again["results"][0]["status"] == 200);
  CHECK(again["results"][1]["status"] == 409);  // a was reported already
  CHECK_FALSE(again.contains("items"));
  // Bad input as a whole: 400.
  CHECK(env.post("/workers/reports", {{"worker", "w"}}).first == 400);
  CHECK(env.post("/workers/reports", {{"worker", "w"}, {"reports", {1}}}).first == 400);
  CHECK(env.post("/workers/reports", {{"worker", "w"}, {"reports", json::array()}, {"claim", {{"slots", -1}}}}).first ==
        400);
}

TEST_CASE("worker endpoints: a queued try wakes one parked claim of its queues; one that took its fill wakes the next") {
  // A parked claim looks again only when woken: no timer hides a lost wake-up.
  WorkerEnv env(std::chrono::minutes(1));
  if (!env.remote()) return;  // no remote workers on SQLite (the tests above)
  const std::string parked = "baton_worker_claims_parked";
  // Three workers' long polls, each for 2 slots, parked one after the other.
  std::vector<json> got(3);
  std::vector<std::thread> polls;
  // However the test ends, the server answers what is still parked and the
  // polls are joined.
  struct Joined {
    WorkerEnv& env;
    std::vector<std::thread>& polls;
    ~Joined() {
      env.server->stop();
      for (auto& t : polls)
        if (t.joinable()) t.join();
    }
  } joined{env, polls};
  for (int i = 0; i < 3; ++i) {
    polls.emplace_back([&got, &env, i] {
      // A claim nothing wakes answers after a minute: its client gives up
      // long before, and the check of its tries fails.
      httplib::Client c("127.0.0.1", env.server->port());
      c.set_read_timeout(20, 0);
      json body = {{"worker", "w" + std::to_string(i)}, {"slots", 2}, {"wait_ms", 60000}};
      auto r = c.Post("/api/v1/workers/claim", {{"Authorization", std::string("Bearer ") + kWorkerToken}}, body.dump(),
                      "application/json");
      if (r && r->status == 200) got[static_cast<size_t>(i)] = json::parse(r->body, nullptr, false);
    });
    REQUIRE(env.metric_reaches(parked, i + 1));
  }
  const std::string took = "baton_worker_claims_total{found=\"tries\"}";
  const std::string nothing = "baton_worker_claims_total{found=\"nothing\"}";
  const long long looked_empty = env.metric(nothing);
  CHECK(env.metric(took) == 0);

  // One try: the claim parked longest takes it, with a slot to spare, and
  // the other two are not woken to look for it.
  env.enqueue({"one"});
  polls[0].join();
  CHECK(tokens_of(got[0]["items"]) == std::vector<std::string>{"one"});
  REQUIRE(env.metric_reaches(parked, 2));
  CHECK(env.metric(took) == 1);
  CHECK(env.metric(nothing) == looked_empty);

  // Four tries: the next claim takes its fill of 2 and wakes the last one,
  // which takes the other 2, without waiting for a timer.
  env.enqueue({"a", "b", "c", "d"});
  polls[1].join();
  polls[2].join();
  CHECK(tokens_of(got[1]["items"]) == std::vector<std::string>{"a", "b"});
  CHECK(tokens_of(got[2]["items"]) == std::vector<std::string>{"c", "d"});
  CHECK(env.metric(parked) == 0);
  CHECK(env.metric(took) == 3);
}
