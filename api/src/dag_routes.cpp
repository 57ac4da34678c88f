// DAGs: the list (filtered) and its summary, one DAG, pausing, versions and
// the graph of a version. Reads from the Store, changes through Control
// (DESIGN.md: the API records intents, the scheduler acts on them). Runs
// and task instances are in run_routes.cpp and task_routes.cpp.
#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "baton/core/base64.h"
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

// What the DAG list shows of a compiled version: its schedule, timezone,
// description, owner, tags and params, and what the next run is computed
// from. A few hundred bytes a DAG, kept for every version listed, so that a
// page of DAGs (or the summary of 10,000) parses no compiled version again:
// the cache of compiled versions holds whole versions and may not hold them
// all. Shared by the API's threads; forgotten wholesale past kMaxFacts.
struct DagFacts {
  json view = json::object();     // those keys of the compiled version
  std::vector<std::string> tags;  // the filters' and the summary's
  std::string description;
};

std::shared_ptr<const DagFacts> facts_of(const json& compiled) {
  auto facts = std::make_shared<DagFacts>();
  if (compiled.is_object())
    for (const char* k : {"schedule", "timezone", "description", "owner", "tags", "params", "start_date", "end_date",
                          "catchup"})
      if (auto it = compiled.find(k); it != compiled.end()) facts->view[k] = *it;
  if (auto it = facts->view.find("tags"); it != facts->view.end() && it->is_array())
    for (auto& x : *it)
      if (x.is_string()) facts->tags.push_back(x.get<std::string>());
  if (auto it = facts->view.find("description"); it != facts->view.end() && it->is_string())
    facts->description = *it;
  return facts;
}

class FactsCache {
 public:
  // Null when the version is not there; the store's other errors (a lost
  // connection) are the caller's, and nothing is kept of them.
  Result<std::shared_ptr<const DagFacts>> get(store::Store& s, const std::string& dag_id, const std::string& version) {
    {
      std::lock_guard lock(mu_);
      if (auto it = facts_.find(dag_id); it != facts_.end() && it->second.first == version) return it->second.second;
    }
    auto v = compiled_cache().get(s, dag_id, version);
    if (!v && v.error().code == "not_found") return std::shared_ptr<const DagFacts>();
    if (!v) return v.error();
    auto facts = facts_of(**v);
    std::lock_guard lock(mu_);
    if (facts_.size() >= kMaxFacts) facts_.clear();
    facts_[dag_id] = {version, facts};
    return std::shared_ptr<const DagFacts>(facts);
  }

  // The facts of every DAG of a page not known yet, from one read of their
  // versions (on PostgreSQL one round trip, where get() is one a DAG: the
  // first listing of 10,000 DAGs after a start). Versions that are not
  // there are left to get().
  // `wanted`: the DAGs a page may show (those its cheaper filters keep).
  template <class Wanted>
  Status prefetch(store::Store& s, const std::vector<store::DagRecord>& dags, Wanted wanted) {
    std::vector<std::pair<std::string, std::string>> missing;
    {
      std::lock_guard lock(mu_);
      for (auto& d : dags)
        if (d.current_version && wanted(d))
          if (auto it = facts_.find(d.dag_id); it == facts_.end() || it->second.first != *d.current_version)
            missing.emplace_back(d.dag_id, *d.current_version);
    }
    if (missing.size() < 2) return {};
    auto vs = s.get_dag_versions(missing);
    if (!vs) return vs.error();
    std::vector<std::pair<const store::DagVersionRecord*, std::shared_ptr<const DagFacts>>> found;
    for (auto& v : *vs) found.emplace_back(&v, facts_of(json::parse(v.compiled, nullptr, false)));
    std::lock_guard lock(mu_);
    if (facts_.size() + found.size() >= kMaxFacts) facts_.clear();
    for (auto& [v, facts] : found) facts_[v->dag_id] = {v->version, facts};
    return {};
  }

 private:
  static constexpr size_t kMaxFacts = 200000;
  std::mutex mu_;
  // DAG id -> its current version and what is shown of it; guarded by mu_.
  std::unordered_map<std::string, std::pair<std::string, std::shared_ptr<const DagFacts>>> facts_;
};

FactsCache& facts_cache() {
  static FactsCache cache;
  return cache;
}

// A DAG as the API shows it: the schedule and timezone come from its current
// compiled version, the last run state from its newest run. `recent`: its
// newest runs (newest first), if the caller read them with other DAGs'.
Result<json> dag_json(store::Store& s, const store::DagRecord& d, TimePoint now,
                      const std::vector<store::RunRecord>* recent = nullptr) {
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
    auto facts = facts_cache().get(s, d.dag_id, *d.current_version);
    if (!facts) return facts.error();
    if (auto& v = *facts) {
      const json& compiled = v->view;
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
  std::vector<store::RunRecord> own;
  if (!recent) {
    store::RunFilter newest;
    newest.dag_id = d.dag_id;
    newest.limit = kRecentRuns;
    auto runs = s.list_runs(newest);
    if (!runs) return runs.error();
    own = std::move(*runs);
    recent = &own;
  }
  if (!recent->empty()) j["last_run_state"] = to_string(recent->front().state);
  for (auto& r : *recent)
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

// The tags and description of a DAG's current version (none without one,
// or when that version is not there); the store's errors.
Result<std::shared_ptr<const DagFacts>> traits_of(store::Store& s, const store::DagRecord& d) {
  static const auto kNone = std::make_shared<const DagFacts>();
  if (!d.current_version) return kNone;
  auto v = facts_cache().get(s, d.dag_id, *d.current_version);
  if (!v) return v.error();
  return *v ? *v : kNone;
}

// The filters a DAG's row answers alone (no version read).
bool row_matches(const store::DagRecord& d, const DagFilter& f) {
  if (f.ns && d.ns != *f.ns) return false;
  if (f.paused && d.paused != *f.paused) return false;
  return !f.import_errors || d.import_errors.empty() != *f.import_errors;
}

Result<bool> dag_matches(store::Store& s, const store::DagRecord& d, const DagFilter& f) {
  if (!row_matches(d, f)) return false;
  if (!f.q && !f.tag) return true;
  auto traits = traits_of(s, d);
  if (!traits) return traits.error();
  const DagFacts& t = **traits;
  if (f.tag && std::find(t.tags.begin(), t.tags.end(), *f.tag) == t.tags.end()) return false;
  if (!f.q) return true;
  auto has = [&](std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return text.find(*f.q) != std::string::npos;
  };
  if (has(d.dag_id) || has(t.description)) return true;
  return std::any_of(t.tags.begin(), t.tags.end(), has);
}

// Every DAG and what GET /dag-summary counts of them, as of one generation
// of the DAG table (store.h dags_generation).
struct DagsSnapshot {
  long long generation = -1;
  std::vector<store::DagRecord> dags;
  std::set<std::string> tags, namespaces;
  long long paused = 0, errors = 0;
};

// The last snapshot, read again only when the generation moved on: a
// summary request reads one number, not every DAG, while no DAG changes.
// One per server (its store); shared by the API's threads.
class SnapshotCache {
 public:
  Result<std::shared_ptr<const DagsSnapshot>> get(store::Store& s) {
    auto generation = s.dags_generation();  // first: a change after it makes the next request read again
    if (!generation) return generation.error();
    {
      std::lock_guard lock(mu_);
      if (last_ && last_->generation == *generation) return last_;
    }
    auto dags = s.list_dags();
    if (!dags) return dags.error();
    auto snap = std::make_shared<DagsSnapshot>();
    snap->generation = *generation;
    snap->dags = std::move(*dags);
    if (auto p = facts_cache().prefetch(s, snap->dags, [](const store::DagRecord&) { return true; }); !p)
      return p.error();
    // A snapshot with a DAG whose version could not be read is not kept
    // (nor answered): the next request reads again.
    for (auto& d : snap->dags) {
      auto traits = traits_of(s, d);
      if (!traits) return traits.error();
      for (auto& t : (*traits)->tags) snap->tags.insert(t);
      snap->namespaces.insert(d.ns);
      snap->paused += d.paused;
      snap->errors += !d.import_errors.empty();
    }
    std::lock_guard lock(mu_);
    last_ = snap;
    return std::shared_ptr<const DagsSnapshot>(snap);
  }

 private:
  std::mutex mu_;
  std::shared_ptr<const DagsSnapshot> last_;  // guarded by mu_
};

}  // namespace

void add_dag_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;

  // ---- DAGs ----

  const Clock& clock = deps.clock;
  // Keyset pages by id (the cursor is the last id shown): the DAGs after
  // the cursor are read in chunks and filtered until the page is full, and
  // the page's newest runs come in one read (an index seek per DAG), so a
  // page costs the same whatever the number of DAGs and runs before it.
  auto& list = add(routes, "GET", "/dags", Access::viewer, "List the DAGs, by id (filtered)", "Dag", [&s, &clock](Call& c) {
    std::string after;
    if (c.cursor) {
      auto raw = c.cursor->size() <= 400 ? base64url_decode(*c.cursor) : std::nullopt;
      if (!raw || raw->size() < 2 || (*raw)[0] != 'n')
        return error_response(Error::invalid(
            "query parameter `cursor`: not a cursor of this list (use the `next_cursor` of the previous page, "
            "unchanged)"));
      after = raw->substr(1);
    }
    DagFilter f = dag_filter_of(c);
    const size_t want = static_cast<size_t>(c.limit) + 1;  // one more tells whether there is a next page
    // Unfiltered, a chunk is the page; filtered, larger chunks save reads.
    // A scoped token's list leaves out the DAGs of other namespaces (SPEC §13).
    const bool filtered = f.q || f.tag || f.ns || f.paused || f.import_errors || c.scoped();
    const int chunk = filtered ? std::max(c.limit + 1, 200) : c.limit + 1;
    std::vector<store::DagRecord> chosen;
    while (chosen.size() < want) {
      auto dags = s.list_dags_page(after, chunk);
      if (!dags) return error_response(dags.error());
      if (!dags->empty()) after = dags->back().dag_id;  // before any is moved into the page
      auto shown = [&](const store::DagRecord& d) { return c.sees(d.ns) && row_matches(d, f); };
      if (auto p = facts_cache().prefetch(s, *dags, shown); !p) return error_response(p.error());
      for (auto& d : *dags) {
        if (chosen.size() == want) break;
        if (!c.sees(d.ns)) continue;
        auto m = dag_matches(s, d, f);
        if (!m) return error_response(m.error());
        if (*m) chosen.push_back(std::move(d));
      }
      if (dags->size() < static_cast<size_t>(chunk)) break;
    }
    std::optional<std::string> next;
    if (chosen.size() > static_cast<size_t>(c.limit)) {
      chosen.resize(static_cast<size_t>(c.limit));
      next = base64url_encode("n" + chosen.back().dag_id);
    }
    std::vector<std::string> ids;
    for (auto& d : chosen) ids.push_back(d.dag_id);
    auto recent = s.recent_runs(ids, kRecentRuns);
    if (!recent) return error_response(recent.error());
    static const std::vector<store::RunRecord> kNone;
    std::vector<std::string> items;
    for (auto& d : chosen) {
      auto it = recent->find(d.dag_id);
      auto j = dag_json(s, d, clock.now(), it == recent->end() ? &kNone : &it->second);
      if (!j) return error_response(j.error());
      items.push_back(dump(*j));
    }
    return list_response(items, next);
  });
  list.paginated = true;
  list.query = kDagFilterParams;

  auto& summary = add(
      routes, "GET", "/dag-summary", Access::viewer,
      "How many DAGs there are and how many match the filters of GET /dags, with every tag and namespace in use",
      "DagSummary", [&s, snapshots = std::make_shared<SnapshotCache>()](Call& c) {
        auto snap = snapshots->get(s);
        if (!snap) return error_response(snap.error());
        const DagsSnapshot& everything = **snap;
        // A scoped token counts the DAGs of its namespaces only (SPEC §13).
        DagsSnapshot mine;
        if (c.scoped()) {
          for (auto& d : everything.dags) {
            if (!c.sees(d.ns)) continue;
            auto traits = traits_of(s, d);
            if (!traits) return error_response(traits.error());
            for (auto& t : (*traits)->tags) mine.tags.insert(t);
            mine.namespaces.insert(d.ns);
            mine.paused += d.paused;
            mine.errors += !d.import_errors.empty();
            mine.dags.push_back(d);
          }
        }
        const DagsSnapshot& all = c.scoped() ? mine : everything;
        DagFilter f = dag_filter_of(c);
        long long matched = static_cast<long long>(all.dags.size());
        if (f.q || f.tag || f.ns || f.paused || f.import_errors) {
          matched = 0;
          for (auto& d : all.dags) {
            auto m = dag_matches(s, d, f);
            if (!m) return error_response(m.error());
            matched += *m;
          }
        }
        return json_response(200, dump({{"total", all.dags.size()},
                                        {"matched", matched},
                                        {"paused", all.paused},
                                        {"with_import_errors", all.errors},
                                        {"tags", all.tags},
                                        {"namespaces", all.namespaces}}));
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
