// Assignment: what a worker needs for one try, as the scheduler hands it out
// (templates not rendered yet: rendering reads variables and connections,
// so it happens on the worker's thread, never on the scheduler's loop), and
// Finished: the worker's report of how the try ended.
//
// Plain values; render() may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "baton/core/result.h"
#include "baton/core/states.h"
#include "baton/dsl/dag.h"
#include "baton/dsl/template.h"
#include "baton/executor/adapters.h"
#include "baton/executor/shell_runner.h"

namespace baton::executor {

struct Assignment {
  long long run_pk = 0;
  int ti = 0;  // the task instance's index in its run
  long long ti_id = 0;
  std::string attempt_token;
  dsl::TaskType type = dsl::TaskType::noop;
  std::string command_template;
  std::map<std::string, dsl::TemplateText> env_templates;
  dsl::RenderContext ctx;
  ShellTry shell;
  // The task's spec (http and sql keep their templates there); the graph is
  // held so that the spec outlives a run that ends while the try runs.
  dsl::DagGraphPtr graph;
  const dsl::TaskSpec* spec = nullptr;
  HttpCall http;  // rendered by render()
  SqlCall sql;    // rendered by render(); url from the named connection
};

struct Finished {
  long long run_pk = 0;
  int ti = 0;
  std::string attempt_token;
  TryOutcome outcome = TryOutcome::failed;
  std::string reason;
  std::optional<int> exit_code;
  std::optional<std::string> output;
  long long log_bytes = 0;
  bool worker_slot = true;  // false: a sensor's poke or a trigger_dag, which take none
  std::optional<TimePoint> at{};  // when it ended, if not now (a remote worker's report, as its server stored it)
};

// The task types a worker runs (noop never reaches one; sensors and
// trigger_dag are carried out by the scheduler itself).
bool worker_runs(dsl::TaskType t);

// What rendering reads: `var.NAME`, and the URL of a sql task's connection
// (an error with code not_found when there is none).
// Each takes the namespace of the try's DAG (namespace_of) and the name: a
// task reads its namespace's entry, else the global one of that name, never
// another namespace's (SPEC §13; the store's resolve_variable).
struct RenderServices {
  std::function<std::optional<std::string>(const std::string& ns, const std::string& name)> variable;
  std::function<Result<std::string>(const std::string& ns, const std::string& name)> connection_url;
  // Whether variable NAME, as the namespace reads it, is secret: the values
  // of the secret variables a try's templates read are masked in its log
  // (ShellTry/HttpCall/SqlCall `secrets`). Unset: none is.
  std::function<bool(const std::string& ns, const std::string& name)> variable_is_secret;
};

// The namespace of a try's DAG ("default" without a graph, as a DAG file
// that names none).
std::string namespace_of(const Assignment& a);

// Renders the templates of a try (the command and env of a shell task; the
// url, headers and body of http; the statements of sql, whose connection is
// looked up); false (and `why`) when one cannot be rendered. The values of
// the secret variables read go to a.shell.secrets, a.http.secrets and
// a.sql.secrets.
bool render(Assignment& a, const RenderServices& services, Duration heartbeat_interval, std::string& why);

}  // namespace baton::executor
