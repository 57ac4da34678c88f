// GET /metrics (SPEC §10, Prometheus text format 0.0.4) and GET /sla-misses.
// The counts of runs and task instances come from the store, what only the
// scheduler knows (latency histogram, what waits for a slot) from Control.
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <sstream>

#include "baton/core/states.h"
#include "baton/core/time.h"
#include "json_text.h"
#include "routes.h"
#include "scope.h"
#include "util.h"

namespace baton::api {

namespace {

using nlohmann::json;

std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void family(std::ostringstream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// Per namespace (SPEC §10, §13): every configured namespace and every one
// the scheduler has tries of, those the token sees.
// `m`: the scheduler's metrics, when this process runs one.
void namespace_series(std::ostringstream& o, store::Store& s, const scheduler::SchedulerMetrics* m, const Call& c) {
  std::map<std::string, scheduler::NamespaceFigures> figures;
  std::map<std::string, double> weights;
  if (m) figures = m->namespaces;
  if (auto configured = s.list_namespaces())
    for (auto& n : *configured) weights[n.name] = n.weight;
  std::map<std::string, scheduler::NamespaceFigures> shown;
  for (auto& [ns, f] : figures)
    if (c.sees(ns)) shown[ns] = f;
  for (auto& [ns, w] : weights)
    if (c.sees(ns)) shown.emplace(ns, scheduler::NamespaceFigures{});
  if (shown.empty()) return;
  auto series = [&](const char* name, const char* type, const char* help, auto value) {
    family(o, name, type, help);
    for (auto& [ns, f] : shown) o << name << "{namespace=\"" << label(ns) << "\"} " << value(ns, f) << '\n';
  };
  series("baton_namespace_running_tries", "gauge", "Tries of the namespace queued or running, in this scheduler.",
         [](const std::string&, const scheduler::NamespaceFigures& f) { return static_cast<double>(f.running); });
  series("baton_namespace_ready_tries", "gauge",
         "Task instances of the namespace ready and waiting for a worker slot, in this scheduler.",
         [](const std::string&, const scheduler::NamespaceFigures& f) { return static_cast<double>(f.ready); });
  series("baton_namespace_slot_share", "gauge",
         "The namespace's part of the busy worker slots over the last minute (0 to 1), in this scheduler.",
         [](const std::string&, const scheduler::NamespaceFigures& f) { return f.share; });
  series("baton_namespace_scheduling_latency_p50_seconds", "gauge",
         "Median ready -> running time of the namespace's tries started over the last minute.",
         [](const std::string&, const scheduler::NamespaceFigures& f) { return f.latency_p50; });
  series("baton_namespace_weight", "gauge", "The namespace's weight (1 when not configured).",
         [&](const std::string& ns, const scheduler::NamespaceFigures&) {
           auto it = weights.find(ns);
           return it == weights.end() ? 1.0 : it->second;
         });
}

}  // namespace

void add_metrics_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;

  add(routes, "GET", "/metrics", deps.metrics_public ? Access::open : Access::viewer,
      "Prometheus metrics: runs and task instances by state, scheduling latency, queue depth per queue and pool, "
      "scheduler members and partitions, SLA misses, database latency",
      "text", [&s, &control, claims = deps.claims](Call& c) {
        // A scoped token gets its namespaces' series only: every other
        // series counts all namespaces together (SPEC §13).
        if (c.scoped()) {
          std::ostringstream o;
          o.precision(9);
          auto m = control.metrics();
          namespace_series(o, s, m ? &*m : nullptr, c);
          HttpResponse res;
          res.content_type = "text/plain; version=0.0.4; charset=utf-8";
          res.body = o.str();
          return res;
        }
        auto t0 = std::chrono::steady_clock::now();
        auto counts = s.count_states();
        double db_latency = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!counts) return error_response(counts.error());
        auto pools = s.list_pools();
        if (!pools) return error_response(pools.error());
        auto st = control.status();
        auto m = control.metrics();
        std::ostringstream o;
        o.precision(9);
        family(o, "baton_runs", "gauge", "Runs by state.");
        for (const std::string& state : run_state_names())
          o << "baton_runs{state=\"" << state << "\"} " << (counts->runs.count(state) ? counts->runs.at(state) : 0)
            << '\n';
        family(o, "baton_task_instances", "gauge", "Task instances by state.");
        for (const std::string& state : task_state_names())
          o << "baton_task_instances{state=\"" << state << "\"} "
            << (counts->task_instances.count(state) ? counts->task_instances.at(state) : 0) << '\n';
        family(o, "baton_sla_misses_total", "counter", "SLA misses recorded.");
        o << "baton_sla_misses_total " << counts->sla_misses << '\n';
        family(o, "baton_db_latency_seconds", "gauge", "Time the store took to count runs and task instances.");
        o << "baton_db_latency_seconds " << db_latency << '\n';
        // Every process answers the same (the store's count), scheduler or not.
        family(o, "baton_queue_depth", "gauge",
               "Tries queued for a worker and not yet taken, per worker queue (the signal to scale workers on).");
        {
          std::map<std::string, long long> queued = counts->queued;
          queued.emplace("default", 0);
          for (auto& [q, n] : queued) o << "baton_queue_depth{queue=\"" << label(q) << "\"} " << n << '\n';
        }
        family(o, "baton_worker_claims_total", "counter",
               "Claims of remote workers this process's API made in the store, by whether they found tries.");
        o << "baton_worker_claims_total{found=\"tries\"} " << claims->took.load() << '\n';
        o << "baton_worker_claims_total{found=\"nothing\"} " << claims->nothing.load() << '\n';
        family(o, "baton_worker_claims_parked", "gauge",
               "Claims of remote workers parked on this process's API, waiting for a try.");
        o << "baton_worker_claims_parked " << claims->parked.load() << '\n';
        family(o, "baton_pool_slots", "gauge", "Slots of each pool.");
        for (auto& p : *pools) o << "baton_pool_slots{pool=\"" << label(p.name) << "\"} " << p.slots << '\n';
        family(o, "baton_scheduler_up", "gauge", "Whether this process's scheduler runs.");
        o << "baton_scheduler_up " << (st.running && m ? 1 : 0) << '\n';
        family(o, "baton_scheduler_members", "gauge", "Live scheduler members.");
        o << "baton_scheduler_members " << st.members.size() << '\n';
        family(o, "baton_scheduler_partitions_owned", "gauge", "Partitions of the DAGs each member owns.");
        for (auto& mem : st.members)
          o << "baton_scheduler_partitions_owned{member=\"" << label(mem.id) << "\"} " << mem.partitions << '\n';
        family(o, "baton_scheduler_leader", "gauge", "1 for the leader among the members.");
        for (auto& mem : st.members)
          o << "baton_scheduler_leader{member=\"" << label(mem.id) << "\"} " << (mem.id == st.leader ? 1 : 0) << '\n';
        if (m) {
          family(o, "baton_task_scheduling_latency_seconds", "histogram",
                 "Time from a task instance being ready (scheduled) to its try running.");
          long long cumulative = 0;
          for (size_t k = 0; k < m->latency_bounds.size(); ++k) {
            cumulative += m->latency_buckets[k];
            o << "baton_task_scheduling_latency_seconds_bucket{le=\"" << m->latency_bounds[k] << "\"} " << cumulative
              << '\n';
          }
          o << "baton_task_scheduling_latency_seconds_bucket{le=\"+Inf\"} " << m->latency_count << '\n';
          o << "baton_task_scheduling_latency_seconds_sum " << m->latency_sum << '\n';
          o << "baton_task_scheduling_latency_seconds_count " << m->latency_count << '\n';
          family(o, "baton_ready_depth", "gauge",
                 "Task instances ready and waiting for a slot in this scheduler (not queued yet), per queue.");
          for (auto& [q, n] : m->queue_depth) o << "baton_ready_depth{queue=\"" << label(q) << "\"} " << n << '\n';
          family(o, "baton_pool_depth", "gauge", "Task instances ready and waiting for a slot, per pool.");
          for (auto& p : *pools)
            o << "baton_pool_depth{pool=\"" << label(p.name) << "\"} "
              << (m->pool_depth.count(p.name) ? m->pool_depth.at(p.name) : 0) << '\n';
          family(o, "baton_active_runs", "gauge", "Runs this scheduler holds in memory (queued or running).");
          o << "baton_active_runs " << m->active_runs << '\n';
          // Run-time forecasts (SPEC §7), this scheduler's.
          family(o, "baton_sla_at_risk_runs", "gauge", "Runs this scheduler finds at risk of missing their SLA now.");
          o << "baton_sla_at_risk_runs " << m->sla_risks_open << '\n';
          family(o, "baton_sla_risks_total", "counter", "Runs found at risk of missing their SLA since the start.");
          o << "baton_sla_risks_total " << m->sla_risks_detected << '\n';
          family(o, "baton_slow_tries_total", "counter", "Tries flagged slow since the start.");
          o << "baton_slow_tries_total " << m->slow_tries << '\n';
          family(o, "baton_stuck_tries_total", "counter", "Tries flagged stuck since the start.");
          o << "baton_stuck_tries_total " << m->stuck_tries << '\n';
        }
        namespace_series(o, s, m ? &*m : nullptr, c);
        HttpResponse res;
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        res.body = o.str();
        return res;
      });

  auto& misses = add(routes, "GET", "/sla-misses", Access::viewer, "SLA misses, oldest first", "SlaMiss",
                     [&s](Call& c) {
                       return dag_list_page<store::SlaMiss>(
                           s, c, 's',
                           [&](const std::optional<std::string>& dag_id, std::optional<TimePoint> since,
                               long long after, int n) { return s.list_sla_misses(dag_id, since, after, n); },
                           [](const store::SlaMiss& m) {
                             return dump(json{{"dag_id", m.dag_id},
                                              {"run_id", m.run_id},
                                              {"task_id", m.task_id.empty() ? json(nullptr) : json(m.task_id)},
                                              {"kind", m.kind},
                                              {"deadline", format_utc(m.deadline)},
                                              {"detected_at", format_utc(m.detected_at)}});
                           });
                     });
  misses.paginated = true;
  misses.query = {{.name = "dag_id", .description = "only this DAG's", .max_length = 200},
                  {.name = "since", .type = ValueType::time, .description = "detected at or after"}};
}

}  // namespace baton::api
