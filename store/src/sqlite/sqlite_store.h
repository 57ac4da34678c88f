// The SQLite Store: one connection in WAL mode, writers in BEGIN IMMEDIATE
// transactions, every access under one mutex.
//
// Internal to the SQLite engine: one class per subject of the Store
// (store.h), each implementing its interface on top of SqliteBase, which
// holds the connection; SqliteStore joins them. The methods are defined by
// subject in sqlite_<subject>.cpp, as the comments below say.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "baton/store/store.h"
#include "sqlite_db.h"
#include "sqlite_rows.h"

namespace baton::store::sqlite {

using nlohmann::json;

// What the subject classes share: the connection under one mutex, the
// clock, the write transaction, and the helpers of more than one subject.
// A virtual base: SqliteStore, the one complete class, constructs it and
// opens the database (the subject classes are abstract through open()).
class SqliteBase {
 public:
  virtual ~SqliteBase() = default;
  virtual Status open() = 0;

 protected:
  SqliteBase(DatabaseUrl url, const Clock& clock, std::optional<std::string> audit_key = std::nullopt)
      : url_(std::move(url)), clock_(clock), audit_key_(std::move(audit_key)) {}

  long long now() const { return clock_.now().time_since_epoch().count(); }
  Error db_error() const { return Error{"database_error", "SQLite: " + db_.last_error()}; }

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

  // The *_locked helpers: with mu_ held (in a write when they change anything).

  // ---- the audit log (sqlite_audit.cpp), fences (sqlite_ha.cpp), remote workers (sqlite_queue.cpp) ----
  Result<AuditEntry> audit_locked(const std::string& actor, const std::string& action, const std::string& target,
                                  const json& details);
  Result<bool> check_fences_locked(const std::vector<Fence>& fences);
  static Error stale_epoch(const Fence& f, long long now_epoch);
  static Error remote_unsupported();

  DatabaseUrl url_;
  const Clock& clock_;
  const std::optional<std::string> audit_key_;  // OpenOptions::audit_key
  std::mutex mu_;
  sqlite::Db db_;
};

// ---- tokens, pools, namespaces, variables, connections (sqlite_resources.cpp) ----
class SqliteResources : public virtual ResourceStore, protected virtual SqliteBase {
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
  static Token token_row(const Stmt& st);
  Result<Pool> get_pool_locked(const std::string& name);
  Result<Namespace> get_namespace_locked(const std::string& name);
  static Namespace namespace_row(const Stmt& st);
  Status put_named(const std::string& kind, const std::string& name, const std::string& value,
                   const std::string& actor, bool secret_variable = false, const std::string& ns = "");
  Status delete_named(const std::string& kind, const std::string& name, const std::string& actor);
  // A variable or connection of namespace `ns` ("": global).
  Status delete_entry(const std::string& kind, const std::string& name, const std::string& actor,
                      const std::string& ns);
};

// ---- DAGs, their versions, datasets (sqlite_dags.cpp) ----
class SqliteDags : public virtual DagStore, protected virtual SqliteBase {
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
  Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) override;
  Result<DatasetEvent> record_dataset_event(const DatasetEvent& e) override;
  Result<std::vector<DatasetEvent>> list_dataset_events(const std::optional<std::string>& uri, long long after_id,
                                                        int limit) override;
  Result<long long> last_dataset_event_id() override;
  Result<std::vector<DatasetCursor>> dataset_cursors(const std::string& dag_id) override;

 protected:  // insert_dataset_event_locked: for SqliteStore::apply as well
  Result<DagRecord> get_dag_locked(const std::string& dag_id);
  Result<bool> register_version_locked(const DagVersionRecord& v, const std::string& ns, int partition,
                                       const std::string& actor);
  static DagVersionRecord version_row(const Stmt& st);
  Result<DatasetEvent> insert_dataset_event_locked(const DatasetEvent& e);
};

// ---- runs, task instances, tries (sqlite_runs.cpp) ----
class SqliteRuns : public virtual RunStore, protected virtual SqliteBase {
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

 private:
  Result<std::vector<TryRecord>> read_tries(const char* sql, long long key);
  Result<std::vector<TaskInstanceRecord>> tis_locked(long long run_pk);
  Result<std::vector<RunRecord>> runs_locked(const RunFilter& f);
  Status insert_ti_locked(TaskInstanceRecord& t);
  Status insert_runs_locked(const std::vector<NewRun>& runs, const std::vector<size_t>& group, const std::string& actor,
                            std::vector<std::optional<Result<Created>>>& answers);
};

// ---- backfills (sqlite_backfills.cpp) ----
class SqliteBackfills : public virtual BackfillStore, protected virtual SqliteBase {
 public:
  Result<CreatedBackfill> create_backfill(const BackfillRecord& in, const std::string& actor) override;
  Result<BackfillRecord> get_backfill(long long id) override;
  Result<std::vector<BackfillRecord>> list_backfills(const std::optional<std::string>& dag_id, bool unfinished_only,
                                                     long long before_id, int limit) override;
  Result<std::vector<RunRecord>> runs_between(const std::string& dag_id, TimePoint from, TimePoint to) override;
};

// ---- notifications, SLA misses, counts, the audit log (sqlite_audit.cpp) ----
class SqliteAudit : public virtual AuditStore, protected virtual SqliteBase {
 public:
  Result<std::vector<NotificationRecord>> due_notifications(TimePoint at, int limit) override;
  Result<std::vector<NotificationRecord>> list_notifications(const std::string& dag_id, int limit) override;
  Status update_notification(const NotificationRecord& n) override;
  Result<bool> record_sla_miss(const SlaMiss& m) override;
  Result<std::vector<SlaMiss>> list_sla_misses(const std::optional<std::string>& dag_id, std::optional<TimePoint> since,
                                               long long after_id, int limit) override;
  // Forecasts: sqlite_forecasts.cpp.
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

 protected:  // the insert_*_locked: for SqliteStore::apply as well
  Status insert_notification_locked(const NotificationRecord& n);
  Result<bool> insert_sla_miss_locked(const SlaMiss& m);
  // The batch's durations and SLA risks (sqlite_forecasts.cpp).
  Status write_forecasts_locked(const WriteBatch& b);
  Result<std::vector<NotificationRecord>> notification_rows(Stmt& st);
  static AuditEntry audit_row(const Stmt& st);
  static constexpr long long kNoneSince = -1;  // first_since: no row that recent
  Result<long long> first_since(const char* sql, std::optional<long long> since);
};

// ---- remote workers (PostgreSQL's), checkpoints (sqlite_queue.cpp) ----
class SqliteQueue : public virtual QueueStore, protected virtual SqliteBase {
 public:
  Result<std::vector<QueueItem>> claim_tasks(const std::string&, const std::vector<std::string>&, int) override;
  Result<std::vector<std::string>> heartbeat_tasks(const std::string&, const std::vector<std::string>&) override;
  Result<std::map<std::string, long long>> held_pool_slots() override;
  Result<std::map<std::string, long long>> held_by_namespace() override;
  Status save_progress(const TryProgress&) override;
  Status report_task(const TryProgress&, const std::string&) override;
  Result<ReportsTaken> report_tasks(const std::string&, const std::vector<TryReport>&, const std::vector<std::string>&,
                                    int) override;
  Result<std::vector<QueueItem>> report_and_claim(const TryProgress&, const std::string&,
                                                  const std::vector<std::string>&, int) override;
  Result<std::vector<WorkerEvent>> worker_events(const std::vector<int>&, int) override;
  Result<std::vector<std::string>> lost_tries(const std::vector<std::string>&, TimePoint) override;
  Result<std::optional<std::string>> read_log(long long, int, long long, long long) override;
  Status save_checkpoint(long long ti_id, const std::string& attempt_token, const std::string& data) override;
  Result<std::optional<std::string>> load_checkpoint(long long ti_id) override;
};

// ---- members, partitions and fences, the leader, commands (sqlite_ha.cpp) ----
class SqliteCluster : public virtual ClusterStore, protected virtual SqliteBase {
 public:
  Status heartbeat_member(const MemberRecord& m) override;
  Status remove_member(const std::string& member_id) override;
  Result<std::vector<MemberRecord>> list_members() override;
  Result<bool> member_alive(const std::string&) override;
  Result<std::vector<PartitionRecord>> list_partitions() override;
  Result<std::vector<PartitionRecord>> assign_partitions(
      const std::vector<std::pair<int, std::optional<std::string>>>& owners, const std::string& actor) override;
  Status set_leader(const std::string& member_id) override;
  Result<std::optional<std::string>> get_leader() override;
  Status break_leader_lock(const std::string&) override;
  Result<long long> enqueue_command(const CommandRecord&) override;
  Result<std::vector<CommandRecord>> pending_commands(const std::vector<int>&, int) override;
  Result<CommandRecord> get_command(long long) override;
  Result<bool> expire_command(long long) override;
  Result<long long> prune_commands(TimePoint) override;

 private:
  Result<std::vector<PartitionRecord>> partitions_locked();
};

// The SQLite Store: every subject class (the final overriders of the
// Store's methods), the opening, migrations and the write batch.
class SqliteStore final : public Store,
                          public SqliteResources,
                          public SqliteDags,
                          public SqliteRuns,
                          public SqliteBackfills,
                          public SqliteAudit,
                          public SqliteQueue,
                          public SqliteCluster {
 public:
  SqliteStore(DatabaseUrl url, const Clock& clock, std::optional<std::string> audit_key = std::nullopt)
      : SqliteBase(std::move(url), clock, std::move(audit_key)) {}
  Status open() override;
  const DatabaseUrl& url() const override { return url_; }

  Result<std::vector<MigrationInfo>> migration_status() override;
  Result<int> migrate() override;
  Status apply(const WriteBatch& b) override;
  Result<std::vector<QueryPlan>> explain_list_queries() override;
  Result<CleanReport> clean(const CleanRequest& request, const std::string& actor) override;  // sqlite_clean.cpp

 private:
  Result<std::vector<MigrationInfo>> status_locked();
};

}  // namespace baton::store::sqlite
