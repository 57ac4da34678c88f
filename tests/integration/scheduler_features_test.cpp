// What the real scheduler does beside runs and tasks: SLAs, notifications,
// a try's last log line, the folder watch, datasets, sensors, trigger_dag
// and foreach.
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <set>

#include "scheduler_env.h"

using namespace baton;
using namespace baton::scheduler;
using namespace baton::scheduler_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {
std::vector<store::SlaMiss> misses(store::Store& s) {
  auto m = s.list_sla_misses(std::nullopt, std::nullopt, 0, 1000);
  REQUIRE(m.ok());
  return *m;
}
std::vector<store::SlaMiss> wait_misses(store::Store& s, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (misses(s).size() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  return misses(s);
}
}  // namespace

TEST_CASE("SLA: run_deadline, run_duration and max_duration are detected when they pass, once, also after a restart") {
  FakeClock clock(*parse_utc("2026-01-10T00:30:00Z"));
  Env env;
  env.options.heartbeat_interval = 1h;  // no heartbeat: nothing but the timers moves
  env.options.zombie_timeout = 24h;     // and the silent try is not taken for lost
  env.write("s.yaml",
            "dag: s\nschedule: '@daily'\nstart_date: 2026-01-01\n"
            "sla: {run_deadline: 2h, run_duration: 1h}\n"
            "notify: {on_sla_miss: [{command: 'cat >> sla-events.log'}]}\n"
            "tasks:\n  slow: {command: 'sleep 30', sla: {max_duration: 10m}}\n");
  env.write("ok.yaml",
            "dag: ok\nschedule: '@daily'\nstart_date: 2026-01-01\nsla: {run_deadline: 2h}\ntasks:\n  a: {type: noop}\n");
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  // The run for 2026-01-09 was created at 00:30 (its interval ended at 00:00).
  auto run = env.wait_run("s", "scheduled__20260109T000000Z",
                          [&](const store::RunRecord& r) { return env.tis(r)["slow"].state == TaskState::running; });
  CHECK(misses(*env.store).empty());
  clock.advance(9min);
  std::this_thread::sleep_for(200ms);
  CHECK(misses(*env.store).empty());
  clock.advance(2min);  // 10 minutes into the try
  auto m = wait_misses(*env.store, 1);
  REQUIRE(m.size() == 1);
  CHECK(m[0].kind == "task_duration");
  CHECK(m[0].task_id == "slow");
  CHECK(m[0].run_id == run.run_id);
  // run_duration (1h after the start) and run_deadline (02:00 = interval end + 2h) pass while the
  // scheduler is down; a restart detects them at once. The `ok` DAG succeeded in time: no miss.
  env.sched->stop();
  env.sched.reset();
  clock.advance(2h);
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  m = wait_misses(*env.store, 3);
  std::set<std::string> kinds;
  for (auto& x : m) {
    CHECK(x.dag_id == "s");
    kinds.insert(x.kind);
  }
  CHECK(kinds == std::set<std::string>{"task_duration", "run_duration", "run_deadline"});
  CHECK(m.size() == 3);
  // Each new miss went to notify.on_sla_miss (queued with the loop's next
  // write, just after the miss itself is recorded).
  auto sent = env.store->list_notifications("s", 100);
  for (auto until = std::chrono::steady_clock::now() + 5s;
       sent.ok() && sent->size() < 3 && std::chrono::steady_clock::now() < until;
       sent = env.store->list_notifications("s", 100))
    std::this_thread::sleep_for(20ms);
  REQUIRE(sent.ok());
  std::set<std::string> notified;
  for (auto& n : *sent) {
    CHECK(n.event == "on_sla_miss");
    notified.insert(nlohmann::json::parse(n.payload)["kind"].get<std::string>());
  }
  CHECK(notified == kinds);
  // Detected again after another restart: still recorded once.
  env.sched->stop();
  env.sched = std::make_unique<Scheduler>(*env.store, clock, env.options);
  REQUIRE(env.sched->start().ok());
  std::this_thread::sleep_for(300ms);
  CHECK(misses(*env.store).size() == 3);
}

// ---- notifications (SPEC §7): a real webhook receiver on 127.0.0.1 ----

namespace {
struct Receiver {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> bodies;  // path -> bodies received
  Receiver() {
    auto keep = [this](const httplib::Request& req) {
      std::lock_guard lock(mu);
      bodies[req.path].push_back(req.body);
    };
    http.Post("/ok", [keep](const httplib::Request& req, httplib::Response& res) {
      keep(req);
      res.status = 204;
    });
    http.Post("/fail", [keep](const httplib::Request& req, httplib::Response& res) {
      keep(req);
      res.status = 500;
    });
    http.Post("/hang", [keep](const httplib::Request& req, httplib::Response& res) {
      keep(req);
      std::this_thread::sleep_for(3s);  // past the notification timeout
      res.status = 200;
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
  }
  ~Receiver() {
    http.stop();
    thread.join();
  }
  size_t count(const std::string& path) {
    std::lock_guard lock(mu);
    return bodies[path].size();
  }
  std::string first(const std::string& path) {
    std::lock_guard lock(mu);
    return bodies[path].empty() ? "" : bodies[path][0];
  }
};
}  // namespace

TEST_CASE("notifications: webhooks and commands get the event; failing and hanging ones are retried, never block") {
  Receiver hook;
  Env env;
  env.options.notification_timeout = 300ms;
  env.options.notification_attempts = 3;
  env.options.notification_backoff = 50ms;
  env.options.notification_poll = 50ms;
  std::string base = "http://127.0.0.1:" + std::to_string(hook.port);
  env.write("n.yaml",
            "dag: n\n"
            "notify:\n"
            "  on_failure: [{webhook: '" + base + "/ok'}, {webhook: '" + base + "/fail'}, {webhook: '" + base +
                "/hang'}, {command: 'cat > failed-event.json'}]\n"
            "  on_retry: [{webhook: '" + base + "/ok'}]\n"
            "  on_success: [{command: 'exit 3'}]\n"
            "tasks:\n"
            "  a: {command: 'test \"{{ params.ok }}\" = yes', retries: 1, retry_delay: 0}\n"
            "params: {ok: 'no'}\n");
  env.start();
  auto t0 = std::chrono::steady_clock::now();
  auto run = env.sched->trigger("n", {}, "ci");
  REQUIRE(run.ok());
  CHECK(env.wait_finished("n", run->run.run_id).state == RunState::failed);
  // While the hanging webhook is being tried, another run goes through at once.
  TriggerRequest good;
  good.params_json = R"({"ok": "yes"})";
  auto second = env.sched->trigger("n", good, "ci");
  REQUIRE(second.ok());
  CHECK(env.wait_finished("n", second->run.run_id).state == RunState::success);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);

  auto deadline = std::chrono::steady_clock::now() + 20s;
  auto settled = [&] {
    auto all = env.store->list_notifications("n", 100);
    return all.ok() && std::all_of(all->begin(), all->end(), [](auto& n) { return n.state != "pending"; });
  };
  while (!settled() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  REQUIRE(settled());
  auto all = *env.store->list_notifications("n", 100);
  std::map<std::string, store::NotificationRecord> by_target;
  for (auto& n : all) by_target[n.event + " " + n.target] = n;
  CHECK(all.size() == 6);  // 1 retry + 4 failure targets + 1 success target
  CHECK(by_target["on_retry " + base + "/ok"].state == "sent");
  CHECK(by_target["on_failure " + base + "/ok"].state == "sent");
  auto& failing = by_target["on_failure " + base + "/fail"];
  CHECK(failing.state == "failed");
  CHECK(failing.attempts == 3);
  CHECK(failing.last_error.value_or("").find("HTTP 500") != std::string::npos);
  auto& hanging = by_target["on_failure " + base + "/hang"];
  CHECK(hanging.state == "failed");
  CHECK(hanging.attempts == 3);
  CHECK(hanging.last_error.value_or("").find("no answer within the timeout") != std::string::npos);
  CHECK(by_target["on_failure cat > failed-event.json"].state == "sent");
  CHECK(by_target["on_success exit 3"].state == "failed");
  CHECK(by_target["on_success exit 3"].last_error.value_or("").find("exited 3") != std::string::npos);
  CHECK(hook.count("/fail") == 3);
  CHECK(hook.count("/ok") == 2);
  // The event, as the receiver and the command got it.
  auto event = nlohmann::json::parse(hook.first("/ok"), nullptr, false);
  REQUIRE(event.is_object());
  CHECK(event["event"] == "on_retry");
  CHECK(event["task_id"] == "a");
  std::ifstream in(env.dags / "failed-event.json");
  auto failed = nlohmann::json::parse(in, nullptr, false);
  REQUIRE(failed.is_object());
  CHECK(failed["event"] == "on_failure");
  CHECK(failed["dag_id"] == "n");
  CHECK(failed["run_id"] == run->run.run_id);
  CHECK(failed["state"] == "failed");
}

TEST_CASE("a running try shows when it last wrote a log line (stuck or slow)") {
  Env env;
  env.write("act.yaml", "dag: act\ntasks:\n  a: {command: 'echo started; sleep 30'}\n");
  env.start();
  auto t = env.sched->trigger("act", {}, "ci");
  REQUIRE(t.ok());
  auto run = env.wait_run("act", t->run.run_id, [&](const store::RunRecord& r) {
    auto ti = env.tis(r)["a"];
    return ti.state == TaskState::running && ti.last_activity_at.has_value();
  });
  auto ti = env.tis(run)["a"];
  CHECK(*ti.last_activity_at >= *ti.started_at);
  REQUIRE(env.sched->cancel_run("act", t->run.run_id, "ci").ok());
}

TEST_CASE("the folder watch compiles only changed files and still judges DAG ids across the folder") {
  Env env;
  env.write("a.yaml", "dag: x\ntasks:\n  a: {type: noop}\n");
  env.write("b.yaml", "dag: y\ntasks:\n  b: {type: noop}\n");
  env.start();
  REQUIRE(env.store->get_dag("x").ok());
  REQUIRE(env.store->get_dag("y").ok());
  auto x_version = *env.store->get_dag("x")->current_version;
  // b.yaml now claims x: a.yaml (first in path order) keeps it, b.yaml's is an error.
  std::this_thread::sleep_for(20ms);  // a new mtime
  env.write("b.yaml", "dag: x\ntasks:\n  b: {type: noop}\n  c: {type: noop}\n");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  // One scan records both (x's import error, y's deactivation), one store call after the other.
  while ((env.store->get_dag("x")->import_errors.empty() || env.store->get_dag("y")->active) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  auto x = env.store->get_dag("x");
  CHECK(*x->current_version == x_version);
  CHECK(x->import_errors.find("duplicate DAG id") != std::string::npos);
  // y's file is gone from the folder's ids: y becomes inactive.
  CHECK_FALSE(env.store->get_dag("y")->active);
}

TEST_CASE("datasets: a producer's success and an outside event make one dataset run, with its events") {
  Env env;
  env.write("producer.yaml",
            "dag: producer\n"
            "tasks:\n"
            "  make: {type: noop, produces: ['s3://lake/orders']}\n");
  env.write("consumer.yaml",
            "dag: consumer\n"
            "params: {mode: full}\n"
            "schedule: {datasets: ['s3://lake/orders', 'pg://wh/customers']}\n"
            "tasks:\n"
            "  use: {command: 'echo \"$BATON_PARAMS\"'}\n");
  env.start();
  auto dataset_runs = [&] {
    store::RunFilter f;
    f.dag_id = "consumer";
    f.limit = 100;
    auto runs = env.store->list_runs(f);
    REQUIRE(runs.ok());
    return *runs;
  };
  auto t = env.sched->trigger("producer", {}, "alice");
  REQUIRE(t.ok());
  CHECK(env.wait_finished("producer", t->run.run_id).state == RunState::success);
  auto produced = env.store->list_dataset_events(std::nullopt, 0, 10);
  REQUIRE(produced.ok());
  REQUIRE(produced->size() == 1);
  CHECK((*produced)[0].uri == "s3://lake/orders");
  CHECK((*produced)[0].source_dag_id == "producer");
  CHECK((*produced)[0].source_task_id == "make");
  std::this_thread::sleep_for(300ms);  // three polls
  CHECK(dataset_runs().empty());  // one of its two datasets has news

  store::DatasetEvent outside;
  outside.uri = "pg://wh/customers";
  outside.extra = R"({"rows": 12})";
  REQUIRE(env.store->record_dataset_event(outside).ok());
  env.sched->datasets_changed();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (dataset_runs().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  auto runs = dataset_runs();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].run_type == "dataset");
  auto done = env.wait_finished("consumer", runs[0].run_id);
  CHECK(done.state == RunState::success);
  auto params = nlohmann::json::parse(done.params);
  CHECK(params["mode"] == "full");
  REQUIRE(params["dataset_events"].size() == 2);
  CHECK(params["dataset_events"][0]["uri"] == "s3://lake/orders");
  CHECK(params["dataset_events"][1]["uri"] == "pg://wh/customers");
  CHECK(params["dataset_events"][1]["extra"] == nlohmann::json{{"rows", 12}});
  CHECK(params["dataset_events"][0]["at"].is_string());
  CHECK(env.log_of(done, "use", 1).find("dataset_events") != std::string::npos);

  // Consumed: the same events make no second run, also after a restart; a
  // new event of only one dataset makes none either.
  env.restart();
  std::this_thread::sleep_for(300ms);
  CHECK(dataset_runs().size() == 1);
  outside.extra = "{}";
  REQUIRE(env.store->record_dataset_event(outside).ok());
  std::this_thread::sleep_for(300ms);
  CHECK(dataset_runs().size() == 1);
  auto cursors = env.store->dataset_cursors("consumer");
  REQUIRE(cursors.ok());
  CHECK(cursors->size() == 2);
  // Both have news again: a second run.
  auto t2 = env.sched->trigger("producer", {}, "alice");
  REQUIRE(t2.ok());
  env.wait_finished("producer", t2->run.run_id);
  deadline = std::chrono::steady_clock::now() + 10s;
  while (dataset_runs().size() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  REQUIRE(dataset_runs().size() == 2);
}

TEST_CASE("sensors: file, http and task sensors poke until met, hold no slot between pokes, and fail at timeout") {
  Env env;
  REQUIRE(env.store->put_pool({"one", 1, ""}, "test").ok());
  httplib::Server http;
  std::atomic<bool> up{false};
  http.Get("/ready", [&](const httplib::Request&, httplib::Response& res) { res.status = up ? 200 : 404; });
  int port = http.bind_to_any_port("127.0.0.1");
  std::thread server([&] { http.listen_after_bind(); });
  env.write("upstream.yaml", "dag: upstream\ntasks:\n  done: {type: noop}\n");
  env.write("sensing.yaml",
            "dag: sensing\n"
            "tasks:\n"
            "  wait_file: {type: sensor.file, path: ready.flag, poke_interval: 1s, pool: one}\n"
            "  busy: {command: 'sleep 0.3', pool: one, depends_on: [started]}\n"
            "  started: {command: 'sleep 1.2'}\n"
            "  after: {type: noop, depends_on: [wait_file]}\n"
            "  wait_http: {type: sensor.http, url: 'http://127.0.0.1:" +
                std::to_string(port) +
                "/ready', poke_interval: 1s}\n"
            "  wait_task: {type: sensor.task, dag: upstream, task: done, poke_interval: 1s}\n"
            "  give_up: {type: sensor.file, path: never.flag, poke_interval: 1s, timeout: 2s}\n");
  env.start();
  auto t = env.sched->trigger("sensing", {}, "alice");
  REQUIRE(t.ok());
  const std::string run_id = t->run.run_id;
  auto state_of = [&](const std::string& task) {
    auto run = env.store->get_run("sensing", run_id);
    REQUIRE(run.ok());
    return env.tis(*run)[task].state;
  };
  auto until = [&](const std::string& what, std::function<bool()> ok, Duration limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ok()) {
      if (std::chrono::steady_clock::now() > deadline) FAIL("timed out waiting for " << what);
      std::this_thread::sleep_for(20ms);
    }
  };
  // The file sensor waits in pool "one" (1 slot): busy, in the same pool,
  // runs meanwhile, so the waiting sensor holds no slot.
  until("the file sensor waiting", [&] { return state_of("wait_file") == TaskState::waiting; });
  until("busy done while the sensor waits", [&] { return state_of("busy") == TaskState::success; });
  CHECK(state_of("wait_file") != TaskState::success);
  CHECK(state_of("after") == TaskState::pending);
  auto why = env.sched->waiting_for("sensing", run_id, "wait_file", -1);
  REQUIRE(why.ok());
  bool says_file = false;
  for (auto& w : *why) says_file = says_file || w.find("ready.flag does not exist yet") != std::string::npos;
  CHECK(says_file);

  std::ofstream(env.dags / "ready.flag") << "ok\n";
  up = true;
  TriggerRequest same_day;
  same_day.logical_date = t->run.logical_date;
  auto u = env.sched->trigger("upstream", same_day, "alice");
  REQUIRE(u.ok());
  auto run = env.wait_finished("sensing", run_id);
  auto tis = env.tis(run);
  CHECK(tis["wait_file"].state == TaskState::success);
  CHECK(tis["after"].state == TaskState::success);
  CHECK(tis["wait_http"].state == TaskState::success);
  CHECK(tis["wait_task"].state == TaskState::success);
  CHECK(tis["give_up"].state == TaskState::failed);
  CHECK(tis["give_up"].reason == "timeout");
  CHECK(run.state == RunState::failed);
  // Every poke of a sensor is one try, with one log.
  CHECK(tis["wait_file"].try_number == 1);
  auto tries = env.store->list_tries(tis["wait_file"].id);
  REQUIRE(tries.ok());
  REQUIRE(tries->size() == 1);
  CHECK((*tries)[0].state == TaskState::success);
  std::string log = env.log_of(run, "wait_file", 1);
  CHECK(log.find("does not exist yet") != std::string::npos);
  CHECK(log.find("exists") != std::string::npos);
  http.stop();
  server.join();
}

TEST_CASE("trigger_dag: a run of another DAG with params and the same logical date; waits for it, fails with it, cancels it") {
  Env env;
  env.write("child.yaml",
            "dag: child\n"
            "params: {who: nobody, fail: 'no'}\n"
            "tasks:\n"
            "  greet: {command: 'echo hi {{ params.who }}; test {{ params.fail }} = no'}\n");
  // A child that waits (a sensor survives a restart, a killed shell try would not).
  env.write("slow_child.yaml", "dag: slow_child\ntasks:\n  nap: {type: sensor.file, path: never.flag, poke_interval: 1s}\n");
  env.write("parent.yaml",
            "dag: parent\n"
            "params: {name: Ada, fail: 'no'}\n"
            "tasks:\n"
            "  kick: {type: trigger_dag, dag: child, params: {who: '{{ params.name }}', fail: '{{ params.fail }}'}}\n"
            "  fire: {type: trigger_dag, dag: child, wait: false}\n"
            "  after: {type: noop, depends_on: [kick]}\n");
  env.write("sleepy_parent.yaml",
            "dag: sleepy_parent\ntasks:\n  kick: {type: trigger_dag, dag: slow_child}\n");
  env.write("typo_parent.yaml",
            "dag: typo_parent\ntasks:\n  kick: {type: trigger_dag, dag: child, params: {whom: Ada}}\n");
  env.start();
  auto child_runs = [&](const std::string& dag) {
    store::RunFilter f;
    f.dag_id = dag;
    f.limit = 100;
    auto runs = env.store->list_runs(f);
    REQUIRE(runs.ok());
    return *runs;
  };

  auto t = env.sched->trigger("parent", {}, "alice");
  REQUIRE(t.ok());
  auto parent = env.wait_finished("parent", t->run.run_id);
  CHECK(parent.state == RunState::success);
  auto kids = child_runs("child");
  REQUIRE(kids.size() == 2);
  for (auto& k : kids) {
    CHECK(k.run_type == "manual");
    CHECK(k.logical_date == parent.logical_date);
  }
  auto tis = env.tis(parent);
  auto out = nlohmann::json::parse(*tis["kick"].output);
  CHECK(out["dag_id"] == "child");
  CHECK(out["state"] == "success");
  auto waited = env.store->get_run("child", out["run_id"].get<std::string>());
  REQUIRE(waited.ok());
  CHECK(waited->state == RunState::success);
  CHECK(nlohmann::json::parse(waited->params)["who"] == "Ada");
  CHECK(env.log_of(*waited, "greet", 1) == "hi Ada\n");
  CHECK(tis["fire"].state == TaskState::success);
  CHECK(tis["after"].state == TaskState::success);
  CHECK(env.log_of(parent, "kick", 1).find("triggered DAG child: run " + out["run_id"].get<std::string>()) !=
        std::string::npos);

  // The triggered run fails: so does the task.
  TriggerRequest failing;
  failing.params_json = R"({"fail": "yes"})";
  auto t2 = env.sched->trigger("parent", failing, "alice");
  REQUIRE(t2.ok());
  auto parent2 = env.wait_finished("parent", t2->run.run_id);
  CHECK(parent2.state == RunState::failed);
  auto tis2 = env.tis(parent2);
  CHECK(tis2["kick"].state == TaskState::failed);
  REQUIRE(tis2["kick"].reason);
  CHECK(tis2["kick"].reason->find("the triggered run child / ") == 0);
  CHECK(tis2["kick"].reason->find(" is failed") != std::string::npos);
  CHECK(tis2["after"].state == TaskState::upstream_failed);

  // A param the target DAG does not declare: the try fails saying so, and
  // no run of the target is made.
  size_t children = child_runs("child").size();
  auto t4 = env.sched->trigger("typo_parent", {}, "alice");
  REQUIRE(t4.ok());
  auto typo = env.wait_finished("typo_parent", t4->run.run_id);
  CHECK(typo.state == RunState::failed);
  auto kick = env.tis(typo)["kick"];
  CHECK(kick.state == TaskState::failed);
  CHECK(kick.reason.value_or("").find("\"whom\" is not a param of DAG child (did you mean \"who\"?)") !=
        std::string::npos);
  CHECK(child_runs("child").size() == children);

  // Canceling the triggering run cancels the triggered one; a restart in the
  // middle keeps watching the same run (no second one).
  auto t3 = env.sched->trigger("sleepy_parent", {}, "alice");
  REQUIRE(t3.ok());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (child_runs("slow_child").empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(child_runs("slow_child").size() == 1);
  env.restart();
  std::this_thread::sleep_for(500ms);
  CHECK(child_runs("slow_child").size() == 1);
  auto during = env.store->get_run("sleepy_parent", t3->run.run_id);
  REQUIRE(during.ok());
  INFO("reason: " << env.tis(*during)["kick"].reason.value_or(""));
  CHECK(env.tis(*during)["kick"].state == TaskState::running);
  REQUIRE(env.sched->cancel_run("sleepy_parent", t3->run.run_id, "alice").ok());
  auto slow = child_runs("slow_child")[0];
  auto ended = env.wait_finished("slow_child", slow.run_id);
  CHECK(ended.state == RunState::canceled);
}

TEST_CASE("sensors: a restart keeps a waiting sensor in its try; canceled between pokes, its try ends") {
  Env env;
  env.write("sense.yaml",
            "dag: sense\n"
            "tasks:\n"
            "  wait: {type: sensor.file, path: go.flag, poke_interval: 1s}\n"
            "  stop: {type: sensor.file, path: never.flag, poke_interval: 1s}\n");
  env.start();
  auto t = env.sched->trigger("sense", {}, "alice");
  REQUIRE(t.ok());
  auto ti_of = [&](const std::string& task) {
    auto run = env.store->get_run("sense", t->run.run_id);
    REQUIRE(run.ok());
    return env.tis(*run)[task];
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((ti_of("wait").state != TaskState::waiting || ti_of("stop").state != TaskState::waiting) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(ti_of("wait").state == TaskState::waiting);
  auto first_start = ti_of("wait").started_at;
  env.restart();
  std::this_thread::sleep_for(1500ms);  // pokes after the restart
  auto after = ti_of("wait");
  CHECK(after.try_number == 1);
  CHECK(after.started_at == first_start);  // its timeout still counts from the first poke
  CHECK((after.state == TaskState::waiting || after.state == TaskState::running || after.state == TaskState::scheduled));

  REQUIRE(env.sched->mark_task("sense", t->run.run_id, "stop", TaskState::failed, "alice").ok());
  auto stop = ti_of("stop");
  auto tries = env.store->list_tries(stop.id);
  REQUIRE(tries.ok());
  REQUIRE(tries->size() == 1);
  CHECK((*tries)[0].state == TaskState::failed);
  CHECK((*tries)[0].ended_at.has_value());

  std::ofstream(env.dags / "go.flag") << "ok\n";
  auto run = env.wait_finished("sense", t->run.run_id);
  auto tis = env.tis(run);
  CHECK(tis["wait"].state == TaskState::success);
  CHECK(tis["wait"].try_number == 1);
  CHECK(env.store->list_tries(tis["wait"].id)->size() == 1);
}

namespace {

// A task's mapped instances by map_index (its own instance is not among them).
std::vector<store::TaskInstanceRecord> mapped_of(Env& env, const store::RunRecord& r, const std::string& task) {
  auto list = env.store->list_task_instances(r.pk);
  REQUIRE(list.ok());
  std::vector<store::TaskInstanceRecord> out;
  for (auto& t : *list)
    if (t.task_id == task && t.map_index >= 0) out.push_back(t);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.map_index < b.map_index; });
  return out;
}

std::string mapped_log(Env& env, const store::RunRecord& r, const std::string& task, int map_index, int try_number) {
  return env.log_of(r, task + "/" + std::to_string(map_index), try_number);
}

}  // namespace

TEST_CASE("foreach: one mapped instance per item of an upstream output; downstream gets their outputs as a list") {
  Env env;
  env.write("fan.yaml",
            "dag: fan\n"
            "tasks:\n"
            "  list:\n"
            "    command: |\n"
            "      printf '{\"files\": [\"a.csv\", \"b.csv\", {\"name\": \"c\"}], \"none\": []}' > $BATON_OUTPUT_FILE\n"
            "  each:\n"
            "    command: |\n"
            "      echo 'item {{ item }} at {{ map_index }} env' $BATON_MAP_INDEX\n"
            "      printf '{\"n\": %s}' $BATON_MAP_INDEX > $BATON_OUTPUT_FILE\n"
            "    foreach: '{{ outputs.list.files }}'\n"
            "    depends_on: [list]\n"
            "  total: {command: \"echo 'got {{ outputs.each }}'\", depends_on: [each]}\n"
            "  literal: {command: 'echo {{ item }}', foreach: [1, 2]}\n"
            "  nothing: {command: 'echo never', foreach: '{{ outputs.list.none }}', depends_on: [list]}\n"
            "  after_nothing: {type: noop, depends_on: [nothing]}\n");
  env.write("bad.yaml",
            "dag: bad\n"
            "tasks:\n"
            "  list:\n"
            "    command: |\n"
            "      printf '{\"n\": 3}' > $BATON_OUTPUT_FILE\n"
            "  each: {command: 'echo {{ item }}', foreach: '{{ outputs.list.n }}', depends_on: [list]}\n"
            "  after: {type: noop, depends_on: [each]}\n");
  env.start();
  auto t = env.sched->trigger("fan", {}, "ci");
  REQUIRE(t.ok());
  auto run = env.wait_finished("fan", t->run.run_id);
  CHECK(run.state == RunState::success);
  auto tis = env.store->list_task_instances(run.pk);
  REQUIRE(tis.ok());
  std::map<std::string, store::TaskInstanceRecord> own;
  for (auto& x : *tis)
    if (x.map_index < 0) own[x.task_id] = x;
  CHECK(own["each"].state == TaskState::success);
  CHECK(own["each"].reason.value_or("") == "");
  auto each = mapped_of(env, run, "each");
  REQUIRE(each.size() == 3);
  CHECK(each[0].item == "\"a.csv\"");
  CHECK(each[2].item == R"({"name":"c"})");
  for (auto& c : each) CHECK(c.state == TaskState::success);
  CHECK(mapped_log(env, run, "each", 0, 1) == "item a.csv at 0 env 0\n");
  CHECK(mapped_log(env, run, "each", 2, 1) == "item {\"name\":\"c\"} at 2 env 2\n");
  CHECK(env.log_of(run, "total", 1) == "got [{\"n\":0},{\"n\":1},{\"n\":2}]\n");
  auto literal = mapped_of(env, run, "literal");
  REQUIRE(literal.size() == 2);
  CHECK(mapped_log(env, run, "literal", 1, 1) == "2\n");
  CHECK(own["nothing"].state == TaskState::skipped);
  CHECK(mapped_of(env, run, "nothing").empty());
  CHECK(own["after_nothing"].state == TaskState::skipped);
  // Each mapped instance's try is its own, with its own log.
  auto tries = env.store->list_tries(each[1].id);
  REQUIRE(tries->size() == 1);
  CHECK(tries->front().log_path == "fan/" + run.run_id + "/each/1/1.log");

  // Not a list: the task fails with what it got, and its downstream with it.
  auto b = env.sched->trigger("bad", {}, "ci");
  auto bad = env.wait_finished("bad", b->run.run_id);
  CHECK(bad.state == RunState::failed);
  auto btis = env.tis(bad);
  CHECK(btis["each"].state == TaskState::failed);
  CHECK(btis["each"].reason == "foreach: expected a JSON list, got \"3\"");
  CHECK(btis["after"].state == TaskState::upstream_failed);

  // A clear of the foreach task reruns every mapped instance, then downstream.
  REQUIRE(env.sched->clear_task("fan", run.run_id, "each", true, false, "ops").ok());
  run = env.wait_run("fan", run.run_id, [&](const store::RunRecord& r) {
    auto e = mapped_of(env, r, "each");
    return is_finished(r.state) && e.size() == 3 && e[0].try_number == 2;
  });
  CHECK(run.state == RunState::success);
  for (auto& c : mapped_of(env, run, "each")) CHECK(c.try_number == 2);
  CHECK(mapped_of(env, run, "each").size() == 3);
  CHECK(env.log_of(run, "total", 2) == "got [{\"n\":0},{\"n\":1},{\"n\":2}]\n");
}

TEST_CASE("foreach: mapped instances retry on their own, share the pool, and survive a restart") {
  Env env;
  env.options.workers = 2;
  env.write("wide.yaml",
            "dag: wide\n"
            "tasks:\n"
            "  each:\n"
            "    command: >-\n"
            "      if [ {{ item }} = 3 ] && [ $BATON_TRY_NUMBER = 1 ]; then exit 1; fi; sleep 0.2\n"
            "    foreach: [0, 1, 2, 3, 4, 5, 6, 7]\n"
            "    retries: 2\n"
            "    retry_delay: 0\n"
            "  after: {command: 'echo done', depends_on: [each]}\n");
  env.start();
  auto t = env.sched->trigger("wide", {}, "ci");
  REQUIRE(t.ok());
  // Stop the scheduler while the fan-out is half done.
  env.wait_run("wide", t->run.run_id, [&](const store::RunRecord& r) {
    auto e = mapped_of(env, r, "each");
    int done = 0;
    for (auto& c : e) done += c.state == TaskState::success;
    return done >= 2;
  });
  env.restart();
  auto run = env.wait_finished("wide", t->run.run_id);
  CHECK(run.state == RunState::success);
  auto each = mapped_of(env, run, "each");
  REQUIRE(each.size() == 8);  // expanded once, not again after the restart
  for (auto& c : each) CHECK(c.state == TaskState::success);
  CHECK(each[3].try_number >= 2);
  auto tries = env.store->list_tries(each[3].id);
  REQUIRE(tries->size() >= 2);
  CHECK((*tries)[0].state == TaskState::failed);
  CHECK(env.tis(run)["after"].state == TaskState::success);
}
