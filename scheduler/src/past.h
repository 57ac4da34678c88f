// PastTracker: depends_on_past (SPEC §4). A task that depends on its past is
// held until the same task of the DAG's previous run (the latest with an
// earlier logical date, any type) succeeded or was skipped. Whenever such a
// task of a run changes, the run after it looks at its past again, after the
// turn's write (the previous run's states are read from the store). Loop
// thread only.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "active_runs.h"

namespace baton::scheduler {

class Loop;

class PastTracker {
 public:
  using Apply = std::function<void(ActiveRun&, const std::vector<Transition>&)>;
  PastTracker(store::Store& store, Loop& loop, ActiveRuns& runs, Apply apply);

  // A depends_on_past task of the DAG's run at `logical_date` (µs) changed,
  // or a run came in there: the next run looks again.
  void changed(const std::string& dag_id, long long logical_date) { changed_.insert({dag_id, logical_date}); }
  bool pending() const { return !changed_.empty(); }
  // Gives each depends_on_past task of the run what holds it (no previous
  // run, or one without the task, holds nothing).
  void refresh(ActiveRun& r);
  // The runs after the changed ones; true when a task instance changed.
  bool refresh_changed();
  // Pasts that could not be read (the store was unavailable) are looked at again.
  void retry_unreadable() { changed_.merge(retry_); }
  void clear() {
    changed_.clear();
    retry_.clear();
  }

 private:
  store::Store& store_;
  Loop& loop_;
  ActiveRuns& runs_;
  Apply apply_;
  std::set<std::pair<std::string, long long>> changed_;
  std::set<std::pair<std::string, long long>> retry_;
};

}  // namespace baton::scheduler
