// ApiServer: cpp-httplib in front of Api. Everything HTTP-specific lives here:
// the thread pool, the body limit (counted while reading, so that chunked and
// compressed bodies are bounded too), static files, and the JSON error body
// for errors the HTTP library answers on its own (unknown methods, 413, ...).
#include "baton/api/server.h"

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "api.h"
#include "baton/web/assets.h"
#include "http.h"

namespace baton::api {

namespace {

void copy_response(const HttpResponse& from, httplib::Response& to) {
  to.status = from.status;
  for (auto& [k, v] : from.headers) to.set_header(k, v);
  if (!from.content_type.empty()) to.set_content(from.body, from.content_type);
}

bool known_method(const std::string& m) {
  for (const char* k : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    if (m == k) return true;
  return false;
}

}  // namespace

struct ApiServer::Impl {
  Api api;
  ApiOptions options;
  httplib::Server http;
  std::mutex mu;  // guards thread and started
  std::thread thread;
  bool started = false;
  bool ever_started = false;
  std::atomic<bool> listening_done{false};
  std::atomic<int> port{0};

  Impl(store::Store& s, scheduler::Control& c, const Clock& clock, ApiOptions o)
      : api(s, c, clock, o.metrics_public), options(std::move(o)) {}

  HttpRequest convert(const httplib::Request& req) const {
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    for (auto& [k, v] : req.params) r.query.emplace_back(k, v);
    r.authorization_count = static_cast<int>(req.get_header_value_count("Authorization"));
    if (r.authorization_count > 0) r.authorization = req.get_header_value("Authorization");
    return r;
  }

  // The UI's files change with the binary: the browser asks again on every
  // load (they are small, and served from memory).
  static void serve_asset(const web::Asset& a, httplib::Response& res) {
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_content(a.body.data(), a.body.size(), std::string(a.content_type));
  }

  void serve(const httplib::Request& req, httplib::Response& res) { copy_response(api.handle(convert(req)), res); }

  // Bodies are read here, counting every byte after decompression: the
  // library's own limit checks only Content-Length.
  void serve_with_body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    HttpRequest r = convert(req);
    // Without Content-Length or Transfer-Encoding a request has no body
    // (RFC 9112 §6.3); the library would otherwise wait for the peer to close.
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      copy_response(api.handle(r), res);
      return;
    }
    bool too_large = false;
    size_t limit = req.path.rfind(std::string(kApiPrefix) + "/workers/", 0) == 0 ? kMaxWorkerBodyBytes : kMaxBodyBytes;
    bool ok = reader([&](const char* data, size_t n) {
      if (r.body.size() + n > limit) {
        too_large = true;
        return false;
      }
      r.body.append(data, n);
      return true;
    });
    if (too_large || res.status == 413) {
      // What is left of the body is not read; the library's keep-alive
      // limit (5 requests) bounds what a client that goes on sending costs.
      copy_response(default_error(413, req.method, req.path), res);
      return;
    }
    if (!ok) {
      copy_response(error_response(400, "invalid_argument", "could not read the request body"), res);
      return;
    }
    copy_response(api.handle(r), res);
  }

  Status start() {
    std::lock_guard lock(mu);
    // httplib::Server keeps its routes and mount points: one start per object.
    if (started || ever_started) return Error{"conflict", "the API server was already started"};
    ever_started = true;
    int threads = std::max(1, options.threads);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    http.set_payload_max_length(kMaxWorkerBodyBytes);  // per route in serve_with_body
    http.set_tcp_nodelay(true);  // answers on kept-alive connections go out at once
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) -> httplib::Server::HandlerResponse {
          // Our own errors already carry their JSON body.
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          int status = res.status;
          if (status == 400 && !known_method(req.method)) status = 405;
          copy_response(default_error(status, req.method, req.path), res);
          return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what += std::string(": ") + e.what();
      } catch (...) {
      }
      copy_response(error_response(500, "internal", what), res);
    });
    if (!options.web_dir.empty() && !http.set_mount_point("/", options.web_dir))
      return Error::invalid("web_dir \"" + options.web_dir + "\" is not a directory");

    // API requests without a body are answered before the static files are
    // looked at: nothing in web_dir can shadow a route.
    http.set_pre_routing_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) -> httplib::Server::HandlerResponse {
          bool api_path = req.path.rfind(std::string(kApiPrefix) + "/", 0) == 0;
          bool bodiless = req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS";
          if (!api_path && options.web_dir.empty() && (req.method == "GET" || req.method == "HEAD")) {
            if (const web::Asset* a = web::find_asset(req.path)) {
              serve_asset(*a, res);
              return httplib::Server::HandlerResponse::Handled;
            }
          }
          if (!api_path || !bodiless) return httplib::Server::HandlerResponse::Unhandled;
          serve(req, res);
          return httplib::Server::HandlerResponse::Handled;
        }));
    // Every answer outside the API (the UI's files, built in or from
    // web_dir): scripts only from this server, no framing, no sniffing.
    http.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.path.rfind(std::string(kApiPrefix) + "/", 0) == 0) return;
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                     "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    });
    auto plain = [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); };
    auto with_body = [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      serve_with_body(req, res, reader);
    };
    http.Get(".*", plain);
    http.Options(".*", plain);
    http.Post(".*", httplib::Server::HandlerWithContentReader(with_body));
    http.Put(".*", httplib::Server::HandlerWithContentReader(with_body));
    http.Patch(".*", httplib::Server::HandlerWithContentReader(with_body));
    http.Delete(".*", httplib::Server::HandlerWithContentReader(with_body));

    errno = 0;
    int bound = options.port == 0 ? http.bind_to_any_port(options.host)
                                  : (http.bind_to_port(options.host, options.port) ? options.port : -1);
    if (bound < 0) {
      std::string why = errno ? std::strerror(errno) : "cannot bind";
      return Error{"unavailable", "cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + why};
    }
    port = bound;
    listening_done = false;
    thread = std::thread([this] {
      http.listen_after_bind();
      listening_done = true;
    });
    // The library's stop() is a no-op until the server runs: wait for it, so
    // that a stop() right after start() cannot be lost.
    while (!http.is_running() && !listening_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (listening_done) {
      thread.join();
      return Error{"unavailable", "the API server stopped at once on " + options.host + ":" + std::to_string(port)};
    }
    started = true;
    return {};
  }

  void stop() {
    std::lock_guard lock(mu);
    if (!started) return;
    api.begin_stop();
    http.stop();
    if (thread.joinable()) thread.join();
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
