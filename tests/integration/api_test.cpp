// The REST API over real HTTP (SPEC §8, §12): an ApiServer on a free port of
// 127.0.0.1, a real SQLite store, and a fake Control that changes runs
// through the store the way the scheduler would, recording what it was asked.
#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "baton/api/server.h"
#include "baton/core/base64.h"
#include "baton/core/sha256.h"
#include "baton/dsl/compiler.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"
#include "test_db.h"

using namespace baton;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kSalesYaml =
    "dag: sales\n"
    "schedule: \"0 3 * * *\"\n"
    "timezone: Europe/Berlin\n"
    "start_date: 2026-01-01\n"
    "tasks:\n"
    "  extract: {command: echo extract}\n"
    "  transform: {command: echo transform, depends_on: [extract]}\n"
    "  load: {type: noop, depends_on: [transform], trigger_rule: all_done}\n";

std::string compact(TimePoint t) {
  std::string s = format_utc(t);  // 2026-11-22T10:00:00Z
  std::string out;
  for (char c : s)
    if (c != '-' && c != ':') out += c;
  return out;
}

// What the scheduler would do, done directly on the store; every call is
// recorded as "op dag run task ... by ACTOR".
class FakeControl final : public scheduler::Control {
 public:
  FakeControl(store::Store& s, const Clock& clock, std::string logs) : s_(s), clock_(clock), logs_(std::move(logs)) {}

  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // The next clear_task answers this error.
  void fail_next_clear(Error e) {
    std::lock_guard lock(mu_);
    clear_error_ = std::move(e);
  }

  Result<scheduler::TriggerResult> trigger(const std::string& dag_id, const scheduler::TriggerRequest& req,
                                           const std::string& actor) override {
    record("trigger " + dag_id + " by " + actor);
    auto dag = s_.get_dag(dag_id);
    if (!dag) return dag.error();
    auto version = s_.get_dag_version(dag_id, *dag->current_version);
    if (!version) return version.error();
    store::RunRecord run;
    run.dag_id = dag_id;
    run.run_type = "manual";
    run.logical_date = req.logical_date.value_or(clock_.now());
    run.data_interval_start = run.data_interval_end = run.logical_date;
    char hex[8];
    std::snprintf(hex, sizeof hex, "%06x", ++counter_);
    run.run_id = "manual__" + compact(run.logical_date) + "_" + hex;
    run.params = req.params_json;
    run.dag_version = version->version;
    run.note = req.note;
    run.idempotency_key = req.idempotency_key;
    run.created_by = actor;
    std::vector<store::TaskInstanceRecord> tis;
    json compiled = json::parse(version->compiled);
    for (auto& [id, task] : compiled["tasks"].items()) {
      store::TaskInstanceRecord ti;
      ti.task_id = id;
      ti.state = task["depends_on"].empty() ? TaskState::scheduled : TaskState::pending;
      ti.pool = task["pool"].get<std::string>();
      ti.queue = task["queue"].get<std::string>();
      tis.push_back(ti);
    }
    auto c = s_.create_run(run, tis, actor);
    if (!c) return c.error();
    return scheduler::TriggerResult{c->run, c->created};
  }

  Status cancel_run(const std::string& dag_id, const std::string& run_id, const std::string& actor) override {
    record("cancel " + dag_id + " " + run_id + " by " + actor);
    auto run = s_.get_run(dag_id, run_id);
    if (!run) return run.error();
    if (is_finished(run->state)) return Error{"conflict", "run " + run_id + " has already ended"};
    store::WriteBatch b;
    run->state = RunState::canceled;
    run->ended_at = clock_.now();
    b.runs.push_back(*run);
    auto tis = s_.list_task_instances(run->pk);
    if (!tis) return tis.error();
    for (auto ti : *tis) {
      if (is_finished(ti.state)) continue;
      ti.state = TaskState::canceled;
      b.task_instances.push_back(ti);
    }
    b.audit.push_back({actor, "run.canceled", "dag:" + dag_id + "/" + run_id, "{}"});
    return s_.apply(b);
  }

  Status clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id, bool downstream,
                    bool latest_version, const std::string& actor) override {
    record("clear " + dag_id + " " + run_id + " " + task_id + " downstream=" + (downstream ? "1" : "0") +
           " latest=" + (latest_version ? "1" : "0") + " by " + actor);
    std::lock_guard lock(mu_);
    if (clear_error_) {
      Error e = *clear_error_;
      clear_error_.reset();
      return e;
    }
    return {};
  }

  Status mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id, TaskState to,
                   const std::string& actor) override {
    record("mark " + dag_id + " " + run_id + " " + task_id + " " + to_string(to) + " by " + actor);
    auto run = s_.get_run(dag_id, run_id);
    if (!run) return run.error();
    store::WriteBatch b;
    auto tis = s_.list_task_instances(run->pk);
    if (!tis) return tis.error();
    for (auto ti : *tis) {
      if (ti.task_id != task_id) continue;
      ti.state = to;
      b.task_instances.push_back(ti);
    }
    b.audit.push_back({actor, "task.marked", "dag:" + dag_id + "/" + run_id + "/" + task_id, "{}"});
    return s_.apply(b);
  }

  Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) override {
    record(std::string(paused ? "pause " : "unpause ") + dag_id + " by " + actor);
    return s_.set_paused(dag_id, paused, actor);
  }

  // Records the request; a real backfill's record, with a one-step plan.
  Result<scheduler::BackfillResult> create_backfill(const scheduler::BackfillRequest& r,
                                                    const std::string& actor) override {
    record("backfill " + r.dag_id + " " + r.from + ".." + r.to + " " + r.reprocess + (r.dry_run ? " dry" : "") +
           " by " + actor);
    if (r.dag_id != "sales") return Error::not_found("no DAG \"" + r.dag_id + "\"");
    store::BackfillRecord b;
    b.dag_id = r.dag_id;
    b.from_at = *parse_utc("2026-11-01T00:00:00Z");
    b.to_at = *parse_utc("2026-11-02T00:00:00Z");
    b.from_text = r.from;
    b.to_text = r.to;
    b.reprocess = r.reprocess;
    b.max_active_runs = r.max_active_runs;
    b.total = 1;
    scheduler::BackfillResult out{b, {{b.from_at, b.to_at, "create", std::nullopt, ""}}};
    if (r.dry_run) return out;
    auto made = s_.create_backfill(b, actor);
    if (!made) return made.error();
    out.backfill = made->backfill;
    return out;
  }
  Result<scheduler::SchedulerMetrics> metrics() override {
    scheduler::SchedulerMetrics m;
    m.latency_bounds = {0.01, 0.1};
    m.latency_buckets = {3, 1, 1};
    m.latency_count = 5;
    m.latency_sum = 2.5;
    m.queue_depth["default"] = 2;
    m.pool_depth["etl"] = 2;
    return m;
  }
  Status cancel_backfill(long long id, const std::string& actor) override {
    record("cancel backfill " + std::to_string(id) + " by " + actor);
    auto b = s_.get_backfill(id);
    if (!b) return b.error();
    store::WriteBatch w;
    b->state = "canceled";
    w.backfills.push_back(*b);
    return s_.apply(w);
  }

  Result<std::vector<std::string>> waiting_for(const std::string& dag_id, const std::string& run_id,
                                               const std::string& task_id, int map_index) override {
    record("why " + dag_id + " " + run_id + " " + task_id + " " + std::to_string(map_index));
    return std::vector<std::string>{"upstream extract is running"};
  }

  scheduler::SchedulerStatus status() override { return {{{"member-1", clock_.now(), 64}}, "member-1", true, {{0, "member-1", 3}}}; }

  std::string logs_dir() const override { return logs_; }

 private:
  void record(std::string call) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
  }

  store::Store& s_;
  const Clock& clock_;
  std::string logs_;
  mutable std::mutex mu_;
  std::vector<std::string> calls_;
  std::optional<Error> clear_error_;
  int counter_ = 0;
};

struct Reply {
  int status = 0;
  std::string text;
  json body;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  // The error format of SPEC §8.
  bool is_error(const std::string& code) const {
    return body.is_object() && body.size() == 1 && body.contains("error") && body["error"].size() == 2 &&
           body["error"]["code"] == code && body["error"]["message"].is_string() &&
           !body["error"]["message"].get<std::string>().empty();
  }
  std::string message() const {
    if (!body.is_object() || !body.contains("error") || !body["error"].contains("message")) return "";
    return body["error"]["message"].get<std::string>();
  }
};

const char* kAdmin = "admin-secret";
const char* kOperator = "operator-secret";
const char* kViewer = "viewer-secret";
const char* kWorker = "worker-secret";

struct Env {
  fs::path dir;
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<FakeControl> control;
  std::unique_ptr<api::ApiServer> server;
  std::unique_ptr<httplib::Client> http;
  std::string version;

  explicit Env(std::string web_dir = "") {
    static int counter = 0;
    dir =
        fs::temp_directory_path() / ("baton-api-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(dir);
    fs::create_directories(dir / "logs");
    auto url = store::parse_database_url(testing::test_database_url(dir));
    REQUIRE(url.ok());
    auto s = store::open_store(*url, clock);
    REQUIRE(s.ok());
    store = std::move(*s);
    REQUIRE(store->create_token("ada", store::Role::admin, sha256_hex(kAdmin), "test").ok());
    REQUIRE(store->create_token("ops", store::Role::operator_role, sha256_hex(kOperator), "test").ok());
    REQUIRE(store->create_token("vic", store::Role::viewer, sha256_hex(kViewer), "test").ok());
    REQUIRE(store->create_token("w1", store::Role::worker, sha256_hex(kWorker), "test").ok());
    auto compiled = dsl::compile_dag(kSalesYaml, "dags/sales.yaml");
    REQUIRE(compiled.graph);
    store::DagVersionRecord v;
    v.dag_id = "sales";
    v.version = version = compiled.graph->hash();
    v.compiled = compiled.graph->canonical_json();
    v.source = kSalesYaml;
    v.file = "dags/sales.yaml";
    v.git_commit = "abc123";
    v.git_dirty = false;
    REQUIRE(store->register_dag_version(v, "finance", 3, "system").ok());
    control = std::make_unique<FakeControl>(*store, clock, (dir / "logs").string());
    api::ApiOptions options;
    options.port = 0;
    options.threads = 4;
    options.web_dir = std::move(web_dir);
    server = std::make_unique<api::ApiServer>(*store, *control, clock, options);
    auto started = server->start();
    INFO((started.ok() ? "" : started.error().message));
    REQUIRE(started.ok());
    REQUIRE(server->port() > 0);
    http = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    http->set_read_timeout(10, 0);
  }

  ~Env() {
    http.reset();
    server.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const char* token = kAdmin) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    if (token) req.headers.emplace("Authorization", std::string("Bearer ") + token);
    if (method != "GET" && method != "HEAD") {
      req.body = body;
      req.headers.emplace("Content-Type", "application/json");
    }
    auto res = http->send(req);
    INFO(method << " " << path << ": " << httplib::to_string(res.error()));
    REQUIRE(res);
    Reply r;
    r.status = res->status;
    r.text = res->body;
    r.headers = res->headers;
    r.body = json::parse(res->body, nullptr, false);
    return r;
  }
  Reply get(const std::string& path, const char* token = kAdmin) { return call("GET", path, "", token); }
  Reply post(const std::string& path, const std::string& body, const char* token = kAdmin) {
    return call("POST", path, body, token);
  }

  size_t audit_size() {
    store::AuditFilter all;
    all.limit = 100000;
    return store->list_audit(all)->size();
  }
  size_t run_count() {
    store::RunFilter all;
    all.limit = 100000;
    return store->list_runs(all)->size();
  }

  // A manual run through the API; returns its run_id.
  std::string trigger(const std::string& body = "{}") {
    auto r = post("/api/v1/dags/sales/runs", body, kOperator);
    INFO(r.text);
    REQUIRE(r.status == 201);
    return r.body["run_id"];
  }

  store::TaskInstanceRecord ti(const std::string& run_id, const std::string& task_id) {
    auto run = store->get_run("sales", run_id);
    REQUIRE(run.ok());
    auto tis = store->list_task_instances(run->pk);
    REQUIRE(tis.ok());
    for (auto& t : *tis)
      if (t.task_id == task_id) return t;
    FAIL("no task " << task_id);
    return {};
  }
};

std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (auto& [k, v] : j.items()) out.insert(k);
  return out;
}

}  // namespace

TEST_CASE("health needs no token and reports the database and the scheduler") {
  Env env;
  auto r = env.get("/api/v1/health", nullptr);
  REQUIRE(r.status == 200);
  CHECK(r.body["status"] == "ok");
  CHECK(r.body["db"] == "ok");
  CHECK(r.body["scheduler"]["leader"] == "member-1");
  CHECK(r.body["scheduler"]["partitions"][0] == nlohmann::json({{"partition", 0}, {"owner", "member-1"}, {"epoch", 3}}));
  CHECK(r.body["scheduler"]["running"] == true);
  REQUIRE(r.body["scheduler"]["members"].size() == 1);
  CHECK(keys(r.body["scheduler"]["members"][0]) == std::set<std::string>{"id", "heartbeat_at", "partitions"});
  CHECK(r.body["scheduler"]["members"][0]["heartbeat_at"] == "2026-11-22T10:00:00Z");
}

TEST_CASE("authentication: 401 without a token or with a bad one, audited without the token") {
  Env env;
  size_t before = env.audit_size();
  auto none = env.get("/api/v1/dags", nullptr);
  CHECK(none.status == 401);
  CHECK(none.is_error("unauthenticated"));
  CHECK(none.header("WWW-Authenticate") == "Bearer");
  env.clock.advance(std::chrono::minutes(1));  // one entry per address and minute
  auto bad = env.get("/api/v1/dags", "not-a-real-token");
  CHECK(bad.status == 401);
  CHECK(bad.is_error("unauthenticated"));
  // A revoked token no longer works.
  REQUIRE(env.store->revoke_token("vic", "test").ok());
  env.clock.advance(std::chrono::minutes(1));
  CHECK(env.get("/api/v1/dags", kViewer).status == 401);
  // Not Bearer.
  env.clock.advance(std::chrono::minutes(1));
  httplib::Headers basic = {{"Authorization", "Basic YWRhOnNlY3JldA=="}};
  auto b = env.http->Get("/api/v1/dags", basic);
  REQUIRE(b);
  CHECK(b->status == 401);

  store::AuditFilter f;
  f.action = "auth.failed";
  auto log = env.store->list_audit(f);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 4);
  CHECK(env.audit_size() == before + 5);  // + the revocation
  for (auto& e : *log) {
    CHECK(e.actor == "anonymous");
    CHECK(e.target == "api");
    auto d = json::parse(e.details);
    CHECK(d["path"] == "/api/v1/dags");
    CHECK(d["reason"].is_string());
    CHECK(d["address"].is_string());
    CHECK(d["suppressed"] == 0);
    CHECK(e.details.find("not-a-real-token") == std::string::npos);
    CHECK(e.details.find(kViewer) == std::string::npos);
  }
  CHECK(json::parse((*log)[0].details)["reason"] == "no Authorization header");
  CHECK(json::parse((*log)[1].details)["reason"] == "unknown or revoked token");
}

TEST_CASE("authentication: a flood of failures is audited once per address and minute, with the count, paths cut") {
  Env env;
  store::AuditFilter f;
  f.action = "auth.failed";
  f.limit = 100000;
  auto failed_entries = [&] { return *env.store->list_audit(f); };
  const std::string long_path = "/api/v1/dags/" + std::string(8000, 'x');
  for (int i = 0; i < 300; ++i) {
    auto r = env.get(long_path, i % 2 ? "not-a-real-token" : nullptr);
    REQUIRE(r.status == 401);
    env.clock.advance(std::chrono::milliseconds(100));  // 30 s in all
  }
  auto log = failed_entries();
  REQUIRE(log.size() == 1);
  auto first = json::parse(log[0].details);
  CHECK(first["path"].get<std::string>().size() == 256);
  CHECK(first["path_bytes"] == long_path.size());
  CHECK(first["suppressed"] == 0);
  CHECK(log[0].details.size() < 600);
  const std::string address = first["address"];

  // The minute is over: the next failure carries the count of the others.
  env.clock.advance(std::chrono::seconds(31));
  CHECK(env.get("/api/v1/dags", nullptr).status == 401);
  log = failed_entries();
  REQUIRE(log.size() == 2);
  auto second = json::parse(log[1].details);
  CHECK(second["address"] == address);
  CHECK(second["suppressed"] == 299);
  CHECK(second["path"] == "/api/v1/dags");
  CHECK(second["first_suppressed_at"] == "2026-11-22T10:00:00.1Z");
  CHECK(second["last_suppressed_at"] == "2026-11-22T10:00:29.9Z");

  // Without a failure after it, a count is written by the first request
  // (any request) after its minute, on its own.
  CHECK(env.get("/api/v1/dags", nullptr).status == 401);
  CHECK(env.get("/api/v1/dags", nullptr).status == 401);
  CHECK(failed_entries().size() == 2);
  env.clock.advance(std::chrono::minutes(1));
  CHECK(env.get("/api/v1/health", nullptr).status == 200);
  log = failed_entries();
  REQUIRE(log.size() == 3);
  auto summary = json::parse(log[2].details);
  CHECK(summary["suppressed"] == 2);
  CHECK(summary["address"] == address);
  CHECK_FALSE(summary.contains("path"));
  // Authenticated requests are not counted.
  CHECK(env.get("/api/v1/dags").status == 200);
  env.clock.advance(std::chrono::minutes(2));
  CHECK(env.get("/api/v1/dags").status == 200);
  CHECK(failed_entries().size() == 3);
}

TEST_CASE("roles: a viewer may not trigger; a worker token may use none of the public API") {
  Env env;
  auto v = env.post("/api/v1/dags/sales/runs", "{}", kViewer);
  CHECK(v.status == 403);
  CHECK(v.is_error("permission_denied"));
  CHECK(v.message().find("operator") != std::string::npos);
  CHECK(env.run_count() == 0);
  auto w = env.get("/api/v1/dags", kWorker);
  CHECK(w.status == 403);
  CHECK(w.message().find("worker") != std::string::npos);
  CHECK(env.get("/api/v1/dags", kViewer).status == 200);
  // Admin-only: connections, pools and variables writes.
  CHECK(env.get("/api/v1/connections", kOperator).status == 403);
  CHECK(env.call("PUT", "/api/v1/pools/etl", R"({"slots": 2})", kOperator).status == 403);
  CHECK(env.call("PUT", "/api/v1/variables/x", R"({"value": "1"})", kViewer).status == 403);
  CHECK(env.control->calls().empty());
}

TEST_CASE("trigger: 201 with the run, 200 with the first run for a known idempotency key") {
  Env env;
  auto first = env.post("/api/v1/dags/sales/runs",
                        R"({"idempotency_key": "k-1", "params": {"region": "eu"}, "note": "by hand",
                            "logical_date": "2026-11-20T00:00:00Z"})",
                        kOperator);
  INFO(first.text);
  REQUIRE(first.status == 201);
  CHECK(first.body["run_type"] == "manual");
  CHECK(first.body["params"] == json{{"region", "eu"}});
  CHECK(first.body["note"] == "by hand");
  CHECK(first.body["logical_date"] == "2026-11-20T00:00:00Z");
  auto again = env.post("/api/v1/dags/sales/runs", R"({"idempotency_key": "k-1"})", kOperator);
  REQUIRE(again.status == 200);
  CHECK(again.body["run_id"] == first.body["run_id"]);
  CHECK(env.run_count() == 1);
  CHECK(env.control->calls().front() == "trigger sales by ops");
  // An unknown DAG.
  auto nope = env.post("/api/v1/dags/nope/runs", "{}", kOperator);
  CHECK(nope.status == 404);
  CHECK(nope.is_error("not_found"));
}

TEST_CASE("a run and its task instances have exactly the fields of SPEC §8") {
  Env env;
  std::string run_id = env.trigger(R"({"logical_date": "2026-11-21T00:00:00Z"})");
  auto run = env.get("/api/v1/dags/sales/runs/" + run_id, kViewer);
  REQUIRE(run.status == 200);
  CHECK(keys(run.body) == std::set<std::string>{"dag_id", "run_id", "run_type", "state", "logical_date",
                                                "data_interval_start", "data_interval_end", "params", "dag_version",
                                                "created_at", "started_at", "ended_at", "backfill_id", "note"});
  CHECK(run.body["dag_id"] == "sales");
  CHECK(run.body["state"] == "queued");
  CHECK(run.body["params"] == json::object());
  CHECK(run.body["dag_version"] == env.version);
  CHECK(run.body["created_at"] == "2026-11-22T10:00:00Z");
  CHECK(run.body["started_at"].is_null());
  CHECK(run.body["backfill_id"].is_null());
  CHECK(run.body["note"].is_null());

  auto tasks = env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks", kViewer);
  REQUIRE(tasks.status == 200);
  REQUIRE(tasks.body["items"].size() == 3);
  CHECK(tasks.body["next_cursor"].is_null());
  std::set<std::string> ti_keys = {"task_id", "map_index", "state",    "try_number",      "max_tries",
                                   "queue",   "pool",      "priority", "started_at",      "ended_at",
                                   "worker",  "exit_code", "reason",   "last_activity_at",
                                   // Baton's additions for foreach (docs/running.md)
                                   "item",    "mapped"};
  for (auto& t : tasks.body["items"]) CHECK(keys(t) == ti_keys);
  for (auto& t : tasks.body["items"]) CHECK((t["item"].is_null() && t["mapped"].is_null()));

  auto one = env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/transform", kViewer);
  REQUIRE(one.status == 200);
  auto detail_keys = ti_keys;
  detail_keys.insert({"waiting_for", "output", "checkpoint", "checkpoint_bytes"});
  CHECK(keys(one.body) == detail_keys);
  CHECK(one.body["map_index"] == -1);
  CHECK(one.body["state"] == "pending");
  CHECK(one.body["waiting_for"] == json::array({"upstream extract is running"}));
  CHECK(one.body["output"].is_null());
  CHECK(env.control->calls().back() == "why sales " + run_id + " transform -1");

  // An output is shown as an object.
  auto ti = env.ti(run_id, "extract");
  ti.output = R"({"rows": 42})";
  ti.state = TaskState::success;
  store::WriteBatch b;
  b.task_instances.push_back(ti);
  REQUIRE(env.store->apply(b).ok());
  auto done = env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/extract");
  CHECK(done.body["output"] == json{{"rows", 42}});
  CHECK(done.body["state"] == "success");

  CHECK(env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/extract?map_index=3").status == 404);
  CHECK(env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/nope").status == 404);
  CHECK(env.get("/api/v1/dags/sales/runs/manual__nope").status == 404);
  CHECK(env.get("/api/v1/dags/nope/runs/" + run_id).status == 404);
}

TEST_CASE("lists page with limit and cursor; bad limit, cursor and state get 400") {
  Env env;
  for (const char* at : {"2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z"})
    env.trigger(json{{"logical_date", at}}.dump());
  std::vector<std::string> seen;
  std::string path = "/api/v1/dags/sales/runs?limit=1";
  for (int page = 0; page < 5; ++page) {
    auto r = env.get(path, kViewer);
    REQUIRE(r.status == 200);
    REQUIRE(r.body["items"].size() == 1);
    seen.push_back(r.body["items"][0]["logical_date"]);
    if (r.body["next_cursor"].is_null()) break;
    path = "/api/v1/dags/sales/runs?limit=1&cursor=" + r.body["next_cursor"].get<std::string>();
  }
  CHECK(seen == std::vector<std::string>{"2026-11-20T00:00:00Z", "2026-11-19T00:00:00Z", "2026-11-18T00:00:00Z"});

  auto all = env.get("/api/v1/dags/sales/runs?state=queued&run_type=manual");
  CHECK(all.body["items"].size() == 3);
  CHECK(env.get("/api/v1/dags/sales/runs?state=success").body["items"].empty());

  for (const char* bad : {"0", "1001", "abc", "", "-1", "1.5"}) {
    auto r = env.get(std::string("/api/v1/dags/sales/runs?limit=") + bad);
    INFO(bad << ": " << r.text);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
    CHECK(r.message().find("limit") != std::string::npos);
  }
  for (const char* bad : {"garbage!", "abc", "b0FSRE0"}) {
    auto r = env.get(std::string("/api/v1/dags/sales/runs?cursor=") + bad);
    INFO(bad << ": " << r.text);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
    CHECK(r.message().find("cursor") != std::string::npos);
  }
  // A cursor of another list is refused too.
  auto dags = env.get("/api/v1/audit?limit=1");
  REQUIRE(dags.body["next_cursor"].is_string());
  CHECK(env.get("/api/v1/dags/sales/runs?cursor=" + dags.body["next_cursor"].get<std::string>()).status == 400);

  auto state = env.get("/api/v1/dags/sales/runs?state=bogus");
  CHECK(state.status == 400);
  CHECK(state.message().find("queued") != std::string::npos);
  CHECK(state.message().find("canceled") != std::string::npos);
  auto unknown = env.get("/api/v1/dags/sales/runs?stat=queued");
  CHECK(unknown.status == 400);
  CHECK(unknown.message().find("stat") != std::string::npos);
  CHECK(env.get("/api/v1/dags/sales/runs?limit=1&limit=2").status == 400);
  CHECK(env.get("/api/v1/dags?limit=1000").status == 200);
}

TEST_CASE("bodies: over 1 MiB get 413 with the JSON error; malformed JSON and unknown fields get 400") {
  Env env;
  size_t audit = env.audit_size();
  std::string huge = R"({"note": ")" + std::string(2 << 20, 'x') + R"("})";
  auto big = env.post("/api/v1/dags/sales/runs", huge, kOperator);
  CHECK(big.status == 413);
  CHECK(big.is_error("payload_too_large"));

  // A chunked body has no Content-Length: it is counted while it is read.
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kOperator}};
  size_t sent = 0;
  auto chunked = env.http->Post(
      "/api/v1/dags/sales/runs", auth,
      [&](size_t, httplib::DataSink& sink) {
        if (sent == 0) sink.write(R"({"note": ")", 10);
        std::string block(64 << 10, 'y');
        sink.write(block.data(), block.size());
        sent += block.size();
        if (sent >= (2u << 20)) {
          sink.write("\"}", 2);
          sink.done();
        }
        return true;
      },
      "application/json");
  if (chunked) {  // the server may close before the client has sent it all
    CHECK(chunked->status == 413);
    CHECK(json::parse(chunked->body)["error"]["code"] == "payload_too_large");
  }

  struct Case {
    const char* body;
    const char* mentions;
  };
  for (auto c : {Case{"{", "malformed JSON"}, Case{"[1, 2]", "object"}, Case{R"({"notes": "x"})", "notes"},
                 Case{R"({"params": "region=eu"})", "params"}, Case{R"({"logical_date": "yesterday"})", "logical_date"},
                 Case{R"({"idempotency_key": 7})", "idempotency_key"}, Case{"nul", "malformed JSON"},
                 Case{R"({"params": {"a": 1}} trailing)", "malformed JSON"}}) {
    auto r = env.post("/api/v1/dags/sales/runs", c.body, kOperator);
    INFO(c.body << " -> " << r.text);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
    CHECK(r.message().find(c.mentions) != std::string::npos);
  }
  auto unknown = env.post("/api/v1/dags/sales/runs", R"({"notes": "x"})", kOperator);
  CHECK(unknown.message().find("note") != std::string::npos);  // the allowed ones are listed
  // Deep nesting is refused before parsing.
  std::string deep = R"({"params": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(env.post("/api/v1/dags/sales/runs", deep, kOperator).status == 400);
  // Bad input changed nothing.
  CHECK(env.run_count() == 0);
  CHECK(env.control->calls().empty());
  CHECK(env.audit_size() == audit);
  // The server is still fine.
  CHECK(env.get("/api/v1/health", nullptr).status == 200);
}

TEST_CASE("logs: from an offset, complete once the try ended; paths cannot leave the logs folder") {
  Env env;
  std::string run_id = env.trigger();
  auto ti = env.ti(run_id, "extract");
  ti.state = TaskState::running;
  ti.try_number = 1;
  ti.started_at = env.clock.now();
  store::TryRecord t;
  t.ti_id = ti.id;
  t.try_number = 1;
  t.started_at = env.clock.now();
  t.log_path = "sales/" + run_id + "/extract/1.log";
  t.log_bytes = 12;
  store::WriteBatch b;
  b.task_instances.push_back(ti);
  b.tries.push_back(t);
  REQUIRE(env.store->apply(b).ok());
  fs::create_directories(env.dir / "logs" / "sales" / run_id / "extract");
  std::ofstream(env.dir / "logs" / *t.log_path) << "hello\nworld\n";

  std::string base = "/api/v1/dags/sales/runs/" + run_id + "/tasks/extract";
  auto all = env.get(base + "/logs", kViewer);
  REQUIRE(all.status == 200);
  CHECK(all.text == "hello\nworld\n");
  CHECK(all.header("X-Baton-Log-Complete") == "false");
  CHECK(all.header("Content-Type").find("text/plain") == 0);
  auto tail = env.get(base + "/logs?offset=6&try=1&map_index=-1", kViewer);
  CHECK(tail.text == "world\n");
  CHECK(tail.header("X-Baton-Log-Next-Offset") == "12");
  CHECK(env.get(base + "/logs?offset=100").text.empty());
  CHECK(env.get(base + "/logs?try=2").status == 404);
  CHECK(env.get(base + "/logs?offset=-1").status == 400);

  auto tries = env.get(base + "/tries", kViewer);
  REQUIRE(tries.status == 200);
  REQUIRE(tries.body["items"].size() == 1);
  CHECK(keys(tries.body["items"][0]) == std::set<std::string>{"try_number", "state", "worker", "started_at", "ended_at",
                                                              "exit_code", "reason", "log_bytes"});
  CHECK(tries.body["items"][0]["log_bytes"] == 12);

  // The try ends: the log is complete.
  b = {};
  t.state = TaskState::success;
  t.ended_at = env.clock.now();
  t.exit_code = 0;
  b.tries.push_back(t);
  REQUIRE(env.store->apply(b).ok());
  CHECK(env.get(base + "/logs").header("X-Baton-Log-Complete") == "true");

  // A stored path that climbs out, is absolute, or leads out through a link.
  std::ofstream(env.dir / "secret.txt") << "top secret";
  fs::create_symlink(env.dir / "secret.txt", env.dir / "logs" / "link.log");
  for (const std::string& evil : std::vector<std::string>{"../secret.txt", "sales/../../secret.txt",
                                                          (env.dir / "secret.txt").string(), "link.log"}) {
    b = {};
    t.log_path = evil;
    b.tries.push_back(t);
    REQUIRE(env.store->apply(b).ok());
    auto r = env.get(base + "/logs");
    INFO(evil);
    CHECK(r.status == 404);
    CHECK(r.is_error("not_found"));
    CHECK(r.text.find("top secret") == std::string::npos);
  }
  // A missing file is an empty log.
  b = {};
  t.log_path = "sales/missing.log";
  b.tries.push_back(t);
  REQUIRE(env.store->apply(b).ok());
  auto missing = env.get(base + "/logs");
  CHECK(missing.status == 200);
  CHECK(missing.text.empty());
  // No try yet.
  CHECK(env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/load/logs").status == 404);
}

TEST_CASE("operations: cancel, clear, mark go through Control with the token's name") {
  Env env;
  std::string run_id = env.trigger();
  std::string base = "/api/v1/dags/sales/runs/" + run_id;

  auto clear = env.post(base + "/tasks/extract/clear", R"({"downstream": true, "version": "latest"})", kOperator);
  REQUIRE(clear.status == 200);
  CHECK(clear.body["items"].size() == 1);
  CHECK(env.control->calls().back() == "clear sales " + run_id + " extract downstream=1 latest=1 by ops");
  REQUIRE(env.post(base + "/tasks/extract/clear", "", kOperator).status == 200);
  CHECK(env.control->calls().back() == "clear sales " + run_id + " extract downstream=0 latest=0 by ops");
  auto bad_version = env.post(base + "/tasks/extract/clear", R"({"version": "newest"})", kOperator);
  CHECK(bad_version.status == 400);
  CHECK(bad_version.message().find("pinned") != std::string::npos);
  env.control->fail_next_clear(Error{"conflict", "extract is running"});
  auto conflict = env.post(base + "/tasks/extract/clear", "{}", kOperator);
  CHECK(conflict.status == 409);
  CHECK(conflict.is_error("conflict"));
  CHECK(env.post(base + "/tasks/nope/clear", "{}", kOperator).status == 404);

  auto mark = env.post(base + "/tasks/extract/state", R"({"state": "success"})", kOperator);
  REQUIRE(mark.status == 200);
  CHECK(mark.body["items"][0]["state"] == "success");
  CHECK(env.post(base + "/tasks/extract/state", R"({"state": "running"})", kOperator).status == 400);
  CHECK(env.post(base + "/tasks/extract/state", "{}", kOperator).status == 400);

  auto cancel = env.post(base + "/cancel", "", kOperator);
  REQUIRE(cancel.status == 200);
  CHECK(cancel.body["state"] == "canceled");
  CHECK(env.control->calls().back() == "cancel sales " + run_id + " by ops");
  auto again = env.post(base + "/cancel", "{}", kOperator);
  CHECK(again.status == 409);
  CHECK(env.post(base + "/cancel", R"({"force": true})", kOperator).status == 400);

  // The audit log names the token.
  auto log = env.get("/api/v1/audit?actor=ops", kViewer);
  REQUIRE(log.status == 200);
  std::vector<std::string> actions;
  for (auto& e : log.body["items"]) {
    actions.push_back(e["action"]);
    CHECK(keys(e) == std::set<std::string>{"id", "at", "actor", "action", "target", "details", "prev_hash", "hash"});
    CHECK(e["details"].is_object());
  }
  CHECK(actions == std::vector<std::string>{"run.triggered", "task.marked", "run.canceled"});

  // The whole log, a page at a time, oldest first; filters are checked.
  std::vector<long long> ids;
  std::string path = "/api/v1/audit?limit=2&since=2026-11-22T00:00:00Z";
  for (int page = 0; page < 50; ++page) {
    auto r = env.get(path, kViewer);
    REQUIRE(r.status == 200);
    for (auto& e : r.body["items"]) ids.push_back(e["id"]);
    if (r.body["next_cursor"].is_null()) break;
    path = "/api/v1/audit?limit=2&since=2026-11-22T00:00:00Z&cursor=" + r.body["next_cursor"].get<std::string>();
  }
  CHECK(ids.size() == env.audit_size());
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(env.get("/api/v1/audit?since=2030-01-01T00:00:00Z").body["items"].empty());
  CHECK(env.get("/api/v1/audit?dag_id=sales").body["items"].size() == 4);  // + the version
  auto since = env.get("/api/v1/audit?since=yesterday");
  CHECK(since.status == 400);
  CHECK(since.message().find("since") != std::string::npos);
  CHECK(env.get("/api/v1/audit?actor=").status == 400);
}

TEST_CASE("DAGs: list, one, pause, versions, graph") {
  Env env;
  REQUIRE(env.store->set_import_errors("broken", "dags/broken.yaml", 1, R"([{"line": 3, "message": "bad"}])").ok());
  auto list = env.get("/api/v1/dags", kViewer);
  REQUIRE(list.status == 200);
  REQUIRE(list.body["items"].size() == 2);
  auto broken = list.body["items"][0];
  CHECK(broken["dag_id"] == "broken");
  CHECK(broken["version"].is_null());
  CHECK(broken["schedule"].is_null());
  CHECK(broken["import_errors"][0]["line"] == 3);
  auto sales = list.body["items"][1];
  CHECK(sales["dag_id"] == "sales");
  CHECK(sales["namespace"] == "finance");
  CHECK(sales["paused"] == false);
  CHECK(sales["active"] == true);
  CHECK(sales["file"] == "dags/sales.yaml");
  CHECK(sales["schedule"]["kind"] == "cron");
  CHECK(sales["schedule"]["expression"] == "0 3 * * *");
  CHECK(sales["timezone"] == "Europe/Berlin");
  CHECK(sales["version"] == env.version);
  CHECK(sales["last_run_state"].is_null());
  CHECK(sales["import_errors"].is_null());
  // Never scheduled, no catchup: next is the latest complete interval (03:00 Berlin is 02:00Z in winter).
  CHECK(sales["next_run"] == json{{"logical_date", "2026-11-21T02:00:00Z"},
                                  {"data_interval_start", "2026-11-21T02:00:00Z"},
                                  {"data_interval_end", "2026-11-22T02:00:00Z"},
                                  {"run_after", "2026-11-22T02:00:00Z"}});
  CHECK(broken["next_run"].is_null());
  store::WriteBatch tick;
  tick.last_ticks.push_back({"sales", *parse_utc("2026-11-21T02:00:00Z")});
  REQUIRE(env.store->apply(tick).ok());
  CHECK(env.get("/api/v1/dags/sales").body["next_run"]["logical_date"] == "2026-11-22T02:00:00Z");
  CHECK(env.get("/api/v1/dags/sales").body["next_run"]["run_after"] == "2026-11-23T02:00:00Z");
  auto page = env.get("/api/v1/dags?limit=1");
  CHECK(page.body["items"].size() == 1);
  auto page2 = env.get("/api/v1/dags?limit=1&cursor=" + page.body["next_cursor"].get<std::string>());
  CHECK(page2.body["items"][0]["dag_id"] == "sales");
  CHECK(page2.body["next_cursor"].is_null());

  env.trigger();
  CHECK(env.get("/api/v1/dags/sales").body["last_run_state"] == "queued");
  CHECK(env.get("/api/v1/dags/nope").status == 404);

  auto paused = env.call("PATCH", "/api/v1/dags/sales", R"({"paused": true})", kOperator);
  REQUIRE(paused.status == 200);
  CHECK(paused.body["paused"] == true);
  CHECK(env.store->get_dag("sales")->paused);
  CHECK(env.control->calls().back() == "pause sales by ops");
  CHECK(env.call("PATCH", "/api/v1/dags/sales", R"({"paused": "yes"})", kOperator).status == 400);
  CHECK(env.call("PATCH", "/api/v1/dags/sales", "{}", kOperator).status == 400);
  CHECK(env.call("PATCH", "/api/v1/dags/sales", R"({"paused": false})", kViewer).status == 403);
  CHECK(env.call("PATCH", "/api/v1/dags/nope", R"({"paused": false})", kOperator).status == 404);
  CHECK(env.store->get_dag("sales")->paused);

  auto versions = env.get("/api/v1/dags/sales/versions");
  REQUIRE(versions.body["items"].size() == 1);
  CHECK(keys(versions.body["items"][0]) ==
        std::set<std::string>{"version", "file", "git_commit", "git_dirty", "created_at"});
  CHECK(versions.body["items"][0]["git_commit"] == "abc123");
  CHECK(versions.body["items"][0]["git_dirty"] == false);

  auto graph = env.get("/api/v1/dags/sales/graph", kViewer);
  REQUIRE(graph.status == 200);
  CHECK(graph.body["version"] == env.version);
  REQUIRE(graph.body["nodes"].size() == 3);
  std::set<std::string> nodes;
  for (auto& n : graph.body["nodes"]) {
    nodes.insert(n["id"]);
    if (n["id"] == "load") CHECK(n["trigger_rule"] == "all_done");
    if (n["id"] == "extract") CHECK(n["type"] == "shell");
    if (n["id"] == "load") CHECK(n["type"] == "noop");
  }
  CHECK(nodes == std::set<std::string>{"extract", "transform", "load"});
  std::set<std::pair<std::string, std::string>> edges;
  for (auto& e : graph.body["edges"]) edges.insert({e["from"].get<std::string>(), e["to"].get<std::string>()});
  CHECK(edges == std::set<std::pair<std::string, std::string>>{{"extract", "transform"}, {"transform", "load"}});
  CHECK(env.get("/api/v1/dags/sales/graph?version=" + env.version).status == 200);
  CHECK(env.get("/api/v1/dags/sales/graph?version=bogus").status == 404);
  CHECK(env.get("/api/v1/dags/broken/graph").status == 404);
}

TEST_CASE("DAGs: the list filtered on the server by text, tag, namespace, paused and import errors; the summary") {
  Env env;
  const char* orders = "dag: orders\ndescription: Orders by the Hour\ntags: [hourly, ops-team]\ntasks:\n  a: {type: noop}\n";
  auto compiled = dsl::compile_dag(orders, "dags/orders.yaml");
  REQUIRE(compiled.graph);
  store::DagVersionRecord v;
  v.dag_id = "orders";
  v.version = compiled.graph->hash();
  v.compiled = compiled.graph->canonical_json();
  v.source = orders;
  v.file = "dags/orders.yaml";
  REQUIRE(env.store->register_dag_version(v, "ops", 1, "system").ok());
  REQUIRE(env.store->set_import_errors("broken", "dags/broken.yaml", 1, R"([{"line": 3, "message": "bad"}])").ok());
  REQUIRE(env.store->set_paused("sales", true, "test").ok());
  auto ids = [&](const std::string& query) {
    auto r = env.get("/api/v1/dags" + query, kViewer);
    REQUIRE(r.status == 200);
    std::vector<std::string> out;
    for (auto& d : r.body["items"]) out.push_back(d["dag_id"]);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(ids("") == V{"broken", "orders", "sales"});
  CHECK(ids("?q=HOUR") == V{"orders"});    // the description, any case
  CHECK(ids("?q=ops-t") == V{"orders"});   // a tag
  CHECK(ids("?q=sal") == V{"sales"});      // the id
  CHECK(ids("?tag=hourly") == V{"orders"});
  CHECK(ids("?tag=hour").empty());         // a tag is matched whole
  CHECK(ids("?namespace=finance") == V{"sales"});
  CHECK(ids("?paused=true") == V{"sales"});
  CHECK(ids("?paused=false") == V{"broken", "orders"});
  CHECK(ids("?import_errors=true") == V{"broken"});
  CHECK(ids("?import_errors=false&paused=false") == V{"orders"});
  CHECK(ids("?q=nothing-like-it").empty());
  auto page = env.get("/api/v1/dags?paused=false&limit=1", kViewer);
  REQUIRE(page.body["items"].size() == 1);
  auto rest = env.get("/api/v1/dags?paused=false&limit=1&cursor=" + page.body["next_cursor"].get<std::string>(), kViewer);
  CHECK(rest.body["items"][0]["dag_id"] == "orders");
  CHECK(rest.body["next_cursor"].is_null());
  CHECK(env.get("/api/v1/dags?paused=maybe", kViewer).status == 400);

  auto sum = env.get("/api/v1/dag-summary?q=hour", kViewer);
  REQUIRE(sum.status == 200);
  CHECK(sum.body == json{{"total", 3}, {"matched", 1}, {"paused", 1}, {"with_import_errors", 1},
                         {"tags", {"hourly", "ops-team"}}, {"namespaces", {"default", "finance", "ops"}}});
  CHECK(env.get("/api/v1/dag-summary").body["matched"] == 3);
}

TEST_CASE("pools, variables and connections") {
  Env env;
  auto put = env.call("PUT", "/api/v1/pools/etl", R"({"slots": 4})");
  REQUIRE(put.status == 201);
  CHECK(put.body == json{{"name", "etl"}, {"slots", 4}, {"used", 0}});
  CHECK(env.call("PUT", "/api/v1/pools/etl", R"({"slots": 6})").status == 200);
  for (const char* bad : {R"({"slots": -1})", R"({"slots": 100001})", R"({"slots": "4"})", R"({"slots": 4.5})", "{}",
                          R"({"slots": 4, "size": 2})"}) {
    INFO(bad);
    CHECK(env.call("PUT", "/api/v1/pools/etl", bad).status == 400);
  }
  CHECK(env.call("PUT", "/api/v1/pools/bad%20name", R"({"slots": 1})").status == 400);
  CHECK(env.call("PUT", "/api/v1/pools/.hidden", R"({"slots": 1})").status == 400);
  CHECK(env.store->get_pool("etl")->slots == 6);
  CHECK(env.call("DELETE", "/api/v1/pools/default").status == 409);
  CHECK(env.call("DELETE", "/api/v1/pools/nope").status == 404);

  // Queued and running task instances of unfinished runs use their pool slots.
  store::RunRecord run;
  run.dag_id = "sales";
  run.run_id = "scheduled__20261121T000000Z";
  run.run_type = "scheduled";
  run.logical_date = run.data_interval_start = *parse_utc("2026-11-21T00:00:00Z");
  run.data_interval_end = *parse_utc("2026-11-22T00:00:00Z");
  run.dag_version = env.version;
  std::vector<store::TaskInstanceRecord> tis(4);
  const char* ids[] = {"extract", "transform", "load", "other"};
  TaskState states[] = {TaskState::running, TaskState::queued, TaskState::scheduled, TaskState::success};
  for (size_t i = 0; i < tis.size(); ++i) {
    tis[i].task_id = ids[i];
    tis[i].state = states[i];
    tis[i].pool = "etl";
    tis[i].pool_slots = 2;
  }
  REQUIRE(env.store->create_run(run, tis, "system").ok());
  auto pools = env.get("/api/v1/pools", kViewer);
  REQUIRE(pools.status == 200);
  REQUIRE(pools.body["items"].size() == 2);
  CHECK(pools.body["items"][0] == json{{"name", "default"}, {"slots", 128}, {"used", 0}});
  CHECK(pools.body["items"][1] == json{{"name", "etl"}, {"slots", 6}, {"used", 4}});
  CHECK(env.get("/api/v1/pools/etl").body["used"] == 4);

  // Variables: create, read, update, list, delete.
  CHECK(env.call("PUT", "/api/v1/variables/bucket", R"({"value": "s3://a"})").status == 201);
  CHECK(env.get("/api/v1/variables/bucket", kViewer).body["value"] == "s3://a");
  CHECK(env.call("PUT", "/api/v1/variables/bucket", R"({"value": "s3://b"})").status == 200);
  auto vars = env.get("/api/v1/variables", kViewer);
  REQUIRE(vars.body["items"].size() == 1);
  CHECK(vars.body["items"][0]["value"] == "s3://b");
  CHECK(env.call("PUT", "/api/v1/variables/bucket", R"({"value": 3})").status == 400);
  CHECK(env.call("DELETE", "/api/v1/variables/bucket").status == 204);
  CHECK(env.get("/api/v1/variables/bucket").status == 404);
  CHECK(env.call("DELETE", "/api/v1/variables/bucket").status == 404);

  // Connections: the password never comes back.
  auto conn = env.call("PUT", "/api/v1/connections/wh", R"({"url": "postgresql://loader:s3cret@db:5432/wh"})");
  REQUIRE(conn.status == 201);
  CHECK(conn.body["url"] == "postgresql://loader:***@db:5432/wh");
  auto one = env.get("/api/v1/connections/wh");
  CHECK(one.body["url"] == "postgresql://loader:***@db:5432/wh");
  auto conns = env.get("/api/v1/connections");
  REQUIRE(conns.body["items"].size() == 1);
  CHECK(conns.text.find("s3cret") == std::string::npos);
  CHECK(env.store->get_connection("wh")->url == "postgresql://loader:s3cret@db:5432/wh");
  CHECK(env.call("PUT", "/api/v1/connections/lite", R"({"url": "sqlite:/tmp/x.db"})").status == 201);
  CHECK(env.get("/api/v1/connections/lite").body["url"] == "sqlite:/tmp/x.db");
  CHECK(env.call("PUT", "/api/v1/connections/bad", R"({"url": "mysql://x"})").status == 400);
  for (auto [url, shown] : std::vector<std::pair<std::string, std::string>>{
           {"postgresql://u:p@ss/w@db/x", "postgresql://u:***@db/x"},
           {"postgresql://db/x?user=u&password=pw&sslmode=require",
            "postgresql://db/x?user=u&password=***&sslmode=require"},
           {"postgresql://u@db/x", "postgresql://u@db/x"},
       }) {
    auto r = env.call("PUT", "/api/v1/connections/other", json{{"url", url}}.dump());
    REQUIRE(r.status / 100 == 2);
    CHECK(r.body["url"] == shown);
  }
  CHECK(env.get("/api/v1/connections/wh", kViewer).status == 403);
  CHECK(env.call("DELETE", "/api/v1/connections/wh").status == 204);
  CHECK(env.get("/api/v1/connections/wh").status == 404);
  auto audit = env.get("/api/v1/audit?action=connection.set");
  CHECK(audit.body["items"].size() == 5);
  CHECK(audit.text.find("s3cret") == std::string::npos);
  // Every password form (SPEC §12): percent-encoded keys, any case, keyword strings.
  for (auto [url, shown] : std::vector<std::pair<std::string, std::string>>{
           {"postgresql://db/x?pass%77ord=enc-pw&SSLPassword=ssl-pw", "postgresql://db/x?pass%77ord=***&SSLPassword=***"},
           {"postgresql://u:p%40ss@db/x?PASSWORD=q-pw", "postgresql://u:***@db/x?PASSWORD=***"},
       }) {
    auto r = env.call("PUT", "/api/v1/connections/other", json{{"url", url}}.dump());
    REQUIRE(r.status / 100 == 2);
    CHECK(r.body["url"] == shown);
    CHECK(env.get("/api/v1/connections").text.find("-pw") == std::string::npos);
  }
  auto refused = env.call("PUT", "/api/v1/connections/bad", R"({"url": "mysql://u:my-pw@db/x"})");
  CHECK(refused.status == 400);
  CHECK(refused.text.find("my-pw") == std::string::npos);
}

TEST_CASE("secret variables are write-only: masked in GET and list, their value never audited") {
  Env env;
  auto put = env.call("PUT", "/api/v1/variables/api_key", R"({"value": "k-0123456789", "secret": true})");
  REQUIRE(put.status == 201);
  CHECK(put.body["value"] == "***");
  CHECK(put.body["secret"] == true);
  auto one = env.get("/api/v1/variables/api_key", kViewer);
  CHECK(one.body["value"] == "***");
  CHECK(one.body["secret"] == true);
  CHECK(env.call("PUT", "/api/v1/variables/plain", R"({"value": "eu"})").status == 201);
  auto list = env.get("/api/v1/variables", kViewer);
  CHECK(list.text.find("k-0123456789") == std::string::npos);
  REQUIRE(list.body["items"].size() == 2);
  CHECK(list.body["items"][1]["value"] == "eu");
  CHECK(list.body["items"][1]["secret"] == false);
  CHECK(env.store->get_variable("api_key")->value == "k-0123456789");  // tries need it
  // A new value without `secret`: still secret; `"secret": false` makes it plain.
  CHECK(env.call("PUT", "/api/v1/variables/api_key", R"({"value": "k-9876543210"})").status == 200);
  CHECK(env.get("/api/v1/variables/api_key").body["value"] == "***");
  CHECK(env.store->get_variable("api_key")->value == "k-9876543210");
  CHECK(env.call("PUT", "/api/v1/variables/api_key", R"({"value": "shown", "secret": false})").status == 200);
  CHECK(env.get("/api/v1/variables/api_key").body["value"] == "shown");
  CHECK(env.call("PUT", "/api/v1/variables/api_key", R"({"value": "k", "secret": "yes"})").status == 400);
  auto audit = env.get("/api/v1/audit?action=variable.set");
  CHECK(audit.body["items"].size() == 4);
  CHECK(audit.text.find("k-0123456789") == std::string::npos);
  CHECK(audit.text.find("k-9876543210") == std::string::npos);
}

TEST_CASE("the OpenAPI document, unknown routes and wrong methods") {
  Env env;
  auto doc = env.get("/api/v1/openapi.json", nullptr);
  REQUIRE(doc.status == 200);
  REQUIRE(doc.body.is_object());
  CHECK(doc.body["openapi"].get<std::string>().rfind("3.0", 0) == 0);
  REQUIRE(doc.body["paths"].is_object());
  for (auto [path, method] : std::vector<std::pair<const char*, const char*>>{
           {"/health", "get"},
           {"/dags", "get"},
           {"/dags/{dag_id}", "patch"},
           {"/dags/{dag_id}/graph", "get"},
           {"/dags/{dag_id}/runs", "post"},
           {"/dags/{dag_id}/runs/{run_id}/cancel", "post"},
           {"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs", "get"},
           {"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/clear", "post"},
           {"/pools/{name}", "put"},
           {"/variables/{name}", "delete"},
           {"/connections/{name}", "get"},
           {"/audit", "get"},
       }) {
    INFO(path << " " << method);
    CHECK(doc.body["paths"].contains(path));
    CHECK(doc.body["paths"][path].contains(method));
  }

  auto unknown = env.get("/api/v1/nothing-here");
  CHECK(unknown.status == 404);
  CHECK(unknown.is_error("not_found"));
  auto outside = env.get("/nothing-here", nullptr);
  CHECK(outside.status == 404);
  CHECK(outside.is_error("not_found"));
  auto wrong = env.call("DELETE", "/api/v1/dags");
  CHECK(wrong.status == 405);
  CHECK(wrong.is_error("method_not_allowed"));
  CHECK(wrong.header("Allow").find("GET") != std::string::npos);
  auto weird = env.call("BREW", "/api/v1/dags");
  CHECK(weird.status >= 400);
  CHECK(weird.body.contains("error"));
}

TEST_CASE("static files come from web_dir; the API stays JSON") {
  Env env(std::string(BATON_SOURCE_DIR) + "/web");
  auto index = env.http->Get("/");
  REQUIRE(index);
  CHECK(index->status == 200);
  CHECK(index->body.find("Baton") != std::string::npos);
  CHECK(index->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(index->get_header_value("Content-Security-Policy").find("default-src 'self'") == 0);
  CHECK(index->get_header_value("X-Content-Type-Options") == "nosniff");
  auto missing = env.get("/nothing.js", nullptr);
  CHECK(missing.status == 404);
  CHECK(missing.is_error("not_found"));
  CHECK(env.get("/api/v1/dags").status == 200);
}

TEST_CASE("dataset events: recorded by operators, listed by anyone, bad URIs refused") {
  Env env;
  auto made = env.post("/api/v1/datasets/events", R"({"uri": "s3://lake/orders", "extra": {"rows": 3}})", kOperator);
  REQUIRE(made.status == 201);
  CHECK(made.body["uri"] == "s3://lake/orders");
  CHECK(made.body["extra"] == json{{"rows", 3}});
  CHECK(made.body["at"] == "2026-11-22T10:00:00Z");
  CHECK(made.body["source_dag_id"].is_null());
  REQUIRE(env.post("/api/v1/datasets/events", R"({"uri": "pg://wh/customers"})", kOperator).status == 201);
  CHECK(env.post("/api/v1/datasets/events", R"({"uri": "s3://x"})", kViewer).status == 403);
  for (const char* bad : {R"({})", R"({"uri": ""})", R"({"uri": "s3://a b"})", R"({"uri": 7})",
                          R"({"uri": "s3://x", "extra": [1]})", R"({"uri": "s3://x", "other": 1})"}) {
    INFO(bad);
    auto r = env.post("/api/v1/datasets/events", bad, kOperator);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
  }
  auto all = env.get("/api/v1/datasets/events", kViewer);
  REQUIRE(all.status == 200);
  REQUIRE(all.body["items"].size() == 2);
  auto one = env.get("/api/v1/datasets/events?uri=pg://wh/customers", kViewer);
  REQUIRE(one.body["items"].size() == 1);
  CHECK(one.body["items"][0]["uri"] == "pg://wh/customers");
  auto page = env.get("/api/v1/datasets/events?limit=1", kViewer);
  REQUIRE(page.body["next_cursor"].is_string());
  auto rest = env.get("/api/v1/datasets/events?limit=1&cursor=" + page.body["next_cursor"].get<std::string>(), kViewer);
  REQUIRE(rest.body["items"].size() == 1);
  CHECK(rest.body["items"][0]["uri"] == "pg://wh/customers");
}

TEST_CASE("the web UI is built into the server: index, scripts and styles, with a content security policy") {
  Env env;  // no web_dir: the files compiled into the binary
  auto index = env.http->Get("/");
  REQUIRE(index);
  CHECK(index->status == 200);
  CHECK(index->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(index->body.find(R"(<script type="module" src="/js/app.js">)") != std::string::npos);
  CHECK(index->get_header_value("Content-Security-Policy").find("default-src 'self'") == 0);
  CHECK(index->get_header_value("Cache-Control") == "no-cache");
  std::ifstream on_disk(std::string(BATON_SOURCE_DIR) + "/web/js/app.js", std::ios::binary);
  std::string app((std::istreambuf_iterator<char>(on_disk)), std::istreambuf_iterator<char>());
  for (const char* path : {"/js/app.js", "/js/pages/run.js", "/js/graph.js"}) {
    auto js = env.http->Get(path);
    REQUIRE(js);
    INFO(path);
    CHECK(js->status == 200);
    CHECK(js->get_header_value("Content-Type").find("text/javascript") == 0);
    if (std::string(path) == "/js/app.js") CHECK(js->body == app);
  }
  auto css = env.http->Get("/style.css");
  REQUIRE(css);
  CHECK(css->get_header_value("Content-Type").find("text/css") == 0);
  auto missing = env.get("/js/nothing.js", nullptr);
  CHECK(missing.status == 404);
  CHECK(missing.is_error("not_found"));
  CHECK(env.get("/api/v1/health", nullptr).status == 200);  // no file shadows the API
}

TEST_CASE("what the UI reads: who am I, the grid of runs x tasks, a run's tries, a task's checkpoint") {
  Env env;
  auto me = env.get("/api/v1/me", kViewer);
  REQUIRE(me.status == 200);
  CHECK(me.body == json{{"name", "vic"}, {"role", "viewer"}});
  CHECK(env.get("/api/v1/me", kOperator).body["role"] == "operator");
  CHECK(env.get("/api/v1/me", nullptr).status == 401);
  CHECK(env.get("/api/v1/me", kWorker).status == 403);

  auto dag = env.get("/api/v1/dags/sales", kViewer);
  REQUIRE(dag.status == 200);
  CHECK(dag.body["tags"] == json::array());
  CHECK(dag.body["params"] == json::object());
  CHECK(dag.body["recent_runs"] == json::array());

  std::vector<std::string> runs;
  for (const char* day : {"2026-11-01", "2026-11-02", "2026-11-03"}) {
    auto r = env.post("/api/v1/dags/sales/runs", std::string(R"({"logical_date": ")") + day + R"(T00:00:00Z"})");
    REQUIRE(r.status == 201);
    runs.push_back(r.body["run_id"].get<std::string>());
  }
  auto listed = env.get("/api/v1/dags/sales", kViewer);
  REQUIRE(listed.body["recent_runs"].size() == 3);
  CHECK(listed.body["recent_runs"][0]["run_id"] == runs[2]);  // newest first

  // The oldest run: extract succeeded, and a mapped task of an older version
  // has three instances.
  auto extract = env.ti(runs[0], "extract");
  extract.state = TaskState::success;
  extract.try_number = 1;
  extract.attempt_token = "tok-1";
  store::WriteBatch b;
  b.task_instances.push_back(extract);
  store::TryRecord y;
  y.ti_id = extract.id;
  y.try_number = 1;
  y.state = TaskState::success;
  y.worker = "w-1";
  y.queued_at = *parse_utc("2026-11-22T09:59:00Z");
  y.started_at = *parse_utc("2026-11-22T09:59:30Z");
  y.ended_at = *parse_utc("2026-11-22T10:00:00Z");
  y.exit_code = 0;
  b.tries.push_back(y);
  REQUIRE(env.store->apply(b).ok());
  auto oldest = env.store->get_run("sales", runs[0]);
  REQUIRE(oldest.ok());
  std::vector<store::TaskInstanceRecord> mapped;
  for (int i = -1; i < 3; ++i) {  // the task's own instance (the aggregate), then 3 mapped ones
    store::TaskInstanceRecord t;
    t.task_id = "fan";
    t.map_index = i;
    t.state = i == -1 ? TaskState::pending : i == 1 ? TaskState::running : TaskState::success;
    if (i >= 0) t.item = "\"f" + std::to_string(i) + "\"";
    mapped.push_back(t);
  }
  REQUIRE(env.store->add_task_instances(oldest->pk, mapped).ok());
  // The same (task, map_index) twice is refused, and nothing of the batch is added.
  CHECK_FALSE(env.store->add_task_instances(oldest->pk, {mapped[3]}).ok());
  // Mapped instances of a task that has no foreach in the run's version (made
  // under a version the run was moved off) are history: not rolled up.
  auto middle = env.store->get_run("sales", runs[1]);
  store::TaskInstanceRecord stale;
  stale.task_id = "transform";
  stale.map_index = 0;
  stale.state = TaskState::failed;
  REQUIRE(env.store->add_task_instances(middle->pk, {stale}).ok());

  // Paging through a mapped task's instances; the tasks' own, with the roll-up.
  auto own = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?map_index=-1", kViewer);
  REQUIRE(own.status == 200);
  REQUIRE(own.body["items"].size() == 4);
  CHECK(own.body["items"][3]["task_id"] == "fan");
  CHECK(own.body["items"][3]["mapped"] ==
        json({{"state", "running"}, {"mapped", 3}, {"counts", {{"running", 1}, {"success", 2}}}}));
  CHECK(own.body["items"][0]["mapped"].is_null());
  auto page = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&limit=2", kViewer);
  REQUIRE(page.status == 200);
  REQUIRE(page.body["items"].size() == 2);
  CHECK(page.body["items"][0]["map_index"] == -1);
  CHECK(page.body["items"][1]["map_index"] == 0);
  CHECK(page.body["items"][1]["item"] == "f0");
  REQUIRE(page.body["next_cursor"].is_string());
  auto rest = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&limit=2&cursor=" +
                          page.body["next_cursor"].get<std::string>(),
                      kViewer);
  REQUIRE(rest.body["items"].size() == 2);
  CHECK(rest.body["items"][1]["map_index"] == 2);
  CHECK(rest.body["next_cursor"].is_null());
  auto bad = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?map_index=-2", kViewer);
  CHECK(bad.status == 400);
  auto running = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&state=running", kViewer);
  REQUIRE(running.body["items"].size() == 1);
  CHECK(running.body["items"][0]["map_index"] == 1);
  CHECK(env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?state=bogus", kViewer).status == 400);
  // Only the mapped ones (a page of them holds no own instance, whatever the state filter).
  auto only = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&mapped=true&state=success", kViewer);
  REQUIRE(only.body["items"].size() == 2);
  CHECK(only.body["items"][0]["map_index"] == 0);
  CHECK(only.body["items"][1]["map_index"] == 2);
  CHECK(env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?mapped=false", kViewer).body["items"].size() == 4);

  auto grid = env.get("/api/v1/dags/sales/grid?limit=2", kViewer);
  REQUIRE(grid.status == 200);
  CHECK(grid.body["tasks"] == json::array({"extract", "transform", "load"}));  // upstream first
  REQUIRE(grid.body["runs"].size() == 2);
  CHECK(grid.body["runs"][0]["run_id"] == runs[2]);
  CHECK(grid.body["runs"][0]["cells"] == json::array({"scheduled", "pending", "pending"}));
  CHECK_FALSE(grid.body["runs"][0].contains("params"));
  REQUIRE(grid.body["next_cursor"].is_string());
  auto older = env.get("/api/v1/dags/sales/grid?limit=2&cursor=" + grid.body["next_cursor"].get<std::string>(), kViewer);
  REQUIRE(older.status == 200);
  REQUIRE(older.body["runs"].size() == 1);
  CHECK(older.body["next_cursor"].is_null());
  CHECK(older.body["runs"][0]["run_id"] == runs[0]);
  CHECK(older.body["tasks"] == json::array({"extract", "transform", "load", "fan"}));
  auto cells = older.body["runs"][0]["cells"];
  CHECK(cells[0] == "success");
  CHECK(cells[3] == json({{"state", "running"}, {"mapped", 3}, {"counts", {{"running", 1}, {"success", 2}}}}));
  auto one = env.get("/api/v1/dags/sales/grid?run_id=" + runs[1], kViewer);
  REQUIRE(one.status == 200);
  REQUIRE(one.body["runs"].size() == 1);
  CHECK(one.body["runs"][0]["run_id"] == runs[1]);
  CHECK(one.body["runs"][0]["cells"][1] == "pending");  // transform's own state, not its stale mapped one
  auto middle_tasks = env.get("/api/v1/dags/sales/runs/" + runs[1] + "/tasks?map_index=-1", kViewer);
  int transforms = 0;
  for (auto& t : middle_tasks.body["items"])
    if (t["task_id"] == "transform") {
      ++transforms;
      CHECK(t["mapped"].is_null());
      CHECK(t["state"] == "pending");
    }
  CHECK(transforms == 1);

  auto too_many = env.get("/api/v1/dags/sales/grid?limit=101", kViewer);
  CHECK(too_many.status == 400);
  CHECK(too_many.message().find("at most 100 runs") != std::string::npos);
  CHECK(env.get("/api/v1/dags/nope/grid", kViewer).status == 404);
  CHECK(env.get("/api/v1/dags/sales/grid?run_id=nope", kViewer).status == 404);
  CHECK(env.get("/api/v1/dags/sales/grid?cursor=garbage", kViewer).status == 400);

  auto tries = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tries", kViewer);
  REQUIRE(tries.status == 200);
  REQUIRE(tries.body["items"].size() == 1);
  auto& t = tries.body["items"][0];
  CHECK(t["task_id"] == "extract");
  CHECK(t["map_index"] == -1);
  CHECK(t["try_number"] == 1);
  CHECK(t["worker"] == "w-1");
  CHECK(t["queued_at"] == "2026-11-22T09:59:00Z");
  CHECK(t["started_at"] == "2026-11-22T09:59:30Z");
  CHECK(env.get("/api/v1/dags/sales/runs/" + runs[1] + "/tries", kViewer).body["items"].empty());

  REQUIRE(env.store->save_checkpoint(extract.id, "tok-1", "row-500").ok());
  auto detail = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks/extract", kViewer);
  REQUIRE(detail.status == 200);
  CHECK(detail.body["checkpoint"] == "row-500");
  CHECK(detail.body["checkpoint_bytes"] == 7);
  auto none = env.get("/api/v1/dags/sales/runs/" + runs[1] + "/tasks/extract", kViewer);
  CHECK(none.body["checkpoint"].is_null());

  // The audit log newest first, paged back with its own cursor.
  auto desc = env.get("/api/v1/audit?order=desc&limit=2", kViewer);
  REQUIRE(desc.status == 200);
  REQUIRE(desc.body["items"].size() == 2);
  auto asc = env.get("/api/v1/audit?limit=1000", kViewer);
  REQUIRE(asc.status == 200);
  auto& all = asc.body["items"];
  REQUIRE(all.size() >= 4);
  CHECK(desc.body["items"][0]["id"] == all[all.size() - 1]["id"]);
  CHECK(desc.body["items"][1]["id"] == all[all.size() - 2]["id"]);
  auto back = env.get("/api/v1/audit?order=desc&limit=2&cursor=" + desc.body["next_cursor"].get<std::string>(), kViewer);
  REQUIRE(back.status == 200);
  CHECK(back.body["items"][0]["id"] == all[all.size() - 3]["id"]);
  CHECK(env.get("/api/v1/audit?order=asc&cursor=" + desc.body["next_cursor"].get<std::string>(), kViewer).status == 400);
  CHECK(env.get("/api/v1/audit?order=sideways", kViewer).status == 400);
  auto triggers = env.get("/api/v1/audit?order=desc&action=run.triggered", kViewer);
  CHECK(triggers.body["items"].size() == 3);

  auto doc = env.get("/api/v1/openapi.json", nullptr);
  for (const char* path : {"/me", "/dags/{dag_id}/grid", "/dags/{dag_id}/runs/{run_id}/tries"}) {
    INFO(path);
    CHECK(doc.body["paths"].contains(path));
  }
}

TEST_CASE("backfills: create (dry run or for real), list, one, cancel; bad bodies get 400 and change nothing") {
  Env env;
  auto dry = env.post("/api/v1/backfills", R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-01", "dry_run": true})",
                      kOperator);
  REQUIRE(dry.status == 200);
  CHECK(dry.body["state"] == "dry_run");
  CHECK(dry.body["id"].is_null());
  REQUIRE(dry.body["plan"].size() == 1);
  CHECK(dry.body["plan"][0]["action"] == "create");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 10)->empty());

  auto made = env.post("/api/v1/backfills",
                       R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "reprocess": "failed",
                           "max_active_runs": 3, "tasks": ["extract"], "downstream": true})",
                       kOperator);
  REQUIRE(made.status == 201);
  long long id = made.body["id"].get<long long>();
  CHECK(made.body["state"] == "running");
  CHECK(made.body["created_by"] == "ops");
  CHECK(env.control->calls().back() == "backfill sales 2026-11-01..2026-11-02 failed by ops");
  auto one = env.get("/api/v1/backfills/" + std::to_string(id), kViewer);
  REQUIRE(one.status == 200);
  for (const char* k : {"id", "dag_id", "from", "to", "reprocess", "max_active_runs", "state", "total", "done", "failed",
                        "created_at", "created_by"})
    CHECK(one.body.contains(k));
  CHECK(env.get("/api/v1/backfills", kViewer).body["items"].size() == 1);
  CHECK(env.get("/api/v1/backfills?dag_id=nope", kViewer).body["items"].empty());
  CHECK(env.get("/api/v1/backfills/999", kViewer).status == 404);
  CHECK(env.get("/api/v1/backfills/x", kViewer).status == 404);
  auto canceled = env.post("/api/v1/backfills/" + std::to_string(id) + "/cancel", "{}", kOperator);
  REQUIRE(canceled.status == 200);
  CHECK(canceled.body["state"] == "canceled");

  size_t audit = env.audit_size();
  for (const char* bad : {R"({"from": "2026-11-01", "to": "2026-11-02"})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "reprocess": "some"})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "tasks": "extract"})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "tasks": [1]})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "max_active_runs": 0})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "nope": 1})"}) {
    INFO(bad);
    auto r = env.post("/api/v1/backfills", bad, kOperator);
    CHECK(r.status == 400);
    CHECK(r.body["error"]["code"] == "invalid_argument");
  }
  CHECK(env.post("/api/v1/backfills", R"({"dag_id": "nope", "from": "2026-11-01", "to": "2026-11-02"})", kOperator)
            .status == 404);
  CHECK(env.post("/api/v1/backfills", R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02"})", kViewer)
            .status == 403);
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 10)->size() == 1);
  CHECK(env.audit_size() == audit);
}

TEST_CASE("metrics in the Prometheus text format; SLA misses listed and filtered") {
  Env env;
  env.trigger();
  CHECK(env.get("/api/v1/metrics", nullptr).status == 401);  // a token, unless metrics_public
  auto r = env.get("/api/v1/metrics", kViewer);
  REQUIRE(r.status == 200);
  CHECK(r.headers.find("Content-Type")->second.rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& t = r.text;
  INFO(t);
  for (const char* line :
       {"# TYPE baton_runs gauge", "baton_runs{state=\"queued\"} 1", "baton_runs{state=\"success\"} 0",
        "baton_task_instances{state=\"pending\"} 2", "baton_task_instances{state=\"scheduled\"} 1", "# TYPE baton_task_scheduling_latency_seconds histogram",
        "baton_task_scheduling_latency_seconds_bucket{le=\"0.01\"} 3",
        "baton_task_scheduling_latency_seconds_bucket{le=\"0.1\"} 4",
        "baton_task_scheduling_latency_seconds_bucket{le=\"+Inf\"} 5", "baton_task_scheduling_latency_seconds_count 5",
        "baton_ready_depth{queue=\"default\"} 2", "baton_pool_depth{pool=\"default\"} 0",
        "# TYPE baton_queue_depth gauge", "baton_queue_depth{queue=\"default\"} 0",
        "baton_pool_slots{pool=\"default\"} 128", "baton_scheduler_leader{member=\"member-1\"} 1",
        "baton_sla_misses_total 0", "# TYPE baton_db_latency_seconds gauge"}) {
    INFO(line);
    CHECK(t.find(std::string(line) + "\n") != std::string::npos);
  }

  // Queue depth per worker queue: the tries queued and not yet taken, from the store.
  {
    auto runs = env.store->list_runs({});
    auto tis = *env.store->list_task_instances(runs->at(0).pk);
    store::WriteBatch b;
    for (auto ti : tis) {
      ti.state = TaskState::queued;
      b.task_instances.push_back(ti);
    }
    REQUIRE(env.store->apply(b).ok());
    store::RunRecord gpu_run;
    gpu_run.dag_id = "sales";
    gpu_run.run_id = "manual__gpu";
    gpu_run.run_type = "manual";
    gpu_run.dag_version = env.version;
    store::TaskInstanceRecord gpu;
    gpu.task_id = "extract";
    gpu.queue = "gpu";
    gpu.state = TaskState::queued;
    REQUIRE(env.store->create_run(gpu_run, {gpu}, "test").ok());
    auto q = env.get("/api/v1/metrics", kViewer).text;
    INFO(q);
    CHECK(q.find("baton_queue_depth{queue=\"gpu\"} 1\n") != std::string::npos);
    CHECK(q.find("baton_queue_depth{queue=\"default\"} 3\n") != std::string::npos);
    CHECK(q.find("baton_task_instances{state=\"queued\"} 4\n") != std::string::npos);
  }

  REQUIRE(env.store->record_sla_miss({0, "sales", "r1", "", "run_deadline", *parse_utc("2026-11-22T09:00:00Z"),
                                      env.clock.now()})
              .ok());
  CHECK_FALSE(*env.store->record_sla_miss({0, "sales", "r1", "", "run_deadline", *parse_utc("2026-11-22T09:00:00Z"),
                                           env.clock.now()}));  // once per (run, task, kind)
  REQUIRE(env.store->record_sla_miss({0, "other", "r2", "load", "task_duration", env.clock.now(), env.clock.now()})
              .ok());
  auto all = env.get("/api/v1/sla-misses", kViewer);
  REQUIRE(all.status == 200);
  REQUIRE(all.body["items"].size() == 2);
  CHECK(all.body["items"][0] == json{{"dag_id", "sales"}, {"run_id", "r1"}, {"task_id", nullptr},
                                     {"kind", "run_deadline"}, {"deadline", "2026-11-22T09:00:00Z"},
                                     {"detected_at", "2026-11-22T10:00:00Z"}});
  CHECK(all.body["items"][1]["task_id"] == "load");
  CHECK(env.get("/api/v1/sla-misses?dag_id=other").body["items"].size() == 1);
  CHECK(env.get("/api/v1/sla-misses?since=2026-11-23T00:00:00Z").body["items"].empty());
  CHECK(env.get("/api/v1/sla-misses?since=yesterday").status == 400);
  auto page = env.get("/api/v1/sla-misses?limit=1");
  REQUIRE(page.body["next_cursor"].is_string());
  CHECK(env.get("/api/v1/sla-misses?limit=1&cursor=" + page.body["next_cursor"].get<std::string>())
            .body["items"][0]["dag_id"] == "other");
  CHECK(env.get("/api/v1/metrics").text.find("baton_sla_misses_total 2\n") != std::string::npos);
}

TEST_CASE("worker endpoints: worker and admin tokens only; claims, heartbeats and reports go through the store's queue") {
  Env env;
  const std::string claim = R"({"worker": "w-a", "queues": ["default"], "slots": 2, "wait_ms": 0})";
  auto viewer = env.post("/api/v1/workers/claim", claim, kViewer);
  CHECK(viewer.status == 403);
  CHECK(viewer.body["error"]["message"].get<std::string>().find("worker role") != std::string::npos);
  CHECK(env.post("/api/v1/workers/claim", R"({"queues": ["default"]})", kWorker).status == 400);  // no worker name
  CHECK(env.post("/api/v1/workers/claim", R"({"worker": "w", "slots": 0})", kWorker).status == 400);
  CHECK(env.post("/api/v1/workers/heartbeat", R"({"worker": "w", "tries": [1]})", kWorker).status == 400);
  auto r = env.post("/api/v1/workers/claim", claim, kWorker);
  if (env.store->url().engine == store::DatabaseUrl::Engine::sqlite) {
    // baton standalone on SQLite runs its tries itself.
    CHECK(r.status == 400);
    CHECK(r.body["error"]["code"] == "unsupported");
    return;
  }
  REQUIRE(r.status == 200);
  CHECK(r.body["items"].empty());
  // A try queued by the owner of partition 3 (where the env put DAG sales).
  auto run = env.store->create_run(
      [&] {
        store::RunRecord x;
        x.dag_id = "sales";
        x.run_id = "manual__w";
        x.run_type = "manual";
        x.dag_version = env.version;
        return x;
      }(),
      {store::TaskInstanceRecord{}}, "test");
  REQUIRE(run.ok());
  store::WriteBatch b;
  store::QueueItem q;
  q.attempt_token = "tok-1";
  q.ti_id = run->task_instances[0].id;
  q.run_pk = run->run.pk;
  q.partition = 3;
  q.payload = R"({"command": "echo hi"})";
  b.enqueue = {q};
  REQUIRE(env.store->apply(b).ok());
  r = env.post("/api/v1/workers/claim", claim, kWorker);
  REQUIRE(r.status == 200);
  REQUIRE(r.body["items"].size() == 1);
  CHECK(r.body["items"][0]["attempt_token"] == "tok-1");
  CHECK(r.body["items"][0]["payload"]["command"] == "echo hi");
  // A heartbeat with a log chunk (base64url "hi\n" = aGkK) and an unknown try.
  std::string beat = R"({"worker": "w-a", "tries": [{"attempt_token": "tok-1", "ti_id": )" +
                     std::to_string(q.ti_id) + R"(, "try_number": 1, "log_offset": 0, "log": "aGkK"},
                     {"attempt_token": "tok-x"}]})";
  r = env.post("/api/v1/workers/heartbeat", beat, kWorker);
  REQUIRE(r.status == 200);
  CHECK(r.body["stale"] == json::array({"tok-x"}));
  CHECK(**env.store->read_log(q.ti_id, 1, 0, 100) == "hi\n");
  CHECK(env.post("/api/v1/workers/heartbeat",
                 R"({"worker": "w-a", "tries": [{"attempt_token": "tok-1", "ti_id": )" + std::to_string(q.ti_id) +
                     R"(, "try_number": 1, "log_offset": 3, "log": "not base64!"}]})",
                 kWorker)
            .status == 400);
  std::string report = R"({"worker": "w-a", "attempt_token": "tok-1", "ti_id": )" + std::to_string(q.ti_id) +
                       R"(, "try_number": 1, "outcome": "success", "exit_code": 0, "output": {"rows": 3}})";
  // Another worker's report on it is stale; the holder's is taken once.
  std::string other = report;
  other.replace(other.find("w-a"), 3, "w-b");
  CHECK(env.post("/api/v1/workers/report", other, kWorker).status == 409);
  CHECK(env.post("/api/v1/workers/report", report, kWorker).status == 200);
  auto again = env.post("/api/v1/workers/report", report, kWorker);
  CHECK(again.status == 409);
  CHECK(again.body["error"]["message"].get<std::string>().find("stale report") != std::string::npos);
  auto evs = env.store->worker_events({3}, 10);
  REQUIRE(evs->size() == 2);
  CHECK(json::parse((*evs)[1].body)["output"] == json({{"rows", 3}}));
}

TEST_CASE("worker endpoints: a forged heartbeat and a stale report store nothing; the other try's log stays intact") {
  Env env;
  const std::string claim_a = R"({"worker": "w-a", "queues": ["default"], "slots": 1, "wait_ms": 0})";
  const std::string claim_b = R"({"worker": "w-b", "queues": ["default"], "slots": 1, "wait_ms": 0})";
  if (env.store->url().engine == store::DatabaseUrl::Engine::sqlite) {
    // No remote workers on SQLite: every worker endpoint is refused, nothing stored.
    CHECK(env.post("/api/v1/workers/claim", claim_a, kWorker).status == 400);
    auto r = env.post("/api/v1/workers/report",
                      R"({"worker": "w-a", "attempt_token": "t", "ti_id": 1, "try_number": 1, "outcome": "success",
                          "log": "eA"})",
                      kWorker);
    CHECK(r.status == 400);
    CHECK(r.body["error"]["code"] == "unsupported");
    return;
  }
  // Two tries queued by the owner of partition 3, each task instance with its token.
  store::RunRecord x;
  x.dag_id = "sales";
  x.run_id = "manual__forged";
  x.run_type = "manual";
  x.dag_version = env.version;
  store::TaskInstanceRecord t1, t2;
  t1.task_id = "extract";
  t2.task_id = "transform";
  auto run = env.store->create_run(x, {t1, t2}, "test");
  REQUIRE(run.ok());
  store::WriteBatch b;
  std::vector<std::string> tokens = {"tok-a", "tok-b"};
  for (size_t i = 0; i < 2; ++i) {
    auto ti = run->task_instances[i];
    ti.state = TaskState::queued;
    ti.attempt_token = tokens[i];
    b.task_instances.push_back(ti);
    store::QueueItem q;
    q.attempt_token = tokens[i];
    q.ti_id = ti.id;
    q.run_pk = run->run.pk;
    q.task_index = static_cast<int>(i);
    q.partition = 3;
    q.payload = "{}";
    b.enqueue.push_back(q);
  }
  REQUIRE(env.store->apply(b).ok());
  const long long ti_a = run->task_instances[0].id, ti_b = run->task_instances[1].id;
  auto got_a = env.post("/api/v1/workers/claim", claim_a, kWorker);
  REQUIRE(got_a.body["items"].size() == 1);
  REQUIRE(got_a.body["items"][0]["attempt_token"] == "tok-a");
  auto got_b = env.post("/api/v1/workers/claim", claim_b, kWorker);
  REQUIRE(got_b.body["items"].size() == 1);
  REQUIRE(got_b.body["items"][0]["attempt_token"] == "tok-b");

  auto entry = [](const std::string& token, long long ti, int try_number, const std::string& log,
                  const std::string& checkpoint = "") {
    json t = {{"attempt_token", token}, {"ti_id", ti}, {"try_number", try_number}, {"log_offset", 0},
              {"log", base64url_encode(log)}};
    if (!checkpoint.empty()) t["checkpoint"] = base64url_encode(checkpoint);
    return t;
  };
  const std::string b_log = "b's own log line\n";
  auto beat_b = env.post("/api/v1/workers/heartbeat",
                         json{{"worker", "w-b"}, {"tries", json::array({entry("tok-b", ti_b, 1, b_log, "b at row 7")})}}.dump(),
                         kWorker);
  REQUIRE(beat_b.status == 200);
  CHECK(beat_b.body["stale"].empty());
  REQUIRE(**env.store->read_log(ti_b, 1, 0, 1000) == b_log);

  // w-a's valid token with b's task instance: its token is answered stale
  // and nothing is written, log or checkpoint.
  const std::string forged = "FORGED: w-a rewrote b's log with a longer chunk\n";
  auto beat = env.post(
      "/api/v1/workers/heartbeat",
      json{{"worker", "w-a"}, {"tries", json::array({entry("tok-a", ti_b, 1, forged, "forged checkpoint")})}}.dump(), kWorker);
  REQUIRE(beat.status == 200);
  CHECK(beat.body["stale"] == json::array({"tok-a"}));
  CHECK(**env.store->read_log(ti_b, 1, 0, 1000) == b_log);
  CHECK(**env.store->load_checkpoint(ti_b) == "b at row 7");

  // Then a stale report naming b's try: 409, and still nothing written.
  json report = {{"worker", "w-a"},   {"attempt_token", "tok-a"},         {"ti_id", ti_b},
                 {"try_number", 1},   {"outcome", "failed"},              {"exit_code", 1},
                 {"log_offset", 0},   {"log", base64url_encode(forged)},  {"checkpoint", base64url_encode("x")},
                 {"output", {{"forged", true}}}};
  auto stale = env.post("/api/v1/workers/report", report.dump(), kWorker);
  CHECK(stale.status == 409);
  CHECK(stale.is_error("conflict"));
  CHECK(stale.message().find("stale report") != std::string::npos);
  CHECK(**env.store->read_log(ti_b, 1, 0, 1000) == b_log);
  CHECK(**env.store->load_checkpoint(ti_b) == "b at row 7");
  CHECK_FALSE(env.store->read_log(ti_a, 1, 0, 1000)->has_value());
  // Nothing was reported for either try (only the two claims' started events).
  auto evs = env.store->worker_events({3}, 10);
  REQUIRE(evs->size() == 2);
  for (auto& e : *evs) CHECK(e.kind == "started");

  // b's own report is taken; a second one, stale now, stores nothing.
  json b_report = {{"worker", "w-b"}, {"attempt_token", "tok-b"}, {"ti_id", ti_b}, {"try_number", 1},
                   {"outcome", "success"}, {"exit_code", 0}, {"log_offset", static_cast<long long>(b_log.size())},
                   {"log", base64url_encode("done\n")}};
  CHECK(env.post("/api/v1/workers/report", b_report.dump(), kWorker).status == 200);
  b_report["log_offset"] = 0;
  b_report["log"] = base64url_encode(forged);
  CHECK(env.post("/api/v1/workers/report", b_report.dump(), kWorker).status == 409);
  CHECK(**env.store->read_log(ti_b, 1, 0, 1000) == b_log + "done\n");
  // w-a's own try is untouched by all of it and still its own.
  auto own = env.post("/api/v1/workers/heartbeat",
                      json{{"worker", "w-a"}, {"tries", json::array({entry("tok-a", ti_a, 1, "a's log\n")})}}.dump(), kWorker);
  CHECK(own.body["stale"].empty());
  CHECK(**env.store->read_log(ti_a, 1, 0, 1000) == "a's log\n");
}
