// The SQLite Store: run-time forecasts (SPEC §7) — the tasks' duration
// histories (a ring of kDurationHistory slots per task) and the SLA risks.
#include "sqlite_lists.h"
#include "sqlite_store.h"

namespace baton::store::sqlite {

namespace {

TaskDuration duration_row(const Stmt& st) {
  return {st.text(0), st.text(1), st.i64(2), st.f64(3), tp(st.i64(4))};
}

SlaRisk risk_row(const Stmt& st) {
  return {st.i64(0),      st.text(1),          st.text(2),   st.text(3),
          tp(st.i64(4)),  tp(st.i64(5)),       tp(st.i64(6)), opt_tp(st.opt_i64(7))};
}

}  // namespace

Result<std::vector<TaskDuration>> SqliteAudit::task_durations(const std::optional<std::string>& dag_id,
                                                              const std::optional<std::string>& task_id) {
  std::lock_guard lock(mu_);
  // Texts that live as long as the process: the statement cache keys on them.
  static const char* kOne =
      "SELECT dag_id, task_id, seq, seconds, ended_at FROM task_durations WHERE dag_id = ?1 AND task_id = ?2 "
      "ORDER BY seq DESC";
  static const char* kDag =
      "SELECT dag_id, task_id, seq, seconds, ended_at FROM task_durations WHERE dag_id = ?1 "
      "ORDER BY task_id, seq DESC";
  static const char* kAll =
      "SELECT dag_id, task_id, seq, seconds, ended_at FROM task_durations ORDER BY dag_id, task_id, seq DESC";
  const char* sql = dag_id && task_id ? kOne : dag_id ? kDag : kAll;
  auto st = db_.prepare(sql);
  if (dag_id) st.bind(1, *dag_id);
  if (dag_id && task_id) st.bind(2, *task_id);
  std::vector<TaskDuration> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(duration_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<std::vector<SlaRisk>> SqliteAudit::list_sla_risks(const std::optional<std::string>& dag_id,
                                                         std::optional<TimePoint> since, long long after_id,
                                                         int limit) {
  std::lock_guard lock(mu_);
  std::vector<SlaRisk> out;
  auto first = first_since(kSlaRisksFirstSinceSql, us(since));
  if (!first) return first.error();
  if (*first == kNoneSince) return out;
  auto st = db_.prepare(sla_risks_sql(dag_id.has_value()));
  st.bind(1, std::max(after_id, *first)).bind(2, dag_id).bind(3, us(since)).bind(4, limit);
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(risk_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Status SqliteAudit::write_forecasts_locked(const WriteBatch& b) {
  for (auto& d : b.durations) {
    auto st = db_.prepare(
        "INSERT INTO task_durations (dag_id, task_id, slot, seq, seconds, ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT(dag_id, task_id, slot) DO UPDATE SET seq = ?4, seconds = ?5, ended_at = ?6 WHERE seq < ?4");
    st.bind(1, d.dag_id).bind(2, d.task_id).bind(3, d.seq % kDurationHistory).bind(4, d.seq);
    st.bind(5, d.seconds).bind(6, us(d.ended_at));
    if (st.step() != SQLITE_DONE) return db_error();
  }
  for (auto& [r, notifications, recovery] : b.sla_risks) {
    if (recovery) {
      auto up = db_.prepare(
          "UPDATE sla_risks SET expected_end = ?3, recovered_at = ?4 WHERE dag_id = ?1 AND run_id = ?2 "
          "AND recovered_at IS NULL");
      up.bind(1, r.dag_id).bind(2, r.run_id).bind(3, us(r.expected_end)).bind(4, us(r.recovered_at));
      if (up.step() != SQLITE_DONE) return db_error();
      continue;
    }
    auto st = db_.prepare(
        "INSERT INTO sla_risks (dag_id, run_id, kind, deadline, expected_end, detected_at, recovered_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(dag_id, run_id) DO NOTHING");
    st.bind(1, r.dag_id).bind(2, r.run_id).bind(3, r.kind).bind(4, us(r.deadline)).bind(5, us(r.expected_end));
    st.bind(6, us(r.detected_at)).bind(7, us(r.recovered_at));
    if (st.step() != SQLITE_DONE) return db_error();
    if (db_.changes() > 0) {
      for (auto& n : notifications)
        if (auto w = insert_notification_locked(n); !w) return w.error();
      continue;
    }
    auto up = db_.prepare(
        "UPDATE sla_risks SET kind = ?3, deadline = ?4, expected_end = ?5, recovered_at = ?6 "
        "WHERE dag_id = ?1 AND run_id = ?2");
    up.bind(1, r.dag_id).bind(2, r.run_id).bind(3, r.kind).bind(4, us(r.deadline)).bind(5, us(r.expected_end));
    up.bind(6, us(r.recovered_at));
    if (up.step() != SQLITE_DONE) return db_error();
  }
  return {};
}

}  // namespace baton::store::sqlite
