// Shared scheduling on PostgreSQL (SPEC §9), in one test process: scheduler
// members on one schema, the API's intents through RemoteControl, and a
// worker played by the test through the store's queue (the real HTTP worker
// runs in tests/e2e/chaos_test.sh). On SQLite, that a shared member is refused.
// A member watches the DAGs folder from before its first scan.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "baton/core/clock.h"
#include "baton/core/ids.h"
#include "baton/scheduler/remote_control.h"
#include "baton/scheduler/scheduler.h"
#include "baton/store/store.h"
#include "test_db.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Cluster {
  fs::path dir;
  std::string url;
  std::unique_ptr<store::Store> api_store;  // what the API and the test's worker use
  std::vector<std::unique_ptr<store::Store>> stores;
  std::vector<std::unique_ptr<Scheduler>> members;

  Cluster() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("baton-ha-test-" + std::to_string(getpid()) + "-" + std::to_string(++n));
    fs::remove_all(dir);
    fs::create_directories(dir / "dags");
    url = testing::test_database_url(dir);
    api_store = open();
    std::ofstream(dir / "dags" / "hello.yaml") << "dag: hello\n"
                                                  "tasks:\n"
                                                  "  a: {command: 'echo hi from {{ params.who }}'}\n"
                                                  "  b: {type: noop, depends_on: [a]}\n"
                                                  "params: {who: nobody}\n";
  }
  ~Cluster() {
    for (auto& m : members) m->stop(true);
    members.clear();
    stores.clear();
    api_store.reset();
    fs::remove_all(dir);
  }
  std::unique_ptr<store::Store> open() {
    auto u = store::parse_database_url(url);
    REQUIRE(u.ok());
    auto s = store::open_store(*u, SystemClock::instance());
    REQUIRE(s.ok());
    return std::move(*s);
  }
  Scheduler& start(const std::string& id, Duration poll = 100ms) {
    stores.push_back(open());
    SchedulerOptions o;
    o.shared = true;
    o.member_id = id;
    o.dags_dir = (dir / "dags").string();
    o.logs_dir = (dir / ("logs-" + id)).string();
    o.folder_poll = poll;
    o.member_heartbeat = 100ms;
    o.member_lease = 2s;
    o.heartbeat_interval = 100ms;
    o.zombie_timeout = 5s;
    members.push_back(std::make_unique<Scheduler>(*stores.back(), SystemClock::instance(), o));
    REQUIRE(members.back()->start().ok());
    return *members.back();
  }
  std::map<std::string, int> owners() {
    std::map<std::string, int> out;
    auto parts = api_store->list_partitions();
    REQUIRE(parts.ok());
    for (auto& p : *parts)
      if (p.owner) ++out[*p.owner];
    return out;
  }
};

void eventually(const std::function<bool()>& cond, const std::string& what, Duration limit = 15s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("timed out waiting for: " << what);
    std::this_thread::sleep_for(20ms);
  }
}

store::QueueItem claim_one(store::Store& s, const std::string& worker) {
  std::optional<store::QueueItem> got;
  eventually(
      [&] {
        auto c = s.claim_tasks(worker, {"default"}, 1);
        if (c && !c->empty()) got = (*c)[0];
        return got.has_value();
      },
      "a try to claim");
  return *got;
}

// What a worker holding `q` sends about it (a heartbeat's or a report's).
store::TryProgress held_try(const std::string& worker, const store::QueueItem& q,
                            std::optional<std::string> log = std::nullopt) {
  store::TryProgress p;
  p.worker = worker;
  p.attempt_token = q.attempt_token;
  p.ti_id = q.ti_id;
  p.try_number = q.try_number;
  p.log = std::move(log);
  return p;
}

TaskState state_of(store::Store& s, const std::string& run_id, const std::string& task) {
  auto r = s.get_run("hello", run_id);
  REQUIRE(r.ok());
  auto tis = s.list_task_instances(r->pk);
  REQUIRE(tis.ok());
  for (auto& t : *tis)
    if (t.task_id == task) return t.state;
  return TaskState::pending;
}

}  // namespace

TEST_CASE("HA: members split the partitions; an intent reaches the DAG's owner; a remote try is claimed, "
          "heartbeated and reported, and a stale report is refused") {
  if (!testing::on_postgres()) {
    auto u = store::parse_database_url("sqlite:" + (fs::temp_directory_path() / "baton-ha.db").string());
    auto lock = store::acquire_scheduling_lock(*u, /*shared=*/true);
    REQUIRE_FALSE(lock.ok());
    CHECK(lock.error().message.find("baton standalone") != std::string::npos);
    return;
  }
  Cluster c;
  c.start("m1");
  eventually([&] { return c.owners()["m1"] == kPartitions; }, "m1 to own every partition");
  c.start("m2");
  eventually([&] { return c.owners()["m1"] > 0 && c.owners()["m2"] > 0 && c.owners()["m1"] + c.owners()["m2"] == kPartitions; },
             "the partitions to be split between m1 and m2");
  auto status = read_scheduler_status(*c.api_store, SystemClock::instance());
  CHECK(status.leader == "m1");
  CHECK(status.members.size() == 2);

  RemoteControl rc(*c.api_store, SystemClock::instance(), nullptr, "");
  TriggerRequest req;
  req.params_json = R"({"who": "ada"})";
  req.note = "through the commands table";
  auto t = rc.trigger("hello", req, "ada");
  REQUIRE(t.ok());
  CHECK(t->created);
  CHECK(t->run.note == std::optional<std::string>("through the commands table"));
  CHECK(t->run.idempotency_key->rfind("command:", 0) == 0);  // a command carried out twice makes one run
  auto bad = rc.trigger("nope", req, "ada");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "not_found");

  auto item = claim_one(*c.api_store, "w1");
  json payload = json::parse(item.payload);
  CHECK(payload["command"] == "echo hi from ada");
  CHECK(payload["task_id"] == "a");
  CHECK(item.try_number == 1);
  CHECK(c.api_store->heartbeat_tasks("w1", {item.attempt_token})->empty());
  eventually([&] { return state_of(*c.api_store, t->run.run_id, "a") == TaskState::running; },
             "the owner to apply the started event");
  auto why = rc.waiting_for("hello", t->run.run_id, "b", -1);
  REQUIRE(why.ok());
  CHECK_FALSE(why->empty());
  REQUIRE(c.api_store->save_progress(held_try("w1", item, "hi from ada\n")).ok());
  REQUIRE(c.api_store->report_task(held_try("w1", item), R"({"outcome": "success", "exit_code": 0})").ok());
  CHECK(c.api_store->report_task(held_try("w1", item, "rewritten by a stale report\n"), R"({"outcome": "failed"})")
            .error()
            .code == "conflict");
  eventually([&] { return c.api_store->get_run("hello", t->run.run_id)->state == RunState::success; }, "the run to succeed");
  auto tis = c.api_store->list_task_instances(t->run.pk);
  CHECK((*tis)[0].worker == std::optional<std::string>("w1"));
  CHECK((*tis)[0].exit_code == std::optional<int>(0));
  CHECK(**c.api_store->read_log(item.ti_id, 1, 0, 100) == "hi from ada\n");

  // Cancel through the owner: a queued remote try leaves the queue.
  auto t2 = rc.trigger("hello", req, "ada");
  REQUIRE(t2.ok());
  REQUIRE(rc.cancel_run("hello", t2->run.run_id, "ada").ok());
  CHECK(c.api_store->get_run("hello", t2->run.run_id)->state == RunState::canceled);
  std::this_thread::sleep_for(200ms);
  CHECK(c.api_store->claim_tasks("w1", {"default"}, 5)->empty());

  // A member that stops cleanly hands its partitions over.
  c.members[1]->stop(true);
  eventually([&] { return c.owners()["m1"] == kPartitions; }, "m1 to take m2's partitions");
}

// Two members and eight DAGs of one task each (already written, with what
// limits them set up): a try of a DAG m1 owns is claimed and held; a try of
// a DAG m2 owns then waits in the queue — the claim counts what every worker
// holds, whichever member queued it — with `reason` among its reasons; the
// held try's report lets it be claimed.
static void held_across_members(Cluster& c, const std::string& reason,
                                const std::function<void(const store::QueueItem&)>& check_held) {
  c.start("m1");
  c.start("m2");
  eventually([&] { return c.owners()["m1"] > 0 && c.owners()["m2"] > 0 && c.owners()["m1"] + c.owners()["m2"] == kPartitions; },
             "the partitions to be split between m1 and m2");
  // Two of the DAGs that the partitions give to different members.
  auto owner_of = [&](const std::string& dag) {
    auto parts = c.api_store->list_partitions();
    REQUIRE(parts.ok());
    for (auto& p : *parts)
      if (p.partition == partition_of(dag)) return p.owner.value_or("");
    return std::string();
  };
  std::string on_m1, on_m2;
  for (int n = 0; n < 8; ++n) {
    std::string dag = "pooled_" + std::to_string(n);
    (owner_of(dag) == "m1" ? on_m1 : on_m2) = dag;
  }
  if (on_m1.empty() || on_m2.empty()) {
    SUCCEED("the eight DAGs all landed on one member (a chance of 1 in 128)");
    return;
  }
  RemoteControl rc(*c.api_store, SystemClock::instance(), nullptr, "");
  eventually([&] { return c.api_store->get_dag(on_m1).ok() && c.api_store->get_dag(on_m2).ok(); },
             "the DAGs to be registered");
  auto first = rc.trigger(on_m1, TriggerRequest{}, "ada");
  REQUIRE(first.ok());
  auto held = claim_one(*c.api_store, "w1");
  check_held(held);
  auto second = rc.trigger(on_m2, TriggerRequest{}, "ada");
  REQUIRE(second.ok());
  auto state = [&](const std::string& dag, const std::string& run_id) {
    auto r = c.api_store->get_run(dag, run_id);
    REQUIRE(r.ok());
    return (*c.api_store->list_task_instances(r->pk))[0].state;
  };
  // The test plays w1: it heartbeats its try, which m1 would otherwise fail
  // as lost after the zombie timeout (5 s) on a slow machine.
  auto beat = [&] { CHECK(c.api_store->heartbeat_tasks("w1", {held.attempt_token})->empty()); };
  eventually(
      [&] {
        beat();
        return state(on_m2, second->run.run_id) == TaskState::queued;
      },
      "m2 to queue its try");
  // m2's own count has room; the claim, counting what every worker holds, does not.
  std::this_thread::sleep_for(200ms);
  beat();
  CHECK(c.api_store->claim_tasks("w2", {"default"}, 5)->empty());
  auto why = rc.waiting_for(on_m2, second->run.run_id, "use", -1);
  beat();
  REQUIRE(why.ok());
  INFO(json(*why).dump());
  CHECK(std::find(why->begin(), why->end(), "waiting for a remote worker on queue default to claim it") != why->end());
  CHECK(std::find(why->begin(), why->end(), reason) != why->end());
  // The report ends the held try, and the waiting one is claimed.
  REQUIRE(c.api_store->report_task(held_try("w1", held), R"({"outcome": "success", "exit_code": 0})").ok());
  auto next = claim_one(*c.api_store, "w2");
  CHECK(next.run_pk == second->run.pk);
}

TEST_CASE("HA: a pool holds across members: a try of another member's DAG waits in the queue for the slot, and "
          "says why") {
  if (!testing::on_postgres()) {
    SUCCEED("PostgreSQL only");
    return;
  }
  Cluster c;
  for (int n = 0; n < 8; ++n)
    std::ofstream(c.dir / "dags" / ("pooled_" + std::to_string(n) + ".yaml"))
        << "dag: pooled_" << n << "\ntasks:\n  use: {command: 'true', pool: one}\n";
  REQUIRE(c.api_store->put_pool({"one", 1, ""}, "admin").ok());
  held_across_members(c, "pool one: 1 of 1 slots taken by tries on workers (of all members)",
                      [](const store::QueueItem& held) { CHECK(held.pool == "one"); });
}

TEST_CASE("HA: a namespace's max_running_tasks holds across members: a try of another member's DAG waits in the "
          "queue, and says why") {
  if (!testing::on_postgres()) {
    SUCCEED("PostgreSQL only");
    return;
  }
  Cluster c;
  for (int n = 0; n < 8; ++n)
    std::ofstream(c.dir / "dags" / ("pooled_" + std::to_string(n) + ".yaml"))
        << "dag: pooled_" << n << "\nnamespace: team\ntasks:\n  use: {command: 'true'}\n";
  REQUIRE(c.api_store->put_namespace({"team", 1, 1, std::nullopt, ""}, "admin").ok());
  held_across_members(c, "namespace team: 1 of 1 running on workers (max_running_tasks, of all members)",
                      [](const store::QueueItem& held) { CHECK(held.ns == "team"); });
}

TEST_CASE("HA: a backfill command carried out again (its answer lost with a refused write) makes one backfill") {
  if (!testing::on_postgres()) {
    SUCCEED("PostgreSQL only");
    return;
  }
  Cluster c;
  std::ofstream(c.dir / "dags" / "daily.yaml")
      << "dag: daily\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: false\ntasks:\n  a: {type: noop}\n";
  c.start("m1");
  eventually([&] { return c.owners()["m1"] == kPartitions; }, "m1 to own every partition");
  eventually([&] { return c.api_store->get_dag("daily").ok(); }, "the DAG to be registered");
  RemoteControl rc(*c.api_store, SystemClock::instance(), nullptr, "");
  BackfillRequest req;
  req.dag_id = "daily";
  req.from = "2026-01-01";
  req.to = "2026-01-03";
  auto made = rc.create_backfill(req, "ada");
  REQUIRE(made.ok());
  auto processed = [&] {
    pqxx::connection conn(c.api_store->url().conninfo);
    pqxx::work w(conn);
    return w.exec("SELECT processed_at IS NOT NULL FROM commands WHERE kind = 'create_backfill'")[0][0].as<bool>();
  };
  REQUIRE(processed());
  // As if the owner's write with the answer had been refused: the command
  // waits again, and the owner (or the partition's next) carries it out again.
  {
    pqxx::connection conn(c.api_store->url().conninfo);
    pqxx::work w(conn);
    w.exec("UPDATE commands SET processed_at = NULL, status = NULL, result = NULL WHERE kind = 'create_backfill'");
    w.commit();
  }
  eventually(processed, "the command to be carried out again");
  auto all = c.api_store->list_backfills(std::string("daily"), false, 0, 100);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 1);
  CHECK(all->front().id == made->backfill.id);
  CHECK(all->front().idempotency_key == std::optional<std::string>("command:" + std::to_string([&] {
          pqxx::connection conn(c.api_store->url().conninfo);
          pqxx::work w(conn);
          return w.exec("SELECT id FROM commands WHERE kind = 'create_backfill'")[0][0].as<long long>();
        }())));
}

TEST_CASE("HA: a member that missed a move has its writes under the old epochs refused, reloads, and when it gains "
          "the partitions again applies what workers did meanwhile") {
  if (!testing::on_postgres()) {
    SUCCEED("PostgreSQL only");
    return;
  }
  std::ostringstream logs;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(logs);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  {
    Cluster c;
    // No polls after the start: the member sees moves only through what it writes.
    c.start("m1", 1h);
    eventually([&] { return c.owners()["m1"] == kPartitions; }, "m1 to own every partition");
    RemoteControl rc(*c.api_store, SystemClock::instance(), nullptr, "");
    auto t = rc.trigger("hello", TriggerRequest{}, "ada");
    REQUIRE(t.ok());
    auto item = claim_one(*c.api_store, "w1");
    eventually([&] { return state_of(*c.api_store, t->run.run_id, "a") == TaskState::running; }, "the try to start");

    // The partition moves while m1 is not looking (a lost notification, a pause).
    {
      pqxx::connection conn(c.api_store->url().conninfo);
      pqxx::work w(conn);
      w.exec("UPDATE partitions SET owner = 'ghost', epoch = epoch + 1");
      w.commit();
    }
    REQUIRE(c.api_store->report_task(held_try("w1", item), R"({"outcome": "success", "exit_code": 0})").ok());
    eventually([&] { return logs.str().find("a write was refused") != std::string::npos; },
               "m1's write under the old epoch to be refused");
    std::this_thread::sleep_for(300ms);
    // Nothing of it landed: the task is still running in the store, the report waits.
    CHECK(state_of(*c.api_store, t->run.run_id, "a") == TaskState::running);
    CHECK(c.api_store->worker_events({partition_of("hello")}, 10)->size() >= 1);

    // The leader gives the partitions back: m1 loads them and applies the report.
    std::vector<std::pair<int, std::optional<std::string>>> back;
    for (int p = 0; p < kPartitions; ++p) back.push_back({p, std::string("m1")});
    REQUIRE(c.api_store->assign_partitions(back, "test").ok());
    eventually([&] { return c.api_store->get_run("hello", t->run.run_id)->state == RunState::success; },
               "the run to succeed under its new epochs");
  }
  spdlog::set_default_logger(previous);
}

TEST_CASE("HA: a member watches the DAGs folder before its first scan: a file written while it scans is registered") {
  if (!testing::on_postgres()) {
    SUCCEED("PostgreSQL only");
    return;
  }
  Cluster c;
  constexpr int kFiles = 2500;  // three chunks of the first scan
  for (int i = 0; i < kFiles; ++i)
    std::ofstream(c.dir / "dags" / ("f" + std::to_string(10000 + i) + ".yaml"))
        << "dag: f" << i << "\ntasks:\n  t: {type: noop}\n";
  c.stores.push_back(c.open());
  SchedulerOptions o;
  o.shared = true;
  o.member_id = "m1";
  o.dags_dir = (c.dir / "dags").string();
  o.logs_dir = (c.dir / "logs-m1").string();
  o.folder_poll = 100ms;
  o.folder_scan = std::chrono::hours(1);  // no safety scan finds it
  o.member_heartbeat = 100ms;
  o.member_lease = 2s;
  c.members.push_back(std::make_unique<Scheduler>(*c.stores.back(), SystemClock::instance(), o));
  Scheduler& m = *c.members.back();
  Status started;
  std::thread starting([&] { started = m.start(); });
  // Once the first chunk is registered the scan has listed the folder: a
  // file written now is not in its listing.
  long long registered = 0;
  for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(5ms)) {
    auto dags = c.api_store->list_dags();
    registered = dags.ok() ? static_cast<long long>(dags->size()) : 0;
    if (registered >= 1000) break;
  }
  std::ofstream(c.dir / "dags" / "late.yaml") << "dag: late\ntasks:\n  t: {type: noop}\n";
  starting.join();
  REQUIRE(started.ok());
  if (registered > kFiles) WARN("the first scan was over before the file was written: the window was not tested");
  eventually([&] { return c.api_store->get_dag("late").ok(); }, "the late DAG registered", 10s);
}

TEST_CASE("HA: a remote try's start and end are when its worker's claim and report were stored, however late its "
          "owner applies them") {
  if (!testing::on_postgres()) {
    SUCCEED("members and remote workers need PostgreSQL");
    return;
  }
  Cluster c;
  c.start("m1");
  eventually([&] { return c.owners()["m1"] == kPartitions; }, "m1 to own every partition");
  RemoteControl rc(*c.api_store, SystemClock::instance(), nullptr, "");
  auto t = rc.trigger("hello", TriggerRequest{}, "ada");
  REQUIRE(t.ok());
  // The worker's server has a clock of its own: the stored claim and report
  // times are told apart from the owner's own clock readings. The claim
  // comes after the try was queued (a start is never before it was ready).
  eventually([&] { return state_of(*c.api_store, t->run.run_id, "a") == TaskState::queued; }, "the try to be queued");
  auto u = store::parse_database_url(c.url);
  REQUIRE(u.ok());
  const TimePoint claimed_at = time_point_cast<Duration>(SystemClock::instance().now());
  FakeClock worker_clock(claimed_at);
  auto ws = store::open_store(*u, worker_clock);
  REQUIRE(ws.ok());
  auto item = claim_one(**ws, "w1");
  eventually([&] { return state_of(*c.api_store, t->run.run_id, "a") == TaskState::running; },
             "the owner to apply the claim");
  // The report's stored time: in the owner's past (half the time since the
  // claim), so never a reading of the owner's clock when it applies it.
  const Duration ran = time_point_cast<Duration>(SystemClock::instance().now()) - claimed_at;
  REQUIRE(ran > Duration(0));
  const Duration reported = ran / 2;
  worker_clock.advance(reported);
  REQUIRE((*ws)->report_task(held_try("w1", item), R"({"outcome": "success", "exit_code": 0})").ok());
  eventually([&] { return state_of(*c.api_store, t->run.run_id, "a") == TaskState::success; },
             "the owner to apply the report");
  auto tis = c.api_store->list_task_instances(t->run.pk);
  REQUIRE(tis.ok());
  CHECK((*tis)[0].started_at == std::optional<TimePoint>(claimed_at));
  CHECK((*tis)[0].ended_at == std::optional<TimePoint>(claimed_at + reported));
  auto tries = c.api_store->list_tries(item.ti_id);
  REQUIRE(tries.ok());
  REQUIRE(tries->size() == 1);
  CHECK((*tries)[0].started_at == std::optional<TimePoint>(claimed_at));
  CHECK((*tries)[0].ended_at == std::optional<TimePoint>(claimed_at + reported));
}
