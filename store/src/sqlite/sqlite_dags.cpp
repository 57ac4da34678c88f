// The SQLite Store: DAGs and their compiled versions, and datasets (their
// events and the cursors of the DAGs they schedule).
#include <nlohmann/json.hpp>

#include "sqlite_lists.h"
#include "sqlite_store.h"

namespace baton::store::sqlite {

namespace {

const char* kDagColumns =
    "dag_id, namespace, file, current_version, active, paused, import_errors, partition_no, last_tick, created_at, "
    "updated_at";

DagRecord dag_row(const Stmt& st) {
  DagRecord d;
  d.dag_id = st.text(0);
  d.ns = st.text(1);
  d.file = st.text(2);
  d.current_version = opt_text(st, 3);
  d.active = st.i64(4) != 0;
  d.paused = st.i64(5) != 0;
  d.import_errors = st.is_null(6) ? "" : st.text(6);
  d.partition = static_cast<int>(st.i64(7));
  d.last_tick = opt_tp(st.opt_i64(8));
  d.created_at = tp(st.i64(9));
  d.updated_at = tp(st.i64(10));
  return d;
}

}  // namespace

// ---- DAGs ----

Result<bool> SqliteDags::register_dag_version(const DagVersionRecord& v, const std::string& ns, int partition,
                                               const std::string& actor) {
  return write([&]() { return register_version_locked(v, ns, partition, actor); });
}

Result<std::vector<DagRecord>> SqliteDags::register_dag_versions(const std::vector<DagVersionRegistration>& vs,
                                                                 const std::string& actor) {
  return write([&]() -> Result<std::vector<DagRecord>> {
    std::vector<DagRecord> out;
    out.reserve(vs.size());
    for (auto& r : vs) {
      if (auto f = register_version_locked(r.version, r.ns, r.partition, actor); !f) return f.error();
      auto d = get_dag_locked(r.version.dag_id);
      if (!d) return d.error();
      out.push_back(std::move(*d));
    }
    return out;
  });
}

// With mu_ held, in a write.
Result<bool> SqliteDags::register_version_locked(const DagVersionRecord& v, const std::string& ns, int partition,
                                                 const std::string& actor) {
  long long at = now();
  auto ins = db_.prepare(
      "INSERT INTO dags (dag_id, namespace, file, current_version, active, partition_no, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, NULL, 1, ?4, ?5, ?5) ON CONFLICT(dag_id) DO NOTHING");
  ins.bind(1, v.dag_id).bind(2, ns).bind(3, v.file).bind(4, partition).bind(5, at);
  if (ins.step() != SQLITE_DONE) return db_error();
  auto ver = db_.prepare(
      "INSERT INTO dag_versions (dag_id, version, compiled, source, file, git_commit, git_dirty, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dag_id, version) DO NOTHING");
  ver.bind(1, v.dag_id).bind(2, v.version).bind(3, v.compiled).bind(4, v.source).bind(5, v.file);
  ver.bind(6, v.git_commit);
  ver.bind(7, v.git_dirty ? std::optional<long long>(*v.git_dirty ? 1 : 0) : std::nullopt).bind(8, at);
  if (ver.step() != SQLITE_DONE) return db_error();
  bool fresh = db_.changes() > 0;
  auto cur = db_.prepare("SELECT current_version, active FROM dags WHERE dag_id = ?");
  cur.bind(1, v.dag_id);
  if (cur.step() != SQLITE_ROW) return db_error();
  bool changed = cur.is_null(0) || cur.text(0) != v.version || cur.i64(1) == 0;
  auto up = db_.prepare(
      "UPDATE dags SET namespace = ?2, file = ?3, current_version = ?4, active = 1, import_errors = NULL, "
      "partition_no = ?5, updated_at = ?6 WHERE dag_id = ?1");
  up.bind(1, v.dag_id).bind(2, ns).bind(3, v.file).bind(4, v.version).bind(5, partition).bind(6, at);
  if (up.step() != SQLITE_DONE) return db_error();
  if (changed) {
    json details = {{"version", v.version}, {"file", v.file}};
    if (v.git_commit) details["git_commit"] = *v.git_commit;
    if (v.git_dirty) details["git_dirty"] = *v.git_dirty;
    if (auto a = audit_locked(actor, "dag.version_registered", "dag:" + v.dag_id, details); !a) return a.error();
  }
  return fresh;
}

Status SqliteDags::set_import_errors(const std::string& dag_id, const std::string& file, int partition,
                                      const std::string& errors_json, const std::string& ns) {
  auto r = write([&]() -> Result<bool> {
    long long at = now();
    auto st = db_.prepare(
        "INSERT INTO dags (dag_id, file, current_version, active, import_errors, partition_no, created_at, "
        "updated_at, namespace) VALUES (?1, ?2, NULL, 1, ?3, ?4, ?5, ?5, ?6) "
        "ON CONFLICT(dag_id) DO UPDATE SET import_errors = excluded.import_errors, updated_at = excluded.updated_at");
    st.bind(1, dag_id).bind(2, file).bind(3, errors_json).bind(4, partition).bind(5, at).bind(6, ns);
    if (st.step() != SQLITE_DONE) return db_error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Status SqliteDags::deactivate_dag(const std::string& dag_id, const std::string& actor) {
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare("UPDATE dags SET active = 0, updated_at = ? WHERE dag_id = ? AND active = 1");
    st.bind(1, now()).bind(2, dag_id);
    if (st.step() != SQLITE_DONE) return db_error();
    if (db_.changes() == 0) return true;
    if (auto a = audit_locked(actor, "dag.removed", "dag:" + dag_id, json::object()); !a) return a.error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Result<std::vector<DagRecord>> SqliteDags::list_dags() {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kDagColumns + " FROM dags ORDER BY dag_id";
  auto st = db_.prepare(sql.c_str());
  std::vector<DagRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(dag_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

const char* kDagsPageSql = [] {
  static const std::string s =
      std::string("SELECT ") + kDagColumns + " FROM dags WHERE dag_id > ?1 ORDER BY dag_id LIMIT ?2";
  return s.c_str();
}();

Result<std::vector<DagRecord>> SqliteDags::list_dags_page(const std::string& after_id, int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(kDagsPageSql);
  st.bind(1, after_id).bind(2, limit);
  std::vector<DagRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(dag_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<long long> SqliteDags::dags_generation() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'dags_generation'");
  int rc = st.step();
  if (rc == SQLITE_DONE) return 0LL;
  if (rc != SQLITE_ROW) return db_error();
  return st.i64(0);
}

Result<DagRecord> SqliteDags::get_dag(const std::string& dag_id) {
  std::lock_guard lock(mu_);
  return get_dag_locked(dag_id);
}

Result<DagRecord> SqliteDags::get_dag_locked(const std::string& dag_id) {
  static const std::string sql = std::string("SELECT ") + kDagColumns + " FROM dags WHERE dag_id = ?";
  auto st = db_.prepare(sql.c_str());
  st.bind(1, dag_id);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found("no DAG \"" + dag_id + "\"");
  if (rc != SQLITE_ROW) return db_error();
  return dag_row(st);
}

Result<std::vector<DagVersionRecord>> SqliteDags::list_dag_versions(const std::string& dag_id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT dag_id, version, compiled, source, file, git_commit, git_dirty, created_at FROM dag_versions "
      "WHERE dag_id = ? ORDER BY created_at DESC, version");
  st.bind(1, dag_id);
  std::vector<DagVersionRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(version_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<DagVersionRecord> SqliteDags::get_dag_version(const std::string& dag_id, const std::string& version) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT dag_id, version, compiled, source, file, git_commit, git_dirty, created_at FROM dag_versions "
      "WHERE dag_id = ? AND version = ?");
  st.bind(1, dag_id).bind(2, version);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found("DAG " + dag_id + " has no version " + version);
  if (rc != SQLITE_ROW) return db_error();
  return version_row(st);
}

DagVersionRecord SqliteDags::version_row(const Stmt& st) {
  DagVersionRecord v;
  v.dag_id = st.text(0);
  v.version = st.text(1);
  v.compiled = st.text(2);
  v.source = st.text(3);
  v.file = st.text(4);
  v.git_commit = opt_text(st, 5);
  v.git_dirty = st.is_null(6) ? std::nullopt : std::optional<bool>(st.i64(6) != 0);
  v.created_at = tp(st.i64(7));
  return v;
}

Status SqliteDags::set_paused(const std::string& dag_id, bool paused, const std::string& actor) {
  auto r = write([&]() -> Result<bool> {
    auto d = get_dag_locked(dag_id);
    if (!d) return d.error();
    if (d->paused == paused) return true;
    auto st = db_.prepare("UPDATE dags SET paused = ?, updated_at = ? WHERE dag_id = ?");
    st.bind(1, paused ? 1 : 0).bind(2, now()).bind(3, dag_id);
    if (st.step() != SQLITE_DONE) return db_error();
    if (auto a = audit_locked(actor, paused ? "dag.paused" : "dag.unpaused", "dag:" + dag_id,
                              json{{"before", {{"paused", !paused}}}, {"after", {{"paused", paused}}}});
        !a)
      return a.error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

// ---- datasets ----

Result<DatasetEvent> SqliteDags::record_dataset_event(const DatasetEvent& e) {
  return write([&]() { return insert_dataset_event_locked(e); });
}

// With mu_ held, in a write.
Result<DatasetEvent> SqliteDags::insert_dataset_event_locked(const DatasetEvent& e) {
  DatasetEvent out = e;
  if (out.at == TimePoint{}) out.at = clock_.now();
  auto st = db_.prepare(
      "INSERT INTO dataset_events (uri, at, extra, source_dag_id, source_run_id, source_task_id) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  st.bind(1, out.uri).bind(2, us(out.at)).bind(3, out.extra).bind(4, out.source_dag_id).bind(5, out.source_run_id);
  st.bind(6, out.source_task_id);
  if (st.step() != SQLITE_DONE) return db_error();
  out.id = sqlite3_last_insert_rowid(db_.raw());
  return out;
}

Result<std::vector<DatasetEvent>> SqliteDags::list_dataset_events(const std::optional<std::string>& uri,
                                                                   long long after_id, int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(dataset_events_sql(uri.has_value()));
  st.bind(1, after_id).bind(2, uri).bind(3, limit);
  std::vector<DatasetEvent> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.i64(0), st.text(1), tp(st.i64(2)), st.text(3), opt_text(st, 4), opt_text(st, 5), opt_text(st, 6)});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<long long> SqliteDags::last_dataset_event_id() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT coalesce(max(id), 0) FROM dataset_events");
  if (st.step() != SQLITE_ROW) return db_error();
  return st.i64(0);
}

Result<std::vector<DatasetCursor>> SqliteDags::dataset_cursors(const std::string& dag_id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT dag_id, uri, last_event_id FROM dataset_consumers WHERE dag_id = ? ORDER BY uri");
  st.bind(1, dag_id);
  std::vector<DatasetCursor> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), st.text(1), st.i64(2)});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

}  // namespace baton::store::sqlite
