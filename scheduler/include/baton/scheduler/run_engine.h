// RunEngine: the state of one DAG run in memory — its task instances, what is
// ready, what is decided without running (skipped, upstream_failed), retries
// and the run's own state — and every transition, checked against the state
// machine of core/states.h. It knows no I/O and no threads: the scheduler's
// event loop owns one RunEngine per active run, feeds it events (a try
// finished, a timer fired, an operator's clear/mark/cancel) and writes the
// transitions it returns to the store before acting on them.
//
// Incremental: a finished task instance re-evaluates only its downstream
// (O(out-degree)); a new run only its roots.
//
// foreach (dynamic fan-out): every task has its own instance, at the index of
// the task in spec order (map_index -1). A foreach task's own instance becomes
// `scheduled` when its upstream allows it; the scheduler then works out the
// items and expands it: one mapped instance per item (map_index 0..n-1) is
// appended after the tasks' own instances, and the task's own instance goes
// back to `pending` as their aggregate — success when they all succeeded or
// were skipped (one at least succeeded), skipped when all were skipped,
// failed when any failed. Its downstream waits for that aggregate, so for
// every mapped instance.
// Not thread-safe: used from the scheduler's event loop only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/core/states.h"
#include "baton/dsl/dag.h"

namespace baton::scheduler {

using baton::TryOutcome;  // core/states.h

struct TaskInstance {
  int task = -1;        // index into the graph's spec().tasks
  int map_index = -1;   // >= 0: a mapped instance of a foreach task
  int parent = -1;      // a mapped instance: the index of its task's own instance
  TaskState state = TaskState::pending;
  int try_number = 0;   // tries started so far
  int max_tries = 1;
  std::optional<TimePoint> wake_at;  // up_for_retry: when the next try may start; waiting: the next poke
  bool poking = false;               // a sensor woken for its next poke: the same try goes on
  std::string reason;                // why it is in its state (last failure, upstream decision, ...)
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
};

struct Transition {
  int ti = -1;  // index into instances(); -1 for the run itself
  TaskState from = TaskState::pending;
  TaskState to = TaskState::pending;
  RunState run_from = RunState::queued;  // when ti == -1
  RunState run_to = RunState::queued;
};

class RunEngine {
 public:
  RunEngine(dsl::DagGraphPtr graph, const Clock& clock);

  const dsl::DagGraph& graph() const { return *graph_; }
  const std::vector<TaskInstance>& instances() const { return tis_; }
  // A task's own instance is at the task's index.
  int index_of(const std::string& task_id) const { return graph_->index_of(task_id); }
  // The instance of a task at a map_index (-1: the task's own); -1 if none.
  int instance_of(int task, int map_index) const;
  // The mapped instances of a task (empty: not expanded, or no foreach).
  const std::vector<int>& mapped(int task) const;
  RunState state() const { return state_; }

  // Rebuilds a run read back from the store (recovery, a partition taken
  // over): the run's state and its task instances — the tasks' own in spec
  // order, then the mapped ones in the order they were made (each with its
  // task and map_index). False (and nothing changed) if they do not fit.
  // Then reconcile() settles what a crash may have left half done: a
  // foreach task expanded but still `scheduled` goes back to pending, one
  // whose mapped instances all finished takes their aggregate.
  bool restore(RunState state, std::vector<TaskInstance> instances);
  std::vector<Transition> reconcile();

  // foreach: a scheduled foreach task not expanded yet (the scheduler works
  // out its items); expand() appends `items` mapped instances (none: the
  // task is skipped), expansion_failed() fails it (the list could not be
  // worked out) and decides its downstream.
  bool needs_expansion(int ti) const;
  Result<std::vector<Transition>> expand(int ti, int items);
  Result<std::vector<Transition>> expansion_failed(int ti, const std::string& reason);

  // Starts the run: every task whose trigger rule allows it becomes scheduled.
  std::vector<Transition> start();

  // The scheduler handed a scheduled task instance to a worker, and the worker
  // started it (a new try), at `at` (a remote worker's claim, as its server
  // stored it; now when not given, and never later than now).
  Result<std::vector<Transition>> queue(int ti);
  Result<std::vector<Transition>> begin_try(int ti, std::optional<TimePoint> at = std::nullopt);
  // A queued task instance whose worker never started it goes back to scheduled.
  Result<std::vector<Transition>> requeue(int ti);

  // A try ended. Failures are retried under the task's policy (up_for_retry
  // with wake_at); the outcome's downstream is re-evaluated. `at`: when it
  // ended (a remote worker's report as its server stored it), kept between
  // the try's start and now; now when not given.
  Result<std::vector<Transition>> finish_try(int ti, TryOutcome outcome, const std::string& reason = "",
                                             std::optional<TimePoint> at = std::nullopt);

  // Retries and sensor pokes whose time has come become scheduled.
  std::vector<Transition> wake_due();
  // After a restart: a sensor whose poke was in flight waits again, to be
  // poked at once, in the same try; a scheduled one that was woken for its
  // next poke (its last try is still waiting) goes on in that try.
  Result<std::vector<Transition>> resume_sensor(int ti);
  void set_poking(int ti);
  // The earliest wake_at of any task instance (the scheduler's next timer).
  std::optional<TimePoint> next_wake() const;

  // depends_on_past: the scheduler says, for a task instance of a task that
  // depends on its past, why the previous run's instance does not allow it
  // yet (empty: it does — success, skipped, or no previous run). Only a
  // decision to run waits for it; upstream failures and skips do not. A
  // pending instance that is no longer blocked is evaluated at once.
  std::vector<Transition> set_past_block(int ti, std::string block);

  // Operator actions.
  std::vector<Transition> cancel();
  Result<std::vector<Transition>> clear(const std::string& task_id, bool downstream);
  // Several at once (a backfill's rerun): every task of `task_ids` and, if
  // asked, everything downstream of them; nothing changes if any is in flight.
  Result<std::vector<Transition>> clear(const std::vector<std::string>& task_ids, bool downstream);
  Result<std::vector<Transition>> mark(const std::string& task_id, TaskState to);
  // One task instance: a task's own is marked as mark() does; a mapped one
  // alone, and its task takes their aggregate once they all ended.
  Result<std::vector<Transition>> mark_instance(int ti, TaskState to);

  // Why a task instance is not running, in words (trigger rule and upstream
  // states, retry time, run finished). Slots, pools and pauses are the
  // scheduler's to add.
  std::vector<std::string> waiting_for(int ti) const;

 private:
  Status set(int ti, TaskState to, std::vector<Transition>& out, std::string reason = "");
  // Evaluates pending task instances in `worklist` (and what their decisions
  // unlock), moving them to scheduled, skipped or upstream_failed.
  void propagate(std::vector<int> worklist, std::vector<Transition>& out);
  void evaluate(int ti, std::vector<int>& worklist, std::vector<Transition>& out);
  void update_run_state(std::vector<Transition>& out);
  double jitter_draw(int ti) const;
  // A task instance was decided or finished: its downstream — or, for a
  // mapped instance, its task's aggregate — goes on `worklist`.
  void unlocked(int ti, std::vector<int>& worklist, std::vector<Transition>& out);
  void aggregate(int task, std::vector<int>& worklist, std::vector<Transition>& out);
  bool is_foreach(int task) const;
  void count(const TaskInstance& t, int delta);
  void recount();

  // Counts that keep a finish O(1) however wide the fan-out.
  struct Tally {
    int unfinished = 0, success = 0, skipped = 0, failed = 0, upstream_failed = 0;
  };

  dsl::DagGraphPtr graph_;
  const Clock& clock_;
  std::vector<TaskInstance> tis_;  // the tasks' own in spec order, then mapped ones
  std::vector<std::string> past_block_;  // per task instance: why depends_on_past holds it ("" = it does not)
  std::vector<std::vector<int>> mapped_;  // per task: its mapped instances, by map_index
  std::vector<Tally> tally_;              // per task: its mapped instances' states
  int unfinished_ = 0;                    // task instances not finished
  int bad_ = 0;                           // task instances failed or upstream_failed
  RunState state_ = RunState::queued;
  bool canceled_ = false;
};

}  // namespace baton::scheduler
