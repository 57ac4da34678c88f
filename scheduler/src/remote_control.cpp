#include "baton/scheduler/remote_control.h"

#include <chrono>
#include <map>
#include <thread>

#include "baton/core/duration.h"
#include "baton/core/ids.h"
#include "commands.h"

namespace baton::scheduler {

RemoteControl::RemoteControl(store::Store& store, const Clock& clock, Control* local, std::string logs_dir,
                             Duration timeout)
    : store_(store), clock_(clock), local_(local), logs_dir_(std::move(logs_dir)), timeout_(timeout) {}

Result<store::CommandRecord> RemoteControl::call(const std::string& kind, const std::string& dag_id,
                                                 std::string payload, const std::string& actor) {
  store::CommandRecord c;
  c.kind = kind;
  c.dag_id = dag_id;
  c.partition = partition_of(dag_id);
  c.payload = std::move(payload);
  c.created_by = actor;
  auto id = store_.enqueue_command(c);
  if (!id) return id.error();
  // The owner answers within milliseconds when it is alive: look often at
  // first, then every 50 ms. Steady time: the store's clock may be a fake.
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    auto got = store_.get_command(*id);
    if (!got) return got.error();
    if (got->processed_at) return *got;
    if (std::chrono::steady_clock::now() >= deadline) {
      // Given up for good, so that it does not happen later behind the caller's back.
      auto expired = store_.expire_command(*id);
      if (expired && !*expired) continue;  // answered just now: read it
      return Error{"unavailable", "no scheduler member carried out the " + kind + " of DAG " + dag_id + " within " +
                                      format_duration(timeout_) + " (is a baton scheduler or server running?)"};
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

Result<TriggerResult> RemoteControl::trigger(const std::string& dag_id, const TriggerRequest& request,
                                             const std::string& actor) {
  auto c = call("trigger", dag_id, commands::encode_trigger(request), actor);
  if (!c) return c.error();
  return commands::trigger_of(*c);
}

Status RemoteControl::cancel_run(const std::string& dag_id, const std::string& run_id, const std::string& actor) {
  auto c = call("cancel_run", dag_id, commands::encode_run(run_id), actor);
  if (!c) return c.error();
  return commands::status_of(*c);
}

Status RemoteControl::clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                                 bool downstream, bool latest_version, const std::string& actor) {
  auto c = call("clear_task", dag_id, commands::encode_clear(run_id, task_id, downstream, latest_version), actor);
  if (!c) return c.error();
  return commands::status_of(*c);
}

Status RemoteControl::mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                                TaskState to, const std::string& actor) {
  auto c = call("mark_task", dag_id, commands::encode_mark(run_id, task_id, to), actor);
  if (!c) return c.error();
  return commands::status_of(*c);
}

Status RemoteControl::set_paused(const std::string& dag_id, bool paused, const std::string& actor) {
  auto c = call("set_paused", dag_id, commands::encode_paused(paused), actor);
  if (!c) return c.error();
  return commands::status_of(*c);
}

Result<BackfillResult> RemoteControl::create_backfill(const BackfillRequest& request, const std::string& actor) {
  auto c = call("create_backfill", request.dag_id, commands::encode_backfill(request), actor);
  if (!c) return c.error();
  return commands::backfill_of(*c);
}

Status RemoteControl::cancel_backfill(long long id, const std::string& actor) {
  auto b = store_.get_backfill(id);
  if (!b) return b.error();
  auto c = call("cancel_backfill", b->dag_id, commands::encode_backfill_id(id), actor);
  if (!c) return c.error();
  return commands::status_of(*c);
}

Result<std::vector<std::string>> RemoteControl::waiting_for(const std::string& dag_id, const std::string& run_id,
                                                            const std::string& task_id, int map_index) {
  auto c = call("waiting_for", dag_id, commands::encode_waiting_for(run_id, task_id, map_index), "system");
  if (!c) return c.error();
  return commands::reasons_of(*c);
}

SchedulerStatus RemoteControl::status() {
  SchedulerStatus s = read_scheduler_status(store_, clock_);
  s.running = !s.members.empty();
  return s;
}

Result<SchedulerMetrics> RemoteControl::metrics() {
  if (local_) return local_->metrics();
  return SchedulerMetrics{};
}

std::string RemoteControl::logs_dir() const { return logs_dir_; }

SchedulerStatus read_scheduler_status(store::Store& store, const Clock& clock) {
  SchedulerStatus s;
  auto members = store.list_members();
  auto parts = store.list_partitions();
  std::map<std::string, int> owned;
  if (parts)
    for (auto& p : *parts) {
      if (p.owner) ++owned[*p.owner];
      s.partitions.push_back({p.partition, p.owner.value_or(""), p.epoch});
    }
  TimePoint now = clock.now();
  if (members)
    for (auto& mem : *members)
      if (mem.lease_expires_at > now) s.members.push_back({mem.member_id, mem.heartbeat_at, owned[mem.member_id]});
  // The leader, as long as it is a live member.
  if (auto leader = store.get_leader(); leader && *leader)
    for (auto& m : s.members)
      if (m.id == **leader) s.leader = m.id;
  return s;
}

}  // namespace baton::scheduler
