// WorkerChannel: the one way a try reaches a worker (DESIGN.md "The
// scheduler, in named parts"). The dispatcher offers a queued try; a worker
// claims it (then it begins: running), heartbeats it and reports its end; a
// try that ends here (canceled, marked, lost) is withdrawn from its worker.
// Both implementations take tries through the same states and the same code
// of the dispatcher and the run keeper:
// - LocalChannel (standalone): the process's own worker slots claim a try
//   the moment it is offered, and get it after the turn's write;
// - QueueChannel (members): the try is a row of the store's queue, written
//   with the turn; a remote worker claims it over HTTP, and its claim and
//   report come back as worker events.
// Loop thread only.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "active_runs.h"

namespace baton::scheduler {

class WorkerChannel {
 public:
  virtual ~WorkerChannel() = default;
  // A queued try is offered: the worker that claimed it at once (it begins
  // now), or nullopt when a worker claims it later.
  virtual std::optional<std::string> offer(ActiveRun& r, int ti) = 0;
  // A claimed try began: what its worker needs goes out after the turn's write.
  virtual void began(ActiveRun& r, int ti) = 0;
  // After the turn's write.
  virtual void flush() = 0;
  // The try ended here while a worker may hold it: the worker stops it (its
  // late report is refused by its attempt token).
  virtual void withdraw(const ActiveRun& r, int ti) = 0;
  // Running tries whose workers stopped heartbeating: (run pk, index, why).
  struct Lost {
    long long run_pk;
    int ti;
    std::string why;
  };
  virtual std::vector<Lost> lost() = 0;
};

}  // namespace baton::scheduler
