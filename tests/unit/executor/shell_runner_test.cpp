// ShellRunner against real processes: outcomes, environment, log capture and
// cap, timeouts and cancel that kill the whole process group, checkpoints,
// outputs. Timeouts are short so the whole file runs in a few seconds.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "baton/executor/shell_runner.h"

using namespace baton;
using namespace baton::executor;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Outcome = ShellResult::Outcome;
using SteadyClock = std::chrono::steady_clock;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Whether a process is gone: no /proc entry, or a zombie (an orphan that
// init has not reaped yet is dead all the same). SIGKILL is delivered
// asynchronously, so a dying process gets up to a second.
bool process_gone(pid_t pid) {
  auto until = std::chrono::steady_clock::now() + 1s;
  for (;;) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    if (!in) return true;
    std::string line;
    std::getline(in, line);
    auto rp = line.rfind(')');
    if (rp == std::string::npos || rp + 2 >= line.size() || line[rp + 2] == 'Z' || line[rp + 2] == 'X') return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// A temporary folder per test, removed at the end.
struct Fixture {
  fs::path dir;
  ShellTry t;
  std::atomic<bool> cancel{false};
  std::vector<ShellProgress> progress;
  // A clock that moves one second each time it is read, so that later
  // activity always has a later time.
  std::atomic<long long> ticks{0};
  ShellRunner runner{[this] { return *parse_utc("2026-11-22T10:00:00Z") + std::chrono::seconds(ticks++); }};

  Fixture() {
    char tmpl[] = "/tmp/baton_shell_test_XXXXXX";
    char* made = ::mkdtemp(tmpl);
    REQUIRE(made != nullptr);
    dir = fs::canonical(made);
    t.dag_id = "daily_sales";
    t.run_id = "scheduled__20261121T000000Z";
    t.task_id = "extract";
    t.try_number = 2;
    t.map_index = 3;
    t.logical_date = "2026-11-21T00:00:00Z";
    t.data_interval_start = "2026-11-21T00:00:00Z";
    t.data_interval_end = "2026-11-22T00:00:00Z";
    t.ds = "2026-11-21";
    t.params_json = R"({"region":"eu"})";
    t.scratch_dir = (dir / "scratch").string();
    fs::create_directories(t.scratch_dir);
    t.log_path = (dir / "try.log").string();
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  ShellResult run(const std::string& command) {
    t.command = command;
    // No Catch2 macros here: one test runs tries on two threads.
    return runner.run(t, [this](const ShellProgress& p) { progress.push_back(p); }, cancel);
  }
  std::string log() const { return read_file(t.log_path); }
};

}  // namespace

TEST_CASE("exit 0 is success; the log holds the output") {
  Fixture f;
  auto r = f.run("echo hello");
  CHECK(r.outcome == Outcome::success);
  CHECK(r.exit_code == 0);
  CHECK(r.reason.empty());
  CHECK(f.log() == "hello\n");
  CHECK(r.log_bytes == 6);
  CHECK_FALSE(r.log_truncated);
  CHECK_FALSE(r.output_json);
  CHECK_FALSE(r.checkpoint);
  CHECK(std::string(to_string(r.outcome)) == "success");
}

TEST_CASE("another exit code fails the try with the code as reason") {
  Fixture f;
  auto r = f.run("exit 3");
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.exit_code == 3);
  CHECK(r.reason == "exit code 3");
}

TEST_CASE("a command that does not exist is an ordinary failure (exit 127)") {
  Fixture f;
  auto r = f.run("no_such_command_for_baton_test");
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.exit_code == 127);
  CHECK(r.reason == "exit code 127");
  CHECK(contains(f.log(), "not found"));
}

TEST_CASE("skip_exit_code means skipped") {
  Fixture f;
  auto r = f.run("exit 99");
  CHECK(r.outcome == Outcome::skipped);
  CHECK(r.exit_code == 99);
  f.t.skip_exit_code = 42;
  CHECK(f.run("exit 99").outcome == Outcome::failed);
  CHECK(f.run("exit 42").outcome == Outcome::skipped);
}

TEST_CASE("a task killed by a signal fails with the signal as reason") {
  Fixture f;
  auto r = f.run("kill -9 $$");
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.exit_code == -1);
  CHECK(r.reason == "killed by signal 9");
}

TEST_CASE("the try's BATON_* variables are set") {
  Fixture f;
  ::setenv("BATON_TEST_WORKER_SETTING", "secret", 1);
  ::setenv("SHELL_RUNNER_TEST_INHERITED", "from-worker", 1);
  auto r = f.run(
      "for v in BATON_DAG_ID BATON_TASK_ID BATON_RUN_ID BATON_TRY_NUMBER BATON_MAP_INDEX BATON_LOGICAL_DATE "
      "BATON_DATA_INTERVAL_START BATON_DATA_INTERVAL_END BATON_DS BATON_PARAMS BATON_PARAMS_FILE BATON_CHECKPOINT_FILE "
      "BATON_OUTPUT_FILE BATON_TEST_WORKER_SETTING SHELL_RUNNER_TEST_INHERITED; do"
      "  eval \"echo $v=\\${$v-unset}\"; done");
  ::unsetenv("BATON_TEST_WORKER_SETTING");
  ::unsetenv("SHELL_RUNNER_TEST_INHERITED");
  REQUIRE(r.outcome == Outcome::success);
  std::string scratch = f.t.scratch_dir;
  std::string expected =
      "BATON_DAG_ID=daily_sales\n"
      "BATON_TASK_ID=extract\n"
      "BATON_RUN_ID=scheduled__20261121T000000Z\n"
      "BATON_TRY_NUMBER=2\n"
      "BATON_MAP_INDEX=3\n"
      "BATON_LOGICAL_DATE=2026-11-21T00:00:00Z\n"
      "BATON_DATA_INTERVAL_START=2026-11-21T00:00:00Z\n"
      "BATON_DATA_INTERVAL_END=2026-11-22T00:00:00Z\n"
      "BATON_DS=2026-11-21\n"
      "BATON_PARAMS={\"region\":\"eu\"}\n"
      "BATON_PARAMS_FILE=unset\n"  // only for params too long for BATON_PARAMS
      "BATON_CHECKPOINT_FILE=" + scratch + "/checkpoint\n"
      "BATON_OUTPUT_FILE=" + scratch + "/output.json\n"
      "BATON_TEST_WORKER_SETTING=unset\n"  // the worker's own BATON_* settings stay out
      "SHELL_RUNNER_TEST_INHERITED=from-worker\n";
  CHECK(f.log() == expected);
}

TEST_CASE("params too long for one environment variable are in BATON_PARAMS_FILE, and the try starts") {
  Fixture f;
  std::string big = R"({"dataset_events": [)";
  for (int i = 0; i < 4000; ++i) big += std::string(i ? "," : "") + R"({"uri": "s3://bucket/orders", "n": )" + std::to_string(i) + "}";
  big += "]}";
  REQUIRE(big.size() > 128 * 1024);
  f.t.params_json = big;
  auto r = f.run("echo \"set=${BATON_PARAMS+yes}\"; wc -c < \"$BATON_PARAMS_FILE\"");
  REQUIRE(r.outcome == Outcome::success);
  CHECK(f.log().find("BATON_PARAMS is not set: the params are " + std::to_string(big.size()) + " bytes") !=
        std::string::npos);
  CHECK(f.log().find("set=\n" + std::to_string(big.size()) + "\n") != std::string::npos);
  CHECK(read_file(f.t.scratch_dir + "/params.json") == big);
}

TEST_CASE("task env and working_dir; the scratch folder is the default directory") {
  Fixture f;
  fs::create_directories(f.dir / "wd");
  f.t.env = {{"FOO", "bar baz"}, {"BATON_DAG_ID", "spoofed"}};
  f.t.working_dir = (f.dir / "wd").string();
  auto r = f.run("echo \"$FOO\"; echo \"$BATON_DAG_ID\"; pwd -P");
  REQUIRE(r.outcome == Outcome::success);
  CHECK(f.log() == "bar baz\ndaily_sales\n" + (f.dir / "wd").string() + "\n");

  fs::remove(f.t.log_path);
  f.t.working_dir.clear();
  REQUIRE(f.run("pwd -P").outcome == Outcome::success);
  CHECK(f.log() == f.t.scratch_dir + "\n");
}

TEST_CASE("a missing working_dir fails the try cleanly") {
  Fixture f;
  f.t.working_dir = (f.dir / "nope").string();
  auto r = f.run("touch started");
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.exit_code == -1);
  CHECK(contains(r.reason, "working_dir"));
  CHECK(contains(r.reason, "nope"));
  CHECK(contains(f.log(), "[baton] cannot start"));
  CHECK_FALSE(fs::exists(fs::path(f.t.scratch_dir) / "started"));
}

TEST_CASE("stdout and stderr both go to the log; stdin is empty") {
  Fixture f;
  auto r = f.run("echo out; echo err >&2; cat");
  CHECK(r.outcome == Outcome::success);
  CHECK(f.log() == "out\nerr\n");
}

TEST_CASE("the log is appended to, capped, and the truncation marked once") {
  Fixture f;
  { std::ofstream(f.t.log_path) << "earlier\n"; }
  f.t.log_cap_bytes = 100;
  auto r = f.run("head -c 100000 /dev/zero | tr '\\0' a; echo more; echo more >&2");
  CHECK(r.outcome == Outcome::success);
  CHECK(r.log_truncated);
  std::string marker = "\n[baton] log truncated at 100 bytes\n";
  CHECK(f.log() == "earlier\n" + std::string(100, 'a') + marker);
  CHECK(r.log_bytes == 100 + marker.size());
}

TEST_CASE("secret values are masked in the log, also split across reads and at the end") {
  Fixture f;
  f.t.secrets = {"hunter2-xyz", "tok"};  // "tok": under 4 bytes, not masked
  SECTION("echoed, in pieces, and as the last bytes") {
    auto r = f.run("echo \"pw=hunter2-xyz tok\"; printf hunt; sleep 0.2; printf 'er2-xyz\\n'; printf hunter2-xyz");
    CHECK(r.outcome == Outcome::success);
    CHECK(f.log() == "pw=*** tok\n***\n***");
    CHECK(r.log_bytes == f.log().size());
  }
  SECTION("a note of Baton's own comes after what was held back") {
    auto r = f.run("printf 'almost hunter2-x'; echo nope > \"$BATON_OUTPUT_FILE\"");
    CHECK(r.outcome == Outcome::failed);
    CHECK(f.log().rfind("almost hunter2-x\n[baton] output file is not valid JSON", 0) == 0);
  }
  SECTION("the cap counts the masked output") {
    f.t.log_cap_bytes = 10;
    auto r = f.run("echo hunter2-xyzhunter2-xyzhunter2-xyz0123456789");
    CHECK(r.log_truncated);
    CHECK(f.log() == "*********0\n[baton] log truncated at 10 bytes\n");
  }
}

TEST_CASE("output of exactly the cap is not truncated") {
  Fixture f;
  f.t.log_cap_bytes = 6;
  auto r = f.run("echo hello");
  CHECK_FALSE(r.log_truncated);
  CHECK(f.log() == "hello\n");
}

TEST_CASE("timeout: SIGTERM to the whole group, grandchildren included") {
  Fixture f;
  f.t.timeout = 300ms;
  f.t.kill_grace = 5s;  // everything dies on SIGTERM: no need to wait for it
  auto start = SteadyClock::now();
  auto r = f.run("sleep 100 & echo \"grandchild=$!\"; sleep 100");
  auto took = SteadyClock::now() - start;
  CHECK(r.outcome == Outcome::timeout);
  CHECK(r.reason == "timeout after 300ms");
  CHECK(took >= 300ms);
  CHECK(took < 3s);
  std::string log = f.log();
  auto at = log.find("grandchild=");
  REQUIRE(at != std::string::npos);
  pid_t grandchild = std::stoi(log.substr(at + 11));
  REQUIRE(grandchild > 0);
  CHECK(process_gone(grandchild));
  // The child was reaped: this process has no children left.
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("a task that traps SIGTERM gets SIGKILL after kill_grace") {
  Fixture f;
  f.t.timeout = 200ms;
  f.t.kill_grace = 300ms;
  auto start = SteadyClock::now();
  auto r = f.run("trap 'echo got TERM' TERM; echo started; while :; do sleep 0.05; done");
  auto took = SteadyClock::now() - start;
  CHECK(r.outcome == Outcome::timeout);
  CHECK(r.exit_code == -1);
  CHECK(took >= 500ms);
  CHECK(took < 3s);
  CHECK(contains(f.log(), "started\n"));
  CHECK(contains(f.log(), "got TERM\n"));
}

TEST_CASE("a backgrounded process that outlives a successful task is killed") {
  Fixture f;
  auto start = SteadyClock::now();
  auto r = f.run("sleep 100 & echo \"grandchild=$!\"");
  CHECK(r.outcome == Outcome::success);
  CHECK(SteadyClock::now() - start < 2s);
  std::string log = f.log();
  auto at = log.find("grandchild=");
  REQUIRE(at != std::string::npos);
  CHECK(process_gone(std::stoi(log.substr(at + 11))));
}

TEST_CASE("cancel from another thread ends the try like a timeout") {
  Fixture f;
  f.t.kill_grace = 2s;
  std::thread canceler([&] {
    std::this_thread::sleep_for(200ms);
    f.cancel = true;
  });
  auto start = SteadyClock::now();
  auto r = f.run("sleep 100 & sleep 100");
  auto took = SteadyClock::now() - start;
  canceler.join();
  CHECK(r.outcome == Outcome::canceled);
  CHECK(r.reason == "canceled");
  CHECK(took >= 200ms);
  CHECK(took < 2s);
}

TEST_CASE("a try canceled before it starts runs nothing") {
  Fixture f;
  f.cancel = true;
  auto r = f.run("touch started");
  CHECK(r.outcome == Outcome::canceled);
  CHECK_FALSE(fs::exists(fs::path(f.t.scratch_dir) / "started"));
}

TEST_CASE("the checkpoint handed in is readable; none is absent") {
  Fixture f;
  auto r = f.run("test -e \"$BATON_CHECKPOINT_FILE\" && echo present || echo absent");
  CHECK(f.log() == "absent\n");
  CHECK_FALSE(r.checkpoint);

  fs::remove(f.t.log_path);
  f.t.checkpoint = "step=3";
  r = f.run("cat \"$BATON_CHECKPOINT_FILE\"");
  CHECK(r.outcome == Outcome::success);
  CHECK(f.log() == "step=3");
  CHECK(r.checkpoint == std::optional<std::string>("step=3"));
  // Unchanged: never reported as new.
  for (auto& p : f.progress) CHECK_FALSE(p.checkpoint);
}

TEST_CASE("a checkpoint written by the task is reported by heartbeats and in the result") {
  Fixture f;
  f.t.heartbeat_interval = 100ms;
  auto r = f.run(
      "printf one > \"$BATON_CHECKPOINT_FILE.tmp\"; mv \"$BATON_CHECKPOINT_FILE.tmp\" \"$BATON_CHECKPOINT_FILE\"; "
      "sleep 0.3; "
      "printf two > \"$BATON_CHECKPOINT_FILE.tmp\"; mv \"$BATON_CHECKPOINT_FILE.tmp\" \"$BATON_CHECKPOINT_FILE\"; "
      "sleep 0.3");
  CHECK(r.outcome == Outcome::success);
  CHECK(r.checkpoint == std::optional<std::string>("two"));
  std::vector<std::string> seen;
  for (auto& p : f.progress) {
    if (p.checkpoint) seen.push_back(*p.checkpoint);
  }
  CHECK(seen == std::vector<std::string>{"one", "two"});
  CHECK(f.progress.size() >= 4);
  // A checkpoint write is activity.
  for (auto& p : f.progress) {
    if (p.checkpoint) CHECK(p.last_activity_at);
  }
}

TEST_CASE("an oversize checkpoint is ignored and noted once") {
  Fixture f;
  f.t.heartbeat_interval = 50ms;
  f.t.file_cap_bytes = 10;
  auto r = f.run("printf 'far more than ten bytes' > \"$BATON_CHECKPOINT_FILE\"; sleep 0.3");
  CHECK(r.outcome == Outcome::success);
  CHECK_FALSE(r.checkpoint);
  for (auto& p : f.progress) CHECK_FALSE(p.checkpoint);
  CHECK(f.log() == "[baton] checkpoint over 10 bytes ignored\n");
}

TEST_CASE("a JSON object in the output file is the try's output") {
  Fixture f;
  auto r = f.run("echo '{\"rows\": 3, \"path\": \"s3://x\"}' > \"$BATON_OUTPUT_FILE\"");
  CHECK(r.outcome == Outcome::success);
  REQUIRE(r.output_json);
  CHECK(*r.output_json == R"({"path":"s3://x","rows":3})");
}

TEST_CASE("an output that is not a JSON object, not JSON, or too big fails the try") {
  Fixture f;
  auto r = f.run("echo '[1, 2]' > \"$BATON_OUTPUT_FILE\"");
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.reason, "not a JSON object"));
  CHECK_FALSE(r.output_json);

  r = f.run("echo '{\"rows\": ' > \"$BATON_OUTPUT_FILE\"");
  CHECK(r.outcome == Outcome::failed);
  CHECK(contains(r.reason, "not valid JSON"));

  f.t.file_cap_bytes = 16;
  r = f.run("echo '{\"rows\": \"0123456789abcdef\"}' > \"$BATON_OUTPUT_FILE\"");
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.reason == "output file over 16 bytes");
  CHECK(contains(f.log(), "[baton] output file over 16 bytes"));

  f.t.file_cap_bytes = 1024 * 1024;
  r = f.run("mkfifo \"$BATON_OUTPUT_FILE\"");
  CHECK(r.outcome == Outcome::failed);
  CHECK(contains(r.reason, "not a regular file"));

  r = f.run("printf '%0300d' 0 | tr 0 '[' > \"$BATON_OUTPUT_FILE\"");
  CHECK(r.outcome == Outcome::failed);
  CHECK(contains(r.reason, "nested deeper"));
}

TEST_CASE("the output file of a failed try is ignored; stale files are removed") {
  Fixture f;
  auto r = f.run("echo '{}' > \"$BATON_OUTPUT_FILE\"; exit 1");
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.reason == "exit code 1");
  CHECK_FALSE(r.output_json);
  // The next try in the same folder does not inherit it.
  r = f.run("true");
  CHECK(r.outcome == Outcome::success);
  CHECK_FALSE(r.output_json);
}

TEST_CASE("last_activity_at advances when the task writes") {
  Fixture f;
  f.t.heartbeat_interval = 100ms;
  auto r = f.run("echo a; sleep 0.35; echo b; sleep 0.35");
  CHECK(r.outcome == Outcome::success);
  REQUIRE(f.progress.size() >= 4);
  auto& first = f.progress.front();
  auto& last = f.progress.back();
  REQUIRE(first.last_activity_at);
  REQUIRE(last.last_activity_at);
  CHECK(*last.last_activity_at > *first.last_activity_at);
  CHECK(first.log_bytes == 2);
  CHECK(last.log_bytes == 4);
  // Between writes it stays put.
  CHECK(f.progress[0].last_activity_at == f.progress[1].last_activity_at);
}

TEST_CASE("a progress line written to BATON_PROGRESS_FILE is reported once and counts as activity") {
  Fixture f;
  f.t.heartbeat_interval = 100ms;
  // Silent on stdout: only the progress file says it is alive. A line that
  // is not progress is ignored; the latest line is what counts.
  auto r = f.run("echo 'not progress' > \"$BATON_PROGRESS_FILE\"; sleep 0.35; "
                 "printf '0.1 start\\n0.42 loaded 42 rows\\n' >> \"$BATON_PROGRESS_FILE\"; sleep 0.35");
  CHECK(r.outcome == Outcome::success);
  std::vector<ShellProgress> with;
  for (auto& p : f.progress)
    if (p.progress) with.push_back(p);
  REQUIRE(with.size() == 1);
  CHECK(with[0].progress->fraction == Approx(0.42));
  CHECK(with[0].progress->text == "loaded 42 rows");
  REQUIRE(with[0].last_activity_at);
  CHECK(f.progress.back().last_activity_at == with[0].last_activity_at);
  // The next try in the same folder starts with no progress file.
  f.progress.clear();
  r = f.run("test ! -e \"$BATON_PROGRESS_FILE\"");
  CHECK(r.outcome == Outcome::success);
}

TEST_CASE("tries on several threads at once do not hold each other up") {
  // Each try has its own child, pipe and log; a long one next door changes
  // nothing for a short one.
  Fixture first, second;
  ShellResult r;
  auto start = SteadyClock::now();
  std::thread t([&] { r = first.run("sleep 0.2; echo hi"); });
  std::this_thread::sleep_for(50ms);
  std::thread u([&] { second.run("sleep 5"); });
  t.join();
  auto took = SteadyClock::now() - start;
  second.cancel = true;
  u.join();
  CHECK(r.outcome == Outcome::success);
  CHECK(first.log() == "hi\n");
  CHECK(second.log().empty());
  CHECK(took < 600ms);
}

TEST_CASE("bad input fails the try instead of the worker") {
  Fixture f;
  f.t.env = {{"BAD=NAME", "x"}};
  auto r = f.run("true");
  CHECK(r.outcome == Outcome::failed);
  CHECK(contains(r.reason, "BAD=NAME"));

  // A log that cannot be made, seen before the start: the task never runs.
  Fixture g;
  std::ofstream(g.dir / "a_file") << "x";
  g.t.log_path = (g.dir / "a_file" / "task" / "try.log").string();
  r = g.run("touch ran");
  CHECK(r.outcome == Outcome::failed);
  CHECK(contains(r.reason, "cannot open log"));
  CHECK(contains(r.reason, "is not a directory"));
  CHECK_FALSE(fs::exists(fs::path(g.t.scratch_dir) / "ran"));

  Fixture h;
  h.t.log_path = h.dir.string();  // a folder where the file should be
  r = h.run("true");
  CHECK(r.outcome == Outcome::failed);
  CHECK(contains(r.reason, "not a regular file"));
}

TEST_CASE("the log file and its folders are made at the first byte: a silent task leaves none") {
  Fixture f;
  f.t.log_path = (f.dir / "logs" / "dag" / "run" / "task" / "1.log").string();
  auto r = f.run("true");
  CHECK(r.outcome == Outcome::success);
  CHECK(r.log_bytes == 0);
  CHECK_FALSE(fs::exists(f.dir / "logs"));

  r = f.run("echo hello");
  CHECK(r.outcome == Outcome::success);
  CHECK(f.log() == "hello\n");

  // Baton's own note on a try that cannot start makes the file too.
  Fixture g;
  g.t.log_path = (g.dir / "logs" / "task" / "1.log").string();
  g.t.env = {{"BAD=NAME", "x"}};
  r = g.run("true");
  CHECK(r.outcome == Outcome::failed);
  CHECK(contains(g.log(), "BAD=NAME"));
}

TEST_CASE("every param whose name is an identifier is BATON_PARAM_<NAME>: strings as they are, others as JSON") {
  Fixture f;
  f.t.params_json = R"x({"region":"eu","evil":"x; touch pwned $(id)","n":5,"list":[1,"a"],"obj":{"k":null},)x"
                    R"x("flag":true,"none":null,"not-an-identifier":"no","9lives":"no","_ok":"yes"})x";
  auto r = f.run(
      "for v in region evil n list obj flag none _ok; do eval \"echo $v=\\${BATON_PARAM_$v-unset}\"; done; "
      "env | grep -c '^BATON_PARAM_' ");
  REQUIRE(r.outcome == Outcome::success);
  CHECK(f.log() ==
        "region=eu\n"
        "evil=x; touch pwned $(id)\n"  // data: never run
        "n=5\n"
        "list=[1,\"a\"]\n"
        "obj={\"k\":null}\n"
        "flag=true\n"
        "none=null\n"
        "_ok=yes\n"
        "8\n");
  CHECK_FALSE(fs::exists(f.t.scratch_dir + "/pwned"));
}
