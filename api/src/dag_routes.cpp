// DAGs: the list (filtered) and its summary, one DAG, pausing, versions and
// the graph of a version. Reads from the Store, changes through Control
// (DESIGN.md: the API records intents, the scheduler acts on them). Runs
// and task instances are in run_routes.cpp and task_routes.cpp.
#include <algorithm>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "baton/core/cron.h"
#include "baton/core/duration.h"
#include "baton/core/schedule.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"
#include "dag_views.h"
#include "json_text.h"
#include "routes.h"

namespace baton::api {

namespace {

using nlohmann::json;

// The next scheduled run of a DAG (SPEC §8 "next run"), from its compiled
// version's schedule and the last interval that has a run: what the scheduler
// creates next. null without a time schedule, for an inactive DAG, or when
// end_date leaves no interval.
json next_run_json(const json& compiled, const store::DagRecord& d, TimePoint now) {
  if (!d.active || !compiled.contains("schedule") || !compiled["schedule"].is_object()) return nullptr;
  const json& sch = compiled["schedule"];
  std::string kind = sch.value("kind", "");
  std::string expr = sch.value("expression", "");
  auto instant = [&](const char* key) -> std::optional<TimePoint> {
    if (!compiled.contains(key) || !compiled[key].is_string()) return std::nullopt;
    auto t = parse_utc(compiled[key].get<std::string>());
    return t ? std::optional<TimePoint>(*t) : std::nullopt;
  };
  auto start = instant("start_date"), end = instant("end_date");
  std::optional<Schedule> schedule;
  if (kind == "cron") {
    auto e = CronExpr::parse(expr);
    auto z = TimeZone::find(compiled.value("timezone", "UTC"));
    if (e && z) schedule = Schedule::cron(*e, *z);
  } else if (kind == "every" && start) {
    if (auto p = parse_duration(expr)) schedule = Schedule::every(*p, *start);
  }
  if (!schedule) return nullptr;
  schedule->bounded(start, end);
  auto iv = schedule->next_run_interval(d.last_tick, compiled.value("catchup", false), now);
  if (!iv) return nullptr;
  return {{"logical_date", format_utc(iv->start)},
          {"data_interval_start", format_utc(iv->start)},
          {"data_interval_end", format_utc(iv->end)},
          {"run_after", format_utc(iv->end)}};
}

// How many of its newest runs a DAG lists with itself (the DAG list's
// "last runs").
constexpr int kRecentRuns = 5;

// A DAG as the API shows it: the schedule and timezone come from its current
// compiled version, the last run state from its newest run.
Result<json> dag_json(store::Store& s, const store::DagRecord& d, TimePoint now) {
  json j = {{"dag_id", d.dag_id},
            {"namespace", d.ns},
            {"paused", d.paused},
            {"active", d.active},
            {"file", d.file},
            {"schedule", nullptr},
            {"timezone", nullptr},
            {"version", opt(d.current_version)},
            {"next_run", nullptr},
            {"last_run_state", nullptr},
            {"import_errors", nullptr},
            {"description", ""},
            {"owner", ""},
            {"tags", json::array()},
            {"params", json::object()},
            {"recent_runs", json::array()}};
  if (d.current_version) {
    auto v = compiled_cache().get(s, d.dag_id, *d.current_version);
    if (!v && v.error().code != "not_found") return v.error();
    if (v) {
      const json& compiled = **v;
      if (compiled.is_object()) {
        if (auto it = compiled.find("schedule"); it != compiled.end() && it->is_object()) {
          j["schedule"] = {{"kind", it->value("kind", json(nullptr))},
                           {"expression", it->value("expression", json(nullptr))},
                           {"datasets", it->value("datasets", json::array())}};
        }
        if (auto it = compiled.find("timezone"); it != compiled.end()) j["timezone"] = *it;
        for (const char* key : {"description", "owner", "tags", "params"})
          if (auto it = compiled.find(key); it != compiled.end()) j[key] = *it;
        j["next_run"] = next_run_json(compiled, d, now);
      }
    }
  }
  store::RunFilter newest;
  newest.dag_id = d.dag_id;
  newest.limit = kRecentRuns;
  auto runs = s.list_runs(newest);
  if (!runs) return runs.error();
  if (!runs->empty()) j["last_run_state"] = to_string(runs->front().state);
  for (auto& r : *runs)
    j["recent_runs"].push_back(
        {{"run_id", r.run_id}, {"state", to_string(r.state)}, {"logical_date", format_utc(r.logical_date)}});
  if (!d.import_errors.empty()) {
    json e = parse_stored(d.import_errors);
    j["import_errors"] = e.is_array() ? e : json::array({e});
  }
  return j;
}

// The DAG list's filters (GET /dags and GET /dag-summary): a substring of the
// id, description or a tag (any case); a tag; a namespace; paused or not;
// with import errors or without.
struct DagFilter {
  std::optional<std::string> q, tag, ns;
  std::optional<bool> paused, import_errors;
};

DagFilter dag_filter_of(const Call& c) {
  DagFilter f;
  f.q = c.query_as<std::string>("q");
  if (f.q) {
    std::transform(f.q->begin(), f.q->end(), f.q->begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (f.q->empty()) f.q.reset();
  }
  f.tag = c.query_as<std::string>("tag");
  f.ns = c.query_as<std::string>("namespace");
  f.paused = c.query_as<bool>("paused");
  f.import_errors = c.query_as<bool>("import_errors");
  return f;
}

const std::vector<ParamSpec> kDagFilterParams = {
    {.name = "q", .description = "a part of the DAG id, description or a tag (any case)", .max_length = 256},
    {.name = "tag", .description = "DAGs with this tag", .max_length = 256},
    {.name = "namespace", .description = "DAGs of this namespace", .max_length = 256},
    {.name = "paused", .type = ValueType::boolean, .description = "paused (true) or unpaused (false) DAGs"},
    {.name = "import_errors", .type = ValueType::boolean, .description = "DAGs whose file has errors (true) or not"}};

// The tags and description of a DAG's current version (from the cache of
// compiled versions).
struct DagTraits {
  std::vector<std::string> tags;
  std::string description;
};

DagTraits traits_of(store::Store& s, const store::DagRecord& d) {
  DagTraits t;
  if (!d.current_version) return t;
  auto v = compiled_cache().get(s, d.dag_id, *d.current_version);
  if (!v || !(*v)->is_object()) return t;
  const json& compiled = **v;
  if (auto it = compiled.find("tags"); it != compiled.end() && it->is_array())
    for (auto& x : *it)
      if (x.is_string()) t.tags.push_back(x.get<std::string>());
  if (auto it = compiled.find("description"); it != compiled.end() && it->is_string()) t.description = *it;
  return t;
}

bool dag_matches(store::Store& s, const store::DagRecord& d, const DagFilter& f) {
  if (f.ns && d.ns != *f.ns) return false;
  if (f.paused && d.paused != *f.paused) return false;
  if (f.import_errors && d.import_errors.empty() == *f.import_errors) return false;
  if (!f.q && !f.tag) return true;
  DagTraits t = traits_of(s, d);
  if (f.tag && std::find(t.tags.begin(), t.tags.end(), *f.tag) == t.tags.end()) return false;
  if (!f.q) return true;
  auto has = [&](std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return text.find(*f.q) != std::string::npos;
  };
  if (has(d.dag_id) || has(t.description)) return true;
  return std::any_of(t.tags.begin(), t.tags.end(), has);
}

}  // namespace

void add_dag_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;

  // ---- DAGs ----

  const Clock& clock = deps.clock;
  auto& list = add(routes, "GET", "/dags", Access::viewer, "List the DAGs, by id (filtered)", "Dag", [&s, &clock](Call& c) {
    auto dags = s.list_dags();
    if (!dags) return error_response(dags.error());
    DagFilter f = dag_filter_of(c);
    std::vector<const store::DagRecord*> chosen;
    for (auto& d : *dags)
      if (dag_matches(s, d, f)) chosen.push_back(&d);
    auto w = offset_window(chosen.size(), c);
    if (!w) return error_response(w.error());
    std::vector<std::string> items;
    for (size_t i = w->begin; i < w->end; ++i) {
      auto j = dag_json(s, *chosen[i], clock.now());
      if (!j) return error_response(j.error());
      items.push_back(dump(*j));
    }
    return list_response(items, w->next_cursor);
  });
  list.paginated = true;
  list.query = kDagFilterParams;

  auto& summary = add(
      routes, "GET", "/dag-summary", Access::viewer,
      "How many DAGs there are and how many match the filters of GET /dags, with every tag and namespace in use",
      "DagSummary", [&s](Call& c) {
        auto dags = s.list_dags();
        if (!dags) return error_response(dags.error());
        DagFilter f = dag_filter_of(c);
        std::set<std::string> tags, spaces;
        long long matched = 0, paused = 0, errors = 0;
        for (auto& d : *dags) {
          for (auto& t : traits_of(s, d).tags) tags.insert(t);
          spaces.insert(d.ns);
          paused += d.paused;
          errors += !d.import_errors.empty();
          matched += dag_matches(s, d, f);
        }
        return json_response(200, dump({{"total", dags->size()},
                                        {"matched", matched},
                                        {"paused", paused},
                                        {"with_import_errors", errors},
                                        {"tags", tags},
                                        {"namespaces", spaces}}));
      });
  summary.query = kDagFilterParams;

  add(routes, "GET", "/dags/{dag_id}", Access::viewer, "One DAG", "Dag", [&s, &clock](Call& c) {
    auto d = find_dag(s, c.path[0]);
    if (!d) return error_response(d.error());
    auto j = dag_json(s, *d, clock.now());
    if (!j) return error_response(j.error());
    return json_response(200, dump(*j));
  });

  auto& patch =
      add(routes, "PATCH", "/dags/{dag_id}", Access::operator_role,
          "Pause or unpause a DAG (paused: no new scheduled runs; running ones go on)", "Dag", [&s, &control, &clock](Call& c) {
            auto d = find_dag(s, c.path[0]);
            if (!d) return error_response(d.error());
            bool paused = *c.body_as<bool>("paused");
            if (auto st = control.set_paused(d->dag_id, paused, c.actor); !st.ok()) return error_response(st.error());
            auto now = find_dag(s, d->dag_id);
            if (!now) return error_response(now.error());
            auto j = dag_json(s, *now, clock.now());
            if (!j) return error_response(j.error());
            return json_response(200, dump(*j));
          });
  patch.takes_body = true;
  patch.body = {{.name = "paused", .type = ValueType::boolean, .description = "true to pause", .required = true}};

  add(routes, "GET", "/dags/{dag_id}/versions", Access::viewer, "The DAG's compiled versions, newest first",
      "DagVersion",
      [&s](Call& c) {
        auto d = find_dag(s, c.path[0]);
        if (!d) return error_response(d.error());
        auto versions = s.list_dag_versions(d->dag_id);
        if (!versions) return error_response(versions.error());
        auto w = offset_window(versions->size(), c);
        if (!w) return error_response(w.error());
        std::vector<std::string> items;
        for (size_t i = w->begin; i < w->end; ++i) {
          auto& v = (*versions)[i];
          items.push_back(dump({{"version", v.version},
                                {"file", v.file},
                                {"git_commit", opt(v.git_commit)},
                                {"git_dirty", opt(v.git_dirty)},
                                {"created_at", format_utc(v.created_at)}}));
        }
        return list_response(items, w->next_cursor);
      })
      .paginated = true;

  add(routes, "GET", "/dags/{dag_id}/graph", Access::viewer,
      "Nodes and edges of a compiled version (default: the current one)", "Graph",
      [&s](Call& c) {
        auto d = find_dag(s, c.path[0]);
        if (!d) return error_response(d.error());
        std::optional<std::string> version = c.query_as<std::string>("version");
        if (!version) version = d->current_version;
        if (!version)
          return error_response(
              Error::not_found("DAG \"" + d->dag_id + "\" has no valid version (see its import errors)"));
        auto v = compiled_cache().get(s, d->dag_id, *version);
        if (!v && v.error().code == "not_found")
          return error_response(Error::not_found("DAG \"" + d->dag_id + "\" has no version \"" + *version + "\""));
        if (!v) return error_response(v.error());
        const json& compiled = **v;
        json nodes = json::array(), edges = json::array();
        if (compiled.is_object() && compiled.contains("tasks") && compiled["tasks"].is_object()) {
          for (auto& [id, task] : compiled["tasks"].items()) {
            if (!task.is_object()) continue;
            nodes.push_back({{"id", id},
                             {"type", task.value("type", json(nullptr))},
                             {"trigger_rule", task.value("trigger_rule", json(nullptr))}});
            if (auto deps = task.find("depends_on"); deps != task.end() && deps->is_array())
              for (auto& from : *deps) edges.push_back({{"from", from}, {"to", id}});
          }
        }
        return json_response(200,
                             dump({{"dag_id", d->dag_id}, {"version", *version}, {"nodes", nodes}, {"edges", edges}}));
      })
      .query = {{.name = "version", .description = "a version hash (default: the current version)", .max_length = 128}};
}

}  // namespace baton::api
