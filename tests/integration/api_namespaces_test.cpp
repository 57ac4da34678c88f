// The REST API of namespaces (SPEC §8, §13): the list (configured ones, those
// DAGs name, and default) with the scheduler's live figures, one namespace,
// PUT and DELETE by admins only, audited, and every bad input refused with
// a 400 that says what, where and what is allowed, with nothing stored.
#include "api_env.h"

using namespace baton::api_test;

namespace {

std::vector<std::string> names_of(const json& items) {
  std::vector<std::string> out;
  for (auto& i : items) out.push_back(i["name"]);
  return out;
}

std::string message_of(const Reply& r) {
  return r.body.is_object() && r.body.contains("error") ? r.body["error"].value("message", "") : r.text;
}

}  // namespace

TEST_CASE("namespaces: the list holds default and every namespace a DAG names, with the defaults and live figures") {
  Env env;
  env.control->namespaces["finance"] = {.running = 3, .ready = 2, .share = 0.75, .latency_p50 = 0.2};
  auto r = env.get("/api/v1/namespaces", kViewer);
  REQUIRE(r.status == 200);
  CHECK(r.body["next_cursor"].is_null());
  REQUIRE(names_of(r.body["items"]) == std::vector<std::string>{"default", "finance"});
  CHECK(r.body["items"][0] == json{{"name", "default"},
                                   {"weight", 1.0},
                                   {"max_running_tasks", nullptr},
                                   {"folder", nullptr},
                                   {"description", ""},
                                   {"configured", false},
                                   {"running", 0},
                                   {"queued", 0},
                                   {"share", 0.0},
                                   {"latency_p50", 0.0}});
  json fin = r.body["items"][1];
  CHECK(fin["configured"] == false);
  CHECK(fin["running"] == 3);
  CHECK(fin["queued"] == 2);
  CHECK(fin["share"] == 0.75);

  // One namespace: named by a DAG, or default, without being configured.
  auto one = env.get("/api/v1/namespaces/finance", kViewer);
  REQUIRE(one.status == 200);
  CHECK(one.body == fin);
  CHECK(env.get("/api/v1/namespaces/default", kViewer).body["configured"] == false);
  auto none = env.get("/api/v1/namespaces/marketing", kViewer);
  CHECK(none.status == 404);
  CHECK(none.is_error("not_found"));
  CHECK(message_of(none).find("marketing") != std::string::npos);

  // Pages of the list.
  auto page = env.get("/api/v1/namespaces?limit=1", kViewer);
  REQUIRE(page.status == 200);
  REQUIRE(page.body["items"].size() == 1);
  auto rest = env.get("/api/v1/namespaces?limit=1&cursor=" + page.body["next_cursor"].get<std::string>(), kViewer);
  REQUIRE(rest.status == 200);
  CHECK(names_of(rest.body["items"]) == std::vector<std::string>{"finance"});
}

TEST_CASE("namespaces: PUT creates (201) and replaces (200), DELETE returns one to the defaults, all audited") {
  Env env;
  size_t audited = env.audit_size();
  auto put = env.call("PUT", "/api/v1/namespaces/team-a",
                      R"({"weight": 2.5, "max_running_tasks": 40, "folder": "team_a//dags/./", "description": "A"})");
  REQUIRE(put.status == 201);
  CHECK(put.body["name"] == "team-a");
  CHECK(put.body["weight"] == 2.5);
  CHECK(put.body["max_running_tasks"] == 40);
  CHECK(put.body["folder"] == "team_a/dags");  // normalised
  CHECK(put.body["description"] == "A");
  CHECK(put.body["configured"] == true);
  CHECK(env.get("/api/v1/namespaces/team-a", kViewer).body == put.body);

  // The body is the whole namespace: what it leaves out takes its default.
  auto again = env.call("PUT", "/api/v1/namespaces/team-a", R"({"weight": 3})");
  REQUIRE(again.status == 200);
  CHECK(again.body["weight"] == 3.0);  // an integer is a number too
  CHECK(again.body["max_running_tasks"].is_null());
  CHECK(again.body["folder"].is_null());
  CHECK(again.body["description"] == "");
  auto nulls = env.call("PUT", "/api/v1/namespaces/team-a",
                        R"({"max_running_tasks": null, "folder": null, "description": "x"})");
  REQUIRE(nulls.status == 200);
  CHECK(nulls.body["weight"] == 1.0);
  CHECK(env.call("PUT", "/api/v1/namespaces/finance", "").status == 201);  // an empty body: the defaults

  // Configured or named by a DAG, in name order.
  auto list = env.get("/api/v1/namespaces", kViewer);
  REQUIRE(list.status == 200);
  CHECK(names_of(list.body["items"]) == std::vector<std::string>{"default", "finance", "team-a"});
  CHECK(list.body["items"][1]["configured"] == true);
  CHECK(list.body["items"][2]["description"] == "x");

  store::AuditFilter sets;
  sets.action = "namespace.set";
  auto log = env.store->list_audit(sets);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 4);
  CHECK((*log)[0].actor == "ada");
  CHECK((*log)[0].target == "namespace:team-a");
  json details = json::parse((*log)[0].details);
  CHECK(details["weight"] == 2.5);
  CHECK(details["max_running_tasks"] == 40);
  CHECK(details["folder"] == "team_a/dags");
  CHECK(details["description"] == "A");
  // The audit log through the API, too.
  auto via_api = env.get("/api/v1/audit?action=namespace.set", kViewer);
  REQUIRE(via_api.status == 200);
  CHECK(via_api.body["items"].size() == 4);

  auto del = env.call("DELETE", "/api/v1/namespaces/team-a");
  CHECK(del.status == 204);
  CHECK(env.get("/api/v1/namespaces/team-a").status == 404);  // no DAG names it
  CHECK(env.call("DELETE", "/api/v1/namespaces/finance").status == 204);
  auto fin = env.get("/api/v1/namespaces/finance", kViewer);  // its DAG still names it: the defaults
  REQUIRE(fin.status == 200);
  CHECK(fin.body["configured"] == false);
  CHECK(fin.body["weight"] == 1.0);
  CHECK(env.store->get_dag("sales")->ns == "finance");
  auto gone = env.call("DELETE", "/api/v1/namespaces/finance");
  CHECK(gone.status == 404);
  CHECK(gone.is_error("not_found"));
  CHECK(env.call("DELETE", "/api/v1/namespaces/never").status == 404);
  store::AuditFilter dels;
  dels.action = "namespace.deleted";
  CHECK(env.store->list_audit(dels)->size() == 2);
  CHECK(env.audit_size() == audited + 6);
}

TEST_CASE("namespaces: viewers and operators may read but not change them") {
  Env env;
  REQUIRE(env.call("PUT", "/api/v1/namespaces/etl", R"({"weight": 2})").status == 201);
  auto namespace_entries = [&] {
    size_t n = 0;
    for (const char* action : {"namespace.set", "namespace.deleted"}) {
      store::AuditFilter f;
      f.action = action;
      n += env.store->list_audit(f)->size();
    }
    return n;
  };
  size_t audited = namespace_entries();
  for (const char* token : {kViewer, kOperator}) {
    INFO(token);
    auto put = env.call("PUT", "/api/v1/namespaces/etl", R"({"weight": 5})", token);
    CHECK(put.status == 403);
    CHECK(put.is_error("permission_denied"));
    CHECK(env.call("PUT", "/api/v1/namespaces/new", R"({"weight": 5})", token).status == 403);
    CHECK(env.call("DELETE", "/api/v1/namespaces/etl", "", token).status == 403);
    CHECK(env.get("/api/v1/namespaces/etl", token).status == 200);
  }
  CHECK(env.call("PUT", "/api/v1/namespaces/etl", R"({"weight": 5})", kWorker).status == 403);
  CHECK(env.get("/api/v1/namespaces", nullptr).status == 401);
  CHECK(env.store->get_namespace("etl")->weight == 2);
  CHECK_FALSE(env.store->get_namespace("new").ok());
  CHECK(namespace_entries() == audited);  // (the 401 is audited, as a failed authentication)
}

TEST_CASE("namespaces: every bad input gets a 400 saying what, where and what is allowed; nothing is stored") {
  Env env;
  REQUIRE(env.call("PUT", "/api/v1/namespaces/etl", R"({"weight": 2, "folder": "etl"})").status == 201);
  size_t audited = env.audit_size();
  struct Case {
    std::string path, body, says;
  };
  std::string long_folder(1025, 'a');
  std::string long_description(4097, 'd');
  std::vector<Case> cases = {
      // weight: a number from 0.01 to 1000
      {"etl", R"({"weight": 0})", "a number from 0.01 to 1000"},
      {"etl", R"({"weight": 0.009})", "`weight`"},
      {"etl", R"({"weight": -1})", "`weight`"},
      {"etl", R"({"weight": 1000.5})", "`weight`"},
      {"etl", R"({"weight": 1e999})", "malformed JSON body"},
      {"etl", R"({"weight": "2"})", "`weight`"},
      {"etl", R"({"weight": true})", "`weight`"},
      {"etl", R"({"weight": [1]})", "`weight`"},
      // max_running_tasks: an integer from 1 to 1000000, or null
      {"etl", R"({"max_running_tasks": 0})", "an integer from 1 to 1000000"},
      {"etl", R"({"max_running_tasks": 1000001})", "`max_running_tasks`"},
      {"etl", R"({"max_running_tasks": -3})", "`max_running_tasks`"},
      {"etl", R"({"max_running_tasks": 2.5})", "`max_running_tasks`"},
      {"etl", R"({"max_running_tasks": "4"})", "`max_running_tasks`"},
      {"etl", R"({"max_running_tasks": 18446744073709551615})", "`max_running_tasks`"},
      // folder: a relative path under the DAGs folder
      {"etl", R"({"folder": "/etc"})", "starts with /"},
      {"etl", R"({"folder": "a/../../b"})", "has a .. component"},
      {"etl", R"({"folder": ".."})", "has a .. component"},
      {"etl", R"({"folder": "a/.."})", "has a .. component"},
      {"etl", R"({"folder": "a\\b"})", "backslash"},
      {"etl", R"({"folder": "a\u0000b"})", "control character"},
      {"etl", R"({"folder": "a\nb"})", "control character"},
      {"etl", R"({"folder": ""})", "is empty"},
      {"etl", R"({"folder": "."})", "the DAGs folder itself"},
      {"etl", R"({"folder": "./"})", "the DAGs folder itself"},
      {"etl", R"({"folder": ")" + long_folder + R"("})", "longer than 1024 bytes"},
      {"etl", R"({"folder": 7})", "`folder`"},
      // description: at most 4096 bytes of text
      {"etl", R"({"description": ")" + long_description + R"("})", "longer than 4096 bytes"},
      {"etl", R"({"description": 5})", "`description`"},
      // the body
      {"etl", R"({"weight": 2, "colour": "red"})", "unknown field `colour`"},
      {"etl", R"([1, 2])", "must be a JSON object"},
      {"etl", R"({"weight": )", "malformed JSON"},
      // the name: the rule of a DAG file's `namespace:`
      {"-etl", R"({"weight": 2})", "invalid namespace"},
      {".etl", R"({"weight": 2})", "starting with a letter or digit"},
      {"_etl", R"({"weight": 2})", "invalid namespace"},
      {"a%20b", R"({"weight": 2})", "invalid namespace"},
      {"a%2Cb", R"({"weight": 2})", "invalid namespace"},
      {std::string(201, 'n'), R"({"weight": 2})", "1 to 200"},
  };
  for (auto& c : cases) {
    INFO(c.path << " " << c.body.substr(0, 120));
    auto r = env.call("PUT", "/api/v1/namespaces/" + c.path, c.body);
    CHECK(r.status == 400);
    CHECK(r.is_error("invalid_argument"));
    CHECK(message_of(r).find(c.says) != std::string::npos);
  }
  // Nothing changed: the one stored is as it was, no other was made, nothing audited.
  auto etl = env.store->get_namespace("etl");
  REQUIRE(etl.ok());
  CHECK(etl->weight == 2);
  CHECK(etl->folder == "etl");
  CHECK_FALSE(etl->max_running_tasks);
  CHECK(env.store->list_namespaces()->size() == 1);
  CHECK(env.audit_size() == audited);

  // The edges are allowed.
  CHECK(env.call("PUT", "/api/v1/namespaces/lo", R"({"weight": 0.01, "max_running_tasks": 1})").status == 201);
  CHECK(env.call("PUT", "/api/v1/namespaces/hi", R"({"weight": 1000, "max_running_tasks": 1000000})").status == 201);
  CHECK(env.call("PUT", "/api/v1/namespaces/" + std::string(200, 'n'),
                 R"({"folder": ")" + std::string(1024, 'f') + R"(", "description": ")" + std::string(4096, 'd') +
                     R"("})")
            .status == 201);
  CHECK(env.store->get_namespace("lo")->weight == 0.01);
}

TEST_CASE("namespaces: the routes are in the OpenAPI document, weight as a number") {
  Env env;
  auto doc = env.get("/api/v1/openapi.json", nullptr);
  REQUIRE(doc.status == 200);
  auto& paths = doc.body["paths"];
  CHECK(paths["/namespaces"].contains("get"));
  CHECK(paths["/namespaces/{name}"].contains("get"));
  CHECK(paths["/namespaces/{name}"].contains("put"));
  CHECK(paths["/namespaces/{name}"].contains("delete"));
  json weight = paths["/namespaces/{name}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
                     ["properties"]["weight"];
  CHECK(weight["type"] == "number");
  CHECK(weight["minimum"] == 0.01);
  CHECK(weight["maximum"] == 1000.0);
  CHECK(doc.body["components"]["schemas"].contains("Namespace"));
}
