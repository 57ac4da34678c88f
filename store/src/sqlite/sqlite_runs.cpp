// The SQLite Store: runs, their task instances and tries.
#include <nlohmann/json.hpp>

#include <limits>

#include "sqlite_lists.h"
#include "sqlite_store.h"

namespace baton::store::sqlite {

namespace {

TaskInstanceRecord ti_row(const Stmt& st) {
  TaskInstanceRecord t;
  t.id = st.i64(0);
  t.run_pk = st.i64(1);
  t.task_id = st.text(2);
  t.map_index = static_cast<int>(st.i64(3));
  t.state = task_state_from_string(st.text(4)).value_or(TaskState::failed);
  t.try_number = static_cast<int>(st.i64(5));
  t.max_tries = static_cast<int>(st.i64(6));
  t.queue = st.text(7);
  t.pool = st.text(8);
  t.pool_slots = static_cast<int>(st.i64(9));
  t.priority = static_cast<int>(st.i64(10));
  t.ready_at = opt_tp(st.opt_i64(11));
  t.wake_at = opt_tp(st.opt_i64(12));
  t.started_at = opt_tp(st.opt_i64(13));
  t.ended_at = opt_tp(st.opt_i64(14));
  t.worker = opt_text(st, 15);
  t.attempt_token = opt_text(st, 16);
  t.exit_code = opt_int(st, 17);
  t.reason = opt_text(st, 18);
  t.heartbeat_at = opt_tp(st.opt_i64(19));
  t.last_activity_at = opt_tp(st.opt_i64(20));
  t.output = opt_text(st, 21);
  t.item = opt_text(st, 22);
  t.flags = opt_text(st, 23).value_or("");
  t.progress = opt_text(st, 24);
  return t;
}

}  // namespace

// ---- runs ----

Result<std::vector<Result<Store::Created>>> SqliteRuns::create_runs(const std::vector<NewRun>& runs,
                                                                     const std::string& actor,
                                                                     const std::vector<Fence>& fences) {
  return write([&]() -> Result<std::vector<Result<Created>>> {
    if (auto f = check_fences_locked(fences); !f) return f.error();
    std::vector<Result<Created>> out;
    out.reserve(runs.size());
    static const std::string by_key_sql =
        std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND idempotency_key = ?";
    auto by_key = db_.prepare(by_key_sql.c_str());
    auto ins = db_.prepare(
        "INSERT INTO dag_runs (dag_id, run_id, run_type, state, logical_date, data_interval_start, "
        "data_interval_end, params, dag_version, note, idempotency_key, backfill_id, created_by, created_at, "
        "started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (auto& nr : runs) {
      const RunRecord& run = nr.run;
      if (run.idempotency_key) {
        by_key.reset();
        by_key.bind(1, run.dag_id).bind(2, *run.idempotency_key);
        int rc = by_key.step();
        if (rc == SQLITE_ROW) {
          Created c;
          c.run = run_row(by_key);
          c.created = false;
          auto found = tis_locked(c.run.pk);
          if (!found) return found.error();
          c.task_instances = std::move(*found);
          out.push_back(std::move(c));
          continue;
        }
        if (rc != SQLITE_DONE) return db_error();
      }
      Created c;
      c.run = run;
      c.run.created_at = clock_.now();
      ins.reset();
      ins.bind(1, run.dag_id).bind(2, run.run_id).bind(3, run.run_type).bind(4, std::string(to_string(run.state)));
      ins.bind(5, us(run.logical_date)).bind(6, us(run.data_interval_start)).bind(7, us(run.data_interval_end));
      ins.bind(8, run.params).bind(9, run.dag_version).bind(10, run.note).bind(11, run.idempotency_key);
      ins.bind(12, run.backfill_id).bind(13, run.created_by).bind(14, us(c.run.created_at));
      ins.bind(15, us(run.started_at)).bind(16, us(run.ended_at));
      int rc = ins.step();
      if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        out.push_back(Error{"conflict", "DAG " + run.dag_id + " already has a run " +
                                            (run.run_type == "scheduled" || run.run_type == "backfill"
                                                 ? "for the interval starting " + format_utc(run.logical_date)
                                                 : "with id " + run.run_id)});
        continue;
      }
      if (rc != SQLITE_DONE) return db_error();
      c.run.pk = sqlite3_last_insert_rowid(db_.raw());
      for (auto t : nr.task_instances) {
        t.run_pk = c.run.pk;
        if (auto s = insert_ti_locked(t); !s) return s.error();
        c.task_instances.push_back(std::move(t));
      }
      for (auto& cur : nr.cursors) {
        auto st = db_.prepare(
            "INSERT INTO dataset_consumers (dag_id, uri, last_event_id) VALUES (?1, ?2, ?3) "
            "ON CONFLICT(dag_id, uri) DO UPDATE SET last_event_id = max(last_event_id, ?3)");
        st.bind(1, cur.dag_id).bind(2, cur.uri).bind(3, cur.last_event_id);
        if (st.step() != SQLITE_DONE) return db_error();
      }
      if (run.run_type == "manual" || run.run_type == "dataset") {
        json details = {{"run_id", run.run_id}, {"logical_date", format_utc(run.logical_date)},
                        {"params", json::parse(run.params, nullptr, false)}};
        if (run.note) details["note"] = *run.note;
        if (auto a = audit_locked(nr.actor.empty() ? actor : nr.actor, "run.triggered",
                                  "dag:" + run.dag_id + "/" + run.run_id, details);
            !a)
          return a.error();
      }
      out.push_back(std::move(c));
    }
    return out;
  });
}

Result<std::vector<RunRecord>> SqliteRuns::list_runs(const RunFilter& f) {
  std::lock_guard lock(mu_);
  return runs_locked(f);
}

Result<std::vector<RunRecord>> SqliteRuns::runs_locked(const RunFilter& f) {
  auto st = db_.prepare(runs_sql(f.dag_id.has_value(), f.state.has_value(), f.run_type.has_value(), f.unfinished_only));
  st.bind(1, f.dag_id);
  st.bind(2, f.state ? std::optional<std::string>(to_string(*f.state)) : std::nullopt);
  st.bind(3, f.run_type);
  constexpr long long kLast = std::numeric_limits<long long>::max();  // no cursor: from the newest
  st.bind(5, f.before ? us(f.before->first) : kLast).bind(6, f.before ? f.before->second : kLast).bind(7, f.limit);
  std::vector<RunRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(run_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<std::map<std::string, std::vector<RunRecord>>> SqliteRuns::recent_runs(const std::vector<std::string>& dag_ids,
                                                                              int per_dag) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::vector<RunRecord>> out;
  for (auto& id : dag_ids) {
    RunFilter f;
    f.dag_id = id;
    f.limit = per_dag;
    auto runs = runs_locked(f);
    if (!runs) return runs.error();
    if (!runs->empty()) out[id] = std::move(*runs);
  }
  return out;
}

Result<std::optional<RunRecord>> SqliteRuns::find_run_by_key(const std::string& dag_id, const std::string& key) {
  std::lock_guard lock(mu_);
  static const std::string sql =
      std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND idempotency_key = ?";
  auto st = db_.prepare(sql.c_str());
  st.bind(1, dag_id).bind(2, key);
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<RunRecord>();
  if (rc != SQLITE_ROW) return db_error();
  return std::optional<RunRecord>(run_row(st));
}

Result<RunRecord> SqliteRuns::get_run(const std::string& dag_id, const std::string& run_id) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND run_id = ?";
  auto st = db_.prepare(sql.c_str());
  st.bind(1, dag_id).bind(2, run_id);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found("DAG " + dag_id + " has no run " + run_id);
  if (rc != SQLITE_ROW) return db_error();
  return run_row(st);
}

Result<std::vector<TaskInstanceRecord>> SqliteRuns::list_task_instances(long long run_pk) {
  std::lock_guard lock(mu_);
  return tis_locked(run_pk);
}

Result<std::vector<TaskInstanceRecord>> SqliteRuns::add_task_instances(long long run_pk,
                                                                        const std::vector<TaskInstanceRecord>& tis,
                                                                        const std::vector<Fence>& fences) {
  return write([&]() -> Result<std::vector<TaskInstanceRecord>> {
    if (auto f = check_fences_locked(fences); !f) return f.error();
    std::vector<TaskInstanceRecord> out;
    for (auto t : tis) {
      t.run_pk = run_pk;
      if (auto s = insert_ti_locked(t); !s) return s.error();
      out.push_back(std::move(t));
    }
    return out;
  });
}

Result<std::vector<TryRecord>> SqliteRuns::list_tries(long long ti_id) { return read_tries(kTriesSql, ti_id); }

Result<std::vector<TryRecord>> SqliteRuns::list_run_tries(long long run_pk) { return read_tries(kRunTriesSql, run_pk); }

Result<std::vector<TryRecord>> SqliteRuns::read_tries(const char* sql, long long key) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(sql);
  st.bind(1, key);
  std::vector<TryRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    TryRecord t;
    t.ti_id = st.i64(0);
    t.try_number = static_cast<int>(st.i64(1));
    t.state = task_state_from_string(st.text(2)).value_or(TaskState::failed);
    t.worker = opt_text(st, 3);
    t.attempt_token = opt_text(st, 4);
    t.queued_at = opt_tp(st.opt_i64(5));
    t.started_at = opt_tp(st.opt_i64(6));
    t.ended_at = opt_tp(st.opt_i64(7));
    t.exit_code = opt_int(st, 8);
    t.reason = opt_text(st, 9);
    t.log_path = opt_text(st, 10);
    t.log_bytes = st.i64(11);
    out.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<std::optional<RunRecord>> SqliteRuns::previous_run(const std::string& dag_id, TimePoint logical_date) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kRunColumns +
                                 " FROM dag_runs WHERE dag_id = ? AND logical_date < ? "
                                 "ORDER BY logical_date DESC, id DESC LIMIT 1";
  auto st = db_.prepare(sql.c_str());
  st.bind(1, dag_id).bind(2, us(logical_date));
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<RunRecord>();
  if (rc != SQLITE_ROW) return db_error();
  return std::optional<RunRecord>(run_row(st));
}

Result<std::vector<TaskInstanceRecord>> SqliteRuns::tis_locked(long long run_pk) {
  auto st = db_.prepare(kTaskInstancesSql);
  st.bind(1, run_pk);
  std::vector<TaskInstanceRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(ti_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Status SqliteRuns::insert_ti_locked(TaskInstanceRecord& t) {
  auto st = db_.prepare(
      "INSERT INTO task_instances (run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, "
      "pool_slots, priority, ready_at, wake_at, item) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, t.run_pk).bind(2, t.task_id).bind(3, t.map_index).bind(4, std::string(to_string(t.state)));
  st.bind(5, t.try_number).bind(6, t.max_tries).bind(7, t.queue).bind(8, t.pool).bind(9, t.pool_slots);
  st.bind(10, t.priority).bind(11, us(t.ready_at)).bind(12, us(t.wake_at)).bind(13, t.item);
  if (st.step() != SQLITE_DONE) return db_error();
  t.id = sqlite3_last_insert_rowid(db_.raw());
  return {};
}

}  // namespace baton::store::sqlite
