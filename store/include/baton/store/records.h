// The store's records (store.h has the interfaces): what is stored and
// read — tokens, pools, namespaces, variables, connections, audit entries,
// DAGs and their versions, runs, task instances, tries, backfills,
// notifications, datasets, SLA misses, members, partitions, the remote
// queue, the write batch of a scheduler's turn — and what a clean is asked
// and reports. Plain values, no I/O (the audit chain's verifier excepted,
// which only computes).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/core/states.h"
#include "baton/core/time.h"

namespace baton::store {

// `sqlite:PATH` or `postgresql://user:pass@host:port/db` (libpq syntax).
struct DatabaseUrl {
  enum class Engine { sqlite, postgres };
  Engine engine = Engine::sqlite;
  std::string path;      // sqlite: the file
  std::string conninfo;  // postgres: the URL as given
  std::string text;      // as given
  std::string masked() const;  // every password form replaced by *** (baton/core/secrets.h)
  // A message that may quote this URL (libpq's errors can) with its passwords masked.
  std::string mask(std::string_view message) const;
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
  // Scoped (SPEC §13): the namespaces it sees and acts on, in the order
  // given; empty: unscoped, it sees every namespace.
  std::vector<std::string> namespaces;
};

struct Pool {
  std::string name;
  int slots = 0;
  std::string description;
};

// A namespace (tenant, SPEC §13) as an admin configured it. One nobody
// configured has these defaults; its DAGs name it all the same.
struct Namespace {
  std::string name;
  double weight = 1;                         // 0.01 to 1000: its share of the slots, relative to the others'
  std::optional<int> max_running_tasks;      // at least 1; none: no cap
  std::optional<std::string> folder;         // relative to the DAGs folder; none: any file may claim it
  std::string description;
};

struct Variable {
  std::string name;
  std::string value;
  TimePoint updated_at{};
  bool secret = false;  // write-only: shown as *** by the API, masked in task logs; its value never audited
  std::string ns;       // its namespace (SPEC §13); empty: global
};

struct Connection {
  std::string name;
  std::string url;  // with its password: callers that show it must mask it
  TimePoint updated_at{};
  std::string ns;  // its namespace (SPEC §13); empty: global
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
  long long before_id = 0;            // cursor of newest_first: entries with a smaller id (0: none)
  bool newest_first = false;          // by id, descending
  int limit = 100;
};

struct AuditCheck {
  long long checked = 0;
  std::optional<long long> first_bad_id;  // the first entry altered, removed or inserted
  std::string problem;
  std::optional<long long> keyed_from;  // the first keyed entry (HMAC-SHA-256), if any
  long long keyed_unchecked = 0;        // keyed entries whose contents could not be checked (no key)
  // Checked with a key: the log is not empty, its entries hold, but its
  // head carries no valid MAC under the key (`problem` says so). Either no
  // process with this key has appended to the log yet, or it was rewritten
  // by someone without the key (as plain SHA-256, say): not intact.
  bool unsigned_head = false;
};

// The hash of an entry: SHA-256 over prev_hash and every field, so that any
// change to an entry, or any removal or insertion, breaks the chain. With
// the audit key (SPEC §7 audit_key_file; OpenOptions::audit_key) it is an
// HMAC-SHA-256 under the key over the same bytes, written
// "hmac-sha256:HEX": whoever lacks the key cannot make one, so a rewritten
// entry cannot be sealed again. docs/running.md, "The audit log".
constexpr std::string_view kKeyedAuditHash = "hmac-sha256:";
std::string audit_hash(const AuditEntry& e, const std::optional<std::string>& key = std::nullopt);
bool is_keyed_audit_hash(std::string_view hash);

// The entry after (`last_id`, `last_hash`), chained and hashed (under the key
// if there is one): what both engines append.
AuditEntry next_audit_entry(long long last_id, const std::string& last_hash, TimePoint at, std::string actor,
                            std::string action, std::string target, std::string details,
                            const std::optional<std::string>& key);

// The head of the chain, kept in `settings.audit_head`: "ID:HASH" of the last
// entry; written by a process with the key (whatever the last entry), also
// " mac=HEX", an HMAC of "ID:HASH" under the key, so that entries removed
// from the end (and the head set back to an earlier entry), or the whole log
// rewritten as plain SHA-256, are found as well. (A head saved earlier, MAC
// and all, still fits the log cut back to it: only a copy of the head kept
// outside the database finds that. docs/security.md.)
std::string audit_head(long long id, const std::string& hash, const std::optional<std::string>& key);

// Whether a process with `key` (or none) may append after the last entry
// (`last_id`, `last_hash`; 0 and 64 zeros when the log is empty) given the
// recorded head: after a keyed entry only with the key the log was written
// with (checked against the head's MAC), so that no process downgrades the
// log to plain SHA-256 and none appends under another key. failed_precondition
// otherwise, saying what to do.
Status check_audit_append(long long last_id, const std::string& last_hash, const std::optional<std::string>& head,
                          const std::optional<std::string>& key);

// The entry a process with the key writes before its first keyed entry
// when the log's last entry is plain: from there on the chain is keyed. (An
// empty log is keyed from its first entry, without one.)
constexpr const char* kAuditKeyedAction = "audit.keyed";

// Checks the chain entry by entry, in id order (every engine's verify_audit):
// contiguous ids, each prev_hash the previous hash, each hash its contents
// (a keyed one with the key; without it only its link is checked and it is
// counted in keyed_unchecked); no plain entry after a keyed one (a rewrite
// without the key); then the recorded head ("id:hash" of the last entry,
// nullopt when missing), which finds entries removed from the end. Given
// the key, the head of a non-empty log must carry a valid MAC under it:
// with a keyed last entry, one that does not is entries removed from the
// end (first_bad_id); with none keyed, unsigned_head.
class AuditVerifier {
 public:
  explicit AuditVerifier(std::optional<std::string> key = std::nullopt) : key_(std::move(key)) {}
  // False once the chain is broken (stop feeding).
  bool add(const AuditEntry& e);
  AuditCheck finish(const std::optional<std::string>& head);

 private:
  std::optional<std::string> key_;
  AuditCheck check_;
  std::string prev_;
  long long prev_id_ = 0;
};

// ---- DAGs ----

struct DagRecord {
  std::string dag_id;
  std::string ns = "default";
  std::string file;
  std::optional<std::string> current_version;
  bool active = true;
  bool paused = false;
  std::string import_errors;  // JSON list; empty when the file is valid
  int partition = 0;
  std::optional<TimePoint> last_tick;  // the latest interval start a scheduled run was created for
  TimePoint created_at{};
  TimePoint updated_at{};
};

struct DagVersionRecord {
  std::string dag_id;
  std::string version;   // SHA-256 of the compiled form
  std::string compiled;  // canonical JSON
  std::string source;    // the YAML text
  std::string file;
  std::optional<std::string> git_commit;
  std::optional<bool> git_dirty;
  TimePoint created_at{};
};

// One version of a batch (DagStore::register_dag_versions).
struct DagVersionRegistration {
  DagVersionRecord version;
  std::string ns = "default";
  int partition = 0;
};

// ---- runs and task instances ----

struct RunRecord {
  long long pk = 0;
  std::string dag_id;
  std::string run_id;
  std::string run_type;  // scheduled, manual, backfill, dataset
  RunState state = RunState::queued;
  TimePoint logical_date{};
  TimePoint data_interval_start{};
  TimePoint data_interval_end{};
  std::string params = "{}";
  std::string dag_version;
  std::optional<std::string> note;
  std::optional<std::string> idempotency_key;
  std::optional<long long> backfill_id;
  std::string created_by = "system";
  TimePoint created_at{};
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  // The forecast (SPEC §7): when the run is expected to end (each unfinished
  // task at its p90), and the earliest of its SLA deadlines; none without.
  std::optional<TimePoint> expected_end;
  std::optional<TimePoint> sla_deadline;
};

struct TaskInstanceRecord {
  long long id = 0;
  long long run_pk = 0;
  std::string task_id;
  int map_index = -1;
  TaskState state = TaskState::pending;
  int try_number = 0;
  int max_tries = 1;
  std::string queue = "default";
  std::string pool = "default";
  int pool_slots = 1;
  int priority = 0;
  std::optional<TimePoint> ready_at;
  std::optional<TimePoint> wake_at;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  std::optional<std::string> worker;
  std::optional<std::string> attempt_token;
  std::optional<int> exit_code;
  std::optional<std::string> reason;
  std::optional<TimePoint> heartbeat_at;
  std::optional<TimePoint> last_activity_at;
  std::optional<std::string> output;  // JSON object
  std::optional<std::string> item;    // a mapped instance's foreach item (JSON), set when it is made
  // The current try's flags, comma-separated: slow, stuck (SPEC §7).
  std::string flags;
  // The latest progress line of a try (ProgressLine JSON: try, fraction,
  // text, at). Writes without one keep the stored one; readers show it only
  // for the task instance's current try.
  std::optional<std::string> progress;
};

struct TryRecord {
  long long ti_id = 0;
  int try_number = 1;
  TaskState state = TaskState::running;
  std::optional<std::string> worker;
  std::optional<std::string> attempt_token;
  std::optional<TimePoint> queued_at;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  std::optional<int> exit_code;
  std::optional<std::string> reason;
  std::optional<std::string> log_path;
  long long log_bytes = 0;
};

// A DAG's runs (any filter) and the unfinished runs of every DAG page on an
// index; other lists of every DAG's runs walk the table (none is served).
struct RunFilter {
  std::optional<std::string> dag_id;
  std::optional<RunState> state;
  std::optional<std::string> run_type;
  bool unfinished_only = false;
  // Cursor: runs older than this (logical_date, pk) pair, newest first.
  std::optional<std::pair<TimePoint, long long>> before;
  int limit = 100;
};

// ---- backfills (SPEC §7): objects the server owns, carried out by the scheduler ----

struct BackfillRecord {
  long long id = 0;
  std::string dag_id;
  TimePoint from_at{};  // the first logical date it covers (inclusive)
  TimePoint to_at{};    // the last (inclusive)
  std::string from_text, to_text;  // as the user gave them
  std::string reprocess = "none";  // none, failed, all
  int max_active_runs = 10;
  bool reverse = false;
  std::optional<std::string> tasks;  // JSON list of task ids, or none for all
  bool downstream = false;
  std::string state = "running";  // running, success, failed, canceled
  int total = 0;   // intervals it creates or reruns
  int done = 0;    // of those, finished
  int failed = 0;  // of those, failed
  std::optional<TimePoint> cursor_at;  // the next interval it takes up (none: all taken up)
  std::string created_by;
  TimePoint created_at{};
  std::optional<TimePoint> ended_at;
  // Set by a command (`command:ID`): create_backfill with a key the DAG has
  // seen returns that backfill, made once (not audited again).
  std::optional<std::string> idempotency_key;
};

// The audit details of a created backfill (the same on every engine).
std::string backfill_audit_details(const BackfillRecord& b);

// ---- notifications (SPEC §7): an outbox written with the change that causes them ----

struct NotificationRecord {
  long long id = 0;
  std::string event;        // on_failure, on_success, on_retry, on_sla_miss
  std::string dag_id;
  std::string target_kind;  // webhook, command
  std::string target;       // URL or command line
  std::string payload;      // the event, a JSON object
  int attempts = 0;
  TimePoint next_attempt_at{};
  std::string state = "pending";  // pending, sent, failed
  std::optional<std::string> last_error;
  TimePoint created_at{};
};

// ---- datasets (SPEC §6) ----

// A dataset was updated: by a task that `produces` it (source_* set), or by
// an outside system through the API.
struct DatasetEvent {
  long long id = 0;
  std::string uri;
  TimePoint at{};
  std::string extra = "{}";  // a JSON object
  std::optional<std::string> source_dag_id, source_run_id, source_task_id;
};

// How far a dataset-scheduled DAG has consumed one URI's events.
struct DatasetCursor {
  std::string dag_id;
  std::string uri;
  long long last_event_id = 0;
};

// ---- SLA misses (SPEC §7) and counts for metrics (§10) ----

struct SlaMiss {
  long long id = 0;
  std::string dag_id;
  std::string run_id;
  std::string task_id;  // empty for a run's own SLA
  std::string kind;     // run_deadline, run_duration, task_duration
  TimePoint deadline{};
  TimePoint detected_at{};
};

// A try's progress line as TaskInstanceRecord::progress holds it (JSON:
// try, fraction, text, at); and read back, for the task instance's current
// try only (nullopt for another try's, or a value that is not one).
std::string progress_record(int try_number, double fraction, const std::string& text, TimePoint at);
struct StoredProgress {
  double fraction = 0;
  std::string text;
  TimePoint at{};
};
std::optional<StoredProgress> read_progress(const std::optional<std::string>& record, int try_number);

// Run-time forecasts (SPEC §7): one successful try's duration. Each task
// keeps its last 50 in a ring (slot = seq % 50).
struct TaskDuration {
  std::string dag_id;
  std::string task_id;
  long long seq = 0;  // 1, 2, ... per (DAG, task)
  double seconds = 0;
  TimePoint ended_at{};
};
constexpr int kDurationHistory = 50;

// A run whose expected end passes its SLA deadline, once per run; marked
// recovered when it is back on time (and open again if it slips once more).
struct SlaRisk {
  long long id = 0;
  std::string dag_id;
  std::string run_id;
  std::string kind;  // run_deadline, run_duration: the deadline at risk
  TimePoint deadline{};
  TimePoint expected_end{};
  TimePoint detected_at{};
  std::optional<TimePoint> recovered_at;
};

struct StateCounts {
  std::map<std::string, long long> runs;            // state -> runs
  std::map<std::string, long long> task_instances;  // state -> task instances
  std::map<std::string, long long> queued;          // worker queue -> task instances queued (waiting for a worker)
  long long sla_misses = 0;
};

// ---- scheduler members and partitions (SPEC §9) ----

struct MemberRecord {
  std::string member_id;
  std::string host;
  int pid = 0;
  TimePoint started_at{};
  TimePoint heartbeat_at{};
  TimePoint lease_expires_at{};  // dead after this, unless it heartbeats again
};

struct PartitionRecord {
  int partition = 0;
  std::optional<std::string> owner;
  long long epoch = 0;  // bumped on every change of owner
  std::optional<TimePoint> assigned_at;
};

// A write made on behalf of a partition's owner: refused (stale_epoch) unless
// the partition still has this epoch, so a scheduler that lost a partition
// (paused past its lease, cut off) cannot change what its new owner runs.
struct Fence {
  int partition = 0;
  long long epoch = 0;
};

// ---- remote workers and intents across processes (SPEC §9; PostgreSQL) ----

// A try handed out to the remote workers: inserted by the partition's owner,
// claimed by a worker (FOR UPDATE SKIP LOCKED), deleted when the try is over.
struct QueueItem {
  std::string attempt_token;
  long long ti_id = 0;
  long long run_pk = 0;
  int task_index = 0;
  int try_number = 1;
  int partition = 0;
  std::string queue = "default";
  int priority = 0;
  std::string pool = "default";  // claims keep a pool's tries within its slots across members
  int pool_slots = 1;
  std::string ns = "default";  // its DAG's namespace: claims share the workers by weight (SPEC §13)
  bool backfill = false;       // a backfill's: claimed after the live tries of its namespace
  // The latest its run can start it and meet its SLA deadline (µs: the
  // owner's now + slack when queued); within a priority the earliest is
  // claimed first. The largest value: no SLA (SPEC §7).
  long long latest_start = kNoLatestStart;
  static constexpr long long kNoLatestStart = 9223372036854775807LL;
  std::string payload;  // a JSON object: what the worker runs
  TimePoint queued_at{};
  std::optional<std::string> worker;  // who claimed it
  std::optional<TimePoint> heartbeat_at;
  std::optional<std::string> checkpoint;  // claim_tasks: the task instance's last checkpoint
};

// What a remote worker sends about a try it runs, with a heartbeat or its
// report: the claim it holds (worker, token, and the task instance and try
// number the claim is for) and what the try wrote since it last sent.
struct TryProgress {
  std::string worker;
  std::string attempt_token;
  long long ti_id = 0;
  int try_number = 0;
  std::optional<std::string> log;  // the log's bytes from log_offset on
  long long log_offset = 0;
  std::optional<std::string> checkpoint;
  std::optional<std::string> progress;  // ProgressLine JSON: the try's latest progress
};

// A worker's report on how a try ended: what it sends last (its log chunk
// and checkpoint) and the report (outcome, exit code, output) as JSON.
struct TryReport {
  TryProgress progress;
  std::string report_json;
};

// What a worker did with a try, for the owner of its partition to apply.
struct WorkerEvent {
  long long id = 0;
  int partition = 0;
  std::string attempt_token;
  long long run_pk = 0;
  int task_index = 0;
  std::string kind;  // started, finished
  std::string worker;
  std::string body = "{}";  // finished: the report (JSON)
  TimePoint at{};
};

// An intent of the API (trigger, cancel, clear, mark, pause, backfill, ...)
// for the scheduler that owns its DAG's partition.
struct CommandRecord {
  long long id = 0;
  std::string kind;
  std::string dag_id;
  int partition = 0;
  std::string payload = "{}";
  std::string created_by;
  TimePoint created_at{};
  std::optional<TimePoint> processed_at;
  std::optional<std::string> status;  // ok, or an error code
  std::optional<std::string> result;  // the answer (JSON)
};

struct CommandResult {
  long long id = 0;
  std::string status;  // ok, or an error code
  std::string result;  // JSON
};

// Changes made in one turn of the scheduler's loop, written in one transaction.
struct WriteBatch {
  std::vector<RunRecord> runs;                  // updated by pk: state, started_at, ended_at, dag_version, backfill_id
  std::vector<TaskInstanceRecord> task_instances;  // updated by id (every mutable field)
  std::vector<TryRecord> tries;                 // upserted by (ti_id, try_number)
  std::vector<std::pair<std::string, TimePoint>> last_ticks;  // dag_id -> last_tick
  std::vector<BackfillRecord> backfills;        // updated by id: state, total, done, failed, cursor_at, ended_at
  std::vector<NotificationRecord> notifications;  // inserted, pending
  // SLA misses, inserted once per (DAG, run, task, kind), each with the
  // notifications it causes: those are inserted only with a miss that is new.
  struct Miss {
    SlaMiss miss;
    std::vector<NotificationRecord> notifications;
  };
  std::vector<Miss> sla_misses;
  std::vector<TaskDuration> durations;  // upserted into their ring slot
  // SLA risks by (DAG, run): a new one is inserted with its notifications;
  // one already recorded only takes the new deadline, expected end and
  // recovered_at (no notification).
  struct Risk {
    SlaRisk risk;
    std::vector<NotificationRecord> notifications;
    bool recovery = false;  // only marks an open risk of the run recovered (never inserts)
  };
  std::vector<Risk> sla_risks;
  struct Audit {
    std::string actor, action, target, details;  // details: a JSON object
  };
  std::vector<Audit> audit;
  std::vector<QueueItem> enqueue;            // tries for remote workers (inserted; an existing token is kept)
  std::vector<std::string> dequeue;          // attempt tokens whose tries are over (deleted)
  std::vector<long long> events_done;        // worker events applied (deleted)
  std::vector<CommandResult> command_results;  // intents carried out
  std::vector<DatasetEvent> dataset_events;   // inserted (a producing task succeeded)
  std::vector<Fence> fences;  // checked first, in the same transaction
  bool empty() const {
    return runs.empty() && task_instances.empty() && tries.empty() && last_ticks.empty() && audit.empty() &&
           backfills.empty() && notifications.empty() && enqueue.empty() && dequeue.empty() && events_done.empty() &&
           command_results.empty() && dataset_events.empty() && sla_misses.empty() && durations.empty() &&
           sla_risks.empty();
  }
};

// ---- retention (`baton db clean`, automatic retention; docs/running.md "Retention") ----

// What a clean removes: each cutoff is optional (none: that kind is kept).
// runs_before: finished runs whose end (ended_at, else created_at) is before
// it, with everything that hangs off them (task instances with their outputs
// and checkpoints, tries, stored logs, queue rows, worker events, SLA
// misses and risks), and what is as old and no longer used: delivered or failed
// notifications, finished backfills with no run left, consumed dataset
// events (never the newest of a URI), DAG versions no run uses that are not
// current. tries_before: the tries of finished runs that ended before it.
// logs_before: the logs of tries of finished runs that ended before it.
// Never removed: the audit log, unfinished runs (and their task instances
// and tries), the latest run and the latest finished run of each DAG (by
// logical date), the run right before (by logical date) an unfinished run of
// its DAG (depends_on_past reads it), every run inside the range of a running
// backfill of its DAG, DAG versions a run or the DAG uses.
struct CleanRequest {
  std::optional<TimePoint> runs_before;
  std::optional<TimePoint> tries_before;
  std::optional<TimePoint> logs_before;
  bool dry_run = false;  // count what would go, change nothing
  int batch_size = 5000;  // rows per transaction, about
  // Called after each batch's transaction committed (never for a batch that
  // failed: its rows and files stay), with the log files (paths relative to
  // the logs folder, as TryRecord::log_path) of the tries whose logs went;
  // returns how many it removed (what the report counts; the batch's audit
  // entry counts the files its rows named). None: the paths count.
  std::function<long long(const std::vector<std::string>&)> on_logs_removed;
  // Asked before each batch: true ends the clean there (what it removed so
  // far is reported and audited), so that a process that stops waits for
  // one batch at most.
  std::function<bool()> should_stop;
  // Taken before each batch of runs and released after it (committed or
  // not): the scheduling process holds the same while it brings a finished
  // run back to life (clear, mark), so that a clean never removes a run
  // between the process reading it and writing it unfinished again.
  std::function<std::shared_ptr<void>()> batch_guard;
};

struct CleanTable {
  std::string table;  // dag_runs, task_instances, task_tries, try_logs, ...; "log files"
  long long rows = 0;
  std::optional<TimePoint> oldest, newest;  // where the table has a time that decides
};

struct CleanReport {
  bool dry_run = false;
  std::vector<CleanTable> tables;  // always every table, in the same order, zeros included
  long long batches = 0;           // transactions it took (0 for a dry run)
  long long total() const;         // rows of every table and the log files removed
  const CleanTable* find(std::string_view table) const;
};

// The tables of a CleanReport, in its order ("log files" last).
const std::vector<std::string>& clean_tables();
// The audit details of a clean (the same on every engine): the cutoffs and
// the counts of what it removed.
std::string clean_audit_details(const CleanRequest& request, const CleanReport& report);

// How the engine carries out one of the list queries the API serves: the
// very statement the list runs, with sample parameters (tests check that it
// stays on an index as history grows; docs/architecture.md).
struct QueryPlan {
  std::string name;   // e.g. runs.dag_state
  std::string table;  // the table listed
  std::string plan;   // the engine's plan, one step a line (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN
                      // with enable_seqscan off)
};

}  // namespace baton::store
