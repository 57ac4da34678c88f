// ApiServer: the REST API of SPEC §8 over HTTP (cpp-httplib, kept out of this
// header), with bearer-token auth and roles, the error format, pagination,
// the 1 MiB body limit and the OpenAPI document; it also serves the web UI's
// static files. Reads come from the Store; changes go to the scheduler
// through Control. start() returns once the socket listens; requests are
// served on the server's own threads; stop() is safe from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"

namespace baton::api {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 8080;            // 0: any free port (see ApiServer::port())
  std::string web_dir;        // static UI files; empty: none
  bool metrics_public = false;
  int threads = 8;
  // A parked claim of a remote worker looks again after this long without a
  // wake-up (a notification missed while the listener reconnected, a pool's
  // slot freed by a report); a queued try wakes it at once.
  std::chrono::milliseconds claim_recheck{1000};
};

class ApiServer {
 public:
  ApiServer(store::Store& store, scheduler::Control& control, const Clock& clock, ApiOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Status start();
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::api
