// The REST API: what the UI reads, backfills, metrics and SLA misses, and
// the worker endpoints.
#include "api_env.h"

using namespace baton;
using namespace baton::api_test;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("what the UI reads: who am I, the grid of runs x tasks, a run's tries, a task's checkpoint") {
  Env env;
  auto me = env.get("/api/v1/me", kViewer);
  REQUIRE(me.status == 200);
  CHECK(me.body == json{{"name", "vic"}, {"role", "viewer"}, {"namespaces", json::array()}});
  CHECK(env.get("/api/v1/me", kOperator).body["role"] == "operator");
  CHECK(env.get("/api/v1/me", nullptr).status == 401);
  CHECK(env.get("/api/v1/me", kWorker).status == 403);

  auto dag = env.get("/api/v1/dags/sales", kViewer);
  REQUIRE(dag.status == 200);
  CHECK(dag.body["tags"] == json::array());
  CHECK(dag.body["params"] == json::object());
  CHECK(dag.body["recent_runs"] == json::array());

  std::vector<std::string> runs;
  for (const char* day : {"2026-11-01", "2026-11-02", "2026-11-03"}) {
    auto r = env.post("/api/v1/dags/sales/runs", std::string(R"({"logical_date": ")") + day + R"(T00:00:00Z"})");
    REQUIRE(r.status == 201);
    runs.push_back(r.body["run_id"].get<std::string>());
  }
  auto listed = env.get("/api/v1/dags/sales", kViewer);
  REQUIRE(listed.body["recent_runs"].size() == 3);
  CHECK(listed.body["recent_runs"][0]["run_id"] == runs[2]);  // newest first

  // The oldest run: extract succeeded, and a mapped task of an older version
  // has three instances.
  auto extract = env.ti(runs[0], "extract");
  extract.state = TaskState::success;
  extract.try_number = 1;
  extract.attempt_token = "tok-1";
  store::WriteBatch b;
  b.task_instances.push_back(extract);
  store::TryRecord y;
  y.ti_id = extract.id;
  y.try_number = 1;
  y.state = TaskState::success;
  y.worker = "w-1";
  y.queued_at = *parse_utc("2026-11-22T09:59:00Z");
  y.started_at = *parse_utc("2026-11-22T09:59:30Z");
  y.ended_at = *parse_utc("2026-11-22T10:00:00Z");
  y.exit_code = 0;
  b.tries.push_back(y);
  REQUIRE(env.store->apply(b).ok());
  auto oldest = env.store->get_run("sales", runs[0]);
  REQUIRE(oldest.ok());
  std::vector<store::TaskInstanceRecord> mapped;
  for (int i = -1; i < 3; ++i) {  // the task's own instance (the aggregate), then 3 mapped ones
    store::TaskInstanceRecord t;
    t.task_id = "fan";
    t.map_index = i;
    t.state = i == -1 ? TaskState::pending : i == 1 ? TaskState::running : TaskState::success;
    if (i >= 0) t.item = "\"f" + std::to_string(i) + "\"";
    mapped.push_back(t);
  }
  REQUIRE(env.store->add_task_instances(oldest->pk, mapped).ok());
  // The same (task, map_index) twice is refused, and nothing of the batch is added.
  CHECK_FALSE(env.store->add_task_instances(oldest->pk, {mapped[3]}).ok());
  // Mapped instances of a task that has no foreach in the run's version (made
  // under a version the run was moved off) are history: not rolled up.
  auto middle = env.store->get_run("sales", runs[1]);
  store::TaskInstanceRecord stale;
  stale.task_id = "transform";
  stale.map_index = 0;
  stale.state = TaskState::failed;
  REQUIRE(env.store->add_task_instances(middle->pk, {stale}).ok());

  // Paging through a mapped task's instances; the tasks' own, with the roll-up.
  auto own = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?map_index=-1", kViewer);
  REQUIRE(own.status == 200);
  REQUIRE(own.body["items"].size() == 4);
  CHECK(own.body["items"][3]["task_id"] == "fan");
  CHECK(own.body["items"][3]["mapped"] ==
        json({{"state", "running"}, {"mapped", 3}, {"counts", {{"running", 1}, {"success", 2}}}}));
  CHECK(own.body["items"][0]["mapped"].is_null());
  auto page = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&limit=2", kViewer);
  REQUIRE(page.status == 200);
  REQUIRE(page.body["items"].size() == 2);
  CHECK(page.body["items"][0]["map_index"] == -1);
  CHECK(page.body["items"][1]["map_index"] == 0);
  CHECK(page.body["items"][1]["item"] == "f0");
  REQUIRE(page.body["next_cursor"].is_string());
  auto rest = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&limit=2&cursor=" +
                          page.body["next_cursor"].get<std::string>(),
                      kViewer);
  REQUIRE(rest.body["items"].size() == 2);
  CHECK(rest.body["items"][1]["map_index"] == 2);
  CHECK(rest.body["next_cursor"].is_null());
  auto bad = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?map_index=-2", kViewer);
  CHECK(bad.status == 400);
  auto running = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&state=running", kViewer);
  REQUIRE(running.body["items"].size() == 1);
  CHECK(running.body["items"][0]["map_index"] == 1);
  CHECK(env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?state=bogus", kViewer).status == 400);
  // Only the mapped ones (a page of them holds no own instance, whatever the state filter).
  auto only = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?task_id=fan&mapped=true&state=success", kViewer);
  REQUIRE(only.body["items"].size() == 2);
  CHECK(only.body["items"][0]["map_index"] == 0);
  CHECK(only.body["items"][1]["map_index"] == 2);
  CHECK(env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks?mapped=false", kViewer).body["items"].size() == 4);

  auto grid = env.get("/api/v1/dags/sales/grid?limit=2", kViewer);
  REQUIRE(grid.status == 200);
  CHECK(grid.body["tasks"] == json::array({"extract", "transform", "load"}));  // upstream first
  REQUIRE(grid.body["runs"].size() == 2);
  CHECK(grid.body["runs"][0]["run_id"] == runs[2]);
  CHECK(grid.body["runs"][0]["cells"] == json::array({"scheduled", "pending", "pending"}));
  CHECK_FALSE(grid.body["runs"][0].contains("params"));
  REQUIRE(grid.body["next_cursor"].is_string());
  auto older = env.get("/api/v1/dags/sales/grid?limit=2&cursor=" + grid.body["next_cursor"].get<std::string>(), kViewer);
  REQUIRE(older.status == 200);
  REQUIRE(older.body["runs"].size() == 1);
  CHECK(older.body["next_cursor"].is_null());
  CHECK(older.body["runs"][0]["run_id"] == runs[0]);
  CHECK(older.body["tasks"] == json::array({"extract", "transform", "load", "fan"}));
  auto cells = older.body["runs"][0]["cells"];
  CHECK(cells[0] == "success");
  CHECK(cells[3] == json({{"state", "running"}, {"mapped", 3}, {"counts", {{"running", 1}, {"success", 2}}}}));
  auto one = env.get("/api/v1/dags/sales/grid?run_id=" + runs[1], kViewer);
  REQUIRE(one.status == 200);
  REQUIRE(one.body["runs"].size() == 1);
  CHECK(one.body["runs"][0]["run_id"] == runs[1]);
  CHECK(one.body["runs"][0]["cells"][1] == "pending");  // transform's own state, not its stale mapped one
  auto middle_tasks = env.get("/api/v1/dags/sales/runs/" + runs[1] + "/tasks?map_index=-1", kViewer);
  int transforms = 0;
  for (auto& t : middle_tasks.body["items"])
    if (t["task_id"] == "transform") {
      ++transforms;
      CHECK(t["mapped"].is_null());
      CHECK(t["state"] == "pending");
    }
  CHECK(transforms == 1);

  auto too_many = env.get("/api/v1/dags/sales/grid?limit=101", kViewer);
  CHECK(too_many.status == 400);
  CHECK(too_many.message().find("at most 100 runs") != std::string::npos);
  CHECK(env.get("/api/v1/dags/nope/grid", kViewer).status == 404);
  CHECK(env.get("/api/v1/dags/sales/grid?run_id=nope", kViewer).status == 404);
  CHECK(env.get("/api/v1/dags/sales/grid?cursor=garbage", kViewer).status == 400);

  auto tries = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tries", kViewer);
  REQUIRE(tries.status == 200);
  REQUIRE(tries.body["items"].size() == 1);
  auto& t = tries.body["items"][0];
  CHECK(t["task_id"] == "extract");
  CHECK(t["map_index"] == -1);
  CHECK(t["try_number"] == 1);
  CHECK(t["worker"] == "w-1");
  CHECK(t["queued_at"] == "2026-11-22T09:59:00Z");
  CHECK(t["started_at"] == "2026-11-22T09:59:30Z");
  CHECK(env.get("/api/v1/dags/sales/runs/" + runs[1] + "/tries", kViewer).body["items"].empty());

  REQUIRE(env.store->save_checkpoint(extract.id, "tok-1", "row-500").ok());
  auto detail = env.get("/api/v1/dags/sales/runs/" + runs[0] + "/tasks/extract", kViewer);
  REQUIRE(detail.status == 200);
  CHECK(detail.body["checkpoint"] == "row-500");
  CHECK(detail.body["checkpoint_bytes"] == 7);
  auto none = env.get("/api/v1/dags/sales/runs/" + runs[1] + "/tasks/extract", kViewer);
  CHECK(none.body["checkpoint"].is_null());

  // The audit log newest first, paged back with its own cursor.
  auto desc = env.get("/api/v1/audit?order=desc&limit=2", kViewer);
  REQUIRE(desc.status == 200);
  REQUIRE(desc.body["items"].size() == 2);
  auto asc = env.get("/api/v1/audit?limit=1000", kViewer);
  REQUIRE(asc.status == 200);
  auto& all = asc.body["items"];
  REQUIRE(all.size() >= 4);
  CHECK(desc.body["items"][0]["id"] == all[all.size() - 1]["id"]);
  CHECK(desc.body["items"][1]["id"] == all[all.size() - 2]["id"]);
  auto back = env.get("/api/v1/audit?order=desc&limit=2&cursor=" + desc.body["next_cursor"].get<std::string>(), kViewer);
  REQUIRE(back.status == 200);
  CHECK(back.body["items"][0]["id"] == all[all.size() - 3]["id"]);
  CHECK(env.get("/api/v1/audit?order=asc&cursor=" + desc.body["next_cursor"].get<std::string>(), kViewer).status == 400);
  CHECK(env.get("/api/v1/audit?order=sideways", kViewer).status == 400);
  auto triggers = env.get("/api/v1/audit?order=desc&action=run.triggered", kViewer);
  CHECK(triggers.body["items"].size() == 3);

  auto doc = env.get("/api/v1/openapi.json", nullptr);
  for (const char* path : {"/me", "/dags/{dag_id}/grid", "/dags/{dag_id}/runs/{run_id}/tries"}) {
    INFO(path);
    CHECK(doc.body["paths"].contains(path));
  }
}

TEST_CASE("backfills: create (dry run or for real), list, one, cancel; bad bodies get 400 and change nothing") {
  Env env;
  auto dry = env.post("/api/v1/backfills", R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-01", "dry_run": true})",
                      kOperator);
  REQUIRE(dry.status == 200);
  CHECK(dry.body["state"] == "dry_run");
  CHECK(dry.body["id"].is_null());
  REQUIRE(dry.body["plan"].size() == 1);
  CHECK(dry.body["plan"][0]["action"] == "create");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 10)->empty());

  auto made = env.post("/api/v1/backfills",
                       R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "reprocess": "failed",
                           "max_active_runs": 3, "tasks": ["extract"], "downstream": true})",
                       kOperator);
  REQUIRE(made.status == 201);
  long long id = made.body["id"].get<long long>();
  CHECK(made.body["state"] == "running");
  CHECK(made.body["created_by"] == "ops");
  CHECK(env.control->calls().back() == "backfill sales 2026-11-01..2026-11-02 failed by ops");
  auto one = env.get("/api/v1/backfills/" + std::to_string(id), kViewer);
  REQUIRE(one.status == 200);
  for (const char* k : {"id", "dag_id", "from", "to", "reprocess", "max_active_runs", "state", "total", "done", "failed",
                        "created_at", "created_by"})
    CHECK(one.body.contains(k));
  CHECK(env.get("/api/v1/backfills", kViewer).body["items"].size() == 1);
  CHECK(env.get("/api/v1/backfills?dag_id=nope", kViewer).body["items"].empty());
  CHECK(env.get("/api/v1/backfills/999", kViewer).status == 404);
  CHECK(env.get("/api/v1/backfills/x", kViewer).status == 404);
  auto canceled = env.post("/api/v1/backfills/" + std::to_string(id) + "/cancel", "{}", kOperator);
  REQUIRE(canceled.status == 200);
  CHECK(canceled.body["state"] == "canceled");

  size_t audit = env.audit_size();
  for (const char* bad : {R"({"from": "2026-11-01", "to": "2026-11-02"})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "reprocess": "some"})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "tasks": "extract"})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "tasks": [1]})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "max_active_runs": 0})",
                          R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02", "nope": 1})"}) {
    INFO(bad);
    auto r = env.post("/api/v1/backfills", bad, kOperator);
    CHECK(r.status == 400);
    CHECK(r.body["error"]["code"] == "invalid_argument");
  }
  CHECK(env.post("/api/v1/backfills", R"({"dag_id": "nope", "from": "2026-11-01", "to": "2026-11-02"})", kOperator)
            .status == 404);
  CHECK(env.post("/api/v1/backfills", R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02"})", kViewer)
            .status == 403);
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 10)->size() == 1);
  CHECK(env.audit_size() == audit);
}

TEST_CASE("backfills: a dry run's plan comes a page at a time with the whole plan's summary; a backfill made has no plan") {
  Env env;
  const std::string body = R"({"dag_id": "sales", "from": "2026-01-01", "to": "2026-12-31", "dry_run": true})";
  std::vector<std::string> dates;
  std::string path = "/api/v1/backfills";
  int pages = 0;
  while (true) {
    auto r = env.post(path, body, kOperator);
    REQUIRE(r.status == 200);
    ++pages;
    CHECK(r.body["summary"] == json({{"create", 2500}, {"rerun", 0}, {"skip", 0}}));
    CHECK(r.body["plan"].size() == (pages < 3 ? 1000u : 500u));  // 1,000 per page unless ?limit= says otherwise
    for (auto& st : r.body["plan"]) dates.push_back(st["logical_date"]);
    if (r.body["plan_next_cursor"].is_null()) break;
    REQUIRE(pages < 3);
    path = "/api/v1/backfills?cursor=" + r.body["plan_next_cursor"].get<std::string>();
  }
  CHECK(pages == 3);
  CHECK(std::set<std::string>(dates.begin(), dates.end()).size() == 2500);  // every interval once, none twice
  auto small = env.post("/api/v1/backfills?limit=10", body, kOperator);
  CHECK(small.body["plan"].size() == 10);
  CHECK(small.body["plan"][9]["logical_date"] == dates[9]);
  // Paging belongs to dry runs; bad limits and cursors say what is allowed.
  auto no_dry = env.post("/api/v1/backfills?cursor=" + small.body["plan_next_cursor"].get<std::string>(),
                         R"({"dag_id": "sales", "from": "2026-01-01", "to": "2026-12-31"})", kOperator);
  CHECK(no_dry.status == 400);
  CHECK(no_dry.message() == "cursor pages a dry run's plan: it needs dry_run");
  CHECK(env.post("/api/v1/backfills?limit=0", body, kOperator).status == 400);
  CHECK(env.post("/api/v1/backfills?limit=1001", body, kOperator).status == 400);
  CHECK(env.post("/api/v1/backfills?cursor=zzz", body, kOperator).status == 400);
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 10)->empty());
  // Made for real: the summary, no plan.
  auto made = env.post("/api/v1/backfills", R"({"dag_id": "sales", "from": "2026-01-01", "to": "2026-12-31"})", kOperator);
  REQUIRE(made.status == 201);
  CHECK(made.body["summary"]["create"] == 2500);
  CHECK_FALSE(made.body.contains("plan"));
}

TEST_CASE("metrics in the Prometheus text format; SLA misses listed and filtered") {
  Env env;
  env.trigger();
  CHECK(env.get("/api/v1/metrics", nullptr).status == 401);  // a token, unless metrics_public
  auto r = env.get("/api/v1/metrics", kViewer);
  REQUIRE(r.status == 200);
  CHECK(r.headers.find("Content-Type")->second.rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& t = r.text;
  INFO(t);
  for (const char* line :
       {"# TYPE baton_runs gauge", "baton_runs{state=\"queued\"} 1", "baton_runs{state=\"success\"} 0",
        "baton_task_instances{state=\"pending\"} 2", "baton_task_instances{state=\"scheduled\"} 1", "# TYPE baton_task_scheduling_latency_seconds histogram",
        "baton_task_scheduling_latency_seconds_bucket{le=\"0.01\"} 3",
        "baton_task_scheduling_latency_seconds_bucket{le=\"0.1\"} 4",
        "baton_task_scheduling_latency_seconds_bucket{le=\"+Inf\"} 5", "baton_task_scheduling_latency_seconds_count 5",
        "baton_ready_depth{queue=\"default\"} 2", "baton_pool_depth{pool=\"default\"} 0",
        "# TYPE baton_queue_depth gauge", "baton_queue_depth{queue=\"default\"} 0",
        "baton_pool_slots{pool=\"default\"} 128", "baton_scheduler_leader{member=\"member-1\"} 1",
        "baton_sla_misses_total 0", "# TYPE baton_db_latency_seconds gauge"}) {
    INFO(line);
    CHECK(t.find(std::string(line) + "\n") != std::string::npos);
  }

  // Queue depth per worker queue: the tries queued and not yet taken, from the store.
  {
    auto runs = env.store->list_runs({});
    auto tis = *env.store->list_task_instances(runs->at(0).pk);
    store::WriteBatch b;
    for (auto ti : tis) {
      ti.state = TaskState::queued;
      b.task_instances.push_back(ti);
    }
    REQUIRE(env.store->apply(b).ok());
    store::RunRecord gpu_run;
    gpu_run.dag_id = "sales";
    gpu_run.run_id = "manual__gpu";
    gpu_run.run_type = "manual";
    gpu_run.dag_version = env.version;
    store::TaskInstanceRecord gpu;
    gpu.task_id = "extract";
    gpu.queue = "gpu";
    gpu.state = TaskState::queued;
    REQUIRE(env.store->create_run(gpu_run, {gpu}, "test").ok());
    auto q = env.get("/api/v1/metrics", kViewer).text;
    INFO(q);
    CHECK(q.find("baton_queue_depth{queue=\"gpu\"} 1\n") != std::string::npos);
    CHECK(q.find("baton_queue_depth{queue=\"default\"} 3\n") != std::string::npos);
    CHECK(q.find("baton_task_instances{state=\"queued\"} 4\n") != std::string::npos);
  }

  REQUIRE(env.store->record_sla_miss({0, "sales", "r1", "", "run_deadline", *parse_utc("2026-11-22T09:00:00Z"),
                                      env.clock.now()})
              .ok());
  CHECK_FALSE(*env.store->record_sla_miss({0, "sales", "r1", "", "run_deadline", *parse_utc("2026-11-22T09:00:00Z"),
                                           env.clock.now()}));  // once per (run, task, kind)
  REQUIRE(env.store->record_sla_miss({0, "other", "r2", "load", "task_duration", env.clock.now(), env.clock.now()})
              .ok());
  auto all = env.get("/api/v1/sla-misses", kViewer);
  REQUIRE(all.status == 200);
  REQUIRE(all.body["items"].size() == 2);
  CHECK(all.body["items"][0] == json{{"dag_id", "sales"}, {"run_id", "r1"}, {"task_id", nullptr},
                                     {"kind", "run_deadline"}, {"deadline", "2026-11-22T09:00:00Z"},
                                     {"detected_at", "2026-11-22T10:00:00Z"}});
  CHECK(all.body["items"][1]["task_id"] == "load");
  CHECK(env.get("/api/v1/sla-misses?dag_id=other").body["items"].size() == 1);
  CHECK(env.get("/api/v1/sla-misses?since=2026-11-23T00:00:00Z").body["items"].empty());
  CHECK(env.get("/api/v1/sla-misses?since=yesterday").status == 400);
  auto page = env.get("/api/v1/sla-misses?limit=1");
  REQUIRE(page.body["next_cursor"].is_string());
  CHECK(env.get("/api/v1/sla-misses?limit=1&cursor=" + page.body["next_cursor"].get<std::string>())
            .body["items"][0]["dag_id"] == "other");
  CHECK(env.get("/api/v1/metrics").text.find("baton_sla_misses_total 2\n") != std::string::npos);
}

TEST_CASE("worker endpoints: worker and admin tokens only; claims, heartbeats and reports go through the store's queue") {
  Env env;
  const std::string claim = R"({"worker": "w-a", "queues": ["default"], "slots": 2, "wait_ms": 0})";
  auto viewer = env.post("/api/v1/workers/claim", claim, kViewer);
  CHECK(viewer.status == 403);
  CHECK(viewer.body["error"]["message"].get<std::string>().find("worker role") != std::string::npos);
  CHECK(env.post("/api/v1/workers/claim", R"({"queues": ["default"]})", kWorker).status == 400);  // no worker name
  CHECK(env.post("/api/v1/workers/claim", R"({"worker": "w", "slots": 0})", kWorker).status == 400);
  CHECK(env.post("/api/v1/workers/heartbeat", R"({"worker": "w", "tries": [1]})", kWorker).status == 400);
  auto r = env.post("/api/v1/workers/claim", claim, kWorker);
  if (env.store->url().engine == store::DatabaseUrl::Engine::sqlite) {
    // baton standalone on SQLite runs its tries itself.
    CHECK(r.status == 400);
    CHECK(r.body["error"]["code"] == "unsupported");
    return;
  }
  REQUIRE(r.status == 200);
  CHECK(r.body["items"].empty());
  // A try queued by the owner of partition 3 (where the env put DAG sales).
  auto run = env.store->create_run(
      [&] {
        store::RunRecord x;
        x.dag_id = "sales";
        x.run_id = "manual__w";
        x.run_type = "manual";
        x.dag_version = env.version;
        return x;
      }(),
      {store::TaskInstanceRecord{}}, "test");
  REQUIRE(run.ok());
  store::WriteBatch b;
  store::QueueItem q;
  q.attempt_token = "tok-1";
  q.ti_id = run->task_instances[0].id;
  q.run_pk = run->run.pk;
  q.partition = 3;
  q.payload = R"({"command": "echo hi"})";
  b.enqueue = {q};
  REQUIRE(env.store->apply(b).ok());
  r = env.post("/api/v1/workers/claim", claim, kWorker);
  REQUIRE(r.status == 200);
  REQUIRE(r.body["items"].size() == 1);
  CHECK(r.body["items"][0]["attempt_token"] == "tok-1");
  CHECK(r.body["items"][0]["payload"]["command"] == "echo hi");
  // A heartbeat with a log chunk (base64url "hi\n" = aGkK) and an unknown try.
  std::string beat = R"({"worker": "w-a", "tries": [{"attempt_token": "tok-1", "ti_id": )" +
                     std::to_string(q.ti_id) + R"(, "try_number": 1, "log_offset": 0, "log": "aGkK"},
                     {"attempt_token": "tok-x"}]})";
  r = env.post("/api/v1/workers/heartbeat", beat, kWorker);
  REQUIRE(r.status == 200);
  CHECK(r.body["stale"] == json::array({"tok-x"}));
  CHECK(**env.store->read_log(q.ti_id, 1, 0, 100) == "hi\n");
  CHECK(env.post("/api/v1/workers/heartbeat",
                 R"({"worker": "w-a", "tries": [{"attempt_token": "tok-1", "ti_id": )" + std::to_string(q.ti_id) +
                     R"(, "try_number": 1, "log_offset": 3, "log": "not base64!"}]})",
                 kWorker)
            .status == 400);
  // A progress line (SPEC §7): checked, kept on the try's task instance, and activity.
  {
    store::WriteBatch t;
    store::TaskInstanceRecord ti = run->task_instances[0];
    ti.state = TaskState::running;
    ti.try_number = 1;
    ti.attempt_token = "tok-1";
    t.task_instances.push_back(ti);
    REQUIRE(env.store->apply(t).ok());
  }
  auto with_progress = [&](const std::string& progress) {
    return env.post("/api/v1/workers/heartbeat",
                    R"({"worker": "w-a", "tries": [{"attempt_token": "tok-1", "ti_id": )" + std::to_string(q.ti_id) +
                        R"(, "try_number": 1, "progress": )" + progress + "}]}",
                    kWorker);
  };
  CHECK(with_progress(R"({"fraction": 1.5})").status == 400);
  CHECK(with_progress(R"({"fraction": 0.5, "text": 7})").status == 400);
  CHECK(with_progress(R"({"fraction": 0.5, "extra": 1})").status == 400);
  CHECK(with_progress(R"("half")").status == 400);
  CHECK(with_progress(R"({"fraction": 0.5, "text": ")" + std::string(201, 'x') + R"("})").status == 400);
  auto bad = with_progress(R"({"fraction": -1})");
  CHECK(bad.body["error"]["message"] == "field `progress`: `fraction` must be a number from 0 to 1");
  REQUIRE(with_progress(R"({"fraction": 0.5, "text": "half"})").status == 200);
  {
    auto tis = env.store->list_task_instances(run->run.pk);
    REQUIRE(tis);
    auto p = store::read_progress((*tis)[0].progress, 1);
    REQUIRE(p);
    CHECK(p->fraction == Approx(0.5));
    CHECK(p->text == "half");
    CHECK((*tis)[0].last_activity_at);
  }
  std::string report = R"({"worker": "w-a", "attempt_token": "tok-1", "ti_id": )" + std::to_string(q.ti_id) +
                       R"(, "try_number": 1, "outcome": "success", "exit_code": 0, "output": {"rows": 3}})";
  // Another worker's report on it is stale; the holder's is taken once.
  std::string other = report;
  other.replace(other.find("w-a"), 3, "w-b");
  CHECK(env.post("/api/v1/workers/report", other, kWorker).status == 409);
  CHECK(env.post("/api/v1/workers/report", report, kWorker).status == 200);
  auto again = env.post("/api/v1/workers/report", report, kWorker);
  CHECK(again.status == 409);
  CHECK(again.body["error"]["message"].get<std::string>().find("stale report") != std::string::npos);
  auto evs = env.store->worker_events({3}, 10);
  REQUIRE(evs->size() == 2);
  CHECK(json::parse((*evs)[1].body)["output"] == json({{"rows", 3}}));
}

TEST_CASE("worker endpoints: a forged heartbeat and a stale report store nothing; the other try's log stays intact") {
  Env env;
  const std::string claim_a = R"({"worker": "w-a", "queues": ["default"], "slots": 1, "wait_ms": 0})";
  const std::string claim_b = R"({"worker": "w-b", "queues": ["default"], "slots": 1, "wait_ms": 0})";
  if (env.store->url().engine == store::DatabaseUrl::Engine::sqlite) {
    // No remote workers on SQLite: every worker endpoint is refused, nothing stored.
    CHECK(env.post("/api/v1/workers/claim", claim_a, kWorker).status == 400);
    auto r = env.post("/api/v1/workers/report",
                      R"({"worker": "w-a", "attempt_token": "t", "ti_id": 1, "try_number": 1, "outcome": "success",
                          "log": "eA"})",
                      kWorker);
    CHECK(r.status == 400);
    CHECK(r.body["error"]["code"] == "unsupported");
    return;
  }
  // Two tries queued by the owner of partition 3, each task instance with its token.
  store::RunRecord x;
  x.dag_id = "sales";
  x.run_id = "manual__forged";
  x.run_type = "manual";
  x.dag_version = env.version;
  store::TaskInstanceRecord t1, t2;
  t1.task_id = "extract";
  t2.task_id = "transform";
  auto run = env.store->create_run(x, {t1, t2}, "test");
  REQUIRE(run.ok());
  store::WriteBatch b;
  std::vector<std::string> tokens = {"tok-a", "tok-b"};
  for (size_t i = 0; i < 2; ++i) {
    auto ti = run->task_instances[i];
    ti.state = TaskState::queued;
    ti.attempt_token = tokens[i];
    b.task_instances.push_back(ti);
    store::QueueItem q;
    q.attempt_token = tokens[i];
    q.ti_id = ti.id;
    q.run_pk = run->run.pk;
    q.task_index = static_cast<int>(i);
    q.partition = 3;
    q.payload = "{}";
    b.enqueue.push_back(q);
  }
  REQUIRE(env.store->apply(b).ok());
  const long long ti_a = run->task_instances[0].id, ti_b = run->task_instances[1].id;
  auto got_a = env.post("/api/v1/workers/claim", claim_a, kWorker);
  REQUIRE(got_a.body["items"].size() == 1);
  REQUIRE(got_a.body["items"][0]["attempt_token"] == "tok-a");
  auto got_b = env.post("/api/v1/workers/claim", claim_b, kWorker);
  REQUIRE(got_b.body["items"].size() == 1);
  REQUIRE(got_b.body["items"][0]["attempt_token"] == "tok-b");

  auto entry = [](const std::string& token, long long ti, int try_number, const std::string& log,
                  const std::string& checkpoint = "") {
    json t = {{"attempt_token", token}, {"ti_id", ti}, {"try_number", try_number}, {"log_offset", 0},
              {"log", base64url_encode(log)}};
    if (!checkpoint.empty()) t["checkpoint"] = base64url_encode(checkpoint);
    return t;
  };
  const std::string b_log = "b's own log line\n";
  auto beat_b = env.post("/api/v1/workers/heartbeat",
                         json{{"worker", "w-b"}, {"tries", json::array({entry("tok-b", ti_b, 1, b_log, "b at row 7")})}}.dump(),
                         kWorker);
  REQUIRE(beat_b.status == 200);
  CHECK(beat_b.body["stale"].empty());
  REQUIRE(**env.store->read_log(ti_b, 1, 0, 1000) == b_log);

  // w-a's valid token with b's task instance: its token is answered stale
  // and nothing is written, log or checkpoint.
  const std::string forged = "FORGED: w-a rewrote b's log with a longer chunk\n";
  auto beat = env.post(
      "/api/v1/workers/heartbeat",
      json{{"worker", "w-a"}, {"tries", json::array({entry("tok-a", ti_b, 1, forged, "forged checkpoint")})}}.dump(), kWorker);
  REQUIRE(beat.status == 200);
  CHECK(beat.body["stale"] == json::array({"tok-a"}));
  CHECK(**env.store->read_log(ti_b, 1, 0, 1000) == b_log);
  CHECK(**env.store->load_checkpoint(ti_b) == "b at row 7");

  // Then a stale report naming b's try: 409, and still nothing written.
  json report = {{"worker", "w-a"},   {"attempt_token", "tok-a"},         {"ti_id", ti_b},
                 {"try_number", 1},   {"outcome", "failed"},              {"exit_code", 1},
                 {"log_offset", 0},   {"log", base64url_encode(forged)},  {"checkpoint", base64url_encode("x")},
                 {"output", {{"forged", true}}}};
  auto stale = env.post("/api/v1/workers/report", report.dump(), kWorker);
  CHECK(stale.status == 409);
  CHECK(stale.is_error("conflict"));
  CHECK(stale.message().find("stale report") != std::string::npos);
  CHECK(**env.store->read_log(ti_b, 1, 0, 1000) == b_log);
  CHECK(**env.store->load_checkpoint(ti_b) == "b at row 7");
  CHECK_FALSE(env.store->read_log(ti_a, 1, 0, 1000)->has_value());
  // Nothing was reported for either try (only the two claims' started events).
  auto evs = env.store->worker_events({3}, 10);
  REQUIRE(evs->size() == 2);
  for (auto& e : *evs) CHECK(e.kind == "started");

  // b's own report is taken; a second one, stale now, stores nothing.
  json b_report = {{"worker", "w-b"}, {"attempt_token", "tok-b"}, {"ti_id", ti_b}, {"try_number", 1},
                   {"outcome", "success"}, {"exit_code", 0}, {"log_offset", static_cast<long long>(b_log.size())},
                   {"log", base64url_encode("done\n")}};
  CHECK(env.post("/api/v1/workers/report", b_report.dump(), kWorker).status == 200);
  b_report["log_offset"] = 0;
  b_report["log"] = base64url_encode(forged);
  CHECK(env.post("/api/v1/workers/report", b_report.dump(), kWorker).status == 409);
  CHECK(**env.store->read_log(ti_b, 1, 0, 1000) == b_log + "done\n");
  // w-a's own try is untouched by all of it and still its own.
  auto own = env.post("/api/v1/workers/heartbeat",
                      json{{"worker", "w-a"}, {"tries", json::array({entry("tok-a", ti_a, 1, "a's log\n")})}}.dump(), kWorker);
  CHECK(own.body["stale"].empty());
  CHECK(**env.store->read_log(ti_a, 1, 0, 1000) == "a's log\n");
}
