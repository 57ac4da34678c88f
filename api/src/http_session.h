// HttpSession: one client connection of the API server. It reads bytes into
// a RequestFramer, arms the deadlines of SPEC §12 (the whole header within
// 10 s, nothing on a kept-alive connection for 30 s, a body within 60 s, an
// answer written within 60 s), hands each whole request to the Responder and
// writes its answer. It holds no thread: every step is an asynchronous
// operation on the connection's strand, and the Responder answers from
// whatever thread it likes. Included only by the server's own files.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http.h"
#include "request_framer.h"

namespace baton::api {

struct SessionTimeouts {
  std::chrono::milliseconds header{10'000};  // from the request's first byte (or the connection's start)
  std::chrono::milliseconds idle{30'000};    // kept alive with nothing sent
  std::chrono::milliseconds body{60'000};
  std::chrono::milliseconds write{60'000};
};

// What answers a request. respond() may answer at once or later, from any
// thread, by calling `answer` exactly once.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void respond(HttpRequest request, std::function<void(HttpResponse)> answer) = 0;
};

// What the server counts over its connections: how many are open, and how
// many are writing an answer (stop() lets those finish).
struct SessionCounters {
  std::atomic<int> open{0};
  std::atomic<int> answering{0};         // requests taken whose answer is not written yet
  std::atomic<long long> buffered{0};    // bytes of requests being read, over all connections
  long long buffered_budget = 256 << 20;  // over it, a connection that adds more is refused (503)
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, Responder& responder, SessionTimeouts timeouts,
              FramerLimits limits, std::shared_ptr<SessionCounters> counters);
  ~HttpSession();
  void start();
  // Closes the connection now (server stop, eviction). On the io thread.
  void shutdown();
  // Reading a request or waiting for one, not answering one: may be closed
  // to make room. On the io thread.
  bool evictable() const { return phase_ == Phase::reading; }

 private:
  enum class Phase { reading, responding, writing, closed };

  void read();
  void on_read(const boost::system::error_code& ec, size_t n);
  void advance();  // acts on the framer's state
  void respond();
  void write(HttpResponse response, bool close_after, bool head = false);
  void write_continue();
  void arm(std::chrono::milliseconds after);
  void disarm();
  void watch_peer();  // while answering: notices a client that went away
  void count_buffered();
  void answered();
  void linger();
  void drain(size_t dropped);

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  Responder& responder_;
  std::shared_ptr<SessionCounters> counters_;
  SessionTimeouts timeouts_;
  RequestFramer framer_;
  std::array<char, 8 * 1024> buffer_{};
  std::string out_head_, out_body_;
  std::string remote_;
  Phase phase_ = Phase::reading;
  bool reading_ = false;       // a read is outstanding
  bool first_ = true;          // the connection's first request: its header deadline runs from the start
  bool answering_ = false;     // counted in counters_->answering
  long long counted_ = 0;      // this connection's share of counters_->buffered
  std::shared_ptr<std::atomic<bool>> gone_;  // the client of the request being answered went away
  bool linger_ = false;        // a refusal was answered: drop what comes, then close
  bool in_body_ = false;       // the body deadline is armed for the request being read
  unsigned long long deadline_generation_ = 0;
};

// The status line's reason phrase and the serialized head of an answer.
std::string response_head(const HttpResponse& response, size_t content_length, bool keep_alive);

}  // namespace baton::api
