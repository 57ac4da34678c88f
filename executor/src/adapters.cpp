// The http and sql adapters (adapters.h). Both run the blocking call on the
// worker's thread, with a Watch beside it that reports activity and aborts
// the call on cancel or timeout: for http by closing the client's socket, for
// PostgreSQL by a cancel request, for SQLite by sqlite3_interrupt.
#include "baton/executor/adapters.h"

#include "baton/core/duration.h"

#include <httplib.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

namespace baton::executor {

namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// Rows of a query result written to the log, per statement.
constexpr int kRowsLogged = 20;

// Beside a blocking call: reports activity every heartbeat interval, and
// calls `abort` once when the try is canceled or its timeout passes.
class Watch {
 public:
  Watch(std::optional<Duration> timeout, Duration every, const NowFn& now, const BeatFn& beat,
        const std::atomic<bool>& cancel, std::function<void()> abort)
      : now_(now), beat_(beat), cancel_(cancel), abort_(std::move(abort)), last_(now()) {
    auto start = SteadyClock::now();
    std::optional<SteadyClock::time_point> deadline;
    if (timeout) deadline = start + std::chrono::duration_cast<SteadyClock::duration>(*timeout);
    auto beat_every = std::chrono::duration_cast<SteadyClock::duration>(every);
    thread_ = std::thread([this, deadline, beat_every] {
      auto next_beat = SteadyClock::now() + beat_every;
      std::unique_lock lock(mu_);
      while (!done_) {
        cv_.wait_for(lock, std::chrono::milliseconds(50));
        if (done_) break;
        auto t = SteadyClock::now();
        if (!fired_ && (cancel_.load() || (deadline && t >= *deadline))) {
          fired_ = true;
          (cancel_.load() ? canceled_ : timed_out_) = true;
          // On a thread of its own: an abort may block (the HTTP client's
          // stop() waits for a connect in progress), heartbeats must not.
          aborter_ = std::thread(abort_);
        }
        if (t >= next_beat) {
          next_beat = t + beat_every;
          TimePoint last = last_;
          lock.unlock();
          beat_(last);
          lock.lock();
        }
      }
    });
  }
  ~Watch() { stop(); }
  void stop() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (aborter_.joinable()) aborter_.join();
  }
  void activity() {
    std::lock_guard lock(mu_);
    last_ = now_();
  }
  bool canceled() {
    std::lock_guard lock(mu_);
    return canceled_;
  }
  bool timed_out() {
    std::lock_guard lock(mu_);
    return timed_out_;
  }

 private:
  const NowFn& now_;
  const BeatFn& beat_;
  const std::atomic<bool>& cancel_;
  std::function<void()> abort_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false, fired_ = false, canceled_ = false, timed_out_ = false;  // guarded by mu_
  TimePoint last_;                                                            // guarded by mu_
  std::thread thread_;
  std::thread aborter_;  // started by thread_, joined by stop()
};

// The try's log: appended, its bytes counted.
class Log {
 public:
  explicit Log(const std::string& path) : out_(path, std::ios::app | std::ios::binary) {}
  void line(const std::string& s) { write(s + "\n"); }
  void write(const std::string& s) {
    out_ << s;
    out_.flush();
    bytes_ += s.size();
  }
  size_t bytes() const { return bytes_; }

 private:
  std::ofstream out_;
  size_t bytes_ = 0;
};

ShellResult ended(ShellResult r, Watch& w, Log& log, const std::string& what, std::optional<Duration> timeout) {
  if (w.timed_out()) {
    r.outcome = ShellResult::Outcome::timeout;
    r.reason = "timeout after " + format_duration(timeout.value_or(Duration(0)));
  } else if (w.canceled()) {
    r.outcome = ShellResult::Outcome::canceled;
    r.reason = "canceled";
  }
  if (r.outcome != ShellResult::Outcome::success) log.line("[baton] " + what + " " + r.reason);
  r.log_bytes = log.bytes();
  return r;
}

std::string expected_text(const std::vector<int>& codes) {
  if (codes.empty()) return "2xx";
  std::string s;
  for (int c : codes) s += (s.empty() ? "" : ", ") + std::to_string(c);
  return s;
}

bool icase_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string mask_password(const std::string& url) {
  // user:password@ (up to the last @ before the path, so a password with an
  // unencoded @ is masked whole), and a password= parameter.
  static const std::regex kUserInfo(R"(^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^/]*@)");
  static const std::regex kParam(R"(([?&]password=)[^&]*)", std::regex::icase);
  std::string out = std::regex_replace(url, kUserInfo, "$1:***@", std::regex_constants::format_first_only);
  return std::regex_replace(out, kParam, "$1***");
}

// ---------------- http ----------------

ShellResult run_http(const HttpCall& c, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel) {
  ShellResult res;
  Log log(c.log_path);
  static const std::regex kUrl(R"(^(https?)://([^/?#]+)([^#]*)(#.*)?$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(c.url, m, kUrl)) {
    res.reason = "url \"" + c.url + "\" is not an http:// or https:// URL";
    log.line("[baton] " + res.reason);
    res.log_bytes = log.bytes();
    return res;
  }
  std::string scheme = m[1].str();
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char x) { return std::tolower(x); });
  std::string base = scheme + "://" + m[2].str();
  std::string path = m[3].str().empty() ? "/" : m[3].str();
  if (path[0] == '?') path = "/" + path;
  for (unsigned char ch : c.url)
    if (ch <= ' ' || ch == 0x7f) {
      res.reason = "url \"" + c.url + "\" has a space or a control character (encode it, e.g. %20)";
      log.line("[baton] " + res.reason);
      res.log_bytes = log.bytes();
      return res;
    }
  std::string method = c.method;
  std::transform(method.begin(), method.end(), method.begin(), [](unsigned char x) { return std::toupper(x); });

  httplib::Client cli(base);
  auto limit = std::chrono::duration_cast<std::chrono::seconds>(c.timeout.value_or(std::chrono::hours(24)));
  time_t secs = std::max<time_t>(1, static_cast<time_t>(limit.count()) + 1);
  cli.set_connection_timeout(std::min<time_t>(secs, 30), 0);
  cli.set_read_timeout(secs, 0);
  cli.set_write_timeout(secs, 0);

  httplib::Request req;
  req.method = method;
  req.path = path;
  bool has_type = false;
  for (auto& [k, v] : c.headers) {
    req.set_header(k, v);
    has_type = has_type || icase_equal(k, "Content-Type");
  }
  if (!c.body.empty()) {
    req.body = c.body;
    if (!has_type) {
      bool is_json = !json::parse(c.body, nullptr, false).is_discarded();
      req.set_header("Content-Type", is_json ? "application/json" : "text/plain; charset=utf-8");
    }
  }
  std::string body;
  size_t received = 0;
  std::optional<Watch> watch;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received += n;
    if (body.size() < c.log_cap_bytes) body.append(data, std::min(n, c.log_cap_bytes - body.size()));
    watch->activity();
    return true;
  };
  log.line("[baton] " + method + " " + c.url + (c.body.empty() ? "" : " (" + std::to_string(c.body.size()) + " bytes)"));
  auto start = SteadyClock::now();
  watch.emplace(c.timeout, c.heartbeat_interval, now, beat, cancel, [&cli] { cli.stop(); });
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  bool sent = cli.send(req, response, error);
  watch->stop();
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
  if (watch->timed_out() || watch->canceled()) return ended(res, *watch, log, method + " " + c.url, c.timeout);
  if (!sent) {
    res.reason = "cannot reach " + base + ": " + httplib::to_string(error);
    log.line("[baton] " + res.reason);
    res.log_bytes = log.bytes();
    return res;
  }
  log.line("[baton] HTTP " + std::to_string(response.status) + " in " + std::to_string(ms) + " ms, " +
           std::to_string(received) + " bytes");
  log.write(body);
  if (!body.empty() && body.back() != '\n') log.write("\n");
  if (received > body.size())
    log.line("[baton] the response was cut at " + std::to_string(body.size()) + " of " + std::to_string(received) +
             " bytes");
  const auto& want = c.expect_status;
  bool ok = want.empty() ? response.status >= 200 && response.status < 300
                         : std::find(want.begin(), want.end(), response.status) != want.end();
  if (!ok) {
    res.reason = "HTTP " + std::to_string(response.status) + " (expected " + expected_text(want) + ")";
    log.line("[baton] " + res.reason);
  } else {
    res.outcome = ShellResult::Outcome::success;
    if (received == body.size() && body.size() <= c.output_cap_bytes) {
      json j = json::parse(body, nullptr, false);
      if (j.is_object()) res.output_json = j.dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  res.log_bytes = log.bytes();
  return res;
}

// ---------------- sql ----------------

namespace {

// How the statements of one transaction ended, for both engines: committed
// unless `failure` says otherwise; stopped by the watch, or failed on their own.
ShellResult sql_outcome(const SqlCall& c, Watch& watch, Log& log, const std::string& failure, int n,
                        long long affected) {
  ShellResult res;
  if (!failure.empty() && (watch.timed_out() || watch.canceled()))
    return ended(res, watch, log, "the statements on " + c.connection + " were stopped (rolled back):", c.timeout);
  if (!failure.empty()) {
    res.reason = "statement " + std::to_string(n) + " failed (nothing was committed): " + failure;
    log.line("[baton] " + res.reason);
  } else {
    res.outcome = ShellResult::Outcome::success;
    res.output_json = json{{"rows_affected", affected}, {"statements", n}}.dump();
    log.line("[baton] committed " + std::to_string(n) + " statement(s), " + std::to_string(affected) +
             " rows affected");
  }
  res.log_bytes = log.bytes();
  return res;
}

ShellResult run_postgres(const SqlCall& c, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel,
                         Log& log) {
  ShellResult res;
  // Connecting is bounded too (libpq's connect_timeout, unless the URL sets one).
  std::string url = c.url;
  if (url.find("connect_timeout=") == std::string::npos) {
    long long secs = 30;
    if (c.timeout) secs = std::max<long long>(2, std::min<long long>(secs, std::chrono::duration_cast<std::chrono::seconds>(*c.timeout).count()));
    url += (url.find('?') == std::string::npos ? "?" : "&") + std::string("connect_timeout=") + std::to_string(secs);
  }
  PGconn* conn = PQconnectdb(url.c_str());
  struct Closer {
    PGconn* c;
    ~Closer() { PQfinish(c); }
  } closer{conn};
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn ? PQerrorMessage(conn) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    res.reason = "cannot connect to " + c.connection + ": " + why;
    log.line("[baton] " + res.reason);
    res.log_bytes = log.bytes();
    return res;
  }
  PGcancel* canceler = PQgetCancel(conn);
  struct CancelFree {
    PGcancel* c;
    ~CancelFree() {
      if (c) PQfreeCancel(c);
    }
  } cancel_free{canceler};
  // One simple query: PostgreSQL runs its statements as one transaction.
  Watch watch(c.timeout, c.heartbeat_interval, now, beat, cancel, [canceler] {
    char err[256];
    if (canceler) PQcancel(canceler, err, sizeof err);
  });
  if (!PQsendQuery(conn, c.sql.c_str())) {
    watch.stop();
    res.reason = std::string("cannot send the statements: ") + PQerrorMessage(conn);
    log.line("[baton] " + res.reason);
    res.log_bytes = log.bytes();
    return res;
  }
  long long affected = 0;
  int n = 0;
  std::string failure;
  while (PGresult* r = PQgetResult(conn)) {
    ++n;
    watch.activity();
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK) {
      std::string tuples = PQcmdTuples(r);
      if (!tuples.empty()) affected += std::stoll(tuples);
      log.line("[baton] statement " + std::to_string(n) + ": " + PQcmdStatus(r) +
               (tuples.empty() ? "" : " (" + tuples + " rows affected)"));
    } else if (st == PGRES_TUPLES_OK) {
      int rows = PQntuples(r), cols = PQnfields(r);
      log.line("[baton] statement " + std::to_string(n) + ": " + std::to_string(rows) + " rows");
      std::string head;
      for (int k = 0; k < cols; ++k) head += (k ? "\t" : "") + std::string(PQfname(r, k));
      if (rows > 0) log.line(head);
      for (int i = 0; i < std::min(rows, kRowsLogged); ++i) {
        std::string line;
        for (int k = 0; k < cols; ++k)
          line += (k ? "\t" : "") + std::string(PQgetisnull(r, i, k) ? "NULL" : PQgetvalue(r, i, k));
        log.line(line);
      }
      if (rows > kRowsLogged) log.line("[baton] (" + std::to_string(rows - kRowsLogged) + " more rows not shown)");
    } else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      // No data to copy from or to here: the COPY fails, and so does the whole.
      if (st == PGRES_COPY_IN) {
        PQputCopyEnd(conn, "COPY FROM STDIN is not supported in a sql task");
      } else {
        char* buf = nullptr;
        while (PQgetCopyData(conn, &buf, 0) > 0) PQfreemem(buf);
      }
      if (failure.empty()) failure = "COPY with STDIN or STDOUT is not supported in a sql task";
    } else if (failure.empty()) {
      failure = PQresultErrorMessage(r);
      while (!failure.empty() && (failure.back() == '\n' || failure.back() == ' ')) failure.pop_back();
    }
    PQclear(r);
  }
  watch.stop();
  // One transaction: committed unless a statement failed (a cancel that came
  // after the last statement changed nothing).
  return sql_outcome(c, watch, log, failure, n, affected);
}

ShellResult run_sqlite(const SqlCall& c, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel,
                       Log& log) {
  ShellResult res;
  std::string path = c.url.substr(std::string("sqlite:").size());
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  struct Closer {
    sqlite3* d;
    ~Closer() { sqlite3_close_v2(d); }
  } closer{db};
  if (rc != SQLITE_OK) {
    res.reason = "cannot open " + c.connection + " (" + path + "): " + (db ? sqlite3_errmsg(db) : "out of memory");
    log.line("[baton] " + res.reason);
    res.log_bytes = log.bytes();
    return res;
  }
  sqlite3_busy_timeout(db, 5000);
  Watch watch(c.timeout, c.heartbeat_interval, now, beat, cancel, [db] { sqlite3_interrupt(db); });
  auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
  std::string failure;
  long long affected = 0;
  int n = 0;
  if (exec("BEGIN IMMEDIATE") != SQLITE_OK) failure = sqlite3_errmsg(db);
  const char* rest = c.sql.c_str();
  auto stopped = [&] { return watch.canceled() || watch.timed_out(); };
  while (failure.empty() && rest && *rest) {
    // sqlite3_interrupt stops only a statement that is running: between two,
    // the watch's flags are looked at here.
    if (stopped()) {
      failure = "interrupted";
      break;
    }
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    if (sqlite3_prepare_v2(db, rest, -1, &st, &tail) != SQLITE_OK) {
      failure = sqlite3_errmsg(db);
      ++n;
      break;
    }
    rest = tail;
    if (!st) continue;  // blanks or a comment after the last statement
    ++n;
    int rows = 0, cols = sqlite3_column_count(st);
    std::vector<std::string> shown;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      watch.activity();
      if (rows++ < kRowsLogged) {
        std::string line;
        for (int k = 0; k < cols; ++k) {
          const unsigned char* v = sqlite3_column_text(st, k);
          line += (k ? "\t" : "") + std::string(v ? reinterpret_cast<const char*>(v) : "NULL");
        }
        shown.push_back(line);
      }
    }
    if (rc != SQLITE_DONE) {
      failure = sqlite3_errmsg(db);
      sqlite3_finalize(st);
      break;
    }
    if (cols > 0) {
      log.line("[baton] statement " + std::to_string(n) + ": " + std::to_string(rows) + " rows");
      std::string head;
      for (int k = 0; k < cols; ++k) head += (k ? "\t" : "") + std::string(sqlite3_column_name(st, k));
      if (rows > 0) log.line(head);
      for (auto& l : shown) log.line(l);
      if (rows > kRowsLogged) log.line("[baton] (" + std::to_string(rows - kRowsLogged) + " more rows not shown)");
    } else {
      long long changes = sqlite3_changes(db);
      affected += changes;
      log.line("[baton] statement " + std::to_string(n) + ": " + std::to_string(changes) + " rows affected");
    }
    sqlite3_finalize(st);
  }
  if (failure.empty() && stopped()) failure = "interrupted";
  if (failure.empty() && exec("COMMIT") != SQLITE_OK) failure = sqlite3_errmsg(db);
  if (!failure.empty()) exec("ROLLBACK");
  watch.stop();
  // Committed is committed, whatever the watch says now.
  return sql_outcome(c, watch, log, failure, n, affected);
}

}  // namespace

ShellResult run_sql(const SqlCall& c, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel) {
  Log log(c.log_path);
  log.line("[baton] sql on " + c.connection + " (" + mask_password(c.url) + ")");
  if (c.url.rfind("sqlite:", 0) == 0) return run_sqlite(c, now, beat, cancel, log);
  if (c.url.rfind("postgresql://", 0) == 0 || c.url.rfind("postgres://", 0) == 0)
    return run_postgres(c, now, beat, cancel, log);
  ShellResult res;
  res.reason = "connection " + c.connection + " is neither sqlite:PATH nor postgresql://...: " + mask_password(c.url);
  log.line("[baton] " + res.reason);
  res.log_bytes = log.bytes();
  return res;
}

}  // namespace baton::executor
