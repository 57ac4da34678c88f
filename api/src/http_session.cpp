// HttpSession: reads, deadlines and writes of one connection (see the
// header). Everything here runs on the connection's strand; the Responder's
// answer is posted back to it.
#include "http_session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>

#include <chrono>

namespace baton::api {

namespace asio = boost::asio;

namespace {

// The error code of the JSON body for a status the framer refused with.
const char* refusal_code(int status) {
  switch (status) {
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 431:
      return "header_fields_too_large";
    default:
      return "invalid_argument";
  }
}

// What the linger after a refusal reads and drops at most: the rest of a
// body twice the largest allowed (a 2 MiB body to a 1 MiB route, a 9 MiB
// report), so that a client still sending it sees the answer instead of a
// reset. Bounded (and by 2 s) so that one hostile client cannot keep the one
// I/O thread reading.
constexpr size_t kLingerBytes = 2 * kMaxWorkerBodyBytes;

bool safe_header_text(const std::string& s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

}  // namespace

std::string response_head(const HttpResponse& response, size_t content_length, bool keep_alive) {
  auto reason = boost::beast::http::obsolete_reason(boost::beast::http::int_to_status(static_cast<unsigned>(response.status)));
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " ";
  head.append(reason.data(), reason.size());
  head += "\r\n";
  bool bodiless = response.status < 200 || response.status == 204 || response.status == 304;
  if (!response.content_type.empty() && !bodiless) head += "Content-Type: " + response.content_type + "\r\n";
  for (auto& [name, value] : response.headers)
    if (safe_header_text(name) && safe_header_text(value)) head += name + ": " + value + "\r\n";
  if (!bodiless) head += "Content-Length: " + std::to_string(content_length) + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

HttpSession::HttpSession(asio::ip::tcp::socket socket, Responder& responder, SessionTimeouts timeouts,
                         FramerLimits limits, std::shared_ptr<SessionCounters> counters)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      responder_(responder),
      counters_(std::move(counters)),
      timeouts_(timeouts),
      framer_(limits) {
  ++counters_->open;
}

HttpSession::~HttpSession() {
  --counters_->open;
  counters_->buffered -= counted_;
  answered();
}

void HttpSession::start() {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string();
  // Only the peek in watch_peer() is synchronous: it must never block the
  // io thread.
  socket_.non_blocking(true, ec);
  // A new connection has the header deadline from its start: a client that
  // connects and sends nothing is let go after 10 s.
  arm(timeouts_.header);
  read();
}

void HttpSession::read() {
  if (reading_ || phase_ != Phase::reading) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                             size_t n) { self->on_read(ec, n); });
}

void HttpSession::on_read(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (ec || phase_ == Phase::closed) return shutdown();
  bool was_idle = framer_.state() == RequestFramer::State::idle;
  framer_.feed(std::string_view(buffer_.data(), n));
  // A kept-alive connection's next request has 10 s from its first byte;
  // the first request's 10 s run from the connection's start.
  if (was_idle && !first_ && framer_.state() != RequestFramer::State::idle) arm(timeouts_.header);
  count_buffered();
  if (counters_->buffered.load() > counters_->buffered_budget && framer_.state() != RequestFramer::State::complete &&
      framer_.state() != RequestFramer::State::refused) {
    linger_ = true;
    return write(error_response(503, "unavailable",
                                "the server holds too many request bodies being sent: try again in a moment"),
                 true);
  }
  advance();
}

void HttpSession::advance() {
  if (phase_ != Phase::reading) return;
  switch (framer_.state()) {
    case RequestFramer::State::idle:
    case RequestFramer::State::header:
      return read();
    case RequestFramer::State::body:
      if (!in_body_) {
        in_body_ = true;
        arm(timeouts_.body);
      }
      if (framer_.take_continue()) return write_continue();
      return read();
    case RequestFramer::State::complete:
      return respond();
    case RequestFramer::State::refused: {
      const Refusal& r = framer_.refusal();
      linger_ = true;
      return write(error_response(r.status, refusal_code(r.status), r.message), true);
    }
  }
}

void HttpSession::write_continue() {
  static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  phase_ = Phase::writing;
  asio::async_write(socket_, asio::buffer(kContinue),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      if (ec || self->phase_ == Phase::closed) return self->shutdown();
                      self->phase_ = Phase::reading;
                      self->read();
                    });
}

void HttpSession::respond() {
  phase_ = Phase::responding;
  in_body_ = false;
  first_ = false;
  disarm();  // a long poll takes as long as it takes
  HttpRequest request = framer_.take();
  count_buffered();
  request.remote_address = remote_;
  request.received_at = std::chrono::steady_clock::now();
  gone_ = std::make_shared<std::atomic<bool>>(false);
  request.client_gone = gone_;
  answering_ = true;
  ++counters_->answering;
  watch_peer();
  bool head = framer_.head();
  bool keep_alive = framer_.keep_alive();
  responder_.respond(std::move(request), [self = shared_from_this(), head, keep_alive](HttpResponse response) {
    asio::post(self->socket_.get_executor(), [self, head, keep_alive, response = std::move(response)]() mutable {
      self->write(std::move(response), !keep_alive, head);
    });
  });
}

// The connection's part of the bytes held for requests being read.
void HttpSession::count_buffered() {
  long long now = phase_ == Phase::closed ? 0 : static_cast<long long>(framer_.buffered());
  counters_->buffered += now - counted_;
  counted_ = now;
}

void HttpSession::answered() {
  if (!answering_) return;
  answering_ = false;
  --counters_->answering;
}

// While a request is answered nothing is read: a client that closes its end
// would go unnoticed until the answer is written (a minute for a long poll,
// and a parked claim would take a try for a worker that is gone). A wait
// for readability catches it: at the end of the stream the request is
// marked gone, so a parked poll is dropped at its next look. The answer is
// still written (a client that only shut down its sending side still gets
// it); the connection closes after it. Bytes of a next request (pipelining)
// end the watch; they are read after the answer.
void HttpSession::watch_peer() {
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this(), gone = gone_](const boost::system::error_code& ec) {
                       if (ec || self->phase_ != Phase::responding || self->gone_ != gone) return;
                       char c;
                       boost::system::error_code rec;
                       size_t n = self->socket_.receive(asio::buffer(&c, 1), asio::socket_base::message_peek, rec);
                       if (rec == asio::error::would_block || rec == asio::error::try_again) return self->watch_peer();
                       if (rec || n == 0) gone->store(true);
                     });
}

void HttpSession::write(HttpResponse response, bool close_after, bool head) {
  if (phase_ == Phase::closed) return answered();
  phase_ = Phase::writing;
  out_body_ = head ? std::string() : std::move(response.body);
  out_head_ = response_head(response, head ? response.body.size() : out_body_.size(), !close_after);
  arm(timeouts_.write);
  std::array<asio::const_buffer, 2> buffers = {asio::buffer(out_head_), asio::buffer(out_body_)};
  asio::async_write(socket_, buffers,
                    [self = shared_from_this(), close_after](const boost::system::error_code& ec, size_t) {
                      self->answered();
                      self->out_head_.clear();
                      self->out_body_.clear();
                      if (!ec && self->linger_ && self->phase_ != Phase::closed) return self->linger();
                      if (ec || close_after || self->phase_ == Phase::closed) return self->shutdown();
                      self->phase_ = Phase::reading;
                      // Nothing of a next request yet: the idle deadline.
                      if (self->framer_.state() == RequestFramer::State::idle) self->arm(self->timeouts_.idle);
                      else self->arm(self->timeouts_.header);
                      self->advance();
                    });
}

// After a refusal the client may still be sending what was refused: closing
// with unread bytes would reset the connection, and the client might lose the
// answer. Stop sending, read and drop what comes for a little while (2 s,
// kLingerBytes), close.
void HttpSession::linger() {
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return shutdown();
  arm(std::chrono::seconds(2));
  drain(0);
}

void HttpSession::drain(size_t dropped) {
  if (phase_ == Phase::closed) return;
  if (dropped > kLingerBytes) return shutdown();
  socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this(), dropped](
                                                     const boost::system::error_code& ec, size_t n) {
    if (ec) return self->shutdown();
    self->drain(dropped + n);
  });
}

void HttpSession::arm(std::chrono::milliseconds after) {
  unsigned long long generation = ++deadline_generation_;
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
    if (ec || generation != self->deadline_generation_) return;
    self->shutdown();
  });
}

void HttpSession::disarm() {
  ++deadline_generation_;
  timer_.cancel();
}

void HttpSession::shutdown() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  count_buffered();
  ++deadline_generation_;
  boost::system::error_code ec;
  timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace baton::api
