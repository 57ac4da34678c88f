// The PostgreSQL Store (postgres_store.h): opening, migrations, the
// connection and its prepared statements, and the plans of the lists.
// apply(), which writes one turn of the scheduler's loop, is in
// postgres_batch.cpp.
#include <nlohmann/json.hpp>

#include "migrations.h"
#include "postgres_lists.h"
#include "postgres_store.h"

namespace baton::store::postgres {

namespace {

constexpr long long kMigrateLock = 0x6261746f6e01;  // pg_advisory_xact_lock key while migrating ("baton" 1)

}  // namespace

Status PostgresStore::open() {
  Lease lease(*this);
  return status_of(call(lease.conn(), [&]() -> Result<bool> {
    connect(lease.conn());
    return true;
  }));
}

// ---- connections and statements ----

namespace {
// The connection the thread holds a lease on (exec's prepared statements).
thread_local PostgresBase::Conn* t_current = nullptr;
}  // namespace

PostgresBase::Lease::Lease(PostgresBase& base) : outer_(t_current) {
  // Open connections first: one is opened only when all open ones are busy.
  for (auto& c : base.pool_) {
    std::unique_lock l(c.mu, std::try_to_lock);
    if (l.owns_lock() && c.c) {
      lock_ = std::move(l);
      conn_ = &c;
      break;
    }
  }
  if (!conn_)
    for (auto& c : base.pool_) {
      std::unique_lock l(c.mu, std::try_to_lock);
      if (l.owns_lock()) {
        lock_ = std::move(l);
        conn_ = &c;
        break;
      }
    }
  if (!conn_) {
    Conn& c = base.pool_[base.next_wait_.fetch_add(1, std::memory_order_relaxed) % kPoolSize];
    lock_ = std::unique_lock(c.mu);
    conn_ = &c;
  }
  t_current = conn_;
}

PostgresBase::Lease::~Lease() { t_current = outer_; }

// The connection, opened on first use and again after it was lost. The
// first schema of the URL's search_path (options=-csearch_path=NAME) is
// created if missing, so that several Baton deployments (or tests) can
// share one database, each in its own schema.
void PostgresBase::connect(Conn& conn) {
  const unsigned generation = generation_.load(std::memory_order_relaxed);
  if (conn.c && conn.c->is_open() && conn.generation == generation) return;
  conn.c.reset();
  conn.prepared.clear();
  conn.generation = generation;
  auto c = std::make_unique<pqxx::connection>(url_.conninfo);
  {
    pqxx::nontransaction n(*c);
    n.exec("SET client_min_messages = warning");
    // A process paused in the middle of a transaction (SIGSTOP, a
    // debugger, a stalled VM) must not hold row locks that every other
    // member waits on (the audit head, partitions): the server ends such
    // a session, and the process connects again when it wakes.
    n.exec("SET idle_in_transaction_session_timeout = '5s'");
    std::string path = n.exec("SHOW search_path")[0][0].c_str();
    std::string first = path.substr(0, path.find(','));
    while (!first.empty() && first.front() == ' ') first.erase(first.begin());
    while (!first.empty() && first.back() == ' ') first.pop_back();
    if (!first.empty() && first.front() == '"' && first.size() >= 2) first = first.substr(1, first.size() - 2);
    // Looked up first: CREATE SCHEMA IF NOT EXISTS still needs the CREATE
    // privilege, which a role that only runs Baton may lack.
    auto has = [&] { return !n.exec_params("SELECT 1 FROM pg_namespace WHERE nspname = $1", first).empty(); };
    if (!first.empty() && first != "$user" && first != "public" && !has()) {
      try {
        n.exec("CREATE SCHEMA IF NOT EXISTS " + n.quote_name(first));
      } catch (const pqxx::sql_error&) {
        if (!has()) throw;  // not a race with another process creating it
      }
    }
  }
  conn.c = std::move(c);
}

// A prepared statement per distinct SQL text, per connection.
Result<pqxx::result> PostgresBase::exec(pqxx::transaction_base& t, const std::string& sql, const Params& p) {
  Conn& conn = *t_current;  // a lease is held: write(), read() and snapshot() take one
  auto it = conn.prepared.find(sql);
  if (it == conn.prepared.end()) {
    std::string name = "baton_" + std::to_string(conn.prepared.size() + 1);
    t.conn().prepare(name, sql);
    it = conn.prepared.emplace(sql, name).first;
  }
  auto ptrs = p.pointers();
  return t.exec_prepared(it->second, pqxx::prepare::make_dynamic_params(ptrs));
}

std::string PostgresBase::first_line(const std::string& s) {
  std::string out = s.substr(0, s.find('\n'));
  return out.empty() ? s : out;
}

// ---- schema ----

Result<std::vector<MigrationInfo>> PostgresStore::migration_status() {
  return read([&](pqxx::transaction_base& t) { return status(t); });
}

Result<int> PostgresStore::migrate() {
  // One transaction for every pending migration (DDL is transactional
  // here), under an advisory lock: processes starting together migrate once.
  return write([&](pqxx::work& t) -> Result<int> {
    t.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrateLock);
    auto st = status(t);
    if (!st) return st.error();
    int applied = 0;
    for (auto& m : postgres_migrations()) {
      bool done = false;
      for (auto& s : *st) done = done || (s.version == m.version && s.applied_at);
      if (done) continue;
      try {
        t.exec(m.sql);
        t.exec_params("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", m.version,
                      std::string(m.name), now());
      } catch (const pqxx::sql_error& e) {
        return Error{"database_error", "migration " + std::string(m.name) + " failed: " + first_line(e.what())};
      }
      ++applied;
    }
    return applied;
  });
}

Result<std::vector<MigrationInfo>> PostgresStore::status(pqxx::transaction_base& t) {
  if (t.exec("SELECT to_regclass('schema_migrations')")[0][0].is_null())
    t.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
           "applied_at BIGINT NOT NULL)");
  std::vector<MigrationInfo> out;
  for (auto& m : postgres_migrations()) out.push_back({m.version, m.name, std::nullopt});
  auto r = t.exec("SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
  for (auto row : r) {
    int v = row[0].as<int>();
    bool known = false;
    for (auto& m : out)
      if (m.version == v) {
        m.applied_at = tp(row[2].as<long long>());
        known = true;
      }
    if (!known)
      return Error{"schema_too_new", "the database has migration " + std::to_string(v) + " (" + row[1].c_str() +
                                         ") that this baton does not know: upgrade baton"};
  }
  return out;
}

// ---- the plans of the lists ----

// With sequential scans priced out, a plan that still scans a table has no
// index to use: the tests look for that, whatever the size of the tables.
// Bitmap scans too (they return rows out of the index's order, to be
// sorted): on the few rows of a test, the planner would rather sort them
// than walk an index in order, as it would not on a large table with a LIMIT.
Result<std::vector<QueryPlan>> PostgresStore::explain_list_queries() {
  return write([&](pqxx::work& t) -> Result<std::vector<QueryPlan>> {
    t.exec("SET LOCAL enable_seqscan = off");
    t.exec("SET LOCAL enable_bitmapscan = off");
    std::vector<QueryPlan> out;
    for (auto& l : list_statements()) {
      auto ptrs = l.sample.pointers();
      QueryPlan p{l.name, l.table, ""};
      for (auto row : t.exec_params("EXPLAIN " + l.sql, pqxx::prepare::make_dynamic_params(ptrs)))
        p.plan += std::string(row[0].c_str()) + "\n";
      out.push_back(std::move(p));
    }
    return out;
  });
}

}  // namespace baton::store::postgres

namespace baton::store {

Result<std::unique_ptr<Store>> open_postgres_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options) {
  auto s = std::make_unique<postgres::PostgresStore>(url, clock, options.audit_key);
  if (auto o = s->open(); !o) return o.error();
  if (options.migrate)
    if (auto m = s->migrate(); !m) return m.error();
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace baton::store
