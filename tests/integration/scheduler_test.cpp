// The scheduler's loop wired to the real store, real DAG files and real
// processes. Time here is real (processes run in it); the scheduling
// semantics themselves are pinned with a fake clock in
// tests/unit/scheduler/run_engine_test.cpp. Each wait polls the store with a
// deadline, never a fixed sleep.
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "baton/core/clock.h"
#include "baton/scheduler/scheduler.h"
#include "baton/store/store.h"
#include "test_db.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Env {
  fs::path dir;
  fs::path dags;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Scheduler> sched;
  SchedulerOptions options;

  Env() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("baton-sched-test-" + std::to_string(getpid()) + "-" + std::to_string(++n));
    fs::remove_all(dir);
    dags = dir / "dags";
    fs::create_directories(dags);
    auto url = store::parse_database_url(testing::test_database_url(dir));
    auto opened = store::open_store(*url, SystemClock::instance());
    REQUIRE(opened.ok());
    store = std::move(*opened);
    options.dags_dir = dags.string();
    options.logs_dir = (dir / "logs").string();
    options.workers = 4;
    options.folder_poll = 100ms;
    options.heartbeat_interval = 100ms;
    options.shutdown_grace = 2s;
  }
  ~Env() {
    sched.reset();
    store.reset();
    fs::remove_all(dir);
  }
  void write(const std::string& name, const std::string& yaml) { std::ofstream(dags / name) << yaml; }
  void start() {
    sched = std::make_unique<Scheduler>(*store, SystemClock::instance(), options);
    REQUIRE(sched->start().ok());
  }
  void restart() {
    sched->stop();
    sched.reset();
    start();
  }
  store::RunRecord wait_run(const std::string& dag, const std::string& run_id,
                            std::function<bool(const store::RunRecord&)> done, Duration limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      auto r = store->get_run(dag, run_id);
      if (r && done(*r)) return *r;
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL("run " << run_id << " did not get there in time; state " << (r ? to_string(r->state) : "missing"));
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  store::RunRecord wait_finished(const std::string& dag, const std::string& run_id) {
    return wait_run(dag, run_id, [](const store::RunRecord& r) { return is_finished(r.state); });
  }
  std::map<std::string, store::TaskInstanceRecord> tis(const store::RunRecord& r) {
    std::map<std::string, store::TaskInstanceRecord> out;
    auto list = store->list_task_instances(r.pk);
    REQUIRE(list.ok());
    for (auto& t : *list) out[t.task_id] = t;
    return out;
  }
  std::string log_of(const store::RunRecord& r, const std::string& task, int try_number) {
    std::ifstream in(fs::path(options.logs_dir) / r.dag_id / r.run_id / task / (std::to_string(try_number) + ".log"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

}  // namespace

TEST_CASE("a triggered run executes shell and noop tasks, passing outputs downstream") {
  Env env;
  env.write("flow.yaml",
            "dag: flow\n"
            "params: {region: eu}\n"
            "tasks:\n"
            "  extract:\n"
            "    command: |\n"
            "      echo extracting {{ params.region }} {{ ds }}; printf '{\"rows\": 42}' > $BATON_OUTPUT_FILE\n"
            "  check: {type: noop, depends_on: [extract]}\n"
            "  load:\n"
            "    command: echo loading {{ outputs.extract.rows }} rows, try $BATON_TRY_NUMBER\n"
            "    depends_on: [check]\n");
  env.start();
  TriggerRequest req;
  req.params_json = R"({"region": "us"})";
  auto t = env.sched->trigger("flow", req, "alice");
  REQUIRE(t.ok());
  CHECK(t->created);
  auto run = env.wait_finished("flow", t->run.run_id);
  CHECK(run.state == RunState::success);
  CHECK(run.run_type == "manual");
  auto tis = env.tis(run);
  CHECK(tis["extract"].state == TaskState::success);
  CHECK(tis["extract"].output == R"({"rows":42})");
  CHECK(tis["load"].exit_code == 0);
  CHECK(env.log_of(run, "extract", 1).find("extracting us") != std::string::npos);
  CHECK(env.log_of(run, "load", 1) == "loading 42 rows, try 1\n");
  CHECK(env.store->list_tries(tis["load"].id)->size() == 1);
  CHECK_FALSE(env.sched->trigger("nope", {}, "alice").ok());
  // A param the DAG does not declare (a typo) is refused, and no run made.
  TriggerRequest typo;
  typo.params_json = R"({"regoin": "us"})";
  auto refused = env.sched->trigger("flow", typo, "alice");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "invalid_argument");
  CHECK(refused.error().message ==
        "params: \"regoin\" is not a param of DAG flow (did you mean \"region\"?); its params are: region");
  store::RunFilter f;
  f.dag_id = "flow";
  CHECK(env.store->list_runs(f)->size() == 1);
  // ... but a key seen before returns its first run, whatever the params.
  TriggerRequest keyed;
  keyed.idempotency_key = "k-1";
  auto once = env.sched->trigger("flow", keyed, "alice");
  REQUIRE(once.ok());
  keyed.params_json = R"({"regoin": "us"})";
  auto replay = env.sched->trigger("flow", keyed, "alice");
  REQUIRE(replay.ok());
  CHECK_FALSE(replay->created);
  CHECK(replay->run.run_id == once->run.run_id);
}

TEST_CASE("failures are retried under the policy; the tries are kept") {
  Env env;
  env.write("flaky.yaml",
            "dag: flaky\n"
            "tasks:\n"
            "  a: {command: 'echo try $BATON_TRY_NUMBER; test $BATON_TRY_NUMBER -ge 2', retries: 3, retry_delay: 0}\n"
            "  b: {command: 'exit 3', retries: 1, retry_delay: 0, depends_on: [a]}\n");
  env.start();
  auto t = env.sched->trigger("flaky", {}, "ci");
  REQUIRE(t.ok());
  auto run = env.wait_finished("flaky", t->run.run_id);
  CHECK(run.state == RunState::failed);
  auto tis = env.tis(run);
  CHECK(tis["a"].state == TaskState::success);
  CHECK(tis["a"].try_number == 2);
  CHECK(tis["b"].state == TaskState::failed);
  CHECK(tis["b"].try_number == 2);
  CHECK(tis["b"].exit_code == 3);
  auto tries = env.store->list_tries(tis["b"].id);
  REQUIRE(tries->size() == 2);
  CHECK((*tries)[0].reason == "exit code 3");
}

TEST_CASE("idempotency keys, cancel and waiting_for") {
  Env env;
  env.write("slow.yaml", "dag: slow\ntasks:\n  a: {command: 'sleep 30'}\n  b: {type: noop, depends_on: [a]}\n");
  env.start();
  TriggerRequest req;
  req.idempotency_key = "k1";
  auto first = env.sched->trigger("slow", req, "ci");
  auto second = env.sched->trigger("slow", req, "ci");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK_FALSE(second->created);
  CHECK(second->run.run_id == first->run.run_id);
  env.wait_run("slow", first->run.run_id, [&](const store::RunRecord& r) {
    return r.state == RunState::running && env.tis(r)["a"].state == TaskState::running;
  });
  auto why = env.sched->waiting_for("slow", first->run.run_id, "b", -1);
  REQUIRE(why.ok());
  REQUIRE_FALSE(why->empty());
  CHECK((*why)[0] == "upstream a is running");
  auto started = std::chrono::steady_clock::now();
  REQUIRE(env.sched->cancel_run("slow", first->run.run_id, "ci").ok());
  auto run = env.wait_finished("slow", first->run.run_id);
  CHECK(run.state == RunState::canceled);
  CHECK(std::chrono::steady_clock::now() - started < 10s);  // the sleep was killed, not waited for
  auto tis = env.tis(run);
  CHECK(tis["a"].state == TaskState::canceled);
  CHECK(tis["b"].state == TaskState::canceled);
}

TEST_CASE("clear with downstream reruns finished tasks; mark unblocks") {
  Env env;
  env.write("c.yaml", "dag: c\ntasks:\n  a: {command: 'exit 1'}\n  b: {type: noop, depends_on: [a]}\n");
  env.start();
  auto t = env.sched->trigger("c", {}, "ci");
  auto run = env.wait_finished("c", t->run.run_id);
  REQUIRE(run.state == RunState::failed);
  REQUIRE(env.sched->mark_task("c", run.run_id, "a", TaskState::success, "ops").ok());
  CHECK(env.sched->clear_task("c", run.run_id, "nope", false, false, "ops").error().code == "not_found");
  run = env.wait_finished("c", run.run_id);
  // b was upstream_failed; marking a does not rerun decided tasks — a clear does.
  REQUIRE(env.sched->clear_task("c", run.run_id, "a", true, false, "ops").ok());
  run = env.wait_finished("c", run.run_id);
  auto tis = env.tis(run);
  CHECK(tis["a"].try_number == 2);
  CHECK(run.state == RunState::failed);
}

TEST_CASE("a restart recovers runs: killed tries fail as worker_lost and the retry sees the checkpoint") {
  Env env;
  env.write("long.yaml",
            "dag: long\n"
            "tasks:\n"
            "  work:\n"
            "    command: >-\n"
            "      if [ -f \"$BATON_CHECKPOINT_FILE\" ]; then echo resumed from $(cat $BATON_CHECKPOINT_FILE);\n"
            "      else echo step-1 > $BATON_CHECKPOINT_FILE; sleep 30; fi\n"
            "    retries: 1\n"
            "    retry_delay: 0\n");
  env.start();
  auto t = env.sched->trigger("long", {}, "ci");
  REQUIRE(t.ok());
  // Wait until the first try has saved its checkpoint.
  env.wait_run("long", t->run.run_id, [&](const store::RunRecord& r) {
    auto tis = env.tis(r);
    auto cp = env.store->load_checkpoint(tis["work"].id);
    return cp.ok() && cp->has_value();
  });
  // Simulate the process dying: the store still says "running" for a try
  // whose worker is gone. (The real kill -9 is in tests/e2e.)
  auto run = *env.store->get_run("long", t->run.run_id);
  auto tis = env.tis(run);
  env.sched->stop();  // graceful stop records the try as failed...
  env.sched.reset();
  store::WriteBatch b;  // ...so put it back to running, as a crash leaves it
  auto ti = tis["work"];
  ti.state = TaskState::running;
  ti.try_number = 1;
  ti.ended_at.reset();
  ti.wake_at.reset();
  b.task_instances.push_back(ti);
  run.state = RunState::running;
  run.ended_at.reset();
  b.runs.push_back(run);
  REQUIRE(env.store->apply(b).ok());
  env.start();
  run = env.wait_finished("long", t->run.run_id);
  CHECK(run.state == RunState::success);
  tis = env.tis(run);
  CHECK(tis["work"].try_number == 2);
  auto tries = env.store->list_tries(tis["work"].id);
  REQUIRE(tries->size() == 2);
  CHECK((*tries)[0].reason == "worker_lost");
  CHECK(env.log_of(run, "work", 2) == "resumed from step-1\n");
}

TEST_CASE("time schedules create one run per interval") {
  Env env;
  auto start = std::chrono::time_point_cast<std::chrono::seconds>(SystemClock::instance().now()) - 3s;
  env.write("tick.yaml", "dag: tick\nschedule: every 1s\ncatchup: true\nstart_date: " + format_utc(start) +
                             "\ntasks:\n  a: {type: noop}\n");
  env.start();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<store::RunRecord> runs;
  while (std::chrono::steady_clock::now() < deadline) {
    store::RunFilter f;
    f.dag_id = "tick";
    f.state = RunState::success;
    runs = *env.store->list_runs(f);
    if (runs.size() >= 4) break;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(runs.size() >= 4);
  std::set<long long> dates;
  for (auto& r : runs) {
    CHECK(r.run_type == "scheduled");
    CHECK(r.data_interval_end - r.data_interval_start == 1s);
    CHECK(r.run_id == make_run_id("scheduled", r.logical_date, false));
    dates.insert(r.logical_date.time_since_epoch().count());
  }
  CHECK(dates.size() == runs.size());  // no interval twice
}

// ---- run creation and dispatch order, with a fake clock for "now" ----

namespace {
std::vector<store::RunRecord> runs_of(store::Store& s, const std::string& dag) {
  store::RunFilter f;
  f.dag_id = dag;
  f.limit = 1000;
  auto r = s.list_runs(f);
  std::vector<store::RunRecord> out = r.ok() ? *r : std::vector<store::RunRecord>{};
  std::reverse(out.begin(), out.end());  // oldest first
  return out;
}
}  // namespace

TEST_CASE("catchup creates every missed interval, oldest first; without catchup only the latest") {
  FakeClock clock(*parse_utc("2026-01-05T12:00:00Z"));
  for (bool catchup : {true, false}) {
    Env env;
    env.write("d.yaml", std::string("dag: d\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: ") +
                            (catchup ? "true" : "false") + "\ntasks:\n  a: {type: noop}\n");
    env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
    REQUIRE(env.sched->start().ok());
    auto runs = runs_of(*env.store, "d");
    std::vector<std::string> dates;
    for (auto& r : runs) dates.push_back(format_utc(r.logical_date));
    if (catchup)
      CHECK(dates == std::vector<std::string>{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z",
                                              "2026-01-04T00:00:00Z"});
    else
      CHECK(dates == std::vector<std::string>{"2026-01-04T00:00:00Z"});
    // Started again at the same moment, it creates nothing twice.
    env.sched->stop();
    env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
    REQUIRE(env.sched->start().ok());
    CHECK(runs_of(*env.store, "d").size() == runs.size());
  }
}

TEST_CASE("catchup keeps at most max_active_runs unfinished runs") {
  FakeClock clock(*parse_utc("2026-01-10T12:00:00Z"));
  Env env;
  env.write("d.yaml", "dag: d\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: true\nmax_active_runs: 2\n"
                      "tasks:\n  a: {command: 'sleep 30'}\n");
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  auto runs = runs_of(*env.store, "d");
  REQUIRE(runs.size() == 2);
  CHECK(format_utc(runs[0].logical_date) == "2026-01-01T00:00:00Z");
  // When one finishes, the next missed interval gets its run.
  REQUIRE(env.sched->cancel_run("d", runs[0].run_id, "test").ok());
  runs = runs_of(*env.store, "d");
  REQUIRE(runs.size() == 3);
  CHECK(format_utc(runs[2].logical_date) == "2026-01-03T00:00:00Z");
  for (auto& r : runs)
    if (!is_finished(r.state)) REQUIRE(env.sched->cancel_run("d", r.run_id, "test").ok());
}

TEST_CASE("daily runs across a DST change have 23- and 25-hour intervals") {
  FakeClock clock(*parse_utc("2026-03-31T12:00:00Z"));
  Env env;
  env.write("d.yaml", "dag: d\nschedule: '0 0 * * *'\ntimezone: Europe/Berlin\nstart_date: 2026-03-27\n"
                      "catchup: true\ntasks:\n  a: {type: noop}\n");
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  auto runs = runs_of(*env.store, "d");
  std::vector<std::string> got;
  for (auto& r : runs)
    got.push_back(format_utc(r.data_interval_start) + " " +
                  std::to_string(std::chrono::duration_cast<std::chrono::hours>(r.data_interval_end -
                                                                                r.data_interval_start)
                                     .count()) +
                  "h");
  CHECK(got == std::vector<std::string>{"2026-03-26T23:00:00Z 24h", "2026-03-27T23:00:00Z 24h",
                                        "2026-03-28T23:00:00Z 23h", "2026-03-29T22:00:00Z 24h"});
}

TEST_CASE("a pool's slots are shared; higher priority goes first") {
  Env env;
  REQUIRE(env.store->put_pool({"one", 1, ""}, "test").ok());
  std::string order = (env.dir / "order.txt").string();
  env.write("p.yaml", "dag: p\ntasks:\n"
                      "  low: {command: 'echo low >> " + order + "', pool: one, priority: 0}\n"
                      "  high: {command: 'echo high >> " + order + "', pool: one, priority: 10}\n"
                      "  mid: {command: 'echo mid >> " + order + "', pool: one, priority: 5}\n");
  env.start();
  auto t = env.sched->trigger("p", {}, "test");
  REQUIRE(t.ok());
  auto run = env.wait_finished("p", t->run.run_id);
  CHECK(run.state == RunState::success);
  std::ifstream in(order);
  std::string a, b, c;
  in >> a >> b >> c;
  CHECK(a + " " + b + " " + c == "high mid low");
}

TEST_CASE("waiting_for names a missing pool and the DAG's task limit") {
  Env env;
  env.write("w.yaml", "dag: w\ntasks:\n  a: {type: noop, pool: nowhere}\n");
  env.start();
  auto t = env.sched->trigger("w", {}, "test");
  REQUIRE(t.ok());
  auto why = env.sched->waiting_for("w", t->run.run_id, "a", -1);
  REQUIRE(why.ok());
  REQUIRE_FALSE(why->empty());
  CHECK(why->back().find("pool nowhere does not exist") != std::string::npos);
  REQUIRE(env.sched->cancel_run("w", t->run.run_id, "test").ok());
}

TEST_CASE("clear with version latest moves the run to the current DAG version, new tasks included") {
  Env env;
  env.write("v.yaml", "dag: v\ntasks:\n  a: {command: 'exit 1'}\n");
  env.start();
  auto t = env.sched->trigger("v", {}, "ci");
  REQUIRE(t.ok());
  auto run = env.wait_finished("v", t->run.run_id);
  REQUIRE(run.state == RunState::failed);
  std::string old_version = run.dag_version;
  env.write("v.yaml", "dag: v\ntasks:\n  a: {command: 'exit 0'}\n  b: {type: noop, depends_on: [a]}\n");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (env.store->get_dag("v")->current_version == old_version && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(env.store->get_dag("v")->current_version != old_version);
  // Pinned reruns the old code and fails again; latest runs the new one.
  REQUIRE(env.sched->clear_task("v", run.run_id, "a", true, false, "ops").ok());
  run = env.wait_finished("v", run.run_id);
  CHECK(run.state == RunState::failed);
  CHECK(run.dag_version == old_version);
  REQUIRE(env.sched->clear_task("v", run.run_id, "a", true, true, "ops").ok());
  run = env.wait_finished("v", run.run_id);
  CHECK(run.state == RunState::success);
  CHECK(run.dag_version != old_version);
  auto tis = env.tis(run);
  CHECK(tis["b"].state == TaskState::success);
  CHECK(tis["a"].try_number == 3);
}

TEST_CASE("marking a running task kills its try and closes the try's record") {
  Env env;
  env.write("m.yaml", "dag: m\ntasks:\n  a: {command: 'sleep 30'}\n  b: {type: noop, depends_on: [a]}\n");
  env.start();
  auto t = env.sched->trigger("m", {}, "ci");
  REQUIRE(t.ok());
  env.wait_run("m", t->run.run_id, [&](const store::RunRecord& r) { return env.tis(r)["a"].state == TaskState::running; });
  auto started = std::chrono::steady_clock::now();
  REQUIRE(env.sched->mark_task("m", t->run.run_id, "a", TaskState::success, "ops").ok());
  auto run = env.wait_finished("m", t->run.run_id);
  CHECK(run.state == RunState::success);
  auto tis = env.tis(run);
  auto tries = env.store->list_tries(tis["a"].id);
  REQUIRE(tries->size() == 1);
  CHECK((*tries)[0].state == TaskState::success);
  CHECK((*tries)[0].reason == "marked success");
  CHECK((*tries)[0].ended_at.has_value());
  // The worker is free again: another run gets a slot at once.
  auto again = env.sched->trigger("m", {}, "ci");
  REQUIRE(again.ok());
  env.wait_run("m", again->run.run_id, [&](const store::RunRecord& r) { return env.tis(r)["a"].state == TaskState::running; });
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  REQUIRE(env.sched->cancel_run("m", again->run.run_id, "ci").ok());
}

TEST_CASE("a run decided at its start (every root skipped) ends, and catchup goes on") {
  FakeClock clock(*parse_utc("2026-01-05T12:00:00Z"));
  Env env;
  env.write("s.yaml", "dag: s\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: true\nmax_active_runs: 1\n"
                      "tasks:\n  a: {type: noop, trigger_rule: one_success}\n");
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<store::RunRecord> runs;
  while (std::chrono::steady_clock::now() < deadline) {
    runs = runs_of(*env.store, "s");
    if (runs.size() == 4 && std::all_of(runs.begin(), runs.end(), [](auto& r) { return is_finished(r.state); })) break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(runs.size() == 4);
  for (auto& r : runs) CHECK(r.state == RunState::success);
}

TEST_CASE("depends_on_past: a task waits for its instance in the previous run, then runs") {
  Env env;
  // The first day fails; the next day's `a` waits for it, its `b` does not.
  env.write("p.yaml",
            "dag: p\n"
            "tasks:\n"
            "  a: {command: 'test {{ ds }} != 2026-01-01', depends_on_past: true}\n"
            "  b: {type: noop}\n");
  env.start();
  TriggerRequest first;
  first.logical_date = *parse_utc("2026-01-01T00:00:00Z");
  auto r1 = env.sched->trigger("p", first, "ci");
  REQUIRE(r1.ok());
  auto run1 = env.wait_finished("p", r1->run.run_id);
  REQUIRE(run1.state == RunState::failed);

  TriggerRequest second;
  second.logical_date = *parse_utc("2026-01-02T00:00:00Z");
  auto r2 = env.sched->trigger("p", second, "ci");
  REQUIRE(r2.ok());
  env.wait_run("p", r2->run.run_id, [&](const store::RunRecord& r) { return env.tis(r)["b"].state == TaskState::success; });
  auto tis = env.tis(env.wait_run("p", r2->run.run_id, [](auto&) { return true; }));
  CHECK(tis["a"].state == TaskState::pending);
  auto why = env.sched->waiting_for("p", r2->run.run_id, "a", -1);
  REQUIRE(why.ok());
  std::string expected = "depends_on_past: task a of the previous run " + r1->run.run_id + " is failed";
  CHECK(std::find(why->begin(), why->end(), expected) != why->end());

  // A restart reads the block back from the store.
  env.restart();
  why = env.sched->waiting_for("p", r2->run.run_id, "a", -1);
  REQUIRE(why.ok());
  CHECK(std::find(why->begin(), why->end(), expected) != why->end());

  // The operator marks the past success: the waiting task runs at once.
  REQUIRE(env.sched->mark_task("p", r1->run.run_id, "a", TaskState::success, "ops").ok());
  auto run2 = env.wait_finished("p", r2->run.run_id);
  CHECK(run2.state == RunState::success);
  CHECK(env.tis(run2)["a"].try_number == 1);
}

TEST_CASE("a try with no heartbeat for zombie_timeout fails as worker_lost and is retried") {
  FakeClock clock(*parse_utc("2026-01-05T12:00:00Z"));
  Env env;
  env.options.zombie_timeout = 60s;
  env.options.heartbeat_interval = 1h;  // this worker goes silent
  env.write("z.yaml",
            "dag: z\n"
            "tasks:\n"
            "  a: {command: 'test $BATON_TRY_NUMBER -gt 1 || sleep 30', retries: 1, retry_delay: 1s}\n");
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  auto t = env.sched->trigger("z", {}, "ci");
  REQUIRE(t.ok());
  env.wait_run("z", t->run.run_id, [&](const store::RunRecord& r) { return env.tis(r)["a"].state == TaskState::running; });
  clock.advance(59s);
  std::this_thread::sleep_for(300ms);  // three polls: not lost yet
  CHECK(env.tis(*env.store->get_run("z", t->run.run_id))["a"].try_number == 1);
  CHECK(env.tis(*env.store->get_run("z", t->run.run_id))["a"].state == TaskState::running);
  clock.advance(2s);
  env.wait_run("z", t->run.run_id, [&](const store::RunRecord& r) { return env.tis(r)["a"].state == TaskState::up_for_retry; });
  clock.advance(1s);  // the retry delay
  auto run = env.wait_finished("z", t->run.run_id);
  CHECK(run.state == RunState::success);
  auto tis = env.tis(run);
  auto tries = env.store->list_tries(tis["a"].id);
  REQUIRE(tries->size() == 2);
  CHECK((*tries)[0].state == TaskState::failed);
  CHECK((*tries)[0].reason == "worker_lost");
  CHECK((*tries)[1].state == TaskState::success);
}

TEST_CASE("a version records the git commit and whether its file had uncommitted changes") {
  Env env;
  auto git = [&](const std::string& args) {
    std::string cmd = "git -C '" + env.dags.string() + "' -c user.name=t -c user.email=t@example.com " + args +
                      " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
  };
  git("init -q");
  env.write("g.yaml", "dag: g\ntasks:\n  a: {type: noop}\n");
  git("add g.yaml");
  git("commit -q -m first");
  std::string head;
  {
    std::string cmd = "git -C '" + env.dags.string() + "' rev-parse HEAD";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[64] = {0};
    REQUIRE(fgets(buf, sizeof buf, p) != nullptr);
    pclose(p);
    head = buf;
    head.pop_back();
  }
  env.start();
  auto versions = env.store->list_dag_versions("g");
  REQUIRE(versions->size() == 1);
  CHECK((*versions)[0].git_commit == head);
  CHECK((*versions)[0].git_dirty == false);
  // An edit not yet committed: a new version, marked dirty.
  env.write("g.yaml", "dag: g\ntasks:\n  a: {type: noop}\n  b: {type: noop}\n");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (env.store->list_dag_versions("g")->size() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  versions = env.store->list_dag_versions("g");
  REQUIRE(versions->size() == 2);
  auto newest = (*versions)[0].created_at >= (*versions)[1].created_at ? (*versions)[0] : (*versions)[1];
  CHECK(newest.git_commit == head);
  CHECK(newest.git_dirty == true);
}

TEST_CASE("a run held by max_active_runs waits in queued, and waiting_for counts the running ones") {
  Env env;
  env.write("q.yaml", "dag: q\nmax_active_runs: 1\ntasks:\n  a: {command: 'sleep 30'}\n");
  env.start();
  auto first = env.sched->trigger("q", {}, "ci");
  auto second = env.sched->trigger("q", {}, "ci");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(env.store->get_run("q", second->run.run_id)->state == RunState::queued);
  auto why = env.sched->waiting_for("q", second->run.run_id, "a", -1);
  REQUIRE(why.ok());
  CHECK(std::find(why->begin(), why->end(), "max_active_runs: 1 of 1 runs of the DAG are running") != why->end());
  REQUIRE(env.sched->cancel_run("q", first->run.run_id, "ci").ok());
  env.wait_run("q", second->run.run_id, [](const store::RunRecord& r) { return r.state == RunState::running; });
  REQUIRE(env.sched->cancel_run("q", second->run.run_id, "ci").ok());
}

// ---- backfills (SPEC §7) ----

namespace {

BackfillRequest backfill(const std::string& dag, const std::string& from, const std::string& to,
                         const std::string& reprocess = "none") {
  BackfillRequest r;
  r.dag_id = dag;
  r.from = from;
  r.to = to;
  r.reprocess = reprocess;
  return r;
}

store::BackfillRecord wait_backfill(Env& env, long long id, Duration limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto b = env.store->get_backfill(id);
    REQUIRE(b.ok());
    if (b->state != "running") return *b;
    if (std::chrono::steady_clock::now() > deadline) FAIL("backfill " << id << " still running: " << b->done << "/" << b->total);
    std::this_thread::sleep_for(20ms);
  }
}

// logical date -> how many runs (scheduled or backfill) have it; the DAGs'
// own schedules add a run for the latest interval (today's), outside the ranges.
std::map<std::string, int> runs_per_interval(store::Store& s, const std::string& dag,
                                             TimePoint before = *parse_utc("2026-06-01T00:00:00Z")) {
  std::map<std::string, int> out;
  for (auto& r : runs_of(s, dag))
    if ((r.run_type == "scheduled" || r.run_type == "backfill") && r.logical_date < before)
      ++out[format_utc(r.logical_date)];
  return out;
}

std::vector<store::RunRecord> backfill_runs(store::Store& s, const std::string& dag) {
  std::vector<store::RunRecord> out;
  for (auto& r : runs_of(s, dag))
    if (r.run_type == "backfill") out.push_back(r);
  return out;
}

std::vector<std::string> actions(const BackfillResult& r) {
  std::vector<std::string> out;
  for (auto& s : r.plan) out.push_back(s.action);
  return out;
}

const char* kDaily =
    "dag: daily\n"
    "schedule: '0 0 * * *'\n"
    "timezone: Europe/Berlin\n"
    "start_date: 2026-01-01\n"
    "tasks:\n"
    "  a: {command: 'test {{ ds }} != 2026-01-03'}\n"  // the 3rd fails
    "  b: {type: noop, depends_on: [a]}\n";

}  // namespace

TEST_CASE("backfill: local-day bounds, one run per interval, each reprocess mode, dry runs change nothing") {
  Env env;
  env.write("daily.yaml", kDaily);
  env.start();
  // Dry run: the plan only.
  auto dry = backfill("daily", "2026-01-02", "2026-01-04");
  dry.dry_run = true;
  auto plan = env.sched->create_backfill(dry, "ops");
  REQUIRE(plan.ok());
  CHECK(actions(*plan) == std::vector<std::string>{"create", "create", "create"});
  // 2026-01-02 in Berlin starts at 2026-01-01T23:00Z.
  CHECK(format_utc(plan->plan[0].logical_date) == "2026-01-01T23:00:00Z");
  CHECK(backfill_runs(*env.store, "daily").empty());
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->empty());

  auto first = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-04"), "ops");
  REQUIRE(first.ok());
  CHECK(first->backfill.total == 3);
  auto done = wait_backfill(env, first->backfill.id);
  CHECK(done.state == "failed");  // the 3rd failed
  CHECK(done.done == 3);
  CHECK(done.failed == 1);
  auto made = backfill_runs(*env.store, "daily");
  CHECK(made.size() == 3);
  for (auto& r : made) CHECK(r.backfill_id == first->backfill.id);

  // none: only the new interval; failed: reruns the failed run; all: every finished one.
  auto none = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-05"), "ops");
  REQUIRE(none.ok());
  // A backfill made answers with the summary of its plan (the plan itself: dry runs).
  CHECK(none->plan.empty());
  CHECK((none->summary.create == 1 && none->summary.rerun == 0 && none->summary.skip == 3));
  CHECK(wait_backfill(env, none->backfill.id).state == "success");
  auto failed = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-05", "failed"), "ops");
  REQUIRE(failed.ok());
  CHECK((failed->summary.create == 0 && failed->summary.rerun == 1 && failed->summary.skip == 3));
  auto f = wait_backfill(env, failed->backfill.id);
  CHECK(f.state == "failed");
  CHECK(f.total == 1);
  auto third = env.store->get_run("daily", "backfill__20260102T230000Z");
  REQUIRE(third.ok());
  CHECK(env.tis(*third)["a"].try_number == 2);  // the try counter went on
  auto all = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-05", "all"), "ops");
  REQUIRE(all.ok());
  CHECK((all->summary.create == 0 && all->summary.rerun == 4 && all->summary.skip == 0));
  auto a = wait_backfill(env, all->backfill.id);
  CHECK(a.done == 4);
  CHECK(a.failed == 1);
  for (auto& [date, n] : runs_per_interval(*env.store, "daily")) CHECK(n == 1);
  CHECK(runs_per_interval(*env.store, "daily").size() == 4);

  // Bad input: a clear error, nothing stored.
  size_t before = env.store->list_backfills(std::nullopt, false, 0, 100)->size();
  CHECK(env.sched->create_backfill(backfill("daily", "2026-01-05", "2026-01-02"), "ops").error().code ==
        "invalid_argument");
  CHECK(env.sched->create_backfill(backfill("daily", "2026-13-01", "2026-01-02"), "ops").error().code ==
        "invalid_argument");
  auto bad_task = backfill("daily", "2026-01-02", "2026-01-03");
  bad_task.tasks = {"nope"};
  CHECK(env.sched->create_backfill(bad_task, "ops").error().code == "invalid_argument");
  CHECK(env.sched->create_backfill(backfill("nope", "2026-01-02", "2026-01-03"), "ops").error().code == "not_found");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == before);
}

TEST_CASE("backfill: --tasks with downstream reruns only those; newest first with reverse") {
  Env env;
  env.write("t.yaml",
            "dag: t\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n"
            "  a: {type: noop}\n  b: {command: 'true', depends_on: [a]}\n  c: {type: noop, depends_on: [b]}\n");
  env.start();
  auto first = env.sched->create_backfill(backfill("t", "2026-01-01", "2026-01-03"), "ops");
  REQUIRE(first.ok());
  REQUIRE(wait_backfill(env, first->backfill.id).state == "success");
  auto r = backfill("t", "2026-01-01", "2026-01-03", "all");
  r.tasks = {"b"};
  r.downstream = true;
  r.reverse = true;
  auto dry = r;
  dry.dry_run = true;
  auto plan = env.sched->create_backfill(dry, "ops");
  REQUIRE(plan.ok());
  CHECK(format_utc(plan->plan.front().logical_date) == "2026-01-03T00:00:00Z");
  auto rerun = env.sched->create_backfill(r, "ops");
  REQUIRE(rerun.ok());
  REQUIRE(wait_backfill(env, rerun->backfill.id).state == "success");
  auto run = env.store->get_run("t", "backfill__20260102T000000Z");
  auto tis = env.tis(*run);
  CHECK(tis["a"].try_number == 1);
  CHECK(tis["b"].try_number == 2);
  CHECK(tis["c"].try_number == 2);
}

TEST_CASE("backfill: a key it has seen returns that backfill (a command carried out twice makes one)") {
  Env env;
  env.write("t.yaml", "dag: t\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n  a: {type: noop}\n");
  env.start();
  auto r = backfill("t", "2026-01-01", "2026-01-03");
  r.idempotency_key = "command:41";
  auto first = env.sched->create_backfill(r, "ops");
  REQUIRE(first.ok());
  REQUIRE(wait_backfill(env, first->backfill.id).state == "success");
  auto again = env.sched->create_backfill(r, "ops");  // also after it ended
  REQUIRE(again.ok());
  CHECK(again->backfill.id == first->backfill.id);
  CHECK(again->backfill.state == "success");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == 1);
  CHECK(backfill_runs(*env.store, "t").size() == 3);
  store::AuditFilter af;
  af.action = "backfill.created";
  CHECK(env.store->list_audit(af)->size() == 1);
  // A backfill with the key that this scheduler never took up (the previous
  // owner of the partition made it after this one had loaded its
  // backfills): the command carried out again takes it up.
  auto dry = backfill("t", "2026-01-05", "2026-01-06");
  dry.dry_run = true;
  auto planned = env.sched->create_backfill(dry, "ops");
  REQUIRE(planned.ok());
  auto rec = planned->backfill;
  rec.idempotency_key = "command:7";
  auto behind = env.store->create_backfill(rec, "ops");
  REQUIRE(behind.ok());
  REQUIRE(behind->created);
  auto carried = backfill("t", "2026-01-05", "2026-01-06");
  carried.idempotency_key = "command:7";
  auto taken = env.sched->create_backfill(carried, "ops");
  REQUIRE(taken.ok());
  CHECK(taken->backfill.id == behind->backfill.id);
  CHECK(wait_backfill(env, behind->backfill.id).state == "success");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == 2);
  // Another key, or none, is another backfill.
  r.idempotency_key = "command:42";
  auto other = env.sched->create_backfill(r, "ops");
  REQUIRE(other.ok());
  CHECK(other->backfill.id != first->backfill.id);
  REQUIRE(wait_backfill(env, other->backfill.id).state == "success");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == 3);
}

TEST_CASE("backfill: cancel stops every run of it, running tasks included, and takes up no more") {
  Env env;
  env.write("slow.yaml", "dag: slow\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n  a: {command: 'sleep 30'}\n");
  env.start();
  auto r = backfill("slow", "2026-01-01", "2026-01-10");
  r.max_active_runs = 2;
  auto b = env.sched->create_backfill(r, "ops");
  REQUIRE(b.ok());
  CHECK(b->backfill.total == 10);
  env.wait_run("slow", "backfill__20260101T000000Z",
               [&](const store::RunRecord& run) { return env.tis(run)["a"].state == TaskState::running; });
  CHECK(backfill_runs(*env.store, "slow").size() == 2);  // at most max_active_runs
  // Runs in progress are never rerun, whatever the mode.
  auto dry = backfill("slow", "2026-01-01", "2026-01-01", "all");
  dry.dry_run = true;
  auto p = env.sched->create_backfill(dry, "ops");
  REQUIRE(p.ok());
  REQUIRE(p->plan.size() == 1);
  CHECK(p->plan[0].action == "skip");
  CHECK(p->plan[0].reason == "its run is running");
  REQUIRE(env.sched->cancel_backfill(b->backfill.id, "ops").ok());
  auto done = env.store->get_backfill(b->backfill.id);
  CHECK(done->state == "canceled");
  auto runs = backfill_runs(*env.store, "slow");
  CHECK(runs.size() == 2);
  for (auto& run : runs) {
    CHECK(run.state == RunState::canceled);
    auto tries = env.store->list_tries(env.tis(run)["a"].id);
    REQUIRE(tries->size() == 1);
    CHECK(tries->front().reason == "canceled");
  }
  CHECK(env.sched->cancel_backfill(b->backfill.id, "ops").error().code == "conflict");
  store::AuditFilter af;
  af.action = "backfill.canceled";
  CHECK(env.store->list_audit(af)->size() == 1);
}

TEST_CASE("backfill: survives a restart in the middle; overlapping backfills and the schedule never double an interval") {
  Env env;
  env.write("r.yaml",
            "dag: r\nschedule: '@daily'\nstart_date: 2026-01-01\nend_date: 2026-01-08\ncatchup: true\n"
            "max_active_runs: 1\ntasks:\n  a: {command: 'sleep 0.2'}\n");
  env.start();  // catchup starts on the same intervals
  auto one = backfill("r", "2026-01-01", "2026-01-31");  // past end_date: only its intervals
  one.max_active_runs = 1;
  auto two = backfill("r", "2025-12-01", "2026-01-05", "none");
  auto b1 = env.sched->create_backfill(one, "ops");
  auto b2 = env.sched->create_backfill(two, "ops");
  REQUIRE(b1.ok());
  REQUIRE(b2.ok());
  CHECK(b1->summary.create + b1->summary.rerun + b1->summary.skip == 8);  // 2026-01-01 .. 2026-01-08
  std::this_thread::sleep_for(500ms);
  env.restart();
  auto r1 = wait_backfill(env, b1->backfill.id, 30s);
  auto r2 = wait_backfill(env, b2->backfill.id, 30s);
  CHECK(r1.state == "success");
  CHECK(r2.state == "success");
  CHECK(r1.done == r1.total);
  auto per = runs_per_interval(*env.store, "r");
  CHECK(per.size() == 8);
  for (auto& [date, n] : per) {
    INFO(date);
    CHECK(n == 1);
  }
  for (auto& run : runs_of(*env.store, "r")) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!is_finished(env.store->get_run("r", run.run_id)->state) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    CHECK(env.store->get_run("r", run.run_id)->state == RunState::success);
  }
}

TEST_CASE("backfill: a range over a DST change has a 23-hour interval") {
  Env env;
  env.write("d.yaml", "dag: d\nschedule: '0 0 * * *'\ntimezone: Europe/Berlin\nstart_date: 2026-03-01\n"
                      "tasks:\n  a: {type: noop}\n");
  env.start();
  auto dry = backfill("d", "2026-03-28", "2026-03-30");
  dry.dry_run = true;
  auto p = env.sched->create_backfill(dry, "ops");
  REQUIRE(p.ok());
  REQUIRE(p->plan.size() == 3);
  CHECK(format_utc(p->plan[0].logical_date) == "2026-03-27T23:00:00Z");
  CHECK(format_utc(p->plan[1].logical_date) == "2026-03-28T23:00:00Z");
  CHECK(format_utc(p->plan[1].data_interval_end) == "2026-03-29T22:00:00Z");  // 23 hours
  CHECK(format_utc(p->plan[2].logical_date) == "2026-03-29T22:00:00Z");
}

// ---- SLAs (SPEC §7), with a fake clock ----

namespace {
std::vector<store::SlaMiss> misses(store::Store& s) {
  auto m = s.list_sla_misses(std::nullopt, std::nullopt, 0, 1000);
  REQUIRE(m.ok());
  return *m;
}
std::vector<store::SlaMiss> wait_misses(store::Store& s, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (misses(s).size() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  return misses(s);
}
}  // namespace

TEST_CASE("SLA: run_deadline, run_duration and max_duration are detected when they pass, once, also after a restart") {
  FakeClock clock(*parse_utc("2026-01-10T00:30:00Z"));
  Env env;
  env.options.heartbeat_interval = 1h;  // no heartbeat: nothing but the timers moves
  env.options.zombie_timeout = 24h;     // and the silent try is not taken for lost
  env.write("s.yaml",
            "dag: s\nschedule: '@daily'\nstart_date: 2026-01-01\n"
            "sla: {run_deadline: 2h, run_duration: 1h}\n"
            "notify: {on_sla_miss: [{command: 'cat >> sla-events.log'}]}\n"
            "tasks:\n  slow: {command: 'sleep 30', sla: {max_duration: 10m}}\n");
  env.write("ok.yaml",
            "dag: ok\nschedule: '@daily'\nstart_date: 2026-01-01\nsla: {run_deadline: 2h}\ntasks:\n  a: {type: noop}\n");
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  // The run for 2026-01-09 was created at 00:30 (its interval ended at 00:00).
  auto run = env.wait_run("s", "scheduled__20260109T000000Z",
                          [&](const store::RunRecord& r) { return env.tis(r)["slow"].state == TaskState::running; });
  CHECK(misses(*env.store).empty());
  clock.advance(9min);
  std::this_thread::sleep_for(200ms);
  CHECK(misses(*env.store).empty());
  clock.advance(2min);  // 10 minutes into the try
  auto m = wait_misses(*env.store, 1);
  REQUIRE(m.size() == 1);
  CHECK(m[0].kind == "task_duration");
  CHECK(m[0].task_id == "slow");
  CHECK(m[0].run_id == run.run_id);
  // run_duration (1h after the start) and run_deadline (02:00 = interval end + 2h) pass while the
  // scheduler is down; a restart detects them at once. The `ok` DAG succeeded in time: no miss.
  env.sched->stop();
  env.sched.reset();
  clock.advance(2h);
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  m = wait_misses(*env.store, 3);
  std::set<std::string> kinds;
  for (auto& x : m) {
    CHECK(x.dag_id == "s");
    kinds.insert(x.kind);
  }
  CHECK(kinds == std::set<std::string>{"task_duration", "run_duration", "run_deadline"});
  CHECK(m.size() == 3);
  // Each new miss went to notify.on_sla_miss (queued with the loop's next
  // write, just after the miss itself is recorded).
  auto sent = env.store->list_notifications("s", 100);
  for (auto until = std::chrono::steady_clock::now() + 5s;
       sent.ok() && sent->size() < 3 && std::chrono::steady_clock::now() < until;
       sent = env.store->list_notifications("s", 100))
    std::this_thread::sleep_for(20ms);
  REQUIRE(sent.ok());
  std::set<std::string> notified;
  for (auto& n : *sent) {
    CHECK(n.event == "on_sla_miss");
    notified.insert(nlohmann::json::parse(n.payload)["kind"].get<std::string>());
  }
  CHECK(notified == kinds);
  // Detected again after another restart: still recorded once.
  env.sched->stop();
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  std::this_thread::sleep_for(300ms);
  CHECK(misses(*env.store).size() == 3);
}

// ---- notifications (SPEC §7): a real webhook receiver on 127.0.0.1 ----

namespace {
struct Receiver {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> bodies;  // path -> bodies received
  Receiver() {
    auto keep = [this](const httplib::Request& req) {
      std::lock_guard lock(mu);
      bodies[req.path].push_back(req.body);
    };
    http.Post("/ok", [keep](const httplib::Request& req, httplib::Response& res) {
      keep(req);
      res.status = 204;
    });
    http.Post("/fail", [keep](const httplib::Request& req, httplib::Response& res) {
      keep(req);
      res.status = 500;
    });
    http.Post("/hang", [keep](const httplib::Request& req, httplib::Response& res) {
      keep(req);
      std::this_thread::sleep_for(3s);  // past the notification timeout
      res.status = 200;
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
  }
  ~Receiver() {
    http.stop();
    thread.join();
  }
  size_t count(const std::string& path) {
    std::lock_guard lock(mu);
    return bodies[path].size();
  }
  std::string first(const std::string& path) {
    std::lock_guard lock(mu);
    return bodies[path].empty() ? "" : bodies[path][0];
  }
};
}  // namespace

TEST_CASE("notifications: webhooks and commands get the event; failing and hanging ones are retried, never block") {
  Receiver hook;
  Env env;
  env.options.notification_timeout = 300ms;
  env.options.notification_attempts = 3;
  env.options.notification_backoff = 50ms;
  env.options.notification_poll = 50ms;
  std::string base = "http://127.0.0.1:" + std::to_string(hook.port);
  env.write("n.yaml",
            "dag: n\n"
            "notify:\n"
            "  on_failure: [{webhook: '" + base + "/ok'}, {webhook: '" + base + "/fail'}, {webhook: '" + base +
                "/hang'}, {command: 'cat > failed-event.json'}]\n"
            "  on_retry: [{webhook: '" + base + "/ok'}]\n"
            "  on_success: [{command: 'exit 3'}]\n"
            "tasks:\n"
            "  a: {command: 'test \"{{ params.ok }}\" = yes', retries: 1, retry_delay: 0}\n"
            "params: {ok: 'no'}\n");
  env.start();
  auto t0 = std::chrono::steady_clock::now();
  auto run = env.sched->trigger("n", {}, "ci");
  REQUIRE(run.ok());
  CHECK(env.wait_finished("n", run->run.run_id).state == RunState::failed);
  // While the hanging webhook is being tried, another run goes through at once.
  TriggerRequest good;
  good.params_json = R"({"ok": "yes"})";
  auto second = env.sched->trigger("n", good, "ci");
  REQUIRE(second.ok());
  CHECK(env.wait_finished("n", second->run.run_id).state == RunState::success);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);

  auto deadline = std::chrono::steady_clock::now() + 20s;
  auto settled = [&] {
    auto all = env.store->list_notifications("n", 100);
    return all.ok() && std::all_of(all->begin(), all->end(), [](auto& n) { return n.state != "pending"; });
  };
  while (!settled() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  REQUIRE(settled());
  auto all = *env.store->list_notifications("n", 100);
  std::map<std::string, store::NotificationRecord> by_target;
  for (auto& n : all) by_target[n.event + " " + n.target] = n;
  CHECK(all.size() == 6);  // 1 retry + 4 failure targets + 1 success target
  CHECK(by_target["on_retry " + base + "/ok"].state == "sent");
  CHECK(by_target["on_failure " + base + "/ok"].state == "sent");
  auto& failing = by_target["on_failure " + base + "/fail"];
  CHECK(failing.state == "failed");
  CHECK(failing.attempts == 3);
  CHECK(failing.last_error.value_or("").find("HTTP 500") != std::string::npos);
  auto& hanging = by_target["on_failure " + base + "/hang"];
  CHECK(hanging.state == "failed");
  CHECK(hanging.attempts == 3);
  CHECK(hanging.last_error.value_or("").find("no answer within the timeout") != std::string::npos);
  CHECK(by_target["on_failure cat > failed-event.json"].state == "sent");
  CHECK(by_target["on_success exit 3"].state == "failed");
  CHECK(by_target["on_success exit 3"].last_error.value_or("").find("exited 3") != std::string::npos);
  CHECK(hook.count("/fail") == 3);
  CHECK(hook.count("/ok") == 2);
  // The event, as the receiver and the command got it.
  auto event = nlohmann::json::parse(hook.first("/ok"), nullptr, false);
  REQUIRE(event.is_object());
  CHECK(event["event"] == "on_retry");
  CHECK(event["task_id"] == "a");
  std::ifstream in(env.dags / "failed-event.json");
  auto failed = nlohmann::json::parse(in, nullptr, false);
  REQUIRE(failed.is_object());
  CHECK(failed["event"] == "on_failure");
  CHECK(failed["dag_id"] == "n");
  CHECK(failed["run_id"] == run->run.run_id);
  CHECK(failed["state"] == "failed");
}

TEST_CASE("backfill: existing runs in every state — each mode reruns only what is finished, and what it asks for") {
  Env env;
  // The schedule's own run for the last interval (Jan 3) runs; the DAG runs one at a time.
  env.write("st.yaml",
            "dag: st\nschedule: '@daily'\nstart_date: 2026-01-01\nend_date: 2026-01-03\nmax_active_runs: 1\n"
            "tasks:\n  a: {command: 'sleep 30'}\n");
  env.start();
  env.wait_run("st", "scheduled__20260103T000000Z",
               [&](const store::RunRecord& run) { return env.tis(run)["a"].state == TaskState::running; });
  auto r = backfill("st", "2026-01-01", "2026-01-02");
  r.max_active_runs = 2;
  auto b = env.sched->create_backfill(r, "ops");
  REQUIRE(b.ok());
  CHECK(env.store->get_run("st", "backfill__20260101T000000Z")->state == RunState::queued);
  auto plan_of = [&](const char* mode) {
    auto dry = backfill("st", "2026-01-01", "2026-01-05", mode);  // past end_date: three intervals
    dry.dry_run = true;
    auto p = env.sched->create_backfill(dry, "ops");
    REQUIRE(p.ok());
    std::vector<std::string> out;
    for (auto& st : p->plan) out.push_back(st.action + (st.reason.empty() ? "" : ": " + st.reason));
    return out;
  };
  for (const char* mode : {"none", "failed", "all"})
    CHECK(plan_of(mode) == std::vector<std::string>{"skip: its run is queued", "skip: its run is queued",
                                                     "skip: its run is running"});
  // Jan 3 canceled: a finished run — `all` reruns it, `failed` does not (it did not fail).
  REQUIRE(env.sched->cancel_run("st", "scheduled__20260103T000000Z", "ops").ok());
  env.wait_run("st", "backfill__20260101T000000Z",
               [&](const store::RunRecord& run) { return run.state == RunState::running; });
  CHECK(plan_of("all") == std::vector<std::string>{"skip: its run is running", "skip: its run is queued", "rerun"});
  CHECK(plan_of("failed") ==
        std::vector<std::string>{"skip: its run is running", "skip: its run is queued", "skip: it has a run (canceled)"});
  REQUIRE(env.sched->cancel_backfill(b->backfill.id, "ops").ok());
}

TEST_CASE("a running try shows when it last wrote a log line (stuck or slow)") {
  Env env;
  env.write("act.yaml", "dag: act\ntasks:\n  a: {command: 'echo started; sleep 30'}\n");
  env.start();
  auto t = env.sched->trigger("act", {}, "ci");
  REQUIRE(t.ok());
  auto run = env.wait_run("act", t->run.run_id, [&](const store::RunRecord& r) {
    auto ti = env.tis(r)["a"];
    return ti.state == TaskState::running && ti.last_activity_at.has_value();
  });
  auto ti = env.tis(run)["a"];
  CHECK(*ti.last_activity_at >= *ti.started_at);
  REQUIRE(env.sched->cancel_run("act", t->run.run_id, "ci").ok());
}

TEST_CASE("the folder watch compiles only changed files and still judges DAG ids across the folder") {
  Env env;
  env.write("a.yaml", "dag: x\ntasks:\n  a: {type: noop}\n");
  env.write("b.yaml", "dag: y\ntasks:\n  b: {type: noop}\n");
  env.start();
  REQUIRE(env.store->get_dag("x").ok());
  REQUIRE(env.store->get_dag("y").ok());
  auto x_version = *env.store->get_dag("x")->current_version;
  // b.yaml now claims x: a.yaml (first in path order) keeps it, b.yaml's is an error.
  std::this_thread::sleep_for(20ms);  // a new mtime
  env.write("b.yaml", "dag: x\ntasks:\n  b: {type: noop}\n  c: {type: noop}\n");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  // One scan records both (x's import error, y's deactivation), one store call after the other.
  while ((env.store->get_dag("x")->import_errors.empty() || env.store->get_dag("y")->active) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  auto x = env.store->get_dag("x");
  CHECK(*x->current_version == x_version);
  CHECK(x->import_errors.find("duplicate DAG id") != std::string::npos);
  // y's file is gone from the folder's ids: y becomes inactive.
  CHECK_FALSE(env.store->get_dag("y")->active);
}

TEST_CASE("datasets: a producer's success and an outside event make one dataset run, with its events") {
  Env env;
  env.write("producer.yaml",
            "dag: producer\n"
            "tasks:\n"
            "  make: {type: noop, produces: ['s3://lake/orders']}\n");
  env.write("consumer.yaml",
            "dag: consumer\n"
            "params: {mode: full}\n"
            "schedule: {datasets: ['s3://lake/orders', 'pg://wh/customers']}\n"
            "tasks:\n"
            "  use: {command: 'echo \"$BATON_PARAMS\"'}\n");
  env.start();
  auto dataset_runs = [&] {
    store::RunFilter f;
    f.dag_id = "consumer";
    f.limit = 100;
    auto runs = env.store->list_runs(f);
    REQUIRE(runs.ok());
    return *runs;
  };
  auto t = env.sched->trigger("producer", {}, "alice");
  REQUIRE(t.ok());
  CHECK(env.wait_finished("producer", t->run.run_id).state == RunState::success);
  auto produced = env.store->list_dataset_events(std::nullopt, 0, 10);
  REQUIRE(produced.ok());
  REQUIRE(produced->size() == 1);
  CHECK((*produced)[0].uri == "s3://lake/orders");
  CHECK((*produced)[0].source_dag_id == "producer");
  CHECK((*produced)[0].source_task_id == "make");
  std::this_thread::sleep_for(300ms);  // three polls
  CHECK(dataset_runs().empty());  // one of its two datasets has news

  store::DatasetEvent outside;
  outside.uri = "pg://wh/customers";
  outside.extra = R"({"rows": 12})";
  REQUIRE(env.store->record_dataset_event(outside).ok());
  env.sched->datasets_changed();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (dataset_runs().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  auto runs = dataset_runs();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].run_type == "dataset");
  auto done = env.wait_finished("consumer", runs[0].run_id);
  CHECK(done.state == RunState::success);
  auto params = nlohmann::json::parse(done.params);
  CHECK(params["mode"] == "full");
  REQUIRE(params["dataset_events"].size() == 2);
  CHECK(params["dataset_events"][0]["uri"] == "s3://lake/orders");
  CHECK(params["dataset_events"][1]["uri"] == "pg://wh/customers");
  CHECK(params["dataset_events"][1]["extra"] == nlohmann::json{{"rows", 12}});
  CHECK(params["dataset_events"][0]["at"].is_string());
  CHECK(env.log_of(done, "use", 1).find("dataset_events") != std::string::npos);

  // Consumed: the same events make no second run, also after a restart; a
  // new event of only one dataset makes none either.
  env.restart();
  std::this_thread::sleep_for(300ms);
  CHECK(dataset_runs().size() == 1);
  outside.extra = "{}";
  REQUIRE(env.store->record_dataset_event(outside).ok());
  std::this_thread::sleep_for(300ms);
  CHECK(dataset_runs().size() == 1);
  auto cursors = env.store->dataset_cursors("consumer");
  REQUIRE(cursors.ok());
  CHECK(cursors->size() == 2);
  // Both have news again: a second run.
  auto t2 = env.sched->trigger("producer", {}, "alice");
  REQUIRE(t2.ok());
  env.wait_finished("producer", t2->run.run_id);
  deadline = std::chrono::steady_clock::now() + 10s;
  while (dataset_runs().size() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  REQUIRE(dataset_runs().size() == 2);
}

TEST_CASE("sensors: file, http and task sensors poke until met, hold no slot between pokes, and fail at timeout") {
  Env env;
  REQUIRE(env.store->put_pool({"one", 1, ""}, "test").ok());
  httplib::Server http;
  std::atomic<bool> up{false};
  http.Get("/ready", [&](const httplib::Request&, httplib::Response& res) { res.status = up ? 200 : 404; });
  int port = http.bind_to_any_port("127.0.0.1");
  std::thread server([&] { http.listen_after_bind(); });
  env.write("upstream.yaml", "dag: upstream\ntasks:\n  done: {type: noop}\n");
  env.write("sensing.yaml",
            "dag: sensing\n"
            "tasks:\n"
            "  wait_file: {type: sensor.file, path: ready.flag, poke_interval: 1s, pool: one}\n"
            "  busy: {command: 'sleep 0.3', pool: one, depends_on: [started]}\n"
            "  started: {command: 'sleep 1.2'}\n"
            "  after: {type: noop, depends_on: [wait_file]}\n"
            "  wait_http: {type: sensor.http, url: 'http://127.0.0.1:" +
                std::to_string(port) +
                "/ready', poke_interval: 1s}\n"
            "  wait_task: {type: sensor.task, dag: upstream, task: done, poke_interval: 1s}\n"
            "  give_up: {type: sensor.file, path: never.flag, poke_interval: 1s, timeout: 2s}\n");
  env.start();
  auto t = env.sched->trigger("sensing", {}, "alice");
  REQUIRE(t.ok());
  const std::string run_id = t->run.run_id;
  auto state_of = [&](const std::string& task) {
    auto run = env.store->get_run("sensing", run_id);
    REQUIRE(run.ok());
    return env.tis(*run)[task].state;
  };
  auto until = [&](const std::string& what, std::function<bool()> ok, Duration limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ok()) {
      if (std::chrono::steady_clock::now() > deadline) FAIL("timed out waiting for " << what);
      std::this_thread::sleep_for(20ms);
    }
  };
  // The file sensor waits in pool "one" (1 slot): busy, in the same pool,
  // runs meanwhile, so the waiting sensor holds no slot.
  until("the file sensor waiting", [&] { return state_of("wait_file") == TaskState::waiting; });
  until("busy done while the sensor waits", [&] { return state_of("busy") == TaskState::success; });
  CHECK(state_of("wait_file") != TaskState::success);
  CHECK(state_of("after") == TaskState::pending);
  auto why = env.sched->waiting_for("sensing", run_id, "wait_file", -1);
  REQUIRE(why.ok());
  bool says_file = false;
  for (auto& w : *why) says_file = says_file || w.find("ready.flag does not exist yet") != std::string::npos;
  CHECK(says_file);

  std::ofstream(env.dags / "ready.flag") << "ok\n";
  up = true;
  TriggerRequest same_day;
  same_day.logical_date = t->run.logical_date;
  auto u = env.sched->trigger("upstream", same_day, "alice");
  REQUIRE(u.ok());
  auto run = env.wait_finished("sensing", run_id);
  auto tis = env.tis(run);
  CHECK(tis["wait_file"].state == TaskState::success);
  CHECK(tis["after"].state == TaskState::success);
  CHECK(tis["wait_http"].state == TaskState::success);
  CHECK(tis["wait_task"].state == TaskState::success);
  CHECK(tis["give_up"].state == TaskState::failed);
  CHECK(tis["give_up"].reason == "timeout");
  CHECK(run.state == RunState::failed);
  // Every poke of a sensor is one try, with one log.
  CHECK(tis["wait_file"].try_number == 1);
  auto tries = env.store->list_tries(tis["wait_file"].id);
  REQUIRE(tries.ok());
  REQUIRE(tries->size() == 1);
  CHECK((*tries)[0].state == TaskState::success);
  std::string log = env.log_of(run, "wait_file", 1);
  CHECK(log.find("does not exist yet") != std::string::npos);
  CHECK(log.find("exists") != std::string::npos);
  http.stop();
  server.join();
}

TEST_CASE("trigger_dag: a run of another DAG with params and the same logical date; waits for it, fails with it, cancels it") {
  Env env;
  env.write("child.yaml",
            "dag: child\n"
            "params: {who: nobody, fail: 'no'}\n"
            "tasks:\n"
            "  greet: {command: 'echo hi {{ params.who }}; test {{ params.fail }} = no'}\n");
  // A child that waits (a sensor survives a restart, a killed shell try would not).
  env.write("slow_child.yaml", "dag: slow_child\ntasks:\n  nap: {type: sensor.file, path: never.flag, poke_interval: 1s}\n");
  env.write("parent.yaml",
            "dag: parent\n"
            "params: {name: Ada, fail: 'no'}\n"
            "tasks:\n"
            "  kick: {type: trigger_dag, dag: child, params: {who: '{{ params.name }}', fail: '{{ params.fail }}'}}\n"
            "  fire: {type: trigger_dag, dag: child, wait: false}\n"
            "  after: {type: noop, depends_on: [kick]}\n");
  env.write("sleepy_parent.yaml",
            "dag: sleepy_parent\ntasks:\n  kick: {type: trigger_dag, dag: slow_child}\n");
  env.write("typo_parent.yaml",
            "dag: typo_parent\ntasks:\n  kick: {type: trigger_dag, dag: child, params: {whom: Ada}}\n");
  env.start();
  auto child_runs = [&](const std::string& dag) {
    store::RunFilter f;
    f.dag_id = dag;
    f.limit = 100;
    auto runs = env.store->list_runs(f);
    REQUIRE(runs.ok());
    return *runs;
  };

  auto t = env.sched->trigger("parent", {}, "alice");
  REQUIRE(t.ok());
  auto parent = env.wait_finished("parent", t->run.run_id);
  CHECK(parent.state == RunState::success);
  auto kids = child_runs("child");
  REQUIRE(kids.size() == 2);
  for (auto& k : kids) {
    CHECK(k.run_type == "manual");
    CHECK(k.logical_date == parent.logical_date);
  }
  auto tis = env.tis(parent);
  auto out = nlohmann::json::parse(*tis["kick"].output);
  CHECK(out["dag_id"] == "child");
  CHECK(out["state"] == "success");
  auto waited = env.store->get_run("child", out["run_id"].get<std::string>());
  REQUIRE(waited.ok());
  CHECK(waited->state == RunState::success);
  CHECK(nlohmann::json::parse(waited->params)["who"] == "Ada");
  CHECK(env.log_of(*waited, "greet", 1) == "hi Ada\n");
  CHECK(tis["fire"].state == TaskState::success);
  CHECK(tis["after"].state == TaskState::success);
  CHECK(env.log_of(parent, "kick", 1).find("triggered DAG child: run " + out["run_id"].get<std::string>()) !=
        std::string::npos);

  // The triggered run fails: so does the task.
  TriggerRequest failing;
  failing.params_json = R"({"fail": "yes"})";
  auto t2 = env.sched->trigger("parent", failing, "alice");
  REQUIRE(t2.ok());
  auto parent2 = env.wait_finished("parent", t2->run.run_id);
  CHECK(parent2.state == RunState::failed);
  auto tis2 = env.tis(parent2);
  CHECK(tis2["kick"].state == TaskState::failed);
  REQUIRE(tis2["kick"].reason);
  CHECK(tis2["kick"].reason->find("the triggered run child / ") == 0);
  CHECK(tis2["kick"].reason->find(" is failed") != std::string::npos);
  CHECK(tis2["after"].state == TaskState::upstream_failed);

  // A param the target DAG does not declare: the try fails saying so, and
  // no run of the target is made.
  size_t children = child_runs("child").size();
  auto t4 = env.sched->trigger("typo_parent", {}, "alice");
  REQUIRE(t4.ok());
  auto typo = env.wait_finished("typo_parent", t4->run.run_id);
  CHECK(typo.state == RunState::failed);
  auto kick = env.tis(typo)["kick"];
  CHECK(kick.state == TaskState::failed);
  CHECK(kick.reason.value_or("").find("\"whom\" is not a param of DAG child (did you mean \"who\"?)") !=
        std::string::npos);
  CHECK(child_runs("child").size() == children);

  // Canceling the triggering run cancels the triggered one; a restart in the
  // middle keeps watching the same run (no second one).
  auto t3 = env.sched->trigger("sleepy_parent", {}, "alice");
  REQUIRE(t3.ok());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (child_runs("slow_child").empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(child_runs("slow_child").size() == 1);
  env.restart();
  std::this_thread::sleep_for(500ms);
  CHECK(child_runs("slow_child").size() == 1);
  auto during = env.store->get_run("sleepy_parent", t3->run.run_id);
  REQUIRE(during.ok());
  INFO("reason: " << env.tis(*during)["kick"].reason.value_or(""));
  CHECK(env.tis(*during)["kick"].state == TaskState::running);
  REQUIRE(env.sched->cancel_run("sleepy_parent", t3->run.run_id, "alice").ok());
  auto slow = child_runs("slow_child")[0];
  auto ended = env.wait_finished("slow_child", slow.run_id);
  CHECK(ended.state == RunState::canceled);
}

TEST_CASE("sensors: a restart keeps a waiting sensor in its try; canceled between pokes, its try ends") {
  Env env;
  env.write("sense.yaml",
            "dag: sense\n"
            "tasks:\n"
            "  wait: {type: sensor.file, path: go.flag, poke_interval: 1s}\n"
            "  stop: {type: sensor.file, path: never.flag, poke_interval: 1s}\n");
  env.start();
  auto t = env.sched->trigger("sense", {}, "alice");
  REQUIRE(t.ok());
  auto ti_of = [&](const std::string& task) {
    auto run = env.store->get_run("sense", t->run.run_id);
    REQUIRE(run.ok());
    return env.tis(*run)[task];
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((ti_of("wait").state != TaskState::waiting || ti_of("stop").state != TaskState::waiting) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(ti_of("wait").state == TaskState::waiting);
  auto first_start = ti_of("wait").started_at;
  env.restart();
  std::this_thread::sleep_for(1500ms);  // pokes after the restart
  auto after = ti_of("wait");
  CHECK(after.try_number == 1);
  CHECK(after.started_at == first_start);  // its timeout still counts from the first poke
  CHECK((after.state == TaskState::waiting || after.state == TaskState::running || after.state == TaskState::scheduled));

  REQUIRE(env.sched->mark_task("sense", t->run.run_id, "stop", TaskState::failed, "alice").ok());
  auto stop = ti_of("stop");
  auto tries = env.store->list_tries(stop.id);
  REQUIRE(tries.ok());
  REQUIRE(tries->size() == 1);
  CHECK((*tries)[0].state == TaskState::failed);
  CHECK((*tries)[0].ended_at.has_value());

  std::ofstream(env.dags / "go.flag") << "ok\n";
  auto run = env.wait_finished("sense", t->run.run_id);
  auto tis = env.tis(run);
  CHECK(tis["wait"].state == TaskState::success);
  CHECK(tis["wait"].try_number == 1);
  CHECK(env.store->list_tries(tis["wait"].id)->size() == 1);
}

namespace {

// A task's mapped instances by map_index (its own instance is not among them).
std::vector<store::TaskInstanceRecord> mapped_of(Env& env, const store::RunRecord& r, const std::string& task) {
  auto list = env.store->list_task_instances(r.pk);
  REQUIRE(list.ok());
  std::vector<store::TaskInstanceRecord> out;
  for (auto& t : *list)
    if (t.task_id == task && t.map_index >= 0) out.push_back(t);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.map_index < b.map_index; });
  return out;
}

std::string mapped_log(Env& env, const store::RunRecord& r, const std::string& task, int map_index, int try_number) {
  return env.log_of(r, task + "/" + std::to_string(map_index), try_number);
}

}  // namespace

TEST_CASE("foreach: one mapped instance per item of an upstream output; downstream gets their outputs as a list") {
  Env env;
  env.write("fan.yaml",
            "dag: fan\n"
            "tasks:\n"
            "  list:\n"
            "    command: |\n"
            "      printf '{\"files\": [\"a.csv\", \"b.csv\", {\"name\": \"c\"}], \"none\": []}' > $BATON_OUTPUT_FILE\n"
            "  each:\n"
            "    command: |\n"
            "      echo 'item {{ item }} at {{ map_index }} env' $BATON_MAP_INDEX\n"
            "      printf '{\"n\": %s}' $BATON_MAP_INDEX > $BATON_OUTPUT_FILE\n"
            "    foreach: '{{ outputs.list.files }}'\n"
            "    depends_on: [list]\n"
            "  total: {command: \"echo 'got {{ outputs.each }}'\", depends_on: [each]}\n"
            "  literal: {command: 'echo {{ item }}', foreach: [1, 2]}\n"
            "  nothing: {command: 'echo never', foreach: '{{ outputs.list.none }}', depends_on: [list]}\n"
            "  after_nothing: {type: noop, depends_on: [nothing]}\n");
  env.write("bad.yaml",
            "dag: bad\n"
            "tasks:\n"
            "  list:\n"
            "    command: |\n"
            "      printf '{\"n\": 3}' > $BATON_OUTPUT_FILE\n"
            "  each: {command: 'echo {{ item }}', foreach: '{{ outputs.list.n }}', depends_on: [list]}\n"
            "  after: {type: noop, depends_on: [each]}\n");
  env.start();
  auto t = env.sched->trigger("fan", {}, "ci");
  REQUIRE(t.ok());
  auto run = env.wait_finished("fan", t->run.run_id);
  CHECK(run.state == RunState::success);
  auto tis = env.store->list_task_instances(run.pk);
  REQUIRE(tis.ok());
  std::map<std::string, store::TaskInstanceRecord> own;
  for (auto& x : *tis)
    if (x.map_index < 0) own[x.task_id] = x;
  CHECK(own["each"].state == TaskState::success);
  CHECK(own["each"].reason.value_or("") == "");
  auto each = mapped_of(env, run, "each");
  REQUIRE(each.size() == 3);
  CHECK(each[0].item == "\"a.csv\"");
  CHECK(each[2].item == R"({"name":"c"})");
  for (auto& c : each) CHECK(c.state == TaskState::success);
  CHECK(mapped_log(env, run, "each", 0, 1) == "item a.csv at 0 env 0\n");
  CHECK(mapped_log(env, run, "each", 2, 1) == "item {\"name\":\"c\"} at 2 env 2\n");
  CHECK(env.log_of(run, "total", 1) == "got [{\"n\":0},{\"n\":1},{\"n\":2}]\n");
  auto literal = mapped_of(env, run, "literal");
  REQUIRE(literal.size() == 2);
  CHECK(mapped_log(env, run, "literal", 1, 1) == "2\n");
  CHECK(own["nothing"].state == TaskState::skipped);
  CHECK(mapped_of(env, run, "nothing").empty());
  CHECK(own["after_nothing"].state == TaskState::skipped);
  // Each mapped instance's try is its own, with its own log.
  auto tries = env.store->list_tries(each[1].id);
  REQUIRE(tries->size() == 1);
  CHECK(tries->front().log_path == "fan/" + run.run_id + "/each/1/1.log");

  // Not a list: the task fails with what it got, and its downstream with it.
  auto b = env.sched->trigger("bad", {}, "ci");
  auto bad = env.wait_finished("bad", b->run.run_id);
  CHECK(bad.state == RunState::failed);
  auto btis = env.tis(bad);
  CHECK(btis["each"].state == TaskState::failed);
  CHECK(btis["each"].reason == "foreach: expected a JSON list, got \"3\"");
  CHECK(btis["after"].state == TaskState::upstream_failed);

  // A clear of the foreach task reruns every mapped instance, then downstream.
  REQUIRE(env.sched->clear_task("fan", run.run_id, "each", true, false, "ops").ok());
  run = env.wait_run("fan", run.run_id, [&](const store::RunRecord& r) {
    auto e = mapped_of(env, r, "each");
    return is_finished(r.state) && e.size() == 3 && e[0].try_number == 2;
  });
  CHECK(run.state == RunState::success);
  for (auto& c : mapped_of(env, run, "each")) CHECK(c.try_number == 2);
  CHECK(mapped_of(env, run, "each").size() == 3);
  CHECK(env.log_of(run, "total", 2) == "got [{\"n\":0},{\"n\":1},{\"n\":2}]\n");
}

TEST_CASE("foreach: mapped instances retry on their own, share the pool, and survive a restart") {
  Env env;
  env.options.workers = 2;
  env.write("wide.yaml",
            "dag: wide\n"
            "tasks:\n"
            "  each:\n"
            "    command: >-\n"
            "      if [ {{ item }} = 3 ] && [ $BATON_TRY_NUMBER = 1 ]; then exit 1; fi; sleep 0.2\n"
            "    foreach: [0, 1, 2, 3, 4, 5, 6, 7]\n"
            "    retries: 2\n"
            "    retry_delay: 0\n"
            "  after: {command: 'echo done', depends_on: [each]}\n");
  env.start();
  auto t = env.sched->trigger("wide", {}, "ci");
  REQUIRE(t.ok());
  // Stop the scheduler while the fan-out is half done.
  env.wait_run("wide", t->run.run_id, [&](const store::RunRecord& r) {
    auto e = mapped_of(env, r, "each");
    int done = 0;
    for (auto& c : e) done += c.state == TaskState::success;
    return done >= 2;
  });
  env.restart();
  auto run = env.wait_finished("wide", t->run.run_id);
  CHECK(run.state == RunState::success);
  auto each = mapped_of(env, run, "each");
  REQUIRE(each.size() == 8);  // expanded once, not again after the restart
  for (auto& c : each) CHECK(c.state == TaskState::success);
  CHECK(each[3].try_number >= 2);
  auto tries = env.store->list_tries(each[3].id);
  REQUIRE(tries->size() >= 2);
  CHECK((*tries)[0].state == TaskState::failed);
  CHECK(env.tis(run)["after"].state == TaskState::success);
}
