// RemoteControl: the Control of a process whose API serves DAGs that other
// processes may schedule (`baton server` on PostgreSQL, SPEC §9). Every
// intent becomes a command in the store for the member that owns the DAG's
// partition; the call waits for that member's answer, which it writes in the
// same transaction as the changes it made. Reads (status) come from the
// store; metrics() and logs_dir() from the local scheduler member, if this
// process runs one. Safe to call from any thread.
#pragma once

#include <string>

#include "baton/core/clock.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"

namespace baton::scheduler {

class RemoteControl final : public Control {
 public:
  // `local`: this process's own scheduler member, or null (--no-scheduler).
  // `timeout`: how long a call waits for the owner's answer (unavailable
  // after it: no live member owns the DAG's partition).
  RemoteControl(store::Store& store, const Clock& clock, Control* local, std::string logs_dir,
                Duration timeout = std::chrono::seconds(30));

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

 private:
  Result<store::CommandRecord> call(const std::string& kind, const std::string& dag_id, std::string payload,
                                    const std::string& actor);

  store::Store& store_;
  const Clock& clock_;
  Control* local_;
  std::string logs_dir_;
  Duration timeout_;
};

// What the store says of the scheduler members (GET /health): the live ones
// (lease not over), how many partitions each owns, and the leader.
SchedulerStatus read_scheduler_status(store::Store& store, const Clock& clock);

}  // namespace baton::scheduler
