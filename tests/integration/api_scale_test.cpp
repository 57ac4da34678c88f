// The REST API at scale, at a small size (issue 16, BENCHMARKS.md W5):
// triggers at once, and the DAG list's keyset pages with filters. Nothing is
// timed.
//
// Triggers at once (W5: never a 409 without an idempotency key): many
// clients trigger the same DAG through the real API and the real scheduler
// in the same instant (a fake clock: every run has the same logical date, so
// run ids differ only by their suffix); every trigger is created (201) and
// every run id is distinct. SQLite, and PostgreSQL under
// BATON_TEST_STORE=postgres (api_tests_pg).
#include <httplib.h>
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "baton/api/server.h"
#include "baton/core/sha256.h"
#include "baton/scheduler/scheduler.h"
#include "baton/store/store.h"
#include "api_env.h"
#include "test_db.h"

using namespace baton;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("concurrent keyless triggers of one DAG all create runs with distinct ids") {
  static int counter = 0;
  fs::path dir =
      fs::temp_directory_path() / ("baton-trigger-ids-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
  fs::remove_all(dir);
  fs::create_directories(dir / "dags");
  std::ofstream(dir / "dags" / "burst.yaml") << "dag: burst\ntasks:\n  a: {type: noop}\n";
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  auto url = store::parse_database_url(testing::test_database_url(dir));
  REQUIRE(url.ok());
  auto opened = store::open_store(*url, clock);
  REQUIRE(opened.ok());
  auto& s = **opened;
  const std::string token = "op-token-for-the-burst";
  REQUIRE(s.create_token("ops", store::Role::operator_role, sha256_hex(token), "test").ok());

  scheduler::SchedulerOptions options;
  options.dags_dir = (dir / "dags").string();
  options.logs_dir = (dir / "logs").string();
  options.workers = 2;
  options.folder_poll = 100ms;
  options.shutdown_grace = 2s;
  auto sched = std::make_unique<scheduler::Scheduler>(s, clock, options);
  REQUIRE(sched->start().ok());
  api::ApiOptions api_options;
  api_options.port = 0;
  api_options.threads = 8;
  auto server = std::make_unique<api::ApiServer>(s, *sched, clock, api_options);
  REQUIRE(server->start().ok());

  constexpr int kClients = 16, kEach = 8;
  std::mutex mu;
  std::vector<int> statuses;
  std::vector<std::string> ids, problems;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&] {
      httplib::Client http("127.0.0.1", server->port());
      http.set_read_timeout(30, 0);
      httplib::Headers auth = {{"Authorization", "Bearer " + token}};
      for (int i = 0; i < kEach; ++i) {
        auto res = http.Post("/api/v1/dags/burst/runs", auth, "{}", "application/json");
        std::lock_guard lock(mu);
        if (!res) {
          problems.push_back(httplib::to_string(res.error()));
          continue;
        }
        statuses.push_back(res->status);
        auto body = json::parse(res->body, nullptr, false);
        if (res->status != 201 || !body.is_object() || !body.contains("run_id"))
          problems.push_back(std::to_string(res->status) + " " + res->body);
        else
          ids.push_back(body["run_id"].get<std::string>());
      }
    });
  for (auto& t : clients) t.join();
  // The DAG summary, kept per generation of the DAG table, follows a pause at once.
  {
    httplib::Client http("127.0.0.1", server->port());
    httplib::Headers auth = {{"Authorization", "Bearer " + token}};
    auto before = http.Get("/api/v1/dag-summary", auth);
    REQUIRE(before);
    CHECK(json::parse(before->body)["paused"] == 0);
    auto paused = http.Patch("/api/v1/dags/burst", auth, R"({"paused": true})", "application/json");
    REQUIRE(paused);
    CHECK(paused->status == 200);
    auto after = http.Get("/api/v1/dag-summary", auth);
    REQUIRE(after);
    CHECK(json::parse(after->body)["paused"] == 1);
    CHECK(json::parse(after->body)["total"] == 1);
  }
  server.reset();
  sched->stop(true);
  sched.reset();

  INFO((problems.empty() ? std::string() : problems.front()));
  CHECK(problems.empty());
  CHECK(statuses.size() == static_cast<size_t>(kClients * kEach));
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == static_cast<size_t>(kClients * kEach));
  for (auto& id : ids) CHECK(id.rfind("manual__20261122T100000Z_", 0) == 0);
  auto runs = [&] {
    store::RunFilter f;
    f.dag_id = "burst";
    f.limit = 1000;
    return s.list_runs(f);
  }();
  REQUIRE(runs.ok());
  CHECK(runs->size() == static_cast<size_t>(kClients * kEach));
  opened->reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE("the DAG list pages by id through filters, each DAG once, whatever the chunks it is read in") {
  api_test::Env env;
  // 450 DAGs more, every other one in namespace "even": a filtered page
  // takes more than one chunk of DAGs to fill.
  for (int i = 0; i < 450; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "p%03d", i);
    store::DagVersionRecord v;
    v.dag_id = id;
    v.version = "v1";
    v.compiled = "{}";
    v.source = std::string("dag: ") + id;
    v.file = std::string("dags/") + id + ".yaml";
    REQUIRE(env.store->register_dag_version(v, i % 2 ? "odd" : "even", 0, "system").ok());
  }
  auto all_pages = [&](const std::string& query) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int guard = 0; guard < 100; ++guard) {
      auto page = env.get("/api/v1/dags?" + query + (cursor.empty() ? "" : "&cursor=" + cursor), api_test::kViewer);
      REQUIRE(page.status == 200);
      for (auto& d : page.body["items"]) ids.push_back(d["dag_id"].get<std::string>());
      if (page.body["next_cursor"].is_null()) break;
      cursor = page.body["next_cursor"].get<std::string>();
    }
    return ids;
  };
  auto even = all_pages("namespace=even&limit=70");
  REQUIRE(even.size() == 225);
  CHECK(std::is_sorted(even.begin(), even.end()));
  CHECK(std::set<std::string>(even.begin(), even.end()).size() == 225);
  CHECK(even.front() == "p000");
  CHECK(even.back() == "p448");
  // A page that needs a second chunk, the first one's last DAG in it.
  auto odd = all_pages("namespace=odd&limit=150");
  REQUIRE(odd.size() == 225);
  CHECK(std::is_sorted(odd.begin(), odd.end()));
  CHECK(std::set<std::string>(odd.begin(), odd.end()).size() == 225);
  auto everything = all_pages("limit=100");
  CHECK(everything.size() == 451);  // and "sales"
  CHECK(std::set<std::string>(everything.begin(), everything.end()).size() == 451);
  // A cursor of another list is refused, saying what to do.
  auto bad = env.get("/api/v1/dags?cursor=eHl6", api_test::kViewer);  // "xyz": not a DAG list's cursor
  CHECK(bad.status == 400);
  CHECK(bad.message().find("cursor") != std::string::npos);
  auto summary = env.get("/api/v1/dag-summary?namespace=even", api_test::kViewer);
  CHECK(summary.body["total"] == 451);
  CHECK(summary.body["matched"] == 225);
}

// A page's DAGs whose facts (tags, description, schedule) are not known yet
// are read in one call (Store::get_dag_versions); each DAG shows its own.
TEST_CASE("the DAG list reads a page's versions together and shows each DAG its own facts") {
  api_test::Env env;
  for (int i = 0; i < 30; ++i) {
    std::string id = "facts_many_" + std::to_string(100 + i);
    store::DagVersionRecord v;
    v.dag_id = id;
    v.version = "v" + std::to_string(i);
    v.compiled = json{{"tags", {"tag-" + std::to_string(i)}},
                      {"description", "the " + id},
                      {"schedule", {{"kind", "cron"}, {"expression", std::to_string(i) + " * * * *"}}}}
                     .dump();
    v.source = "dag: " + id;
    v.file = "dags/" + id + ".yaml";
    REQUIRE(env.store->register_dag_version(v, "default", 0, "system").ok());
  }
  auto page = env.get("/api/v1/dags?q=facts_many_&limit=100", api_test::kViewer);
  REQUIRE(page.status == 200);
  REQUIRE(page.body["items"].size() == 30);
  for (auto& d : page.body["items"]) {
    std::string id = d["dag_id"];
    int i = std::stoi(id.substr(id.rfind('_') + 1)) - 100;
    INFO(id);
    CHECK(d["tags"] == json{"tag-" + std::to_string(i)});
    CHECK(d["description"] == "the " + id);
    CHECK(d["schedule"]["expression"] == std::to_string(i) + " * * * *");
  }
  auto summary = env.get("/api/v1/dag-summary", api_test::kViewer);
  REQUIRE(summary.status == 200);
  CHECK(summary.body["tags"].size() >= 30);
}

// A store error while a DAG's version is read (on PostgreSQL, a lost
// connection) is the request's error: never a DAG list answered without the
// DAG's facts, never a /dag-summary kept without them until the next change
// of a DAG. SQLite (the versions' table moved away behind the store's back,
// then back); PostgreSQL's lost connection is the same error path.
TEST_CASE("a store error reading a DAG's version fails the request and is not kept") {
  if (testing::on_postgres()) {
    SUCCEED("SQLite only: the table is moved through SQLite's library");
    return;
  }
  api_test::Env env;
  store::DagVersionRecord v;
  v.dag_id = "facts_probe";
  v.version = "v1";
  v.compiled = R"({"tags": ["probe-tag"]})";
  v.source = "dag: facts_probe";
  v.file = "dags/facts_probe.yaml";
  REQUIRE(env.store->register_dag_version(v, "default", 0, "system").ok());
  auto tamper = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((env.dir / "baton.db").string().c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string message = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    INFO(message);
    REQUIRE(rc == SQLITE_OK);
  };
  tamper("ALTER TABLE dag_versions RENAME TO dag_versions_away");
  CHECK(env.get("/api/v1/dag-summary", api_test::kViewer).status >= 500);
  CHECK(env.get("/api/v1/dags?tag=probe-tag", api_test::kViewer).status >= 500);
  CHECK(env.get("/api/v1/dags", api_test::kViewer).status >= 500);
  tamper("ALTER TABLE dag_versions_away RENAME TO dag_versions");
  auto summary = env.get("/api/v1/dag-summary", api_test::kViewer);
  REQUIRE(summary.status == 200);
  CHECK(summary.body["tags"] == json{"probe-tag"});
  auto listed = env.get("/api/v1/dags?tag=probe-tag", api_test::kViewer);
  REQUIRE(listed.status == 200);
  REQUIRE(listed.body["items"].size() == 1);
  CHECK(listed.body["items"][0]["tags"] == json{"probe-tag"});
}
