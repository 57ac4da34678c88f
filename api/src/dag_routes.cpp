// DAGs, versions, graphs, runs, task instances, tries and logs: reads from the
// Store, changes through Control (DESIGN.md: the API records intents, the
// scheduler acts on them).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "baton/core/cron.h"
#include "baton/core/duration.h"
#include "baton/core/schedule.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"
#include "json_text.h"
#include "routes.h"
#include "util.h"

namespace baton::api {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// One answer of the logs endpoint holds at most this much (a try's log is
// capped at 10 MiB, SPEC §5); a client reads on from the next offset.
constexpr long long kMaxLogChunk = 16LL << 20;
// Runs in one page of the grid (each is a column of every task).
constexpr int kMaxGridRuns = 100;
// The part of a checkpoint (at most 1 MiB) a task instance shows.
constexpr size_t kMaxCheckpointShown = 64 << 10;


template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Stored JSON text as a value; text that does not parse (it should not
// happen) is shown as a string rather than lost.
json parse_stored(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

json run_json(const store::RunRecord& r) {
  return {{"dag_id", r.dag_id},
          {"run_id", r.run_id},
          {"run_type", r.run_type},
          {"state", to_string(r.state)},
          {"logical_date", format_utc(r.logical_date)},
          {"data_interval_start", format_utc(r.data_interval_start)},
          {"data_interval_end", format_utc(r.data_interval_end)},
          {"params", parse_stored(r.params)},
          {"dag_version", r.dag_version},
          {"created_at", format_utc(r.created_at)},
          {"started_at", opt_time(r.started_at)},
          {"ended_at", opt_time(r.ended_at)},
          {"backfill_id", opt(r.backfill_id)},
          {"note", opt(r.note)}};
}

// `mapped`: for a foreach task's own instance, the roll-up of its mapped
// instances (grid_cell); null otherwise.
json ti_json(const store::TaskInstanceRecord& t, json mapped = nullptr) {
  json item = t.item ? json::parse(*t.item, nullptr, false) : json(nullptr);
  if (item.is_discarded()) item = nullptr;
  return {{"task_id", t.task_id},
          {"item", std::move(item)},
          {"mapped", std::move(mapped)},
          {"map_index", t.map_index},
          {"state", to_string(t.state)},
          {"try_number", t.try_number},
          {"max_tries", t.max_tries},
          {"queue", t.queue},
          {"pool", t.pool},
          {"priority", t.priority},
          {"started_at", opt_time(t.started_at)},
          {"ended_at", opt_time(t.ended_at)},
          {"worker", opt(t.worker)},
          {"exit_code", opt(t.exit_code)},
          {"reason", opt(t.reason)},
          {"last_activity_at", opt_time(t.last_activity_at)}};
}

json try_json(const store::TryRecord& t) {
  return {{"try_number", t.try_number},       {"state", to_string(t.state)},
          {"worker", opt(t.worker)},          {"started_at", opt_time(t.started_at)},
          {"ended_at", opt_time(t.ended_at)}, {"exit_code", opt(t.exit_code)},
          {"reason", opt(t.reason)},          {"log_bytes", t.log_bytes}};
}

Result<store::DagRecord> find_dag(store::Store& s, const std::string& dag_id) {
  auto d = s.get_dag(dag_id);
  if (!d && d.error().code == "not_found") return Error::not_found("no DAG named \"" + dag_id + "\"");
  return d;
}

// The run, after checking its DAG, so that a wrong DAG id says so.
Result<store::RunRecord> find_run(store::Store& s, const std::string& dag_id, const std::string& run_id) {
  if (auto d = find_dag(s, dag_id); !d) return d.error();
  auto r = s.get_run(dag_id, run_id);
  if (!r && r.error().code == "not_found")
    return Error::not_found("DAG \"" + dag_id + "\" has no run \"" + run_id + "\"");
  return r;
}

Result<std::vector<store::TaskInstanceRecord>> instances_of(store::Store& s, const store::RunRecord& run,
                                                            const std::string& task_id) {
  auto tis = s.list_task_instances(run.pk);
  if (!tis) return tis.error();
  std::vector<store::TaskInstanceRecord> out;
  for (auto& t : *tis)
    if (t.task_id == task_id) out.push_back(t);
  if (out.empty())
    return Error::not_found("run \"" + run.run_id + "\" of DAG \"" + run.dag_id + "\" has no task \"" + task_id + "\"");
  return out;
}

Result<store::TaskInstanceRecord> find_ti(store::Store& s, const store::RunRecord& run, const std::string& task_id,
                                          int map_index) {
  auto all = instances_of(s, run, task_id);
  if (!all) return all.error();
  for (auto& t : *all)
    if (t.map_index == map_index) return t;
  int lo = all->front().map_index, hi = lo;
  for (auto& t : *all) {
    lo = std::min(lo, t.map_index);
    hi = std::max(hi, t.map_index);
  }
  std::string has =
      lo == hi ? "map_index " + std::to_string(lo) : "map_index " + std::to_string(lo) + " to " + std::to_string(hi);
  return Error::not_found("task \"" + task_id + "\" of run \"" + run.run_id + "\" has no map_index " +
                          std::to_string(map_index) + " (it has " + has + ": give ?map_index=)");
}

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

// A compiled version never changes (its name is the hash of its text), so
// its parsed form is kept for the requests that follow: a DAG of thousands of
// tasks is read and parsed once, not on every look at its page. Bounded by
// an estimate of the memory the parsed versions take (kBudget); shared by
// the API's threads.
class CompiledCache {
 public:
  Result<std::shared_ptr<const json>> get(store::Store& s, const std::string& dag_id, const std::string& version) {
    std::string key = dag_id + '\n' + version;
    {
      std::lock_guard lock(mu_);
      if (auto it = index_.find(key); it != index_.end()) {
        order_.splice(order_.begin(), order_, it->second);
        return it->second->value;
      }
    }
    auto v = s.get_dag_version(dag_id, version);
    if (!v) return v.error();
    auto parsed = std::make_shared<const json>(json::parse(v->compiled, nullptr, false));
    size_t bytes = v->compiled.size() * kParsedPerTextByte;
    std::lock_guard lock(mu_);
    if (index_.count(key) || bytes > kBudget) return parsed;
    order_.push_front({key, parsed, bytes});
    index_[key] = order_.begin();
    used_ += bytes;
    while (used_ > kBudget) {
      used_ -= order_.back().bytes;
      index_.erase(order_.back().key);
      order_.pop_back();
    }
    return parsed;
  }

 private:
  // Bounded by an estimate of the parsed form's memory: nlohmann::json takes
  // several times the bytes of the text it was parsed from.
  static constexpr size_t kParsedPerTextByte = 8;
  static constexpr size_t kBudget = 256u << 20;
  struct Entry {
    std::string key;
    std::shared_ptr<const json> value;
    size_t bytes;
  };
  std::mutex mu_;
  std::list<Entry> order_;  // most recently used first; guarded by mu_
  std::map<std::string, std::list<Entry>::iterator> index_;  // guarded by mu_
  size_t used_ = 0;  // guarded by mu_
};

CompiledCache& compiled_cache() {
  static CompiledCache cache;
  return cache;
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

// The log of a try from `offset`, read only inside logs_dir: a stored path
// that is absolute, climbs with `..` or leads out through a symbolic link is
// refused (SPEC §12). A missing file is an empty log (nothing written yet).
Result<std::string> read_log(const std::string& logs_dir, const std::string& rel, long long offset) {
  auto refused = [] { return Error::not_found("the log of this try is not available"); };
  fs::path p(rel);
  if (rel.empty() || p.is_absolute() || p.has_root_name() || rel.find('\0') != std::string::npos) return refused();
  for (auto& part : p)
    if (part == "..") return refused();
  if (logs_dir.empty()) return refused();
  std::error_code ec;
  fs::path base = fs::absolute(fs::path(logs_dir), ec);
  if (!ec) base = fs::weakly_canonical(base, ec);
  if (ec) return std::string();
  fs::path full = fs::weakly_canonical(base / p, ec);
  if (ec) return std::string();
  auto [b, f] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (b != base.end()) return refused();

  // O_NONBLOCK: a FIFO in the logs folder must not hang the request.
  int fd = ::open(full.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::string();
    return Error{"internal", "cannot read the log: " + std::string(std::strerror(errno))};
  }
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && offset < st.st_size) {
    long long want = std::min<long long>(st.st_size - offset, kMaxLogChunk);
    out.resize(static_cast<size_t>(want));
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n =
          ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + static_cast<long long>(got)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
  }
  ::close(fd);
  return out;
}

// The task ids of a compiled version in a topological order (upstream first;
// among tasks that are ready together, by id): the rows of the grid.
std::vector<std::string> topological_tasks(const json& compiled) {
  std::vector<std::string> out;
  if (!compiled.is_object() || !compiled.contains("tasks") || !compiled["tasks"].is_object()) return out;
  const json& tasks = compiled["tasks"];
  std::map<std::string, int> missing;  // upstream tasks not yet placed
  std::map<std::string, std::vector<std::string>> downstream;
  for (auto& [id, task] : tasks.items()) {
    missing[id] = 0;
    if (!task.is_object()) continue;
    if (auto deps = task.find("depends_on"); deps != task.end() && deps->is_array())
      for (auto& from : *deps)
        if (from.is_string() && tasks.contains(from.get<std::string>())) {
          ++missing[id];
          downstream[from.get<std::string>()].push_back(id);
        }
  }
  std::set<std::string> ready;
  for (auto& [id, n] : missing)
    if (n == 0) ready.insert(id);
  while (!ready.empty()) {
    std::string id = *ready.begin();
    ready.erase(ready.begin());
    out.push_back(id);
    for (auto& d : downstream[id])
      if (--missing[d] == 0) ready.insert(d);
  }
  for (auto& [id, n] : missing)  // a cycle cannot compile; kept visible all the same
    if (n > 0) out.push_back(id);
  return out;
}

// Tasks of a run's version that have no foreach. Mapped instances of one of
// them were made under an older version the run was moved off (clear
// --version latest): history, not the task's state, so roll-ups leave them out.
std::set<std::string> unmapped_tasks(store::Store& s, const store::RunRecord& r) {
  std::set<std::string> out;
  auto v = compiled_cache().get(s, r.dag_id, r.dag_version);
  if (!v || !(*v)->is_object()) return out;
  auto tasks = (*v)->find("tasks");
  if (tasks == (*v)->end() || !tasks->is_object()) return out;
  for (auto& [id, t] : tasks->items())
    if (t.is_object() && !t.contains("foreach")) out.insert(id);
  return out;
}

// The grid's cell of one task in one run: the state of an unmapped task, or
// for a mapped task (foreach) its mapped instances rolled up into one state,
// with a count by state. What needs a person's eye comes first in the
// roll-up. The task's own instance of a mapped task is not counted.
json grid_cell(std::vector<const store::TaskInstanceRecord*> tis) {
  if (tis.size() > 1)
    tis.erase(std::remove_if(tis.begin(), tis.end(), [](auto* t) { return t->map_index < 0; }), tis.end());
  if (tis.size() == 1 && tis.front()->map_index < 0) return to_string(tis.front()->state);
  static const TaskState kOrder[] = {TaskState::running,  TaskState::up_for_retry, TaskState::queued,
                                     TaskState::waiting,  TaskState::scheduled,    TaskState::failed,
                                     TaskState::upstream_failed, TaskState::pending, TaskState::canceled,
                                     TaskState::skipped,  TaskState::success};
  std::map<TaskState, int> counts;
  for (auto* t : tis) ++counts[t->state];
  json by_state = json::object();
  for (auto& [st, n] : counts) by_state[to_string(st)] = n;
  const char* rolled = to_string(tis.front()->state);
  for (TaskState st : kOrder)
    if (counts.count(st)) {
      rolled = to_string(st);
      break;
    }
  return {{"state", rolled}, {"mapped", tis.size()}, {"counts", by_state}};
}

const ParamSpec kMapIndex{.name = "map_index",
                          .type = ValueType::integer,
                          .description = "the task instance's map index (-1, the default, for an unmapped task)",
                          .min = -1,
                          .max = 1000000};


int map_index_of(const Call& c) { return static_cast<int>(c.query_as<long long>("map_index").value_or(-1)); }

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

  // ---- runs ----

  auto& trigger =
      add(routes, "POST", "/dags/{dag_id}/runs", Access::operator_role,
          "Trigger a manual run: 201 with the run, 200 with the first run when the idempotency key was seen", "Run",
          [&s, &control](Call& c) {
            auto d = find_dag(s, c.path[0]);
            if (!d) return error_response(d.error());
            scheduler::TriggerRequest req;
            if (auto t = c.body_as<std::string>("logical_date")) req.logical_date = *parse_utc(*t);
            if (auto p = c.body_as<std::string>("params")) req.params_json = *p;
            req.idempotency_key = c.body_as<std::string>("idempotency_key");
            req.note = c.body_as<std::string>("note");
            auto r = control.trigger(d->dag_id, req, c.actor);
            if (!r) return error_response(r.error());
            return json_response(r->created ? 201 : 200, dump(run_json(r->run)));
          });
  trigger.takes_body = true;
  trigger.status = 201;
  trigger.body = {
      {.name = "logical_date", .type = ValueType::time, .description = "the run's logical date (default: now)"},
      {.name = "params", .type = ValueType::object, .description = "overrides of the DAG's params"},
      {.name = "idempotency_key",
       .description = "the same key for the same DAG returns the first run instead of creating another",
       .max_length = 200},
      {.name = "note", .description = "a note shown with the run", .max_length = 10000},
  };

  auto& list_runs =
      add(routes, "GET", "/dags/{dag_id}/runs", Access::viewer, "The DAG's runs, newest first", "Run", [&s](Call& c) {
        auto d = find_dag(s, c.path[0]);
        if (!d) return error_response(d.error());
        store::RunFilter f;
        f.dag_id = d->dag_id;
        if (auto st = c.query_as<std::string>("state")) f.state = run_state_from_string(*st);
        f.run_type = c.query_as<std::string>("run_type");
        f.limit = c.limit + 1;  // one more tells whether there is a next page
        if (c.cursor) {
          auto at = decode_cursor(*c.cursor, 'r', 2);
          if (!at) return error_response(at.error());
          f.before = std::make_pair(TimePoint(Duration((*at)[0])), (*at)[1]);
        }
        auto runs = s.list_runs(f);
        if (!runs) return error_response(runs.error());
        std::optional<std::string> next;
        if (runs->size() > static_cast<size_t>(c.limit)) {
          runs->resize(static_cast<size_t>(c.limit));
          auto& last = runs->back();
          next = encode_cursor('r', {last.logical_date.time_since_epoch().count(), last.pk});
        }
        std::vector<std::string> items;
        for (auto& r : *runs) items.push_back(dump(run_json(r)));
        return list_response(items, next);
      });
  list_runs.paginated = true;
  list_runs.query = {
      {.name = "state",
       .type = ValueType::enumeration,
       .description = "only runs in this state",
       .allowed = {"queued", "running", "success", "failed", "canceled"}},
      {.name = "run_type",
       .type = ValueType::enumeration,
       .description = "only runs of this type",
       .allowed = {"scheduled", "manual", "backfill", "dataset"}},
  };

  // The grid of the UI: a page of runs (newest first, paged like the run
  // list) and, for each, the state of every task in one row order, so that a
  // client draws runs x tasks from one answer.
  auto& grid = add(
      routes, "GET", "/dags/{dag_id}/grid", Access::viewer,
      "Runs x tasks: a page of runs, newest first, each with the state of every task (mapped tasks rolled up)", "Grid",
      [&s](Call& c) {
        auto d = find_dag(s, c.path[0]);
        if (!d) return error_response(d.error());
        if (c.limit > kMaxGridRuns)
          return error_response(Error::invalid("limit: the grid shows at most " + std::to_string(kMaxGridRuns) +
                                               " runs at once, got " + std::to_string(c.limit)));
        std::vector<store::RunRecord> runs;
        std::optional<std::string> next;
        if (auto one = c.query_as<std::string>("run_id")) {
          auto r = find_run(s, d->dag_id, *one);
          if (!r) return error_response(r.error());
          runs.push_back(std::move(*r));
        } else {
          store::RunFilter f;
          f.dag_id = d->dag_id;
          f.limit = c.limit + 1;
          if (c.cursor) {
            auto at = decode_cursor(*c.cursor, 'r', 2);
            if (!at) return error_response(at.error());
            f.before = std::make_pair(TimePoint(Duration((*at)[0])), (*at)[1]);
          }
          auto page = s.list_runs(f);
          if (!page) return error_response(page.error());
          runs = std::move(*page);
          if (runs.size() > static_cast<size_t>(c.limit)) {
            runs.resize(static_cast<size_t>(c.limit));
            next = encode_cursor('r', {runs.back().logical_date.time_since_epoch().count(), runs.back().pk});
          }
        }
        std::vector<std::string> rows;
        std::map<std::string, size_t> row_of;
        if (d->current_version) {
          auto v = compiled_cache().get(s, d->dag_id, *d->current_version);
          if (!v && v.error().code != "not_found") return error_response(v.error());
          if (v) rows = topological_tasks(**v);
        }
        for (size_t i = 0; i < rows.size(); ++i) row_of[rows[i]] = i;
        json out_runs = json::array();
        for (auto& r : runs) {
          auto tis = s.list_task_instances(r.pk);
          if (!tis) return error_response(tis.error());
          std::vector<std::vector<const store::TaskInstanceRecord*>> by_row(rows.size());
          const auto unmapped = unmapped_tasks(s, r);
          for (auto& t : *tis) {
            if (t.map_index >= 0 && unmapped.count(t.task_id)) continue;
            auto [it, added] = row_of.emplace(t.task_id, rows.size());
            if (added) {  // a task of an older version: a row of its own, after the current ones
              rows.push_back(t.task_id);
              by_row.emplace_back();
            }
            if (by_row.size() < rows.size()) by_row.resize(rows.size());
            by_row[it->second].push_back(&t);
          }
          json cells = json::array();
          for (auto& group : by_row) cells.push_back(group.empty() ? json(nullptr) : grid_cell(group));
          json j = run_json(r);
          j.erase("params");
          j["cells"] = std::move(cells);
          out_runs.push_back(std::move(j));
        }
        for (auto& r : out_runs)  // rows added by a later run
          while (r["cells"].size() < rows.size()) r["cells"].push_back(nullptr);
        return json_response(200, dump({{"dag_id", d->dag_id},
                                        {"version", opt(d->current_version)},
                                        {"tasks", rows},
                                        {"runs", out_runs},
                                        {"next_cursor", next ? json(*next) : json(nullptr)}}));
      });
  grid.paginated = true;
  grid.query = {{.name = "run_id", .description = "only this run (its column)", .max_length = 256}};

  add(routes, "GET", "/dags/{dag_id}/runs/{run_id}", Access::viewer, "One run", "Run", [&s](Call& c) {
    auto r = find_run(s, c.path[0], c.path[1]);
    if (!r) return error_response(r.error());
    return json_response(200, dump(run_json(*r)));
  });

  add(routes, "POST", "/dags/{dag_id}/runs/{run_id}/cancel", Access::operator_role,
      "Cancel a run: running tasks are killed, pending ones become canceled", "Run",
      [&s, &control](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        if (auto st = control.cancel_run(r->dag_id, r->run_id, c.actor); !st.ok()) return error_response(st.error());
        auto now = find_run(s, r->dag_id, r->run_id);
        if (!now) return error_response(now.error());
        return json_response(200, dump(run_json(*now)));
      })
      .takes_body = true;

  // ---- task instances ----

  auto& tasks = add(
      routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks", Access::viewer,
      "The run's task instances: every task's own, then the mapped instances of foreach tasks; a foreach task's "
      "own instance rolls its mapped ones up in `mapped`",
      "TaskInstance", [&s](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        auto tis = s.list_task_instances(r->pk);
        if (!tis) return error_response(tis.error());
        auto task = c.query_as<std::string>("task_id");
        auto map_index = c.query_as<long long>("map_index");
        auto state = c.query_as<std::string>("state");
        auto only_mapped = c.query_as<bool>("mapped");
        std::map<std::string, std::vector<const store::TaskInstanceRecord*>> mapped;
        const auto unmapped = unmapped_tasks(s, *r);
        std::vector<const store::TaskInstanceRecord*> chosen;
        for (auto& t : *tis) {
          if (t.map_index >= 0 && !unmapped.count(t.task_id)) mapped[t.task_id].push_back(&t);
          if ((!task || t.task_id == *task) && (!map_index || t.map_index == *map_index) &&
              (!state || to_string(t.state) == *state) && (!only_mapped || (t.map_index >= 0) == *only_mapped))
            chosen.push_back(&t);
        }
        // The tasks' own first, then mapped ones by task and map_index.
        std::stable_sort(chosen.begin(), chosen.end(), [](auto* a, auto* b) {
          return (a->map_index >= 0) < (b->map_index >= 0) ||
                 (a->map_index >= 0 && b->map_index >= 0 &&
                  std::tie(a->task_id, a->map_index) < std::tie(b->task_id, b->map_index));
        });
        auto w = offset_window(chosen.size(), c);
        if (!w) return error_response(w.error());
        std::vector<std::string> items;
        for (size_t i = w->begin; i < w->end; ++i) {
          const auto& t = *chosen[i];
          auto m = t.map_index < 0 ? mapped.find(t.task_id) : mapped.end();
          items.push_back(dump(ti_json(t, m == mapped.end() ? json(nullptr) : grid_cell(m->second))));
        }
        return list_response(items, w->next_cursor);
      });
  tasks.paginated = true;
  tasks.query = {{.name = "task_id", .description = "only this task's instances", .max_length = 256},
                 {.name = "map_index",
                  .type = ValueType::integer,
                  .description = "only instances with this map index (-1: every task's own)",
                  .min = -1,
                  .max = 1000000},
                 {.name = "mapped",
                  .type = ValueType::boolean,
                  .description = "only mapped instances of foreach tasks (true), or only tasks' own (false)"},
                 {.name = "state",
                  .type = ValueType::enumeration,
                  .description = "only instances in this state",
                  .allowed = task_state_names()}};

  add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tries", Access::viewer,
      "Every try of every task instance of the run (its timeline), by task", "RunTry", [&s](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        auto tis = s.list_task_instances(r->pk);
        if (!tis) return error_response(tis.error());
        auto all = s.list_run_tries(r->pk);
        if (!all) return error_response(all.error());
        std::map<long long, const store::TaskInstanceRecord*> ti_of;
        for (auto& t : *tis) ti_of[t.id] = &t;
        auto w = offset_window(all->size(), c);
        if (!w) return error_response(w.error());
        std::vector<std::string> items;
        for (size_t i = w->begin; i < w->end; ++i) {
          auto& y = (*all)[i];
          json j = try_json(y);
          auto it = ti_of.find(y.ti_id);
          j["task_id"] = it == ti_of.end() ? json(nullptr) : json(it->second->task_id);
          j["map_index"] = it == ti_of.end() ? -1 : it->second->map_index;
          j["queued_at"] = opt_time(y.queued_at);
          items.push_back(dump(j));
        }
        return list_response(items, w->next_cursor);
      })
      .paginated = true;

  add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", Access::viewer,
      "One task instance, with every reason why it is not running (waiting_for) and its output", "TaskInstanceDetail",
      [&s, &control](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        int map_index = map_index_of(c);
        auto ti = find_ti(s, *r, c.path[2], map_index);
        if (!ti) return error_response(ti.error());
        auto why = control.waiting_for(r->dag_id, r->run_id, ti->task_id, map_index);
        if (!why) return error_response(why.error());
        json j = ti_json(*ti);
        j["waiting_for"] = *why;
        json output = ti->output ? json::parse(*ti->output, nullptr, false) : json(nullptr);
        j["output"] = output.is_object() ? output : json(nullptr);
        auto cp = s.load_checkpoint(ti->id);
        if (!cp) return error_response(cp.error());
        j["checkpoint_bytes"] = *cp ? json((*cp)->size()) : json(nullptr);
        j["checkpoint"] = *cp ? json((*cp)->substr(0, kMaxCheckpointShown)) : json(nullptr);
        return json_response(200, dump(j));
      })
      .query = {kMapIndex};

  auto& tries = add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/tries", Access::viewer,
                    "Every try of a task instance", "Try", [&s](Call& c) {
                      auto r = find_run(s, c.path[0], c.path[1]);
                      if (!r) return error_response(r.error());
                      auto ti = find_ti(s, *r, c.path[2], map_index_of(c));
                      if (!ti) return error_response(ti.error());
                      auto all = s.list_tries(ti->id);
                      if (!all) return error_response(all.error());
                      auto w = offset_window(all->size(), c);
                      if (!w) return error_response(w.error());
                      std::vector<std::string> items;
                      for (size_t i = w->begin; i < w->end; ++i) items.push_back(dump(try_json((*all)[i])));
                      return list_response(items, w->next_cursor);
                    });
  tries.paginated = true;
  tries.query = {kMapIndex};

  add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs", Access::viewer,
      "A try's log as text from a byte offset; X-Baton-Log-Complete tells whether the try has ended", "text",
      [&s, &control](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        auto ti = find_ti(s, *r, c.path[2], map_index_of(c));
        if (!ti) return error_response(ti.error());
        auto all = s.list_tries(ti->id);
        if (!all) return error_response(all.error());
        const store::TryRecord* t = nullptr;
        auto wanted = c.query_as<long long>("try");
        for (auto& x : *all)
          if (wanted ? x.try_number == *wanted : (!t || x.try_number > t->try_number)) t = &x;
        if (!t && ti->map_index < 0) {
          // A foreach task's own instance runs no try: its mapped ones do.
          auto same = instances_of(s, *r, ti->task_id);
          long long mapped = 0;
          if (same)
            for (auto& x : *same) mapped += x.map_index >= 0;
          if (mapped > 0)
            return error_response(Error::not_found(
                "task \"" + ti->task_id + "\" of run \"" + r->run_id + "\" is a foreach task: its " +
                std::to_string(mapped) + " mapped instances have the logs (give ?map_index= from 0 to " +
                std::to_string(mapped - 1) + "; `baton tasks logs` takes --map-index)"));
        }
        if (!t)
          return error_response(Error::not_found(
              wanted ? "task \"" + ti->task_id + "\" has no try " + std::to_string(*wanted)
                     : "task \"" + ti->task_id + "\" of run \"" + r->run_id + "\" has not been tried yet"));
        long long offset = c.query_as<long long>("offset").value_or(0);
        std::string text;
        // A remote worker's try: the log its heartbeats sent to the store.
        auto stored = s.read_log(ti->id, t->try_number, offset, kMaxLogChunk);
        if (!stored) return error_response(stored.error());
        if (*stored) {
          text = std::move(**stored);
        } else if (t->log_path) {
          auto log = read_log(control.logs_dir(), *t->log_path, offset);
          if (!log) return error_response(log.error());
          text = std::move(*log);
        }
        HttpResponse res;
        res.content_type = "text/plain; charset=utf-8";
        res.headers.emplace_back("X-Baton-Log-Complete", t->ended_at ? "true" : "false");
        res.headers.emplace_back("X-Baton-Log-Next-Offset",
                                 std::to_string(offset + static_cast<long long>(text.size())));
        res.headers.emplace_back("X-Baton-Try-Number", std::to_string(t->try_number));
        res.body = std::move(text);
        return res;
      })
      .query = {
      {.name = "try",
       .type = ValueType::integer,
       .description = "the try number (default: the latest)",
       .min = 1,
       .max = 1000000},
      kMapIndex,
      {.name = "offset",
       .type = ValueType::integer,
       .description = "the first byte to return (default 0)",
       .min = 0,
       .max = 1LL << 50},
  };

  auto& clear =
      add(routes, "POST", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/clear", Access::operator_role,
          "Clear a task (and optionally its downstream) so that it runs again; answers the task's instances",
          "TaskInstanceList", [&s, &control](Call& c) {
            auto r = find_run(s, c.path[0], c.path[1]);
            if (!r) return error_response(r.error());
            if (auto all = instances_of(s, *r, c.path[2]); !all) return error_response(all.error());
            bool downstream = c.body_as<bool>("downstream").value_or(false);
            bool latest = c.body_as<std::string>("version").value_or("pinned") == "latest";
            if (auto st = control.clear_task(r->dag_id, r->run_id, c.path[2], downstream, latest, c.actor); !st.ok())
              return error_response(st.error());
            auto now = instances_of(s, *r, c.path[2]);
            if (!now) return error_response(now.error());
            std::vector<std::string> items;
            for (auto& t : *now) items.push_back(dump(ti_json(t)));
            return list_response(items, std::nullopt);
          });
  clear.takes_body = true;
  clear.body = {
      {.name = "downstream",
       .type = ValueType::boolean,
       .description = "also clear what depends on it (default false)"},
      {.name = "version",
       .type = ValueType::enumeration,
       .description = "pinned (default): rerun on the run's own DAG version; latest: move the run to the current one",
       .allowed = {"pinned", "latest"}},
  };

  auto& mark =
      add(routes, "POST", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/state", Access::operator_role,
          "Mark a task success or failed; answers the task's instances", "TaskInstanceList", [&s, &control](Call& c) {
            auto r = find_run(s, c.path[0], c.path[1]);
            if (!r) return error_response(r.error());
            if (auto all = instances_of(s, *r, c.path[2]); !all) return error_response(all.error());
            TaskState to = *c.body_as<std::string>("state") == "success" ? TaskState::success : TaskState::failed;
            if (auto st = control.mark_task(r->dag_id, r->run_id, c.path[2], to, c.actor); !st.ok())
              return error_response(st.error());
            auto now = instances_of(s, *r, c.path[2]);
            if (!now) return error_response(now.error());
            std::vector<std::string> items;
            for (auto& t : *now) items.push_back(dump(ti_json(t)));
            return list_response(items, std::nullopt);
          });
  mark.takes_body = true;
  mark.body = {{.name = "state",
                .type = ValueType::enumeration,
                .description = "the state to set",
                .required = true,
                .allowed = {"success", "failed"}}};
}

}  // namespace baton::api
