#include "baton/executor/assignment.h"

namespace baton::executor {

bool worker_runs(dsl::TaskType t) {
  return t == dsl::TaskType::shell || t == dsl::TaskType::http || t == dsl::TaskType::sql;
}

bool render(Assignment& a, const RenderServices& services, Duration heartbeat_interval, std::string& why) {
  a.ctx.variable = services.variable;
  a.shell.ds = dsl::render_template("{{ ds }}", a.ctx).value();
  auto text = [&](const dsl::TemplateText& t, const std::string& key, std::string& out) {
    auto r = dsl::render_template(t.text, a.ctx);
    if (!r) why = key + ": " + r.error().message;
    else out = *r;
    return r.ok();
  };
  if (a.type == dsl::TaskType::http) {
    const dsl::TaskSpec& s = *a.spec;
    a.http.method = s.method;
    a.http.expect_status = s.expect_status;
    a.http.timeout = s.timeout;
    a.http.log_path = a.shell.log_path;
    a.http.heartbeat_interval = heartbeat_interval;
    if (!text(s.url, "url", a.http.url) || !text(s.body, "body", a.http.body)) return false;
    for (auto& [k, v] : s.headers)
      if (!text(v, "headers." + k, a.http.headers[k])) return false;
    return true;
  }
  if (a.type == dsl::TaskType::sql) {
    const dsl::TaskSpec& s = *a.spec;
    a.sql.connection = s.connection;
    a.sql.timeout = s.timeout;
    a.sql.log_path = a.shell.log_path;
    a.sql.heartbeat_interval = heartbeat_interval;
    if (!text(s.sql, "sql", a.sql.sql)) return false;
    auto c = services.connection_url(s.connection);
    if (!c) {
      why = c.error().code == "not_found"
                ? "no connection named \"" + s.connection + "\" (add it with `baton connections set " + s.connection +
                      " URL` or PUT /api/v1/connections/" + s.connection + ")"
                : "connection " + s.connection + ": " + c.error().message;
      return false;
    }
    a.sql.url = *c;
    return true;
  }
  auto cmd = dsl::render_template(a.command_template, a.ctx);
  if (!cmd) {
    why = cmd.error().message;
    return false;
  }
  a.shell.command = *cmd;
  for (auto& [k, v] : a.env_templates) {
    auto r = dsl::render_template(v.text, a.ctx);
    if (!r) {
      why = "env " + k + ": " + r.error().message;
      return false;
    }
    a.shell.env[k] = *r;
  }
  return true;
}

}  // namespace baton::executor
