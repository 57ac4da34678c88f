// The listener's rules (ListenerGate): which notifications wake a drain of
// the worker events or a look for commands, and when a claim's started
// event, deferred, is drained at the latest. Times are given, no clock.
#include <catch2/catch.hpp>

#include "listener.h"

using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {
using Gate = ListenerGate;
const Gate::Clock::time_point t0 = Gate::Clock::time_point{} + 1000s;
const std::vector<int> kOwned = {1, 3};
}  // namespace

TEST_CASE("listener: a claim's started event waits up to 50 ms, or goes with the next report's drain") {
  Gate g;
  auto first = g.heard({}, false, kOwned, t0);
  CHECK((first.events && first.commands));  // the first wake-up sweeps
  CHECK(g.timeout(t0) == 250ms);

  // A claim of partition 3: no drain yet; the next wait lasts 50 ms at most.
  auto w = g.heard({"baton_events:s:3"}, false, kOwned, t0 + 10ms);
  CHECK_FALSE(w.events);
  CHECK_FALSE(w.commands);
  CHECK(g.timeout(t0 + 10ms) == 50ms);
  // More claims meanwhile do not move the deadline.
  w = g.heard({"baton_events:s:1", "baton_events:s:3"}, false, kOwned, t0 + 40ms);
  CHECK_FALSE(w.events);
  CHECK(g.timeout(t0 + 40ms) == 20ms);
  CHECK(g.timeout(t0 + 60ms) == 1ms);  // the deadline is now: the shortest wait
  // The wait timed out at the deadline: one drain for all of them.
  w = g.heard({}, false, kOwned, t0 + 60ms);
  CHECK(w.events);
  CHECK_FALSE(w.commands);
  CHECK(g.timeout(t0 + 60ms) == 190ms);  // nothing waits any more: until the next sweep

  // A claim, a command, then a report: the command does not drain the
  // claim's event; the report's drain takes it.
  CHECK_FALSE(g.heard({"baton_events:s:1"}, false, kOwned, t0 + 100ms).events);
  w = g.heard({"baton_events:c:1"}, false, kOwned, t0 + 102ms);
  CHECK_FALSE(w.events);
  CHECK(w.commands);
  CHECK(g.timeout(t0 + 102ms) == 48ms);
  CHECK(g.heard({"baton_events:e:1"}, false, kOwned, t0 + 105ms).events);
  CHECK(g.timeout(t0 + 106ms) == 144ms);
  CHECK_FALSE(g.heard({}, false, kOwned, t0 + 200ms).events);  // nothing left for later
}

TEST_CASE("listener: only its own partitions' events and commands wake it, and a sweep every 250 ms") {
  Gate g;
  g.heard({}, false, kOwned, t0);
  // Another member's partition (2): nothing, not even a started event.
  auto w = g.heard({"baton_events:e:2", "baton_events:c:2", "baton_events:s:2"}, false, kOwned, t0 + 10ms);
  CHECK_FALSE(w.events);
  CHECK_FALSE(w.commands);
  CHECK(g.timeout(t0 + 10ms) == 240ms);
  // Its own: a report drains events, a command looks for commands.
  w = g.heard({"baton_events:e:1"}, false, kOwned, t0 + 20ms);
  CHECK(w.events);
  CHECK_FALSE(w.commands);
  w = g.heard({"baton_events:c:3"}, false, kOwned, t0 + 30ms);
  CHECK_FALSE(w.events);
  CHECK(w.commands);
  // A notification without a partition, or a change of partitions: both.
  w = g.heard({"baton_events"}, false, kOwned, t0 + 40ms);
  CHECK((w.events && w.commands));
  w = g.heard({}, true, kOwned, t0 + 50ms);
  CHECK((w.events && w.commands));
  // Quiet: nothing until 250 ms after the last sweep, then both.
  w = g.heard({}, false, kOwned, t0 + 299ms);
  CHECK_FALSE(w.events);
  w = g.heard({}, false, kOwned, t0 + 300ms);
  CHECK((w.events && w.commands));
  // More commands than one look takes: the next wake-up sweeps, at once.
  CHECK(g.timeout(t0 + 300ms) == 250ms);
  g.sweep_next();
  CHECK(g.timeout(t0 + 300ms) == 1ms);
  w = g.heard({}, false, kOwned, t0 + 301ms);
  CHECK((w.events && w.commands));
  // A malformed notification is ignored.
  w = g.heard({"baton_events:", "baton_events:e", "baton_eventsXe:1"}, false, kOwned, t0 + 310ms);
  CHECK_FALSE(w.events);
  CHECK_FALSE(w.commands);
}
