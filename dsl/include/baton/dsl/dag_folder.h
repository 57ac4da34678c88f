// Loading a DAGs folder: every `*.yaml` / `*.yml` below it, recursively, names
// starting with `.` ignored. Each file compiles on its own (an invalid file
// never stops the others); DAG ids must be unique across the folder — the file
// first in path order keeps the id, the others get an error.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/dsl/compiler.h"

namespace baton::dsl {

struct LoadedFile {
  std::string path;
  CompileResult result;
  bool refused = false;  // it may not claim its namespace (check_namespace_folders): it owns no DAG id
};

struct FolderLoad {
  std::vector<LoadedFile> files;             // sorted by path
  std::map<std::string, DagGraphPtr> dags;   // valid DAGs by id
  std::vector<Diagnostic> errors() const;    // every error of every file, in path order
};

// The DAG files under each path (a file is taken as it is, whatever its name).
Result<std::vector<std::string>> find_dag_files(const std::vector<std::string>& paths);

// Compiles the given files (on every core) and checks DAG ids across them.
FolderLoad load_dag_files(const std::vector<std::string>& files);

// The two halves, for a caller that keeps compiled files and compiles again
// only the ones that changed (the scheduler's folder watch): compiling, and
// checking DAG ids across a whole folder's results (sorted by path), which
// marks every file after the first with a given id as invalid.
// `owners` (DAG id -> file): the file that owned an id before keeps it when
// another file claims it too, wherever the other sorts; otherwise the first
// in path order does. A refused file (below) owns no id.
std::vector<LoadedFile> compile_dag_files(const std::vector<std::string>& files);
FolderLoad check_unique_ids(std::vector<LoadedFile> files, const std::map<std::string, std::string>& owners = {});

// Namespaces bound to a subfolder (SPEC §13), checked before the ids: a
// file (valid or not) that claims a namespace whose folder (`folders`:
// namespace -> folder relative to the DAGs folder `root`) does not hold it
// is refused — made invalid, with an error naming the file, the namespace
// and the folder — and owns no DAG id, so it can neither take another
// file's id nor have that file's DAG switched off. Where a file is, is where
// its real path is (a symlink counts where it points). Answers the paths
// refused.
std::set<std::string> check_namespace_folders(std::vector<LoadedFile>& files, const std::string& root,
                                              const std::map<std::string, std::string>& folders);

}  // namespace baton::dsl
