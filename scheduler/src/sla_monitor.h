// SlaMonitor (SPEC §7): the SLA deadlines of the owned runs (run_deadline,
// run_duration, task_duration), armed as runs and tries start, and checked
// when they pass. A miss, with its on_sla_miss notifications, goes in the
// loop's next write, once per (run, task, kind). Backfill runs have no SLA:
// their intervals are long past by design. Loop thread only.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "active_runs.h"
#include "baton/core/clock.h"
#include "dag_registry.h"
#include "fencing.h"

namespace baton::scheduler {

class Loop;

class SlaMonitor {
 public:
  SlaMonitor(store::Store& store, const Clock& clock, Loop& loop, ActiveRuns& runs, DagRegistry& registry);

  // run_deadline: the run must succeed by data_interval_end + D.
  void run_adopted(const ActiveRun& r);
  // run_duration, from the run's start (now, or when it started before a restart).
  void run_started(const ActiveRun& r, TimePoint started_at);
  // task_duration of one try.
  void try_began(const ActiveRun& r, int ti, int try_number, TimePoint now);
  // At start: runs that ended without success keep their run SLAs (the run
  // still has not succeeded when the deadline passes) but are not in memory;
  // the newest of them are checked again (recording is idempotent).
  void arm_finished(const Fencing& fencing);
  void clear() { due_.clear(); }

  std::optional<TimePoint> next_due() const;
  void wake(TimePoint now);
  long long detected() const { return detected_; }

 private:
  struct Check {
    std::string kind;  // run_deadline, run_duration, task_duration
    std::string dag_id, run_id;
    long long run_pk = 0;
    int ti = -1;  // task_duration: the task instance and its try
    int try_number = 0;
    TimePoint deadline{};
  };
  void check(const Check& c);

  store::Store& store_;
  const Clock& clock_;
  Loop& loop_;
  ActiveRuns& runs_;
  DagRegistry& registry_;
  std::multimap<TimePoint, Check> due_;
  std::set<std::tuple<long long, std::string, std::string>> seen_;  // (run pk, task, kind) detected
  long long detected_ = 0;
};

}  // namespace baton::scheduler
