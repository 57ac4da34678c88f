// Membership (SPEC §9): this process's member row and lease, the member and
// leader locks, the partition table (the leader assigns the partitions to
// the live members by rendezvous hashing) and the epochs this process holds,
// which fence every write it makes. Standalone is one member that leads
// itself and owns every partition.
//
// Loop thread, except owned_snapshot() (any thread).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "baton/core/clock.h"
#include "fencing.h"

namespace baton::scheduler {

struct MembershipOptions {
  std::string member_id;
  bool shared = false;  // one of many members (PostgreSQL), not standalone
  Duration heartbeat = std::chrono::seconds(1);
  Duration lease = std::chrono::seconds(5);
};

class Membership final : public Fencing {
 public:
  Membership(store::Store& store, const Clock& clock, MembershipOptions options);
  ~Membership() override;

  // Standalone: joins and takes every partition (bumping the epoch of any a
  // previous process held). Shared: joins only (the leader gives it
  // partitions); its member lock dies with the process.
  Status join();
  // Renews the member row once per heartbeat.
  void renew();
  // Shared mode, every poll: renew, lead if the leader lock is free, and
  // while leading give the partitions to the live members (a join or a death
  // moves only what it must) and prune old commands.
  void tick();
  // Leaves the members (stop).
  void leave();

  // The partitions this member owns now, when they differ from the ones it
  // holds (or always with `force`); then take() them, after writing what was
  // done under the old ones.
  std::optional<std::vector<store::Fence>> ownership_changed(bool force);
  void take(std::vector<store::Fence> fences);

  // Fencing.
  const std::vector<store::Fence>& fences() const override { return fences_; }
  bool owns(const std::string& dag_id) const override;
  // Standalone: another process took over, this one stops (exit 70).
  // Shared: `on_resync` is called once until resync_started().
  void fenced_out(const Error& e) override;
  void set_on_resync(std::function<void()> fn) { on_resync_ = std::move(fn); }
  void resync_started() { resync_posted_ = false; }

  bool shared() const { return options_.shared; }
  // Whether this member leads now (standalone: always, once joined); any thread.
  bool leads() const { return leads_.load(); }
  const std::string& member_id() const { return options_.member_id; }
  const std::set<int>& owned() const { return owned_; }
  std::vector<int> owned_snapshot() const;  // any thread

 private:
  store::MemberRecord record() const;
  void break_stale_leader();
  void assign_partitions();

  store::Store& store_;
  const Clock& clock_;
  MembershipOptions options_;
  std::vector<store::Fence> fences_;
  std::set<int> owned_;  // shared mode: mirrors fences_
  TimePoint started_{};
  std::optional<TimePoint> renewed_;
  std::unique_ptr<store::SchedulingLock> leader_lock_;
  std::unique_ptr<store::SchedulingLock> member_lock_;  // dies with the process: seen dead at once
  std::optional<TimePoint> commands_pruned_;
  std::atomic<bool> leads_{false};
  std::function<void()> on_resync_;
  bool resync_posted_ = false;
  mutable std::mutex owned_mu_;
  std::vector<int> owned_copy_;  // guarded by owned_mu_
};

}  // namespace baton::scheduler
