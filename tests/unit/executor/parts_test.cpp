// The executor's parts on their own, with fake callbacks instead of a store
// and a scheduler: render() of a try's templates, LocalWorkers running real
// shell tries, SensorPokers' single poke, and the Notifier's delivery pass
// with its backoff (on a FakeClock). Real processes are short; waiting for a
// worker thread's callback has a timeout so a hang fails instead of blocking.
#include <catch2/catch.hpp>
#include <httplib.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/core/clock.h"
#include "baton/dsl/compiler.h"
#include "baton/executor/assignment.h"
#include "baton/executor/local_workers.h"
#include "baton/executor/notifier.h"
#include "baton/executor/sensor_pokers.h"

using namespace baton;
using namespace baton::executor;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Long enough for a loaded machine; a try that hangs fails the test after it.
constexpr auto kWait = 10s;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// A temporary folder per test, removed at the end.
struct Dir {
  fs::path path;
  Dir() {
    char tmpl[] = "/tmp/baton_parts_test_XXXXXX";
    char* made = ::mkdtemp(tmpl);
    REQUIRE(made != nullptr);
    path = fs::canonical(made);
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

dsl::DagGraphPtr compile(const std::string& yaml) {
  auto r = dsl::compile_dag(yaml, "x.yaml");
  std::string errors;
  for (auto& e : r.errors) errors += e.format() + "\n";
  INFO(errors);
  REQUIRE(r.graph);
  return r.graph;
}

const TimePoint kLogicalDate = *parse_utc("2026-11-21T00:00:00Z");

// An assignment of one task of a compiled DAG, as the scheduler makes it
// (templates not rendered yet), logging to `log_path`.
Assignment assignment_of(const dsl::DagGraphPtr& graph, const std::string& task, const fs::path& log_path,
                         long long ti_id = 7) {
  const int i = graph->index_of(task);
  REQUIRE(i >= 0);
  const dsl::TaskSpec& spec = graph->spec().tasks[static_cast<size_t>(i)];
  Assignment a;
  a.run_pk = 11;
  a.ti = i;
  a.ti_id = ti_id;
  a.attempt_token = "tok-" + std::to_string(ti_id);
  a.type = spec.type;
  a.command_template = spec.command.text;
  a.env_templates = spec.env;
  a.graph = graph;
  a.spec = &spec;
  a.ctx.logical_date = kLogicalDate;
  a.ctx.data_interval_start = kLogicalDate;
  a.ctx.data_interval_end = kLogicalDate + 24h;
  a.ctx.run_id = "scheduled__2026-11-21T00:00:00Z";
  a.ctx.dag_id = graph->spec().dag_id;
  a.ctx.task_id = task;
  a.ctx.params_json = "{}";
  a.shell.dag_id = graph->spec().dag_id;
  a.shell.run_id = a.ctx.run_id;
  a.shell.task_id = task;
  a.shell.logical_date = format_utc(kLogicalDate);
  a.shell.data_interval_start = format_utc(kLogicalDate);
  a.shell.data_interval_end = format_utc(kLogicalDate + 24h);
  a.shell.skip_exit_code = spec.skip_exit_code;
  a.shell.timeout = spec.timeout;
  a.shell.kill_grace = spec.kill_grace;
  a.shell.log_path = log_path.string();
  a.shell.heartbeat_interval = 50ms;
  return a;
}

RenderServices variables(std::map<std::string, std::string> vars) {
  RenderServices s;
  s.variable = [vars](const std::string&, const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  s.connection_url = [](const std::string&, const std::string& name) -> Result<std::string> {
    return Error::not_found("connection " + name);
  };
  return s;
}

}  // namespace

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

// ------------------------------------------------------------ LocalWorkers

namespace {

// LocalWorkers with recording callbacks. `workers` is the last member, so it
// is stopped (and its threads joined) before what the callbacks touch goes.
struct Workers {
  Dir dir;
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::map<std::string, std::string> vars;
  std::map<long long, std::string> stored_checkpoints;  // read by load_checkpoint

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Finished> finished;                                       // guarded by mu
  std::vector<std::tuple<long long, std::string, std::string>> saved;  // guarded by mu
  int heartbeats = 0;                                                   // guarded by mu
  std::vector<std::string> heartbeat_tokens;                            // guarded by mu

  LocalWorkers workers{clock, (dir.path / "logs").string(), 50ms, services()};

  LocalWorkerServices services() {
    LocalWorkerServices s;
    s.render.variable = [this](const std::string&, const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
    s.render.connection_url = [](const std::string&, const std::string&) -> Result<std::string> { return Error::not_found("none"); };
    s.load_checkpoint = [this](long long ti_id) -> std::optional<std::string> {
      auto it = stored_checkpoints.find(ti_id);
      if (it == stored_checkpoints.end()) return std::nullopt;
      return it->second;
    };
    s.save_checkpoint = [this](long long ti_id, const std::string& token, const std::string& cp) {
      std::lock_guard lock(mu);
      saved.emplace_back(ti_id, token, cp);
    };
    s.heartbeat = [this](long long, int, const std::string& token, std::optional<TimePoint>,
                         const std::optional<ProgressLine>&) {
      std::lock_guard lock(mu);
      ++heartbeats;
      heartbeat_tokens.push_back(token);
      cv.notify_all();
    };
    s.finished = [this](const Finished& f) {
      std::lock_guard lock(mu);
      finished.push_back(f);
      cv.notify_all();
    };
    return s;
  }

  // A shell task `extract` running `command` (its template: rendered by the
  // worker), logging under the test's folder.
  Assignment shell_try(const std::string& command, long long ti_id = 7) {
    auto graph = compile(
        "dag: x\n"
        "tasks:\n"
        "  extract:\n"
        "    command: 'true'\n"  // replaced below by the test's command
        "    env:\n"
        "      GREETING: \"{{ var.greeting }}\"\n");
    if (!vars.count("greeting")) vars["greeting"] = "hello";
    Assignment a = assignment_of(graph, "extract", log_of(ti_id), ti_id);
    a.command_template = command;
    return a;
  }
  fs::path log_of(long long ti_id) const {
    return dir.path / "logs" / "x" / ("ti-" + std::to_string(ti_id)) / "1.log";
  }

  // Waits until `n` tries have finished; false after kWait.
  bool wait_finished(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, [&] { return finished.size() >= n; });
  }
  // Waits until a try is running (it sent a heartbeat), or is over already.
  bool wait_heartbeat() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, [&] { return heartbeats > 0 || !finished.empty(); });
  }
  Finished only_finished() {
    std::lock_guard lock(mu);
    REQUIRE(finished.size() == 1);
    return finished[0];
  }
};

}  // namespace

TEST_CASE("LocalWorkers: a shell try that exits 0 succeeds and its output is in the log at log_path") {
  Workers w;
  w.workers.start(1);
  w.workers.hand({w.shell_try("echo hi $GREETING")});
  REQUIRE(w.wait_finished(1));
  Finished f = w.only_finished();
  INFO(f.reason);
  CHECK(f.outcome == TryOutcome::success);
  CHECK(f.exit_code == 0);
  CHECK(f.run_pk == 11);
  CHECK(f.attempt_token == "tok-7");
  CHECK(f.worker_slot);
  const std::string log = slurp(w.log_of(7));
  CHECK(contains(log, "hi hello\n"));
  CHECK(f.log_bytes == static_cast<long long>(fs::file_size(w.log_of(7))));
}

TEST_CASE("LocalWorkers: exit 3 fails the try with exit code 3") {
  Workers w;
  w.workers.start(1);
  w.workers.hand({w.shell_try("echo about to fail; exit 3")});
  REQUIRE(w.wait_finished(1));
  Finished f = w.only_finished();
  CHECK(f.outcome == TryOutcome::failed);
  CHECK(f.exit_code == 3);
  CHECK(f.reason == "exit code 3");
  CHECK(contains(slurp(w.log_of(7)), "about to fail"));
}

TEST_CASE("LocalWorkers: a try killed after it was expected but before a worker took it runs nothing") {
  Workers w;
  const fs::path marker = w.dir.path / "ran";
  w.workers.start(1);
  w.workers.expect(7);
  w.workers.kill(7);
  w.workers.hand({w.shell_try("touch " + marker.string() + "; sleep 30")});
  REQUIRE(w.wait_finished(1));
  Finished f = w.only_finished();
  CHECK(f.outcome == TryOutcome::failed);
  CHECK(f.reason == "canceled");
  CHECK_FALSE(f.exit_code);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("LocalWorkers: a running try killed by its task instance id fails as canceled") {
  Workers w;
  w.workers.start(1);
  w.workers.expect(7);
  w.workers.hand({w.shell_try("echo started; sleep 30")});
  REQUIRE(w.wait_heartbeat());
  auto t0 = std::chrono::steady_clock::now();
  w.workers.kill(8);  // another task instance: no effect
  w.workers.kill(7);
  REQUIRE(w.wait_finished(1));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);  // SIGTERM ended it, not the 30 s
  Finished f = w.only_finished();
  CHECK(f.outcome == TryOutcome::failed);
  CHECK(f.reason == "canceled");
  CHECK_FALSE(f.exit_code);  // killed by a signal
  CHECK(contains(slurp(w.log_of(7)), "started"));
  std::lock_guard lock(w.mu);
  CHECK(std::all_of(w.heartbeat_tokens.begin(), w.heartbeat_tokens.end(),
                    [](const std::string& t) { return t == "tok-7"; }));
}

TEST_CASE("LocalWorkers: stopping with no grace kills a running try as shutdown; queued tries are not run") {
  Workers w;
  const fs::path marker = w.dir.path / "second-ran";
  w.workers.start(1);
  w.workers.expect(7);
  w.workers.expect(8);
  std::vector<Assignment> tries;
  tries.push_back(w.shell_try("sleep 30", 7));
  tries.push_back(w.shell_try("touch " + marker.string(), 8));
  w.workers.hand(std::move(tries));
  REQUIRE(w.wait_heartbeat());
  auto t0 = std::chrono::steady_clock::now();
  w.workers.set_stopping();
  w.workers.stop(0s);  // returns when the worker threads are gone
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  Finished f = w.only_finished();  // the queued try is recovered at the next start, not reported
  CHECK(f.attempt_token == "tok-7");
  CHECK(f.outcome == TryOutcome::shutdown);
  CHECK(f.reason == "shutdown");
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("LocalWorkers: a try that ends within the stop grace finishes normally") {
  Workers w;
  w.workers.start(1);
  w.workers.hand({w.shell_try("echo tick; sleep 0.3; echo done")});
  REQUIRE(w.wait_heartbeat());
  w.workers.set_stopping();
  w.workers.stop(std::chrono::seconds(20));
  Finished f = w.only_finished();
  CHECK(f.outcome == TryOutcome::success);
  CHECK(contains(slurp(w.log_of(7)), "done"));
}

TEST_CASE("LocalWorkers: the stored checkpoint is handed in and the task's new one is saved") {
  Workers w;
  w.stored_checkpoints[7] = "step-1";
  w.workers.start(1);
  w.workers.hand({w.shell_try(
      "echo \"resuming from $(cat \"$BATON_CHECKPOINT_FILE\")\"; "
      "printf step-2 > \"$BATON_CHECKPOINT_FILE.tmp\" && mv \"$BATON_CHECKPOINT_FILE.tmp\" \"$BATON_CHECKPOINT_FILE\"")});
  REQUIRE(w.wait_finished(1));
  Finished f = w.only_finished();
  INFO(f.reason);
  CHECK(f.outcome == TryOutcome::success);
  CHECK(contains(slurp(w.log_of(7)), "resuming from step-1"));
  std::lock_guard lock(w.mu);
  REQUIRE_FALSE(w.saved.empty());
  CHECK(w.saved.back() == std::make_tuple(7LL, std::string("tok-7"), std::string("step-2")));
  for (auto& [ti_id, token, cp] : w.saved) {
    CHECK(ti_id == 7);
    CHECK(token == "tok-7");
  }
}

TEST_CASE("LocalWorkers: a try whose templates cannot be rendered fails with the reason, also in its log") {
  Workers w;
  Assignment a = w.shell_try("echo never");
  w.vars.erase("greeting");
  w.workers.start(1);
  w.workers.hand({a});
  REQUIRE(w.wait_finished(1));
  Finished f = w.only_finished();
  CHECK(f.outcome == TryOutcome::failed);
  CHECK(starts_with(f.reason, "env GREETING: "));
  CHECK(contains(f.reason, "var.greeting"));
  CHECK_FALSE(f.exit_code);
  const std::string log = slurp(w.log_of(7));
  CHECK(contains(log, "[baton] " + f.reason));
  CHECK_FALSE(contains(log, "never"));
}

TEST_CASE("LocalWorkers: a noop try succeeds without running; a sensor is not a worker's task") {
  Workers w;
  auto graph = compile(
      "dag: x\n"
      "tasks:\n"
      "  nothing: {type: noop}\n"
      "  wait: {type: sensor.file, path: /tmp/nowhere}\n");
  w.workers.start(2);
  w.workers.hand({assignment_of(graph, "nothing", w.log_of(1), 1), assignment_of(graph, "wait", w.log_of(2), 2)});
  REQUIRE(w.wait_finished(2));
  std::lock_guard lock(w.mu);
  std::map<std::string, Finished> by_token;
  for (auto& f : w.finished) by_token[f.attempt_token] = f;
  REQUIRE(by_token.size() == 2);
  CHECK(by_token["tok-1"].outcome == TryOutcome::success);
  CHECK_FALSE(fs::exists(w.log_of(1)));
  CHECK(by_token["tok-2"].outcome == TryOutcome::failed);
  CHECK(by_token["tok-2"].reason == "task type sensor.file is not supported yet");
}

// ------------------------------------------------------------ SensorPokers

namespace {

struct Pokers {
  Dir dir;  // the DAGs folder
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::map<std::string, std::string> vars;
  Result<std::optional<TaskState>> task_state = std::optional<TaskState>();
  std::vector<std::tuple<std::string, std::string, TimePoint>> asked;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Finished> finished;  // guarded by mu

  SensorPokers pokers{clock, dir.path.string(), services()};

  SensorServices services() {
    SensorServices s;
    s.variable = [this](const std::string&, const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
    s.task_state = [this](const std::string& dag, const std::string& task, TimePoint at) {
      asked.emplace_back(dag, task, at);
      return task_state;
    };
    s.finished = [this](const Finished& f) {
      std::lock_guard lock(mu);
      finished.push_back(f);
      cv.notify_all();
    };
    return s;
  }
  fs::path log() const { return dir.path / "logs" / "sensor.log"; }
};

const char* kSensors =
    "dag: x\n"
    "tasks:\n"
    "  wait_relative:\n"
    "    type: sensor.file\n"
    "    path: \"exports/orders_{{ ds_nodash }}.csv\"\n"
    "  wait_absolute:\n"
    "    type: sensor.file\n"
    "    path: \"{{ var.landing }}/ready.flag\"\n"
    "  wait_load:\n"
    "    type: sensor.task\n"
    "    dag: daily_sales\n"
    "    task: load\n"
    "    logical_date_offset: -2h\n"
    "  wait_report:\n"
    "    type: sensor.http\n"
    "    url: \"{{ var.base }}/reports/{{ ds }}\"\n"
    "    expect_status: 200\n";

}  // namespace

TEST_CASE("SensorPokers: sensor.file with a relative path looks in the DAGs folder") {
  Pokers p;
  auto graph = compile(kSensors);
  Assignment a = assignment_of(graph, "wait_relative", p.log());
  const fs::path file = p.dir.path / "exports" / "orders_20261121.csv";

  Finished f = p.pokers.poke_now(a);
  CHECK(f.outcome == TryOutcome::reschedule);
  CHECK(f.reason == "file " + file.string() + " does not exist yet");
  CHECK_FALSE(f.worker_slot);
  CHECK(f.attempt_token == "tok-7");
  CHECK(contains(slurp(p.log()), "[baton] 2026-11-22T10:00:00Z poke: file " + file.string() + " does not exist yet\n"));

  fs::create_directories(file.parent_path());
  std::ofstream(file) << "order_id\n";
  p.clock.advance(60s);
  f = p.pokers.poke_now(a);
  CHECK(f.outcome == TryOutcome::success);
  CHECK(f.reason.empty());
  CHECK(contains(slurp(p.log()), "[baton] 2026-11-22T10:01:00Z poke: file " + file.string() + " exists\n"));
}

TEST_CASE("SensorPokers: sensor.file with an absolute path, and a path that cannot be rendered") {
  Pokers p;
  Dir landing;
  auto graph = compile(kSensors);
  Assignment a = assignment_of(graph, "wait_absolute", p.log());

  SECTION("absolute: not taken from the DAGs folder") {
    p.vars["landing"] = landing.path.string();
    std::ofstream(p.dir.path / "ready.flag") << "";  // in the DAGs folder: not the one looked for
    Finished f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::reschedule);
    CHECK(f.reason == "file " + (landing.path / "ready.flag").string() + " does not exist yet");
    std::ofstream(landing.path / "ready.flag") << "";
    CHECK(p.pokers.poke_now(a).outcome == TryOutcome::success);
  }
  SECTION("a missing variable fails the sensor, and says so in the log") {
    Finished f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::failed);
    CHECK(starts_with(f.reason, "path: "));
    CHECK(contains(f.reason, "var.landing"));
    CHECK(contains(slurp(p.log()), "poke: " + f.reason));
  }
}

TEST_CASE("SensorPokers: sensor.file looks only under sensor_roots, after .. and links") {
  Pokers p;
  Dir landing;
  auto graph = compile(kSensors);
  Assignment a = assignment_of(graph, "wait_absolute", p.log());
  auto refused = [&](const std::string& folder) {
    p.vars["landing"] = folder;
    Finished f = p.pokers.poke_now(a);
    INFO(f.reason);
    CHECK(f.outcome == TryOutcome::failed);
    CHECK(contains(f.reason, "is outside sensor_roots (" + p.dir.path.string() + ", /tmp)"));
    CHECK(contains(slurp(p.log()), f.reason));
    return f;
  };
  SECTION("an absolute path elsewhere") {
    Finished f = refused("/etc");
    CHECK(starts_with(f.reason, "path /etc/ready.flag is outside"));
  }
  SECTION("`..` out of /tmp") { refused(landing.path.string() + "/../../etc"); }
  SECTION("a link in /tmp to a folder elsewhere, and a link to a file elsewhere") {
    fs::create_directory_symlink("/etc", landing.path / "etc_link");
    Finished f = refused((landing.path / "etc_link").string());
    CHECK(contains(f.reason, "(/etc/ready.flag once resolved)"));
    fs::create_symlink("/etc/passwd", landing.path / "ready.flag");
    refused(landing.path.string());
  }
  SECTION("under /tmp and under the DAGs folder, links that stay inside, are fine") {
    p.vars["landing"] = landing.path.string();
    CHECK(p.pokers.poke_now(a).outcome == TryOutcome::reschedule);
    fs::create_directories(p.dir.path / "inbox");
    fs::create_directory_symlink(p.dir.path / "inbox", landing.path / "inbox_link");
    std::ofstream(p.dir.path / "inbox" / "ready.flag") << "";
    p.vars["landing"] = (landing.path / "inbox_link").string();
    CHECK(p.pokers.poke_now(a).outcome == TryOutcome::success);
  }
  SECTION("roots given: only those") {
    SensorPokers only{p.clock, p.dir.path.string(), p.services(), {(landing.path / "ok").string()}};
    fs::create_directories(landing.path / "ok");
    p.vars["landing"] = (landing.path / "ok").string();
    CHECK(only.poke_now(a).outcome == TryOutcome::reschedule);
    p.vars["landing"] = landing.path.string();
    Finished f = only.poke_now(a);
    CHECK(f.outcome == TryOutcome::failed);
    CHECK(contains(f.reason, "outside sensor_roots (" + (landing.path / "ok").string() + ")"));
  }
}

TEST_CASE("SensorPokers: the value of a secret variable is masked in the reason and the log") {
  Pokers p;
  auto graph = compile(kSensors);
  Assignment a = assignment_of(graph, "wait_absolute", p.log());
  p.vars["landing"] = "/tmp/s3cr3t-landing";
  SensorServices s = p.services();
  s.variable_is_secret = [](const std::string&, const std::string&) { return true; };
  SensorPokers pokers{p.clock, p.dir.path.string(), s};
  Finished f = pokers.poke_now(a);
  CHECK(f.outcome == TryOutcome::reschedule);
  CHECK(f.reason == "file ***/ready.flag does not exist yet");
  CHECK_FALSE(contains(slurp(p.log()), "s3cr3t"));
}

TEST_CASE("SensorPokers: sensor.task asks for the target's state at the offset logical date") {
  Pokers p;
  auto graph = compile(kSensors);
  Assignment a = assignment_of(graph, "wait_load", p.log());
  const std::string what = "task load of DAG daily_sales for logical date 2026-11-20T22:00:00Z";
  Finished f;

  SECTION("success") {
    p.task_state = std::optional<TaskState>(TaskState::success);
    f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::success);
    CHECK(contains(slurp(p.log()), "poke: " + what + " is success\n"));
  }
  SECTION("skipped counts as done") {
    p.task_state = std::optional<TaskState>(TaskState::skipped);
    f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::success);
  }
  SECTION("still running") {
    p.task_state = std::optional<TaskState>(TaskState::running);
    f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::reschedule);
    CHECK(f.reason == what + " is running");
    CHECK(contains(slurp(p.log()), "poke: " + what + " is running\n"));
  }
  SECTION("failed is not success: the sensor keeps waiting") {
    p.task_state = std::optional<TaskState>(TaskState::failed);
    f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::reschedule);
    CHECK(f.reason == what + " is failed");
  }
  SECTION("no such run or task yet") {
    f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::reschedule);
    CHECK(f.reason == what + ": no such run or task yet");
  }
  SECTION("the store could not be read") {
    p.task_state = Error{"unavailable", "database is locked"};
    f = p.pokers.poke_now(a);
    CHECK(f.outcome == TryOutcome::reschedule);
    CHECK(f.reason == "reading " + what + ": database is locked");
  }
  REQUIRE(p.asked.size() == 1);
  CHECK(std::get<0>(p.asked[0]) == "daily_sales");
  CHECK(std::get<1>(p.asked[0]) == "load");
  CHECK(std::get<2>(p.asked[0]) == kLogicalDate - 2h);
  CHECK_FALSE(f.worker_slot);
}

TEST_CASE("SensorPokers: sensor.http succeeds on the expected status, otherwise waits with the answer as reason") {
  httplib::Server http;
  std::atomic<int> status{404};
  http.Get(R"(/reports/(.*))", [&](const httplib::Request&, httplib::Response& res) {
    res.status = status.load();
    res.set_content("report", "text/plain");
  });
  const int port = http.bind_to_any_port("127.0.0.1");
  std::thread server([&] { http.listen_after_bind(); });
  while (!http.is_running()) std::this_thread::sleep_for(1ms);

  Pokers p;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  p.vars["base"] = base;
  auto graph = compile(kSensors);
  Assignment a = assignment_of(graph, "wait_report", p.log());
  Finished first = p.pokers.poke_now(a);
  status = 200;
  Finished second = p.pokers.poke_now(a);
  http.stop();
  server.join();

  CHECK(first.outcome == TryOutcome::reschedule);
  INFO(first.reason);
  CHECK(starts_with(first.reason, "GET " + base + "/reports/2026-11-21: "));
  CHECK(contains(first.reason, "404"));
  CHECK(second.outcome == TryOutcome::success);
}

TEST_CASE("SensorPokers: a poke handed to a poker thread reports through finished, with the log's size") {
  Pokers p;
  auto graph = compile(kSensors);
  p.pokers.start(2);
  p.pokers.poke(assignment_of(graph, "wait_relative", p.log()));
  std::unique_lock lock(p.mu);
  REQUIRE(p.cv.wait_for(lock, kWait, [&] { return !p.finished.empty(); }));
  const Finished f = p.finished[0];
  lock.unlock();
  p.pokers.stop();
  CHECK(f.outcome == TryOutcome::reschedule);
  CHECK(contains(f.reason, "does not exist yet"));
  CHECK(f.log_bytes == static_cast<long long>(fs::file_size(p.log())));
  CHECK(f.log_bytes > 0);
}

// ---------------------------------------------------------------- Notifier

namespace {

// An outbox in memory: due() returns the pending items whose time has come,
// update() writes an item back and records it.
struct Outbox {
  Dir dir;  // where commands run
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<OutboxItem> items;    // guarded by mu
  std::vector<OutboxItem> updates;  // guarded by mu
  std::vector<TimePoint> asked_at;  // guarded by mu

  OutboxItem& add(const std::string& command, const std::string& payload = R"({"event":"on_failure"})") {
    OutboxItem n;
    n.id = static_cast<long long>(items.size()) + 1;
    n.event = "on_failure";
    n.dag_id = "daily_sales";
    n.target = {NotificationTarget::Kind::command, command};
    n.payload = payload;
    n.next_attempt_at = clock.now();
    items.push_back(n);
    return items.back();
  }

  Notifier make(NotifierOptions o) {
    o.working_dir = dir.path.string();
    return Notifier(
        clock, o,
        [this](TimePoint now, int limit) -> Result<std::vector<OutboxItem>> {
          std::lock_guard lock(mu);
          asked_at.push_back(now);
          std::vector<OutboxItem> due;
          for (auto& n : items)
            if (n.state == "pending" && n.next_attempt_at <= now && static_cast<int>(due.size()) < limit)
              due.push_back(n);
          return due;
        },
        [this](const OutboxItem& n) -> Status {
          std::lock_guard lock(mu);
          for (auto& i : items)
            if (i.id == n.id) i = n;
          updates.push_back(n);
          cv.notify_all();
          return {};
        });
  }
};

NotifierOptions options(int attempts, Duration backoff) {
  NotifierOptions o;
  o.attempts = attempts;
  o.backoff = backoff;
  o.timeout = 5s;
  return o;
}

}  // namespace

TEST_CASE("Notifier: a failing command is retried with a doubling backoff, then marked failed") {
  Outbox box;
  box.add("exit 1");
  Notifier n = box.make(options(3, 10s));
  const TimePoint t0 = box.clock.now();

  n.deliver_due();
  REQUIRE(box.updates.size() == 1);
  OutboxItem u = box.updates.back();
  CHECK(u.id == 1);
  CHECK(u.attempts == 1);
  CHECK(u.state == "pending");
  REQUIRE(u.last_error);
  CHECK(contains(*u.last_error, "exited 1"));
  CHECK(u.next_attempt_at == t0 + 10s);

  // Not due yet: nothing is tried.
  box.clock.advance(9s);
  n.deliver_due();
  CHECK(box.updates.size() == 1);

  box.clock.advance(1s);
  n.deliver_due();
  REQUIRE(box.updates.size() == 2);
  u = box.updates.back();
  CHECK(u.attempts == 2);
  CHECK(u.state == "pending");
  CHECK(u.next_attempt_at == t0 + 10s + 20s);

  box.clock.advance(20s);
  n.deliver_due();
  REQUIRE(box.updates.size() == 3);
  u = box.updates.back();
  CHECK(u.attempts == 3);
  CHECK(u.state == "failed");
  REQUIRE(u.last_error);
  CHECK(contains(*u.last_error, "exited 1"));

  // Failed for good: never tried again.
  box.clock.advance(std::chrono::hours(1));
  n.deliver_due();
  CHECK(box.updates.size() == 3);
}

TEST_CASE("Notifier: the backoff is capped at 5 minutes") {
  Outbox box;
  box.add("exit 2");
  Notifier n = box.make(options(10, 2min));
  std::vector<Duration> delays;
  for (int i = 0; i < 3; ++i) {
    const TimePoint now = box.clock.now();
    n.deliver_due();
    REQUIRE(box.updates.size() == static_cast<size_t>(i + 1));
    delays.push_back(box.updates.back().next_attempt_at - now);
    box.clock.set(box.updates.back().next_attempt_at);
  }
  CHECK(delays == std::vector<Duration>{2min, 4min, 5min});
  CHECK(box.updates.back().state == "pending");
}

TEST_CASE("Notifier: a command that exits 0 is sent, with the payload on its standard input, in working_dir") {
  Outbox box;
  const std::string payload = R"({"event":"on_failure","dag_id":"daily_sales","reason":"exit code 3"})";
  OutboxItem& item = box.add("cat > delivered.json", payload);
  item.attempts = 1;  // failed once before
  item.last_error = "command exited 1";
  Notifier n = box.make(options(5, 1s));
  n.deliver_due();
  REQUIRE(box.updates.size() == 1);
  const OutboxItem u = box.updates.back();
  CHECK(u.state == "sent");
  CHECK(u.attempts == 2);
  CHECK_FALSE(u.last_error);
  CHECK(slurp(box.dir.path / "delivered.json") == payload);
  // Sent: not delivered again.
  box.clock.advance(std::chrono::hours(1));
  n.deliver_due();
  CHECK(box.updates.size() == 1);
}

TEST_CASE("Notifier: the thread delivers what is due when kicked") {
  Outbox box;
  box.add("cat > kicked.json", R"({"n":1})");
  auto o = options(5, 1s);
  o.poll = std::chrono::hours(1);  // only the kick wakes it
  Notifier n = box.make(o);
  n.start();
  n.kick();
  {
    std::unique_lock lock(box.mu);
    REQUIRE(box.cv.wait_for(lock, kWait, [&] { return !box.updates.empty(); }));
    CHECK(box.updates[0].state == "sent");
    CHECK(box.asked_at.front() == box.clock.now());
  }
  n.stop();
  CHECK(slurp(box.dir.path / "kicked.json") == R"({"n":1})");
}

// ---------------------------------------------------------------- hardening (SPEC §3, rendering by field)

TEST_CASE("Notifier: a webhook whose URL can never be delivered fails for good at once, with the reason") {
  Outbox box;
  OutboxItem& huge = box.add("");
  huge.target = {NotificationTarget::Kind::webhook, "http://127.0.0.1:9/" + std::string(100 * 1024, 'a')};
  OutboxItem& ftp = box.add("");
  ftp.target = {NotificationTarget::Kind::webhook, "ftp://127.0.0.1/hook"};
  Notifier n = box.make(options(5, 1s));
  n.deliver_due();  // a std::regex overflowed the stack here
  REQUIRE(box.updates.size() == 2);
  for (auto& u : box.updates) {
    CHECK(u.state == "failed");
    CHECK(u.attempts == 1);
    REQUIRE(u.last_error);
    CHECK(u.last_error->size() < 1000);
  }
  CHECK(contains(*box.updates[0].last_error, "8192"));
  CHECK(contains(*box.updates[1].last_error, "is not an http:// or https:// URL"));
  box.clock.advance(std::chrono::hours(1));
  n.deliver_due();
  CHECK(box.updates.size() == 2);  // never tried again
}

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
