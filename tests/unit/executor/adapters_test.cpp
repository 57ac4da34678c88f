// The http and sql adapters against real services on 127.0.0.1: an HTTP
// server in this process (a JSON answer, an error, one that hangs, an echo),
// and a SQLite file; PostgreSQL is covered end to end (standalone_e2e_pg).
// Timeouts are short so the file runs in a few seconds.
#include <catch2/catch.hpp>
#include <httplib.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "baton/executor/adapters.h"
#include "baton/executor/notifier.h"

using namespace baton;
using namespace baton::executor;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;
using Outcome = ShellResult::Outcome;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Server {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  std::atomic<bool> release{false};
  Server() {
    http.Get("/json", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"rows": 42, "name": "sales"})", "application/json");
    });
    http.Get("/list", [](const httplib::Request&, httplib::Response& res) { res.set_content("[1, 2]", "application/json"); });
    http.Get("/fail", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("down for maintenance", "text/plain");
    });
    http.Get("/hang", [this](const httplib::Request&, httplib::Response& res) {
      for (int i = 0; i < 200 && !release; ++i) std::this_thread::sleep_for(50ms);
      res.set_content("late", "text/plain");
    });
    http.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 201;
      res.set_content(json{{"method", req.method}, {"body", req.body}, {"type", req.get_header_value("Content-Type")},
                           {"token", req.get_header_value("X-Token")}}.dump(),
                      "application/json");
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
    while (!http.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~Server() {
    release = true;
    http.stop();
    thread.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
};

struct Dir {
  fs::path path;
  Dir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("baton-adapters-" + std::to_string(getpid()) + "-" + std::to_string(++n));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
};

const NowFn kNow = [] { return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch())); };
const BeatFn kNoBeat = [](TimePoint) {};

HttpCall call(const Server& s, const std::string& path, const Dir& d) {
  HttpCall c;
  c.url = s.url(path);
  c.log_path = (d.path / "try.log").string();
  c.heartbeat_interval = 100ms;
  return c;
}

}  // namespace

TEST_CASE("http: a JSON object answer is the output, and the body is the log") {
  Server s;
  Dir d;
  std::atomic<bool> cancel{false};
  auto r = run_http(call(s, "/json", d), kNow, kNoBeat, cancel);
  CHECK(r.outcome == Outcome::success);
  REQUIRE(r.output_json);
  CHECK(json::parse(*r.output_json) == json{{"rows", 42}, {"name", "sales"}});
  std::string log = slurp(d.path / "try.log");
  CHECK(log.find("[baton] GET " + s.url("/json")) != std::string::npos);
  CHECK(log.find("[baton] HTTP 200") != std::string::npos);
  CHECK(log.find(R"({"rows": 42, "name": "sales"})") != std::string::npos);
  CHECK(r.log_bytes == log.size());

  auto list = run_http(call(s, "/list", d), kNow, kNoBeat, cancel);
  CHECK(list.outcome == Outcome::success);
  CHECK_FALSE(list.output_json);  // only an object is an output
}

TEST_CASE("http: method, headers and body are sent; expect_status decides") {
  Server s;
  Dir d;
  std::atomic<bool> cancel{false};
  auto c = call(s, "/echo", d);
  c.method = "post";
  c.headers["X-Token"] = "t-1";
  c.body = R"({"day": "2026-11-01"})";
  auto r = run_http(c, kNow, kNoBeat, cancel);
  CHECK(r.outcome == Outcome::success);  // 201 is a 2xx
  REQUIRE(r.output_json);
  auto out = json::parse(*r.output_json);
  CHECK(out["method"] == "POST");
  CHECK(out["body"] == R"({"day": "2026-11-01"})");
  CHECK(out["type"] == "application/json");
  CHECK(out["token"] == "t-1");

  c.expect_status = {200};
  auto strict = run_http(c, kNow, kNoBeat, cancel);
  CHECK(strict.outcome == Outcome::failed);
  CHECK(strict.reason == "HTTP 201 (expected 200)");

  auto fail = run_http(call(s, "/fail", d), kNow, kNoBeat, cancel);
  CHECK(fail.outcome == Outcome::failed);
  CHECK(fail.reason == "HTTP 503 (expected 2xx)");
  CHECK(slurp(d.path / "try.log").find("down for maintenance") != std::string::npos);

  auto other = call(s, "/fail", d);
  other.expect_status = {500, 503};
  CHECK(run_http(other, kNow, kNoBeat, cancel).outcome == Outcome::success);
}

TEST_CASE("http: a server that hangs meets the timeout; cancel ends the call; no server, a clear reason") {
  Server s;
  Dir d;
  std::atomic<bool> cancel{false};
  auto c = call(s, "/hang", d);
  c.timeout = 500ms;
  int beats = 0;
  BeatFn count = [&beats](TimePoint) { ++beats; };
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_http(c, kNow, count, cancel);
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r.outcome == Outcome::timeout);
  CHECK(took < 3s);
  CHECK(beats >= 2);  // activity reported while it waited (every 100 ms)

  auto c2 = call(s, "/hang", d);
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  auto canceled = run_http(c2, kNow, kNoBeat, cancel);
  stopper.join();
  CHECK(canceled.outcome == Outcome::canceled);

  std::atomic<bool> no{false};
  auto refused = call(s, "/json", d);
  refused.url = "http://127.0.0.1:1/x";
  auto r3 = run_http(refused, kNow, kNoBeat, no);
  CHECK(r3.outcome == Outcome::failed);
  CHECK(r3.reason.find("cannot reach http://127.0.0.1:1") == 0);
  auto bad = call(s, "/json", d);
  bad.url = "ftp://example.com/x";
  CHECK(run_http(bad, kNow, kNoBeat, no).reason.find("is not an http:// or https:// URL") != std::string::npos);
}

TEST_CASE("sql on SQLite: statements in one transaction, rows affected logged, all or nothing") {
  Dir d;
  std::atomic<bool> cancel{false};
  SqlCall c;
  c.connection = "warehouse";
  c.url = "sqlite:" + (d.path / "wh.db").string();
  c.log_path = (d.path / "sql.log").string();
  c.sql = "CREATE TABLE sales (day TEXT, amount INT); INSERT INTO sales VALUES ('2026-11-01', 5), ('2026-11-02', 7);"
          " UPDATE sales SET amount = amount + 1; SELECT day, amount FROM sales ORDER BY day;";
  auto r = run_sql(c, kNow, kNoBeat, cancel);
  CHECK(r.outcome == Outcome::success);
  REQUIRE(r.output_json);
  CHECK(json::parse(*r.output_json) == json{{"rows_affected", 4}, {"statements", 4}});
  std::string log = slurp(c.log_path);
  CHECK(log.find("statement 2: 2 rows affected") != std::string::npos);
  CHECK(log.find("statement 4: 2 rows") != std::string::npos);
  CHECK(log.find("2026-11-02\t8") != std::string::npos);

  // A failing statement rolls back the ones before it.
  c.sql = "DELETE FROM sales; INSERT INTO nowhere VALUES (1);";
  auto bad = run_sql(c, kNow, kNoBeat, cancel);
  CHECK(bad.outcome == Outcome::failed);
  CHECK(bad.reason.find("statement 2 failed (nothing was committed): no such table: nowhere") == 0);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((d.path / "wh.db").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM sales", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 2);
  sqlite3_finalize(st);
  sqlite3_close(db);

  SqlCall odd = c;
  odd.url = "mysql://ada:s3cret@db/x";
  auto r3 = run_sql(odd, kNow, kNoBeat, cancel);
  CHECK(r3.outcome == Outcome::failed);
  CHECK(r3.reason.find("mysql://ada:***@db/x") != std::string::npos);
  CHECK(slurp(c.log_path).find("s3cret") == std::string::npos);
}

TEST_CASE("passwords are masked in what is logged") {
  CHECK(mask_password("postgresql://ada:s3cret@127.0.0.1:5432/wh") == "postgresql://ada:***@127.0.0.1:5432/wh");
  CHECK(mask_password("postgresql://host/wh?pass%77ord=s3cret") == "postgresql://host/wh?pass%77ord=***");
  CHECK(mask_password("host=h password='a b' dbname=wh") == "host=h password=*** dbname=wh");
  CHECK(mask_password("postgresql://ada@host/wh") == "postgresql://ada@host/wh");
  CHECK(mask_password("sqlite:/tmp/x.db") == "sqlite:/tmp/x.db");
  CHECK(mask_password("postgresql://ada:p@ss@host/wh") == "postgresql://ada:***@host/wh");
  CHECK(mask_password("postgresql://host/wh?user=ada&password=s3cret&sslmode=require") ==
        "postgresql://host/wh?user=ada&password=***&sslmode=require");
}

TEST_CASE("sql: a timeout stops the statement running and nothing is committed") {
  Dir d;
  std::atomic<bool> cancel{false};
  SqlCall c;
  c.connection = "warehouse";
  c.url = "sqlite:" + (d.path / "slow.db").string();
  c.log_path = (d.path / "sql.log").string();
  c.timeout = 300ms;
  c.sql = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1);"
          " WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000) SELECT count(*) FROM n;";
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_sql(c, kNow, kNoBeat, cancel);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(r.outcome == Outcome::timeout);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((d.path / "slow.db").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, nullptr) != SQLITE_OK);  // rolled back: no table
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_CASE("http: a query without a path is sent as /?..., and a URL with a space is refused") {
  Server s;
  Dir d;
  std::atomic<bool> cancel{false};
  s.http.Get("/", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(json{{"q", req.get_param_value("q")}}.dump(), "application/json");
  });
  auto c = call(s, "/json", d);
  c.url = "http://127.0.0.1:" + std::to_string(s.port) + "?q=7";
  auto r = run_http(c, kNow, kNoBeat, cancel);
  CHECK(r.outcome == Outcome::success);
  REQUIRE(r.output_json);
  CHECK(json::parse(*r.output_json)["q"] == "7");
  c.url = s.url("/a b");
  auto bad = run_http(c, kNow, kNoBeat, cancel);
  CHECK(bad.outcome == Outcome::failed);
  CHECK(bad.reason.find("has a space or a control character") != std::string::npos);
}

// ---------------------------------------------------------------- hardening (SPEC §3, rendering by field)

TEST_CASE("http: a 40 KB URL, or a header with CR/LF, fails the try with a message and no crash") {
  Server s;
  Dir d;
  std::atomic<bool> cancel{false};
  auto c = call(s, "/json", d);
  c.url = s.url("/x?q=" + std::string(40 * 1024, 'a'));
  auto r = run_http(c, kNow, kNoBeat, cancel);
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.reason.find("8192") != std::string::npos);
  CHECK(r.reason.size() < 1000);
  c.url = s.url("/" + std::string(100 * 1024, '\''));  // what made std::regex recurse
  CHECK(run_http(c, kNow, kNoBeat, cancel).outcome == Outcome::failed);

  auto h = call(s, "/json", d);
  h.headers["X-Run"] = "a\r\nX-Evil: 1";
  auto hr = run_http(h, kNow, kNoBeat, cancel);
  CHECK(hr.outcome == Outcome::failed);
  CHECK(hr.reason.find("header \"X-Run\"") == 0);
}

TEST_CASE("sql on SQLite: template values are bound or escaped, never a statement of their own") {
  Dir d;
  std::atomic<bool> cancel{false};
  SqlCall c;
  c.connection = "warehouse";
  c.url = "sqlite:" + (d.path / "wh.db").string();
  c.log_path = (d.path / "sql.log").string();
  c.sql = "CREATE TABLE t (a TEXT, b, n INT);";
  REQUIRE(run_sql(c, kNow, kNoBeat, cancel).outcome == Outcome::success);

  auto value = [](std::string v, dsl::RenderedPiece::Type type = dsl::RenderedPiece::Type::string) {
    dsl::RenderedPiece p;
    p.kind = dsl::RenderedPiece::Kind::value;
    p.text = std::move(v);
    p.type = type;
    p.source = "{{ params.x }}";
    return p;
  };
  auto text = [](std::string t) {
    dsl::RenderedPiece p;
    p.text = std::move(t);
    return p;
  };
  std::vector<std::string> hostile = {"x'); DROP TABLE t; --", "'; DELETE FROM t; --", "\"; DROP TABLE t; --",
                                      "a\nb", "\\", "'", "it's", std::string(40 * 1024, '\'')};
  for (auto& v : hostile) {
    INFO(v.substr(0, 40));
    auto sql = dsl::compose_sql({text("INSERT INTO t VALUES ('"), value(v), text("', "), value(v), text(", "),
                                 value("7", dsl::RenderedPiece::Type::integer), text("); SELECT count(*) FROM t;")},
                                dsl::SqlDialect::sqlite);
    REQUIRE(sql.ok());
    c.sql = sql->sql;
    c.params = sql->params;
    c.statements = sql->statements;
    auto r = run_sql(c, kNow, kNoBeat, cancel);
    REQUIRE(r.outcome == Outcome::success);
    CHECK(json::parse(*r.output_json)["statements"] == 2);
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((d.path / "wh.db").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT a, b, typeof(n), n FROM t ORDER BY rowid", -1, &st, nullptr) == SQLITE_OK);
  size_t i = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    REQUIRE(i < hostile.size());
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == hostile[i]);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 1))) == hostile[i]);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 2))) == "integer");
    CHECK(sqlite3_column_int(st, 3) == 7);
    ++i;
  }
  CHECK(i == hostile.size());  // every row there: no value dropped the table or deleted a row
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_CASE("notifications: a webhook's password never reaches the error") {
  Server s;
  NotificationTarget t;
  for (std::string url : {"http://ada:s3cret@127.0.0.1:" + std::to_string(s.port) + "/nowhere",
                          std::string("http://ada:s3cret@127.0.0.1:1/hook")}) {
    INFO(url);
    t.target = url;
    auto r = deliver(t, "{}", 2s, "/tmp");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("webhook http://ada:***@127.0.0.1:") == 0);
    CHECK(r.error().message.find("s3cret") == std::string::npos);
  }
}

TEST_CASE("sql on PostgreSQL: with bound parameters no statement may change how the next ones are read") {
  Dir d;
  std::atomic<bool> cancel{false};
  auto piece = [](std::string t, dsl::RenderedPiece::Kind k) {
    dsl::RenderedPiece p;
    p.kind = k;
    p.text = std::move(t);
    p.source = "{{ params.x }}";
    return p;
  };
  using K = dsl::RenderedPiece::Kind;
  auto call = [&](const std::string& first) {
    // A value escaped into a literal of statement 2, read after statement 1 ran.
    auto sql = dsl::compose_sql({piece(first + ";\nINSERT INTO t VALUES ('", K::text),
                                 piece("\\'); DROP TABLE t; --", K::value), piece("', ", K::text),
                                 piece("1", K::value), piece(")", K::text)},
                                dsl::SqlDialect::postgres);
    REQUIRE(sql.ok());
    REQUIRE(sql->statements.size() == 2);
    SqlCall c;
    c.connection = "warehouse";
    c.url = "postgresql://baton:s3cret@127.0.0.1:1/wh";  // nothing listens: a refusal comes first
    c.log_path = (d.path / "pg.log").string();
    c.sql = sql->sql;
    c.params = sql->params;
    c.statements = sql->statements;
    c.literal_values = sql->literal_values;
    c.literal_backslash = sql->literal_backslash;
    return run_sql(c, kNow, kNoBeat, cancel);
  };
  for (std::string first : {"SET standard_conforming_strings = off", "set session CLIENT_ENCODING to 'SJIS'",
                            "SET NAMES 'GBK'", "SET LOCAL names 'GBK'",
                            "SELECT set_config('standard_conforming_strings', 'off', false)", "RESET ALL",
                            "-- first\nDISCARD ALL", "/* x */ SET Standard_Conforming_Strings TO off"}) {
    INFO(first);
    auto r = call(first);
    CHECK(r.outcome == Outcome::failed);
    CHECK(r.reason.find("statement 1 changes") == 0);
  }
  // Other statements (UPDATE ... SET names = ... too) get as far as connecting.
  for (std::string first : {"SET search_path = wh", "UPDATE t SET names = 'x'", "SELECT 1"}) {
    INFO(first);
    auto r = call(first);
    CHECK(r.outcome == Outcome::failed);
    CHECK(r.reason.find("cannot connect") == 0);
    CHECK(r.reason.find("s3cret") == std::string::npos);
  }
}
