// RequestFramer: the bytes of one connection in, whole HTTP/1.1 requests out,
// with every limit of SPEC §12 checked while the bytes arrive. It knows no
// socket and no clock: the connection (http_session.cpp) reads, arms the
// deadlines and writes; this class only decides. That keeps the part a
// hostile client talks to small enough to fuzz (tests/fuzz/http_fuzz.cpp)
// and to test byte by byte.
//
// The limits: a request line over 8 KiB is refused with 414; more than 100
// header lines, or more than 64 KiB of them, with 431; a body over the
// route's limit (1 MiB; 8 MiB for the worker routes claim, heartbeat and
// report) with 413, without reading it; two Content-Length headers, a list in
// one, or Content-Length beside Transfer-Encoding, or a Transfer-Encoding
// other than chunked, a chunk size line or trailer over 64 KiB, or any
// trailer field, with 400. Every refusal closes the connection: the next request is never read
// from what is left of a refused one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "http.h"

namespace baton::api {

struct FramerLimits {
  size_t request_line = 8 * 1024;
  size_t header_lines = 100;
  size_t header_bytes = 64 * 1024;  // the header lines, without the request line
  size_t body = kMaxBodyBytes;
  size_t worker_body = kMaxWorkerBodyBytes;  // under /api/v1/workers/
};

// A request the framer refused: the status (400, 405, 413, 414, 431) and
// what was wrong, in words.
struct Refusal {
  int status = 400;
  std::string message;
};

class RequestFramer {
 public:
  enum class State {
    idle,         // nothing of the next request yet
    header,       // part of a header
    body,         // the header is in; reading the body
    complete,     // a whole request: take() it
    refused,      // refusal(): answer it and close the connection
  };

  explicit RequestFramer(FramerLimits limits = {});
  ~RequestFramer();
  RequestFramer(const RequestFramer&) = delete;
  RequestFramer& operator=(const RequestFramer&) = delete;

  // Takes bytes read from the connection. Bytes after a complete request
  // (a pipelined next one) are kept for after take().
  void feed(std::string_view bytes);
  State state() const;
  const Refusal& refusal() const;

  // The header asked for `Expect: 100-continue` and the body is within its
  // limit: the client waits for an interim 100 before it sends the body.
  // True once per request; the connection sends the 100 and goes on reading.
  bool take_continue();

  // The complete request, percent-decoded; the framer then starts on the
  // next one (with any bytes already fed). Only in state complete.
  HttpRequest take();
  // The bytes held for the request being read (its body so far and what is
  // not parsed yet): the server bounds their sum over all connections.
  size_t buffered() const;
  // Whether the connection stays open after answering the request take()
  // gave: HTTP/1.1 without `Connection: close`, or HTTP/1.0 with keep-alive.
  bool keep_alive() const;
  // The taken request was HEAD: answer without a body.
  bool head() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The request target (origin form `/path?query`) split and percent-decoded:
// the path without the query (`%2F` becomes `/`), the query as name and
// value pairs (`+` is a space). A target that is not origin form, or holds a
// bad escape or a NUL, is refused with a message. Linear in its length.
Result<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> parse_target(std::string_view target);

}  // namespace baton::api
