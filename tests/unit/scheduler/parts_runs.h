// Active runs for the part tests, built without a store: a run of a compiled
// DAG with its engine and task instance records (ids pk * 100 + index).
#pragma once

#include <memory>
#include <string>

#include "active_runs.h"
#include "baton/core/clock.h"

namespace baton::testing {

inline scheduler::ActiveRun make_active_run(const dsl::DagGraphPtr& g, const Clock& clock, long long pk,
                                            TimePoint logical_date, std::optional<long long> backfill = {}) {
  scheduler::ActiveRun a;
  a.rec.pk = pk;
  a.rec.dag_id = g->dag_id();
  a.rec.run_id = "run" + std::to_string(pk);
  a.rec.run_type = backfill ? "backfill" : "manual";
  a.rec.backfill_id = backfill;
  a.rec.logical_date = a.rec.data_interval_start = a.rec.data_interval_end = logical_date;
  a.rec.params = "{}";
  a.rec.dag_version = g->hash();
  a.graph = g;
  a.engine = std::make_unique<scheduler::RunEngine>(g, clock);
  a.tis = scheduler::task_instances_for(*g);
  for (size_t i = 0; i < a.tis.size(); ++i) a.tis[i].id = pk * 100 + static_cast<long long>(i);
  return a;
}

}  // namespace baton::testing
