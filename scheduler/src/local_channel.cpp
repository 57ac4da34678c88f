#include "local_channel.h"

#include "baton/core/duration.h"

namespace baton::scheduler {

LocalChannel::LocalChannel(const Clock& clock, ActiveRuns& runs, executor::LocalWorkers& workers,
                           std::string member_id, TryPaths paths)
    : clock_(clock), runs_(runs), workers_(workers), member_id_(std::move(member_id)), paths_(std::move(paths)) {}

std::optional<std::string> LocalChannel::offer(ActiveRun& r, int ti) {
  // A kill before a worker thread picks the try up is seen when it does.
  workers_.expect(r.tis[static_cast<size_t>(ti)].id);
  return member_id_ + "/local";
}

void LocalChannel::began(ActiveRun& r, int ti) { handoff_.push_back(make_assignment(r, ti, paths_)); }

void LocalChannel::flush() {
  if (handoff_.empty()) return;
  std::vector<executor::Assignment> out;
  out.swap(handoff_);
  workers_.hand(std::move(out));
}

void LocalChannel::withdraw(const ActiveRun& r, int ti) { workers_.kill(r.tis[static_cast<size_t>(ti)].id); }

// The safety net for workers that stop heartbeating without dying
// (SPEC §5): checked on every poll, over the running tries only.
std::vector<WorkerChannel::Lost> LocalChannel::lost() {
  TimePoint cutoff = clock_.now() - paths_.zombie_timeout;
  std::vector<Lost> out;
  for (auto& [pk, ti] : runs_.running_tis()) {
    ActiveRun* r = runs_.find(pk);
    if (!r) continue;
    const auto& rec = r->tis[static_cast<size_t>(ti)];
    if (loop_task(spec_of(*r, ti).type)) continue;  // poked or watched here, not on a worker
    if (rec.heartbeat_at && *rec.heartbeat_at < cutoff)
      out.push_back({pk, ti, "no heartbeat for " + format_duration(paths_.zombie_timeout)});
  }
  return out;
}

}  // namespace baton::scheduler
