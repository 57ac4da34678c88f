// Forecaster (SPEC §7, run-time forecasts): the duration history of every
// task (the last 50 successful tries, from the store at start and written
// with each success), each run's expected end (the longest remaining path
// through its unfinished tasks, each at its p90) and its SLA deadline, the
// runs at risk of missing it (recorded once per run, before the deadline,
// and marked recovered), and the watch over running tries: `slow` past
// max(2 × p90, p90 + 1 min) with at least 5 earlier successes, `stuck` with
// no log byte, checkpoint or progress for the task's stuck_after. What it
// finds goes in the loop's next write, with its notifications. The
// dispatcher reads each run's slack (ActiveRun::slack) to order tries.
// Loop thread only.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "active_runs.h"
#include "baton/core/clock.h"
#include "baton/core/forecast.h"
#include "baton/scheduler/control.h"

namespace baton::scheduler {

class Loop;

// What the forecaster asks of the rest of the scheduler.
class ForecastHost {
 public:
  virtual ~ForecastHost() = default;
  // The run's slack changed: its ready tries take their new place.
  virtual void slack_changed(ActiveRun& r, long long old_slack) = 0;
  // A stuck try of a task with on_stuck: fail — failed (reason stuck) and
  // retried under its policy.
  virtual void fail_stuck(ActiveRun& r, int ti) = 0;
  // The try runs on a remote worker (its activity is in the store).
  virtual bool runs_remote(const ActiveRun& r, int ti) const = 0;
};

// A run's expected end as a function of the time t: max(c, t + d). c is
// what is already fixed (running tries at their p90), d what is still to
// begin; kNever for c when nothing is fixed.
struct EndCurve {
  static constexpr long long kNever = -(1LL << 62);
  long long c = kNever;  // µs since the epoch
  long long d = 0;       // µs
  long long at(long long t) const { return std::max(c, t + d); }
};

class Forecaster {
 public:
  Forecaster(store::Store& store, const Clock& clock, Loop& loop, ActiveRuns& runs, ForecastHost& host);

  // Forgets the histories read (at start and on a reload): each DAG's are
  // read from the store when one of its runs first needs them.
  void load();
  // Forgets the timers and the runs' states (a reload recovers them).
  void clear();

  // A run came into memory, or started: with an SLA, its deadline and
  // forecast before its tries are ready (their order reads its slack);
  // without, its forecast goes with the turn's write.
  void run_adopted(ActiveRun& r);
  void run_started(ActiveRun& r);
  void run_ended(const ActiveRun& r);
  // A task instance moved: a success of a try joins the history, and the
  // run's forecast is made again before the turn's write.
  // `reported`: by a worker's (or the loop's own) report of the try.
  void task_moved(ActiveRun& r, int ti, TaskState from, TaskState to, bool reported);
  // A try began: its slow and stuck checks are armed.
  void try_began(const ActiveRun& r, int ti, int try_number);
  // Before the turn's write: the forecasts of the runs that moved. Before a
  // dispatch (`sla_only`): those of the runs with an SLA, whose slack the
  // order reads (the others wait for the write: a wide run's forecast is
  // not made again at every one of its tasks' ends).
  void settle(bool sla_only = false);

  std::optional<TimePoint> next_due() const;
  void wake(TimePoint now);

  // The history of a task (nullptr: none).
  const std::vector<double>* history(const std::string& dag_id, const std::string& task_id) const;
  // The run's expected end now, if every unfinished task has a history.
  std::optional<EndCurve> curve(const ActiveRun& r) const;
  void metrics(SchedulerMetrics& out) const;

 private:
  struct History {
    std::vector<double> newest_first;  // seconds, at most kDurationHistory
    long long seq = 0;                 // of the newest
    DurationStats stats;
  };
  struct Check {
    enum Kind { risk, slow, stuck } kind;
    long long run_pk = 0;
    int ti = -1;
    int try_number = 0;
  };
  using DagHistories = std::map<std::string, History>;  // task -> history
  DagHistories* histories_of(const std::string& dag_id);  // read on first use; nullptr: the store failed
  History* find(const std::string& dag_id, const std::string& task_id);
  const History* find(const std::string& dag_id, const std::string& task_id) const;
  // A task's p90 in µs, or nullopt without history (a noop is 0).
  std::optional<long long> p90_of(const ActiveRun& r, int ti) const;
  void forecast(ActiveRun& r);
  void now_or_at_write(ActiveRun& r);
  void record_risk(const ActiveRun& r, bool at_risk, TimePoint expected_end);
  void check_slow(const Check& c);
  void check_stuck(const Check& c, TimePoint now);
  void flag(ActiveRun& r, int ti, const std::string& flag, const std::string& event, nlohmann::json details);

  store::Store& store_;
  const Clock& clock_;
  Loop& loop_;
  ActiveRuns& runs_;
  ForecastHost& host_;
  std::unordered_map<std::string, DagHistories> histories_;  // DAG -> its tasks' histories
  std::multimap<TimePoint, Check> due_;
  std::set<long long> dirty_;      // runs whose forecast is to be made again
  std::set<long long> dirty_sla_;  // those of them with an SLA (made again before a dispatch)
  std::set<long long> at_risk_;  // runs at risk now (recorded, not recovered)
  std::map<long long, TimePoint> risk_due_;  // run -> its one pending risk check
  long long risks_detected_ = 0, slow_flagged_ = 0, stuck_flagged_ = 0;
};

}  // namespace baton::scheduler
