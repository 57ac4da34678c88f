// The statements of the SQLite Store's lists: each list method prepares one
// of these, and explain_list_queries() explains the same texts (store.h
// QueryPlan), so that the tests check the very statements the lists run.
// Each shape of a filter has a statement of its own, with its filters as
// equalities on the index of that shape and the cursor as a row value (a
// seek, never a skip over the rows before it). Internal to the SQLite engine.
#pragma once

#include <string>
#include <vector>

namespace baton::store::sqlite {

struct ListStatement {
  std::string name;   // e.g. runs.dag_state
  std::string table;  // the table listed
  const char* sql;    // stable for the process (the statement cache keys on it)
};

// Runs, newest first: ?1 dag_id, ?2 state, ?3 run_type, ?5/?6 the cursor's
// (logical_date, id) (the largest values for the first page), ?7 the limit.
const char* runs_sql(bool dag, bool state, bool type, bool unfinished);
// Audit entries: led by the DAG (?2), else the action (?3), else the actor
// (?4), else the id alone; ?1 after id, ?7 before id (0: none), ?5 since, ?6 limit.
const char* audit_sql(bool dag, bool action, bool actor, bool newest_first);
// Backfills newest first (?1 dag_id, ?2 unfinished only, ?3 before id (0: none), ?4 limit).
const char* backfills_sql(bool dag);
// SLA misses oldest first (?1 after id, ?2 dag_id, ?3 since, ?4 limit).
const char* sla_misses_sql(bool dag);
// SLA risks the same way.
const char* sla_risks_sql(bool dag);
// Dataset events oldest first (?1 after id, ?2 uri, ?3 limit).
const char* dataset_events_sql(bool uri);
// The first audit entry and SLA miss at or after ?1 (since): min(id) on the
// indexes audit_at and sla_misses_at, so that a list since an instant starts
// there (its after id) instead of walking every older row.
extern const char* kAuditFirstSinceSql;
extern const char* kSlaMissesFirstSinceSql;
extern const char* kSlaRisksFirstSinceSql;
extern const char* kDagsPageSql;          // ?1 after dag_id, ?2 limit
extern const char* kTaskInstancesSql;     // ?1 run_pk
extern const char* kTriesSql;             // ?1 ti_id
extern const char* kRunTriesSql;          // ?1 run_pk
extern const char* kNotificationsSql;     // ?1 dag_id, ?2 limit
extern const char* kTaskInstanceColumns;  // in the order ti_row reads them

// Every list statement, named, for explain_list_queries().
std::vector<ListStatement> list_statements();

}  // namespace baton::store::sqlite
