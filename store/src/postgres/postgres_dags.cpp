// The PostgreSQL Store: DAGs and their compiled versions, and datasets (their
// events and the cursors of the DAGs they schedule).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "postgres_lists.h"
#include "postgres_store.h"

namespace baton::store::postgres {

namespace {

const char* kDagColumns =
    "dag_id, namespace, file, current_version, active, paused, import_errors, partition_no, last_tick, created_at, "
    "updated_at";

DagRecord dag_row(const pqxx::row& r) {
  DagRecord d;
  d.dag_id = r[0].c_str();
  d.ns = r[1].c_str();
  d.file = r[2].c_str();
  d.current_version = opt_text(r[3]);
  d.active = r[4].as<bool>();
  d.paused = r[5].as<bool>();
  d.import_errors = r[6].is_null() ? "" : r[6].c_str();
  d.partition = r[7].as<int>();
  d.last_tick = opt_tp(r[8]);
  d.created_at = tp(r[9].as<long long>());
  d.updated_at = tp(r[10].as<long long>());
  return d;
}

const char* kVersionColumns = "dag_id, version, compiled, source, file, git_commit, git_dirty, created_at";

DagVersionRecord version_row(const pqxx::row& r) {
  DagVersionRecord v;
  v.dag_id = r[0].c_str();
  v.version = r[1].c_str();
  v.compiled = r[2].c_str();
  v.source = r[3].c_str();
  v.file = r[4].c_str();
  v.git_commit = opt_text(r[5]);
  v.git_dirty = r[6].is_null() ? std::nullopt : std::optional<bool>(r[6].as<bool>());
  v.created_at = tp(r[7].as<long long>());
  return v;
}

}  // namespace

// ---- DAGs ----

Result<bool> PostgresDags::register_dag_version(const DagVersionRecord& v, const std::string& ns, int partition,
                                                 const std::string& actor) {
  return write([&](pqxx::work& t) { return register_version_in(t, v, ns, partition, actor); });
}

// Many versions in eight statements whatever their number (a cold start
// registers 10,000 DAGs): what register_version_in does for one, for all of
// them at once, the rows written and the DAGs' rows locked in byte order of
// their names. A batch that names a DAG twice goes one version at a time,
// in order.
Result<std::vector<DagRecord>> PostgresDags::register_dag_versions(const std::vector<DagVersionRegistration>& vs,
                                                                   const std::string& actor) {
  std::unordered_set<std::string> named;
  bool twice = false;
  for (auto& r : vs) twice = twice || !named.insert(r.version.dag_id).second;
  return write([&](pqxx::work& t) -> Result<std::vector<DagRecord>> {
    std::vector<DagRecord> out;
    out.reserve(vs.size());
    if (twice) {
      for (auto& r : vs) {
        if (auto f = register_version_in(t, r.version, r.ns, r.partition, actor); !f) return f.error();
        auto d = dag_in(t, r.version.dag_id);
        if (!d) return d.error();
        out.push_back(std::move(*d));
      }
      return out;
    }
    if (vs.empty()) return out;
    std::vector<const DagVersionRegistration*> sorted;
    for (auto& r : vs) sorted.push_back(&r);
    std::sort(sorted.begin(), sorted.end(),
              [](auto* a, auto* b) { return a->version.dag_id < b->version.dag_id; });
    Column id, ns, file, partition, version, compiled, source, commit, dirty;
    for (auto* r : sorted) {
      const DagVersionRecord& v = r->version;
      id.add(v.dag_id);
      ns.add(r->ns);
      file.add(v.file);
      partition.add(r->partition);
      version.add(v.version);
      compiled.add(v.compiled);
      source.add(v.source);
      commit.add(v.git_commit);
      dirty.add(v.git_dirty ? std::optional<std::string>(*v.git_dirty ? "true" : "false") : std::nullopt);
    }
    long long at = now();
    if (auto r = exec(t,
                      "INSERT INTO dags (dag_id, namespace, file, current_version, active, partition_no, created_at, "
                      "updated_at) SELECT v_id, v_ns, v_file, NULL, TRUE, v_partition, $5, $5 FROM "
                      "unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS v(v_id, v_ns, v_file, v_partition) "
                      "ON CONFLICT (dag_id) DO NOTHING",
                      params(id.text(), ns.text(), file.text(), partition.text(), at));
        !r)
      return r.error();
    if (auto r = exec(t,
                      "INSERT INTO dag_versions (dag_id, version, compiled, source, file, git_commit, git_dirty, "
                      "created_at) SELECT *, $8 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
                      "$5::text[], $6::text[], $7::bool[]) ON CONFLICT (dag_id, version) DO NOTHING",
                      params(id.text(), version.text(), compiled.text(), source.text(), file.text(), commit.text(),
                             dirty.text(), at));
        !r)
      return r.error();
    // The row locks keep two processes registering the same DAGs in order.
    // FOR NO KEY UPDATE: the versions' inserts above hold KEY SHARE locks on
    // these rows (their foreign key), which FOR UPDATE would wait for in
    // another process registering the same DAG: each would wait for the
    // other. In byte order, as the batch was sorted.
    auto cur = exec(t,
                    "SELECT dag_id, current_version, active FROM dags WHERE dag_id = ANY($1::text[]) "
                    "ORDER BY dag_id COLLATE \"C\" FOR NO KEY UPDATE",
                    params(id.text()));
    if (!cur) return cur.error();
    std::unordered_map<std::string, const DagVersionRegistration*> by_id;
    for (auto* r : sorted) by_id[r->version.dag_id] = r;
    std::unordered_set<std::string> changed;
    for (auto row : *cur) {
      const DagVersionRegistration* r = by_id.at(row[0].c_str());
      if (row[1].is_null() || row[1].c_str() != r->version.version || !row[2].as<bool>()) changed.insert(row[0].c_str());
    }
    static const std::string update = sql_with(
        "UPDATE dags SET namespace = v_ns, file = v_file, current_version = v_version, active = TRUE, "
        "import_errors = NULL, partition_no = v_partition, updated_at = $6 FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::text[], $5::int[]) AS v(v_id, v_ns, v_file, v_version, v_partition) "
        "WHERE dag_id = v_id RETURNING ",
        kDagColumns, "");
    auto updated = exec(t, update, params(id.text(), ns.text(), file.text(), version.text(), partition.text(), at));
    if (!updated) return updated.error();
    std::unordered_map<std::string, DagRecord> rows;
    for (auto row : *updated) {
      DagRecord d = dag_row(row);
      rows.emplace(d.dag_id, std::move(d));
    }
    std::vector<AuditItem> entries;
    for (auto& r : vs) {
      const DagVersionRecord& v = r.version;
      auto it = rows.find(v.dag_id);
      if (it == rows.end()) return Error{"database_error", "DAG " + v.dag_id + " vanished while it was registered"};
      out.push_back(it->second);
      if (!changed.count(v.dag_id)) continue;
      json details = {{"version", v.version}, {"file", v.file}};
      if (v.git_commit) details["git_commit"] = *v.git_commit;
      if (v.git_dirty) details["git_dirty"] = *v.git_dirty;
      entries.push_back(audit_item(actor, "dag.version_registered", "dag:" + v.dag_id, details));
    }
    if (auto a = audit_many(t, entries); !a) return a.error();
    return out;
  });
}

Result<bool> PostgresDags::register_version_in(pqxx::work& t, const DagVersionRecord& v, const std::string& ns,
                                               int partition, const std::string& actor) {
  long long at = now();
  if (auto r = exec(t,
                    "INSERT INTO dags (dag_id, namespace, file, current_version, active, partition_no, "
                    "created_at, updated_at) VALUES ($1, $2, $3, NULL, TRUE, $4, $5, $5) "
                    "ON CONFLICT (dag_id) DO NOTHING",
                    params(v.dag_id, ns, v.file, partition, at));
      !r)
    return r.error();
  auto ver = exec(t,
                  "INSERT INTO dag_versions (dag_id, version, compiled, source, file, git_commit, git_dirty, "
                  "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dag_id, version) DO NOTHING",
                  params(v.dag_id, v.version, v.compiled, v.source, v.file, v.git_commit, v.git_dirty, at));
  if (!ver) return ver.error();
  bool fresh = ver->affected_rows() > 0;
  // The row lock keeps two processes registering the same DAG in order
  // (NO KEY: the version's insert holds a KEY SHARE lock on it).
  auto cur =
      exec(t, "SELECT current_version, active FROM dags WHERE dag_id = $1 FOR NO KEY UPDATE", params(v.dag_id));
  if (!cur) return cur.error();
  if (cur->empty()) return Error{"database_error", "DAG " + v.dag_id + " vanished while it was registered"};
  bool changed = (*cur)[0][0].is_null() || (*cur)[0][0].c_str() != v.version || !(*cur)[0][1].as<bool>();
  if (auto r = exec(t,
                    "UPDATE dags SET namespace = $2, file = $3, current_version = $4, active = TRUE, "
                    "import_errors = NULL, partition_no = $5, updated_at = $6 WHERE dag_id = $1",
                    params(v.dag_id, ns, v.file, v.version, partition, at));
      !r)
    return r.error();
  if (changed) {
    json details = {{"version", v.version}, {"file", v.file}};
    if (v.git_commit) details["git_commit"] = *v.git_commit;
    if (v.git_dirty) details["git_dirty"] = *v.git_dirty;
    if (auto a = audit(t, actor, "dag.version_registered", "dag:" + v.dag_id, details); !a) return a.error();
  }
  return fresh;
}

Status PostgresDags::set_import_errors(const std::string& dag_id, const std::string& file, int partition,
                                        const std::string& errors_json, const std::string& ns) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t,
                  "INSERT INTO dags (dag_id, file, current_version, active, import_errors, partition_no, "
                  "created_at, updated_at, namespace) VALUES ($1, $2, NULL, TRUE, $3, $4, $5, $5, $6) "
                  "ON CONFLICT (dag_id) DO UPDATE SET import_errors = excluded.import_errors, "
                  "updated_at = excluded.updated_at",
                  params(dag_id, file, errors_json, partition, now(), ns));
    if (!r) return r.error();
    return true;
  }));
}

Status PostgresDags::deactivate_dag(const std::string& dag_id, const std::string& actor) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t, "UPDATE dags SET active = FALSE, updated_at = $1 WHERE dag_id = $2 AND active",
                  params(now(), dag_id));
    if (!r) return r.error();
    if (r->affected_rows() == 0) return true;
    if (auto a = audit(t, actor, "dag.removed", "dag:" + dag_id, json::object()); !a) return a.error();
    return true;
  }));
}

Result<std::vector<DagRecord>> PostgresDags::list_dags() {
  static const std::string sql = sql_with("SELECT ", kDagColumns, " FROM dags ORDER BY dag_id");
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<DagRecord>> {
    auto r = exec(t, sql, {});
    if (!r) return r.error();
    std::vector<DagRecord> out;
    for (auto row : *r) out.push_back(dag_row(row));
    return out;
  });
}

Result<std::vector<DagRecord>> PostgresDags::list_dags_page(const std::string& after_id, int limit) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<DagRecord>> {
    auto r = exec(t, kDagsPageSql, params(after_id, limit));
    if (!r) return r.error();
    std::vector<DagRecord> out;
    for (auto row : *r) out.push_back(dag_row(row));
    return out;
  });
}

Result<long long> PostgresDags::dags_generation() {
  return read([&](pqxx::transaction_base& t) -> Result<long long> {
    auto r = exec(t, "SELECT value::bigint FROM settings WHERE key = 'dags_generation'", {});
    if (!r) return r.error();
    return r->empty() ? 0LL : (*r)[0][0].as<long long>();
  });
}

Result<DagRecord> PostgresDags::get_dag(const std::string& dag_id) {
  return read([&](pqxx::transaction_base& t) { return dag_in(t, dag_id); });
}

Result<DagRecord> PostgresDags::dag_in(pqxx::transaction_base& t, const std::string& dag_id) {
  static const std::string sql = sql_with("SELECT ", kDagColumns, " FROM dags WHERE dag_id = $1");
  auto r = exec(t, sql, params(dag_id));
  if (!r) return r.error();
  if (r->empty()) return Error::not_found("no DAG \"" + dag_id + "\"");
  return dag_row((*r)[0]);
}

Result<std::vector<DagVersionRecord>> PostgresDags::list_dag_versions(const std::string& dag_id) {
  static const std::string sql =
      sql_with("SELECT ", kVersionColumns, " FROM dag_versions WHERE dag_id = $1 ORDER BY created_at DESC, version");
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<DagVersionRecord>> {
    auto r = exec(t, sql, params(dag_id));
    if (!r) return r.error();
    std::vector<DagVersionRecord> out;
    for (auto row : *r) out.push_back(version_row(row));
    return out;
  });
}

Result<DagVersionRecord> PostgresDags::get_dag_version(const std::string& dag_id, const std::string& version) {
  static const std::string sql =
      sql_with("SELECT ", kVersionColumns, " FROM dag_versions WHERE dag_id = $1 AND version = $2");
  return read([&](pqxx::transaction_base& t) -> Result<DagVersionRecord> {
    auto r = exec(t, sql, params(dag_id, version));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("DAG " + dag_id + " has no version " + version);
    return version_row((*r)[0]);
  });
}

Result<std::vector<DagVersionRecord>> PostgresDags::get_dag_versions(
    const std::vector<std::pair<std::string, std::string>>& keys) {
  std::vector<DagVersionRecord> out;
  if (keys.empty()) return out;
  Column ids, versions;
  for (auto& [dag_id, version] : keys) {
    ids.add(dag_id);
    versions.add(version);
  }
  static const std::string sql = sql_with("SELECT ", kVersionColumns,
                                          " FROM unnest($1::text[], $2::text[]) AS k(k_dag, k_version) "
                                          "JOIN dag_versions ON dag_id = k_dag AND version = k_version");
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<DagVersionRecord>> {
    auto r = exec(t, sql, params(ids.text(), versions.text()));
    if (!r) return r.error();
    for (auto row : *r) out.push_back(version_row(row));
    return out;
  });
}

Status PostgresDags::set_paused(const std::string& dag_id, bool paused, const std::string& actor) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t, "UPDATE dags SET paused = $1, updated_at = $2 WHERE dag_id = $3 AND paused <> $1",
                  params(paused, now(), dag_id));
    if (!r) return r.error();
    if (r->affected_rows() == 0) {
      auto d = dag_in(t, dag_id);
      return d ? Result<bool>(true) : Result<bool>(d.error());  // unchanged, or no such DAG
    }
    if (auto a = audit(t, actor, paused ? "dag.paused" : "dag.unpaused", "dag:" + dag_id,
                       json{{"before", {{"paused", !paused}}}, {"after", {{"paused", paused}}}});
        !a)
      return a.error();
    return true;
  }));
}

// ---- datasets ----

Result<DatasetEvent> PostgresDags::record_dataset_event(const DatasetEvent& e) {
  return write([&](pqxx::work& t) { return insert_dataset_event(t, e); });
}

// Event ids are taken at insert but seen at commit: the transaction lock
// makes them commit in the order they were taken, so a consumer that read
// up to id N never sees a smaller id appear later (its cursor would pass it).
Result<DatasetEvent> PostgresDags::insert_dataset_event(pqxx::work& t, const DatasetEvent& e) {
  DatasetEvent out = e;
  if (out.at == TimePoint{}) out.at = clock_.now();
  if (auto l = exec(t, "SELECT pg_advisory_xact_lock(hashtext('baton.dataset_events:' || current_setting('search_path')))",
                    {});
      !l)
    return l.error();
  auto r = exec(t,
                "INSERT INTO dataset_events (uri, at, extra, source_dag_id, source_run_id, source_task_id) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                params(out.uri, out.at, out.extra, out.source_dag_id, out.source_run_id, out.source_task_id));
  if (!r) return r.error();
  out.id = (*r)[0][0].as<long long>();
  return out;
}

Result<std::vector<DatasetEvent>> PostgresDags::list_dataset_events(const std::optional<std::string>& uri,
                                                                     long long after_id, int limit) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<DatasetEvent>> {
    auto r = exec(t, dataset_events_sql(uri.has_value()), params(after_id, uri, limit));
    if (!r) return r.error();
    std::vector<DatasetEvent> out;
    for (auto row : *r)
      out.push_back({row[0].as<long long>(), row[1].c_str(), tp(row[2].as<long long>()), row[3].c_str(),
                     opt_text(row[4]), opt_text(row[5]), opt_text(row[6])});
    return out;
  });
}

Result<long long> PostgresDags::last_dataset_event_id() {
  return read([&](pqxx::transaction_base& t) -> Result<long long> {
    auto r = exec(t, "SELECT coalesce(max(id), 0) FROM dataset_events", {});
    if (!r) return r.error();
    return (*r)[0][0].as<long long>();
  });
}

Result<std::vector<DatasetCursor>> PostgresDags::dataset_cursors(const std::string& dag_id) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<DatasetCursor>> {
    auto r = exec(t, "SELECT dag_id, uri, last_event_id FROM dataset_consumers WHERE dag_id = $1 ORDER BY uri",
                  params(dag_id));
    if (!r) return r.error();
    std::vector<DatasetCursor> out;
    for (auto row : *r) out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<long long>()});
    return out;
  });
}

}  // namespace baton::store::postgres
