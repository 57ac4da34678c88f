// DagRegistry: the DAGs folder and what came of it. It compiles the files that
// changed since the last scan (duplicate ids judged across the folder),
// registers each new DAG version in the store with its source and git state,
// records import errors, deactivates a DAG whose file is gone, and keeps the
// compiled versions a run may still use (loaded from the store on demand).
// Loop thread only.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "baton/dsl/compiler.h"
#include "baton/store/store.h"

namespace baton::scheduler {

struct GitState;

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
  // Compiles what changed in the folder and registers it.
  void scan(bool first);

  DagEntry* find(const std::string& dag_id);
  // The DAG's current graph, if it has one (null otherwise).
  const dsl::DagGraphPtr& current(const std::string& dag_id) const;
  // A version a run was made with: compiled again from its stored source
  // when it is not in memory (null if it cannot be).
  dsl::DagGraphPtr graph_of(const std::string& dag_id, const std::string& version);
  std::map<std::string, DagEntry>& all() { return dags_; }

 private:
  void register_graph(const dsl::DagGraphPtr& g, const std::string& path, const GitState* git);

  store::Store& store_;
  std::string dags_dir_;
  Registered on_registered_;
  std::map<std::string, DagEntry> dags_;
  std::map<std::string, std::pair<long long, long long>> file_stamps_;  // path -> (mtime ns, size)
  std::map<std::string, dsl::CompileResult> compiled_files_;            // path -> its last compile, ids unchecked
  std::map<std::pair<std::string, std::string>, dsl::DagGraphPtr> versions_;
};

}  // namespace baton::scheduler
