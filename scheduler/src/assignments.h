// What a try is handed out with: the Assignment a local worker or a poker
// gets, the values its templates see (SPEC §3), and the payload a remote
// worker claims from the queue. Pure functions of the run in memory, on the
// loop thread.
#pragma once

#include <string>

#include "active_runs.h"
#include "baton/executor/assignment.h"

namespace baton::scheduler {

struct TryPaths {
  std::string logs_dir;  // absolute
  Duration heartbeat_interval = std::chrono::seconds(5);
  Duration zombie_timeout = std::chrono::seconds(60);
};

// The values a task instance's templates see. Outputs are copied only of
// the tasks its templates read (the compiler found them, all ancestors): a
// foreach task's is the list of its mapped instances' outputs, by map_index
// (null where one has none).
dsl::RenderContext render_context(const ActiveRun& r, int ti, int try_number);
// What a worker needs for a try of task instance `ti` (templates not rendered yet).
executor::Assignment make_assignment(const ActiveRun& r, int ti, const TryPaths& paths);
// The queue row's payload for a remote worker: the try rendered here (or
// the reason it cannot be), as JSON.
std::string remote_payload(const ActiveRun& r, int ti, const TryPaths& paths, const executor::RenderServices& services);

}  // namespace baton::scheduler
