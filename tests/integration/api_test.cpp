// The REST API: health, authentication and roles, triggers, the fields of
// runs and task instances, lists, bodies, logs and operations (SPEC §8, §12).
#include "api_env.h"

using namespace baton;
using namespace baton::api_test;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("health needs no token and reports the database and the scheduler") {
  Env env;
  auto r = env.get("/api/v1/health", nullptr);
  REQUIRE(r.status == 200);
  CHECK(r.body["status"] == "ok");
  CHECK(r.body["db"] == "ok");
  CHECK(r.body["scheduler"]["leader"] == "member-1");
  CHECK(r.body["scheduler"]["partitions"][0] == nlohmann::json({{"partition", 0}, {"owner", "member-1"}, {"epoch", 3}}));
  CHECK(r.body["scheduler"]["running"] == true);
  REQUIRE(r.body["scheduler"]["members"].size() == 1);
  CHECK(keys(r.body["scheduler"]["members"][0]) == std::set<std::string>{"id", "heartbeat_at", "partitions"});
  CHECK(r.body["scheduler"]["members"][0]["heartbeat_at"] == "2026-11-22T10:00:00Z");
}

TEST_CASE("health says loading, with the DAG files loaded so far, until the scheduler's first load is done") {
  Env env;
  env.control->loading_loaded = 3000;
  env.control->loading_total = 10000;
  auto r = env.get("/api/v1/health", nullptr);
  REQUIRE(r.status == 200);
  CHECK(r.body["status"] == "loading");
  CHECK(r.body["db"] == "ok");
  CHECK(r.body["dags"] == nlohmann::json({{"loaded", 3000}, {"total", 10000}}));
  CHECK(r.body["scheduler"]["leader"] == "member-1");
  env.control->loading_total = -1;
  r = env.get("/api/v1/health", nullptr);
  CHECK(r.body["status"] == "ok");
  CHECK_FALSE(r.body.contains("dags"));
}

TEST_CASE("authentication: 401 without a token or with a bad one, audited without the token") {
  Env env;
  size_t before = env.audit_size();
  auto none = env.get("/api/v1/dags", nullptr);
  CHECK(none.status == 401);
  CHECK(none.is_error("unauthenticated"));
  CHECK(none.header("WWW-Authenticate") == "Bearer");
  env.clock.advance(std::chrono::minutes(1));  // one entry per address and minute
  auto bad = env.get("/api/v1/dags", "not-a-real-token");
  CHECK(bad.status == 401);
  CHECK(bad.is_error("unauthenticated"));
  // A revoked token no longer works.
  REQUIRE(env.store->revoke_token("vic", "test").ok());
  env.clock.advance(std::chrono::minutes(1));
  CHECK(env.get("/api/v1/dags", kViewer).status == 401);
  // Not Bearer.
  env.clock.advance(std::chrono::minutes(1));
  httplib::Headers basic = {{"Authorization", "Basic YWRhOnNlY3JldA=="}};
  auto b = env.http->Get("/api/v1/dags", basic);
  REQUIRE(b);
  CHECK(b->status == 401);

  store::AuditFilter f;
  f.action = "auth.failed";
  auto log = env.store->list_audit(f);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 4);
  CHECK(env.audit_size() == before + 5);  // + the revocation
  for (auto& e : *log) {
    CHECK(e.actor == "anonymous");
    CHECK(e.target == "api");
    auto d = json::parse(e.details);
    CHECK(d["path"] == "/api/v1/dags");
    CHECK(d["reason"].is_string());
    CHECK(d["address"].is_string());
    CHECK(d["suppressed"] == 0);
    CHECK(e.details.find("not-a-real-token") == std::string::npos);
    CHECK(e.details.find(kViewer) == std::string::npos);
  }
  CHECK(json::parse((*log)[0].details)["reason"] == "no Authorization header");
  CHECK(json::parse((*log)[1].details)["reason"] == "unknown or revoked token");
}

TEST_CASE("authentication: a flood of failures is audited once per address and minute, with the count, paths cut") {
  Env env;
  store::AuditFilter f;
  f.action = "auth.failed";
  f.limit = 100000;
  auto failed_entries = [&] { return *env.store->list_audit(f); };
  const std::string long_path = "/api/v1/dags/" + std::string(8000, 'x');
  for (int i = 0; i < 300; ++i) {
    auto r = env.get(long_path, i % 2 ? "not-a-real-token" : nullptr);
    REQUIRE(r.status == 401);
    env.clock.advance(std::chrono::milliseconds(100));  // 30 s in all
  }
  auto log = failed_entries();
  REQUIRE(log.size() == 1);
  auto first = json::parse(log[0].details);
  CHECK(first["path"].get<std::string>().size() == 256);
  CHECK(first["path_bytes"] == long_path.size());
  CHECK(first["suppressed"] == 0);
  CHECK(log[0].details.size() < 600);
  const std::string address = first["address"];

  // The minute is over: the next failure carries the count of the others.
  env.clock.advance(std::chrono::seconds(31));
  CHECK(env.get("/api/v1/dags", nullptr).status == 401);
  log = failed_entries();
  REQUIRE(log.size() == 2);
  auto second = json::parse(log[1].details);
  CHECK(second["address"] == address);
  CHECK(second["suppressed"] == 299);
  CHECK(second["path"] == "/api/v1/dags");
  CHECK(second["first_suppressed_at"] == "2026-11-22T10:00:00.1Z");
  CHECK(second["last_suppressed_at"] == "2026-11-22T10:00:29.9Z");

  // Without a failure after it, a count is written by the first request
  // (any request) after its minute, on its own.
  CHECK(env.get("/api/v1/dags", nullptr).status == 401);
  CHECK(env.get("/api/v1/dags", nullptr).status == 401);
  CHECK(failed_entries().size() == 2);
  env.clock.advance(std::chrono::minutes(1));
  CHECK(env.get("/api/v1/health", nullptr).status == 200);
  log = failed_entries();
  REQUIRE(log.size() == 3);
  auto summary = json::parse(log[2].details);
  CHECK(summary["suppressed"] == 2);
  CHECK(summary["address"] == address);
  CHECK_FALSE(summary.contains("path"));
  // Authenticated requests are not counted.
  CHECK(env.get("/api/v1/dags").status == 200);
  env.clock.advance(std::chrono::minutes(2));
  CHECK(env.get("/api/v1/dags").status == 200);
  CHECK(failed_entries().size() == 3);
}

TEST_CASE("roles: a viewer may not trigger; a worker token may use none of the public API") {
  Env env;
  auto v = env.post("/api/v1/dags/sales/runs", "{}", kViewer);
  CHECK(v.status == 403);
  CHECK(v.is_error("permission_denied"));
  CHECK(v.message().find("operator") != std::string::npos);
  CHECK(env.run_count() == 0);
  auto w = env.get("/api/v1/dags", kWorker);
  CHECK(w.status == 403);
  CHECK(w.message().find("worker") != std::string::npos);
  CHECK(env.get("/api/v1/dags", kViewer).status == 200);
  // Admin-only: connections, pools and variables writes.
  CHECK(env.get("/api/v1/connections", kOperator).status == 403);
  CHECK(env.call("PUT", "/api/v1/pools/etl", R"({"slots": 2})", kOperator).status == 403);
  CHECK(env.call("PUT", "/api/v1/variables/x", R"({"value": "1"})", kViewer).status == 403);
  CHECK(env.control->calls().empty());
}

TEST_CASE("trigger: 201 with the run, 200 with the first run for a known idempotency key") {
  Env env;
  auto first = env.post("/api/v1/dags/sales/runs",
                        R"({"idempotency_key": "k-1", "params": {"region": "eu"}, "note": "by hand",
                            "logical_date": "2026-11-20T00:00:00Z"})",
                        kOperator);
  INFO(first.text);
  REQUIRE(first.status == 201);
  CHECK(first.body["run_type"] == "manual");
  CHECK(first.body["params"] == json{{"region", "eu"}});
  CHECK(first.body["note"] == "by hand");
  CHECK(first.body["logical_date"] == "2026-11-20T00:00:00Z");
  auto again = env.post("/api/v1/dags/sales/runs", R"({"idempotency_key": "k-1"})", kOperator);
  REQUIRE(again.status == 200);
  CHECK(again.body["run_id"] == first.body["run_id"]);
  CHECK(env.run_count() == 1);
  CHECK(env.control->calls().front() == "trigger sales by ops");
  // An unknown DAG.
  auto nope = env.post("/api/v1/dags/nope/runs", "{}", kOperator);
  CHECK(nope.status == 404);
  CHECK(nope.is_error("not_found"));
}

TEST_CASE("a run and its task instances have exactly the fields of SPEC §8") {
  Env env;
  std::string run_id = env.trigger(R"({"logical_date": "2026-11-21T00:00:00Z"})");
  auto run = env.get("/api/v1/dags/sales/runs/" + run_id, kViewer);
  REQUIRE(run.status == 200);
  CHECK(keys(run.body) == std::set<std::string>{"dag_id", "run_id", "run_type", "state", "logical_date",
                                                "data_interval_start", "data_interval_end", "params", "dag_version",
                                                "created_at", "started_at", "ended_at", "backfill_id", "note",
                                                // the forecast (SPEC §7), with the deadline and the verdict
                                                "expected_end", "sla_deadline", "at_risk"});
  CHECK(run.body["dag_id"] == "sales");
  CHECK(run.body["expected_end"].is_null());  // no history yet
  CHECK(run.body["at_risk"] == false);
  CHECK(run.body["state"] == "queued");
  CHECK(run.body["params"] == json::object());
  CHECK(run.body["dag_version"] == env.version);
  CHECK(run.body["created_at"] == "2026-11-22T10:00:00Z");
  CHECK(run.body["started_at"].is_null());
  CHECK(run.body["backfill_id"].is_null());
  CHECK(run.body["note"].is_null());

  auto tasks = env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks", kViewer);
  REQUIRE(tasks.status == 200);
  REQUIRE(tasks.body["items"].size() == 3);
  CHECK(tasks.body["next_cursor"].is_null());
  std::set<std::string> ti_keys = {"task_id", "map_index", "state",    "try_number",      "max_tries",
                                   "queue",   "pool",      "priority", "started_at",      "ended_at",
                                   "worker",  "exit_code", "reason",   "last_activity_at",
                                   "flags",   "progress",  // SPEC §7
                                   // Baton's additions for foreach (docs/running.md)
                                   "item",    "mapped"};
  for (auto& t : tasks.body["items"]) CHECK(keys(t) == ti_keys);
  for (auto& t : tasks.body["items"]) CHECK((t["flags"] == json::array() && t["progress"].is_null()));
  for (auto& t : tasks.body["items"]) CHECK((t["item"].is_null() && t["mapped"].is_null()));

  auto one = env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/transform", kViewer);
  REQUIRE(one.status == 200);
  auto detail_keys = ti_keys;
  detail_keys.insert({"waiting_for", "output", "checkpoint", "checkpoint_bytes"});
  CHECK(keys(one.body) == detail_keys);
  CHECK(one.body["map_index"] == -1);
  CHECK(one.body["state"] == "pending");
  CHECK(one.body["waiting_for"] == json::array({"upstream extract is running"}));
  CHECK(one.body["output"].is_null());
  CHECK(env.control->calls().back() == "why sales " + run_id + " transform -1");

  // An output is shown as an object.
  auto ti = env.ti(run_id, "extract");
  ti.output = R"({"rows": 42})";
  ti.state = TaskState::success;
  store::WriteBatch b;
  b.task_instances.push_back(ti);
  REQUIRE(env.store->apply(b).ok());
  auto done = env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/extract");
  CHECK(done.body["output"] == json{{"rows", 42}});
  CHECK(done.body["state"] == "success");

  CHECK(env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/extract?map_index=3").status == 404);
  CHECK(env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/nope").status == 404);
  CHECK(env.get("/api/v1/dags/sales/runs/manual__nope").status == 404);
  CHECK(env.get("/api/v1/dags/nope/runs/" + run_id).status == 404);
}

TEST_CASE("lists page with limit and cursor; bad limit, cursor and state get 400") {
  Env env;
  for (const char* at : {"2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z"})
    env.trigger(json{{"logical_date", at}}.dump());
  std::vector<std::string> seen;
  std::string path = "/api/v1/dags/sales/runs?limit=1";
  for (int page = 0; page < 5; ++page) {
    auto r = env.get(path, kViewer);
    REQUIRE(r.status == 200);
    REQUIRE(r.body["items"].size() == 1);
    seen.push_back(r.body["items"][0]["logical_date"]);
    if (r.body["next_cursor"].is_null()) break;
    path = "/api/v1/dags/sales/runs?limit=1&cursor=" + r.body["next_cursor"].get<std::string>();
  }
  CHECK(seen == std::vector<std::string>{"2026-11-20T00:00:00Z", "2026-11-19T00:00:00Z", "2026-11-18T00:00:00Z"});

  auto all = env.get("/api/v1/dags/sales/runs?state=queued&run_type=manual");
  CHECK(all.body["items"].size() == 3);
  CHECK(env.get("/api/v1/dags/sales/runs?state=success").body["items"].empty());

  for (const char* bad : {"0", "1001", "abc", "", "-1", "1.5"}) {
    auto r = env.get(std::string("/api/v1/dags/sales/runs?limit=") + bad);
    INFO(bad << ": " << r.text);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
    CHECK(r.message().find("limit") != std::string::npos);
  }
  for (const char* bad : {"garbage!", "abc", "b0FSRE0"}) {
    auto r = env.get(std::string("/api/v1/dags/sales/runs?cursor=") + bad);
    INFO(bad << ": " << r.text);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
    CHECK(r.message().find("cursor") != std::string::npos);
  }
  // A cursor of another list is refused too.
  auto dags = env.get("/api/v1/audit?limit=1");
  REQUIRE(dags.body["next_cursor"].is_string());
  CHECK(env.get("/api/v1/dags/sales/runs?cursor=" + dags.body["next_cursor"].get<std::string>()).status == 400);

  auto state = env.get("/api/v1/dags/sales/runs?state=bogus");
  CHECK(state.status == 400);
  CHECK(state.message().find("queued") != std::string::npos);
  CHECK(state.message().find("canceled") != std::string::npos);
  auto unknown = env.get("/api/v1/dags/sales/runs?stat=queued");
  CHECK(unknown.status == 400);
  CHECK(unknown.message().find("stat") != std::string::npos);
  CHECK(env.get("/api/v1/dags/sales/runs?limit=1&limit=2").status == 400);
  CHECK(env.get("/api/v1/dags?limit=1000").status == 200);
}

TEST_CASE("bodies: over 1 MiB get 413 with the JSON error; malformed JSON and unknown fields get 400") {
  Env env;
  size_t audit = env.audit_size();
  // Refused from its Content-Length; the server reads and drops the rest of
  // the body (up to 16 MiB, for 2 s) so that this client, which sends all of
  // it before it reads, sees the 413 rather than a reset.
  std::string huge = R"({"note": ")" + std::string(2 << 20, 'x') + R"("})";
  auto big = env.post("/api/v1/dags/sales/runs", huge, kOperator);
  CHECK(big.status == 413);
  CHECK(big.is_error("payload_too_large"));

  // A chunked body has no Content-Length: it is counted while it is read.
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kOperator}};
  size_t sent = 0;
  auto chunked = env.http->Post(
      "/api/v1/dags/sales/runs", auth,
      [&](size_t, httplib::DataSink& sink) {
        if (sent == 0) sink.write(R"({"note": ")", 10);
        std::string block(64 << 10, 'y');
        sink.write(block.data(), block.size());
        sent += block.size();
        if (sent >= (2u << 20)) {
          sink.write("\"}", 2);
          sink.done();
        }
        return true;
      },
      "application/json");
  if (chunked) {  // the server may close before the client has sent it all
    CHECK(chunked->status == 413);
    CHECK(json::parse(chunked->body)["error"]["code"] == "payload_too_large");
  }

  struct Case {
    const char* body;
    const char* mentions;
  };
  for (auto c : {Case{"{", "malformed JSON"}, Case{"[1, 2]", "object"}, Case{R"({"notes": "x"})", "notes"},
                 Case{R"({"params": "region=eu"})", "params"}, Case{R"({"logical_date": "yesterday"})", "logical_date"},
                 Case{R"({"idempotency_key": 7})", "idempotency_key"}, Case{"nul", "malformed JSON"},
                 Case{R"({"params": {"a": 1}} trailing)", "malformed JSON"}}) {
    auto r = env.post("/api/v1/dags/sales/runs", c.body, kOperator);
    INFO(c.body << " -> " << r.text);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
    CHECK(r.message().find(c.mentions) != std::string::npos);
  }
  auto unknown = env.post("/api/v1/dags/sales/runs", R"({"notes": "x"})", kOperator);
  CHECK(unknown.message().find("note") != std::string::npos);  // the allowed ones are listed
  // Deep nesting is refused before parsing.
  std::string deep = R"({"params": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(env.post("/api/v1/dags/sales/runs", deep, kOperator).status == 400);
  // Bad input changed nothing.
  CHECK(env.run_count() == 0);
  CHECK(env.control->calls().empty());
  CHECK(env.audit_size() == audit);
  // The server is still fine.
  CHECK(env.get("/api/v1/health", nullptr).status == 200);
}

TEST_CASE("logs: from an offset, complete once the try ended; paths cannot leave the logs folder") {
  Env env;
  std::string run_id = env.trigger();
  auto ti = env.ti(run_id, "extract");
  ti.state = TaskState::running;
  ti.try_number = 1;
  ti.started_at = env.clock.now();
  store::TryRecord t;
  t.ti_id = ti.id;
  t.try_number = 1;
  t.started_at = env.clock.now();
  t.log_path = "sales/" + run_id + "/extract/1.log";
  t.log_bytes = 12;
  store::WriteBatch b;
  b.task_instances.push_back(ti);
  b.tries.push_back(t);
  REQUIRE(env.store->apply(b).ok());
  fs::create_directories(env.dir / "logs" / "sales" / run_id / "extract");
  std::ofstream(env.dir / "logs" / *t.log_path) << "hello\nworld\n";

  std::string base = "/api/v1/dags/sales/runs/" + run_id + "/tasks/extract";
  auto all = env.get(base + "/logs", kViewer);
  REQUIRE(all.status == 200);
  CHECK(all.text == "hello\nworld\n");
  CHECK(all.header("X-Baton-Log-Complete") == "false");
  CHECK(all.header("Content-Type").find("text/plain") == 0);
  auto tail = env.get(base + "/logs?offset=6&try=1&map_index=-1", kViewer);
  CHECK(tail.text == "world\n");
  CHECK(tail.header("X-Baton-Log-Next-Offset") == "12");
  CHECK(env.get(base + "/logs?offset=100").text.empty());
  CHECK(env.get(base + "/logs?try=2").status == 404);
  CHECK(env.get(base + "/logs?offset=-1").status == 400);

  auto tries = env.get(base + "/tries", kViewer);
  REQUIRE(tries.status == 200);
  REQUIRE(tries.body["items"].size() == 1);
  CHECK(keys(tries.body["items"][0]) == std::set<std::string>{"try_number", "state", "worker", "started_at", "ended_at",
                                                              "exit_code", "reason", "log_bytes"});
  CHECK(tries.body["items"][0]["log_bytes"] == 12);

  // The try ends: the log is complete.
  b = {};
  t.state = TaskState::success;
  t.ended_at = env.clock.now();
  t.exit_code = 0;
  b.tries.push_back(t);
  REQUIRE(env.store->apply(b).ok());
  CHECK(env.get(base + "/logs").header("X-Baton-Log-Complete") == "true");

  // A stored path that climbs out, is absolute, or leads out through a link.
  std::ofstream(env.dir / "secret.txt") << "top secret";
  fs::create_symlink(env.dir / "secret.txt", env.dir / "logs" / "link.log");
  for (const std::string& evil : std::vector<std::string>{"../secret.txt", "sales/../../secret.txt",
                                                          (env.dir / "secret.txt").string(), "link.log"}) {
    b = {};
    t.log_path = evil;
    b.tries.push_back(t);
    REQUIRE(env.store->apply(b).ok());
    auto r = env.get(base + "/logs");
    INFO(evil);
    CHECK(r.status == 404);
    CHECK(r.is_error("not_found"));
    CHECK(r.text.find("top secret") == std::string::npos);
  }
  // A missing file is an empty log.
  b = {};
  t.log_path = "sales/missing.log";
  b.tries.push_back(t);
  REQUIRE(env.store->apply(b).ok());
  auto missing = env.get(base + "/logs");
  CHECK(missing.status == 200);
  CHECK(missing.text.empty());
  // No try yet.
  CHECK(env.get("/api/v1/dags/sales/runs/" + run_id + "/tasks/load/logs").status == 404);
}

TEST_CASE("operations: cancel, clear, mark go through Control with the token's name") {
  Env env;
  std::string run_id = env.trigger();
  std::string base = "/api/v1/dags/sales/runs/" + run_id;

  auto clear = env.post(base + "/tasks/extract/clear", R"({"downstream": true, "version": "latest"})", kOperator);
  REQUIRE(clear.status == 200);
  CHECK(clear.body["items"].size() == 1);
  CHECK(env.control->calls().back() == "clear sales " + run_id + " extract downstream=1 latest=1 by ops");
  REQUIRE(env.post(base + "/tasks/extract/clear", "", kOperator).status == 200);
  CHECK(env.control->calls().back() == "clear sales " + run_id + " extract downstream=0 latest=0 by ops");
  auto bad_version = env.post(base + "/tasks/extract/clear", R"({"version": "newest"})", kOperator);
  CHECK(bad_version.status == 400);
  CHECK(bad_version.message().find("pinned") != std::string::npos);
  env.control->fail_next_clear(Error{"conflict", "extract is running"});
  auto conflict = env.post(base + "/tasks/extract/clear", "{}", kOperator);
  CHECK(conflict.status == 409);
  CHECK(conflict.is_error("conflict"));
  CHECK(env.post(base + "/tasks/nope/clear", "{}", kOperator).status == 404);

  auto mark = env.post(base + "/tasks/extract/state", R"({"state": "success"})", kOperator);
  REQUIRE(mark.status == 200);
  CHECK(mark.body["items"][0]["state"] == "success");
  CHECK(env.post(base + "/tasks/extract/state", R"({"state": "running"})", kOperator).status == 400);
  CHECK(env.post(base + "/tasks/extract/state", "{}", kOperator).status == 400);

  auto cancel = env.post(base + "/cancel", "", kOperator);
  REQUIRE(cancel.status == 200);
  CHECK(cancel.body["state"] == "canceled");
  CHECK(env.control->calls().back() == "cancel sales " + run_id + " by ops");
  auto again = env.post(base + "/cancel", "{}", kOperator);
  CHECK(again.status == 409);
  CHECK(env.post(base + "/cancel", R"({"force": true})", kOperator).status == 400);

  // The audit log names the token.
  auto log = env.get("/api/v1/audit?actor=ops", kViewer);
  REQUIRE(log.status == 200);
  std::vector<std::string> actions;
  for (auto& e : log.body["items"]) {
    actions.push_back(e["action"]);
    CHECK(keys(e) == std::set<std::string>{"id", "at", "actor", "action", "target", "details", "prev_hash", "hash"});
    CHECK(e["details"].is_object());
  }
  CHECK(actions == std::vector<std::string>{"run.triggered", "task.marked", "run.canceled"});

  // The whole log, a page at a time, oldest first; filters are checked.
  std::vector<long long> ids;
  std::string path = "/api/v1/audit?limit=2&since=2026-11-22T00:00:00Z";
  for (int page = 0; page < 50; ++page) {
    auto r = env.get(path, kViewer);
    REQUIRE(r.status == 200);
    for (auto& e : r.body["items"]) ids.push_back(e["id"]);
    if (r.body["next_cursor"].is_null()) break;
    path = "/api/v1/audit?limit=2&since=2026-11-22T00:00:00Z&cursor=" + r.body["next_cursor"].get<std::string>();
  }
  CHECK(ids.size() == env.audit_size());
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(env.get("/api/v1/audit?since=2030-01-01T00:00:00Z").body["items"].empty());
  CHECK(env.get("/api/v1/audit?dag_id=sales").body["items"].size() == 4);  // + the version
  auto since = env.get("/api/v1/audit?since=yesterday");
  CHECK(since.status == 400);
  CHECK(since.message().find("since") != std::string::npos);
  CHECK(env.get("/api/v1/audit?actor=").status == 400);
}

TEST_CASE("authentication: a token revoked through this server stops working at once, though it was just used") {
  Env env;
  CHECK(env.get("/api/v1/dags", kViewer).status == 200);  // known to the server now
  CHECK(env.call("DELETE", "/api/v1/tokens/vic", "", kAdmin).status == 204);
  CHECK(env.get("/api/v1/dags", kViewer).status == 401);
}
