// The PostgreSQL Store: retention (`baton db clean`, automatic retention).
// What goes and what never does is CleanRequest's comment in store.h; the
// counts of a dry run are made by the same conditions the batches delete by
// (the same as sqlite_clean.cpp's). The runs of a batch are locked (SKIP
// LOCKED: a run a scheduler is changing right now waits for the next clean).
#include <nlohmann/json.hpp>

#include <utility>

#include "postgres_store.h"

namespace baton::store::postgres {

namespace {

// (`(r.state || '')`: the batches read the runs, and the tries, in key
// order on the primary key, never through an index on the state and a sort.)
// A run that may go ($1: the cutoff): finished before it; not the latest
// finished run of its DAG (so not the latest run either); not inside the
// range of a running backfill of its DAG (the backfill may rerun it); not
// the immediate predecessor (by logical date) of an unfinished run (its
// depends_on_past gates read it); with no task instance still active.
#define BATON_FIN "('success', 'failed', 'canceled')"
#define BATON_REMOVABLE_RUN                                                                                      \
  "(r.state || '') IN " BATON_FIN " AND COALESCE(r.ended_at, r.created_at) < $1::bigint "                         \
  "AND EXISTS (SELECT 1 FROM dag_runs n WHERE n.dag_id = r.dag_id AND n.state IN " BATON_FIN                   \
  " AND (n.logical_date > r.logical_date OR (n.logical_date = r.logical_date AND n.id > r.id))) "             \
  "AND NOT EXISTS (SELECT 1 FROM backfills b WHERE b.state = 'running' AND b.dag_id = r.dag_id AND "           \
  "r.logical_date BETWEEN b.from_at AND b.to_at) "                                                             \
  "AND COALESCE((SELECT s.state FROM dag_runs s WHERE s.dag_id = r.dag_id AND s.logical_date > r.logical_date " \
  "ORDER BY s.logical_date, s.id LIMIT 1), 'success') IN " BATON_FIN " "                                       \
  "AND NOT EXISTS (SELECT 1 FROM task_instances a WHERE a.run_pk = r.id AND a.state IN ('scheduled', 'queued', " \
  "'running', 'waiting', 'up_for_retry')) "

#define BATON_REMOVED_RUNS "rr AS (SELECT r.id FROM dag_runs r WHERE " BATON_REMOVABLE_RUN ")"
#define BATON_FINISHED "(r.state || '') IN " BATON_FIN

// Tries whose rows go ($1 runs, $2 tries cutoff) or whose logs go ($3).
#define BATON_TRIES_GONE "(t.run_pk IN (SELECT id FROM rr) OR (" BATON_FINISHED " AND y.ended_at < $2::bigint))"
#define BATON_LOGS_GONE \
  "(t.run_pk IN (SELECT id FROM rr) OR (" BATON_FINISHED " AND (y.ended_at < $2::bigint OR y.ended_at < $3::bigint)))"

// What goes with the runs' cutoff besides the runs ($1).
#define BATON_OLD_NOTIFICATION "state IN ('sent', 'failed') AND created_at < $1::bigint"
#define BATON_OLD_BACKFILL "b.state <> 'running' AND COALESCE(b.ended_at, b.created_at) < $1::bigint"
#define BATON_OLD_EVENT                                                                        \
  "e.at < $1::bigint AND e.id < (SELECT MAX(x.id) FROM dataset_events x WHERE x.uri = e.uri) "          \
  "AND e.id <= COALESCE((SELECT MIN(c.last_event_id) FROM dataset_consumers c WHERE c.uri = e.uri), e.id)"
#define BATON_OLD_VERSION                                                                                \
  "v.created_at < $1::bigint AND NOT EXISTS (SELECT 1 FROM dags d WHERE d.dag_id = v.dag_id AND d.current_version = " \
  "v.version)"

// Every count of a dry run binds the three cutoffs (typed here, used or not).
#define BATON_PARAMS "p AS (SELECT $1::bigint AS r, $2::bigint AS t, $3::bigint AS l)"

struct Tally {
  long long rows = 0;
  std::optional<long long> oldest, newest;
  void see(std::optional<long long> at, long long n = 1) {
    rows += n;
    if (!at) return;
    oldest = oldest ? std::min(*oldest, *at) : *at;
    newest = newest ? std::max(*newest, *at) : *at;
  }
};

std::optional<long long> cutoff(const std::optional<TimePoint>& t) {
  return t ? std::optional<long long>(us(*t)) : std::nullopt;
}
std::optional<TimePoint> at(const std::optional<long long>& v) {
  return v ? std::optional<TimePoint>(tp(*v)) : std::nullopt;
}

}  // namespace

Result<CleanReport> PostgresStore::clean(const CleanRequest& req, const std::string& actor) {
  std::map<std::string, Tally> tally;
  CleanReport report;
  report.dry_run = req.dry_run;
  const int batch = std::max(1, req.batch_size);
  auto R = cutoff(req.runs_before), T = cutoff(req.tries_before), L = cutoff(req.logs_before);
  auto stopping = [&] { return req.should_stop && req.should_stop(); };
  auto finish = [&]() -> Result<CleanReport> {
    for (auto& name : clean_tables()) {
      auto& t = tally[name];
      report.tables.push_back({name, t.rows, at(t.oldest), at(t.newest)});
    }
    return report;
  };
  // Each batch appends its own db.cleaned entry, with its counts, in its own
  // transaction: nothing is removed unaudited.
  auto audit_batch = [&](pqxx::work& t, const std::map<std::string, Tally>& before) -> Status {
    CleanReport part;
    part.batches = 1;
    for (auto& name : clean_tables()) {
      auto now = tally.count(name) ? tally[name].rows : 0;
      auto was = before.count(name) ? before.at(name).rows : 0;
      part.tables.push_back({name, now - was, std::nullopt, std::nullopt});
    }
    if (part.total() == 0) return {};
    auto details = json::parse(clean_audit_details(req, part));
    details.erase("batches");
    details["batch"] = report.batches + 1;  // its number in this clean
    if (auto a = audit(t, actor, "db.cleaned", "db", details); !a) return a.error();
    return {};
  };
  // The log files of a batch: counted in its audit entry as its rows name
  // them (in its transaction), and removed (on_logs_removed) only once that
  // transaction committed, so that a batch that fails keeps its rows and
  // their files. The report counts the files removed.
  std::vector<std::string> batch_logs;  // the current batch's
  auto name_logs = [&](std::vector<std::string> logs) {
    tally["log files"].rows += static_cast<long long>(logs.size());
    batch_logs = std::move(logs);
  };
  auto remove_logs = [&] {
    auto logs = std::exchange(batch_logs, {});
    if (logs.empty()) return;
    long long removed = req.on_logs_removed ? req.on_logs_removed(logs) : static_cast<long long>(logs.size());
    tally["log files"].rows += removed - static_cast<long long>(logs.size());
  };

  if (req.dry_run) {
    static const char* kCounts[][2] = {
        {"dag_runs",
         "WITH " BATON_PARAMS " SELECT COUNT(*), MIN(COALESCE(r.ended_at, r.created_at)), "
         "MAX(COALESCE(r.ended_at, r.created_at)) FROM dag_runs r WHERE " BATON_REMOVABLE_RUN},
        {"task_instances",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS
         " SELECT COUNT(*) FROM task_instances WHERE run_pk IN (SELECT id FROM rr)"},
        {"task_tries",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(y.ended_at), MAX(y.ended_at) FROM "
         "task_tries y JOIN task_instances t ON t.id = y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE " BATON_TRIES_GONE},
        {"try_logs",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM try_logs g WHERE g.ti_id IN (SELECT id "
         "FROM task_instances WHERE run_pk IN (SELECT id FROM rr)) OR EXISTS (SELECT 1 FROM task_tries y JOIN "
         "task_instances t ON t.id = y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE y.ti_id = g.ti_id AND "
         "y.try_number = g.try_number AND " BATON_LOGS_GONE ")"},
        {"task_queue",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS
         " SELECT COUNT(*) FROM task_queue WHERE run_pk IN (SELECT id FROM rr)"},
        {"worker_events",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS
         " SELECT COUNT(*) FROM worker_events WHERE run_pk IN (SELECT id FROM rr)"},
        {"sla_misses",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM sla_misses m WHERE EXISTS (SELECT 1 "
         "FROM dag_runs r WHERE r.id IN (SELECT id FROM rr) AND r.dag_id = m.dag_id AND r.run_id = m.run_id)"},
        {"sla_risks",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM sla_risks m WHERE EXISTS (SELECT 1 "
         "FROM dag_runs r WHERE r.id IN (SELECT id FROM rr) AND r.dag_id = m.dag_id AND r.run_id = m.run_id)"},
        {"notifications",
         "WITH " BATON_PARAMS " SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM notifications WHERE "
         BATON_OLD_NOTIFICATION},
        {"backfills",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(COALESCE(b.ended_at, b.created_at)), "
         "MAX(COALESCE(b.ended_at, b.created_at)) FROM backfills b WHERE " BATON_OLD_BACKFILL
         " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.backfill_id = b.id AND r.id NOT IN (SELECT id FROM rr))"},
        {"dataset_events",
         "WITH " BATON_PARAMS " SELECT COUNT(*), MIN(e.at), MAX(e.at) FROM dataset_events e WHERE " BATON_OLD_EVENT},
        {"dag_versions",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(v.created_at), MAX(v.created_at) FROM "
         "dag_versions v WHERE " BATON_OLD_VERSION " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.dag_id = "
         "v.dag_id AND r.dag_version = v.version AND r.id NOT IN (SELECT id FROM rr))"},
        {"log files",
         "WITH " BATON_PARAMS ", " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(y.ended_at), MAX(y.ended_at) FROM "
         "task_tries y JOIN task_instances t ON t.id = y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE "
         "y.log_path IS NOT NULL AND " BATON_LOGS_GONE},
    };
    auto counted = snapshot([&](pqxx::transaction_base& t) -> Result<bool> {
      for (auto& [table, sql] : kCounts) {
        auto r = exec(t, sql, params(R, T, L));
        if (!r) return r.error();
        auto& n = tally[table];
        n.rows = (*r)[0][0].as<long long>();
        if (r->columns() > 1) {
          n.oldest = opt_i64((*r)[0][1]);
          n.newest = opt_i64((*r)[0][2]);
        }
      }
      return true;
    });
    if (!counted) return counted.error();
    return finish();
  }

  // Before the first batch: an audit entry can be appended (a keyed log
  // needs the key), so that no batch removes rows and then fails to audit.
  {
    auto ready = write([&](pqxx::work& t) -> Result<bool> {
      auto head = exec(t, "SELECT value FROM settings WHERE key = 'audit_head'", {});
      if (!head) return head.error();
      auto found = exec(t, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", {});
      if (!found) return found.error();
      long long last_id = 0;
      std::string last_hash(64, '0');
      if (!found->empty()) {
        last_id = (*found)[0][0].as<long long>();
        last_hash = (*found)[0][1].c_str();
      }
      std::optional<std::string> head_value;
      if (!head->empty()) head_value = (*head)[0][0].c_str();
      if (auto ok = check_audit_append(last_id, last_hash, head_value, audit_key_); !ok) return ok.error();
      return true;
    });
    if (!ready) return ready.error();
  }

  // Runs, a batch at a time (about `batch` rows of runs and task instances),
  // after the last run looked at (keyset on the primary key).
  long long last_run = 0;
  while (R && !stopping()) {
    auto guard = req.batch_guard ? req.batch_guard() : nullptr;  // released after the batch, committed or not
    auto n = write([&](pqxx::work& t) -> Result<long long> {
      auto before = tally;
      auto pick = exec(t,
                       "SELECT r.id, COALESCE(r.ended_at, r.created_at), (SELECT COUNT(*) FROM task_instances t "
                       "WHERE t.run_pk = r.id) FROM dag_runs r WHERE r.id > $3::bigint AND " BATON_REMOVABLE_RUN
                       " ORDER BY r.id LIMIT $2 FOR UPDATE OF r SKIP LOCKED",
                       params(R, batch, last_run));
      if (!pick) return pick.error();
      Column ids;
      long long rows = 0, runs = 0, last = last_run;
      for (auto row : *pick) {
        if (rows >= batch) break;
        ids.add(row[0].as<long long>());
        last = row[0].as<long long>();
        tally["dag_runs"].see(row[1].as<long long>());
        rows += 1 + row[2].as<long long>();
        ++runs;
      }
      if (runs == 0) return 0LL;
      std::string list = ids.text();
      std::vector<std::string> logs;
      auto tries = exec(t,
                        "SELECT y.log_path, y.ended_at FROM task_tries y JOIN task_instances t ON t.id = y.ti_id "
                        "WHERE t.run_pk = ANY($1::bigint[])",
                        params(list));
      if (!tries) return tries.error();
      for (auto row : *tries) {
        tally["task_tries"].see(opt_i64(row[1]));
        if (!row[0].is_null()) {
          logs.push_back(row[0].c_str());
          tally["log files"].see(opt_i64(row[1]), 0);
        }
      }
      static const char* kDeletes[][2] = {
          {"try_logs",
           "DELETE FROM try_logs WHERE ti_id IN (SELECT id FROM task_instances WHERE run_pk = ANY($1::bigint[]))"},
          {"", "DELETE FROM task_tries WHERE ti_id IN (SELECT id FROM task_instances WHERE run_pk = "
               "ANY($1::bigint[]))"},
          {"task_queue", "DELETE FROM task_queue WHERE run_pk = ANY($1::bigint[])"},
          {"worker_events", "DELETE FROM worker_events WHERE run_pk = ANY($1::bigint[])"},
          {"sla_misses",
           "DELETE FROM sla_misses m USING dag_runs r WHERE r.id = ANY($1::bigint[]) AND r.dag_id = m.dag_id AND "
           "r.run_id = m.run_id"},
          {"sla_risks",
           "DELETE FROM sla_risks m USING dag_runs r WHERE r.id = ANY($1::bigint[]) AND r.dag_id = m.dag_id AND "
           "r.run_id = m.run_id"},
          {"task_instances", "DELETE FROM task_instances WHERE run_pk = ANY($1::bigint[])"},
      };
      for (auto& [table, sql] : kDeletes) {
        auto d = exec(t, sql, params(list));
        if (!d) return d.error();
        if (*table) tally[table].rows += static_cast<long long>(d->affected_rows());
      }
      // The runs themselves only while still finished before the cutoff,
      // checked again by the delete itself (in this transaction, as the
      // pick, whose lock they hold): a run a clear or mark made unfinished
      // again stays. One that changed after all: the whole batch is undone.
      auto gone = exec(t,
                       "DELETE FROM dag_runs WHERE id = ANY($1::bigint[]) AND state IN " BATON_FIN
                       " AND COALESCE(ended_at, created_at) < $2::bigint",
                       params(list, R));
      if (!gone) return gone.error();
      if (static_cast<long long>(gone->affected_rows()) != runs)
        return Error{"conflict", "a run changed while the clean removed it: this batch was undone; clean again"};
      name_logs(std::move(logs));
      if (auto a = audit_batch(t, before); !a) return a.error();
      last_run = last;
      return runs;
    });
    if (!n) return n.error();
    guard.reset();  // the files go outside the guard
    remove_logs();
    if (*n == 0) break;
    ++report.batches;
  }

  // Tries (their rows) and logs (the rows stay, their logs go), a batch at a
  // time, keyset on the tries' primary key (ti_id, try_number).
  auto tries_pass = [&](const std::optional<long long>& before, bool rows_too) -> Status {
    long long last_ti = 0, last_no = 0;
    while (before && !stopping()) {
      auto n = write([&](pqxx::work& t) -> Result<long long> {
        auto was = tally;
        auto r = exec(
            t,
            rows_too ? "WITH y AS (SELECT y.ti_id, y.try_number, y.log_path, y.ended_at FROM task_tries y JOIN "
                       "task_instances t ON t.id = y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE "
                       "(y.ti_id, y.try_number) > ($3::bigint, $4::int) AND " BATON_FINISHED
                       " AND y.ended_at < $1 ORDER BY y.ti_id, y.try_number LIMIT $2 FOR UPDATE OF y SKIP LOCKED), "
                       "g AS (DELETE FROM try_logs g USING y WHERE g.ti_id = y.ti_id AND g.try_number = y.try_number "
                       "RETURNING 1), "
                       "d AS (DELETE FROM task_tries x USING y WHERE x.ti_id = y.ti_id AND x.try_number = "
                       "y.try_number RETURNING y.log_path, y.ended_at, y.ti_id, y.try_number) "
                       "SELECT d.log_path, d.ended_at, (SELECT COUNT(*) FROM g), d.ti_id, d.try_number FROM d "
                       "ORDER BY d.ti_id, d.try_number"
                     : "WITH y AS (SELECT y.ti_id, y.try_number, y.log_path, y.ended_at FROM task_tries y JOIN "
                       "task_instances t ON t.id = y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE "
                       "(y.ti_id, y.try_number) > ($3::bigint, $4::int) AND " BATON_FINISHED
                       " AND y.ended_at < $1 AND (y.log_path IS NOT NULL OR EXISTS (SELECT 1 FROM try_logs g WHERE "
                       "g.ti_id = y.ti_id AND g.try_number = y.try_number)) ORDER BY y.ti_id, y.try_number LIMIT $2 "
                       "FOR UPDATE OF y SKIP LOCKED), "
                       "g AS (DELETE FROM try_logs g USING y WHERE g.ti_id = y.ti_id AND g.try_number = y.try_number "
                       "RETURNING 1), "
                       "d AS (UPDATE task_tries x SET log_path = NULL FROM y WHERE x.ti_id = y.ti_id AND "
                       "x.try_number = y.try_number RETURNING y.log_path, y.ended_at, y.ti_id, y.try_number) "
                       "SELECT d.log_path, d.ended_at, (SELECT COUNT(*) FROM g), d.ti_id, d.try_number FROM d "
                       "ORDER BY d.ti_id, d.try_number",
            params(before, batch, last_ti, last_no));
        if (!r) return r.error();
        if (r->empty()) return 0LL;
        std::vector<std::string> logs;
        for (auto row : *r) {
          if (rows_too) tally["task_tries"].see(opt_i64(row[1]));
          if (!row[0].is_null()) {
            logs.push_back(row[0].c_str());
            tally["log files"].see(opt_i64(row[1]), 0);
          }
        }
        tally["try_logs"].rows += (*r)[0][2].as<long long>();
        name_logs(std::move(logs));
        if (auto a = audit_batch(t, was); !a) return a.error();
        auto lastrow = (*r)[r->size() - 1];
        last_ti = lastrow[3].as<long long>();
        last_no = lastrow[4].as<long long>();
        return static_cast<long long>(r->size());
      });
      if (!n) return n.error();
      remove_logs();
      if (*n == 0) break;
      ++report.batches;
    }
    return {};
  };
  if (auto s = tries_pass(T, true); !s) return s.error();
  if (auto s = tries_pass(L, false); !s) return s.error();

  // What is as old as the runs' cutoff and no longer used, keyset on the
  // table's id ($3: the last one removed; DAG versions are few).
  static const char* kOld[][2] = {
      {"notifications",
       "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE id > $3 AND "
       BATON_OLD_NOTIFICATION " ORDER BY id LIMIT $2) RETURNING id, created_at"},
      {"backfills",
       "DELETE FROM backfills WHERE id IN (SELECT b.id FROM backfills b WHERE b.id > $3 AND " BATON_OLD_BACKFILL
       " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.backfill_id = b.id) ORDER BY b.id LIMIT $2) "
       "RETURNING id, COALESCE(ended_at, created_at)"},
      {"dataset_events",
       "DELETE FROM dataset_events WHERE id IN (SELECT e.id FROM dataset_events e WHERE e.id > $3 AND "
       BATON_OLD_EVENT " ORDER BY e.id LIMIT $2) RETURNING id, at"},
      {"dag_versions",
       "DELETE FROM dag_versions WHERE (dag_id, version) IN (SELECT v.dag_id, v.version FROM dag_versions v WHERE "
       "$3::bigint >= 0 AND " BATON_OLD_VERSION " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.dag_id = "
       "v.dag_id AND r.dag_version = v.version) LIMIT $2) RETURNING 0::bigint, created_at"},
  };
  for (auto& old : kOld) {
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    const char* table = old[0];
    const char* sql = old[1];
    long long last_key = 0;
    while (R && !stopping()) {
      auto n = write([&](pqxx::work& t) -> Result<long long> {
        auto was = tally;
        auto d = exec(t, sql, params(R, batch, last_key));
        if (!d) return d.error();
        long long last = last_key;
        for (auto row : *d) {
          last = std::max(last, row[0].as<long long>());
          tally[table].see(opt_i64(row[1]));
        }
        if (auto a = audit_batch(t, was); !a) return a.error();
        last_key = last;
        return static_cast<long long>(d->size());
      });
      if (!n) return n.error();
      if (*n == 0) break;
      ++report.batches;
    }
  }
  return finish();
}

}  // namespace baton::store::postgres
