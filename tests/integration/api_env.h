// The REST API's test environment (SPEC §8, §12): an ApiServer on a free
// port of 127.0.0.1, a real SQLite store, and a fake Control that changes runs
// through the store the way the scheduler would, recording what it was asked.
// Shared by the api_*_test.cpp files, one per subject.
#pragma once

#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "baton/api/server.h"
#include "baton/core/base64.h"
#include "baton/core/sha256.h"
#include "baton/dsl/compiler.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"
#include "test_db.h"

using namespace baton;
using nlohmann::json;
namespace fs = std::filesystem;

namespace baton::api_test {


inline const char* kSalesYaml =
    "dag: sales\n"
    "schedule: \"0 3 * * *\"\n"
    "timezone: Europe/Berlin\n"
    "start_date: 2026-01-01\n"
    "tasks:\n"
    "  extract: {command: echo extract}\n"
    "  transform: {command: echo transform, depends_on: [extract]}\n"
    "  load: {type: noop, depends_on: [transform], trigger_rule: all_done}\n";

inline std::string compact(TimePoint t) {
  std::string s = format_utc(t);  // 2026-11-22T10:00:00Z
  std::string out;
  for (char c : s)
    if (c != '-' && c != ':') out += c;
  return out;
}

// What the scheduler would do, done directly on the store; every call is
// recorded as "op dag run task ... by ACTOR".
class FakeControl final : public scheduler::Control {
 public:
  FakeControl(store::Store& s, const Clock& clock, std::string logs) : s_(s), clock_(clock), logs_(std::move(logs)) {}

  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // The next clear_task answers this error.
  void fail_next_clear(Error e) {
    std::lock_guard lock(mu_);
    clear_error_ = std::move(e);
  }

  Result<scheduler::TriggerResult> trigger(const std::string& dag_id, const scheduler::TriggerRequest& req,
                                           const std::string& actor) override {
    record("trigger " + dag_id + " by " + actor);
    auto dag = s_.get_dag(dag_id);
    if (!dag) return dag.error();
    auto version = s_.get_dag_version(dag_id, *dag->current_version);
    if (!version) return version.error();
    store::RunRecord run;
    run.dag_id = dag_id;
    run.run_type = "manual";
    run.logical_date = req.logical_date.value_or(clock_.now());
    run.data_interval_start = run.data_interval_end = run.logical_date;
    char hex[8];
    std::snprintf(hex, sizeof hex, "%06x", ++counter_);
    run.run_id = "manual__" + compact(run.logical_date) + "_" + hex;
    run.params = req.params_json;
    run.dag_version = version->version;
    run.note = req.note;
    run.idempotency_key = req.idempotency_key;
    run.created_by = actor;
    std::vector<store::TaskInstanceRecord> tis;
    json compiled = json::parse(version->compiled);
    for (auto& [id, task] : compiled["tasks"].items()) {
      store::TaskInstanceRecord ti;
      ti.task_id = id;
      ti.state = task["depends_on"].empty() ? TaskState::scheduled : TaskState::pending;
      ti.pool = task["pool"].get<std::string>();
      ti.queue = task["queue"].get<std::string>();
      tis.push_back(ti);
    }
    auto c = s_.create_run(run, tis, actor);
    if (!c) return c.error();
    return scheduler::TriggerResult{c->run, c->created};
  }

  Status cancel_run(const std::string& dag_id, const std::string& run_id, const std::string& actor) override {
    record("cancel " + dag_id + " " + run_id + " by " + actor);
    auto run = s_.get_run(dag_id, run_id);
    if (!run) return run.error();
    if (is_finished(run->state)) return Error{"conflict", "run " + run_id + " has already ended"};
    store::WriteBatch b;
    run->state = RunState::canceled;
    run->ended_at = clock_.now();
    b.runs.push_back(*run);
    auto tis = s_.list_task_instances(run->pk);
    if (!tis) return tis.error();
    for (auto ti : *tis) {
      if (is_finished(ti.state)) continue;
      ti.state = TaskState::canceled;
      b.task_instances.push_back(ti);
    }
    b.audit.push_back({actor, "run.canceled", "dag:" + dag_id + "/" + run_id, "{}"});
    return s_.apply(b);
  }

  Status clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id, bool downstream,
                    bool latest_version, const std::string& actor) override {
    record("clear " + dag_id + " " + run_id + " " + task_id + " downstream=" + (downstream ? "1" : "0") +
           " latest=" + (latest_version ? "1" : "0") + " by " + actor);
    std::lock_guard lock(mu_);
    if (clear_error_) {
      Error e = *clear_error_;
      clear_error_.reset();
      return e;
    }
    return {};
  }

  Status mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id, TaskState to,
                   const std::string& actor) override {
    record("mark " + dag_id + " " + run_id + " " + task_id + " " + to_string(to) + " by " + actor);
    auto run = s_.get_run(dag_id, run_id);
    if (!run) return run.error();
    store::WriteBatch b;
    auto tis = s_.list_task_instances(run->pk);
    if (!tis) return tis.error();
    for (auto ti : *tis) {
      if (ti.task_id != task_id) continue;
      ti.state = to;
      b.task_instances.push_back(ti);
    }
    b.audit.push_back({actor, "task.marked", "dag:" + dag_id + "/" + run_id + "/" + task_id, "{}"});
    return s_.apply(b);
  }

  Status set_paused(const std::string& dag_id, bool paused, const std::string& actor) override {
    record(std::string(paused ? "pause " : "unpause ") + dag_id + " by " + actor);
    return s_.set_paused(dag_id, paused, actor);
  }

  // Records the request; a real backfill's record, with a one-step plan.
  Result<scheduler::BackfillResult> create_backfill(const scheduler::BackfillRequest& r,
                                                    const std::string& actor) override {
    record("backfill " + r.dag_id + " " + r.from + ".." + r.to + " " + r.reprocess + (r.dry_run ? " dry" : "") +
           " by " + actor);
    if (r.dag_id != "sales") return Error::not_found("no DAG \"" + r.dag_id + "\"");
    store::BackfillRecord b;
    b.dag_id = r.dag_id;
    b.from_at = *parse_utc("2026-11-01T00:00:00Z");
    b.to_at = *parse_utc("2026-11-02T00:00:00Z");
    b.from_text = r.from;
    b.to_text = r.to;
    b.reprocess = r.reprocess;
    b.max_active_runs = r.max_active_runs;
    b.total = 1;
    scheduler::BackfillResult out;
    out.backfill = b;
    // A dry run up to 2026-12-31 plans 2,500 intervals (the plan's pages).
    size_t steps = r.to == "2026-12-31" ? 2500 : 1;
    out.summary.create = static_cast<long long>(steps);
    if (r.dry_run) {
      for (size_t i = 0; i < steps; ++i)
        out.plan.push_back({b.from_at + std::chrono::hours(24 * static_cast<long long>(i)),
                            b.from_at + std::chrono::hours(24 * static_cast<long long>(i + 1)), "create", std::nullopt, ""});
      return out;
    }
    auto made = s_.create_backfill(b, actor);
    if (!made) return made.error();
    out.backfill = made->backfill;
    return out;
  }
  Result<scheduler::SchedulerMetrics> metrics() override {
    scheduler::SchedulerMetrics m;
    m.latency_bounds = {0.01, 0.1};
    m.latency_buckets = {3, 1, 1};
    m.latency_count = 5;
    m.latency_sum = 2.5;
    m.queue_depth["default"] = 2;
    m.pool_depth["etl"] = 2;
    m.namespaces = namespaces;
    return m;
  }
  // What metrics() says of each namespace (none by default).
  std::map<std::string, scheduler::NamespaceFigures> namespaces;
  Status cancel_backfill(long long id, const std::string& actor) override {
    record("cancel backfill " + std::to_string(id) + " by " + actor);
    auto b = s_.get_backfill(id);
    if (!b) return b.error();
    store::WriteBatch w;
    b->state = "canceled";
    w.backfills.push_back(*b);
    return s_.apply(w);
  }

  Result<std::vector<std::string>> waiting_for(const std::string& dag_id, const std::string& run_id,
                                               const std::string& task_id, int map_index) override {
    record("why " + dag_id + " " + run_id + " " + task_id + " " + std::to_string(map_index));
    return std::vector<std::string>{"upstream extract is running"};
  }

  scheduler::SchedulerStatus status() override {
    scheduler::SchedulerStatus st{{{"member-1", clock_.now(), 64}}, "member-1", true, {{0, "member-1", 3}}};
    st.loading = loading_total >= 0;
    if (st.loading) {
      st.dags_loaded = loading_loaded;
      st.dags_total = loading_total;
    }
    return st;
  }
  // The DAGs folder's first load, as status() reports it (total -1: done).
  std::atomic<long long> loading_loaded{0}, loading_total{-1};

  std::string logs_dir() const override { return logs_; }

 private:
  void record(std::string call) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
  }

  store::Store& s_;
  const Clock& clock_;
  std::string logs_;
  mutable std::mutex mu_;
  std::vector<std::string> calls_;
  std::optional<Error> clear_error_;
  int counter_ = 0;
};

struct Reply {
  int status = 0;
  std::string text;
  json body;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  // The error format of SPEC §8.
  bool is_error(const std::string& code) const {
    return body.is_object() && body.size() == 1 && body.contains("error") && body["error"].size() == 2 &&
           body["error"]["code"] == code && body["error"]["message"].is_string() &&
           !body["error"]["message"].get<std::string>().empty();
  }
  std::string message() const {
    if (!body.is_object() || !body.contains("error") || !body["error"].contains("message")) return "";
    return body["error"]["message"].get<std::string>();
  }
};

inline const char* kAdmin = "admin-secret";
inline const char* kOperator = "operator-secret";
inline const char* kViewer = "viewer-secret";
inline const char* kWorker = "worker-secret";

struct Env {
  fs::path dir;
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<FakeControl> control;
  std::unique_ptr<api::ApiServer> server;
  std::unique_ptr<httplib::Client> http;
  std::string version;

  explicit Env(std::string web_dir = "") {
    static int counter = 0;
    dir =
        fs::temp_directory_path() / ("baton-api-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(dir);
    fs::create_directories(dir / "logs");
    auto url = store::parse_database_url(testing::test_database_url(dir));
    REQUIRE(url.ok());
    auto s = store::open_store(*url, clock);
    REQUIRE(s.ok());
    store = std::move(*s);
    REQUIRE(store->create_token("ada", store::Role::admin, sha256_hex(kAdmin), "test").ok());
    REQUIRE(store->create_token("ops", store::Role::operator_role, sha256_hex(kOperator), "test").ok());
    REQUIRE(store->create_token("vic", store::Role::viewer, sha256_hex(kViewer), "test").ok());
    REQUIRE(store->create_token("w1", store::Role::worker, sha256_hex(kWorker), "test").ok());
    auto compiled = dsl::compile_dag(kSalesYaml, "dags/sales.yaml");
    REQUIRE(compiled.graph);
    store::DagVersionRecord v;
    v.dag_id = "sales";
    v.version = version = compiled.graph->hash();
    v.compiled = compiled.graph->canonical_json();
    v.source = kSalesYaml;
    v.file = "dags/sales.yaml";
    v.git_commit = "abc123";
    v.git_dirty = false;
    REQUIRE(store->register_dag_version(v, "finance", 3, "system").ok());
    control = std::make_unique<FakeControl>(*store, clock, (dir / "logs").string());
    api::ApiOptions options;
    options.port = 0;
    options.threads = 4;
    options.web_dir = std::move(web_dir);
    server = std::make_unique<api::ApiServer>(*store, *control, clock, options);
    auto started = server->start();
    INFO((started.ok() ? "" : started.error().message));
    REQUIRE(started.ok());
    REQUIRE(server->port() > 0);
    http = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    http->set_read_timeout(10, 0);
  }

  ~Env() {
    http.reset();
    server.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const char* token = kAdmin) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    if (token) req.headers.emplace("Authorization", std::string("Bearer ") + token);
    if (method != "GET" && method != "HEAD") {
      req.body = body;
      req.headers.emplace("Content-Type", "application/json");
    }
    auto res = http->send(req);
    INFO(method << " " << path << ": " << httplib::to_string(res.error()));
    REQUIRE(res);
    Reply r;
    r.status = res->status;
    r.text = res->body;
    r.headers = res->headers;
    r.body = json::parse(res->body, nullptr, false);
    return r;
  }
  Reply get(const std::string& path, const char* token = kAdmin) { return call("GET", path, "", token); }
  Reply post(const std::string& path, const std::string& body, const char* token = kAdmin) {
    return call("POST", path, body, token);
  }

  size_t audit_size() {
    store::AuditFilter all;
    all.limit = 100000;
    return store->list_audit(all)->size();
  }
  size_t run_count() {
    store::RunFilter all;
    all.limit = 100000;
    return store->list_runs(all)->size();
  }

  // A manual run through the API; returns its run_id.
  std::string trigger(const std::string& body = "{}") {
    auto r = post("/api/v1/dags/sales/runs", body, kOperator);
    INFO(r.text);
    REQUIRE(r.status == 201);
    return r.body["run_id"];
  }

  store::TaskInstanceRecord ti(const std::string& run_id, const std::string& task_id) {
    auto run = store->get_run("sales", run_id);
    REQUIRE(run.ok());
    auto tis = store->list_task_instances(run->pk);
    REQUIRE(tis.ok());
    for (auto& t : *tis)
      if (t.task_id == task_id) return t;
    FAIL("no task " << task_id);
    return {};
  }
};

inline std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (auto& [k, v] : j.items()) out.insert(k);
  return out;
}


}  // namespace baton::api_test
