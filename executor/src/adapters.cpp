// The http and sql adapters (adapters.h). Both run the blocking call on the
// worker's thread, with a Watch beside it that reports activity and aborts
// the call on cancel or timeout: for http by closing the client's socket, for
// PostgreSQL by a cancel request, for SQLite by sqlite3_interrupt.
#include "baton/executor/adapters.h"

#include "baton/core/duration.h"
#include "baton/core/secrets.h"

#include <httplib.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
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

// The try's log: appended, its bytes counted; the values of the secret
// variables the try used are masked in everything written (and in `mask`).
class Log {
 public:
  // An adapter's try always writes its log: the file and its folders are made here.
  explicit Log(const std::string& path, const std::vector<std::string>& secrets = {})
      : out_(open(path)), masker_(secrets) {}
  void line(const std::string& s) { write(s + "\n"); }
  void write(const std::string& s) {
    std::string m = mask(s);
    out_ << m;
    out_.flush();
    bytes_ += m.size();
  }
  size_t bytes() const { return bytes_; }
  std::string mask(const std::string& s) { return masker_.empty() ? s : masker_.mask(s); }

 private:
  static std::ofstream open(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    return std::ofstream(path, std::ios::app | std::ios::binary);
  }

  std::ofstream out_;
  SecretMasker masker_;
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

std::string mask_password(const std::string& url) { return mask_secrets(url); }

// ---------------- http ----------------

ShellResult run_http(const HttpCall& c, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel) {
  ShellResult res;
  Log log(c.log_path, c.secrets);
  // A linear parser (a std::regex recursed per byte and overflowed the stack
  // on a long URL): http(s), a host, at most 8 KiB, no blanks or controls.
  // Its message shows the URL with its passwords masked.
  auto parsed = dsl::parse_http_url(c.url);
  if (!parsed) {
    res.reason = log.mask(parsed.error().message);
    log.line("[baton] " + res.reason);
    res.log_bytes = log.bytes();
    return res;
  }
  for (auto& [k, v] : c.headers)
    if (auto st = dsl::check_header_value(k, v); !st) {
      res.reason = log.mask(st.error().message);
      log.line("[baton] " + res.reason);
      res.log_bytes = log.bytes();
      return res;
    }
  std::string base = parsed->base();
  std::string path = parsed->target;
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
  log.line("[baton] " + method + " " + mask_secrets(c.url) +
           (c.body.empty() ? "" : " (" + std::to_string(c.body.size()) + " bytes)"));
  auto start = SteadyClock::now();
  watch.emplace(c.timeout, c.heartbeat_interval, now, beat, cancel, [&cli] { cli.stop(); });
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  bool sent = cli.send(req, response, error);
  watch->stop();
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
  if (watch->timed_out() || watch->canceled())
    return ended(res, *watch, log, method + " " + mask_secrets(c.url), c.timeout);
  if (!sent) {
    res.reason = log.mask("cannot reach " + mask_secrets(base) + ": " + httplib::to_string(error));
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
    res.reason = log.mask("statement " + std::to_string(n) + " failed (nothing was committed): " + failure);
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

// What in an author's statement would change how the server reads the
// statements after it (sent one by one with bound parameters): a setting of
// standard_conforming_strings or client_encoding (SET NAMES, set_config(...)),
// or RESET ALL / DISCARD ALL. Empty when none, else the words found.
std::string changes_lexing(std::string_view sql) {
  std::vector<std::string> words;
  for (size_t i = 0; i < sql.size();) {
    char ch = sql[i];
    if (ch == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n' && sql[i] != '\r') ++i;
      continue;
    }
    if (ch == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
      continue;
    }
    auto word_char = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    };
    if (!word_char(ch)) {
      ++i;
      continue;
    }
    std::string w;
    while (i < sql.size() && word_char(sql[i])) {
      char c = sql[i++];
      w += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    if (w == "standard_conforming_strings" || w == "client_encoding") return w;
    words.push_back(std::move(w));
  }
  // SET [SESSION | LOCAL] NAMES, RESET ALL, DISCARD ALL: at the start.
  size_t k = words.size() > 1 && words[0] == "set" && (words[1] == "session" || words[1] == "local") ? 2 : 1;
  if (!words.empty() && words[0] == "set" && words.size() > k && words[k] == "names") return "SET NAMES";
  if (words.size() > 1 && (words[0] == "reset" || words[0] == "discard") && words[1] == "all")
    return words[0] == "reset" ? "RESET ALL" : "DISCARD ALL";
  return "";
}

ShellResult run_postgres(const SqlCall& c, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel,
                         Log& log) {
  ShellResult res;
  // With bound parameters each statement is sent on its own, and read with
  // the settings the ones before it left: none of them may change how the
  // server reads quotes, backslashes or bytes.
  if (!c.params.empty()) {
    for (size_t i = 0; i < c.statements.size(); ++i) {
      std::string what = changes_lexing(c.statements[i].sql);
      if (what.empty()) continue;
      res.reason = "statement " + std::to_string(i + 1) + " changes " + what +
                   ", which would change how the server reads the template values of the statements after it; "
                   "a sql with template values outside quotes (bound parameters) cannot change it (set it on the "
                   "connection, the database or the role instead)";
      log.line("[baton] " + res.reason);
      res.log_bytes = log.bytes();
      return res;
    }
  }
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
    res.reason = "cannot connect to " + c.connection + ": " + mask_message(why, c.url);
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
  // Template values outside literals are bound parameters (dsl::render_sql).
  // Without any, one simple query: PostgreSQL runs its statements as one
  // transaction. With some, each statement is sent on its own (the extended
  // protocol takes one statement at a time), between BEGIN and COMMIT when
  // there are several.
  if (!c.params.empty() || c.literal_values) PQsetClientEncoding(conn, "UTF8");  // Baton's values are UTF-8
  if (c.literal_values || c.literal_backslash) {
    // Values were escaped into '...' literals by doubling their quotes (and
    // in E'...' their backslashes): right when the server reads backslashes
    // in '...' as text.
    const char* scs = PQparameterStatus(conn, "standard_conforming_strings");
    if (!scs || std::string(scs) != "on") {
      res.reason = "a template value stands inside a '...' literal, and " + c.connection +
                   " has standard_conforming_strings off: turn it on (the default since PostgreSQL 9.1) or use "
                   "the value outside quotes (a bound parameter)";
      log.line("[baton] " + res.reason);
      res.log_bytes = log.bytes();
      return res;
    }
  }
  Watch watch(c.timeout, c.heartbeat_interval, now, beat, cancel, [canceler] {
    char err[256];
    if (canceler) PQcancel(canceler, err, sizeof err);
  });
  long long affected = 0;
  int n = 0;
  std::string failure;
  // The answers of what was sent; `count`: the author's statements (logged
  // and counted), not BEGIN, COMMIT or ROLLBACK.
  auto drain = [&](bool count) {
    while (PGresult* r = PQgetResult(conn)) {
      watch.activity();
      ExecStatusType st = PQresultStatus(r);
      if (!count) {
        if ((st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR) && failure.empty()) {
          failure = PQresultErrorMessage(r);
          while (!failure.empty() && (failure.back() == '\n' || failure.back() == ' ')) failure.pop_back();
        }
        PQclear(r);
        continue;
      }
      ++n;
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
  };
  if (c.params.empty()) {
    if (!PQsendQuery(conn, c.sql.c_str())) {
      watch.stop();
      res.reason = log.mask(std::string("cannot send the statements: ") + mask_message(PQerrorMessage(conn), c.url));
      log.line("[baton] " + res.reason);
      res.log_bytes = log.bytes();
      return res;
    }
    drain(true);
  } else {
    auto send = [&](const std::string& sql, const std::vector<dsl::SqlParam>* params, bool count) {
      std::vector<const char*> values;
      if (params)
        for (auto& p : *params) values.push_back(p.type == dsl::RenderedPiece::Type::null ? nullptr : p.value.c_str());
      if (!PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.empty() ? nullptr : values.data(), nullptr, nullptr, 0)) {
        if (failure.empty())
          failure = log.mask("cannot send a statement: " + mask_message(PQerrorMessage(conn), c.url));
        return;
      }
      drain(count);
    };
    const bool several = c.statements.size() > 1;
    if (several) send("BEGIN", nullptr, false);
    for (auto& st : c.statements) {
      if (failure.empty() && (watch.canceled() || watch.timed_out())) failure = "interrupted";
      if (!failure.empty()) break;
      send(st.sql, &st.params, true);
    }
    if (several) send(failure.empty() ? "COMMIT" : "ROLLBACK", nullptr, false);
  }
  watch.stop();
  // One transaction: committed unless a statement failed (a cancel that came
  // after the last statement changed nothing).
  return sql_outcome(c, watch, log, failure, n, affected);
}

// Binds the template values of one statement: its ?N is params[N-1]
// (dsl::render_sql numbers them through the whole text); numbers bind as
// numbers, null as NULL. "" when bound, else why not.
std::string bind_values(sqlite3_stmt* st, const std::vector<dsl::SqlParam>& params) {
  using T = dsl::RenderedPiece::Type;
  int count = sqlite3_bind_parameter_count(st);
  for (int i = 1; i <= count; ++i) {
    const char* name = sqlite3_bind_parameter_name(st, i);
    if (!name || name[0] != '?' || name[1] == '\0') continue;
    size_t k = 0;
    bool digits = true;
    for (const char* q = name + 1; *q && digits; ++q) {
      digits = *q >= '0' && *q <= '9' && k < 1000000;
      k = k * 10 + static_cast<size_t>(*q - '0');
    }
    if (!digits || k == 0 || k > params.size()) continue;
    const dsl::SqlParam& p = params[k - 1];
    int rc = SQLITE_OK;
    char* end = nullptr;
    errno = 0;
    if (p.type == T::null) {
      rc = sqlite3_bind_null(st, i);
    } else if (long long v = p.type == T::integer ? std::strtoll(p.value.c_str(), &end, 10) : 0;
               p.type == T::integer && end && *end == '\0' && errno == 0) {
      rc = sqlite3_bind_int64(st, i, v);
    } else if (double d = p.type == T::real ? std::strtod(p.value.c_str(), &end) : 0;
               p.type == T::real && end && *end == '\0' && errno == 0) {
      rc = sqlite3_bind_double(st, i, d);
    } else if (p.type == T::boolean) {
      rc = sqlite3_bind_int(st, i, p.value == "true" ? 1 : 0);
    } else {
      rc = sqlite3_bind_text(st, i, p.value.data(), static_cast<int>(p.value.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) return std::string("cannot bind a template value: ") + sqlite3_errstr(rc);
  }
  return "";
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
    if (std::string why = bind_values(st, c.params); !why.empty()) {
      failure = why;
      sqlite3_finalize(st);
      break;
    }
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
  Log log(c.log_path, c.secrets);
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
