// Backfills (SPEC §7): the backfill objects this process carries out. A
// backfill is planned interval by interval (create a run, rerun one, or skip
// it and why), written with its cursor, then taken up a few runs at a time
// (its max_active_runs); each of its runs that ends is counted, and the
// backfill ends when every step is taken and every run finished. Backfill
// runs yield to live runs for run places and for workers. Loop thread only.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "baton/core/clock.h"
#include "baton/scheduler/control.h"
#include "dag_registry.h"
#include "fencing.h"

namespace baton::scheduler {

class Loop;

// What a backfill asks of the runs (the run keeper).
class BackfillRuns {
 public:
  virtual ~BackfillRuns() = default;
  virtual void adopt(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
                     const std::vector<store::TaskInstanceRecord>& tis) = 0;
  enum class Rerun { taken, not_ours, retry_later };
  // Clears a finished run's tasks for the backfill; not settled yet.
  virtual Rerun rerun(const store::BackfillRecord& b, const std::string& run_id, const std::vector<std::string>& tasks,
                      long long& pk) = 0;
  virtual void settle(long long run_pk) = 0;
  // Cancels these runs, every one before any of them settles.
  virtual void cancel(const std::vector<long long>& run_pks) = 0;
  virtual bool in_memory(long long run_pk) = 0;
  virtual void dispatch() = 0;
};

class Backfills {
 public:
  Backfills(store::Store& store, const Clock& clock, Loop& loop, DagRegistry& registry, Fencing& fencing,
            BackfillRuns& runs);

  Result<BackfillResult> create(const BackfillRequest& req, const std::string& actor);
  Status cancel(long long id, const std::string& actor);
  // A run ended: if a backfill waits for it, count it and take up more (on a turn of its own).
  void run_ended(long long run_pk, long long backfill_id, bool success);
  // At start and on a gained partition: the running backfills of the owned DAGs.
  void recover();
  // Steps put back after a store error are taken up again on the poll.
  void advance_all();
  void clear() { active_.clear(); }
  // At most this many steps are taken up in one turn; the rest follow on a
  // turn of their own, behind whatever was posted meanwhile (a live
  // trigger waits for at most one such batch per running backfill).
  static constexpr size_t kStepsPerTurn = 64;

  // The plan of a backfill, interval by interval. Only intervals that are
  // over are taken: a backfill does not run the future.
  Result<std::vector<BackfillStep>> plan(const dsl::DagGraph& g, const store::BackfillRecord& b);
  // The instants a backfill's bounds stand for, in the DAG's timezone: a date
  // covers its whole local day.
  static Result<std::pair<TimePoint, TimePoint>> bounds(const dsl::DagGraph& g, const std::string& from,
                                                        const std::string& to);

 private:
  struct Active {
    store::BackfillRecord rec;
    std::vector<BackfillStep> steps;
    size_t next = 0;
    std::set<long long> runs;        // created or rerun, not finished
    std::vector<std::string> tasks;  // a rerun's tasks (empty: per reprocess mode)
    bool advance_posted = false;     // a turn of advance() is queued on the loop
  };
  enum class TakeUp { taken, not_ours, retry_later };
  void advance(Active& bf);
  // One turn of advance() for this backfill, queued unless one is already.
  void post_advance(Active& bf);
  // A rerun step.
  TakeUp take_up(Active& bf, const BackfillStep& step);
  bool create_runs(Active& bf, const std::vector<size_t>& steps);
  void take_up_backfill(const store::BackfillRecord& b);

  store::Store& store_;
  const Clock& clock_;
  Loop& loop_;
  DagRegistry& registry_;
  Fencing& fencing_;
  BackfillRuns& runs_;
  std::map<long long, Active> active_;  // running ones, by id
  bool in_turn_ = false;                // in a turn of advance() (post_advance waits for its end)
  std::vector<long long> deferred_;     // backfills whose next turn is queued at the end of this one
};

}  // namespace baton::scheduler
