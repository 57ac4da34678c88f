// Run and task-instance states (SPEC §4), their derived sets, and every legal
// transition in one place: every state write goes through can_transition, so
// an illegal move is a bug caught at the boundary, not a corrupted run.
// Pure functions: safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/result.h"

namespace baton {

enum class RunState { queued, running, success, failed, canceled };
enum class TaskState {
  pending,          // waiting for upstream
  scheduled,        // ready, waiting for a slot
  queued,           // handed to a worker queue
  running,
  waiting,          // a sensor between pokes
  up_for_retry,
  success,
  failed,
  upstream_failed,
  skipped,
  canceled,
};

const char* to_string(RunState s);
const char* to_string(TaskState s);
std::optional<RunState> run_state_from_string(std::string_view s);
std::optional<TaskState> task_state_from_string(std::string_view s);
// Every state's name, in the order of the enum.
const std::vector<std::string>& run_state_names();
const std::vector<std::string>& task_state_names();

bool is_finished(RunState s);
bool is_finished(TaskState s);   // success, failed, upstream_failed, skipped, canceled
// Holding a worker slot, a pool slot and a max_active_tasks place: queued, running.
bool holds_slot(TaskState s);
// Counts as "done well" for downstream and for depends_on_past: success, skipped.
bool is_success_like(TaskState s);

bool can_transition(RunState from, RunState to);
bool can_transition(TaskState from, TaskState to);
// The same, as an error that names both states.
Status check_transition(TaskState from, TaskState to);
Status check_transition(RunState from, RunState to);

// How a try ended, as the executor reports it.
// `reschedule`: a sensor's poke found its condition not met yet; the sensor
// waits (holding no slot) until its next poke, or fails at its timeout.
enum class TryOutcome { success, failed, skipped, timeout, worker_lost, shutdown, reschedule };
const char* to_string(TryOutcome o);

}  // namespace baton
