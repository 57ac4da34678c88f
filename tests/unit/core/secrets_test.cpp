#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "baton/core/secrets.h"

using namespace baton;

namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Runs f and checks it took well under a second (a quadratic scan of the
// hostile inputs below takes far longer).
template <class F>
void fast(F f) {
  auto start = std::chrono::steady_clock::now();
  f();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500));
}

}  // namespace

TEST_CASE("mask_secrets: URL user info") {
  CHECK(mask_secrets("postgresql://ada:s3cret@127.0.0.1:5432/wh") == "postgresql://ada:***@127.0.0.1:5432/wh");
  CHECK(mask_secrets("postgres://ada:s3cret@host/wh") == "postgres://ada:***@host/wh");
  CHECK(mask_secrets("postgresql://ada@host/wh") == "postgresql://ada@host/wh");
  CHECK(mask_secrets("postgresql://host:5432/wh") == "postgresql://host:5432/wh");
  CHECK(mask_secrets("postgresql://ada:@host/wh") == "postgresql://ada:@host/wh");  // empty: nothing to hide
  CHECK(mask_secrets("postgresql://:pw12@host/wh") == "postgresql://:***@host/wh");
  SECTION("a password holding @, / or ? unencoded is masked whole") {
    CHECK(mask_secrets("postgresql://ada:p@ss@host/wh") == "postgresql://ada:***@host/wh");
    CHECK(mask_secrets("postgresql://ada:p@s@s@@host:5432/wh?sslmode=require") ==
          "postgresql://ada:***@host:5432/wh?sslmode=require");
    CHECK(mask_secrets("postgresql://ada:pa/ss@host/wh") == "postgresql://ada:***@host/wh");
    CHECK(mask_secrets("postgresql://ada:pa?ss@host/wh") == "postgresql://ada:***@host/wh");
    CHECK(mask_secrets("postgresql://ada:pa#ss@host/wh") == "postgresql://ada:***@host/wh");
    CHECK(mask_secrets("postgresql://ada:p%40ss@host/wh") == "postgresql://ada:***@host/wh");
  }
  SECTION("an @ in the query after a path is not user info") {
    CHECK(mask_secrets("postgresql://host:5432/wh?user=ada@server") == "postgresql://host:5432/wh?user=ada@server");
  }
  SECTION("any scheme; inside a message; several URLs") {
    CHECK(mask_secrets("GET https://bot:tok3n@api.example.com/x failed") == "GET https://bot:***@api.example.com/x failed");
    CHECK(mask_secrets("from postgresql://a:one1@h1/d to postgresql://b:two2@h2/d") ==
          "from postgresql://a:***@h1/d to postgresql://b:***@h2/d");
  }
  SECTION("sqlite: URLs are file names") {
    CHECK(mask_secrets("sqlite:./baton.db") == "sqlite:./baton.db");
    CHECK(mask_secrets("sqlite:/data/a:b@c.db") == "sqlite:/data/a:b@c.db");
    CHECK(mask_secrets("SQLITE:///data/a:b@c.db") == "SQLITE:///data/a:b@c.db");
    CHECK(mask_secrets("open sqlite:///data/a:b@c.db failed") == "open sqlite:///data/a:b@c.db failed");
  }
}

TEST_CASE("mask_secrets: password= and sslpassword= parameters, percent-encoded keys, any case") {
  CHECK(mask_secrets("postgresql://host/wh?user=ada&password=s3cret&sslmode=require") ==
        "postgresql://host/wh?user=ada&password=***&sslmode=require");
  CHECK(mask_secrets("postgresql://host/wh?password=s3cret") == "postgresql://host/wh?password=***");
  CHECK(mask_secrets("postgresql://host/wh?PassWord=s3cret#frag") == "postgresql://host/wh?PassWord=***#frag");
  CHECK(mask_secrets("postgresql://host/wh?pass%77ord=s3cret") == "postgresql://host/wh?pass%77ord=***");
  CHECK(mask_secrets("postgresql://host/wh?%70%61%73%73%77%6F%72%64=s3cret") ==
        "postgresql://host/wh?%70%61%73%73%77%6F%72%64=***");
  CHECK(mask_secrets("postgresql://host/wh?x=1&sslpassword=k3y&SSLPASS%57ORD=k4y") ==
        "postgresql://host/wh?x=1&sslpassword=***&SSLPASS%57ORD=***");
  CHECK(mask_secrets("postgresql://host/wh?password=") == "postgresql://host/wh?password=");
  CHECK(mask_secrets("postgresql://u:pw12@host/wh?password=s3cret") == "postgresql://u:***@host/wh?password=***");
  SECTION("other keys are left alone") {
    CHECK(mask_secrets("postgresql://host/wh?passwordx=1&xpassword=2&passfile=/p") ==
          "postgresql://host/wh?passwordx=1&xpassword=2&passfile=/p");
    CHECK(mask_secrets("/tmp/mypassword=1.txt") == "/tmp/mypassword=1.txt");
  }
}

TEST_CASE("mask_secrets: libpq keyword/value strings") {
  CHECK(mask_secrets("host=x password=secret dbname=wh") == "host=x password=*** dbname=wh");
  CHECK(mask_secrets("password=secret") == "password=***");
  CHECK(mask_secrets("host=x password = secret dbname=wh") == "host=x password = *** dbname=wh");
  CHECK(mask_secrets("host=x password='a b' dbname=wh") == "host=x password=*** dbname=wh");
  CHECK(mask_secrets("host=x password='it\\'s here' dbname=wh") == "host=x password=*** dbname=wh");
  CHECK(mask_secrets("host=x password='never closed") == "host=x password=***");
  CHECK(mask_secrets("host=x PASSWORD=a&b sslpassword=c\\ d port=1") == "host=x PASSWORD=*** sslpassword=*** port=1");
  CHECK(mask_secrets("missing \"=\" after \"password=hunter2\" in connection info string") ==
        "missing \"=\" after \"password=*** in connection info string");
}

TEST_CASE("mask_secrets: URLs next to each other without a blank") {
  CHECK(mask_secrets("postgresql://h/db?x=1,postgresql://u:PW12@h2/db") == "postgresql://h/db?x=1,postgresql://u:***@h2/db");
  CHECK(mask_secrets("postgresql://h/db,postgresql://u:PW12@h2/db") == "postgresql://h/db,postgresql://u:***@h2/db");
  CHECK(mask_secrets("http://h:80/x?y=1;https://bot:tok3n@api/x") == "http://h:80/x?y=1;https://bot:***@api/x");
  CHECK(mask_secrets(R"({"a":"postgresql://h/db?x=1","b":"postgresql://u:PW12@h2/db"})") ==
        R"({"a":"postgresql://h/db?x=1","b":"postgresql://u:***@h2/db"})");
  CHECK(mask_secrets(R"({"a":"postgresql://a:one1@h1/d","b":"postgresql://b:two2@h2/d"})") ==
        R"({"a":"postgresql://a:***@h1/d","b":"postgresql://b:***@h2/d"})");
  auto s = find_secrets("postgresql://h/db?x=1,postgresql://u:PW12@h2/db");
  CHECK(std::find(s.begin(), s.end(), "PW12") != s.end());
}

TEST_CASE("mask_secrets: the sqlite: exception is for the sqlite URL only") {
  CHECK(mask_secrets("sqlite:./baton.db postgresql://u:PW12@h/db") == "sqlite:./baton.db postgresql://u:***@h/db");
  CHECK(mask_secrets("sqlite:x password=hunter2") == "sqlite:x password=***");
  CHECK(mask_secrets("sqlite:/a.db,postgresql://u:PW12@h/db") == "sqlite:/a.db,postgresql://u:***@h/db");
  CHECK(mask_secrets("SQLite: cannot open; host=x password=hunter2") == "SQLite: cannot open; host=x password=***");
  // Within the sqlite URL, nothing is a password.
  CHECK(mask_secrets("sqlite:/data/x?password=1.db") == "sqlite:/data/x?password=1.db");
  CHECK(mask_secrets("open sqlite:/data/x?password=1.db, then host=x password=hunter2") ==
        "open sqlite:/data/x?password=1.db, then host=x password=***");
  CHECK(mask_secrets("mysqlite://u:PW12@h/db") == "mysqlite://u:***@h/db");
  auto s = find_secrets("sqlite:x password=hunter2");
  CHECK(std::find(s.begin(), s.end(), "hunter2") != s.end());
  CHECK(find_secrets("sqlite:/tmp/a?password=1.db").empty());
}

TEST_CASE("mask_secrets: double-quoted keyword values") {
  CHECK(mask_secrets("password=\"a b\"") == "password=***");
  CHECK(mask_secrets("host=x password=\"a b\" dbname=wh") == "host=x password=*** dbname=wh");
  CHECK(mask_secrets("host=x password = \"it\\\"s here\" dbname=wh") == "host=x password = *** dbname=wh");
  CHECK(mask_secrets("host=x sslpassword=\"never closed") == "host=x sslpassword=***");
  CHECK(mask_secrets("password=\"\" port=1") == "password=*** port=1");
  auto k = find_secrets("host=x password=\"a b\\\"c\"");
  CHECK(std::find(k.begin(), k.end(), "a b\"c") != k.end());
  SECTION("linear on an unclosed double quote") {
    std::string t = "host=x password=\"" + std::string(40000, '\\') + "Zq9!secret";
    std::string out;
    fast([&] { out = mask_secrets(t); });
    CHECK_FALSE(contains(out, "Zq9!secret"));
  }
}

TEST_CASE("find_secrets: as written and decoded") {
  auto s = find_secrets("postgresql://ada:p%40ss@host/wh?sslpassword=k%26y");
  CHECK(std::find(s.begin(), s.end(), "p%40ss") != s.end());
  CHECK(std::find(s.begin(), s.end(), "p@ss") != s.end());
  CHECK(std::find(s.begin(), s.end(), "k%26y") != s.end());
  CHECK(std::find(s.begin(), s.end(), "k&y") != s.end());
  auto k = find_secrets("host=x password='a b\\'c'");
  CHECK(std::find(k.begin(), k.end(), "a b'c") != k.end());
  CHECK(find_secrets("sqlite:/tmp/a.db").empty());
  CHECK(find_secrets("postgresql://host/wh").empty());
}

TEST_CASE("mask_message: a database error that echoes the URL's password") {
  std::string url = "postgresql://ada:hunter22@host/wh";
  CHECK(mask_message("invalid integer value \"hunter22\" for connection option \"port\"", url) ==
        "invalid integer value \"***\" for connection option \"port\"");
  CHECK(mask_message("could not connect to postgresql://ada:hunter22@host/wh", url) ==
        "could not connect to postgresql://ada:***@host/wh");
  CHECK(mask_message("plain", "sqlite:/x.db") == "plain");
  // libpq cut the password at its `/` and took a piece for the port.
  CHECK(mask_message("invalid integer value \"S3cretPart\" for connection option \"port\"",
                     "postgresql://ada:S3cretPart/tail@127.0.0.1:1/db") ==
        "invalid integer value \"***\" for connection option \"port\"");
}

TEST_CASE("mask_secrets: hostile inputs are linear and never leak") {
  const std::string pw = "Zq9!secret";
  SECTION("40 KB of @ in the password") {
    std::string url = "postgresql://ada:" + std::string(40000, '@') + pw + "@host/wh";
    std::string out;
    fast([&] { out = mask_secrets(url); });
    CHECK(out == "postgresql://ada:***@host/wh");
  }
  SECTION("40 KB of :// and @") {
    std::string t;
    for (int i = 0; i < 8000; ++i) t += "://a:";
    t += pw + "@";
    for (int i = 0; i < 8000; ++i) t += "@:/?";
    std::string out;
    fast([&] { out = mask_secrets(t); });
    CHECK_FALSE(contains(out, pw));
  }
  SECTION("40 KB of = and keys") {
    std::string t;
    for (int i = 0; i < 4000; ++i) t += "password=";
    for (int i = 0; i < 4000; ++i) t += "=  = ";
    t += std::string(40000, 'a') + "=x " + std::string(40000, ' ') + "=y";
    fast([&] { (void)mask_secrets(t); });
    std::string q = "postgresql://h/d?";
    for (int i = 0; i < 4000; ++i) q += "pass%77ord=" + pw + "&";
    std::string out;
    fast([&] { out = mask_secrets(q); });
    CHECK_FALSE(contains(out, pw));
  }
  SECTION("40 KB of percent signs, mixed case, an unclosed quote") {
    std::string t = "host=x " + std::string(40000, '%') + " PaSsWoRd='" + pw + std::string(40000, '\\');
    std::string out;
    fast([&] { out = mask_secrets(t); });
    CHECK_FALSE(contains(out, pw));
    fast([&] { (void)find_secrets(t); });
  }
  SECTION("NUL bytes and control characters pass through") {
    std::string t = std::string("a\0b", 3) + " password=" + pw + "\x01";
    CHECK(mask_secrets(t) == std::string("a\0b", 3) + " password=***");
  }
}

TEST_CASE("SecretMasker: values masked in a stream, across chunks") {
  SecretMasker m({"hunter2", "s3cr3t-token", "abc"});  // "abc": too short, not masked
  CHECK(m.mask("pw is hunter2, token s3cr3t-token; abc") == "pw is ***, token ***; abc");
  CHECK(m.mask("hunter2hunter2") == "******");
  CHECK(m.mask("hunterhunter2") == "hunter***");
  CHECK(m.mask("no secret here") == "no secret here");

  std::string text = "start hunter2 middle s3cr3t-token end hunte";
  for (size_t chunk = 1; chunk <= 7; ++chunk) {
    std::string out;
    for (size_t i = 0; i < text.size(); i += chunk) m.feed(std::string_view(text).substr(i, chunk), out);
    m.flush(out);
    CHECK(out == "start *** middle *** end hunte");
  }
  SECTION("bytes that cannot start a value are not held back") {
    std::string out;
    m.feed("line one\n", out);
    CHECK(out == "line one\n");
    m.feed("hun", out);
    CHECK(out == "line one\n");
    m.feed("gry\n", out);
    CHECK(out == "line one\nhungry\n");
  }
  SECTION("overlapping values: every byte of each is masked, one *** for the whole overlap") {
    SecretMasker o({"abcdef", "cdXY", "bcde"});
    CHECK(o.mask("abcdef") == "***");
    CHECK(o.mask("abcdXY") == "ab***");
    CHECK(o.mask("xbcdef") == "x***f");
    CHECK(o.mask("abcdeabcdef!") == "a******!");  // two occurrences side by side: two ***
  }
  SECTION("a value inside another: the longer one is masked whole") {
    SecretMasker o({"abcdefgh", "cdef"});
    CHECK(o.mask("abcdefgh") == "***");
    CHECK(o.mask("[abcdefgh]") == "[***]");
    CHECK(o.mask("abcdefg") == "ab***g");
    CHECK(o.mask("cdefgh abcdefgh cdef") == "***gh *** ***");
    SecretMasker p({"cdef", "abcdefgh"});  // the order given does not matter
    CHECK(p.mask("abcdefgh") == "***");
    // Overlapping ones chain into one.
    SecretMasker q({"abcd", "cdef", "efgh"});
    CHECK(q.mask("xabcdefghx") == "x***x");
    CHECK(q.mask("aaaa") == "aaaa");
    SecretMasker r({"aaaa"});
    CHECK(r.mask("aaaaaa") == "***");
    for (size_t chunk = 1; chunk <= 5; ++chunk) {
      std::string text = "-abcdefgh-cdef-abcdefg-";
      std::string out;
      for (size_t i = 0; i < text.size(); i += chunk) o.feed(std::string_view(text).substr(i, chunk), out);
      o.flush(out);
      CHECK(out == "-***-***-ab***g-");
    }
  }
  SECTION("values inside values, hostile: linear") {
    std::vector<std::string> nested;
    for (size_t n = 4; n <= 1000; n += 4) nested.push_back(std::string(n, 'a'));
    SecretMasker a(nested);
    std::string out;
    fast([&] { out = a.mask(std::string(200000, 'a') + "b"); });
    CHECK(out == "***b");
  }
  SECTION("empty and hostile") {
    SecretMasker none({"", "ab"});
    CHECK(none.empty());
    CHECK(none.mask("ab") == "ab");
    SecretMasker a({std::string(1000, 'a') + "b"});
    std::string flood(200000, 'a');
    std::string out;
    fast([&] { out = a.mask(flood + "b"); });
    CHECK(out == std::string(199000, 'a') + "***");
  }
}
