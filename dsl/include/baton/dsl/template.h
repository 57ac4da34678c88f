// Templates: `{{ expr }}` inside strings (SPEC §3). An expression is a name
// (`ds`, `params.region`, `outputs.extract.rows`, `var.bucket`), a string
// literal in double quotes, an integer, or a call of a date helper
// (`ds_add(ds, -1)`, `format(data_interval_end, "%Y/%m/%d")`). Nothing in a
// template executes code. Names are checked when the DAG compiles and rendered
// when a task runs. Pure functions: safe from any thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/result.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"

namespace baton::dsl {

// What names a template may use where it stands.
struct TemplateScope {
  bool task_level = true;          // task_id, try_number, map_index
  bool has_item = false;           // inside a task with `foreach`
  bool outputs_allowed = true;     // foreach templates and task fields may read outputs
  // Not owned: the caller keeps these alive while checking.
  const std::vector<std::string>* params = nullptr;          // declared params
  const std::vector<std::string>* upstream_tasks = nullptr;  // tasks whose outputs may be read (ancestors)
  const std::vector<std::string>* all_tasks = nullptr;       // to resolve dotted task ids in `outputs.`
  // When set, each task whose outputs the template reads (a valid
  // `outputs.TASK...`) is added here, once.
  std::vector<std::string>* outputs_read = nullptr;
};

struct TemplateIssue {
  size_t offset = 0;  // byte offset in the template text
  std::string message;
};

// Checks syntax and names; returns every problem found.
std::vector<TemplateIssue> check_template(std::string_view text, const TemplateScope& scope);

// The names every template may use, for help texts and "did you mean".
const std::vector<std::string>& template_base_names();

// Values for rendering.
struct RenderContext {
  TimeZone zone;
  TimePoint logical_date{};
  TimePoint data_interval_start{};
  TimePoint data_interval_end{};
  std::string run_id, dag_id, task_id;
  int try_number = 1;
  int map_index = -1;
  std::optional<std::string> item_json;          // the foreach item, as JSON
  std::string params_json = "{}";                // effective params, a JSON object
  std::map<std::string, std::string> outputs_json;  // upstream task id -> JSON object
  std::function<std::optional<std::string>(const std::string&)> variable;  // var.NAME
};

// Renders; a name missing at run time is an error that names it.
Result<std::string> render_template(std::string_view text, const RenderContext& ctx);

}  // namespace baton::dsl
