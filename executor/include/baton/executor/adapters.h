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
#include "baton/dsl/render.h"
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
  std::vector<std::string> secrets;          // values masked in the log and the reason (secret variables)
};

struct SqlCall {
  std::string connection;  // its name, for the log
  std::string url;         // sqlite:PATH or a libpq URL (postgresql://...), with its password
  // Rendered (dsl::render_sql): one or more statements, run in one
  // transaction. Values outside literals are bound parameters: on SQLite ?N
  // is params[N-1]; on PostgreSQL, when there are params, `statements` are
  // sent one by one (each with its own $1..) between BEGIN and COMMIT.
  std::string sql;
  std::vector<dsl::SqlParam> params;
  std::vector<dsl::SqlStatement> statements;
  bool literal_values = false;     // a value was escaped into a '...' literal
  bool literal_backslash = false;  // ... holding a backslash: needs standard_conforming_strings=on
  std::optional<Duration> timeout;
  std::string log_path;
  Duration heartbeat_interval = std::chrono::seconds(5);
  std::vector<std::string> secrets;  // values masked in the log and the reason (secret variables)
};

using NowFn = std::function<TimePoint()>;
using BeatFn = std::function<void(TimePoint last_activity)>;

ShellResult run_http(const HttpCall& call, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel);
ShellResult run_sql(const SqlCall& call, const NowFn& now, const BeatFn& beat, const std::atomic<bool>& cancel);

// "postgresql://ada:s3cret@host/db" as "postgresql://ada:***@host/db", for
// logs: baton::mask_secrets (baton/core/secrets.h), every password form.
std::string mask_password(const std::string& url);

}  // namespace baton::executor
