// The PostgreSQL Store: runs, their task instances and tries (the writes of
// a whole batch of rows in one statement).
#include <cctype>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <map>

#include "postgres_lists.h"
#include "postgres_store.h"

namespace baton::store::postgres {

namespace {

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
  t.flags = opt_text(r[23]).value_or("");
  t.progress = opt_text(r[24]);
  return t;
}

}  // namespace

// ---- runs ----

Result<std::vector<Result<Store::Created>>> PostgresRuns::create_runs(const std::vector<NewRun>& runs,
                                                                       const std::string& actor,
                                                                       const std::vector<Fence>& fences) {
  // The first run of an idempotency key, with its task instances.
  auto first = [&](pqxx::transaction_base& t, const RunRecord& run) -> Result<std::optional<Created>> {
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
  std::vector<size_t> raced;  // another process made a key's run while this transaction ran
  auto made = write([&](pqxx::work& t) -> Result<std::vector<Result<Created>>> {
    raced.clear();
    if (auto f = check_fences(t, fences); !f) return f.error();
    std::vector<Result<Created>> out;
    out.reserve(runs.size());
    for (auto& nr : runs) {
      const RunRecord& run = nr.run;
      if (run.idempotency_key) {
        auto f = first(t, run);
        if (!f) return f.error();
        if (*f) {
          out.push_back(std::move(**f));
          continue;
        }
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
        if (run.idempotency_key) raced.push_back(out.size());
        out.push_back(Error{"conflict", "DAG " + run.dag_id + " already has a run " +
                                            (run.run_type == "scheduled" || run.run_type == "backfill"
                                                 ? "for the interval starting " + format_utc(run.logical_date)
                                                 : "with id " + run.run_id)});
        continue;
      }
      c.run.pk = (*ins)[0][0].as<long long>();
      c.task_instances = nr.task_instances;
      if (auto s = insert_tis(t, c.run.pk, c.task_instances); !s) return s.error();
      for (auto& cur : nr.cursors)
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
        if (auto a = audit(t, nr.actor.empty() ? actor : nr.actor, "run.triggered",
                           "dag:" + run.dag_id + "/" + run.run_id, details);
            !a)
          return a.error();
      }
      out.push_back(std::move(c));
    }
    return out;
  });
  if (!made || raced.empty()) return made;
  // A key whose insert met another process's run: that run is the answer
  // (read after this transaction, where it is visible). The others are
  // made already: a failed read is that entry's error alone.
  for (size_t i : raced) {
    auto again = read([&](pqxx::transaction_base& t) { return first(t, runs[i].run); });
    if (!again) (*made)[i] = again.error();
    else if (*again) (*made)[i] = std::move(**again);
  }
  return made;
}

Result<std::vector<RunRecord>> PostgresRuns::list_runs(const RunFilter& f) {
  const std::string& sql =
      runs_sql(f.dag_id.has_value(), f.state.has_value(), f.run_type.has_value(), f.unfinished_only);
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<RunRecord>> {
    constexpr long long kLast = std::numeric_limits<long long>::max();  // no cursor: from the newest
    Params p;
    p.add(f.dag_id).add(f.state ? std::optional<std::string>(to_string(*f.state)) : std::nullopt).add(f.run_type);
    p.add(f.before ? us(f.before->first) : kLast).add(f.before ? f.before->second : kLast).add(f.limit);
    auto r = exec(t, sql, p);
    if (!r) return r.error();
    std::vector<RunRecord> out;
    for (auto row : *r) out.push_back(run_row(row));
    return out;
  });
}

Result<std::map<std::string, std::vector<RunRecord>>> PostgresRuns::recent_runs(
    const std::vector<std::string>& dag_ids, int per_dag) {
  std::map<std::string, std::vector<RunRecord>> out;
  if (dag_ids.empty()) return out;
  Column ids;
  for (auto& id : dag_ids) ids.add(id);
  return read([&](pqxx::transaction_base& t) -> Result<std::map<std::string, std::vector<RunRecord>>> {
    auto r = exec(t, kRecentRunsSql, params(ids.text(), per_dag));
    if (!r) return r.error();
    for (auto row : *r) {
      RunRecord run = run_row(row);
      out[run.dag_id].push_back(std::move(run));
    }
    return out;
  });
}

Result<std::optional<RunRecord>> PostgresRuns::find_run_by_key(const std::string& dag_id, const std::string& key) {
  static const std::string sql =
      sql_with("SELECT ", kRunColumns, " FROM dag_runs WHERE dag_id = $1 AND idempotency_key = $2");
  return read([&](pqxx::transaction_base& t) -> Result<std::optional<RunRecord>> {
    auto r = exec(t, sql, params(dag_id, key));
    if (!r) return r.error();
    if (r->empty()) return std::optional<RunRecord>();
    return std::optional<RunRecord>(run_row((*r)[0]));
  });
}

Result<RunRecord> PostgresRuns::get_run(const std::string& dag_id, const std::string& run_id) {
  static const std::string sql = sql_with("SELECT ", kRunColumns, " FROM dag_runs WHERE dag_id = $1 AND run_id = $2");
  return read([&](pqxx::transaction_base& t) -> Result<RunRecord> {
    auto r = exec(t, sql, params(dag_id, run_id));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("DAG " + dag_id + " has no run " + run_id);
    return run_row((*r)[0]);
  });
}

Result<std::vector<TaskInstanceRecord>> PostgresRuns::list_task_instances(long long run_pk) {
  return read([&](pqxx::transaction_base& t) { return tis_in(t, run_pk); });
}

Result<std::vector<TaskInstanceRecord>> PostgresRuns::add_task_instances(long long run_pk,
                                                                          const std::vector<TaskInstanceRecord>& tis,
                                                                          const std::vector<Fence>& fences) {
  return write([&](pqxx::work& t) -> Result<std::vector<TaskInstanceRecord>> {
    if (auto f = check_fences(t, fences); !f) return f.error();
    std::vector<TaskInstanceRecord> out = tis;
    if (auto s = insert_tis(t, run_pk, out); !s) return s.error();
    return out;
  });
}

Result<std::vector<TryRecord>> PostgresRuns::list_tries(long long ti_id) {
  return read_tries(kTriesSql.c_str(), ti_id);
}

Result<std::vector<TryRecord>> PostgresRuns::list_run_tries(long long run_pk) {
  return read_tries(kRunTriesSql.c_str(), run_pk);
}

Result<std::vector<TryRecord>> PostgresRuns::read_tries(const char* sql, long long key) {
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

Result<std::optional<RunRecord>> PostgresRuns::previous_run(const std::string& dag_id, TimePoint logical_date) {
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

Result<std::vector<TaskInstanceRecord>> PostgresRuns::tis_in(pqxx::transaction_base& t, long long run_pk) {
  auto r = exec(t, kTaskInstancesSql, params(run_pk));
  if (!r) return r.error();
  std::vector<TaskInstanceRecord> out;
  for (auto row : *r) out.push_back(ti_row(row));
  return out;
}

namespace {

struct Statement {
  std::string sql;
  Params params;
};

// The SQL with each $N made $(N + offset): a second statement's parameters
// after the first one's, in one statement of both.
std::string renumbered(const std::string& sql, size_t offset) {
  std::string out;
  for (size_t i = 0; i < sql.size(); ++i) {
    out += sql[i];
    if (sql[i] != '$' || i + 1 >= sql.size() || !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) continue;
    size_t k = i + 1;
    size_t n = 0;
    while (k < sql.size() && std::isdigit(static_cast<unsigned char>(sql[k])))
      n = n * 10 + static_cast<size_t>(sql[k++] - '0');
    out += std::to_string(n + offset);
    i = k - 1;
  }
  return out;
}

// Every task instance row of a batch in one statement.
Statement tis_statement(const std::vector<TaskInstanceRecord>& rows) {
  Column id, state, try_number, max_tries, ready_at, wake_at, started_at, ended_at, worker, token, exit_code, reason,
      heartbeat_at, activity_at, output, flags, progress;
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
    flags.add(x->flags.empty() ? std::nullopt : std::optional<std::string>(x->flags));
    progress.add(x->progress);
  }
  return {"UPDATE task_instances AS t SET state = v.state, try_number = v.try_number, max_tries = v.max_tries, "
                "ready_at = v.ready_at, wake_at = v.wake_at, started_at = v.started_at, ended_at = v.ended_at, "
                "worker = v.worker, attempt_token = v.attempt_token, exit_code = v.exit_code, reason = v.reason, "
                "heartbeat_at = v.heartbeat_at, output = v.output, flags = v.flags, "
                "progress = coalesce(v.progress, t.progress), "
                // Activity a worker stored on its own (a heartbeat) is never
                // set back by an older copy (or none) of the same try; a new
                // try starts with what it brings (NULL).
                "last_activity_at = CASE WHEN v.try_number <> t.try_number THEN v.last_activity_at "
                "ELSE greatest(t.last_activity_at, v.last_activity_at) END "
                "FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::bigint[], $6::bigint[], "
                "$7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::int[], $12::text[], $13::bigint[], "
                "$14::bigint[], $15::text[], $16::text[], $17::text[]) AS v(id, state, try_number, max_tries, "
                "ready_at, wake_at, started_at, ended_at, worker, attempt_token, exit_code, reason, heartbeat_at, "
                "last_activity_at, output, flags, progress) "
                "WHERE t.id = v.id",
          params(id.text(), state.text(), try_number.text(), max_tries.text(), ready_at.text(), wake_at.text(),
                 started_at.text(), ended_at.text(), worker.text(), token.text(), exit_code.text(), reason.text(),
                 heartbeat_at.text(), activity_at.text(), output.text(), flags.text(), progress.text())};
}

// Every try row of a batch in one statement (an upsert).
Statement tries_statement(const std::vector<TryRecord>& rows) {
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
  return {"INSERT INTO task_tries (ti_id, try_number, state, worker, attempt_token, queued_at, started_at, "
                "ended_at, exit_code, reason, log_path, log_bytes) SELECT * FROM unnest($1::bigint[], $2::int[], "
                "$3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::int[], "
                "$10::text[], $11::text[], $12::bigint[]) ON CONFLICT (ti_id, try_number) DO UPDATE SET "
                "state = excluded.state, worker = excluded.worker, attempt_token = excluded.attempt_token, "
                "queued_at = excluded.queued_at, started_at = excluded.started_at, ended_at = excluded.ended_at, "
                "exit_code = excluded.exit_code, reason = excluded.reason, log_path = excluded.log_path, "
                "log_bytes = excluded.log_bytes",
          params(ti_id.text(), try_number.text(), state.text(), worker.text(), token.text(), queued_at.text(),
                 started_at.text(), ended_at.text(), exit_code.text(), reason.text(), log_path.text(),
                 log_bytes.text())};
}

}  // namespace

Status PostgresRuns::update_tis(pqxx::transaction_base& t, const std::vector<TaskInstanceRecord>& rows) {
  auto st = tis_statement(rows);
  if (auto r = exec(t, st.sql, st.params); !r) return r.error();
  return {};
}

Status PostgresRuns::upsert_tries(pqxx::transaction_base& t, const std::vector<TryRecord>& rows) {
  auto st = tries_statement(rows);
  if (auto r = exec(t, st.sql, st.params); !r) return r.error();
  return {};
}

// Two tables, so one statement of both cannot touch a row twice.
Status PostgresRuns::update_tis_and_tries(pqxx::transaction_base& t, const std::vector<TaskInstanceRecord>& tis,
                                          const std::vector<TryRecord>& tries) {
  if (tis.empty()) return tries.empty() ? Status() : upsert_tries(t, tries);
  if (tries.empty()) return update_tis(t, tis);
  auto a = tis_statement(tis);
  auto b = tries_statement(tries);
  // The same text every time (each statement's is fixed): built once.
  static const std::string sql =
      "WITH tis AS (" + a.sql + "), tries AS (" + renumbered(b.sql, a.params.size()) + ") SELECT 1";
  a.params.append(b.params);
  if (auto r = exec(t, sql, a.params); !r) return r.error();
  return {};
}

// New task instances of one run in one statement; ids filled in.
Status PostgresRuns::insert_tis(pqxx::transaction_base& t, long long run_pk, std::vector<TaskInstanceRecord>& rows) {
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

}  // namespace baton::store::postgres
