// QueueChannel: the WorkerChannel of members (shared mode, SPEC §9). A try
// offered goes into the store's queue with the turn's write (rendered here,
// fenced by the partition's epoch); a remote worker claims it over HTTP, and
// what it did (claimed, finished) comes back as worker events, applied here
// in the loop and deleted with the changes they made. A withdrawn try leaves
// the queue, so that its worker's next heartbeat hears it is stale. A try
// whose claim stopped heartbeating for zombie_timeout (or vanished) is lost.
// Loop thread only.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "assignments.h"
#include "baton/core/clock.h"
#include "worker_channel.h"

namespace baton::scheduler {

class Loop;

// What the workers' events do.
class RemoteHost {
 public:
  virtual ~RemoteHost() = default;
  virtual void claimed(ActiveRun& r, int ti, const std::string& worker, TimePoint at) = 0;
  virtual void finished(const executor::Finished& f) = 0;
  virtual void apply(ActiveRun& r, const std::vector<Transition>& ts) = 0;
  virtual void dispatch() = 0;
  virtual void write() = 0;  // the batch so far
};

class QueueChannel final : public WorkerChannel {
 public:
  QueueChannel(store::Store& store, const Clock& clock, Loop& loop, ActiveRuns& runs, RemoteHost& host,
               TryPaths paths, executor::RenderServices render);

  std::optional<std::string> offer(ActiveRun& r, int ti) override;
  void began(ActiveRun&, int) override {}
  void flush() override {}
  void withdraw(const ActiveRun& r, int ti) override;
  std::vector<Lost> lost() override;

  // The events of the owned partitions, applied.
  void drain(const std::set<int>& owned);
  // After a reload: a queued try whose queue row is gone with no report
  // waiting goes back to the ready set. Never queued again under its old
  // token: a row missing because a worker claimed and reported it must not
  // run a second time.
  void requeue_lost(const std::vector<std::pair<long long, int>>& queued);
  // Queued tries carry their run's latest start (slack ordering on).
  void set_slack_order(bool on) { slack_order_ = on; }

 private:
  std::vector<std::pair<long long, int>> lost_among(const std::vector<std::pair<long long, int>>& tis,
                                                    TimePoint cutoff);

  store::Store& store_;
  const Clock& clock_;
  Loop& loop_;
  ActiveRuns& runs_;
  RemoteHost& host_;
  TryPaths paths_;
  executor::RenderServices render_;
  bool slack_order_ = true;
};

}  // namespace baton::scheduler
