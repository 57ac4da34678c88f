// TriggerDagTasks: the trigger_dag tasks of the owned runs (SPEC §5). A
// running one has made a run of its target DAG (directly when this process
// owns the target's partition, or through a command to its owner) and,
// with `wait`, watches it until it ends; its try ends with the run's
// outcome. One run per try: a retry, or this process after a crash, asks
// again with the same idempotency key. Loop thread only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "active_runs.h"
#include "baton/core/clock.h"
#include "baton/executor/assignment.h"
#include "baton/scheduler/control.h"
#include "fencing.h"

namespace baton::scheduler {

class Loop;

// What a trigger_dag task asks of the rest of the scheduler.
class TriggerHost {
 public:
  virtual ~TriggerHost() = default;
  virtual Result<TriggerResult> trigger(const std::string& dag_id, const TriggerRequest& req) = 0;
  virtual void finished(const executor::Finished& f) = 0;
  // A run of an owned DAG is canceled (its trigger_dag task ended).
  virtual void cancel_run(const std::string& dag_id, const std::string& run_id) = 0;
};

class TriggerDagTasks {
 public:
  TriggerDagTasks(store::Store& store, const Clock& clock, Loop& loop, Fencing& fencing, ActiveRuns& runs,
                  TriggerHost& host, std::string logs_dir);

  void start(ActiveRun& r, int ti);
  // On the poll: commands answered, triggered runs ended.
  void check();
  bool any() const { return !watches_.empty(); }
  // The task stopped being running by an operator's hand or its run's
  // cancel: the run it made is canceled too.
  void task_ended(long long run_pk, int ti);

 private:
  struct Watch {
    std::string token;         // the try's attempt token
    std::string dag_id;        // the triggered DAG
    std::string run_id;        // the triggered run, once known
    long long command_id = 0;  // while the DAG's owner (another member) makes it
    TimePoint asked_at{};
    std::string payload;  // the command, to send again if it expired
    bool wait = true;
    bool canceled = false;  // the task ended before the command was answered: cancel what it makes
  };
  void log_line(const ActiveRun& r, int ti, const std::string& line);
  void triggered(ActiveRun& r, int ti, Watch& w);
  void enqueue_cancel(const std::string& dag_id, const std::string& run_id);

  store::Store& store_;
  const Clock& clock_;
  Loop& loop_;
  Fencing& fencing_;
  ActiveRuns& runs_;
  TriggerHost& host_;
  std::string logs_dir_;
  std::map<std::pair<long long, int>, Watch> watches_;  // (run pk, task index)
};

}  // namespace baton::scheduler
