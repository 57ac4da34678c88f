// W7 (BENCHMARKS.md), fair share between namespaces, against the real
// `baton standalone` on SQLite with `workers` slots (8):
//  - wait: namespace a floods (`flood` shell tasks of 200 ms: runs of a
//    100-task DAG, all triggered at the start) while namespace b triggers a
//    1-task run (200 ms) every 100 ms, for `seconds`. Figure: b's ready ->
//    running wait p50 / p99 (task_instances.started_at - ready_at; a try
//    not started by the end counts as waiting until the end).
//  - share: a floods as before and b floods too (runs of the same 100-task
//    DAG), for `seconds`: both always have ready work. Figure: each 10 s
//    window's share of busy slot-time of a (from the tries' start and end),
//    against its weight's share; the largest deviation over the windows.
// Each at the given weights (PUT /api/v1/namespaces/a and /b). A binary
// without namespaces (an older one) refuses the PUT: it is measured as it
// is, first come, first served — the baseline. A benchmark, not a test: it
// prints one JSON line and never asserts a time.
#include "w7_bench.h"

#include <httplib.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "harness.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace bench {

namespace {

std::string flood_dag(const std::string& id, const std::string& ns) {
  std::string y = "dag: " + id + "\nnamespace: " + ns + "\nmax_active_runs: 1000\nmax_active_tasks: 100000\ntasks:\n";
  for (int i = 0; i < 100; ++i) y += "  t" + std::to_string(i) + ": {command: 'sleep 0.2'}\n";
  return y;
}

long long unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Try {
  std::string ns;
  long long ready = 0, start = 0, end = 0;  // unix µs; start 0: not started; end 0: still running
};

// Every task instance that became ready, with its namespace (from the DAG
// id's prefix); start 0: not started.
std::vector<Try> read_tries(const std::string& db_path) {
  std::vector<Try> out;
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT r.dag_id, coalesce(ti.ready_at, 0), coalesce(ti.started_at, 0), coalesce(ti.ended_at, 0) "
                     "FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_pk "
                     "WHERE ti.started_at IS NOT NULL OR ti.ready_at IS NOT NULL",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string dag = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    out.push_back({dag.substr(0, 1), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                   sqlite3_column_int64(st, 3)});
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

struct Phase {
  bool fair = false;  // the server took the weights
  std::vector<Try> tries;
  long long from_us = 0, to_us = 0;
  long long errors = 0;
};

// One server: a's flood, and b's trigger every 100 ms (`b_floods`: b's own
// flood instead), for `seconds` after the flood was triggered.
Phase one_phase(const std::string& baton, int workers, int flood, int seconds, double wa, double wb, bool b_floods) {
  Phase p;
  std::string dir = g_folders.make("w7bench");
  fs::create_directories(dir + "/dags");
  std::ofstream(dir + "/dags/a_flood.yaml") << flood_dag("a_flood", "a");
  std::ofstream(dir + "/dags/b_flood.yaml") << flood_dag("b_flood", "b");
  std::ofstream(dir + "/dags/b_live.yaml") << "dag: b_live\nnamespace: b\nmax_active_runs: 1000\ntasks:\n"
                                              "  t: {command: 'sleep 0.2'}\n";
  Server s = start(baton, dir, workers);
  if (s.port == 0) {
    std::fprintf(stderr, "standalone did not start (see %s/err.log)\n", dir.c_str());
    stop(s);
    ++p.errors;
    return p;
  }
  httplib::Headers h = {{"Authorization", "Bearer " + s.token}};
  httplib::Client cli("127.0.0.1", s.port);
  cli.set_keep_alive(true);
  char body[128];
  std::snprintf(body, sizeof body, R"({"weight": %g})", wa);
  auto ra = cli.Put("/api/v1/namespaces/a", h, body, "application/json");
  std::snprintf(body, sizeof body, R"({"weight": %g})", wb);
  auto rb = cli.Put("/api/v1/namespaces/b", h, body, "application/json");
  p.fair = ra && rb && ra->status / 100 == 2 && rb->status / 100 == 2;
  if (p.fair) std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the scheduler's next poll reads them
  auto trigger_flood = [&](const std::string& dag, int tasks) {
    for (int i = 0; i < tasks / 100; ++i) {
      auto r = cli.Post(("/api/v1/dags/" + dag + "/runs").c_str(), h, "{}", "application/json");
      if (!r || r->status != 201) ++p.errors;
    }
  };
  trigger_flood("a_flood", flood);
  if (b_floods) trigger_flood("b_flood", flood / 10);
  p.from_us = unix_us();
  auto end = Clock::now() + std::chrono::seconds(seconds);
  if (!b_floods) {
    auto next = Clock::now();
    while (Clock::now() < end) {
      auto r = cli.Post("/api/v1/dags/b_live/runs", h, "{}", "application/json");
      if (!r || r->status != 201) ++p.errors;
      next += std::chrono::milliseconds(100);
      std::this_thread::sleep_until(next);
    }
  } else {
    std::this_thread::sleep_until(end);
  }
  p.to_us = unix_us();
  stop(s);
  p.tries = read_tries(dir + "/baton.db");
  return p;
}

// a's part of the busy slot-time in each whole 10 s window of [from, to).
std::vector<double> shares_of_a(const Phase& p) {
  std::vector<double> out;
  for (long long w = p.from_us; w + 10000000 <= p.to_us; w += 10000000) {
    double a = 0, all = 0;
    for (auto& t : p.tries) {
      if (!t.start) continue;
      long long end = t.end ? t.end : p.to_us;
      double overlap = static_cast<double>(std::min(end, w + 10000000) - std::max(t.start, w));
      if (overlap <= 0) continue;
      all += overlap;
      if (t.ns == "a") a += overlap;
    }
    if (all > 0) out.push_back(a / all);
  }
  return out;
}

}  // namespace

int run_w7(const std::string& baton, int workers, int flood, int seconds, double wa, double wb) {
  Phase wait = one_phase(baton, workers, flood, seconds, wa, wb, false);
  Phase share = one_phase(baton, workers, flood, seconds, wa, wb, true);
  // b's waits; one not started by the end counts as waiting until then
  // (so a starved b shows as such, not as no figure).
  std::vector<double> waits;
  long long b_started = 0, b_unstarted = 0;
  for (auto& t : wait.tries) {
    if (t.ns != "b" || t.ready < wait.from_us) continue;
    if (t.start) {
      waits.push_back(static_cast<double>(t.start - t.ready) / 1000.0);
      ++b_started;
    } else if (t.ready < wait.to_us) {
      waits.push_back(static_cast<double>(wait.to_us - t.ready) / 1000.0);
      ++b_unstarted;
    }
  }
  auto shares = shares_of_a(share);
  const double target = wa / (wa + wb);
  double worst = 0;
  std::string list;
  for (double x : shares) {
    worst = std::max(worst, std::fabs(x - target));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.3f", list.empty() ? "" : ", ", x);
    list += buf;
  }
  bool ok = wait.errors == 0 && share.errors == 0 && !waits.empty() && !shares.empty();
  std::printf(
      "{\"workload\": \"W7\", \"engine\": \"sqlite\", \"workers\": %d, \"flood\": %d, \"seconds\": %d, "
      "\"weights\": \"%g:%g\", \"fair_share\": %s, \"ok\": %s, \"b_started\": %lld, \"b_not_started\": %lld, "
      "\"b_wait_p50_ms\": %.1f, "
      "\"b_wait_p99_ms\": %.1f, \"b_wait_max_ms\": %.1f, \"a_share_target\": %.3f, \"a_share_windows\": [%s], "
      "\"a_share_max_deviation\": %.3f}\n",
      workers, flood, seconds, wa, wb, wait.fair && share.fair ? "true" : "false", ok ? "true" : "false", b_started,
      b_unstarted,
      percentile(waits, 0.5), percentile(waits, 0.99), percentile(waits, 1.0), target, list.c_str(), worst);
  return ok ? 0 : 1;
}

}  // namespace bench
