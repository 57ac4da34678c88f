// Control: what the API (and the CLI through it) may ask of the scheduler —
// intents that change runs, recorded and carried out by the scheduler, never
// by the API itself (DESIGN.md: "api never schedules"). Reads go straight to
// the Store. Every method is safe to call from any thread (the API's); the
// scheduler carries the intent out on its own event loop and answers when it
// is done (or has failed), so a caller that then reads the store sees the
// change. `actor` is the token name, for the audit log.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/core/states.h"
#include "baton/core/time.h"
#include "baton/store/store.h"

namespace baton::scheduler {

struct TriggerRequest {
  std::optional<TimePoint> logical_date;  // default: now
  std::string params_json = "{}";         // a JSON object; overrides the DAG's params
  std::optional<std::string> idempotency_key;
  std::optional<std::string> note;
};

struct TriggerResult {
  store::RunRecord run;
  bool created = true;  // false: the idempotency key was seen, this is the first run
};

// A backfill (SPEC §7). Bounds are read in the DAG's timezone: a date covers
// its whole local day, a date-time without a zone is local, one with a zone
// (or Z) is that instant; both are inclusive.
struct BackfillRequest {
  std::string dag_id;
  std::string from, to;
  std::string reprocess = "none";  // none, failed, all
  int max_active_runs = 10;
  bool reverse = false;
  std::vector<std::string> tasks;  // a rerun is limited to these (and, with downstream, what depends on them)
  bool downstream = false;
  bool dry_run = false;
  // A key the DAG has seen returns that backfill instead of making another
  // (commands carried out twice set `command:ID`).
  std::optional<std::string> idempotency_key;
};

// What a backfill does with one interval: `create` a run, `rerun` the
// existing one, or `skip` it (with why).
struct BackfillStep {
  TimePoint logical_date{};
  TimePoint data_interval_end{};
  std::string action;
  std::optional<std::string> run_id;  // the existing run
  std::string reason;
};

// How many intervals of a backfill's plan do what.
struct BackfillSummary {
  long long create = 0, rerun = 0, skip = 0;
};

struct BackfillResult {
  store::BackfillRecord backfill;  // id 0 for a dry run
  BackfillSummary summary;
  std::vector<BackfillStep> plan;  // a dry run's only: a backfill made does not carry its plan back
};

struct MemberInfo {
  std::string id;
  TimePoint heartbeat_at{};
  int partitions = 0;
};

struct PartitionInfo {
  int partition = 0;
  std::string owner;  // empty: none
  long long epoch = 0;
};

struct SchedulerStatus {
  std::vector<MemberInfo> members;
  std::string leader;
  bool running = false;
  std::vector<PartitionInfo> partitions;
  // The DAGs folder's first load (files): `loading` until it is done.
  bool loading = false;
  long long dags_loaded = 0, dags_total = 0;
};

// What the scheduler knows for GET /metrics (SPEC §10), besides the store's counts.
// One namespace's tries as this process's dispatcher sees them (SPEC §13).
struct NamespaceFigures {
  long long running = 0;     // tries queued or running (on worker slots, pokers or the loop)
  long long ready = 0;       // task instances ready and waiting for a slot
  double share = 0;          // its part of the busy worker slots over the last minute, 0 to 1
  double latency_p50 = 0;    // ready -> running, seconds, of its tries started over the last minute
};

struct SchedulerMetrics {
  std::vector<double> latency_bounds;      // seconds: upper bounds of the histogram's buckets
  std::vector<long long> latency_buckets;  // tries per bucket (not cumulative), one more for +Inf
  long long latency_count = 0;             // tries started since the process started
  double latency_sum = 0;                  // their ready -> running time, in seconds
  std::map<std::string, long long> queue_depth;  // task instances ready and waiting for a slot, per queue
  std::map<std::string, long long> pool_depth;   // the same, per pool
  long long active_runs = 0;
  long long sla_misses_detected = 0;  // by this process since it started
  // Run-time forecasts (SPEC §7): runs at risk now; risks, slow and stuck
  // tries found by this process since it started.
  long long sla_risks_open = 0;
  long long sla_risks_detected = 0;
  long long slow_tries = 0;
  long long stuck_tries = 0;
  std::map<std::string, NamespaceFigures> namespaces;  // every namespace with a try ready or held, or one in the last minute
};

class Control {
 public:
  virtual ~Control() = default;

  // Errors: not_found (no such DAG/run/task), invalid_argument (bad params,
  // DAG inactive), conflict (e.g. clearing a running task).
  virtual Result<TriggerResult> trigger(const std::string& dag_id, const TriggerRequest& request,
                                        const std::string& actor) = 0;
  virtual Status cancel_run(const std::string& dag_id, const std::string& run_id, const std::string& actor) = 0;
  // version: "pinned" (rerun on the run's own DAG version) or "latest".
  virtual Status clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                            bool downstream, bool latest_version, const std::string& actor) = 0;
  // to: success or failed.
  virtual Status mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                           TaskState to, const std::string& actor) = 0;
  virtual Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) = 0;
  // Plans a backfill and, unless it is a dry run, starts it. Errors:
  // not_found (DAG), invalid_argument (bounds, tasks, no time schedule).
  virtual Result<BackfillResult> create_backfill(const BackfillRequest& request, const std::string& actor) = 0;
  // Stops a running backfill: every unfinished run it created or reran is
  // canceled, running tasks included. conflict when it has already ended.
  virtual Status cancel_backfill(long long id, const std::string& actor) = 0;
  // Every reason why a task instance is not running, in words (SPEC §8).
  virtual Result<std::vector<std::string>> waiting_for(const std::string& dag_id, const std::string& run_id,
                                                       const std::string& task_id, int map_index) = 0;
  virtual SchedulerStatus status() = 0;
  virtual Result<SchedulerMetrics> metrics() = 0;
  // The folder the try logs live in (TryRecord::log_path is relative to it).
  virtual std::string logs_dir() const = 0;
  // A dataset event was written to the store (POST /datasets/events): the
  // dataset-scheduled DAGs may check at once. Without it they see the event
  // at their next poll (about a second), as every member of several does.
  virtual void datasets_changed() {}
};

}  // namespace baton::scheduler
