// W5 (BENCHMARKS.md): fills a store with a finished history, directly
// through the Store interface, for the API's reads to be timed on it.
//
//   bench_seed_history --store URL --dags N --runs N --tasks-per-run N
//                      [--tries-per-task N] [--dags-folder DIR]
//
// N DAGs `hist_00000`... (a chain of noop tasks, `every PERIOD` anchored a
// year back, catchup off), their runs spread over that year, the newest
// ending at most now (so a scheduler started on the store has nothing due
// until one more period passes), about 1 in 30 manual, about 1 in 20 failed
// (one task failed, the rest upstream_failed); each task instance with its
// tries (all but the last failed). Scheduled runs are created 200 at a time
// (create_runs), manual ones one at a time (create_run: audited as
// triggers), their task instances and tries written through apply() in
// batches of about 5,000 task instances. --dags-folder writes the DAG files, so that
// `baton standalone --dags DIR` finds the same versions. Prints one JSON line
// with the counts and the seconds taken.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "baton/core/duration.h"
#include "baton/core/ids.h"
#include "baton/core/time.h"
#include "baton/dsl/compiler.h"
#include "baton/store/store.h"

using namespace baton;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::string store;
  long long dags = 2, runs = 1000, tasks = 10, tries = 1;
  std::string dags_folder;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "error: %s\nusage: bench_seed_history --store URL --dags N --runs N --tasks-per-run N "
               "[--tries-per-task N] [--dags-folder DIR]\n",
               problem.c_str());
  std::exit(2);
}

long long positive(const std::string& flag, const char* text, long long max) {
  char* end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (!end || *end || v < 1 || v > max)
    usage(flag + ": expected an integer from 1 to " + std::to_string(max) + ", got \"" + text + "\"");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(a + ": missing value");
    const char* v = argv[++i];
    if (a == "--store") o.store = v;
    else if (a == "--dags") o.dags = positive(a, v, 1000000);
    else if (a == "--runs") o.runs = positive(a, v, 100000000);
    else if (a == "--tasks-per-run") o.tasks = positive(a, v, 1000);
    else if (a == "--tries-per-task") o.tries = positive(a, v, 20);
    else if (a == "--dags-folder") o.dags_folder = v;
    else usage("unknown flag " + a);
  }
  if (o.store.empty()) usage("--store URL is required");
  return o;
}

std::string task_id(long long t) {
  std::string n = std::to_string(t);
  return "t" + std::string(n.size() < 3 ? 3 - n.size() : 0, '0') + n;
}

std::string dag_yaml(const std::string& dag_id, long long index, long long tasks, Duration period, TimePoint start) {
  std::string y = "dag: " + dag_id + "\n";
  y += "description: seeded history (bench_seed_history), DAG " + std::to_string(index) + "\n";
  y += "tags: [bench, group" + std::to_string(index % 10) + "]\n";
  y += "schedule: \"every " + format_duration(period) + "\"\n";
  y += "start_date: " + format_utc(start) + "\n";
  y += "catchup: false\n";
  y += "tasks:\n";
  for (long long t = 0; t < tasks; ++t) {
    y += "  " + task_id(t) + ": {type: noop";
    if (t > 0) y += ", depends_on: [" + task_id(t - 1) + "]";
    y += "}\n";
  }
  return y;
}

std::string compact(TimePoint t) {
  std::string out;
  for (char c : format_utc(t))
    if (c != '-' && c != ':') out += c;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  auto url = store::parse_database_url(o.store);
  if (!url) usage("--store: " + url.error().message);
  auto opened = store::open_store(*url, SystemClock::instance());
  if (!opened) {
    std::fprintf(stderr, "error: cannot open %s: %s\n", url->masked().c_str(), opened.error().message.c_str());
    return 1;
  }
  store::Store& s = **opened;
  auto t0 = std::chrono::steady_clock::now();

  // Runs per DAG (the first DAGs take the remainder) and one period for all:
  // the longest DAG's runs fill a year.
  long long per_dag = (o.runs + o.dags - 1) / o.dags;
  const Duration year = std::chrono::hours(24 * 365);
  Duration period = std::chrono::duration_cast<std::chrono::seconds>(year / per_dag);
  if (period < std::chrono::seconds(1)) period = std::chrono::seconds(1);
  TimePoint now = std::chrono::time_point_cast<std::chrono::seconds>(SystemClock::instance().now());
  TimePoint start = now - period * per_dag;

  if (!o.dags_folder.empty()) fs::create_directories(o.dags_folder);
  struct Dag {
    std::string id, version;
    std::vector<std::string> tasks;
  };
  std::vector<Dag> dags;
  for (long long d = 0; d < o.dags; ++d) {
    char id[32];
    std::snprintf(id, sizeof id, "hist_%05lld", d);
    std::string yaml = dag_yaml(id, d, o.tasks, period, start);
    auto compiled = dsl::compile_dag(yaml, std::string(id) + ".yaml");
    if (!compiled.graph) {
      std::fprintf(stderr, "error: the seeded DAG does not compile: %s\n",
                   compiled.errors.empty() ? "?" : compiled.errors[0].message.c_str());
      return 1;
    }
    store::DagVersionRecord v;
    v.dag_id = id;
    v.version = compiled.graph->hash();
    v.compiled = compiled.graph->canonical_json();
    v.source = yaml;
    v.file = (o.dags_folder.empty() ? std::string("dags") : o.dags_folder) + "/" + id + ".yaml";
    if (auto r = s.register_dag_version(v, "default", partition_of(id), "system"); !r) {
      std::fprintf(stderr, "error: registering %s: %s\n", id, r.error().message.c_str());
      return 1;
    }
    if (!o.dags_folder.empty()) std::ofstream(v.file) << yaml;
    Dag dag{id, v.version, {}};
    for (long long t = 0; t < o.tasks; ++t) dag.tasks.push_back(task_id(t));
    dags.push_back(std::move(dag));
  }

  long long runs = 0, tis = 0, tries = 0, failed_runs = 0, manual_runs = 0;
  store::WriteBatch batch;
  auto flush = [&]() -> bool {
    if (batch.empty()) return true;
    auto r = s.apply(batch);
    if (!r) {
      std::fprintf(stderr, "error: writing a batch: %s\n", r.error().message.c_str());
      return false;
    }
    batch = store::WriteBatch();
    return true;
  };
  const Duration task_time = std::chrono::seconds(2);
  // A made run's task instances and tries, as they ended.
  auto finish = [&](const store::RunStore::Created& made, bool failed) {
    TimePoint began = made.run.started_at.value_or(made.run.data_interval_end);
    // The failed run's middle task failed; those after it never ran.
    size_t failing = failed ? made.task_instances.size() / 2 : made.task_instances.size();
    TimePoint at = began;
    for (size_t t = 0; t < made.task_instances.size(); ++t) {
      auto ti = made.task_instances[t];
      ++tis;
      if (t > failing) {
        ti.state = TaskState::upstream_failed;
        ti.ended_at = at;
        batch.task_instances.push_back(std::move(ti));
        continue;
      }
      ti.state = t == failing ? TaskState::failed : TaskState::success;
      ti.try_number = static_cast<int>(o.tries);
      ti.ready_at = at;
      ti.started_at = at;
      ti.worker = "local";
      for (int k = 1; k <= o.tries; ++k) {
        store::TryRecord y;
        y.ti_id = ti.id;
        y.try_number = k;
        y.state = k < o.tries ? TaskState::failed : ti.state;
        y.worker = "local";
        y.attempt_token = "seed-" + std::to_string(ti.id) + "-" + std::to_string(k);
        y.queued_at = at;
        y.started_at = at;
        at += task_time;
        y.ended_at = at;
        y.exit_code = y.state == TaskState::success ? 0 : 1;
        y.log_path = made.run.dag_id + "/" + made.run.run_id + "/" + ti.task_id + "/" + std::to_string(k) + ".log";
        y.log_bytes = 64;
        batch.tries.push_back(std::move(y));
        ++tries;
      }
      ti.attempt_token = "seed-" + std::to_string(ti.id) + "-" + std::to_string(o.tries);
      ti.ended_at = at;
      ti.exit_code = ti.state == TaskState::success ? 0 : 1;
      batch.task_instances.push_back(std::move(ti));
    }
  };
  // Scheduled runs are made a batch at a time (create_runs).
  std::vector<store::RunStore::NewRun> pending;
  std::vector<bool> pending_failed;
  auto create_pending = [&]() -> bool {
    if (pending.empty()) return true;
    auto made = s.create_runs(pending, "system");
    if (!made) {
      std::fprintf(stderr, "error: creating runs: %s\n", made.error().message.c_str());
      return false;
    }
    for (size_t k = 0; k < made->size(); ++k) {
      auto& one = (*made)[k];
      if (!one) {
        std::fprintf(stderr, "error: creating run %s of %s: %s\n", pending[k].run.run_id.c_str(),
                     pending[k].run.dag_id.c_str(), one.error().message.c_str());
        return false;
      }
      finish(*one, pending_failed[k]);
    }
    pending.clear();
    pending_failed.clear();
    return true;
  };
  // Run i of every DAG in turn, so that the history of all DAGs grows together
  // (as a scheduler writes it) rather than one DAG's after another's.
  for (long long i = 0; i < per_dag && runs < o.runs; ++i) {
    for (auto& dag : dags) {
      if (runs >= o.runs) break;
      // DAG d's runs are its newest: i counts back from the last interval.
      long long slot = per_dag - 1 - i;
      TimePoint logical = start + period * slot;
      bool manual = i % 30 == 7;
      bool failed = i % 20 == 3;
      store::RunRecord r;
      r.dag_id = dag.id;
      r.run_type = manual ? "manual" : "scheduled";
      r.run_id = manual ? "manual__" + compact(logical) + "_seed" : "scheduled__" + compact(logical);
      r.logical_date = logical;
      r.data_interval_start = logical;
      r.data_interval_end = manual ? logical : logical + period;
      r.dag_version = dag.version;
      r.created_by = manual ? "seed" : "system";
      r.state = failed ? RunState::failed : RunState::success;
      TimePoint began = r.data_interval_end + std::chrono::seconds(1);
      r.started_at = began;
      r.ended_at = began + task_time * (o.tasks * o.tries);
      std::vector<store::TaskInstanceRecord> fresh(o.tasks);
      for (size_t t = 0; t < fresh.size(); ++t) {
        fresh[t].task_id = dag.tasks[t];
        fresh[t].max_tries = static_cast<int>(o.tries);
      }
      ++runs;
      manual_runs += manual;
      failed_runs += failed;
      if (manual) {  // one at a time, audited as a trigger is
        auto made = s.create_run(r, fresh, "seed");
        if (!made) {
          std::fprintf(stderr, "error: creating run %s of %s: %s\n", r.run_id.c_str(), dag.id.c_str(),
                       made.error().message.c_str());
          return 1;
        }
        finish(*made, failed);
      } else {
        pending.push_back({std::move(r), std::move(fresh), {}, {}});
        pending_failed.push_back(failed);
        if (pending.size() >= 200 && !create_pending()) return 1;
      }
      if (batch.task_instances.size() >= 5000 && !flush()) return 1;
    }
  }
  if (!create_pending()) return 1;
  for (auto& dag : dags) batch.last_ticks.emplace_back(dag.id, start + period * (per_dag - 1));
  if (!flush()) return 1;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "{\"workload\":\"W5 seed\",\"engine\":\"%s\",\"dags\":%lld,\"runs\":%lld,\"failed_runs\":%lld,"
      "\"manual_runs\":%lld,\"task_instances\":%lld,\"tries\":%lld,\"period\":\"%s\",\"seconds\":%.2f}\n",
      url->engine == store::DatabaseUrl::Engine::sqlite ? "sqlite" : "postgres", static_cast<long long>(dags.size()),
      runs, failed_runs, manual_runs, tis, tries, format_duration(period).c_str(), seconds);
  return 0;
}
