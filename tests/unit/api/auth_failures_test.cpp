// Which failed authentications are audited (SPEC §12), on a fake clock: one
// entry per address and minute with the count of the others, counts never
// lost, a bounded table however many addresses a flood comes from.
#include <catch2/catch.hpp>

#include "auth_failures.h"

using namespace baton;
using namespace baton::api;
using namespace std::chrono_literals;

namespace {

long long total(const std::vector<AuthFailures::Entry>& es) {
  long long n = 0;
  for (auto& e : es) n += (e.failure ? 1 : 0) + e.suppressed;
  return n;
}

}  // namespace

TEST_CASE("auth failures: the first of a minute is audited, the others counted into the next entry") {
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  AuthFailures f(clock);
  auto first = f.failed("10.0.0.1");
  REQUIRE(first.size() == 1);
  CHECK(first[0].failure);
  CHECK(first[0].address == "10.0.0.1");
  CHECK(first[0].suppressed == 0);
  for (int i = 0; i < 99; ++i) {
    clock.advance(500ms);
    CHECK(f.failed("10.0.0.1").empty());
  }
  // Another address has a minute of its own.
  CHECK(f.failed("10.0.0.2").size() == 1);
  CHECK(f.due().empty());  // nobody's minute is over yet
  clock.set(*parse_utc("2026-11-22T10:01:00Z"));
  // The first failure after the minute carries the count: one entry, not two.
  auto next = f.failed("10.0.0.1");
  REQUIRE(next.size() == 1);
  CHECK(next[0].failure);
  CHECK(next[0].suppressed == 99);
  const TimePoint start = *parse_utc("2026-11-22T10:00:00Z");
  CHECK(*next[0].first_suppressed == start + 500ms);
  CHECK(*next[0].last_suppressed == start + 99 * 500ms);
  CHECK(f.failed("10.0.0.1").empty());  // a new minute began with it
}

TEST_CASE("auth failures: a count with no failure after it is written once its minute is over, or at stop") {
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  AuthFailures f(clock);
  REQUIRE(f.failed("a").size() == 1);
  CHECK(f.failed("a").empty());
  CHECK(f.failed("a").empty());
  REQUIRE(f.failed("b").size() == 1);
  clock.advance(59s);
  CHECK(f.due().empty());
  clock.advance(1s);
  auto due = f.due();
  REQUIRE(due.size() == 1);  // b had nothing to count
  CHECK_FALSE(due[0].failure);
  CHECK(due[0].address == "a");
  CHECK(due[0].suppressed == 2);
  CHECK(f.due().empty());
  CHECK(f.tracked() == 0);
  // A failure of another address also writes the counts that are due.
  REQUIRE(f.failed("a").size() == 1);
  CHECK(f.failed("a").empty());
  clock.advance(2min);
  auto both = f.failed("c");
  REQUIRE(both.size() == 2);
  CHECK(both[0].address == "a");
  CHECK(both[0].suppressed == 1);
  CHECK(both[1].address == "c");
  CHECK(both[1].failure);
  // At stop, every count not yet written.
  CHECK(f.failed("c").empty());
  auto last = f.flush();
  REQUIRE(last.size() == 1);
  CHECK(last[0].address == "c");
  CHECK(last[0].suppressed == 1);
  CHECK(f.tracked() == 0);
  CHECK(f.flush().empty());
}

TEST_CASE("auth failures: beyond the table's size, addresses share one window; nothing is lost") {
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  AuthFailures f(clock, 100);
  long long failures = 0, audited = 0, counted = 0;
  auto take = [&](const std::vector<AuthFailures::Entry>& es) {
    for (auto& e : es) {
      audited += 1;
      counted += (e.failure ? 1 : 0) + e.suppressed;
    }
  };
  // A flood from 10,000 addresses, 3 failures each, over 10 minutes.
  for (int minute = 0; minute < 10; ++minute) {
    for (int a = 0; a < 1000; ++a)
      for (int k = 0; k < 3; ++k) {
        take(f.failed("10.1." + std::to_string(minute) + "." + std::to_string(a)));
        ++failures;
      }
    CHECK(f.tracked() <= 101);  // 100 addresses and the shared window
    clock.advance(1min);
    take(f.due());
  }
  take(f.flush());
  CHECK(counted == failures);
  // At most two entries per window and minute (its first failure, its count).
  CHECK(audited <= 10 * 2 * 101);
  CHECK(audited >= 10 * 101);
}

TEST_CASE("auth failures: the shared window of addresses beyond the table is audited once a minute too") {
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  AuthFailures f(clock, 2);
  CHECK(f.failed("a").size() == 1);
  CHECK(f.failed("b").size() == 1);
  auto star = f.failed("c");
  REQUIRE(star.size() == 1);
  CHECK(star[0].address == "*");
  CHECK(f.failed("d").empty());
  CHECK(f.failed("a").empty());  // a keeps its own window
  clock.advance(1min);
  auto due = f.due();
  CHECK(total(due) == 2);  // a's one, and d's in "*"
}
