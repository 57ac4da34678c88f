// A scheduler's write batch on PostgreSQL, as statements built before they
// run: each table's rows of a batch in one statement (columns as array
// parameters taken apart by unnest), and statements joined as the parts
// (data-modifying CTEs) of one. Internal to the PostgreSQL engine.
#pragma once

#include <string>
#include <vector>

#include "postgres_rows.h"

namespace baton::store::postgres {

struct Statement {
  std::string sql;
  Params params;
};

// The SQL with each $N made $(N + offset): a statement's parameters after
// another's, in one statement of both.
std::string renumbered(const std::string& sql, size_t offset);

// One part of a statement of several: `WITH name AS (sql)`.
struct Part {
  const char* name;
  Statement statement;
};
// `WITH p1 AS (...), p2 AS (...) tail`, the tail's $N after the parts'. A
// data-modifying part runs once, whether or not the tail reads it; a SELECT
// part (a lock FOR SHARE) runs only if the tail reads it. Two parts must not
// touch the same row (they see one snapshot, not each other's writes).
Statement with_parts(const std::vector<Part>& parts, const Statement& tail);

// Every run of a batch (updated by pk: state, times, version, backfill,
// forecast; a run named twice takes its last).
Statement runs_statement(const std::vector<RunRecord>& rows);
// Each DAG's last tick, moved forward only (a DAG named twice: the latest).
Statement last_ticks_statement(const std::vector<std::pair<std::string, TimePoint>>& ticks);
// Every task instance of a batch (updated by id, every mutable field).
Statement tis_statement(const std::vector<TaskInstanceRecord>& rows);
// Every try of a batch (upserted by ti_id, try_number).
Statement tries_statement(const std::vector<TryRecord>& rows);
// Every duration of a batch into its task's ring slot (a slot written twice
// keeps its newest).
Statement durations_statement(const std::vector<TaskDuration>& rows);
// Tries for remote workers (an existing token is kept).
Statement enqueue_statement(const std::vector<QueueItem>& items);
// Worker events applied (deleted).
Statement events_done_statement(const std::vector<long long>& ids);
// The fences' partitions with their epochs, locked FOR SHARE until the
// transaction ends (a move waits for it).
Statement fences_statement(const std::vector<Fence>& fences);

}  // namespace baton::store::postgres
