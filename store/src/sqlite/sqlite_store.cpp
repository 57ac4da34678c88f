// The SQLite Store: one connection in WAL mode, writers in BEGIN IMMEDIATE
// transactions, every access under one mutex.
#include <nlohmann/json.hpp>

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
    auto st = db_.prepare(
        "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log "
        "WHERE id > ?1 AND (?2 IS NULL OR target = 'dag:' || ?2 OR target LIKE 'dag:' || ?2 || '/%') "
        "AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR at >= ?5) "
        "ORDER BY id LIMIT ?6");
    st.bind(1, f.after_id).bind(2, f.dag_id).bind(3, f.action).bind(4, f.actor);
    st.bind(5, f.since ? std::optional<long long>(f.since->time_since_epoch().count()) : std::nullopt);
    st.bind(6, f.limit);
    std::vector<AuditEntry> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(audit_row(st));
    if (rc != SQLITE_DONE) return db_error();
    return out;
  }

  Result<AuditCheck> verify_audit() override {
    std::lock_guard lock(mu_);
    AuditCheck check;
    std::string prev = kGenesisHash;
    long long prev_id = 0;
    auto st = db_.prepare("SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log ORDER BY id");
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      AuditEntry e = audit_row(st);
      ++check.checked;
      std::string problem;
      if (e.id != prev_id + 1)
        problem = "entries " + std::to_string(prev_id + 1) + " to " + std::to_string(e.id - 1) + " are missing";
      else if (e.prev_hash != prev)
        problem = "its prev_hash does not match the hash of entry " + std::to_string(prev_id);
      else if (audit_hash(e) != e.hash)
        problem = "its contents do not match its hash (the entry was altered)";
      if (!problem.empty()) {
        check.first_bad_id = e.id;
        check.problem = problem;
        return check;
      }
      prev = e.hash;
      prev_id = e.id;
    }
    if (rc != SQLITE_DONE) return db_error();
    // The head kept in settings catches entries removed from the end.
    auto head = db_.prepare("SELECT value FROM settings WHERE key = 'audit_head'");
    if (head.step() == SQLITE_ROW) {
      std::string expected = head.text(0);
      if (expected != std::to_string(prev_id) + ":" + prev) {
        check.first_bad_id = prev_id + 1;
        check.problem = "the log ends at entry " + std::to_string(prev_id) + " but its recorded head is entry " +
                        expected.substr(0, expected.find(':')) + " (entries were removed from the end)";
      }
    } else if (prev_id != 0) {
      check.first_bad_id = 1;
      check.problem = "the recorded head of the log is missing";
    }
    return check;
  }

 private:
  long long now() const { return clock_.now().time_since_epoch().count(); }
  Error db_error() const { return Error{"database_error", "SQLite: " + db_.last_error()}; }

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
