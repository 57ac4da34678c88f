// Scheduler::Impl: the composition root of a scheduling process (DESIGN.md
// "The scheduler, in named parts"). It owns the parts in dependency order and
// wires them: each part talks to its neighbours through the small interfaces
// it declares (RunListener, DispatchHost, RunSink, BackfillRuns, TriggerHost,
// RemoteHost), which the adapters below implement by forwarding to the part
// that owns the answer. It also owns the turn (what a flush writes and then
// does), the poll, and the reload of the owned partitions.
//
// Threads: the loop thread for everything but start/stop and the Control
// entry points (scheduler_control.cpp), which post to the loop.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "active_runs.h"
#include "backfills.h"
#include "baton/executor/local_workers.h"
#include "baton/executor/notifier.h"
#include "baton/executor/sensor_pokers.h"
#include "baton/scheduler/scheduler.h"
#include "dag_registry.h"
#include "dispatcher.h"
#include "folder_watch.h"
#include "forecast.h"
#include "listener.h"
#include "loop.h"
#include "membership.h"
#include "past.h"
#include "local_channel.h"
#include "queue_channel.h"
#include "run_factory.h"
#include "run_keeper.h"
#include "sla_monitor.h"
#include "trigger_dag.h"

namespace baton::scheduler {

struct SchedulerParts;

// The adapters: one interface each, forwarding to the parts.
struct ListenerGlue final : RunListener {
  explicit ListenerGlue(SchedulerParts& p) : p(p) {}
  void task_ready(const ActiveRun& r, int ti) override;
  void task_unready(const ActiveRun& r, int ti) override;
  void released(const ActiveRun& r, int ti) override;
  void holds(const ActiveRun& r, int ti) override;
  void slot_freed() override;
  void dispatch() override;
  void task_moved(ActiveRun& r, int ti, TaskState from, TaskState to, bool reported) override;
  void run_adopted(ActiveRun& r) override;
  void run_started(ActiveRun& r, TimePoint at) override;
  void run_ended(const ActiveRun& r) override;
  void replan(const std::string& dag_id) override;
  void past_changed(const std::string& dag_id, long long logical_date) override;
  void refresh_past(ActiveRun& r) override;
  void produced() override;
  void withdraw(const ActiveRun& r, int ti) override;
  void trigger_task_ended(long long run_pk, int ti) override;
  void resume_trigger(ActiveRun& r, int ti) override;
  SchedulerParts& p;
};

struct DispatchGlue final : DispatchHost {
  explicit DispatchGlue(SchedulerParts& p) : p(p) {}
  void apply(ActiveRun& r, const std::vector<Transition>& ts) override;
  void expand(ActiveRun& r, int ti) override;
  void finished(const executor::Finished& f) override;
  void poke(executor::Assignment a) override;
  void start_trigger(ActiveRun& r, int ti) override;
  void try_began(const ActiveRun& r, int ti, int try_number) override;
  SchedulerParts& p;
};

struct ForecastGlue final : ForecastHost {
  explicit ForecastGlue(SchedulerParts& p) : p(p) {}
  void slack_changed(ActiveRun& r, long long old_slack) override;
  void fail_stuck(ActiveRun& r, int ti) override;
  bool runs_remote(const ActiveRun& r, int ti) const override;
  SchedulerParts& p;
};

// New runs and backfills' runs go to the run keeper.
struct RunsGlue final : RunSink, BackfillRuns {
  explicit RunsGlue(SchedulerParts& p) : p(p) {}
  void adopt(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
             const std::vector<store::TaskInstanceRecord>& tis) override;
  int unfinished_runs(const std::string& dag_id) override;
  void dispatch() override;
  Rerun rerun(const store::BackfillRecord& b, const std::string& run_id, const std::vector<std::string>& tasks,
              long long& pk) override;
  void settle(long long run_pk) override;
  void cancel(const std::vector<long long>& run_pks) override;
  bool in_memory(long long run_pk) override;
  SchedulerParts& p;
};

// trigger_dag tasks and the remote queue's events.
struct TriesGlue final : TriggerHost, RemoteHost {
  explicit TriesGlue(SchedulerParts& p) : p(p) {}
  Result<TriggerResult> trigger(const std::string& dag_id, const TriggerRequest& req) override;
  void finished(const executor::Finished& f) override;
  void cancel_run(const std::string& dag_id, const std::string& run_id) override;
  void claimed(ActiveRun& r, int ti, const std::string& worker, TimePoint at) override;
  void apply(ActiveRun& r, const std::vector<Transition>& ts) override;
  void dispatch() override;
  void write() override;
  SchedulerParts& p;
};

// The parts, in dependency order, and the turn.
struct SchedulerParts {
  SchedulerParts(store::Store& s, const Clock& c, SchedulerOptions o);
  ~SchedulerParts();
  SchedulerParts(const SchedulerParts&) = delete;
  SchedulerParts& operator=(const SchedulerParts&) = delete;

  // The turn: the batch is written, then what follows from it (dataset
  // runs, depends_on_past), then the tries go to the local workers and the
  // next wake-up is armed.
  void flush();
  void write();
  void poll();
  // The namespaces' weights and caps (the dispatcher) and folders (the
  // registry), from the store: at start and on every poll.
  void refresh_namespaces();
  // The DAGs folder: its watch (or polling where inotify fails), the safety
  // scan, and the cold load a chunk at a time on the loop.
  void watch_folder();
  void load_next(TimePoint began);
  void on_wake();
  // Shared mode.
  void fail_lost();
  void membership_tick();
  void refresh_ownership(bool force);
  void reload_owned();
  void drain_events();
  // What /metrics shows of the scheduler, taken on the loop (at most every
  // 100 ms at the end of a turn, and on every poll) so that a read of it
  // never waits for the loop.
  void snapshot_metrics(bool force);
  SchedulerMetrics metrics_snapshot() const;
  // API triggers: queued by the API's threads, made on the loop together
  // (one transaction and one write for all that queued while the loop was
  // busy), each caller answered after the write.
  struct QueuedTrigger {
    RunFactory::Trigger trigger;
    std::promise<Result<TriggerResult>> answer;
  };
  void drain_triggers();

  store::Store& store;
  const Clock& clock;
  SchedulerOptions options;
  std::string notify_dir;  // the DAGs folder, absolute: notification commands run there
  ListenerGlue listener_glue{*this};
  DispatchGlue dispatch_glue{*this};
  RunsGlue runs_glue{*this};
  TriesGlue tries_glue{*this};
  ForecastGlue forecast_glue{*this};
  Loop loop;
  Membership membership;
  DagRegistry registry;
  ActiveRuns runs;
  SlaMonitor sla;
  Forecaster forecast;
  PastTracker past;
  executor::LocalWorkers workers;
  LocalChannel local_channel;
  QueueChannel queue_channel;
  WorkerChannel& channel;  // the local one (standalone) or the queue (members)
  Dispatcher dispatcher;
  RunKeeper keeper;
  RunFactory factory;
  Backfills backfills;
  TriggerDagTasks triggers;
  executor::SensorPokers pokers;
  executor::Notifier notifier;
  std::unique_ptr<FolderWatch> watch;  // null: the folder is polled
  std::unique_ptr<PartitionListener> listener;
  std::unique_ptr<RetentionJob> retention;  // with retention settings on
  // Held while a clear or mark brings a finished run back until its write,
  // and by the retention job for each batch of runs it removes.
  std::shared_ptr<std::mutex> revive_mu = std::make_shared<std::mutex>();
  std::atomic<bool> accepting{false};  // Control calls are served
  std::atomic<bool> drain_posted{false};
  std::mutex trigger_mu;
  std::vector<QueuedTrigger> trigger_queue;  // under trigger_mu
  bool triggers_closed = false;              // under trigger_mu: stopped, none queue
  mutable std::mutex metrics_mu;
  SchedulerMetrics metrics;  // under metrics_mu
  std::chrono::steady_clock::time_point metrics_at{};  // loop thread
  std::chrono::steady_clock::time_point folded_at{};   // loop thread: the last Store::fold_counts
};

struct Scheduler::Impl : SchedulerParts {
  using SchedulerParts::SchedulerParts;
  // Runs `fn` on the loop for a Control call and writes its changes (and a
  // command's answer) before returning.
  template <class F>
  auto on_loop(F fn) -> decltype(fn());
};

}  // namespace baton::scheduler
