// The PostgreSQL Store: tokens, pools, variables and connections.
#include <nlohmann/json.hpp>

#include "postgres_store.h"

namespace baton::store::postgres {

namespace {

Token token_row(const pqxx::row& r) {
  return Token{r[0].as<long long>(), r[1].c_str(), role_from_string(r[2].c_str()).value_or(Role::viewer),
               tp(r[3].as<long long>()), opt_tp(r[4]), opt_tp(r[5])};
}

}  // namespace

// ---- tokens ----

Result<Token> PostgresResources::create_token(const std::string& name, Role role, const std::string& token_hash,
                                          const std::string& actor) {
  return write([&](pqxx::work& t) -> Result<Token> {
    long long at = now();
    auto r = exec(t,
                  "INSERT INTO tokens (name, role, hash, created_at) VALUES ($1, $2, $3, $4) "
                  "ON CONFLICT DO NOTHING RETURNING id",
                  params(name, std::string(to_string(role)), token_hash, at));
    if (!r) return r.error();
    if (r->empty()) return Error{"conflict", "a token named \"" + name + "\" already exists"};
    Token tok{(*r)[0][0].as<long long>(), name, role, tp(at), std::nullopt, std::nullopt};
    if (auto a = audit(t, actor, "token.created", "token:" + name, json{{"role", to_string(role)}}); !a)
      return a.error();
    return tok;
  });
}

Result<std::vector<Token>> PostgresResources::list_tokens() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Token>> {
    auto r = exec(t, "SELECT id, name, role, created_at, revoked_at, last_used_at FROM tokens ORDER BY name", {});
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

Result<Token> PostgresResources::authenticate(const std::string& token_hash) {
  return write([&](pqxx::work& t) -> Result<Token> {
    auto r = exec(t,
                  "UPDATE tokens SET last_used_at = $1 WHERE hash = $2 AND revoked_at IS NULL "
                  "RETURNING id, name, role, created_at, revoked_at, last_used_at",
                  params(now(), token_hash));
    if (!r) return r.error();
    if (r->empty()) return Error{"unauthenticated", "unknown or revoked token"};
    Token tok = token_row((*r)[0]);
    return tok;
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

// ---- variables and connections ----

Result<std::vector<Variable>> PostgresResources::list_variables() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Variable>> {
    auto r = exec(t, "SELECT name, value, updated_at, secret FROM variables ORDER BY name", {});
    if (!r) return r.error();
    std::vector<Variable> out;
    for (auto row : *r)
      out.push_back({row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>()), row[3].as<bool>()});
    return out;
  });
}

Result<Variable> PostgresResources::get_variable(const std::string& name) {
  return read([&](pqxx::transaction_base& t) -> Result<Variable> {
    auto r = exec(t, "SELECT name, value, updated_at, secret FROM variables WHERE name = $1", params(name));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("no variable named \"" + name + "\"");
    return Variable{(*r)[0][0].c_str(), (*r)[0][1].c_str(), tp((*r)[0][2].as<long long>()), (*r)[0][3].as<bool>()};
  });
}

Status PostgresResources::put_variable(const std::string& name, const std::string& value, const std::string& actor,
                                       bool secret) {
  return put_named("variable",
                   "INSERT INTO variables (name, value, updated_at, secret) VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, "
                   "secret = excluded.secret",
                   name, value, actor, secret);
}

Status PostgresResources::delete_variable(const std::string& name, const std::string& actor) {
  return delete_named("variable", "DELETE FROM variables WHERE name = $1", name, actor);
}

Result<std::vector<Connection>> PostgresResources::list_connections() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<Connection>> {
    auto r = exec(t, "SELECT name, url, updated_at FROM connections ORDER BY name", {});
    if (!r) return r.error();
    std::vector<Connection> out;
    for (auto row : *r) out.push_back({row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>())});
    return out;
  });
}

Result<Connection> PostgresResources::get_connection(const std::string& name) {
  return read([&](pqxx::transaction_base& t) -> Result<Connection> {
    auto r = exec(t, "SELECT name, url, updated_at FROM connections WHERE name = $1", params(name));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("no connection named \"" + name + "\"");
    return Connection{(*r)[0][0].c_str(), (*r)[0][1].c_str(), tp((*r)[0][2].as<long long>())};
  });
}

Status PostgresResources::put_connection(const std::string& name, const std::string& url, const std::string& actor) {
  return put_named("connection",
                   "INSERT INTO connections (name, url, updated_at) VALUES ($1, $2, $3) "
                   "ON CONFLICT (name) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at",
                   name, url, actor);
}

Status PostgresResources::delete_connection(const std::string& name, const std::string& actor) {
  return delete_named("connection", "DELETE FROM connections WHERE name = $1", name, actor);
}

// A connection's URL and a secret variable's value never reach the audit log.
Status PostgresResources::put_named(const std::string& kind, const char* sql, const std::string& name,
                                const std::string& value, const std::string& actor, bool secret_variable) {
  bool connection = kind == "connection";
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = connection ? exec(t, sql, params(name, value, now()))
                        : exec(t, sql, params(name, value, now(), secret_variable));
    if (!r) return r.error();
    json details = connection        ? json::object()
                   : secret_variable ? json{{"secret", true}}
                                     : json{{"after", value}, {"secret", false}};
    if (auto a = audit(t, actor, kind + ".set", kind + ":" + name, details); !a) return a.error();
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

}  // namespace baton::store::postgres
