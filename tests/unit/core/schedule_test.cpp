#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/cron.h"
#include "baton/core/schedule.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"

using namespace baton;
using namespace std::chrono_literals;

namespace {

TimePoint utc(const char* s) { return *parse_utc(s); }

TimeZone zone(const char* name) {
  auto z = TimeZone::find(name);
  REQUIRE(z.ok());
  return *z;
}

Schedule cron(const char* expr, const char* tz = "UTC") {
  auto e = CronExpr::parse(expr);
  REQUIRE(e.ok());
  return Schedule::cron(*e, zone(tz));
}

// An optional instant as text, "none" when absent.
std::string fmt(const std::optional<TimePoint>& t) { return t ? format_utc(*t) : "none"; }
std::string fmt(const std::optional<DataInterval>& i) {
  return i ? "[" + format_utc(i->start) + ", " + format_utc(i->end) + ")" : "none";
}

// All ticks from the start (or from `from`), at most `n`.
std::vector<std::string> ticks(const Schedule& s, TimePoint from, int n) {
  std::vector<std::string> out;
  for (auto t = s.next_tick(from); t && static_cast<int>(out.size()) < n; t = s.next_tick(*t))
    out.push_back(format_utc(*t));
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("schedule: cron ticks") {
  auto hourly = cron("0 * * * *");
  CHECK(hourly.kind() == Schedule::Kind::cron);
  CHECK(hourly.is_time_based());
  // next_tick is strictly after, prev_tick at or before.
  CHECK(fmt(hourly.next_tick(utc("2026-06-01T10:00:00Z"))) == "2026-06-01T11:00:00Z");
  CHECK(fmt(hourly.next_tick(utc("2026-06-01T10:30:00Z"))) == "2026-06-01T11:00:00Z");
  CHECK(fmt(hourly.next_tick(utc("2026-06-01T10:59:59.999999Z"))) == "2026-06-01T11:00:00Z");
  CHECK(fmt(hourly.prev_tick(utc("2026-06-01T10:00:00Z"))) == "2026-06-01T10:00:00Z");
  CHECK(fmt(hourly.prev_tick(utc("2026-06-01T10:59:59Z"))) == "2026-06-01T10:00:00Z");
  CHECK(fmt(hourly.prev_tick(utc("2026-06-01T09:59:59.999999Z"))) == "2026-06-01T09:00:00Z");

  // A daily schedule in a zone: local 03:00.
  auto daily = cron("0 3 * * *", "Europe/Berlin");
  CHECK(fmt(daily.next_tick(utc("2026-06-01T00:00:00Z"))) == "2026-06-01T01:00:00Z");
  CHECK(fmt(daily.prev_tick(utc("2026-06-01T00:00:00Z"))) == "2026-05-31T01:00:00Z");
  CHECK(fmt(daily.prev_tick(utc("2026-01-15T12:00:00Z"))) == "2026-01-15T02:00:00Z");

  // Rare ticks: prev_tick looks far back.
  auto yearly = cron("@yearly", "America/New_York");
  CHECK(fmt(yearly.prev_tick(utc("2026-12-31T12:00:00Z"))) == "2026-01-01T05:00:00Z");
  CHECK(fmt(yearly.prev_tick(utc("2026-01-01T04:59:59Z"))) == "2025-01-01T05:00:00Z");
  CHECK(fmt(yearly.next_tick(utc("2026-01-01T05:00:00Z"))) == "2027-01-01T05:00:00Z");
  auto leap = cron("0 0 29 2 *");
  CHECK(fmt(leap.prev_tick(utc("2026-06-01T00:00:00Z"))) == "2024-02-29T00:00:00Z");
  CHECK(fmt(leap.next_tick(utc("2026-06-01T00:00:00Z"))) == "2028-02-29T00:00:00Z");

  // A cron that never fires has no ticks at all.
  auto never = cron("0 0 30 2 *");
  CHECK(fmt(never.next_tick(utc("2026-06-01T00:00:00Z"))) == "none");
  CHECK(fmt(never.prev_tick(utc("2026-06-01T00:00:00Z"))) == "none");
  CHECK(fmt(never.last_complete_interval(utc("2026-06-01T00:00:00Z"))) == "none");

  // prev_tick and next_tick agree across the DST jumps (fixed-time and wildcard).
  for (const char* expr : {"30 2 * * *", "*/30 2 * * *", "0,15,30,45 2 * * *", "0 * * * *"}) {
    INFO(expr);
    auto s = cron(expr, "Europe/Berlin");
    for (const char* from : {"2026-03-27T00:00:00Z", "2026-10-23T00:00:00Z"}) {
      std::optional<TimePoint> prev;
      for (auto t = s.next_tick(utc(from)); t && *t < utc(from) + 96h; t = s.next_tick(*t)) {
        CHECK(fmt(s.prev_tick(*t)) == format_utc(*t));
        CHECK(fmt(s.prev_tick(*t - 1us)) == (prev ? format_utc(*prev) : fmt(s.prev_tick(utc(from)))));
        prev = t;
      }
    }
  }
  CHECK(hourly.describe() == "0 * * * * (UTC)");
  CHECK(daily.describe() == "0 3 * * * (Europe/Berlin)");
  CHECK(cron("@daily", "Australia/Sydney").describe() == "@daily (Australia/Sydney)");
}

TEST_CASE("schedule: every ticks are anchored at start_date") {
  const TimePoint anchor = utc("2026-01-01T00:07:00Z");
  auto s = Schedule::every(15min, anchor);
  CHECK(s.kind() == Schedule::Kind::every);
  CHECK(s.is_time_based());
  CHECK(s.period() == 15min);
  CHECK(s.describe() == "every 15m");
  CHECK(Schedule::every(90min, anchor).describe() == "every 1h30m");
  // The first interval is [start, start + D).
  CHECK(fmt(s.next_tick(utc("2025-12-01T00:00:00Z"))) == "2026-01-01T00:07:00Z");
  CHECK(fmt(s.next_tick(anchor - 1us)) == "2026-01-01T00:07:00Z");
  CHECK(fmt(s.interval_starting(anchor)) == "[2026-01-01T00:07:00Z, 2026-01-01T00:22:00Z)");
  CHECK(fmt(s.next_tick(anchor)) == "2026-01-01T00:22:00Z");
  CHECK(fmt(s.next_tick(anchor + 1min)) == "2026-01-01T00:22:00Z");
  CHECK(fmt(s.next_tick(anchor + 15min)) == "2026-01-01T00:37:00Z");
  CHECK(fmt(s.next_tick(utc("2026-03-29T01:00:00Z"))) == "2026-03-29T01:07:00Z");
  // Nothing before the anchor.
  CHECK(fmt(s.prev_tick(anchor - 1us)) == "none");
  CHECK(fmt(s.prev_tick(anchor)) == "2026-01-01T00:07:00Z");
  CHECK(fmt(s.prev_tick(anchor + 29min)) == "2026-01-01T00:22:00Z");
  CHECK(fmt(s.prev_tick(anchor + 30min)) == "2026-01-01T00:37:00Z");
  CHECK(ticks(s, utc("2025-01-01T00:00:00Z"), 3) ==
        V{"2026-01-01T00:07:00Z", "2026-01-01T00:22:00Z", "2026-01-01T00:37:00Z"});

  // bounded() with a start_date re-anchors; without one keeps the anchor.
  auto re = Schedule::every(1h, anchor);
  re.bounded(utc("2026-02-01T00:30:00Z"), std::nullopt);
  CHECK(ticks(re, utc("2026-01-01T00:00:00Z"), 3) ==
        V{"2026-02-01T00:30:00Z", "2026-02-01T01:30:00Z", "2026-02-01T02:30:00Z"});
  CHECK(fmt(re.prev_tick(utc("2026-01-15T00:00:00Z"))) == "none");
  auto kept = Schedule::every(1h, anchor);
  kept.bounded(std::nullopt, std::nullopt);
  CHECK(ticks(kept, utc("2025-01-01T00:00:00Z"), 2) == V{"2026-01-01T00:07:00Z", "2026-01-01T01:07:00Z"});

  // Absolute time: `every 1d` ignores daylight saving.
  auto day = Schedule::every(24h, utc("2026-03-28T23:00:00Z"));
  CHECK(ticks(day, utc("2026-01-01T00:00:00Z"), 3) ==
        V{"2026-03-28T23:00:00Z", "2026-03-29T23:00:00Z", "2026-03-30T23:00:00Z"});
}

TEST_CASE("schedule: start_date bounds cron ticks from below") {
  auto s = cron("@daily");
  s.bounded(utc("2026-01-10T12:00:00Z"), std::nullopt);
  // The first interval starts at the first tick at or after start_date.
  CHECK(fmt(s.next_tick(utc("2026-01-01T00:00:00Z"))) == "2026-01-11T00:00:00Z");
  CHECK(fmt(s.next_tick(utc("2026-01-11T00:00:00Z"))) == "2026-01-12T00:00:00Z");
  CHECK(fmt(s.prev_tick(utc("2026-01-10T23:00:00Z"))) == "none");
  CHECK(fmt(s.prev_tick(utc("2026-01-11T05:00:00Z"))) == "2026-01-11T00:00:00Z");
  CHECK(fmt(s.interval_starting(utc("2026-01-10T00:00:00Z"))) == "none");
  CHECK(fmt(s.interval_starting(utc("2026-01-11T00:00:00Z"))) == "[2026-01-11T00:00:00Z, 2026-01-12T00:00:00Z)");

  // A start_date on a tick is that tick.
  auto on = cron("@daily");
  on.bounded(utc("2026-01-10T00:00:00Z"), std::nullopt);
  CHECK(fmt(on.next_tick(utc("2026-01-01T00:00:00Z"))) == "2026-01-10T00:00:00Z");
  CHECK(fmt(on.next_tick(utc("2026-01-10T00:00:00Z") - 1us)) == "2026-01-10T00:00:00Z");
  CHECK(fmt(on.prev_tick(utc("2026-01-10T00:00:00Z"))) == "2026-01-10T00:00:00Z");
  CHECK(fmt(on.prev_tick(utc("2026-01-10T00:00:00Z") - 1us)) == "none");

  // A start_date as local midnight in the DAG's zone.
  auto berlin = zone("Europe/Berlin");
  auto local = cron("0 0 * * *", "Europe/Berlin");
  local.bounded(berlin.resolve(*parse_date_time("2026-03-01")), std::nullopt);
  CHECK(ticks(local, utc("2026-01-01T00:00:00Z"), 2) == V{"2026-02-28T23:00:00Z", "2026-03-01T23:00:00Z"});
}

TEST_CASE("schedule: end_date keeps the tick that closes the last interval") {
  auto s = cron("@daily");
  s.bounded(utc("2026-01-01T00:00:00Z"), utc("2026-01-05T12:00:00Z"));
  // The last interval that starts at or before end_date is [01-05, 01-06): its closing tick is the last one.
  CHECK(ticks(s, utc("2025-12-01T00:00:00Z"), 100) ==
        V{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
          "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"});
  CHECK(fmt(s.next_tick(utc("2026-01-05T00:00:00Z"))) == "2026-01-06T00:00:00Z");
  CHECK(fmt(s.next_tick(utc("2026-01-05T13:00:00Z"))) == "2026-01-06T00:00:00Z");
  CHECK(fmt(s.next_tick(utc("2026-01-06T00:00:00Z"))) == "none");
  CHECK(fmt(s.next_tick(utc("2026-06-01T00:00:00Z"))) == "none");
  CHECK(fmt(s.prev_tick(utc("2026-01-05T23:00:00Z"))) == "2026-01-05T00:00:00Z");
  CHECK(fmt(s.prev_tick(utc("2026-01-06T00:00:00Z"))) == "2026-01-06T00:00:00Z");
  CHECK(fmt(s.prev_tick(utc("2026-06-01T00:00:00Z"))) == "2026-01-06T00:00:00Z");
  CHECK(fmt(s.interval_starting(utc("2026-01-05T00:00:00Z"))) == "[2026-01-05T00:00:00Z, 2026-01-06T00:00:00Z)");
  CHECK(fmt(s.interval_starting(utc("2026-01-06T00:00:00Z"))) == "none");
  CHECK(fmt(s.last_complete_interval(utc("2026-06-01T00:00:00Z"))) ==
        "[2026-01-05T00:00:00Z, 2026-01-06T00:00:00Z)");

  // end_date exactly on a tick: an interval starts there, so its end is still a tick.
  auto on = cron("@daily");
  on.bounded(utc("2026-01-01T00:00:00Z"), utc("2026-01-03T00:00:00Z"));
  CHECK(ticks(on, utc("2025-12-01T00:00:00Z"), 100) ==
        V{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"});
  CHECK(fmt(on.prev_tick(utc("2027-01-01T00:00:00Z"))) == "2026-01-04T00:00:00Z");

  // Without start_date.
  auto open = cron("0 12 * * *");
  open.bounded(std::nullopt, utc("2026-01-03T00:00:00Z"));
  CHECK(ticks(open, utc("2026-01-01T00:00:00Z"), 100) ==
        V{"2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z", "2026-01-03T12:00:00Z"});

  // Every: the same rule.
  auto ev = Schedule::every(1h, utc("2026-01-01T00:00:00Z"));
  ev.bounded(std::nullopt, utc("2026-01-01T03:30:00Z"));
  CHECK(ticks(ev, utc("2025-01-01T00:00:00Z"), 100) ==
        V{"2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z",
          "2026-01-01T04:00:00Z"});
  CHECK(fmt(ev.prev_tick(utc("2026-02-01T00:00:00Z"))) == "2026-01-01T04:00:00Z");
  CHECK(fmt(ev.last_complete_interval(utc("2026-02-01T00:00:00Z"))) ==
        "[2026-01-01T03:00:00Z, 2026-01-01T04:00:00Z)");

  // start_date and end_date inside one interval: no interval starts between them, so no ticks.
  auto none = cron("0 * * * *");
  none.bounded(utc("2026-01-01T10:30:00Z"), utc("2026-01-01T10:45:00Z"));
  CHECK(fmt(none.next_tick(utc("2026-01-01T00:00:00Z"))) == "none");
  CHECK(fmt(none.prev_tick(utc("2026-01-01T12:00:00Z"))) == "none");
  CHECK(fmt(none.last_complete_interval(utc("2026-01-01T12:00:00Z"))) == "none");
}

TEST_CASE("schedule: a manual run's data interval is the last complete interval") {
  auto daily = cron("@daily");
  // SPEC §4: the daily run for 2026-11-21 is created at midnight of 2026-11-22.
  CHECK(fmt(daily.interval_starting(utc("2026-11-21T00:00:00Z"))) == "[2026-11-21T00:00:00Z, 2026-11-22T00:00:00Z)");
  CHECK(fmt(daily.last_complete_interval(utc("2026-11-22T10:15:03Z"))) ==
        "[2026-11-21T00:00:00Z, 2026-11-22T00:00:00Z)");
  // Ending exactly at t counts.
  CHECK(fmt(daily.last_complete_interval(utc("2026-11-22T00:00:00Z"))) ==
        "[2026-11-21T00:00:00Z, 2026-11-22T00:00:00Z)");
  CHECK(fmt(daily.last_complete_interval(utc("2026-11-21T23:59:59.999999Z"))) ==
        "[2026-11-20T00:00:00Z, 2026-11-21T00:00:00Z)");

  // In a zone.
  auto ny = cron("0 6 * * 1-5", "America/New_York");
  // Saturday 2026-11-21: the last complete weekday interval is Thu 06:00 -> Fri 06:00 EST.
  CHECK(fmt(ny.last_complete_interval(utc("2026-11-21T15:00:00Z"))) ==
        "[2026-11-19T11:00:00Z, 2026-11-20T11:00:00Z)");
  // Monday before 06:00: the interval Friday -> Monday is not complete yet.
  CHECK(fmt(ny.last_complete_interval(utc("2026-11-23T10:00:00Z"))) ==
        "[2026-11-19T11:00:00Z, 2026-11-20T11:00:00Z)");
  CHECK(fmt(ny.last_complete_interval(utc("2026-11-23T11:00:00Z"))) ==
        "[2026-11-20T11:00:00Z, 2026-11-23T11:00:00Z)");

  // Before the first complete interval after start_date: none.
  auto bounded = cron("@daily");
  bounded.bounded(utc("2026-01-01T00:00:00Z"), std::nullopt);
  CHECK(fmt(bounded.last_complete_interval(utc("2026-01-01T12:00:00Z"))) == "none");
  CHECK(fmt(bounded.last_complete_interval(utc("2026-01-02T00:00:00Z"))) ==
        "[2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z)");

  // Every.
  const TimePoint anchor = utc("2026-01-01T00:07:00Z");
  auto ev = Schedule::every(15min, anchor);
  CHECK(fmt(ev.last_complete_interval(anchor + 10min)) == "none");
  CHECK(fmt(ev.last_complete_interval(anchor + 15min)) == "[2026-01-01T00:07:00Z, 2026-01-01T00:22:00Z)");
  CHECK(fmt(ev.last_complete_interval(anchor + 40min)) == "[2026-01-01T00:22:00Z, 2026-01-01T00:37:00Z)");
}

TEST_CASE("schedule: a daily schedule across DST in Europe/Berlin") {
  auto berlin = zone("Europe/Berlin");
  auto daily = cron("0 0 * * *", "Europe/Berlin");
  // Local midnight to local midnight: 23 hours on 2026-03-29, 25 hours on 2026-10-25.
  auto spring = daily.interval_starting(utc("2026-03-28T23:00:00Z"));
  REQUIRE(spring);
  CHECK(format_utc(spring->end) == "2026-03-29T22:00:00Z");
  CHECK(spring->end - spring->start == 23h);
  auto before = daily.interval_starting(utc("2026-03-27T23:00:00Z"));
  REQUIRE(before);
  CHECK(before->end - before->start == 24h);
  auto fall = daily.interval_starting(utc("2026-10-24T22:00:00Z"));
  REQUIRE(fall);
  CHECK(format_utc(fall->end) == "2026-10-25T23:00:00Z");
  CHECK(fall->end - fall->start == 25h);
  CHECK(format_local(fall->start, berlin) == "2026-10-25 00:00:00 +02:00");
  CHECK(format_local(fall->end, berlin) == "2026-10-26 00:00:00 +01:00");
  CHECK(fmt(daily.last_complete_interval(utc("2026-10-26T10:00:00Z"))) ==
        "[2026-10-24T22:00:00Z, 2026-10-25T23:00:00Z)");

  // The week around each change: one 23 h (or 25 h) day, the rest 24 h.
  auto lengths = [&](const char* from) {
    std::vector<long long> hours;
    auto t = daily.next_tick(utc(from));
    for (int i = 0; i < 5 && t; ++i) {
      auto next = daily.next_tick(*t);
      REQUIRE(next);
      hours.push_back(std::chrono::duration_cast<std::chrono::hours>(*next - *t).count());
      t = next;
    }
    return hours;
  };
  CHECK(lengths("2026-03-26T12:00:00Z") == std::vector<long long>{24, 24, 23, 24, 24});
  CHECK(lengths("2026-10-22T12:00:00Z") == std::vector<long long>{24, 24, 25, 24, 24});

  // `every 1d` anchored at local midnight stays 24 h and drifts off local midnight.
  auto every = Schedule::every(24h, utc("2026-03-27T23:00:00Z"));
  auto i1 = every.interval_starting(utc("2026-03-28T23:00:00Z"));
  REQUIRE(i1);
  CHECK(i1->end - i1->start == 24h);
  CHECK(format_local(i1->end, berlin) == "2026-03-30 01:00:00 +02:00");
  CHECK(ticks(every, utc("2026-03-28T00:00:00Z"), 3) ==
        V{"2026-03-28T23:00:00Z", "2026-03-29T23:00:00Z", "2026-03-30T23:00:00Z"});
  auto autumn = Schedule::every(24h, utc("2026-10-24T22:00:00Z"));
  auto i2 = autumn.interval_starting(utc("2026-10-24T22:00:00Z"));
  REQUIRE(i2);
  CHECK(i2->end - i2->start == 24h);
  CHECK(format_local(i2->end, berlin) == "2026-10-25 23:00:00 +01:00");

  // A fixed-time schedule in the skipped hour: the jump day's tick is the jump instant.
  auto at230 = cron("30 2 * * *", "Europe/Berlin");
  auto a = at230.interval_starting(utc("2026-03-28T01:30:00Z"));
  REQUIRE(a);
  CHECK(format_utc(a->end) == "2026-03-29T01:00:00Z");
  auto b = at230.interval_starting(a->end);
  REQUIRE(b);
  CHECK(format_utc(b->end) == "2026-03-30T00:30:00Z");
  CHECK(a->end - a->start == 23h + 30min);
  CHECK(b->end - b->start == 23h + 30min);
  // ... and in the repeated hour, one tick at the first occurrence (24 h, then 25 h).
  auto c = at230.interval_starting(utc("2026-10-24T00:30:00Z"));
  REQUIRE(c);
  CHECK(format_utc(c->end) == "2026-10-25T00:30:00Z");
  auto d = at230.interval_starting(c->end);
  REQUIRE(d);
  CHECK(format_utc(d->end) == "2026-10-26T01:30:00Z");
  CHECK(d->end - d->start == 25h);
}

TEST_CASE("schedule: none and dataset schedules have no ticks") {
  auto none = Schedule::none();
  CHECK(none.kind() == Schedule::Kind::none);
  CHECK_FALSE(none.is_time_based());
  CHECK(none.describe() == "none");
  CHECK(fmt(none.next_tick(utc("2026-01-01T00:00:00Z"))) == "none");
  CHECK(fmt(none.prev_tick(utc("2026-01-01T00:00:00Z"))) == "none");
  CHECK(fmt(none.interval_starting(utc("2026-01-01T00:00:00Z"))) == "none");
  CHECK(fmt(none.last_complete_interval(utc("2026-01-01T00:00:00Z"))) == "none");

  auto ds = Schedule::datasets({"s3://bucket/a", "s3://bucket/b"});
  CHECK(ds.kind() == Schedule::Kind::datasets);
  CHECK_FALSE(ds.is_time_based());
  CHECK(ds.dataset_uris() == std::vector<std::string>{"s3://bucket/a", "s3://bucket/b"});
  CHECK(ds.describe() == "datasets: s3://bucket/a, s3://bucket/b");
  CHECK(fmt(ds.next_tick(utc("2026-01-01T00:00:00Z"))) == "none");
  CHECK(fmt(ds.last_complete_interval(utc("2026-01-01T00:00:00Z"))) == "none");
}

TEST_CASE("schedules end at 9999-12-31 and never wrap or overflow") {
  auto berlin = *TimeZone::find("Europe/Berlin");
  auto yearly = Schedule::cron(*CronExpr::parse("0 0 1 1 *"), berlin);
  std::optional<TimePoint> t = *parse_utc("9990-01-01T00:00:00Z");
  TimePoint last{};
  int count = 0;
  while ((t = yearly.next_tick(*t))) {
    CHECK(*t > last);
    last = *t;
    ++count;
  }
  CHECK(count == 10);
  CHECK(format_utc(last) == "9999-12-31T23:00:00Z");
  auto every = Schedule::every(std::chrono::hours(24 * 36600), *parse_utc("2026-01-01T00:00:00Z"));
  std::optional<TimePoint> e = *parse_utc("2026-01-01T00:00:00Z");
  int n = 0;
  while ((e = every.next_tick(*e)) && n < 1000) ++n;
  CHECK(n == 79);  // 2026 + 79 * 100.2 years < 9999 < 2026 + 80 * 100.2 years
}

TEST_CASE("schedule: the next run's interval, with and without catchup") {
  Schedule s = cron("0 3 * * *", "Europe/Berlin");
  s.bounded(utc("2026-01-01T00:00:00Z"), utc("2026-01-10T00:00:00Z"));
  TimePoint now = utc("2026-01-05T12:00:00Z");
  // No run yet: the first interval with catchup, the latest complete one without.
  auto first = s.next_run_interval(std::nullopt, true, now);
  REQUIRE(first);
  CHECK(format_utc(first->start) == "2026-01-01T02:00:00Z");
  CHECK(format_utc(first->end) == "2026-01-02T02:00:00Z");
  auto latest = s.next_run_interval(std::nullopt, false, now);
  REQUIRE(latest);
  CHECK(format_utc(latest->start) == "2026-01-04T02:00:00Z");
  CHECK(format_utc(latest->end) == "2026-01-05T02:00:00Z");
  // Up to date: the interval after the last one, not complete yet.
  auto next = s.next_run_interval(utc("2026-01-04T02:00:00Z"), false, now);
  REQUIRE(next);
  CHECK(format_utc(next->start) == "2026-01-05T02:00:00Z");
  CHECK(format_utc(next->end) == "2026-01-06T02:00:00Z");
  // end_date: the last interval starts on 2026-01-09; nothing after it.
  CHECK(s.next_run_interval(utc("2026-01-09T02:00:00Z"), true, now) == std::nullopt);
  CHECK(Schedule::none().next_run_interval(std::nullopt, true, now) == std::nullopt);
}
