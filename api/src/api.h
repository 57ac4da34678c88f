// Api: the REST API of SPEC §8 as a function from an HttpRequest to an
// HttpResponse. It finds the route (404, 405), authenticates the bearer token
// and checks its role (401, audited as auth.failed at most once per client
// address and minute: auth_failures.h; 403), checks the query and the body
// against the route's table (400), then runs the handler. handle() never
// throws: an exception that escapes a handler (a bug) becomes a 500 with the
// JSON error body. Immutable after construction but for its thread-safe table
// of failed authentications: call it from any number of threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "baton/core/clock.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"
#include "http.h"

namespace baton::api {

constexpr const char* kApiPrefix = "/api/v1";

class Api {
 public:
  Api(store::Store& store, scheduler::Control& control, const Clock& clock, bool metrics_public = false,
      std::chrono::milliseconds claim_recheck = std::chrono::seconds(1));
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  HttpResponse handle(const HttpRequest& request) const;
  // The server is stopping: long-polling requests (worker claims) answer now.
  void begin_stop() const;
  // Long polls: a handler that answers with poll_again_at wants to be asked
  // again at the next wake-up, which calls `f` (from any thread; an empty
  // function stops the calls). wake_generation() counts the wake-ups.
  void on_wake(std::function<void()> f) const;
  unsigned long long wake_generation() const;
  // The server parked (+1) or handed on (-1) a long poll (GET /metrics).
  void count_parked(int delta) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::api
