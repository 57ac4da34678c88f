// The Notifier's delivery pass with its backoff, on a FakeClock, against a
// real webhook receiver and real commands.
#include <catch2/catch.hpp>

#include "parts_env.h"

using namespace baton;
using namespace baton::executor;
using namespace baton::executor_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
// ---------------------------------------------------------------- Notifier

namespace {

// An outbox in memory: due() returns the pending items whose time has come,
// update() writes an item back and records it.
struct Outbox {
  Dir dir;  // where commands run
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<OutboxItem> items;    // guarded by mu
  std::vector<OutboxItem> updates;  // guarded by mu
  std::vector<TimePoint> asked_at;  // guarded by mu

  OutboxItem& add(const std::string& command, const std::string& payload = R"({"event":"on_failure"})") {
    OutboxItem n;
    n.id = static_cast<long long>(items.size()) + 1;
    n.event = "on_failure";
    n.dag_id = "daily_sales";
    n.target = {NotificationTarget::Kind::command, command};
    n.payload = payload;
    n.next_attempt_at = clock.now();
    items.push_back(n);
    return items.back();
  }

  Notifier make(NotifierOptions o) {
    o.working_dir = dir.path.string();
    return Notifier(
        clock, o,
        [this](TimePoint now, int limit) -> Result<std::vector<OutboxItem>> {
          std::lock_guard lock(mu);
          asked_at.push_back(now);
          std::vector<OutboxItem> due;
          for (auto& n : items)
            if (n.state == "pending" && n.next_attempt_at <= now && static_cast<int>(due.size()) < limit)
              due.push_back(n);
          return due;
        },
        [this](const OutboxItem& n) -> Status {
          std::lock_guard lock(mu);
          for (auto& i : items)
            if (i.id == n.id) i = n;
          updates.push_back(n);
          cv.notify_all();
          return {};
        });
  }
};

NotifierOptions options(int attempts, Duration backoff) {
  NotifierOptions o;
  o.attempts = attempts;
  o.backoff = backoff;
  o.timeout = 5s;
  return o;
}

}  // namespace

TEST_CASE("Notifier: a failing command is retried with a doubling backoff, then marked failed") {
  Outbox box;
  box.add("exit 1");
  Notifier n = box.make(options(3, 10s));
  const TimePoint t0 = box.clock.now();

  n.deliver_due();
  REQUIRE(box.updates.size() == 1);
  OutboxItem u = box.updates.back();
  CHECK(u.id == 1);
  CHECK(u.attempts == 1);
  CHECK(u.state == "pending");
  REQUIRE(u.last_error);
  CHECK(contains(*u.last_error, "exited 1"));
  CHECK(u.next_attempt_at == t0 + 10s);

  // Not due yet: nothing is tried.
  box.clock.advance(9s);
  n.deliver_due();
  CHECK(box.updates.size() == 1);

  box.clock.advance(1s);
  n.deliver_due();
  REQUIRE(box.updates.size() == 2);
  u = box.updates.back();
  CHECK(u.attempts == 2);
  CHECK(u.state == "pending");
  CHECK(u.next_attempt_at == t0 + 10s + 20s);

  box.clock.advance(20s);
  n.deliver_due();
  REQUIRE(box.updates.size() == 3);
  u = box.updates.back();
  CHECK(u.attempts == 3);
  CHECK(u.state == "failed");
  REQUIRE(u.last_error);
  CHECK(contains(*u.last_error, "exited 1"));

  // Failed for good: never tried again.
  box.clock.advance(std::chrono::hours(1));
  n.deliver_due();
  CHECK(box.updates.size() == 3);
}

TEST_CASE("Notifier: the backoff is capped at 5 minutes") {
  Outbox box;
  box.add("exit 2");
  Notifier n = box.make(options(10, 2min));
  std::vector<Duration> delays;
  for (int i = 0; i < 3; ++i) {
    const TimePoint now = box.clock.now();
    n.deliver_due();
    REQUIRE(box.updates.size() == static_cast<size_t>(i + 1));
    delays.push_back(box.updates.back().next_attempt_at - now);
    box.clock.set(box.updates.back().next_attempt_at);
  }
  CHECK(delays == std::vector<Duration>{2min, 4min, 5min});
  CHECK(box.updates.back().state == "pending");
}

TEST_CASE("Notifier: a command that exits 0 is sent, with the payload on its standard input, in working_dir") {
  Outbox box;
  const std::string payload = R"({"event":"on_failure","dag_id":"daily_sales","reason":"exit code 3"})";
  OutboxItem& item = box.add("cat > delivered.json", payload);
  item.attempts = 1;  // failed once before
  item.last_error = "command exited 1";
  Notifier n = box.make(options(5, 1s));
  n.deliver_due();
  REQUIRE(box.updates.size() == 1);
  const OutboxItem u = box.updates.back();
  CHECK(u.state == "sent");
  CHECK(u.attempts == 2);
  CHECK_FALSE(u.last_error);
  CHECK(slurp(box.dir.path / "delivered.json") == payload);
  // Sent: not delivered again.
  box.clock.advance(std::chrono::hours(1));
  n.deliver_due();
  CHECK(box.updates.size() == 1);
}

TEST_CASE("Notifier: the thread delivers what is due when kicked") {
  Outbox box;
  box.add("cat > kicked.json", R"({"n":1})");
  auto o = options(5, 1s);
  o.poll = std::chrono::hours(1);  // only the kick wakes it
  Notifier n = box.make(o);
  n.start();
  n.kick();
  {
    std::unique_lock lock(box.mu);
    REQUIRE(box.cv.wait_for(lock, kWait, [&] { return !box.updates.empty(); }));
    CHECK(box.updates[0].state == "sent");
    CHECK(box.asked_at.front() == box.clock.now());
  }
  n.stop();
  CHECK(slurp(box.dir.path / "kicked.json") == R"({"n":1})");
}

TEST_CASE("Notifier: a webhook whose URL can never be delivered fails for good at once, with the reason") {
  Outbox box;
  OutboxItem& huge = box.add("");
  huge.target = {NotificationTarget::Kind::webhook, "http://127.0.0.1:9/" + std::string(100 * 1024, 'a')};
  OutboxItem& ftp = box.add("");
  ftp.target = {NotificationTarget::Kind::webhook, "ftp://127.0.0.1/hook"};
  Notifier n = box.make(options(5, 1s));
  n.deliver_due();  // a std::regex overflowed the stack here
  REQUIRE(box.updates.size() == 2);
  for (auto& u : box.updates) {
    CHECK(u.state == "failed");
    CHECK(u.attempts == 1);
    REQUIRE(u.last_error);
    CHECK(u.last_error->size() < 1000);
  }
  CHECK(contains(*box.updates[0].last_error, "8192"));
  CHECK(contains(*box.updates[1].last_error, "is not an http:// or https:// URL"));
  box.clock.advance(std::chrono::hours(1));
  n.deliver_due();
  CHECK(box.updates.size() == 2);  // never tried again
}
