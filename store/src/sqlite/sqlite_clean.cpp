// The SQLite Store: retention (`baton db clean`, automatic retention). What
// goes and what never does is CleanRequest's comment in store.h; the counts
// of a dry run are made by the same conditions the batches delete by.
#include <nlohmann/json.hpp>

#include <string_view>
#include <utility>

#include "sqlite_store.h"

namespace baton::store::sqlite {

namespace {

// (`+r.state`: the batches read the runs in id order, on the primary key,
// never through an index on the state and a sort.)
// A run that may go (?1: the cutoff): finished before it; not the latest
// finished run of its DAG (so not the latest run either); not inside the
// range of a running backfill of its DAG (the backfill may rerun it); not
// the immediate predecessor (by logical date) of an unfinished run (its
// depends_on_past gates read it); with no task instance still active.
#define BATON_FIN "('success', 'failed', 'canceled')"
#define BATON_REMOVABLE_RUN                                                                                      \
  "+r.state IN " BATON_FIN " AND COALESCE(r.ended_at, r.created_at) < ?1 "                                     \
  "AND EXISTS (SELECT 1 FROM dag_runs n WHERE n.dag_id = r.dag_id AND n.state IN " BATON_FIN                   \
  " AND (n.logical_date > r.logical_date OR (n.logical_date = r.logical_date AND n.id > r.id))) "             \
  "AND NOT EXISTS (SELECT 1 FROM backfills b WHERE b.state = 'running' AND b.dag_id = r.dag_id AND "           \
  "r.logical_date BETWEEN b.from_at AND b.to_at) "                                                             \
  "AND COALESCE((SELECT s.state FROM dag_runs s WHERE s.dag_id = r.dag_id AND s.logical_date > r.logical_date " \
  "ORDER BY s.logical_date, s.id LIMIT 1), 'success') IN " BATON_FIN " "                                       \
  "AND NOT EXISTS (SELECT 1 FROM task_instances a WHERE a.run_pk = r.id AND a.state IN ('scheduled', 'queued', " \
  "'running', 'waiting', 'up_for_retry')) "

#define BATON_REMOVED_RUNS "rr AS (SELECT r.id FROM dag_runs r WHERE " BATON_REMOVABLE_RUN ")"
#define BATON_FINISHED "r.state IN " BATON_FIN

// Tries whose rows go (?1 runs, ?2 tries cutoff) or whose logs go (?3).
#define BATON_TRIES_GONE "(t.run_pk IN (SELECT id FROM rr) OR (" BATON_FINISHED " AND y.ended_at < ?2))"
#define BATON_LOGS_GONE \
  "(t.run_pk IN (SELECT id FROM rr) OR (" BATON_FINISHED " AND (y.ended_at < ?2 OR y.ended_at < ?3)))"

// What goes with the runs' cutoff besides the runs (?1).
#define BATON_OLD_NOTIFICATION "state IN ('sent', 'failed') AND created_at < ?1"
#define BATON_OLD_BACKFILL "b.state <> 'running' AND COALESCE(b.ended_at, b.created_at) < ?1"
#define BATON_OLD_EVENT                                                                        \
  "e.at < ?1 AND e.id < (SELECT MAX(x.id) FROM dataset_events x WHERE x.uri = e.uri) "          \
  "AND e.id <= COALESCE((SELECT MIN(c.last_event_id) FROM dataset_consumers c WHERE c.uri = e.uri), e.id)"
#define BATON_OLD_VERSION                                                                                \
  "v.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM dags d WHERE d.dag_id = v.dag_id AND d.current_version = " \
  "v.version)"

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

std::optional<long long> bind_cutoff(const std::optional<TimePoint>& t) { return us(t); }

}  // namespace

Result<CleanReport> SqliteStore::clean(const CleanRequest& req, const std::string& actor) {
  std::map<std::string, Tally> tally;
  CleanReport report;
  report.dry_run = req.dry_run;
  const int batch = std::max(1, req.batch_size);
  auto R = bind_cutoff(req.runs_before), T = bind_cutoff(req.tries_before), L = bind_cutoff(req.logs_before);
  auto stopping = [&] { return req.should_stop && req.should_stop(); };
  auto finish = [&]() -> Result<CleanReport> {
    for (auto& name : clean_tables()) {
      auto& t = tally[name];
      report.tables.push_back({name, t.rows, opt_tp(t.oldest), opt_tp(t.newest)});
    }
    return report;
  };
  // Each batch appends its own db.cleaned entry, with its counts, in its own
  // transaction (with mu_ held): nothing is removed unaudited.
  auto audit_batch = [&](const std::map<std::string, Tally>& before) -> Status {
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
    if (auto a = audit_locked(actor, "db.cleaned", "db", details); !a) return a.error();
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
    std::lock_guard lock(mu_);
    TempInFiles in_files(db_);  // the counts collect the ids of a whole history
    if (auto b = db_.exec("BEGIN"); !b) return b.error();  // one snapshot for every count
    auto count = [&](const char* sql, const std::string& table, bool dated) -> Status {
      auto st = db_.prepare(sql);
      st.bind(1, R).bind(2, T).bind(3, L);
      if (st.step() != SQLITE_ROW) return db_error();
      auto& t = tally[table];
      t.rows = st.i64(0);
      if (dated) {
        t.oldest = st.opt_i64(1);
        t.newest = st.opt_i64(2);
      }
      return {};
    };
    static const char* kCounts[][2] = {
        {"dag_runs",
         "SELECT COUNT(*), MIN(COALESCE(r.ended_at, r.created_at)), MAX(COALESCE(r.ended_at, r.created_at)) "
         "FROM dag_runs r WHERE " BATON_REMOVABLE_RUN},
        {"task_instances", "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM task_instances WHERE run_pk IN (SELECT id FROM rr)"},
        {"task_tries",
         "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(y.ended_at), MAX(y.ended_at) FROM task_tries y "
         "JOIN task_instances t ON t.id = y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE " BATON_TRIES_GONE},
        {"try_logs",
         "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM try_logs g WHERE g.ti_id IN (SELECT id FROM "
         "task_instances WHERE run_pk IN (SELECT id FROM rr)) OR EXISTS (SELECT 1 FROM task_tries y JOIN task_instances t ON t.id = "
         "y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE y.ti_id = g.ti_id AND y.try_number = g.try_number AND "
         BATON_LOGS_GONE ")"},
        {"task_queue", "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM task_queue WHERE run_pk IN (SELECT id FROM rr)"},
        {"worker_events", "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM worker_events WHERE run_pk IN (SELECT id FROM rr)"},
        {"sla_misses",
         "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM sla_misses m WHERE EXISTS (SELECT 1 FROM dag_runs r "
         "WHERE r.id IN (SELECT id FROM rr) AND r.dag_id = m.dag_id AND r.run_id = m.run_id)"},
        {"sla_risks",
         "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*) FROM sla_risks m WHERE EXISTS (SELECT 1 FROM dag_runs r "
         "WHERE r.id IN (SELECT id FROM rr) AND r.dag_id = m.dag_id AND r.run_id = m.run_id)"},
        {"notifications",
         "SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM notifications WHERE " BATON_OLD_NOTIFICATION},
        {"backfills",
         "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(COALESCE(b.ended_at, b.created_at)), "
         "MAX(COALESCE(b.ended_at, b.created_at)) FROM backfills b WHERE " BATON_OLD_BACKFILL
         " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.backfill_id = b.id AND r.id NOT IN (SELECT id FROM rr))"},
        {"dataset_events", "SELECT COUNT(*), MIN(e.at), MAX(e.at) FROM dataset_events e WHERE " BATON_OLD_EVENT},
        {"dag_versions",
         "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(v.created_at), MAX(v.created_at) FROM dag_versions v "
         "WHERE " BATON_OLD_VERSION " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.dag_id = v.dag_id AND "
         "r.dag_version = v.version AND r.id NOT IN (SELECT id FROM rr))"},
        {"log files",
         "WITH " BATON_REMOVED_RUNS " SELECT COUNT(*), MIN(y.ended_at), MAX(y.ended_at) FROM task_tries y "
         "JOIN task_instances t ON t.id = y.ti_id JOIN dag_runs r ON r.id = t.run_pk WHERE y.log_path IS NOT NULL "
         "AND " BATON_LOGS_GONE},
    };
    Status s;
    for (auto& [table, sql] : kCounts) {
      bool dated = std::string(sql).find("MIN(") != std::string::npos;
      if (s = count(sql, table, dated); !s) break;
    }
    (void)db_.exec("COMMIT");
    if (!s) return s.error();
    return finish();
  }

  // Before the first batch: an audit entry can be appended (a keyed log
  // needs the key), so that no batch removes rows and then fails to audit.
  {
    auto ready = write([&]() -> Result<bool> {
      long long last_id = 0;
      std::string last_hash(64, '0');
      auto st = db_.prepare("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
      if (st.step() == SQLITE_ROW) {
        last_id = st.i64(0);
        last_hash = st.text(1);
      }
      auto head = db_.prepare("SELECT value FROM settings WHERE key = 'audit_head'");
      std::optional<std::string> head_value;
      if (head.step() == SQLITE_ROW) head_value = head.text(0);
      if (auto ok = check_audit_append(last_id, last_hash, head_value, audit_key_); !ok) return ok.error();
      return true;
    });
    if (!ready) return ready.error();
  }

  // Runs, a batch at a time (about `batch` rows of runs and task instances),
  // after the last run looked at (keyset on the primary key: each batch
  // reads on from where the last one stopped).
  long long last_run = 0;
  while (R && !stopping()) {
    auto guard = req.batch_guard ? req.batch_guard() : nullptr;  // released after the batch, committed or not
    auto n = write([&]() -> Result<long long> {
      auto before = tally;
      auto pick = db_.prepare(
          "SELECT r.id, COALESCE(r.ended_at, r.created_at), (SELECT COUNT(*) FROM task_instances t WHERE "
          "t.run_pk = r.id) FROM dag_runs r WHERE r.id > ?3 AND " BATON_REMOVABLE_RUN " ORDER BY r.id LIMIT ?2");
      pick.bind(1, R).bind(2, batch).bind(3, last_run);
      json ids = json::array();
      long long rows = 0, last = last_run;
      int rc;
      while (rows < batch && (rc = pick.step()) == SQLITE_ROW) {
        ids.push_back(pick.i64(0));
        last = pick.i64(0);
        tally["dag_runs"].see(pick.i64(1));
        rows += 1 + pick.i64(2);
      }
      if (ids.empty()) return 0LL;
      std::string list = ids.dump();
      std::vector<std::string> logs;
      auto tries = db_.prepare(
          "SELECT y.log_path, y.ended_at FROM task_tries y JOIN task_instances t ON t.id = y.ti_id "
          "WHERE t.run_pk IN (SELECT value FROM json_each(?1))");
      tries.bind(1, list);
      while ((rc = tries.step()) == SQLITE_ROW) {
        tally["task_tries"].see(tries.opt_i64(1));
        if (!tries.is_null(0)) {
          logs.push_back(tries.text(0));
          tally["log files"].see(tries.opt_i64(1), 0);
        }
      }
      if (rc != SQLITE_DONE) return db_error();
      static const char* kDeletes[][2] = {
          {"try_logs",
           "DELETE FROM try_logs WHERE ti_id IN (SELECT id FROM task_instances WHERE run_pk IN (SELECT value FROM "
           "json_each(?1)))"},
          {"", "DELETE FROM task_tries WHERE ti_id IN (SELECT id FROM task_instances WHERE run_pk IN (SELECT value "
               "FROM json_each(?1)))"},
          {"task_queue", "DELETE FROM task_queue WHERE run_pk IN (SELECT value FROM json_each(?1))"},
          {"worker_events", "DELETE FROM worker_events WHERE run_pk IN (SELECT value FROM json_each(?1))"},
          {"sla_misses",
           "DELETE FROM sla_misses WHERE (dag_id, run_id) IN (SELECT dag_id, run_id FROM dag_runs WHERE id IN "
           "(SELECT value FROM json_each(?1)))"},
          {"sla_risks",
           "DELETE FROM sla_risks WHERE (dag_id, run_id) IN (SELECT dag_id, run_id FROM dag_runs WHERE id IN "
           "(SELECT value FROM json_each(?1)))"},
          {"task_instances", "DELETE FROM task_instances WHERE run_pk IN (SELECT value FROM json_each(?1))"},
          // The runs themselves only while still finished before the cutoff
          // (?2), checked again by the delete itself (in this transaction, as
          // the pick): a run a clear or mark made unfinished again stays.
          {"", "DELETE FROM dag_runs WHERE id IN (SELECT value FROM json_each(?1)) AND state IN " BATON_FIN
               " AND COALESCE(ended_at, created_at) < ?2"},
      };
      for (auto& [table, sql] : kDeletes) {
        auto d = db_.prepare(sql);
        d.bind(1, list);
        if (std::string_view(sql).find("?2") != std::string_view::npos) d.bind(2, R);
        if (d.step() != SQLITE_DONE) return db_error();
        if (*table) tally[table].rows += db_.changes();
      }
      // One that changed after all: the whole batch is undone (rows and files stay).
      if (db_.changes() != static_cast<long long>(ids.size()))
        return Error{"conflict", "a run changed while the clean removed it: this batch was undone; clean again"};
      name_logs(std::move(logs));
      if (auto a = audit_batch(before); !a) return a.error();
      last_run = last;
      return static_cast<long long>(ids.size());
    });
    if (!n) return n.error();
    guard.reset();  // the files go outside the guard
    remove_logs();
    if (*n == 0) break;
    ++report.batches;
  }

  // Tries (their rows) and logs (the rows stay, their logs go), a batch at a
  // time, keyset on the tries' rowid.
  auto tries_pass = [&](const std::optional<long long>& cutoff, bool rows_too) -> Status {
    long long last_try = 0;
    while (cutoff && !stopping()) {
      auto n = write([&]() -> Result<long long> {
        auto before = tally;
        auto pick = db_.prepare(
            rows_too ? "SELECT y.rowid, y.ti_id, y.try_number, y.log_path, y.ended_at FROM task_tries y CROSS JOIN "
                       "task_instances t ON t.id = y.ti_id CROSS JOIN dag_runs r ON r.id = t.run_pk WHERE y.rowid > ?3 "
                       "AND " BATON_FINISHED " AND y.ended_at < ?1 ORDER BY y.rowid LIMIT ?2"
                     : "SELECT y.rowid, y.ti_id, y.try_number, y.log_path, y.ended_at FROM task_tries y CROSS JOIN "
                       "task_instances t ON t.id = y.ti_id CROSS JOIN dag_runs r ON r.id = t.run_pk WHERE y.rowid > ?3 "
                       "AND " BATON_FINISHED " AND y.ended_at < ?1 AND (y.log_path IS NOT NULL OR EXISTS (SELECT 1 "
                       "FROM try_logs g WHERE g.ti_id = y.ti_id AND g.try_number = y.try_number)) ORDER BY y.rowid "
                       "LIMIT ?2");
        pick.bind(1, cutoff).bind(2, batch).bind(3, last_try);
        struct Row {
          long long rowid, ti_id, try_number;
          std::optional<std::string> log_path;
          std::optional<long long> ended_at;
        };
        std::vector<Row> rows;
        int rc;
        while ((rc = pick.step()) == SQLITE_ROW)
          rows.push_back({pick.i64(0), pick.i64(1), pick.i64(2), opt_text(pick, 3), pick.opt_i64(4)});
        if (rc != SQLITE_DONE) return db_error();
        if (rows.empty()) return 0LL;
        std::vector<std::string> logs;
        for (auto& row : rows) {
          auto g = db_.prepare("DELETE FROM try_logs WHERE ti_id = ? AND try_number = ?");
          g.bind(1, row.ti_id).bind(2, row.try_number);
          if (g.step() != SQLITE_DONE) return db_error();
          tally["try_logs"].rows += db_.changes();
          auto y = db_.prepare(rows_too ? "DELETE FROM task_tries WHERE rowid = ?"
                                        : "UPDATE task_tries SET log_path = NULL WHERE rowid = ?");
          y.bind(1, row.rowid);
          if (y.step() != SQLITE_DONE) return db_error();
          if (rows_too) tally["task_tries"].see(row.ended_at);
          if (row.log_path) {
            logs.push_back(*row.log_path);
            tally["log files"].see(row.ended_at, 0);
          }
        }
        name_logs(std::move(logs));
        if (auto a = audit_batch(before); !a) return a.error();
        last_try = rows.back().rowid;
        return static_cast<long long>(rows.size());
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
  // table's key (?3: the last one removed).
  static const char* kOld[][2] = {
      {"notifications",
       "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE id > ?3 AND " BATON_OLD_NOTIFICATION
       " ORDER BY id LIMIT ?2) RETURNING id, created_at"},
      {"backfills",
       "DELETE FROM backfills WHERE id IN (SELECT b.id FROM backfills b WHERE b.id > ?3 AND " BATON_OLD_BACKFILL
       " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.backfill_id = b.id) ORDER BY b.id LIMIT ?2) "
       "RETURNING id, COALESCE(ended_at, created_at)"},
      {"dataset_events",
       "DELETE FROM dataset_events WHERE id IN (SELECT e.id FROM dataset_events e WHERE e.id > ?3 AND " BATON_OLD_EVENT
       " ORDER BY e.id LIMIT ?2) RETURNING id, at"},
      {"dag_versions",
       "DELETE FROM dag_versions WHERE rowid IN (SELECT v.rowid FROM dag_versions v WHERE v.rowid > ?3 AND "
       BATON_OLD_VERSION " AND NOT EXISTS (SELECT 1 FROM dag_runs r WHERE r.dag_id = v.dag_id AND r.dag_version = "
       "v.version) ORDER BY v.rowid LIMIT ?2) RETURNING rowid, created_at"},
  };
  for (auto& old : kOld) {
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    const char* table = old[0];
    const char* sql = old[1];
    long long last_key = 0;
    while (R && !stopping()) {
      auto n = write([&]() -> Result<long long> {
        auto before = tally;
        auto d = db_.prepare(sql);
        d.bind(1, R).bind(2, batch).bind(3, last_key);
        long long rows = 0, last = last_key;
        int rc;
        while ((rc = d.step()) == SQLITE_ROW) {
          last = std::max(last, d.i64(0));
          tally[table].see(d.opt_i64(1));
          ++rows;
        }
        if (rc != SQLITE_DONE) return db_error();
        if (auto a = audit_batch(before); !a) return a.error();
        last_key = last;
        return rows;
      });
      if (!n) return n.error();
      if (*n == 0) break;
      ++report.batches;
    }
  }
  return finish();
}

}  // namespace baton::store::sqlite
