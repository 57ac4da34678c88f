// depends_on_past on its own: a task waits for the same task of the DAG's
// previous run, read from memory or from the store, and is released when
// that one succeeds.
#include <catch2/catch.hpp>

#include "dag_registry.h"
#include "loop.h"
#include "parts_support.h"
#include "past.h"

using namespace baton;
using namespace baton::scheduler;

namespace {

struct Env {
  testing::PartsStore s;
  Loop loop{s.clock};
  ActiveRuns runs;
  DagRegistry registry{*s.store, s.dags()};
  dsl::DagGraphPtr g = [this] {
    s.write_dag("d.yaml", "dag: d\ntasks:\n  a: {command: 'true', depends_on_past: true}\n");
    registry.scan(true);
    return registry.current("d");
  }();
  int applied = 0;
  PastTracker past{*s.store, loop, runs, [this](ActiveRun& r, const std::vector<Transition>& ts) {
                     for (auto& t : ts)
                       if (t.ti >= 0) r.tis[static_cast<size_t>(t.ti)].state = t.to;
                     applied += static_cast<int>(ts.size());
                     loop.batch().task_instances.insert(loop.batch().task_instances.end(), r.tis.begin(), r.tis.end());
                   }};
  ActiveRun& run(const std::string& day) {
    store::RunRecord r;
    r.dag_id = "d";
    r.run_type = "manual";
    r.run_id = "manual__" + day;
    r.logical_date = r.data_interval_start = r.data_interval_end = *parse_utc(day + "T00:00:00Z");
    r.params = "{}";
    r.dag_version = g->hash();
    auto c = s.store->create_run(r, task_instances_for(*g), "test", {});
    REQUIRE(c.ok());
    ActiveRun a;
    a.rec = c->run;
    a.graph = g;
    a.engine = std::make_unique<RunEngine>(g, s.clock);
    a.tis = c->task_instances;
    return runs.add(std::move(a));
  }
};

}  // namespace

TEST_CASE("past: a task waits while the previous run's task has not succeeded, and goes once it has") {
  Env e;
  ActiveRun& first = e.run("2026-11-01");
  (void)first.engine->start();
  ActiveRun& second = e.run("2026-11-02");
  e.past.refresh(second);  // as the run keeper does: its past first, then its start
  (void)second.engine->start();
  auto why = second.engine->waiting_for(0);
  REQUIRE_FALSE(why.empty());
  CHECK_THAT(why, Catch::Matchers::VectorContains(std::string("depends_on_past: task a of the previous run manual__2026-11-01 is scheduled")));
  CHECK(second.engine->instances()[0].state == TaskState::pending);
  // The first run's task succeeds: the run after it looks at its past again.
  REQUIRE(first.engine->queue(0));
  REQUIRE(first.engine->begin_try(0));
  REQUIRE(first.engine->finish_try(0, TryOutcome::success));
  e.past.changed("d", first.rec.logical_date.time_since_epoch().count());
  CHECK(e.past.pending());
  CHECK(e.past.refresh_changed());
  CHECK_FALSE(e.past.pending());
  CHECK(second.engine->instances()[0].state == TaskState::scheduled);
}

TEST_CASE("past: the first run, and a previous run read from the store, decide as in memory") {
  Env e;
  ActiveRun& first = e.run("2026-11-01");
  e.past.refresh(first);
  (void)first.engine->start();
  CHECK(first.engine->instances()[0].state == TaskState::scheduled);  // no previous run: nothing holds it
  // The previous run left memory; the store says its task failed.
  const long long pk = first.rec.pk;
  store::WriteBatch b;
  auto ti = first.tis[0];
  ti.state = TaskState::failed;
  b.task_instances.push_back(ti);
  REQUIRE(e.s.store->apply(b).ok());
  e.runs.drop(pk);
  ActiveRun& second = e.run("2026-11-02");
  e.past.refresh(second);
  (void)second.engine->start();
  auto why = second.engine->waiting_for(0);
  REQUIRE_FALSE(why.empty());
  CHECK_THAT(why, Catch::Matchers::VectorContains(std::string("depends_on_past: task a of the previous run manual__2026-11-01 is failed")));
}
