#include "dag_registry.h"

#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "baton/core/ids.h"
#include "baton/dsl/dag_folder.h"
#include "git_state.h"
#include "log.h"

namespace baton::scheduler {

using nlohmann::json;

DagRegistry::DagRegistry(store::Store& store, std::string dags_dir) : store_(store), dags_dir_(std::move(dags_dir)) {}

void DagRegistry::load_known(const std::vector<store::DagRecord>& list) {
  for (auto& d : list) {
    if (!d.current_version) continue;
    auto g = graph_of(d.dag_id, *d.current_version);
    if (!g) continue;
    DagEntry& e = dags_[d.dag_id];
    e.dag_id = d.dag_id;
    e.file = d.file;
    e.graph = g;
    e.paused = d.paused;
    e.active = d.active;
  }
}

void DagRegistry::scan(bool first) {
  auto files = dsl::find_dag_files({dags_dir_});
  if (!files) {
    if (first) sched_log()->warn("DAGs folder: {}", files.error().message);
    return;
  }
  std::map<std::string, std::pair<long long, long long>> now_stamps;
  std::vector<std::string> changed;
  for (auto& f : *files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) continue;
    auto stamp = std::make_pair(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
                                static_cast<long long>(st.st_size));
    now_stamps[f] = stamp;
    auto it = file_stamps_.find(f);
    if (it == file_stamps_.end() || it->second != stamp) changed.push_back(f);
  }
  bool removed = false;
  for (auto& [f, _] : file_stamps_) removed = removed || !now_stamps.count(f);
  if (changed.empty() && !removed) return;
  file_stamps_ = now_stamps;
  // Only changed files are compiled again; duplicate ids are judged across
  // the whole folder's results.
  for (auto it = compiled_files_.begin(); it != compiled_files_.end();)
    it = now_stamps.count(it->first) ? std::next(it) : compiled_files_.erase(it);
  for (auto& lf : dsl::compile_dag_files(changed)) compiled_files_[lf.path] = std::move(lf.result);
  std::vector<dsl::LoadedFile> all;
  all.reserve(compiled_files_.size());
  for (auto& [path, result] : compiled_files_) all.push_back({path, result});
  auto load = dsl::check_unique_ids(std::move(all));
  auto git = read_git_state(dags_dir_);
  std::set<std::string> seen;
  for (auto& lf : load.files) {
    const auto& r = lf.result;
    if (r.dag_id.empty()) {
      for (auto& e : r.errors) sched_log()->warn("{}", e.format());
      continue;
    }
    seen.insert(r.dag_id);
    if (!r.graph) {
      json errs = json::array();
      for (auto& e : r.errors)
        errs.push_back({{"file", e.file}, {"line", e.pos.line}, {"column", e.pos.col}, {"message", e.message}});
      if (auto s = store_.set_import_errors(r.dag_id, lf.path, partition_of(r.dag_id),
                                            errs.dump(-1, ' ', false, json::error_handler_t::replace));
          !s)
        sched_log()->error("{}", s.error().message);
      for (auto& e : r.errors) sched_log()->warn("{}", e.format());
      continue;
    }
    register_graph(r.graph, lf.path, git ? &*git : nullptr);
  }
  for (auto& [id, d] : dags_)
    if (d.active && !seen.count(id) && d.graph) {
      d.active = false;
      if (auto s = store_.deactivate_dag(id, "system"); !s) sched_log()->error("{}", s.error().message);
      sched_log()->info("DAG {} removed (its file is gone): no new runs", id);
    }
}

void DagRegistry::register_graph(const dsl::DagGraphPtr& g, const std::string& path, const GitState* git) {
  DagEntry& d = dags_[g->dag_id()];
  bool changed = !d.graph || d.graph->hash() != g->hash() || !d.active;
  d.dag_id = g->dag_id();
  d.file = path;
  if (!changed) return;
  store::DagVersionRecord v;
  v.dag_id = g->dag_id();
  v.version = g->hash();
  v.compiled = g->canonical_json();
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  v.source = ss.str();
  v.file = path;
  if (git) {
    if (!git->commit.empty()) v.git_commit = git->commit;
    v.git_dirty = git->is_dirty(path);
  }
  if (auto r = store_.register_dag_version(v, g->spec().ns, partition_of(g->dag_id()), "system"); !r) {
    sched_log()->error("registering DAG {}: {}", g->dag_id(), r.error().message);
    return;
  }
  d.graph = g;
  d.active = true;
  auto rec = store_.get_dag(g->dag_id());
  if (rec) d.paused = rec->paused;
  versions_[{g->dag_id(), g->hash()}] = g;
  sched_log()->info("DAG {} version {} from {}", g->dag_id(), g->hash().substr(0, 12), path);
  if (on_registered_) on_registered_(d, rec ? &*rec : nullptr);
}

DagEntry* DagRegistry::find(const std::string& dag_id) {
  auto it = dags_.find(dag_id);
  return it == dags_.end() ? nullptr : &it->second;
}

const dsl::DagGraphPtr& DagRegistry::current(const std::string& dag_id) const {
  static const dsl::DagGraphPtr none;
  auto it = dags_.find(dag_id);
  return it == dags_.end() ? none : it->second.graph;
}

dsl::DagGraphPtr DagRegistry::graph_of(const std::string& dag_id, const std::string& version) {
  auto it = versions_.find({dag_id, version});
  if (it != versions_.end()) return it->second;
  auto v = store_.get_dag_version(dag_id, version);
  if (!v) return nullptr;
  auto r = dsl::compile_dag(v->source, v->file);
  if (!r.graph || r.graph->hash() != version) {
    sched_log()->error("DAG {} version {} no longer compiles to itself", dag_id, version);
    if (!r.graph) return nullptr;
  }
  versions_[{dag_id, version}] = r.graph;
  return r.graph;
}

}  // namespace baton::scheduler
