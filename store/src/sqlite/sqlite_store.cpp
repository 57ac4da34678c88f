// The SQLite Store (sqlite_store.h): opening, migrations, and apply(), which
// writes one turn of the scheduler's loop (every subject) in one transaction.
#include <nlohmann/json.hpp>

#include "migrations.h"
#include "sqlite_lists.h"
#include "sqlite_store.h"

namespace baton::store::sqlite {

Status SqliteStore::open() {
  if (auto s = db_.open(url_.path); !s) return s;
  // Statement journals (every insert and state change fires the counting
  // triggers) and temporary tables in memory, not in files of the temporary
  // folder: a big transaction wrote its journals there, through ext4 when
  // it was /var/tmp (docs/benchmarks.md, "A minute's runs built ahead").
  // What may sort or collect a whole history uses files (TempInFiles).
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
                             "PRAGMA temp_store=MEMORY"})
    if (auto s = db_.exec(pragma); !s)
      return Error{"unavailable", "cannot use SQLite database " + url_.path + ": " + s.error().message};
  return db_.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
      "applied_at INTEGER NOT NULL)");
}

// ---- schema ----

Result<std::vector<MigrationInfo>> SqliteStore::migration_status() {
  std::lock_guard lock(mu_);
  return status_locked();
}

Result<int> SqliteStore::migrate() {
  std::lock_guard lock(mu_);
  auto status = status_locked();
  if (!status) return status.error();
  // A migration may build an index over a long history, or group a whole
  // table: its sorts go to files, not all into memory.
  TempInFiles in_files(db_);
  int applied = 0;
  for (auto& m : sqlite_migrations()) {
    bool done = false;
    for (auto& s : *status) done = done || (s.version == m.version && s.applied_at);
    if (done) continue;
    if (auto s = db_.exec("BEGIN IMMEDIATE"); !s) return s.error();
    auto s = db_.exec(m.sql);
    if (s) {
      auto ins = db_.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
      ins.bind(1, m.version).bind(2, std::string(m.name)).bind(3, now());
      if (ins.step() != SQLITE_DONE) s = Error{"database_error", db_.last_error()};
    }
    if (!s) {
      (void)db_.exec("ROLLBACK");
      return Error{"database_error", "migration " + std::string(m.name) + " failed: " + s.error().message};
    }
    if (auto c = db_.exec("COMMIT"); !c) return c.error();
    ++applied;
  }
  return applied;
}

Result<std::vector<MigrationInfo>> SqliteStore::status_locked() {
  std::vector<MigrationInfo> out;
  for (auto& m : sqlite_migrations()) out.push_back({m.version, m.name, std::nullopt});
  auto st = db_.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    int v = static_cast<int>(st.i64(0));
    bool known = false;
    for (auto& m : out)
      if (m.version == v) {
        m.applied_at = tp(st.i64(2));
        known = true;
      }
    if (!known)
      return Error{"schema_too_new", "the database has migration " + std::to_string(v) + " (" + st.text(1) +
                                         ") that this baton does not know: upgrade baton"};
  }
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

// ---- the scheduler's write batch ----

Status SqliteStore::apply(const WriteBatch& b) {
  if (b.empty()) return {};
  if (!b.enqueue.empty() || !b.dequeue.empty() || !b.events_done.empty() || !b.command_results.empty())
    return remote_unsupported();
  auto r = write([&]() -> Result<bool> {
    if (auto f = check_fences_locked(b.fences); !f) return f.error();
    for (auto& run : b.runs) {
      auto st = db_.prepare(
          "UPDATE dag_runs SET state = ?, started_at = ?, ended_at = ?, dag_version = ?, backfill_id = ?, "
          "expected_end = ?, sla_deadline = ? WHERE id = ?");
      st.bind(1, std::string(to_string(run.state))).bind(2, us(run.started_at)).bind(3, us(run.ended_at));
      st.bind(4, run.dag_version).bind(5, run.backfill_id).bind(6, us(run.expected_end));
      st.bind(7, us(run.sla_deadline)).bind(8, run.pk);
      if (st.step() != SQLITE_DONE) return db_error();
    }
    for (auto& t : b.task_instances) {
      auto st = db_.prepare(
          "UPDATE task_instances SET state = ?2, try_number = ?3, max_tries = ?4, ready_at = ?5, wake_at = ?6, "
          "started_at = ?7, ended_at = ?8, worker = ?9, attempt_token = ?10, exit_code = ?11, reason = ?12, "
          "heartbeat_at = ?13, output = ?15, flags = ?16, progress = coalesce(?17, progress), "
          // Activity a worker stored on its own (a heartbeat) is never set
          // back by an older copy (or none) of the same try; a new try starts
          // with what it brings (NULL).
          "last_activity_at = CASE WHEN ?3 <> try_number THEN ?14 "
          "ELSE max(coalesce(last_activity_at, ?14), coalesce(?14, last_activity_at)) END "
          "WHERE id = ?1");
      st.bind(1, t.id).bind(2, std::string(to_string(t.state))).bind(3, t.try_number).bind(4, t.max_tries);
      st.bind(5, us(t.ready_at)).bind(6, us(t.wake_at)).bind(7, us(t.started_at)).bind(8, us(t.ended_at));
      st.bind(9, t.worker).bind(10, t.attempt_token);
      st.bind(11, t.exit_code ? std::optional<long long>(*t.exit_code) : std::nullopt);
      st.bind(12, t.reason).bind(13, us(t.heartbeat_at)).bind(14, us(t.last_activity_at)).bind(15, t.output);
      st.bind(16, t.flags.empty() ? std::nullopt : std::optional<std::string>(t.flags)).bind(17, t.progress);
      if (st.step() != SQLITE_DONE) return db_error();
    }
    for (auto& t : b.tries) {
      auto st = db_.prepare(
          "INSERT INTO task_tries (ti_id, try_number, state, worker, attempt_token, queued_at, started_at, "
          "ended_at, exit_code, reason, log_path, log_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
          "?12) ON CONFLICT(ti_id, try_number) DO UPDATE SET state = ?3, worker = ?4, attempt_token = ?5, "
          "queued_at = ?6, started_at = ?7, ended_at = ?8, exit_code = ?9, reason = ?10, log_path = ?11, "
          "log_bytes = ?12");
      st.bind(1, t.ti_id).bind(2, t.try_number).bind(3, std::string(to_string(t.state))).bind(4, t.worker);
      st.bind(5, t.attempt_token).bind(6, us(t.queued_at)).bind(7, us(t.started_at)).bind(8, us(t.ended_at));
      st.bind(9, t.exit_code ? std::optional<long long>(*t.exit_code) : std::nullopt);
      st.bind(10, t.reason).bind(11, t.log_path).bind(12, t.log_bytes);
      if (st.step() != SQLITE_DONE) return db_error();
    }
    for (auto& n : b.notifications)
      if (auto r = insert_notification_locked(n); !r) return r.error();
    for (auto& m : b.sla_misses) {
      auto fresh = insert_sla_miss_locked(m.miss);
      if (!fresh) return fresh.error();
      if (*fresh)
        for (auto& n : m.notifications)
          if (auto r = insert_notification_locked(n); !r) return r.error();
    }
    for (auto& e : b.dataset_events)
      if (auto r = insert_dataset_event_locked(e); !r) return r.error();
    if (auto w = write_forecasts_locked(b); !w) return w.error();
    for (auto& f : b.backfills) {
      auto st = db_.prepare(
          "UPDATE backfills SET state = ?, total = ?, done = ?, failed = ?, cursor_at = ?, ended_at = ? WHERE id = ?");
      st.bind(1, f.state).bind(2, f.total).bind(3, f.done).bind(4, f.failed).bind(5, us(f.cursor_at));
      st.bind(6, us(f.ended_at)).bind(7, f.id);
      if (st.step() != SQLITE_DONE) return db_error();
    }
    for (auto& [dag_id, tick] : b.last_ticks) {
      auto st = db_.prepare("UPDATE dags SET last_tick = ? WHERE dag_id = ? AND (last_tick IS NULL OR last_tick < ?)");
      st.bind(1, us(tick)).bind(2, dag_id).bind(3, us(tick));
      if (st.step() != SQLITE_DONE) return db_error();
    }
    for (auto& a : b.audit) {
      json details = json::parse(a.details, nullptr, false);
      if (details.is_discarded() || !details.is_object()) details = json::object();
      if (auto e = audit_locked(a.actor, a.action, a.target, details); !e) return e.error();
    }
    return true;
  });
  return r ? Status() : Status(r.error());
}

// ---- the plans of the lists ----

Result<std::vector<QueryPlan>> SqliteStore::explain_list_queries() {
  std::lock_guard lock(mu_);
  std::vector<QueryPlan> out;
  for (auto& l : list_statements()) {
    // Prepared afresh (not cached): the plan does not depend on the values.
    sqlite3_stmt* raw = nullptr;
    std::string sql = std::string("EXPLAIN QUERY PLAN ") + l.sql;
    if (sqlite3_prepare_v2(db_.raw(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) return db_error();
    QueryPlan p{l.name, l.table, ""};
    int rc;
    {
      Stmt st(raw);
      while ((rc = st.step()) == SQLITE_ROW) p.plan += st.text(3) + "\n";
    }
    sqlite3_finalize(raw);
    if (rc != SQLITE_DONE) return db_error();
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace baton::store::sqlite

namespace baton::store {

Result<std::unique_ptr<Store>> open_sqlite_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options) {
  auto s = std::make_unique<sqlite::SqliteStore>(url, clock, options.audit_key);
  if (auto o = s->open(); !o) return o.error();
  if (options.migrate)
    if (auto m = s->migrate(); !m) return m.error();
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace baton::store
