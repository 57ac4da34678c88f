#include "baton/dsl/compiler.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <queue>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "baton/core/duration.h"
#include "baton/core/sha256.h"
#include "baton/core/timezone.h"
#include "baton/dsl/template.h"
#include "parser.h"

namespace baton::dsl {

const TaskSpec* DagGraph::task(const std::string& id) const {
  int i = index_of(id);
  return i < 0 ? nullptr : &spec_.tasks[static_cast<size_t>(i)];
}

int DagGraph::index_of(const std::string& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? -1 : it->second;
}

class Compiler {
 public:
  Compiler(DagSpec spec, Diagnostics& diag) : spec_(std::move(spec)), diag_(diag) {}

  DagGraphPtr run() {
    const size_t n = spec_.tasks.size();
    for (size_t i = 0; i < n; ++i) index_[spec_.tasks[i].id] = static_cast<int>(i);
    upstream_.assign(n, {});
    downstream_.assign(n, {});
    std::vector<std::string> ids;
    ids.reserve(n);
    for (auto& t : spec_.tasks) ids.push_back(t.id);
    for (size_t i = 0; i < n; ++i) {
      const TaskSpec& t = spec_.tasks[i];
      std::set<std::string> listed;
      for (size_t k = 0; k < t.depends_on.size(); ++k) {
        const std::string& dep = t.depends_on[k];
        SourcePos pos = k < t.depends_on_pos.size() ? t.depends_on_pos[k] : t.pos;
        std::string path = "tasks." + t.id + ".depends_on[" + std::to_string(k) + "]";
        auto it = index_.find(dep);
        if (it == index_.end()) {
          diag_.error(pos, path, "unknown task \"" + dep + "\"" + did_you_mean(dep, ids) +
                                     "; a dependency must name a task of this DAG");
          continue;
        }
        if (!listed.insert(dep).second) {
          diag_.error(pos, path, "task \"" + dep + "\" is listed twice");
          continue;
        }
        upstream_[i].push_back(it->second);
        downstream_[static_cast<size_t>(it->second)].push_back(static_cast<int>(i));
      }
    }
    std::vector<int> order = topological_order();
    check_templates();
    if (!diag_.empty()) return nullptr;
    return build(order);
  }

 private:
  // Kahn's algorithm; among ready tasks the one first in the file goes first.
  // On a cycle, reports it as `a -> b -> c -> a`.
  std::vector<int> topological_order() {
    const size_t n = spec_.tasks.size();
    std::vector<int> indegree(n);
    for (size_t i = 0; i < n; ++i) indegree[i] = static_cast<int>(upstream_[i].size());
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
    for (size_t i = 0; i < n; ++i)
      if (indegree[i] == 0) ready.push(static_cast<int>(i));
    std::vector<int> order;
    order.reserve(n);
    while (!ready.empty()) {
      int i = ready.top();
      ready.pop();
      order.push_back(i);
      for (int d : downstream_[static_cast<size_t>(i)])
        if (--indegree[static_cast<size_t>(d)] == 0) ready.push(d);
    }
    if (order.size() < n) report_cycle(indegree);
    return order;
  }

  // Every task left with indegree > 0 is on a cycle or downstream of one.
  // Walking upstream from one of them (through such tasks only) must repeat a
  // task: that is a cycle. Each walk stops at tasks already visited, so every
  // cycle found is new and the whole search is linear.
  void report_cycle(const std::vector<int>& indegree) {
    const size_t n = spec_.tasks.size();
    std::vector<char> visited(n, 0);
    for (size_t start = 0; start < n; ++start) {
      if (indegree[start] <= 0 || visited[start]) continue;
      std::vector<int> path;
      int cur = static_cast<int>(start);
      while (cur >= 0 && !visited[static_cast<size_t>(cur)]) {
        visited[static_cast<size_t>(cur)] = 1;
        path.push_back(cur);
        int next = -1;
        for (int u : upstream_[static_cast<size_t>(cur)])
          if (indegree[static_cast<size_t>(u)] > 0) {
            next = u;
            break;
          }
        cur = next;
      }
      auto at = cur < 0 ? path.end() : std::find(path.begin(), path.end(), cur);
      if (at == path.end()) continue;  // reached a cycle already reported
      report_one_cycle(std::vector<int>(at, path.end()));
    }
  }

  void report_one_cycle(std::vector<int> cycle) {
    // The walk went upstream; print in the direction work flows, starting at
    // the task that comes first in the file.
    std::reverse(cycle.begin(), cycle.end());
    auto first = std::min_element(cycle.begin(), cycle.end());
    std::rotate(cycle.begin(), first, cycle.end());
    std::string text;
    for (int i : cycle) text += spec_.tasks[static_cast<size_t>(i)].id + " -> ";
    text += spec_.tasks[static_cast<size_t>(cycle[0])].id;
    // Point at the dependency that closes the cycle: the first task's entry
    // naming the last one.
    const TaskSpec& head = spec_.tasks[static_cast<size_t>(cycle[0])];
    const std::string& last = spec_.tasks[static_cast<size_t>(cycle.back())].id;
    SourcePos pos = head.pos;
    std::string path_text = "tasks." + head.id + ".depends_on";
    for (size_t k = 0; k < head.depends_on.size(); ++k)
      if (head.depends_on[k] == last && k < head.depends_on_pos.size()) {
        pos = head.depends_on_pos[k];
        path_text += "[" + std::to_string(k) + "]";
      }
    diag_.error(pos, path_text, "dependency cycle: " + text);
  }

  std::vector<std::string> ancestors(size_t i) {
    std::vector<char> seen(spec_.tasks.size(), 0);
    std::vector<int> stack(upstream_[i].begin(), upstream_[i].end());
    std::vector<std::string> out;
    while (!stack.empty()) {
      int u = stack.back();
      stack.pop_back();
      if (seen[static_cast<size_t>(u)]) continue;
      seen[static_cast<size_t>(u)] = 1;
      out.push_back(spec_.tasks[static_cast<size_t>(u)].id);
      for (int w : upstream_[static_cast<size_t>(u)]) stack.push_back(w);
    }
    return out;
  }

  void report(const TemplateText& tt, const std::string& path, const std::vector<TemplateIssue>& issues) {
    for (auto& is : issues) {
      SourcePos pos = tt.pos;
      // Columns inside a plain one-line scalar are exact.
      if (tt.plain) pos.col += static_cast<int>(is.offset);
      if (is.warning) diag_.warning(pos, path, is.message);
      else diag_.error(pos, path, is.message);
    }
  }

  // The field a task's template stands in (render.h), from its key.
  static TemplateField field_of(const TaskSpec& t, const std::string& path) {
    std::string key = path.substr(std::string("tasks.").size() + t.id.size() + 1);
    if (key == "command") return TemplateField::command;
    if (key == "sql") return TemplateField::sql;
    if (key == "url") return TemplateField::url;
    if (key.rfind("headers.", 0) == 0) return TemplateField::header;
    return TemplateField::text;
  }

  void check_templates() {
    std::vector<std::string> params = spec_.param_names;
    if (spec_.schedule_kind == DagSpec::ScheduleKind::datasets) params.push_back("dataset_events");
    TemplateScope run_scope;
    run_scope.task_level = false;
    run_scope.outputs_allowed = false;
    run_scope.params = &params;
    for (auto& [k, tt] : spec_.params_templates) report(tt, "params." + k, check_template(tt.text, run_scope));

    std::vector<std::string> all;
    all.reserve(spec_.tasks.size());
    for (auto& t : spec_.tasks) all.push_back(t.id);
    std::vector<std::string> upstream;
    for (size_t i = 0; i < spec_.tasks.size(); ++i) {
      TaskSpec& t = spec_.tasks[i];
      auto fields = t.templates();
      bool any = t.foreach_template.has_value();
      bool wants_outputs = false;
      for (auto& f : fields) {
        any = any || f.second->text.find("{{") != std::string::npos;
        wants_outputs = wants_outputs || f.second->text.find("outputs") != std::string::npos;
      }
      if (!any) continue;
      if (t.foreach_template) wants_outputs = wants_outputs || t.foreach_template->text.find("outputs") != std::string::npos;
      TemplateScope scope = run_scope;
      scope.task_level = true;
      scope.outputs_allowed = true;
      scope.all_tasks = &all;
      upstream.clear();
      if (wants_outputs) upstream = ancestors(i);
      scope.upstream_tasks = &upstream;
      scope.outputs_read = &t.reads_outputs;
      if (t.foreach_template) report(*t.foreach_template, "tasks." + t.id + ".foreach",
                                     check_template(t.foreach_template->text, scope));
      scope.has_item = t.foreach_json || t.foreach_template;
      for (auto& [path, tt] : fields) {
        scope.field = field_of(t, path);
        report(*tt, path, check_template(tt->text, scope));
      }
      scope.field = TemplateField::text;
    }
  }

  static nlohmann::json opt_duration(const std::optional<Duration>& d) {
    return d ? nlohmann::json(format_duration(*d)) : nlohmann::json(nullptr);
  }

  nlohmann::json task_json(const TaskSpec& t) {
    using nlohmann::json;
    json j;
    j["type"] = to_string(t.type);
    std::vector<std::string> deps = t.depends_on;
    std::sort(deps.begin(), deps.end());  // the order they are listed in changes nothing
    j["depends_on"] = deps;
    j["trigger_rule"] = to_string(t.trigger_rule);
    j["retries"] = t.retries;
    j["retry_delay"] = format_duration(t.retry_delay);
    j["retry_backoff"] = to_string(t.retry_backoff);
    j["max_retry_delay"] = format_duration(t.max_retry_delay);
    j["retry_jitter"] = t.retry_jitter;
    j["timeout"] = opt_duration(t.timeout);
    j["kill_grace"] = format_duration(t.kill_grace);
    j["pool"] = t.pool;
    j["pool_slots"] = t.pool_slots;
    j["queue"] = t.queue;
    j["priority"] = t.priority;
    j["depends_on_past"] = t.depends_on_past;
    if (t.foreach_json) j["foreach"] = json::parse(*t.foreach_json);
    if (t.foreach_template) j["foreach"] = t.foreach_template->text;
    j["sla"] = {{"max_duration", opt_duration(t.sla_max_duration)}};
    j["produces"] = t.produces;
    // Only when set: DAGs written before these keys keep their versions.
    if (t.stuck_after) {
      j["stuck_after"] = format_duration(*t.stuck_after);
      j["on_stuck"] = t.stuck_fail ? "fail" : "alert";
    }
    switch (t.type) {
      case TaskType::shell: {
        j["command"] = t.command.text;
        json env = json::object();
        for (auto& [k, v] : t.env) env[k] = v.text;
        j["env"] = env;
        j["working_dir"] = t.working_dir;
        j["skip_exit_code"] = t.skip_exit_code;
        break;
      }
      case TaskType::http:
      case TaskType::sensor_http: {
        j["url"] = t.url.text;
        j["expect_status"] = t.expect_status;
        if (t.type == TaskType::http) {
          j["method"] = t.method;
          json h = json::object();
          for (auto& [k, v] : t.headers) h[k] = v.text;
          j["headers"] = h;
          j["body"] = t.body.text;
        }
        break;
      }
      case TaskType::sql:
        j["connection"] = t.connection;
        j["sql"] = t.sql.text;
        break;
      case TaskType::sensor_file:
        j["path"] = t.path.text;
        break;
      case TaskType::sensor_task:
        j["dag"] = t.target_dag;
        j["task"] = t.target_task;
        j["logical_date_offset"] = format_duration(t.logical_date_offset);
        break;
      case TaskType::trigger_dag:
        j["dag"] = t.target_dag;
        j["params"] = json::parse(t.trigger_params_json);
        j["wait"] = t.wait;
        break;
      case TaskType::noop:
        break;
    }
    if (is_sensor(t.type)) j["poke_interval"] = format_duration(t.poke_interval);
    return j;
  }

  std::string canonical(const std::vector<int>& order) {
    using nlohmann::json;
    json j;
    j["dag"] = spec_.dag_id;
    j["description"] = spec_.description;
    j["owner"] = spec_.owner;
    j["namespace"] = spec_.ns;
    j["tags"] = spec_.tags;
    static const char* kinds[] = {"none", "cron", "every", "datasets"};
    j["schedule"] = {{"kind", kinds[static_cast<int>(spec_.schedule_kind)]},
                     {"expression", spec_.schedule_text},
                     {"datasets", spec_.schedule_datasets}};
    j["timezone"] = spec_.timezone;
    j["start_date"] = spec_.start_date ? json(format_utc(*spec_.start_date)) : json(nullptr);
    j["end_date"] = spec_.end_date ? json(format_utc(*spec_.end_date)) : json(nullptr);
    j["catchup"] = spec_.catchup;
    j["max_active_runs"] = spec_.max_active_runs;
    j["max_active_tasks"] = spec_.max_active_tasks;
    j["params"] = json::parse(spec_.params_json);
    j["sla"] = {{"run_deadline", opt_duration(spec_.sla_run_deadline)},
                {"run_duration", opt_duration(spec_.sla_run_duration)}};
    json notify = json::object();
    auto targets = [](const std::vector<NotifyTarget>& v) {
      json a = json::array();
      for (auto& t : v) a.push_back({{t.kind == NotifyTarget::Kind::webhook ? "webhook" : "command", t.value}});
      return a;
    };
    notify["on_failure"] = targets(spec_.on_failure);
    notify["on_success"] = targets(spec_.on_success);
    notify["on_retry"] = targets(spec_.on_retry);
    notify["on_sla_miss"] = targets(spec_.on_sla_miss);
    // Only when set: DAGs written before these keys keep their versions.
    if (!spec_.on_sla_risk.empty()) notify["on_sla_risk"] = targets(spec_.on_sla_risk);
    if (!spec_.on_slow.empty()) notify["on_slow"] = targets(spec_.on_slow);
    if (!spec_.on_stuck.empty()) notify["on_stuck"] = targets(spec_.on_stuck);
    j["notify"] = notify;
    // Tasks by id: the order they are written in changes nothing.
    json tasks = json::object();
    for (int i : order) tasks[spec_.tasks[static_cast<size_t>(i)].id] = task_json(spec_.tasks[static_cast<size_t>(i)]);
    j["tasks"] = std::move(tasks);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
  }

  DagGraphPtr build(const std::vector<int>& order) {
    auto g = std::make_shared<DagGraph>();
    std::string canon = canonical(order);
    g->spec_ = std::move(spec_);
    g->index_ = std::move(index_);
    g->upstream_ = std::move(upstream_);
    g->downstream_ = std::move(downstream_);
    for (int i : order) g->order_.push_back(&g->spec_.tasks[static_cast<size_t>(i)]);
    for (size_t i = 0; i < g->spec_.tasks.size(); ++i) {
      if (g->upstream_[i].empty()) g->roots_.push_back(static_cast<int>(i));
      if (g->downstream_[i].empty()) g->leaves_.push_back(static_cast<int>(i));
    }
    const DagSpec& s = g->spec_;
    switch (s.schedule_kind) {
      case DagSpec::ScheduleKind::cron:
        g->schedule_ = Schedule::cron(*CronExpr::parse(s.schedule_text), *TimeZone::find(s.timezone))
                           .bounded(s.start_date, s.end_date);
        break;
      case DagSpec::ScheduleKind::every:
        g->schedule_ = Schedule::every(*parse_duration(s.schedule_text), *s.start_date).bounded(s.start_date, s.end_date);
        break;
      case DagSpec::ScheduleKind::datasets:
        g->schedule_ = Schedule::datasets(s.schedule_datasets);
        break;
      case DagSpec::ScheduleKind::none:
        break;
    }
    g->hash_ = sha256_hex(canon);
    g->canonical_ = std::move(canon);
    return g;
  }

  DagSpec spec_;
  Diagnostics& diag_;
  std::map<std::string, int> index_;
  std::vector<std::vector<int>> upstream_, downstream_;
};

CompileResult compile_dag(std::string_view yaml_text, const std::string& file) {
  CompileResult out;
  Diagnostics diag(file);
  YamlDocument doc = load_yaml(yaml_text);
  for (auto& e : doc.errors) diag.error(e.pos, e.message);
  if (doc.root) {
    DagSpec spec = parse_dag_spec(*doc.root, diag);
    out.dag_id = spec.dag_id;
    out.dag_pos = spec.dag_pos;
    out.ns = spec.ns;
    out.graph = Compiler(std::move(spec), diag).run();
  } else if (doc.errors.empty()) {
    diag.error({1, 1}, "the file is empty: a DAG file needs at least the keys `dag` and `tasks`");
  }
  if (!diag.empty()) out.graph = nullptr;
  out.errors = diag.list();
  out.warnings = diag.warnings();
  std::stable_sort(out.errors.begin(), out.errors.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return a.pos.line != b.pos.line ? a.pos.line < b.pos.line : a.pos.col < b.pos.col;
  });
  return out;
}

CompileResult compile_dag_file(const std::string& path) {
  auto fail = [&](const std::string& why) {
    CompileResult r;
    r.errors.push_back({path, {1, 1}, why});
    return r;
  };
  constexpr size_t kLimit = 1 << 20;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail("cannot read the file: " + std::string(std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file: a DAG file must be a plain file");
  if (st.st_size > static_cast<off_t>(kLimit))
    return fail("file is " + std::to_string(st.st_size) + " bytes; the limit is 1048576 bytes (1 MiB)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read the file: " + std::string(std::strerror(errno)));
  // Read at most one byte past the limit, whatever stat said (the file may
  // grow): a buffer of the size stat gave and one byte more, and on up to
  // the limit's byte more only when that byte was read too; a file that
  // reached it is refused. (A buffer of the limit for every file zeroed
  // 1 MiB a file: a third of a cold load's compile.)
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  size_t got = static_cast<size_t>(in.gcount());
  if (!in.bad() && got == text.size() && got < kLimit + 1) {
    text.resize(kLimit + 1);
    in.clear();
    in.read(text.data() + got, static_cast<std::streamsize>(text.size() - got));
    got += static_cast<size_t>(in.gcount());
  }
  if (in.bad()) return fail("cannot read the file");
  if (got > kLimit) return fail("file is over 1048576 bytes (it grew as it was read); the limit is 1048576 bytes (1 MiB)");
  text.resize(got);
  CompileResult r = compile_dag(text, path);
  r.source = std::move(text);
  return r;
}

Result<std::string> render_run_params(const DagSpec& spec, const std::string& params_json,
                                      const std::vector<std::string>& given, RenderContext ctx) {
  using nlohmann::json;
  json params = json::parse(params_json, nullptr, false);
  if (!params.is_object()) return Error::invalid("params must be a JSON object");
  ctx.params_json = params_json;
  bool changed = false;
  for (auto& [k, tt] : spec.params_templates) {
    if (tt.text.find("{{") == std::string::npos) continue;
    if (std::find(given.begin(), given.end(), k) != given.end()) continue;
    auto r = render_template(tt.text, ctx);
    if (!r) return Error{r.error().code, "params." + k + ": " + r.error().message};
    params[k] = *r;
    changed = true;
  }
  if (!changed) return params_json;
  return params.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status check_param_names(const DagSpec& spec, const std::vector<std::string>& given) {
  std::vector<std::string> declared = spec.param_names;
  if (spec.schedule_kind == DagSpec::ScheduleKind::datasets) declared.push_back("dataset_events");
  for (const auto& k : given) {
    if (std::find(declared.begin(), declared.end(), k) != declared.end()) continue;
    std::string list;
    for (size_t i = 0; i < spec.param_names.size() && i < 20; ++i) list += (i ? ", " : "") + spec.param_names[i];
    if (spec.param_names.size() > 20) list += ", ...";
    return Error::invalid("params: \"" + k + "\" is not a param of DAG " + spec.dag_id + did_you_mean(k, declared) +
                          (spec.param_names.empty() ? "; it declares none (params: in its file)"
                                                    : "; its params are: " + list));
  }
  return {};
}

}  // namespace baton::dsl
