// The executor's parts on their own, with fake callbacks instead of a store
// and a scheduler: render() of a try's templates, and rendering by field
// (hardening). LocalWorkers, SensorPokers and the Notifier have files of
// their own (local_workers_test.cpp, sensor_pokers_test.cpp,
// notifier_test.cpp); the helpers are in parts_env.h.
#include <catch2/catch.hpp>

#include "parts_env.h"

using namespace baton;
using namespace baton::executor;
using namespace baton::executor_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
// ---------------------------------------------------------------- render()

TEST_CASE("render: a shell task's command and env come from the run's params, ds and variables") {
  auto graph = compile(
      "dag: x\n"
      "params:\n"
      "  region: eu\n"
      "tasks:\n"
      "  extract:\n"
      "    command: \"echo {{ params.region }} {{ ds }} {{ var.bucket }}\"\n"
      "    env:\n"
      "      REGION: \"{{ params.region }}\"\n"
      "      DAY: \"{{ ds_nodash }}\"\n"
      "      LANG: C.UTF-8\n");
  Assignment a = assignment_of(graph, "extract", "/tmp/unused.log");
  a.ctx.params_json = R"({"region": "us"})";  // the run's params: a trigger overrode the default
  std::string why;
  REQUIRE(render(a, variables({{"bucket", "s3://landing"}}), 5s, why));
  CHECK(why.empty());
  CHECK(a.shell.command == "echo us 2026-11-21 s3://landing");
  CHECK(a.shell.ds == "2026-11-21");
  CHECK(a.shell.env == std::map<std::string, std::string>{{"DAY", "20261121"}, {"LANG", "C.UTF-8"}, {"REGION", "us"}});
}

TEST_CASE("render: a name missing at run time fails with a reason that names the field") {
  auto graph = compile(
      "dag: x\n"
      "tasks:\n"
      "  extract:\n"
      "    command: \"echo {{ var.cmd_var }}\"\n"
      "    env:\n"
      "      TOKEN: \"{{ var.api_token }}\"\n"
      "  report:\n"
      "    type: http\n"
      "    url: \"http://127.0.0.1:9/{{ ds }}\"\n"
      "    headers:\n"
      "      Authorization: \"Bearer {{ var.api_token }}\"\n");
  std::string why;

  SECTION("an env value") {
    Assignment a = assignment_of(graph, "extract", "/tmp/unused.log");
    REQUIRE_FALSE(render(a, variables({{"cmd_var", "hi"}}), 5s, why));
    INFO(why);
    CHECK(starts_with(why, "env TOKEN: "));
    CHECK(contains(why, "var.api_token"));
  }
  SECTION("the command") {
    Assignment a = assignment_of(graph, "extract", "/tmp/unused.log");
    REQUIRE_FALSE(render(a, variables({{"api_token", "s3cr3t"}}), 5s, why));
    INFO(why);
    CHECK(contains(why, "var.cmd_var"));
    CHECK(contains(why, "is missing"));
  }
  SECTION("an http header") {
    Assignment a = assignment_of(graph, "report", "/tmp/unused.log");
    REQUIRE_FALSE(render(a, variables({}), 5s, why));
    INFO(why);
    CHECK(starts_with(why, "headers.Authorization: "));
    CHECK(contains(why, "var.api_token"));
  }
}

TEST_CASE("render: a sql task's statements are rendered and its connection looked up by name") {
  auto graph = compile(
      "dag: x\n"
      "tasks:\n"
      "  load:\n"
      "    type: sql\n"
      "    connection: warehouse\n"
      "    sql: \"DELETE FROM sales WHERE day = '{{ ds }}'\"\n"
      "    timeout: 15m\n");
  Assignment a = assignment_of(graph, "load", "/tmp/x/load.log");
  RenderServices services = variables({});
  std::vector<std::string> asked;
  std::string why;

  SECTION("a connection that exists gives the URL") {
    services.connection_url = [&](const std::string&, const std::string& name) -> Result<std::string> {
      asked.push_back(name);
      return std::string("sqlite:/tmp/warehouse.db");
    };
    REQUIRE(render(a, services, 3s, why));
    CHECK(asked == std::vector<std::string>{"warehouse"});
    CHECK(a.sql.url == "sqlite:/tmp/warehouse.db");
    CHECK(a.sql.connection == "warehouse");
    CHECK(a.sql.sql == "DELETE FROM sales WHERE day = '2026-11-21'");
    CHECK(a.sql.log_path == "/tmp/x/load.log");
    CHECK(a.sql.heartbeat_interval == 3s);
    REQUIRE(a.sql.timeout);
    CHECK(*a.sql.timeout == 15min);
  }
  SECTION("no such connection: the reason says how to add it") {
    services.connection_url = [](const std::string&, const std::string&) -> Result<std::string> {
      return Error{"not_found", "no row"};
    };
    REQUIRE_FALSE(render(a, services, 3s, why));
    CHECK(why ==
          "no connection named \"warehouse\" (add it with `baton connections set warehouse URL` or PUT "
          "/api/v1/connections/warehouse)");
  }
  SECTION("another error reading the connection is passed on") {
    services.connection_url = [](const std::string&, const std::string&) -> Result<std::string> {
      return Error{"unavailable", "database is locked"};
    };
    REQUIRE_FALSE(render(a, services, 3s, why));
    CHECK(why == "connection warehouse: database is locked");
  }
}

TEST_CASE("render: an http task's method, url, headers, body and expected status") {
  auto graph = compile(
      "dag: x\n"
      "params:\n"
      "  region: eu\n"
      "tasks:\n"
      "  report:\n"
      "    type: http\n"
      "    method: POST\n"
      "    url: \"http://127.0.0.1:9000/reports/{{ params.region }}/{{ ds }}\"\n"
      "    headers:\n"
      "      Content-Type: application/json\n"
      "      X-Baton-Run: \"{{ run_id }}\"\n"
      "      Authorization: \"Bearer {{ var.token }}\"\n"
      "    body: '{\"day\": \"{{ ds }}\"}'\n"
      "    expect_status: 202\n"
      "    timeout: 30s\n");
  Assignment a = assignment_of(graph, "report", "/tmp/x/report.log");
  a.ctx.params_json = R"({"region": "eu"})";
  std::string why;
  REQUIRE(render(a, variables({{"token", "abc"}}), 2s, why));
  CHECK(a.http.method == "POST");
  CHECK(a.http.url == "http://127.0.0.1:9000/reports/eu/2026-11-21");
  CHECK(a.http.headers == std::map<std::string, std::string>{{"Authorization", "Bearer abc"},
                                                             {"Content-Type", "application/json"},
                                                             {"X-Baton-Run", "scheduled__2026-11-21T00:00:00Z"}});
  CHECK(a.http.body == R"({"day": "2026-11-21"})");
  CHECK(a.http.expect_status == std::vector<int>{202});
  REQUIRE(a.http.timeout);
  CHECK(*a.http.timeout == 30s);
  CHECK(a.http.log_path == "/tmp/x/report.log");
  CHECK(a.http.heartbeat_interval == 2s);
}

TEST_CASE("render: the values of the secret variables read become the try's secrets") {
  auto graph = compile(
      "dag: x\n"
      "tasks:\n"
      "  extract:\n"
      "    command: \"echo {{ var.bucket }} {{ var.token }}\"\n"
      "    env:\n"
      "      KEY: \"{{ var.key }}\"\n");
  RenderServices services = variables({{"bucket", "s3-landing"}, {"token", "t0k3n-abc"}, {"key", "k3y-def"},
                                       {"unused", "never-read"}});
  std::vector<std::string> asked;
  services.variable_is_secret = [&](const std::string&, const std::string& name) {
    asked.push_back(name);
    return name != "bucket";
  };
  Assignment a = assignment_of(graph, "extract", "/tmp/unused.log");
  std::string why;
  REQUIRE(render(a, services, 5s, why));
  std::vector<std::string> secrets = a.shell.secrets;
  std::sort(secrets.begin(), secrets.end());
  CHECK(secrets == std::vector<std::string>{"k3y-def", "t0k3n-abc"});
  CHECK(a.http.secrets == a.shell.secrets);
  CHECK(std::find(asked.begin(), asked.end(), "unused") == asked.end());
  // The context reads variables plainly again afterwards.
  REQUIRE(a.ctx.variable);
  CHECK(*a.ctx.variable("token") == "t0k3n-abc");
  CHECK(a.shell.secrets.size() == 2);
  SECTION("a failure's message does not quote a secret value") {
    auto bad = compile(
        "dag: x\n"
        "tasks:\n"
        "  report:\n"
        "    type: http\n"
        "    url: \"http://{{ var.token }}/x\"\n");
    Assignment b = assignment_of(bad, "report", "/tmp/unused.log");
    services.variable = [](const std::string&, const std::string&) -> std::optional<std::string> { return "bad host/t0k3n-abc"; };
    if (!render(b, services, 5s, why)) CHECK_FALSE(contains(why, "t0k3n-abc"));
  }
  SECTION("without variable_is_secret nothing is secret") {
    Assignment b = assignment_of(graph, "extract", "/tmp/unused.log");
    REQUIRE(render(b, variables({{"bucket", "b"}, {"token", "t"}, {"key", "k"}}), 5s, why));
    CHECK(b.shell.secrets.empty());
  }
}

// ---------------------------------------------------------------- hardening (SPEC §3, rendering by field)

TEST_CASE("render: hostile params stay one shell word, an escaped literal or bound value, an encoded URL part") {
  auto graph = compile(
      "dag: x\n"
      "params: {name: x}\n"
      "tasks:\n"
      "  sh:\n"
      "    command: \"echo {{ params.name }} '{{ params.name }}' \\\"{{ params.name }}\\\"\"\n"
      "    env: {NAME: '{{ params.name }}'}\n"
      "  q:\n"
      "    type: sql\n"
      "    connection: wh\n"
      "    sql: \"DELETE FROM t WHERE a = '{{ params.name }}'; INSERT INTO t VALUES ({{ params.name }})\"\n"
      "  h:\n"
      "    type: http\n"
      "    url: 'http://127.0.0.1:9000/x/{{ params.name }}?q={{ params.name }}'\n"
      "    headers: {X-Name: '{{ params.name }}'}\n"
      "    body: '{{ params.name }}'\n");
  const std::string hostile = "x'; touch pwned; \"$(id)\" `id` #";
  std::string why;
  RenderServices services = variables({});
  services.connection_url = [](const std::string&, const std::string&) -> Result<std::string> { return std::string("sqlite:/tmp/x.db"); };

  Assignment sh = assignment_of(graph, "sh", "/tmp/unused.log");
  sh.ctx.params_json = nlohmann::json{{"name", hostile}}.dump();
  REQUIRE(render(sh, services, 1s, why));
  CHECK(sh.shell.command ==
        "echo 'x'\"'\"'; touch pwned; \"$(id)\" `id` #' 'x'\"'\"'; touch pwned; \"$(id)\" `id` #' "
        "\"x'; touch pwned; \\\"\\$(id)\\\" \\`id\\` #\"");
  CHECK(sh.shell.env["NAME"] == hostile);  // data, as it is

  Assignment q = assignment_of(graph, "q", "/tmp/unused.log");
  q.ctx.params_json = sh.ctx.params_json;
  REQUIRE(render(q, services, 1s, why));
  CHECK(q.sql.sql == "DELETE FROM t WHERE a = 'x''; touch pwned; \"$(id)\" `id` #'; INSERT INTO t VALUES (?1)");
  REQUIRE(q.sql.params.size() == 1);
  CHECK(q.sql.params[0].value == hostile);

  Assignment h = assignment_of(graph, "h", "/tmp/unused.log");
  h.ctx.params_json = sh.ctx.params_json;
  REQUIRE(render(h, services, 1s, why));
  CHECK(h.http.url ==
        "http://127.0.0.1:9000/x/x%27%3B%20touch%20pwned%3B%20%22%24%28id%29%22%20%60id%60%20%23"
        "?q=x%27%3B%20touch%20pwned%3B%20%22%24%28id%29%22%20%60id%60%20%23");
  CHECK(h.http.headers["X-Name"] == hostile);
  CHECK(h.http.body == hostile);

  // CR/LF in a header; a 40 KB value in the url.
  Assignment crlf = assignment_of(graph, "h", "/tmp/unused.log");
  crlf.ctx.params_json = R"({"name":"a\r\nX-Evil: 1"})";
  REQUIRE_FALSE(render(crlf, services, 1s, why));
  CHECK(starts_with(why, "headers.X-Name: header \"X-Name\""));
  Assignment big = assignment_of(graph, "h", "/tmp/unused.log");
  big.ctx.params_json = nlohmann::json{{"name", std::string(40 * 1024, 'a')}}.dump();
  REQUIRE_FALSE(render(big, services, 1s, why));
  CHECK(starts_with(why, "url: the rendered url is longer than 8192 bytes"));
  CHECK(why.size() < 1000);
}

