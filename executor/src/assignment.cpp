#include "baton/executor/assignment.h"

#include "baton/core/secrets.h"
#include "baton/dsl/render.h"

#include <memory>
#include <vector>

namespace baton::executor {

std::string namespace_of(const Assignment& a) { return a.graph ? a.graph->spec().ns : std::string("default"); }

bool worker_runs(dsl::TaskType t) {
  return t == dsl::TaskType::shell || t == dsl::TaskType::http || t == dsl::TaskType::sql;
}

namespace {

// `var.NAME` as the try's namespace reads it, nothing collected.
std::function<std::optional<std::string>(const std::string&)> plain_variables(const Assignment& a,
                                                                              const RenderServices& services) {
  if (!services.variable) return {};
  return [variable = services.variable, ns = namespace_of(a)](const std::string& name) { return variable(ns, name); };
}

// While a try renders, the values of the secret variables its templates read
// are collected; at the end (whichever way render() returns) they become the
// try's `secrets`, are masked in `why` (a message may quote a value), and the
// context reads variables plainly again.
class SecretVariables {
 public:
  SecretVariables(Assignment& a, const RenderServices& services, std::string& why)
      : a_(a), services_(services), why_(why) {
    auto seen = seen_;
    auto variable = services.variable;
    auto is_secret = services.variable_is_secret;
    a.ctx.variable = [seen, variable, is_secret, ns = namespace_of(a)](const std::string& name) -> std::optional<std::string> {
      auto v = variable ? variable(ns, name) : std::nullopt;
      if (v && is_secret && is_secret(ns, name)) seen->push_back(*v);
      return v;
    };
  }
  ~SecretVariables() {
    a_.ctx.variable = plain_variables(a_, services_);
    a_.shell.secrets = *seen_;
    a_.http.secrets = *seen_;
    a_.sql.secrets = *seen_;
    if (!seen_->empty() && !why_.empty()) why_ = SecretMasker(*seen_).mask(why_);
  }
  SecretVariables(const SecretVariables&) = delete;
  SecretVariables& operator=(const SecretVariables&) = delete;

 private:
  Assignment& a_;
  const RenderServices& services_;
  std::string& why_;
  std::shared_ptr<std::vector<std::string>> seen_ = std::make_shared<std::vector<std::string>>();
};

}  // namespace

bool render(Assignment& a, const RenderServices& services, Duration heartbeat_interval, std::string& why) {
  SecretVariables secrets(a, services, why);
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
    // The url: values percent-encoded for where they stand (render.h); the
    // body as it is; a header's value must not hold CR, LF or NUL.
    auto url = dsl::render_url(s.url.text, a.ctx);
    if (!url) {
      why = "url: " + url.error().message;
      return false;
    }
    a.http.url = *url;
    if (!text(s.body, "body", a.http.body)) return false;
    for (auto& [k, v] : s.headers) {
      if (!text(v, "headers." + k, a.http.headers[k])) return false;
      if (auto st = dsl::check_header_value(k, a.http.headers[k]); !st) {
        why = "headers." + k + ": " + st.error().message;
        return false;
      }
    }
    return true;
  }
  if (a.type == dsl::TaskType::sql) {
    const dsl::TaskSpec& s = *a.spec;
    a.sql.connection = s.connection;
    a.sql.timeout = s.timeout;
    a.sql.log_path = a.shell.log_path;
    a.sql.heartbeat_interval = heartbeat_interval;
    auto c = services.connection_url(namespace_of(a), s.connection);
    if (!c) {
      why = c.error().code == "not_found"
                ? "no connection named \"" + s.connection + "\" (add it with `baton connections set " + s.connection +
                      " URL` or PUT /api/v1/connections/" + s.connection + ")"
                : "connection " + s.connection + ": " + c.error().message;
      return false;
    }
    a.sql.url = *c;
    // Values inside '...' literals escaped for them, the others bound
    // parameters of the connection's dialect (render.h).
    auto sql = dsl::render_sql(s.sql.text, a.ctx,
                               c->rfind("sqlite:", 0) == 0 ? dsl::SqlDialect::sqlite : dsl::SqlDialect::postgres);
    if (!sql) {
      why = "sql: " + sql.error().message;
      return false;
    }
    a.sql.sql = std::move(sql->sql);
    a.sql.params = std::move(sql->params);
    a.sql.statements = std::move(sql->statements);
    a.sql.literal_values = sql->literal_values;
    a.sql.literal_backslash = sql->literal_backslash;
    return true;
  }
  // Each value one shell word (render.h); env values as they are (they
  // reach the process as data).
  auto cmd = dsl::render_shell(a.command_template, a.ctx);
  if (!cmd) {
    why = "command: " + cmd.error().message;
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
