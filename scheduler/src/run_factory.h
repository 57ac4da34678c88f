// RunFactory: where runs come from (SPEC §4, §6). The timetables of cron and
// `every` schedules (catchup, or only the latest interval; a wake-up when the
// next interval completes), manual triggers, and dataset-scheduled runs (a
// run when each of the DAG's URIs has an event it has not consumed; the
// cursors move with the run). A run it makes is handed to a RunSink.
// Loop thread only.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/clock.h"
#include "baton/scheduler/control.h"
#include "dag_registry.h"
#include "fencing.h"

namespace baton::scheduler {

class Loop;

// The params of a run being made (SPEC §3): `params_json` (the DAG's
// defaults, the trigger's values over them) with each default that holds a
// template, and that the trigger did not set (`given`), rendered as text in
// the run's context (r: its ids, logical date and data interval; var.NAME
// from the store). An error names the param.
Result<std::string> run_params(store::Store& store, const dsl::DagGraph& g, const store::RunRecord& r,
                               const std::string& params_json, const std::vector<std::string>& given = {});

// Where new runs go (the run keeper).
class RunSink {
 public:
  virtual ~RunSink() = default;
  // Takes a run just made into memory, and starts it if the DAG allows.
  virtual void adopt(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
                     const std::vector<store::TaskInstanceRecord>& tis) = 0;
  virtual int unfinished_runs(const std::string& dag_id) = 0;
  virtual void dispatch() = 0;
};

class RunFactory {
 public:
  RunFactory(store::Store& store, const Clock& clock, Loop& loop, DagRegistry& registry, Fencing& fencing,
             RunSink& sink);

  // The last interval with a run (the store's last_tick).
  void set_last_tick(const std::string& dag_id, std::optional<TimePoint> tick);
  // Forgets every armed wake-up (a reload plans again).
  void reset();
  // Creates the runs a DAG's schedule owes and arms the time its next
  // interval completes.
  void plan(DagEntry& d);
  void plan_all();
  // The earliest armed wake-up; plans the DAGs whose time came (only
  // those: the wake-ups are kept in time order, and a turn pops the due ones).
  std::optional<TimePoint> next_due() const;
  // When the next run should be built ahead of its wake-up (kAhead before
  // it), if one is armed that was not built yet.
  std::optional<TimePoint> next_build() const;
  // Plans the DAGs whose time came, then builds the records of the runs due
  // within kAhead (build_ahead).
  void wake(TimePoint now);
  // How far ahead of its wake-up a scheduled run's record is built.
  static constexpr Duration kAhead = std::chrono::seconds(1);
  // The scheduled runs planned since the last call, made in the store in
  // one transaction and handed to the sink (the turn's end calls it, before
  // the turn's write). True when a run was adopted (dispatch).
  bool commit_runs();
  // Work counters (tests): DAGs planned, and store transactions that made
  // scheduled runs, since start.
  long long plans() const { return plans_; }
  // Runs whose record was built ahead of its wake-up, and used (tests).
  long long built_ahead() const { return built_ahead_; }
  long long run_commits() const { return run_commits_; }

  // A manual run, now: Scheduler::trigger, and trigger_dag tasks.
  Result<TriggerResult> trigger(const std::string& dag_id, const TriggerRequest& req, const std::string& actor);
  // Manual runs asked for together (API triggers queued while the loop was
  // busy), made in one transaction; an answer each, in order. A trigger
  // never fails for another's sake, except when the store fails them all.
  struct Trigger {
    std::string dag_id;
    TriggerRequest req;
    std::string actor;
  };
  std::vector<Result<TriggerResult>> trigger_all(const std::vector<Trigger>& triggers);
  // Triggers answered and transactions that made them, since start (tests).
  long long trigger_commits() const { return trigger_commits_; }

  // Datasets: a hint that events came (a producing task succeeded, the API
  // posted one, a DAG was unpaused) asks for a check after the next write;
  // the poll checks whenever the newest event id changed.
  // Tests: where the random suffixes of manual and dataset run ids come
  // from (default: 8 random hex digits).
  void set_run_id_suffixes(std::function<std::string()> next) { suffixes_ = std::move(next); }

  void datasets_changed() { datasets_dirty_ = true; }
  bool take_datasets_dirty();
  void forget_datasets_seen() { datasets_seen_ = -1; }
  void poll_datasets();
  void check_datasets();

 private:
  // A scheduled run's record built before its wake-up, for the interval
  // [start, end) of this version of the DAG.
  struct Ahead {
    dsl::DagGraphPtr graph;
    TimePoint start, end;
    store::RunStore::NewRun run;
  };
  struct Timetable {
    std::optional<TimePoint> last_tick;
    std::optional<TimePoint> next_due;  // the armed wake-up, if any
    std::optional<Ahead> ahead;
  };
  // The record of the scheduled run of [start, end) of this DAG's version.
  store::RunStore::NewRun scheduled_run(const DagEntry& d, TimePoint start, TimePoint end);
  // Builds the records of the runs of the wake-ups armed up to now + kAhead,
  // so that their minute only queues them: 10,000 DAGs of the same minute
  // are planned in the second before it. A DAG whose params hold a template
  // is left to its minute (a template reads variables when the run is made).
  void build_ahead(TimePoint now);
  // Queues the run of an interval for commit_runs (the timetable moves on
  // at once; back again if the run cannot be made).
  bool create_scheduled_run(DagEntry& d, Timetable& t, TimePoint start, TimePoint end);
  int unfinished(const std::string& dag_id);
  void create_dataset_run(DagEntry& d, std::vector<store::DatasetEvent> events);
  // A trigger checked and its run built (params rendered, id drawn), or
  // its answer already (an error, or the run a known key made).
  struct Prepared {
    std::optional<Result<TriggerResult>> answer;
    store::RunStore::NewRun run;
    dsl::DagGraphPtr graph;
  };
  Prepared prepare_trigger(const Trigger& t);
  // The id of a manual or dataset run: type, logical date, a random suffix.
  std::string named_run_id(const store::RunRecord& r);
  // create_run of a manual or dataset run, whose id ends in a random suffix:
  // drawn again when another run of the DAG has that id already.
  Result<store::RunStore::Created> create_named_run(store::RunRecord& r,
                                                    const std::vector<store::TaskInstanceRecord>& tis,
                                                    const std::string& actor,
                                                    const std::vector<store::DatasetCursor>& cursors = {});

  store::Store& store_;
  const Clock& clock_;
  Loop& loop_;
  DagRegistry& registry_;
  Fencing& fencing_;
  RunSink& sink_;
  std::map<std::string, Timetable> timetables_;
  std::multimap<TimePoint, std::string> due_;  // when a DAG's next interval completes
  TimePoint built_through_ = TimePoint::min();  // the wake-ups up to here were built ahead
  struct Fire {
    std::string dag_id;
    dsl::DagGraphPtr graph;
    std::optional<TimePoint> last_tick_before;
    TimePoint start;
  };
  std::vector<Fire> fires_;  // runs planned, not made yet (commit_runs)
  std::vector<store::RunStore::NewRun> fire_runs_;
  std::map<std::string, int> fires_per_dag_;
  long long plans_ = 0, run_commits_ = 0, trigger_commits_ = 0, built_ahead_ = 0;
  bool datasets_dirty_ = false;
  std::function<std::string()> suffixes_;
  long long datasets_seen_ = -1;
};

}  // namespace baton::scheduler
