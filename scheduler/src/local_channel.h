// LocalChannel: the WorkerChannel of standalone. The process's own worker
// slots (executor::LocalWorkers) claim a try the moment the dispatcher offers
// it (the dispatcher counts the free slots), and get what they need after the
// turn's write; a withdrawn try's process is killed; a try whose worker
// stopped heartbeating for zombie_timeout is lost. Loop thread only.
#pragma once

#include <string>
#include <vector>

#include "assignments.h"
#include "baton/core/clock.h"
#include "baton/executor/local_workers.h"
#include "worker_channel.h"

namespace baton::scheduler {

class LocalChannel final : public WorkerChannel {
 public:
  LocalChannel(const Clock& clock, ActiveRuns& runs, executor::LocalWorkers& workers, std::string member_id,
               TryPaths paths);

  std::optional<std::string> offer(ActiveRun& r, int ti) override;
  void began(ActiveRun& r, int ti) override;
  void flush() override;
  void withdraw(const ActiveRun& r, int ti) override;
  std::vector<Lost> lost() override;

 private:
  const Clock& clock_;
  ActiveRuns& runs_;
  executor::LocalWorkers& workers_;
  std::string member_id_;
  TryPaths paths_;
  std::vector<executor::Assignment> handoff_;
};

}  // namespace baton::scheduler
