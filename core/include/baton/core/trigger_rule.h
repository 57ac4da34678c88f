// Trigger rules (Airflow's meanings): given the states of a task's upstream
// task instances, may it run now, must it keep waiting, or is it decided
// (skipped / upstream_failed) without running? With the reason in words, for
// `waiting_for`. Pure functions: safe from any thread.
#pragma once

#include <string>

#include "baton/core/states.h"

namespace baton {

enum class TriggerRuleKind { all_success, all_failed, all_done, one_success, one_failed, none_failed, none_skipped, always };

// Counts of upstream task instances by outcome.
struct UpstreamCounts {
  int total = 0;
  int success = 0;
  int skipped = 0;
  int failed = 0;           // failed
  int upstream_failed = 0;  // upstream_failed (canceled counts here too)
  int done() const { return success + skipped + failed + upstream_failed; }
  void add(TaskState s);
};

struct TriggerDecision {
  enum class Verdict { wait, run, skip, upstream_failed };
  Verdict verdict = Verdict::wait;
  std::string reason;  // why it waits or was decided, e.g. "trigger rule all_success: 1 of 3 upstream tasks failed"
};

TriggerDecision evaluate_trigger_rule(TriggerRuleKind rule, const UpstreamCounts& up);

}  // namespace baton
