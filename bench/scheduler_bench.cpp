// W1 and W2 (BENCHMARKS.md) against the real `baton standalone` on SQLite:
//  W1: one run of a DAG with N independent tasks and one fan-in task
//      (noop, and shell `true`): makespan, tasks/s, scheduler CPU seconds;
//  W2: one run of a 100-task chain (noop, and shell `true`): hop latency
//      (end of one task -> start of the next) p50/p99, makespan.
// Baselines measured in the same run: bare fork/exec/wait of /bin/true per
// second, and durable SQLite commits per second on the same disk.
// Figures are medians over --runs repetitions. Prints one JSON object per workload.
//
// --ha N (PostgreSQL): the same workloads on the set-up of SPEC §9 instead of
// standalone — `baton server --no-scheduler` for the API, N `baton scheduler`
// members, and two `baton worker` processes sharing --workers slots (the
// scheduler CPU figure is the members' sum) — and W6: during W1
// (shell), kill -9 of the member that owns the DAG's partition and of the
// leader; figures: the time from the kill until a scheduler wrote for the
// DAG again, and duplicate or lost runs and tries (must be 0).
#include <httplib.h>

#include "harness.h"
#include "w5_bench.h"
#include "w7_bench.h"
#include "w8_bench.h"
#include "w10_bench.h"
#include <signal.h>
#include <pqxx/pqxx>

#include "baton/core/ids.h"
#include "baton/core/time.h"
#include <sqlite3.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using namespace bench;

struct RunFigures {
  double makespan = 0, cpu = 0;
  double server_cpu = 0;    // --ha: the API server's (claims, heartbeats, reports)
  long long commits = -1;   // PostgreSQL: transactions committed in the database during the run (-1: not known)
  double wall = 0;  // trigger sent -> final state seen over the API (HTTP, commit and polling included)
  std::vector<double> hops;
  size_t tasks = 0;
  bool ok = false;
};

RunFigures one_run(const std::string& baton, const std::string& yaml, const std::string& dag, int workers, bool chain,
                   Failover* failover = nullptr, int tasks = 0) {
  ++g_schema;
  std::string dir = g_folders.make("sbench");
  fs::create_directories(dir + "/dags");
  std::ofstream(dir + "/dags/" + dag + ".yaml") << yaml;
  RunFigures f;
  Server s = start(baton, dir, workers);
  if (s.port == 0) {
    std::fprintf(stderr, "standalone did not start (see %s/err.log)\n", dir.c_str());
    stop(s);
    return f;
  }
  httplib::Client cli("127.0.0.1", s.port);
  httplib::Headers h = {{"Authorization", "Bearer " + s.token}};
  std::vector<pid_t> cpu_of = s.members.empty() ? std::vector<pid_t>{s.pid} : s.members;
  auto cpu_now = [&] {
    double sum = 0;
    for (pid_t p : cpu_of) sum += cpu_seconds(p);
    return sum;
  };
  double cpu0 = cpu_now();
  double server0 = s.members.empty() ? 0 : cpu_seconds(s.pid);
  long long commits0 = pg_commits();
  long long kill_us = 0;
  auto t0 = Clock::now();
  auto r = cli.Post(("/api/v1/dags/" + dag + "/runs").c_str(), h, "{}", "application/json");
  if (!r || r->status >= 300) {
    std::fprintf(stderr, "trigger failed: %s\n", r ? r->body.c_str() : "no answer");
    stop(s);
    return f;
  }
  std::smatch m;
  std::regex id_re("\"run_id\"\\s*:\\s*\"([^\"]+)\"");
  std::regex_search(r->body, m, id_re);
  std::string run_id = m[1];
  std::regex state_re("\"state\"\\s*:\\s*\"([a-z_]+)\"");
  while (Clock::now() - t0 < std::chrono::minutes(5)) {
    auto g = cli.Get(("/api/v1/dags/" + dag + "/runs/" + run_id).c_str(), h);
    if (g && std::regex_search(g->body, m, state_re)) {
      std::string st = m[1];
      if (st == "success" || st == "failed" || st == "canceled") {
        f.wall = std::chrono::duration<double>(Clock::now() - t0).count();
        break;
      }
    }
    if (failover && !failover->done) kill_owner_when(*failover, s.members, dag, 0.3, tasks, kill_us);
    // Fine polling while a fast run may end, then light: on two cores the
    // polling itself would slow a long run down.
    std::this_thread::sleep_for(std::chrono::milliseconds(Clock::now() - t0 < std::chrono::milliseconds(200) ? 1 : 10));
  }
  f.cpu = cpu_now() - cpu0;
  if (!s.members.empty()) f.server_cpu = cpu_seconds(s.pid) - server0;
  stop(s);
  if (commits0 >= 0) f.commits = pg_commits() - commits0;
  if (failover && failover->done) read_failover(*failover, kill_us, tasks);
  std::string state;
  auto times = read_times(dir + "/baton.db", state);
  f.ok = state == "success";
  f.tasks = times.size();
  if (!times.empty()) {
    double first = 1e300, last = 0;
    for (auto& t : times) {
      first = std::min(first, t.start);
      last = std::max(last, t.end);
    }
    f.makespan = last - first;
    if (chain) {
      std::sort(times.begin(), times.end(), [](const TaskTimes& a, const TaskTimes& b) { return a.start < b.start; });
      for (size_t i = 1; i < times.size(); ++i) f.hops.push_back((times[i].start - times[i - 1].end) * 1000.0);
    }
  }
  return f;
}

// W5 (triggers): `clients` threads, each with one kept-alive connection,
// trigger a one-task noop DAG `per_client` times as fast as they can.
struct TriggerFigures {
  bool ok = false;
  double per_s = 0, p50_ms = 0, p99_ms = 0;
  long long conflicts = 0, errors = 0, connections = 0;
};

TriggerFigures one_trigger_burst(const std::string& baton, int clients, int per_client, int workers) {
  ++g_schema;
  std::string dir = g_folders.make("sbench");
  fs::create_directories(dir + "/dags");
  std::ofstream(dir + "/dags/w5.yaml") << "dag: w5\ntasks:\n  t: {type: noop}\n";
  TriggerFigures f;
  Server s = start(baton, dir, workers);
  if (s.port == 0) {
    std::fprintf(stderr, "standalone did not start (see %s/err.log)\n", dir.c_str());
    stop(s);
    return f;
  }
  std::vector<std::vector<double>> latency(static_cast<size_t>(clients));
  std::atomic<long long> conflicts{0}, errors{0}, connections{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", s.port);
      cli.set_keep_alive(true);
      // Counts the connections the client had to open: 1 when keep-alive holds.
      cli.set_socket_options([&](int sock) {
        ++connections;
        int one = 1;
        setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      });
      httplib::Headers h = {{"Authorization", "Bearer " + s.token}};
      for (int i = 0; i < per_client; ++i) {
        auto a = Clock::now();
        auto r = cli.Post("/api/v1/dags/w5/runs", h, "{}", "application/json");
        latency[static_cast<size_t>(c)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
        if (r && r->status == 409) ++conflicts;
        else if (!r || r->status != 201) ++errors;
      }
    });
  for (auto& t : threads) t.join();
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  stop(s);
  std::vector<double> all;
  for (auto& l : latency) all.insert(all.end(), l.begin(), l.end());
  f.per_s = wall > 0 ? static_cast<double>(all.size()) / wall : 0;
  f.p50_ms = percentile(all, 0.5);
  f.p99_ms = percentile(all, 0.99);
  f.conflicts = conflicts;
  f.errors = errors;
  f.connections = connections;
  f.ok = errors == 0 && conflicts == 0;
  return f;
}

std::string fanout_yaml(int n, bool shell) {
  std::string y = "dag: w1\nmax_active_tasks: 100000\ntasks:\n";
  std::string body = shell ? "{command: 'true'}" : "{type: noop}";
  for (int i = 0; i < n; ++i) y += "  t" + std::to_string(i) + ": " + body + "\n";
  y += "  fan_in:\n    type: noop\n    depends_on: [";
  for (int i = 0; i < n; ++i) y += (i ? ", t" : "t") + std::to_string(i);
  y += "]\n";
  return y;
}

// W2's shell tasks run bench_stamp (beside this binary), which writes its own
// start and end into STAMPS/tI: a hop is the next task's own start minus this
// task's own end (BENCHMARKS.md), whatever Baton stores as the try's times.
std::string stamp_program() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "bench_stamp").string();
}

std::string stamp_command(const std::string& stamps, int i) {
  return "'" + stamp_program() + "' '" + stamps + "/t" + std::to_string(i) + "'";
}

std::string chain_yaml(int n, bool shell, const std::string& stamps = "") {
  std::string y = "dag: w2\ntasks:\n";
  for (int i = 0; i < n; ++i) {
    std::string command = stamps.empty() ? "'true'" : "\"" + stamp_command(stamps, i) + "\"";
    y += "  t" + std::to_string(i) + ": {" + (shell ? "command: " + command : std::string("type: noop"));
    if (i) y += ", depends_on: [t" + std::to_string(i - 1) + "]";
    y += "}\n";
  }
  return y;
}

// The hops (ms) between the stamps t0..t(n-1) in `stamps`; a missing stamp ends the chain.
std::vector<double> stamp_hops(const std::string& stamps, int n) {
  std::vector<double> hops;
  long long prev_end = -1;
  for (int i = 0; i < n; ++i) {
    long long start = -1, end = -1;
    std::ifstream in(stamps + "/t" + std::to_string(i));
    if (!(in >> start >> end)) break;
    if (prev_end >= 0) hops.push_back(static_cast<double>(start - prev_end) / 1e6);
    prev_end = end;
  }
  return hops;
}

// The floor of W2: the same n commands chained by a bare posix_spawn + waitpid
// loop of `/bin/sh -c COMMAND` (as Baton's shell runner starts them).
std::vector<double> floor_hops(const std::string& stamps, int n) {
  fs::create_directories(stamps);
  for (int i = 0; i < n; ++i) {
    std::string command = stamp_command(stamps, i);
    char sh[] = "/bin/sh", dash_c[] = "-c";
    char* argv[] = {sh, dash_c, command.data(), nullptr};
    pid_t pid = -1;
    if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) != 0) break;
    int st;
    waitpid(pid, &st, 0);
  }
  return stamp_hops(stamps, n);
}

// W4: a backfill of `days` daily intervals of a 10-task noop chain.
struct BackfillFigures {
  double wall = 0;
  size_t task_instances = 0;
  bool ok = false;
};

BackfillFigures one_backfill(const std::string& baton, int days, int max_active, int workers) {
  ++g_schema;
  std::string dir = g_folders.make("bbench");
  fs::create_directories(dir + "/dags");
  std::string y = "dag: w4\nschedule: '@daily'\nstart_date: 2020-01-01\nmax_active_runs: 1000\ntasks:\n";
  for (int i = 0; i < 10; ++i) {
    y += "  t" + std::to_string(i) + ": {type: noop";
    if (i) y += ", depends_on: [t" + std::to_string(i - 1) + "]";
    y += "}\n";
  }
  std::ofstream(dir + "/dags/w4.yaml") << y;
  BackfillFigures f;
  Server s = start(baton, dir, workers);
  if (s.port == 0) {
    stop(s);
    return f;
  }
  httplib::Client cli("127.0.0.1", s.port);
  httplib::Headers h = {{"Authorization", "Bearer " + s.token}};
  // `days` intervals from 2021-01-01.
  int y0, m0, d0;
  baton::civil_from_days(baton::days_from_civil(2021, 1, 1) + days - 1, y0, m0, d0);
  char to[48];
  std::snprintf(to, sizeof to, "%04d-%02d-%02d", y0, m0, d0);
  std::string body = std::string(R"({"dag_id": "w4", "from": "2021-01-01", "to": ")") + to +
                     R"(", "max_active_runs": )" + std::to_string(max_active) + "}";
  auto t0 = Clock::now();
  auto r = cli.Post("/api/v1/backfills", h, body, "application/json");
  if (!r || r->status != 201) {
    std::fprintf(stderr, "backfill failed: %s\n", r ? r->body.c_str() : "no answer");
    stop(s);
    return f;
  }
  std::smatch m;
  std::regex id_re("\"id\"\\s*:\\s*([0-9]+)"), state_re("\"state\"\\s*:\\s*\"([a-z_]+)\"");
  std::regex_search(r->body, m, id_re);
  std::string id = m[1];
  std::string state = "running";
  while (state == "running" && Clock::now() - t0 < std::chrono::minutes(5)) {
    auto g = cli.Get(("/api/v1/backfills/" + id).c_str(), h);
    if (g && std::regex_search(g->body, m, state_re)) state = m[1];
    if (state != "running") f.wall = std::chrono::duration<double>(Clock::now() - t0).count();
    else std::this_thread::sleep_for(std::chrono::milliseconds(Clock::now() - t0 < std::chrono::milliseconds(300) ? 1 : 10));
  }
  stop(s);
  std::string last_state;
  f.task_instances = read_times(dir + "/baton.db", last_state, "backfill").size();
  f.ok = state == "success";
  return f;
}

// W9 (--ha): W1 shell and W2 shell through remote workers against
// standalone on the same PostgreSQL in the same run, then the API server's
// threads and memory before and after `idle` workers park their claims.
int w9(const std::string& baton, int tasks, int chain, int workers, int runs, int idle) {
  std::vector<double> local_rate, remote_rate, local_hop, remote_hop, remote_hop99, local_hop99;
  std::vector<double> local_commits, remote_commits, local_cpu, remote_cpu;  // per task of W1
  std::vector<double> local_stored, remote_stored, floor_hop;  // W2: hops from the stored times; the bare spawn loop's
  bool all_ok = true;
  int members = g_ha_members;
  for (int r = 0; r < runs; ++r)
    for (bool remote : {false, true}) {
      g_ha_members = remote ? members : 0;
      RunFigures f = one_run(baton, fanout_yaml(tasks, true), "w1", workers, false);
      all_ok = all_ok && f.ok;
      (remote ? remote_rate : local_rate).push_back(f.makespan > 0 ? static_cast<double>(f.tasks) / f.makespan : 0);
      double n = std::max<double>(1, static_cast<double>(f.tasks));
      (remote ? remote_commits : local_commits).push_back(static_cast<double>(f.commits) / n);
      (remote ? remote_cpu : local_cpu).push_back((f.cpu + f.server_cpu) * 1000 / n);
      std::string stamps = g_folders.make("stamps");
      fs::create_directories(stamps);
      RunFigures c = one_run(baton, chain_yaml(chain, true, stamps), "w2", workers, true);
      std::vector<double> hops = stamp_hops(stamps, chain);
      all_ok = all_ok && c.ok && hops.size() == static_cast<size_t>(chain - 1);
      (remote ? remote_hop : local_hop).push_back(percentile(hops, 0.5));
      (remote ? remote_hop99 : local_hop99).push_back(percentile(hops, 0.99));
      (remote ? remote_stored : local_stored).push_back(percentile(c.hops, 0.5));
      if (!remote) floor_hop.push_back(percentile(floor_hops(g_folders.make("floor"), chain), 0.5));
    }
  g_ha_members = members;
  // The idle workers: each long-polls its claim on the API server.
  ++g_schema;
  std::string dir = g_folders.make("w9idle");
  fs::create_directories(dir + "/dags");
  Server s = start_ha(baton, dir, workers);
  long threads0 = rss_kb(s.pid, "Threads"), rss0 = rss_kb(s.pid, "VmRSS");
  std::string url = "http://127.0.0.1:" + std::to_string(s.port);
  std::string db = pg_url_for(pg_schema());
  std::string wtoken = token_of(run_output("'" + baton + "' tokens create idle-worker --role worker --db '" + db + "'"));
  std::vector<pid_t> idlers;
  for (int i = 0; i < idle; ++i)
    idlers.push_back(spawn("/dev/null", dir + "/idle" + std::to_string(i) + ".err",
                           {baton, "worker", "--server", url, "--token", wtoken, "--slots", "1", "--dir",
                            dir + "/idle" + std::to_string(i), "--heartbeat-interval", "1s"}));
  std::this_thread::sleep_for(std::chrono::seconds(10));  // every one parked its claim
  long threads1 = rss_kb(s.pid, "Threads"), rss1 = rss_kb(s.pid, "VmRSS");
  httplib::Client cli("127.0.0.1", s.port);
  std::vector<double> health;
  for (int i = 0; i < 50; ++i) {
    auto a = Clock::now();
    auto h = cli.Get("/api/v1/health");
    health.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    all_ok = all_ok && h && h->status == 200;
  }
  int st;
  for (pid_t p : idlers) kill(p, SIGTERM);
  for (pid_t p : idlers) waitpid(p, &st, 0);
  stop(s);
  double local = median(local_rate), remote = median(remote_rate);
  std::printf(
      "{\"workload\": \"W9\", \"engine\": \"postgres\", \"members\": %d, \"workers\": %d, \"runs\": %d, \"ok\": %s, "
      "\"standalone_w1_shell_tasks_per_s\": %.0f, \"remote_w1_shell_tasks_per_s\": %.0f, \"ratio\": %.2f, "
      "\"standalone_hop_p50_ms\": %.2f, \"standalone_hop_p99_ms\": %.2f, \"remote_hop_p50_ms\": %.2f, "
      "\"remote_hop_p99_ms\": %.2f, \"floor_hop_p50_ms\": %.2f, \"remote_added_hop_p50_ms\": %.2f, "
      "\"standalone_added_hop_p50_ms\": %.2f, \"standalone_stored_hop_p50_ms\": %.2f, "
      "\"remote_stored_hop_p50_ms\": %.2f, \"idle_workers\": %d, \"server_threads_before\": %ld, "
      "\"server_threads_after\": %ld, \"server_rss_mib_before\": %.1f, \"server_rss_mib_after\": %.1f, "
      "\"health_p99_ms_with_idle\": %.2f, \"standalone_commits_per_task\": %.2f, \"remote_commits_per_task\": %.2f, "
      "\"standalone_cpu_ms_per_task\": %.3f, \"remote_cpu_ms_per_task\": %.3f}\n",
      members, workers, runs, all_ok ? "true" : "false", local, remote, local > 0 ? remote / local : 0, median(local_hop),
      median(local_hop99), median(remote_hop), median(remote_hop99), median(floor_hop),
      median(remote_hop) - median(floor_hop), median(local_hop) - median(floor_hop), median(local_stored),
      median(remote_stored), idle,
      threads0, threads1, static_cast<double>(rss0) / 1024.0, static_cast<double>(rss1) / 1024.0,
      percentile(health, 0.99), median(local_commits), median(remote_commits), median(local_cpu), median(remote_cpu));
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a server closing a connection is an error of that request, not the harness's end
  std::string baton = "build/baton";
  int tasks = 1000, chain = 100, runs = 3, workers = 8, backfill_days = 365;
  int trigger_clients = 50, triggers_per_client = 100;
  int w8_intervals = 30000, idle_workers = 200, history = 100000;
  int w7_flood = 20000, w7_seconds = 40;
  std::string w7_weights = "1:1,3:1";
  W10Options w10;
  std::string workloads = "w1,w2,w4,w5,w6";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--baton") baton = argv[i + 1];
    else if (a == "--tasks") tasks = std::atoi(argv[i + 1]);
    else if (a == "--chain") chain = std::atoi(argv[i + 1]);
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else if (a == "--workers") workers = std::atoi(argv[i + 1]);
    else if (a == "--backfill-days") backfill_days = std::atoi(argv[i + 1]);
    else if (a == "--workloads") workloads = argv[i + 1];
    else if (a == "--trigger-clients") trigger_clients = std::atoi(argv[i + 1]);
    else if (a == "--triggers-per-client") triggers_per_client = std::atoi(argv[i + 1]);
    else if (a == "--ha") g_ha_members = std::atoi(argv[i + 1]);
    else if (a == "--w8-intervals") w8_intervals = std::atoi(argv[i + 1]);
    else if (a == "--idle-workers") idle_workers = std::atoi(argv[i + 1]);
    else if (a == "--history") history = std::atoi(argv[i + 1]);
    else if (a == "--w7-flood") w7_flood = std::atoi(argv[i + 1]);
    else if (a == "--w7-seconds") w7_seconds = std::atoi(argv[i + 1]);
    else if (a == "--w7-weights") w7_weights = argv[i + 1];
    else if (a == "--w10-workers") w10.workers = std::atoi(argv[i + 1]);
    else if (a == "--w10-runs") w10.runs = std::atoi(argv[i + 1]);
    else if (a == "--w10-warm") w10.warm = std::atoi(argv[i + 1]);
    else if (a == "--w10-every-ms") w10.every_ms = std::atoi(argv[i + 1]);
    else if (a == "--w10-sla") w10.sla_s = std::atoi(argv[i + 1]);
    else if (a == "--w10-bulk-tasks") w10.bulk_tasks = std::atoi(argv[i + 1]);
    else if (a == "--w10-bulk-active") w10.bulk_active = std::atoi(argv[i + 1]);
    else if (a == "--engine" && std::string(argv[i + 1]) == "postgres") {
      const char* url = std::getenv("BATON_TEST_PG_URL");
      if (!url || !*url) {
        std::fprintf(stderr, "--engine postgres needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)\n");
        return 77;  // skipped
      }
      g_pg_url = url;
    } else if (a == "--engine" && std::string(argv[i + 1]) == "sqlite") {
    } else {
      std::fprintf(stderr,
                   "usage: bench_scheduler [--baton PATH] [--engine sqlite|postgres] [--tasks N] [--chain N] [--runs N] "
                   "[--workers N] [--backfill-days N] [--workloads w1,w2,w4,w5,w5h,w6,w7,w8,w9,w10] [--trigger-clients N] "
                   "[--triggers-per-client N] [--w8-intervals N] [--idle-workers N] [--history N] [--w7-flood N] "
                   "[--w7-seconds N] [--w7-weights A:B,...] [--w10-workers N] [--w10-runs N] [--w10-warm N] "
                   "[--w10-every-ms N] [--w10-sla SECONDS] [--w10-bulk-tasks N] [--w10-bulk-active N]\n");
      return 2;
    }
  }
  if (tasks < 1 || chain < 2 || runs < 1 || workers < 1 || g_ha_members < 0) return 2;
  if (w10.workers < 1 || w10.runs < 1 || w10.warm < 0 || w10.every_ms < 1 || w10.sla_s < 1 || w10.bulk_tasks < 1 ||
      w10.bulk_active < 1) {
    std::fprintf(stderr, "--w10-*: each must be a positive number (--w10-warm may be 0); --w10-sla is whole seconds\n");
    return 2;
  }
  if (g_ha_members > 0 && g_pg_url.empty()) {
    std::fprintf(stderr, "--ha needs --engine postgres\n");
    return 2;
  }
  double fork_rate = fork_exec_rate(2000);
  const char* engine = g_pg_url.empty() ? "sqlite" : g_ha_members > 0 ? "postgres-ha" : "postgres";
  const char* db_engine = g_pg_url.empty() ? "sqlite" : "postgres";
  double commit_rate =
      g_pg_url.empty() ? sqlite_commit_rate(fs::temp_directory_path().string(), 2000) : pg_commit_rate(2000);
  auto wanted = [&](const char* w) { return ("," + workloads + ",").find(std::string(",") + w + ",") != std::string::npos; };
  int rc = 0;
  for (bool shell : {false, true}) {
    if (!wanted("w1")) break;
    std::vector<double> makespan, rate, cpu, wall, wall_rate, server_cpu, commits;
    bool all_ok = true;
    for (int r = 0; r < runs; ++r) {
      std::string yaml = fanout_yaml(tasks, shell);
      RunFigures f = one_run(baton, yaml, "w1", workers, false);
      all_ok = all_ok && f.ok && f.tasks == static_cast<size_t>(tasks + 1);
      makespan.push_back(f.makespan);
      rate.push_back(f.makespan > 0 ? static_cast<double>(f.tasks) / f.makespan : 0);
      wall.push_back(f.wall);
      wall_rate.push_back(f.wall > 0 ? static_cast<double>(f.tasks) / f.wall : 0);
      cpu.push_back(f.cpu);
      server_cpu.push_back(f.server_cpu);
      commits.push_back(static_cast<double>(f.commits));
    }
    // Per task: the scheduling processes' CPU (and the API server's, with --ha), and PostgreSQL's commits.
    double per = static_cast<double>(tasks + 1);
    std::printf(
        "{\"workload\": \"W1-%s\", \"engine\": \"%s\", \"tasks\": %d, \"workers\": %d, \"runs\": %d, \"ok\": %s, \"makespan_s\": %.3f, "
        "\"tasks_per_s\": %.0f, \"wall_s\": %.3f, \"wall_tasks_per_s\": %.0f, \"scheduler_cpu_s\": %.2f, "
        "\"scheduler_cpu_ms_per_task\": %.3f, \"server_cpu_ms_per_task\": %.3f, \"commits_per_task\": %.2f, "
        "\"baseline_fork_exec_per_s\": %.0f, \"baseline_%s_commits_per_s\": %.0f}\n",
        shell ? "shell" : "noop", engine, tasks + 1, workers, runs, all_ok ? "true" : "false", median(makespan), median(rate),
        median(wall), median(wall_rate), median(cpu), median(cpu) * 1000 / per, median(server_cpu) * 1000 / per,
        g_pg_url.empty() ? -1.0 : median(commits) / per, fork_rate, db_engine, commit_rate);
    rc |= all_ok ? 0 : 1;
  }
  for (bool shell : {false, true}) {
    if (!wanted("w2")) break;
    // noop: the stored times (no process); shell: the tasks' own stamps, and
    // the floor (a bare spawn loop of the same commands) in the same run.
    std::vector<double> p50, p99, stored50, stored99, floor50, floor99, makespan, wall;
    bool all_ok = true;
    for (int r = 0; r < runs; ++r) {
      std::string stamps = shell ? g_folders.make("stamps") : "";
      if (shell) fs::create_directories(stamps);
      RunFigures f = one_run(baton, chain_yaml(chain, shell, stamps), "w2", workers, true);
      all_ok = all_ok && f.ok && f.tasks == static_cast<size_t>(chain);
      std::vector<double> hops = shell ? stamp_hops(stamps, chain) : f.hops;
      all_ok = all_ok && hops.size() == static_cast<size_t>(chain - 1);
      p50.push_back(percentile(hops, 0.5));
      p99.push_back(percentile(hops, 0.99));
      stored50.push_back(percentile(f.hops, 0.5));
      stored99.push_back(percentile(f.hops, 0.99));
      if (shell) {
        std::vector<double> fl = floor_hops(g_folders.make("floor"), chain);
        floor50.push_back(percentile(fl, 0.5));
        floor99.push_back(percentile(fl, 0.99));
      }
      makespan.push_back(f.makespan);
      wall.push_back(f.wall);
    }
    double floor_p50 = shell ? median(floor50) : 0;
    std::printf(
        "{\"workload\": \"W2-%s\", \"engine\": \"%s\", \"tasks\": %d, \"runs\": %d, \"ok\": %s, \"hop_p50_ms\": %.2f, \"hop_p99_ms\": %.2f, "
        "\"floor_hop_p50_ms\": %.2f, \"floor_hop_p99_ms\": %.2f, \"added_hop_p50_ms\": %.2f, "
        "\"stored_hop_p50_ms\": %.2f, \"stored_hop_p99_ms\": %.2f, "
        "\"makespan_s\": %.3f, \"wall_s\": %.3f, \"baseline_fork_exec_per_s\": %.0f, "
        "\"baseline_%s_commits_per_s\": %.0f}\n",
        shell ? "shell" : "noop", engine, chain, runs, all_ok ? "true" : "false", median(p50), median(p99), floor_p50,
        shell ? median(floor99) : 0, median(p50) - floor_p50, median(stored50), median(stored99), median(makespan),
        median(wall), fork_rate, db_engine, commit_rate);
    rc |= all_ok ? 0 : 1;
  }
  if (wanted("w5") && g_ha_members == 0) {
    std::vector<double> per_s, p50, p99;
    long long conflicts = 0, errors = 0, connections = 0;
    bool all_ok = true;
    for (int r = 0; r < runs; ++r) {
      TriggerFigures f = one_trigger_burst(baton, trigger_clients, triggers_per_client, workers);
      all_ok = all_ok && f.ok;
      per_s.push_back(f.per_s);
      p50.push_back(f.p50_ms);
      p99.push_back(f.p99_ms);
      conflicts += f.conflicts;
      errors += f.errors;
      connections = std::max(connections, f.connections);
    }
    std::printf(
        "{\"workload\": \"W5-trigger\", \"engine\": \"%s\", \"clients\": %d, \"triggers\": %d, \"runs\": %d, "
        "\"ok\": %s, \"triggers_per_s\": %.0f, \"trigger_p50_ms\": %.2f, \"trigger_p99_ms\": %.2f, "
        "\"conflicts\": %lld, \"errors\": %lld, \"connections_opened\": %lld, \"baseline_%s_commits_per_s\": %.0f}\n",
        engine, trigger_clients, trigger_clients * triggers_per_client, runs, all_ok ? "true" : "false", median(per_s),
        median(p50), median(p99), conflicts, errors, connections, db_engine, commit_rate);
    rc |= all_ok ? 0 : 1;
  }
  if (g_ha_members >= 2 && wanted("w9")) rc |= w9(baton, tasks, chain, workers, runs, idle_workers);
  if (g_ha_members >= 2 && wanted("w6")) {
    // W6: kill -9 of the DAG's owner and of the leader during W1 (shell).
    std::vector<double> resume, wall;
    long long duplicates = 0, lost = 0;
    int killed = 0, leader_kills = 0;
    bool all_ok = true;
    for (int r = 0; r < runs; ++r) {
      Failover fo;
      RunFigures f = one_run(baton, fanout_yaml(tasks, true), "w1", workers, false, &fo, tasks + 1);
      all_ok = all_ok && f.ok && fo.done;
      resume.push_back(fo.resume_s);
      wall.push_back(f.wall);
      duplicates += fo.duplicate_runs + fo.duplicate_tries;
      lost += fo.lost;
      killed += fo.killed;
      leader_kills += fo.leader_killed ? 1 : 0;
    }
    std::printf(
        "{\"workload\": \"W6\", \"engine\": \"%s\", \"members\": %d, \"tasks\": %d, \"runs\": %d, \"ok\": %s, "
        "\"resume_s\": %.3f, \"resume_max_s\": %.3f, \"wall_s\": %.3f, \"members_killed\": %d, \"leader_killed_runs\": %d, "
        "\"duplicates\": %lld, \"lost\": %lld}\n",
        engine, g_ha_members, tasks + 1, runs, all_ok ? "true" : "false", median(resume),
        resume.empty() ? 0 : *std::max_element(resume.begin(), resume.end()), median(wall), killed, leader_kills,
        duplicates, lost);
    rc |= all_ok && duplicates == 0 && lost == 0 ? 0 : 1;
  }
  for (int max_active : {16, 365}) {
    if (!wanted("w4")) break;
    std::vector<double> wall, rate;
    bool all_ok = true;
    size_t tis = 0;
    for (int r = 0; r < runs; ++r) {
      BackfillFigures f = one_backfill(baton, backfill_days, max_active, workers);
      all_ok = all_ok && f.ok && f.task_instances == static_cast<size_t>(backfill_days) * 10;
      tis = f.task_instances;
      wall.push_back(f.wall);
      rate.push_back(f.wall > 0 ? backfill_days / f.wall : 0);
    }
    std::printf(
        "{\"workload\": \"W4\", \"engine\": \"%s\", \"intervals\": %d, \"task_instances\": %zu, "
        "\"max_active_runs\": %d, \"runs\": %d, \"ok\": %s, \"wall_s\": %.3f, \"runs_per_s\": %.0f, "
        "\"baseline_%s_commits_per_s\": %.0f}\n",
        engine, backfill_days, tis, max_active, runs, all_ok ? "true" : "false", median(wall), median(rate), db_engine,
        commit_rate);
    rc |= all_ok ? 0 : 1;
  }
  if (wanted("w5h") && g_ha_members == 0) rc |= run_w5(baton, history, trigger_clients);
  if (wanted("w7") && g_pg_url.empty()) {
    // Each weighting on its own server, a then b (e.g. "1:1,3:1").
    std::stringstream list(w7_weights);
    for (std::string w; std::getline(list, w, ',');) {
      double wa = 0, wb = 0;
      if (std::sscanf(w.c_str(), "%lf:%lf", &wa, &wb) != 2 || wa <= 0 || wb <= 0) {
        std::fprintf(stderr, "--w7-weights: \"%s\" is not A:B with positive numbers\n", w.c_str());
        return 2;
      }
      rc |= run_w7(baton, workers, w7_flood, w7_seconds, wa, wb);
    }
  }
  if (wanted("w8") && g_pg_url.empty()) rc |= run_w8(baton, w8_intervals, workers, chain, runs);
  if (wanted("w10") && g_pg_url.empty()) rc |= run_w10(baton, w10);
  return rc;
}
