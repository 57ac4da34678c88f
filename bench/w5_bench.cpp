// W5 (BENCHMARKS.md), the API with a history: `baton standalone` gets N runs
// of a 10-task noop DAG through its own API (50 kept-alive clients
// triggering as fast as they can: the trigger figures, at a growing
// history), then every read the UI and CLI make is timed on it, first and
// deep pages; and the server's memory. The same at 1,000 runs is the
// memory baseline. Seeding through the API keeps old and new binaries
// comparable (the same requests, whatever their schema).
#include "w5_bench.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace bench {

namespace {

void no_delay(httplib::Client& cli) {
  cli.set_keep_alive(true);
  cli.set_socket_options([](int sock) {
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  });
}

struct Read {
  std::string name, path;
  std::vector<double> ms;
  long long errors = 0;
};

struct Size {
  bool ok = false;
  double trigger_per_s = 0, trigger_p99_ms = 0;
  long long conflicts = 0, errors = 0;
  std::vector<Read> reads;
  long rss_kb = 0, hwm_kb = 0;
};

Size one_size(const std::string& baton, int runs, int clients) {
  ++g_schema;
  std::string dir = g_folders.make("w5bench");
  fs::create_directories(dir + "/dags");
  std::string y = "dag: hist\nmax_active_runs: 10000\ntasks:\n";
  for (int i = 0; i < 10; ++i) {
    y += "  t" + std::to_string(i) + ": {type: noop";
    if (i) y += ", depends_on: [t" + std::to_string(i - 1) + "]";
    y += "}\n";
  }
  std::ofstream(dir + "/dags/hist.yaml") << y;
  std::ofstream(dir + "/dags/other.yaml") << "dag: other\ntasks:\n  t: {type: noop}\n";
  Size out;
  Server s = start(baton, dir, 8);
  if (s.port == 0) {
    std::fprintf(stderr, "standalone did not start (see %s/err.log)\n", dir.c_str());
    stop(s);
    return out;
  }
  httplib::Headers h = {{"Authorization", "Bearer " + s.token}};
  // The history, through the API.
  std::atomic<long long> conflicts{0}, errors{0};
  std::vector<std::vector<double>> latency(static_cast<size_t>(clients));
  std::vector<std::string> last_run(static_cast<size_t>(clients));
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", s.port);
      no_delay(cli);
      std::regex id_re("\"run_id\":\"([^\"]+)\"");
      for (int i = c; i < runs; i += clients) {
        auto a = Clock::now();
        auto r = cli.Post("/api/v1/dags/hist/runs", h, "{}", "application/json");
        latency[static_cast<size_t>(c)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
        std::smatch m;
        if (r && r->status == 201 && std::regex_search(r->body, m, id_re)) last_run[static_cast<size_t>(c)] = m[1];
        else if (r && r->status == 409) ++conflicts;
        else ++errors;
      }
    });
  for (auto& t : threads) t.join();
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latency) all.insert(all.end(), l.begin(), l.end());
  out.trigger_per_s = wall > 0 ? static_cast<double>(all.size()) / wall : 0;
  out.trigger_p99_ms = percentile(all, 0.99);
  out.conflicts = conflicts;
  out.errors = errors;
  // Every run finished: the history is a history.
  httplib::Client cli("127.0.0.1", s.port);
  no_delay(cli);
  std::string run = last_run[0];
  for (int i = 0; i < 6000; ++i) {
    auto g = cli.Get("/api/v1/dags/hist/runs/" + run, h);
    if (g && g->body.find("\"state\":\"success\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // The deep page: 50 pages of 100 in.
  std::string deep = "/api/v1/dags/hist/runs?limit=100";
  std::regex cursor_re("\"next_cursor\":\"([^\"]+)\"");
  for (int p = 0; p < 50; ++p) {
    auto g = cli.Get(deep, h);
    std::smatch m;
    if (!g || !std::regex_search(g->body, m, cursor_re)) break;
    deep = "/api/v1/dags/hist/runs?limit=100&cursor=" + m[1].str();
  }
  out.reads = {{"dags", "/api/v1/dags?limit=100", {}, 0},
               {"dag_summary", "/api/v1/dag-summary", {}, 0},
               {"dag", "/api/v1/dags/hist", {}, 0},
               {"runs_first_page", "/api/v1/dags/hist/runs?limit=100", {}, 0},
               {"runs_deep_page", deep, {}, 0},
               {"runs_failed", "/api/v1/dags/hist/runs?limit=100&state=failed", {}, 0},
               {"run_tasks", "/api/v1/dags/hist/runs/" + run + "/tasks", {}, 0},
               {"run_tries", "/api/v1/dags/hist/runs/" + run + "/tries", {}, 0},
               {"grid", "/api/v1/dags/hist/grid", {}, 0},
               {"backfills", "/api/v1/backfills", {}, 0},
               {"audit", "/api/v1/audit?limit=100", {}, 0},
               {"metrics", "/api/v1/metrics", {}, 0},
               {"health", "/api/v1/health", {}, 0}};
  for (int round = 0; round < 200; ++round)
    for (auto& r : out.reads) {
      auto a = Clock::now();
      auto g = cli.Get(r.path, h);
      r.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
      if (!g || g->status != 200) ++r.errors;
    }
  out.rss_kb = rss_kb(s.pid, "VmRSS");
  out.hwm_kb = rss_kb(s.pid, "VmHWM");
  stop(s);
  out.ok = out.errors == 0 && out.conflicts == 0;
  for (auto& r : out.reads) out.ok = out.ok && r.errors == 0;
  return out;
}

}  // namespace

int run_w5(const std::string& baton, int history, int clients) {
  Size small = one_size(baton, 1000, clients);
  Size big = one_size(baton, history, clients);
  bool ok = small.ok && big.ok;
  std::printf("{\"workload\": \"W5-history\", \"engine\": \"%s\", \"runs\": %d, \"task_instances\": %d, \"ok\": %s, "
              "\"fill_triggers_per_s\": %.0f, \"fill_trigger_p99_ms\": %.2f, \"conflicts\": %lld, \"errors\": %lld, ",
              g_pg_url.empty() ? "sqlite" : "postgres", history, history * 10, ok ? "true" : "false",
              big.trigger_per_s, big.trigger_p99_ms, big.conflicts, big.errors);
  for (auto& r : big.reads)
    std::printf("\"%s_p50_ms\": %.2f, \"%s_p99_ms\": %.2f, ", r.name.c_str(), percentile(r.ms, 0.5), r.name.c_str(),
                percentile(r.ms, 0.99));
  std::printf("\"rss_mib\": %.1f, \"peak_rss_mib\": %.1f, \"rss_mib_at_1000_runs\": %.1f, \"peak_rss_mib_at_1000_runs\": %.1f, "
              "\"rss_ratio\": %.2f}\n",
              big.rss_kb / 1024.0, big.hwm_kb / 1024.0, small.rss_kb / 1024.0, small.hwm_kb / 1024.0,
              small.rss_kb > 0 ? static_cast<double>(big.rss_kb) / static_cast<double>(small.rss_kb) : 0);
  if (!ok)
    for (auto* sz : {&small, &big})
      for (auto& r : sz->reads)
        if (r.errors) std::fprintf(stderr, "W5: %s failed %lld times\n", r.path.c_str(), r.errors);
  return ok ? 0 : 1;
}

}  // namespace bench
