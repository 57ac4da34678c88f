// Run-time forecasts through the API (SPEC §7, §8): GET /sla-risks with its
// filters and pages, GET /dags/{dag_id}/tasks/{task_id}/stats, the run's
// forecast fields, a task instance's flags and progress, and the metrics.
#include <catch2/catch.hpp>

#include "api_env.h"

using namespace baton;
using namespace baton::api_test;

TEST_CASE("forecasts API: SLA risks listed like the misses; a task's duration history with its percentiles") {
  Env env;
  // Ten successes of extract, 1 to 10 seconds; none of transform yet.
  store::WriteBatch b;
  for (int k = 1; k <= 10; ++k) b.durations.push_back({"sales", "extract", k, static_cast<double>(k), env.clock.now()});
  store::WriteBatch::Risk r1, r2;
  r1.risk = {0, "sales", "r1", "run_deadline", *parse_utc("2026-11-22T11:00:00Z"), *parse_utc("2026-11-22T11:05:00Z"),
             env.clock.now(), std::nullopt};
  r2.risk = {0, "other", "r2", "run_duration", *parse_utc("2026-11-22T12:00:00Z"), *parse_utc("2026-11-22T12:30:00Z"),
             env.clock.now(), *parse_utc("2026-11-22T10:20:00Z")};
  b.sla_risks = {r1, r2};
  REQUIRE(env.store->apply(b).ok());

  auto all = env.get("/api/v1/sla-risks", kViewer);
  REQUIRE(all.status == 200);
  REQUIRE(all.body["items"].size() == 2);
  CHECK(all.body["items"][0] == json{{"dag_id", "sales"},
                                     {"run_id", "r1"},
                                     {"kind", "run_deadline"},
                                     {"deadline", "2026-11-22T11:00:00Z"},
                                     {"expected_end", "2026-11-22T11:05:00Z"},
                                     {"detected_at", "2026-11-22T10:00:00Z"},
                                     {"recovered_at", nullptr}});
  CHECK(all.body["items"][1]["recovered_at"] == "2026-11-22T10:20:00Z");
  CHECK(env.get("/api/v1/sla-risks?dag_id=other", kViewer).body["items"].size() == 1);
  CHECK(env.get("/api/v1/sla-risks?since=2026-11-23T00:00:00Z", kViewer).body["items"].empty());
  CHECK(env.get("/api/v1/sla-risks?since=soon", kViewer).status == 400);
  auto page = env.get("/api/v1/sla-risks?limit=1", kViewer);
  REQUIRE(page.body["next_cursor"].is_string());
  CHECK(env.get("/api/v1/sla-risks?limit=1&cursor=" + page.body["next_cursor"].get<std::string>(), kViewer)
            .body["items"][0]["dag_id"] == "other");
  CHECK(env.get("/api/v1/sla-risks?cursor=bogus", kViewer).status == 400);

  auto stats = env.get("/api/v1/dags/sales/tasks/extract/stats", kViewer);
  REQUIRE(stats.status == 200);
  CHECK(stats.body["count"] == 10);
  CHECK(stats.body["p50"] == 5.0);
  CHECK(stats.body["p90"] == 9.0);
  CHECK(stats.body["p99"] == 10.0);
  CHECK(stats.body["last"] == 10.0);
  REQUIRE(stats.body["durations"].size() == 10);
  CHECK(stats.body["durations"][0]["seconds"] == 10.0);
  auto none = env.get("/api/v1/dags/sales/tasks/transform/stats", kViewer);
  REQUIRE(none.status == 200);
  CHECK(none.body["count"] == 0);
  CHECK(none.body["p90"].is_null());
  CHECK(env.get("/api/v1/dags/sales/tasks/nope/stats", kViewer).status == 404);
  CHECK(env.get("/api/v1/dags/nope/tasks/extract/stats", kViewer).status == 404);
}

TEST_CASE("forecasts API: a run shows its expected end and whether it is at risk; a try its flags and progress") {
  Env env;
  std::string run_id = env.trigger(R"({"logical_date": "2026-11-21T00:00:00Z"})");
  auto stored = env.store->get_run("sales", run_id);
  REQUIRE(stored);
  auto tis = env.store->list_task_instances(stored->pk);
  REQUIRE(tis);
  store::WriteBatch b;
  store::RunRecord run = *stored;
  run.state = RunState::running;
  run.expected_end = *parse_utc("2026-11-22T11:10:00Z");
  run.sla_deadline = *parse_utc("2026-11-22T11:00:00Z");
  b.runs.push_back(run);
  store::TaskInstanceRecord ti = (*tis)[0];
  ti.state = TaskState::running;
  ti.try_number = 1;
  ti.flags = "slow,stuck";
  ti.progress = store::progress_record(1, 0.25, "a quarter", env.clock.now());
  b.task_instances.push_back(ti);
  REQUIRE(env.store->apply(b).ok());
  auto got = env.get("/api/v1/dags/sales/runs/" + run_id, kViewer);
  CHECK(got.body["expected_end"] == "2026-11-22T11:10:00Z");
  CHECK(got.body["sla_deadline"] == "2026-11-22T11:00:00Z");
  CHECK(got.body["at_risk"] == true);
  auto t = env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/" + ti.task_id, kViewer);
  CHECK(t.body["flags"] == json::array({"slow", "stuck"}));
  CHECK(t.body["progress"] == json{{"fraction", 0.25}, {"text", "a quarter"}, {"at", "2026-11-22T10:00:00Z"}});
  // Back on time: not at risk.
  run.expected_end = *parse_utc("2026-11-22T10:50:00Z");
  store::WriteBatch again;
  again.runs.push_back(run);
  REQUIRE(env.store->apply(again).ok());
  CHECK(env.get("/api/v1/dags/sales/runs/" + run_id, kViewer).body["at_risk"] == false);
}
