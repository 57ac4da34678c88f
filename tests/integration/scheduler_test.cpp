// The scheduler's loop wired to the real store, real DAG files and real
// processes: runs and their tasks, schedules, pools, depends_on_past,
// recovery. The scheduling semantics themselves are pinned with a fake clock
// in tests/unit/scheduler/run_engine_test.cpp. Each wait polls the store with
// a deadline, never a fixed sleep (scheduler_env.h).
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <set>

#include "scheduler_env.h"

using namespace baton;
using namespace baton::scheduler;
using namespace baton::scheduler_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

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
