// Rendering for where a template stands (render.h): shell words checked
// against the real /bin/sh, SQL literals and bound parameters, URLs, headers,
// `| raw` and ident(), and the compile-time checks and warnings that go with
// them. Hostile values: `x; touch pwned`, `'$(id)'`, quotes, newlines, NUL,
// 40 KB.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "baton/core/time.h"
#include "baton/dsl/compiler.h"
#include "baton/dsl/render.h"
#include "baton/dsl/template.h"

using namespace baton;
using namespace baton::dsl;
namespace fs = std::filesystem;

namespace {

RenderedPiece text(std::string t) {
  RenderedPiece p;
  p.text = std::move(t);
  return p;
}
RenderedPiece value(std::string v, RenderedPiece::Kind k = RenderedPiece::Kind::value) {
  RenderedPiece p;
  p.kind = k;
  p.text = std::move(v);
  p.source = "{{ params.x }}";
  return p;
}
std::vector<RenderedPiece> around(const std::string& pre, const std::string& v, const std::string& post) {
  return {text(pre), value(v), text(post)};
}

// Runs `/bin/sh -c command` in `dir`; its standard output.
std::string run_sh(const std::string& command, const fs::path& dir) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return got;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/baton_render_test_XXXXXX";
    char* made = ::mkdtemp(tmpl);
    REQUIRE(made != nullptr);
    path = made;
  }
  ~TempDir() { fs::remove_all(path); }
};

std::vector<std::string> hostile_values() {
  std::string big;
  while (big.size() < 40 * 1024) big += "x; touch pwned '$(touch pwned)' `touch pwned` \"$HOME\" \\ ";
  return {"x; touch pwned",
          "'$(touch pwned)'",
          "$(touch pwned)",
          "`touch pwned`",
          "a\nb; touch pwned",
          "ends with a newline\n",
          "\"",
          "'",
          "\\",
          "\\'",
          "a'b\"c$d`e\\f",
          "",
          " ",
          "-n",
          "*",
          "~",
          "$HOME",
          "${HOME}",
          "!x",
          "#x",
          "\t\r",
          "EOF",
          "\xc3\xa9t\xc3\xa9",
          "plain-value_1.2:3,4@5%6+7=8/9",
          "\"; touch pwned; echo \"",
          "'; touch pwned; echo '",
          "\\\"; touch pwned; echo \\\"",
          big};
}

RenderContext context() {
  RenderContext c;
  c.zone = *TimeZone::find("UTC");
  c.logical_date = *parse_utc("2026-11-21T00:00:00Z");
  c.data_interval_start = c.logical_date;
  c.data_interval_end = *parse_utc("2026-11-22T00:00:00Z");
  c.run_id = "manual__20261121T000000Z_abc";
  c.dag_id = "d";
  c.params_json = R"({"name":"x; touch pwned","n":5,"t":"a\"b","list":[1,2],"none":null})";
  return c;
}

}  // namespace

// ---------------------------------------------------------------- shell

TEST_CASE("shell_quote follows Python's shlex.quote") {
  CHECK(shell_quote("abc") == "abc");
  CHECK(shell_quote("A-Za-z0-9_@%+=:,./-") == "A-Za-z0-9_@%+=:,./-");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("it's") == "'it'\"'\"'s'");
  CHECK(shell_quote("x; touch pwned") == "'x; touch pwned'");
  CHECK(shell_quote("$(id)") == "'$(id)'");
  CHECK(shell_quote("~") == "'~'");
  CHECK(shell_quote("a\nb") == "'a\nb'");
  CHECK_FALSE(shell_safe(""));
  CHECK(shell_safe("2026-11-21"));
  CHECK_FALSE(shell_safe("a*"));
}

TEST_CASE("command: each value is exactly one word part, in every quoting context, against the real /bin/sh") {
  struct Ctx {
    const char* name;
    std::string pre, post;
    std::string want_pre, want_post;
    bool newline_fails = false;   // a line break cannot stand there
    bool strip_trailing = false;  // $(...) strips trailing newlines
  };
  std::vector<Ctx> contexts = {
      {"plain", "printf '[%s]' ", "", "[", "]"},
      {"glued", "printf '[%s]' --x=", "y", "[--x=", "y]"},
      {"single quotes", "printf '[%s]' 'a", "b'", "[a", "b]"},
      {"double quotes", "printf '[%s]' \"a", "b\"", "[a", "b]"},
      {"$(...) in double quotes", "printf '[%s]' \"$(printf '%s' \"a", "b\")\"", "[a", "b]"},
      {"plain inside $(...)", "v=$(printf '%s' ", "); printf '[%s]' \"$v\"", "[", "]", false, true},
      {"single quotes inside $(...)", "v=$(printf '%s' 'a", "b'); printf '[%s]' \"$v\"", "[a", "b]"},
      {"here-document", "cat <<EOF\na", "b\nEOF\n", "a", "b\n", true},
      {"quoted here-document", "cat <<'EOF'\na", "b\nEOF\n", "a", "b\n", true},
      {"here-document <<-", "cat <<-EOF\n\ta", "b\n\tEOF\n", "a", "b\n", true},
      {"comment", "printf ok # ", "\n", "ok", "", true},
  };
  TempDir dir;
  for (auto& c : contexts) {
    for (auto& v : hostile_values()) {
      INFO(c.name << ": value \"" << v.substr(0, 80) << "\"");
      auto r = compose_shell(around(c.pre, v, c.post));
      bool has_newline = v.find('\n') != std::string::npos;
      if (c.newline_fails && has_newline) {
        CHECK_FALSE(r.ok());
        continue;
      }
      REQUIRE(r.ok());
      std::string got = run_sh(*r, dir.path);
      std::string want = c.want_pre + v + c.want_post;
      if (std::string(c.name) == "comment") want = "ok";
      if (c.strip_trailing)
        while (!v.empty() && want.size() > 2 && want[want.size() - 2] == '\n') want.erase(want.size() - 2, 1);
      CHECK(got == want);
      CHECK_FALSE(fs::exists(dir.path / "pwned"));
    }
  }
}

TEST_CASE("command: a value that would end a here-document early fails") {
  auto r = compose_shell({text("cat <<EOF\n"), value("EOF"), text("\ntouch pwned\nEOF\n")});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("here-document") != std::string::npos);
  // Part of a line only: fine.
  CHECK(compose_shell({text("cat <<EOF\nx"), value("EOF"), text("\nEOF\n")}).ok());
  // In the delimiter itself.
  CHECK_FALSE(compose_shell({text("cat <<"), value("EOF"), text("\nx\nEOF\n")}).ok());
}

TEST_CASE("command: contexts Baton does not quote into take only safe values") {
  // $((...)): integers only.
  CHECK(*compose_shell(around("echo $(( ", "42", " % 10 ))")) == "echo $(( 42 % 10 ))");
  CHECK_FALSE(compose_shell(around("echo $(( ", "1; touch pwned", " ))")).ok());
  CHECK_FALSE(compose_shell(around("echo $(( ", "a[$(touch pwned)]", " ))")).ok());
  // Backquotes: safe values only.
  CHECK(*compose_shell(around("echo `echo ", "2026-01-01", "`")) == "echo `echo 2026-01-01`");
  CHECK_FALSE(compose_shell(around("echo `echo ", "a`touch pwned`", "`")).ok());
  // ${...}: a word after an operator, safe only; never the name.
  CHECK(*compose_shell(around("echo ${X:-", "default", "}")) == "echo ${X:-default}");
  CHECK_FALSE(compose_shell(around("echo ${X:-", "a b", "}")).ok());
  CHECK_FALSE(compose_shell(around("echo ${", "PATH", "}")).ok());
  // Right after $ or a backslash.
  CHECK_FALSE(compose_shell(around("echo $", "HOME", "")).ok());
  CHECK_FALSE(compose_shell(around("echo \"$", "HOME", "\"")).ok());
  CHECK_FALSE(compose_shell(around("echo \\", "'; touch pwned; '", "")).ok());
  CHECK_FALSE(compose_shell(around("echo \"\\", "$(touch pwned)", "\"")).ok());
  // A case inside $(...) makes the rest uncertain: safe values only.
  auto uncertain = "x=$(case a in a) echo a;; esac); echo ";
  CHECK(compose_shell(around(uncertain, "safe", "")).ok());
  CHECK_FALSE(compose_shell(around(uncertain, "a b", "")).ok());
  // Where bash and dash differ ((( )), [[ ]], $'...'): safe values only from there on.
  for (const char* pre : {"(( x = ", "[[ 1 -eq ", "echo $'a' "}) {
    INFO(pre);
    CHECK(compose_shell(around(pre, "42", "")).ok());
    CHECK_FALSE(compose_shell(around(pre, "a[$(touch pwned)]", "")).ok());
  }
  CHECK(*compose_shell(around("( (echo ", "a b", ") )")) == "( (echo 'a b') )");
  CHECK(*compose_shell(around("echo [", "a b", "]")) == "echo ['a b']");
  // NUL cannot reach a command.
  CHECK_FALSE(compose_shell(around("echo ", std::string("a\0b", 3), "")).ok());
  // `| raw` is inserted as it is.
  CHECK(*compose_shell({text("echo "), value("$HOME; true", RenderedPiece::Kind::raw)}) == "echo $HOME; true");
}

TEST_CASE("command: every place bash evaluates as arithmetic takes integers only") {
  // A name there is read as a variable and its text evaluated in turn:
  // BATON_PARAM_y holding a[$(touch /tmp/pwned)] runs the command in bash.
  for (const char* pre : {"(( x = ", "for((i=0;i<", "while((", "if((", "x=$(( ", "echo $[", "echo $[1+", "echo \"$[",
                          "[[ 1 -eq ", "if [[ $a -lt ", "[[ \"", "echo ${X:", "echo ${X: ", "echo ${X:1:", "echo ${X[",
                          "echo ${X[1+", "echo $(( $(echo ", "echo \"$(( ", "(( x = \"", "(( x = $(echo ",
                          "echo `echo $(( ", "cat <<EOF\n$(( ", "cat <<EOF\n${X:"}) {
    INFO(pre);
    CHECK(compose_shell(around(pre, "42", "")).ok());
    CHECK(compose_shell(around(pre, "-7", "")).ok());
    auto name = compose_shell(around(pre, "BATON_PARAM_y", ""));
    REQUIRE_FALSE(name.ok());
    CHECK(name.error().message.find("integer") != std::string::npos);
    CHECK_FALSE(compose_shell(around(pre, "a[$(touch pwned)]", "")).ok());
    CHECK_FALSE(compose_shell(around(pre, "1+1", "")).ok());
  }
  CHECK(*compose_shell(around("echo ${X[", "3", "]}")) == "echo ${X[3]}");
  // Where the arithmetic has ended, values are words again (safe ones: bash and dash differ).
  CHECK(*compose_shell(around("for ((i=0; i<3; i++)); do echo ", "name", "; done")) ==
        "for ((i=0; i<3; i++)); do echo name; done");
  CHECK(compose_shell(around("[[ -n x ]] && echo ", "BATON_PARAM_y", "")).ok());
  CHECK(compose_shell(around("[[ a == ]]x ]] && echo ", "BATON_PARAM_y", "")).ok());
  CHECK(compose_shell(around("echo ${X[1]:-", "default", "}")).ok());
  CHECK(compose_shell(around("echo ${X:-", "BATON_PARAM_y", "}")).ok());
  CHECK(compose_shell(around("echo ${X:=", "word", "}")).ok());
  CHECK(compose_shell(around("echo `echo a` ", "BATON_PARAM_y", "")).ok());
  CHECK(compose_shell(around("cat <<EOF\n${HOME}\n", "BATON_PARAM_y", "\nEOF\n")).ok());
  // $[ is read like $((: its << is a shift, not a here-document.
  CHECK(*compose_shell(around("echo $[1<<2] ", "name", "")) == "echo $[1<<2] name");
  CHECK(compose_shell(around("echo $[1<<2]\necho ", "name", "")).ok());
  CHECK(*compose_shell(around("(( x = 1 << 2 )); echo ", "name", "")) == "(( x = 1 << 2 )); echo name");
  // ( ( is two subshells, not arithmetic.
  CHECK(*compose_shell(around("( (echo ", "name", ") )")) == "( (echo name) )");
}

TEST_CASE("command: a value inside an unquoted {...} of its word stays one word") {
  CHECK(*compose_shell(around("echo {\"k\":", "a,b", "}")) == "echo {\"k\":'a,b'}");
  CHECK(*compose_shell(around("echo {", "1..9", "}")) == "echo {'1..9'}");
  CHECK(*compose_shell(around("echo {a,", "it's,x", "}")) == "echo {a,'it'\"'\"'s,x'}");
  CHECK(*compose_shell(around("echo {a} ", "a,b", "")) == "echo {a} a,b");  // another word
  CHECK(*compose_shell(around("echo {a}", "a,b", "")) == "echo {a}a,b");    // closed
  CHECK(*compose_shell(around("echo ", "a,b", "")) == "echo a,b");
  CHECK(*compose_shell(around("echo \"{", "a,b", "}\"")) == "echo \"{a,b}\"");
  CHECK(*compose_shell(around("echo {", "ab", "}")) == "echo {ab}");
  TempDir dir;
  if (fs::exists("/bin/bash")) {
    auto r = compose_shell(around("printf '[%s]' {\"k\":", "a,b", "}"));
    REQUIRE(r.ok());
    CHECK(run_sh("exec /bin/bash -c " + shell_quote(*r), dir.path) == "[{k:a,b}]");
  }
}

TEST_CASE("shell_safe: a NUL byte is never safe") {
  CHECK_FALSE(shell_safe(std::string_view("\0", 1)));
  CHECK_FALSE(shell_safe(std::string_view("a\0b", 3)));
  CHECK(shell_quote(std::string_view("a\0b", 3)) == std::string("'a\0b'", 5));
}

TEST_CASE("command: common DAG commands render as before when values are plain") {
  auto c = context();
  CHECK(*render_shell("echo \"hello {{ dag_id }} on {{ ds }}\"", c) == "echo \"hello d on 2026-11-21\"");
  CHECK(*render_shell("echo '{{ ds }}' {{ ds_nodash }}", c) == "echo '2026-11-21' 20261121");
  CHECK(*render_shell("echo {{ params.name }}", c) == "echo 'x; touch pwned'");
  CHECK(*render_shell("echo {{ params.name | raw }}", c) == "echo x; touch pwned");
  CHECK(*render_shell("echo '{{ params.list }}'", c) == "echo '[1,2]'");
  CHECK(*render_shell("echo {{ params.list }}", c) == "echo '[1,2]'");
  CHECK(*render_shell("echo \"{{ params.t }}\"", c) == "echo \"a\\\"b\"");
  CHECK(*render_shell("echo {{ params.none }} {{ params.n }}", c) == "echo null 5");
}

// ---------------------------------------------------------------- sql

TEST_CASE("sql: a value outside literals is a bound parameter; inside '...' it is escaped") {
  auto pg = compose_sql(around("SELECT * FROM t WHERE a = ", "x'; DROP TABLE t; --", ""), SqlDialect::postgres);
  REQUIRE(pg.ok());
  CHECK(pg->sql == "SELECT * FROM t WHERE a = $1");
  REQUIRE(pg->params.size() == 1);
  CHECK(pg->params[0].value == "x'; DROP TABLE t; --");
  REQUIRE(pg->statements.size() == 1);
  CHECK(pg->statements[0].sql == pg->sql);

  auto lite = compose_sql(around("SELECT * FROM t WHERE a = ", "1", ""), SqlDialect::sqlite);
  REQUIRE(lite.ok());
  CHECK(lite->sql == "SELECT * FROM t WHERE a = ?1");

  auto lit = compose_sql(around("DELETE FROM t WHERE day = '", "x'; DROP TABLE t; --", "'"), SqlDialect::postgres);
  REQUIRE(lit.ok());
  CHECK(lit->sql == "DELETE FROM t WHERE day = 'x''; DROP TABLE t; --'");
  CHECK(lit->params.empty());
  CHECK(lit->statements.size() == 1);  // the ; inside the literal is not a statement's end
  CHECK(lit->literal_values);
  CHECK_FALSE(lit->literal_backslash);

  auto bs = compose_sql(around("SELECT '", "a\\'; DROP TABLE t; --", "'"), SqlDialect::postgres);
  REQUIRE(bs.ok());
  CHECK(bs->sql == "SELECT 'a\\''; DROP TABLE t; --'");
  CHECK(bs->literal_backslash);  // the adapter insists on standard_conforming_strings=on
  CHECK(bs->statements.size() == 1);

  auto e = compose_sql(around("SELECT E'", "a\\'; DROP", "'"), SqlDialect::postgres);
  REQUIRE(e.ok());
  CHECK(e->sql == "SELECT E'a\\\\''; DROP'");
  CHECK(e->statements.size() == 1);
  auto u = compose_sql(around("SELECT U&'", "a\\0041'", "'"), SqlDialect::postgres);
  REQUIRE(u.ok());
  CHECK(u->sql == "SELECT U&'a\\\\0041'''");

  auto q = compose_sql(around("SELECT \"", "a\"b", "\" FROM t"), SqlDialect::postgres);
  REQUIRE(q.ok());
  CHECK(q->sql == "SELECT \"a\"\"b\" FROM t");
}

TEST_CASE("sql: statements are cut at top-level ; and numbered on their own on PostgreSQL") {
  std::vector<RenderedPiece> p = {text("DELETE FROM t WHERE a = "), value("1"), text("; INSERT INTO t VALUES ("),
                                  value("2"), text(", '"), value("it's"), text("', "), value("3"),
                                  text(") ; -- done\n")};
  auto pg = compose_sql(p, SqlDialect::postgres);
  REQUIRE(pg.ok());
  REQUIRE(pg->statements.size() == 2);
  CHECK(pg->statements[0].sql == "DELETE FROM t WHERE a = $1");
  CHECK(pg->statements[1].sql == " INSERT INTO t VALUES ($1, 'it''s', $2) ");
  CHECK(pg->statements[1].params.size() == 2);
  CHECK(pg->statements[1].params[1].value == "3");
  CHECK(pg->params.size() == 3);
  auto lite = compose_sql(p, SqlDialect::sqlite);
  REQUIRE(lite.ok());
  CHECK(lite->sql == "DELETE FROM t WHERE a = ?1; INSERT INTO t VALUES (?2, 'it''s', ?3) ; -- done\n");
  // Parentheses, dollar quotes and comments keep their ;.
  auto body = compose_sql({text("CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql; /* a; b */ "
                                "SELECT (1); SELECT "),
                           value("x")},
                          SqlDialect::postgres);
  REQUIRE(body.ok());
  REQUIRE(body->statements.size() == 3);
  CHECK(body->statements[2].sql == " SELECT $1");
}

TEST_CASE("sql: a PostgreSQL literal continued after a line break keeps its kind") {
  const auto pg = SqlDialect::postgres;
  // E'head\n' LINE BREAK '...' is one E'...' literal: its backslashes escape.
  auto r = compose_sql(around("INSERT INTO notes VALUES (E'head\\n'\n'", "\\'); DROP TABLE notes; --", "')"), pg);
  REQUIRE(r.ok());
  CHECK(r->sql == "INSERT INTO notes VALUES (E'head\\n'\n'\\\\''); DROP TABLE notes; --')");
  CHECK(r->params.empty());
  CHECK(r->statements.size() == 1);
  // With blanks and -- comments between (a line break among them): the same.
  auto c = compose_sql(around("SELECT E'a'  -- note\n  -- more\r\n\t'", "\\'", "'"), pg);
  REQUIRE(c.ok());
  CHECK(c->sql == "SELECT E'a'  -- note\n  -- more\r\n\t'\\\\'''");
  auto e2 = compose_sql(around("SELECT e'a' -- note\n'", "\\", "'"), pg);
  CHECK(e2->sql == "SELECT e'a' -- note\n'\\\\'");
  // U&'...' goes on as U&'...'; a plain '...' as a plain one.
  auto u = compose_sql(around("SELECT U&'a'\n'", "\\", "'"), pg);
  CHECK(u->sql == "SELECT U&'a'\n'\\\\'");
  auto plain = compose_sql(around("SELECT 'a'\n'", "\\", "'"), pg);
  CHECK(plain->sql == "SELECT 'a'\n'\\'");
  CHECK(plain->literal_backslash);
  // Not a continuation: no line break, a lone -, a /* comment */, other text.
  for (const char* pre : {"SELECT E'a' '", "SELECT E'a' -\n'", "SELECT E'a'\n/* c */\n'", "SELECT E'a' || \n'"}) {
    INFO(pre);
    auto n = compose_sql(around(pre, "\\", "'"), pg);
    REQUIRE(n.ok());
    CHECK(n->sql == std::string(pre) + "\\'");
  }
  // The text after a continued literal is read as before.
  auto after = compose_sql({text("SELECT E'a'\n'b', "), value("x"), text(" -- ok")}, pg);
  CHECK(after->sql == "SELECT E'a'\n'b', $1 -- ok");
  // SQLite has no such rule.
  auto lite = compose_sql(around("SELECT 'a'\n'", "\\", "'"), SqlDialect::sqlite);
  CHECK(lite->sql == "SELECT 'a'\n'\\'");
}

TEST_CASE("sql: a value right after a backslash inside E'...' fails") {
  const auto pg = SqlDialect::postgres;
  auto r = compose_sql(around("SELECT * FROM t WHERE a = E'\\", "' OR true; DROP TABLE t --", "'"), pg);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("backslash") != std::string::npos);
  CHECK_FALSE(compose_sql(around("SELECT E'x\\", "a", "'"), pg).ok());
  // An escaped backslash before it is the author's text: fine.
  auto ok = compose_sql(around("SELECT E'\\\\", "it's", "'"), pg);
  REQUIRE(ok.ok());
  CHECK(ok->sql == "SELECT E'\\\\it''s'");
  // In a plain '...' a backslash escapes nothing.
  CHECK(compose_sql(around("SELECT '\\", "it's", "'"), pg).ok());
}

TEST_CASE("sql: a dollar quote's tag may be of any length") {
  const auto pg = SqlDialect::postgres;
  std::string tag = "$" + std::string(100, 't') + "$";
  // Inside the body: plain words only.
  CHECK_FALSE(compose_sql(around("SELECT " + tag + " ", "a b", " " + tag), pg).ok());
  // A ' in the body opens nothing: the value after the body is a bound parameter.
  auto r = compose_sql(around("SELECT " + tag + " it's " + tag + ", ", "x'; DROP TABLE t; --", ""), pg);
  REQUIRE(r.ok());
  CHECK(r->sql == "SELECT " + tag + " it's " + tag + ", $1");
  CHECK(r->params.size() == 1);
}

TEST_CASE("sql: ident(), names, dollar quotes, comments and brackets") {
  auto id = compose_sql({text("SELECT * FROM "), value("we\"ird; DROP", RenderedPiece::Kind::ident)}, SqlDialect::postgres);
  REQUIRE(id.ok());
  CHECK(id->sql == "SELECT * FROM \"we\"\"ird; DROP\"");
  CHECK(id->params.empty());
  CHECK(compose_sql({text("SELECT * FROM s."), value("t", RenderedPiece::Kind::ident)}, SqlDialect::postgres).ok());
  CHECK_FALSE(compose_sql({text("SELECT * FROM t_"), value("1", RenderedPiece::Kind::ident)}, SqlDialect::postgres).ok());
  CHECK_FALSE(compose_sql({text("SELECT '"), value("t", RenderedPiece::Kind::ident), text("'")}, SqlDialect::postgres).ok());
  CHECK_FALSE(compose_sql({text("SELECT "), value("", RenderedPiece::Kind::ident)}, SqlDialect::postgres).ok());

  // Inside a name: not a bound parameter, an error saying to use ident().
  auto glued = compose_sql(around("SELECT * FROM events_", "20261121", ""), SqlDialect::postgres);
  REQUIRE_FALSE(glued.ok());
  CHECK(glued.error().message.find("ident(") != std::string::npos);
  CHECK_FALSE(compose_sql(around("SELECT ", "1", "0"), SqlDialect::sqlite).ok());

  // Dollar quotes (often code): only plain words.
  auto dq = [](const std::string& v) {
    return compose_sql(around("DO $$ BEGIN PERFORM '", v, "'; END $$"), SqlDialect::postgres);
  };
  CHECK(dq("2026-11-21").ok());
  CHECK(dq("2026-11-21T00:00:00Z").ok());
  CHECK_FALSE(dq("x'; DROP TABLE t; --").ok());
  CHECK_FALSE(dq("a$$b").ok());
  CHECK_FALSE(dq("1--").ok());
  REQUIRE(dq("eu").ok());
  CHECK(dq("eu")->statements.size() == 1);
  // A closing tag made of a value and the text after it.
  CHECK_FALSE(compose_sql(around("SELECT $ab$ x $a", "b", "$ y $ab$"), SqlDialect::postgres).ok());

  // Comments.
  CHECK(compose_sql(around("SELECT 1 -- ", "note", "\n"), SqlDialect::postgres).ok());
  CHECK_FALSE(compose_sql(around("SELECT 1 -- ", "x\nDROP TABLE t", "\n"), SqlDialect::postgres).ok());
  CHECK_FALSE(compose_sql(around("SELECT 1 /* ", "*/ DROP TABLE t; /*", " */"), SqlDialect::postgres).ok());
  CHECK_FALSE(compose_sql(around("SELECT 1 /* ", "x*", "/ DROP TABLE t; /* */"), SqlDialect::postgres).ok());
  CHECK(compose_sql(around("SELECT 1 /* ", "fine", " */"), SqlDialect::sqlite).ok());

  // SQLite's [name] and `name`.
  CHECK(compose_sql(around("SELECT [", "a b", "] FROM t"), SqlDialect::sqlite)->sql == "SELECT [a b] FROM t");
  CHECK_FALSE(compose_sql(around("SELECT [", "a]; DROP TABLE t; --", "] FROM t"), SqlDialect::sqlite).ok());
  CHECK(compose_sql(around("SELECT `", "a`b", "` FROM t"), SqlDialect::sqlite)->sql == "SELECT `a``b` FROM t");

  // NUL; raw; a 40 KB value.
  CHECK_FALSE(compose_sql(around("SELECT ", std::string("a\0b", 3), ""), SqlDialect::sqlite).ok());
  CHECK(compose_sql({text("SELECT "), value("1; DROP TABLE t", RenderedPiece::Kind::raw)}, SqlDialect::postgres)->sql ==
        "SELECT 1; DROP TABLE t");
  std::string big(40 * 1024, '\'');
  auto b = compose_sql(around("SELECT '", big, "'"), SqlDialect::postgres);
  REQUIRE(b.ok());
  CHECK(b->sql.size() == 2 * big.size() + 9);
  CHECK(b->statements.size() == 1);
}

TEST_CASE("sql: render_sql reads the value's JSON type") {
  auto c = context();
  auto r = render_sql("SELECT {{ params.n }}, {{ params.name }}, {{ params.none }}, '{{ params.name }}'", c,
                      SqlDialect::sqlite);
  REQUIRE(r.ok());
  CHECK(r->sql == "SELECT ?1, ?2, ?3, 'x; touch pwned'");
  REQUIRE(r->params.size() == 3);
  CHECK(r->params[0].type == RenderedPiece::Type::integer);
  CHECK(r->params[1].type == RenderedPiece::Type::string);
  CHECK(r->params[2].type == RenderedPiece::Type::null);
  CHECK(render_sql("DELETE FROM s WHERE day = '{{ ds }}'", c, SqlDialect::postgres)->sql ==
        "DELETE FROM s WHERE day = '2026-11-21'");
}

// ---------------------------------------------------------------- url

TEST_CASE("url: a value in the path is one segment, in the query one value") {
  CHECK(*compose_url(around("http://h/files/", "a/b c?d#e%", "/raw")) == "http://h/files/a%2Fb%20c%3Fd%23e%25/raw");
  CHECK(*compose_url(around("http://h/files/", "..", "")) == "http://h/files/%2E%2E");
  CHECK(*compose_url(around("http://h/files/", "v1.2", "")) == "http://h/files/v1.2");
  CHECK(*compose_url(around("http://h/?q=", "&admin=1#x", "&b=2")) == "http://h/?q=%26admin%3D1%23x&b=2");
  CHECK(*compose_url(around("http://h/?q=", "2026-11-21T00:00:00Z", "")) == "http://h/?q=2026-11-21T00%3A00%3A00Z");
  CHECK(*compose_url(around("http://h/?q=", "\r\nX-Evil: 1", "")) == "http://h/?q=%0D%0AX-Evil%3A%201");
  CHECK(*compose_url(around("http://h/#", "a b", "")) == "http://h/#a%20b");
  // The host: host and port characters only.
  CHECK(*compose_url(around("http://", "example.com:8080", "/x")) == "http://example.com:8080/x");
  CHECK_FALSE(compose_url(around("http://", "evil.com/x?", "/x")).ok());
  CHECK(compose_url(around("http://user@", "h", "/")).ok());
  CHECK_FALSE(compose_url(around("http://", "a@evil.com", "/x")).ok());
  CHECK_FALSE(compose_url(around("htt", "p", "://h/")).ok());
  // At the start: the base URL, as it is (dags validate warns when a trigger can set it).
  CHECK(*compose_url(around("", "https://api.example.com", "/v1/x")) == "https://api.example.com/v1/x");
  CHECK_FALSE(compose_url(around("", "file:///etc/passwd", "")).ok());
  // raw.
  CHECK(*compose_url({text("http://h/"), value("a/b?c=d", RenderedPiece::Kind::raw)}) == "http://h/a/b?c=d");
}

TEST_CASE("url: the result must be a valid http(s) URL of at most 8 KiB; 40 KB fails cleanly") {
  std::string big(40 * 1024, 'a');
  auto r = compose_url(around("http://h/x?q=", big, ""));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("8192") != std::string::npos);
  CHECK(r.error().message.size() < 1000);
  std::string quotes(40 * 1024, '\'');
  CHECK_FALSE(compose_url(around("http://h/", quotes, "")).ok());
  CHECK(compose_url(around("http://h/?q=", std::string(2000, 'a'), "")).ok());
  CHECK_FALSE(compose_url(around("http://h/?q=", std::string(3000, ' '), "")).ok());  // 3 bytes each
}

TEST_CASE("parse_http_url: linear, strict about scheme, host and port, at most 8 KiB") {
  auto u = parse_http_url("HTTPS://ada:s3cret@example.com:8443/a/b?c=d#frag");
  REQUIRE(u.ok());
  CHECK(u->scheme == "https");
  CHECK(u->authority == "ada:s3cret@example.com:8443");
  CHECK(u->target == "/a/b?c=d");
  CHECK(parse_http_url("http://h")->target == "/");
  CHECK(parse_http_url("http://h?q=1")->target == "/?q=1");
  CHECK(parse_http_url("http://[::1]:8080/x")->base() == "http://[::1]:8080");
  CHECK(parse_http_url("http://127.0.0.1:9000/hook").ok());
  for (const char* bad : {"ftp://h/", "http:/h/", "http://", "http:///x", "http://h:0/", "http://h:65536/",
                          "http://h:x/", "http://h:/", "http://h/a b", "http://h/\x01", "http://[::1/",
                          "http://a b/", "http://h\"/", "mailto:a@b", "", "javascript:alert(1)"}) {
    INFO(bad);
    CHECK_FALSE(parse_http_url(bad).ok());
  }
  std::string huge = "http://h/" + std::string(100 * 1024, 'a');
  auto e = parse_http_url(huge);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message.find("8192") != std::string::npos);
  CHECK(e.error().message.size() < 600);
  CHECK(parse_http_url("http://h/" + std::string(8192 - 9, 'a')).ok());
  CHECK_FALSE(parse_http_url("http://h/" + std::string(8192 - 8, 'a')).ok());
  // Passwords are not quoted in the message.
  auto pw = parse_http_url("ftp://ada:s3cret@h/");
  REQUIRE_FALSE(pw.ok());
  CHECK(pw.error().message.find("s3cret") == std::string::npos);
}

TEST_CASE("check_url_template: the literal parts, for dags validate") {
  CHECK(check_url_template("http://h/{{ ds }}").ok());
  CHECK(check_url_template("{{ var.base }}/x").ok());
  CHECK_FALSE(check_url_template("ftp://h/").ok());
  CHECK_FALSE(check_url_template("http://h/" + std::string(9000, 'a')).ok());
  CHECK_FALSE(check_url_template("http://h/{{ ds }}" + std::string(9000, 'a')).ok());
}

// ---------------------------------------------------------------- headers

TEST_CASE("headers: CR, LF or NUL in a value fails with the header's name") {
  CHECK(check_header_value("X-Run", "manual__1").ok());
  for (std::string v : {std::string("a\r\nX-Evil: 1"), std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3)}) {
    auto st = check_header_value("X-Run", v);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message.find("X-Run") != std::string::npos);
  }
  auto c = context();
  c.params_json = R"({"v":"a\r\nX-Evil: 1"})";
  auto r = render_header("Authorization", "Bearer {{ params.v }}", c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("Authorization") != std::string::npos);
  CHECK(*render_header("X-Day", "{{ ds }}", c) == "2026-11-21");
}

// ---------------------------------------------------------------- the template engine

TEST_CASE("| raw and ident() are parsed; raw on what a trigger can set is a warning where it matters") {
  std::vector<std::string> params = {"name"};
  TemplateScope scope;
  scope.params = &params;
  scope.field = TemplateField::command;
  auto w = check_template("echo {{ params.name | raw }} {{ ds | raw }}", scope);
  REQUIRE(w.size() == 1);
  CHECK(w[0].warning);
  CHECK(w[0].message.find("params.name") != std::string::npos);
  CHECK(check_template("echo {{ var.x|raw }}", scope)[0].warning);
  CHECK(check_template("echo {{ ds_add(params.name, 1) | raw }}", scope)[0].warning);
  auto bad = check_template("{{ ds | upper }}", scope);
  REQUIRE(bad.size() == 1);
  CHECK_FALSE(bad[0].warning);
  CHECK(bad[0].message.find("unknown filter \"upper\"") != std::string::npos);
  CHECK_FALSE(check_template("{{ ds | }}", scope).empty());
  // ident(): only in sql, only as the whole template.
  CHECK(check_template("{{ ident(params.name) }}", scope)[0].message.find("only in sql") != std::string::npos);
  scope.field = TemplateField::sql;
  CHECK(check_template("SELECT * FROM {{ ident(params.name) }}", scope).empty());
  CHECK(check_template("SELECT * FROM {{ ident(\"t_\", ds_nodash) }}", scope).empty());
  CHECK_FALSE(check_template("{{ ds_add(ident(ds), 1) }}", scope).empty());
  CHECK_FALSE(check_template("{{ ident() }}", scope).empty());
  CHECK_FALSE(check_template("{{ ident(params.name) | raw }}", scope).empty());
  // In a body, raw changes nothing: no warning.
  scope.field = TemplateField::text;
  CHECK(check_template("{{ params.name | raw }}", scope).empty());
  // A url whose host comes from a param.
  scope.field = TemplateField::url;
  auto u = check_template("{{ params.name }}/x", scope);
  REQUIRE(u.size() == 1);
  CHECK(u[0].warning);
  CHECK(check_template("{{ var.base }}/x/{{ params.name }}", scope)[0].warning);
  CHECK(check_template("http://h/{{ params.name }}", scope).empty());

  auto c = context();
  auto pieces = render_pieces("a {{ params.name | raw }} {{ params.n }}", c);
  REQUIRE(pieces.ok());
  REQUIRE(pieces->size() == 4);
  CHECK((*pieces)[1].kind == RenderedPiece::Kind::raw);
  CHECK((*pieces)[3].kind == RenderedPiece::Kind::value);
  CHECK((*pieces)[3].type == RenderedPiece::Type::integer);
  CHECK((*pieces)[3].source == "{{ params.n }}");
}

TEST_CASE("dags validate: raw warnings, url checks, webhook checks") {
  auto r = compile_dag(R"(dag: d
params: {name: x}
tasks:
  a: {command: 'echo {{ params.name | raw }}'}
  b: {type: sql, connection: c, sql: 'SELECT {{ params.name | raw }}'}
  c: {type: http, url: 'http://h/{{ params.name }}'}
)",
                       "d.yaml");
  REQUIRE(r.graph);
  CHECK(r.errors.empty());
  REQUIRE(r.warnings.size() == 2);
  CHECK(r.warnings[0].format().find("d.yaml:4:") == 0);
  CHECK(r.warnings[0].format().find(": warning: tasks.a.command: `| raw` inserts params.name") != std::string::npos);

  auto bad = compile_dag("dag: d\ntasks:\n  a: {type: http, url: 'ftp://h/x'}\n  b: {type: sensor.http, url: 'http://h/" +
                             std::string(9000, 'a') + "'}\n",
                         "d.yaml");
  CHECK_FALSE(bad.graph);
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[0].message.find("tasks.a.url: url \"ftp://h/x\" is not an http:// or https:// URL") == 0);
  CHECK(bad.errors[1].message.find("8192") != std::string::npos);

  auto hook = compile_dag("dag: d\nnotify:\n  on_failure: [{webhook: 'http://h/" + std::string(100 * 1024, 'a') +
                              "'}]\ntasks:\n  a: {type: noop}\n",
                          "d.yaml");
  CHECK_FALSE(hook.graph);
  REQUIRE(hook.errors.size() == 1);
  CHECK(hook.errors[0].message.find("8192") != std::string::npos);
  CHECK(hook.errors[0].message.size() < 1000);
  CHECK_FALSE(compile_dag("dag: d\nnotify:\n  on_failure: [{webhook: 'http://'}]\ntasks:\n  a: {type: noop}\n", "d.yaml")
                  .graph);
}

TEST_CASE("params: a default's templates are rendered when the run is made; a trigger's values never") {
  auto r = compile_dag(R"(dag: d
params: {day: '{{ ds }}', out: '/data/{{ ds_nodash }}/{{ params.region }}', region: eu, n: 3, given: '{{ ds }}'}
tasks:
  a: {command: 'echo {{ params.day }}'}
)",
                       "d.yaml");
  REQUIRE(r.graph);
  auto c = context();
  std::string params = R"({"day":"{{ ds }}","out":"/data/{{ ds_nodash }}/{{ params.region }}","region":"us","n":3,)"
                       R"("given":"{{ var.secret }}"})";
  auto p = render_run_params(r.graph->spec(), params, {"given", "region"}, c);
  REQUIRE(p.ok());
  CHECK(*p == R"({"day":"2026-11-21","given":"{{ var.secret }}","n":3,"out":"/data/20261121/us","region":"us"})");
  auto missing = compile_dag("dag: d\nparams: {b: '{{ var.nope }}'}\ntasks:\n  a: {type: noop}\n", "d.yaml");
  REQUIRE(missing.graph);
  auto e = render_run_params(missing.graph->spec(), R"({"b":"{{ var.nope }}"})", {}, c);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message.find("params.b") != std::string::npos);
  CHECK(e.error().message.find("var.nope") != std::string::npos);
}
