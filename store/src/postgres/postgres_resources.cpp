// The PostgreSQL Store: tokens, pools, namespaces, variables and connections.
#include <chrono>
#include <nlohmann/json.hpp>

#include "namespace_rules.h"
#include "postgres_store.h"
#include "resource_text.h"

namespace baton::store::postgres {

namespace {

Token token_row(const pqxx::row& r) {
  return Token{r[0].as<long long>(),
               r[1].c_str(),
               role_from_string(r[2].c_str()).value_or(Role::viewer),
               tp(r[3].as<long long>()),
               opt_tp(r[4]),
               opt_tp(r[5]),
               split_namespaces(r[6].c_str())};
}

}  // namespace

// ---- tokens ----

Result<Token> PostgresResources::create_token(const std::string& name, Role role, const std::string& token_hash,
                                          const std::string& actor, const std::vector<std::string>& namespaces) {
  return write([&](pqxx::work& t) -> Result<Token> {
    long long at = now();
    auto r = exec(t,
                  "INSERT INTO tokens (name, role, hash, created_at, namespaces) VALUES ($1, $2, $3, $4, $5) "
                  "ON CONFLICT DO NOTHING RETURNING id",
                  params(name, std::string(to_string(role)), token_hash, at, join_namespaces(namespaces)));
    if (!r) return r.error();
    if (r->empty()) return Error{"conflict", "a token named \"" + name + "\" already exists"};
    Token tok{(*r)[0][0].as<long long>(), name, role, tp(at), std::nullopt, std::nullopt, namespaces};
    json details{{"role", to_string(role)}};
    if (!namespaces.empty()) details["namespaces"] = namespaces;
    if (auto a = audit(t, actor, "token.created", "token:" + name, details); !a) return a.error();
    return tok;
  });
}

Result<std::vector<Token>> PostgresResources::list_tokens() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Token>> {
    auto r = exec(
        t, "SELECT id, name, role, created_at, revoked_at, last_used_at, namespaces FROM tokens ORDER BY name", {});
    if (!r) return r.error();
    std::vector<Token> out;
    for (auto row : *r) out.push_back(token_row(row));
    return out;
  });
}

Status PostgresResources::revoke_token(const std::string& name, const std::string& actor) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t, "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                  params(now(), name));
    if (!r) return r.error();
    if (r->affected_rows() == 0) return Error::not_found("no live token named \"" + name + "\"");
    if (auto a = audit(t, actor, "token.revoked", "token:" + name, json::object()); !a) return a.error();
    return true;
  }));
}

// One statement outside a transaction block: a read, and last_used_at moved
// on at most once a minute, so that a worker's requests do not each commit.
Result<Token> PostgresResources::authenticate(const std::string& token_hash) {
  long long stale = (clock_.now() - std::chrono::minutes(1)).time_since_epoch().count();
  return read([&](pqxx::transaction_base& t) -> Result<Token> {
    auto r = exec(t,
                  "WITH t AS (SELECT id, name, role, created_at, revoked_at, last_used_at, namespaces FROM tokens "
                  "WHERE hash = $2 AND revoked_at IS NULL), "
                  "u AS (UPDATE tokens SET last_used_at = $1 WHERE id IN "
                  "(SELECT id FROM t WHERE last_used_at IS NULL OR last_used_at < $3)) "
                  "SELECT id, name, role, created_at, revoked_at, "
                  "CASE WHEN last_used_at IS NULL OR last_used_at < $3 THEN $1 ELSE last_used_at END, namespaces "
                  "FROM t",
                  params(now(), token_hash, stale));
    if (!r) return r.error();
    if (r->empty()) return Error{"unauthenticated", "unknown or revoked token"};
    return token_row((*r)[0]);
  });
}

// ---- pools ----

Result<std::vector<Pool>> PostgresResources::list_pools() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Pool>> {
    auto r = exec(t, "SELECT name, slots, description FROM pools ORDER BY name", {});
    if (!r) return r.error();
    std::vector<Pool> out;
    for (auto row : *r) out.push_back({row[0].c_str(), row[1].as<int>(), row[2].c_str()});
    return out;
  });
}

Result<Pool> PostgresResources::get_pool(const std::string& name) {
  return read([&](pqxx::transaction_base& t) { return pool_in(t, name); });
}

Status PostgresResources::put_pool(const Pool& pool, const std::string& actor) {
  if (pool.slots < 0) return Error::invalid("slots must be 0 or more, got " + std::to_string(pool.slots));
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto before = pool_in(t, pool.name);
    auto r = exec(t,
                  "INSERT INTO pools (name, slots, description) VALUES ($1, $2, $3) "
                  "ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, description = excluded.description",
                  params(pool.name, pool.slots, pool.description));
    if (!r) return r.error();
    json details = {{"after", {{"slots", pool.slots}}}};
    details["before"] = before ? json{{"slots", before->slots}} : json(nullptr);
    if (auto a = audit(t, actor, "pool.set", "pool:" + pool.name, details); !a) return a.error();
    return true;
  }));
}

Status PostgresResources::delete_pool(const std::string& name, const std::string& actor) {
  if (name == "default") return Error{"conflict", "the default pool cannot be deleted (set its slots instead)"};
  return delete_named("pool", "DELETE FROM pools WHERE name = $1", name, actor);
}

Result<Pool> PostgresResources::pool_in(pqxx::transaction_base& t, const std::string& name) {
  auto r = exec(t, "SELECT name, slots, description FROM pools WHERE name = $1", params(name));
  if (!r) return r.error();
  if (r->empty()) return Error::not_found("no pool named \"" + name + "\"");
  return Pool{(*r)[0][0].c_str(), (*r)[0][1].as<int>(), (*r)[0][2].c_str()};
}

// ---- namespaces ----

namespace {

constexpr const char* kNamespaceColumns = "SELECT name, weight, max_running_tasks, folder, description FROM namespaces";

Namespace namespace_row(const pqxx::row& row) {
  Namespace ns{row[0].c_str(), row[1].as<double>(), std::nullopt, std::nullopt, row[4].c_str()};
  if (!row[2].is_null()) ns.max_running_tasks = row[2].as<int>();
  if (!row[3].is_null()) ns.folder = row[3].c_str();
  return ns;
}

}  // namespace

Result<std::vector<Namespace>> PostgresResources::list_namespaces() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Namespace>> {
    auto r = exec(t, std::string(kNamespaceColumns) + " ORDER BY name", {});
    if (!r) return r.error();
    std::vector<Namespace> out;
    for (auto row : *r) out.push_back(namespace_row(row));
    return out;
  });
}

Result<Namespace> PostgresResources::get_namespace(const std::string& name) {
  return read([&](pqxx::transaction_base& t) { return namespace_in(t, name); });
}

Status PostgresResources::put_namespace(const Namespace& ns, const std::string& actor) {
  if (auto ok = check_namespace(ns); !ok.ok()) return ok;
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto before = namespace_in(t, ns.name);
    if (!before && before.error().code != "not_found") return before.error();
    auto r = exec(t,
                  "INSERT INTO namespaces (name, weight, max_running_tasks, folder, description) "
                  "VALUES ($1, $2, $3, $4, $5) "
                  "ON CONFLICT (name) DO UPDATE SET weight = excluded.weight, "
                  "max_running_tasks = excluded.max_running_tasks, folder = excluded.folder, "
                  "description = excluded.description",
                  params(ns.name, ns.weight, ns.max_running_tasks, ns.folder, ns.description));
    if (!r) return r.error();
    json details = namespace_fields(ns);
    details["before"] = before ? namespace_fields(*before) : json(nullptr);
    if (auto a = audit(t, actor, "namespace.set", "namespace:" + ns.name, details); !a) return a.error();
    return true;
  }));
}

Status PostgresResources::delete_namespace(const std::string& name, const std::string& actor) {
  return delete_named("namespace", "DELETE FROM namespaces WHERE name = $1", name, actor);
}

Result<Namespace> PostgresResources::namespace_in(pqxx::transaction_base& t, const std::string& name) {
  auto r = exec(t, std::string(kNamespaceColumns) + " WHERE name = $1", params(name));
  if (!r) return r.error();
  if (r->empty()) return Error::not_found("no namespace named \"" + name + "\" is configured");
  return namespace_row((*r)[0]);
}

// ---- variables and connections ----

Result<std::vector<Variable>> PostgresResources::list_variables() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Variable>> {
    auto r = exec(t, "SELECT name, value, updated_at, secret, ns FROM variables ORDER BY ns, name", {});
    if (!r) return r.error();
    std::vector<Variable> out;
    for (auto row : *r)
      out.push_back({row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>()), row[3].as<bool>(), row[4].c_str()});
    return out;
  });
}

Result<Variable> PostgresResources::get_variable(const std::string& name, const std::string& ns) {
  return read([&](pqxx::transaction_base& t) -> Result<Variable> {
    auto r = exec(t, "SELECT name, value, updated_at, secret, ns FROM variables WHERE ns = $1 AND name = $2",
                  params(ns, name));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found(entry_missing("variable", ns, name));
    auto row = (*r)[0];
    return Variable{row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>()), row[3].as<bool>(), row[4].c_str()};
  });
}

Status PostgresResources::put_variable(const std::string& name, const std::string& value, const std::string& actor,
                                       bool secret, const std::string& ns) {
  return put_named("variable",
                   "INSERT INTO variables (name, value, updated_at, secret, ns) VALUES ($1, $2, $3, $4, $5) "
                   "ON CONFLICT (ns, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, "
                   "secret = excluded.secret",
                   name, value, actor, secret, ns);
}

Status PostgresResources::delete_variable(const std::string& name, const std::string& actor, const std::string& ns) {
  return delete_entry("variable", "DELETE FROM variables WHERE ns = $1 AND name = $2", name, actor, ns);
}

Result<std::vector<Connection>> PostgresResources::list_connections() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Connection>> {
    auto r = exec(t, "SELECT name, url, updated_at, ns FROM connections ORDER BY ns, name", {});
    if (!r) return r.error();
    std::vector<Connection> out;
    for (auto row : *r) out.push_back({row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>()), row[3].c_str()});
    return out;
  });
}

Result<Connection> PostgresResources::get_connection(const std::string& name, const std::string& ns) {
  return read([&](pqxx::transaction_base& t) -> Result<Connection> {
    auto r = exec(t, "SELECT name, url, updated_at, ns FROM connections WHERE ns = $1 AND name = $2",
                  params(ns, name));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found(entry_missing("connection", ns, name));
    auto row = (*r)[0];
    return Connection{row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>()), row[3].c_str()};
  });
}

Status PostgresResources::put_connection(const std::string& name, const std::string& url, const std::string& actor,
                                         const std::string& ns) {
  return put_named("connection",
                   "INSERT INTO connections (name, url, updated_at, ns) VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT (ns, name) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at",
                   name, url, actor, false, ns);
}

Status PostgresResources::delete_connection(const std::string& name, const std::string& actor, const std::string& ns) {
  return delete_entry("connection", "DELETE FROM connections WHERE ns = $1 AND name = $2", name, actor, ns);
}

// A connection's URL and a secret variable's value never reach the audit log.
Status PostgresResources::put_named(const std::string& kind, const char* sql, const std::string& name,
                                   const std::string& value, const std::string& actor, bool secret_variable,
                                   const std::string& ns) {
  bool connection = kind == "connection";
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = connection ? exec(t, sql, params(name, value, now(), ns))
                        : exec(t, sql, params(name, value, now(), secret_variable, ns));
    if (!r) return r.error();
    json details = connection        ? json::object()
                   : secret_variable ? json{{"secret", true}}
                                     : json{{"after", value}, {"secret", false}};
    if (!ns.empty()) details["namespace"] = ns;
    if (auto a = audit(t, actor, kind + ".set", entry_target(kind, ns, name), details); !a) return a.error();
    return true;
  }));
}

Status PostgresResources::delete_named(const std::string& kind, const char* sql, const std::string& name,
                                   const std::string& actor) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t, sql, params(name));
    if (!r) return r.error();
    if (r->affected_rows() == 0) return Error::not_found("no " + kind + " named \"" + name + "\"");
    if (auto a = audit(t, actor, kind + ".deleted", kind + ":" + name, json::object()); !a) return a.error();
    return true;
  }));
}

Status PostgresResources::delete_entry(const std::string& kind, const char* sql, const std::string& name,
                                      const std::string& actor, const std::string& ns) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t, sql, params(ns, name));
    if (!r) return r.error();
    if (r->affected_rows() == 0) return Error::not_found(entry_missing(kind, ns, name));
    json details = ns.empty() ? json::object() : json{{"namespace", ns}};
    if (auto a = audit(t, actor, kind + ".deleted", entry_target(kind, ns, name), details); !a) return a.error();
    return true;
  }));
}

}  // namespace baton::store::postgres
