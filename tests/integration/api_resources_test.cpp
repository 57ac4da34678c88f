// The REST API: DAGs and their filters, pools, variables, connections,
// the OpenAPI document, static files, dataset events and the built-in UI.
#include "api_env.h"

using namespace baton;
using namespace baton::api_test;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("DAGs: list, one, pause, versions, graph") {
  Env env;
  REQUIRE(env.store->set_import_errors("broken", "dags/broken.yaml", 1, R"([{"line": 3, "message": "bad"}])").ok());
  auto list = env.get("/api/v1/dags", kViewer);
  REQUIRE(list.status == 200);
  REQUIRE(list.body["items"].size() == 2);
  auto broken = list.body["items"][0];
  CHECK(broken["dag_id"] == "broken");
  CHECK(broken["version"].is_null());
  CHECK(broken["schedule"].is_null());
  CHECK(broken["import_errors"][0]["line"] == 3);
  auto sales = list.body["items"][1];
  CHECK(sales["dag_id"] == "sales");
  CHECK(sales["namespace"] == "finance");
  CHECK(sales["paused"] == false);
  CHECK(sales["active"] == true);
  CHECK(sales["file"] == "dags/sales.yaml");
  CHECK(sales["schedule"]["kind"] == "cron");
  CHECK(sales["schedule"]["expression"] == "0 3 * * *");
  CHECK(sales["timezone"] == "Europe/Berlin");
  CHECK(sales["version"] == env.version);
  CHECK(sales["last_run_state"].is_null());
  CHECK(sales["import_errors"].is_null());
  // Never scheduled, no catchup: next is the latest complete interval (03:00 Berlin is 02:00Z in winter).
  CHECK(sales["next_run"] == json{{"logical_date", "2026-11-21T02:00:00Z"},
                                  {"data_interval_start", "2026-11-21T02:00:00Z"},
                                  {"data_interval_end", "2026-11-22T02:00:00Z"},
                                  {"run_after", "2026-11-22T02:00:00Z"}});
  CHECK(broken["next_run"].is_null());
  store::WriteBatch tick;
  tick.last_ticks.push_back({"sales", *parse_utc("2026-11-21T02:00:00Z")});
  REQUIRE(env.store->apply(tick).ok());
  CHECK(env.get("/api/v1/dags/sales").body["next_run"]["logical_date"] == "2026-11-22T02:00:00Z");
  CHECK(env.get("/api/v1/dags/sales").body["next_run"]["run_after"] == "2026-11-23T02:00:00Z");
  auto page = env.get("/api/v1/dags?limit=1");
  CHECK(page.body["items"].size() == 1);
  auto page2 = env.get("/api/v1/dags?limit=1&cursor=" + page.body["next_cursor"].get<std::string>());
  CHECK(page2.body["items"][0]["dag_id"] == "sales");
  CHECK(page2.body["next_cursor"].is_null());

  env.trigger();
  CHECK(env.get("/api/v1/dags/sales").body["last_run_state"] == "queued");
  CHECK(env.get("/api/v1/dags/nope").status == 404);

  auto paused = env.call("PATCH", "/api/v1/dags/sales", R"({"paused": true})", kOperator);
  REQUIRE(paused.status == 200);
  CHECK(paused.body["paused"] == true);
  CHECK(env.store->get_dag("sales")->paused);
  CHECK(env.control->calls().back() == "pause sales by ops");
  CHECK(env.call("PATCH", "/api/v1/dags/sales", R"({"paused": "yes"})", kOperator).status == 400);
  CHECK(env.call("PATCH", "/api/v1/dags/sales", "{}", kOperator).status == 400);
  CHECK(env.call("PATCH", "/api/v1/dags/sales", R"({"paused": false})", kViewer).status == 403);
  CHECK(env.call("PATCH", "/api/v1/dags/nope", R"({"paused": false})", kOperator).status == 404);
  CHECK(env.store->get_dag("sales")->paused);

  auto versions = env.get("/api/v1/dags/sales/versions");
  REQUIRE(versions.body["items"].size() == 1);
  CHECK(keys(versions.body["items"][0]) ==
        std::set<std::string>{"version", "file", "git_commit", "git_dirty", "created_at"});
  CHECK(versions.body["items"][0]["git_commit"] == "abc123");
  CHECK(versions.body["items"][0]["git_dirty"] == false);

  auto graph = env.get("/api/v1/dags/sales/graph", kViewer);
  REQUIRE(graph.status == 200);
  CHECK(graph.body["version"] == env.version);
  REQUIRE(graph.body["nodes"].size() == 3);
  std::set<std::string> nodes;
  for (auto& n : graph.body["nodes"]) {
    nodes.insert(n["id"]);
    if (n["id"] == "load") CHECK(n["trigger_rule"] == "all_done");
    if (n["id"] == "extract") CHECK(n["type"] == "shell");
    if (n["id"] == "load") CHECK(n["type"] == "noop");
  }
  CHECK(nodes == std::set<std::string>{"extract", "transform", "load"});
  std::set<std::pair<std::string, std::string>> edges;
  for (auto& e : graph.body["edges"]) edges.insert({e["from"].get<std::string>(), e["to"].get<std::string>()});
  CHECK(edges == std::set<std::pair<std::string, std::string>>{{"extract", "transform"}, {"transform", "load"}});
  CHECK(env.get("/api/v1/dags/sales/graph?version=" + env.version).status == 200);
  CHECK(env.get("/api/v1/dags/sales/graph?version=bogus").status == 404);
  CHECK(env.get("/api/v1/dags/broken/graph").status == 404);
}

TEST_CASE("DAGs: the list filtered on the server by text, tag, namespace, paused and import errors; the summary") {
  Env env;
  const char* orders = "dag: orders\ndescription: Orders by the Hour\ntags: [hourly, ops-team]\ntasks:\n  a: {type: noop}\n";
  auto compiled = dsl::compile_dag(orders, "dags/orders.yaml");
  REQUIRE(compiled.graph);
  store::DagVersionRecord v;
  v.dag_id = "orders";
  v.version = compiled.graph->hash();
  v.compiled = compiled.graph->canonical_json();
  v.source = orders;
  v.file = "dags/orders.yaml";
  REQUIRE(env.store->register_dag_version(v, "ops", 1, "system").ok());
  REQUIRE(env.store->set_import_errors("broken", "dags/broken.yaml", 1, R"([{"line": 3, "message": "bad"}])").ok());
  REQUIRE(env.store->set_paused("sales", true, "test").ok());
  auto ids = [&](const std::string& query) {
    auto r = env.get("/api/v1/dags" + query, kViewer);
    REQUIRE(r.status == 200);
    std::vector<std::string> out;
    for (auto& d : r.body["items"]) out.push_back(d["dag_id"]);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(ids("") == V{"broken", "orders", "sales"});
  CHECK(ids("?q=HOUR") == V{"orders"});    // the description, any case
  CHECK(ids("?q=ops-t") == V{"orders"});   // a tag
  CHECK(ids("?q=sal") == V{"sales"});      // the id
  CHECK(ids("?tag=hourly") == V{"orders"});
  CHECK(ids("?tag=hour").empty());         // a tag is matched whole
  CHECK(ids("?namespace=finance") == V{"sales"});
  CHECK(ids("?paused=true") == V{"sales"});
  CHECK(ids("?paused=false") == V{"broken", "orders"});
  CHECK(ids("?import_errors=true") == V{"broken"});
  CHECK(ids("?import_errors=false&paused=false") == V{"orders"});
  CHECK(ids("?q=nothing-like-it").empty());
  auto page = env.get("/api/v1/dags?paused=false&limit=1", kViewer);
  REQUIRE(page.body["items"].size() == 1);
  auto rest = env.get("/api/v1/dags?paused=false&limit=1&cursor=" + page.body["next_cursor"].get<std::string>(), kViewer);
  CHECK(rest.body["items"][0]["dag_id"] == "orders");
  CHECK(rest.body["next_cursor"].is_null());
  CHECK(env.get("/api/v1/dags?paused=maybe", kViewer).status == 400);

  auto sum = env.get("/api/v1/dag-summary?q=hour", kViewer);
  REQUIRE(sum.status == 200);
  CHECK(sum.body == json{{"total", 3}, {"matched", 1}, {"paused", 1}, {"with_import_errors", 1},
                         {"tags", {"hourly", "ops-team"}}, {"namespaces", {"default", "finance", "ops"}}});
  CHECK(env.get("/api/v1/dag-summary").body["matched"] == 3);
}

TEST_CASE("pools, variables and connections") {
  Env env;
  auto put = env.call("PUT", "/api/v1/pools/etl", R"({"slots": 4})");
  REQUIRE(put.status == 201);
  CHECK(put.body == json{{"name", "etl"}, {"slots", 4}, {"used", 0}});
  CHECK(env.call("PUT", "/api/v1/pools/etl", R"({"slots": 6})").status == 200);
  for (const char* bad : {R"({"slots": -1})", R"({"slots": 100001})", R"({"slots": "4"})", R"({"slots": 4.5})", "{}",
                          R"({"slots": 4, "size": 2})"}) {
    INFO(bad);
    CHECK(env.call("PUT", "/api/v1/pools/etl", bad).status == 400);
  }
  CHECK(env.call("PUT", "/api/v1/pools/bad%20name", R"({"slots": 1})").status == 400);
  CHECK(env.call("PUT", "/api/v1/pools/.hidden", R"({"slots": 1})").status == 400);
  CHECK(env.store->get_pool("etl")->slots == 6);
  CHECK(env.call("DELETE", "/api/v1/pools/default").status == 409);
  CHECK(env.call("DELETE", "/api/v1/pools/nope").status == 404);

  // Queued and running task instances of unfinished runs use their pool slots.
  store::RunRecord run;
  run.dag_id = "sales";
  run.run_id = "scheduled__20261121T000000Z";
  run.run_type = "scheduled";
  run.logical_date = run.data_interval_start = *parse_utc("2026-11-21T00:00:00Z");
  run.data_interval_end = *parse_utc("2026-11-22T00:00:00Z");
  run.dag_version = env.version;
  std::vector<store::TaskInstanceRecord> tis(4);
  const char* ids[] = {"extract", "transform", "load", "other"};
  TaskState states[] = {TaskState::running, TaskState::queued, TaskState::scheduled, TaskState::success};
  for (size_t i = 0; i < tis.size(); ++i) {
    tis[i].task_id = ids[i];
    tis[i].state = states[i];
    tis[i].pool = "etl";
    tis[i].pool_slots = 2;
  }
  REQUIRE(env.store->create_run(run, tis, "system").ok());
  auto pools = env.get("/api/v1/pools", kViewer);
  REQUIRE(pools.status == 200);
  REQUIRE(pools.body["items"].size() == 2);
  CHECK(pools.body["items"][0] == json{{"name", "default"}, {"slots", 128}, {"used", 0}});
  CHECK(pools.body["items"][1] == json{{"name", "etl"}, {"slots", 6}, {"used", 4}});
  CHECK(env.get("/api/v1/pools/etl").body["used"] == 4);

  // Variables: create, read, update, list, delete.
  CHECK(env.call("PUT", "/api/v1/variables/bucket", R"({"value": "s3://a"})").status == 201);
  CHECK(env.get("/api/v1/variables/bucket", kViewer).body["value"] == "s3://a");
  CHECK(env.call("PUT", "/api/v1/variables/bucket", R"({"value": "s3://b"})").status == 200);
  auto vars = env.get("/api/v1/variables", kViewer);
  REQUIRE(vars.body["items"].size() == 1);
  CHECK(vars.body["items"][0]["value"] == "s3://b");
  CHECK(env.call("PUT", "/api/v1/variables/bucket", R"({"value": 3})").status == 400);
  CHECK(env.call("DELETE", "/api/v1/variables/bucket").status == 204);
  CHECK(env.get("/api/v1/variables/bucket").status == 404);
  CHECK(env.call("DELETE", "/api/v1/variables/bucket").status == 404);

  // Connections: the password never comes back.
  auto conn = env.call("PUT", "/api/v1/connections/wh", R"({"url": "postgresql://loader:s3cret@db:5432/wh"})");
  REQUIRE(conn.status == 201);
  CHECK(conn.body["url"] == "postgresql://loader:***@db:5432/wh");
  auto one = env.get("/api/v1/connections/wh");
  CHECK(one.body["url"] == "postgresql://loader:***@db:5432/wh");
  auto conns = env.get("/api/v1/connections");
  REQUIRE(conns.body["items"].size() == 1);
  CHECK(conns.text.find("s3cret") == std::string::npos);
  CHECK(env.store->get_connection("wh")->url == "postgresql://loader:s3cret@db:5432/wh");
  CHECK(env.call("PUT", "/api/v1/connections/lite", R"({"url": "sqlite:/tmp/x.db"})").status == 201);
  CHECK(env.get("/api/v1/connections/lite").body["url"] == "sqlite:/tmp/x.db");
  CHECK(env.call("PUT", "/api/v1/connections/bad", R"({"url": "mysql://x"})").status == 400);
  for (auto [url, shown] : std::vector<std::pair<std::string, std::string>>{
           {"postgresql://u:p@ss/w@db/x", "postgresql://u:***@db/x"},
           {"postgresql://db/x?user=u&password=pw&sslmode=require",
            "postgresql://db/x?user=u&password=***&sslmode=require"},
           {"postgresql://u@db/x", "postgresql://u@db/x"},
       }) {
    auto r = env.call("PUT", "/api/v1/connections/other", json{{"url", url}}.dump());
    REQUIRE(r.status / 100 == 2);
    CHECK(r.body["url"] == shown);
  }
  CHECK(env.get("/api/v1/connections/wh", kViewer).status == 403);
  CHECK(env.call("DELETE", "/api/v1/connections/wh").status == 204);
  CHECK(env.get("/api/v1/connections/wh").status == 404);
  auto audit = env.get("/api/v1/audit?action=connection.set");
  CHECK(audit.body["items"].size() == 5);
  CHECK(audit.text.find("s3cret") == std::string::npos);
  // Every password form (SPEC §12): percent-encoded keys, any case, keyword strings.
  for (auto [url, shown] : std::vector<std::pair<std::string, std::string>>{
           {"postgresql://db/x?pass%77ord=enc-pw&SSLPassword=ssl-pw", "postgresql://db/x?pass%77ord=***&SSLPassword=***"},
           {"postgresql://u:p%40ss@db/x?PASSWORD=q-pw", "postgresql://u:***@db/x?PASSWORD=***"},
       }) {
    auto r = env.call("PUT", "/api/v1/connections/other", json{{"url", url}}.dump());
    REQUIRE(r.status / 100 == 2);
    CHECK(r.body["url"] == shown);
    CHECK(env.get("/api/v1/connections").text.find("-pw") == std::string::npos);
  }
  auto refused = env.call("PUT", "/api/v1/connections/bad", R"({"url": "mysql://u:my-pw@db/x"})");
  CHECK(refused.status == 400);
  CHECK(refused.text.find("my-pw") == std::string::npos);
}

TEST_CASE("secret variables are write-only: masked in GET and list, their value never audited") {
  Env env;
  auto put = env.call("PUT", "/api/v1/variables/api_key", R"({"value": "k-0123456789", "secret": true})");
  REQUIRE(put.status == 201);
  CHECK(put.body["value"] == "***");
  CHECK(put.body["secret"] == true);
  auto one = env.get("/api/v1/variables/api_key", kViewer);
  CHECK(one.body["value"] == "***");
  CHECK(one.body["secret"] == true);
  CHECK(env.call("PUT", "/api/v1/variables/plain", R"({"value": "eu"})").status == 201);
  auto list = env.get("/api/v1/variables", kViewer);
  CHECK(list.text.find("k-0123456789") == std::string::npos);
  REQUIRE(list.body["items"].size() == 2);
  CHECK(list.body["items"][1]["value"] == "eu");
  CHECK(list.body["items"][1]["secret"] == false);
  CHECK(env.store->get_variable("api_key")->value == "k-0123456789");  // tries need it
  // A new value without `secret`: still secret; `"secret": false` makes it plain.
  CHECK(env.call("PUT", "/api/v1/variables/api_key", R"({"value": "k-9876543210"})").status == 200);
  CHECK(env.get("/api/v1/variables/api_key").body["value"] == "***");
  CHECK(env.store->get_variable("api_key")->value == "k-9876543210");
  CHECK(env.call("PUT", "/api/v1/variables/api_key", R"({"value": "shown", "secret": false})").status == 200);
  CHECK(env.get("/api/v1/variables/api_key").body["value"] == "shown");
  CHECK(env.call("PUT", "/api/v1/variables/api_key", R"({"value": "k", "secret": "yes"})").status == 400);
  auto audit = env.get("/api/v1/audit?action=variable.set");
  CHECK(audit.body["items"].size() == 4);
  CHECK(audit.text.find("k-0123456789") == std::string::npos);
  CHECK(audit.text.find("k-9876543210") == std::string::npos);
}

TEST_CASE("the OpenAPI document, unknown routes and wrong methods") {
  Env env;
  auto doc = env.get("/api/v1/openapi.json", nullptr);
  REQUIRE(doc.status == 200);
  REQUIRE(doc.body.is_object());
  CHECK(doc.body["openapi"].get<std::string>().rfind("3.0", 0) == 0);
  REQUIRE(doc.body["paths"].is_object());
  for (auto [path, method] : std::vector<std::pair<const char*, const char*>>{
           {"/health", "get"},
           {"/dags", "get"},
           {"/dags/{dag_id}", "patch"},
           {"/dags/{dag_id}/graph", "get"},
           {"/dags/{dag_id}/runs", "post"},
           {"/dags/{dag_id}/runs/{run_id}/cancel", "post"},
           {"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs", "get"},
           {"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/clear", "post"},
           {"/pools/{name}", "put"},
           {"/variables/{name}", "delete"},
           {"/connections/{name}", "get"},
           {"/audit", "get"},
       }) {
    INFO(path << " " << method);
    CHECK(doc.body["paths"].contains(path));
    CHECK(doc.body["paths"][path].contains(method));
  }

  auto unknown = env.get("/api/v1/nothing-here");
  CHECK(unknown.status == 404);
  CHECK(unknown.is_error("not_found"));
  auto outside = env.get("/nothing-here", nullptr);
  CHECK(outside.status == 404);
  CHECK(outside.is_error("not_found"));
  auto wrong = env.call("DELETE", "/api/v1/dags");
  CHECK(wrong.status == 405);
  CHECK(wrong.is_error("method_not_allowed"));
  CHECK(wrong.header("Allow").find("GET") != std::string::npos);
  auto weird = env.call("BREW", "/api/v1/dags");
  CHECK(weird.status >= 400);
  CHECK(weird.body.contains("error"));
}

TEST_CASE("static files come from web_dir; the API stays JSON") {
  Env env(std::string(BATON_SOURCE_DIR) + "/web");
  auto index = env.http->Get("/");
  REQUIRE(index);
  CHECK(index->status == 200);
  CHECK(index->body.find("Baton") != std::string::npos);
  CHECK(index->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(index->get_header_value("Content-Security-Policy").find("default-src 'self'") == 0);
  CHECK(index->get_header_value("X-Content-Type-Options") == "nosniff");
  auto missing = env.get("/nothing.js", nullptr);
  CHECK(missing.status == 404);
  CHECK(missing.is_error("not_found"));
  CHECK(env.get("/api/v1/dags").status == 200);
}

TEST_CASE("dataset events: recorded by operators, listed by anyone, bad URIs refused") {
  Env env;
  auto made = env.post("/api/v1/datasets/events", R"({"uri": "s3://lake/orders", "extra": {"rows": 3}})", kOperator);
  REQUIRE(made.status == 201);
  CHECK(made.body["uri"] == "s3://lake/orders");
  CHECK(made.body["extra"] == json{{"rows", 3}});
  CHECK(made.body["at"] == "2026-11-22T10:00:00Z");
  CHECK(made.body["source_dag_id"].is_null());
  REQUIRE(env.post("/api/v1/datasets/events", R"({"uri": "pg://wh/customers"})", kOperator).status == 201);
  CHECK(env.post("/api/v1/datasets/events", R"({"uri": "s3://x"})", kViewer).status == 403);
  // Each is audited under the token that posted it (it may start DAGs of any namespace).
  auto audit = env.get("/api/v1/audit?action=dataset.event", kAdmin);
  REQUIRE(audit.status == 200);
  REQUIRE(audit.body["items"].size() == 2);
  CHECK(audit.body["items"][0]["target"] == "dataset:s3://lake/orders");  // oldest first
  CHECK(audit.body["items"][0]["details"]["extra"] == json{{"rows", 3}});
  CHECK(audit.body["items"][1]["target"] == "dataset:pg://wh/customers");
  CHECK(audit.body["items"][0]["actor"] == audit.body["items"][1]["actor"]);
  for (const char* bad : {R"({})", R"({"uri": ""})", R"({"uri": "s3://a b"})", R"({"uri": 7})",
                          R"({"uri": "s3://x", "extra": [1]})", R"({"uri": "s3://x", "other": 1})"}) {
    INFO(bad);
    auto r = env.post("/api/v1/datasets/events", bad, kOperator);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
  }
  auto all = env.get("/api/v1/datasets/events", kViewer);
  REQUIRE(all.status == 200);
  REQUIRE(all.body["items"].size() == 2);
  auto one = env.get("/api/v1/datasets/events?uri=pg://wh/customers", kViewer);
  REQUIRE(one.body["items"].size() == 1);
  CHECK(one.body["items"][0]["uri"] == "pg://wh/customers");
  auto page = env.get("/api/v1/datasets/events?limit=1", kViewer);
  REQUIRE(page.body["next_cursor"].is_string());
  auto rest = env.get("/api/v1/datasets/events?limit=1&cursor=" + page.body["next_cursor"].get<std::string>(), kViewer);
  REQUIRE(rest.body["items"].size() == 1);
  CHECK(rest.body["items"][0]["uri"] == "pg://wh/customers");
}

TEST_CASE("the web UI is built into the server: index, scripts and styles, with a content security policy") {
  Env env;  // no web_dir: the files compiled into the binary
  auto index = env.http->Get("/");
  REQUIRE(index);
  CHECK(index->status == 200);
  CHECK(index->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(index->body.find(R"(<script type="module" src="/js/app.js">)") != std::string::npos);
  CHECK(index->get_header_value("Content-Security-Policy").find("default-src 'self'") == 0);
  CHECK(index->get_header_value("Cache-Control") == "no-cache");
  std::ifstream on_disk(std::string(BATON_SOURCE_DIR) + "/web/js/app.js", std::ios::binary);
  std::string app((std::istreambuf_iterator<char>(on_disk)), std::istreambuf_iterator<char>());
  for (const char* path : {"/js/app.js", "/js/pages/run.js", "/js/graph.js"}) {
    auto js = env.http->Get(path);
    REQUIRE(js);
    INFO(path);
    CHECK(js->status == 200);
    CHECK(js->get_header_value("Content-Type").find("text/javascript") == 0);
    if (std::string(path) == "/js/app.js") CHECK(js->body == app);
  }
  auto css = env.http->Get("/style.css");
  REQUIRE(css);
  CHECK(css->get_header_value("Content-Type").find("text/css") == 0);
  auto missing = env.get("/js/nothing.js", nullptr);
  CHECK(missing.status == 404);
  CHECK(missing.is_error("not_found"));
  CHECK(env.get("/api/v1/health", nullptr).status == 200);  // no file shadows the API
}
