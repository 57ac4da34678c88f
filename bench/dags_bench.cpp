// W3 (BENCHMARKS.md) against the real `baton standalone` on a fresh SQLite
// store: N DAG files of one `noop` task each, scheduled `*/1 * * * *`
// (variant cron), `every 1m` (every) or not at all (none); `--engine
// postgres` puts the store in a schema of its own on BATON_TEST_PG_URL (run
// it under scripts/with-postgres.sh). Figures:
//  - first_answer_s: spawn -> the first HTTP answer of GET /api/v1/health
//    (polled every 10 ms on a port picked beforehand);
//  - loaded_s: spawn -> /health no longer says "loading" (a binary that
//    serves only after its load: the first answer); the scheduled runs the
//    loaded DAGs owe are made after it;
//  - listed_s: spawn -> GET /api/v1/dags (paged, limit 1000) lists all N;
//  - lateness p50 / p99 (ms): of each scheduled run whose interval ended
//    after the load was done, created_at - data_interval_end (the instant
//    its interval completes, which is when the schedule says it fires),
//    both read from the store after the process stopped. created_at is
//    stamped as the run's row is written, before its transaction commits;
//  - visible p50 / p99 (ms): the same runs, from when another connection
//    first saw them: from 2 s before each minute to 20 s after, the bench
//    reads max(id) of dag_runs every 5 ms; a run is visible at the first
//    read whose max(id) reaches its id (ids are given in the order rows
//    are written, and only the fires make runs here);
//  - idle_cpu_pct: the process's utime+stime (/proc/PID/stat) over the
//    quiet part of each minute (from :25 to :55; the runs of the minute's
//    fire are done by then), the median over the minutes; for `none`, over
//    one window after the load;
//  - peak_rss_mib: VmHWM;
//  - store_floor_p50_ms: the baseline, once the process stopped: one
//    transaction that writes a run of every stored DAG and a task instance
//    of each, by one INSERT … SELECT each, on the same store (its schema,
//    history and durability); the median of three. What a fire of N DAGs
//    costs the engine alone: the least a fire's visible lateness can be
//    when the runs are written once their interval is over.
// A benchmark, not a test: it prints one JSON object per variant and never
// asserts a time.
#include <httplib.h>
#include <pqxx/pqxx>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <filesystem>
#include <memory>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string baton = "build/baton";
  int dags = 10000;
  int seconds = 180;
  std::vector<std::string> variants = {"cron", "every", "none"};
  int idle_window = 30;  // seconds of the `none` variant's window
  std::string dir;
  bool keep = false;
  std::string pg_url;  // --engine postgres: BATON_TEST_PG_URL
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

void generate(const std::string& dir, int n, const std::string& variant) {
  for (int i = 0; i < n; ++i) {
    fs::path sub = fs::path(dir) / ("team" + std::to_string(i % 20));
    if (i < 20) fs::create_directories(sub);
    std::ofstream f(sub / ("dag_" + std::to_string(i) + ".yaml"));
    f << "dag: w3_" << i << "\n";
    if (variant == "cron") f << "schedule: \"*/1 * * * *\"\n";
    if (variant == "every") f << "schedule: every 1m\n";
    f << "start_date: 2026-01-01\n"
      << "tasks:\n  t:\n    type: noop\n";
  }
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream ss(s.substr(p + 2));
  std::string f;
  std::vector<std::string> fields;
  while (ss >> f) fields.push_back(f);
  if (fields.size() < 13) return 0;
  // Fields 14 and 15 of stat (utime, stime), counted from the state (3).
  double ticks = std::stod(fields[11]) + std::stod(fields[12]);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long vm_hwm_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

double since(SteadyClock::time_point t0) { return std::chrono::duration<double>(SteadyClock::now() - t0).count(); }

std::string read_token(const std::string& out) {
  std::ifstream in(out);
  std::regex tok_re("^admin token: (\\S+)");
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, m, tok_re)) return m[1];
  return "";
}

// How many DAGs GET /dags lists, page by page.
long count_listed(httplib::Client& cli, const std::string& token) {
  httplib::Headers h = {{"Authorization", "Bearer " + token}};
  long n = 0;
  std::string cursor;
  std::regex next_re("\"next_cursor\":\\s*\"([^\"]+)\"");
  for (int page = 0; page < 1000; ++page) {
    std::string path = "/api/v1/dags?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor);
    auto r = cli.Get(path, h);
    if (!r || r->status != 200) return n;
    for (size_t p = 0; (p = r->body.find("\"dag_id\"", p)) != std::string::npos; ++p) ++n;
    std::smatch m;
    if (!std::regex_search(r->body, m, next_re)) return n;
    cursor = m[1];
  }
  return n;
}

// The store the process writes: a SQLite file, or a schema of its own on
// PostgreSQL. Read only by the bench (max(id) polls, the runs at the end).
class StoreReader {
 public:
  virtual ~StoreReader() = default;
  virtual long long max_run_id() = 0;
  struct Run {
    long long id, created_at, interval_end;  // unix µs
  };
  // Scheduled runs whose interval ended at or after `after_us`.
  virtual std::vector<Run> scheduled_runs(long long after_us) = 0;
  // The store's floor for a minute's runs (the baseline, once the process
  // is stopped): one transaction that writes a run of each stored DAG, of
  // an interval far ahead (`rep` tells them apart), and a task instance of
  // each, by SQL alone: one INSERT … SELECT each, as the store's schema
  // (its indexes, foreign keys and counting triggers) and durability make
  // them cost. Milliseconds, or -1; the rows are deleted again after it.
  virtual double floor_ms(int rep) = 0;
};

// The floor's SQL, the same on both engines. The task instances are the
// runs' with ids above the largest before (`max_before`).
std::string floor_runs_sql(int rep) {
  long long at = 4102444800000000LL + rep * 60000000LL;  // 2100-01-01 and on: far ahead of any fire
  std::string t = std::to_string(at);
  return "INSERT INTO dag_runs (dag_id, run_id, run_type, state, logical_date, data_interval_start, "
         "data_interval_end, params, dag_version, created_by, created_at) SELECT dag_id, 'floor_" +
         std::to_string(rep) + "', 'scheduled', 'queued', " + t + ", " + t + ", " + t +
         " + 60000000, '{}', current_version, 'system', " + t + " FROM dags WHERE current_version IS NOT NULL";
}
std::string floor_tis_sql(long long max_before) {
  return "INSERT INTO task_instances (run_pk, task_id, state) SELECT id, 't', 'scheduled' FROM dag_runs WHERE id > " +
         std::to_string(max_before);
}
std::string floor_undo_sql(long long max_before) {
  return "DELETE FROM task_instances WHERE run_pk > " + std::to_string(max_before) + "; DELETE FROM dag_runs WHERE id > " +
         std::to_string(max_before);
}

constexpr const char* kRunsSql =
    "SELECT id, created_at, data_interval_end FROM dag_runs WHERE run_type = 'scheduled' AND data_interval_end >= ";

class SqliteReader : public StoreReader {
 public:
  explicit SqliteReader(const std::string& path) : path_(path) {}
  ~SqliteReader() override {
    if (h_) sqlite3_close(h_);
  }
  long long max_run_id() override {
    if (!h_ && sqlite3_open_v2(path_.c_str(), &h_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return close();
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h_, "SELECT coalesce(max(id), 0) FROM dag_runs", -1, &st, nullptr) != SQLITE_OK)
      return close();
    long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
  }
  std::vector<Run> scheduled_runs(long long after_us) override {
    std::vector<Run> out;
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
    sqlite3_stmt* st = nullptr;
    std::string sql = std::string(kRunsSql) + std::to_string(after_us);
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "reading runs: %s\n", sqlite3_errmsg(h));
      sqlite3_close(h);
      return out;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
      out.push_back({sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)});
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
  }
  double floor_ms(int rep) override {
    sqlite3* h = nullptr;
    double ms = -1;
    if (sqlite3_open_v2(path_.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(h, 5000);
      // The store's own settings (sqlite_store.cpp).
      sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                      "PRAGMA temp_store=MEMORY", nullptr, nullptr, nullptr);
      long long before = max_id(h);
      auto t0 = SteadyClock::now();
      std::string sql = "BEGIN IMMEDIATE; " + floor_runs_sql(rep) + "; " + floor_tis_sql(before) + "; COMMIT";
      char* err = nullptr;
      if (before >= 0 && sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) ms = since(t0) * 1000;
      if (err) std::fprintf(stderr, "the store's floor: %s\n", err);
      sqlite3_free(err);
      sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);  // if it failed half way
      if (before >= 0 && sqlite3_exec(h, floor_undo_sql(before).c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        std::fprintf(stderr, "the store's floor: its rows stay: %s\n", sqlite3_errmsg(h));
        ms = -1;
      }
    }
    sqlite3_close(h);
    return ms;
  }

 private:
  static long long max_id(sqlite3* h) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT coalesce(max(id), 0) FROM dag_runs", -1, &st, nullptr) != SQLITE_OK) return -1;
    long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
  }
  long long close() {
    if (h_) sqlite3_close(h_);
    h_ = nullptr;  // the file may not exist yet: open again next time
    return -1;
  }
  std::string path_;
  sqlite3* h_ = nullptr;
};

class PostgresReader : public StoreReader {
 public:
  explicit PostgresReader(const std::string& url) : url_(url) {}
  long long max_run_id() override {
    try {
      if (!c_) c_ = std::make_unique<pqxx::connection>(url_);
      pqxx::nontransaction n(*c_);
      return n.exec("SELECT coalesce(max(id), 0) FROM dag_runs")[0][0].as<long long>();
    } catch (const std::exception&) {
      c_.reset();  // no schema yet, or the connection lost: again next time
      return -1;
    }
  }
  std::vector<Run> scheduled_runs(long long after_us) override {
    std::vector<Run> out;
    try {
      pqxx::connection c(url_);
      pqxx::nontransaction n(c);
      for (auto row : n.exec(std::string(kRunsSql) + std::to_string(after_us)))
        out.push_back({row[0].as<long long>(), row[1].as<long long>(), row[2].as<long long>()});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "reading runs: %s\n", e.what());
    }
    return out;
  }
  double floor_ms(int rep) override {
    try {
      pqxx::connection c(url_);
      long long before = pqxx::nontransaction(c).exec("SELECT coalesce(max(id), 0) FROM dag_runs")[0][0].as<long long>();
      double ms = -1;
      try {
        auto t0 = SteadyClock::now();
        pqxx::work w(c);
        w.exec(floor_runs_sql(rep));
        w.exec(floor_tis_sql(before));
        w.commit();
        ms = since(t0) * 1000;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "the store's floor: %s\n", e.what());
      }
      pqxx::nontransaction(c).exec(floor_undo_sql(before));
      return ms;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "the store's floor: %s\n", e.what());
      return -1;
    }
  }

 private:
  std::string url_;
  std::unique_ptr<pqxx::connection> c_;
};

void drop_schema(const std::string& url, const std::string& schema) {
  if (schema.empty()) return;
  try {
    pqxx::connection c(url);
    pqxx::nontransaction n(c);
    n.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dropping schema %s: %s\n", schema.c_str(), e.what());
  }
}

long long unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void run_variant(const Options& o, const std::string& variant) {
  std::string dir = o.dir + "/" + variant;
  fs::remove_all(dir);
  fs::create_directories(dir + "/dags");
  generate(dir + "/dags", o.dags, variant);
  int port = free_port();
  std::string out = dir + "/out.log", db = dir + "/baton.db";
  std::string dbarg = "sqlite:" + db;
  std::unique_ptr<StoreReader> reader;
  std::string schema;  // PostgreSQL: the store's own
  if (o.pg_url.empty()) {
    reader = std::make_unique<SqliteReader>(db);
  } else {
    schema = "bench_dags_" + std::to_string(getpid()) + "_" + variant;  // variant: cron, every or none
    try {
      pqxx::connection c(o.pg_url);
      pqxx::nontransaction n(c);
      n.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
      n.exec("CREATE SCHEMA " + schema);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "PostgreSQL (%s): %s\n", o.pg_url.c_str(), e.what());
      return;
    }
    dbarg = o.pg_url + (o.pg_url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
    reader = std::make_unique<PostgresReader>(dbarg);
  }
  std::fflush(stdout);
  auto t0 = SteadyClock::now();
  long long t0_us = unix_us();
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(out.c_str(), "w", stdout);
    (void)f;
    FILE* e = std::freopen((dir + "/err.log").c_str(), "w", stderr);
    (void)e;
    std::string listen = "127.0.0.1:" + std::to_string(port), dags = dir + "/dags", logs = dir + "/logs";
    execl(o.baton.c_str(), o.baton.c_str(), "standalone", "--dags", dags.c_str(), "--db", dbarg.c_str(), "--listen",
          listen.c_str(), "--logs", logs.c_str(), "--workers", "4", nullptr);
    _exit(127);
  }
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(0, 200000);
  cli.set_read_timeout(30, 0);
  double first = -1, loaded = -1, listed = -1;
  std::string loading_seen = "false";
  while (since(t0) < 120 && loaded < 0) {
    auto r = cli.Get("/api/v1/health");
    if (r) {
      if (first < 0) first = since(t0);
      if (r->body.find("\"loading\"") == std::string::npos) loaded = since(t0);
      else loading_seen = "true";
    }
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      std::fprintf(stderr, "baton standalone exited (see %s/err.log)\n", dir.c_str());
      if (!o.keep) drop_schema(o.pg_url, schema);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  long long loaded_us = t0_us + static_cast<long long>(loaded * 1e6);
  std::string token;
  while (since(t0) < 180 && listed < 0) {
    if (token.empty()) token = read_token(out);
    if (!token.empty() && count_listed(cli, token) >= o.dags) listed = since(t0);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Idle CPU: the quiet part of each minute (or one window without schedules).
  std::vector<double> idle;
  auto cpu_window = [&](double seconds) {
    double c0 = cpu_seconds(pid);
    auto w0 = SteadyClock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    double c1 = cpu_seconds(pid);
    idle.push_back(100.0 * (c1 - c0) / since(w0));
  };
  // When the fires' runs become visible: max(id) every 5 ms around each minute.
  struct Seen {
    long long at_us, max_id;
  };
  std::vector<Seen> seen;  // max_id never falls: sorted by it as by time
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    if (variant == "none") return;
    while (!stop) {
      long long now_us = unix_us(), sec = (now_us / 1000000) % 60;
      if (sec >= 58 || sec < 20) {
        long long id = reader->max_run_id();  // its snapshot is taken as it starts: now_us
        if (id >= 0) seen.push_back({now_us, id});
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  });
  if (variant == "none") {
    cpu_window(o.idle_window);
  } else {
    auto end = SteadyClock::now() + std::chrono::seconds(o.seconds);
    while (SteadyClock::now() < end) {
      long long sec = (unix_us() / 1000000) % 60;
      if (sec >= 25 && sec < 30) {
        cpu_window(std::min<double>(30, std::chrono::duration<double>(end - SteadyClock::now()).count()));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
  }
  stop = true;
  poller.join();
  long hwm = vm_hwm_kib(pid);
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  // Runs of intervals that ended before the load was done are the load's.
  auto runs = reader->scheduled_runs(loaded_us + 1000000);
  // The baseline: the store's floor for the same minute's runs, three times.
  std::vector<double> floor;
  if (variant != "none")
    for (int rep = 0; rep < 3; ++rep)
      if (double ms = reader->floor_ms(rep); ms >= 0) floor.push_back(ms);
  std::vector<double> late, visible;
  size_t unseen = 0;  // made while no poll was under way (outside the windows)
  for (auto& r : runs) {
    late.push_back(static_cast<double>(r.created_at - r.interval_end) / 1000.0);
    // The first poll that saw it, if the poll before did not (5 ms apart).
    auto it = std::lower_bound(seen.begin(), seen.end(), r.id, [](const Seen& x, long long id) { return x.max_id < id; });
    if (it == seen.end() || it == seen.begin() || it->at_us - (it - 1)->at_us > 50000) {
      ++unseen;
      continue;
    }
    visible.push_back(static_cast<double>(it->at_us - r.interval_end) / 1000.0);
  }
  std::printf(
      "{\"workload\": \"W3\", \"engine\": \"%s\", \"variant\": \"%s\", \"dags\": %d, \"first_answer_s\": %.3f, "
      "\"said_loading\": %s, \"loaded_s\": %.3f, \"listed_s\": %.3f, \"fires\": %zu, \"lateness_p50_ms\": %.1f, "
      "\"lateness_p99_ms\": %.1f, \"lateness_max_ms\": %.1f, \"visible_p50_ms\": %.1f, \"visible_p99_ms\": %.1f, "
      "\"visible_max_ms\": %.1f, \"unseen\": %zu, \"store_floor_p50_ms\": %.1f, \"idle_cpu_pct\": %.2f, "
      "\"idle_windows\": %zu, \"peak_rss_mib\": %.1f}\n",
      o.pg_url.empty() ? "sqlite" : "postgres", variant.c_str(), o.dags, first, loading_seen.c_str(), loaded, listed,
      late.size(), percentile(late, 0.5), percentile(late, 0.99), percentile(late, 1.0), percentile(visible, 0.5),
      percentile(visible, 0.99), percentile(visible, 1.0), unseen, percentile(floor, 0.5), percentile(idle, 0.5),
      idle.size(), hwm / 1024.0);
  std::fflush(stdout);
  if (!o.keep) {
    fs::remove_all(dir);
    drop_schema(o.pg_url, schema);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--baton") o.baton = next();
    else if (a == "--dags") o.dags = std::atoi(next().c_str());
    else if (a == "--seconds") o.seconds = std::atoi(next().c_str());
    else if (a == "--idle-window") o.idle_window = std::atoi(next().c_str());
    else if (a == "--dir") o.dir = next();
    else if (a == "--keep") o.keep = true;
    else if (a == "--engine") {
      std::string e = next();
      if (e == "postgres") {
        const char* url = std::getenv("BATON_TEST_PG_URL");
        if (!url || !*url) {
          std::fprintf(stderr, "--engine postgres needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)\n");
          return 77;  // skipped
        }
        o.pg_url = url;
      } else if (e != "sqlite") {
        std::fprintf(stderr, "--engine: \"%s\" is not one of sqlite, postgres\n", e.c_str());
        return 2;
      }
    }
    else if (a == "--variants") {
      o.variants.clear();
      std::stringstream ss(next());
      for (std::string v; std::getline(ss, v, ',');) o.variants.push_back(v);
    } else {
      std::fprintf(stderr,
                   "usage: bench_dags [--baton PATH] [--engine sqlite|postgres] [--dags N] [--seconds S] "
                   "[--variants cron,every,none] [--idle-window S] [--dir DIR] [--keep]\n");
      return 2;
    }
  }
  for (auto& v : o.variants)
    if (v != "cron" && v != "every" && v != "none") {
      std::fprintf(stderr, "--variants: \"%s\" is not one of cron, every, none\n", v.c_str());
      return 2;
    }
  if (o.dags < 1 || o.seconds < 0 || o.idle_window < 1) {
    std::fprintf(stderr, "--dags and --idle-window must be positive, --seconds not negative\n");
    return 2;
  }
  bool own_dir = o.dir.empty();
  if (own_dir) o.dir = (fs::temp_directory_path() / ("baton-bench-dags-" + std::to_string(getpid()))).string();
  for (auto& v : o.variants) run_variant(o, v);
  if (own_dir && !o.keep) fs::remove_all(o.dir);
  return 0;
}
