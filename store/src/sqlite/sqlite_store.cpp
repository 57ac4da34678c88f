// The SQLite Store: one connection in WAL mode, writers in BEGIN IMMEDIATE
// transactions, every access under one mutex.
#include <nlohmann/json.hpp>

#include <cstring>
#include <mutex>
#include <stdexcept>

#include "baton/store/store.h"
#include "migrations.h"
#include "sqlite_db.h"

namespace baton::store {

namespace sqlite {

Status Db::open(const std::string& path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return Error{"unavailable", "cannot open SQLite database " + path + ": " + why};
  }
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 1);
  return {};
}

Status Db::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error{"database_error", msg};
  }
  return {};
}

Stmt Db::prepare(const char* sql) {
  auto it = cache_.find(sql);
  // Keyed by the text's address (static strings, as a rule); a text at an
  // address once used by another (a temporary) gets its own statement.
  if (it != cache_.end() && std::strcmp(sqlite3_sql(it->second.get()), sql) != 0) {
    cache_.erase(it);
    it = cache_.end();
  }
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      throw std::logic_error(std::string("bad SQL: ") + sqlite3_errmsg(db_) + ": " + sql);  // a bug, not input
    it = cache_.emplace(sql, std::unique_ptr<sqlite3_stmt, Finalize>(s)).first;
  }
  sqlite3_reset(it->second.get());
  sqlite3_clear_bindings(it->second.get());
  return Stmt(it->second.get());
}

}  // namespace sqlite

namespace {

using sqlite::Stmt;
using nlohmann::json;

const std::string kGenesisHash(64, '0');

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
    "dag_version, note, idempotency_key, backfill_id, created_by, created_at, started_at, ended_at";

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
  return r;
}

const char* kTiColumns =
    "id, run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, pool_slots, priority, ready_at, "
    "wake_at, started_at, ended_at, worker, attempt_token, exit_code, reason, heartbeat_at, last_activity_at, output, "
    "item";

TaskInstanceRecord ti_row(const Stmt& st) {
  TaskInstanceRecord t;
  t.id = st.i64(0);
  t.run_pk = st.i64(1);
  t.task_id = st.text(2);
  t.map_index = static_cast<int>(st.i64(3));
  t.state = task_state_from_string(st.text(4)).value_or(TaskState::failed);
  t.try_number = static_cast<int>(st.i64(5));
  t.max_tries = static_cast<int>(st.i64(6));
  t.queue = st.text(7);
  t.pool = st.text(8);
  t.pool_slots = static_cast<int>(st.i64(9));
  t.priority = static_cast<int>(st.i64(10));
  t.ready_at = opt_tp(st.opt_i64(11));
  t.wake_at = opt_tp(st.opt_i64(12));
  t.started_at = opt_tp(st.opt_i64(13));
  t.ended_at = opt_tp(st.opt_i64(14));
  t.worker = opt_text(st, 15);
  t.attempt_token = opt_text(st, 16);
  t.exit_code = opt_int(st, 17);
  t.reason = opt_text(st, 18);
  t.heartbeat_at = opt_tp(st.opt_i64(19));
  t.last_activity_at = opt_tp(st.opt_i64(20));
  t.output = opt_text(st, 21);
  t.item = opt_text(st, 22);
  return t;
}

DagRecord dag_row(const Stmt& st) {
  DagRecord d;
  d.dag_id = st.text(0);
  d.ns = st.text(1);
  d.file = st.text(2);
  d.current_version = opt_text(st, 3);
  d.active = st.i64(4) != 0;
  d.paused = st.i64(5) != 0;
  d.import_errors = st.is_null(6) ? "" : st.text(6);
  d.partition = static_cast<int>(st.i64(7));
  d.last_tick = opt_tp(st.opt_i64(8));
  d.created_at = tp(st.i64(9));
  d.updated_at = tp(st.i64(10));
  return d;
}

const char* kNotificationColumns =
    "id, event, dag_id, target_kind, target, payload, attempts, next_attempt_at, state, last_error, created_at";

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

const char* kDagColumns =
    "dag_id, namespace, file, current_version, active, paused, import_errors, partition_no, last_tick, created_at, "
    "updated_at";

class SqliteStore final : public Store {
 public:
  SqliteStore(DatabaseUrl url, const Clock& clock) : url_(std::move(url)), clock_(clock) {}

  Status open() {
    if (auto s = db_.open(url_.path); !s) return s;
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"})
      if (auto s = db_.exec(pragma); !s)
        return Error{"unavailable", "cannot use SQLite database " + url_.path + ": " + s.error().message};
    return db_.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL)");
  }

  const DatabaseUrl& url() const override { return url_; }

  // ---- schema ----

  Result<std::vector<MigrationInfo>> migration_status() override {
    std::lock_guard lock(mu_);
    return status_locked();
  }

  Result<int> migrate() override {
    std::lock_guard lock(mu_);
    auto status = status_locked();
    if (!status) return status.error();
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

  // ---- tokens ----

  Result<Token> create_token(const std::string& name, Role role, const std::string& token_hash,
                             const std::string& actor) override {
    return write([&]() -> Result<Token> {
      auto st = db_.prepare("INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)");
      long long at = now();
      st.bind(1, name).bind(2, std::string(to_string(role))).bind(3, token_hash).bind(4, at);
      int rc = st.step();
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return Error{"conflict", "a token named \"" + name + "\" already exists"};
      if (rc != SQLITE_DONE) return db_error();
      Token t{sqlite3_last_insert_rowid(db_.raw()), name, role, tp(at), std::nullopt, std::nullopt};
      if (auto a = audit_locked(actor, "token.created", "token:" + name, json{{"role", to_string(role)}}); !a)
        return a.error();
      return t;
    });
  }

  Result<std::vector<Token>> list_tokens() override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT id, name, role, created_at, revoked_at, last_used_at FROM tokens ORDER BY name");
    std::vector<Token> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(token_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Status revoke_token(const std::string& name, const std::string& actor) override {
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL");
      st.bind(1, now()).bind(2, name);
      if (st.step() != SQLITE_DONE) return db_error();
      if (db_.changes() == 0) return Error::not_found("no live token named \"" + name + "\"");
      if (auto a = audit_locked(actor, "token.revoked", "token:" + name, json::object()); !a) return a.error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Result<Token> authenticate(const std::string& token_hash) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare(
        "SELECT id, name, role, created_at, revoked_at, last_used_at FROM tokens WHERE hash = ? AND revoked_at IS "
        "NULL");
    st.bind(1, token_hash);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error{"unauthenticated", "unknown or revoked token"};
    if (rc != SQLITE_ROW) return db_error();
    Token t = token_row(st);
    auto up = db_.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?");
    up.bind(1, now()).bind(2, t.id);
    up.step();
    return t;
  }

  // ---- pools ----

  Result<std::vector<Pool>> list_pools() override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT name, slots, description FROM pools ORDER BY name");
    std::vector<Pool> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), static_cast<int>(st.i64(1)), st.text(2)});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<Pool> get_pool(const std::string& name) override {
    std::lock_guard lock(mu_);
    return get_pool_locked(name);
  }

  Status put_pool(const Pool& pool, const std::string& actor) override {
    if (pool.slots < 0) return Error::invalid("slots must be 0 or more, got " + std::to_string(pool.slots));
    auto r = write([&]() -> Result<bool> {
      auto before = get_pool_locked(pool.name);
      auto st = db_.prepare(
          "INSERT INTO pools (name, slots, description) VALUES (?, ?, ?) "
          "ON CONFLICT(name) DO UPDATE SET slots = excluded.slots, description = excluded.description");
      st.bind(1, pool.name).bind(2, pool.slots).bind(3, pool.description);
      if (st.step() != SQLITE_DONE) return db_error();
      json details = {{"after", {{"slots", pool.slots}}}};
      details["before"] = before ? json{{"slots", before->slots}} : json(nullptr);
      if (auto a = audit_locked(actor, "pool.set", "pool:" + pool.name, details); !a) return a.error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Status delete_pool(const std::string& name, const std::string& actor) override {
    if (name == "default") return Error{"conflict", "the default pool cannot be deleted (set its slots instead)"};
    return delete_named("pool", name, actor);
  }

  // ---- variables and connections ----

  Result<std::vector<Variable>> list_variables() override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT name, value, updated_at FROM variables ORDER BY name");
    std::vector<Variable> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), st.text(1), tp(st.i64(2))});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<Variable> get_variable(const std::string& name) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT name, value, updated_at FROM variables WHERE name = ?");
    st.bind(1, name);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("no variable named \"" + name + "\"");
    if (rc != SQLITE_ROW) return db_error();
    return Variable{st.text(0), st.text(1), tp(st.i64(2))};
  }

  Status put_variable(const std::string& name, const std::string& value, const std::string& actor) override {
    return put_named("variable", name, value, actor);
  }
  Status delete_variable(const std::string& name, const std::string& actor) override {
    return delete_named("variable", name, actor);
  }

  Result<std::vector<Connection>> list_connections() override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT name, url, updated_at FROM connections ORDER BY name");
    std::vector<Connection> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), st.text(1), tp(st.i64(2))});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<Connection> get_connection(const std::string& name) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT name, url, updated_at FROM connections WHERE name = ?");
    st.bind(1, name);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("no connection named \"" + name + "\"");
    if (rc != SQLITE_ROW) return db_error();
    return Connection{st.text(0), st.text(1), tp(st.i64(2))};
  }

  Status put_connection(const std::string& name, const std::string& url, const std::string& actor) override {
    return put_named("connection", name, url, actor);
  }
  Status delete_connection(const std::string& name, const std::string& actor) override {
    return delete_named("connection", name, actor);
  }

  // ---- DAGs ----

  Result<bool> register_dag_version(const DagVersionRecord& v, const std::string& ns, int partition,
                                    const std::string& actor) override {
    return write([&]() -> Result<bool> {
      long long at = now();
      auto ins = db_.prepare(
          "INSERT INTO dags (dag_id, namespace, file, current_version, active, partition_no, created_at, updated_at) "
          "VALUES (?1, ?2, ?3, NULL, 1, ?4, ?5, ?5) ON CONFLICT(dag_id) DO NOTHING");
      ins.bind(1, v.dag_id).bind(2, ns).bind(3, v.file).bind(4, partition).bind(5, at);
      if (ins.step() != SQLITE_DONE) return db_error();
      auto ver = db_.prepare(
          "INSERT INTO dag_versions (dag_id, version, compiled, source, file, git_commit, git_dirty, created_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dag_id, version) DO NOTHING");
      ver.bind(1, v.dag_id).bind(2, v.version).bind(3, v.compiled).bind(4, v.source).bind(5, v.file);
      ver.bind(6, v.git_commit);
      ver.bind(7, v.git_dirty ? std::optional<long long>(*v.git_dirty ? 1 : 0) : std::nullopt).bind(8, at);
      if (ver.step() != SQLITE_DONE) return db_error();
      bool fresh = db_.changes() > 0;
      auto cur = db_.prepare("SELECT current_version, active FROM dags WHERE dag_id = ?");
      cur.bind(1, v.dag_id);
      if (cur.step() != SQLITE_ROW) return db_error();
      bool changed = cur.is_null(0) || cur.text(0) != v.version || cur.i64(1) == 0;
      auto up = db_.prepare(
          "UPDATE dags SET namespace = ?2, file = ?3, current_version = ?4, active = 1, import_errors = NULL, "
          "partition_no = ?5, updated_at = ?6 WHERE dag_id = ?1");
      up.bind(1, v.dag_id).bind(2, ns).bind(3, v.file).bind(4, v.version).bind(5, partition).bind(6, at);
      if (up.step() != SQLITE_DONE) return db_error();
      if (changed) {
        json details = {{"version", v.version}, {"file", v.file}};
        if (v.git_commit) details["git_commit"] = *v.git_commit;
        if (v.git_dirty) details["git_dirty"] = *v.git_dirty;
        if (auto a = audit_locked(actor, "dag.version_registered", "dag:" + v.dag_id, details); !a) return a.error();
      }
      return fresh;
    });
  }

  Status set_import_errors(const std::string& dag_id, const std::string& file, int partition,
                           const std::string& errors_json) override {
    auto r = write([&]() -> Result<bool> {
      long long at = now();
      auto st = db_.prepare(
          "INSERT INTO dags (dag_id, file, current_version, active, import_errors, partition_no, created_at, "
          "updated_at) VALUES (?1, ?2, NULL, 1, ?3, ?4, ?5, ?5) "
          "ON CONFLICT(dag_id) DO UPDATE SET import_errors = excluded.import_errors, updated_at = excluded.updated_at");
      st.bind(1, dag_id).bind(2, file).bind(3, errors_json).bind(4, partition).bind(5, at);
      if (st.step() != SQLITE_DONE) return db_error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Status deactivate_dag(const std::string& dag_id, const std::string& actor) override {
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare("UPDATE dags SET active = 0, updated_at = ? WHERE dag_id = ? AND active = 1");
      st.bind(1, now()).bind(2, dag_id);
      if (st.step() != SQLITE_DONE) return db_error();
      if (db_.changes() == 0) return true;
      if (auto a = audit_locked(actor, "dag.removed", "dag:" + dag_id, json::object()); !a) return a.error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Result<std::vector<DagRecord>> list_dags() override {
    std::lock_guard lock(mu_);
    static const std::string sql = std::string("SELECT ") + kDagColumns + " FROM dags ORDER BY dag_id";
    auto st = db_.prepare(sql.c_str());
    std::vector<DagRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(dag_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<DagRecord> get_dag(const std::string& dag_id) override {
    std::lock_guard lock(mu_);
    return get_dag_locked(dag_id);
  }

  Result<std::vector<DagVersionRecord>> list_dag_versions(const std::string& dag_id) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare(
        "SELECT dag_id, version, compiled, source, file, git_commit, git_dirty, created_at FROM dag_versions "
        "WHERE dag_id = ? ORDER BY created_at DESC, version");
    st.bind(1, dag_id);
    std::vector<DagVersionRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(version_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<DagVersionRecord> get_dag_version(const std::string& dag_id, const std::string& version) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare(
        "SELECT dag_id, version, compiled, source, file, git_commit, git_dirty, created_at FROM dag_versions "
        "WHERE dag_id = ? AND version = ?");
    st.bind(1, dag_id).bind(2, version);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("DAG " + dag_id + " has no version " + version);
    if (rc != SQLITE_ROW) return db_error();
    return version_row(st);
  }

  Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) override {
    auto r = write([&]() -> Result<bool> {
      auto d = get_dag_locked(dag_id);
      if (!d) return d.error();
      if (d->paused == paused) return true;
      auto st = db_.prepare("UPDATE dags SET paused = ?, updated_at = ? WHERE dag_id = ?");
      st.bind(1, paused ? 1 : 0).bind(2, now()).bind(3, dag_id);
      if (st.step() != SQLITE_DONE) return db_error();
      if (auto a = audit_locked(actor, paused ? "dag.paused" : "dag.unpaused", "dag:" + dag_id,
                                json{{"before", {{"paused", !paused}}}, {"after", {{"paused", paused}}}});
          !a)
        return a.error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  // ---- runs ----

  Result<Created> create_run(const RunRecord& run, const std::vector<TaskInstanceRecord>& tis,
                             const std::string& actor, const std::vector<Fence>& fences,
                             const std::vector<DatasetCursor>& cursors) override {
    return write([&]() -> Result<Created> {
      if (auto f = check_fences_locked(fences); !f) return f.error();
      if (run.idempotency_key) {
        static const std::string sql =
            std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND idempotency_key = ?";
        auto st = db_.prepare(sql.c_str());
        st.bind(1, run.dag_id).bind(2, *run.idempotency_key);
        if (st.step() == SQLITE_ROW) {
          Created c;
          c.run = run_row(st);
          c.created = false;
          auto tis_found = tis_locked(c.run.pk);
          if (!tis_found) return tis_found.error();
          c.task_instances = std::move(*tis_found);
          return c;
        }
      }
      auto ins = db_.prepare(
          "INSERT INTO dag_runs (dag_id, run_id, run_type, state, logical_date, data_interval_start, "
          "data_interval_end, params, dag_version, note, idempotency_key, backfill_id, created_by, created_at, "
          "started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      Created c;
      c.run = run;
      c.run.created_at = clock_.now();
      ins.bind(1, run.dag_id).bind(2, run.run_id).bind(3, run.run_type).bind(4, std::string(to_string(run.state)));
      ins.bind(5, us(run.logical_date)).bind(6, us(run.data_interval_start)).bind(7, us(run.data_interval_end));
      ins.bind(8, run.params).bind(9, run.dag_version).bind(10, run.note).bind(11, run.idempotency_key);
      ins.bind(12, run.backfill_id).bind(13, run.created_by).bind(14, us(c.run.created_at));
      ins.bind(15, us(run.started_at)).bind(16, us(run.ended_at));
      int rc = ins.step();
      if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return Error{"conflict", "DAG " + run.dag_id + " already has a run " +
                                     (run.run_type == "scheduled" || run.run_type == "backfill"
                                          ? "for the interval starting " + format_utc(run.logical_date)
                                          : "with id " + run.run_id)};
      if (rc != SQLITE_DONE) return db_error();
      c.run.pk = sqlite3_last_insert_rowid(db_.raw());
      for (auto t : tis) {
        t.run_pk = c.run.pk;
        if (auto s = insert_ti_locked(t); !s) return s.error();
        c.task_instances.push_back(std::move(t));
      }
      for (auto& cur : cursors) {
        auto st = db_.prepare(
            "INSERT INTO dataset_consumers (dag_id, uri, last_event_id) VALUES (?1, ?2, ?3) "
            "ON CONFLICT(dag_id, uri) DO UPDATE SET last_event_id = max(last_event_id, ?3)");
        st.bind(1, cur.dag_id).bind(2, cur.uri).bind(3, cur.last_event_id);
        if (st.step() != SQLITE_DONE) return db_error();
      }
      if (run.run_type == "manual" || run.run_type == "dataset") {
        json details = {{"run_id", run.run_id}, {"logical_date", format_utc(run.logical_date)},
                        {"params", json::parse(run.params, nullptr, false)}};
        if (run.note) details["note"] = *run.note;
        if (auto a = audit_locked(actor, "run.triggered", "dag:" + run.dag_id + "/" + run.run_id, details); !a)
          return a.error();
      }
      return c;
    });
  }

  Result<std::vector<RunRecord>> list_runs(const RunFilter& f) override {
    std::lock_guard lock(mu_);
    static const std::string sql = std::string("SELECT ") + kRunColumns +
                                   " FROM dag_runs WHERE (?1 IS NULL OR dag_id = ?1) AND (?2 IS NULL OR state = ?2) "
                                   "AND (?3 IS NULL OR run_type = ?3) "
                                   "AND (?4 = 0 OR state IN ('queued', 'running')) "
                                   "AND (?5 IS NULL OR logical_date < ?5 OR (logical_date = ?5 AND id < ?6)) "
                                   "ORDER BY logical_date DESC, id DESC LIMIT ?7";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, f.dag_id);
    st.bind(2, f.state ? std::optional<std::string>(to_string(*f.state)) : std::nullopt);
    st.bind(3, f.run_type).bind(4, f.unfinished_only ? 1 : 0);
    st.bind(5, f.before ? std::optional<long long>(us(f.before->first)) : std::nullopt);
    st.bind(6, f.before ? f.before->second : 0LL).bind(7, f.limit);
    std::vector<RunRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(run_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<std::optional<RunRecord>> find_run_by_key(const std::string& dag_id, const std::string& key) override {
    std::lock_guard lock(mu_);
    static const std::string sql =
        std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND idempotency_key = ?";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, dag_id).bind(2, key);
    int rc = st.step();
    if (rc == SQLITE_DONE) return std::optional<RunRecord>();
    if (rc != SQLITE_ROW) return db_error();
    return std::optional<RunRecord>(run_row(st));
  }

  Result<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override {
    std::lock_guard lock(mu_);
    static const std::string sql = std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND run_id = ?";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, dag_id).bind(2, run_id);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("DAG " + dag_id + " has no run " + run_id);
    if (rc != SQLITE_ROW) return db_error();
    return run_row(st);
  }

  Result<std::vector<TaskInstanceRecord>> list_task_instances(long long run_pk) override {
    std::lock_guard lock(mu_);
    return tis_locked(run_pk);
  }

  Result<std::vector<TaskInstanceRecord>> add_task_instances(long long run_pk,
                                                            const std::vector<TaskInstanceRecord>& tis,
                                                            const std::vector<Fence>& fences) override {
    return write([&]() -> Result<std::vector<TaskInstanceRecord>> {
      if (auto f = check_fences_locked(fences); !f) return f.error();
      std::vector<TaskInstanceRecord> out;
      for (auto t : tis) {
        t.run_pk = run_pk;
        if (auto s = insert_ti_locked(t); !s) return s.error();
        out.push_back(std::move(t));
      }
      return out;
    });
  }

  Result<std::vector<TryRecord>> list_tries(long long ti_id) override {
    return read_tries(
        "SELECT ti_id, try_number, state, worker, attempt_token, queued_at, started_at, ended_at, exit_code, reason, "
        "log_path, log_bytes FROM task_tries WHERE ti_id = ? ORDER BY try_number",
        ti_id);
  }

  Result<std::vector<TryRecord>> list_run_tries(long long run_pk) override {
    return read_tries(
        "SELECT y.ti_id, y.try_number, y.state, y.worker, y.attempt_token, y.queued_at, y.started_at, y.ended_at, "
        "y.exit_code, y.reason, y.log_path, y.log_bytes FROM task_tries y JOIN task_instances i ON i.id = y.ti_id "
        "WHERE i.run_pk = ? ORDER BY y.ti_id, y.try_number",
        run_pk);
  }

  Result<std::vector<TryRecord>> read_tries(const char* sql, long long key) {
    std::lock_guard lock(mu_);
    auto st = db_.prepare(sql);
    st.bind(1, key);
    std::vector<TryRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      TryRecord t;
      t.ti_id = st.i64(0);
      t.try_number = static_cast<int>(st.i64(1));
      t.state = task_state_from_string(st.text(2)).value_or(TaskState::failed);
      t.worker = opt_text(st, 3);
      t.attempt_token = opt_text(st, 4);
      t.queued_at = opt_tp(st.opt_i64(5));
      t.started_at = opt_tp(st.opt_i64(6));
      t.ended_at = opt_tp(st.opt_i64(7));
      t.exit_code = opt_int(st, 8);
      t.reason = opt_text(st, 9);
      t.log_path = opt_text(st, 10);
      t.log_bytes = st.i64(11);
      out.push_back(std::move(t));
    }
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<std::optional<RunRecord>> previous_run(const std::string& dag_id, TimePoint logical_date) override {
    std::lock_guard lock(mu_);
    static const std::string sql = std::string("SELECT ") + kRunColumns +
                                   " FROM dag_runs WHERE dag_id = ? AND logical_date < ? "
                                   "ORDER BY logical_date DESC, id DESC LIMIT 1";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, dag_id).bind(2, us(logical_date));
    int rc = st.step();
    if (rc == SQLITE_DONE) return std::optional<RunRecord>();
    if (rc != SQLITE_ROW) return db_error();
    return std::optional<RunRecord>(run_row(st));
  }

  Status apply(const WriteBatch& b) override {
    if (b.empty()) return {};
    if (!b.enqueue.empty() || !b.dequeue.empty() || !b.events_done.empty() || !b.command_results.empty())
      return remote_unsupported();
    auto r = write([&]() -> Result<bool> {
      if (auto f = check_fences_locked(b.fences); !f) return f.error();
      for (auto& run : b.runs) {
        auto st = db_.prepare(
            "UPDATE dag_runs SET state = ?, started_at = ?, ended_at = ?, dag_version = ?, backfill_id = ? "
            "WHERE id = ?");
        st.bind(1, std::string(to_string(run.state))).bind(2, us(run.started_at)).bind(3, us(run.ended_at));
        st.bind(4, run.dag_version).bind(5, run.backfill_id).bind(6, run.pk);
        if (st.step() != SQLITE_DONE) return db_error();
      }
      for (auto& t : b.task_instances) {
        auto st = db_.prepare(
            "UPDATE task_instances SET state = ?2, try_number = ?3, max_tries = ?4, ready_at = ?5, wake_at = ?6, "
            "started_at = ?7, ended_at = ?8, worker = ?9, attempt_token = ?10, exit_code = ?11, reason = ?12, "
            "heartbeat_at = ?13, last_activity_at = ?14, output = ?15 WHERE id = ?1");
        st.bind(1, t.id).bind(2, std::string(to_string(t.state))).bind(3, t.try_number).bind(4, t.max_tries);
        st.bind(5, us(t.ready_at)).bind(6, us(t.wake_at)).bind(7, us(t.started_at)).bind(8, us(t.ended_at));
        st.bind(9, t.worker).bind(10, t.attempt_token);
        st.bind(11, t.exit_code ? std::optional<long long>(*t.exit_code) : std::nullopt);
        st.bind(12, t.reason).bind(13, us(t.heartbeat_at)).bind(14, us(t.last_activity_at)).bind(15, t.output);
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

  // ---- backfills ----

  Result<CreatedBackfill> create_backfill(const BackfillRecord& in, const std::string& actor) override {
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

  Result<BackfillRecord> get_backfill(long long id) override {
    std::lock_guard lock(mu_);
    static const std::string sql = std::string("SELECT ") + kBackfillColumns + " FROM backfills WHERE id = ?";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, id);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("no backfill " + std::to_string(id));
    if (rc != SQLITE_ROW) return db_error();
    return backfill_row(st);
  }

  Result<std::vector<BackfillRecord>> list_backfills(const std::optional<std::string>& dag_id, bool unfinished_only,
                                                     long long before_id, int limit) override {
    std::lock_guard lock(mu_);
    static const std::string sql = std::string("SELECT ") + kBackfillColumns +
                                   " FROM backfills WHERE (?1 IS NULL OR dag_id = ?1) AND (?2 = 0 OR state = "
                                   "'running') AND (?3 = 0 OR id < ?3) ORDER BY id DESC LIMIT ?4";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, dag_id).bind(2, unfinished_only ? 1 : 0).bind(3, before_id).bind(4, limit);
    std::vector<BackfillRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(backfill_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<std::vector<RunRecord>> runs_between(const std::string& dag_id, TimePoint from, TimePoint to) override {
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

  // ---- notifications ----

  // Claimed for 5 minutes, as on PostgreSQL (where members share the outbox).
  Result<std::vector<NotificationRecord>> due_notifications(TimePoint at, int limit) override {
    return write([&]() -> Result<std::vector<NotificationRecord>> {
      static const std::string sql = std::string("SELECT ") + kNotificationColumns +
                                     " FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? "
                                     "ORDER BY next_attempt_at, id LIMIT ?";
      auto st = db_.prepare(sql.c_str());
      st.bind(1, us(at)).bind(2, limit);
      auto rows = notification_rows(st);
      if (!rows) return rows;
      TimePoint lease = at + std::chrono::minutes(5);
      for (auto& n : *rows) {
        auto u = db_.prepare("UPDATE notifications SET next_attempt_at = ? WHERE id = ?");
        u.bind(1, us(lease)).bind(2, n.id);
        if (u.step() != SQLITE_DONE) return db_error();
        n.next_attempt_at = lease;
      }
      return rows;
    });
  }

  Result<std::vector<NotificationRecord>> list_notifications(const std::string& dag_id, int limit) override {
    std::lock_guard lock(mu_);
    static const std::string sql =
        std::string("SELECT ") + kNotificationColumns + " FROM notifications WHERE dag_id = ? ORDER BY id LIMIT ?";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, dag_id).bind(2, limit);
    return notification_rows(st);
  }

  Status update_notification(const NotificationRecord& n) override {
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare(
          "UPDATE notifications SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?");
      st.bind(1, n.state).bind(2, n.attempts).bind(3, us(n.next_attempt_at)).bind(4, n.last_error).bind(5, n.id);
      if (st.step() != SQLITE_DONE) return db_error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  // ---- SLA misses and counts ----

  Result<bool> record_sla_miss(const SlaMiss& m) override {
    return write([&]() { return insert_sla_miss_locked(m); });
  }

  // True when the miss is new.
  Result<bool> insert_sla_miss_locked(const SlaMiss& m) {
    auto st = db_.prepare(
        "INSERT INTO sla_misses (dag_id, run_id, task_id, kind, deadline, detected_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(dag_id, run_id, task_id, kind) DO NOTHING");
    st.bind(1, m.dag_id).bind(2, m.run_id).bind(3, m.task_id).bind(4, m.kind).bind(5, us(m.deadline));
    st.bind(6, us(m.detected_at));
    if (st.step() != SQLITE_DONE) return db_error();
    return db_.changes() > 0;
  }

  Status insert_notification_locked(const NotificationRecord& n) {
    auto st = db_.prepare(
        "INSERT INTO notifications (event, dag_id, target_kind, target, payload, attempts, next_attempt_at, state, "
        "created_at) VALUES (?, ?, ?, ?, ?, 0, ?, 'pending', ?)");
    st.bind(1, n.event).bind(2, n.dag_id).bind(3, n.target_kind).bind(4, n.target).bind(5, n.payload);
    st.bind(6, us(n.next_attempt_at)).bind(7, now());
    if (st.step() != SQLITE_DONE) return db_error();
    return {};
  }

  Result<DatasetEvent> record_dataset_event(const DatasetEvent& e) override {
    return write([&]() { return insert_dataset_event_locked(e); });
  }

  Result<std::vector<DatasetEvent>> list_dataset_events(const std::optional<std::string>& uri, long long after_id,
                                                        int limit) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare(
        "SELECT id, uri, at, extra, source_dag_id, source_run_id, source_task_id FROM dataset_events "
        "WHERE id > ?1 AND (?2 IS NULL OR uri = ?2) ORDER BY id LIMIT ?3");
    st.bind(1, after_id).bind(2, uri).bind(3, limit);
    std::vector<DatasetEvent> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW)
      out.push_back({st.i64(0), st.text(1), tp(st.i64(2)), st.text(3), opt_text(st, 4), opt_text(st, 5), opt_text(st, 6)});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<long long> last_dataset_event_id() override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT coalesce(max(id), 0) FROM dataset_events");
    if (st.step() != SQLITE_ROW) return db_error();
    return st.i64(0);
  }

  Result<std::vector<DatasetCursor>> dataset_cursors(const std::string& dag_id) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT dag_id, uri, last_event_id FROM dataset_consumers WHERE dag_id = ? ORDER BY uri");
    st.bind(1, dag_id);
    std::vector<DatasetCursor> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), st.text(1), st.i64(2)});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<std::vector<SlaMiss>> list_sla_misses(const std::optional<std::string>& dag_id, std::optional<TimePoint> since,
                                               long long after_id, int limit) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare(
        "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at FROM sla_misses WHERE id > ?1 "
        "AND (?2 IS NULL OR dag_id = ?2) AND (?3 IS NULL OR detected_at >= ?3) ORDER BY id LIMIT ?4");
    st.bind(1, after_id).bind(2, dag_id).bind(3, us(since)).bind(4, limit);
    std::vector<SlaMiss> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW)
      out.push_back({st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), tp(st.i64(5)), tp(st.i64(6))});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<StateCounts> count_states() override {
    std::lock_guard lock(mu_);
    StateCounts c;
    for (auto [sql, into] : {std::pair{"SELECT state, count(*) FROM dag_runs GROUP BY state", &c.runs},
                             std::pair{"SELECT state, count(*) FROM task_instances GROUP BY state", &c.task_instances}}) {
      auto st = db_.prepare(sql);
      int rc;
      while ((rc = st.step()) == SQLITE_ROW) (*into)[st.text(0)] = st.i64(1);
      if (rc != SQLITE_DONE) return db_error();
    }
    auto st = db_.prepare("SELECT count(*) FROM sla_misses");
    if (st.step() != SQLITE_ROW) return db_error();
    c.sla_misses = st.i64(0);
    return c;
  }

  // ---- members and partitions ----

  Status heartbeat_member(const MemberRecord& m) override {
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare(
          "INSERT INTO scheduler_members (member_id, host, pid, started_at, heartbeat_at, lease_expires_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(member_id) DO UPDATE SET host = ?2, pid = ?3, "
          "heartbeat_at = ?5, lease_expires_at = ?6");
      st.bind(1, m.member_id).bind(2, m.host).bind(3, m.pid).bind(4, us(m.started_at)).bind(5, us(m.heartbeat_at));
      st.bind(6, us(m.lease_expires_at));
      if (st.step() != SQLITE_DONE) return db_error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Status remove_member(const std::string& member_id) override {
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare("DELETE FROM scheduler_members WHERE member_id = ?");
      st.bind(1, member_id);
      if (st.step() != SQLITE_DONE) return db_error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Result<std::vector<MemberRecord>> list_members() override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare(
        "SELECT member_id, host, pid, started_at, heartbeat_at, lease_expires_at FROM scheduler_members "
        "ORDER BY member_id");
    std::vector<MemberRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW)
      out.push_back({st.text(0), st.text(1), static_cast<int>(st.i64(2)), tp(st.i64(3)), tp(st.i64(4)), tp(st.i64(5))});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<std::vector<PartitionRecord>> list_partitions() override {
    std::lock_guard lock(mu_);
    return partitions_locked();
  }

  Result<std::vector<PartitionRecord>> assign_partitions(
      const std::vector<std::pair<int, std::optional<std::string>>>& owners, const std::string& actor) override {
    return write([&]() -> Result<std::vector<PartitionRecord>> {
      json moved = json::array();
      for (auto& [p, owner] : owners) {
        auto st = db_.prepare(
            "INSERT INTO partitions (partition_no, owner, epoch, assigned_at) VALUES (?1, ?2, 1, ?3) "
            "ON CONFLICT(partition_no) DO UPDATE SET owner = ?2, epoch = epoch + 1, assigned_at = ?3 "
            "WHERE owner IS NOT ?2");
        st.bind(1, p).bind(2, owner).bind(3, now());
        if (st.step() != SQLITE_DONE) return db_error();
        if (db_.changes() > 0) moved.push_back({{"partition", p}, {"owner", owner ? json(*owner) : json(nullptr)}});
      }
      if (!moved.empty())
        if (auto a = audit_locked(actor, "partitions.assigned", "partitions", json{{"moved", moved}}); !a)
          return a.error();
      return partitions_locked();
    });
  }

  Result<bool> member_alive(const std::string&) override { return true; }

  Status set_leader(const std::string& member_id) override {
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare(
          "INSERT INTO settings (key, value) VALUES ('leader', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      st.bind(1, member_id);
      if (st.step() != SQLITE_DONE) return db_error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Result<std::optional<std::string>> get_leader() override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT value FROM settings WHERE key = 'leader'");
    int rc = st.step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return db_error();
    return std::optional<std::string>(st.text(0));
  }

  // SQLite admits one scheduling process, with its workers inside it: the
  // queue for remote workers and intents across processes are PostgreSQL's.
  static Error remote_unsupported() {
    return Error{"unsupported",
                 "remote workers and schedulers in other processes need PostgreSQL (baton server --db "
                 "postgresql://...); baton standalone on SQLite runs its tasks itself"};
  }
  Result<std::vector<QueueItem>> claim_tasks(const std::string&, const std::vector<std::string>&, int) override {
    return remote_unsupported();
  }
  Result<std::vector<std::string>> heartbeat_tasks(const std::string&, const std::vector<std::string>&) override {
    return remote_unsupported();
  }
  Result<std::map<std::string, long long>> held_pool_slots() override { return remote_unsupported(); }
  Status report_task(const std::string&, const std::string&, const std::string&) override {
    return remote_unsupported();
  }
  Result<std::vector<WorkerEvent>> worker_events(const std::vector<int>&, int) override { return remote_unsupported(); }
  Result<std::vector<std::string>> lost_tries(const std::vector<std::string>&, TimePoint) override {
    return remote_unsupported();
  }
  Status append_log(long long, int, long long, const std::string&) override { return remote_unsupported(); }
  Result<std::optional<std::string>> read_log(long long, int, long long, long long) override {
    return std::optional<std::string>();  // every log is a file of the one process
  }
  Result<long long> enqueue_command(const CommandRecord&) override { return remote_unsupported(); }
  Result<std::vector<CommandRecord>> pending_commands(const std::vector<int>&, int) override {
    return remote_unsupported();
  }
  Result<CommandRecord> get_command(long long) override { return remote_unsupported(); }
  Result<bool> expire_command(long long) override { return remote_unsupported(); }
  Result<long long> prune_commands(TimePoint) override { return 0LL; }  // SQLite has none
  Status break_leader_lock(const std::string&) override { return remote_unsupported(); }

  Status save_checkpoint(long long ti_id, const std::string& attempt_token, const std::string& data) override {
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare(
          "UPDATE task_instances SET checkpoint = ?, checkpoint_at = ?, last_activity_at = ? "
          "WHERE id = ? AND attempt_token = ?");
      long long at = now();
      st.bind(1, data).bind(2, at).bind(3, at).bind(4, ti_id).bind(5, attempt_token);
      if (st.step() != SQLITE_DONE) return db_error();
      if (db_.changes() == 0)
        return Error{"conflict", "stale attempt token: the try was failed or handed to another worker"};
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Result<std::optional<std::string>> load_checkpoint(long long ti_id) override {
    std::lock_guard lock(mu_);
    auto st = db_.prepare("SELECT checkpoint FROM task_instances WHERE id = ?");
    st.bind(1, ti_id);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("no task instance " + std::to_string(ti_id));
    if (rc != SQLITE_ROW) return db_error();
    if (st.is_null(0)) return std::optional<std::string>();
    return std::optional<std::string>(st.text(0));
  }

  // ---- audit ----

  Result<AuditEntry> append_audit(const std::string& actor, const std::string& action, const std::string& target,
                                  const std::string& details_json) override {
    json details;
    try {
      details = json::parse(details_json);
    } catch (const std::exception&) {
      return Error::invalid("audit details must be a JSON object");
    }
    if (!details.is_object()) return Error::invalid("audit details must be a JSON object");
    return write([&]() { return audit_locked(actor, action, target, details); });
  }

  Result<std::vector<AuditEntry>> list_audit(const AuditFilter& f) override {
    std::lock_guard lock(mu_);
    static const std::string where =
        "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log "
        "WHERE id > ?1 AND (?7 = 0 OR id < ?7) AND (?2 IS NULL OR target = 'dag:' || ?2 "
        "OR substr(target, 1, length(?2) + 5) = 'dag:' || ?2 || '/') "
        "AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR at >= ?5) ";
    static const std::string oldest = where + "ORDER BY id LIMIT ?6";
    static const std::string newest = where + "ORDER BY id DESC LIMIT ?6";
    auto st = db_.prepare(f.newest_first ? newest.c_str() : oldest.c_str());
    st.bind(1, f.after_id).bind(2, f.dag_id).bind(3, f.action).bind(4, f.actor);
    st.bind(5, f.since ? std::optional<long long>(f.since->time_since_epoch().count()) : std::nullopt);
    st.bind(6, f.limit).bind(7, f.before_id);
    std::vector<AuditEntry> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(audit_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<AuditCheck> verify_audit() override {
    std::lock_guard lock(mu_);
    AuditVerifier v;
    auto st = db_.prepare("SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log ORDER BY id");
    int rc;
    while ((rc = st.step()) == SQLITE_ROW)
      if (!v.add(audit_row(st))) return v.finish(std::nullopt);
    if (rc != SQLITE_DONE) return db_error();
    auto head = db_.prepare("SELECT value FROM settings WHERE key = 'audit_head'");
    return v.finish(head.step() == SQLITE_ROW ? std::optional<std::string>(head.text(0)) : std::nullopt);
  }

 private:
  long long now() const { return clock_.now().time_since_epoch().count(); }
  Error db_error() const { return Error{"database_error", "SQLite: " + db_.last_error()}; }

  // With mu_ held, in a write.
  Result<DatasetEvent> insert_dataset_event_locked(const DatasetEvent& e) {
    DatasetEvent out = e;
    if (out.at == TimePoint{}) out.at = clock_.now();
    auto st = db_.prepare(
        "INSERT INTO dataset_events (uri, at, extra, source_dag_id, source_run_id, source_task_id) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    st.bind(1, out.uri).bind(2, us(out.at)).bind(3, out.extra).bind(4, out.source_dag_id).bind(5, out.source_run_id);
    st.bind(6, out.source_task_id);
    if (st.step() != SQLITE_DONE) return db_error();
    out.id = sqlite3_last_insert_rowid(db_.raw());
    return out;
  }

  Result<std::vector<NotificationRecord>> notification_rows(Stmt& st) {
    std::vector<NotificationRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW)
      out.push_back({st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5),
                     static_cast<int>(st.i64(6)), tp(st.i64(7)), st.text(8), opt_text(st, 9), tp(st.i64(10))});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<bool> check_fences_locked(const std::vector<Fence>& fences) {
    for (auto& f : fences) {
      auto st = db_.prepare("SELECT epoch FROM partitions WHERE partition_no = ?");
      st.bind(1, f.partition);
      int rc = st.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error();
      long long now_epoch = rc == SQLITE_ROW ? st.i64(0) : 0;
      if (now_epoch != f.epoch) return stale_epoch(f, now_epoch);
    }
    return true;
  }

  static Error stale_epoch(const Fence& f, long long now_epoch) {
    return Error{"stale_epoch", "partition " + std::to_string(f.partition) + " is at epoch " +
                                    std::to_string(now_epoch) + ", not " + std::to_string(f.epoch) +
                                    ": it moved to another scheduler, and this write is refused"};
  }

  Result<std::vector<PartitionRecord>> partitions_locked() {
    auto st = db_.prepare("SELECT partition_no, owner, epoch, assigned_at FROM partitions ORDER BY partition_no");
    std::vector<PartitionRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW)
      out.push_back({static_cast<int>(st.i64(0)), opt_text(st, 1), st.i64(2), opt_tp(st.opt_i64(3))});
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<std::vector<MigrationInfo>> status_locked() {
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

  // Runs fn in a BEGIN IMMEDIATE transaction under the lock; commits when fn
  // succeeds, rolls back otherwise.
  template <class F>
  auto write(F fn) -> decltype(fn()) {
    std::lock_guard lock(mu_);
    if (auto s = db_.exec("BEGIN IMMEDIATE"); !s) return s.error();
    auto r = fn();
    if (!r) {
      (void)db_.exec("ROLLBACK");
      return r;
    }
    if (auto c = db_.exec("COMMIT"); !c) {
      (void)db_.exec("ROLLBACK");
      return c.error();
    }
    return r;
  }

  Result<AuditEntry> audit_locked(const std::string& actor, const std::string& action, const std::string& target,
                                  const json& details) {
    AuditEntry e;
    e.prev_hash = kGenesisHash;
    auto last = db_.prepare("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
    if (last.step() == SQLITE_ROW) {
      e.id = last.i64(0);
      e.prev_hash = last.text(1);
    }
    ++e.id;
    e.at = clock_.now();
    e.actor = actor;
    e.action = action;
    e.target = target;
    e.details = details.dump(-1, ' ', false, json::error_handler_t::replace);
    e.hash = audit_hash(e);
    auto ins = db_.prepare(
        "INSERT INTO audit_log (id, at, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, "
        "?)");
    ins.bind(1, e.id).bind(2, e.at.time_since_epoch().count()).bind(3, e.actor).bind(4, e.action);
    ins.bind(5, e.target).bind(6, e.details).bind(7, e.prev_hash).bind(8, e.hash);
    if (ins.step() != SQLITE_DONE) return db_error();
    auto head = db_.prepare(
        "INSERT INTO settings (key, value) VALUES ('audit_head', ?) ON CONFLICT(key) DO UPDATE SET value = "
        "excluded.value");
    head.bind(1, std::to_string(e.id) + ":" + e.hash);
    if (head.step() != SQLITE_DONE) return db_error();
    return e;
  }

  Result<DagRecord> get_dag_locked(const std::string& dag_id) {
    static const std::string sql = std::string("SELECT ") + kDagColumns + " FROM dags WHERE dag_id = ?";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, dag_id);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("no DAG \"" + dag_id + "\"");
    if (rc != SQLITE_ROW) return db_error();
    return dag_row(st);
  }

  static DagVersionRecord version_row(const Stmt& st) {
    DagVersionRecord v;
    v.dag_id = st.text(0);
    v.version = st.text(1);
    v.compiled = st.text(2);
    v.source = st.text(3);
    v.file = st.text(4);
    v.git_commit = opt_text(st, 5);
    v.git_dirty = st.is_null(6) ? std::nullopt : std::optional<bool>(st.i64(6) != 0);
    v.created_at = tp(st.i64(7));
    return v;
  }

  Result<std::vector<TaskInstanceRecord>> tis_locked(long long run_pk) {
    static const std::string sql =
        std::string("SELECT ") + kTiColumns + " FROM task_instances WHERE run_pk = ? ORDER BY id";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, run_pk);
    std::vector<TaskInstanceRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(ti_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Status insert_ti_locked(TaskInstanceRecord& t) {
    auto st = db_.prepare(
        "INSERT INTO task_instances (run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, "
        "pool_slots, priority, ready_at, wake_at, item) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, t.run_pk).bind(2, t.task_id).bind(3, t.map_index).bind(4, std::string(to_string(t.state)));
    st.bind(5, t.try_number).bind(6, t.max_tries).bind(7, t.queue).bind(8, t.pool).bind(9, t.pool_slots);
    st.bind(10, t.priority).bind(11, us(t.ready_at)).bind(12, us(t.wake_at)).bind(13, t.item);
    if (st.step() != SQLITE_DONE) return db_error();
    t.id = sqlite3_last_insert_rowid(db_.raw());
    return {};
  }

  Result<Pool> get_pool_locked(const std::string& name) {
    auto st = db_.prepare("SELECT name, slots, description FROM pools WHERE name = ?");
    st.bind(1, name);
    int rc = st.step();
    if (rc == SQLITE_DONE) return Error::not_found("no pool named \"" + name + "\"");
    if (rc != SQLITE_ROW) return db_error();
    return Pool{st.text(0), static_cast<int>(st.i64(1)), st.text(2)};
  }

  // Variables and connections share their shape; the SQL differs only by
  // table and column. A connection's URL holds a secret: it never reaches
  // the audit log.
  Status put_named(const std::string& kind, const std::string& name, const std::string& value,
                   const std::string& actor) {
    bool secret = kind == "connection";
    const char* sql = !secret ? "INSERT INTO variables (name, value, updated_at) VALUES (?, ?, ?) "
                                  "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = "
                                  "excluded.updated_at"
                                : "INSERT INTO connections (name, url, updated_at) VALUES (?, ?, ?) "
                                  "ON CONFLICT(name) DO UPDATE SET url = excluded.url, updated_at = "
                                  "excluded.updated_at";
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare(sql);
      st.bind(1, name).bind(2, value).bind(3, now());
      if (st.step() != SQLITE_DONE) return db_error();
      json details = secret ? json::object() : json{{"after", value}};
      if (auto a = audit_locked(actor, kind + ".set", kind + ":" + name, details); !a)
        return a.error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  Status delete_named(const std::string& kind, const std::string& name, const std::string& actor) {
    const char* sql = kind == "variable"     ? "DELETE FROM variables WHERE name = ?"
                      : kind == "connection" ? "DELETE FROM connections WHERE name = ?"
                                             : "DELETE FROM pools WHERE name = ?";
    auto r = write([&]() -> Result<bool> {
      auto st = db_.prepare(sql);
      st.bind(1, name);
      if (st.step() != SQLITE_DONE) return db_error();
      if (db_.changes() == 0) return Error::not_found("no " + kind + " named \"" + name + "\"");
      if (auto a = audit_locked(actor, kind + ".deleted", kind + ":" + name, json::object()); !a)
        return a.error();
      return true;
    });
    return r ? Status() : Status(r.error());
  }

  static Token token_row(const Stmt& st) {
    return Token{st.i64(0), st.text(1), role_from_string(st.text(2)).value_or(Role::viewer), tp(st.i64(3)),
                 opt_tp(st.opt_i64(4)), opt_tp(st.opt_i64(5))};
  }

  static AuditEntry audit_row(const Stmt& st) {
    return AuditEntry{st.i64(0), tp(st.i64(1)), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6), st.text(7)};
  }

  DatabaseUrl url_;
  const Clock& clock_;
  std::mutex mu_;
  sqlite::Db db_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options) {
  auto s = std::make_unique<SqliteStore>(url, clock);
  if (auto o = s->open(); !o) return o.error();
  if (options.migrate)
    if (auto m = s->migrate(); !m) return m.error();
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace baton::store
