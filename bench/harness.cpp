// The harness's shared parts: statistics, the physical baselines, starting
// and stopping `baton` (standalone, or the set-up of SPEC §9 on PostgreSQL),
// and reading the task times back from the database.
#include "harness.h"

#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "baton/core/ids.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace bench {

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

std::string RunFolders::make(const std::string& kind) {
  std::string dir =
      (fs::temp_directory_path() / ("baton-" + kind + "-" + std::to_string(getpid()) + "-" + std::to_string(dirs.size())))
          .string();
  fs::remove_all(dir);
  dirs.push_back(dir);
  return dir;
}

RunFolders::~RunFolders() {
  std::error_code ec;
  for (auto& d : dirs) fs::remove_all(d, ec);
}

RunFolders g_folders;
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

long long pg_commits() {
  if (g_pg_url.empty()) return -1;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // backends flush their counts at most every second
  pqxx::connection c(g_pg_url);
  pqxx::nontransaction n(c);
  n.exec("SELECT pg_stat_clear_snapshot()");
  return n.exec("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0].as<long long>();
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


int g_ha_members = 0;

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
  // The API answers while the DAGs folder loads: ready when /health no longer says so.
  if (s.port != 0) {
    httplib::Client cli("127.0.0.1", s.port);
    for (int i = 0; i < 6000; ++i) {
      auto h = cli.Get("/api/v1/health");
      if (h && h->status == 200 && h->body.find("\"loading\"") == std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
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
                                  const std::string& run_type) {
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


long rss_kb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  return 0;
}

}  // namespace bench
