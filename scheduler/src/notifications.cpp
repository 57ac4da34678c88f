#include "notifications.h"

#include <nlohmann/json.hpp>

namespace baton::scheduler {

using nlohmann::json;

void queue_notification(store::WriteBatch& batch, const Clock& clock, const ActiveRun& r, const std::string& event,
                        json details) {
  details["run_type"] = r.rec.run_type;
  details["state"] = to_string(r.engine->state());
  details["logical_date"] = format_utc(r.rec.logical_date);
  details["data_interval_start"] = format_utc(r.rec.data_interval_start);
  details["data_interval_end"] = format_utc(r.rec.data_interval_end);
  queue_notification(batch, clock, r.rec.dag_id, r.rec.run_id, *r.graph, event, std::move(details));
}

void queue_notification(store::WriteBatch& batch, const Clock& clock, const std::string& dag_id,
                        const std::string& run_id, const dsl::DagGraph& g, const std::string& event, json details) {
  const auto& spec = g.spec();
  const auto& targets = event == "on_success"    ? spec.on_success
                        : event == "on_failure"  ? spec.on_failure
                        : event == "on_retry"    ? spec.on_retry
                        : event == "on_sla_risk" ? spec.on_sla_risk
                        : event == "on_slow"     ? spec.on_slow
                        : event == "on_stuck"    ? spec.on_stuck
                                                 : spec.on_sla_miss;
  if (targets.empty()) return;
  // The forecasts' events go by their own names (SPEC §7); the others by
  // their notify key, as they always have.
  const std::string name = event == "on_sla_risk" ? "sla_at_risk"
                           : event == "on_slow"   ? "task_slow"
                           : event == "on_stuck"  ? "task_stuck"
                                                  : event;
  details["event"] = name;
  details["dag_id"] = dag_id;
  details["run_id"] = run_id;
  details["at"] = format_utc(clock.now());
  std::string payload = details.dump(-1, ' ', false, json::error_handler_t::replace);
  for (auto& t : targets) {
    store::NotificationRecord n;
    n.event = name;
    n.dag_id = dag_id;
    n.target_kind = t.kind == dsl::NotifyTarget::Kind::webhook ? "webhook" : "command";
    n.target = t.value;
    n.payload = payload;
    n.next_attempt_at = clock.now();
    batch.notifications.push_back(std::move(n));
  }
}

}  // namespace baton::scheduler
