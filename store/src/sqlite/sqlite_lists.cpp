// The statements of the SQLite Store's lists (sqlite_lists.h).
#include "sqlite_lists.h"

#include <array>

#include "sqlite_rows.h"

namespace baton::store::sqlite {

namespace {

const std::string kBackfillCols =
    "id, dag_id, from_at, to_at, from_text, to_text, reprocess, max_active_runs, reverse, tasks, downstream, state, "
    "total, done, failed, cursor_at, created_by, created_at, ended_at, idempotency_key";

std::string runs_text(bool dag, bool state, bool type, bool unfinished) {
  std::string w;
  if (dag) w += "dag_id = ?1 AND ";
  if (state) w += "state = ?2 AND ";
  if (type) w += "run_type = ?3 AND ";
  if (unfinished) w += "state IN ('queued', 'running') AND ";
  return std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE " + w +
         "(logical_date, id) < (?5, ?6) ORDER BY logical_date DESC, id DESC LIMIT ?7";
}

// The DAG an audit entry's target is about: the expression of the index
// audit_by_dag (migrations/sqlite/0007_read_indexes.sql), word for word.
const std::string kAuditDag =
    "(CASE WHEN substr(target, 1, 4) = 'dag:' THEN substr(target, 5, instr(substr(target, 5) || '/', '/') - 1) END)";

std::string audit_text(int lead, bool newest_first) {
  std::string lead_where = lead == 0   ? kAuditDag + " = ?2"
                           : lead == 1 ? "action = ?3 AND (?2 IS NULL OR " + kAuditDag + " = ?2)"
                           : lead == 2 ? "actor = ?4 AND (?2 IS NULL OR " + kAuditDag + " = ?2) AND (?3 IS NULL OR action = ?3)"
                                       : std::string("?2 IS NULL AND ?3 IS NULL");
  return "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log WHERE " + lead_where +
         " AND (?4 IS NULL OR actor = ?4) AND (?3 IS NULL OR action = ?3) AND (?5 IS NULL OR at >= ?5) "
         "AND id > ?1 AND id < ?7 ORDER BY id" +
         (newest_first ? " DESC" : "") + " LIMIT ?6";
}

}  // namespace

const char* kTaskInstanceColumns =
    "id, run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, pool_slots, priority, ready_at, "
    "wake_at, started_at, ended_at, worker, attempt_token, exit_code, reason, heartbeat_at, last_activity_at, output, "
    "item, flags, progress";

const char* runs_sql(bool dag, bool state, bool type, bool unfinished) {
  static const std::array<std::string, 16> texts = [] {
    std::array<std::string, 16> t;
    for (int i = 0; i < 16; ++i) t[i] = runs_text(i & 1, i & 2, i & 4, i & 8);
    return t;
  }();
  return texts[(dag ? 1 : 0) | (state ? 2 : 0) | (type ? 4 : 0) | (unfinished ? 8 : 0)].c_str();
}

const char* audit_sql(bool dag, bool action, bool actor, bool newest_first) {
  static const std::array<std::string, 8> texts = [] {
    std::array<std::string, 8> t;
    for (int i = 0; i < 8; ++i) t[i] = audit_text(i / 2, i % 2);
    return t;
  }();
  int lead = dag ? 0 : action ? 1 : actor ? 2 : 3;
  return texts[lead * 2 + (newest_first ? 1 : 0)].c_str();
}

const char* backfills_sql(bool dag) {
  static const std::string by_dag = "SELECT " + kBackfillCols +
                                    " FROM backfills WHERE dag_id = ?1 AND (?2 = 0 OR state = 'running') AND id < ?3 "
                                    "ORDER BY id DESC LIMIT ?4";
  static const std::string all = "SELECT " + kBackfillCols +
                                 " FROM backfills WHERE ?1 IS NULL AND (?2 = 0 OR state = 'running') AND id < ?3 "
                                 "ORDER BY id DESC LIMIT ?4";
  return dag ? by_dag.c_str() : all.c_str();
}

const char* sla_misses_sql(bool dag) {
  return dag ? "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at FROM sla_misses WHERE dag_id = ?2 "
               "AND id > ?1 AND (?3 IS NULL OR detected_at >= ?3) ORDER BY id LIMIT ?4"
             : "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at FROM sla_misses WHERE ?2 IS NULL "
               "AND id > ?1 AND (?3 IS NULL OR detected_at >= ?3) ORDER BY id LIMIT ?4";
}

const char* sla_risks_sql(bool dag) {
  return dag ? "SELECT id, dag_id, run_id, kind, deadline, expected_end, detected_at, recovered_at FROM sla_risks "
               "WHERE dag_id = ?2 AND id > ?1 AND (?3 IS NULL OR detected_at >= ?3) ORDER BY id LIMIT ?4"
             : "SELECT id, dag_id, run_id, kind, deadline, expected_end, detected_at, recovered_at FROM sla_risks "
               "WHERE ?2 IS NULL AND id > ?1 AND (?3 IS NULL OR detected_at >= ?3) ORDER BY id LIMIT ?4";
}

// Named: left alone, the planner walks the primary key up from the oldest
// row until the first one that recent (min's shortcut), every older row.
const char* kAuditFirstSinceSql = "SELECT min(id) FROM audit_log INDEXED BY audit_at WHERE at >= ?1";
const char* kSlaMissesFirstSinceSql =
    "SELECT min(id) FROM sla_misses INDEXED BY sla_misses_at WHERE detected_at >= ?1";
const char* kSlaRisksFirstSinceSql = "SELECT min(id) FROM sla_risks INDEXED BY sla_risks_at WHERE detected_at >= ?1";

const char* dataset_events_sql(bool uri) {
  return uri ? "SELECT id, uri, at, extra, source_dag_id, source_run_id, source_task_id FROM dataset_events "
               "WHERE uri = ?2 AND id > ?1 ORDER BY id LIMIT ?3"
             : "SELECT id, uri, at, extra, source_dag_id, source_run_id, source_task_id FROM dataset_events "
               "WHERE ?2 IS NULL AND id > ?1 ORDER BY id LIMIT ?3";
}

const char* kTaskInstancesSql = [] {
  static const std::string s =
      std::string("SELECT ") + kTaskInstanceColumns + " FROM task_instances WHERE run_pk = ? ORDER BY id";
  return s.c_str();
}();

const char* kTriesSql =
    "SELECT ti_id, try_number, state, worker, attempt_token, queued_at, started_at, ended_at, exit_code, reason, "
    "log_path, log_bytes FROM task_tries WHERE ti_id = ? ORDER BY try_number";

const char* kRunTriesSql =
    "SELECT y.ti_id, y.try_number, y.state, y.worker, y.attempt_token, y.queued_at, y.started_at, y.ended_at, "
    "y.exit_code, y.reason, y.log_path, y.log_bytes FROM task_tries y JOIN task_instances i ON i.id = y.ti_id "
    "WHERE i.run_pk = ? ORDER BY y.ti_id, y.try_number";

const char* kNotificationsSql =
    "SELECT id, event, dag_id, target_kind, target, payload, attempts, next_attempt_at, state, last_error, "
    "created_at FROM notifications WHERE dag_id = ? ORDER BY id LIMIT ?";

std::vector<ListStatement> list_statements() {
  std::vector<ListStatement> out;
  // A DAG's runs (the lists of the API and the scheduler); runs of every DAG
  // are listed only unfinished (recovery): no index serves the other shapes.
  static const char* kShapes[] = {"all", "dag", "state", "dag_state", "type", "dag_type", "state_type",
                                  "dag_state_type"};
  for (int i = 1; i < 8; i += 2)
    out.push_back({std::string("runs.") + kShapes[i], "dag_runs", runs_sql(i & 1, i & 2, i & 4, false)});
  out.push_back({"runs.unfinished", "dag_runs", runs_sql(false, false, false, true)});
  out.push_back({"runs.dag_unfinished", "dag_runs", runs_sql(true, false, false, true)});
  static const char* kLeads[] = {"dag", "action", "actor", "all"};
  for (int lead = 0; lead < 4; ++lead)
    for (bool desc : {false, true})
      out.push_back({std::string("audit.") + kLeads[lead] + (desc ? ".newest" : ".oldest"), "audit_log",
                     audit_sql(lead == 0, lead == 1, lead == 2, desc)});
  out.push_back({"audit.first_since", "audit_log", kAuditFirstSinceSql});
  out.push_back({"sla_misses.first_since", "sla_misses", kSlaMissesFirstSinceSql});
  out.push_back({"sla_risks.first_since", "sla_risks", kSlaRisksFirstSinceSql});
  out.push_back({"dags.page", "dags", kDagsPageSql});
  out.push_back({"task_instances.run", "task_instances", kTaskInstancesSql});
  out.push_back({"tries.task_instance", "task_tries", kTriesSql});
  out.push_back({"tries.run", "task_tries", kRunTriesSql});
  out.push_back({"backfills.all", "backfills", backfills_sql(false)});
  out.push_back({"backfills.dag", "backfills", backfills_sql(true)});
  out.push_back({"sla_misses.all", "sla_misses", sla_misses_sql(false)});
  out.push_back({"sla_misses.dag", "sla_misses", sla_misses_sql(true)});
  out.push_back({"sla_risks.all", "sla_risks", sla_risks_sql(false)});
  out.push_back({"sla_risks.dag", "sla_risks", sla_risks_sql(true)});
  out.push_back({"notifications.dag", "notifications", kNotificationsSql});
  out.push_back({"dataset_events.all", "dataset_events", dataset_events_sql(false)});
  out.push_back({"dataset_events.uri", "dataset_events", dataset_events_sql(true)});
  return out;
}

}  // namespace baton::store::sqlite
