// The PostgreSQL Store (libpqxx): the same contract and the same data model
// as the SQLite one, for more than one process at a time. One connection per
// Store, every access under one mutex; statements prepared once per
// connection; a lost connection is opened again on the next call. Rules that
// must hold across processes are the database's: unique indexes (one run per
// interval, idempotency keys, names), and the row lock on the audit head that
// serializes appends to the hash chain.
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "baton/core/utf8.h"
#include "baton/store/store.h"
#include "migrations.h"

namespace baton::store {

namespace {

using nlohmann::json;

const std::string kGenesisHash(64, '0');
constexpr long long kMigrateLock = 0x6261746f6e01;  // pg_advisory_xact_lock key while migrating ("baton" 1)

TimePoint tp(long long us) { return TimePoint(Duration(us)); }
long long us(TimePoint t) { return t.time_since_epoch().count(); }

// PostgreSQL's text holds neither NUL bytes nor invalid UTF-8, and libpq
// would cut a parameter short at a NUL. Rather than refuse a whole write
// batch (and stop the scheduler) over a task's stray bytes — an error message
// that quotes a Latin-1 output file, say — such bytes become U+FFFD.
std::string storable(const std::string& s) { return to_storable_text(s); }

// Positional parameters ($1, $2, ...): nullopt is NULL.
class Params {
 public:
  Params& add(const std::string& v) {
    vals_.emplace_back(storable(v));
    return *this;
  }
  Params& add(const char* v) { return add(std::string(v)); }
  Params& add(const std::optional<std::string>& v) { return v ? add(*v) : null(); }
  Params& add(long long v) {
    vals_.emplace_back(std::to_string(v));
    return *this;
  }
  Params& add(int v) { return add(static_cast<long long>(v)); }
  Params& add(bool v) {
    vals_.emplace_back(v ? "true" : "false");
    return *this;
  }
  Params& add(const std::optional<long long>& v) { return v ? add(*v) : null(); }
  Params& add(const std::optional<int>& v) { return v ? add(static_cast<long long>(*v)) : null(); }
  Params& add(const std::optional<bool>& v) { return v ? add(*v) : null(); }
  Params& add(TimePoint t) { return add(us(t)); }
  Params& add(const std::optional<TimePoint>& t) { return t ? add(us(*t)) : null(); }
  Params& null() {
    vals_.emplace_back(std::nullopt);
    return *this;
  }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    for (auto& v : vals_) out.push_back(v ? v->c_str() : nullptr);
    return out;
  }

 private:
  std::vector<std::optional<std::string>> vals_;
};

// One column of many rows as a PostgreSQL array literal ({"a",NULL,"b"}),
// bound as one parameter and taken apart by unnest(): a whole batch of rows
// in one statement and one round trip.
class Column {
 public:
  void add(const std::optional<std::string>& v) {
    text_ += text_.empty() ? "{" : ",";
    if (!v) {
      text_ += "NULL";
      return;
    }
    text_ += '"';
    for (char c : storable(*v)) {
      if (c == '"' || c == '\\') text_ += '\\';
      text_ += c;
    }
    text_ += '"';
  }
  void add(const std::string& v) { add(std::optional<std::string>(v)); }
  void add(long long v) { add(std::to_string(v)); }
  void add(int v) { add(std::to_string(v)); }
  void add(const std::optional<long long>& v) { add(v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt); }
  void add(const std::optional<int>& v) { add(v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt); }
  void add(TimePoint t) { add(us(t)); }
  void add(const std::optional<TimePoint>& t) { add(t ? std::optional<long long>(us(*t)) : std::nullopt); }
  std::string text() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

// The last of each key only (a statement may not touch one row twice).
template <class T, class Key>
std::vector<const T*> last_per_key(const std::vector<T>& rows, Key key) {
  std::map<decltype(key(rows[0])), size_t> last;
  for (size_t i = 0; i < rows.size(); ++i) last[key(rows[i])] = i;
  std::vector<size_t> keep;
  for (auto& [_, i] : last) keep.push_back(i);
  std::sort(keep.begin(), keep.end());
  std::vector<const T*> out;
  for (size_t i : keep) out.push_back(&rows[i]);
  return out;
}

template <class... A>
Params params(const A&... a) {
  Params p;
  (p.add(a), ...);
  return p;
}

std::optional<std::string> opt_text(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<std::string>(f.c_str());
}
std::optional<long long> opt_i64(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<long long>(f.as<long long>());
}
std::optional<TimePoint> opt_tp(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<TimePoint>(tp(f.as<long long>()));
}
std::optional<int> opt_int(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<int>(f.as<int>());
}

const char* kRunColumns =
    "id, dag_id, run_id, run_type, state, logical_date, data_interval_start, data_interval_end, params, "
    "dag_version, note, idempotency_key, backfill_id, created_by, created_at, started_at, ended_at";

RunRecord run_row(const pqxx::row& r) {
  RunRecord x;
  x.pk = r[0].as<long long>();
  x.dag_id = r[1].c_str();
  x.run_id = r[2].c_str();
  x.run_type = r[3].c_str();
  x.state = run_state_from_string(r[4].c_str()).value_or(RunState::failed);
  x.logical_date = tp(r[5].as<long long>());
  x.data_interval_start = tp(r[6].as<long long>());
  x.data_interval_end = tp(r[7].as<long long>());
  x.params = r[8].c_str();
  x.dag_version = r[9].c_str();
  x.note = opt_text(r[10]);
  x.idempotency_key = opt_text(r[11]);
  x.backfill_id = opt_i64(r[12]);
  x.created_by = r[13].c_str();
  x.created_at = tp(r[14].as<long long>());
  x.started_at = opt_tp(r[15]);
  x.ended_at = opt_tp(r[16]);
  return x;
}

const char* kTiColumns =
    "id, run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, pool_slots, priority, ready_at, "
    "wake_at, started_at, ended_at, worker, attempt_token, exit_code, reason, heartbeat_at, last_activity_at, output, "
    "item";

TaskInstanceRecord ti_row(const pqxx::row& r) {
  TaskInstanceRecord t;
  t.id = r[0].as<long long>();
  t.run_pk = r[1].as<long long>();
  t.task_id = r[2].c_str();
  t.map_index = r[3].as<int>();
  t.state = task_state_from_string(r[4].c_str()).value_or(TaskState::failed);
  t.try_number = r[5].as<int>();
  t.max_tries = r[6].as<int>();
  t.queue = r[7].c_str();
  t.pool = r[8].c_str();
  t.pool_slots = r[9].as<int>();
  t.priority = r[10].as<int>();
  t.ready_at = opt_tp(r[11]);
  t.wake_at = opt_tp(r[12]);
  t.started_at = opt_tp(r[13]);
  t.ended_at = opt_tp(r[14]);
  t.worker = opt_text(r[15]);
  t.attempt_token = opt_text(r[16]);
  t.exit_code = opt_int(r[17]);
  t.reason = opt_text(r[18]);
  t.heartbeat_at = opt_tp(r[19]);
  t.last_activity_at = opt_tp(r[20]);
  t.output = opt_text(r[21]);
  t.item = opt_text(r[22]);
  return t;
}

const char* kDagColumns =
    "dag_id, namespace, file, current_version, active, paused, import_errors, partition_no, last_tick, created_at, "
    "updated_at";

DagRecord dag_row(const pqxx::row& r) {
  DagRecord d;
  d.dag_id = r[0].c_str();
  d.ns = r[1].c_str();
  d.file = r[2].c_str();
  d.current_version = opt_text(r[3]);
  d.active = r[4].as<bool>();
  d.paused = r[5].as<bool>();
  d.import_errors = r[6].is_null() ? "" : r[6].c_str();
  d.partition = r[7].as<int>();
  d.last_tick = opt_tp(r[8]);
  d.created_at = tp(r[9].as<long long>());
  d.updated_at = tp(r[10].as<long long>());
  return d;
}

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

const char* kNotificationColumns =
    "id, event, dag_id, target_kind, target, payload, attempts, next_attempt_at, state, last_error, created_at";

std::vector<NotificationRecord> notification_rows(const pqxx::result& r) {
  std::vector<NotificationRecord> out;
  for (auto row : r)
    out.push_back({row[0].as<long long>(), row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str(),
                   row[5].c_str(), row[6].as<int>(), tp(row[7].as<long long>()), row[8].c_str(), opt_text(row[9]),
                   tp(row[10].as<long long>())});
  return out;
}

const char* kVersionColumns = "dag_id, version, compiled, source, file, git_commit, git_dirty, created_at";

DagVersionRecord version_row(const pqxx::row& r) {
  DagVersionRecord v;
  v.dag_id = r[0].c_str();
  v.version = r[1].c_str();
  v.compiled = r[2].c_str();
  v.source = r[3].c_str();
  v.file = r[4].c_str();
  v.git_commit = opt_text(r[5]);
  v.git_dirty = r[6].is_null() ? std::nullopt : std::optional<bool>(r[6].as<bool>());
  v.created_at = tp(r[7].as<long long>());
  return v;
}

Token token_row(const pqxx::row& r) {
  return Token{r[0].as<long long>(), r[1].c_str(), role_from_string(r[2].c_str()).value_or(Role::viewer),
               tp(r[3].as<long long>()), opt_tp(r[4]), opt_tp(r[5])};
}

AuditEntry audit_row(const pqxx::row& r) {
  return AuditEntry{r[0].as<long long>(), tp(r[1].as<long long>()), r[2].c_str(), r[3].c_str(),
                    r[4].c_str(),         r[5].c_str(),              r[6].c_str(), r[7].c_str()};
}

std::string sql_with(const char* head, const char* columns, const char* tail) {
  return std::string(head) + columns + tail;
}

class PostgresStore final : public Store {
 public:
  PostgresStore(DatabaseUrl url, const Clock& clock) : url_(std::move(url)), clock_(clock) {}

  Status open() {
    std::lock_guard lock(mu_);
    return status_of(call([&]() -> Result<bool> {
      connect();
      return true;
    }));
  }

  const DatabaseUrl& url() const override { return url_; }

  // ---- schema ----

  Result<std::vector<MigrationInfo>> migration_status() override {
    return read([&](pqxx::transaction_base& t) { return status(t); });
  }

  Result<int> migrate() override {
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

  // ---- tokens ----

  Result<Token> create_token(const std::string& name, Role role, const std::string& token_hash,
                             const std::string& actor) override {
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

  Result<std::vector<Token>> list_tokens() override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<Token>> {
      auto r = exec(t, "SELECT id, name, role, created_at, revoked_at, last_used_at FROM tokens ORDER BY name", {});
      if (!r) return r.error();
      std::vector<Token> out;
      for (auto row : *r) out.push_back(token_row(row));
      return out;
    });
  }

  Status revoke_token(const std::string& name, const std::string& actor) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t, "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                    params(now(), name));
      if (!r) return r.error();
      if (r->affected_rows() == 0) return Error::not_found("no live token named \"" + name + "\"");
      if (auto a = audit(t, actor, "token.revoked", "token:" + name, json::object()); !a) return a.error();
      return true;
    }));
  }

  Result<Token> authenticate(const std::string& token_hash) override {
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

  Result<std::vector<Pool>> list_pools() override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<Pool>> {
      auto r = exec(t, "SELECT name, slots, description FROM pools ORDER BY name", {});
      if (!r) return r.error();
      std::vector<Pool> out;
      for (auto row : *r) out.push_back({row[0].c_str(), row[1].as<int>(), row[2].c_str()});
      return out;
    });
  }

  Result<Pool> get_pool(const std::string& name) override {
    return read([&](pqxx::transaction_base& t) { return pool_in(t, name); });
  }

  Status put_pool(const Pool& pool, const std::string& actor) override {
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

  Status delete_pool(const std::string& name, const std::string& actor) override {
    if (name == "default") return Error{"conflict", "the default pool cannot be deleted (set its slots instead)"};
    return delete_named("pool", "DELETE FROM pools WHERE name = $1", name, actor);
  }

  // ---- variables and connections ----

  Result<std::vector<Variable>> list_variables() override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<Variable>> {
      auto r = exec(t, "SELECT name, value, updated_at FROM variables ORDER BY name", {});
      if (!r) return r.error();
      std::vector<Variable> out;
      for (auto row : *r) out.push_back({row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>())});
      return out;
    });
  }

  Result<Variable> get_variable(const std::string& name) override {
    return read([&](pqxx::transaction_base& t) -> Result<Variable> {
      auto r = exec(t, "SELECT name, value, updated_at FROM variables WHERE name = $1", params(name));
      if (!r) return r.error();
      if (r->empty()) return Error::not_found("no variable named \"" + name + "\"");
      return Variable{(*r)[0][0].c_str(), (*r)[0][1].c_str(), tp((*r)[0][2].as<long long>())};
    });
  }

  Status put_variable(const std::string& name, const std::string& value, const std::string& actor) override {
    return put_named("variable",
                     "INSERT INTO variables (name, value, updated_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                     name, value, actor);
  }
  Status delete_variable(const std::string& name, const std::string& actor) override {
    return delete_named("variable", "DELETE FROM variables WHERE name = $1", name, actor);
  }

  Result<std::vector<Connection>> list_connections() override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<Connection>> {
      auto r = exec(t, "SELECT name, url, updated_at FROM connections ORDER BY name", {});
      if (!r) return r.error();
      std::vector<Connection> out;
      for (auto row : *r) out.push_back({row[0].c_str(), row[1].c_str(), tp(row[2].as<long long>())});
      return out;
    });
  }

  Result<Connection> get_connection(const std::string& name) override {
    return read([&](pqxx::transaction_base& t) -> Result<Connection> {
      auto r = exec(t, "SELECT name, url, updated_at FROM connections WHERE name = $1", params(name));
      if (!r) return r.error();
      if (r->empty()) return Error::not_found("no connection named \"" + name + "\"");
      return Connection{(*r)[0][0].c_str(), (*r)[0][1].c_str(), tp((*r)[0][2].as<long long>())};
    });
  }

  Status put_connection(const std::string& name, const std::string& url, const std::string& actor) override {
    return put_named("connection",
                     "INSERT INTO connections (name, url, updated_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT (name) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at",
                     name, url, actor);
  }
  Status delete_connection(const std::string& name, const std::string& actor) override {
    return delete_named("connection", "DELETE FROM connections WHERE name = $1", name, actor);
  }

  // ---- DAGs ----

  Result<bool> register_dag_version(const DagVersionRecord& v, const std::string& ns, int partition,
                                    const std::string& actor) override {
    return write([&](pqxx::work& t) -> Result<bool> {
      long long at = now();
      if (auto r = exec(t,
                        "INSERT INTO dags (dag_id, namespace, file, current_version, active, partition_no, "
                        "created_at, updated_at) VALUES ($1, $2, $3, NULL, TRUE, $4, $5, $5) "
                        "ON CONFLICT (dag_id) DO NOTHING",
                        params(v.dag_id, ns, v.file, partition, at));
          !r)
        return r.error();
      auto ver = exec(t,
                      "INSERT INTO dag_versions (dag_id, version, compiled, source, file, git_commit, git_dirty, "
                      "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dag_id, version) DO NOTHING",
                      params(v.dag_id, v.version, v.compiled, v.source, v.file, v.git_commit, v.git_dirty, at));
      if (!ver) return ver.error();
      bool fresh = ver->affected_rows() > 0;
      // The row lock keeps two processes registering the same DAG in order.
      auto cur = exec(t, "SELECT current_version, active FROM dags WHERE dag_id = $1 FOR UPDATE", params(v.dag_id));
      if (!cur) return cur.error();
      if (cur->empty()) return Error{"database_error", "DAG " + v.dag_id + " vanished while it was registered"};
      bool changed = (*cur)[0][0].is_null() || (*cur)[0][0].c_str() != v.version || !(*cur)[0][1].as<bool>();
      if (auto r = exec(t,
                        "UPDATE dags SET namespace = $2, file = $3, current_version = $4, active = TRUE, "
                        "import_errors = NULL, partition_no = $5, updated_at = $6 WHERE dag_id = $1",
                        params(v.dag_id, ns, v.file, v.version, partition, at));
          !r)
        return r.error();
      if (changed) {
        json details = {{"version", v.version}, {"file", v.file}};
        if (v.git_commit) details["git_commit"] = *v.git_commit;
        if (v.git_dirty) details["git_dirty"] = *v.git_dirty;
        if (auto a = audit(t, actor, "dag.version_registered", "dag:" + v.dag_id, details); !a) return a.error();
      }
      return fresh;
    });
  }

  Status set_import_errors(const std::string& dag_id, const std::string& file, int partition,
                           const std::string& errors_json) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t,
                    "INSERT INTO dags (dag_id, file, current_version, active, import_errors, partition_no, "
                    "created_at, updated_at) VALUES ($1, $2, NULL, TRUE, $3, $4, $5, $5) "
                    "ON CONFLICT (dag_id) DO UPDATE SET import_errors = excluded.import_errors, "
                    "updated_at = excluded.updated_at",
                    params(dag_id, file, errors_json, partition, now()));
      if (!r) return r.error();
      return true;
    }));
  }

  Status deactivate_dag(const std::string& dag_id, const std::string& actor) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t, "UPDATE dags SET active = FALSE, updated_at = $1 WHERE dag_id = $2 AND active",
                    params(now(), dag_id));
      if (!r) return r.error();
      if (r->affected_rows() == 0) return true;
      if (auto a = audit(t, actor, "dag.removed", "dag:" + dag_id, json::object()); !a) return a.error();
      return true;
    }));
  }

  Result<std::vector<DagRecord>> list_dags() override {
    static const std::string sql = sql_with("SELECT ", kDagColumns, " FROM dags ORDER BY dag_id");
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<DagRecord>> {
      auto r = exec(t, sql, {});
      if (!r) return r.error();
      std::vector<DagRecord> out;
      for (auto row : *r) out.push_back(dag_row(row));
      return out;
    });
  }

  Result<DagRecord> get_dag(const std::string& dag_id) override {
    return read([&](pqxx::transaction_base& t) { return dag_in(t, dag_id); });
  }

  Result<std::vector<DagVersionRecord>> list_dag_versions(const std::string& dag_id) override {
    static const std::string sql =
        sql_with("SELECT ", kVersionColumns, " FROM dag_versions WHERE dag_id = $1 ORDER BY created_at DESC, version");
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<DagVersionRecord>> {
      auto r = exec(t, sql, params(dag_id));
      if (!r) return r.error();
      std::vector<DagVersionRecord> out;
      for (auto row : *r) out.push_back(version_row(row));
      return out;
    });
  }

  Result<DagVersionRecord> get_dag_version(const std::string& dag_id, const std::string& version) override {
    static const std::string sql =
        sql_with("SELECT ", kVersionColumns, " FROM dag_versions WHERE dag_id = $1 AND version = $2");
    return read([&](pqxx::transaction_base& t) -> Result<DagVersionRecord> {
      auto r = exec(t, sql, params(dag_id, version));
      if (!r) return r.error();
      if (r->empty()) return Error::not_found("DAG " + dag_id + " has no version " + version);
      return version_row((*r)[0]);
    });
  }

  Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t, "UPDATE dags SET paused = $1, updated_at = $2 WHERE dag_id = $3 AND paused <> $1",
                    params(paused, now(), dag_id));
      if (!r) return r.error();
      if (r->affected_rows() == 0) {
        auto d = dag_in(t, dag_id);
        return d ? Result<bool>(true) : Result<bool>(d.error());  // unchanged, or no such DAG
      }
      if (auto a = audit(t, actor, paused ? "dag.paused" : "dag.unpaused", "dag:" + dag_id,
                         json{{"before", {{"paused", !paused}}}, {"after", {{"paused", paused}}}});
          !a)
        return a.error();
      return true;
    }));
  }

  // ---- runs ----

  Result<Created> create_run(const RunRecord& run, const std::vector<TaskInstanceRecord>& tis,
                             const std::string& actor, const std::vector<Fence>& fences,
                             const std::vector<DatasetCursor>& cursors) override {
    auto first = [&](pqxx::transaction_base& t) -> Result<std::optional<Created>> {
      static const std::string sql =
          sql_with("SELECT ", kRunColumns, " FROM dag_runs WHERE dag_id = $1 AND idempotency_key = $2");
      auto r = exec(t, sql, params(run.dag_id, *run.idempotency_key));
      if (!r) return r.error();
      if (r->empty()) return std::optional<Created>();
      Created c;
      c.run = run_row((*r)[0]);
      c.created = false;
      auto found = tis_in(t, c.run.pk);
      if (!found) return found.error();
      c.task_instances = std::move(*found);
      return std::optional<Created>(std::move(c));
    };
    auto made = write([&](pqxx::work& t) -> Result<Created> {
      if (auto f = check_fences(t, fences); !f) return f.error();
      if (run.idempotency_key) {
        auto f = first(t);
        if (!f) return f.error();
        if (*f) return std::move(**f);
      }
      Created c;
      c.run = run;
      c.run.created_at = clock_.now();
      auto ins = exec(t,
                      "INSERT INTO dag_runs (dag_id, run_id, run_type, state, logical_date, data_interval_start, "
                      "data_interval_end, params, dag_version, note, idempotency_key, backfill_id, created_by, "
                      "created_at, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                      "$13, $14, $15, $16) ON CONFLICT DO NOTHING RETURNING id",
                      params(run.dag_id, run.run_id, run.run_type, std::string(to_string(run.state)),
                             run.logical_date, run.data_interval_start, run.data_interval_end, run.params,
                             run.dag_version, run.note, run.idempotency_key, run.backfill_id, run.created_by,
                             c.run.created_at, run.started_at, run.ended_at));
      if (!ins) return ins.error();
      if (ins->empty()) {
        if (run.idempotency_key) return Error{"idempotent_race", ""};  // another process just created it
        return Error{"conflict", "DAG " + run.dag_id + " already has a run " +
                                     (run.run_type == "scheduled" || run.run_type == "backfill"
                                          ? "for the interval starting " + format_utc(run.logical_date)
                                          : "with id " + run.run_id)};
      }
      c.run.pk = (*ins)[0][0].as<long long>();
      c.task_instances = tis;
      if (auto s = insert_tis(t, c.run.pk, c.task_instances); !s) return s.error();
      for (auto& cur : cursors)
        if (auto r = exec(t,
                          "INSERT INTO dataset_consumers (dag_id, uri, last_event_id) VALUES ($1, $2, $3) "
                          "ON CONFLICT (dag_id, uri) DO UPDATE SET last_event_id = "
                          "greatest(dataset_consumers.last_event_id, excluded.last_event_id)",
                          params(cur.dag_id, cur.uri, cur.last_event_id));
            !r)
          return r.error();
      if (run.run_type == "manual" || run.run_type == "dataset") {
        json details = {{"run_id", run.run_id}, {"logical_date", format_utc(run.logical_date)},
                        {"params", json::parse(run.params, nullptr, false)}};
        if (run.note) details["note"] = *run.note;
        if (auto a = audit(t, actor, "run.triggered", "dag:" + run.dag_id + "/" + run.run_id, details); !a)
          return a.error();
      }
      return c;
    });
    if (made || made.error().code != "idempotent_race") return made;
    auto again = read([&](pqxx::transaction_base& t) { return first(t); });
    if (!again) return again.error();
    if (!*again) return Error{"conflict", "DAG " + run.dag_id + " already has a run with id " + run.run_id};
    return std::move(**again);
  }

  Result<std::vector<RunRecord>> list_runs(const RunFilter& f) override {
    static const std::string sql =
        sql_with("SELECT ", kRunColumns,
                 " FROM dag_runs WHERE ($1::text IS NULL OR dag_id = $1::text) "
                 "AND ($2::text IS NULL OR state = $2::text) AND ($3::text IS NULL OR run_type = $3::text) "
                 "AND (NOT $4::boolean OR state IN ('queued', 'running')) "
                 "AND ($5::bigint IS NULL OR logical_date < $5::bigint OR (logical_date = $5::bigint AND id < $6)) "
                 "ORDER BY logical_date DESC, id DESC LIMIT $7");
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<RunRecord>> {
      Params p;
      p.add(f.dag_id).add(f.state ? std::optional<std::string>(to_string(*f.state)) : std::nullopt).add(f.run_type);
      p.add(f.unfinished_only).add(f.before ? std::optional<TimePoint>(f.before->first) : std::nullopt);
      p.add(f.before ? f.before->second : 0LL).add(f.limit);
      auto r = exec(t, sql, p);
      if (!r) return r.error();
      std::vector<RunRecord> out;
      for (auto row : *r) out.push_back(run_row(row));
      return out;
    });
  }

  Result<std::optional<RunRecord>> find_run_by_key(const std::string& dag_id, const std::string& key) override {
    static const std::string sql =
        sql_with("SELECT ", kRunColumns, " FROM dag_runs WHERE dag_id = $1 AND idempotency_key = $2");
    return read([&](pqxx::transaction_base& t) -> Result<std::optional<RunRecord>> {
      auto r = exec(t, sql, params(dag_id, key));
      if (!r) return r.error();
      if (r->empty()) return std::optional<RunRecord>();
      return std::optional<RunRecord>(run_row((*r)[0]));
    });
  }

  Result<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override {
    static const std::string sql = sql_with("SELECT ", kRunColumns, " FROM dag_runs WHERE dag_id = $1 AND run_id = $2");
    return read([&](pqxx::transaction_base& t) -> Result<RunRecord> {
      auto r = exec(t, sql, params(dag_id, run_id));
      if (!r) return r.error();
      if (r->empty()) return Error::not_found("DAG " + dag_id + " has no run " + run_id);
      return run_row((*r)[0]);
    });
  }

  Result<std::vector<TaskInstanceRecord>> list_task_instances(long long run_pk) override {
    return read([&](pqxx::transaction_base& t) { return tis_in(t, run_pk); });
  }

  Result<std::vector<TaskInstanceRecord>> add_task_instances(long long run_pk,
                                                            const std::vector<TaskInstanceRecord>& tis,
                                                            const std::vector<Fence>& fences) override {
    return write([&](pqxx::work& t) -> Result<std::vector<TaskInstanceRecord>> {
      if (auto f = check_fences(t, fences); !f) return f.error();
      std::vector<TaskInstanceRecord> out = tis;
      if (auto s = insert_tis(t, run_pk, out); !s) return s.error();
      return out;
    });
  }

  Result<std::vector<TryRecord>> list_tries(long long ti_id) override {
    return read_tries("SELECT ti_id, try_number, state, worker, attempt_token, queued_at, started_at, ended_at, "
                      "exit_code, reason, log_path, log_bytes FROM task_tries WHERE ti_id = $1 ORDER BY try_number",
                      ti_id);
  }

  Result<std::vector<TryRecord>> list_run_tries(long long run_pk) override {
    return read_tries("SELECT y.ti_id, y.try_number, y.state, y.worker, y.attempt_token, y.queued_at, y.started_at, "
                      "y.ended_at, y.exit_code, y.reason, y.log_path, y.log_bytes FROM task_tries y "
                      "JOIN task_instances i ON i.id = y.ti_id WHERE i.run_pk = $1 ORDER BY y.ti_id, y.try_number",
                      run_pk);
  }

  Result<std::vector<TryRecord>> read_tries(const char* sql, long long key) {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<TryRecord>> {
      auto r = exec(t, sql, params(key));
      if (!r) return r.error();
      std::vector<TryRecord> out;
      for (auto row : *r) {
        TryRecord x;
        x.ti_id = row[0].as<long long>();
        x.try_number = row[1].as<int>();
        x.state = task_state_from_string(row[2].c_str()).value_or(TaskState::failed);
        x.worker = opt_text(row[3]);
        x.attempt_token = opt_text(row[4]);
        x.queued_at = opt_tp(row[5]);
        x.started_at = opt_tp(row[6]);
        x.ended_at = opt_tp(row[7]);
        x.exit_code = opt_int(row[8]);
        x.reason = opt_text(row[9]);
        x.log_path = opt_text(row[10]);
        x.log_bytes = row[11].as<long long>();
        out.push_back(std::move(x));
      }
      return out;
    });
  }

  Result<std::optional<RunRecord>> previous_run(const std::string& dag_id, TimePoint logical_date) override {
    static const std::string sql = sql_with("SELECT ", kRunColumns,
                                            " FROM dag_runs WHERE dag_id = $1 AND logical_date < $2 "
                                            "ORDER BY logical_date DESC, id DESC LIMIT 1");
    return read([&](pqxx::transaction_base& t) -> Result<std::optional<RunRecord>> {
      auto r = exec(t, sql, params(dag_id, logical_date));
      if (!r) return r.error();
      if (r->empty()) return std::optional<RunRecord>();
      return std::optional<RunRecord>(run_row((*r)[0]));
    });
  }

  Status apply(const WriteBatch& b) override {
    if (b.empty()) return {};
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      if (auto f = check_fences(t, b.fences); !f) return f.error();
      for (auto& run : b.runs)
        if (auto r = exec(t, "UPDATE dag_runs SET state = $1, started_at = $2, ended_at = $3, dag_version = $4, "
                             "backfill_id = $5 WHERE id = $6",
                          params(std::string(to_string(run.state)), run.started_at, run.ended_at, run.dag_version,
                                 run.backfill_id, run.pk));
            !r)
          return r.error();
      if (!b.task_instances.empty())
        if (auto r = update_tis(t, b.task_instances); !r) return r.error();
      if (!b.tries.empty())
        if (auto r = upsert_tries(t, b.tries); !r) return r.error();
      for (auto& n : b.notifications)
        if (auto r = insert_notification(t, n); !r) return r.error();
      for (auto& m : b.sla_misses) {
        auto fresh = insert_sla_miss(t, m.miss);
        if (!fresh) return fresh.error();
        if (*fresh)
          for (auto& n : m.notifications)
            if (auto r = insert_notification(t, n); !r) return r.error();
      }
      for (auto& e : b.dataset_events)
        if (auto r = insert_dataset_event(t, e); !r) return r.error();
      for (auto& f : b.backfills)
        if (auto r = exec(t,
                          "UPDATE backfills SET state = $1, total = $2, done = $3, failed = $4, cursor_at = $5, "
                          "ended_at = $6 WHERE id = $7",
                          params(f.state, f.total, f.done, f.failed, f.cursor_at, f.ended_at, f.id));
            !r)
          return r.error();
      for (auto& [dag_id, tick] : b.last_ticks)
        if (auto r = exec(t,
                          "UPDATE dags SET last_tick = $1 WHERE dag_id = $2 AND (last_tick IS NULL OR last_tick < $1)",
                          params(tick, dag_id));
            !r)
          return r.error();
      if (!b.enqueue.empty()) {
        Column token, ti_id, run_pk, task_index, try_number, partition, queue, priority, payload, queued_at, pool,
            pool_slots;
        for (auto& q : b.enqueue) {
          token.add(q.attempt_token);
          ti_id.add(q.ti_id);
          run_pk.add(q.run_pk);
          task_index.add(q.task_index);
          try_number.add(q.try_number);
          partition.add(q.partition);
          queue.add(q.queue);
          priority.add(q.priority);
          payload.add(q.payload);
          queued_at.add(q.queued_at);
          pool.add(q.pool);
          pool_slots.add(q.pool_slots);
        }
        if (auto r = exec(t,
                          "INSERT INTO task_queue (attempt_token, ti_id, run_pk, task_index, try_number, partition_no, "
                          "queue, priority, payload, queued_at, pool, pool_slots) SELECT * FROM unnest($1::text[], "
                          "$2::bigint[], $3::bigint[], $4::int[], $5::int[], $6::int[], $7::text[], $8::int[], "
                          "$9::text[], $10::bigint[], $11::text[], $12::int[]) ON CONFLICT (attempt_token) DO NOTHING",
                          params(token.text(), ti_id.text(), run_pk.text(), task_index.text(), try_number.text(),
                                 partition.text(), queue.text(), priority.text(), payload.text(), queued_at.text(),
                                 pool.text(), pool_slots.text()));
            !r)
          return r.error();
        if (auto r = exec(t, "SELECT pg_notify('baton_queue', '')", {}); !r) return r.error();
      }
      if (!b.dequeue.empty()) {
        Column tokens;
        for (auto& x : b.dequeue) tokens.add(x);
        if (auto r = exec(t, "DELETE FROM task_queue WHERE attempt_token = ANY($1::text[])", params(tokens.text())); !r)
          return r.error();
      }
      if (!b.events_done.empty()) {
        Column ids;
        for (long long x : b.events_done) ids.add(x);
        if (auto r = exec(t, "DELETE FROM worker_events WHERE id = ANY($1::bigint[])", params(ids.text())); !r)
          return r.error();
      }
      for (auto& c : b.command_results)
        if (auto r = exec(t,
                          "UPDATE commands SET processed_at = $1, status = $2, result = $3 "
                          "WHERE id = $4 AND processed_at IS NULL",
                          params(now(), c.status, c.result, c.id));
            !r)
          return r.error();
      if (!b.command_results.empty())
        if (auto r = exec(t, "SELECT pg_notify('baton_commands', '')", {}); !r) return r.error();
      for (auto& a : b.audit) {
        json details = json::parse(a.details, nullptr, false);
        if (details.is_discarded() || !details.is_object()) details = json::object();
        if (auto e = audit(t, a.actor, a.action, a.target, details); !e) return e.error();
      }
      return true;
    }));
  }

  // ---- backfills ----

  Result<CreatedBackfill> create_backfill(const BackfillRecord& in, const std::string& actor) override {
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

  Result<BackfillRecord> get_backfill(long long id) override {
    static const std::string sql = sql_with("SELECT ", kBackfillColumns, " FROM backfills WHERE id = $1");
    return read([&](pqxx::transaction_base& t) -> Result<BackfillRecord> {
      auto r = exec(t, sql, params(id));
      if (!r) return r.error();
      if (r->empty()) return Error::not_found("no backfill " + std::to_string(id));
      return backfill_row((*r)[0]);
    });
  }

  Result<std::vector<BackfillRecord>> list_backfills(const std::optional<std::string>& dag_id, bool unfinished_only,
                                                     long long before_id, int limit) override {
    static const std::string sql = sql_with("SELECT ", kBackfillColumns,
                                            " FROM backfills WHERE ($1::text IS NULL OR dag_id = $1::text) "
                                            "AND (NOT $2::boolean OR state = 'running') AND ($3 = 0 OR id < $3) "
                                            "ORDER BY id DESC LIMIT $4");
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<BackfillRecord>> {
      auto r = exec(t, sql, params(dag_id, unfinished_only, before_id, limit));
      if (!r) return r.error();
      std::vector<BackfillRecord> out;
      for (auto row : *r) out.push_back(backfill_row(row));
      return out;
    });
  }

  Result<std::vector<RunRecord>> runs_between(const std::string& dag_id, TimePoint from, TimePoint to) override {
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

  // ---- notifications ----

  // Members share the outbox: what one takes is claimed (its next attempt
  // moved 5 minutes on, rows another holds skipped) until it records the
  // outcome; a member that dies in between leaves it to the others then.
  Result<std::vector<NotificationRecord>> due_notifications(TimePoint at, int limit) override {
    static const std::string sql = sql_with(
        "UPDATE notifications SET next_attempt_at = $3 WHERE id IN (SELECT id FROM notifications WHERE state = "
        "'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ",
        kNotificationColumns, "");
    return write([&](pqxx::work& t) -> Result<std::vector<NotificationRecord>> {
      auto r = exec(t, sql, params(at, limit, at + std::chrono::minutes(5)));
      if (!r) return r.error();
      return notification_rows(*r);
    });
  }

  Result<std::vector<NotificationRecord>> list_notifications(const std::string& dag_id, int limit) override {
    static const std::string sql =
        sql_with("SELECT ", kNotificationColumns, " FROM notifications WHERE dag_id = $1 ORDER BY id LIMIT $2");
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<NotificationRecord>> {
      auto r = exec(t, sql, params(dag_id, limit));
      if (!r) return r.error();
      return notification_rows(*r);
    });
  }

  Status update_notification(const NotificationRecord& n) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t,
                    "UPDATE notifications SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4 "
                    "WHERE id = $5",
                    params(n.state, n.attempts, n.next_attempt_at, n.last_error, n.id));
      if (!r) return r.error();
      return true;
    }));
  }

  // ---- SLA misses and counts ----

  Result<bool> record_sla_miss(const SlaMiss& m) override {
    return write([&](pqxx::work& t) { return insert_sla_miss(t, m); });
  }

  // True when the miss is new.
  Result<bool> insert_sla_miss(pqxx::transaction_base& t, const SlaMiss& m) {
    auto r = exec(t,
                  "INSERT INTO sla_misses (dag_id, run_id, task_id, kind, deadline, detected_at) "
                  "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dag_id, run_id, task_id, kind) DO NOTHING",
                  params(m.dag_id, m.run_id, m.task_id, m.kind, m.deadline, m.detected_at));
    if (!r) return r.error();
    return r->affected_rows() > 0;
  }

  Status insert_notification(pqxx::transaction_base& t, const NotificationRecord& n) {
    auto r = exec(t,
                  "INSERT INTO notifications (event, dag_id, target_kind, target, payload, attempts, "
                  "next_attempt_at, state, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, 'pending', $7)",
                  params(n.event, n.dag_id, n.target_kind, n.target, n.payload, n.next_attempt_at, now()));
    if (!r) return r.error();
    return {};
  }

  Result<DatasetEvent> record_dataset_event(const DatasetEvent& e) override {
    return write([&](pqxx::work& t) { return insert_dataset_event(t, e); });
  }

  Result<std::vector<DatasetEvent>> list_dataset_events(const std::optional<std::string>& uri, long long after_id,
                                                        int limit) override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<DatasetEvent>> {
      auto r = exec(t,
                    "SELECT id, uri, at, extra, source_dag_id, source_run_id, source_task_id FROM dataset_events "
                    "WHERE id > $1 AND ($2::text IS NULL OR uri = $2::text) ORDER BY id LIMIT $3",
                    params(after_id, uri, limit));
      if (!r) return r.error();
      std::vector<DatasetEvent> out;
      for (auto row : *r)
        out.push_back({row[0].as<long long>(), row[1].c_str(), tp(row[2].as<long long>()), row[3].c_str(),
                       opt_text(row[4]), opt_text(row[5]), opt_text(row[6])});
      return out;
    });
  }

  Result<long long> last_dataset_event_id() override {
    return read([&](pqxx::transaction_base& t) -> Result<long long> {
      auto r = exec(t, "SELECT coalesce(max(id), 0) FROM dataset_events", {});
      if (!r) return r.error();
      return (*r)[0][0].as<long long>();
    });
  }

  Result<std::vector<DatasetCursor>> dataset_cursors(const std::string& dag_id) override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<DatasetCursor>> {
      auto r = exec(t, "SELECT dag_id, uri, last_event_id FROM dataset_consumers WHERE dag_id = $1 ORDER BY uri",
                    params(dag_id));
      if (!r) return r.error();
      std::vector<DatasetCursor> out;
      for (auto row : *r) out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<long long>()});
      return out;
    });
  }

  Result<std::vector<SlaMiss>> list_sla_misses(const std::optional<std::string>& dag_id, std::optional<TimePoint> since,
                                               long long after_id, int limit) override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<SlaMiss>> {
      auto r = exec(t,
                    "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at FROM sla_misses WHERE id > $1 "
                    "AND ($2::text IS NULL OR dag_id = $2::text) AND ($3::bigint IS NULL OR detected_at >= $3::bigint) "
                    "ORDER BY id LIMIT $4",
                    params(after_id, dag_id, since, limit));
      if (!r) return r.error();
      std::vector<SlaMiss> out;
      for (auto row : *r)
        out.push_back({row[0].as<long long>(), row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str(),
                       tp(row[5].as<long long>()), tp(row[6].as<long long>())});
      return out;
    });
  }

  Result<StateCounts> count_states() override {
    return snapshot([&](pqxx::transaction_base& t) -> Result<StateCounts> {
      StateCounts c;
      for (auto row : t.exec("SELECT state, count(*) FROM dag_runs GROUP BY state"))
        c.runs[row[0].c_str()] = row[1].as<long long>();
      for (auto row : t.exec("SELECT state, count(*) FROM task_instances GROUP BY state"))
        c.task_instances[row[0].c_str()] = row[1].as<long long>();
      c.sla_misses = t.exec("SELECT count(*) FROM sla_misses")[0][0].as<long long>();
      return c;
    });
  }

  // ---- members and partitions ----

  Status heartbeat_member(const MemberRecord& m) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t,
                    "INSERT INTO scheduler_members (member_id, host, pid, started_at, heartbeat_at, lease_expires_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (member_id) DO UPDATE SET host = $2, pid = $3, "
                    "heartbeat_at = $5, lease_expires_at = $6",
                    params(m.member_id, m.host, m.pid, m.started_at, m.heartbeat_at, m.lease_expires_at));
      if (!r) return r.error();
      return true;
    }));
  }

  Status remove_member(const std::string& member_id) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t, "DELETE FROM scheduler_members WHERE member_id = $1", params(member_id));
      if (!r) return r.error();
      return true;
    }));
  }

  Result<std::vector<MemberRecord>> list_members() override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<MemberRecord>> {
      auto r = exec(t,
                    "SELECT member_id, host, pid, started_at, heartbeat_at, lease_expires_at FROM scheduler_members "
                    "ORDER BY member_id",
                    {});
      if (!r) return r.error();
      std::vector<MemberRecord> out;
      for (auto row : *r)
        out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<int>(), tp(row[3].as<long long>()),
                       tp(row[4].as<long long>()), tp(row[5].as<long long>())});
      return out;
    });
  }

  // The member's lock is free (this session could take it): its process is gone.
  Result<bool> member_alive(const std::string& member_id) override {
    return read([&](pqxx::transaction_base& t) -> Result<bool> {
      auto r = exec(t,
                    "SELECT CASE WHEN pg_try_advisory_lock(k) THEN NOT pg_advisory_unlock(k) ELSE true END FROM "
                    "(SELECT hashtext('baton.member:' || current_setting('search_path') || ':' || $1) AS k) x",
                    params(member_id));
      if (!r) return r.error();
      return (*r)[0][0].as<bool>();
    });
  }

  Result<std::vector<PartitionRecord>> list_partitions() override {
    return read([&](pqxx::transaction_base& t) { return partitions_in(t); });
  }

  Result<std::vector<PartitionRecord>> assign_partitions(
      const std::vector<std::pair<int, std::optional<std::string>>>& owners, const std::string& actor) override {
    return write([&](pqxx::work& t) -> Result<std::vector<PartitionRecord>> {
      json moved = json::array();
      for (auto& [p, owner] : owners) {
        auto r = exec(t,
                      "INSERT INTO partitions (partition_no, owner, epoch, assigned_at) VALUES ($1, $2, 1, $3) "
                      "ON CONFLICT (partition_no) DO UPDATE SET owner = excluded.owner, epoch = partitions.epoch + 1, "
                      "assigned_at = excluded.assigned_at WHERE partitions.owner IS DISTINCT FROM excluded.owner",
                      params(p, owner, now()));
        if (!r) return r.error();
        if (r->affected_rows() > 0) moved.push_back({{"partition", p}, {"owner", owner ? json(*owner) : json(nullptr)}});
      }
      if (!moved.empty()) {
        if (auto a = audit(t, actor, "partitions.assigned", "partitions", json{{"moved", moved}}); !a)
          return a.error();
        if (auto n = exec(t, "SELECT pg_notify('baton_partitions', '')", {}); !n) return n.error();
      }
      return partitions_in(t);
    });
  }

  // ---- leader, remote workers, intents ----

  Status set_leader(const std::string& member_id) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t,
                    "INSERT INTO settings (key, value) VALUES ('leader', $1) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params(member_id));
      if (!r) return r.error();
      return true;
    }));
  }

  Result<std::optional<std::string>> get_leader() override {
    return read([&](pqxx::transaction_base& t) -> Result<std::optional<std::string>> {
      auto r = exec(t, "SELECT value FROM settings WHERE key = 'leader'", {});
      if (!r) return r.error();
      if (r->empty()) return std::optional<std::string>();
      return std::optional<std::string>((*r)[0][0].c_str());
    });
  }

  // Pools hold across members (SPEC §3, §9): a claim takes a try only while
  // its pool has slots left over the tries every worker holds. The pools'
  // rows are locked first, so two workers claiming at once cannot both take
  // the last slot (claims are short; they queue behind each other there).
  // A try whose pool was deleted after it was queued is not held back.
  Result<std::vector<QueueItem>> claim_tasks(const std::string& worker, const std::vector<std::string>& queues,
                                             int limit) override {
    return write([&](pqxx::work& t) -> Result<std::vector<QueueItem>> {
      Column qs;
      for (auto& q : queues) qs.add(q);
      // Nothing queued for these queues (an idle worker's long poll asks
      // again and again): answered without taking the pools' locks.
      auto any = exec(t, "SELECT 1 FROM task_queue WHERE worker IS NULL AND queue = ANY($1::text[]) LIMIT 1",
                      params(qs.text()));
      if (!any) return any.error();
      if (any->empty()) return std::vector<QueueItem>();
      auto pools = exec(t, "SELECT name, slots FROM pools ORDER BY name FOR UPDATE", {});
      if (!pools) return pools.error();
      std::map<std::string, long long> left;
      for (auto row : *pools) left[row[0].c_str()] = row[1].as<long long>();
      auto held = exec(t, "SELECT pool, sum(pool_slots) FROM task_queue WHERE worker IS NOT NULL GROUP BY pool", {});
      if (!held) return held.error();
      for (auto row : *held)
        if (auto it = left.find(row[0].c_str()); it != left.end()) it->second -= row[1].as<long long>();
      Column names, room;
      for (auto& [name, n] : left) {
        names.add(name);
        room.add(n);
      }
      // Candidates in claim order, each fitting in what its pool has left
      // (so a head of tries that do not fit holds up no other pool's); the
      // loop below keeps their sum within it.
      auto cand = exec(t,
                       "SELECT q.attempt_token, q.pool, q.pool_slots FROM task_queue q "
                       "LEFT JOIN unnest($2::text[], $3::bigint[]) AS l(name, room) ON l.name = q.pool "
                       "WHERE q.worker IS NULL AND q.queue = ANY($1::text[]) "
                       "AND (l.name IS NULL OR q.pool_slots <= l.room) "
                       "ORDER BY q.priority DESC, q.seq LIMIT $4 FOR UPDATE OF q SKIP LOCKED",
                       params(qs.text(), names.text(), room.text(), limit * 2 + 8));
      if (!cand) return cand.error();
      Column take;
      int taken = 0;
      for (auto row : *cand) {
        if (taken >= limit) break;
        auto it = left.find(row[1].c_str());
        const long long need = row[2].as<long long>();
        if (it != left.end()) {
          if (it->second < need) continue;
          it->second -= need;
        }
        take.add(std::string(row[0].c_str()));
        ++taken;
      }
      if (taken == 0) return std::vector<QueueItem>();
      // Claim, and record a started event for each owner.
      auto r = exec(t,
                    "WITH claimed AS (UPDATE task_queue q SET worker = $1, claimed_at = $3, heartbeat_at = $3 "
                    "WHERE q.attempt_token = ANY($2::text[]) RETURNING q.*), "
                    "ev AS (INSERT INTO worker_events (partition_no, attempt_token, run_pk, task_index, kind, worker, at) "
                    "SELECT partition_no, attempt_token, run_pk, task_index, 'started', $1, $3 FROM claimed) "
                    "SELECT c.attempt_token, c.ti_id, c.run_pk, c.task_index, c.try_number, c.partition_no, c.queue, "
                    "c.priority, c.payload, c.queued_at, ti.checkpoint, c.pool, c.pool_slots FROM claimed c "
                    "LEFT JOIN task_instances ti ON ti.id = c.ti_id ORDER BY c.priority DESC, c.seq",
                    params(worker, take.text(), now()));
      if (!r) return r.error();
      std::vector<QueueItem> out;
      for (auto row : *r) {
        QueueItem q;
        q.attempt_token = row[0].c_str();
        q.ti_id = row[1].as<long long>();
        q.run_pk = row[2].as<long long>();
        q.task_index = row[3].as<int>();
        q.try_number = row[4].as<int>();
        q.partition = row[5].as<int>();
        q.queue = row[6].c_str();
        q.priority = row[7].as<int>();
        q.payload = row[8].c_str();
        q.queued_at = tp(row[9].as<long long>());
        q.worker = worker;
        if (!row[10].is_null()) q.checkpoint = pqxx::binarystring(row[10]).str();
        q.pool = row[11].c_str();
        q.pool_slots = row[12].as<int>();
        out.push_back(std::move(q));
      }
      // Each owner is woken for its own partitions only (see listener_main).
      std::set<int> parts;
      for (auto& q : out) parts.insert(q.partition);
      for (int p : parts)
        if (auto n = exec(t, "SELECT pg_notify('baton_events', $1)", params("e:" + std::to_string(p))); !n)
          return n.error();
      return out;
    });
  }

  Result<std::vector<std::string>> heartbeat_tasks(const std::string& worker,
                                                   const std::vector<std::string>& tokens) override {
    if (tokens.empty()) return std::vector<std::string>();
    return write([&](pqxx::work& t) -> Result<std::vector<std::string>> {
      Column ts;
      for (auto& x : tokens) ts.add(x);
      auto r = exec(t,
                    "WITH held AS (UPDATE task_queue SET heartbeat_at = $2 WHERE worker = $1 "
                    "AND attempt_token = ANY($3::text[]) RETURNING attempt_token) "
                    "SELECT x FROM unnest($3::text[]) AS x WHERE x NOT IN (SELECT attempt_token FROM held)",
                    params(worker, now(), ts.text()));
      if (!r) return r.error();
      std::vector<std::string> stale;
      for (auto row : *r) stale.push_back(row[0].c_str());
      return stale;
    });
  }

  Status report_task(const std::string& worker, const std::string& attempt_token,
                     const std::string& report_json) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t,
                    "WITH done AS (DELETE FROM task_queue WHERE attempt_token = $1 AND worker = $2 "
                    "RETURNING partition_no, attempt_token, run_pk, task_index), "
                    "ev AS (INSERT INTO worker_events (partition_no, attempt_token, run_pk, task_index, kind, worker, "
                    "body, at) SELECT partition_no, attempt_token, run_pk, task_index, 'finished', $2, $3, $4 FROM done "
                    "RETURNING partition_no) "
                    "SELECT pg_notify('baton_events', 'e:' || partition_no) FROM ev",
                    params(attempt_token, worker, report_json, now()));
      if (!r) return r.error();
      if (r->empty())
        return Error{"conflict", "stale report: try " + attempt_token + " is not held by worker " + worker +
                                     " (it was failed, canceled or handed to another worker)"};
      return true;
    }));
  }

  Result<std::vector<WorkerEvent>> worker_events(const std::vector<int>& partitions, int limit) override {
    if (partitions.empty()) return std::vector<WorkerEvent>();
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<WorkerEvent>> {
      Column ps;
      for (int p : partitions) ps.add(p);
      auto r = exec(t,
                    "SELECT id, partition_no, attempt_token, run_pk, task_index, kind, worker, body, at FROM "
                    "worker_events WHERE partition_no = ANY($1::int[]) ORDER BY id LIMIT $2",
                    params(ps.text(), limit));
      if (!r) return r.error();
      std::vector<WorkerEvent> out;
      for (auto row : *r)
        out.push_back({row[0].as<long long>(), row[1].as<int>(), row[2].c_str(), row[3].as<long long>(),
                       row[4].as<int>(), row[5].c_str(), row[6].c_str(), row[7].c_str(), tp(row[8].as<long long>())});
      return out;
    });
  }

  Result<std::map<std::string, long long>> held_pool_slots() override {
    return read([&](pqxx::transaction_base& t) -> Result<std::map<std::string, long long>> {
      auto r = exec(t, "SELECT pool, sum(pool_slots) FROM task_queue WHERE worker IS NOT NULL GROUP BY pool", {});
      if (!r) return r.error();
      std::map<std::string, long long> out;
      for (auto row : *r) out[row[0].c_str()] = row[1].as<long long>();
      return out;
    });
  }

  Result<std::vector<std::string>> lost_tries(const std::vector<std::string>& tokens, TimePoint cutoff) override {
    if (tokens.empty()) return std::vector<std::string>();
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<std::string>> {
      Column ts;
      for (auto& x : tokens) ts.add(x);
      auto r = exec(t,
                    "SELECT x FROM unnest($1::text[]) AS x WHERE NOT EXISTS (SELECT 1 FROM task_queue q "
                    "WHERE q.attempt_token = x AND (q.worker IS NULL OR q.heartbeat_at >= $2)) "
                    "AND NOT EXISTS (SELECT 1 FROM worker_events e WHERE e.attempt_token = x AND e.kind = 'finished')",
                    params(ts.text(), cutoff));
      if (!r) return r.error();
      std::vector<std::string> out;
      for (auto row : *r) out.push_back(row[0].c_str());
      return out;
    });
  }

  Status append_log(long long ti_id, int try_number, long long offset, const std::string& data) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      // A chunk sent again from the same offset may hold more: the longer one stays.
      t.exec_params("INSERT INTO try_logs (ti_id, try_number, offset_bytes, data) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (ti_id, try_number, offset_bytes) DO UPDATE SET data = excluded.data "
                    "WHERE length(excluded.data) > length(try_logs.data)",
                    ti_id, try_number, offset, pqxx::binarystring(data));
      return true;
    }));
  }

  Result<std::optional<std::string>> read_log(long long ti_id, int try_number, long long offset,
                                              long long max_bytes) override {
    return read([&](pqxx::transaction_base& t) -> Result<std::optional<std::string>> {
      auto any = exec(t, "SELECT 1 FROM try_logs WHERE ti_id = $1 AND try_number = $2 LIMIT 1",
                      params(ti_id, try_number));
      if (!any) return any.error();
      if (any->empty()) return std::optional<std::string>();
      auto r = exec(t,
                    "SELECT offset_bytes, data FROM try_logs WHERE ti_id = $1 AND try_number = $2 "
                    "AND offset_bytes + length(data) > $3 ORDER BY offset_bytes",
                    params(ti_id, try_number, offset));
      if (!r) return r.error();
      std::string out;
      long long at = offset;
      for (auto row : *r) {
        long long start = row[0].as<long long>();
        std::string data = pqxx::binarystring(row[1]).str();
        if (start > at) break;  // a gap: a chunk not stored yet
        long long end = start + static_cast<long long>(data.size());
        if (end <= at) continue;  // a chunk sent twice
        out += data.substr(static_cast<size_t>(at - start));
        at = end;
        if (static_cast<long long>(out.size()) >= max_bytes) {
          out.resize(static_cast<size_t>(max_bytes));
          break;
        }
      }
      return std::optional<std::string>(out);
    });
  }

  static CommandRecord command_row(const pqxx::row& row) {
    CommandRecord c;
    c.id = row[0].as<long long>();
    c.kind = row[1].c_str();
    c.dag_id = row[2].is_null() ? "" : row[2].c_str();
    c.partition = row[3].as<int>();
    c.payload = row[4].c_str();
    c.created_by = row[5].c_str();
    c.created_at = tp(row[6].as<long long>());
    c.processed_at = opt_tp(row[7]);
    c.status = opt_text(row[8]);
    c.result = opt_text(row[9]);
    return c;
  }
  static constexpr const char* kCommandColumns =
      "id, kind, dag_id, partition_no, payload, created_by, created_at, processed_at, status, result";

  Result<long long> enqueue_command(const CommandRecord& c) override {
    return write([&](pqxx::work& t) -> Result<long long> {
      auto r = exec(t,
                    "INSERT INTO commands (kind, dag_id, partition_no, payload, created_by, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    params(c.kind, c.dag_id, c.partition, c.payload, c.created_by, now()));
      if (!r) return r.error();
      if (auto n = exec(t, "SELECT pg_notify('baton_events', $1)", params("c:" + std::to_string(c.partition))); !n)
        return n.error();
      return (*r)[0][0].as<long long>();
    });
  }

  Result<std::vector<CommandRecord>> pending_commands(const std::vector<int>& partitions, int limit) override {
    if (partitions.empty()) return std::vector<CommandRecord>();
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<CommandRecord>> {
      Column ps;
      for (int p : partitions) ps.add(p);
      static const std::string sql = sql_with("SELECT ", kCommandColumns,
                                              " FROM commands WHERE processed_at IS NULL AND partition_no = "
                                              "ANY($1::int[]) AND created_at > $3 ORDER BY id LIMIT $2");
      // Older than its caller's wait: given up (expire_command), or soon will be.
      auto r = exec(t, sql, params(ps.text(), limit, now() - 30000000LL));
      if (!r) return r.error();
      std::vector<CommandRecord> out;
      for (auto row : *r) out.push_back(command_row(row));
      return out;
    });
  }

  Result<bool> expire_command(long long id) override {
    return write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t,
                    "UPDATE commands SET processed_at = $1, status = 'unavailable', result = "
                    "'{\"message\": \"expired: no scheduler member carried it out in time\"}' "
                    "WHERE id = $2 AND processed_at IS NULL",
                    params(now(), id));
      if (!r) return r.error();
      return r->affected_rows() > 0;
    });
  }

  Result<long long> prune_commands(TimePoint before) override {
    return write([&](pqxx::work& t) -> Result<long long> {
      auto r = exec(t, "DELETE FROM commands WHERE processed_at < $1", params(before));
      if (!r) return r.error();
      return static_cast<long long>(r->affected_rows());
    });
  }

  Status break_leader_lock(const std::string& member_id) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      // The advisory lock of a bigint key k shows in pg_locks as classid =
      // the high 32 bits of k, objid = the low 32 bits, objsubid = 1.
      auto r = exec(t,
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid, "
                    "(SELECT hashtext('baton.leader:' || current_setting('search_path'))::bigint AS k) x "
                    "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "AND l.classid::bigint = ((x.k >> 32) & 4294967295) AND l.objid::bigint = (x.k & 4294967295) "
                    "AND a.application_name = left('baton leader ' || $1, 63)",
                    params(member_id));
      if (!r) return r.error();
      return true;
    }));
  }

  Result<CommandRecord> get_command(long long id) override {
    return read([&](pqxx::transaction_base& t) -> Result<CommandRecord> {
      static const std::string sql = sql_with("SELECT ", kCommandColumns, " FROM commands WHERE id = $1");
      auto r = exec(t, sql, params(id));
      if (!r) return r.error();
      if (r->empty()) return Error::not_found("no command " + std::to_string(id));
      return command_row((*r)[0]);
    });
  }

  Status save_checkpoint(long long ti_id, const std::string& attempt_token, const std::string& data) override {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      // bytea, bound as binary: a checkpoint may hold any bytes.
      long long at = now();
      auto r = t.exec_params(
          "UPDATE task_instances SET checkpoint = $1, checkpoint_at = $2, last_activity_at = $2 "
          "WHERE id = $3 AND attempt_token = $4",
          pqxx::binarystring(data), at, ti_id, attempt_token);
      if (r.affected_rows() == 0)
        return Error{"conflict", "stale attempt token: the try was failed or handed to another worker"};
      return true;
    }));
  }

  Result<std::optional<std::string>> load_checkpoint(long long ti_id) override {
    return read([&](pqxx::transaction_base& t) -> Result<std::optional<std::string>> {
      auto r = exec(t, "SELECT checkpoint FROM task_instances WHERE id = $1", params(ti_id));
      if (!r) return r.error();
      if (r->empty()) return Error::not_found("no task instance " + std::to_string(ti_id));
      if ((*r)[0][0].is_null()) return std::optional<std::string>();
      return std::optional<std::string>(pqxx::binarystring((*r)[0][0]).str());
    });
  }

  // ---- audit ----

  Result<AuditEntry> append_audit(const std::string& actor, const std::string& action, const std::string& target,
                                  const std::string& details_json) override {
    json details = json::parse(details_json, nullptr, false);
    if (details.is_discarded() || !details.is_object()) return Error::invalid("audit details must be a JSON object");
    return write([&](pqxx::work& t) { return audit(t, actor, action, target, details); });
  }

  Result<std::vector<AuditEntry>> list_audit(const AuditFilter& f) override {
    return read([&](pqxx::transaction_base& t) -> Result<std::vector<AuditEntry>> {
      Params p;
      p.add(f.after_id).add(f.dag_id).add(f.action).add(f.actor).add(f.since).add(f.limit).add(f.before_id);
      static const std::string where =
          "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log "
          "WHERE id > $1 AND ($7::bigint = 0 OR id < $7::bigint) AND ($2::text IS NULL OR target = 'dag:' || $2::text "
          "OR starts_with(target, 'dag:' || $2::text || '/')) "
          "AND ($3::text IS NULL OR action = $3::text) AND ($4::text IS NULL OR actor = $4::text) "
          "AND ($5::bigint IS NULL OR at >= $5::bigint) ";
      static const std::string oldest = where + "ORDER BY id LIMIT $6";
      static const std::string newest = where + "ORDER BY id DESC LIMIT $6";
      auto r = exec(t, f.newest_first ? newest : oldest, p);
      if (!r) return r.error();
      std::vector<AuditEntry> out;
      for (auto row : *r) out.push_back(audit_row(row));
      return out;
    });
  }

  Result<AuditCheck> verify_audit() override {
    return snapshot([&](pqxx::transaction_base& t) -> Result<AuditCheck> {
      AuditVerifier v;
      auto r = exec(t, "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log ORDER BY id", {});
      if (!r) return r.error();
      for (auto row : *r)
        if (!v.add(audit_row(row))) return v.finish(std::nullopt);
      auto head = exec(t, "SELECT value FROM settings WHERE key = 'audit_head'", {});
      if (!head) return head.error();
      return v.finish(head->empty() ? std::nullopt : std::optional<std::string>((*head)[0][0].c_str()));
    });
  }

 private:
  long long now() const { return clock_.now().time_since_epoch().count(); }

  static Status status_of(const Result<bool>& r) { return r ? Status() : Status(r.error()); }

  // Event ids are taken at insert but seen at commit: the transaction lock
  // makes them commit in the order they were taken, so a consumer that read
  // up to id N never sees a smaller id appear later (its cursor would pass it).
  Result<DatasetEvent> insert_dataset_event(pqxx::work& t, const DatasetEvent& e) {
    DatasetEvent out = e;
    if (out.at == TimePoint{}) out.at = clock_.now();
    if (auto l = exec(t, "SELECT pg_advisory_xact_lock(hashtext('baton.dataset_events:' || current_setting('search_path')))",
                      {});
        !l)
      return l.error();
    auto r = exec(t,
                  "INSERT INTO dataset_events (uri, at, extra, source_dag_id, source_run_id, source_task_id) "
                  "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                  params(out.uri, out.at, out.extra, out.source_dag_id, out.source_run_id, out.source_task_id));
    if (!r) return r.error();
    out.id = (*r)[0][0].as<long long>();
    return out;
  }

  // ---- connection and statements ----

  // The connection, opened on first use and again after it was lost. The
  // first schema of the URL's search_path (options=-csearch_path=NAME) is
  // created if missing, so that several Baton deployments (or tests) can
  // share one database, each in its own schema.
  void connect() {
    if (conn_ && conn_->is_open()) return;
    conn_.reset();
    prepared_.clear();
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
    conn_ = std::move(c);
  }

  // Runs fn under the lock, converting libpqxx's exceptions into errors: a
  // lost connection is `unavailable` (and is opened again next time).
  template <class F>
  auto call(F fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      return Error{"unavailable", "PostgreSQL " + url_.masked() + ": connection lost: " + first_line(e.what())};
    } catch (const pqxx::sql_error& e) {
      return Error{"database_error", "PostgreSQL: " + first_line(e.what())};
    } catch (const pqxx::failure& e) {
      conn_.reset();
      return Error{"unavailable", "PostgreSQL " + url_.masked() + ": " + first_line(e.what())};
    }
  }

  template <class F>
  auto write(F fn) -> decltype(fn(std::declval<pqxx::work&>())) {
    std::lock_guard lock(mu_);
    return call([&]() -> decltype(fn(std::declval<pqxx::work&>())) {
      connect();
      pqxx::work t(*conn_);
      auto r = fn(t);
      if (!r) {
        t.abort();
        return r;
      }
      t.commit();
      return r;
    });
  }

  // Reads of one statement run outside a transaction block (no BEGIN and
  // COMMIT round trips); `snapshot` reads that must agree with each other.
  template <class F>
  auto read(F fn) -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
    std::lock_guard lock(mu_);
    return call([&]() -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
      connect();
      pqxx::nontransaction t(*conn_);
      return fn(t);
    });
  }

  template <class F>
  auto snapshot(F fn) -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
    std::lock_guard lock(mu_);
    return call([&]() -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
      connect();
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> t(*conn_);
      auto r = fn(t);
      t.commit();
      return r;
    });
  }

  // A prepared statement per distinct SQL text, per connection.
  Result<pqxx::result> exec(pqxx::transaction_base& t, const std::string& sql, const Params& p) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "baton_" + std::to_string(prepared_.size() + 1);
      conn_->prepare(name, sql);
      it = prepared_.emplace(sql, name).first;
    }
    auto ptrs = p.pointers();
    return t.exec_prepared(it->second, pqxx::prepare::make_dynamic_params(ptrs));
  }

  static std::string first_line(const std::string& s) {
    std::string out = s.substr(0, s.find('\n'));
    return out.empty() ? s : out;
  }

  // ---- helpers inside a transaction ----

  Result<std::vector<MigrationInfo>> status(pqxx::transaction_base& t) {
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

  // Appends to the chain. The head row's lock serializes appends from every
  // process until this transaction ends, so ids stay contiguous.
  Result<AuditEntry> audit(pqxx::work& t, const std::string& actor, const std::string& action,
                           const std::string& target, const json& details) {
    auto head = exec(t, "SELECT value FROM settings WHERE key = 'audit_head' FOR UPDATE", {});
    if (!head) return head.error();
    AuditEntry e;
    e.prev_hash = kGenesisHash;
    auto last = exec(t, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", {});
    if (!last) return last.error();
    if (!last->empty()) {
      e.id = (*last)[0][0].as<long long>();
      e.prev_hash = (*last)[0][1].c_str();
    }
    ++e.id;
    e.at = clock_.now();
    e.actor = actor;
    e.action = action;
    e.target = target;
    e.details = details.dump(-1, ' ', false, json::error_handler_t::replace);
    e.hash = audit_hash(e);
    if (auto r = exec(t,
                      "INSERT INTO audit_log (id, at, actor, action, target, details, prev_hash, hash) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      params(e.id, e.at, e.actor, e.action, e.target, e.details, e.prev_hash, e.hash));
        !r)
      return r.error();
    if (auto r = exec(t,
                      "INSERT INTO settings (key, value) VALUES ('audit_head', $1) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      params(std::to_string(e.id) + ":" + e.hash));
        !r)
      return r.error();
    return e;
  }

  // The share lock holds off a reassignment (an UPDATE of the row) until
  // this transaction ends: the epoch checked is the epoch committed with.
  // Every partition in one statement.
  Result<bool> check_fences(pqxx::transaction_base& t, const std::vector<Fence>& fences) {
    if (fences.empty()) return true;
    Column parts;
    for (auto& f : fences) parts.add(f.partition);
    auto r = exec(t, "SELECT partition_no, epoch FROM partitions WHERE partition_no = ANY($1::int[]) FOR SHARE",
                  params(parts.text()));
    if (!r) return r.error();
    std::map<int, long long> epochs;
    for (auto row : *r) epochs[row[0].as<int>()] = row[1].as<long long>();
    for (auto& f : fences) {
      long long now_epoch = epochs.count(f.partition) ? epochs[f.partition] : 0;
      if (now_epoch != f.epoch)
        return Error{"stale_epoch", "partition " + std::to_string(f.partition) + " is at epoch " +
                                        std::to_string(now_epoch) + ", not " + std::to_string(f.epoch) +
                                        ": it moved to another scheduler, and this write is refused"};
    }
    return true;
  }

  Result<std::vector<PartitionRecord>> partitions_in(pqxx::transaction_base& t) {
    auto r = exec(t, "SELECT partition_no, owner, epoch, assigned_at FROM partitions ORDER BY partition_no", {});
    if (!r) return r.error();
    std::vector<PartitionRecord> out;
    for (auto row : *r) out.push_back({row[0].as<int>(), opt_text(row[1]), row[2].as<long long>(), opt_tp(row[3])});
    return out;
  }

  Result<DagRecord> dag_in(pqxx::transaction_base& t, const std::string& dag_id) {
    static const std::string sql = sql_with("SELECT ", kDagColumns, " FROM dags WHERE dag_id = $1");
    auto r = exec(t, sql, params(dag_id));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("no DAG \"" + dag_id + "\"");
    return dag_row((*r)[0]);
  }

  Result<Pool> pool_in(pqxx::transaction_base& t, const std::string& name) {
    auto r = exec(t, "SELECT name, slots, description FROM pools WHERE name = $1", params(name));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("no pool named \"" + name + "\"");
    return Pool{(*r)[0][0].c_str(), (*r)[0][1].as<int>(), (*r)[0][2].c_str()};
  }

  Result<std::vector<TaskInstanceRecord>> tis_in(pqxx::transaction_base& t, long long run_pk) {
    static const std::string sql = sql_with("SELECT ", kTiColumns, " FROM task_instances WHERE run_pk = $1 ORDER BY id");
    auto r = exec(t, sql, params(run_pk));
    if (!r) return r.error();
    std::vector<TaskInstanceRecord> out;
    for (auto row : *r) out.push_back(ti_row(row));
    return out;
  }

  // Every task instance row of a batch in one statement.
  Status update_tis(pqxx::transaction_base& t, const std::vector<TaskInstanceRecord>& rows) {
    Column id, state, try_number, max_tries, ready_at, wake_at, started_at, ended_at, worker, token, exit_code, reason,
        heartbeat_at, activity_at, output;
    for (const TaskInstanceRecord* x : last_per_key(rows, [](const TaskInstanceRecord& r) { return r.id; })) {
      id.add(x->id);
      state.add(std::string(to_string(x->state)));
      try_number.add(x->try_number);
      max_tries.add(x->max_tries);
      ready_at.add(x->ready_at);
      wake_at.add(x->wake_at);
      started_at.add(x->started_at);
      ended_at.add(x->ended_at);
      worker.add(x->worker);
      token.add(x->attempt_token);
      exit_code.add(x->exit_code);
      reason.add(x->reason);
      heartbeat_at.add(x->heartbeat_at);
      activity_at.add(x->last_activity_at);
      output.add(x->output);
    }
    auto r = exec(t,
                  "UPDATE task_instances AS t SET state = v.state, try_number = v.try_number, max_tries = v.max_tries, "
                  "ready_at = v.ready_at, wake_at = v.wake_at, started_at = v.started_at, ended_at = v.ended_at, "
                  "worker = v.worker, attempt_token = v.attempt_token, exit_code = v.exit_code, reason = v.reason, "
                  "heartbeat_at = v.heartbeat_at, last_activity_at = v.last_activity_at, output = v.output "
                  "FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::bigint[], $6::bigint[], "
                  "$7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::int[], $12::text[], $13::bigint[], "
                  "$14::bigint[], $15::text[]) AS v(id, state, try_number, max_tries, ready_at, wake_at, started_at, "
                  "ended_at, worker, attempt_token, exit_code, reason, heartbeat_at, last_activity_at, output) "
                  "WHERE t.id = v.id",
                  params(id.text(), state.text(), try_number.text(), max_tries.text(), ready_at.text(), wake_at.text(),
                         started_at.text(), ended_at.text(), worker.text(), token.text(), exit_code.text(),
                         reason.text(), heartbeat_at.text(), activity_at.text(), output.text()));
    if (!r) return r.error();
    return {};
  }

  Status upsert_tries(pqxx::transaction_base& t, const std::vector<TryRecord>& rows) {
    Column ti_id, try_number, state, worker, token, queued_at, started_at, ended_at, exit_code, reason, log_path,
        log_bytes;
    for (const TryRecord* x :
         last_per_key(rows, [](const TryRecord& r) { return std::make_pair(r.ti_id, r.try_number); })) {
      ti_id.add(x->ti_id);
      try_number.add(x->try_number);
      state.add(std::string(to_string(x->state)));
      worker.add(x->worker);
      token.add(x->attempt_token);
      queued_at.add(x->queued_at);
      started_at.add(x->started_at);
      ended_at.add(x->ended_at);
      exit_code.add(x->exit_code);
      reason.add(x->reason);
      log_path.add(x->log_path);
      log_bytes.add(x->log_bytes);
    }
    auto r = exec(t,
                  "INSERT INTO task_tries (ti_id, try_number, state, worker, attempt_token, queued_at, started_at, "
                  "ended_at, exit_code, reason, log_path, log_bytes) SELECT * FROM unnest($1::bigint[], $2::int[], "
                  "$3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::int[], "
                  "$10::text[], $11::text[], $12::bigint[]) ON CONFLICT (ti_id, try_number) DO UPDATE SET "
                  "state = excluded.state, worker = excluded.worker, attempt_token = excluded.attempt_token, "
                  "queued_at = excluded.queued_at, started_at = excluded.started_at, ended_at = excluded.ended_at, "
                  "exit_code = excluded.exit_code, reason = excluded.reason, log_path = excluded.log_path, "
                  "log_bytes = excluded.log_bytes",
                  params(ti_id.text(), try_number.text(), state.text(), worker.text(), token.text(), queued_at.text(),
                         started_at.text(), ended_at.text(), exit_code.text(), reason.text(), log_path.text(),
                         log_bytes.text()));
    if (!r) return r.error();
    return {};
  }

  // New task instances of one run in one statement; ids filled in.
  Status insert_tis(pqxx::transaction_base& t, long long run_pk, std::vector<TaskInstanceRecord>& rows) {
    if (rows.empty()) return {};
    Column task_id, map_index, state, try_number, max_tries, queue, pool, pool_slots, priority, ready_at, wake_at, item;
    for (auto& x : rows) {
      x.run_pk = run_pk;
      task_id.add(x.task_id);
      map_index.add(x.map_index);
      state.add(std::string(to_string(x.state)));
      try_number.add(x.try_number);
      max_tries.add(x.max_tries);
      queue.add(x.queue);
      pool.add(x.pool);
      pool_slots.add(x.pool_slots);
      priority.add(x.priority);
      ready_at.add(x.ready_at);
      wake_at.add(x.wake_at);
      item.add(x.item);
    }
    auto r = exec(t,
                  "INSERT INTO task_instances (run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, "
                  "pool_slots, priority, ready_at, wake_at, item) SELECT $1, * FROM unnest($2::text[], $3::int[], "
                  "$4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::int[], $10::int[], $11::bigint[], "
                  "$12::bigint[], $13::text[]) RETURNING id, task_id, map_index",
                  params(run_pk, task_id.text(), map_index.text(), state.text(), try_number.text(), max_tries.text(),
                         queue.text(), pool.text(), pool_slots.text(), priority.text(), ready_at.text(),
                         wake_at.text(), item.text()));
    if (!r) return r.error();
    std::map<std::pair<std::string, int>, long long> ids;
    for (auto row : *r) ids[{row[1].c_str(), row[2].as<int>()}] = row[0].as<long long>();
    for (auto& x : rows) x.id = ids.at({x.task_id, x.map_index});
    return {};
  }

  // A connection's URL holds a secret: it never reaches the audit log.
  Status put_named(const std::string& kind, const char* sql, const std::string& name, const std::string& value,
                   const std::string& actor) {
    bool secret = kind == "connection";
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      if (auto r = exec(t, sql, params(name, value, now())); !r) return r.error();
      json details = secret ? json::object() : json{{"after", value}};
      if (auto a = audit(t, actor, kind + ".set", kind + ":" + name, details); !a) return a.error();
      return true;
    }));
  }

  Status delete_named(const std::string& kind, const char* sql, const std::string& name, const std::string& actor) {
    return status_of(write([&](pqxx::work& t) -> Result<bool> {
      auto r = exec(t, sql, params(name));
      if (!r) return r.error();
      if (r->affected_rows() == 0) return Error::not_found("no " + kind + " named \"" + name + "\"");
      if (auto a = audit(t, actor, kind + ".deleted", kind + ":" + name, json::object()); !a) return a.error();
      return true;
    }));
  }

  DatabaseUrl url_;
  const Clock& clock_;
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> conn_;      // guarded by mu_
  std::map<std::string, std::string> prepared_;  // SQL -> statement name on conn_; guarded by mu_
};

}  // namespace

namespace {

class AdvisoryLock final : public SchedulingLock {
 public:
  explicit AdvisoryLock(std::unique_ptr<pqxx::connection> c) : conn_(std::move(c)) {}
  ~AdvisoryLock() override {
    try {
      conn_->disconnect();  // the server drops a session's advisory locks with it
    } catch (const std::exception&) {
    }
  }

  // The lock lives exactly as long as its session: a lost session is a lost lock.
  Status check() override {
    try {
      pqxx::nontransaction n(*conn_);
      n.exec("SELECT 1");
      return {};
    } catch (const std::exception& e) {
      std::string what = e.what();
      return Error{"unavailable", "the session holding the scheduling lock is gone: " + what.substr(0, what.find('\n'))};
    }
  }

 private:
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

// Locks are keyed by the deployment's search_path, so that deployments in
// separate schemas of one database do not exclude each other.
Result<std::unique_ptr<SchedulingLock>> acquire_postgres_scheduling_lock(const DatabaseUrl& url, bool shared) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    pqxx::nontransaction n(*c);
    n.exec("SET application_name = 'baton scheduling lock'");  // for pg_stat_activity
    auto r = n.exec(std::string("SELECT ") + (shared ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock") +
                    "(hashtext('baton.scheduler:' || current_setting('search_path')))");
    if (!r[0][0].as<bool>())
      return Error{"conflict",
                   shared ? "a baton standalone process is scheduling on " + url.masked() +
                                ": stop it before starting baton server or baton scheduler members"
                          : "another baton process is already scheduling on " + url.masked() +
                                " (baton standalone schedules alone; for more than one process run baton server "
                                "and baton scheduler members)"};
    return std::unique_ptr<SchedulingLock>(std::make_unique<AdvisoryLock>(std::move(c)));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable", "PostgreSQL " + url.masked() + ": " + what.substr(0, what.find('\n'))};
  }
}

Result<std::unique_ptr<SchedulingLock>> try_postgres_leader_lock(const DatabaseUrl& url, const std::string& member_id) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    pqxx::nontransaction n(*c);
    // Named for break_leader_lock (and pg_stat_activity).
    n.exec_params("SELECT set_config('application_name', left('baton leader ' || $1, 63), false)", member_id);
    auto r = n.exec("SELECT pg_try_advisory_lock(hashtext('baton.leader:' || current_setting('search_path')))");
    if (!r[0][0].as<bool>()) return Error{"conflict", "another member leads"};
    return std::unique_ptr<SchedulingLock>(std::make_unique<AdvisoryLock>(std::move(c)));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable", "PostgreSQL " + url.masked() + ": " + what.substr(0, what.find('\n'))};
  }
}

namespace {

class Wake final : public pqxx::notification_receiver {
 public:
  Wake(pqxx::connection_base& c, const std::string& channel, std::set<std::string>& fired)
      : pqxx::notification_receiver(c, channel), fired_(fired) {}
  void operator()(const std::string& payload, int) override {
    fired_.insert(payload.empty() ? channel() : channel() + ":" + payload);
  }

 private:
  std::set<std::string>& fired_;
};

class PostgresListener final : public Listener {
 public:
  PostgresListener(std::unique_ptr<pqxx::connection> c, const std::vector<std::string>& channels)
      : conn_(std::move(c)) {
    for (auto& ch : channels) receivers_.push_back(std::make_unique<Wake>(*conn_, ch, fired_));
  }
  ~PostgresListener() override {
    receivers_.clear();
    try {
      conn_->disconnect();
    } catch (const std::exception&) {
    }
  }

  Result<std::vector<std::string>> wait(Duration timeout) override {
    try {
      fired_.clear();
      conn_->get_notifs();
      if (fired_.empty()) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
        if (us < 0) us = 0;
        conn_->await_notification(us / 1000000, us % 1000000);
      }
      return std::vector<std::string>(fired_.begin(), fired_.end());
    } catch (const std::exception& e) {
      std::string what = e.what();
      return Error{"unavailable", "listening for notifications: " + what.substr(0, what.find('\n'))};
    }
  }

 private:
  std::unique_ptr<pqxx::connection> conn_;
  std::set<std::string> fired_;
  std::vector<std::unique_ptr<Wake>> receivers_;
};

}  // namespace

Result<std::unique_ptr<SchedulingLock>> hold_postgres_member_lock(const DatabaseUrl& url, const std::string& member_id) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    pqxx::nontransaction n(*c);
    n.exec("SET application_name = 'baton member lock'");
    auto r = n.exec_params(
        "SELECT pg_try_advisory_lock(hashtext('baton.member:' || current_setting('search_path') || ':' || $1))",
        member_id);
    if (!r[0][0].as<bool>()) return Error{"conflict", "member " + member_id + " is already running"};
    return std::unique_ptr<SchedulingLock>(std::make_unique<AdvisoryLock>(std::move(c)));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable", "PostgreSQL " + url.masked() + ": " + what.substr(0, what.find('\n'))};
  }
}

Result<std::unique_ptr<Listener>> open_postgres_listener(const DatabaseUrl& url, const std::vector<std::string>& channels) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    {
      pqxx::nontransaction n(*c);
      n.exec("SET application_name = 'baton listener'");
    }
    auto l = std::make_unique<PostgresListener>(std::move(c), channels);
    return std::unique_ptr<Listener>(std::move(l));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable", "PostgreSQL " + url.masked() + ": " + what.substr(0, what.find('\n'))};
  }
}

Result<std::unique_ptr<Store>> open_postgres_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options) {
  auto s = std::make_unique<PostgresStore>(url, clock);
  if (auto o = s->open(); !o) return o.error();
  if (options.migrate)
    if (auto m = s->migrate(); !m) return m.error();
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace baton::store
