// RunKeeper: the active runs in motion. It takes runs into memory (new, or
// loaded from the store at recovery, on a clear or a mark), starts them
// within max_active_runs, applies each RunEngine transition to the records of
// the turn's write, applies the workers' reports and heartbeats, fails tries
// whose workers are lost, expands foreach tasks, retires finished runs, and
// wakes runs at their retry and poke times. What that means for the other
// parts goes out through a RunListener. Loop thread only.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "active_runs.h"
#include "baton/core/clock.h"
#include "baton/core/progress.h"
#include "baton/executor/assignment.h"
#include "dag_registry.h"
#include "fencing.h"

namespace baton::scheduler {

class Loop;

// What the run keeper tells the rest of the scheduler.
class RunListener {
 public:
  virtual ~RunListener() = default;
  // The dispatcher's side.
  virtual void task_ready(const ActiveRun& r, int ti) = 0;
  virtual void task_unready(const ActiveRun& r, int ti) = 0;
  virtual void released(const ActiveRun& r, int ti) = 0;  // a pool slot and a max_active_tasks place
  virtual void holds(const ActiveRun& r, int ti) = 0;     // recovery: a try found queued or running
  virtual void slot_freed() = 0;                          // a local worker reported
  virtual void dispatch() = 0;
  // A task instance changed state (the forecasts' side).
  // `reported`: the try's own report (a worker's, or the loop's for a noop).
  virtual void task_moved(ActiveRun& r, int ti, TaskState from, TaskState to, bool reported) = 0;
  // The run's life.
  virtual void run_adopted(ActiveRun& r) = 0;
  virtual void run_started(ActiveRun& r, TimePoint at) = 0;
  virtual void run_ended(const ActiveRun& r) = 0;
  virtual void replan(const std::string& dag_id) = 0;  // a run ended: catchup may make the next
  // depends_on_past.
  virtual void past_changed(const std::string& dag_id, long long logical_date) = 0;
  virtual void refresh_past(ActiveRun& r) = 0;
  // A task that produces datasets succeeded (its events are in the batch).
  virtual void produced() = 0;
  // A try ended here while a worker may hold it: the worker stops it.
  virtual void withdraw(const ActiveRun& r, int ti) = 0;
  // trigger_dag tasks: one ended by an operator (cancel what it made), one
  // found running at recovery (watched again).
  virtual void trigger_task_ended(long long run_pk, int ti) = 0;
  virtual void resume_trigger(ActiveRun& r, int ti) = 0;
};

struct RunKeeperOptions {
  bool shared = false;  // tries run on remote workers: a restart keeps theirs
};

class RunKeeper {
 public:
  RunKeeper(store::Store& store, const Clock& clock, Loop& loop, DagRegistry& registry, Fencing& fencing,
            ActiveRuns& runs, RunListener& listener, RunKeeperOptions options);

  // Takes a run just made into memory and starts it if max_active_runs allows.
  void adopt(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
             const std::vector<store::TaskInstanceRecord>& tis);
  // Starts a DAG's queued runs, oldest first, a backfill's after live ones.
  void start_runs(const std::string& dag_id);
  void apply(ActiveRun& r, const std::vector<Transition>& ts);
  // After changes: retires a finished run, starts queued ones, dispatches.
  // `r` is not used after a retire.
  void settle(ActiveRun& r);

  // A worker's report of a try (stale ones are dropped), and its heartbeat.
  void finished(const executor::Finished& f);
  void heartbeat(long long run_pk, int ti, const std::string& token, std::optional<TimePoint> activity,
                 const std::optional<ProgressLine>& progress = std::nullopt);
  // A running try whose worker is gone (a restart, or no heartbeat for
  // zombie_timeout) fails as worker_lost and is retried under its policy.
  void fail_lost(ActiveRun& run, int ti, const std::string& why);
  // A running try fails here with `reason` (worker_lost, stuck): its worker
  // stops it, and it is retried under its policy.
  void fail_running(ActiveRun& run, int ti, const std::string& reason, const std::string& why);
  // A scheduled foreach task: one mapped instance per item of its list.
  void expand(ActiveRun& r, int ti);

  // Retries and pokes due.
  std::optional<TimePoint> next_wake() const;
  void wake(TimePoint now);

  // A run in memory, or (err) why not: not found, or finished.
  ActiveRun* find(const std::string& dag_id, const std::string& run_id, Error& err);
  // A finished run comes back into memory (clear, mark), on its own version
  // or on the DAG's current one (`latest`).
  ActiveRun* revive(const std::string& dag_id, const std::string& run_id, bool latest, Error& err);
  // A backfill reruns a finished run: its tasks (or those the reprocess mode
  // picks) cleared. Not settled: the caller counts the run first.
  enum class Rerun { taken, not_ours, retry_later };
  Rerun rerun(const store::BackfillRecord& b, const std::string& run_id, const std::vector<std::string>& tasks,
              long long& pk);

  // Recovery (run_recovery.cpp): the owned unfinished runs from the store;
  // tries of a previous life of this process failed as worker_lost, remote
  // tries kept.
  void recover();
  // Forgets every run and wake-up (a reload recovers them).
  void clear();
  // Remote tries recovery found queued: the caller checks they are still in the queue.
  std::vector<std::pair<long long, int>> take_queued_remote();

 private:
  ActiveRun& add(ActiveRun a);
  Result<ActiveRun> load_run(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
                             const std::vector<store::TaskInstanceRecord>& tis);
  void end_try(const ActiveRun& r, store::TaskInstanceRecord& rec, int try_number, TaskState to, TimePoint now);
  void produced(ActiveRun& r, int ti, TimePoint now);
  void recover_instances(ActiveRun& run);

  store::Store& store_;
  const Clock& clock_;
  Loop& loop_;
  DagRegistry& registry_;
  Fencing& fencing_;
  ActiveRuns& runs_;
  RunListener& listener_;
  RunKeeperOptions options_;
  std::multimap<TimePoint, long long> wake_;  // retries and pokes, by run pk
  bool in_report_ = false;  // applying a worker's own report (its try already ended)
  std::vector<std::pair<long long, int>> queued_remote_;
};

}  // namespace baton::scheduler
