#include "parser.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "baton/core/cron.h"
#include "baton/core/duration.h"
#include "baton/core/ids.h"
#include "baton/core/timezone.h"
#include "baton/dsl/compiler.h"
#include "baton/dsl/render.h"

namespace baton::dsl {

namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kDagKeys = {
    "dag",         "description", "owner",           "namespace",        "tags",           "schedule",
    "timezone",    "start_date",  "end_date",        "catchup",          "max_active_runs", "max_active_tasks",
    "depends_on_past", "params",  "sla",             "notify",           "defaults",       "tasks"};

const std::vector<std::string> kCommonTaskKeys = {
    "type",    "depends_on",     "trigger_rule",      "retries", "retry_delay", "retry_backoff",
    "max_retry_delay", "retry_jitter", "timeout",     "kill_grace", "pool",     "pool_slots",
    "queue",   "priority",       "depends_on_past",   "foreach", "sla",         "produces",
    "stuck_after", "on_stuck"};

struct TypeInfo {
  TaskType type;
  const char* name;
  std::vector<std::string> keys;      // keys only this type (and others listed) take
  std::vector<std::string> required;
};

const std::vector<TypeInfo> kTypes = {
    {TaskType::shell, "shell", {"command", "env", "working_dir", "skip_exit_code"}, {"command"}},
    {TaskType::noop, "noop", {}, {}},
    {TaskType::http, "http", {"method", "url", "headers", "body", "expect_status"}, {"url"}},
    {TaskType::sql, "sql", {"connection", "sql"}, {"connection", "sql"}},
    {TaskType::sensor_file, "sensor.file", {"path", "poke_interval"}, {"path"}},
    {TaskType::sensor_task, "sensor.task", {"dag", "task", "logical_date_offset", "poke_interval"}, {"dag", "task"}},
    {TaskType::sensor_http, "sensor.http", {"url", "expect_status", "poke_interval"}, {"url"}},
    {TaskType::trigger_dag, "trigger_dag", {"dag", "params", "wait"}, {"dag"}},
};

const std::vector<std::string>& all_task_keys() {
  static const std::vector<std::string> keys = [] {
    std::set<std::string> s(kCommonTaskKeys.begin(), kCommonTaskKeys.end());
    for (auto& t : kTypes) s.insert(t.keys.begin(), t.keys.end());
    return std::vector<std::string>(s.begin(), s.end());
  }();
  return keys;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

bool valid_param_name(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

class SpecParser {
 public:
  explicit SpecParser(Diagnostics& diag) : diag_(diag) {}

  DagSpec parse(const YamlNode& root) {
    spec_.file = diag_.file();
    if (!root.is_map()) {
      diag_.error(root.pos, "a DAG file must be a mapping with at least the keys `dag` and `tasks`, found " +
                                describe_kind(root));
      return std::move(spec_);
    }
    check_keys(root, kDagKeys, "");
    // The zone first: dates are read in it.
    if (auto* n = root.get("timezone")) {
      if (auto s = string_of(*n, "timezone")) {
        auto z = TimeZone::find(*s);
        if (!z) diag_.error(n->pos, "timezone", z.error().message);
        else { spec_.timezone = *s; zone_ = *z; }
      }
    }
    if (auto* n = root.get("dag")) {
      spec_.dag_pos = n->pos;
      if (auto s = string_of(*n, "dag")) {
        if (!is_valid_dag_id(*s))
          diag_.error(n->pos, "dag", "invalid DAG id \"" + *s +
                                          "\": use 1 to 200 letters, digits, `_`, `.` or `-`, starting with a "
                                          "letter or digit");
        spec_.dag_id = *s;
      }
    } else {
      diag_.error(root.pos, "missing required key `dag` (the DAG's id)");
    }
    if (auto* n = root.get("description")) if (auto s = string_of(*n, "description")) spec_.description = *s;
    if (auto* n = root.get("owner")) if (auto s = string_of(*n, "owner")) spec_.owner = *s;
    if (auto* n = root.get("namespace")) {
      if (auto s = string_of(*n, "namespace")) {
        if (!is_valid_dag_id(*s))
          diag_.error(n->pos, "namespace", "invalid namespace \"" + *s +
                                                "\": use 1 to 200 letters, digits, `_`, `.` or `-`, starting "
                                                "with a letter or digit");
        else spec_.ns = *s;
      }
    }
    if (auto* n = root.get("tags")) if (auto v = string_list(*n, "tags")) spec_.tags = *v;
    if (auto* n = root.get("catchup")) if (auto b = bool_of(*n, "catchup")) spec_.catchup = *b;
    if (auto* n = root.get("depends_on_past")) if (auto b = bool_of(*n, "depends_on_past")) spec_.depends_on_past = *b;
    if (auto* n = root.get("max_active_runs")) if (auto v = int_of(*n, "max_active_runs", 1, 10000)) spec_.max_active_runs = static_cast<int>(*v);
    if (auto* n = root.get("max_active_tasks")) if (auto v = int_of(*n, "max_active_tasks", 1, 100000)) spec_.max_active_tasks = static_cast<int>(*v);
    const YamlNode* start_node = root.get("start_date");
    if (start_node) spec_.start_date = date_of(*start_node, "start_date", spec_.start_date_text);
    if (auto* n = root.get("end_date")) {
      spec_.end_date = date_of(*n, "end_date", spec_.end_date_text, /*whole_day=*/true);
      if (spec_.start_date && spec_.end_date && *spec_.end_date < *spec_.start_date)
        diag_.error(n->pos, "end_date", "end_date " + spec_.end_date_text + " is before start_date " +
                                            spec_.start_date_text);
    }
    if (auto* n = root.get("schedule")) parse_schedule(*n);
    if (spec_.schedule_kind == DagSpec::ScheduleKind::cron || spec_.schedule_kind == DagSpec::ScheduleKind::every) {
      if (!start_node)
        diag_.error(spec_.schedule_pos, "schedule", "a time schedule needs `start_date` (the first interval starts "
                                                    "at or after it), e.g. start_date: 2026-01-01");
    }
    if (auto* n = root.get("params")) parse_params(*n, "params", spec_.params_json, spec_.params_templates, &spec_.param_names);
    if (auto* n = root.get("sla")) parse_dag_sla(*n);
    if (auto* n = root.get("notify")) parse_notify(*n);
    const YamlNode* defaults = root.get("defaults");
    if (defaults) {
      if (!defaults->is_map()) {
        diag_.error(defaults->pos, "defaults", "expected a mapping of task keys, found " + describe_kind(*defaults));
        defaults = nullptr;
      } else {
        check_defaults(*defaults);
      }
    }
    if (auto* n = root.get("tasks")) parse_tasks(*n, root.key("tasks")->pos, defaults);
    else diag_.error(root.pos, "missing required key `tasks` (a mapping: task id -> task)");
    return std::move(spec_);
  }

 private:
  // ---- typed readers: each reports its own error and returns nullopt ----

  void type_error(const YamlNode& n, const std::string& path, const std::string& expected) {
    diag_.error(n.pos, path, "expected " + expected + ", found " + describe_kind(n));
  }

  std::optional<std::string> string_of(const YamlNode& n, const std::string& path) {
    if (!n.is_scalar() || scalar_type(n) == ScalarType::null) {
      type_error(n, path, "a string");
      return std::nullopt;
    }
    return n.scalar;
  }

  // A scalar of any type, as text (env values may be numbers).
  std::optional<std::string> text_of(const YamlNode& n, const std::string& path) {
    if (!n.is_scalar()) {
      type_error(n, path, "a string");
      return std::nullopt;
    }
    return n.scalar;
  }

  std::optional<bool> bool_of(const YamlNode& n, const std::string& path) {
    if (!n.is_scalar() || scalar_type(n) != ScalarType::boolean) {
      type_error(n, path, "true or false");
      return std::nullopt;
    }
    return scalar_bool(n);
  }

  std::optional<long long> int_of(const YamlNode& n, const std::string& path, long long lo, long long hi) {
    if (!n.is_scalar() || scalar_type(n) != ScalarType::integer || n.scalar.size() > 15) {
      type_error(n, path, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      return std::nullopt;
    }
    long long v = std::stoll(n.scalar);
    if (v < lo || v > hi) {
      diag_.error(n.pos, path, std::to_string(v) + " is out of range; allowed: " + std::to_string(lo) + " to " +
                                   std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }

  std::optional<Duration> duration_of(const YamlNode& n, const std::string& path, Duration min,
                                      bool allow_negative = false) {
    if (!n.is_scalar() || scalar_type(n) == ScalarType::null || scalar_type(n) == ScalarType::boolean) {
      type_error(n, path, "a duration such as 45s, 5m, 2h, 1d or 1h30m");
      return std::nullopt;
    }
    auto d = parse_duration(n.scalar, allow_negative);
    if (!d) {
      diag_.error(n.pos, path, d.error().message);
      return std::nullopt;
    }
    if (!allow_negative && *d < min) {
      diag_.error(n.pos, path, "duration " + n.scalar + " is too short; the least allowed is " + format_duration(min));
      return std::nullopt;
    }
    return *d;
  }

  std::optional<std::vector<std::string>> string_list(const YamlNode& n, const std::string& path,
                                                      std::vector<SourcePos>* positions = nullptr) {
    if (!n.is_seq()) {
      type_error(n, path, "a list of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (size_t i = 0; i < n.items.size(); ++i) {
      auto s = string_of(*n.items[i], path + "[" + std::to_string(i) + "]");
      if (s) {
        out.push_back(*s);
        if (positions) positions->push_back(n.items[i]->pos);
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<TemplateText> template_of(const YamlNode& n, const std::string& path) {
    auto s = text_of(n, path);
    if (!s) return std::nullopt;
    return TemplateText{*s, n.pos, !n.quoted && !n.multiline};
  }

  // A plain date is local midnight; as an end bound (whole_day) it covers the
  // whole local day, like the bounds of a backfill.
  std::optional<TimePoint> date_of(const YamlNode& n, const std::string& path, std::string& text,
                                   bool whole_day = false) {
    auto s = string_of(n, path);
    if (!s) return std::nullopt;
    auto d = parse_date_time(*s);
    if (!d) {
      diag_.error(n.pos, path, d.error().message);
      return std::nullopt;
    }
    text = *s;
    if (whole_day && !d->local.has_time && !d->absolute) {
      int y, m, day;
      civil_from_days(days_from_civil(d->local.year, d->local.month, d->local.day) + 1, y, m, day);
      DateTimeText next{LocalDateTime{y, m, day, 0, 0, 0, false}, std::nullopt};
      return zone_.resolve(next) - Duration(1);
    }
    return zone_.resolve(*d);
  }

  void check_keys(const YamlNode& map, const std::vector<std::string>& allowed, const std::string& path,
                  const std::string& what = "") {
    for (auto& [k, v] : map.entries) {
      std::string key = k->is_scalar() ? k->scalar : to_json(*k);
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      diag_.error(k->pos, path.empty() ? key : path + "." + key,
                  "unknown key \"" + key + "\"" + did_you_mean(key, allowed) + "; allowed" + what + ": " +
                      join(allowed));
    }
  }

  // ---- DAG-level sections ----

  void parse_schedule(const YamlNode& n) {
    spec_.schedule_pos = n.pos;
    if (n.is_null() || (n.is_scalar() && scalar_type(n) == ScalarType::null)) return;
    if (n.is_map()) {
      check_keys(n, {"datasets"}, "schedule");
      auto* d = n.get("datasets");
      if (!d) {
        diag_.error(n.pos, "schedule", "a mapping schedule must be { datasets: [URI, ...] }");
        return;
      }
      if (auto v = string_list(*d, "schedule.datasets")) {
        if (v->empty()) diag_.error(d->pos, "schedule.datasets", "list at least one dataset URI");
        spec_.schedule_kind = DagSpec::ScheduleKind::datasets;
        spec_.schedule_datasets = *v;
      }
      return;
    }
    auto s = string_of(n, "schedule");
    if (!s) return;
    std::string text = *s;
    if (text == "none") return;
    if (text.rfind("every", 0) == 0) {
      std::string rest = text.substr(5);
      rest.erase(0, rest.find_first_not_of(' '));
      auto d = parse_duration(rest);
      if (!d) {
        diag_.error(n.pos, "schedule", "invalid `every` schedule \"" + text + "\": " + d.error().message);
        return;
      }
      if (*d < 1s) {
        diag_.error(n.pos, "schedule", "invalid `every` schedule \"" + text + "\": the period must be at least 1s");
        return;
      }
      spec_.schedule_kind = DagSpec::ScheduleKind::every;
      spec_.schedule_text = format_duration(*d);
      return;
    }
    auto c = CronExpr::parse(text);
    if (!c) {
      diag_.error(n.pos, "schedule", c.error().message +
                                         " (a schedule is a cron expression, an @macro, `every DURATION`, "
                                         "{ datasets: [...] } or none)");
      return;
    }
    spec_.schedule_kind = DagSpec::ScheduleKind::cron;
    spec_.schedule_text = c->text();
  }

  void parse_params(const YamlNode& n, const std::string& path, std::string& json_out,
                    std::map<std::string, TemplateText>& templates, std::vector<std::string>* names) {
    if (!n.is_map()) {
      type_error(n, path, "a mapping of parameter names to values");
      return;
    }
    for (auto& [k, v] : n.entries) {
      std::string key = k->scalar;
      if (!k->is_scalar() || !valid_param_name(key)) {
        diag_.error(k->pos, path, "invalid parameter name \"" + key +
                                      "\": use letters, digits and `_`, not starting with a digit");
        continue;
      }
      if (names) names->push_back(key);
      if (v->is_scalar() && scalar_type(*v) == ScalarType::string)
        templates[key] = TemplateText{v->scalar, v->pos, !v->quoted && !v->multiline};
    }
    json_out = to_json(n);
  }

  void parse_dag_sla(const YamlNode& n) {
    if (!n.is_map()) {
      type_error(n, "sla", "a mapping with run_deadline and/or run_duration");
      return;
    }
    check_keys(n, {"run_deadline", "run_duration"}, "sla");
    if (auto* d = n.get("run_deadline")) spec_.sla_run_deadline = duration_of(*d, "sla.run_deadline", 1s);
    if (auto* d = n.get("run_duration")) spec_.sla_run_duration = duration_of(*d, "sla.run_duration", 1s);
  }

  void parse_notify(const YamlNode& n) {
    if (!n.is_map()) {
      type_error(n, "notify",
                 "a mapping with on_failure, on_success, on_retry, on_sla_miss, on_sla_risk, on_slow and/or on_stuck");
      return;
    }
    check_keys(n, {"on_failure", "on_success", "on_retry", "on_sla_miss", "on_sla_risk", "on_slow", "on_stuck"},
               "notify");
    auto list = [&](const char* key, std::vector<NotifyTarget>& out) {
      auto* l = n.get(key);
      if (!l) return;
      std::string path = std::string("notify.") + key;
      if (!l->is_seq()) {
        type_error(*l, path, "a list of { webhook: URL } or { command: \"...\" }");
        return;
      }
      for (size_t i = 0; i < l->items.size(); ++i) {
        const YamlNode& item = *l->items[i];
        std::string ipath = path + "[" + std::to_string(i) + "]";
        if (!item.is_map() || item.entries.size() != 1) {
          type_error(item, ipath, "{ webhook: URL } or { command: \"...\" }");
          continue;
        }
        check_keys(item, {"webhook", "command"}, ipath);
        if (auto* w = item.get("webhook")) {
          if (auto s = string_of(*w, ipath + ".webhook")) {
            if (auto u = parse_http_url(*s); !u)
              diag_.error(w->pos, ipath + ".webhook", u.error().message);
            else out.push_back({NotifyTarget::Kind::webhook, *s});
          }
        } else if (auto* c = item.get("command")) {
          if (auto s = string_of(*c, ipath + ".command")) out.push_back({NotifyTarget::Kind::command, *s});
        }
      }
    };
    list("on_failure", spec_.on_failure);
    list("on_success", spec_.on_success);
    list("on_retry", spec_.on_retry);
    list("on_sla_miss", spec_.on_sla_miss);
    list("on_sla_risk", spec_.on_sla_risk);
    list("on_slow", spec_.on_slow);
    list("on_stuck", spec_.on_stuck);
  }

  // ---- tasks ----

  // `defaults` is checked once, on its own: unknown keys and bad values are
  // reported there, not once per task.
  void check_defaults(const YamlNode& defaults) {
    check_keys(defaults, all_task_keys(), "defaults", " (any task key)");
    TaskSpec scratch;
    for (auto& [k, v] : defaults.entries) {
      if (!k->is_scalar()) continue;
      const auto& keys = all_task_keys();
      if (std::find(keys.begin(), keys.end(), k->scalar) == keys.end()) continue;
      apply_key(scratch, k->scalar, *v, "defaults." + k->scalar);
    }
  }

  void parse_tasks(const YamlNode& n, SourcePos key_pos, const YamlNode* defaults) {
    if (!n.is_map()) {
      type_error(n, "tasks", "a mapping of task ids to tasks");
      return;
    }
    if (n.entries.empty()) {
      diag_.error(key_pos, "tasks", "a DAG needs at least one task");
      return;
    }
    if (n.entries.size() > kMaxTasks) {
      diag_.error(key_pos, "tasks", std::to_string(n.entries.size()) + " tasks; the limit is " +
                                      std::to_string(kMaxTasks) + " tasks per DAG");
      return;
    }
    spec_.tasks.reserve(n.entries.size());
    for (auto& [k, v] : n.entries) {
      std::string id = k->scalar;
      std::string path = "tasks." + id;
      if (!k->is_scalar() || !is_valid_task_id(id)) {
        diag_.error(k->pos, "tasks", "invalid task id \"" + (k->is_scalar() ? id : to_json(*k)) +
                                         "\": use 1 to 200 letters, digits, `_`, `.` or `-`, starting with a "
                                         "letter, digit or `_`");
        continue;
      }
      if (!v->is_map()) {
        type_error(*v, path, "a mapping of task keys (at least `command` or `type`)");
        continue;
      }
      spec_.tasks.push_back(parse_task(id, k->pos, *v, defaults, path));
    }
  }

  const TypeInfo* type_named(const std::string& s) {
    for (auto& t : kTypes)
      if (s == t.name) return &t;
    return nullptr;
  }

  TaskSpec parse_task(const std::string& id, SourcePos pos, const YamlNode& task, const YamlNode* defaults,
                      const std::string& path) {
    TaskSpec t;
    t.id = id;
    t.pos = pos;
    t.depends_on_past = spec_.depends_on_past;
    check_keys(task, all_task_keys(), path);

    // The type: its own, the default one, or `shell` when there is a command.
    const TypeInfo* info = nullptr;
    const YamlNode* type_node = task.get("type");
    bool type_from_defaults = false;
    if (!type_node && defaults) {
      type_node = defaults->get("type");
      type_from_defaults = type_node != nullptr;
    }
    if (type_node) {
      diag_.set_muted(type_from_defaults);
      if (auto s = string_of(*type_node, path + ".type")) {
        info = type_named(*s);
        if (!info) {
          std::vector<std::string> names;
          for (auto& ti : kTypes) names.push_back(ti.name);
          diag_.error(type_node->pos, path + ".type", "unknown task type \"" + *s + "\"" + did_you_mean(*s, names) +
                                                          "; allowed: " + join(names));
        }
      }
      diag_.set_muted(false);
      if (!info) {
        // Still check the keys every type takes, so that one typo does not
        // hide the file's other errors.
        for (auto& [k, v] : task.entries)
          if (k->is_scalar() && k->scalar != "type" &&
              std::find(kCommonTaskKeys.begin(), kCommonTaskKeys.end(), k->scalar) != kCommonTaskKeys.end())
            apply_key(t, k->scalar, *v, path + "." + k->scalar);
        return t;
      }
    } else if (task.get("command") || (defaults && defaults->get("command"))) {
      info = &kTypes[0];
    } else {
      diag_.error(pos, path, "a task needs `command` (a shell task) or a `type` (noop, http, sql, sensor.file, "
                             "sensor.task, sensor.http, trigger_dag)");
      return t;
    }
    t.type = info->type;
    if (is_sensor(t.type)) t.timeout = std::chrono::hours(24 * 7);

    auto applies = [&](const std::string& key) {
      if (std::find(kCommonTaskKeys.begin(), kCommonTaskKeys.end(), key) != kCommonTaskKeys.end()) return true;
      return std::find(info->keys.begin(), info->keys.end(), key) != info->keys.end();
    };
    auto owners_of = [&](const std::string& key) {
      std::vector<std::string> owners;
      for (auto& ti : kTypes)
        if (std::find(ti.keys.begin(), ti.keys.end(), key) != ti.keys.end()) owners.push_back(ti.name);
      return owners;
    };
    std::set<std::string> seen;
    // The task's own keys, then the defaults it does not override.
    for (auto& [k, v] : task.entries) {
      if (!k->is_scalar() || k->scalar == "type") continue;
      const auto& keys = all_task_keys();
      if (std::find(keys.begin(), keys.end(), k->scalar) == keys.end()) continue;  // reported by check_keys
      seen.insert(k->scalar);
      if (!applies(k->scalar)) {
        diag_.error(k->pos, path + "." + k->scalar,
                    "key \"" + k->scalar + "\" does not apply to a task of type " + info->name +
                        "; it belongs to type " + join(owners_of(k->scalar), " or "));
        continue;
      }
      apply_key(t, k->scalar, *v, path + "." + k->scalar);
    }
    if (defaults) {
      diag_.set_muted(true);
      for (auto& [k, v] : defaults->entries) {
        if (!k->is_scalar() || k->scalar == "type" || seen.count(k->scalar) || !applies(k->scalar)) continue;
        seen.insert(k->scalar);
        apply_key(t, k->scalar, *v, "defaults." + k->scalar);
      }
      diag_.set_muted(false);
    }
    for (auto& req : info->required)
      if (!seen.count(req))
        diag_.error(pos, path, "missing required key `" + req + "` for a task of type " + info->name);
    return t;
  }

  void apply_key(TaskSpec& t, const std::string& key, const YamlNode& v, const std::string& path) {
    if (key == "type") {
      if (auto s = string_of(v, path); s && !type_named(*s)) {
        std::vector<std::string> names;
        for (auto& ti : kTypes) names.push_back(ti.name);
        diag_.error(v.pos, path, "unknown task type \"" + *s + "\"" + did_you_mean(*s, names) + "; allowed: " +
                                     join(names));
      }
    } else if (key == "depends_on") {
      t.depends_on.clear();
      t.depends_on_pos.clear();
      if (v.is_scalar() && scalar_type(v) == ScalarType::string) {
        t.depends_on = {v.scalar};
        t.depends_on_pos = {v.pos};
      } else if (auto l = string_list(v, path, &t.depends_on_pos)) {
        t.depends_on = *l;
      } else {
        t.depends_on_pos.clear();
      }
    } else if (key == "trigger_rule") {
      static const std::vector<std::string> rules = {"all_success", "all_failed", "all_done",     "one_success",
                                                     "one_failed",  "none_failed", "none_skipped", "always"};
      if (auto s = string_of(v, path)) {
        auto it = std::find(rules.begin(), rules.end(), *s);
        if (it == rules.end())
          diag_.error(v.pos, path, "unknown trigger rule \"" + *s + "\"" + did_you_mean(*s, rules) +
                                       "; allowed: " + join(rules));
        else t.trigger_rule = static_cast<TriggerRule>(it - rules.begin());
      }
    } else if (key == "retries") {
      if (auto x = int_of(v, path, 0, 100)) t.retries = static_cast<int>(*x);
    } else if (key == "retry_delay") {
      if (auto d = duration_of(v, path, 0s)) t.retry_delay = *d;
    } else if (key == "retry_backoff") {
      if (auto s = string_of(v, path)) {
        if (*s == "fixed") t.retry_backoff = RetryBackoff::fixed;
        else if (*s == "exponential") t.retry_backoff = RetryBackoff::exponential;
        else diag_.error(v.pos, path, "unknown retry_backoff \"" + *s + "\"" +
                                          did_you_mean(*s, {"fixed", "exponential"}) + "; allowed: fixed, exponential");
      }
    } else if (key == "max_retry_delay") {
      if (auto d = duration_of(v, path, 1s)) t.max_retry_delay = *d;
    } else if (key == "retry_jitter") {
      if (auto b = bool_of(v, path)) t.retry_jitter = *b;
    } else if (key == "timeout") {
      if (auto d = duration_of(v, path, 1s)) t.timeout = *d;
    } else if (key == "stuck_after") {
      if (auto d = duration_of(v, path, 1s)) t.stuck_after = *d;
    } else if (key == "on_stuck") {
      if (auto s = string_of(v, path)) {
        if (*s == "alert" || *s == "fail") t.stuck_fail = *s == "fail";
        else diag_.error(v.pos, path, "unknown on_stuck \"" + *s + "\"" + did_you_mean(*s, {"alert", "fail"}) +
                                          "; allowed: alert, fail");
      }
    } else if (key == "kill_grace") {
      if (auto d = duration_of(v, path, 0s)) t.kill_grace = *d;
    } else if (key == "pool" || key == "queue") {
      if (auto s = string_of(v, path)) {
        if (!is_valid_name(*s))
          diag_.error(v.pos, path, "invalid " + key + " name \"" + *s +
                                       "\": use 1 to 200 letters, digits, `_`, `.` or `-`");
        else (key == "pool" ? t.pool : t.queue) = *s;
      }
    } else if (key == "pool_slots") {
      if (auto x = int_of(v, path, 1, 10000)) t.pool_slots = static_cast<int>(*x);
    } else if (key == "priority") {
      if (auto x = int_of(v, path, -1000000000, 1000000000)) t.priority = static_cast<int>(*x);
    } else if (key == "depends_on_past") {
      if (auto b = bool_of(v, path)) t.depends_on_past = *b;
    } else if (key == "foreach") {
      parse_foreach(t, v, path);
    } else if (key == "env") {
      if (!v.is_map()) {
        type_error(v, path, "a mapping of variable names to strings");
        return;
      }
      for (auto& [ek, ev] : v.entries) {
        std::string name = ek->scalar;
        if (!ek->is_scalar() || !valid_param_name(name)) {
          diag_.error(ek->pos, path, "invalid environment variable name \"" + name +
                                         "\": use letters, digits and `_`, not starting with a digit");
          continue;
        }
        if (auto tt = template_of(*ev, path + "." + name)) t.env[name] = *tt;
      }
    } else if (key == "working_dir") {
      if (auto s = string_of(v, path)) t.working_dir = *s;
    } else if (key == "skip_exit_code") {
      if (auto x = int_of(v, path, 0, 255)) t.skip_exit_code = static_cast<int>(*x);
    } else if (key == "sla") {
      if (!v.is_map()) {
        type_error(v, path, "a mapping { max_duration: DURATION }");
        return;
      }
      check_keys(v, {"max_duration"}, path);
      if (auto* d = v.get("max_duration")) t.sla_max_duration = duration_of(*d, path + ".max_duration", 1s);
    } else if (key == "produces") {
      if (auto l = string_list(v, path)) {
        for (size_t i = 0; i < l->size(); ++i) {
          const std::string& u = (*l)[i];
          if (u.empty() || u.find_first_of(" \t\n") != std::string::npos)
            diag_.error(v.items[i]->pos, path + "[" + std::to_string(i) + "]",
                        "a dataset URI must be non-empty and hold no spaces, e.g. s3://bucket/path");
        }
        t.produces = *l;
      }
    } else if (key == "command") {
      if (auto tt = template_of(v, path)) {
        if (tt->text.find_first_not_of(" \t\n") == std::string::npos) diag_.error(v.pos, path, "the command is empty");
        t.command = *tt;
      }
    } else if (key == "method") {
      static const std::vector<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
      if (auto s = string_of(v, path)) {
        std::string up = *s;
        for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (std::find(methods.begin(), methods.end(), up) == methods.end())
          diag_.error(v.pos, path, "unknown HTTP method \"" + *s + "\"; allowed: " + join(methods));
        else t.method = up;
      }
    } else if (key == "url") {
      if (auto tt = template_of(v, path)) {
        // Without templates the whole URL is checked now (valid http(s), at
        // most 8 KiB); with some, its start and its literal text's length.
        if (auto st = check_url_template(tt->text); !st)
          diag_.error(v.pos, path, st.error().message);
        else if (tt->text.rfind("http://", 0) != 0 && tt->text.rfind("https://", 0) != 0 &&
                 tt->text.rfind("{{", 0) != 0)
          diag_.error(v.pos, path, "\"" + tt->text.substr(0, 200) + "\" is not an http:// or https:// URL");
        t.url = *tt;
      }
    } else if (key == "headers") {
      if (!v.is_map()) {
        type_error(v, path, "a mapping of header names to values");
        return;
      }
      for (auto& [hk, hv] : v.entries)
        if (auto tt = template_of(*hv, path + "." + hk->scalar)) t.headers[hk->scalar] = *tt;
    } else if (key == "body") {
      if (auto tt = template_of(v, path)) t.body = *tt;
    } else if (key == "expect_status") {
      t.expect_status.clear();
      if (v.is_seq()) {
        for (size_t i = 0; i < v.items.size(); ++i)
          if (auto x = int_of(*v.items[i], path + "[" + std::to_string(i) + "]", 100, 599))
            t.expect_status.push_back(static_cast<int>(*x));
        if (v.items.empty()) diag_.error(v.pos, path, "list at least one status code");
      } else if (auto x = int_of(v, path, 100, 599)) {
        t.expect_status.push_back(static_cast<int>(*x));
      }
    } else if (key == "connection") {
      if (auto s = string_of(v, path)) {
        if (!is_valid_name(*s)) diag_.error(v.pos, path, "invalid connection name \"" + *s + "\"");
        t.connection = *s;
      }
    } else if (key == "sql") {
      if (auto tt = template_of(v, path)) t.sql = *tt;
    } else if (key == "path") {
      if (auto tt = template_of(v, path)) t.path = *tt;
    } else if (key == "dag") {
      if (auto s = string_of(v, path)) {
        if (!is_valid_dag_id(*s)) diag_.error(v.pos, path, "invalid DAG id \"" + *s + "\"");
        t.target_dag = *s;
      }
    } else if (key == "task") {
      if (auto s = string_of(v, path)) {
        if (!is_valid_task_id(*s)) diag_.error(v.pos, path, "invalid task id \"" + *s + "\"");
        t.target_task = *s;
      }
    } else if (key == "logical_date_offset") {
      if (auto d = duration_of(v, path, 0s, true)) t.logical_date_offset = *d;
    } else if (key == "poke_interval") {
      if (auto d = duration_of(v, path, 1s)) t.poke_interval = *d;
    } else if (key == "params") {
      parse_params(v, path, t.trigger_params_json, t.trigger_params_templates, nullptr);
    } else if (key == "wait") {
      if (auto b = bool_of(v, path)) t.wait = *b;
    }
  }

  void parse_foreach(TaskSpec& t, const YamlNode& v, const std::string& path) {
    t.foreach_json.reset();
    t.foreach_template.reset();
    if (v.is_seq()) {
      if (v.items.size() > 100000) {
        diag_.error(v.pos, path, "more than 100,000 items");
        return;
      }
      t.foreach_json = to_json(v);
      return;
    }
    if (v.is_scalar() && scalar_type(v) == ScalarType::string) {
      if (v.scalar.find("{{") != std::string::npos) {
        t.foreach_template = TemplateText{v.scalar, v.pos, !v.quoted && !v.multiline};
        return;
      }
      // A JSON list written as a string; as deep and as long as YAML may be.
      struct TooDeep {};
      try {
        auto j = nlohmann::json::parse(v.scalar, [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > 64) throw TooDeep{};
          return true;
        });
        if (j.is_array() && j.size() > 100000) {
          diag_.error(v.pos, path, "more than 100,000 items");
          return;
        }
        if (j.is_array()) {
          t.foreach_json = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          return;
        }
      } catch (const TooDeep&) {
        diag_.error(v.pos, path, "the JSON list nests deeper than 64 levels");
        return;
      } catch (const std::exception&) {
      }
    }
    type_error(v, path, "a list, or a template that yields a JSON list such as \"{{ outputs.list_files.files }}\"");
  }

  Diagnostics& diag_;
  DagSpec spec_;
  TimeZone zone_;
};

}  // namespace

DagSpec parse_dag_spec(const YamlNode& root, Diagnostics& diag) { return SpecParser(diag).parse(root); }

const char* to_string(TaskType t) {
  for (auto& ti : kTypes)
    if (ti.type == t) return ti.name;
  return "?";
}

const char* to_string(TriggerRule r) {
  static const char* names[] = {"all_success", "all_failed", "all_done",     "one_success",
                                "one_failed",  "none_failed", "none_skipped", "always"};
  return names[static_cast<int>(r)];
}

const char* to_string(RetryBackoff b) { return b == RetryBackoff::fixed ? "fixed" : "exponential"; }

bool is_sensor(TaskType t) {
  return t == TaskType::sensor_file || t == TaskType::sensor_task || t == TaskType::sensor_http;
}

std::vector<std::pair<std::string, const TemplateText*>> TaskSpec::templates() const {
  std::vector<std::pair<std::string, const TemplateText*>> out;
  std::string base = "tasks." + id + ".";
  auto add = [&](const std::string& k, const TemplateText& tt) {
    if (!tt.text.empty()) out.push_back({base + k, &tt});
  };
  add("command", command);
  add("url", url);
  add("body", body);
  add("sql", sql);
  add("path", path);
  for (auto& [k, v] : headers) add("headers." + k, v);
  for (auto& [k, v] : env) add("env." + k, v);
  for (auto& [k, v] : trigger_params_templates) add("params." + k, v);
  return out;
}

}  // namespace baton::dsl
