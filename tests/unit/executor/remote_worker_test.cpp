// `baton worker` (RemoteWorker) against fake servers over real HTTP: a
// server older than the reports that carry a claim, or than several reports
// in one request (POST /workers/reports), refuses them (400, 404); the
// worker sends them again the old way — one a request, without a claim —
// and loses none. A current server gets them with the claim. Waits have a
// deadline (a hang fails); nothing is asserted about time.
#include <catch2/catch.hpp>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/core/base64.h"
#include "baton/executor/remote_worker.h"

using namespace baton;
using namespace baton::executor;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr auto kWait = 20s;  // long enough for a loaded machine

struct Dir {
  fs::path path;
  Dir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("baton-remote-worker-" + std::to_string(getpid()) + "-" + std::to_string(++n));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A server that hands out `tries` tries (shell commands) with its first
// claim, then none, and records the reports it takes. `knows_claim`: it
// takes a report's `claim` (older ones refuse the field, 400);
// `knows_batches`: it has POST /workers/reports (older ones answer 404).
// `hold_first`: the first report's answer waits until every try's command
// ran (their reports queue behind it and go together in the next request).
struct FakeServer {
  bool knows_claim = false;
  bool knows_batches = false;
  bool hold_first = false;
  std::vector<std::string> commands;
  long long heartbeat_us = 5000000;  // the tries' heartbeat interval
  Dir& dir;

  httplib::Server http;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> reports;  // guarded by mu: the reports taken
  int refused = 0;            // guarded by mu: requests refused for their form
  int with_claim = 0;         // guarded by mu: reports taken that carried a claim
  bool one_per_claim = false;
  std::string payload_error;  // set: each try's payload says the server could not render it
  size_t handed = 0;          // guarded by mu: tries handed out
  std::vector<json> beats;    // guarded by mu: the heartbeats' bodies

  FakeServer(Dir& d, std::vector<std::string> cmds, bool claim, bool batches, bool hold = false)
      : knows_claim(claim), knows_batches(batches), hold_first(hold), commands(std::move(cmds)), dir(d) {
    http.Post("/api/v1/workers/claim", [this](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body);
      json items = next_items();
      if (items.empty()) std::this_thread::sleep_for(50ms);  // a short long poll
      res.set_content(json{{"items", items}, {"waited_us", 0}}.dump(), "application/json");
    });
    http.Post("/api/v1/workers/heartbeat", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu);
        beats.push_back(json::parse(req.body));
      }
      res.set_content(R"({"stale": []})", "application/json");
    });
    http.Post("/api/v1/workers/report", [this](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body);
      if (body.contains("claim") && !knows_claim) {
        refuse(res, 400, "unknown field `claim`");
        return;
      }
      bool first;
      {
        std::lock_guard lock(mu);
        first = reports.empty();
      }
      if (first && hold_first) {
        // Until the other tries' commands ran (they touch a file each).
        auto deadline = std::chrono::steady_clock::now() + 5s;
        auto all_ran = [&] {
          for (size_t i = 1; i <= commands.size(); ++i)
            if (!fs::exists(dir.path / ("ran-" + std::to_string(i)))) return false;
          return true;
        };
        while (!all_ran() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
        std::this_thread::sleep_for(300ms);  // their reports queue meanwhile (not asserted)
      }
      take(body);
      json out = {{"accepted", true}};
      if (body.contains("claim")) out["items"] = json::array(), out["waited_us"] = 0;
      res.set_content(out.dump(), "application/json");
    });
    if (knows_batches)
      http.Post("/api/v1/workers/reports", [this](const httplib::Request& req, httplib::Response& res) {
        json body = json::parse(req.body);
        json results = json::array();
        for (auto r : body["reports"]) {
          if (body.contains("claim")) r["claim"] = body["claim"];
          take(r);
          results.push_back({{"attempt_token", r["attempt_token"]}, {"status", 200}});
        }
        json out = {{"results", results}};
        if (body.contains("claim")) out["items"] = next_items(), out["waited_us"] = 0;
        res.set_content(out.dump(), "application/json");
      });
    // Older servers: an unknown route is a 404 with a JSON error.
    http.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (res.status == 404) {
        std::lock_guard lock(mu);
        ++refused;
        res.set_content(R"({"error": {"code": "not_found", "message": "no such route"}})", "application/json");
      }
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
    while (!http.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~FakeServer() {
    http.stop();
    thread.join();
  }

  // The tries a claim gets: all of them at the first claim, or with
  // `one_per_claim` the next one at each claim.
  json next_items() {
    std::lock_guard lock(mu);
    json items = json::array();
    size_t until = one_per_claim ? std::min(handed + 1, commands.size()) : commands.size();
    for (; handed < until; ++handed)
      items.push_back({{"attempt_token", "tok-" + std::to_string(handed + 1)},
                       {"ti_id", static_cast<long long>(handed + 1)},
                       {"try_number", 1},
                       {"payload",
                        {{"dag_id", "d"}, {"run_id", "r"}, {"task_id", "t" + std::to_string(handed + 1)},
                         {"command", commands[handed]},
                         {"heartbeat_interval_us", heartbeat_us}}}});
    if (!payload_error.empty())
      for (auto& it : items) it["payload"]["error"] = payload_error;
    return items;
  }

  void refuse(httplib::Response& res, int status, const std::string& message) {
    {
      std::lock_guard lock(mu);
      ++refused;
    }
    res.status = status;
    res.set_content(json{{"error", {{"code", "invalid_argument"}, {"message", message}}}}.dump(), "application/json");
  }
  void take(const json& r) {
    std::lock_guard lock(mu);
    reports.push_back(r);
    if (r.contains("claim")) ++with_claim;
    cv.notify_all();
  }
  bool wait_reports(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, [&] { return reports.size() >= n; });
  }
  std::set<std::string> tokens() {
    std::lock_guard lock(mu);
    std::set<std::string> out;
    for (auto& r : reports) out.insert(r.value("attempt_token", ""));
    return out;
  }
};

// Runs a worker of `slots` slots against `server` until it reported `n` tries.
void work_until_reported(FakeServer& server, Dir& dir, int slots, size_t n, Duration heartbeat = 5s) {
  RemoteWorkerOptions o;
  o.heartbeat_interval = heartbeat;
  o.servers = {"http://127.0.0.1:" + std::to_string(server.port)};
  o.token = "secret";
  o.slots = slots;
  o.name = "w1";
  o.work_dir = (dir.path / "worker").string();
  o.claim_wait = 100ms;
  o.shutdown_grace = 1s;
  RemoteWorker worker(o);
  std::atomic<bool> stop{false};
  Status result;
  std::thread t([&] { result = worker.run(stop); });
  bool got = server.wait_reports(n);
  stop = true;
  t.join();
  CHECK(got);
  CHECK(result.ok());
}

}  // namespace

TEST_CASE("RemoteWorker: a server that refuses a report's claim (400) gets the report again without it") {
  Dir dir;
  FakeServer server(dir, {"echo hi"}, /*claim=*/false, /*batches=*/false);
  work_until_reported(server, dir, 1, 1);
  REQUIRE(server.reports.size() == 1);
  const json& r = server.reports[0];
  CHECK(r.value("attempt_token", "") == "tok-1");
  CHECK(r.value("outcome", "") == "success");
  CHECK(r.value("worker", "") == "w1");
  CHECK_FALSE(r.contains("claim"));
  CHECK(server.refused >= 1);  // the form with the claim, once
}

TEST_CASE("RemoteWorker: a server without POST /workers/reports (404) gets each report alone") {
  Dir dir;
  std::vector<std::string> cmds;
  for (int i = 1; i <= 3; ++i) cmds.push_back("touch " + (dir.path / ("ran-" + std::to_string(i))).string());
  FakeServer server(dir, cmds, /*claim=*/true, /*batches=*/false, /*hold=*/true);
  work_until_reported(server, dir, 3, 3);
  CHECK(server.tokens() == std::set<std::string>{"tok-1", "tok-2", "tok-3"});
  for (auto& r : server.reports) CHECK(r.value("outcome", "") == "success");
  INFO("requests refused for their form: " << server.refused);
}

TEST_CASE("RemoteWorker: a current server gets reports with the next claim, none refused") {
  Dir dir;
  FakeServer server(dir, {"echo hi"}, /*claim=*/true, /*batches=*/true);
  work_until_reported(server, dir, 1, 1);
  REQUIRE(server.reports.size() == 1);
  CHECK(server.reports[0].contains("claim"));
  CHECK(server.refused == 0);
}

TEST_CASE("RemoteWorker: a try's progress line goes with its next heartbeat, once") {
  Dir dir;
  FakeServer server(dir, {"echo '0.42 loaded 42 rows' > \"$BATON_PROGRESS_FILE\"; sleep 0.8"}, true, true);
  server.heartbeat_us = 100000;
  work_until_reported(server, dir, 1, 1, 100ms);
  std::lock_guard lock(server.mu);
  std::vector<json> sent;
  for (auto& b : server.beats)
    for (auto& t : b["tries"])
      if (t.contains("progress")) sent.push_back(t["progress"]);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0] == json{{"fraction", 0.42}, {"text", "loaded 42 rows"}});
}

TEST_CASE("RemoteWorker: a slot's tries share its log file, each report carries only its own try's log") {
  Dir dir;
  FakeServer server(dir, {"echo first try; echo more", "true", "echo third"}, true, true);
  server.one_per_claim = true;
  work_until_reported(server, dir, 1, 3);
  std::lock_guard lock(server.mu);
  REQUIRE(server.reports.size() == 3);
  std::map<std::string, std::string> logs;  // by token: what the heartbeats and the report sent
  auto add = [&](const json& t) {
    if (t.contains("log")) logs[t.value("attempt_token", "")] += base64url_decode(t["log"].get<std::string>()).value_or("?");
  };
  for (auto& b : server.beats)
    for (auto& t : b["tries"]) add(t);
  for (auto& r : server.reports) add(r);
  CHECK(logs["tok-1"] == "first try\nmore\n");
  CHECK(logs.count("tok-2") == 0);
  CHECK(logs["tok-3"] == "third\n");
  // On the worker's disk: slot files only, nothing per try. A report's claim
  // may take a second slot while its own try still holds the first, so a
  // 1-slot worker has one or two; one holds the last try's log.
  std::vector<std::string> files, contents;
  for (auto& e : fs::directory_iterator(dir.path / "worker" / "logs")) files.push_back(e.path().filename().string());
  CHECK(files == std::vector<std::string>{"w1"});
  for (auto& e : fs::directory_iterator(dir.path / "worker" / "logs" / "w1")) {
    std::string name = e.path().filename().string();
    CHECK((name == "slot-0.log" || name == "slot-1.log"));
    std::ifstream in(e.path());
    contents.push_back(std::string(std::istreambuf_iterator<char>(in), {}));
  }
  CHECK(std::count(contents.begin(), contents.end(), "third\n") == 1);
}

TEST_CASE("RemoteWorker: a try the server could not render fails with its reason, also in the log it sends") {
  Dir dir;
  FakeServer server(dir, {"touch " + (dir.path / "ran").string()}, true, true);
  server.payload_error = "template error: undefined variable `region`";
  work_until_reported(server, dir, 1, 1);
  std::lock_guard lock(server.mu);
  REQUIRE(server.reports.size() == 1);
  const json& r = server.reports[0];
  CHECK(r.value("outcome", "") == "failed");
  CHECK(r.value("reason", "") == server.payload_error);
  REQUIRE(r.contains("log"));
  CHECK(base64url_decode(r["log"].get<std::string>()).value_or("") == "[baton] " + server.payload_error + "\n");
  CHECK_FALSE(fs::exists(dir.path / "ran"));
}
