// ApiServer: Boost.Beast's parser and Asio in front of Api (DESIGN.md: the
// api module). One thread runs the io_context: it accepts connections and
// does every read, write and deadline of every connection (HttpSession), so
// an idle, slow or long-polling connection holds no thread. Whole requests go
// to a pool of `threads` handler threads, since handlers read the store and
// may block on it. A long poll whose handler has nothing yet is parked here:
// no thread waits for it; a wake-up (Api::on_wake) or its own timer hands it
// to the pool again. Long polls of one group (HttpResponse::poll_group:
// claims of one set of queues) are alike, so a wake-up hands on only the one
// of each group parked longest; it wakes the next of its group when it took
// all it asked for (wake_next), or when its client has gone.
#include "baton/api/server.h"

#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "api.h"
#include "baton/web/assets.h"
#include "http.h"
#include "http_session.h"
#include "static_files.h"

namespace baton::api {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// At most this many connections are open: a connection costs a file
// descriptor and a few KiB. When a new one comes beyond it, the oldest
// connection that is reading (idle, or sending its header) is closed to
// make room, so that a flood of idle connections cannot lock others out.
constexpr int kMaxConnections = 10'000;
// Descriptors kept for everything else (database, logs, task pipes).
constexpr int kReservedFiles = 256;

// Lets this process open as many files as its hard limit allows (every
// connection is a descriptor) and answers how many connections fit.
int raise_open_files_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return kMaxConnections;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  if (r.rlim_cur == RLIM_INFINITY) return kMaxConnections;
  long long fit = static_cast<long long>(r.rlim_cur) - kReservedFiles;
  return static_cast<int>(std::clamp<long long>(fit, 16, kMaxConnections));
}

bool is_api_path(const std::string& path) { return path.rfind(std::string(kApiPrefix) + "/", 0) == 0; }

// Every answer outside the API (the UI's files, built in or from web_dir):
// scripts only from this server, no framing, no sniffing.
void add_page_headers(HttpResponse& r) {
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                         "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
}

}  // namespace

struct ApiServer::Impl : Responder {
  // A long poll waiting for its next look.
  struct Parked {
    HttpRequest request;
    std::function<void(HttpResponse)> answer;
    asio::steady_timer timer;
    std::string group;   // HttpResponse::poll_group
    bool woken = false;  // handed on by a wake-up, not by its timer
    Parked(HttpRequest r, std::function<void(HttpResponse)> a, asio::io_context& io, std::string g)
        : request(std::move(r)), answer(std::move(a)), timer(io), group(std::move(g)) {}
  };

  Api api;
  ApiOptions options;
  std::mutex mu;  // guards the lifecycle (start, stop)
  bool started = false;
  bool ever_started = false;
  std::atomic<bool> stopping{false};
  std::atomic<int> port{0};
  std::unique_ptr<asio::io_context> io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> accept_retry;
  std::unique_ptr<asio::thread_pool> pool;
  // Keeps io->run() going while answers are still being made, also when no
  // connection has an operation pending.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> io_work;
  std::thread io_thread;
  int max_connections = kMaxConnections;
  // Every connection, oldest first (io thread only): whom to close to make room.
  std::list<std::weak_ptr<HttpSession>> sessions;
  std::shared_ptr<SessionCounters> counters = std::make_shared<SessionCounters>();
  SessionTimeouts timeouts;
  FramerLimits limits;

  std::mutex parked_mu;  // guards parked
  // The parked long polls by group, longest parked first; "" holds those
  // without a group (each wake-up hands all of them on).
  std::map<std::string, std::list<std::shared_ptr<Parked>>> parked;

  Impl(store::Store& s, scheduler::Control& c, const Clock& clock, ApiOptions o)
      : api(s, c, clock, o.metrics_public, o.claim_recheck), options(std::move(o)) {}

  // ---- answering (Responder) ----

  void respond(HttpRequest request, std::function<void(HttpResponse)> answer) override {
    if (stopping) return answer(error_response(503, "unavailable", "the server is stopping"));
    asio::post(*pool, [this, request = std::move(request), answer = std::move(answer)]() mutable {
      run(std::move(request), std::move(answer), std::string());
    });
  }

  // A parked poll, taken off `parked`, asks its handler again on the pool.
  void again(const std::shared_ptr<Parked>& p) {
    api.count_parked(-1);
    if (stopping) return p->answer(error_response(503, "unavailable", "the server is stopping"));
    asio::post(*pool, [this, p] { run(std::move(p->request), std::move(p->answer), p->woken ? p->group : ""); });
  }

  HttpResponse route(const HttpRequest& req) const {
    bool page = !is_api_path(req.path) && (req.method == "GET" || req.method == "HEAD");
    if (page) {
      std::optional<HttpResponse> found;
      if (options.web_dir.empty()) {
        if (const web::Asset* a = web::find_asset(req.path)) {
          HttpResponse r;
          r.body.assign(a->body.data(), a->body.size());
          r.content_type = std::string(a->content_type);
          // The UI's files change with the binary: the browser asks again on
          // every load (they are small, and served from memory).
          r.headers.emplace_back("Cache-Control", "no-cache");
          found = std::move(r);
        }
      } else {
        found = serve_static(options.web_dir, req.path);
      }
      HttpResponse r = found ? std::move(*found) : api.handle(req);
      add_page_headers(r);
      return r;
    }
    return api.handle(req);
  }

  // On a pool thread: asks the handler, and answers or parks the request.
  // `woken_group`: the group of a parked poll a wake-up handed on.
  void run(HttpRequest request, std::function<void(HttpResponse)> answer, const std::string& woken_group) {
    // The client went away while its long poll was parked: nobody to answer,
    // and a claim now would take tries for a worker that is gone. Its
    // wake-up goes to the next one of its group.
    if (request.client_gone && request.client_gone->load()) {
      if (!woken_group.empty()) wake_next(woken_group);
      return answer(error_response(499, "canceled", "the client closed the connection"));
    }
    unsigned long long seen = api.wake_generation();
    HttpResponse r;
    try {
      r = route(request);
    } catch (const std::exception& e) {
      r = error_response(500, "internal", std::string("internal error: ") + e.what());
    } catch (...) {
      r = error_response(500, "internal", "internal error");
    }
    if (r.wake_next && !r.poll_group.empty()) {
      wake_next(r.poll_group);
    } else if (!woken_group.empty() && r.status >= 400 && !r.poll_again_at) {
      // A woken poll that failed (the database, its token) took nothing:
      // its wake-up goes to the next one of its group.
      wake_next(woken_group);
    }
    if (!r.poll_again_at || stopping) {
      r.poll_again_at.reset();
      return answer(std::move(r));
    }
    park(std::move(request), std::move(answer), seen, *r.poll_again_at, std::move(r.poll_group));
  }

  void park(HttpRequest request, std::function<void(HttpResponse)> answer, unsigned long long seen,
            std::chrono::steady_clock::time_point at, std::string group) {
    auto p = std::make_shared<Parked>(std::move(request), std::move(answer), *io, std::move(group));
    {
      std::lock_guard lock(parked_mu);
      // A wake-up since the handler looked: look again at once.
      if (api.wake_generation() == seen && !stopping) {
        parked[p->group].push_back(p);
        api.count_parked(1);
        p->timer.expires_at(at);
        p->timer.async_wait([this, p](const boost::system::error_code&) { resume(p); });
        return;
      }
    }
    respond(std::move(p->request), std::move(p->answer));
  }

  // The timer of a parked poll fired (or was canceled by a wake-up that
  // took it off `parked` already).
  void resume(const std::shared_ptr<Parked>& p) {
    {
      std::lock_guard lock(parked_mu);
      auto g = parked.find(p->group);
      if (g == parked.end()) return;  // already handed on
      auto it = std::find(g->second.begin(), g->second.end(), p);
      if (it == g->second.end()) return;
      g->second.erase(it);
      if (g->second.empty()) parked.erase(g);
    }
    again(p);
  }

  // Hands on parked polls a wake-up took off `parked` (io thread).
  void hand_on(const std::vector<std::shared_ptr<Parked>>& woken) {
    for (auto& p : woken) {
      p->woken = true;
      p->timer.cancel();  // its resume() finds it gone
      again(p);
    }
  }

  // A wake-up (a try was queued): the longest parked poll of each group
  // looks again, and every poll without a group.
  void wake() {
    if (!io) return;
    asio::post(*io, [this] {
      std::vector<std::shared_ptr<Parked>> woken;
      {
        std::lock_guard lock(parked_mu);
        for (auto g = parked.begin(); g != parked.end();) {
          auto& list = g->second;
          if (g->first.empty()) {
            woken.insert(woken.end(), list.begin(), list.end());
            list.clear();
          } else {
            woken.push_back(list.front());
            list.pop_front();
          }
          g = list.empty() ? parked.erase(g) : std::next(g);
        }
      }
      hand_on(woken);
    });
  }

  // The next parked poll of `group` looks again: one of its group answered
  // with all it asked for, or was woken for a client that has gone.
  void wake_next(const std::string& group) {
    if (!io) return;
    asio::post(*io, [this, group] {
      std::vector<std::shared_ptr<Parked>> woken;
      {
        std::lock_guard lock(parked_mu);
        auto g = parked.find(group);
        if (g == parked.end()) return;
        woken.push_back(g->second.front());
        g->second.pop_front();
        if (g->second.empty()) parked.erase(g);
      }
      hand_on(woken);
    });
  }

  // ---- connections ----

  void accept() {
    acceptor->async_accept(asio::make_strand(*io), [this](const boost::system::error_code& ec, tcp::socket socket) {
      if (!acceptor->is_open() || ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors or memory: try again shortly, and meanwhile
        // let the open connections finish.
        accept_retry->expires_after(std::chrono::milliseconds(50));
        accept_retry->async_wait([this](const boost::system::error_code& e) {
          if (!e && acceptor->is_open()) accept();
        });
        return;
      }
      if (counters->open.load() >= max_connections) make_room();
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // answers go out at once
      // Not make_shared: the registry's weak_ptr must not keep a closed
      // session's memory.
      std::shared_ptr<HttpSession> session(new HttpSession(std::move(socket), *this, timeouts, limits, counters));
      if (sessions.size() > 2 * static_cast<size_t>(counters->open.load()) + 64)
        sessions.remove_if([](const std::weak_ptr<HttpSession>& w) { return w.expired(); });
      sessions.push_back(session);
      session->start();
      accept();
    });
  }

  // Closes the oldest connection that is only reading (io thread), and
  // forgets the closed ones on the way.
  void make_room() {
    for (auto it = sessions.begin(); it != sessions.end();) {
      auto session = it->lock();
      if (!session) {
        it = sessions.erase(it);
        continue;
      }
      if (session->evictable()) {
        session->shutdown();
        sessions.erase(it);
        return;
      }
      ++it;
    }
  }

  Status start() {
    std::lock_guard lock(mu);
    if (started || ever_started) return Error{"conflict", "the API server was already started"};
    ever_started = true;
    if (!options.web_dir.empty()) {
      if (auto ok = check_web_dir(options.web_dir); !ok) return ok;
    }
    max_connections = raise_open_files_limit();
    io = std::make_unique<asio::io_context>(1);
    std::string where = options.host + ":" + std::to_string(options.port);
    try {
      tcp::resolver resolver(*io);
      auto found = resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive);
      if (found.empty()) return Error{"unavailable", "cannot listen on " + where + ": no such address"};
      tcp::endpoint ep = *found.begin();
      acceptor = std::make_unique<tcp::acceptor>(*io);
      acceptor->open(ep.protocol());
      acceptor->set_option(asio::socket_base::reuse_address(true));
      acceptor->bind(ep);
      acceptor->listen(asio::socket_base::max_listen_connections);
      port = acceptor->local_endpoint().port();
    } catch (const boost::system::system_error& e) {
      acceptor.reset();
      io.reset();
      return Error{"unavailable", "cannot listen on " + where + ": " + e.code().message()};
    }
    accept_retry = std::make_unique<asio::steady_timer>(*io);
    pool = std::make_unique<asio::thread_pool>(static_cast<size_t>(std::max(1, options.threads)));
    api.on_wake([this] { wake(); });
    io_work.emplace(asio::make_work_guard(*io));
    accept();
    io_thread = std::thread([this] { io->run(); });
    started = true;
    return {};
  }

  void stop() {
    std::lock_guard lock(mu);
    if (!started) return;
    api.on_wake({});  // no wake-up reaches the io_context from here on
    stopping = true;
    api.begin_stop();  // long polls answer at once
    asio::post(*io, [this] {
      boost::system::error_code ignored;
      acceptor->close(ignored);
      accept_retry->cancel();
    });
    // The parked polls look once more, see the server stopping and answer.
    std::vector<std::shared_ptr<Parked>> all;
    {
      std::lock_guard plock(parked_mu);
      for (auto& [_, list] : parked) all.insert(all.end(), list.begin(), list.end());
      parked.clear();
    }
    api.count_parked(-static_cast<int>(all.size()));
    for (auto& p : all) {
      asio::post(*io, [p] { p->timer.cancel(); });
      asio::post(*pool, [this, p] { run(std::move(p->request), std::move(p->answer), std::string()); });
    }
    pool->join();  // every request being handled has its answer
    all.clear();
    // Let the answers go out (two seconds at most), then close everything.
    for (int i = 0; i < 200 && counters->answering.load() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    io_work.reset();
    io->stop();
    if (io_thread.joinable()) io_thread.join();
    pool.reset();  // requests queued after the join: dropped, while the io_context lives
    sessions.clear();
    accept_retry.reset();
    acceptor.reset();
    io.reset();  // closes every connection
    started = false;
  }
};

ApiServer::ApiServer(store::Store& store, scheduler::Control& control, const Clock& clock, ApiOptions options)
    : impl_(std::make_unique<Impl>(store, control, clock, std::move(options))) {}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start() { return impl_->start(); }

void ApiServer::stop() { impl_->stop(); }

int ApiServer::port() const { return impl_->port; }

}  // namespace baton::api
