// Run-time forecasts (SPEC §7): GET /sla-risks (the runs found at risk of
// missing their SLA) and GET /dags/{dag_id}/tasks/{task_id}/stats (a task's
// duration history). Both read the store, never the scheduler's loop.
#include <nlohmann/json.hpp>

#include "baton/core/forecast.h"
#include "dag_views.h"
#include "json_text.h"
#include "routes.h"
#include "scope.h"
#include "util.h"

namespace baton::api {

using nlohmann::json;

void add_forecast_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;

  auto& risks = add(
      routes, "GET", "/sla-risks", Access::viewer,
      "Runs found at risk of missing their SLA (expected to end after the deadline), oldest first; "
      "recovered_at is set when a run got back within its deadline",
      "SlaRisk", [&s](Call& c) {
        return dag_list_page<store::SlaRisk>(
            s, c, 'r',
            [&](const std::optional<std::string>& dag_id, std::optional<TimePoint> since, long long after, int n) {
              return s.list_sla_risks(dag_id, since, after, n);
            },
            [](const store::SlaRisk& r) {
              return dump(json{{"dag_id", r.dag_id},
                               {"run_id", r.run_id},
                               {"kind", r.kind},
                               {"deadline", format_utc(r.deadline)},
                               {"expected_end", format_utc(r.expected_end)},
                               {"detected_at", format_utc(r.detected_at)},
                               {"recovered_at", opt_time(r.recovered_at)}});
            });
      });
  risks.paginated = true;
  risks.query = {{.name = "dag_id", .description = "only this DAG's", .max_length = 200},
                 {.name = "since", .type = ValueType::time, .description = "detected at or after"}};

  add(routes, "GET", "/dags/{dag_id}/tasks/{task_id}/stats", Access::viewer,
      "A task's duration history: the last 50 successful tries (each mapped instance counts), newest first, "
      "with count, p50, p90, p99 and last in seconds",
      "TaskStats", [&s](Call& c) {
        auto d = find_dag(s, c.path[0]);
        if (!d) return error_response(d.error());
        const std::string& task_id = c.path[1];
        auto rows = s.task_durations(d->dag_id, task_id);
        if (!rows) return error_response(rows.error());
        if (rows->empty()) {
          // No history: a task of the current version has none yet; any
          // other name is not a task of the DAG.
          bool known = false;
          if (d->current_version)
            if (auto v = compiled_cache().get(s, d->dag_id, *d->current_version); v && (*v)->is_object()) {
              const json& compiled = **v;
              known = compiled.contains("tasks") && compiled["tasks"].is_object() && compiled["tasks"].contains(task_id);
            }
          if (!known)
            return error_response(Error::not_found("DAG \"" + d->dag_id + "\" has no task \"" + task_id + "\""));
        }
        std::vector<double> seconds;
        json durations = json::array();
        for (auto& r : *rows) {
          seconds.push_back(r.seconds);
          durations.push_back({{"seconds", r.seconds}, {"ended_at", format_utc(r.ended_at)}});
        }
        DurationStats st = duration_stats(seconds);
        auto or_null = [&](double x) { return st.count ? json(x) : json(nullptr); };
        return json_response(200, dump(json{{"dag_id", d->dag_id},
                                            {"task_id", task_id},
                                            {"count", st.count},
                                            {"p50", or_null(st.p50)},
                                            {"p90", or_null(st.p90)},
                                            {"p99", or_null(st.p99)},
                                            {"last", or_null(st.last)},
                                            {"durations", durations}}));
      });
}

}  // namespace baton::api
