// ActiveRuns: the runs of the owned partitions that are not finished (and a
// finished run brought back for a moment by a clear or a mark). Each keeps its
// record, its graph, its RunEngine and its task instance records, index for
// index with the engine's instances. Plain data with its indexes: no I/O, no
// decisions. Loop thread only.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "baton/dsl/dag.h"
#include "baton/scheduler/run_engine.h"
#include "baton/store/store.h"

namespace baton::scheduler {

struct ActiveRun {
  store::RunRecord rec;
  dsl::DagGraphPtr graph;
  std::unique_ptr<RunEngine> engine;
  std::vector<store::TaskInstanceRecord> tis;  // index = task instance index of the engine
  // Milliseconds from the run's expected end to its SLA deadline, as the
  // dispatcher's order reads it (Forecaster; kNoSlack: no SLA).
  long long slack = kNoSlack;
  static constexpr long long kNoSlack = 1LL << 62;
};

// 0001-01-01: before every schedule's first tick.
inline const TimePoint kMinInstant{Duration(-62135596800LL * 1000000)};

// Task types the scheduler carries out itself, with no worker: sensors (the
// pokers) and trigger_dag (the loop).
bool loop_task(dsl::TaskType t);
bool is_foreach(const dsl::TaskSpec& t);
bool has_depends_on_past(const dsl::DagGraph& g);
// The task of task instance `ti` (a mapped instance's is its foreach task).
const dsl::TaskSpec& spec_of(const ActiveRun& r, int ti);
// Where a try's log is, under the logs folder: DAG/RUN/TASK/TRY.log, and
// DAG/RUN/TASK/MAP_INDEX/TRY.log for a mapped instance.
std::string log_rel(const ActiveRun& r, const store::TaskInstanceRecord& rec, int try_number);
// The records of a new run's task instances (one per task, not mapped).
store::TaskInstanceRecord task_instance_for(const dsl::TaskSpec& t);
std::vector<store::TaskInstanceRecord> task_instances_for(const dsl::DagGraph& g);

class ActiveRuns {
 public:
  ActiveRun& add(ActiveRun a);
  void drop(long long pk);
  void clear();

  ActiveRun* find(long long pk);
  ActiveRun* find(const std::string& dag_id, const std::string& run_id);
  // A DAG's runs, oldest logical date first.
  std::vector<ActiveRun*> of_dag(const std::string& dag_id);
  // The DAG's run with the next logical date after `logical_date` (µs).
  ActiveRun* after(const std::string& dag_id, long long logical_date);
  // Runs not started or running, a backfill's not counted (they yield to
  // the schedule's catchup, not the other way round).
  int unfinished(const std::string& dag_id) const;
  // Runs that are running (not queued): a DAG's max_active_runs.
  int running(const std::string& dag_id) const;

  std::map<long long, ActiveRun>& all() { return runs_; }
  size_t size() const { return runs_.size(); }
  // Running task instances (run pk, index): the zombie checks' scan.
  std::set<std::pair<long long, int>>& running_tis() { return running_tis_; }

 private:
  std::map<long long, ActiveRun> runs_;
  // By DAG, ordered by (logical date, pk).
  std::map<std::string, std::set<std::pair<long long, long long>>> by_dag_;
  std::set<std::pair<long long, int>> running_tis_;
};

}  // namespace baton::scheduler
