// Loading a DAGs folder: every `*.yaml` / `*.yml` below it, recursively, names
// starting with `.` ignored. Each file compiles on its own (an invalid file
// never stops the others); DAG ids must be unique across the folder — the file
// first in path order keeps the id, the others get an error.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/dsl/compiler.h"

namespace baton::dsl {

struct LoadedFile {
  std::string path;
  CompileResult result;
};

struct FolderLoad {
  std::vector<LoadedFile> files;             // sorted by path
  std::map<std::string, DagGraphPtr> dags;   // valid DAGs by id
  std::vector<Diagnostic> errors() const;    // every error of every file, in path order
};

// The DAG files under each path (a file is taken as it is, whatever its name).
Result<std::vector<std::string>> find_dag_files(const std::vector<std::string>& paths);

// Compiles the given files and checks DAG ids across them.
FolderLoad load_dag_files(const std::vector<std::string>& files);

}  // namespace baton::dsl
