// Runs of a DAG: trigger, the list (newest first), the grid of the UI (runs
// x tasks), one run, cancel. Reads from the Store, changes through Control.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/core/time.h"
#include "dag_views.h"
#include "json_text.h"
#include "routes.h"
#include "util.h"

namespace baton::api {

namespace {

using nlohmann::json;

// Runs in one page of the grid (each is a column of every task).
constexpr int kMaxGridRuns = 100;

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
          {"note", opt(r.note)},
          // The forecast (SPEC §7): at risk while unfinished and expected to
          // end after its SLA deadline (past the deadline, it also missed it).
          {"expected_end", opt_time(r.expected_end)},
          {"sla_deadline", opt_time(r.sla_deadline)},
          {"at_risk", !is_finished(r.state) && r.expected_end && r.sla_deadline && *r.expected_end > *r.sla_deadline}};
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

}  // namespace

void add_run_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;

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
}

}  // namespace baton::api
