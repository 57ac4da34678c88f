// SensorPokers' single poke of each sensor type, with fake callbacks.
#include <catch2/catch.hpp>

#include "parts_env.h"

using namespace baton;
using namespace baton::executor;
using namespace baton::executor_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
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

