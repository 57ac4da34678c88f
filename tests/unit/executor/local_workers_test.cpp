// LocalWorkers on their own, running real shell tries with recording
// callbacks. Real processes are short; waiting for a worker thread's
// callback has a timeout so a hang fails instead of blocking.
#include <catch2/catch.hpp>
#include <atomic>

#include "parts_env.h"

using namespace baton;
using namespace baton::executor;
using namespace baton::executor_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
// ------------------------------------------------------------ LocalWorkers

namespace {

// LocalWorkers with recording callbacks. `workers` is the last member, so it
// is stopped (and its threads joined) before what the callbacks touch goes.
struct Workers {
  Dir dir;
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::map<std::string, std::string> vars;
  std::map<long long, std::string> stored_checkpoints;  // read by load_checkpoint
  std::atomic<int> checkpoint_reads{0};

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
      ++checkpoint_reads;
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

TEST_CASE("LocalWorkers: the next try of a task instance, handed out while the killed one still ends, can be killed") {
  // A retry with no delay (a stuck try failed with on_stuck: fail) is
  // expected while its killed predecessor is still on its way out (its
  // command traps SIGTERM for a moment): the end of the old try must not
  // take the new one's kill flag with it.
  Workers w;
  w.workers.start(2);
  const fs::path second = w.dir.path / "second-started";
  w.workers.expect(7);
  w.workers.hand({w.shell_try("trap 'sleep 0.5; exit 1' TERM; echo first; sleep 30 & wait")});
  REQUIRE(w.wait_heartbeat());
  w.workers.kill(7);
  w.workers.expect(7);  // the retry, at once
  Assignment retry = w.shell_try("touch " + second.string() + "; sleep 30");
  retry.attempt_token = "tok-7b";
  w.workers.hand({retry});
  REQUIRE(w.wait_finished(1));  // the first try is over
  for (int k = 0; k < 200 && !fs::exists(second); ++k) std::this_thread::sleep_for(10ms);
  REQUIRE(fs::exists(second));
  auto t0 = std::chrono::steady_clock::now();
  w.workers.kill(7);
  REQUIRE(w.wait_finished(2));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);  // killed, not its 30 s
  std::lock_guard lock(w.mu);
  CHECK(w.finished[1].attempt_token == "tok-7b");
  CHECK(w.finished[1].reason == "canceled");
}

TEST_CASE("LocalWorkers: tries handed one at a time to idle slots each wake one: they run at once") {
  Workers w;
  w.workers.start(3);
  const fs::path go = w.dir.path / "go";
  // Each try says it started, then waits for the others' (the test's `go`).
  for (long long ti = 1; ti <= 3; ++ti) {
    w.workers.expect(ti);
    const fs::path started = w.dir.path / ("started-" + std::to_string(ti));
    w.workers.hand({w.shell_try("touch " + started.string() + "; until [ -f " + go.string() +
                                    " ]; do sleep 0.01; done",
                                ti)});
  }
  bool all_started = false;
  for (auto until = std::chrono::steady_clock::now() + kWait; !all_started && std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(10ms))
    all_started = fs::exists(w.dir.path / "started-1") && fs::exists(w.dir.path / "started-2") &&
                  fs::exists(w.dir.path / "started-3");
  std::ofstream(go.string()) << "go";  // the tries end either way
  CHECK(all_started);
  REQUIRE(w.wait_finished(3));
  for (auto& f : w.finished) CHECK(f.outcome == TryOutcome::success);
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
  w.stored_checkpoints[7] = "step-1";  // the first try's
  w.workers.start(1);
  Assignment second = w.shell_try(
      "echo \"resuming from $(cat \"$BATON_CHECKPOINT_FILE\")\"; "
      "printf step-2 > \"$BATON_CHECKPOINT_FILE.tmp\" && mv \"$BATON_CHECKPOINT_FILE.tmp\" \"$BATON_CHECKPOINT_FILE\"");
  second.shell.try_number = 2;
  w.workers.hand({second});
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

TEST_CASE("LocalWorkers: a first try reads no checkpoint: no earlier try can have saved one") {
  Workers w;
  w.workers.start(1);
  Assignment first = w.shell_try("test ! -s \"$BATON_CHECKPOINT_FILE\"");
  REQUIRE(first.shell.try_number == 1);
  w.workers.hand({first});
  REQUIRE(w.wait_finished(1));
  Finished f = w.only_finished();
  INFO(f.reason);
  CHECK(f.outcome == TryOutcome::success);
  CHECK(w.checkpoint_reads == 0);
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

