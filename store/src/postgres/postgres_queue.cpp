// The PostgreSQL Store: what remote workers do, across processes: claims of
// the task queue (within the pools' slots), heartbeats, reports turned into
// worker events for the partitions' owners, logs and checkpoints.
#include <map>

#include "postgres_store.h"

namespace baton::store::postgres {

namespace {

// The tries of a claim's answer (baton_claim's columns), in claim order.
std::vector<QueueItem> claimed_items(const pqxx::result& r, const std::string& worker) {
  std::vector<QueueItem> out;
  for (auto row : r) {
    QueueItem q;
    q.attempt_token = row[0].c_str();
    q.ti_id = row[1].as<long long>();
    q.run_pk = row[2].as<long long>();
    q.task_index = row[3].as<int>();
    q.try_number = row[4].as<int>();
    q.partition = row[5].as<int>();
    q.queue = row[6].c_str();
    q.priority = row[7].as<int>();
    q.payload = row[8].c_str();
    q.queued_at = tp(row[9].as<long long>());
    q.worker = worker;
    if (!row[10].is_null()) q.checkpoint = pqxx::binarystring(row[10]).str();
    q.pool = row[11].c_str();
    q.pool_slots = row[12].as<int>();
    q.ns = row[13].c_str();
    q.backfill = row[14].as<int>() != 0;
    out.push_back(std::move(q));
  }
  return out;
}

Error stale_try(const TryProgress& p) {
  return Error{"conflict", "try " + p.attempt_token + " (task instance " + std::to_string(p.ti_id) +
                               ", try " + std::to_string(p.try_number) + ") is not held by worker " + p.worker +
                               " (it was failed, canceled or handed to another worker, or the token is another "
                               "try's)"};
}

}  // namespace

// Pools hold across members (SPEC §3, §9): a claim takes a try only while
// its pool has slots left over the tries every worker holds. The pools'
// rows are locked first, so two workers claiming at once cannot both take
// the last slot (claims are short; they queue behind each other there).
// A try whose pool was deleted after it was queued is not held back.
Result<std::vector<QueueItem>> PostgresQueue::claim_tasks(const std::string& worker,
                                                          const std::vector<std::string>& queues, int limit) {
  // One statement: its own transaction, with no BEGIN and COMMIT round trips.
  return statement([&](pqxx::transaction_base& t) { return claim_in(t, worker, queues, limit); });
}

// A report with nothing else to store (no log chunk, checkpoint or
// progress line) and the next claim are one statement, baton_report_claim:
// one round trip, and the pools' locks are held only while it runs.
// Otherwise the report's parts and the claim are one transaction.
Result<std::vector<QueueItem>> PostgresQueue::report_and_claim(const TryProgress& p, const std::string& report_json,
                                                               const std::vector<std::string>& queues, int limit) {
  if ((!p.log || p.log->empty()) && !p.checkpoint && !p.progress) {
    return statement([&](pqxx::transaction_base& t) -> Result<std::vector<QueueItem>> {
      Column qs;
      for (auto& q : queues) qs.add(q);
      try {
        auto r = exec(t, "SELECT * FROM baton_report_claim($1, $2, $3, $4, $5, $6, $7::text[], $8)",
                      params(p.attempt_token, p.worker, report_json, now(), p.ti_id, p.try_number, qs.text(), limit));
        if (!r) return r.error();
        return claimed_items(*r, p.worker);
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() == "BT409") return stale_try(p);
        throw;
      }
    });
  }
  return write([&](pqxx::work& t) -> Result<std::vector<QueueItem>> {
    auto r = report_in(t, p, report_json);
    if (!r) return r.error();
    return claim_in(t, p.worker, queues, limit);
  });
}

// A worker's reports that end together, and its next claim: one transaction
// and one commit. The reports with nothing else to store (no log chunk,
// checkpoint or progress line) are one statement together (baton_report
// over arrays: 0 for a stale one, which changes nothing). A report with a
// log chunk or progress line is refused, if at all, before it writes; one
// with a checkpoint may be refused after (the checkpoint of a try its task
// instance left), so it goes in a savepoint of its own and is undone alone.
Result<QueueStore::ReportsTaken> PostgresQueue::report_tasks(const std::string& worker,
                                                             const std::vector<TryReport>& reports,
                                                             const std::vector<std::string>& queues, int limit) {
  return write([&](pqxx::work& t) -> Result<ReportsTaken> {
    ReportsTaken out;
    out.reports.resize(reports.size());
    Column tokens, bodies, ti_ids, tries;
    std::vector<size_t> plain;
    for (size_t i = 0; i < reports.size(); ++i) {
      const TryProgress& p = reports[i].progress;
      if (p.worker != worker) {  // a caller's mistake: another worker's report is not this one's to send
        out.reports[i] = stale_try(p);
        continue;
      }
      if ((!p.log || p.log->empty()) && !p.checkpoint && !p.progress) {
        tokens.add(p.attempt_token);
        bodies.add(reports[i].report_json);
        ti_ids.add(p.ti_id);
        tries.add(p.try_number);
        plain.push_back(i);
        continue;
      }
      // libpqxx 6's subtransaction begins only with its own statements, not
      // with prepared ones: the savepoint is plain SQL here.
      const bool undo = p.checkpoint.has_value();
      if (undo) t.exec("SAVEPOINT baton_report");
      auto r = report_in(t, p, reports[i].report_json);
      if (!r && r.error().code != "conflict") return r.error();
      if (!r && undo) t.exec("ROLLBACK TO SAVEPOINT baton_report");
      if (undo) t.exec("RELEASE SAVEPOINT baton_report");
      if (!r) out.reports[i] = r.error();
    }
    if (!plain.empty()) {
      auto r = exec(t,
                    "SELECT baton_report(x.token, $1, x.body, $2, x.ti_id, x.try) FROM "
                    "unnest($3::text[], $4::text[], $5::bigint[], $6::int[]) WITH ORDINALITY "
                    "AS x(token, body, ti_id, try, i) ORDER BY x.i",
                    params(worker, now(), tokens.text(), bodies.text(), ti_ids.text(), tries.text()));
      if (!r) return r.error();
      if (r->size() != plain.size()) return Error{"database_error", "PostgreSQL: reports answered out of count"};
      for (size_t k = 0; k < plain.size(); ++k)
        if ((*r)[k][0].as<int>() == 0)
          out.reports[plain[k]] = stale_try(reports[plain[k]].progress);
    }
    if (limit > 0) {
      auto claimed = claim_in(t, worker, queues, limit);
      if (!claimed) return claimed.error();
      out.claimed = std::move(*claimed);
    }
    return out;
  });
}

// At most `limit` tries (the worker's free slots), shared among the
// namespaces by weighted fair queueing (SPEC §13), within the pools' slots
// and the namespaces' max_running_tasks: baton_claim
// (migrations/postgres/0014_server_side_writes.sql) does it server-side, in one
// statement, so a claim costs one round trip.
Result<std::vector<QueueItem>> PostgresQueue::claim_in(pqxx::transaction_base& t, const std::string& worker,
                                                       const std::vector<std::string>& queues, int limit) {
  Column qs;
  for (auto& q : queues) qs.add(q);
  auto r = exec(t, "SELECT * FROM baton_claim($1, $2::text[], $3, $4)", params(worker, qs.text(), limit, now()));
  if (!r) return r.error();
  return claimed_items(*r, worker);
}

Result<std::vector<std::string>> PostgresQueue::heartbeat_tasks(const std::string& worker,
                                                                const std::vector<std::string>& tokens) {
  if (tokens.empty()) return std::vector<std::string>();
  return write([&](pqxx::work& t) -> Result<std::vector<std::string>> {
    Column ts;
    for (auto& x : tokens) ts.add(x);
    auto r = exec(t,
                  "WITH held AS (UPDATE task_queue SET heartbeat_at = $2 WHERE worker = $1 "
                  "AND attempt_token = ANY($3::text[]) RETURNING attempt_token) "
                  "SELECT x FROM unnest($3::text[]) AS x WHERE x NOT IN (SELECT attempt_token FROM held)",
                  params(worker, now(), ts.text()));
    if (!r) return r.error();
    std::vector<std::string> stale;
    for (auto row : *r) stale.push_back(row[0].c_str());
    return stale;
  });
}


// The claim is checked on its queue row, locked FOR KEY SHARE until the
// transaction ends: heartbeats may still renew it, but the owner's write
// that ends the try (which deletes the row) waits, so a log chunk or
// checkpoint is stored only while the try is held, never after.
Status PostgresQueue::save_progress(const TryProgress& p) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto held = exec(t,
                     "SELECT 1 FROM task_queue WHERE attempt_token = $1 AND worker = $2 AND ti_id = $3 "
                     "AND try_number = $4 FOR KEY SHARE",
                     params(p.attempt_token, p.worker, p.ti_id, p.try_number));
    if (!held) return held.error();
    if (held->empty()) return stale_try(p);
    return store_progress(t, p);
  }));
}

Status PostgresQueue::report_task(const TryProgress& p, const std::string& report_json) {
  return status_of(write([&](pqxx::work& t) { return report_in(t, p, report_json); }));
}

Result<bool> PostgresQueue::report_in(pqxx::work& t, const TryProgress& p, const std::string& report_json) {
  // baton_report (migrations/postgres/0014_server_side_writes.sql): 0 for a stale report.
  auto r = exec(t, "SELECT baton_report($1, $2, $3, $4, $5, $6)",
                params(p.attempt_token, p.worker, report_json, now(), p.ti_id, p.try_number));
  if (!r) return r.error();
  if ((*r)[0][0].as<int>() == 0) return stale_try(p);
  return store_progress(t, p);  // refused (the checkpoint's token): the report is undone too
}

Result<bool> PostgresQueue::store_progress(pqxx::work& t, const TryProgress& p) {
  if (p.log && !p.log->empty()) {
    // A chunk sent again from the same offset may hold more: the longer one stays.
    t.exec_params("INSERT INTO try_logs (ti_id, try_number, offset_bytes, data) VALUES ($1, $2, $3, $4) "
                  "ON CONFLICT (ti_id, try_number, offset_bytes) DO UPDATE SET data = excluded.data "
                  "WHERE length(excluded.data) > length(try_logs.data)",
                  p.ti_id, p.try_number, p.log_offset, pqxx::binarystring(*p.log));
  }
  if (p.checkpoint) {
    long long at = now();
    auto r = t.exec_params(
        "UPDATE task_instances SET checkpoint = $1, checkpoint_at = $2, last_activity_at = $2 "
        "WHERE id = $3 AND attempt_token = $4",
        pqxx::binarystring(*p.checkpoint), at, p.ti_id, p.attempt_token);
    if (r.affected_rows() == 0) return stale_try(p);
  }
  // New log bytes and a progress line are activity too (SPEC §7:
  // stuck_after). The claim was checked above: this only marks the row.
  if ((p.log && !p.log->empty()) || p.progress)
    t.exec_params(
        "UPDATE task_instances SET last_activity_at = greatest(last_activity_at, $1), "
        "progress = coalesce($2, progress) WHERE id = $3 AND attempt_token = $4",
        now(), p.progress, p.ti_id, p.attempt_token);
  return true;
}

Result<std::vector<WorkerEvent>> PostgresQueue::worker_events(const std::vector<int>& partitions, int limit) {
  if (partitions.empty()) return std::vector<WorkerEvent>();
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<WorkerEvent>> {
    Column ps;
    for (int p : partitions) ps.add(p);
    auto r = exec(t,
                  "SELECT id, partition_no, attempt_token, run_pk, task_index, kind, worker, body, at FROM "
                  "worker_events WHERE partition_no = ANY($1::int[]) ORDER BY id LIMIT $2",
                  params(ps.text(), limit));
    if (!r) return r.error();
    std::vector<WorkerEvent> out;
    for (auto row : *r)
      out.push_back({row[0].as<long long>(), row[1].as<int>(), row[2].c_str(), row[3].as<long long>(),
                     row[4].as<int>(), row[5].c_str(), row[6].c_str(), row[7].c_str(), tp(row[8].as<long long>())});
    return out;
  });
}

Result<std::map<std::string, long long>> PostgresQueue::held_pool_slots() {
  return read([&](pqxx::transaction_base& t) -> Result<std::map<std::string, long long>> {
    auto r = exec(t, "SELECT pool, sum(pool_slots) FROM task_queue WHERE worker IS NOT NULL GROUP BY pool", {});
    if (!r) return r.error();
    std::map<std::string, long long> out;
    for (auto row : *r) out[row[0].c_str()] = row[1].as<long long>();
    return out;
  });
}

Result<std::map<std::string, long long>> PostgresQueue::held_by_namespace() {
  return read([&](pqxx::transaction_base& t) -> Result<std::map<std::string, long long>> {
    auto r = exec(t, "SELECT ns, count(*) FROM task_queue WHERE worker IS NOT NULL GROUP BY ns", {});
    if (!r) return r.error();
    std::map<std::string, long long> out;
    for (auto row : *r) out[row[0].c_str()] = row[1].as<long long>();
    return out;
  });
}

Result<std::vector<std::string>> PostgresQueue::lost_tries(const std::vector<std::string>& tokens, TimePoint cutoff) {
  if (tokens.empty()) return std::vector<std::string>();
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<std::string>> {
    Column ts;
    for (auto& x : tokens) ts.add(x);
    auto r = exec(t,
                  "SELECT x FROM unnest($1::text[]) AS x WHERE NOT EXISTS (SELECT 1 FROM task_queue q "
                  "WHERE q.attempt_token = x AND (q.worker IS NULL OR q.heartbeat_at >= $2)) "
                  "AND NOT EXISTS (SELECT 1 FROM worker_events e WHERE e.attempt_token = x AND e.kind = 'finished')",
                  params(ts.text(), cutoff));
    if (!r) return r.error();
    std::vector<std::string> out;
    for (auto row : *r) out.push_back(row[0].c_str());
    return out;
  });
}

Result<std::optional<std::string>> PostgresQueue::read_log(long long ti_id, int try_number, long long offset,
                                                           long long max_bytes) {
  return read([&](pqxx::transaction_base& t) -> Result<std::optional<std::string>> {
    auto any = exec(t, "SELECT 1 FROM try_logs WHERE ti_id = $1 AND try_number = $2 LIMIT 1",
                    params(ti_id, try_number));
    if (!any) return any.error();
    if (any->empty()) return std::optional<std::string>();
    auto r = exec(t,
                  "SELECT offset_bytes, data FROM try_logs WHERE ti_id = $1 AND try_number = $2 "
                  "AND offset_bytes + length(data) > $3 ORDER BY offset_bytes",
                  params(ti_id, try_number, offset));
    if (!r) return r.error();
    std::string out;
    long long at = offset;
    for (auto row : *r) {
      long long start = row[0].as<long long>();
      std::string data = pqxx::binarystring(row[1]).str();
      if (start > at) break;  // a gap: a chunk not stored yet
      long long end = start + static_cast<long long>(data.size());
      if (end <= at) continue;  // a chunk sent twice
      out += data.substr(static_cast<size_t>(at - start));
      at = end;
      if (static_cast<long long>(out.size()) >= max_bytes) {
        out.resize(static_cast<size_t>(max_bytes));
        break;
      }
    }
    return std::optional<std::string>(out);
  });
}

Status PostgresQueue::save_checkpoint(long long ti_id, const std::string& attempt_token, const std::string& data) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    // bytea, bound as binary: a checkpoint may hold any bytes.
    long long at = now();
    auto r = t.exec_params(
        "UPDATE task_instances SET checkpoint = $1, checkpoint_at = $2, last_activity_at = $2 "
        "WHERE id = $3 AND attempt_token = $4",
        pqxx::binarystring(data), at, ti_id, attempt_token);
    if (r.affected_rows() == 0)
      return Error{"conflict", "stale attempt token: the try was failed or handed to another worker"};
    return true;
  }));
}

Result<std::optional<std::string>> PostgresQueue::load_checkpoint(long long ti_id) {
  return read([&](pqxx::transaction_base& t) -> Result<std::optional<std::string>> {
    auto r = exec(t, "SELECT checkpoint FROM task_instances WHERE id = $1", params(ti_id));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("no task instance " + std::to_string(ti_id));
    if ((*r)[0][0].is_null()) return std::optional<std::string>();
    return std::optional<std::string>(pqxx::binarystring((*r)[0][0]).str());
  });
}

}  // namespace baton::store::postgres
