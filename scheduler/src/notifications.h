// The outbox (SPEC §7): a DAG's on_success, on_failure, on_retry,
// on_sla_miss, on_sla_risk, on_slow and on_stuck targets each get a notification row, written with the turn's
// changes; the notifier delivers them, so a slow or failing target never
// holds up the loop.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

#include "active_runs.h"
#include "baton/core/clock.h"

namespace baton::scheduler {

// With the run's type, state, logical date and data interval in the details.
void queue_notification(store::WriteBatch& batch, const Clock& clock, const ActiveRun& r, const std::string& event,
                        nlohmann::json details);
void queue_notification(store::WriteBatch& batch, const Clock& clock, const std::string& dag_id,
                        const std::string& run_id, const dsl::DagGraph& g, const std::string& event,
                        nlohmann::json details);

}  // namespace baton::scheduler
