// A scheduler's write batch on PostgreSQL (Store::apply): the statements of
// its parts, and the batch written either as a transaction of those
// statements or, when it holds only what a turn usually writes, as one
// statement.
#include <cctype>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <tuple>

#include "postgres_batch.h"
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

}  // namespace

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

Statement runs_statement(const std::vector<RunRecord>& rows) {
  Column pk, state, started_at, ended_at, version, backfill, expected_end, sla_deadline;
  for (const RunRecord* r : last_per_key(rows, [](const RunRecord& x) { return x.pk; })) {
    pk.add(r->pk);
    state.add(std::string(to_string(r->state)));
    started_at.add(r->started_at);
    ended_at.add(r->ended_at);
    version.add(r->dag_version);
    backfill.add(r->backfill_id);
    expected_end.add(r->expected_end);
    sla_deadline.add(r->sla_deadline);
  }
  return {"UPDATE dag_runs AS r SET state = v.state, started_at = v.started_at, ended_at = v.ended_at, "
          "dag_version = v.dag_version, backfill_id = v.backfill_id, expected_end = v.expected_end, "
          "sla_deadline = v.sla_deadline FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], "
          "$5::text[], $6::bigint[], $7::bigint[], $8::bigint[]) AS v(id, state, started_at, ended_at, dag_version, "
          "backfill_id, expected_end, sla_deadline) WHERE r.id = v.id",
          params(pk.text(), state.text(), started_at.text(), ended_at.text(), version.text(), backfill.text(),
                 expected_end.text(), sla_deadline.text())};
}

Statement last_ticks_statement(const std::vector<std::pair<std::string, TimePoint>>& ticks) {
  std::map<std::string, TimePoint> latest;
  for (auto& [dag_id, tick] : ticks) {
    auto [it, fresh] = latest.emplace(dag_id, tick);
    if (!fresh) it->second = std::max(it->second, tick);
  }
  Column ids, at;
  for (auto& [dag_id, tick] : latest) {
    ids.add(dag_id);
    at.add(tick);
  }
  return {"UPDATE dags AS d SET last_tick = v.tick FROM unnest($1::text[], $2::bigint[]) AS v(dag_id, tick) "
          "WHERE d.dag_id = v.dag_id AND (d.last_tick IS NULL OR d.last_tick < v.tick)",
          params(ids.text(), at.text())};
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

Statement durations_statement(const std::vector<TaskDuration>& rows) {
  std::map<std::tuple<std::string, std::string, long long>, const TaskDuration*> last;
  for (auto& d : rows) {
    auto& x = last[{d.dag_id, d.task_id, d.seq % kDurationHistory}];
    if (!x || x->seq < d.seq) x = &d;
  }
  Column dag, task, slot, seq, seconds, ended;
  for (auto& [_, d] : last) {
    dag.add(d->dag_id);
    task.add(d->task_id);
    slot.add(d->seq % kDurationHistory);
    seq.add(d->seq);
    seconds.add(std::to_string(d->seconds));
    ended.add(d->ended_at);
  }
  return {"INSERT INTO task_durations AS d (dag_id, task_id, slot, seq, seconds, ended_at) SELECT * FROM "
          "unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::float8[], $6::bigint[]) "
          "ON CONFLICT (dag_id, task_id, slot) DO UPDATE SET seq = excluded.seq, "
          "seconds = excluded.seconds, ended_at = excluded.ended_at WHERE d.seq < excluded.seq",
          params(dag.text(), task.text(), slot.text(), seq.text(), seconds.text(), ended.text())};
}

Statement enqueue_statement(const std::vector<QueueItem>& items) {
  Column token, ti_id, run_pk, task_index, try_number, partition, queue, priority, payload, queued_at, pool,
      pool_slots, ns, backfill, latest_start;
  for (auto& q : items) {
    token.add(q.attempt_token);
    ti_id.add(q.ti_id);
    run_pk.add(q.run_pk);
    task_index.add(q.task_index);
    try_number.add(q.try_number);
    partition.add(q.partition);
    queue.add(q.queue);
    priority.add(q.priority);
    payload.add(q.payload);
    queued_at.add(q.queued_at);
    pool.add(q.pool);
    pool_slots.add(q.pool_slots);
    ns.add(q.ns);
    backfill.add(q.backfill ? 1 : 0);
    latest_start.add(q.latest_start);
  }
  return {"INSERT INTO task_queue (attempt_token, ti_id, run_pk, task_index, try_number, partition_no, queue, "
          "priority, payload, queued_at, pool, pool_slots, ns, backfill, latest_start) SELECT * "
          "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::int[], $6::int[], "
          "$7::text[], $8::int[], $9::text[], $10::bigint[], $11::text[], $12::int[], $13::text[], "
          "$14::int[], $15::bigint[]) ON CONFLICT (attempt_token) DO NOTHING",
          params(token.text(), ti_id.text(), run_pk.text(), task_index.text(), try_number.text(), partition.text(),
                 queue.text(), priority.text(), payload.text(), queued_at.text(), pool.text(), pool_slots.text(),
                 ns.text(), backfill.text(), latest_start.text())};
}

Statement events_done_statement(const std::vector<long long>& ids) {
  Column c;
  for (long long x : ids) c.add(x);
  return {"DELETE FROM worker_events WHERE id = ANY($1::bigint[])", params(c.text())};
}

Statement fences_statement(const std::vector<Fence>& fences) {
  Column ps;
  for (auto& f : fences) ps.add(f.partition);
  return {"SELECT partition_no, epoch FROM partitions WHERE partition_no = ANY($1::int[]) FOR SHARE",
          params(ps.text())};
}

Statement with_parts(const std::vector<Part>& parts, const Statement& tail) {
  Statement out;
  for (auto& p : parts) {
    out.sql += (out.sql.empty() ? "WITH " : ", ") + std::string(p.name) + " AS (" +
               renumbered(p.statement.sql, out.params.size()) + ")";
    out.params.append(p.statement.params);
  }
  out.sql += (out.sql.empty() ? "" : " ") + renumbered(tail.sql, out.params.size());
  out.params.append(tail.params);
  return out;
}

namespace {

// What a turn usually writes (a try's state and its next try queued): task
// instances, tries, durations, tries queued, worker events applied, under
// fences. Every other kind has statements of its own, or reads its rows
// back, and goes the transaction's way.
bool one_statement(const WriteBatch& b) {
  return b.runs.empty() && b.last_ticks.empty() && b.audit.empty() && b.backfills.empty() &&
         b.notifications.empty() && b.dequeue.empty() && b.command_results.empty() && b.dataset_events.empty() &&
         b.sla_misses.empty() && b.sla_risks.empty();
}

// The message of baton_fenced's exception: its first line from "partition "
// on, without libpq's severity (which lc_messages may translate), a verbose
// SQLSTATE, or the PL/pgSQL context after it.
std::string raised_message(const pqxx::sql_error& e) {
  std::string m = e.what();
  m = m.substr(0, m.find('\n'));
  auto at = m.find("partition ");
  return at == std::string::npos ? "a partition moved to another scheduler, and this write is refused"
                                 : m.substr(at);
}

}  // namespace

Status PostgresStore::apply(const WriteBatch& b) {
  if (b.empty()) return {};
  if (one_statement(b)) return apply_as_one_statement(b);
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    if (auto f = check_fences(t, b.fences, b.events_done); !f) return f.error();
    if (!b.runs.empty()) {
      auto st = runs_statement(b.runs);
      if (auto r = exec(t, st.sql, st.params); !r) return r.error();
    }
    if (!b.task_instances.empty() || !b.tries.empty()) {  // one statement of both (two tables)
      std::vector<Part> parts;
      if (!b.task_instances.empty()) parts.push_back({"tis", tis_statement(b.task_instances)});
      if (!b.tries.empty()) parts.push_back({"tries", tries_statement(b.tries)});
      auto st = with_parts(parts, {"SELECT 1", {}});
      if (auto r = exec(t, st.sql, st.params); !r) return r.error();
    }
    for (auto& n : b.notifications)
      if (auto r = insert_notification(t, n); !r) return r.error();
    for (auto& m : b.sla_misses) {
      auto fresh = insert_sla_miss(t, m.miss);
      if (!fresh) return fresh.error();
      if (*fresh)
        for (auto& n : m.notifications)
          if (auto r = insert_notification(t, n); !r) return r.error();
    }
    for (auto& e : b.dataset_events)
      if (auto r = insert_dataset_event(t, e); !r) return r.error();
    if (auto w = write_forecasts(t, b); !w) return w.error();
    for (auto& f : b.backfills)
      if (auto r = exec(t,
                        "UPDATE backfills SET state = $1, total = $2, done = $3, failed = $4, cursor_at = $5, "
                        "ended_at = $6 WHERE id = $7",
                        params(f.state, f.total, f.done, f.failed, f.cursor_at, f.ended_at, f.id));
          !r)
        return r.error();
    if (!b.last_ticks.empty()) {
      auto st = last_ticks_statement(b.last_ticks);
      if (auto r = exec(t, st.sql, st.params); !r) return r.error();
    }
    if (!b.enqueue.empty()) {
      // Queued, and the API servers' parked claims woken, in one statement.
      auto st = with_parts({{"queued", enqueue_statement(b.enqueue)}}, {"SELECT pg_notify('baton_queue', '')", {}});
      if (auto r = exec(t, st.sql, st.params); !r) return r.error();
    }
    if (!b.dequeue.empty()) {
      Column tokens;
      for (auto& x : b.dequeue) tokens.add(x);
      if (auto r = exec(t, "DELETE FROM task_queue WHERE attempt_token = ANY($1::text[])", params(tokens.text())); !r)
        return r.error();
    }
    if (!b.events_done.empty() && b.fences.empty()) {  // else deleted with the fences' check
      auto st = events_done_statement(b.events_done);
      if (auto r = exec(t, st.sql, st.params); !r) return r.error();
    }
    for (auto& c : b.command_results)
      if (auto r = exec(t,
                        "UPDATE commands SET processed_at = $1, status = $2, result = $3 "
                        "WHERE id = $4 AND processed_at IS NULL",
                        params(now(), c.status, c.result, c.id));
          !r)
        return r.error();
    if (!b.command_results.empty())
      if (auto r = exec(t, "SELECT pg_notify('baton_commands', '')", {}); !r) return r.error();
    std::vector<AuditItem> entries;
    for (auto& a : b.audit) {
      json details = json::parse(a.details, nullptr, false);
      if (details.is_discarded() || !details.is_object()) details = json::object();
      entries.push_back(audit_item(a.actor, a.action, a.target, details));
    }
    if (auto e = audit_many(t, entries); !e) return e.error();
    return true;
  }));
}

// One statement, so no BEGIN and COMMIT round trips: a turn's write is one
// round trip where it was six. The fences are read FOR SHARE in it (a
// partition moved before holds no lock; one moving after waits for this
// statement's commit), and baton_fenced
// (migrations/postgres/0014_server_side_writes.sql) raises BT412 when one
// has moved on: the statement is undone whole, as the transaction was.
Status PostgresStore::apply_as_one_statement(const WriteBatch& b) {
  std::vector<Part> parts;
  if (!b.fences.empty()) parts.push_back({"fence", fences_statement(b.fences)});
  if (!b.events_done.empty()) parts.push_back({"done", events_done_statement(b.events_done)});
  if (!b.task_instances.empty()) parts.push_back({"tis", tis_statement(b.task_instances)});
  if (!b.tries.empty()) parts.push_back({"tries", tries_statement(b.tries)});
  if (!b.durations.empty()) parts.push_back({"durations", durations_statement(b.durations)});
  if (!b.enqueue.empty()) parts.push_back({"queued", enqueue_statement(b.enqueue)});
  Statement tail{"SELECT 1", {}};
  if (!b.fences.empty()) {
    Column ps, epochs;
    for (auto& f : b.fences) {
      ps.add(f.partition);
      epochs.add(f.epoch);
    }
    tail = {"SELECT baton_fenced($1::int[], $2::bigint[], ARRAY(SELECT partition_no FROM fence), "
            "ARRAY(SELECT epoch FROM fence))",
            params(ps.text(), epochs.text())};
  }
  // The API servers' parked claims woken (only if the statement commits).
  if (!b.enqueue.empty()) tail.sql += ", pg_notify('baton_queue', '')";
  auto st = with_parts(parts, tail);
  return status_of(statement([&](pqxx::transaction_base& t) -> Result<bool> {
    try {
      if (auto r = exec(t, st.sql, st.params); !r) return r.error();
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "BT412") return Error{"stale_epoch", raised_message(e)};
      throw;
    }
    return true;
  }));
}

}  // namespace baton::store::postgres
