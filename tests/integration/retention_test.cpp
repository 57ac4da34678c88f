// Automatic retention wired into a real scheduling process (the time logic
// is pinned with a fake clock in tests/unit/scheduler/retention_test.cpp):
// a standalone Scheduler with retention settings removes old finished runs
// on its own thread, keeps the latest of each DAG, and audits the clean as
// `system`, through a store of its own (not the scheduler's connection).
// SQLite, or PostgreSQL with BATON_TEST_STORE=postgres. The wait
// polls the store with a deadline, never a fixed sleep.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "baton/core/clock.h"
#include "baton/scheduler/scheduler.h"
#include "baton/store/store.h"
#include "test_db.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("retention: a scheduler with retention on removes old finished runs by itself") {
  static int n = 0;
  fs::path dir = fs::temp_directory_path() / ("baton-retention-test-" + std::to_string(getpid()) + "-" + std::to_string(++n));
  fs::remove_all(dir);
  fs::create_directories(dir / "dags");
  std::ofstream(dir / "dags" / "old.yaml") << "dag: old\ntasks:\n  a: {type: noop}\n";
  auto url = store::parse_database_url(testing::test_database_url(dir));
  REQUIRE(url.ok());
  auto opened = store::open_store(*url, SystemClock::instance());
  REQUIRE(opened.ok());
  store::Store& s = **opened;

  // History: three runs of `old` that ended 10 days ago.
  store::DagVersionRecord v;
  v.dag_id = "old";
  v.version = "v0";
  v.compiled = "{}";
  v.source = "dag: old\n";
  v.file = "old.yaml";
  REQUIRE(s.register_dag_version(v, "default", 0, "system").ok());
  TimePoint ended = SystemClock::instance().now() - std::chrono::hours(24 * 10);
  for (const char* day : {"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}) {
    store::RunRecord r;
    r.dag_id = "old";
    r.logical_date = *parse_utc(day);
    r.data_interval_start = r.data_interval_end = r.logical_date;
    r.run_id = std::string("manual__") + day;
    r.run_type = "manual";
    r.dag_version = "v0";
    r.state = RunState::success;
    r.ended_at = ended;
    store::TaskInstanceRecord t;
    t.task_id = "a";
    t.state = TaskState::success;
    REQUIRE(s.create_run(r, {t}, "system").ok());
  }

  SchedulerOptions o;
  o.dags_dir = (dir / "dags").string();
  o.logs_dir = (dir / "logs").string();
  o.workers = 1;
  o.folder_poll = 100ms;
  o.shutdown_grace = 1s;
  o.retention.runs_days = 1;
  o.retention_first_after = 0s;
  // The job cleans through a store of its own (a second connection), never
  // the scheduler's: its clock (the audit entries' time) tells them apart.
  FakeClock own_clock(*parse_utc("2030-01-01T00:00:00Z"));
  int opened_own = 0;
  o.retention_store = [&]() -> Result<std::unique_ptr<store::Store>> {
    ++opened_own;
    store::OpenOptions no_migrate;
    no_migrate.migrate = false;
    return store::open_store(*url, own_clock, no_migrate);
  };
  {
    Scheduler sched(s, SystemClock::instance(), o);
    REQUIRE(sched.start().ok());
    auto deadline = std::chrono::steady_clock::now() + 15s;
    size_t left = 3;
    while (std::chrono::steady_clock::now() < deadline) {
      store::RunFilter f;
      f.dag_id = "old";
      auto runs = s.list_runs(f);
      REQUIRE(runs.ok());
      left = runs->size();
      if (left == 1) break;
      std::this_thread::sleep_for(20ms);
    }
    CHECK(left == 1);
    sched.stop();
  }
  store::RunFilter f;
  f.dag_id = "old";
  auto runs = s.list_runs(f);
  REQUIRE(runs.ok());
  REQUIRE(runs->size() == 1);
  CHECK(runs->front().run_id == "manual__2026-01-03T00:00:00Z");  // the latest stays
  store::AuditFilter cleaned;
  cleaned.action = "db.cleaned";
  auto audit = s.list_audit(cleaned);
  REQUIRE(audit.ok());
  REQUIRE(audit->size() == 1);
  CHECK(audit->front().actor == "system");
  CHECK(audit->front().at == own_clock.now());  // appended through the job's own store
  CHECK(opened_own == 1);
  CHECK(s.verify_audit()->first_bad_id == std::nullopt);
  opened->reset();
  fs::remove_all(dir);
}

TEST_CASE("retention: a scheduler whose retention store cannot be opened does not start, and says why") {
  static int n = 0;
  fs::path dir =
      fs::temp_directory_path() / ("baton-retention-open-test-" + std::to_string(getpid()) + "-" + std::to_string(++n));
  fs::remove_all(dir);
  fs::create_directories(dir / "dags");
  auto url = store::parse_database_url(testing::test_database_url(dir));
  REQUIRE(url.ok());
  auto opened = store::open_store(*url, SystemClock::instance());
  REQUIRE(opened.ok());
  SchedulerOptions o;
  o.dags_dir = (dir / "dags").string();
  o.logs_dir = (dir / "logs").string();
  o.workers = 1;
  o.retention.runs_days = 1;
  o.retention_store = []() -> Result<std::unique_ptr<store::Store>> {
    return Error{"unavailable", "database is away"};
  };
  {
    Scheduler sched(**opened, SystemClock::instance(), o);
    auto started = sched.start();
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().code == "unavailable");
    CHECK(started.error().message == "retention: opening its own connection to the database: database is away");
  }
  opened->reset();
  fs::remove_all(dir);
}
