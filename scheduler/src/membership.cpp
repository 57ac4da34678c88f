#include "membership.h"

#include <unistd.h>

#include "baton/core/ids.h"
#include "baton/scheduler/partitions.h"
#include "log.h"

namespace baton::scheduler {

Membership::Membership(store::Store& store, const Clock& clock, MembershipOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

Membership::~Membership() = default;

bool Membership::owns(const std::string& dag_id) const {
  return !options_.shared || owned_.count(partition_of(dag_id)) > 0;
}

store::MemberRecord Membership::record() const {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  TimePoint now = clock_.now();
  return store::MemberRecord{options_.member_id, host, static_cast<int>(getpid()), started_, now,
                             now + options_.lease};
}

Status Membership::join() {
  started_ = clock_.now();
  if (options_.shared) {
    auto l = store::hold_member_lock(store_.url(), options_.member_id);
    if (!l) return l.error();
    member_lock_ = std::move(*l);
  }
  if (auto s = store_.heartbeat_member(record()); !s) return s;
  renewed_ = clock_.now();
  if (options_.shared) return {};
  (void)store_.set_leader(options_.member_id);  // the one scheduling process leads itself
  leads_ = true;
  std::vector<std::pair<int, std::optional<std::string>>> all;
  for (int p = 0; p < kPartitions; ++p) all.push_back({p, options_.member_id});
  auto parts = store_.assign_partitions(all, "system");
  if (!parts) return parts.error();
  fences_.clear();
  for (auto& p : *parts)
    if (p.owner == options_.member_id) fences_.push_back({p.partition, p.epoch});
  return {};
}

void Membership::renew() {
  if (renewed_ && clock_.now() - *renewed_ < options_.heartbeat) return;
  if (auto s = store_.heartbeat_member(record()); !s) {
    sched_log()->error("renewing membership: {}", s.error().message);
    return;
  }
  renewed_ = clock_.now();
}

void Membership::tick() {
  renew();
  if (member_lock_ && !member_lock_->check()) member_lock_.reset();
  if (!member_lock_)
    if (auto l = store::hold_member_lock(store_.url(), options_.member_id)) member_lock_ = std::move(*l);
  if (leader_lock_ && !leader_lock_->check()) {
    sched_log()->warn("lost the leader lock");
    leader_lock_.reset();
  }
  if (!leader_lock_) {
    if (auto l = store::try_leader_lock(store_.url(), options_.member_id)) {
      leader_lock_ = std::move(*l);
      sched_log()->info("member {} leads", options_.member_id);
      (void)store_.set_leader(options_.member_id);
    } else {
      break_stale_leader();
    }
  }
  leads_ = leader_lock_ != nullptr;
  if (leader_lock_) {
    assign_partitions();
    // Answered intents are kept an hour (for whoever looks into them), then dropped.
    if (!commands_pruned_ || clock_.now() - *commands_pruned_ > std::chrono::minutes(1)) {
      (void)store_.prune_commands(clock_.now() - std::chrono::hours(1));
      commands_pruned_ = clock_.now();
    }
  }
}

void Membership::leave() {
  if (auto r = store_.remove_member(options_.member_id); !r)
    sched_log()->warn("leaving the members: {}", r.error().message);
  leader_lock_.reset();  // another member leads from its next tick
  leads_ = false;
}

// A leader that is paused or cut off keeps its session, and with it the
// leader lock: once its lease is over, its session is ended, so that a live
// member leads from the next tick (the paused one, when it wakes, finds its
// lock gone and its writes fenced).
void Membership::break_stale_leader() {
  auto leader = store_.get_leader();
  auto members = store_.list_members();
  if (!leader || !*leader || !members) return;
  for (auto& m : *members)
    if (m.member_id == **leader && m.lease_expires_at > clock_.now()) return;  // alive
  sched_log()->warn("leader {} missed its lease: ending its leader lock's session", **leader);
  (void)store_.break_leader_lock(**leader);
}

void Membership::assign_partitions() {
  auto members = store_.list_members();
  auto parts = store_.list_partitions();
  if (!members || !parts) return;
  TimePoint now = clock_.now();
  std::vector<std::string> live;
  for (auto& m : *members) {
    if (m.lease_expires_at <= now) continue;
    // Killed outright: its member lock is gone before its lease is.
    if (auto alive = store_.member_alive(m.member_id); alive && !*alive) continue;
    live.push_back(m.member_id);
  }
  auto want = rendezvous_assignment(kPartitions, live);
  std::map<int, std::optional<std::string>> have;
  for (auto& p : *parts) have[p.partition] = p.owner;
  std::vector<std::pair<int, std::optional<std::string>>> moves;
  for (auto& [p, owner] : want)
    if (!have.count(p) || have[p] != owner) moves.push_back({p, owner});
  if (moves.empty()) return;
  if (auto r = store_.assign_partitions(moves, "system"); !r) {
    sched_log()->error("assigning partitions: {}", r.error().message);
    return;
  }
  sched_log()->info("leader {} moved {} partitions among {} live members", options_.member_id, moves.size(),
                   live.size());
  (void)store_.set_leader(options_.member_id);
}

std::optional<std::vector<store::Fence>> Membership::ownership_changed(bool force) {
  auto parts = store_.list_partitions();
  if (!parts) return std::nullopt;
  std::vector<store::Fence> now_fences;
  for (auto& p : *parts)
    if (p.owner == options_.member_id) now_fences.push_back({p.partition, p.epoch});
  auto same = [&] {
    if (now_fences.size() != fences_.size()) return false;
    for (size_t i = 0; i < fences_.size(); ++i)
      if (fences_[i].partition != now_fences[i].partition || fences_[i].epoch != now_fences[i].epoch) return false;
    return true;
  };
  if (!force && same()) return std::nullopt;
  return now_fences;
}

void Membership::take(std::vector<store::Fence> fences) {
  fences_ = std::move(fences);
  owned_.clear();
  for (auto& f : fences_) owned_.insert(f.partition);
  {
    std::lock_guard lock(owned_mu_);
    owned_copy_.assign(owned_.begin(), owned_.end());
  }
  sched_log()->info("member {} owns {} partitions", options_.member_id, owned_.size());
}

std::vector<int> Membership::owned_snapshot() const {
  std::lock_guard lock(owned_mu_);
  return owned_copy_;
}

// A write refused for a stale epoch. A shared member reads its partitions
// again and reloads them from the store (on a later turn); the one
// scheduling process of standalone was replaced by another, and stops.
void Membership::fenced_out(const Error& e) {
  if (!options_.shared) {
    sched_log()->critical("writing to the store failed: {}", e.message);
    sched_log()->critical("another scheduler owns this scheduler's partitions now: this one stops");
    spdlog::shutdown();
    std::_Exit(70);
  }
  sched_log()->warn("a write was refused: {}; loading the owned partitions again", e.message);
  if (resync_posted_) return;
  resync_posted_ = true;
  if (on_resync_) on_resync_();
}

}  // namespace baton::scheduler
