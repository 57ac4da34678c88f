// Scheduler: one scheduling process (DESIGN.md "The scheduler, in named
// parts"; docs/architecture.md lists the parts). It watches the DAGs folder,
// registers DAG versions, creates runs (cron and `every` ticks with catchup,
// manual triggers, datasets, backfills), keeps every active run in memory
// (RunEngine), hands ready task instances to the workers within the limits
// (workers, pools, max_active_tasks, max_active_runs, priority) through one
// worker channel (its own slots, or the store's queue for remote workers) and
// writes every change through to the store in one transaction per turn of
// the loop, before acting on it.
//
// Threads: one event loop thread (Boost.Asio, kept out of this header) owns
// all scheduling state; N worker threads run tries; Control methods may be
// called from any thread (they post to the loop and wait for its answer).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/scheduler/control.h"
#include "baton/scheduler/retention.h"
#include "baton/store/store.h"

namespace baton::scheduler {

struct SchedulerOptions {
  std::string dags_dir = "./dags";
  // The folders sensor.file may look in (SPEC §12); empty: dags_dir and /tmp.
  std::vector<std::string> sensor_roots;
  std::string logs_dir = "./logs";
  int workers = 4;  // local worker slots
  Duration heartbeat_interval = std::chrono::seconds(5);
  // A running try with no heartbeat for this long fails as worker_lost (SPEC §5).
  Duration zombie_timeout = std::chrono::seconds(60);
  // Notifications (SPEC §7): each attempt bounded by the timeout; a failed
  // one is tried again after backoff, 2 x backoff, ... (at most 5 min), up to
  // `notification_attempts` in all. Commands run in the DAGs folder.
  Duration notification_timeout = std::chrono::seconds(10);
  int notification_attempts = 5;
  Duration notification_backoff = std::chrono::seconds(1);
  Duration notification_poll = std::chrono::milliseconds(500);
  // Membership: the member row is renewed every member_heartbeat with a
  // lease of this long (SPEC §9); a member that misses it is dead.
  Duration member_heartbeat = std::chrono::seconds(1);
  Duration member_lease = std::chrono::seconds(5);
  // Shared scheduling (SPEC §9, PostgreSQL; `baton server`, `baton
  // scheduler`): this process is one of many members. The member holding the
  // leader lock assigns the partitions to the live members; this one
  // schedules the DAGs of the partitions it owns, loads a partition it gains
  // from the store and drops one it loses, hands its tries to remote workers
  // through the store's queue (no local worker slots) and carries out the
  // API's intents (commands) for its DAGs. Otherwise the one scheduling
  // process owns every partition and runs its tries itself.
  bool shared = false;
  // The poll's period: membership renewal, backfills, datasets, lost tries;
  // and the DAGs folder's scan where inotify cannot be used.
  Duration folder_poll = std::chrono::seconds(1);
  // With the folder watched (inotify), a full scan of it this often all the
  // same: the safety net for what inotify cannot see (network filesystems,
  // a folder past the watch limit).
  Duration folder_scan = std::chrono::seconds(60);
  // Standalone: start() returns before the DAGs folder is loaded; the loop
  // loads it a chunk at a time (status() says how far), serving Control
  // calls in between. Otherwise start() returns once it is loaded.
  bool load_in_background = false;
  // Deadline-aware dispatch (SPEC §7): within a priority, the try whose run
  // has the least slack to its SLA deadline goes first. Off: older logical
  // date first, as before (the benchmark compares the two).
  bool slack_order = true;
  Duration shutdown_grace = std::chrono::seconds(30);
  std::string member_id;  // default: host:pid
  // Automatic retention (retention.h; docs/running.md "Retention"): with
  // any setting on, this process (standalone, or a member while it leads)
  // cleans on a thread of its own, first after retention_first_after, then
  // every retention_every.
  RetentionSettings retention;
  Duration retention_first_after = std::chrono::minutes(1);
  Duration retention_every = std::chrono::hours(1);
  // Opens the store the retention job cleans through: a second one on the
  // same database (a connection of its own, with the process's audit key),
  // so that the loop's writes never wait behind a clean on the scheduler's
  // connection. Called once, by start(), with retention on; none: the
  // scheduler's store (what SQLite wants: one writer at a time, and a loop
  // write must not time out behind a batch). A store it cannot open fails
  // start().
  std::function<Result<std::unique_ptr<store::Store>>()> retention_store;
};

class Scheduler final : public Control {
 public:
  Scheduler(store::Store& store, const Clock& clock, SchedulerOptions options);
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Loads the DAGs folder, recovers unfinished runs from the store (tries
  // that were running in a previous life of this process failed as
  // worker_lost), starts the loop and the workers.
  Status start();
  // No new work; running tries get shutdown_grace to finish (none when
  // `immediately`), then are killed and recorded as failed with reason
  // `shutdown`; state is flushed.
  void stop(bool immediately = false);

  Result<TriggerResult> trigger(const std::string& dag_id, const TriggerRequest& request,
                                const std::string& actor) override;
  Status cancel_run(const std::string& dag_id, const std::string& run_id, const std::string& actor) override;
  Status clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                    bool downstream, bool latest_version, const std::string& actor) override;
  Status mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id, TaskState to,
                   const std::string& actor) override;
  Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) override;
  Result<BackfillResult> create_backfill(const BackfillRequest& request, const std::string& actor) override;
  Status cancel_backfill(long long id, const std::string& actor) override;
  Result<std::vector<std::string>> waiting_for(const std::string& dag_id, const std::string& run_id,
                                               const std::string& task_id, int map_index) override;
  SchedulerStatus status() override;
  Result<SchedulerMetrics> metrics() override;
  std::string logs_dir() const override;
  void datasets_changed() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The run id of a run (SPEC §4; docs/running.md, "Run ids"):
// scheduled__20261121T000000Z, manual__20261122T101503Z_1a2b3c4d (with_suffix:
// 8 random hex digits, for the run types that may have several runs per
// logical date), ...
std::string make_run_id(const std::string& run_type, TimePoint logical_date, bool with_suffix);

}  // namespace baton::scheduler
