// The SLA monitor on its own, with a fake clock: deadlines armed as runs and
// tries start, a miss recorded once with its notification, none in time.
#include <catch2/catch.hpp>

#include "dag_registry.h"
#include "loop.h"
#include "parts_runs.h"
#include "parts_support.h"
#include "sla_monitor.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {

struct Env {
  testing::PartsStore s;
  Loop loop{s.clock};
  ActiveRuns runs;
  DagRegistry registry{*s.store, s.dags()};
  SlaMonitor sla{*s.store, s.clock, loop, runs, registry};
  dsl::DagGraphPtr g;
  Env() {
    s.write_dag("d.yaml",
                "dag: d\nsla: {run_deadline: 2h, run_duration: 1h}\n"
                "notify: {on_sla_miss: [{command: 'cat >> misses.log'}]}\n"
                "tasks:\n  slow: {command: 'sleep 1', sla: {max_duration: 10m}}\n");
    registry.scan(true);
    g = registry.current("d");
    REQUIRE(g);
  }
  // A run whose interval ended an hour ago, started now.
  ActiveRun& run(long long pk) {
    ActiveRun& r = runs.add(testing::make_active_run(g, s.clock, pk, s.clock.now() - 1h));
    (void)r.engine->start();
    sla.run_adopted(r);
    sla.run_started(r, s.clock.now());
    return r;
  }
};

}  // namespace

TEST_CASE("sla: a run that has not succeeded at its deadlines misses them, each once, with its notification") {
  Env e;
  ActiveRun& r = e.run(1);
  REQUIRE(e.sla.next_due());
  CHECK(*e.sla.next_due() == e.s.clock.now() + 1h);  // run_duration and run_deadline both fall at +1h
  e.sla.wake(e.s.clock.now() + 59min);
  CHECK(e.loop.batch().sla_misses.empty());
  e.s.clock.advance(1h);
  e.sla.wake(e.s.clock.now());
  auto& misses = e.loop.batch().sla_misses;
  REQUIRE(misses.size() == 2);
  std::set<std::string> kinds{misses[0].miss.kind, misses[1].miss.kind};
  CHECK(kinds == std::set<std::string>{"run_deadline", "run_duration"});
  REQUIRE(misses[0].notifications.size() == 1);
  CHECK(misses[0].notifications[0].event == "on_sla_miss");
  CHECK(misses[0].notifications[0].payload.find("\"kind\"") != std::string::npos);
  CHECK(e.loop.batch().notifications.empty());  // they go with their miss
  CHECK(e.sla.detected() == 2);
  // Armed again (a restart): not recorded twice.
  e.sla.run_adopted(r);
  e.sla.wake(e.s.clock.now());
  CHECK(misses.size() == 2);
}

TEST_CASE("sla: a run that succeeded in time has no miss; a backfill's runs have no SLA") {
  Env e;
  ActiveRun& r = e.run(1);
  auto q = r.engine->queue(0);
  REQUIRE(q);
  REQUIRE(r.engine->begin_try(0));
  REQUIRE(r.engine->finish_try(0, TryOutcome::success));
  REQUIRE(r.engine->state() == RunState::success);
  ActiveRun& b = e.runs.add(testing::make_active_run(e.g, e.s.clock, 2, e.s.clock.now() - 1h, 9));
  b.rec.run_type = "backfill";
  e.sla.run_adopted(b);
  e.sla.run_started(b, e.s.clock.now());
  e.s.clock.advance(3h);
  e.sla.wake(e.s.clock.now());
  CHECK(e.loop.batch().sla_misses.empty());
  CHECK_FALSE(e.sla.next_due());
}

TEST_CASE("sla: a try still running at its max_duration misses it, named by its task") {
  Env e;
  ActiveRun& r = e.run(1);
  REQUIRE(r.engine->queue(0));
  REQUIRE(r.engine->begin_try(0));
  e.sla.try_began(r, 0, 1, e.s.clock.now());
  e.s.clock.advance(10min);
  e.sla.wake(e.s.clock.now());
  auto& misses = e.loop.batch().sla_misses;
  REQUIRE(misses.size() == 1);
  CHECK(misses[0].miss.kind == "task_duration");
  CHECK(misses[0].miss.task_id == "slow");
}
