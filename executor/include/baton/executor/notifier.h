// Delivering one notification (SPEC §7): a webhook gets the event as the JSON
// body of a POST; a command gets it on its standard input (run by /bin/sh -c
// in `working_dir`, as its own process group, killed at the timeout). Both
// are bounded by `timeout`. Blocking: called from the scheduler's notifier
// thread, never from its event loop; it blocks SIGPIPE in the calling thread.
#pragma once

#include <string>

#include "baton/core/result.h"
#include "baton/core/time.h"

namespace baton::executor {

struct NotificationTarget {
  enum class Kind { webhook, command };
  Kind kind = Kind::webhook;
  std::string target;  // URL, or command line
};

// ok when delivered: a 2xx answer, or the command exited 0. Otherwise the
// error says what happened (status, exit code, timeout, connection refused).
Status deliver(const NotificationTarget& t, const std::string& payload_json, Duration timeout,
               const std::string& working_dir);

}  // namespace baton::executor
