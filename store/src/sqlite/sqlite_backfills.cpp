// The SQLite Store: backfills.
#include <nlohmann/json.hpp>

#include <limits>

#include "sqlite_lists.h"
#include "sqlite_store.h"

namespace baton::store::sqlite {

namespace {

const char* kBackfillColumns =
    "id, dag_id, from_at, to_at, from_text, to_text, reprocess, max_active_runs, reverse, tasks, downstream, state, "
    "total, done, failed, cursor_at, created_by, created_at, ended_at, idempotency_key";

json backfill_details(const BackfillRecord& b) { return json::parse(backfill_audit_details(b)); }

BackfillRecord backfill_row(const Stmt& st) {
  BackfillRecord b;
  b.id = st.i64(0);
  b.dag_id = st.text(1);
  b.from_at = tp(st.i64(2));
  b.to_at = tp(st.i64(3));
  b.from_text = st.text(4);
  b.to_text = st.text(5);
  b.reprocess = st.text(6);
  b.max_active_runs = static_cast<int>(st.i64(7));
  b.reverse = st.i64(8) != 0;
  b.tasks = opt_text(st, 9);
  b.downstream = st.i64(10) != 0;
  b.state = st.text(11);
  b.total = static_cast<int>(st.i64(12));
  b.done = static_cast<int>(st.i64(13));
  b.failed = static_cast<int>(st.i64(14));
  b.cursor_at = opt_tp(st.opt_i64(15));
  b.created_by = st.text(16);
  b.created_at = tp(st.i64(17));
  b.ended_at = opt_tp(st.opt_i64(18));
  b.idempotency_key = opt_text(st, 19);
  return b;
}

}  // namespace

// ---- backfills ----

Result<Store::CreatedBackfill> SqliteBackfills::create_backfill(const BackfillRecord& in, const std::string& actor) {
  return write([&]() -> Result<CreatedBackfill> {
    if (in.idempotency_key) {
      static const std::string sql =
          std::string("SELECT ") + kBackfillColumns + " FROM backfills WHERE dag_id = ? AND idempotency_key = ?";
      auto seen = db_.prepare(sql.c_str());
      seen.bind(1, in.dag_id).bind(2, *in.idempotency_key);
      int rc = seen.step();
      if (rc == SQLITE_ROW) return CreatedBackfill{backfill_row(seen), false};
      if (rc != SQLITE_DONE) return db_error();
    }
    BackfillRecord b = in;
    b.created_at = clock_.now();
    b.created_by = actor;
    auto st = db_.prepare(
        "INSERT INTO backfills (dag_id, from_at, to_at, from_text, to_text, reprocess, max_active_runs, reverse, "
        "tasks, downstream, state, total, done, failed, cursor_at, created_by, created_at, ended_at, "
        "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, b.dag_id).bind(2, us(b.from_at)).bind(3, us(b.to_at)).bind(4, b.from_text).bind(5, b.to_text);
    st.bind(6, b.reprocess).bind(7, b.max_active_runs).bind(8, b.reverse ? 1 : 0).bind(9, b.tasks);
    st.bind(10, b.downstream ? 1 : 0).bind(11, b.state).bind(12, b.total).bind(13, b.done).bind(14, b.failed);
    st.bind(15, us(b.cursor_at)).bind(16, b.created_by).bind(17, us(b.created_at)).bind(18, us(b.ended_at));
    st.bind(19, b.idempotency_key);
    if (st.step() != SQLITE_DONE) return db_error();
    b.id = sqlite3_last_insert_rowid(db_.raw());
    if (auto a = audit_locked(actor, "backfill.created", "dag:" + b.dag_id + "/backfill/" + std::to_string(b.id),
                              backfill_details(b));
        !a)
      return a.error();
    return CreatedBackfill{b, true};
  });
}

Result<BackfillRecord> SqliteBackfills::get_backfill(long long id) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kBackfillColumns + " FROM backfills WHERE id = ?";
  auto st = db_.prepare(sql.c_str());
  st.bind(1, id);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found("no backfill " + std::to_string(id));
  if (rc != SQLITE_ROW) return db_error();
  return backfill_row(st);
}

Result<std::vector<BackfillRecord>> SqliteBackfills::list_backfills(const std::optional<std::string>& dag_id,
                                                                bool unfinished_only, long long before_id, int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(backfills_sql(dag_id.has_value()));
  st.bind(1, dag_id).bind(2, unfinished_only ? 1 : 0);
  st.bind(3, before_id > 0 ? before_id : std::numeric_limits<long long>::max()).bind(4, limit);
  std::vector<BackfillRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(backfill_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<std::vector<RunRecord>> SqliteBackfills::runs_between(const std::string& dag_id, TimePoint from, TimePoint to) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kRunColumns +
                                 " FROM dag_runs WHERE dag_id = ? AND logical_date >= ? AND logical_date <= ? "
                                 "ORDER BY logical_date, id";
  auto st = db_.prepare(sql.c_str());
  st.bind(1, dag_id).bind(2, us(from)).bind(3, us(to));
  std::vector<RunRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(run_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

}  // namespace baton::store::sqlite
