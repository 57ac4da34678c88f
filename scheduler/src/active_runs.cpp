#include "active_runs.h"

#include <algorithm>
#include <limits>

namespace baton::scheduler {

bool loop_task(dsl::TaskType t) { return dsl::is_sensor(t) || t == dsl::TaskType::trigger_dag; }

bool is_foreach(const dsl::TaskSpec& t) { return t.foreach_json || t.foreach_template; }

bool has_depends_on_past(const dsl::DagGraph& g) {
  const auto& tasks = g.spec().tasks;
  return std::any_of(tasks.begin(), tasks.end(), [](const dsl::TaskSpec& t) { return t.depends_on_past; });
}

const dsl::TaskSpec& spec_of(const ActiveRun& r, int ti) {
  return r.graph->spec().tasks[static_cast<size_t>(r.engine->instances()[static_cast<size_t>(ti)].task)];
}

std::string log_rel(const ActiveRun& r, const store::TaskInstanceRecord& rec, int try_number) {
  std::string dir = r.rec.dag_id + "/" + r.rec.run_id + "/" + rec.task_id;
  if (rec.map_index >= 0) dir += "/" + std::to_string(rec.map_index);
  return dir + "/" + std::to_string(try_number) + ".log";
}

store::TaskInstanceRecord task_instance_for(const dsl::TaskSpec& t) {
  store::TaskInstanceRecord r;
  r.task_id = t.id;
  r.max_tries = t.retries + 1;
  r.queue = t.queue;
  r.pool = t.pool;
  r.pool_slots = t.pool_slots;
  r.priority = t.priority;
  return r;
}

std::vector<store::TaskInstanceRecord> task_instances_for(const dsl::DagGraph& g) {
  std::vector<store::TaskInstanceRecord> out;
  for (auto& t : g.spec().tasks) out.push_back(task_instance_for(t));
  return out;
}

ActiveRun& ActiveRuns::add(ActiveRun a) {
  long long pk = a.rec.pk;
  by_dag_[a.rec.dag_id].insert({a.rec.logical_date.time_since_epoch().count(), pk});
  return runs_.emplace(pk, std::move(a)).first->second;
}

void ActiveRuns::drop(long long pk) {
  auto it = runs_.find(pk);
  if (it == runs_.end()) return;
  auto d = by_dag_.find(it->second.rec.dag_id);
  if (d != by_dag_.end()) {
    d->second.erase({it->second.rec.logical_date.time_since_epoch().count(), pk});
    if (d->second.empty()) by_dag_.erase(d);
  }
  runs_.erase(it);
}

void ActiveRuns::clear() {
  runs_.clear();
  by_dag_.clear();
  running_tis_.clear();
}

ActiveRun* ActiveRuns::find(long long pk) {
  auto it = runs_.find(pk);
  return it == runs_.end() ? nullptr : &it->second;
}

ActiveRun* ActiveRuns::find(const std::string& dag_id, const std::string& run_id) {
  auto d = by_dag_.find(dag_id);
  if (d == by_dag_.end()) return nullptr;
  for (auto& [_, pk] : d->second) {
    ActiveRun& r = runs_.at(pk);
    if (r.rec.run_id == run_id) return &r;
  }
  return nullptr;
}

std::vector<ActiveRun*> ActiveRuns::of_dag(const std::string& dag_id) {
  std::vector<ActiveRun*> out;
  if (auto d = by_dag_.find(dag_id); d != by_dag_.end())
    for (auto& [_, pk] : d->second) out.push_back(&runs_.at(pk));
  return out;
}

ActiveRun* ActiveRuns::after(const std::string& dag_id, long long logical_date) {
  auto d = by_dag_.find(dag_id);
  if (d == by_dag_.end()) return nullptr;
  auto next = d->second.upper_bound({logical_date, std::numeric_limits<long long>::max()});
  if (next == d->second.end()) return nullptr;
  return find(next->second);
}

int ActiveRuns::unfinished(const std::string& dag_id) const {
  auto it = by_dag_.find(dag_id);
  if (it == by_dag_.end()) return 0;
  int n = 0;
  for (auto& [_, pk] : it->second) n += runs_.at(pk).rec.backfill_id ? 0 : 1;
  return n;
}

int ActiveRuns::running(const std::string& dag_id) const {
  auto it = by_dag_.find(dag_id);
  if (it == by_dag_.end()) return 0;
  int n = 0;
  for (auto& [_, pk] : it->second) n += runs_.at(pk).engine->state() == RunState::running;
  return n;
}

}  // namespace baton::scheduler
