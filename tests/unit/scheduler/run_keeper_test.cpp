// The run keeper on its own, with a fake listener: a run adopted, started and
// moved on by reports; stale reports; lost workers; recovery from the store.
#include <catch2/catch.hpp>

#include "baton/core/ids.h"
#include "dag_registry.h"
#include "loop.h"
#include "parts_support.h"
#include "run_keeper.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {

struct FakeListener final : RunListener {
  std::vector<std::string> ready, ended, killed;
  int slots_freed = 0, released_count = 0, held = 0, dispatches = 0, adopted = 0;
  void task_ready(const ActiveRun& r, int ti) override { ready.push_back(r.tis[static_cast<size_t>(ti)].task_id); }
  void task_unready(const ActiveRun&, int) override {}
  void released(const ActiveRun&, int) override { ++released_count; }
  void holds(const ActiveRun&, int) override { ++held; }
  void slot_freed() override { ++slots_freed; }
  void dispatch() override { ++dispatches; }
  void task_moved(ActiveRun&, int, TaskState, TaskState, bool) override {}
  void run_adopted(ActiveRun&) override { ++adopted; }
  void run_started(ActiveRun&, TimePoint) override {}
  void run_ended(const ActiveRun& r) override { ended.push_back(r.rec.run_id + " " + to_string(r.engine->state())); }
  void replan(const std::string&) override {}
  void past_changed(const std::string&, long long) override {}
  void refresh_past(ActiveRun&) override {}
  void produced() override {}
  void withdraw(const ActiveRun& r, int ti) override { killed.push_back(r.tis[static_cast<size_t>(ti)].task_id); }
  void trigger_task_ended(long long, int) override {}
  void resume_trigger(ActiveRun&, int) override {}
};

struct Env {
  testing::PartsStore s;
  testing::FakeFencing fencing;
  FakeListener listener;
  Loop loop{s.clock};
  ActiveRuns runs;
  DagRegistry registry{*s.store, s.dags()};
  RunKeeper keeper{*s.store, s.clock, loop, registry, fencing, runs, listener, {false}};

  explicit Env(const std::string& yaml) {
    s.write_dag("d.yaml", yaml);
    registry.scan(true);
    REQUIRE(registry.current("d"));
  }
  store::Store::Created create() {
    store::RunRecord r;
    r.dag_id = "d";
    r.run_type = "manual";
    r.run_id = "manual__1";
    r.logical_date = r.data_interval_start = r.data_interval_end = s.clock.now();
    r.params = "{}";
    r.dag_version = registry.current("d")->hash();
    auto c = s.store->create_run(r, task_instances_for(*registry.current("d")), "test", {});
    REQUIRE(c.ok());
    return *c;
  }
  // What the dispatcher does: queue and begin a try, with a token.
  void begin(ActiveRun& r, int ti, const std::string& token) {
    r.tis[static_cast<size_t>(ti)].attempt_token = token;
    keeper.apply(r, *r.engine->queue(ti));
    r.tis[static_cast<size_t>(ti)].heartbeat_at = s.clock.now();
    keeper.apply(r, *r.engine->begin_try(ti));
  }
};

const char* kChain = "dag: d\ntasks:\n  a: {command: 'true', retries: 1, retry_delay: 5m}\n  b: {command: 'true', depends_on: [a]}\n";

}  // namespace

TEST_CASE("run keeper: an adopted run starts; reports move it on; it ends and leaves memory") {
  Env e(kChain);
  auto made = e.create();
  e.keeper.adopt(made.run, e.registry.current("d"), made.task_instances);
  CHECK(e.listener.adopted == 1);
  CHECK(e.listener.ready == std::vector<std::string>{"a"});
  ActiveRun* r = e.runs.find(made.run.pk);
  REQUIRE(r);
  CHECK(r->rec.state == RunState::running);
  e.begin(*r, 0, "t1");
  e.keeper.finished({made.run.pk, 0, "t1", TryOutcome::success, "", 0, std::nullopt, 12});
  CHECK(e.listener.slots_freed == 1);
  CHECK(e.listener.ready == std::vector<std::string>{"a", "b"});
  CHECK(e.loop.batch().tries.back().state == TaskState::success);
  CHECK(e.loop.batch().tries.back().log_bytes == 12);
  e.begin(*r, 1, "t2");
  e.keeper.finished({made.run.pk, 1, "t2", TryOutcome::success, "", 0, std::nullopt, 0});
  CHECK(e.listener.ended == std::vector<std::string>{"manual__1 success"});
  CHECK(e.runs.find(made.run.pk) == nullptr);
  CHECK(e.loop.batch().runs.back().state == RunState::success);
  // The turn's write lands in the store.
  REQUIRE_FALSE(e.loop.write(*e.s.store, {}).fenced);
  CHECK(e.s.store->get_run("d", "manual__1")->state == RunState::success);
}

TEST_CASE("run keeper: a report with another try's token changes nothing but frees the worker") {
  Env e(kChain);
  auto made = e.create();
  e.keeper.adopt(made.run, e.registry.current("d"), made.task_instances);
  ActiveRun* r = e.runs.find(made.run.pk);
  e.begin(*r, 0, "current");
  const size_t tries = e.loop.batch().tries.size();
  e.keeper.finished({made.run.pk, 0, "stale", TryOutcome::failed, "boom", 1, std::nullopt, 0});
  CHECK(e.listener.slots_freed == 1);
  CHECK(r->tis[0].state == TaskState::running);
  CHECK(e.loop.batch().tries.size() == tries);
}

TEST_CASE("run keeper: a try whose worker is lost fails as worker_lost, is withdrawn, and waits for its retry") {
  Env e(kChain);
  auto made = e.create();
  e.keeper.adopt(made.run, e.registry.current("d"), made.task_instances);
  ActiveRun* r = e.runs.find(made.run.pk);
  e.begin(*r, 0, "t1");
  e.keeper.fail_lost(*r, 0, "no heartbeat for 1m");
  CHECK(r->tis[0].state == TaskState::up_for_retry);
  CHECK(e.loop.batch().tries.back().reason == std::optional<std::string>("worker_lost"));
  CHECK(e.loop.batch().tries.back().attempt_token == std::optional<std::string>("t1"));
  CHECK(e.listener.killed == std::vector<std::string>{"a"});
  REQUIRE(e.keeper.next_wake());
  CHECK(*e.keeper.next_wake() == e.s.clock.now() + 5min);
  e.s.clock.advance(5min);
  e.keeper.wake(e.s.clock.now());
  CHECK(r->tis[0].state == TaskState::scheduled);
  // Its late report is refused.
  e.keeper.finished({made.run.pk, 0, "t1", TryOutcome::success, "", 0, std::nullopt, 0});
  CHECK(r->tis[0].state == TaskState::scheduled);
}

TEST_CASE("run keeper: a cancel withdraws a running try from its worker and ends the try here") {
  Env e(kChain);
  auto made = e.create();
  e.keeper.adopt(made.run, e.registry.current("d"), made.task_instances);
  ActiveRun* r = e.runs.find(made.run.pk);
  e.begin(*r, 0, "t1");
  e.keeper.apply(*r, r->engine->cancel());
  CHECK(e.listener.killed == std::vector<std::string>{"a"});
  CHECK(e.loop.batch().tries.back().reason == std::optional<std::string>("canceled"));
  CHECK_FALSE(r->tis[0].attempt_token);  // whatever the worker says now is stale
  e.keeper.settle(*r);
  CHECK(e.listener.ended == std::vector<std::string>{"manual__1 canceled"});
}

TEST_CASE("run keeper: recovery loads the unfinished runs; a try that was running lost its worker") {
  Env e(kChain);
  auto made = e.create();
  // What a previous life of the process wrote: the run running, a's try on
  // a worker. Then a new keeper (a restart) recovers from the store.
  {
    e.keeper.adopt(made.run, e.registry.current("d"), made.task_instances);
    e.begin(*e.runs.find(made.run.pk), 0, "t1");
    REQUIRE_FALSE(e.loop.write(*e.s.store, {}).fenced);
  }
  FakeListener listener;
  Loop loop{e.s.clock};
  ActiveRuns runs;
  RunKeeper keeper{*e.s.store, e.s.clock, loop, e.registry, e.fencing, runs, listener, {false}};
  keeper.recover();
  ActiveRun* r = runs.find(made.run.pk);
  REQUIRE(r);
  CHECK(listener.held == 1);  // its slot counted, then released
  CHECK(r->tis[0].state == TaskState::up_for_retry);
  CHECK(loop.batch().tries.back().reason == std::optional<std::string>("worker_lost"));
  CHECK(listener.killed.size() == 1);
}

TEST_CASE("run keeper: a backfill's rerun of a run that is gone (cleaned) is not its own, never a retry") {
  Env e(kChain);
  store::BackfillRecord b;
  b.id = 1;
  b.dag_id = "d";
  long long pk = 0;
  CHECK(e.keeper.rerun(b, "scheduled__gone", {}, pk) == RunKeeper::Rerun::not_ours);
}
