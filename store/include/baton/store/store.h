// Store: the single source of truth (DESIGN.md). One interface, one
// implementation per engine (SQLite and PostgreSQL), one conformance suite
// run against each (tests/integration/store_conformance.cpp). The records
// it stores and reads are in records.h.
//
// Every method that changes state takes the actor (a token name, or "system")
// and appends the matching audit entry in the same transaction, so the audit
// log cannot miss a change or record one that did not happen.
//
// Thread safety: a Store may be called from any thread; implementations
// serialize access internally. Expected failures (not found, conflicts, bad
// input) are returned as Error values, never thrown.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/store/records.h"

namespace baton::store {

// The subjects of the store, one interface each; Store joins them. Callers
// hold a Store& and see every method; a class that needs one subject only
// may take that interface.

// Tokens, pools, namespaces, variables and connections.
class ResourceStore {
 public:
  virtual ~ResourceStore() = default;

  // Tokens: only the SHA-256 of a token is stored. `namespaces` scopes it
  // (SPEC §13; none: unscoped); the caller checks the names.
  virtual Result<Token> create_token(const std::string& name, Role role, const std::string& token_hash,
                                     const std::string& actor, const std::vector<std::string>& namespaces = {}) = 0;
  virtual Result<std::vector<Token>> list_tokens() = 0;
  virtual Status revoke_token(const std::string& name, const std::string& actor) = 0;
  // The live (not revoked) token with this hash; records its use.
  virtual Result<Token> authenticate(const std::string& token_hash) = 0;

  // Pools (the `default` pool always exists; it can be resized, not deleted).
  virtual Result<std::vector<Pool>> list_pools() = 0;
  virtual Result<Pool> get_pool(const std::string& name) = 0;
  virtual Status put_pool(const Pool& pool, const std::string& actor) = 0;
  virtual Status delete_pool(const std::string& name, const std::string& actor) = 0;

  // Namespaces: the configured ones, by name. put_namespace creates or
  // replaces one (audited namespace.set, its fields as details; a weight or
  // cap out of range is invalid_argument); delete_namespace returns it to the
  // defaults (audited namespace.deleted; not_found when none is stored).
  // get_namespace: not_found for one never configured.
  virtual Result<std::vector<Namespace>> list_namespaces() = 0;
  virtual Result<Namespace> get_namespace(const std::string& name) = 0;
  virtual Status put_namespace(const Namespace& ns, const std::string& actor) = 0;
  virtual Status delete_namespace(const std::string& name, const std::string& actor) = 0;

  // Variables and connections, each in a namespace (`ns`; "" is global,
  // SPEC §13): a name is unique within its namespace. The lists hold every
  // namespace's, by namespace (global first) and name. Audited with target
  // `variable:NAME` (global) or `variable:NS/NAME`, the same for connections.
  virtual Result<std::vector<Variable>> list_variables() = 0;
  virtual Result<Variable> get_variable(const std::string& name, const std::string& ns = "") = 0;
  // The audit entry holds the value of a plain variable, never a secret's.
  virtual Status put_variable(const std::string& name, const std::string& value, const std::string& actor,
                              bool secret = false, const std::string& ns = "") = 0;
  virtual Status delete_variable(const std::string& name, const std::string& actor, const std::string& ns = "") = 0;
  virtual Result<std::vector<Connection>> list_connections() = 0;
  virtual Result<Connection> get_connection(const std::string& name, const std::string& ns = "") = 0;
  virtual Status put_connection(const std::string& name, const std::string& url, const std::string& actor,
                                const std::string& ns = "") = 0;
  virtual Status delete_connection(const std::string& name, const std::string& actor, const std::string& ns = "") = 0;

  // What a task of namespace `ns` reads (SPEC §13): that namespace's entry,
  // else the global one of that name; never another namespace's.
  Result<Variable> resolve_variable(const std::string& ns, const std::string& name);
  Result<Connection> resolve_connection(const std::string& ns, const std::string& name);
};

// DAGs, their versions and import errors, datasets.
class DagStore {
 public:
  virtual ~DagStore() = default;

  // DAGs. register_dag_version records a compiled version (once per hash),
  // makes it current, clears import errors and reactivates the DAG; it is
  // audited as dag.version_registered when the version is new to the DAG.
  // Returns whether the version was new.
  virtual Result<bool> register_dag_version(const DagVersionRecord& v, const std::string& ns, int partition,
                                            const std::string& actor) = 0;
  // Many versions, each registered as by register_dag_version, in one
  // transaction (a folder's cold load): all or none. Returns each DAG's row
  // as it is afterwards, in the order given.
  virtual Result<std::vector<DagRecord>> register_dag_versions(const std::vector<DagVersionRegistration>& vs,
                                                               const std::string& actor) = 0;
  // An invalid file: keep the last valid version, record the errors. `ns`:
  // the namespace the file names, for a DAG the store does not know yet
  // (one it knows keeps its namespace).
  virtual Status set_import_errors(const std::string& dag_id, const std::string& file, int partition,
                                   const std::string& errors_json, const std::string& ns = "default") = 0;
  virtual Status deactivate_dag(const std::string& dag_id, const std::string& actor) = 0;
  virtual Result<std::vector<DagRecord>> list_dags() = 0;
  // A page of DAGs by id, those after `after_id` (keyset; "" for the first).
  virtual Result<std::vector<DagRecord>> list_dags_page(const std::string& after_id, int limit) = 0;
  // A number that grows with every change of a DAG but its last tick (one
  // added or removed, its namespace, file, version, activity, pause, import
  // errors), whichever process made it: what was read of every DAG holds
  // while it stays the same.
  virtual Result<long long> dags_generation() = 0;
  virtual Result<DagRecord> get_dag(const std::string& dag_id) = 0;
  virtual Result<std::vector<DagVersionRecord>> list_dag_versions(const std::string& dag_id) = 0;
  virtual Result<DagVersionRecord> get_dag_version(const std::string& dag_id, const std::string& version) = 0;
  // Many versions by (DAG, version), those found, in no order: a restart's
  // 10,000 DAGs, or a page of the DAG list, read in one call. The default
  // asks get_dag_version for each (an engine in the process: SQLite).
  virtual Result<std::vector<DagVersionRecord>> get_dag_versions(
      const std::vector<std::pair<std::string, std::string>>& keys);
  virtual Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) = 0;

  // Datasets: an event recorded (its id and time filled in), the events of
  // one URI (or of all) after an id, oldest first, the newest id of all,
  // and a DAG's cursors.
  virtual Result<DatasetEvent> record_dataset_event(const DatasetEvent& e) = 0;
  virtual Result<std::vector<DatasetEvent>> list_dataset_events(const std::optional<std::string>& uri,
                                                                long long after_id, int limit) = 0;
  virtual Result<long long> last_dataset_event_id() = 0;
  virtual Result<std::vector<DatasetCursor>> dataset_cursors(const std::string& dag_id) = 0;
};

// Runs, task instances and their tries.
class RunStore {
 public:
  virtual ~RunStore() = default;

  // Runs. create_runs inserts runs with their task instances (ids filled
  // in), in one transaction under `fences` (refused, stale_epoch, unless the
  // partitions are still at these epochs, as in apply()). Each entry stands
  // alone: a known idempotency key answers its first run with
  // created=false; a run id already taken, or a second scheduled or backfill
  // run for the same (DAG, logical date), is a conflict of that entry only;
  // any other failure fails them all. `cursors`: a dataset run's consumed
  // events, moved (never back) with the run; not when an idempotency key
  // finds the run already there. A manual or dataset run is audited
  // (run.triggered) under the entry's `actor`, or the call's when empty.
  struct Created {
    RunRecord run;
    std::vector<TaskInstanceRecord> task_instances;
    bool created = true;
  };
  struct NewRun {
    RunRecord run;
    std::vector<TaskInstanceRecord> task_instances;
    std::vector<DatasetCursor> cursors;
    std::string actor;
  };
  virtual Result<std::vector<Result<Created>>> create_runs(const std::vector<NewRun>& runs, const std::string& actor,
                                                           const std::vector<Fence>& fences = {}) = 0;
  // One run, as create_runs makes it (its error is the entry's).
  Result<Created> create_run(const RunRecord& run, const std::vector<TaskInstanceRecord>& tis,
                             const std::string& actor, const std::vector<Fence>& fences = {},
                             const std::vector<DatasetCursor>& cursors = {});
  // Newest first, on the index of the filter's shape (keyset: `before`).
  virtual Result<std::vector<RunRecord>> list_runs(const RunFilter& filter) = 0;
  // The newest `per_dag` runs of each DAG, newest first (a DAG without runs
  // is absent): one index seek per DAG, whatever the history.
  virtual Result<std::map<std::string, std::vector<RunRecord>>> recent_runs(const std::vector<std::string>& dag_ids,
                                                                          int per_dag) = 0;
  // The run a trigger with this idempotency key made, if any.
  virtual Result<std::optional<RunRecord>> find_run_by_key(const std::string& dag_id, const std::string& key) = 0;
  virtual Result<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) = 0;
  virtual Result<std::vector<TaskInstanceRecord>> list_task_instances(long long run_pk) = 0;
  // Task instances a run did not have: for tasks of a later DAG version it
  // moved to, and a foreach task's mapped instances. All or none; a
  // (task, map_index) the run has already is a conflict. `fences` as in apply().
  virtual Result<std::vector<TaskInstanceRecord>> add_task_instances(long long run_pk,
                                                                    const std::vector<TaskInstanceRecord>& tis,
                                                                    const std::vector<Fence>& fences = {}) = 0;
  virtual Result<std::vector<TryRecord>> list_tries(long long ti_id) = 0;
  // Every try of every task instance of a run, by task instance and try
  // number: one query for a run's timeline.
  virtual Result<std::vector<TryRecord>> list_run_tries(long long run_pk) = 0;
  // The last run of a DAG before a logical date (depends_on_past).
  virtual Result<std::optional<RunRecord>> previous_run(const std::string& dag_id, TimePoint logical_date) = 0;
};

// Backfills (SPEC §7).
class BackfillStore {
 public:
  virtual ~BackfillStore() = default;

  // Backfills. create_backfill is audited as backfill.created; the rest of
  // its life (progress, end, cancel) goes through apply(). With an
  // idempotency key the DAG has seen, it returns that backfill (created
  // false) and changes nothing.
  struct CreatedBackfill {
    BackfillRecord backfill;
    bool created = true;
  };
  virtual Result<CreatedBackfill> create_backfill(const BackfillRecord& b, const std::string& actor) = 0;
  virtual Result<BackfillRecord> get_backfill(long long id) = 0;
  // Newest first; unfinished_only: state running.
  virtual Result<std::vector<BackfillRecord>> list_backfills(const std::optional<std::string>& dag_id,
                                                             bool unfinished_only, long long before_id, int limit) = 0;
  // The runs of a DAG whose logical dates lie in [from, to] (any type), oldest first.
  virtual Result<std::vector<RunRecord>> runs_between(const std::string& dag_id, TimePoint from, TimePoint to) = 0;
};

// Notifications, SLA misses and forecasts, counts of states, the audit log.
class AuditStore {
 public:
  virtual ~AuditStore() = default;

  // Pending notifications whose next attempt is due, oldest first, claimed
  // for 5 minutes (their next attempt moved on; on PostgreSQL rows another
  // member holds are skipped), so that members sharing the outbox do not
  // deliver one twice; and the outcome of an attempt (state, attempts,
  // next_attempt_at, last_error), which ends the claim.
  virtual Result<std::vector<NotificationRecord>> due_notifications(TimePoint now, int limit) = 0;
  virtual Status update_notification(const NotificationRecord& n) = 0;
  virtual Result<std::vector<NotificationRecord>> list_notifications(const std::string& dag_id, int limit) = 0;

  // SLA misses, recorded once per (run, task, kind): returns whether this
  // one was new (a second detection, after a restart, is not).
  virtual Result<bool> record_sla_miss(const SlaMiss& miss) = 0;
  // Oldest first, after the id `after_id`.
  virtual Result<std::vector<SlaMiss>> list_sla_misses(const std::optional<std::string>& dag_id,
                                                       std::optional<TimePoint> since, long long after_id,
                                                       int limit) = 0;
  // Run-time forecasts (SPEC §7). The durations of a task's last successful
  // tries (at most kDurationHistory), newest first; with no task, those of
  // every task of the DAG; with no DAG either, of every task (ordered by
  // DAG, task, newest first). Written by the batch (WriteBatch::durations).
  virtual Result<std::vector<TaskDuration>> task_durations(const std::optional<std::string>& dag_id,
                                                           const std::optional<std::string>& task_id) = 0;
  // SLA risks (WriteBatch::sla_risks), as list_sla_misses.
  virtual Result<std::vector<SlaRisk>> list_sla_risks(const std::optional<std::string>& dag_id,
                                                      std::optional<TimePoint> since, long long after_id,
                                                      int limit) = 0;
  virtual Result<StateCounts> count_states() = 0;
  // Moves the changes of the counts written since the last fold into their
  // totals (PostgreSQL: the triggers only append deltas, so that writers
  // never lock a shared counter; a no-op on SQLite). One fold at a time
  // across processes; a busy one is skipped. Called by count_states and
  // the scheduler's poll, outside any other transaction.
  virtual Status fold_counts() = 0;

  // The audit log: appended by the changes of every subject (and by the
  // scheduler and API for theirs); never updated or deleted.
  virtual Result<AuditEntry> append_audit(const std::string& actor, const std::string& action,
                                          const std::string& target, const std::string& details_json) = 0;
  virtual Result<std::vector<AuditEntry>> list_audit(const AuditFilter& filter) = 0;
  // With the store's audit key (OpenOptions::audit_key), if it has one.
  virtual Result<AuditCheck> verify_audit() = 0;
};

// Remote workers: claims, heartbeats, reports, worker events, logs of tries;
// checkpoints.
class QueueStore {
 public:
  virtual ~QueueStore() = default;

  // Remote workers (PostgreSQL; SQLite answers unsupported). claim_tasks
  // takes up to `limit` unclaimed tries of the queues, highest priority
  // first, for `worker`, and records a started event for each owner; a try
  // is passed over while its pool has fewer slots left than it takes over
  // the tries all workers hold (pools hold across members). The tries go
  // to the namespaces by weighted fair queueing over the tries all workers
  // hold, none past a namespace's max_running_tasks (SPEC §13); within a
  // namespace, live tries before backfills'.
  // held_pool_slots: the slots the claimed tries take, per pool;
  // held_by_namespace: the claimed tries, per namespace.
  // heartbeat_tasks renews the worker's claims and answers the tokens it no
  // longer holds (failed, canceled or handed to another worker): their
  // processes must be killed.
  //
  // save_progress and report_task store what a worker sends only for a try
  // it holds: the token's queue row claimed by `worker` for exactly that
  // ti_id and try_number (the row the owner wrote with the try and deletes
  // when the try ends, so its presence says the try still runs and the token
  // is the task instance's current one), checked and locked in the same
  // transaction as the writes. Otherwise conflict, and nothing is stored: a
  // stale or forged worker cannot touch another try's log or checkpoint.
  // save_progress stores a heartbeat's log chunk (at log_offset; a chunk
  // sent twice is kept once) and checkpoint. report_task stores the last
  // ones and ends the claim with the worker's report (its outcome, exit
  // code, output), all or nothing.
  virtual Result<std::vector<QueueItem>> claim_tasks(const std::string& worker, const std::vector<std::string>& queues,
                                                     int limit) = 0;
  virtual Result<std::map<std::string, long long>> held_pool_slots() = 0;
  virtual Result<std::map<std::string, long long>> held_by_namespace() = 0;
  virtual Result<std::vector<std::string>> heartbeat_tasks(const std::string& worker,
                                                           const std::vector<std::string>& tokens) = 0;
  virtual Status save_progress(const TryProgress& progress) = 0;
  virtual Status report_task(const TryProgress& progress, const std::string& report_json) = 0;
  // A report that carries the worker's next claim (up to `limit` tries of
  // `queues` for progress.worker): report_task, then claim_tasks, in one
  // transaction, so that a failed claim undoes the report too (the worker
  // sends it again) and one commit serves both.
  virtual Result<std::vector<QueueItem>> report_and_claim(const TryProgress& progress, const std::string& report_json,
                                                          const std::vector<std::string>& queues, int limit) = 0;
  // Several reports of one worker, then (limit > 0) its next claim, in one
  // transaction and one commit. Each report is stored or refused on its own,
  // as report_task would: `reports` answers each one's status in order (a
  // refused one, conflict, stored nothing). An error of the database fails
  // the whole, reports and claim (the API then stores them without it).
  struct ReportsTaken {
    std::vector<Status> reports;
    std::vector<QueueItem> claimed;
  };
  virtual Result<ReportsTaken> report_tasks(const std::string& worker, const std::vector<TryReport>& reports,
                                            const std::vector<std::string>& queues, int limit) = 0;
  // For the owners: events of their partitions, oldest first; and which of
  // the running tries they hand in are lost (no claim, or a claim whose
  // heartbeat is older than `cutoff`, and no report waiting).
  virtual Result<std::vector<WorkerEvent>> worker_events(const std::vector<int>& partitions, int limit) = 0;
  virtual Result<std::vector<std::string>> lost_tries(const std::vector<std::string>& tokens, TimePoint cutoff) = 0;
  // The stored log from `offset` (at most max_bytes); nullopt when none was stored.
  virtual Result<std::optional<std::string>> read_log(long long ti_id, int try_number, long long offset,
                                                      long long max_bytes) = 0;

  // Checkpoints of local workers, fenced by the try's attempt token: a stale
  // writer is refused (remote workers' go through save_progress).
  virtual Status save_checkpoint(long long ti_id, const std::string& attempt_token, const std::string& data) = 0;
  virtual Result<std::optional<std::string>> load_checkpoint(long long ti_id) = 0;
};

// Scheduler members, partitions, the leader, commands (SPEC §9).
class ClusterStore {
 public:
  virtual ~ClusterStore() = default;

  // Membership: a member records itself (and renews its lease) with every
  // heartbeat; one that misses its lease is dead. remove_member on a clean stop.
  virtual Status heartbeat_member(const MemberRecord& m) = 0;
  virtual Status remove_member(const std::string& member_id) = 0;
  virtual Result<std::vector<MemberRecord>> list_members() = 0;
  // Whether the member's session still holds its member lock (see
  // hold_member_lock): a process killed outright is seen dead at once,
  // without waiting for its lease. SQLite: true.
  virtual Result<bool> member_alive(const std::string& member_id) = 0;
  // Partitions and their owners. assign_partitions gives each listed
  // partition its owner (none: unowned); a partition whose owner changes gets
  // its epoch bumped, in one transaction, audited as partitions.assigned.
  virtual Result<std::vector<PartitionRecord>> list_partitions() = 0;
  virtual Result<std::vector<PartitionRecord>> assign_partitions(
      const std::vector<std::pair<int, std::optional<std::string>>>& owners, const std::string& actor) = 0;

  // The leader (SPEC §8 /health): written by the member that holds the
  // leader lock, read by everyone.
  virtual Status set_leader(const std::string& member_id) = 0;
  virtual Result<std::optional<std::string>> get_leader() = 0;
  // Ends the session in which `member_id` holds the leader lock
  // (PostgreSQL): for a leader whose lease ran out while its session lives
  // on (paused, cut off), so that a live member can take the lock. A lock
  // another member holds by now is left alone. SQLite: unsupported.
  virtual Status break_leader_lock(const std::string& member_id) = 0;

  // Intents for the owner of a partition (PostgreSQL; SQLite: unsupported).
  virtual Result<long long> enqueue_command(const CommandRecord& c) = 0;
  virtual Result<std::vector<CommandRecord>> pending_commands(const std::vector<int>& partitions, int limit) = 0;
  virtual Result<CommandRecord> get_command(long long id) = 0;
  // Gives up a command nobody carried out (answered `expired`, so it never
  // runs); false when it was answered meanwhile (read the answer).
  virtual Result<bool> expire_command(long long id) = 0;
  // Deletes commands answered before `before` (their callers have long read
  // the answers); how many.
  virtual Result<long long> prune_commands(TimePoint before) = 0;
};

// The whole store: every subject, and what is about all of them (the URL,
// the schema, the write batch that touches every subject at once).
class Store : public virtual ResourceStore,
              public virtual DagStore,
              public virtual RunStore,
              public virtual BackfillStore,
              public virtual AuditStore,
              public virtual QueueStore,
              public virtual ClusterStore {
 public:
  virtual ~Store() = default;
  virtual const DatabaseUrl& url() const = 0;

  // Schema: forward-only numbered migrations embedded in the binary.
  virtual Result<std::vector<MigrationInfo>> migration_status() = 0;
  virtual Result<int> migrate() = 0;  // how many were applied

  // One turn of the scheduler's loop: every change in one transaction.
  virtual Status apply(const WriteBatch& batch) = 0;

  // The plan of every list query (QueryPlan).
  virtual Result<std::vector<QueryPlan>> explain_list_queries() = 0;

  // Retention (CleanRequest): removes, in batches of about batch_size rows
  // per transaction (a live scheduler waits for one batch at most), or with
  // dry_run counts, what the request names; the counts of a dry run are
  // those a clean right after it removes ("log files": those named). Every
  // batch that removed anything appends, in its own transaction, an audit
  // entry db.cleaned with the cutoffs, its number and its counts; a log the
  // process cannot append to (keyed, without the key) fails the clean before
  // its first batch.
  virtual Result<CleanReport> clean(const CleanRequest& request, const std::string& actor) = 0;
};

// The right to schedule on a database, held by one process at a time for as
// long as the object lives. SQLite admits one scheduling process: an
// exclusive flock on DB.scheduler.lock beside the file, dropped by the kernel
// when the process dies (kill -9 included). PostgreSQL, until schedulers
// share the work by partitions (SPEC §9), admits one as well: a session-level
// advisory lock, keyed by the deployment's search_path, on a connection of
// its own, dropped by the server when that session ends.
class SchedulingLock {
 public:
  virtual ~SchedulingLock() = default;
  // Whether it is still held (unavailable: it was lost — stop scheduling).
  virtual Status check() = 0;
};
// Errors: conflict (another process holds it; the message says so),
// unavailable (the database cannot be reached).
//
// `shared`: the right to be one of many scheduler members (`baton server`,
// `baton scheduler`; PostgreSQL only): members share it with each other, but
// not with a standalone process, which holds it alone.
Result<std::unique_ptr<SchedulingLock>> acquire_scheduling_lock(const DatabaseUrl& url, bool shared = false);

// The leader's lock (SPEC §9): a session advisory lock on a connection of its
// own (its application_name names the member), held by one member at a
// time. conflict: another member leads.
Result<std::unique_ptr<SchedulingLock>> try_leader_lock(const DatabaseUrl& url, const std::string& member_id = "");

// A member's life lock (PostgreSQL; SQLite: unsupported): a session advisory
// lock keyed by the member id, on a connection of its own, held for as long
// as the object lives — and dropped by the server the moment the process
// dies. check() says whether it is still held (take a new one if not).
Result<std::unique_ptr<SchedulingLock>> hold_member_lock(const DatabaseUrl& url, const std::string& member_id);

// Wake-ups across processes: LISTEN on channels, on a connection of its own
// (PostgreSQL; SQLite: unsupported). Channels: `baton_queue` (tries to
// claim), `baton_events` (worker events and commands for the owners),
// `baton_partitions` (the leader moved partitions), `baton_commands` (an
// intent was carried out).
class Listener {
 public:
  virtual ~Listener() = default;
  // Waits up to `timeout` for notifications; what fired, each as CHANNEL, or
  // CHANNEL:PAYLOAD for a notification with a payload (none: the time ran
  // out). unavailable when the session is lost (open a new one).
  // `baton_events` carries `e:PARTITION` (worker events), `s:PARTITION`
  // (claims' started events, which a member may defer) and `c:PARTITION`
  // (commands), so that a member wakes for its own partitions only.
  virtual Result<std::vector<std::string>> wait(Duration timeout) = 0;
};
Result<std::unique_ptr<Listener>> open_listener(const DatabaseUrl& url, const std::vector<std::string>& channels);

struct OpenOptions {
  bool migrate = true;  // apply pending migrations on open
  // The audit key (SPEC §7 audit_key_file: the file's bytes): every audit
  // entry this store appends is keyed (audit_hash), and verify_audit checks
  // keyed entries with it. Without it, a store refuses to append after a
  // keyed entry (check_audit_append).
  std::optional<std::string> audit_key;
};

// Opens (and for SQLite creates) the database. `clock` must outlive the store.
Result<std::unique_ptr<Store>> open_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options = {});

}  // namespace baton::store
