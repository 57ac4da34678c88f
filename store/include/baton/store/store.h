// Store: the single source of truth (DESIGN.md). One interface, one
// implementation per engine (SQLite now; PostgreSQL later), one conformance
// suite run against each (tests/integration/store_conformance.cpp).
//
// Every method that changes state takes the actor (a token name, or "system")
// and appends the matching audit entry in the same transaction, so the audit
// log cannot miss a change or record one that did not happen.
//
// Thread safety: a Store may be called from any thread; implementations
// serialize access internally. Expected failures (not found, conflicts, bad
// input) are returned as Error values, never thrown.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/core/time.h"

namespace baton::store {

// `sqlite:PATH` or `postgresql://user:pass@host:port/db` (libpq syntax).
struct DatabaseUrl {
  enum class Engine { sqlite, postgres };
  Engine engine = Engine::sqlite;
  std::string path;      // sqlite: the file
  std::string conninfo;  // postgres: the URL as given
  std::string text;      // as given
  std::string masked() const;  // the password replaced by ***
};
Result<DatabaseUrl> parse_database_url(std::string_view text);

struct MigrationInfo {
  int version = 0;
  std::string name;
  std::optional<TimePoint> applied_at;  // nullopt: pending
};

enum class Role { viewer, operator_role, admin, worker };
const char* to_string(Role r);
std::optional<Role> role_from_string(std::string_view s);

struct Token {
  long long id = 0;
  std::string name;
  Role role = Role::viewer;
  TimePoint created_at{};
  std::optional<TimePoint> revoked_at;
  std::optional<TimePoint> last_used_at;
};

struct Pool {
  std::string name;
  int slots = 0;
  std::string description;
};

struct Variable {
  std::string name;
  std::string value;
  TimePoint updated_at{};
};

struct Connection {
  std::string name;
  std::string url;  // with its password: callers that show it must mask it
  TimePoint updated_at{};
};

struct AuditEntry {
  long long id = 0;
  TimePoint at{};
  std::string actor;
  std::string action;   // e.g. token.created, pool.set, dag.paused
  std::string target;   // e.g. token:ci, pool:etl, dag:daily_sales
  std::string details;  // JSON object, with before/after where there is one
  std::string prev_hash;
  std::string hash;
};

struct AuditFilter {
  std::optional<std::string> dag_id;  // entries whose target is dag:ID or a run/task of it
  std::optional<std::string> action;
  std::optional<std::string> actor;
  std::optional<TimePoint> since;
  long long after_id = 0;             // cursor: entries with a larger id
  int limit = 100;
};

struct AuditCheck {
  long long checked = 0;
  std::optional<long long> first_bad_id;  // the first entry altered, removed or inserted
  std::string problem;
};

// The hash of an entry: SHA-256 over prev_hash and every field, so that any
// change to an entry, or any removal or insertion, breaks the chain.
std::string audit_hash(const AuditEntry& e);

class Store {
 public:
  virtual ~Store() = default;
  virtual const DatabaseUrl& url() const = 0;

  // Schema: forward-only numbered migrations embedded in the binary.
  virtual Result<std::vector<MigrationInfo>> migration_status() = 0;
  virtual Result<int> migrate() = 0;  // how many were applied

  // Tokens: only the SHA-256 of a token is stored.
  virtual Result<Token> create_token(const std::string& name, Role role, const std::string& token_hash,
                                     const std::string& actor) = 0;
  virtual Result<std::vector<Token>> list_tokens() = 0;
  virtual Status revoke_token(const std::string& name, const std::string& actor) = 0;
  // The live (not revoked) token with this hash; records its use.
  virtual Result<Token> authenticate(const std::string& token_hash) = 0;

  // Pools (the `default` pool always exists; it can be resized, not deleted).
  virtual Result<std::vector<Pool>> list_pools() = 0;
  virtual Result<Pool> get_pool(const std::string& name) = 0;
  virtual Status put_pool(const Pool& pool, const std::string& actor) = 0;
  virtual Status delete_pool(const std::string& name, const std::string& actor) = 0;

  // Variables and connections.
  virtual Result<std::vector<Variable>> list_variables() = 0;
  virtual Result<Variable> get_variable(const std::string& name) = 0;
  virtual Status put_variable(const std::string& name, const std::string& value, const std::string& actor) = 0;
  virtual Status delete_variable(const std::string& name, const std::string& actor) = 0;
  virtual Result<std::vector<Connection>> list_connections() = 0;
  virtual Result<Connection> get_connection(const std::string& name) = 0;
  virtual Status put_connection(const std::string& name, const std::string& url, const std::string& actor) = 0;
  virtual Status delete_connection(const std::string& name, const std::string& actor) = 0;

  // The audit log: appended by the changes above (and by the scheduler and
  // API for theirs); never updated or deleted.
  virtual Result<AuditEntry> append_audit(const std::string& actor, const std::string& action,
                                          const std::string& target, const std::string& details_json) = 0;
  virtual Result<std::vector<AuditEntry>> list_audit(const AuditFilter& filter) = 0;
  virtual Result<AuditCheck> verify_audit() = 0;
};

struct OpenOptions {
  bool migrate = true;  // apply pending migrations on open
};

// Opens (and for SQLite creates) the database. `clock` must outlive the store.
Result<std::unique_ptr<Store>> open_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options = {});

}  // namespace baton::store
