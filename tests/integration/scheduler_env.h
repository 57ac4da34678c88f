// The scheduler integration tests' shared fixture: a scheduler wired to the
// real store (SQLite, or PostgreSQL under BATON_TEST_STORE=postgres), real DAG
// files and real processes, and the waits they use. Time here is real
// (processes run in it); each wait polls the store with a deadline, never a
// fixed sleep.
#pragma once

#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "baton/core/clock.h"
#include "baton/scheduler/scheduler.h"
#include "baton/store/store.h"
#include "test_db.h"

namespace baton::scheduler_test {

using namespace baton::scheduler;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct Env {
  fs::path dir;
  fs::path dags;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Scheduler> sched;
  SchedulerOptions options;

  Env() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("baton-sched-test-" + std::to_string(getpid()) + "-" + std::to_string(++n));
    fs::remove_all(dir);
    dags = dir / "dags";
    fs::create_directories(dags);
    auto url = store::parse_database_url(testing::test_database_url(dir));
    auto opened = store::open_store(*url, SystemClock::instance());
    REQUIRE(opened.ok());
    store = std::move(*opened);
    options.dags_dir = dags.string();
    options.logs_dir = (dir / "logs").string();
    options.workers = 4;
    options.folder_poll = 100ms;
    options.heartbeat_interval = 100ms;
    options.shutdown_grace = 2s;
  }
  ~Env() {
    sched.reset();
    store.reset();
    fs::remove_all(dir);
  }
  void write(const std::string& name, const std::string& yaml) { std::ofstream(dags / name) << yaml; }
  void start() {
    sched = std::make_unique<Scheduler>(*store, SystemClock::instance(), options);
    REQUIRE(sched->start().ok());
  }
  void restart() {
    sched->stop();
    sched.reset();
    start();
  }
  store::RunRecord wait_run(const std::string& dag, const std::string& run_id,
                            std::function<bool(const store::RunRecord&)> done, Duration limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      auto r = store->get_run(dag, run_id);
      if (r && done(*r)) return *r;
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL("run " << run_id << " did not get there in time; state " << (r ? to_string(r->state) : "missing"));
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  store::RunRecord wait_finished(const std::string& dag, const std::string& run_id) {
    return wait_run(dag, run_id, [](const store::RunRecord& r) { return is_finished(r.state); });
  }
  std::map<std::string, store::TaskInstanceRecord> tis(const store::RunRecord& r) {
    std::map<std::string, store::TaskInstanceRecord> out;
    auto list = store->list_task_instances(r.pk);
    REQUIRE(list.ok());
    for (auto& t : *list) out[t.task_id] = t;
    return out;
  }
  std::string log_of(const store::RunRecord& r, const std::string& task, int try_number) {
    std::ifstream in(fs::path(options.logs_dir) / r.dag_id / r.run_id / task / (std::to_string(try_number) + ".log"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

// A DAG's runs, oldest first.
inline std::vector<store::RunRecord> runs_of(store::Store& s, const std::string& dag) {
  store::RunFilter f;
  f.dag_id = dag;
  f.limit = 1000;
  auto r = s.list_runs(f);
  std::vector<store::RunRecord> out = r.ok() ? *r : std::vector<store::RunRecord>{};
  std::reverse(out.begin(), out.end());  // oldest first
  return out;
}

}  // namespace baton::scheduler_test
