// Production scale, at a small size (issue 16): the scheduler's loop does
// only scheduling. A backfill beside live work yields within a turn; finished
// runs leave the scheduler's memory; a dry run carries the plan and a
// backfill made carries only its summary. The whole scheduler against a real
// SQLite store, with a fake clock for the time it schedules in (the loop's own
// timers are real); each wait polls the store with a deadline. The folder
// loaded in the background: backfills and dataset schedules wait for it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "baton/core/clock.h"
#include "baton/core/ids.h"
#include "baton/scheduler/scheduler.h"
#include "baton/store/store.h"
#include "test_db.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct ScaleEnv {
  fs::path dir;
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Scheduler> sched;
  SchedulerOptions options;

  ScaleEnv() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("baton-scale-test-" + std::to_string(getpid()) + "-" + std::to_string(++n));
    fs::remove_all(dir);
    fs::create_directories(dir / "dags");
    auto url = store::parse_database_url(testing::test_database_url(dir));
    auto opened = store::open_store(*url, clock);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    options.dags_dir = (dir / "dags").string();
    options.logs_dir = (dir / "logs").string();
    options.workers = 2;
    options.folder_poll = 100ms;
    options.heartbeat_interval = 100ms;
    options.shutdown_grace = 2s;
  }
  ~ScaleEnv() {
    sched.reset();
    store.reset();
    fs::remove_all(dir);
  }
  void write(const std::string& name, const std::string& yaml) { std::ofstream(dir / "dags" / name) << yaml; }
  void start() {
    sched = std::make_unique<Scheduler>(*store, clock, options);
    REQUIRE(sched->start().ok());
  }
  template <class F>
  void wait_for(const char* what, F done, Duration limit = 60s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) FAIL("waited in vain for " << what);
      std::this_thread::sleep_for(20ms);
    }
  }
  std::vector<store::RunRecord> runs(const std::string& dag, std::optional<std::string> type = {}) {
    store::RunFilter f;
    f.dag_id = dag;
    f.run_type = type;
    f.limit = 100000;
    auto r = store->list_runs(f);
    REQUIRE(r.ok());
    return *r;
  }
};

const char* kDaily =
    "dag: bf\nschedule: '@daily'\nstart_date: 2020-01-01\ncatchup: false\nmax_active_runs: 5000\n"
    "tasks:\n  a: {type: noop}\n  b: {type: noop, depends_on: [a]}\n  c: {type: noop, depends_on: [b]}\n";
const char* kLive = "dag: live\ntasks:\n  t: {type: noop}\n";

}  // namespace

TEST_CASE("a backfill beside live work: a live trigger waits for at most one batch of the backfill's runs") {
  ScaleEnv env;
  env.write("bf.yaml", kDaily);
  env.write("live.yaml", kLive);
  env.start();
  BackfillRequest req;
  req.dag_id = "bf";
  req.from = "2021-01-01";
  req.to = "2025-12-31";  // 1,826 intervals
  req.max_active_runs = 1000;
  auto made = env.sched->create_backfill(req, "ada");
  REQUIRE(made.ok());
  CHECK(made->summary.create == 1826);
  CHECK(made->plan.empty());  // a backfill made answers with its summary, not its plan
  // The live trigger comes right behind the backfill's creation, while 1,826 runs wait to be made.
  auto live = env.sched->trigger("live", TriggerRequest{}, "bob");
  REQUIRE(live.ok());
  const long long id = made->backfill.id;
  env.wait_for("the backfill's end", [&] {
    auto b = env.store->get_backfill(id);
    return b.ok() && b->state != "running";
  });
  CHECK(env.store->get_backfill(id)->state == "success");
  CHECK(env.store->get_backfill(id)->done == 1826);
  // Runs are numbered as they are made: the backfill's made before the live
  // run are the batch of its creation, the one queued before the trigger,
  // and at most one poll's (3 x kStepsPerTurn = 192 of 1,826).
  long long before = 0;
  for (auto& r : env.runs("bf", "backfill")) before += r.pk < live->run.pk;
  INFO("backfill runs made before the live run: " << before);
  CHECK(before <= 3 * 64);
  CHECK(env.runs("bf", "backfill").size() == 1826);
}

TEST_CASE("finished runs leave the scheduler's memory; a running one stays") {
  ScaleEnv env;
  env.write("bf.yaml", kDaily);
  env.write("live.yaml", kLive);
  env.write("slow.yaml", "dag: slow\ntasks:\n  wait: {command: 'sleep 30'}\n");
  env.start();
  for (int i = 0; i < 200; ++i) REQUIRE(env.sched->trigger("live", TriggerRequest{}, "bob").ok());
  BackfillRequest req;
  req.dag_id = "bf";
  req.from = "2024-01-01";
  req.to = "2024-12-31";
  req.max_active_runs = 100;
  auto made = env.sched->create_backfill(req, "ada");
  REQUIRE(made.ok());
  auto slow = env.sched->trigger("slow", TriggerRequest{}, "bob");
  REQUIRE(slow.ok());
  env.wait_for("every live and backfill run's end", [&] {
    auto b = env.store->get_backfill(made->backfill.id);
    if (!b.ok() || b->state != "success") return false;
    for (auto& r : env.runs("live"))
      if (!is_finished(r.state)) return false;
    return true;
  });
  CHECK(env.runs("live").size() == 200);
  CHECK(env.runs("bf", "backfill").size() == 366);
  // The metrics count the runs in memory (taken at the end of a turn and on every poll).
  env.wait_for("the in-memory count to settle", [&] {
    auto m = env.sched->metrics();
    return m.ok() && m->active_runs == 1;
  }, 10s);
  auto m = env.sched->metrics();
  REQUIRE(m.ok());
  CHECK(m->active_runs == 1);  // the slow run alone: 566 finished runs are in the store only
  REQUIRE(env.sched->cancel_run("slow", slow->run.run_id, "bob").ok());
  env.wait_for("the canceled run to leave memory", [&] {
    auto m2 = env.sched->metrics();
    return m2.ok() && m2->active_runs == 0;
  }, 10s);
}

TEST_CASE("a dry run returns the whole plan and its summary, and makes nothing") {
  ScaleEnv env;
  env.write("bf.yaml", kDaily);
  env.start();
  BackfillRequest req;
  req.dag_id = "bf";
  req.from = "2026-11-01";
  req.to = "2026-11-30";  // the 22nd is not over yet: the plan stops there
  req.dry_run = true;
  auto plan = env.sched->create_backfill(req, "ada");
  REQUIRE(plan.ok());
  // The 21st has its scheduled run (catchup: false made the latest interval's at start).
  CHECK(plan->summary.create == 20);
  CHECK(plan->summary.skip == 2);
  CHECK(plan->plan.size() == 22);
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 10)->empty());
  CHECK(env.runs("bf", "backfill").empty());
}

TEST_CASE("background load: a running backfill and a dataset schedule go on with the folder's versions, not the stored ones") {
  ScaleEnv env;
  // The previous life: a dataset-scheduled DAG (this version becomes stale)
  // among 2,500 others, so that the load takes three chunks.
  for (int i = 0; i < 2500; ++i) env.write("a-" + std::to_string(10000 + i) + ".yaml",
                                            "dag: f" + std::to_string(i) + "\ntasks:\n  t: {type: noop}\n");
  env.write("z-ds.yaml", "dag: ds\nschedule: {datasets: ['s3://lake/x']}\ntasks:\n  old: {type: noop}\n");
  env.start();
  env.sched->stop();
  env.sched.reset();
  const std::string stale = *env.store->get_dag("ds")->current_version;
  // And a version that no longer compiles (the DAG language moved on), with
  // a backfill running on it.
  store::DagVersionRecord v;
  v.dag_id = "bf";
  v.version = "stored-bf";
  v.compiled = "{}";
  v.source = "dag: bf\nschedule: '@daily'\ntasks:\n  a: {type: no-such-type}\n";
  v.file = (env.dir / "dags" / "z-bf.yaml").string();
  REQUIRE(env.store->register_dag_version(v, "default", partition_of("bf"), "system").ok());
  store::BackfillRecord b;
  b.dag_id = "bf";
  b.from_at = *parse_utc("2026-11-01T00:00:00Z");
  b.to_at = *parse_utc("2026-11-10T00:00:00Z");
  b.from_text = "2026-11-01";
  b.to_text = "2026-11-10";
  b.max_active_runs = 3;
  b.total = 10;
  b.cursor_at = b.from_at;
  b.created_by = "ada";
  auto made = env.store->create_backfill(b, "ada");
  REQUIRE(made.ok());
  const long long id = made->backfill.id;
  // The folder now: good versions of both, in the load's last chunk.
  env.write("z-bf.yaml", kDaily);
  env.write("z-ds.yaml", "dag: ds\nschedule: {datasets: ['s3://lake/x']}\ntasks:\n  new: {type: noop}\n");
  env.options.load_in_background = true;
  env.start();
  // An outside event comes while the folder loads (what the API does with
  // one): the turns between the load's chunks see it.
  store::DatasetEvent e;
  e.uri = "s3://lake/x";
  e.at = env.clock.now();
  REQUIRE(env.store->record_dataset_event(e).ok());
  env.sched->datasets_changed();
  env.wait_for("the backfill's end", [&] {
    auto got = env.store->get_backfill(id);
    return got.ok() && got->state != "running";
  });
  auto ended = env.store->get_backfill(id);
  CHECK(ended->state == "success");
  CHECK(ended->done == 10);
  for (auto& r : env.runs("bf", "backfill")) CHECK(r.dag_version == *env.store->get_dag("bf")->current_version);
  env.wait_for("the dataset run", [&] { return !env.runs("ds").empty(); });
  auto runs = env.runs("ds");
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].dag_version == *env.store->get_dag("ds")->current_version);
  CHECK(runs[0].dag_version != stale);
  auto tis = env.store->list_task_instances(runs[0].pk);
  REQUIRE(tis.ok());
  REQUIRE(tis->size() == 1);
  CHECK(tis->front().task_id == "new");
}

TEST_CASE("the DAGs folder is watched from before the first load: a file written while it loads is registered") {
  ScaleEnv env;
  env.options.folder_scan = std::chrono::hours(1);  // no safety scan finds it
  constexpr int kFiles = 2500;  // three chunks
  for (int i = 0; i < kFiles; ++i)
    env.write("f" + std::to_string(10000 + i) + ".yaml", "dag: f" + std::to_string(i) + "\ntasks:\n  t: {type: noop}\n");
  env.sched = std::make_unique<Scheduler>(*env.store, env.clock, env.options);
  Status started;
  std::thread starting([&] { started = env.sched->start(); });
  // Once the first chunk is registered the load has listed the folder: a
  // file written now is not in its listing.
  long long registered = 0;
  for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(5ms)) {
    auto dags = env.store->list_dags();
    registered = dags.ok() ? static_cast<long long>(dags->size()) : 0;
    if (registered >= 1000) break;
  }
  env.write("late.yaml", "dag: late\ntasks:\n  t: {type: noop}\n");
  starting.join();
  REQUIRE(started.ok());
  if (registered >= kFiles) WARN("the load was over before the file was written: the window was not tested");
  env.wait_for("the late DAG registered", [&] { return env.store->get_dag("late").ok(); }, 10s);
}

TEST_CASE("background load: the scheduled runs the loaded DAGs owe wait for the load's end, then each DAG has its one") {
  ScaleEnv env;
  constexpr int kFiles = 2500;  // three chunks
  for (int i = 0; i < kFiles; ++i)
    env.write("d" + std::to_string(10000 + i) + ".yaml",
              "dag: d" + std::to_string(i) + "\nschedule: '@daily'\nstart_date: 2020-01-01\ncatchup: false\n"
              "tasks:\n  t: {type: noop}\n");
  env.options.load_in_background = true;
  env.start();
  // Seen while the load ran (it said so before and after the reads), once
  // a chunk's DAGs were registered: no run yet. (Runs made with each chunk
  // would be there from the first chunk on.)
  int seen_loading = 0;
  for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(2ms)) {
    if (!env.sched->status().loading) break;
    auto dags = env.store->list_dags();
    REQUIRE(dags.ok());
    store::RunFilter any;
    any.limit = 1;
    auto runs = env.store->list_runs(any);
    REQUIRE(runs.ok());
    if (!env.sched->status().loading) break;
    if (dags->size() < 1000) continue;
    ++seen_loading;
    CHECK(runs->empty());
  }
  if (seen_loading == 0) WARN("the load was over before a chunk was seen: the wait was not tested");
  // Then every DAG has the run of its latest interval, and only that one.
  env.wait_for("a run of every DAG", [&] {
    store::RunFilter all;
    all.limit = 100000;
    auto runs = env.store->list_runs(all);
    return runs.ok() && runs->size() >= static_cast<size_t>(kFiles);
  });
  store::RunFilter all;
  all.limit = 100000;
  auto runs = env.store->list_runs(all);
  REQUIRE(runs.ok());
  CHECK(runs->size() == static_cast<size_t>(kFiles));
  std::set<std::string> dags;
  for (auto& r : *runs) {
    dags.insert(r.dag_id);
    CHECK(r.run_type == "scheduled");
    CHECK(r.logical_date == *parse_utc("2026-11-21T00:00:00Z"));
  }
  CHECK(dags.size() == static_cast<size_t>(kFiles));
}
