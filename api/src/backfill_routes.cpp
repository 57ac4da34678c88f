// Backfills (SPEC §7, §8): created and canceled through Control (the
// scheduler plans and carries them out), read from the Store.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "baton/core/time.h"
#include "json_text.h"
#include "routes.h"
#include "scope.h"
#include "util.h"

namespace baton::api {

namespace {

using nlohmann::json;


json backfill_json(const store::BackfillRecord& b) {
  return {{"id", b.id},
          {"dag_id", b.dag_id},
          {"from", b.from_text},
          {"to", b.to_text},
          {"from_at", format_utc(b.from_at)},
          {"to_at", format_utc(b.to_at)},
          {"reprocess", b.reprocess},
          {"max_active_runs", b.max_active_runs},
          {"reverse", b.reverse},
          {"tasks", b.tasks ? json::parse(*b.tasks, nullptr, false) : json(nullptr)},
          {"downstream", b.downstream},
          {"state", b.state},
          {"total", b.total},
          {"done", b.done},
          {"failed", b.failed},
          {"next_logical_date", opt_time(b.cursor_at)},
          {"created_at", format_utc(b.created_at)},
          {"created_by", b.created_by},
          {"ended_at", opt_time(b.ended_at)}};
}

json plan_json(const std::vector<scheduler::BackfillStep>& plan, size_t begin, size_t end) {
  json out = json::array();
  for (size_t i = begin; i < end; ++i) {
    const auto& s = plan[i];
    json j = {{"logical_date", format_utc(s.logical_date)},
              {"data_interval_end", format_utc(s.data_interval_end)},
              {"action", s.action},
              {"run_id", s.run_id ? json(*s.run_id) : json(nullptr)}};
    if (!s.reason.empty()) j["reason"] = s.reason;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

void add_backfill_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;

  auto& create = add(
      routes, "POST", "/backfills", Access::operator_role,
      "Create a backfill, or with dry_run see its plan interval by interval (create, skip, rerun) and change nothing",
      "Backfill", [&control](Call& c) {
        scheduler::BackfillRequest r;
        r.dag_id = *c.body_as<std::string>("dag_id");
        r.from = *c.body_as<std::string>("from");
        r.to = *c.body_as<std::string>("to");
        r.reprocess = c.body_as<std::string>("reprocess").value_or("none");
        r.max_active_runs = static_cast<int>(c.body_as<long long>("max_active_runs").value_or(10));
        r.reverse = c.body_as<bool>("reverse").value_or(false);
        r.downstream = c.body_as<bool>("downstream").value_or(false);
        r.dry_run = c.body_as<bool>("dry_run").value_or(false);
        if (auto tasks = c.body_as<std::string>("tasks"))
          for (auto& t : json::parse(*tasks)) r.tasks.push_back(t.get<std::string>());
        // A dry run's plan comes a page at a time (?limit=, ?cursor=); a
        // backfill made answers with its summary only.
        size_t offset = 0, limit = static_cast<size_t>(c.query_as<long long>("limit").value_or(1000));
        if (auto cursor = c.query_as<std::string>("cursor")) {
          if (!r.dry_run) return error_response(Error::invalid("cursor pages a dry run's plan: it needs dry_run"));
          auto at = decode_cursor(*cursor, 'p', 1);
          if (!at || (*at)[0] < 0) return error_response(at ? Error::invalid("cursor: not one of this list's") : at.error());
          offset = static_cast<size_t>((*at)[0]);
        }
        auto made = control.create_backfill(r, c.actor);
        if (!made) return error_response(made.error());
        json j = backfill_json(made->backfill);
        j["summary"] = {{"create", made->summary.create}, {"rerun", made->summary.rerun}, {"skip", made->summary.skip}};
        if (r.dry_run) {
          j["id"] = nullptr;
          j["state"] = "dry_run";
          const auto& plan = made->plan;
          size_t begin = std::min(offset, plan.size()), end = std::min(plan.size(), begin + limit);
          j["plan"] = plan_json(plan, begin, end);
          j["plan_next_cursor"] =
              end < plan.size() ? json(encode_cursor('p', {static_cast<long long>(end)})) : json(nullptr);
        }
        return json_response(r.dry_run ? 200 : 201, dump(j));
      });
  create.query = {
      {.name = "limit", .type = ValueType::integer, .description = "a dry run's plan: intervals per page (default 1000)", .min = 1, .max = 1000},
      {.name = "cursor", .description = "a dry run's plan: the plan_next_cursor of the previous page", .max_length = 200}};
  create.takes_body = true;
  create.body = {
      {.name = "dag_id", .description = "the DAG", .required = true, .max_length = 200},
      {.name = "from", .description = "first logical date: a date (its whole local day) or a date-time, in the DAG's timezone unless it has a zone", .required = true, .max_length = 64},
      {.name = "to", .description = "last logical date, inclusive, read like from", .required = true, .max_length = 64},
      {.name = "reprocess",
       .type = ValueType::enumeration,
       .description = "none: skip intervals that have a run; failed: also rerun the failed tasks of failed runs; all: "
                      "rerun every finished run",
       .allowed = {"none", "failed", "all"}},
      {.name = "max_active_runs", .type = ValueType::integer, .description = "at most this many of its runs unfinished at once (default 10)", .min = 1, .max = 1000},
      {.name = "reverse", .type = ValueType::boolean, .description = "newest interval first"},
      {.name = "tasks", .type = ValueType::string_list, .description = "limit reruns to these tasks"},
      {.name = "downstream", .type = ValueType::boolean, .description = "with tasks: also what depends on them"},
      {.name = "dry_run", .type = ValueType::boolean, .description = "return the plan only"}};

  auto& list = add(routes, "GET", "/backfills", Access::viewer, "Backfills, newest first", "Backfill", [&s](Call& c) {
    long long before = 0;
    if (c.cursor) {
      auto at = decode_cursor(*c.cursor, 'b', 1);
      if (!at) return error_response(at.error());
      before = (*at)[0];
    }
    auto dag_id = c.query_as<std::string>("dag_id");
    // A scoped token's page leaves out other namespaces' DAGs (SPEC §13).
    DagScope scope(s, c);
    auto items = !c.scoped() ? s.list_backfills(dag_id, false, before, c.limit + 1)
                             : read_kept<store::BackfillRecord>(
                                   static_cast<size_t>(c.limit) + 1, std::max(c.limit + 1, 500),
                                   [&](int n) { return s.list_backfills(dag_id, false, before, n); },
                                   [&](const store::BackfillRecord& b) { return scope.sees_dag(b.dag_id); },
                                   [&](const store::BackfillRecord& b) { before = b.id; });
    if (!items) return error_response(items.error());
    std::optional<std::string> next;
    if (items->size() > static_cast<size_t>(c.limit)) {
      items->resize(static_cast<size_t>(c.limit));
      next = encode_cursor('b', {items->back().id});
    }
    std::vector<std::string> out;
    for (auto& b : *items) out.push_back(dump(backfill_json(b)));
    return list_response(out, next);
  });
  list.paginated = true;
  list.query = {{.name = "dag_id", .description = "only this DAG's", .max_length = 200}};

  add(routes, "GET", "/backfills/{id}", Access::viewer, "One backfill with its progress", "Backfill", [&s](Call& c) {
    auto id = parse_integer(c.path[0]);
    if (!id || *id < 1) return error_response(Error::not_found("no backfill " + c.path[0]));
    auto b = s.get_backfill(*id);
    if (!b) return error_response(b.error());
    return json_response(200, dump(backfill_json(*b)));
  });

  add(routes, "POST", "/backfills/{id}/cancel", Access::operator_role,
      "Cancel a backfill: every unfinished run it created or reran is canceled, running tasks included", "Backfill",
      [&s, &control](Call& c) {
        auto id = parse_integer(c.path[0]);
        if (!id || *id < 1) return error_response(Error::not_found("no backfill " + c.path[0]));
        if (auto st = control.cancel_backfill(*id, c.actor); !st.ok()) return error_response(st.error());
        auto b = s.get_backfill(*id);
        if (!b) return error_response(b.error());
        return json_response(200, dump(backfill_json(*b)));
      });
}

}  // namespace baton::api
