// Templates: `{{ expr }}` inside strings (SPEC §3). An expression is a name
// (`ds`, `params.region`, `outputs.extract.rows`, `var.bucket`), a string
// literal in double quotes, an integer, or a call of a date helper
// (`ds_add(ds, -1)`, `format(data_interval_end, "%Y/%m/%d")`) or, in sql, of
// `ident(x, ...)` (a double-quoted identifier); it may end with the filter
// `| raw` (inserted as it is wherever it stands). Nothing in a template
// executes code. Names are checked when the DAG compiles and rendered when a
// task runs. How a value is inserted depends on the field (render.h: shell,
// sql, url, header); render_template is the text as it is. Pure functions:
// safe from any thread.
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

// The field a template stands in: it decides how values are inserted
// (render.h), whether ident() may be used, and which `| raw` is warned about.
enum class TemplateField { text, command, sql, url, header };

// What names a template may use where it stands.
struct TemplateScope {
  TemplateField field = TemplateField::text;
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
  bool warning = false;  // not an error: `| raw` on a name a trigger can set
};

// Checks syntax and names; returns every problem found (and the warnings).
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

// Renders as text (the value as it is); a name missing at run time is an
// error that names it.
Result<std::string> render_template(std::string_view text, const RenderContext& ctx);

// One piece of a rendered template: text the author wrote, or the value of
// one `{{ ... }}` with its JSON type (sql binds numbers as numbers).
struct RenderedPiece {
  enum class Kind { text, value, raw, ident };
  enum class Type { string, integer, real, boolean, null, json };
  Kind kind = Kind::text;
  std::string text;    // the author's text, or the value as text
  Type type = Type::string;
  std::string source;  // "{{ params.x }}" as written, for messages
};

// Renders each `{{ ... }}` of `text` on its own: the field's renderer
// (render.h) decides how each value is inserted.
Result<std::vector<RenderedPiece>> render_pieces(std::string_view text, const RenderContext& ctx);

}  // namespace baton::dsl
