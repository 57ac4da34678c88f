// Parameters and fields of the PostgreSQL Store (postgres_rows.h).
#include "postgres_rows.h"

#include "baton/core/utf8.h"

namespace baton::store::postgres {

TimePoint tp(long long us) { return TimePoint(Duration(us)); }
long long us(TimePoint t) { return t.time_since_epoch().count(); }

// PostgreSQL's text holds neither NUL bytes nor invalid UTF-8, and libpq
// would cut a parameter short at a NUL. Rather than refuse a whole write
// batch (and stop the scheduler) over a task's stray bytes — an error message
// that quotes a Latin-1 output file, say — such bytes become U+FFFD.
std::string storable(const std::string& s) { return to_storable_text(s); }

std::optional<std::string> opt_text(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<std::string>(f.c_str());
}
std::optional<long long> opt_i64(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<long long>(f.as<long long>());
}
std::optional<TimePoint> opt_tp(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<TimePoint>(tp(f.as<long long>()));
}
std::optional<int> opt_int(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<int>(f.as<int>());
}

std::string sql_with(const char* head, const char* columns, const char* tail) {
  return std::string(head) + columns + tail;
}

const char* kRunColumns =
    "id, dag_id, run_id, run_type, state, logical_date, data_interval_start, data_interval_end, params, "
    "dag_version, note, idempotency_key, backfill_id, created_by, created_at, started_at, ended_at, expected_end, "
    "sla_deadline";

RunRecord run_row(const pqxx::row& r) {
  RunRecord x;
  x.pk = r[0].as<long long>();
  x.dag_id = r[1].c_str();
  x.run_id = r[2].c_str();
  x.run_type = r[3].c_str();
  x.state = run_state_from_string(r[4].c_str()).value_or(RunState::failed);
  x.logical_date = tp(r[5].as<long long>());
  x.data_interval_start = tp(r[6].as<long long>());
  x.data_interval_end = tp(r[7].as<long long>());
  x.params = r[8].c_str();
  x.dag_version = r[9].c_str();
  x.note = opt_text(r[10]);
  x.idempotency_key = opt_text(r[11]);
  x.backfill_id = opt_i64(r[12]);
  x.created_by = r[13].c_str();
  x.created_at = tp(r[14].as<long long>());
  x.started_at = opt_tp(r[15]);
  x.ended_at = opt_tp(r[16]);
  x.expected_end = opt_tp(r[17]);
  x.sla_deadline = opt_tp(r[18]);
  return x;
}

}  // namespace baton::store::postgres
