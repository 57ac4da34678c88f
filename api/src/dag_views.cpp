// What the routes of DAGs, runs and task instances share (dag_views.h).
#include "dag_views.h"

#include <algorithm>

namespace baton::api {

using nlohmann::json;

json parse_stored(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

Result<store::DagRecord> find_dag(store::Store& s, const std::string& dag_id) {
  auto d = s.get_dag(dag_id);
  if (!d && d.error().code == "not_found") return Error::not_found("no DAG named \"" + dag_id + "\"");
  return d;
}

Result<store::RunRecord> find_run(store::Store& s, const std::string& dag_id, const std::string& run_id) {
  if (auto d = find_dag(s, dag_id); !d) return d.error();
  auto r = s.get_run(dag_id, run_id);
  if (!r && r.error().code == "not_found")
    return Error::not_found("DAG \"" + dag_id + "\" has no run \"" + run_id + "\"");
  return r;
}

Result<std::shared_ptr<const json>> CompiledCache::get(store::Store& s, const std::string& dag_id,
                                                       const std::string& version) {
  std::string key = dag_id + '\n' + version;
  {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return it->second->value;
    }
  }
  auto v = s.get_dag_version(dag_id, version);
  if (!v) return v.error();
  auto parsed = std::make_shared<const json>(json::parse(v->compiled, nullptr, false));
  size_t bytes = v->compiled.size() * kParsedPerTextByte;
  std::lock_guard lock(mu_);
  if (index_.count(key) || bytes > kBudget) return parsed;
  order_.push_front({key, parsed, bytes});
  index_[key] = order_.begin();
  used_ += bytes;
  while (used_ > kBudget) {
    used_ -= order_.back().bytes;
    index_.erase(order_.back().key);
    order_.pop_back();
  }
  return parsed;
}

CompiledCache& compiled_cache() {
  static CompiledCache cache;
  return cache;
}

std::set<std::string> unmapped_tasks(store::Store& s, const store::RunRecord& r) {
  std::set<std::string> out;
  auto v = compiled_cache().get(s, r.dag_id, r.dag_version);
  if (!v || !(*v)->is_object()) return out;
  auto tasks = (*v)->find("tasks");
  if (tasks == (*v)->end() || !tasks->is_object()) return out;
  for (auto& [id, t] : tasks->items())
    if (t.is_object() && !t.contains("foreach")) out.insert(id);
  return out;
}

json grid_cell(std::vector<const store::TaskInstanceRecord*> tis) {
  if (tis.size() > 1)
    tis.erase(std::remove_if(tis.begin(), tis.end(), [](auto* t) { return t->map_index < 0; }), tis.end());
  if (tis.size() == 1 && tis.front()->map_index < 0) return to_string(tis.front()->state);
  static const TaskState kOrder[] = {TaskState::running,  TaskState::up_for_retry, TaskState::queued,
                                     TaskState::waiting,  TaskState::scheduled,    TaskState::failed,
                                     TaskState::upstream_failed, TaskState::pending, TaskState::canceled,
                                     TaskState::skipped,  TaskState::success};
  std::map<TaskState, int> counts;
  for (auto* t : tis) ++counts[t->state];
  json by_state = json::object();
  for (auto& [st, n] : counts) by_state[to_string(st)] = n;
  const char* rolled = to_string(tis.front()->state);
  for (TaskState st : kOrder)
    if (counts.count(st)) {
      rolled = to_string(st);
      break;
    }
  return {{"state", rolled}, {"mapped", tis.size()}, {"counts", by_state}};
}

}  // namespace baton::api
