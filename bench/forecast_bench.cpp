// W10, the forecast's cost on the scheduler's loop (SPEC §7): `--runs`
// running runs (1,000) of a 10-task DAG (fan-out, fan-in, a chain; an SLA
// of 1h), every task with a history of 50 durations, their tries at five
// different points of the run. Each turn marks every run moved
// (Forecaster::task_moved, as a task's end does) and times
// Forecaster::settle(): each run's expected end made again (the longest
// remaining path at p90), its slack and its record for the turn's write when
// the forecast moved. The fake clock moves 2 s a turn, so every forecast
// moves and every run record is copied into the batch (the worst turn: in
// the loop, only the runs whose tasks moved are made again). Also timed:
// Forecaster::curve of every run, and two baselines in the same turn: the
// same pass over the runs reading each one's instances without
// forecasting, and settle() with nothing moved. Thread CPU time; medians
// over `--turns` turns (500). Built on the scheduler's internals like the
// unit tests (scheduler/src). Prints one JSON line.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "active_runs.h"
#include "baton/core/clock.h"
#include "baton/core/time.h"
#include "baton/dsl/compiler.h"
#include "baton/store/store.h"
#include "forecast.h"
#include "loop.h"

using namespace baton;
using namespace baton::scheduler;

namespace {

double cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double p99(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(v.size() - 1) + 0.5))];
}

// t0 -> t1, t2, t3; t1, t2 -> t4; t3 -> t5; t4, t5 -> t6 -> t7, t8 -> t9.
constexpr const char* kDag =
    "dag: fc\nsla: {run_deadline: 1h}\ntasks:\n"
    "  t0: {command: 'true'}\n"
    "  t1: {command: 'true', depends_on: [t0]}\n"
    "  t2: {command: 'true', depends_on: [t0]}\n"
    "  t3: {command: 'true', depends_on: [t0]}\n"
    "  t4: {command: 'true', depends_on: [t1, t2]}\n"
    "  t5: {command: 'true', depends_on: [t3]}\n"
    "  t6: {command: 'true', depends_on: [t4, t5]}\n"
    "  t7: {command: 'true', depends_on: [t6]}\n"
    "  t8: {command: 'true', depends_on: [t6]}\n"
    "  t9: {command: 'true', depends_on: [t7, t8]}\n";

// The run's tries at stage 0..4: which tasks have succeeded, which run.
const std::vector<std::vector<int>> kDone = {{}, {0}, {0, 1, 2, 3}, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6}};
const std::vector<std::vector<int>> kRunning = {{0}, {1, 2, 3}, {4, 5}, {6}, {7, 8}};

struct Host final : ForecastHost {
  long long slack_changes = 0;
  void slack_changed(ActiveRun&, long long) override { ++slack_changes; }
  void fail_stuck(ActiveRun&, int) override {}
  bool runs_remote(const ActiveRun&, int) const override { return false; }
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_forecast: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  int nruns = 1000, turns = 500;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs") nruns = std::atoi(argv[i + 1]);
    else if (a == "--turns") turns = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_forecast [--runs N] [--turns N]\n");
      return 2;
    }
  }
  if (nruns < 1 || turns < 1) {
    std::fprintf(stderr, "bench_forecast: --runs and --turns must be positive numbers\n");
    return 2;
  }
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("baton-forecast-bench-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
    auto url = store::parse_database_url("sqlite:" + (dir / "baton.db").string());
    if (!url.ok()) die(url.error().message);
    auto opened = store::open_store(*url, clock);
    if (!opened.ok()) die(opened.error().message);
    std::unique_ptr<store::Store> st = std::move(*opened);
    auto compiled = dsl::compile_dag(kDag, "fc.yaml");
    if (!compiled.graph) {
      std::string errors;
      for (auto& e : compiled.errors) errors += "\n" + e.format();
      die("the DAG did not compile:" + errors);
    }
    dsl::DagGraphPtr g = compiled.graph;

    Loop loop{clock};
    ActiveRuns runs;
    Host host;
    Forecaster f{*st, clock, loop, runs, host};
    // 50 durations of 5 to 60 s per task, as successes write them.
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> secs(5, 60);
    store::WriteBatch b;
    for (int t = 0; t < 10; ++t)
      for (int k = 1; k <= store::kDurationHistory; ++k)
        b.durations.push_back({"fc", "t" + std::to_string(t), k, secs(rng), clock.now()});
    if (auto ok = st->apply(b); !ok.ok()) die(ok.error().message);
    f.load();

    std::vector<std::pair<ActiveRun*, int>> moved;  // each run and one of its running tries
    for (long long pk = 1; pk <= nruns; ++pk) {
      ActiveRun a;
      a.rec.pk = pk;
      a.rec.dag_id = g->dag_id();
      a.rec.run_id = "run" + std::to_string(pk);
      a.rec.run_type = "manual";
      a.rec.logical_date = a.rec.data_interval_start = a.rec.data_interval_end = clock.now();
      a.rec.params = "{}";
      a.rec.dag_version = g->hash();
      a.graph = g;
      a.engine = std::make_unique<RunEngine>(g, clock);
      a.tis = task_instances_for(*g);
      for (size_t i = 0; i < a.tis.size(); ++i) a.tis[i].id = pk * 100 + static_cast<long long>(i);
      ActiveRun& r = runs.add(std::move(a));
      f.run_adopted(r);
      (void)r.engine->start();
      r.rec.started_at = clock.now();
      const size_t stage = static_cast<size_t>(pk % 5);
      for (int ti : kDone[stage])
        if (!r.engine->queue(ti) || !r.engine->begin_try(ti) || !r.engine->finish_try(ti, TryOutcome::success))
          die("could not finish task t" + std::to_string(ti));
      for (int ti : kRunning[stage])
        if (!r.engine->queue(ti) || !r.engine->begin_try(ti)) die("could not begin task t" + std::to_string(ti));
      f.run_started(r);
      moved.push_back({&r, kRunning[stage].front()});
    }
    for (auto& [r, _] : moved)
      if (!f.curve(*r)) die("a run has no forecast");
    loop.batch() = store::WriteBatch{};

    std::vector<double> settle, settle_clean, curves, scan;
    double records = 0;
    long long sink = 0;
    for (int turn = 0; turn < turns; ++turn) {
      clock.advance(std::chrono::seconds(2));
      // Baseline: the same pass over the runs, reading each one's instances.
      double t0 = cpu_us();
      for (auto& [r, _] : moved)
        for (auto& inst : r->engine->instances()) sink += static_cast<long long>(inst.state);
      scan.push_back(cpu_us() - t0);
      // Baseline: a turn's settle() with no run moved.
      t0 = cpu_us();
      f.settle();
      settle_clean.push_back(cpu_us() - t0);
      // Every run moved (outside the timing: a set insert per task end).
      for (auto& [r, ti] : moved) f.task_moved(*r, ti, TaskState::queued, TaskState::running, false);
      t0 = cpu_us();
      f.settle();
      settle.push_back(cpu_us() - t0);
      records += static_cast<double>(loop.batch().runs.size());
      loop.batch() = store::WriteBatch{};
      t0 = cpu_us();
      for (auto& [r, _] : moved)
        if (auto c = f.curve(*r)) sink += c->d;
      curves.push_back(cpu_us() - t0);
    }
    const double n = static_cast<double>(nruns);
    std::printf(
        "{\"workload\": \"W10-forecast\", \"runs\": %d, \"tasks_per_run\": 10, \"history\": %d, \"turns\": %d, "
        "\"settle_all_moved_cpu_us_p50\": %.1f, \"settle_all_moved_cpu_us_p99\": %.1f, \"settle_cpu_us_per_run\": %.3f, "
        "\"curve_cpu_us_per_run\": %.3f, \"run_records_per_turn\": %.0f, \"slack_changes\": %lld, "
        "\"baseline_scan_cpu_us_p50\": %.1f, \"baseline_scan_cpu_us_per_run\": %.3f, "
        "\"baseline_settle_none_moved_cpu_us_p50\": %.2f, \"check\": %lld}\n",
        nruns, store::kDurationHistory, turns, median(settle), p99(settle), median(settle) / n, median(curves) / n,
        records / turns, host.slack_changes, median(scan), median(scan) / n, median(settle_clean), sink % 10);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
