// The SQLite Store: tokens, pools, namespaces, variables and connections.
#include <chrono>
#include <nlohmann/json.hpp>

#include "namespace_rules.h"
#include "resource_text.h"
#include "sqlite_store.h"

namespace baton::store::sqlite {

// ---- tokens ----

Result<Token> SqliteResources::create_token(const std::string& name, Role role, const std::string& token_hash,
                                        const std::string& actor, const std::vector<std::string>& namespaces) {
  return write([&]() -> Result<Token> {
    auto st = db_.prepare("INSERT INTO tokens (name, role, hash, created_at, namespaces) VALUES (?, ?, ?, ?, ?)");
    long long at = now();
    st.bind(1, name).bind(2, std::string(to_string(role))).bind(3, token_hash).bind(4, at);
    st.bind(5, join_namespaces(namespaces));
    int rc = st.step();
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
      return Error{"conflict", "a token named \"" + name + "\" already exists"};
    if (rc != SQLITE_DONE) return db_error();
    Token t{sqlite3_last_insert_rowid(db_.raw()), name, role, tp(at), std::nullopt, std::nullopt, namespaces};
    json details{{"role", to_string(role)}};
    if (!namespaces.empty()) details["namespaces"] = namespaces;
    if (auto a = audit_locked(actor, "token.created", "token:" + name, details); !a) return a.error();
    return t;
  });
}

Result<std::vector<Token>> SqliteResources::list_tokens() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT id, name, role, created_at, revoked_at, last_used_at, namespaces FROM tokens ORDER BY name");
  std::vector<Token> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(token_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Status SqliteResources::revoke_token(const std::string& name, const std::string& actor) {
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

Result<Token> SqliteResources::authenticate(const std::string& token_hash) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT id, name, role, created_at, revoked_at, last_used_at, namespaces FROM tokens WHERE hash = ? AND "
      "revoked_at IS NULL");
  st.bind(1, token_hash);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error{"unauthenticated", "unknown or revoked token"};
  if (rc != SQLITE_ROW) return db_error();
  Token t = token_row(st);
  // last_used_at moves on at most once a minute: a request is not a write.
  const TimePoint at = clock_.now();
  if (!t.last_used_at || *t.last_used_at < at - std::chrono::minutes(1)) {
    auto up = db_.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?");
    up.bind(1, at.time_since_epoch().count()).bind(2, t.id);
    if (up.step() == SQLITE_DONE) t.last_used_at = at;  // else it stays what is stored
  }
  return t;
}

Token SqliteResources::token_row(const Stmt& st) {
  return Token{st.i64(0),
               st.text(1),
               role_from_string(st.text(2)).value_or(Role::viewer),
               tp(st.i64(3)),
               opt_tp(st.opt_i64(4)),
               opt_tp(st.opt_i64(5)),
               split_namespaces(st.text(6))};
}

// ---- pools ----

Result<std::vector<Pool>> SqliteResources::list_pools() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, slots, description FROM pools ORDER BY name");
  std::vector<Pool> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), static_cast<int>(st.i64(1)), st.text(2)});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<Pool> SqliteResources::get_pool(const std::string& name) {
  std::lock_guard lock(mu_);
  return get_pool_locked(name);
}

Status SqliteResources::put_pool(const Pool& pool, const std::string& actor) {
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

Status SqliteResources::delete_pool(const std::string& name, const std::string& actor) {
  if (name == "default") return Error{"conflict", "the default pool cannot be deleted (set its slots instead)"};
  return delete_named("pool", name, actor);
}

Result<Pool> SqliteResources::get_pool_locked(const std::string& name) {
  auto st = db_.prepare("SELECT name, slots, description FROM pools WHERE name = ?");
  st.bind(1, name);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found("no pool named \"" + name + "\"");
  if (rc != SQLITE_ROW) return db_error();
  return Pool{st.text(0), static_cast<int>(st.i64(1)), st.text(2)};
}

// ---- namespaces ----

Result<std::vector<Namespace>> SqliteResources::list_namespaces() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, weight, max_running_tasks, folder, description FROM namespaces ORDER BY name");
  std::vector<Namespace> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(namespace_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<Namespace> SqliteResources::get_namespace(const std::string& name) {
  std::lock_guard lock(mu_);
  return get_namespace_locked(name);
}

Status SqliteResources::put_namespace(const Namespace& ns, const std::string& actor) {
  if (auto ok = check_namespace(ns); !ok.ok()) return ok;
  auto r = write([&]() -> Result<bool> {
    auto before = get_namespace_locked(ns.name);
    if (!before && before.error().code != "not_found") return before.error();
    auto st = db_.prepare(
        "INSERT INTO namespaces (name, weight, max_running_tasks, folder, description) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET weight = excluded.weight, max_running_tasks = excluded.max_running_tasks, "
        "folder = excluded.folder, description = excluded.description");
    st.bind(1, ns.name).bind(2, ns.weight).bind(3, ns.max_running_tasks).bind(4, ns.folder).bind(5, ns.description);
    if (st.step() != SQLITE_DONE) return db_error();
    json details = namespace_fields(ns);
    details["before"] = before ? namespace_fields(*before) : json(nullptr);
    if (auto a = audit_locked(actor, "namespace.set", "namespace:" + ns.name, details); !a) return a.error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Status SqliteResources::delete_namespace(const std::string& name, const std::string& actor) {
  return delete_named("namespace", name, actor);
}

Result<Namespace> SqliteResources::get_namespace_locked(const std::string& name) {
  auto st = db_.prepare("SELECT name, weight, max_running_tasks, folder, description FROM namespaces WHERE name = ?");
  st.bind(1, name);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found("no namespace named \"" + name + "\" is configured");
  if (rc != SQLITE_ROW) return db_error();
  return namespace_row(st);
}

Namespace SqliteResources::namespace_row(const Stmt& st) {
  Namespace ns{st.text(0), st.f64(1), std::nullopt, std::nullopt, st.text(4)};
  if (auto cap = st.opt_i64(2)) ns.max_running_tasks = static_cast<int>(*cap);
  if (!st.is_null(3)) ns.folder = st.text(3);
  return ns;
}

// ---- variables and connections ----

Result<std::vector<Variable>> SqliteResources::list_variables() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, value, updated_at, secret, ns FROM variables ORDER BY ns, name");
  std::vector<Variable> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.text(0), st.text(1), tp(st.i64(2)), st.i64(3) != 0, st.text(4)});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<Variable> SqliteResources::get_variable(const std::string& name, const std::string& ns) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, value, updated_at, secret, ns FROM variables WHERE ns = ? AND name = ?");
  st.bind(1, ns).bind(2, name);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found(entry_missing("variable", ns, name));
  if (rc != SQLITE_ROW) return db_error();
  return Variable{st.text(0), st.text(1), tp(st.i64(2)), st.i64(3) != 0, st.text(4)};
}

Status SqliteResources::put_variable(const std::string& name, const std::string& value, const std::string& actor,
                                     bool secret, const std::string& ns) {
  return put_named("variable", name, value, actor, secret, ns);
}

Status SqliteResources::delete_variable(const std::string& name, const std::string& actor, const std::string& ns) {
  return delete_entry("variable", name, actor, ns);
}

Result<std::vector<Connection>> SqliteResources::list_connections() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, url, updated_at, ns FROM connections ORDER BY ns, name");
  std::vector<Connection> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), st.text(1), tp(st.i64(2)), st.text(3)});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<Connection> SqliteResources::get_connection(const std::string& name, const std::string& ns) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, url, updated_at, ns FROM connections WHERE ns = ? AND name = ?");
  st.bind(1, ns).bind(2, name);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found(entry_missing("connection", ns, name));
  if (rc != SQLITE_ROW) return db_error();
  return Connection{st.text(0), st.text(1), tp(st.i64(2)), st.text(3)};
}

Status SqliteResources::put_connection(const std::string& name, const std::string& url, const std::string& actor,
                                       const std::string& ns) {
  return put_named("connection", name, url, actor, false, ns);
}

Status SqliteResources::delete_connection(const std::string& name, const std::string& actor, const std::string& ns) {
  return delete_entry("connection", name, actor, ns);
}

// Variables and connections share their shape; the SQL differs only by
// table and column. A connection's URL and a secret variable's value never
// reach the audit log.
Status SqliteResources::put_named(const std::string& kind, const std::string& name, const std::string& value,
                                  const std::string& actor, bool secret_variable, const std::string& ns) {
  bool connection = kind == "connection";
  const char* sql = !connection ? "INSERT INTO variables (name, value, updated_at, secret, ns) VALUES (?, ?, ?, ?, ?) "
                                  "ON CONFLICT(ns, name) DO UPDATE SET value = excluded.value, updated_at = "
                                  "excluded.updated_at, secret = excluded.secret"
                                : "INSERT INTO connections (name, url, updated_at, ns) VALUES (?, ?, ?, ?) "
                                  "ON CONFLICT(ns, name) DO UPDATE SET url = excluded.url, updated_at = "
                                  "excluded.updated_at";
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare(sql);
    st.bind(1, name).bind(2, value).bind(3, now());
    if (!connection) st.bind(4, secret_variable ? 1 : 0).bind(5, ns);
    else st.bind(4, ns);
    if (st.step() != SQLITE_DONE) return db_error();
    json details = connection        ? json::object()
                   : secret_variable ? json{{"secret", true}}
                                     : json{{"after", value}, {"secret", false}};
    if (!ns.empty()) details["namespace"] = ns;
    if (auto a = audit_locked(actor, kind + ".set", entry_target(kind, ns, name), details); !a) return a.error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Status SqliteResources::delete_entry(const std::string& kind, const std::string& name, const std::string& actor,
                                     const std::string& ns) {
  const char* sql = kind == "variable" ? "DELETE FROM variables WHERE ns = ? AND name = ?"
                                       : "DELETE FROM connections WHERE ns = ? AND name = ?";
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare(sql);
    st.bind(1, ns).bind(2, name);
    if (st.step() != SQLITE_DONE) return db_error();
    if (db_.changes() == 0) return Error::not_found(entry_missing(kind, ns, name));
    json details = ns.empty() ? json::object() : json{{"namespace", ns}};
    if (auto a = audit_locked(actor, kind + ".deleted", entry_target(kind, ns, name), details); !a) return a.error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Status SqliteResources::delete_named(const std::string& kind, const std::string& name, const std::string& actor) {
  const char* sql = kind == "variable"     ? "DELETE FROM variables WHERE name = ?"
                    : kind == "connection" ? "DELETE FROM connections WHERE name = ?"
                    : kind == "namespace"  ? "DELETE FROM namespaces WHERE name = ?"
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

}  // namespace baton::store::sqlite
