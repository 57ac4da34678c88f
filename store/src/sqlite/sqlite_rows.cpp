// Times, optional columns and run rows of the SQLite Store (sqlite_rows.h).
#include "sqlite_rows.h"

namespace baton::store::sqlite {

TimePoint tp(long long us) { return TimePoint(Duration(us)); }
std::optional<TimePoint> opt_tp(const std::optional<long long>& v) {
  return v ? std::optional<TimePoint>(tp(*v)) : std::nullopt;
}
long long us(TimePoint t) { return t.time_since_epoch().count(); }
std::optional<long long> us(const std::optional<TimePoint>& t) {
  return t ? std::optional<long long>(us(*t)) : std::nullopt;
}
std::optional<std::string> opt_text(const Stmt& st, int c) {
  return st.is_null(c) ? std::nullopt : std::optional<std::string>(st.text(c));
}
std::optional<int> opt_int(const Stmt& st, int c) {
  return st.is_null(c) ? std::nullopt : std::optional<int>(static_cast<int>(st.i64(c)));
}

const char* kRunColumns =
    "id, dag_id, run_id, run_type, state, logical_date, data_interval_start, data_interval_end, params, "
    "dag_version, note, idempotency_key, backfill_id, created_by, created_at, started_at, ended_at, expected_end, "
    "sla_deadline";

RunRecord run_row(const Stmt& st) {
  RunRecord r;
  r.pk = st.i64(0);
  r.dag_id = st.text(1);
  r.run_id = st.text(2);
  r.run_type = st.text(3);
  r.state = run_state_from_string(st.text(4)).value_or(RunState::failed);
  r.logical_date = tp(st.i64(5));
  r.data_interval_start = tp(st.i64(6));
  r.data_interval_end = tp(st.i64(7));
  r.params = st.text(8);
  r.dag_version = st.text(9);
  r.note = opt_text(st, 10);
  r.idempotency_key = opt_text(st, 11);
  r.backfill_id = st.opt_i64(12);
  r.created_by = st.text(13);
  r.created_at = tp(st.i64(14));
  r.started_at = opt_tp(st.opt_i64(15));
  r.ended_at = opt_tp(st.opt_i64(16));
  r.expected_end = opt_tp(st.opt_i64(17));
  r.sla_deadline = opt_tp(st.opt_i64(18));
  return r;
}

}  // namespace baton::store::sqlite
