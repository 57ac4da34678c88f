#include "baton/core/trigger_rule.h"

namespace baton {

void UpstreamCounts::add(TaskState s) {
  ++total;
  switch (s) {
    case TaskState::success: ++success; break;
    case TaskState::skipped: ++skipped; break;
    case TaskState::failed: ++failed; break;
    case TaskState::upstream_failed:
    case TaskState::canceled: ++upstream_failed; break;
    default: break;
  }
}

namespace {

using V = TriggerDecision::Verdict;

std::string counts_text(const UpstreamCounts& u) {
  std::string s = std::to_string(u.done()) + " of " + std::to_string(u.total) + " upstream tasks finished";
  if (u.success) s += ", " + std::to_string(u.success) + " succeeded";
  if (u.skipped) s += ", " + std::to_string(u.skipped) + " skipped";
  if (u.failed) s += ", " + std::to_string(u.failed) + " failed";
  if (u.upstream_failed) s += ", " + std::to_string(u.upstream_failed) + " upstream_failed";
  return s;
}

TriggerDecision decide(V v, const char* rule, const UpstreamCounts& u) {
  return {v, std::string("trigger rule ") + rule + ": " + counts_text(u)};
}

}  // namespace

TriggerDecision evaluate_trigger_rule(TriggerRuleKind rule, const UpstreamCounts& u) {
  const int bad = u.failed + u.upstream_failed;
  const bool all_done = u.done() == u.total;
  switch (rule) {
    case TriggerRuleKind::all_success:
      if (bad) return decide(V::upstream_failed, "all_success", u);
      if (u.skipped) return decide(V::skip, "all_success", u);
      return decide(u.success == u.total ? V::run : V::wait, "all_success", u);
    case TriggerRuleKind::all_failed:
      if (u.success || u.skipped) return decide(V::skip, "all_failed", u);
      return decide(bad == u.total ? V::run : V::wait, "all_failed", u);
    case TriggerRuleKind::all_done:
      return decide(all_done ? V::run : V::wait, "all_done", u);
    case TriggerRuleKind::one_success:
      if (u.success) return decide(V::run, "one_success", u);
      if (!all_done) return decide(V::wait, "one_success", u);
      return decide(bad == u.total && u.total > 0 ? V::upstream_failed : V::skip, "one_success", u);
    case TriggerRuleKind::one_failed:
      if (bad) return decide(V::run, "one_failed", u);
      return decide(all_done ? V::skip : V::wait, "one_failed", u);
    case TriggerRuleKind::none_failed:
      if (bad) return decide(V::upstream_failed, "none_failed", u);
      return decide(all_done ? V::run : V::wait, "none_failed", u);
    case TriggerRuleKind::none_skipped:
      if (u.skipped) return decide(V::skip, "none_skipped", u);
      return decide(all_done ? V::run : V::wait, "none_skipped", u);
    case TriggerRuleKind::always:
      return {V::run, "trigger rule always: runs whatever its upstream tasks do"};
  }
  return decide(V::wait, "?", u);
}

}  // namespace baton
