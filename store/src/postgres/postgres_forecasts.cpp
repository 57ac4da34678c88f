// The PostgreSQL Store: run-time forecasts (SPEC §7) — the tasks' duration
// histories (a ring of kDurationHistory slots per task) and the SLA risks.
#include "postgres_batch.h"
#include "postgres_lists.h"
#include "postgres_store.h"

namespace baton::store::postgres {

Result<std::vector<TaskDuration>> PostgresAudit::task_durations(const std::optional<std::string>& dag_id,
                                                                const std::optional<std::string>& task_id) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<TaskDuration>> {
    static const std::string cols = "SELECT dag_id, task_id, seq, seconds, ended_at FROM task_durations ";
    static const std::string one = cols + "WHERE dag_id = $1 AND task_id = $2 ORDER BY seq DESC";
    static const std::string dag = cols + "WHERE dag_id = $1 ORDER BY task_id, seq DESC";
    static const std::string all = cols + "ORDER BY dag_id, task_id, seq DESC";
    auto r = dag_id && task_id ? exec(t, one, params(*dag_id, *task_id))
             : dag_id          ? exec(t, dag, params(*dag_id))
                               : exec(t, all, {});
    if (!r) return r.error();
    std::vector<TaskDuration> out;
    out.reserve(r->size());
    for (auto row : *r)
      out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<long long>(), row[3].as<double>(),
                     tp(row[4].as<long long>())});
    return out;
  });
}

Result<std::vector<SlaRisk>> PostgresAudit::list_sla_risks(const std::optional<std::string>& dag_id,
                                                           std::optional<TimePoint> since, long long after_id,
                                                           int limit) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<SlaRisk>> {
    std::vector<SlaRisk> out;
    auto first = first_since(t, kSlaRisksFirstSinceSql, since);
    if (!first) return first.error();
    if (*first == kNoneSince) return out;
    auto r = exec(t, sla_risks_sql(dag_id.has_value()), params(std::max(after_id, *first), dag_id, since, limit));
    if (!r) return r.error();
    for (auto row : *r)
      out.push_back({row[0].as<long long>(), row[1].c_str(), row[2].c_str(), row[3].c_str(),
                     tp(row[4].as<long long>()), tp(row[5].as<long long>()), tp(row[6].as<long long>()),
                     opt_tp(row[7])});
    return out;
  });
}

Status PostgresAudit::write_forecasts(pqxx::transaction_base& t, const WriteBatch& b) {
  if (!b.durations.empty()) {
    auto st = durations_statement(b.durations);
    if (auto r = exec(t, st.sql, st.params); !r) return r.error();
  }
  for (auto& [r, notifications, recovery] : b.sla_risks) {
    if (recovery) {
      if (auto up = exec(t,
                         "UPDATE sla_risks SET expected_end = $3, recovered_at = $4 WHERE dag_id = $1 AND "
                         "run_id = $2 AND recovered_at IS NULL",
                         params(r.dag_id, r.run_id, r.expected_end, r.recovered_at));
          !up)
        return up.error();
      continue;
    }
    // xmax = 0: the row was inserted by this statement (a new risk).
    auto up = exec(t,
                   "INSERT INTO sla_risks AS s (dag_id, run_id, kind, deadline, expected_end, detected_at, "
                   "recovered_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dag_id, run_id) DO UPDATE SET "
                   "kind = excluded.kind, deadline = excluded.deadline, expected_end = excluded.expected_end, "
                   "recovered_at = excluded.recovered_at RETURNING (xmax = 0)",
                   params(r.dag_id, r.run_id, r.kind, r.deadline, r.expected_end, r.detected_at, r.recovered_at));
    if (!up) return up.error();
    if (!up->empty() && (*up)[0][0].as<bool>())
      for (auto& n : notifications)
        if (auto w = insert_notification(t, n); !w) return w.error();
  }
  return {};
}

}  // namespace baton::store::postgres
