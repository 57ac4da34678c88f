// Dispatcher: the ready set and its order (a freed worker slot goes to the
// namespace furthest below its weighted share — FairShare — and within a
// namespace live runs go before backfills, then higher priority, then the
// run with least slack to its SLA deadline, then older logical date), the limits (worker slots, a namespace's max_running_tasks,
// pools, a DAG's max_active_tasks) and the handing out of tries: a noop is
// finished in the same turn, a foreach task's own instance is expanded, a
// sensor goes to the pokers, a trigger_dag to the loop, any other try to the
// workers through the WorkerChannel (local slots in standalone, the store's
// queue for remote workers on members). Loop thread only.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "active_runs.h"
#include "assignments.h"
#include "baton/core/clock.h"
#include "baton/scheduler/control.h"
#include "dag_registry.h"
#include "fair_share.h"
#include "worker_channel.h"

namespace baton::scheduler {

class Loop;

// What the dispatcher asks of the rest of the scheduler.
class DispatchHost {
 public:
  virtual ~DispatchHost() = default;
  virtual void apply(ActiveRun& r, const std::vector<Transition>& ts) = 0;
  virtual void expand(ActiveRun& r, int ti) = 0;             // a foreach task's own instance
  virtual void finished(const executor::Finished& f) = 0;    // a noop's try, done here
  virtual void poke(executor::Assignment a) = 0;             // a sensor's
  virtual void start_trigger(ActiveRun& r, int ti) = 0;      // a trigger_dag's
  virtual void try_began(const ActiveRun& r, int ti, int try_number) = 0;
};

struct DispatcherOptions {
  bool shared = false;  // tries go to remote workers
  int workers = 4;      // local worker slots (standalone)
  std::string member_id;
  TryPaths paths;
  bool slack_order = true;  // within a priority, the run with least slack first (SPEC §7)
};

class Dispatcher {
 public:
  Dispatcher(const Clock& clock, Loop& loop, ActiveRuns& runs, DagRegistry& registry, DispatchHost& host,
             WorkerChannel& channel, DispatcherOptions options);

  // A task instance became scheduled, or stopped being.
  void task_ready(const ActiveRun& r, int ti);
  void task_unready(const ActiveRun& r, int ti);
  // The run's slack changed (it was `old_slack`): its ready tries move.
  void slack_changed(const ActiveRun& r, long long old_slack);
  // It no longer holds a pool slot and a place in max_active_tasks.
  void released(const ActiveRun& r, int ti);
  // Recovery: a try found queued or running holds its slots.
  void holds(const ActiveRun& r, int ti);
  // A local worker is free again.
  void slot_freed() { ++free_workers_; }
  // Forgets the ready set and the slots held (a reload recovers them).
  void clear();
  void refresh_pools(store::Store& store);
  // The namespaces' weights and caps (any other namespace has the defaults).
  void configure_namespaces(std::map<std::string, FairShare::Config> configs) { fair_.configure(std::move(configs)); }
  void refresh_namespaces(const std::vector<store::Namespace>& list);

  // Hands ready task instances out within the limits. Re-entered (from a
  // finish, through the host), it only asks the running pass to go round
  // once more: a chain of noops ends in one turn.
  void dispatch();
  bool dispatching() const { return dispatching_; }
  // A worker claimed a queued try: it begins (running), and its worker gets
  // what it needs after the turn's write.
  void claimed(ActiveRun& r, int ti, const std::string& worker, std::optional<TimePoint> at = std::nullopt);
  // Members hand every try but noops, sensors and trigger_dag to remote workers.
  bool runs_remote(const ActiveRun& r, int ti) const;

  // Why a scheduled task instance is not handed out (tasks why).
  std::vector<std::string> blocks(const ActiveRun& r, int ti);
  // Why a queued remote try waits (held: pool slots taken on workers, of
  // all members; held_ns: tries on workers per namespace, of all members).
  std::vector<std::string> remote_blocks(const ActiveRun& r, int ti, const std::map<std::string, long long>* held,
                                         const std::map<std::string, long long>* held_ns = nullptr);
  void metrics(SchedulerMetrics& out);

 private:
  // Ready task instances in dispatch order.
  struct ReadyKey {
    int backfill;
    int neg_priority;
    long long slack;  // ms to the run's SLA deadline from its expected end (ActiveRun::slack)
    long long logical_date;
    long long run_pk;
    int ti;
    auto operator<=>(const ReadyKey&) const = default;
  };
  ReadyKey ready_key(const ActiveRun& r, int ti) const;
  std::set<ReadyKey>& ready_of(const ActiveRun& r, int ti);
  // A try of it takes a worker slot (not a noop, sensor, trigger_dag or a
  // foreach task's own instance); it counts against max_running_tasks (any
  // but a noop or a foreach task's own instance).
  bool on_worker(const ActiveRun& r, int ti) const;
  bool counts_running(const ActiveRun& r, int ti) const;
  // The namespaces with a ready try or a worker slot (their shares split the slots).
  std::vector<std::string> contenders() const;
  void dispatch_noops();
  void dispatch_to_workers();
  bool start_try(ActiveRun& r, int ti);
  bool begin(ActiveRun& r, int ti, std::optional<TimePoint> at = std::nullopt);
  std::string pool_block(const std::string& pool, int slots);
  std::string task_limit_block(const std::string& dag_id);

  const Clock& clock_;
  Loop& loop_;
  ActiveRuns& runs_;
  DagRegistry& registry_;
  DispatchHost& host_;
  WorkerChannel& channel_;
  DispatcherOptions options_;
  std::map<std::string, std::set<ReadyKey>> ready_;  // tries for the workers, per namespace
  std::set<ReadyKey> ready_noop_;  // noop tasks, foreach expansions, sensors, trigger_dag: no worker
  bool dispatching_ = false, dispatch_again_ = false;
  std::map<std::string, int> pool_slots_, pool_used_;
  std::map<std::string, int> active_tasks_;  // queued + running task instances per DAG (max_active_tasks)
  int free_workers_ = 0;
  FairShare fair_;
  // ready -> running latency of every try started (GET /metrics)
  static constexpr double kLatencyBounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300};
  std::vector<long long> latency_buckets_ = std::vector<long long>(std::size(kLatencyBounds) + 1, 0);
  long long latency_count_ = 0;
  double latency_sum_ = 0;
};

}  // namespace baton::scheduler
