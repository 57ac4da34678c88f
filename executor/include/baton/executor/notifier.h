// Delivering one notification (SPEC §7): a webhook gets the event as the JSON
// body of a POST; a command gets it on its standard input (run by /bin/sh -c
// in `working_dir`, as its own process group, killed at the timeout). Both
// are bounded by `timeout`. Blocking: called from the scheduler's notifier
// thread, never from its event loop; it blocks SIGPIPE in the calling thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "baton/core/clock.h"
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

// One notification of the outbox, as the notifier sees it.
struct OutboxItem {
  long long id = 0;
  std::string event, dag_id;
  NotificationTarget target;
  std::string payload;  // JSON
  int attempts = 0;
  std::string state = "pending";  // pending, sent, failed
  std::optional<std::string> last_error;
  TimePoint next_attempt_at{};
};

struct NotifierOptions {
  Duration timeout = std::chrono::seconds(10);  // one attempt
  int attempts = 5;                             // in all
  Duration backoff = std::chrono::seconds(1);   // backoff, 2 x backoff, ... (at most 5 min)
  Duration poll = std::chrono::milliseconds(500);
  std::string working_dir;  // commands run there
};

// The notifier: one thread that delivers the outbox's due notifications (read
// and updated through the callbacks), so that a slow or failing target never
// holds up the scheduler. kick() (any thread) wakes it before its poll.
class Notifier {
 public:
  using Due = std::function<Result<std::vector<OutboxItem>>(TimePoint now, int limit)>;
  using Update = std::function<Status(const OutboxItem&)>;
  Notifier(const Clock& clock, NotifierOptions options, Due due, Update update);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void start();
  void kick();
  void stop();
  // One pass over what is due (the thread's work, callable from a test).
  void deliver_due();

 private:
  void main();

  const Clock& clock_;
  NotifierOptions options_;
  Due due_;
  Update update_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  bool kick_ = false;  // guarded by mu_
};

}  // namespace baton::executor
