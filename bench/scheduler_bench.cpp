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
#include <signal.h>
#include <pqxx/pqxx>

#include "baton/core/ids.h"
#include "baton/core/time.h"
#include <sqlite3.h>
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

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double fork_exec_rate(int n) {
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/true", "true", nullptr);
      _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
  }
  return n / std::chrono::duration<double>(Clock::now() - t0).count();
}

double sqlite_commit_rate(const std::string& dir, int n) {
  std::string path = dir + "/commit-bench.db";
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t (x INTEGER)", nullptr,
               nullptr, nullptr);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i)
    sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1); COMMIT", nullptr, nullptr, nullptr);
  double rate = n / std::chrono::duration<double>(Clock::now() - t0).count();
  sqlite3_close(db);
  fs::remove(path);
  return rate;
}

// PostgreSQL: the database of BATON_TEST_PG_URL, a schema per repetition.
std::string g_pg_url;
int g_schema = 0;

// Each run's folder is its own and is removed when the harness ends, not
// after the run: ext4 passes over inodes freed in the last minutes when it
// allocates new ones (recently_deleted), so removing a run's thousands of
// log files made the next run's log folders slow to create, and measured
// the file system's bookkeeping of the previous run instead of this one.
struct RunFolders {
  std::vector<std::string> dirs;
  std::string make(const std::string& kind) {
    std::string dir = (fs::temp_directory_path() /
                       ("baton-" + kind + "-" + std::to_string(getpid()) + "-" + std::to_string(dirs.size())))
                          .string();
    fs::remove_all(dir);
    dirs.push_back(dir);
    return dir;
  }
  ~RunFolders() {
    std::error_code ec;
    for (auto& d : dirs) fs::remove_all(d, ec);
  }
} g_folders;
std::string pg_schema() { return "bench_" + std::to_string(getpid()) + "_" + std::to_string(g_schema); }
std::string pg_url_for(const std::string& schema) {
  return g_pg_url + (g_pg_url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

// Durable commits of one-row transactions per second (synchronous_commit on).
double pg_commit_rate(int n) {
  pqxx::connection c(g_pg_url);
  pqxx::nontransaction w(c);
  w.exec("SET synchronous_commit = on; CREATE TEMP TABLE t (x INTEGER)");
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) w.exec("BEGIN; INSERT INTO t VALUES (1); COMMIT");
  return n / std::chrono::duration<double>(Clock::now() - t0).count();
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string f;
  long ut = 0, st = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {
    if (i == 14) ut = std::stol(f);
    if (i == 15) st = std::stol(f);
  }
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string token;
  std::vector<pid_t> others;   // --ha: the members and the workers
  std::vector<pid_t> members;  // --ha: the scheduler members
};

int g_ha_members = 0;  // 0: standalone

pid_t spawn(const std::string& out, const std::string& err, std::vector<std::string> args) {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(out.c_str(), "w", stdout);
    (void)f;
    FILE* e = std::freopen(err.c_str(), "w", stderr);
    (void)e;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::string run_output(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

std::string token_of(const std::string& text) {
  std::smatch m;
  std::regex re("baton_[0-9a-f]+");
  return std::regex_search(text, m, re) ? m[0].str() : "";
}

// The set-up of SPEC §9 on a fresh schema: an API server, the members, two workers.
Server start_ha(const std::string& baton, const std::string& dir, int workers) {
  Server s;
  std::string db = pg_url_for(pg_schema());
  std::string dags = dir + "/dags";
  run_output("'" + baton + "' db migrate --db '" + db + "'");
  s.token = token_of(run_output("'" + baton + "' tokens create bench-admin --role admin --db '" + db + "'"));
  std::string wtoken = token_of(run_output("'" + baton + "' tokens create bench-worker --role worker --db '" + db + "'"));
  std::string out = dir + "/out.log";
  s.pid = spawn(out, dir + "/err.log",
                {baton, "server", "--no-scheduler", "--dags", dags, "--db", db, "--listen", "127.0.0.1:0", "--logs",
                 dir + "/logs"});
  for (int m = 0; m < g_ha_members; ++m) {
    s.members.push_back(spawn(dir + "/sched" + std::to_string(m) + ".log", dir + "/sched" + std::to_string(m) + ".err",
                              {baton, "scheduler", "--dags", dags, "--db", db, "--logs", dir + "/logs" + std::to_string(m),
                               "--heartbeat-interval", "1s"}));
    s.others.push_back(s.members.back());
  }
  std::regex url_re("^UI and API: http://127\\.0\\.0\\.1:([0-9]+)/");
  for (int i = 0; i < 200 && s.port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(out);
    std::string line;
    std::smatch m;
    while (std::getline(in, line))
      if (std::regex_search(line, m, url_re)) s.port = std::stoi(m[1]);
  }
  if (s.port == 0) return s;
  std::string url = "http://127.0.0.1:" + std::to_string(s.port);
  int per = std::max(1, workers / 2);
  for (int w = 0; w < 2; ++w)
    s.others.push_back(spawn(dir + "/worker" + std::to_string(w) + ".log", dir + "/worker" + std::to_string(w) + ".err",
                             {baton, "worker", "--server", url, "--token", wtoken, "--slots", std::to_string(per), "--dir",
                              dir + "/w" + std::to_string(w), "--heartbeat-interval", "1s"}));
  // Ready when every member owns partitions.
  httplib::Client cli("127.0.0.1", s.port);
  for (int i = 0; i < 300; ++i) {
    auto h = cli.Get("/api/v1/health");
    if (h) {
      size_t members = 0, owning = 0, pos = 0;
      while ((pos = h->body.find("\"heartbeat_at\"", pos)) != std::string::npos) ++members, ++pos;
      std::regex p_re("\"partitions\":([0-9]+)\\}");
      for (std::sregex_iterator it(h->body.begin(), h->body.end(), p_re), end; it != end; ++it)
        if (std::stoi((*it)[1]) > 0) ++owning;
      if (members == static_cast<size_t>(g_ha_members) && owning == members) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return s;
}

Server start(const std::string& baton, const std::string& dir, int workers) {
  if (g_ha_members > 0) return start_ha(baton, dir, workers);
  Server s;
  std::string out = dir + "/out.log";
  // Named before the fork: the schema's name holds this process's id.
  std::string dbarg = g_pg_url.empty() ? "sqlite:" + dir + "/baton.db" : pg_url_for(pg_schema());
  std::fflush(stdout);  // the child must not inherit (and print again) buffered output
  s.pid = fork();
  if (s.pid == 0) {
    FILE* f = std::freopen(out.c_str(), "w", stdout);
    (void)f;
    FILE* e = std::freopen((dir + "/err.log").c_str(), "w", stderr);
    (void)e;
    std::string w = std::to_string(workers);
    std::string dags = dir + "/dags", logs = dir + "/logs";
    execl(baton.c_str(), baton.c_str(), "standalone", "--dags", dags.c_str(), "--db", dbarg.c_str(), "--listen",
          "127.0.0.1:0", "--logs", logs.c_str(), "--workers", w.c_str(), nullptr);
    _exit(127);
  }
  std::regex url_re("^UI and API: http://127\\.0\\.0\\.1:([0-9]+)/"), tok_re("^admin token: (\\S+)");
  for (int i = 0; i < 200 && (s.port == 0 || s.token.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(out);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, url_re)) s.port = std::stoi(m[1]);
      if (std::regex_search(line, m, tok_re)) s.token = m[1];
    }
  }
  return s;
}

void stop(Server& s) {
  int st;
  for (pid_t p : s.others) kill(p, SIGTERM);
  for (pid_t p : s.others) waitpid(p, &st, 0);
  s.others.clear();
  if (s.pid <= 0) return;
  kill(s.pid, SIGTERM);
  waitpid(s.pid, &st, 0);
  s.pid = -1;
}

// W6: what the kill did, read from the database.
struct Failover {
  bool done = false;
  double resume_s = 0;       // kill -> the first write for the DAG after it
  long long duplicate_runs = 0, duplicate_tries = 0, lost = 0;
  int killed = 0;
  bool leader_killed = false;
};

// Kills (SIGKILL) the member that owns the DAG's partition, and the leader,
// once `fraction` of its tasks succeeded. `members`: the pids of the members.
void kill_owner_when(Failover& fo, const std::vector<pid_t>& members, const std::string& dag, double fraction, int tasks,
                     long long& kill_us) {
  pqxx::connection c(pg_url_for(pg_schema()));
  pqxx::nontransaction n(c);
  auto done = n.exec("SELECT count(*) FROM task_instances WHERE state = 'success'")[0][0].as<long long>();
  if (done < static_cast<long long>(fraction * tasks)) return;
  auto owner = n.exec_params("SELECT owner FROM partitions WHERE partition_no = $1", baton::partition_of(dag));
  auto leader = n.exec("SELECT value FROM settings WHERE key = 'leader'");
  auto pid_of = [](const std::string& member) { return static_cast<pid_t>(std::atoi(member.substr(member.rfind(':') + 1).c_str())); };
  std::set<pid_t> victims;
  if (!owner.empty() && !owner[0][0].is_null()) victims.insert(pid_of(owner[0][0].c_str()));
  if (!leader.empty()) {
    pid_t l = pid_of(leader[0][0].c_str());
    fo.leader_killed = std::find(members.begin(), members.end(), l) != members.end();
    victims.insert(l);
  }
  kill_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (pid_t p : victims)
    if (std::find(members.begin(), members.end(), p) != members.end()) {
      kill(p, SIGKILL);
      ++fo.killed;
    }
  fo.done = true;
}

void read_failover(Failover& fo, long long kill_us, int tasks) {
  pqxx::connection c(pg_url_for(pg_schema()));
  pqxx::nontransaction n(c);
  auto r = n.exec_params(
      "SELECT min(t) FROM (SELECT queued_at AS t FROM task_tries UNION ALL SELECT started_at FROM task_tries "
      "UNION ALL SELECT ended_at FROM task_tries) x WHERE t > $1",
      kill_us);
  if (!r[0][0].is_null()) fo.resume_s = (r[0][0].as<long long>() - kill_us) / 1e6;
  fo.duplicate_runs = n.exec("SELECT count(*) - 1 FROM dag_runs")[0][0].as<long long>();
  fo.duplicate_tries =
      n.exec("SELECT count(*) FROM (SELECT ti_id FROM task_tries WHERE state = 'success' GROUP BY ti_id HAVING count(*) > 1) x")[0][0]
          .as<long long>() +
      n.exec("SELECT count(*) FROM task_tries a JOIN task_tries b ON a.ti_id = b.ti_id AND b.try_number > a.try_number "
             "WHERE b.started_at IS NOT NULL AND (a.ended_at IS NULL OR b.started_at < a.ended_at)")[0][0]
          .as<long long>();
  fo.lost = tasks - n.exec("SELECT count(*) FROM task_instances WHERE state = 'success'")[0][0].as<long long>();
}

struct TaskTimes {
  std::string task;
  double start = 0, end = 0;  // seconds
};

std::vector<TaskTimes> read_times_pg(std::string& run_state, const std::string& run_type) {
  pqxx::connection c(pg_url_for(pg_schema()));
  pqxx::nontransaction n(c);
  auto st = n.exec("SELECT state FROM dag_runs ORDER BY id DESC LIMIT 1");
  if (!st.empty()) run_state = st[0][0].c_str();
  std::vector<TaskTimes> out;
  for (auto row : n.exec_params("SELECT task_id, started_at, ended_at FROM task_instances WHERE started_at IS NOT NULL "
                                "AND ended_at IS NOT NULL AND run_pk IN (SELECT id FROM dag_runs WHERE run_type = $1)",
                                run_type))
    out.push_back({row[0].c_str(), row[1].as<long long>() / 1e6, row[2].as<long long>() / 1e6});
  n.exec("DROP SCHEMA " + n.quote_name(pg_schema()) + " CASCADE");
  return out;
}

// The start and end of every task instance of the runs of one type.
std::vector<TaskTimes> read_times(const std::string& db_path, std::string& run_state,
                                  const std::string& run_type = "manual") {
  if (!g_pg_url.empty()) return read_times_pg(run_state, run_type);
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(db, 5000);
  std::vector<TaskTimes> out;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT state FROM dag_runs ORDER BY id DESC LIMIT 1", -1, &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW) run_state = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db,
                     "SELECT task_id, started_at, ended_at FROM task_instances WHERE run_pk IN (SELECT id FROM "
                     "dag_runs WHERE run_type = ?) AND started_at IS NOT NULL AND ended_at IS NOT NULL",
                     -1, &st, nullptr);
  sqlite3_bind_text(st, 1, run_type.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(st) == SQLITE_ROW)
    out.push_back({reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), sqlite3_column_int64(st, 1) / 1e6,
                   sqlite3_column_int64(st, 2) / 1e6});
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

struct RunFigures {
  double makespan = 0, cpu = 0;
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
  stop(s);
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

std::string chain_yaml(int n, bool shell) {
  std::string y = "dag: w2\ntasks:\n";
  for (int i = 0; i < n; ++i) {
    y += "  t" + std::to_string(i) + ": {" + (shell ? "command: 'true'" : "type: noop");
    if (i) y += ", depends_on: [t" + std::to_string(i - 1) + "]";
    y += "}\n";
  }
  return y;
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

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a server closing a connection is an error of that request, not the harness's end
  std::string baton = "build/baton";
  int tasks = 1000, chain = 100, runs = 3, workers = 8, backfill_days = 365;
  int trigger_clients = 50, triggers_per_client = 100;
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
                   "[--workers N] [--backfill-days N] [--workloads w1,w2,w4,w5,w6] [--trigger-clients N] "
                   "[--triggers-per-client N]\n");
      return 2;
    }
  }
  if (tasks < 1 || chain < 2 || runs < 1 || workers < 1 || g_ha_members < 0) return 2;
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
    std::vector<double> makespan, rate, cpu, wall, wall_rate;
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
    }
    std::printf(
        "{\"workload\": \"W1-%s\", \"engine\": \"%s\", \"tasks\": %d, \"workers\": %d, \"runs\": %d, \"ok\": %s, \"makespan_s\": %.3f, "
        "\"tasks_per_s\": %.0f, \"wall_s\": %.3f, \"wall_tasks_per_s\": %.0f, \"scheduler_cpu_s\": %.2f, "
        "\"baseline_fork_exec_per_s\": %.0f, \"baseline_%s_commits_per_s\": %.0f}\n",
        shell ? "shell" : "noop", engine, tasks + 1, workers, runs, all_ok ? "true" : "false", median(makespan), median(rate),
        median(wall), median(wall_rate), median(cpu), fork_rate, db_engine, commit_rate);
    rc |= all_ok ? 0 : 1;
  }
  for (bool shell : {false, true}) {
    if (!wanted("w2")) break;
    std::vector<double> p50, p99, makespan, wall;
    bool all_ok = true;
    for (int r = 0; r < runs; ++r) {
      RunFigures f = one_run(baton, chain_yaml(chain, shell), "w2", workers, true);
      all_ok = all_ok && f.ok && f.tasks == static_cast<size_t>(chain);
      p50.push_back(percentile(f.hops, 0.5));
      p99.push_back(percentile(f.hops, 0.99));
      makespan.push_back(f.makespan);
      wall.push_back(f.wall);
    }
    std::printf(
        "{\"workload\": \"W2-%s\", \"engine\": \"%s\", \"tasks\": %d, \"runs\": %d, \"ok\": %s, \"hop_p50_ms\": %.2f, \"hop_p99_ms\": %.2f, "
        "\"makespan_s\": %.3f, \"wall_s\": %.3f, \"baseline_fork_exec_per_s\": %.0f, "
        "\"baseline_%s_commits_per_s\": %.0f}\n",
        shell ? "shell" : "noop", engine, chain, runs, all_ok ? "true" : "false", median(p50), median(p99), median(makespan),
        median(wall),
        fork_rate, db_engine, commit_rate);
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
  return rc;
}
