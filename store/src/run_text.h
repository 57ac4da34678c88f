// Internal to the store: what both engines say of a run they make, so that
// they say the same: the conflict a run meets, and the details of the audit
// entry of a manual or dataset run. Pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "baton/core/time.h"
#include "baton/store/store.h"

namespace baton::store {

// A run refused because its DAG has it already: the interval of a
// scheduled or backfill run, the id of another.
inline Error run_conflict(const RunRecord& run) {
  return Error{"conflict", "DAG " + run.dag_id + " already has a run " +
                               (run.run_type == "scheduled" || run.run_type == "backfill"
                                    ? "for the interval starting " + format_utc(run.logical_date)
                                    : "with id " + run.run_id)};
}

// Whether a run made is audited (`run.triggered`), and with what.
inline bool run_audited(const RunRecord& run) { return run.run_type == "manual" || run.run_type == "dataset"; }
inline nlohmann::json run_triggered_details(const RunRecord& run) {
  nlohmann::json details = {{"run_id", run.run_id},
                            {"logical_date", format_utc(run.logical_date)},
                            {"params", nlohmann::json::parse(run.params, nullptr, false)}};
  if (run.note) details["note"] = *run.note;
  return details;
}

}  // namespace baton::store
