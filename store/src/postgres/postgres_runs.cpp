// The PostgreSQL Store: runs, their task instances and tries (a batch's
// updates of them: postgres_batch.cpp).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "postgres_lists.h"
#include "postgres_store.h"
#include "run_text.h"

namespace baton::store::postgres {

namespace {

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
  auto audited = [&](const NewRun& nr) -> std::optional<AuditItem> {
    const RunRecord& run = nr.run;
    if (!run_audited(run)) return std::nullopt;
    return audit_item(nr.actor.empty() ? actor : nr.actor, "run.triggered", "dag:" + run.dag_id + "/" + run.run_id,
                      run_triggered_details(run));
  };
  auto consume = [&](pqxx::work& t, const NewRun& nr) -> Status {
    for (auto& cur : nr.cursors)
      if (auto r = exec(t,
                        "INSERT INTO dataset_consumers (dag_id, uri, last_event_id) VALUES ($1, $2, $3) "
                        "ON CONFLICT (dag_id, uri) DO UPDATE SET last_event_id = "
                        "greatest(dataset_consumers.last_event_id, excluded.last_event_id)",
                        params(cur.dag_id, cur.uri, cur.last_event_id));
          !r)
        return r.error();
    return {};
  };
  std::vector<size_t> raced;  // another process made a key's run while this transaction ran
  auto made = write([&](pqxx::work& t) -> Result<std::vector<Result<Created>>> {
    raced.clear();
    if (auto f = check_fences(t, fences); !f) return f.error();
    std::vector<std::optional<Result<Created>>> answers(runs.size());
    std::vector<std::optional<AuditItem>> entries(runs.size());  // in the batch's order
    // Makes runs[i] for each i of `which` (none named twice): one statement
    // for the runs and one for their task instances, whatever their number
    // (10,000 DAGs due at one minute), all stamped with the time the write
    // began. Each is answered, made or a conflict; false if any conflicted.
    auto insert_batch = [&](const std::vector<size_t>& which) -> Result<bool> {
      Column dag_id, run_id, run_type, state, logical, start, end, run_params, version, note, key, backfill,
          created_by, started, ended;
      for (size_t i : which) {
        const RunRecord& run = runs[i].run;
        dag_id.add(run.dag_id);
        run_id.add(run.run_id);
        run_type.add(run.run_type);
        state.add(std::string(to_string(run.state)));
        logical.add(run.logical_date);
        start.add(run.data_interval_start);
        end.add(run.data_interval_end);
        run_params.add(run.params);
        version.add(run.dag_version);
        note.add(run.note);
        key.add(run.idempotency_key);
        backfill.add(run.backfill_id);
        created_by.add(run.created_by);
        started.add(run.started_at);
        ended.add(run.ended_at);
      }
      TimePoint created_at = clock_.now();
      auto ins = exec(t,
                      "INSERT INTO dag_runs (dag_id, run_id, run_type, state, logical_date, data_interval_start, "
                      "data_interval_end, params, dag_version, note, idempotency_key, backfill_id, created_by, "
                      "created_at, started_at, ended_at) SELECT v_dag, v_run, v_type, v_state, v_logical, v_start, "
                      "v_end, v_params, v_version, v_note, v_key, v_backfill, v_by, $14, v_started, v_ended FROM "
                      "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], "
                      "$7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], "
                      "$15::bigint[], $16::bigint[]) AS v(v_dag, v_run, v_type, v_state, v_logical, v_start, v_end, "
                      "v_params, v_version, v_note, v_key, v_backfill, v_by, v_started, v_ended) "
                      "ON CONFLICT DO NOTHING RETURNING id, dag_id, run_id",
                      params(dag_id.text(), run_id.text(), run_type.text(), state.text(), logical.text(),
                             start.text(), end.text(), run_params.text(), version.text(), note.text(), key.text(),
                             backfill.text(), created_by.text(), created_at, started.text(), ended.text()));
      if (!ins) return ins.error();
      std::map<std::pair<std::string, std::string>, long long> pks;
      for (auto row : *ins) pks[{row[1].c_str(), row[2].c_str()}] = row[0].as<long long>();
      std::vector<Created> made_here;
      std::vector<size_t> made_at;
      bool all = true;
      for (size_t i : which) {
        const RunRecord& run = runs[i].run;
        auto pk = pks.find({storable(run.dag_id), storable(run.run_id)});  // as the store holds them
        if (pk == pks.end()) {
          answers[i] = run_conflict(run);
          all = false;
          continue;
        }
        Created c;
        c.run = run;
        c.run.pk = pk->second;
        c.run.created_at = created_at;
        c.task_instances = runs[i].task_instances;
        made_here.push_back(std::move(c));
        made_at.push_back(i);
      }
      if (auto s = insert_tis(t, made_here); !s) return s.error();
      for (size_t k = 0; k < made_here.size(); ++k) {
        const NewRun& nr = runs[made_at[k]];
        if (auto s = consume(t, nr); !s) return s.error();
        entries[made_at[k]] = audited(nr);
        answers[made_at[k]] = std::move(made_here[k]);
      }
      return all;
    };
    // Runs without an idempotency key, together. A run whose (DAG, run id)
    // came earlier in the batch is a conflict without being sent. They are
    // made before the runs with a key, so a run with a key that takes the id
    // of a run without one in the same batch is the conflict, wherever it
    // stands in the batch (ids are generated unique; the audit entries keep
    // the batch's order).
    std::vector<size_t> plain;
    std::set<std::pair<std::string, std::string>> named;
    for (size_t i = 0; i < runs.size(); ++i) {
      const RunRecord& run = runs[i].run;
      if (run.idempotency_key) continue;
      if (named.insert({run.dag_id, run.run_id}).second) plain.push_back(i);
      else answers[i] = run_conflict(run);
    }
    if (!plain.empty())
      if (auto r = insert_batch(plain); !r) return r.error();
    // Runs with a key, one at a time: the first run of a key is the answer.
    for (size_t i = 0; i < runs.size(); ++i) {
      if (!runs[i].run.idempotency_key) continue;
      auto f = first(t, runs[i].run);
      if (!f) return f.error();
      if (*f) {
        answers[i] = std::move(**f);
        continue;
      }
      auto r = insert_batch({i});
      if (!r) return r.error();
      if (!*r) raced.push_back(i);
    }
    std::vector<AuditItem> audited_runs;
    for (auto& e : entries)
      if (e) audited_runs.push_back(std::move(*e));
    if (auto a = audit_many(t, audited_runs); !a) return a.error();
    std::vector<Result<Created>> out;
    out.reserve(runs.size());
    for (auto& a : answers) out.push_back(std::move(*a));
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

// New task instances of one run in one statement; ids filled in.
Status PostgresRuns::insert_tis(pqxx::transaction_base& t, long long run_pk, std::vector<TaskInstanceRecord>& rows) {
  std::vector<Created> one(1);
  one[0].run.pk = run_pk;
  one[0].task_instances = std::move(rows);
  auto s = insert_tis(t, one);
  rows = std::move(one[0].task_instances);
  return s;
}

// The task instances of many runs in one statement; each gets its id.
Status PostgresRuns::insert_tis(pqxx::transaction_base& t, std::vector<Created>& runs) {
  Column run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, pool_slots, priority, ready_at, wake_at,
      item;
  size_t n = 0;
  for (auto& c : runs)
    for (auto& x : c.task_instances) {
      x.run_pk = c.run.pk;
      run_pk.add(x.run_pk);
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
      ++n;
    }
  if (n == 0) return {};
  auto r = exec(t,
                "INSERT INTO task_instances (run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, "
                "pool_slots, priority, ready_at, wake_at, item) SELECT * FROM unnest($1::bigint[], $2::text[], "
                "$3::int[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::int[], $10::int[], "
                "$11::bigint[], $12::bigint[], $13::text[]) RETURNING id, run_pk, task_id, map_index",
                params(run_pk.text(), task_id.text(), map_index.text(), state.text(), try_number.text(),
                       max_tries.text(), queue.text(), pool.text(), pool_slots.text(), priority.text(), ready_at.text(),
                       wake_at.text(), item.text()));
  if (!r) return r.error();
  std::map<std::tuple<long long, std::string, int>, long long> ids;
  for (auto row : *r) ids[{row[1].as<long long>(), row[2].c_str(), row[3].as<int>()}] = row[0].as<long long>();
  for (auto& c : runs)
    for (auto& x : c.task_instances) x.id = ids.at({x.run_pk, x.task_id, x.map_index});
  return {};
}

}  // namespace baton::store::postgres
