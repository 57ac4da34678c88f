// RequestFramer over Beast's HTTP/1.1 parser. Beast reads the grammar (the
// request line, fields, chunked framing); this file adds what SPEC §12 asks
// beyond it: separate limits for the request line and the header lines,
// checked as the bytes come (a request line is refused once 8 KiB have come
// without its end, not when the whole header limit is reached), the
// Content-Length and Transfer-Encoding rules, and the body limit of the
// route the target names.
#include "request_framer.h"

// Boost's assertions in this file go through assertion_failed below: Beast
// 1.74 asserts `n >= 5` when the trailer after a last chunk (`0\r\n`) comes
// a byte at a time, though its parse is right there (the 5 is only needed
// when a chunk's CRLF leads the buffer, and then it holds). That one is let
// through; any other failed assertion aborts, as assert() would (in debug
// builds: with NDEBUG, as everywhere, Boost asserts nothing).
#define BOOST_ENABLE_ASSERT_DEBUG_HANDLER
#include <boost/assert.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {
void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  if (std::strcmp(expr, "n >= 5") == 0 && std::strstr(function, "parse_chunk_header")) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}
void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line) {
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}
}  // namespace boost

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <optional>

#include "api.h"

namespace baton::api {

namespace http = boost::beast::http;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one part of the target; `plus_space` for the query.
Result<std::string> decode(std::string_view s, bool plus_space, const char* what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return Error::invalid(std::string("the request ") + what + " holds a bad percent escape at byte " +
                              std::to_string(i) + " (allowed: % followed by two hex digits)");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
      if (c == '\0') return Error::invalid(std::string("the request ") + what + " holds an encoded NUL (%00)");
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    out += c;
  }
  return out;
}

}  // namespace

Result<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/')
    return Error::invalid("the request target must be a path starting with / (origin form), not \"" +
                          std::string(target.substr(0, 64)) + (target.size() > 64 ? "...\"" : "\""));
  for (unsigned char c : target)
    if (c < 0x21 || c == 0x7f) return Error::invalid("the request target holds a control byte or a space");
  size_t q = target.find('?');
  auto path = decode(target.substr(0, q), false, "path");
  if (!path) return path.error();
  std::vector<std::pair<std::string, std::string>> query;
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view piece = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (piece.empty()) continue;
      size_t eq = piece.find('=');
      auto name = decode(piece.substr(0, eq), true, "query");
      if (!name) return name.error();
      std::string value;
      if (eq != std::string_view::npos) {
        auto v = decode(piece.substr(eq + 1), true, "query");
        if (!v) return v.error();
        value = std::move(*v);
      }
      query.emplace_back(std::move(*name), std::move(value));
    }
  }
  return std::make_pair(std::move(*path), std::move(query));
}

struct RequestFramer::Impl {
  FramerLimits limits;
  std::string buf;  // bytes fed and not yet taken by the parser (the whole header until it is complete)
  size_t taken = 0;  // of buf, the bytes of the header the parser already took
  std::optional<http::request_parser<http::string_body>> parser;
  State state = State::idle;
  Refusal refused;
  // The header as far as scanned: where the request line ends, how many
  // lines came after it, how far the scan got.
  size_t scanned = 0, line_start = 0;
  std::optional<size_t> line_end, header_end;
  size_t lines = 0;
  size_t body_limit = 0;
  size_t header_fields = 0;  // of the request being read, to tell a trailer
  bool expect_continue = false;
  bool keep_alive = true;
  bool head = false;
  bool taken_keep_alive = true;  // of the request take() gave
  bool taken_head = false;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;

  void refuse(int status, std::string message) {
    state = State::refused;
    refused = {status, std::move(message)};
    buf.clear();
    parser.reset();
  }

  void start_request() {
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(limits.request_line + limits.header_bytes + 4));
    parser->body_limit(std::max(limits.body, limits.worker_body));
    parser->eager(false);
    scanned = line_start = taken = 0;
    line_end.reset();
    header_end.reset();
    lines = 0;
    expect_continue = false;
  }

  // The limits on the header, checked on the bytes before the parser has
  // the whole header (it only looks once it has all of it), so that a long
  // request line is refused after 8 KiB and not after the whole limit.
  bool scan_header() {
    for (; scanned < buf.size(); ++scanned) {
      if (buf[scanned] != '\n') continue;
      size_t len = scanned - line_start;
      if (len > 0 && buf[scanned - 1] == '\r') --len;
      line_start = scanned + 1;
      if (!line_end) {
        line_end = scanned;
        continue;
      }
      if (len == 0) {  // the empty line that ends the header
        header_end = scanned;
        break;
      }
      if (++lines > limits.header_lines) {
        refuse(431, "more than " + std::to_string(limits.header_lines) + " header lines (allowed: at most " +
                        std::to_string(limits.header_lines) + ")");
        return false;
      }
    }
    size_t first = line_end ? *line_end : buf.size();
    if (first > limits.request_line + 1) {  // +1: the CR before the LF
      refuse(414, "the request line is longer than " + std::to_string(limits.request_line / 1024) +
                      " KiB (allowed: at most " + std::to_string(limits.request_line) + " bytes)");
      return false;
    }
    size_t end = header_end ? *header_end : buf.size();
    if (line_end && end - *line_end > limits.header_bytes + 2) {
      refuse(431, "the header lines hold more than " + std::to_string(limits.header_bytes / 1024) +
                      " KiB (allowed: at most " + std::to_string(limits.header_bytes) + " bytes)");
      return false;
    }
    return true;
  }

  // The checks once the whole header is in.
  void check_header() {
    auto& req = parser->get();
    size_t fields = 0, content_lengths = 0, encodings = 0;
    for (auto& f : req) {
      ++fields;
      if (f.name() == http::field::content_length) ++content_lengths;
      if (f.name() == http::field::transfer_encoding) ++encodings;
    }
    if (fields > limits.header_lines)
      return refuse(431, "more than " + std::to_string(limits.header_lines) + " header lines");
    if (content_lengths > 1) return refuse(400, "two Content-Length headers (allowed: one)");
    if (content_lengths == 1 && req[http::field::content_length].find(',') != boost::string_view::npos)
      return refuse(400, "a list in Content-Length (allowed: one decimal number)");
    if (encodings > 0 && content_lengths > 0)
      return refuse(400, "Content-Length beside Transfer-Encoding (allowed: one of them)");
    if (encodings > 0 && !parser->chunked())
      return refuse(400, "Transfer-Encoding other than chunked (allowed: chunked)");
    auto target = req.target();
    auto parsed = parse_target(std::string_view(target.data(), target.size()));
    if (!parsed) return refuse(400, parsed.error().message);
    path = std::move(parsed->first);
    query = std::move(parsed->second);
    // The larger limit only for the three worker routes that carry logs and
    // checkpoints: any other path under /workers/ is a 404 and gets 1 MiB.
    std::string workers = std::string(kApiPrefix) + "/workers/";
    bool worker_route = path == workers + "claim" || path == workers + "heartbeat" || path == workers + "report";
    body_limit = worker_route ? limits.worker_body : limits.body;
    if (auto n = parser->content_length(); n && *n > body_limit)
      return refuse(413, "the request body is larger than " + std::to_string(body_limit >> 20) +
                             " MiB (allowed: at most " + std::to_string(body_limit) + " bytes)");
    auto expect = req[http::field::expect];
    bool has_body = parser->chunked() || parser->content_length().value_or(0) > 0;
    expect_continue = has_body && boost::beast::iequals(expect, "100-continue");
    header_fields = fields;
    keep_alive = req.keep_alive();
    head = req.method() == http::verb::head;
    state = parser->is_done() ? State::complete : State::body;
  }

  void step() {
    while (state == State::idle || state == State::header || state == State::body) {
      if (buf.empty()) return;
      boost::system::error_code ec;
      if (state == State::idle) {
        start_request();
        state = State::header;
      }
      if (state == State::header && !scan_header()) return;
      // Beast takes whole header lines as they come; the header's bytes stay
      // in buf until it is complete, for scan_header's offsets.
      size_t used = parser->put(boost::asio::buffer(buf.data() + taken, buf.size() - taken), ec);
      if (state == State::header) {
        taken += used;
      } else {
        buf.erase(0, used);
      }
      if (ec == http::error::need_more) {
        if (state == State::body && parser->get().body().size() > body_limit) break;
        // What the parser leaves in the body is a chunk's size line or the
        // trailer, which Beast does not bound: this does.
        if (state == State::body && buf.size() > limits.header_bytes)
          return refuse(400, "a chunk size line or trailer longer than " + std::to_string(limits.header_bytes / 1024) +
                                 " KiB (allowed: chunk sizes in hex, no trailer)");
        return;
      }
      if (ec == http::error::header_limit) {
        bool long_line = !line_end || *line_end > limits.request_line + 1;
        return refuse(long_line ? 414 : 431,
                      long_line ? "the request line is too long" : "the header lines hold too many bytes");
      }
      if (ec == http::error::body_limit) break;
      if (ec) return refuse(400, "malformed HTTP request: " + ec.message());
      if (state == State::header) {
        if (!parser->is_header_done()) return;
        buf.erase(0, taken);
        taken = 0;
        check_header();
        if (state == State::refused) return;
        parser->eager(true);
        continue;
      }
      if (parser->get().body().size() > body_limit) break;
      if (parser->is_done()) {
        // Beast adds a chunked body's trailer fields to the header's: they
        // would pass every check above (and a proxy's). None are taken.
        size_t fields = 0;
        for (auto it = parser->get().begin(); it != parser->get().end(); ++it) ++fields;
        if (fields != header_fields) return refuse(400, "trailer fields after a chunked body are not accepted");
        state = State::complete;
      }
      if (used == 0) return;
    }
    if (state == State::body)
      refuse(413, "the request body is larger than " + std::to_string(body_limit >> 20) + " MiB (allowed: at most " +
                      std::to_string(body_limit) + " bytes)");
  }
};

RequestFramer::RequestFramer(FramerLimits limits) : impl_(std::make_unique<Impl>()) { impl_->limits = limits; }
RequestFramer::~RequestFramer() = default;

void RequestFramer::feed(std::string_view bytes) {
  if (impl_->state == State::refused) return;
  impl_->buf.append(bytes.data(), bytes.size());
  impl_->step();
}

RequestFramer::State RequestFramer::state() const { return impl_->state; }
const Refusal& RequestFramer::refusal() const { return impl_->refused; }

bool RequestFramer::take_continue() {
  bool c = impl_->expect_continue && impl_->state == State::body;
  impl_->expect_continue = false;
  return c;
}

HttpRequest RequestFramer::take() {
  HttpRequest r;
  if (impl_->state != State::complete) return r;
  auto& req = impl_->parser->get();
  auto m = req.method_string();
  r.method.assign(m.data(), m.size());
  r.path = std::move(impl_->path);
  r.query = std::move(impl_->query);
  for (auto& f : req)
    if (f.name() == http::field::authorization) {
      if (r.authorization_count++ == 0) r.authorization = std::string(f.value().data(), f.value().size());
    }
  r.body = std::move(req.body());
  impl_->taken_keep_alive = impl_->keep_alive;
  impl_->taken_head = impl_->head;
  impl_->parser.reset();
  impl_->state = State::idle;
  impl_->step();
  return r;
}

size_t RequestFramer::buffered() const {
  size_t n = impl_->buf.size();
  if (impl_->parser) n += impl_->parser->get().body().size();
  return n;
}

bool RequestFramer::keep_alive() const { return impl_->taken_keep_alive; }
bool RequestFramer::head() const { return impl_->taken_head; }

}  // namespace baton::api
