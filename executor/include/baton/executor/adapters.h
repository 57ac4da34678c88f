// The task types that run inside the worker's own process rather than as a
// child process (SPEC §3): `http` (cpp-httplib) and `sql` (libpq for
// PostgreSQL, SQLite). Each call blocks the calling thread (a worker slot)
// until the try ends, writes what it did to the try's log, reports activity
// every heartbeat_interval through `beat`, and ends early when `cancel` is set
// (outcome canceled) or the timeout passes (outcome timeout). The answer has
// the shell runner's shape, so the scheduler and the remote worker treat
// every try alike. Safe from several threads at once, one try each.
//
// These adapters reach the user's own services and databases; Baton's own
// SQL stays in store/ (docs/architecture.md).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/time.h"
#include "baton/executor/shell_runner.h"

namespace baton::executor {

struct HttpCall {
  std::string method = "GET";
  std::string url;                           // rendered; http:// or https://
  std::map<std::string, std::string> headers;  // rendered
  std::string body;                          // rendered; empty: none
  std::vector<int> expect_status;            // empty: any 2xx
  std::optional<Duration> timeout;           // the whole try
  std::string log_path;
  size_t log_cap_bytes = 10 * 1024 * 1024;   // of the response body kept in the log
  size_t output_cap_bytes = 1024 * 1024;     // a JSON-object body up to this size is the output
  Duration heartbeat_interval = std::chrono::seconds(5);
};

struct SqlCall {
  std::string connection;  // its name, for the log
  std::string url;         // sqlite:PATH or a libpq URL (postgresql://...), with its password
  std::string sql;         // rendered; one or more statements, run in one transaction
  std::optional<Duration> timeout;
  std::string log_path;
  Duration heartbeat_interval = std::chrono::seconds(5);
};

using NowFn = std::function<TimePoint()>;
using BeatFn = std::function<void(TimePoint last_activity)>;

ShellResult run_http(const HttpCall& call, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel);
ShellResult run_sql(const SqlCall& call, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel);

// "postgresql://ada:s3cret@host/db" as "postgresql://ada:***@host/db", for logs.
std::string mask_password(const std::string& url);

}  // namespace baton::executor
