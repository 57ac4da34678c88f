// The PostgreSQL Store (libpqxx): the same contract and the same data model
// as the SQLite one, for more than one process at a time. A small pool of
// connections per Store (opened as concurrent callers need them, up to
// kPoolSize, and kept), each used by one caller at a time; statements prepared once per
// connection; a lost connection is opened again on the next call. Rules that
// must hold across processes are the database's: unique indexes (one run per
// interval, idempotency keys, names), and the row lock on the audit head that
// serializes appends to the hash chain.
//
// Internal to the PostgreSQL engine (it brings libpqxx): one class per
// subject of the Store (store.h), each implementing its interface on top of
// PostgresBase, which holds the connection; PostgresStore joins them. The
// methods are defined by subject in postgres_<subject>.cpp, as the comments
// below say.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <pqxx/pqxx>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "baton/store/store.h"
#include "postgres_rows.h"

namespace baton::store::postgres {

using nlohmann::json;

// What the subject classes share: the connection and its prepared statements
// under one mutex, the clock, the transactions, and the helpers of more than
// one subject. A virtual base: PostgresStore, the one complete class,
// constructs it and opens the connection (the subject classes are abstract
// through open()).
class PostgresBase {
 public:
  virtual ~PostgresBase() = default;
  virtual Status open() = 0;

 protected:
  PostgresBase(DatabaseUrl url, const Clock& clock, std::optional<std::string> audit_key = std::nullopt)
      : url_(std::move(url)), clock_(clock), audit_key_(std::move(audit_key)) {}

  long long now() const { return clock_.now().time_since_epoch().count(); }
  static Status status_of(const Result<bool>& r) { return r ? Status() : Status(r.error()); }

 public:
  // One connection of the pool and its prepared statements, used by one
  // caller at a time (its mutex).
  struct Conn {
    std::mutex mu;
    std::unique_ptr<pqxx::connection> c;
    std::map<std::string, std::string> prepared;  // SQL -> statement name on c
    unsigned generation = 0;                       // the pool's generation when c was opened
  };
  // At most this many connections per Store: an API server's handler
  // threads no longer queue behind one connection (docs/scaling.md).
  static constexpr int kPoolSize = 8;

 protected:
  // Holds one connection of the pool for a caller: a free one that is open
  // if there is one, else a free one to open, else it waits for one. The
  // thread's current connection (for exec's prepared statements) is set for
  // its lifetime.
  class Lease {
   public:
    explicit Lease(PostgresBase& base);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Conn& conn() { return *conn_; }

   private:
    std::unique_lock<std::mutex> lock_;
    Conn* conn_ = nullptr;
    Conn* outer_ = nullptr;
  };

  // Runs fn on a leased connection, converting libpqxx's exceptions into
  // errors: a lost connection is `unavailable` (and is opened again next
  // time).
  template <class F>
  auto call(Conn& c, F fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const pqxx::broken_connection& e) {
      lost(c);
      return Error{"unavailable",
                   "PostgreSQL " + url_.masked() + ": connection lost: " + url_.mask(first_line(e.what()))};
    } catch (const pqxx::sql_error& e) {
      return Error{"database_error", "PostgreSQL: " + url_.mask(first_line(e.what()))};
    } catch (const pqxx::failure& e) {
      lost(c);
      return Error{"unavailable", "PostgreSQL " + url_.masked() + ": " + url_.mask(first_line(e.what()))};
    }
  }

  template <class F>
  auto write(F fn) -> decltype(fn(std::declval<pqxx::work&>())) {
    Lease lease(*this);
    Conn& c = lease.conn();
    return call(c, [&]() -> decltype(fn(std::declval<pqxx::work&>())) {
      connect(c);
      pqxx::work t(*c.c);
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
    Lease lease(*this);
    Conn& c = lease.conn();
    return call(c, [&]() -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
      connect(c);
      pqxx::nontransaction t(*c.c);
      return fn(t);
    });
  }

  // A write of one statement (a server-side function's call) is its own
  // transaction: no BEGIN and COMMIT round trips either.
  template <class F>
  auto statement(F fn) -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
    return read(fn);
  }

  template <class F>
  auto snapshot(F fn) -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
    Lease lease(*this);
    Conn& c = lease.conn();
    return call(c, [&]() -> decltype(fn(std::declval<pqxx::transaction_base&>())) {
      connect(c);
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> t(*c.c);
      auto r = fn(t);
      t.commit();
      return r;
    });
  }

  // ---- the connections and their statements (postgres_store.cpp) ----
  void connect(Conn& c);
  // A connection was lost: so may the others be (the server restarted, or
  // ended the sessions), though each still looks open until it is used.
  // Each is opened again at its next lease (a new generation), so that a
  // caller's retry does not meet the next dead one.
  void lost(Conn& c) {
    c.c.reset();
    generation_.fetch_add(1, std::memory_order_relaxed);
  }
  // Runs a prepared statement on the current lease's connection.
  Result<pqxx::result> exec(pqxx::transaction_base& t, const std::string& sql, const Params& p);
  static std::string first_line(const std::string& s);

  // ---- the audit log (postgres_audit.cpp), fences (postgres_ha.cpp) ----
  Result<AuditEntry> audit(pqxx::work& t, const std::string& actor, const std::string& action,
                           const std::string& target, const json& details);
  struct AuditItem {
    std::string actor, action, target;
    std::string details;  // a JSON object's text
  };
  static AuditItem audit_item(std::string actor, std::string action, std::string target, const json& details);
  Result<std::vector<AuditEntry>> audit_many(pqxx::work& t, const std::vector<AuditItem>& items);
  // `events_done`: worker events the batch applied, deleted in the same
  // statement (one round trip fewer; the whole transaction is refused
  // with them when a fence fails).
  Result<bool> check_fences(pqxx::transaction_base& t, const std::vector<Fence>& fences,
                            const std::vector<long long>& events_done = {});

  DatabaseUrl url_;
  const Clock& clock_;
  const std::optional<std::string> audit_key_;  // OpenOptions::audit_key
  std::array<Conn, kPoolSize> pool_;
  std::atomic<unsigned> next_wait_{0};   // the connection a caller waits for when all are busy (round robin)
  std::atomic<unsigned> generation_{0};  // moves on when a connection is lost (lost())
};

// ---- tokens, pools, namespaces, variables, connections (postgres_resources.cpp) ----
class PostgresResources : public virtual ResourceStore, protected virtual PostgresBase {
 public:
  Result<Token> create_token(const std::string& name, Role role, const std::string& token_hash,
                             const std::string& actor, const std::vector<std::string>& namespaces = {}) override;
  Result<std::vector<Token>> list_tokens() override;
  Status revoke_token(const std::string& name, const std::string& actor) override;
  Result<Token> authenticate(const std::string& token_hash) override;
  Result<std::vector<Pool>> list_pools() override;
  Result<Pool> get_pool(const std::string& name) override;
  Status put_pool(const Pool& pool, const std::string& actor) override;
  Status delete_pool(const std::string& name, const std::string& actor) override;
  Result<std::vector<Namespace>> list_namespaces() override;
  Result<Namespace> get_namespace(const std::string& name) override;
  Status put_namespace(const Namespace& ns, const std::string& actor) override;
  Status delete_namespace(const std::string& name, const std::string& actor) override;
  Result<std::vector<Variable>> list_variables() override;
  Result<Variable> get_variable(const std::string& name, const std::string& ns = "") override;
  Status put_variable(const std::string& name, const std::string& value, const std::string& actor,
                      bool secret = false, const std::string& ns = "") override;
  Status delete_variable(const std::string& name, const std::string& actor, const std::string& ns = "") override;
  Result<std::vector<Connection>> list_connections() override;
  Result<Connection> get_connection(const std::string& name, const std::string& ns = "") override;
  Status put_connection(const std::string& name, const std::string& url, const std::string& actor,
                        const std::string& ns = "") override;
  Status delete_connection(const std::string& name, const std::string& actor, const std::string& ns = "") override;

 private:
  Result<Pool> pool_in(pqxx::transaction_base& t, const std::string& name);
  Result<Namespace> namespace_in(pqxx::transaction_base& t, const std::string& name);
  Status put_named(const std::string& kind, const char* sql, const std::string& name, const std::string& value,
                   const std::string& actor, bool secret_variable = false, const std::string& ns = "");
  Status delete_named(const std::string& kind, const char* sql, const std::string& name, const std::string& actor);
  // A variable or connection of namespace `ns` ("": global).
  Status delete_entry(const std::string& kind, const char* sql, const std::string& name, const std::string& actor,
                      const std::string& ns);
};

// ---- DAGs, their versions, datasets (postgres_dags.cpp) ----
class PostgresDags : public virtual DagStore, protected virtual PostgresBase {
 public:
  Result<bool> register_dag_version(const DagVersionRecord& v, const std::string& ns, int partition,
                                    const std::string& actor) override;
  Result<std::vector<DagRecord>> register_dag_versions(const std::vector<DagVersionRegistration>& vs,
                                                       const std::string& actor) override;
  Status set_import_errors(const std::string& dag_id, const std::string& file, int partition,
                           const std::string& errors_json, const std::string& ns = "default") override;
  Status deactivate_dag(const std::string& dag_id, const std::string& actor) override;
  Result<std::vector<DagRecord>> list_dags() override;
  Result<std::vector<DagRecord>> list_dags_page(const std::string& after_id, int limit) override;
  Result<long long> dags_generation() override;
  Result<DagRecord> get_dag(const std::string& dag_id) override;
  Result<std::vector<DagVersionRecord>> list_dag_versions(const std::string& dag_id) override;
  Result<DagVersionRecord> get_dag_version(const std::string& dag_id, const std::string& version) override;
  Result<std::vector<DagVersionRecord>> get_dag_versions(
      const std::vector<std::pair<std::string, std::string>>& keys) override;
  Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) override;
  Result<DatasetEvent> record_dataset_event(const DatasetEvent& e) override;
  Result<std::vector<DatasetEvent>> list_dataset_events(const std::optional<std::string>& uri, long long after_id,
                                                        int limit) override;
  Result<long long> last_dataset_event_id() override;
  Result<std::vector<DatasetCursor>> dataset_cursors(const std::string& dag_id) override;

 protected:  // insert_dataset_event: for PostgresStore::apply as well
  Result<DagRecord> dag_in(pqxx::transaction_base& t, const std::string& dag_id);
  Result<bool> register_version_in(pqxx::work& t, const DagVersionRecord& v, const std::string& ns, int partition,
                                   const std::string& actor);
  Result<DatasetEvent> insert_dataset_event(pqxx::work& t, const DatasetEvent& e);
};

// ---- runs, task instances, tries (postgres_runs.cpp) ----
class PostgresRuns : public virtual RunStore, protected virtual PostgresBase {
 public:
  Result<std::vector<Result<Created>>> create_runs(const std::vector<NewRun>& runs, const std::string& actor,
                                                   const std::vector<Fence>& fences) override;
  Result<std::vector<RunRecord>> list_runs(const RunFilter& f) override;
  Result<std::map<std::string, std::vector<RunRecord>>> recent_runs(const std::vector<std::string>& dag_ids,
                                                                  int per_dag) override;
  Result<std::optional<RunRecord>> find_run_by_key(const std::string& dag_id, const std::string& key) override;
  Result<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override;
  Result<std::vector<TaskInstanceRecord>> list_task_instances(long long run_pk) override;
  Result<std::vector<TaskInstanceRecord>> add_task_instances(long long run_pk,
                                                            const std::vector<TaskInstanceRecord>& tis,
                                                            const std::vector<Fence>& fences) override;
  Result<std::vector<TryRecord>> list_tries(long long ti_id) override;
  Result<std::vector<TryRecord>> list_run_tries(long long run_pk) override;
  Result<std::optional<RunRecord>> previous_run(const std::string& dag_id, TimePoint logical_date) override;

 protected:
  Result<std::vector<TryRecord>> read_tries(const char* sql, long long key);
  Result<std::vector<TaskInstanceRecord>> tis_in(pqxx::transaction_base& t, long long run_pk);
  Status insert_tis(pqxx::transaction_base& t, long long run_pk, std::vector<TaskInstanceRecord>& rows);
  Status insert_tis(pqxx::transaction_base& t, std::vector<Created>& runs);
};

// ---- backfills (postgres_backfills.cpp) ----
class PostgresBackfills : public virtual BackfillStore, protected virtual PostgresBase {
 public:
  Result<CreatedBackfill> create_backfill(const BackfillRecord& in, const std::string& actor) override;
  Result<BackfillRecord> get_backfill(long long id) override;
  Result<std::vector<BackfillRecord>> list_backfills(const std::optional<std::string>& dag_id, bool unfinished_only,
                                                     long long before_id, int limit) override;
  Result<std::vector<RunRecord>> runs_between(const std::string& dag_id, TimePoint from, TimePoint to) override;
};

// ---- notifications, SLA misses, counts, the audit log (postgres_audit.cpp) ----
class PostgresAudit : public virtual AuditStore, protected virtual PostgresBase {
 public:
  Result<std::vector<NotificationRecord>> due_notifications(TimePoint at, int limit) override;
  Result<std::vector<NotificationRecord>> list_notifications(const std::string& dag_id, int limit) override;
  Status update_notification(const NotificationRecord& n) override;
  Result<bool> record_sla_miss(const SlaMiss& m) override;
  Result<std::vector<SlaMiss>> list_sla_misses(const std::optional<std::string>& dag_id, std::optional<TimePoint> since,
                                               long long after_id, int limit) override;
  // Forecasts: postgres_forecasts.cpp.
  Result<std::vector<TaskDuration>> task_durations(const std::optional<std::string>& dag_id,
                                                   const std::optional<std::string>& task_id) override;
  Result<std::vector<SlaRisk>> list_sla_risks(const std::optional<std::string>& dag_id, std::optional<TimePoint> since,
                                              long long after_id, int limit) override;
  Result<StateCounts> count_states() override;
  Status fold_counts() override;
  Result<AuditEntry> append_audit(const std::string& actor, const std::string& action, const std::string& target,
                                  const std::string& details_json) override;
  Result<std::vector<AuditEntry>> list_audit(const AuditFilter& f) override;
  Result<AuditCheck> verify_audit() override;

 protected:  // for PostgresStore::apply as well
  Status insert_notification(pqxx::transaction_base& t, const NotificationRecord& n);
  Result<bool> insert_sla_miss(pqxx::transaction_base& t, const SlaMiss& m);
  // The batch's durations and SLA risks (postgres_forecasts.cpp).
  Status write_forecasts(pqxx::transaction_base& t, const WriteBatch& b);
  static constexpr long long kNoneSince = -1;  // first_since: no row that recent
  Result<long long> first_since(pqxx::transaction_base& t, const std::string& sql, std::optional<TimePoint> since);
};

// ---- remote workers: claims, worker events, logs, checkpoints (postgres_queue.cpp) ----
class PostgresQueue : public virtual QueueStore, protected virtual PostgresBase {
 public:
  Result<std::vector<QueueItem>> claim_tasks(const std::string& worker, const std::vector<std::string>& queues,
                                             int limit) override;
  Result<std::vector<std::string>> heartbeat_tasks(const std::string& worker,
                                                   const std::vector<std::string>& tokens) override;
  Status save_progress(const TryProgress& p) override;
  Status report_task(const TryProgress& p, const std::string& report_json) override;
  Result<ReportsTaken> report_tasks(const std::string& worker, const std::vector<TryReport>& reports,
                                    const std::vector<std::string>& queues, int limit) override;
  Result<std::vector<QueueItem>> report_and_claim(const TryProgress& p, const std::string& report_json,
                                                  const std::vector<std::string>& queues, int limit) override;
  Result<std::vector<WorkerEvent>> worker_events(const std::vector<int>& partitions, int limit) override;
  Result<std::map<std::string, long long>> held_pool_slots() override;
  Result<std::map<std::string, long long>> held_by_namespace() override;
  Result<std::vector<std::string>> lost_tries(const std::vector<std::string>& tokens, TimePoint cutoff) override;
  Result<std::optional<std::string>> read_log(long long ti_id, int try_number, long long offset,
                                              long long max_bytes) override;
  Status save_checkpoint(long long ti_id, const std::string& attempt_token, const std::string& data) override;
  Result<std::optional<std::string>> load_checkpoint(long long ti_id) override;

 private:
  // The log chunk and checkpoint of a try whose claim the caller checked in `t`.
  Result<bool> store_progress(pqxx::work& t, const TryProgress& p);
  // claim_tasks and report_task within the caller's transaction (a claim
  // alone is one statement, its own transaction).
  Result<std::vector<QueueItem>> claim_in(pqxx::transaction_base& t, const std::string& worker,
                                          const std::vector<std::string>& queues, int limit);
  Result<bool> report_in(pqxx::work& t, const TryProgress& p, const std::string& report_json);
};

// ---- members, partitions and fences, the leader, commands (postgres_ha.cpp) ----
class PostgresCluster : public virtual ClusterStore, protected virtual PostgresBase {
 public:
  Status heartbeat_member(const MemberRecord& m) override;
  Status remove_member(const std::string& member_id) override;
  Result<std::vector<MemberRecord>> list_members() override;
  Result<bool> member_alive(const std::string& member_id) override;
  Result<std::vector<PartitionRecord>> list_partitions() override;
  Result<std::vector<PartitionRecord>> assign_partitions(
      const std::vector<std::pair<int, std::optional<std::string>>>& owners, const std::string& actor) override;
  Status set_leader(const std::string& member_id) override;
  Result<std::optional<std::string>> get_leader() override;
  Status break_leader_lock(const std::string& member_id) override;
  Result<long long> enqueue_command(const CommandRecord& c) override;
  Result<std::vector<CommandRecord>> pending_commands(const std::vector<int>& partitions, int limit) override;
  Result<CommandRecord> get_command(long long id) override;
  Result<bool> expire_command(long long id) override;
  Result<long long> prune_commands(TimePoint before) override;

 private:
  static CommandRecord command_row(const pqxx::row& row);
  static constexpr const char* kCommandColumns =
      "id, kind, dag_id, partition_no, payload, created_by, created_at, processed_at, status, result";
  Result<std::vector<PartitionRecord>> partitions_in(pqxx::transaction_base& t);
};

// The PostgreSQL Store: every subject class (the final overriders of the
// Store's methods), the opening, migrations and the write batch.
class PostgresStore final : public Store,
                            public PostgresResources,
                            public PostgresDags,
                            public PostgresRuns,
                            public PostgresBackfills,
                            public PostgresAudit,
                            public PostgresQueue,
                            public PostgresCluster {
 public:
  PostgresStore(DatabaseUrl url, const Clock& clock, std::optional<std::string> audit_key = std::nullopt)
      : PostgresBase(std::move(url), clock, std::move(audit_key)) {}
  Status open() override;
  const DatabaseUrl& url() const override { return url_; }

  Result<std::vector<MigrationInfo>> migration_status() override;
  Result<int> migrate() override;
  Status apply(const WriteBatch& b) override;  // postgres_batch.cpp
  Result<std::vector<QueryPlan>> explain_list_queries() override;
  Result<CleanReport> clean(const CleanRequest& request, const std::string& actor) override;  // postgres_clean.cpp

 private:
  Result<std::vector<MigrationInfo>> status(pqxx::transaction_base& t);
  // A batch of only what a turn usually writes, as one statement (postgres_batch.cpp).
  Status apply_as_one_statement(const WriteBatch& b);
};

}  // namespace baton::store::postgres
