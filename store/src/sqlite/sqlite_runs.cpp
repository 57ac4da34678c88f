// The SQLite Store: runs, their task instances and tries.
#include <nlohmann/json.hpp>

#include <array>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "sqlite_lists.h"
#include "run_text.h"
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
    std::vector<std::optional<Result<Created>>> answers(runs.size());
    static const std::string by_key_sql =
        std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND idempotency_key = ?";
    // Runs without a key go together, a statement of many rows at a time;
    // a run with a key is looked up, then made alone. In the batch's order,
    // so that audit entries follow it.
    std::vector<size_t> group;
    for (size_t i = 0; i < runs.size(); ++i) {
      const RunRecord& run = runs[i].run;
      if (!run.idempotency_key) {
        group.push_back(i);
        continue;
      }
      if (auto s = insert_runs_locked(runs, group, actor, answers); !s) return s.error();
      group.clear();
      auto by_key = db_.prepare(by_key_sql.c_str());
      by_key.bind(1, run.dag_id).bind(2, *run.idempotency_key);
      int rc = by_key.step();
      if (rc == SQLITE_ROW) {
        Created c;
        c.run = run_row(by_key);
        c.created = false;
        by_key.reset();
        auto found = tis_locked(c.run.pk);
        if (!found) return found.error();
        c.task_instances = std::move(*found);
        answers[i] = std::move(c);
        continue;
      }
      if (rc != SQLITE_DONE) return db_error();
      by_key.reset();
      group.push_back(i);
      if (auto s = insert_runs_locked(runs, group, actor, answers); !s) return s.error();
      group.clear();
    }
    if (auto s = insert_runs_locked(runs, group, actor, answers); !s) return s.error();
    std::vector<Result<Created>> out;
    out.reserve(runs.size());
    for (auto& a : answers) out.push_back(std::move(*a));
    return out;
  });
}

namespace {

// `head` VALUES (?, …), … (`n` rows of `cols` parameters) `tail`.
std::string rows_sql(const char* head, int cols, size_t n, const char* tail) {
  std::string row = "(";
  for (int c = 0; c < cols; ++c) row += c ? ", ?" : "?";
  row += ")";
  std::string s = std::string(head) + " VALUES ";
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + row;
  return s + " " + tail;
}

// Rows go in statements of these sizes, the biggest that fits first (so a
// batch of any size takes few statements, and four texts are prepared once).
// A statement of many rows opens the table's and each index's cursors once,
// where a statement a row opened them for every row.
constexpr std::array<size_t, 4> kRowChunks{64, 16, 4, 1};

struct RowsSql {
  std::array<std::string, kRowChunks.size()> texts;
  RowsSql(const char* head, int cols, const char* tail) {
    for (size_t k = 0; k < kRowChunks.size(); ++k) texts[k] = rows_sql(head, cols, kRowChunks[k], tail);
  }
  // The statement cache knows a statement by its text's address: these
  // live as long as the process.
  const char* of(size_t n) const {
    for (size_t k = 0; k < kRowChunks.size(); ++k)
      if (kRowChunks[k] == n) return texts[k].c_str();
    return nullptr;
  }
};

constexpr int kRunInsertColumns = 16, kTiInsertColumns = 13;

const RowsSql& run_rows_sql() {
  static const RowsSql sql(
      "INSERT INTO dag_runs (dag_id, run_id, run_type, state, logical_date, data_interval_start, "
      "data_interval_end, params, dag_version, note, idempotency_key, backfill_id, created_by, created_at, "
      "started_at, ended_at)",
      kRunInsertColumns, "ON CONFLICT DO NOTHING RETURNING id, dag_id, run_id");
  return sql;
}

const RowsSql& ti_rows_sql() {
  static const RowsSql sql(
      "INSERT INTO task_instances (run_pk, task_id, map_index, state, try_number, max_tries, queue, pool, "
      "pool_slots, priority, ready_at, wake_at, item)",
      kTiInsertColumns, "RETURNING id, run_pk, task_id, map_index");
  return sql;
}

// Calls `each(first, n)` for consecutive slices of [0, total), in the sizes
// of kRowChunks; stops at the first error.
template <class F>
Status in_row_chunks(size_t total, F each) {
  size_t at = 0;
  for (size_t n : kRowChunks)
    for (; total - at >= n; at += n)
      if (auto s = each(at, n); !s) return s;
  return {};
}

}  // namespace

// The runs `group` names (indexes into `runs`), inserted together: a run
// whose (DAG, run id) or interval another run has already, or an earlier
// one of the group, is answered as a conflict (ON CONFLICT DO NOTHING; the
// rows made are told by what RETURNING gives back). Then the task
// instances of the runs made, together too; then their dataset cursors and
// audit entries, a run at a time, in the group's order.
Status SqliteRuns::insert_runs_locked(const std::vector<NewRun>& runs, const std::vector<size_t>& group,
                                      const std::string& actor, std::vector<std::optional<Result<Created>>>& answers) {
  if (group.empty()) return {};
  const TimePoint created_at = clock_.now();
  // The same (DAG, run id) twice: the later is a conflict, not sent (the
  // answer of a row would be matched to both).
  std::vector<size_t> sent;
  sent.reserve(group.size());
  std::set<std::pair<std::string, std::string>> named;
  for (size_t i : group) {
    if (named.insert({runs[i].run.dag_id, runs[i].run.run_id}).second) sent.push_back(i);
    else answers[i] = run_conflict(runs[i].run);
  }
  std::map<std::pair<std::string, std::string>, long long> made;
  auto runs_in = in_row_chunks(sent.size(), [&](size_t first, size_t n) -> Status {
    auto ins = db_.prepare(run_rows_sql().of(n));
    for (size_t k = 0; k < n; ++k) {
      const RunRecord& run = runs[sent[first + k]].run;
      int p = static_cast<int>(k) * kRunInsertColumns;
      ins.bind(p + 1, run.dag_id).bind(p + 2, run.run_id).bind(p + 3, run.run_type);
      ins.bind(p + 4, std::string(to_string(run.state))).bind(p + 5, us(run.logical_date));
      ins.bind(p + 6, us(run.data_interval_start)).bind(p + 7, us(run.data_interval_end)).bind(p + 8, run.params);
      ins.bind(p + 9, run.dag_version).bind(p + 10, run.note).bind(p + 11, run.idempotency_key);
      ins.bind(p + 12, run.backfill_id).bind(p + 13, run.created_by).bind(p + 14, us(created_at));
      ins.bind(p + 15, us(run.started_at)).bind(p + 16, us(run.ended_at));
    }
    int rc;
    while ((rc = ins.step()) == SQLITE_ROW) made[{ins.text(1), ins.text(2)}] = ins.i64(0);
    return rc == SQLITE_DONE ? Status{} : Status(db_error());
  });
  if (!runs_in) return runs_in;
  // The task instances of the runs made, in the group's order.
  std::vector<size_t> created;
  std::vector<TaskInstanceRecord> tis;
  for (size_t i : sent) {
    auto it = made.find({runs[i].run.dag_id, runs[i].run.run_id});
    if (it == made.end()) {
      answers[i] = run_conflict(runs[i].run);
      continue;
    }
    created.push_back(i);
    Created c;
    c.run = runs[i].run;
    c.run.pk = it->second;
    c.run.created_at = created_at;
    answers[i] = std::move(c);
    for (auto t : runs[i].task_instances) {
      t.run_pk = it->second;
      tis.push_back(std::move(t));
    }
  }
  std::map<std::tuple<long long, std::string, int>, long long> ti_ids;
  auto tis_in = in_row_chunks(tis.size(), [&](size_t first, size_t n) -> Status {
    auto ins = db_.prepare(ti_rows_sql().of(n));
    for (size_t k = 0; k < n; ++k) {
      const TaskInstanceRecord& t = tis[first + k];
      int p = static_cast<int>(k) * kTiInsertColumns;
      ins.bind(p + 1, t.run_pk).bind(p + 2, t.task_id).bind(p + 3, t.map_index);
      ins.bind(p + 4, std::string(to_string(t.state))).bind(p + 5, t.try_number).bind(p + 6, t.max_tries);
      ins.bind(p + 7, t.queue).bind(p + 8, t.pool).bind(p + 9, t.pool_slots).bind(p + 10, t.priority);
      ins.bind(p + 11, us(t.ready_at)).bind(p + 12, us(t.wake_at)).bind(p + 13, t.item);
    }
    int rc;
    while ((rc = ins.step()) == SQLITE_ROW)
      ti_ids[{ins.i64(1), ins.text(2), static_cast<int>(ins.i64(3))}] = ins.i64(0);
    return rc == SQLITE_DONE ? Status{} : Status(db_error());
  });
  if (!tis_in) return tis_in;
  for (auto& t : tis) {
    auto it = ti_ids.find({t.run_pk, t.task_id, t.map_index});
    if (it == ti_ids.end()) return Error{"database_error", "SQLite: a task instance inserted was not returned"};
    t.id = it->second;
  }
  size_t next_ti = 0;
  for (size_t i : created) {
    Created& c = **answers[i];
    const NewRun& nr = runs[i];
    for (size_t k = 0; k < nr.task_instances.size(); ++k) c.task_instances.push_back(std::move(tis[next_ti++]));
    for (auto& cur : nr.cursors) {
      auto st = db_.prepare(
          "INSERT INTO dataset_consumers (dag_id, uri, last_event_id) VALUES (?1, ?2, ?3) "
          "ON CONFLICT(dag_id, uri) DO UPDATE SET last_event_id = max(last_event_id, ?3)");
      st.bind(1, cur.dag_id).bind(2, cur.uri).bind(3, cur.last_event_id);
      if (st.step() != SQLITE_DONE) return db_error();
    }
    const RunRecord& run = nr.run;
    if (run_audited(run))
      if (auto a = audit_locked(nr.actor.empty() ? actor : nr.actor, "run.triggered",
                                "dag:" + run.dag_id + "/" + run.run_id, run_triggered_details(run));
          !a)
        return a.error();
  }
  return {};
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
