#include "baton/core/states.h"

#include <iterator>

namespace baton {

namespace {
const char* const kRunNames[] = {"queued", "running", "success", "failed", "canceled"};
const char* const kTaskNames[] = {"pending", "scheduled", "queued", "running", "waiting", "up_for_retry",
                                  "success", "failed", "upstream_failed", "skipped", "canceled"};
}  // namespace

const char* to_string(RunState s) { return kRunNames[static_cast<int>(s)]; }
const char* to_string(TaskState s) { return kTaskNames[static_cast<int>(s)]; }

std::optional<RunState> run_state_from_string(std::string_view s) {
  for (int i = 0; i < 5; ++i)
    if (s == kRunNames[i]) return static_cast<RunState>(i);
  return std::nullopt;
}

std::optional<TaskState> task_state_from_string(std::string_view s) {
  for (int i = 0; i < 11; ++i)
    if (s == kTaskNames[i]) return static_cast<TaskState>(i);
  return std::nullopt;
}

const std::vector<std::string>& run_state_names() {
  static const std::vector<std::string> names(std::begin(kRunNames), std::end(kRunNames));
  return names;
}

const std::vector<std::string>& task_state_names() {
  static const std::vector<std::string> names(std::begin(kTaskNames), std::end(kTaskNames));
  return names;
}

bool is_finished(RunState s) { return s == RunState::success || s == RunState::failed || s == RunState::canceled; }

bool is_finished(TaskState s) {
  switch (s) {
    case TaskState::success:
    case TaskState::failed:
    case TaskState::upstream_failed:
    case TaskState::skipped:
    case TaskState::canceled:
      return true;
    default:
      return false;
  }
}

bool holds_slot(TaskState s) { return s == TaskState::queued || s == TaskState::running; }
bool is_success_like(TaskState s) { return s == TaskState::success || s == TaskState::skipped; }

bool can_transition(RunState from, RunState to) {
  using R = RunState;
  if (from == to) return false;
  switch (from) {
    case R::queued: return to == R::running || to == R::canceled || to == R::failed;
    case R::running: return to == R::success || to == R::failed || to == R::canceled;
    // A finished run goes back to running when a task of it is cleared.
    case R::success:
    case R::failed:
    case R::canceled: return to == R::running || to == R::queued;
  }
  return false;
}

bool can_transition(TaskState from, TaskState to) {
  using T = TaskState;
  if (from == to) return false;
  // An operator may mark any task instance success or failed (a running try
  // is then killed), and cancel any unfinished one.
  if (to == T::success || to == T::failed) return true;
  if (to == T::canceled) return !is_finished(from);
  switch (from) {
    case T::pending:
      return to == T::scheduled || to == T::skipped || to == T::upstream_failed || to == T::success ||
             to == T::failed;
    case T::scheduled:
      return to == T::queued || to == T::pending || to == T::skipped || to == T::upstream_failed ||
             to == T::success || to == T::failed;
    case T::queued:
      // running when a worker starts it; back to scheduled when its worker
      // is lost before it started; failed if it cannot start at all.
      return to == T::running || to == T::scheduled || to == T::failed || to == T::up_for_retry ||
             to == T::success;
    case T::running:
      return to == T::success || to == T::failed || to == T::skipped || to == T::up_for_retry ||
             to == T::waiting;
    case T::waiting:
      return to == T::scheduled || to == T::failed || to == T::success;
    case T::up_for_retry:
      return to == T::scheduled;
    // Clearing a finished task instance makes it pending again.
    case T::success:
    case T::failed:
    case T::upstream_failed:
    case T::skipped:
    case T::canceled:
      return to == T::pending;
  }
  return false;
}

Status check_transition(TaskState from, TaskState to) {
  if (can_transition(from, to)) return {};
  return Error{"illegal_transition", std::string("a task instance cannot go from ") + to_string(from) + " to " +
                                         to_string(to)};
}

Status check_transition(RunState from, RunState to) {
  if (can_transition(from, to)) return {};
  return Error{"illegal_transition",
               std::string("a run cannot go from ") + to_string(from) + " to " + to_string(to)};
}

const char* to_string(TryOutcome o) {
  switch (o) {
    case TryOutcome::success: return "success";
    case TryOutcome::failed: return "failed";
    case TryOutcome::skipped: return "skipped";
    case TryOutcome::timeout: return "timeout";
    case TryOutcome::worker_lost: return "worker_lost";
    case TryOutcome::shutdown: return "shutdown";
    case TryOutcome::reschedule: return "reschedule";
  }
  return "?";
}

}  // namespace baton
