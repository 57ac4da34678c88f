// Scoped tokens over the REST API (SPEC §13): a token scoped to namespaces
// sees and acts on only their DAGs, runs, task instances, backfills, SLA
// misses, audit entries, variables and connections. Anything else answers
// 404 with the message a missing one gets, and lists leave it out; an
// unscoped token sees everything; a scoped admin manages only its
// namespaces' variables, connections and scoped tokens (403 for pools and
// unscoped tokens).
#include <regex>

#include "api_env.h"

using namespace baton::api_test;

namespace {

const char* kHrViewer = "hr-viewer-secret";
const char* kHrOperator = "hr-operator-secret";
const char* kHrAdmin = "hr-admin-secret";

const char* kPayrollYaml =
    "dag: payroll\n"
    "namespace: hr\n"
    "schedule: \"0 4 * * *\"\n"
    "start_date: 2026-01-01\n"
    "tasks:\n"
    "  pay: {command: echo pay}\n";

// The sales DAG of Env is in namespace finance; payroll is in hr; tokens
// scoped to hr.
void add_hr(Env& env) {
  auto compiled = dsl::compile_dag(kPayrollYaml, "dags/payroll.yaml");
  REQUIRE(compiled.graph);
  store::DagVersionRecord v;
  v.dag_id = "payroll";
  v.version = compiled.graph->hash();
  v.compiled = compiled.graph->canonical_json();
  v.source = kPayrollYaml;
  v.file = "dags/payroll.yaml";
  REQUIRE(env.store->register_dag_version(v, "hr", 5, "system").ok());
  REQUIRE(env.store->create_token("hrv", store::Role::viewer, sha256_hex(kHrViewer), "test", {"hr"}).ok());
  REQUIRE(env.store->create_token("hro", store::Role::operator_role, sha256_hex(kHrOperator), "test", {"hr"}).ok());
  REQUIRE(env.store->create_token("hra", store::Role::admin, sha256_hex(kHrAdmin), "test", {"hr"}).ok());
}

std::vector<std::string> field_of(const json& items, const char* field) {
  std::vector<std::string> out;
  for (auto& i : items) out.push_back(i[field].is_string() ? i[field].get<std::string>() : "");
  return out;
}

}  // namespace

TEST_CASE("scoped tokens: another namespace's DAG, runs and tasks answer 404 as missing ones, lists leave them out") {
  Env env;
  add_hr(env);
  std::string run = env.trigger();  // a run of sales (finance), by the unscoped operator
  auto missing = env.get("/api/v1/dags/nope", kViewer);
  REQUIRE(missing.status == 404);

  // The DAG list and summary: only payroll.
  auto list = env.get("/api/v1/dags", kHrViewer);
  REQUIRE(list.status == 200);
  CHECK(field_of(list.body["items"], "dag_id") == std::vector<std::string>{"payroll"});
  auto summary = env.get("/api/v1/dag-summary", kHrViewer);
  REQUIRE(summary.status == 200);
  CHECK(summary.body["total"] == 1);
  CHECK(summary.body["namespaces"] == json::array({"hr"}));
  // Unscoped: both.
  CHECK(field_of(env.get("/api/v1/dags", kViewer).body["items"], "dag_id") ==
        std::vector<std::string>{"payroll", "sales"});
  CHECK(env.get("/api/v1/dag-summary", kViewer).body["total"] == 2);

  // Every route of the finance DAG: 404, worded as for a DAG that is not there.
  for (const std::string& path : std::vector<std::string>{"/api/v1/dags/sales", "/api/v1/dags/sales/versions", "/api/v1/dags/sales/graph",
                           "/api/v1/dags/sales/runs", "/api/v1/dags/sales/runs/" + run,
                           "/api/v1/dags/sales/runs/" + run + "/tasks",
                           "/api/v1/dags/sales/runs/" + run + "/tasks/extract",
                           "/api/v1/dags/sales/runs/" + run + "/tasks/extract/tries",
                           "/api/v1/dags/sales/runs/" + run + "/tasks/extract/logs"}) {
    INFO(path);
    auto r = env.get(path, kHrViewer);
    CHECK(r.status == 404);
    CHECK(r.is_error("not_found"));
    CHECK(r.message() == "no DAG named \"sales\"");
    CHECK(env.get(path, kViewer).message() != r.message());  // unscoped: there (a log may not be yet)
  }
  CHECK(env.get("/api/v1/dags/payroll", kHrViewer).status == 200);

  // Acting on it: 404 as well, and nothing happens.
  size_t runs = env.run_count();
  auto calls = env.control->calls().size();
  auto trig = env.post("/api/v1/dags/sales/runs", "{}", kHrOperator);
  CHECK(trig.status == 404);
  CHECK(trig.message() == "no DAG named \"sales\"");
  CHECK(env.call("PATCH", "/api/v1/dags/sales", R"({"paused": true})", kHrOperator).status == 404);
  CHECK(env.post("/api/v1/dags/sales/runs/" + run + "/cancel", "{}", kHrOperator).status == 404);
  CHECK(env.post("/api/v1/dags/sales/runs/" + run + "/tasks/extract/clear", "{}", kHrOperator).status == 404);
  CHECK(env.post("/api/v1/dags/sales/runs/" + run + "/tasks/extract/state", R"({"state": "success"})", kHrOperator)
            .status == 404);
  CHECK(env.run_count() == runs);
  CHECK(env.control->calls().size() == calls);
  CHECK_FALSE(env.store->get_dag("sales")->paused);
  // Its own DAG: allowed.
  CHECK(env.post("/api/v1/dags/payroll/runs", "{}", kHrOperator).status == 201);
}

TEST_CASE("scoped tokens: backfills, SLA misses and audit entries of other namespaces are left out") {
  Env env;
  add_hr(env);
  std::string run = env.trigger();
  auto made = env.post("/api/v1/backfills", R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02"})",
                       kOperator);
  REQUIRE(made.status == 201);
  long long id = made.body["id"];
  store::SlaMiss miss;
  miss.dag_id = "sales";
  miss.run_id = run;
  miss.kind = "run_duration";
  miss.deadline = env.clock.now();
  miss.detected_at = env.clock.now();
  REQUIRE(env.store->record_sla_miss(miss).ok());

  // One backfill: as one that is not there.
  auto none = env.get("/api/v1/backfills/999999", kHrViewer);
  auto hidden = env.get("/api/v1/backfills/" + std::to_string(id), kHrViewer);
  CHECK(hidden.status == 404);
  CHECK(hidden.message() == "no backfill " + std::to_string(id));
  CHECK(none.message() == "no backfill 999999");
  CHECK(env.post("/api/v1/backfills/" + std::to_string(id) + "/cancel", "{}", kHrOperator).status == 404);
  auto bf = env.post("/api/v1/backfills", R"({"dag_id": "sales", "from": "2026-11-01", "to": "2026-11-02"})",
                     kHrOperator);
  CHECK(bf.status == 404);
  CHECK(bf.message() == "no DAG \"sales\"");
  // Lists: empty for hr, full for an unscoped token.
  CHECK(env.get("/api/v1/backfills", kHrViewer).body["items"].empty());
  CHECK(env.get("/api/v1/backfills?dag_id=sales", kHrViewer).body["items"].empty());
  CHECK(env.get("/api/v1/backfills", kViewer).body["items"].size() == 1);
  CHECK(env.get("/api/v1/sla-misses", kHrViewer).body["items"].empty());
  CHECK(env.get("/api/v1/sla-misses?dag_id=sales", kHrViewer).body["items"].empty());
  CHECK(env.get("/api/v1/sla-misses", kViewer).body["items"].size() == 1);

  // The audit log: only entries about hr's DAGs and hr's variables; pages
  // stay full however many entries are left out.
  REQUIRE(env.call("PUT", "/api/v1/variables/v?namespace=hr", R"({"value": "1"})").status == 201);
  REQUIRE(env.call("PUT", "/api/v1/variables/v", R"({"value": "g"})").status == 201);
  REQUIRE(env.call("PUT", "/api/v1/variables/v?namespace=finance", R"({"value": "f"})").status == 201);
  for (int i = 0; i < 3; ++i) REQUIRE(env.post("/api/v1/dags/payroll/runs", "{}", kHrOperator).status == 201);
  auto audit = env.get("/api/v1/audit?limit=2", kHrViewer);
  REQUIRE(audit.status == 200);
  std::vector<std::string> targets = field_of(audit.body["items"], "target");
  REQUIRE(targets.size() == 2);
  CHECK(targets[0] == "dag:payroll");  // its registration
  CHECK(targets[1] == "variable:hr/v");
  REQUIRE(audit.body["next_cursor"].is_string());
  auto rest = env.get("/api/v1/audit?limit=100&cursor=" + audit.body["next_cursor"].get<std::string>(), kHrViewer);
  REQUIRE(rest.status == 200);
  CHECK(rest.body["items"].size() == 3);
  for (auto& e : rest.body["items"]) CHECK(e["target"].get<std::string>().rfind("dag:payroll/", 0) == 0);
  CHECK(env.get("/api/v1/audit?dag_id=sales", kHrViewer).body["items"].empty());
  CHECK_FALSE(env.get("/api/v1/audit?dag_id=sales", kViewer).body["items"].empty());
}

TEST_CASE("scoped admins: their namespaces' variables and connections, scoped tokens; 403 for pools and unscoped tokens") {
  Env env;
  add_hr(env);
  // Privileges, not existence: 403 with the reason.
  auto pool = env.call("PUT", "/api/v1/pools/big", R"({"slots": 4})", kHrAdmin);
  CHECK(pool.status == 403);
  CHECK(pool.message().find("not scoped") != std::string::npos);
  CHECK_FALSE(env.store->get_pool("big").ok());
  auto unscoped = env.post("/api/v1/tokens", R"({"name": "x", "role": "viewer"})", kHrAdmin);
  CHECK(unscoped.status == 403);
  CHECK(env.post("/api/v1/tokens", R"({"name": "x", "role": "viewer", "namespaces": ["finance"]})", kHrAdmin)
            .status == 403);
  CHECK(env.post("/api/v1/tokens", R"({"name": "x", "role": "viewer", "namespaces": ["hr", "finance"]})", kHrAdmin)
            .status == 403);
  // Its tokens are named after their namespace: a name another namespace's
  // token has is refused as any other unprefixed name, not with a 409.
  auto unprefixed = env.post("/api/v1/tokens", R"({"name": "ada", "role": "viewer", "namespaces": ["hr"]})", kHrAdmin);
  auto made_up = env.post("/api/v1/tokens", R"({"name": "zed", "role": "viewer", "namespaces": ["hr"]})", kHrAdmin);
  CHECK(unprefixed.status == 400);
  CHECK(unprefixed.text == made_up.text);
  CHECK(unprefixed.message().find("`hr-ci`") != std::string::npos);
  auto scoped = env.post("/api/v1/tokens", R"({"name": "hr-2", "role": "viewer", "namespaces": ["hr"]})", kHrAdmin);
  REQUIRE(scoped.status == 201);
  CHECK(scoped.body["namespaces"] == json::array({"hr"}));
  // Its list: the tokens scoped within hr; others cannot be revoked by it.
  auto tokens = env.get("/api/v1/tokens", kHrAdmin);
  REQUIRE(tokens.status == 200);
  CHECK(field_of(tokens.body["items"], "name") == std::vector<std::string>{"hr-2", "hra", "hro", "hrv"});
  auto revoke = env.call("DELETE", "/api/v1/tokens/ada", "", kHrAdmin);
  CHECK(revoke.status == 404);
  CHECK(revoke.message() == "no token named \"ada\"");
  CHECK(env.call("DELETE", "/api/v1/tokens/nobody", "", kHrAdmin).message() == "no token named \"nobody\"");
  CHECK(env.store->authenticate(sha256_hex(kAdmin)).ok());
  CHECK(env.call("DELETE", "/api/v1/tokens/hr-2", "", kHrAdmin).status == 204);
  // An unscoped admin sees every token with its namespaces.
  auto all = env.get("/api/v1/tokens");
  REQUIRE(all.status == 200);
  for (auto& t : all.body["items"])
    if (t["name"] == "hrv") CHECK(t["namespaces"] == json::array({"hr"}));
  // Bad names are refused.
  auto bad = env.post("/api/v1/tokens", R"({"name": "y", "role": "viewer", "namespaces": ["a/b"]})");
  CHECK(bad.status == 400);
  CHECK(bad.message().find("invalid namespace \"a/b\"") != std::string::npos);
  CHECK(env.post("/api/v1/tokens", R"({"name": "y", "role": "worker", "namespaces": ["hr"]})").status == 400);

  // Variables: its namespace's only, and it must name it.
  CHECK(env.call("PUT", "/api/v1/variables/bucket?namespace=hr", R"({"value": "s3://hr"})", kHrAdmin).status == 201);
  auto no_ns = env.call("PUT", "/api/v1/variables/bucket", R"({"value": "s3://x"})", kHrAdmin);
  CHECK(no_ns.status == 400);
  CHECK(no_ns.message().find("?namespace=hr") != std::string::npos);
  REQUIRE(env.call("PUT", "/api/v1/variables/bucket?namespace=finance", R"({"value": "s3://fin"})").status == 201);
  REQUIRE(env.call("PUT", "/api/v1/variables/bucket", R"({"value": "s3://global"})").status == 201);
  auto other = env.call("PUT", "/api/v1/variables/bucket?namespace=finance", R"({"value": "s3://mine"})", kHrAdmin);
  CHECK(other.status == 404);
  CHECK(env.store->get_variable("bucket", "finance")->value == "s3://fin");
  auto seen = env.get("/api/v1/variables/bucket?namespace=finance", kHrViewer);
  auto absent = env.get("/api/v1/variables/nothing?namespace=hr", kHrViewer);
  CHECK(seen.status == 404);
  CHECK(seen.message() == "no variable named \"bucket\" in namespace \"finance\"");
  CHECK(absent.message() == "no variable named \"nothing\" in namespace \"hr\"");
  CHECK(env.call("DELETE", "/api/v1/variables/bucket?namespace=finance", "", kHrAdmin).status == 404);
  auto mine = env.get("/api/v1/variables/bucket?namespace=hr", kHrViewer);
  REQUIRE(mine.status == 200);
  CHECK(mine.body["value"] == "s3://hr");
  CHECK(mine.body["namespace"] == "hr");
  // Lists: hr's entries for hr; every one for an unscoped token, global first.
  auto hr_list = env.get("/api/v1/variables", kHrViewer);
  CHECK(field_of(hr_list.body["items"], "namespace") == std::vector<std::string>{"hr"});
  CHECK(env.get("/api/v1/variables?namespace=finance", kHrViewer).body["items"].empty());
  auto full = env.get("/api/v1/variables", kViewer);
  CHECK(field_of(full.body["items"], "namespace") == std::vector<std::string>{"", "finance", "hr"});
  CHECK(env.get("/api/v1/variables?namespace=finance", kViewer).body["items"].size() == 1);
  CHECK(env.get("/api/v1/variables/bucket", kViewer).body["value"] == "s3://global");

  // Connections: the same.
  CHECK(env.call("PUT", "/api/v1/connections/wh?namespace=hr", R"({"url": "sqlite:/tmp/hr.db"})", kHrAdmin).status ==
        201);
  CHECK(env.call("PUT", "/api/v1/connections/wh?namespace=finance", R"({"url": "sqlite:/tmp/f.db"})", kHrAdmin)
            .status == 404);
  CHECK(env.get("/api/v1/connections/wh?namespace=hr", kHrAdmin).body["namespace"] == "hr");
  CHECK(env.get("/api/v1/connections", kHrAdmin).body["items"].size() == 1);
  CHECK(env.call("DELETE", "/api/v1/connections/wh?namespace=hr", "", kHrAdmin).status == 204);
  // /me says the scope.
  CHECK(env.get("/api/v1/me", kHrViewer).body["namespaces"] == json::array({"hr"}));
  // The worker endpoints hand out any namespace's tries: not to a scoped admin.
  auto claim = env.post("/api/v1/workers/claim", R"({"worker": "w", "queues": ["default"]})", kHrAdmin);
  CHECK(claim.status == 403);
  CHECK(claim.message().find("scoped") != std::string::npos);
}

TEST_CASE("scoped tokens: dataset events made by another namespace's tasks are left out") {
  Env env;
  add_hr(env);
  store::DatasetEvent from_fin;
  from_fin.uri = "s3://lake/orders";
  from_fin.source_dag_id = "sales";
  from_fin.source_run_id = "r1";
  from_fin.source_task_id = "load";
  REQUIRE(env.store->record_dataset_event(from_fin).ok());
  store::DatasetEvent from_hr = from_fin;
  from_hr.source_dag_id = "payroll";
  REQUIRE(env.store->record_dataset_event(from_hr).ok());
  REQUIRE(env.post("/api/v1/datasets/events", R"({"uri": "s3://lake/orders"})", kOperator).status == 201);
  auto hr = env.get("/api/v1/datasets/events?limit=1", kHrViewer);
  REQUIRE(hr.status == 200);
  REQUIRE(hr.body["items"].size() == 1);
  CHECK(hr.body["items"][0]["source_dag_id"] == "payroll");
  REQUIRE(hr.body["next_cursor"].is_string());
  auto next = env.get("/api/v1/datasets/events?cursor=" + hr.body["next_cursor"].get<std::string>(), kHrViewer);
  REQUIRE(next.body["items"].size() == 1);
  CHECK(next.body["items"][0]["source_dag_id"].is_null());  // from outside: no namespace's
  CHECK(env.get("/api/v1/datasets/events", kViewer).body["items"].size() == 3);
}

TEST_CASE("scoped tokens: namespaces and /metrics show only the token's namespaces; unscoped ones see every series") {
  Env env;
  add_hr(env);
  REQUIRE(env.store->put_namespace({"finance", 3, 4, std::nullopt, "money"}, "admin").ok());
  env.control->namespaces["finance"] = {.running = 3, .ready = 2, .share = 0.75, .latency_p50 = 0.2};
  env.control->namespaces["hr"] = {.running = 1, .ready = 0, .share = 0.25, .latency_p50 = 0.1};

  auto list = env.get("/api/v1/namespaces", kHrViewer);
  REQUIRE(list.status == 200);
  CHECK(field_of(list.body["items"], "name") == std::vector<std::string>{"hr"});
  auto other = env.get("/api/v1/namespaces/finance", kHrViewer);
  auto missing = env.get("/api/v1/namespaces/nope", kHrViewer);
  CHECK(other.status == 404);
  CHECK(other.text == std::regex_replace(missing.text, std::regex("nope"), "finance"));
  CHECK(env.get("/api/v1/namespaces/hr", kHrViewer).body["running"] == 1);
  CHECK(env.get("/api/v1/namespaces/default", kHrViewer).status == 404);

  // /metrics: the scoped token gets its namespace's series, nothing that
  // counts the others.
  auto scoped = env.get("/api/v1/metrics", kHrViewer);
  REQUIRE(scoped.status == 200);
  CHECK(scoped.text.find("baton_namespace_running_tries{namespace=\"hr\"} 1") != std::string::npos);
  CHECK(scoped.text.find("baton_namespace_slot_share{namespace=\"hr\"} 0.25") != std::string::npos);
  CHECK(scoped.text.find("finance") == std::string::npos);
  CHECK(scoped.text.find("baton_runs") == std::string::npos);
  CHECK(scoped.text.find("baton_queue_depth") == std::string::npos);
  auto all = env.get("/api/v1/metrics", kViewer);
  REQUIRE(all.status == 200);
  CHECK(all.text.find("baton_runs{state=") != std::string::npos);
  CHECK(all.text.find("baton_namespace_running_tries{namespace=\"finance\"} 3") != std::string::npos);
  CHECK(all.text.find("baton_namespace_ready_tries{namespace=\"finance\"} 2") != std::string::npos);
  CHECK(all.text.find("baton_namespace_scheduling_latency_p50_seconds{namespace=\"finance\"} 0.2") != std::string::npos);
  CHECK(all.text.find("baton_namespace_weight{namespace=\"finance\"} 3") != std::string::npos);
  CHECK(all.text.find("baton_namespace_weight{namespace=\"hr\"} 1") != std::string::npos);
}
