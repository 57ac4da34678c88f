// The PostgreSQL Store: backfills.
#include <nlohmann/json.hpp>

#include <limits>

#include "postgres_lists.h"
#include "postgres_store.h"

namespace baton::store::postgres {

namespace {

const char* kBackfillColumns =
    "id, dag_id, from_at, to_at, from_text, to_text, reprocess, max_active_runs, reverse, tasks, downstream, state, "
    "total, done, failed, cursor_at, created_by, created_at, ended_at, idempotency_key";

BackfillRecord backfill_row(const pqxx::row& r) {
  BackfillRecord b;
  b.id = r[0].as<long long>();
  b.dag_id = r[1].c_str();
  b.from_at = tp(r[2].as<long long>());
  b.to_at = tp(r[3].as<long long>());
  b.from_text = r[4].c_str();
  b.to_text = r[5].c_str();
  b.reprocess = r[6].c_str();
  b.max_active_runs = r[7].as<int>();
  b.reverse = r[8].as<bool>();
  b.tasks = opt_text(r[9]);
  b.downstream = r[10].as<bool>();
  b.state = r[11].c_str();
  b.total = r[12].as<int>();
  b.done = r[13].as<int>();
  b.failed = r[14].as<int>();
  b.cursor_at = opt_tp(r[15]);
  b.created_by = r[16].c_str();
  b.created_at = tp(r[17].as<long long>());
  b.ended_at = opt_tp(r[18]);
  b.idempotency_key = opt_text(r[19]);
  return b;
}

}  // namespace

// ---- backfills ----

Result<Store::CreatedBackfill> PostgresBackfills::create_backfill(const BackfillRecord& in, const std::string& actor) {
  return write([&](pqxx::work& t) -> Result<CreatedBackfill> {
    static const std::string seen_sql =
        sql_with("SELECT ", kBackfillColumns, " FROM backfills WHERE dag_id = $1 AND idempotency_key = $2");
    auto seen = [&]() -> Result<std::optional<BackfillRecord>> {
      auto r = exec(t, seen_sql, params(in.dag_id, in.idempotency_key));
      if (!r) return r.error();
      if (r->empty()) return std::optional<BackfillRecord>();
      return std::optional<BackfillRecord>(backfill_row((*r)[0]));
    };
    if (in.idempotency_key) {
      auto s = seen();
      if (!s) return s.error();
      if (*s) return CreatedBackfill{**s, false};
    }
    BackfillRecord b = in;
    b.created_at = clock_.now();
    b.created_by = actor;
    auto r = exec(t,
                  "INSERT INTO backfills (dag_id, from_at, to_at, from_text, to_text, reprocess, max_active_runs, "
                  "reverse, tasks, downstream, state, total, done, failed, cursor_at, created_by, created_at, "
                  "ended_at, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
                  "$15, $16, $17, $18, $19) "
                  "ON CONFLICT (dag_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
                  params(b.dag_id, b.from_at, b.to_at, b.from_text, b.to_text, b.reprocess, b.max_active_runs,
                         b.reverse, b.tasks, b.downstream, b.state, b.total, b.done, b.failed, b.cursor_at,
                         b.created_by, b.created_at, b.ended_at, b.idempotency_key));
    if (!r) return r.error();
    if (r->empty()) {
      // Another process made it with the same key a moment ago (the insert
      // waited for it to commit): that one is the backfill.
      auto s = seen();
      if (!s) return s.error();
      if (!*s) return Error{"unavailable", "backfill with key " + *in.idempotency_key + " vanished"};
      return CreatedBackfill{**s, false};
    }
    b.id = (*r)[0][0].as<long long>();
    if (auto a = audit(t, actor, "backfill.created", "dag:" + b.dag_id + "/backfill/" + std::to_string(b.id),
                       json::parse(backfill_audit_details(b)));
        !a)
      return a.error();
    return CreatedBackfill{b, true};
  });
}

Result<BackfillRecord> PostgresBackfills::get_backfill(long long id) {
  static const std::string sql = sql_with("SELECT ", kBackfillColumns, " FROM backfills WHERE id = $1");
  return read([&](pqxx::transaction_base& t) -> Result<BackfillRecord> {
    auto r = exec(t, sql, params(id));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("no backfill " + std::to_string(id));
    return backfill_row((*r)[0]);
  });
}

Result<std::vector<BackfillRecord>> PostgresBackfills::list_backfills(const std::optional<std::string>& dag_id,
                                                                  bool unfinished_only, long long before_id,
                                                                  int limit) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<BackfillRecord>> {
    auto r = exec(t, backfills_sql(dag_id.has_value()),
                  params(dag_id, unfinished_only, before_id > 0 ? before_id : std::numeric_limits<long long>::max(),
                         limit));
    if (!r) return r.error();
    std::vector<BackfillRecord> out;
    for (auto row : *r) out.push_back(backfill_row(row));
    return out;
  });
}

Result<std::vector<RunRecord>> PostgresBackfills::runs_between(const std::string& dag_id, TimePoint from, TimePoint to) {
  static const std::string sql = sql_with("SELECT ", kRunColumns,
                                          " FROM dag_runs WHERE dag_id = $1 AND logical_date >= $2 AND "
                                          "logical_date <= $3 ORDER BY logical_date, id");
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<RunRecord>> {
    auto r = exec(t, sql, params(dag_id, from, to));
    if (!r) return r.error();
    std::vector<RunRecord> out;
    for (auto row : *r) out.push_back(run_row(row));
    return out;
  });
}

}  // namespace baton::store::postgres
