// The statements of the PostgreSQL Store's lists: each list method runs one
// of these, and explain_list_queries() explains the same texts with sample
// parameters (store.h QueryPlan), so that the tests check the very
// statements the lists run. Each shape of a filter has a statement of its
// own, with its filters as equalities on the index of that shape and the
// cursor as a row value (a seek, never a skip over the rows before it); a
// filter the shape lacks is bound as NULL and tested once (`$n IS NULL`).
// Internal to the PostgreSQL engine.
#pragma once

#include <string>
#include <vector>

#include "postgres_rows.h"

namespace baton::store::postgres {

struct ListStatement {
  std::string name;   // e.g. runs.dag_state
  std::string table;  // the table listed
  std::string sql;
  Params sample;      // parameters to explain it with
};

// Runs, newest first: $1 dag_id, $2 state, $3 run_type, $4/$5 the cursor's
// (logical_date, id) (the largest values for the first page), $6 the limit.
const std::string& runs_sql(bool dag, bool state, bool type, bool unfinished);
// Audit entries: led by the DAG ($2), else the action ($3), else the actor
// ($4), else the id alone; $1 after id, $7 before id, $5 since, $6 limit.
const std::string& audit_sql(bool dag, bool action, bool actor, bool newest_first);
// Backfills newest first ($1 dag_id, $2 unfinished only, $3 before id, $4 limit).
const std::string& backfills_sql(bool dag);
// SLA misses oldest first ($1 after id, $2 dag_id, $3 since, $4 limit).
const std::string& sla_misses_sql(bool dag);
const std::string& sla_risks_sql(bool dag);  // the same way
// Dataset events oldest first ($1 after id, $2 uri, $3 limit).
const std::string& dataset_events_sql(bool uri);
// The first audit entry and SLA miss at or after $1 (since): min(id) on the
// indexes audit_at and sla_misses_at, so that a list since an instant starts
// there ($1 after id) instead of walking every older row.
extern const std::string kAuditFirstSinceSql;
extern const std::string kSlaMissesFirstSinceSql;
extern const std::string kSlaRisksFirstSinceSql;
extern const std::string kDagsPageSql;       // $1 after dag_id, $2 limit
extern const std::string kTaskInstancesSql;  // $1 run_pk
extern const std::string kTriesSql;          // $1 ti_id
extern const std::string kRunTriesSql;       // $1 run_pk
extern const std::string kNotificationsSql;  // $1 dag_id, $2 limit
extern const std::string kRecentRunsSql;     // $1 dag ids (an array), $2 runs per DAG
extern const char* kTaskInstanceColumns;     // in the order ti_row reads them

// Every list statement, named, with sample parameters.
std::vector<ListStatement> list_statements();

}  // namespace baton::store::postgres
