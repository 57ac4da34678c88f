// DagRegistry: the DAGs folder and what came of it. It compiles the files that
// changed (duplicate ids judged across the folder), registers the new DAG
// versions in the store with their source and git state (in batched
// transactions), records import errors, deactivates a DAG whose file is
// gone, and keeps the compiled versions a run may still use (loaded from the
// store on demand). What changed comes from a full scan (at start, the
// safety scan, polling where inotify is missing) or from the folder watch's
// paths. The cold load goes a chunk at a time (begin_load, load_step), so
// that the loop serves other work between chunks and progress() can say how
// far it got.
// Loop thread only, but progress() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "baton/dsl/compiler.h"
#include "baton/dsl/dag_folder.h"
#include "baton/store/store.h"
#include "git_state.h"

namespace baton::scheduler {

struct DagEntry {
  std::string dag_id;
  std::string file;
  dsl::DagGraphPtr graph;  // the current version
  bool paused = false;
  bool active = true;
};

class DagRegistry {
 public:
  DagRegistry(store::Store& store, std::string dags_dir);

  // Called for every version registered (new, changed or reactivated), with
  // the DAG's row as the store has it after registration (null if it could
  // not be read).
  using Registered = std::function<void(DagEntry&, const store::DagRecord*)>;
  void set_on_registered(Registered fn) { on_registered_ = std::move(fn); }

  // At start: the DAGs the store knows, with their current versions.
  void load_known(const std::vector<store::DagRecord>& dags);
  // Stats every file of the folder; compiles what changed and registers it.
  // `first`: the whole cold load at once (begin_load and every load_step).
  // Otherwise, while the cold load runs, the scan waits for its end (a step
  // of its own after the last chunk): done now, it would compile every file
  // not loaded yet in one turn.
  void scan(bool first);
  // The folder watch's report: these paths (files, or folders to look
  // below) changed; nothing else is looked at.
  void changed(const std::vector<std::string>& paths);
  // The namespaces bound to a subfolder (namespace -> folder, relative to
  // the DAGs folder; SPEC §13): a DAG whose file is not under its
  // namespace's folder is invalid, and deactivated if it was active. A
  // change judges every compiled file again (after the cold load: during
  // it, each chunk is judged with the folders of its time).
  void set_namespace_folders(std::map<std::string, std::string> folders);

  // The cold load in steps: begin_load lists the folder; each load_step
  // compiles (on every core) and registers the next `files` files in one
  // transaction, and returns true while files remain. The last chunk
  // deactivates the DAGs whose files are gone; a scan asked for during the
  // load is one step more (the load is done after it).
  void begin_load();
  bool load_step(size_t files);
  struct Progress {
    bool loading = true;  // until the first load is done
    long long loaded = 0, total = 0;  // files
  };
  Progress progress() const;
  bool loading() const { return loading_.load(); }
  // Work counters (tests): files stat-ed and files compiled since start.
  long long files_looked_at() const { return looked_at_; }
  long long files_compiled() const { return compiled_count_; }

  DagEntry* find(const std::string& dag_id);
  // The DAG's current graph, if it has one (null otherwise).
  const dsl::DagGraphPtr& current(const std::string& dag_id) const;
  // A version a run was made with: compiled again from its stored source
  // when it is not in memory (null if it cannot be).
  dsl::DagGraphPtr graph_of(const std::string& dag_id, const std::string& version);
  std::map<std::string, DagEntry>& all() { return dags_; }

 private:
  struct Stamp {
    long long mtime_ns = 0, size = 0;
    bool operator==(const Stamp& o) const { return mtime_ns == o.mtime_ns && size == o.size; }
  };
  static std::optional<Stamp> stamp_of(const std::string& path);
  // Compiles `files`, then registers every DAG whose version changed
  // (import errors recorded for `report` files, or for all when null);
  // `settle`: DAGs no file defines any more are deactivated.
  void apply(const std::vector<std::string>& files, const std::set<std::string>* report, bool settle,
             const GitState* git);
  // A version to register: its graph, its file, and the text it was
  // compiled from (empty: read from the file then, for a version compiled
  // by an earlier call whose text was let go).
  struct Pending {
    dsl::DagGraphPtr graph;
    std::string path, source;
  };
  void register_batch(std::vector<Pending>& batch, const GitState* git);
  void refuse(const std::string& dag_id);
  void keep_namespaces(std::vector<dsl::LoadedFile>& files);

  store::Store& store_;
  std::string dags_dir_;
  std::map<std::string, std::string> ns_folders_;
  Registered on_registered_;
  std::map<std::string, DagEntry> dags_;
  std::map<std::string, Stamp> file_stamps_;                            // path -> its stamp when compiled
  std::map<std::string, dsl::CompileResult> compiled_files_;            // path -> its last compile, ids unchecked
  std::map<std::pair<std::string, std::string>, dsl::DagGraphPtr> versions_;
  std::vector<std::string> pending_;  // the cold load's files not loaded yet
  size_t pending_next_ = 0;
  bool scan_after_load_ = false;  // a full scan was asked for during the load
  bool chunks_done_ = false;      // the load's files are in; its scan is left
  bool listed_ = true;  // the load listed the folder (a failed listing settles nothing)
  std::optional<GitState> load_git_;  // read once for the whole cold load
  std::atomic<bool> loading_{true};
  std::atomic<long long> loaded_{0}, total_{0};
  long long looked_at_ = 0, compiled_count_ = 0;
};

}  // namespace baton::scheduler
