// W8 (BENCHMARKS.md), backfill isolation: a backfill of N hourly intervals of
// a 3-task noop DAG runs while W2 (a chain of shell tasks, run again and
// again) and a trigger of another DAG every 100 ms run beside it, and an API
// client reads every 50 ms (in turn the backfill DAG's runs, /metrics and the
// DAG list; and the backfill's progress). The same
// live work runs once more without the backfill, for as long, as the
// baseline. Figures: live trigger -> run created (the 201, which comes after
// the run's write) p50/p99, live hop p50/p99, API read p50/p99, backfill
// runs/s, and the longest time its progress (`done`) stood still while it ran.
#include "w8_bench.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "baton/core/time.h"
#include "harness.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace bench {

namespace {

// Kept-alive connections without Nagle's delay (a request's head and body go in two writes).
void no_delay(httplib::Client& cli) {
  cli.set_keep_alive(true);
  cli.set_socket_options([](int sock) {
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  });
}

struct Side {
  std::vector<double> trigger_ms, read_ms, hops_ms;
  double backfill_s = 0, progress_gap_ms = 0;
  long long backfill_runs = 0, errors = 0;
  bool ok = false;
};

std::string chain_of(int n) {
  std::string y = "dag: w2\nmax_active_runs: 1\ntasks:\n";
  for (int i = 0; i < n; ++i) {
    y += "  t" + std::to_string(i) + ": {command: 'true'";
    if (i) y += ", depends_on: [t" + std::to_string(i - 1) + "]";
    y += "}\n";
  }
  return y;
}

// The hops of every w2 run: the end of one task -> the start of the next, in ms.
std::vector<double> chain_hops(const std::string& db_path) {
  std::vector<double> out;
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT ti.run_pk, ti.started_at, ti.ended_at FROM task_instances ti JOIN dag_runs r ON r.id = "
                     "ti.run_pk WHERE r.dag_id = 'w2' AND ti.started_at IS NOT NULL AND ti.ended_at IS NOT NULL "
                     "ORDER BY ti.run_pk, ti.started_at",
                     -1, &st, nullptr);
  long long run = -1, prev_end = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    long long r = sqlite3_column_int64(st, 0), start = sqlite3_column_int64(st, 1), end = sqlite3_column_int64(st, 2);
    if (r == run) out.push_back(static_cast<double>(start - prev_end) / 1000.0);
    run = r;
    prev_end = end;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

Side one_side(const std::string& baton, int intervals, int workers, int chain, double baseline_s) {
  ++g_schema;
  std::string dir = g_folders.make("w8bench");
  fs::create_directories(dir + "/dags");
  std::ofstream(dir + "/dags/w8.yaml") << "dag: w8\nschedule: '@hourly'\nstart_date: 2020-01-01\ncatchup: false\n"
                                          "max_active_runs: 1000\ntasks:\n  a: {type: noop}\n"
                                          "  b: {type: noop, depends_on: [a]}\n  c: {type: noop, depends_on: [b]}\n";
  std::ofstream(dir + "/dags/live.yaml") << "dag: live\ntasks:\n  t: {type: noop}\n";
  std::ofstream(dir + "/dags/w2.yaml") << chain_of(chain);
  Side side;
  Server s = start(baton, dir, workers);
  if (s.port == 0) {
    std::fprintf(stderr, "standalone did not start (see %s/err.log)\n", dir.c_str());
    stop(s);
    return side;
  }
  httplib::Headers h = {{"Authorization", "Bearer " + s.token}};
  std::atomic<bool> done{false};
  std::mutex mu;
  auto t0 = Clock::now();
  std::string backfill_id;
  if (intervals > 0) {
    httplib::Client cli("127.0.0.1", s.port);
    // `intervals` hours from 2021-01-01T00:00Z.
    std::string to = baton::format_utc(*baton::parse_utc("2021-01-01T00:00:00Z") + std::chrono::hours(intervals - 1));
    auto r = cli.Post("/api/v1/backfills", h,
                      R"({"dag_id": "w8", "from": "2021-01-01T00:00:00Z", "to": ")" + to + R"(", "max_active_runs": 1000})",
                      "application/json");
    std::smatch m;
    if (!r || r->status != 201 || !std::regex_search(r->body, m, std::regex("\"id\":([0-9]+)"))) {
      std::fprintf(stderr, "backfill failed: %s\n", r ? r->body.c_str() : "no answer");
      stop(s);
      return side;
    }
    backfill_id = m[1];
  }
  // Live triggers, one every 100 ms.
  std::thread triggers([&] {
    httplib::Client cli("127.0.0.1", s.port);
    no_delay(cli);
    auto next = Clock::now();
    while (!done) {
      auto a = Clock::now();
      auto r = cli.Post("/api/v1/dags/live/runs", h, "{}", "application/json");
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
      std::lock_guard lock(mu);
      side.trigger_ms.push_back(ms);
      if (!r || r->status != 201) ++side.errors;
      next += std::chrono::milliseconds(100);
      std::this_thread::sleep_until(next);
    }
  });
  // W2 again and again.
  std::thread chains([&] {
    httplib::Client cli("127.0.0.1", s.port);
    no_delay(cli);
    std::regex id_re("\"run_id\":\"([^\"]+)\""), state_re("\"state\":\"([a-z_]+)\"");
    while (!done) {
      auto r = cli.Post("/api/v1/dags/w2/runs", h, "{}", "application/json");
      std::smatch m;
      if (!r || r->status != 201 || !std::regex_search(r->body, m, id_re)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      std::string run = m[1];
      while (!done) {
        auto g = cli.Get(("/api/v1/dags/w2/runs/" + run).c_str(), h);
        if (g && std::regex_search(g->body, m, state_re) && (m[1] == "success" || m[1] == "failed")) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  });
  // Reads every 50 ms: the runs list, and the backfill's progress; the end.
  // A connection per read: cpp-httplib's kept-alive GET after 50 ms of quiet
  // took 50 ms on the client's side (a plain socket client saw 0.5 ms).
  httplib::Client cli("127.0.0.1", s.port);
  no_delay(cli);
  cli.set_keep_alive(false);
  std::regex done_re("\"done\":([0-9]+)"), state_re("\"state\":\"([a-z_]+)\""),
      times_re("\"created_at\":\"([^\"]+)\".*\"ended_at\":\"([^\"]+)\"");
  long long last_done = -1;
  auto last_change = Clock::now();
  const char* reads[] = {"/api/v1/dags/w8/runs?limit=50", "/api/v1/metrics", "/api/v1/dags?limit=50"};
  for (size_t k = 0;; ++k) {
    auto a = Clock::now();
    auto r = cli.Get(reads[k % 3], h);
    {
      std::lock_guard lock(mu);
      side.read_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
      if (!r || r->status != 200) ++side.errors;
    }
    if (!backfill_id.empty()) {
      a = Clock::now();
      auto b = cli.Get(("/api/v1/backfills/" + backfill_id).c_str(), h);
      auto now = Clock::now();
      {
        std::lock_guard lock(mu);
        side.read_ms.push_back(std::chrono::duration<double, std::milli>(now - a).count());
      }
      std::smatch m;
      if (b && std::regex_search(b->body, m, done_re)) {
        long long d = std::stoll(m[1]);
        if (d != last_done) {
          if (last_done >= 0)
            side.progress_gap_ms =
                std::max(side.progress_gap_ms, std::chrono::duration<double, std::milli>(now - last_change).count());
          last_done = d;
          last_change = now;
        }
      }
      if (b && std::regex_search(b->body, m, state_re) && m[1] != "running") {
        side.ok = m[1] == "success";
        side.backfill_runs = last_done;
        if (std::regex_search(b->body, m, times_re))
          side.backfill_s = static_cast<double>((*baton::parse_utc(m[2].str()) - *baton::parse_utc(m[1].str())).count()) / 1e6;
        break;
      }
      if (Clock::now() - t0 > std::chrono::minutes(10)) break;
    } else if (std::chrono::duration<double>(Clock::now() - t0).count() >= baseline_s) {
      side.ok = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  done = true;
  triggers.join();
  chains.join();
  stop(s);
  side.hops_ms = chain_hops(dir + "/baton.db");
  if (!side.ok || side.errors)
    std::fprintf(stderr, "W8 %s: %lld failed requests, backfill %s (%lld runs)\n", intervals ? "with" : "without",
                 side.errors, side.ok ? "succeeded" : "did not succeed", side.backfill_runs);
  side.ok = side.ok && side.errors == 0;
  return side;
}

}  // namespace

int run_w8(const std::string& baton, int intervals, int workers, int chain, int runs) {
  std::vector<double> trig_p50, trig_p99, hop_p50, hop_p99, read_p50, read_p99, rate, gap;
  std::vector<double> base_trig_p50, base_trig_p99, base_hop_p50, base_hop_p99, base_read_p50, base_read_p99;
  bool all_ok = true;
  for (int r = 0; r < runs; ++r) {
    Side with = one_side(baton, intervals, workers, chain, 0);
    Side without = one_side(baton, 0, workers, chain, std::max(5.0, with.backfill_s));
    all_ok = all_ok && with.ok && without.ok && with.backfill_runs == intervals;
    trig_p50.push_back(percentile(with.trigger_ms, 0.5));
    trig_p99.push_back(percentile(with.trigger_ms, 0.99));
    hop_p50.push_back(percentile(with.hops_ms, 0.5));
    hop_p99.push_back(percentile(with.hops_ms, 0.99));
    read_p50.push_back(percentile(with.read_ms, 0.5));
    read_p99.push_back(percentile(with.read_ms, 0.99));
    rate.push_back(with.backfill_s > 0 ? static_cast<double>(with.backfill_runs) / with.backfill_s : 0);
    gap.push_back(with.progress_gap_ms);
    base_trig_p50.push_back(percentile(without.trigger_ms, 0.5));
    base_trig_p99.push_back(percentile(without.trigger_ms, 0.99));
    base_hop_p50.push_back(percentile(without.hops_ms, 0.5));
    base_hop_p99.push_back(percentile(without.hops_ms, 0.99));
    base_read_p50.push_back(percentile(without.read_ms, 0.5));
    base_read_p99.push_back(percentile(without.read_ms, 0.99));
  }
  std::printf(
      "{\"workload\": \"W8\", \"engine\": \"sqlite\", \"intervals\": %d, \"chain\": %d, \"runs\": %d, \"ok\": %s, "
      "\"backfill_runs_per_s\": %.0f, \"progress_max_gap_ms\": %.0f, "
      "\"trigger_p50_ms\": %.2f, \"trigger_p99_ms\": %.2f, \"hop_p50_ms\": %.2f, \"hop_p99_ms\": %.2f, "
      "\"read_p50_ms\": %.2f, \"read_p99_ms\": %.2f, "
      "\"baseline_trigger_p50_ms\": %.2f, \"baseline_trigger_p99_ms\": %.2f, \"baseline_hop_p50_ms\": %.2f, "
      "\"baseline_hop_p99_ms\": %.2f, \"baseline_read_p50_ms\": %.2f, \"baseline_read_p99_ms\": %.2f}\n",
      intervals, chain, runs, all_ok ? "true" : "false", median(rate), median(gap), median(trig_p50), median(trig_p99),
      median(hop_p50), median(hop_p99), median(read_p50), median(read_p99), median(base_trig_p50),
      median(base_trig_p99), median(base_hop_p50), median(base_hop_p99), median(base_read_p50), median(base_read_p99));
  return all_ok ? 0 : 1;
}

}  // namespace bench
