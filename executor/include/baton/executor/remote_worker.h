// RemoteWorker: `baton worker` (SPEC §2, §5, §9). It takes tries of its
// queues from a Baton server over HTTP (long-poll claims), runs each as a
// shell process group on one of its slots (ShellRunner), heartbeats them with
// their checkpoints and new log bytes, and reports how each ended with its
// attempt token. It needs no database. A try the server says is no longer
// this worker's (failed as lost, canceled, handed to another worker) is
// killed; a report the server refuses (409) is dropped.
//
// Round trips: a claim asks for all its free slots; a report carries the
// next claim for the slot it frees (reports ending at once share one request,
// POST /workers/reports) — to a server older than that, which refuses them
// (400, 404), they go again one a request without a claim, and so do all
// later ones; heartbeats renew all its tries at once; HTTP
// connections are kept alive (TCP_NODELAY). A claimed try starts at once
// while its claim is young — younger than half its lease by the worker's
// steady clock, counted from when the claim was sent less the time the server
// says it held it — and only otherwise after a heartbeat of it alone confirms
// it is still this worker's (docs/running.md).
//
// Several server URLs may be given: when one cannot be reached the worker
// goes on with the next. While no server can be reached it keeps its tries
// running and tries again with backoff.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/core/time.h"

namespace baton::executor {

struct RemoteWorkerOptions {
  std::vector<std::string> servers = {"http://127.0.0.1:8080"};
  std::string token;
  std::vector<std::string> queues = {"default"};
  int slots = 4;
  std::string name;                  // default: host:pid
  std::string work_dir = "./worker";  // logs/ and scratch/ of its tries
  Duration heartbeat_interval = std::chrono::seconds(5);  // unless a try asks for less
  Duration claim_wait = std::chrono::seconds(2);          // long poll (a stop waits for it at most this long)
  Duration shutdown_grace = std::chrono::seconds(30);
  // When more than zero: run() returns (OK) once the worker has run no try
  // and held no claimed one for this long (scaling to zero).
  Duration exit_when_idle{0};
};

class RemoteWorker {
 public:
  explicit RemoteWorker(RemoteWorkerOptions options);
  ~RemoteWorker();
  RemoteWorker(const RemoteWorker&) = delete;
  RemoteWorker& operator=(const RemoteWorker&) = delete;

  // Runs until `stop` is set (or, with exit_when_idle, until it has been
  // idle that long): then no new claims; running tries get shutdown_grace,
  // then are killed and reported as `shutdown`. Errors: a token the server
  // refuses (unauthenticated, permission_denied).
  Status run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::executor
