#include "dag_registry.h"

#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>
#include <unordered_map>

#include "baton/core/ids.h"
#include "baton/dsl/dag_folder.h"
#include "git_state.h"
#include "log.h"

namespace baton::scheduler {

using nlohmann::json;

DagRegistry::DagRegistry(store::Store& store, std::string dags_dir) : store_(store), dags_dir_(std::move(dags_dir)) {}

// The stored sources compile on every core: a restart with 10,000 DAGs
// does not wait for them one after the other.
void DagRegistry::load_known(const std::vector<store::DagRecord>& list) {
  struct Known {
    const store::DagRecord* rec;
    store::DagVersionRecord version;
    dsl::CompileResult result;
  };
  // Read in one call (on PostgreSQL one round trip, not one a DAG).
  std::vector<std::pair<std::string, std::string>> keys;
  std::unordered_map<std::string, const store::DagRecord*> by_id;
  for (auto& d : list) {
    if (!d.current_version || versions_.count({d.dag_id, *d.current_version})) continue;
    keys.emplace_back(d.dag_id, *d.current_version);
    by_id[d.dag_id] = &d;
  }
  std::vector<Known> known;
  if (!keys.empty()) {
    auto vs = store_.get_dag_versions(keys);
    if (!vs) {
      // One at a time, as before: a DAG whose version cannot be read is
      // left out alone.
      sched_log()->warn("reading {} stored DAG version(s) at once: {}; reading them one at a time", keys.size(),
                        vs.error().message);
      vs = std::vector<store::DagVersionRecord>();
      for (auto& [dag_id, version] : keys)
        if (auto v = store_.get_dag_version(dag_id, version)) vs->push_back(std::move(*v));
    }
    for (auto& v : *vs) {
      auto it = by_id.find(v.dag_id);
      if (it != by_id.end() && it->second->current_version == v.version) known.push_back({it->second, std::move(v), {}});
    }
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < known.size();)
      known[i].result = dsl::compile_dag(known[i].version.source, known[i].version.file);
  };
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), known.size() / 8 + 1);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  for (auto& k : known) {
    const auto& g = k.result.graph;
    if (!g || g->hash() != k.version.version)
      sched_log()->error("DAG {} version {} no longer compiles to itself", k.rec->dag_id, k.version.version);
    if (g) versions_[{k.rec->dag_id, k.version.version}] = g;
  }
  for (auto& d : list) {
    if (!d.current_version) continue;
    auto it = versions_.find({d.dag_id, *d.current_version});
    if (it == versions_.end()) continue;
    const dsl::DagGraphPtr& g = it->second;
    DagEntry& e = dags_[d.dag_id];
    e.dag_id = d.dag_id;
    e.file = d.file;
    e.graph = g;
    e.paused = d.paused;
    e.active = d.active;
  }
}

namespace {

// DAG versions registered per transaction.
constexpr size_t kRegisterBatch = 1000;
// Files compiled and registered per step of the cold load.
constexpr size_t kLoadChunk = 1000;

bool is_dag_name(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

}  // namespace

std::optional<DagRegistry::Stamp> DagRegistry::stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return Stamp{static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
               static_cast<long long>(st.st_size)};
}

DagRegistry::Progress DagRegistry::progress() const { return {loading_.load(), loaded_.load(), total_.load()}; }

void DagRegistry::begin_load() {
  pending_.clear();
  pending_next_ = 0;
  chunks_done_ = false;
  loaded_ = 0;
  auto files = dsl::find_dag_files({dags_dir_});
  // A folder that cannot be listed (not mounted yet, no permission) settles
  // nothing: its DAGs stay as the store knows them until a scan lists it.
  listed_ = files.ok();
  if (!files) sched_log()->warn("DAGs folder: {}; the known DAGs are kept as they are", files.error().message);
  else pending_ = std::move(*files);
  total_ = static_cast<long long>(pending_.size());
  load_git_ = pending_.empty() ? std::nullopt : read_git_state(dags_dir_);
}

bool DagRegistry::load_step(size_t files) {
  if (chunks_done_) {  // the scan a full report asked for meanwhile
    chunks_done_ = scan_after_load_ = false;
    loading_ = false;
    scan(false);
    return false;
  }
  size_t end = std::min(pending_.size(), pending_next_ + std::max<size_t>(files, 1));
  std::vector<std::string> chunk;
  chunk.reserve(end - pending_next_);
  for (size_t i = pending_next_; i < end; ++i) {
    ++looked_at_;
    auto st = stamp_of(pending_[i]);
    if (!st) continue;  // gone since it was listed
    file_stamps_[pending_[i]] = *st;
    chunk.push_back(pending_[i]);
  }
  pending_next_ = end;
  bool last = end == pending_.size();
  std::set<std::string> report(chunk.begin(), chunk.end());
  apply(chunk, &report, last && listed_, load_git_ ? &*load_git_ : nullptr);
  loaded_ = static_cast<long long>(end);
  if (last) {
    pending_ = {};
    load_git_.reset();
    if (scan_after_load_) {
      chunks_done_ = true;
      return true;
    }
    loading_ = false;
  }
  return !last;
}

void DagRegistry::scan(bool first) {
  if (first) {
    begin_load();
    while (load_step(kLoadChunk)) {
    }
    return;
  }
  if (loading_) {
    scan_after_load_ = true;
    return;
  }
  auto files = dsl::find_dag_files({dags_dir_});
  if (!files) return;
  std::map<std::string, Stamp> now_stamps;
  std::vector<std::string> changed;
  for (auto& f : *files) {
    ++looked_at_;
    auto stamp = stamp_of(f);
    if (!stamp) continue;
    now_stamps[f] = *stamp;
    auto it = file_stamps_.find(f);
    if (it == file_stamps_.end() || !(it->second == *stamp)) changed.push_back(f);
  }
  bool removed = false;
  for (auto& [f, _] : file_stamps_) removed = removed || !now_stamps.count(f);
  // The first listing after one that failed settles what the store knows.
  bool unsettled = !listed_;
  listed_ = true;
  if (changed.empty() && !removed && !unsettled) return;
  file_stamps_ = std::move(now_stamps);
  for (auto it = compiled_files_.begin(); it != compiled_files_.end();)
    it = file_stamps_.count(it->first) ? std::next(it) : compiled_files_.erase(it);
  auto git = read_git_state(dags_dir_);
  apply(changed, nullptr, true, git ? &*git : nullptr);
}

void DagRegistry::changed(const std::vector<std::string>& paths) {
  std::set<std::string> candidates;
  for (auto& p : paths) {
    // What was known at or below the path (a folder moved away takes its files).
    std::string below = p + "/";
    for (auto it = file_stamps_.lower_bound(p);
         it != file_stamps_.end() && (it->first == p || it->first.rfind(below, 0) == 0); ++it)
      candidates.insert(it->first);
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (auto found = dsl::find_dag_files({p})) candidates.insert(found->begin(), found->end());
    } else if (is_dag_name(p)) {
      candidates.insert(p);
    }
  }
  std::vector<std::string> touched;
  bool removed = false;
  for (auto& f : candidates) {
    ++looked_at_;
    auto stamp = stamp_of(f);
    if (!stamp) {
      if (file_stamps_.erase(f)) {
        compiled_files_.erase(f);
        removed = true;
      }
      continue;
    }
    auto it = file_stamps_.find(f);
    if (it != file_stamps_.end() && it->second == *stamp) continue;
    file_stamps_[f] = *stamp;
    touched.push_back(f);
  }
  if (touched.empty() && !removed) return;
  auto git = read_git_state(dags_dir_);
  // While the cold load runs, DAGs not loaded yet are not gone.
  apply(touched, nullptr, !loading_, git ? &*git : nullptr);
}

void DagRegistry::apply(const std::vector<std::string>& files, const std::set<std::string>* report, bool settle,
                        const GitState* git) {
  // Only these files are compiled again; duplicate ids are judged across
  // the whole folder's results.
  compiled_count_ += static_cast<long long>(files.size());
  for (auto& lf : dsl::compile_dag_files(files)) compiled_files_[lf.path] = std::move(lf.result);
  std::vector<dsl::LoadedFile> all;
  all.reserve(compiled_files_.size());
  for (auto& [path, result] : compiled_files_) all.push_back({path, result});
  // The texts just compiled go on in `all` to their registration; the
  // results kept for the next judgement of the folder let them go.
  for (auto& f : files)
    if (auto it = compiled_files_.find(f); it != compiled_files_.end()) std::string().swap(it->second.source);
  // Namespaces first (SPEC §13): a file that may not claim its namespace,
  // or that names another namespace for an id a DAG already has (from
  // another file), owns no id — it can neither take a DAG's id and history
  // nor have that DAG switched off. Then the ids, the files that had them
  // keeping them.
  dsl::check_namespace_folders(all, dags_dir_, ns_folders_);
  keep_namespaces(all);
  std::map<std::string, std::string> owners;
  for (auto& [id, d] : dags_)
    if (!d.file.empty()) owners[id] = d.file;
  auto load = dsl::check_unique_ids(std::move(all), owners);
  std::set<std::string> seen;
  std::vector<Pending> batch;
  for (auto& lf : load.files) {
    const auto& r = lf.result;
    bool reported = !report || report->count(lf.path);
    if (r.dag_id.empty()) {
      if (reported)
        for (auto& e : r.errors) sched_log()->warn("{}", e.format());
      continue;
    }
    if (lf.refused) {
      // The file of a DAG that it may no longer claim: the DAG makes no
      // more runs and shows why. A file that claimed another's id (or a
      // new one) is only logged: its errors are not the other DAG's, and a
      // new DAG row would file them under a namespace the file may not use.
      auto it = dags_.find(r.dag_id);
      if (it == dags_.end() || it->second.file != lf.path) {
        if (reported)
          for (auto& e : r.errors) sched_log()->warn("{}", e.format());
        continue;
      }
      refuse(r.dag_id);
    }
    seen.insert(r.dag_id);
    if (!r.graph) {
      if (!reported) continue;
      json errs = json::array();
      for (auto& e : r.errors)
        errs.push_back({{"file", e.file}, {"line", e.pos.line}, {"column", e.pos.col}, {"message", e.message}});
      if (auto s = store_.set_import_errors(r.dag_id, lf.path, partition_of(r.dag_id),
                                            errs.dump(-1, ' ', false, json::error_handler_t::replace), r.ns);
          !s)
        sched_log()->error("{}", s.error().message);
      for (auto& e : r.errors) sched_log()->warn("{}", e.format());
      continue;
    }
    DagEntry& d = dags_[r.dag_id];
    bool changed = !d.graph || d.graph->hash() != r.graph->hash() || !d.active;
    d.dag_id = r.dag_id;
    d.file = lf.path;
    if (!changed) continue;
    batch.push_back({r.graph, lf.path, std::move(lf.result.source)});
    if (batch.size() >= kRegisterBatch) register_batch(batch, git);
  }
  register_batch(batch, git);
  if (!settle) return;
  for (auto& [id, d] : dags_)
    if (d.active && !seen.count(id) && d.graph) {
      d.active = false;
      if (auto s = store_.deactivate_dag(id, "system"); !s) sched_log()->error("{}", s.error().message);
      sched_log()->info("DAG {} removed (its file is gone): no new runs", id);
    }
}

void DagRegistry::set_namespace_folders(std::map<std::string, std::string> folders) {
  if (folders == ns_folders_) return;
  ns_folders_ = std::move(folders);
  if (loading_ || compiled_files_.empty()) return;
  auto git = read_git_state(dags_dir_);
  apply({}, nullptr, false, git ? &*git : nullptr);
}

// A DAG id keeps its namespace unless its own file changes it: a file
// elsewhere that names the id with another namespace is refused (it would
// take the DAG's runs and logs into a namespace whose tokens may read them).
void DagRegistry::keep_namespaces(std::vector<dsl::LoadedFile>& files) {
  for (auto& lf : files) {
    auto& r = lf.result;
    if (lf.refused || !r.graph) continue;
    auto it = dags_.find(r.dag_id);
    if (it == dags_.end() || !it->second.graph || it->second.file == lf.path) continue;
    const std::string& was = it->second.graph->spec().ns;
    if (was == r.ns) continue;
    r.errors.push_back({lf.path, r.dag_pos,
                        "dag: the DAG id \"" + r.dag_id + "\" belongs to namespace \"" + was + "\" (its file is " +
                            it->second.file + "); a DAG of namespace \"" + r.ns +
                            "\" needs another id (a DAG moves to another namespace when its own file says so)"});
    r.graph = nullptr;
    lf.refused = true;
  }
}

// A DAG whose file may not claim its namespace makes no new runs, as if its
// file were gone (its runs in flight finish).
void DagRegistry::refuse(const std::string& dag_id) {
  auto it = dags_.find(dag_id);
  if (it == dags_.end() || !it->second.active) return;
  it->second.active = false;
  if (auto s = store_.deactivate_dag(dag_id, "system"); !s) sched_log()->error("{}", s.error().message);
  sched_log()->warn("DAG {} refused (its file is not under its namespace's folder): no new runs", dag_id);
}

// One transaction for the whole batch: a cold load of thousands of DAGs
// costs a few commits, not one each.
void DagRegistry::register_batch(std::vector<Pending>& batch, const GitState* git) {
  // A version compiled by an earlier call (one a file let through later,
  // or a batch the store failed) had its text let go: read again, and kept
  // only if it still compiles to that version. A file changed since is
  // registered by its change's own report, or the next scan.
  std::vector<Pending> ready;
  ready.reserve(batch.size());
  for (auto& p : batch) {
    if (p.source.empty()) {
      auto again = dsl::compile_dag_file(p.path);
      if (!again.graph || again.graph->hash() != p.graph->hash()) {
        sched_log()->info("DAG {}: {} changed since it was compiled; its new version is registered when it is read",
                          p.graph->dag_id(), p.path);
        continue;
      }
      p.source = std::move(again.source);
    }
    ready.push_back(std::move(p));
  }
  batch.swap(ready);
  if (batch.empty()) return;
  std::vector<store::DagVersionRegistration> regs;
  regs.reserve(batch.size());
  for (auto& [g, path, source] : batch) {
    store::DagVersionRegistration reg;
    store::DagVersionRecord& v = reg.version;
    v.dag_id = g->dag_id();
    v.version = g->hash();
    v.compiled = g->canonical_json();
    v.source = std::move(source);  // the text compiled
    v.file = path;
    if (git) {
      if (!git->commit.empty()) v.git_commit = git->commit;
      v.git_dirty = git->is_dirty(path);
    }
    reg.ns = g->spec().ns;
    reg.partition = partition_of(g->dag_id());
    regs.push_back(std::move(reg));
  }
  auto rows = store_.register_dag_versions(regs, "system");
  if (!rows) {
    sched_log()->error("registering {} DAG version(s) ({} first): {}", batch.size(), batch.front().graph->dag_id(),
                       rows.error().message);
    batch.clear();
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& g = batch[i].graph;
    DagEntry& d = dags_[g->dag_id()];
    d.graph = g;
    d.active = true;
    d.paused = (*rows)[i].paused;
    versions_[{g->dag_id(), g->hash()}] = g;
    sched_log()->info("DAG {} version {} from {}", g->dag_id(), g->hash().substr(0, 12), batch[i].path);
    if (on_registered_) on_registered_(d, &(*rows)[i]);
  }
  batch.clear();
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
