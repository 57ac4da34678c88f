#include "assignments.h"

#include "baton/dsl/render.h"

#include <nlohmann/json.hpp>

namespace baton::scheduler {

using nlohmann::json;

dsl::RenderContext render_context(const ActiveRun& r, int ti, int try_number) {
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  dsl::RenderContext ctx;
  ctx.zone = r.graph->schedule().zone();
  if (!r.graph->schedule().is_time_based()) {
    auto z = TimeZone::find(r.graph->spec().timezone);
    if (z) ctx.zone = *z;
  }
  ctx.logical_date = r.rec.logical_date;
  ctx.data_interval_start = r.rec.data_interval_start;
  ctx.data_interval_end = r.rec.data_interval_end;
  ctx.run_id = r.rec.run_id;
  ctx.dag_id = r.rec.dag_id;
  ctx.task_id = rec.task_id;
  ctx.try_number = try_number;
  ctx.map_index = rec.map_index;
  ctx.item_json = rec.item;
  ctx.params_json = r.rec.params;
  for (const auto& name : spec_of(r, ti).reads_outputs) {
    const int idx = r.graph->index_of(name);
    if (idx < 0 || static_cast<size_t>(idx) >= r.tis.size()) continue;
    const size_t k = static_cast<size_t>(idx);
    const auto& mapped = r.engine->mapped(static_cast<int>(k));
    if (mapped.empty()) {
      if (r.tis[k].output) ctx.outputs_json[r.tis[k].task_id] = *r.tis[k].output;
      continue;
    }
    std::string list = "[";
    for (size_t m = 0; m < mapped.size(); ++m) {
      const auto& out = r.tis[static_cast<size_t>(mapped[m])].output;
      if (m) list += ",";
      list += out ? *out : "null";
    }
    ctx.outputs_json[r.tis[k].task_id] = list + "]";
  }
  return ctx;
}

executor::Assignment make_assignment(const ActiveRun& r, int ti, const TryPaths& paths) {
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
  // A queued try (for a remote worker) gets its number when it begins.
  const int try_number = e.state == TaskState::queued ? e.try_number + 1 : e.try_number;
  const dsl::TaskSpec& spec = spec_of(r, ti);
  executor::Assignment a;
  a.run_pk = r.rec.pk;
  a.ti = ti;
  a.ti_id = rec.id;
  a.attempt_token = *rec.attempt_token;
  a.type = spec.type;
  a.command_template = spec.command.text;
  a.env_templates = spec.env;
  a.graph = r.graph;
  a.spec = &spec;
  a.ctx = render_context(r, ti, try_number);
  auto& sh = a.shell;
  sh.dag_id = r.rec.dag_id;
  sh.run_id = r.rec.run_id;
  sh.task_id = spec.id;
  sh.map_index = rec.map_index;
  sh.try_number = try_number;
  sh.logical_date = format_utc(r.rec.logical_date);
  sh.data_interval_start = format_utc(r.rec.data_interval_start);
  sh.data_interval_end = format_utc(r.rec.data_interval_end);
  sh.params_json = r.rec.params;
  sh.working_dir = spec.working_dir;
  sh.skip_exit_code = spec.skip_exit_code;
  sh.timeout = spec.timeout;
  sh.kill_grace = spec.kill_grace;
  sh.log_path = paths.logs_dir + "/" + log_rel(r, rec, try_number);
  sh.scratch_dir = paths.logs_dir + "/.scratch/" + std::to_string(rec.id) + "-" + std::to_string(try_number);
  sh.heartbeat_interval = paths.heartbeat_interval;
  return a;
}

std::string remote_payload(const ActiveRun& r, int ti, const TryPaths& paths,
                           const executor::RenderServices& services) {
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
  executor::Assignment a = make_assignment(r, ti, paths);
  const int try_number = e.try_number + 1;  // begin_try counts it
  json p;
  std::string why;
  if (!executor::worker_runs(a.type)) {
    p["error"] = std::string("task type ") + dsl::to_string(a.type) + " is not supported yet";
  } else if (!executor::render(a, services, paths.heartbeat_interval, why)) {
    p["error"] = why;
  }
  p["type"] = dsl::to_string(a.type);
  if (a.type == dsl::TaskType::http)
    p["http"] = {{"method", a.http.method}, {"url", a.http.url},         {"headers", a.http.headers},
                 {"body", a.http.body},     {"expect_status", a.http.expect_status}};
  if (a.type == dsl::TaskType::sql) {  // the connection's URL goes to the worker, as it must to connect
    // The bound values (render.h) go as they are, with their types.
    auto values = [](const std::vector<dsl::SqlParam>& ps) {
      json out = json::array();
      for (auto& v : ps) out.push_back({{"value", v.value}, {"type", dsl::to_string(v.type)}});
      return out;
    };
    json statements = json::array();
    for (auto& st : a.sql.statements) statements.push_back({{"sql", st.sql}, {"params", values(st.params)}});
    p["sql"] = {{"connection", a.sql.connection},
                {"url", a.sql.url},
                {"sql", a.sql.sql},
                {"params", values(a.sql.params)},
                {"statements", statements},
                {"literal_values", a.sql.literal_values},
                {"literal_backslash", a.sql.literal_backslash}};
  }
  const auto& sh = a.shell;
  p["dag_id"] = sh.dag_id;
  p["run_id"] = sh.run_id;
  p["task_id"] = sh.task_id;
  p["map_index"] = sh.map_index;
  p["try_number"] = sh.try_number;
  p["logical_date"] = sh.logical_date;
  p["data_interval_start"] = sh.data_interval_start;
  p["data_interval_end"] = sh.data_interval_end;
  p["ds"] = sh.ds;
  p["params"] = sh.params_json;
  p["command"] = sh.command;
  p["env"] = sh.env;
  p["working_dir"] = sh.working_dir;
  p["skip_exit_code"] = sh.skip_exit_code;
  if (sh.timeout) p["timeout_us"] = sh.timeout->count();
  p["kill_grace_us"] = sh.kill_grace.count();
  p["heartbeat_interval_us"] = paths.heartbeat_interval.count();
  p["zombie_timeout_us"] = paths.zombie_timeout.count();  // the worker kills the try itself before then
  p["log_path"] = log_rel(r, rec, try_number);
  if (!sh.secrets.empty()) p["secrets"] = sh.secrets;  // masked in the try's log by the worker
  return p.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace baton::scheduler
