// The request framer on its own: bytes in, requests or refusals out, with
// every limit of SPEC §12, and the same answer whatever way the bytes are cut.
#include <catch2/catch.hpp>

#include <string>

#include "request_framer.h"

using baton::api::HttpRequest;
using baton::api::parse_target;
using baton::api::RequestFramer;
using State = RequestFramer::State;

namespace {

// Feeds the bytes in pieces of `chunk` (0: all at once).
RequestFramer& feed(RequestFramer& f, const std::string& bytes, size_t chunk = 0) {
  if (chunk == 0) {
    f.feed(bytes);
    return f;
  }
  for (size_t i = 0; i < bytes.size(); i += chunk) f.feed(std::string_view(bytes).substr(i, chunk));
  return f;
}

std::string headers(int n, size_t value_size = 1) {
  std::string h;
  for (int i = 0; i < n; ++i) h += "X-H" + std::to_string(i) + ": " + std::string(value_size, 'v') + "\r\n";
  return h;
}

}  // namespace

TEST_CASE("a whole request comes out decoded, however the bytes are cut") {
  std::string bytes =
      "POST /api/v1/dags/d%20x/runs?state=ok&x=a+b%26c HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n"
      "Content-Length: 5\r\n\r\nhello";
  for (size_t chunk : {0, 1, 3, 7}) {
    RequestFramer f;
    feed(f, bytes, chunk);
    REQUIRE(f.state() == State::complete);
    HttpRequest r = f.take();
    CHECK(r.method == "POST");
    CHECK(r.path == "/api/v1/dags/d x/runs");
    REQUIRE(r.query.size() == 2);
    CHECK(r.query[1].second == "a b&c");
    CHECK(r.authorization == "Bearer t");
    CHECK(r.authorization_count == 1);
    CHECK(r.body == "hello");
    CHECK(f.keep_alive());
    CHECK(f.state() == State::idle);
  }
}

TEST_CASE("pipelined requests come out one after the other") {
  RequestFramer f;
  f.feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  REQUIRE(f.state() == State::complete);
  CHECK(f.take().path == "/a");
  CHECK(f.keep_alive());
  REQUIRE(f.state() == State::complete);
  CHECK(f.take().path == "/b");
  CHECK_FALSE(f.keep_alive());
}

TEST_CASE("chunked bodies are read") {
  RequestFramer f;
  feed(f, "PUT /api/v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 2);
  REQUIRE(f.state() == State::complete);
  CHECK(f.take().body == "abcde");
}

TEST_CASE("a request line over 8 KiB is refused with 414 as soon as 8 KiB came without its end") {
  RequestFramer f;
  f.feed("GET /" + std::string(9000, 'a'));  // no end of line yet
  REQUIRE(f.state() == State::refused);
  CHECK(f.refusal().status == 414);
  RequestFramer g;
  g.feed("GET /" + std::string(8000, 'a') + " HTTP/1.1\r\n\r\n");
  CHECK(g.state() == State::complete);
}

TEST_CASE("more than 100 header lines or 64 KiB of them get 431") {
  RequestFramer many;
  feed(many, "GET / HTTP/1.1\r\n" + headers(101), 100);
  REQUIRE(many.state() == State::refused);
  CHECK(many.refusal().status == 431);

  RequestFramer hundred;
  hundred.feed("GET / HTTP/1.1\r\n" + headers(100) + "\r\n");
  CHECK(hundred.state() == State::complete);

  RequestFramer big;  // 20 lines of 4 KiB: 80 KiB, fewer than 100 lines
  feed(big, "GET / HTTP/1.1\r\n" + headers(20, 4096), 1000);
  REQUIRE(big.state() == State::refused);
  CHECK(big.refusal().status == 431);
}

TEST_CASE("60,000 header lines of 8 KiB are refused within the first 64 KiB") {
  RequestFramer f;
  std::string line = "X: " + std::string(8192, 'v') + "\r\n";
  f.feed("GET / HTTP/1.1\r\n");
  int fed = 0;
  while (f.state() != State::refused && fed < 60000) {
    f.feed(line);
    ++fed;
  }
  CHECK(f.state() == State::refused);
  CHECK(f.refusal().status == 431);
  CHECK(fed <= 9);
}

TEST_CASE("Content-Length twice, as a list, or beside Transfer-Encoding gets 400") {
  for (std::string h : {"Content-Length: 3\r\nContent-Length: 3\r\n", "Content-Length: 3, 3\r\n",
                        "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                        "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                        "Transfer-Encoding: gzip\r\nContent-Length: 3\r\n", "Transfer-Encoding: gzip\r\n"}) {
    RequestFramer f;
    f.feed("POST /api/v1/x HTTP/1.1\r\n" + h + "\r\nabc");
    INFO(h);
    REQUIRE(f.state() == State::refused);
    CHECK(f.refusal().status == 400);
  }
}

TEST_CASE("a body over the route's limit gets 413 before it is read") {
  RequestFramer f;
  f.feed("POST /api/v1/dags/x/runs HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
  REQUIRE(f.state() == State::refused);
  CHECK(f.refusal().status == 413);
  // Whatever follows is never read as a request.
  f.feed("GET /api/v1/health HTTP/1.1\r\n\r\n");
  CHECK(f.state() == State::refused);

  RequestFramer worker;  // the worker endpoints take 8 MiB
  worker.feed("POST /api/v1/workers/report HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
  CHECK(worker.state() == State::body);

  RequestFramer chunked;  // no length given: counted as it comes
  chunked.feed("POST /api/v1/dags/x/runs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
  for (int i = 0; i < 20 && chunked.state() == State::body; ++i) chunked.feed(chunk);
  REQUIRE(chunked.state() == State::refused);
  CHECK(chunked.refusal().status == 413);
}

TEST_CASE("Expect: 100-continue is asked for once, only when a body comes") {
  RequestFramer f;
  f.feed("POST /api/v1/x HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  REQUIRE(f.state() == State::body);
  CHECK(f.take_continue());
  CHECK_FALSE(f.take_continue());
  f.feed("{}");
  CHECK(f.state() == State::complete);
}

TEST_CASE("malformed requests get 400 with what was wrong") {
  for (std::string bad : {"GET\r\n\r\n", "GET / HTTX/1.1\r\n\r\n", "GET http://x/ HTTP/1.1\r\n\r\n",
                          "GET /a%zz HTTP/1.1\r\n\r\n", "GET /a.txt%00.html HTTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nBad Header\r\n\r\n"}) {
    RequestFramer f;
    f.feed(bad);
    INFO(bad);
    REQUIRE(f.state() == State::refused);
    CHECK(f.refusal().status == 400);
    CHECK_FALSE(f.refusal().message.empty());
  }
}

TEST_CASE("HTTP/1.0 closes unless it asks for keep-alive; HEAD is known") {
  RequestFramer f;
  f.feed("HEAD / HTTP/1.0\r\n\r\n");
  REQUIRE(f.state() == State::complete);
  f.take();
  CHECK_FALSE(f.keep_alive());
  CHECK(f.head());
}

TEST_CASE("the target is split and decoded in one pass") {
  auto t = parse_target("/p%2Fq?a=1&&b&c=%41+B");
  REQUIRE(t);
  CHECK(t->first == "/p/q");
  REQUIRE(t->second.size() == 3);
  CHECK(t->second[1].first == "b");
  CHECK(t->second[1].second.empty());
  CHECK(t->second[2].second == "A B");
  CHECK_FALSE(parse_target("*"));
  CHECK_FALSE(parse_target("/%"));
  CHECK_FALSE(parse_target("/%4"));
  CHECK_FALSE(parse_target("/a?x=%00"));
  CHECK_FALSE(parse_target("/" + std::string(100000, '%')));
}

TEST_CASE("a trailer after a chunked body is refused: its fields never join the header's") {
  RequestFramer f;
  f.feed("GET /api/v1/dags HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: Bearer x\r\n\r\n");
  REQUIRE(f.state() == State::refused);
  CHECK(f.refusal().status == 400);
  RequestFramer plain;  // no trailer: fine
  plain.feed("POST /api/v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
  CHECK(plain.state() == State::complete);
}

TEST_CASE("an endless chunk size line or trailer is refused after 64 KiB") {
  for (std::string start : {"0\r\nX-A: ", "1;ext="}) {
    RequestFramer f;
    f.feed("POST /api/v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + start);
    std::string more(4096, 'a');
    int fed = 0;
    while (f.state() == State::body && fed < 1000) {
      f.feed(more);
      ++fed;
    }
    INFO(start);
    REQUIRE(f.state() == State::refused);
    CHECK(f.refusal().status == 400);
    CHECK(fed <= 17);
    CHECK(f.buffered() == 0);
  }
}

TEST_CASE("only the three worker routes take 8 MiB bodies") {
  RequestFramer other;
  other.feed("POST /api/v1/workers/nope HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
  REQUIRE(other.state() == State::refused);
  CHECK(other.refusal().status == 413);
  for (std::string route : {"claim", "heartbeat", "report"}) {
    RequestFramer f;
    f.feed("POST /api/v1/workers/" + route + " HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
    CHECK(f.state() == State::body);
    CHECK(f.buffered() == 0);
    f.feed(std::string(1000, 'x'));
    CHECK(f.buffered() == 1000);
  }
}
