// The statements of the PostgreSQL Store's lists (postgres_lists.h).
#include "postgres_lists.h"

#include <array>
#include <limits>

namespace baton::store::postgres {

namespace {

const std::string kBackfillCols =
    "id, dag_id, from_at, to_at, from_text, to_text, reprocess, max_active_runs, reverse, tasks, downstream, state, "
    "total, done, failed, cursor_at, created_by, created_at, ended_at, idempotency_key";

std::string runs_text(bool dag, bool state, bool type, bool unfinished) {
  std::string w;
  w += dag ? "dag_id = $1::text AND " : "$1::text IS NULL AND ";
  w += state ? "state = $2::text AND " : "$2::text IS NULL AND ";
  w += type ? "run_type = $3::text AND " : "$3::text IS NULL AND ";
  if (unfinished) w += "state IN ('queued', 'running') AND ";
  return std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE " + w +
         "(logical_date, id) < ($4::bigint, $5::bigint) ORDER BY logical_date DESC, id DESC LIMIT $6";
}

// The DAG an audit entry's target is about: the expression of the index
// audit_by_dag (migrations/postgres/0007_read_indexes.sql), word for word.
const std::string kAuditDag =
    "(CASE WHEN left(target, 4) = 'dag:' THEN split_part(substr(target, 5), '/', 1) END)";

std::string audit_text(int lead, bool newest_first) {
  std::string lead_where =
      lead == 0   ? kAuditDag + " = $2::text"
      : lead == 1 ? "action = $3::text AND ($2::text IS NULL OR " + kAuditDag + " = $2::text)"
      : lead == 2 ? "actor = $4::text AND ($2::text IS NULL OR " + kAuditDag + " = $2::text) AND ($3::text IS NULL OR action = $3::text)"
                  : std::string("$2::text IS NULL AND $3::text IS NULL");
  return "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log WHERE " + lead_where +
         " AND ($4::text IS NULL OR actor = $4::text) AND ($3::text IS NULL OR action = $3::text) "
         "AND ($5::bigint IS NULL OR at + 0 >= $5::bigint) AND id > $1::bigint AND id < $7::bigint ORDER BY id" +
         (newest_first ? " DESC" : "") + " LIMIT $6";
}

constexpr long long kLast = std::numeric_limits<long long>::max();

}  // namespace

const char* kTaskInstanceColumns =
    "id, run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, pool_slots, priority, ready_at, "
    "wake_at, started_at, ended_at, worker, attempt_token, exit_code, reason, heartbeat_at, last_activity_at, output, "
    "item, flags, progress";

const std::string& runs_sql(bool dag, bool state, bool type, bool unfinished) {
  static const std::array<std::string, 16> texts = [] {
    std::array<std::string, 16> t;
    for (int i = 0; i < 16; ++i) t[i] = runs_text(i & 1, i & 2, i & 4, i & 8);
    return t;
  }();
  return texts[(dag ? 1 : 0) | (state ? 2 : 0) | (type ? 4 : 0) | (unfinished ? 8 : 0)];
}

const std::string& audit_sql(bool dag, bool action, bool actor, bool newest_first) {
  static const std::array<std::string, 8> texts = [] {
    std::array<std::string, 8> t;
    for (int i = 0; i < 8; ++i) t[i] = audit_text(i / 2, i % 2);
    return t;
  }();
  int lead = dag ? 0 : action ? 1 : actor ? 2 : 3;
  return texts[lead * 2 + (newest_first ? 1 : 0)];
}

const std::string& backfills_sql(bool dag) {
  static const std::string by_dag = "SELECT " + kBackfillCols +
                                    " FROM backfills WHERE dag_id = $1::text AND (NOT $2::boolean OR state = 'running') "
                                    "AND id < $3::bigint ORDER BY id DESC LIMIT $4";
  static const std::string all = "SELECT " + kBackfillCols +
                                 " FROM backfills WHERE $1::text IS NULL AND (NOT $2::boolean OR state = 'running') "
                                 "AND id < $3::bigint ORDER BY id DESC LIMIT $4";
  return dag ? by_dag : all;
}

const std::string& sla_misses_sql(bool dag) {
  static const std::string by_dag =
      "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at FROM sla_misses WHERE dag_id = $2::text "
      "AND id > $1::bigint AND ($3::bigint IS NULL OR detected_at + 0 >= $3::bigint) ORDER BY id LIMIT $4";
  static const std::string all =
      "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at FROM sla_misses WHERE $2::text IS NULL "
      "AND id > $1::bigint AND ($3::bigint IS NULL OR detected_at + 0 >= $3::bigint) ORDER BY id LIMIT $4";
  return dag ? by_dag : all;
}

const std::string& sla_risks_sql(bool dag) {
  static const std::string by_dag =
      "SELECT id, dag_id, run_id, kind, deadline, expected_end, detected_at, recovered_at FROM sla_risks "
      "WHERE dag_id = $2::text AND id > $1::bigint AND ($3::bigint IS NULL OR detected_at + 0 >= $3::bigint) "
      "ORDER BY id LIMIT $4";
  static const std::string all =
      "SELECT id, dag_id, run_id, kind, deadline, expected_end, detected_at, recovered_at FROM sla_risks "
      "WHERE $2::text IS NULL AND id > $1::bigint AND ($3::bigint IS NULL OR detected_at + 0 >= $3::bigint) "
      "ORDER BY id LIMIT $4";
  return dag ? by_dag : all;
}

// (The lists test their instant as `at + 0`, so that they walk by id from
// there rather than sort what audit_at finds.)
// OFFSET 0: the rows that recent first (audit_at, sla_misses_at), never
// min's shortcut of the primary key walked up from the oldest row.
const std::string kAuditFirstSinceSql =
    "SELECT min(id) FROM (SELECT id FROM audit_log WHERE at >= $1::bigint OFFSET 0) AS recent";
const std::string kSlaMissesFirstSinceSql =
    "SELECT min(id) FROM (SELECT id FROM sla_misses WHERE detected_at >= $1::bigint OFFSET 0) AS recent";
const std::string kSlaRisksFirstSinceSql =
    "SELECT min(id) FROM (SELECT id FROM sla_risks WHERE detected_at >= $1::bigint OFFSET 0) AS recent";

const std::string& dataset_events_sql(bool uri) {
  static const std::string by_uri =
      "SELECT id, uri, at, extra, source_dag_id, source_run_id, source_task_id FROM dataset_events "
      "WHERE uri = $2::text AND id > $1::bigint ORDER BY id LIMIT $3";
  static const std::string all =
      "SELECT id, uri, at, extra, source_dag_id, source_run_id, source_task_id FROM dataset_events "
      "WHERE $2::text IS NULL AND id > $1::bigint ORDER BY id LIMIT $3";
  return uri ? by_uri : all;
}

const std::string kDagsPageSql =
    "SELECT dag_id, namespace, file, current_version, active, paused, import_errors, partition_no, last_tick, "
    "created_at, updated_at FROM dags WHERE dag_id > $1::text ORDER BY dag_id LIMIT $2";

const std::string kTaskInstancesSql =
    std::string("SELECT ") + kTaskInstanceColumns + " FROM task_instances WHERE run_pk = $1 ORDER BY id";

const std::string kTriesSql =
    "SELECT ti_id, try_number, state, worker, attempt_token, queued_at, started_at, ended_at, exit_code, reason, "
    "log_path, log_bytes FROM task_tries WHERE ti_id = $1 ORDER BY try_number";

const std::string kRunTriesSql =
    "SELECT y.ti_id, y.try_number, y.state, y.worker, y.attempt_token, y.queued_at, y.started_at, y.ended_at, "
    "y.exit_code, y.reason, y.log_path, y.log_bytes FROM task_tries y JOIN task_instances i ON i.id = y.ti_id "
    "WHERE i.run_pk = $1 ORDER BY y.ti_id, y.try_number";

const std::string kNotificationsSql =
    "SELECT id, event, dag_id, target_kind, target, payload, attempts, next_attempt_at, state, last_error, "
    "created_at FROM notifications WHERE dag_id = $1 ORDER BY id LIMIT $2";

// One statement for a page of DAGs: per DAG, an index seek for its newest runs.
const std::string kRecentRunsSql = [] {
  std::string cols;
  std::string all = kRunColumns;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find(',', pos);
    if (end == std::string::npos) end = all.size();
    std::string c = all.substr(pos, end - pos);
    while (!c.empty() && c.front() == ' ') c.erase(c.begin());
    cols += (cols.empty() ? "r." : ", r.") + c;
    pos = end + 1;
  }
  return "SELECT " + cols + " FROM unnest($1::text[]) AS d(dag_id) CROSS JOIN LATERAL (SELECT " + kRunColumns +
         " FROM dag_runs WHERE dag_runs.dag_id = d.dag_id ORDER BY logical_date DESC, id DESC LIMIT $2) AS r "
         "ORDER BY r.dag_id, r.logical_date DESC, r.id DESC";
}();

std::vector<ListStatement> list_statements() {
  std::vector<ListStatement> out;
  static const char* kShapes[] = {"all", "dag", "state", "dag_state", "type", "dag_type", "state_type",
                                  "dag_state_type"};
  auto opt = [](bool on, const char* v) { return on ? std::optional<std::string>(v) : std::nullopt; };
  // A DAG's runs (the lists of the API and the scheduler); runs of every DAG
  // are listed only unfinished (recovery): no index serves the other shapes.
  for (int i = 1; i < 8; i += 2)
    out.push_back({std::string("runs.") + kShapes[i], "dag_runs", runs_sql(i & 1, i & 2, i & 4, false),
                   params(opt(i & 1, "d"), opt(i & 2, "failed"), opt(i & 4, "manual"), 1LL << 50, 1000LL, 101)});
  out.push_back({"runs.unfinished", "dag_runs", runs_sql(false, false, false, true),
                 params(std::optional<std::string>(), std::optional<std::string>(), std::optional<std::string>(),
                        kLast, kLast, 1000)});
  out.push_back({"runs.dag_unfinished", "dag_runs", runs_sql(true, false, false, true),
                 params(std::string("d"), std::optional<std::string>(), std::optional<std::string>(), kLast, kLast,
                        101)});
  static const char* kLeads[] = {"dag", "action", "actor", "all"};
  for (int lead = 0; lead < 4; ++lead)
    for (bool desc : {false, true})
      out.push_back({std::string("audit.") + kLeads[lead] + (desc ? ".newest" : ".oldest"), "audit_log",
                     audit_sql(lead == 0, lead == 1, lead == 2, desc),
                     params(0LL, opt(lead == 0, "d"), opt(lead == 1, "run.triggered"), opt(lead == 2, "ci"),
                            std::optional<long long>(), 101, kLast)});
  // Since an instant: after the first id at or after it.
  for (int lead = 0; lead < 4; ++lead)
    out.push_back({std::string("audit.") + kLeads[lead] + ".since", "audit_log",
                   audit_sql(lead == 0, lead == 1, lead == 2, true),
                   params(1000LL, opt(lead == 0, "d"), opt(lead == 1, "run.triggered"), opt(lead == 2, "ci"),
                          std::optional<long long>(1LL << 50), 101, kLast)});
  out.push_back({"audit.first_since", "audit_log", kAuditFirstSinceSql, params(1LL << 50)});
  out.push_back({"sla_misses.first_since", "sla_misses", kSlaMissesFirstSinceSql, params(1LL << 50)});
  out.push_back({"dags.page", "dags", kDagsPageSql, params(std::string("d"), 101)});
  out.push_back({"runs.recent", "dag_runs", kRecentRunsSql, params(std::string("{a,b,c}"), 5)});
  out.push_back({"task_instances.run", "task_instances", kTaskInstancesSql, params(1LL)});
  out.push_back({"tries.task_instance", "task_tries", kTriesSql, params(1LL)});
  out.push_back({"tries.run", "task_tries", kRunTriesSql, params(1LL)});
  out.push_back({"backfills.all", "backfills", backfills_sql(false),
                 params(std::optional<std::string>(), false, kLast, 101)});
  out.push_back({"backfills.dag", "backfills", backfills_sql(true), params(std::string("d"), false, kLast, 101)});
  out.push_back({"sla_misses.all", "sla_misses", sla_misses_sql(false),
                 params(0LL, std::optional<std::string>(), std::optional<long long>(), 101)});
  out.push_back({"sla_misses.dag", "sla_misses", sla_misses_sql(true),
                 params(0LL, std::string("d"), std::optional<long long>(), 101)});
  out.push_back({"sla_misses.all.since", "sla_misses", sla_misses_sql(false),
                 params(1000LL, std::optional<std::string>(), std::optional<long long>(1LL << 50), 101)});
  out.push_back({"sla_misses.dag.since", "sla_misses", sla_misses_sql(true),
                 params(1000LL, std::string("d"), std::optional<long long>(1LL << 50), 101)});
  out.push_back({"sla_risks.first_since", "sla_risks", kSlaRisksFirstSinceSql, params(1LL << 50)});
  out.push_back({"sla_risks.all", "sla_risks", sla_risks_sql(false),
                 params(0LL, std::optional<std::string>(), std::optional<long long>(), 101)});
  out.push_back({"sla_risks.dag", "sla_risks", sla_risks_sql(true),
                 params(0LL, std::string("d"), std::optional<long long>(), 101)});
  out.push_back({"notifications.dag", "notifications", kNotificationsSql, params(std::string("d"), 101)});
  out.push_back({"dataset_events.all", "dataset_events", dataset_events_sql(false),
                 params(0LL, std::optional<std::string>(), 101)});
  out.push_back({"dataset_events.uri", "dataset_events", dataset_events_sql(true),
                 params(0LL, std::string("s3://b/k"), 101)});
  return out;
}

}  // namespace baton::store::postgres
