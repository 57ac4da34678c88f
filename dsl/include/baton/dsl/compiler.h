// The DAG compiler: YAML text -> DagSpec -> checked, compiled DagGraph.
// Every error of the file is collected (not just the first). Pure functions of
// their input: safe to call from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "baton/dsl/dag.h"
#include "baton/dsl/diagnostics.h"

namespace baton::dsl {

constexpr size_t kMaxTasks = 10000;

struct CompileResult {
  DagGraphPtr graph;                  // null when there is any error
  std::vector<Diagnostic> errors;
  std::string dag_id;                 // known even when the file is invalid, if `dag:` was readable
  SourcePos dag_pos;
};

// `file` is the name used in diagnostics.
CompileResult compile_dag(std::string_view yaml_text, const std::string& file);

// Reads the file (refusing more than 1 MiB before reading it) and compiles it.
CompileResult compile_dag_file(const std::string& path);

}  // namespace baton::dsl
