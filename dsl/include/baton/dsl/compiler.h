// The DAG compiler: YAML text -> DagSpec -> checked, compiled DagGraph.
// Every error of the file is collected (not just the first). Pure functions of
// their input: safe to call from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "baton/core/result.h"
#include "baton/dsl/dag.h"
#include "baton/dsl/diagnostics.h"
#include "baton/dsl/template.h"

namespace baton::dsl {

constexpr size_t kMaxTasks = 10000;

struct CompileResult {
  DagGraphPtr graph;                  // null when there is any error
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;   // `dags validate` prints them; they never make the file invalid
  std::string dag_id;                 // known even when the file is invalid, if `dag:` was readable
  std::string ns = "default";         // the namespace it names, likewise (when `namespace:` was readable)
  SourcePos dag_pos;
  // The text compiled, when it came from a file (compile_dag_file): what a
  // version registers as its source, read once with what was compiled.
  std::string source;
};

// `file` is the name used in diagnostics.
CompileResult compile_dag(std::string_view yaml_text, const std::string& file);

// Reads the file (refusing more than 1 MiB before reading it) and compiles it.
CompileResult compile_dag_file(const std::string& path);

// The params of a new run (SPEC §3: templates inside `params` values are
// rendered when the run is created). `params_json`: the DAG's defaults with
// the trigger's values over them; `given`: the keys the trigger set. Each
// default that holds a template and that the trigger did not set is rendered
// as text (as it is) in `ctx`, a run's context (ctx.params_json is set here
// to `params_json`). A trigger's values are data: never rendered. An error
// names the param.
Result<std::string> render_run_params(const DagSpec& spec, const std::string& params_json,
                                      const std::vector<std::string>& given, RenderContext ctx);

}  // namespace baton::dsl
