#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "baton/core/cron.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"

using namespace baton;

namespace {

TimePoint utc(const char* s) { return *parse_utc(s); }

TimeZone zone(const char* name) {
  auto z = TimeZone::find(name);
  REQUIRE(z.ok());
  return *z;
}

CronExpr cron(const std::string& text) {
  auto r = CronExpr::parse(text);
  INFO("cron: " << text);
  REQUIRE(r.ok());
  return *r;
}

// The next `n` fire instants strictly after `after`, as ISO 8601 UTC.
std::vector<std::string> fires(const std::string& expr, const char* tz, const char* after, int n) {
  auto e = cron(expr);
  auto z = zone(tz);
  std::vector<std::string> out;
  TimePoint t = utc(after);
  for (int i = 0; i < n; ++i) {
    auto next = e.next_after(t, z);
    if (!next) break;
    out.push_back(format_utc(*next));
    t = *next;
  }
  return out;
}

using V = std::vector<std::string>;

// The error message of a cron text that must not parse.
std::string parse_error(const std::string& text) {
  auto r = CronExpr::parse(text);
  INFO("cron: " << text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "invalid_argument");
  return r.error().message;
}

bool has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

TEST_CASE("cron: single values, lists, ranges and steps select minutes and hours") {
  auto e = cron("5,10-12,*/20 * * * *");
  std::vector<int> minutes;
  for (int m = 0; m < 60; ++m)
    if (e.matches_local(2026, 6, 1, 0, m)) minutes.push_back(m);
  CHECK(minutes == std::vector<int>{0, 5, 10, 11, 12, 20, 40});

  // `a/step` runs from a to the end of the field's range.
  CHECK(fires("10/15 * * * *", "UTC", "2026-06-01T00:00:00Z", 5) ==
        V{"2026-06-01T00:10:00Z", "2026-06-01T00:25:00Z", "2026-06-01T00:40:00Z", "2026-06-01T00:55:00Z",
          "2026-06-01T01:10:00Z"});
  // Stepped range.
  CHECK(fires("0 9-17/4 * * *", "UTC", "2026-06-01T00:00:00Z", 4) ==
        V{"2026-06-01T09:00:00Z", "2026-06-01T13:00:00Z", "2026-06-01T17:00:00Z", "2026-06-02T09:00:00Z"});
  CHECK(fires("10-30/10 8 * * *", "UTC", "2026-06-01T00:00:00Z", 4) ==
        V{"2026-06-01T08:10:00Z", "2026-06-01T08:20:00Z", "2026-06-01T08:30:00Z", "2026-06-02T08:10:00Z"});
  // Every minute.
  CHECK(fires("* * * * *", "UTC", "2026-06-01T00:00:30Z", 2) == V{"2026-06-01T00:01:00Z", "2026-06-01T00:02:00Z"});
  // Strictly after: a fire instant itself is not returned again.
  CHECK(fires("0 12 * * *", "UTC", "2026-06-01T12:00:00Z", 1) == V{"2026-06-02T12:00:00Z"});
  CHECK(fires("0 12 * * *", "UTC", "2026-06-01T11:59:59.999999Z", 1) == V{"2026-06-01T12:00:00Z"});
  // Surrounding and repeated blanks are fine.
  auto spaced = cron("  0   12\t* *  *  ");
  CHECK(spaced.text() == "0   12\t* *  *");
  CHECK(spaced.matches_local(2026, 6, 1, 12, 0));
}

TEST_CASE("cron: day of month, month and day of week fields") {
  // 2026-01-31 is a Saturday; months with a 31st in 2026 after January: Mar, May, Jul, ...
  CHECK(fires("0 0 31 * *", "UTC", "2026-01-31T00:00:00Z", 3) ==
        V{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"});
  // Feb 29 only in leap years.
  CHECK(fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2) == V{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"});
  // A day that never exists never fires.
  CHECK_FALSE(cron("0 0 30 2 *").next_after(utc("2026-01-01T00:00:00Z"), TimeZone()).has_value());
  CHECK_FALSE(cron("0 0 31 4,6,9,11 *").next_after(utc("2026-01-01T00:00:00Z"), zone("Europe/Berlin")).has_value());
  // Month ranges and lists.
  CHECK(fires("0 0 1 2-3,11 *", "UTC", "2026-01-15T00:00:00Z", 4) ==
        V{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-11-01T00:00:00Z", "2027-02-01T00:00:00Z"});
  // Weekdays: 2026-06-01 is a Monday.
  CHECK(fires("0 6 * * 1-5", "UTC", "2026-06-05T07:00:00Z", 2) == V{"2026-06-08T06:00:00Z", "2026-06-09T06:00:00Z"});
}

TEST_CASE("cron: month and weekday names are case-insensitive") {
  auto names = cron("0 0 * jan-MAR,Dec mon-Fri");
  auto numbers = cron("0 0 * 1-3,12 1-5");
  for (int month = 1; month <= 12; ++month)
    for (int day = 1; day <= 28; ++day)
      CHECK(names.matches_local(2026, month, day, 0, 0) == numbers.matches_local(2026, month, day, 0, 0));
  const char* months[] = {"JAN", "feb", "Mar", "aPr", "MAY", "jun", "JUL", "aug", "SEP", "oct", "NOV", "dec"};
  for (int m = 1; m <= 12; ++m) {
    auto e = cron(std::string("0 0 1 ") + months[m - 1] + " *");
    for (int other = 1; other <= 12; ++other) CHECK(e.matches_local(2026, other, 1, 0, 0) == (other == m));
  }
  // 2026-06-07 is a Sunday, so 2026-06-07 + k is weekday k.
  const char* days[] = {"sun", "MON", "Tue", "wed", "THU", "fri", "SAT"};
  for (int d = 0; d < 7; ++d) {
    auto e = cron(std::string("0 0 * * ") + days[d]);
    for (int k = 0; k < 7; ++k) CHECK(e.matches_local(2026, 6, 7 + k, 0, 0) == (k == d));
  }
  // Names in ranges with steps.
  CHECK(fires("0 0 1 JAN-DEC/3 *", "UTC", "2026-01-01T00:00:00Z", 3) ==
        V{"2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z"});
}

TEST_CASE("cron: day of week 0 and 7 are both Sunday") {
  // 2026-06-07 is a Sunday.
  for (const char* text : {"0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * 0,7"}) {
    INFO(text);
    CHECK(fires(text, "UTC", "2026-06-01T00:00:00Z", 2) == V{"2026-06-07T00:00:00Z", "2026-06-14T00:00:00Z"});
  }
  // 5-7 is Friday, Saturday and Sunday.
  CHECK(fires("0 0 * * 5-7", "UTC", "2026-06-01T00:00:00Z", 4) ==
        V{"2026-06-05T00:00:00Z", "2026-06-06T00:00:00Z", "2026-06-07T00:00:00Z", "2026-06-12T00:00:00Z"});
}

TEST_CASE("cron: every macro") {
  struct Case {
    const char* macro;
    const char* same_as;
    V expected;
  };
  // 2026-06-01 is a Monday; after Wednesday 2026-06-03T10:20Z.
  const char* after = "2026-06-03T10:20:00Z";
  std::vector<Case> cases = {
      {"@hourly", "0 * * * *", {"2026-06-03T11:00:00Z", "2026-06-03T12:00:00Z"}},
      {"@daily", "0 0 * * *", {"2026-06-04T00:00:00Z", "2026-06-05T00:00:00Z"}},
      {"@midnight", "0 0 * * *", {"2026-06-04T00:00:00Z", "2026-06-05T00:00:00Z"}},
      {"@weekly", "0 0 * * 0", {"2026-06-07T00:00:00Z", "2026-06-14T00:00:00Z"}},
      {"@monthly", "0 0 1 * *", {"2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z"}},
      {"@yearly", "0 0 1 1 *", {"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
      {"@annually", "0 0 1 1 *", {"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
  };
  for (auto& c : cases) {
    INFO(c.macro);
    auto e = cron(c.macro);
    CHECK(e.text() == c.macro);
    CHECK(fires(c.macro, "UTC", after, 2) == c.expected);
    CHECK(fires(c.same_as, "UTC", after, 2) == c.expected);
    // In a zone: local midnight etc.
    CHECK(fires(c.macro, "Europe/Berlin", after, 3) == fires(c.same_as, "Europe/Berlin", after, 3));
  }
  CHECK(cron("@hourly").is_wildcard());
  CHECK_FALSE(cron("@daily").is_wildcard());
  CHECK(fires("@daily", "Europe/Berlin", after, 1) == V{"2026-06-03T22:00:00Z"});
  CHECK(fires(" @daily ", "UTC", after, 1) == V{"2026-06-04T00:00:00Z"});
}

TEST_CASE("cron: wildcard and fixed-time expressions") {
  CHECK(cron("*/15 * * * *").is_wildcard());
  CHECK(cron("0 * * * *").is_wildcard());
  CHECK(cron("* 3 * * *").is_wildcard());
  CHECK(cron("*/30 2 * * *").is_wildcard());
  CHECK_FALSE(cron("30 2 * * *").is_wildcard());
  CHECK_FALSE(cron("0,30 1-3 * * *").is_wildcard());
  CHECK_FALSE(cron("0/15 2 * * *").is_wildcard());
  CHECK_FALSE(cron("0-59 0-23 * * *").is_wildcard());  // every minute, but fixed-time by the text rule
}

TEST_CASE("cron: parse errors name the field and what is allowed") {
  std::string m;

  m = parse_error("0 0 * *");
  CHECK(has(m, "invalid cron \"0 0 * *\""));
  CHECK(has(m, "5 fields"));
  CHECK(has(m, "minute hour day-of-month month day-of-week"));
  CHECK(has(m, "got 4"));
  m = parse_error("0 0 * * * *");
  CHECK(has(m, "5 fields"));
  CHECK(has(m, "got 6"));
  m = parse_error("");
  CHECK(has(m, "got 0"));

  struct OutOfRange {
    const char* text;
    const char* field;
    const char* allowed;
  };
  for (auto& c : std::vector<OutOfRange>{{"60 * * * *", "minute field \"60\"", "0-59"},
                                         {"0 24 * * *", "hour field \"24\"", "0-23"},
                                         {"0 0 32 * *", "day-of-month field \"32\"", "1-31"},
                                         {"0 0 0 * *", "day-of-month field \"0\"", "1-31"},
                                         {"0 0 * 13 *", "month field \"13\"", "1-12"},
                                         {"0 0 * 0 *", "month field \"0\"", "1-12"},
                                         {"0 0 * * 8", "day-of-week field \"8\"", "0-7"},
                                         {"0 0 * * 1,9", "day-of-week field \"1,9\"", "0-7"},
                                         {"0 0-99 * * *", "hour field \"0-99\"", "0-23"},
                                         {"1000 * * * *", "minute field \"1000\"", "0-59"}}) {
    m = parse_error(c.text);
    INFO(m);
    CHECK(has(m, c.field));
    CHECK(has(m, "out of range"));
    CHECK(has(m, c.allowed));
  }
  CHECK(has(parse_error("61 * * * *"), "minute field \"61\": 61 is out of range 0-59"));

  m = parse_error("0 0 * * 5-1");
  CHECK(has(m, "day-of-week field \"5-1\""));
  CHECK(has(m, "range 5-1 runs backwards"));
  CHECK(has(m, "0-7"));
  m = parse_error("30-10 * * * *");
  CHECK(has(m, "minute field \"30-10\""));
  CHECK(has(m, "backwards"));
  CHECK(has(m, "0-59"));
  m = parse_error("0 0 * DEC-JAN *");
  CHECK(has(m, "month field"));
  CHECK(has(m, "backwards"));

  m = parse_error("*/0 * * * *");
  CHECK(has(m, "minute field \"*/0\""));
  CHECK(has(m, "step \"0\" must be a positive number"));
  m = parse_error("0 1-5/0 * * *");
  CHECK(has(m, "hour field"));
  CHECK(has(m, "positive"));
  m = parse_error("0 */x * * *");
  CHECK(has(m, "hour field"));
  CHECK(has(m, "positive"));
  m = parse_error("0 */ * * *");
  CHECK(has(m, "hour field"));

  m = parse_error("0 0 * FOO *");
  CHECK(has(m, "month field \"FOO\""));
  CHECK(has(m, "month name (JAN-DEC)"));
  m = parse_error("0 0 * * FUN");
  CHECK(has(m, "day-of-week field \"FUN\""));
  CHECK(has(m, "weekday name (SUN-SAT)"));
  m = parse_error("0 0 * * JAN");  // a month name where a weekday belongs
  CHECK(has(m, "day-of-week field"));
  CHECK(has(m, "SUN-SAT"));
  m = parse_error("0 0 * MON *");
  CHECK(has(m, "month field"));
  CHECK(has(m, "JAN-DEC"));
  m = parse_error("0 0 * JANUARY *");
  CHECK(has(m, "JAN-DEC"));
  m = parse_error("abc * * * *");  // names only exist for month and weekday
  CHECK(has(m, "minute field \"abc\""));
  CHECK(has(m, "not a number"));
  CHECK(has(m, "0-59"));
  m = parse_error("0 0 1x * *");
  CHECK(has(m, "day-of-month field \"1x\""));
  CHECK(has(m, "1-31"));

  m = parse_error("0 0 1, * *");
  CHECK(has(m, "day-of-month field"));
  CHECK(has(m, "empty"));
  m = parse_error("-5 * * * *");
  CHECK(has(m, "minute field"));

  m = parse_error("@fortnightly");
  CHECK(has(m, "invalid cron \"@fortnightly\""));
  CHECK(has(m, "unknown macro"));
  for (const char* macro : {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"})
    CHECK(has(m, macro));
  CHECK(has(parse_error("@daily 0"), "unknown macro"));
  CHECK(has(parse_error("@"), "unknown macro"));
}

// ---------------------------------------------------------------------------
// The day-of-month / day-of-week rule
// ---------------------------------------------------------------------------

TEST_CASE("cron: both day fields restricted means either day matches") {
  // 2026-02-13 and 2026-03-13 are Fridays, 2026-01-13 a Tuesday.
  CHECK(fires("0 0 13 * 5", "UTC", "2026-01-01T00:00:00Z", 6) ==
        V{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z",
          "2026-01-23T00:00:00Z", "2026-01-30T00:00:00Z"});
  auto e = cron("0 0 13 * FRI");
  CHECK(e.matches_local(2026, 1, 13, 0, 0));   // Tuesday the 13th
  CHECK(e.matches_local(2026, 1, 16, 0, 0));   // Friday the 16th
  CHECK_FALSE(e.matches_local(2026, 1, 14, 0, 0));
  // Month still restricts both.
  CHECK(fires("0 0 1 6 MON", "UTC", "2026-01-01T00:00:00Z", 3) ==
        V{"2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z"});
  // A list that does not start with `*` is restricted even when it covers everything.
  CHECK(fires("0 0 1,*/1 * 5", "UTC", "2025-12-31T12:00:00Z", 3) ==
        V{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"});
}

TEST_CASE("cron: a day field starting with * means both must match") {
  // `*/2` starts with `*`: only odd days (1, 3, ...) that are also Fridays.
  // Fridays in 2026-01: 2, 9, 16, 23, 30; in 2026-02: 6, 13, 20, 27; 2026-03: 6, 13, 20, 27.
  CHECK(fires("0 0 */2 * 5", "UTC", "2026-01-01T00:00:00Z", 4) ==
        V{"2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-27T00:00:00Z"});
  // Weekday field `*`: the day of month alone.
  CHECK(fires("0 0 13 * *", "UTC", "2026-01-01T00:00:00Z", 2) == V{"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"});
  // Day-of-month `*`: the weekday alone.
  CHECK(fires("0 0 * * 5", "UTC", "2026-01-01T00:00:00Z", 2) == V{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"});
  // Weekday `*/2` (Sun, Tue, Thu, Sat) AND the 13th: 2026-01-13 is a Tuesday, 2026-02-13 a Friday,
  // 2026-03-13 a Friday, 2026-04-13 a Monday, 2026-05-13 a Wednesday, 2026-06-13 a Saturday.
  CHECK(fires("0 0 13 * */2", "UTC", "2026-01-01T00:00:00Z", 2) == V{"2026-01-13T00:00:00Z", "2026-06-13T00:00:00Z"});
}

// ---------------------------------------------------------------------------
// Daylight saving time (SPEC §4; verified with `zdump -v -c 2026,2027 ZONE`)
//   Europe/Berlin        2026-03-29T01:00Z 02:00 CET  -> 03:00 CEST (+1 -> +2)
//                        2026-10-25T01:00Z 03:00 CEST -> 02:00 CET
//   America/New_York     2026-03-08T07:00Z 02:00 EST  -> 03:00 EDT  (-5 -> -4)
//                        2026-11-01T06:00Z 02:00 EDT  -> 01:00 EST
//   Australia/Sydney     2026-04-04T16:00Z (Sun 04-05) 03:00 AEDT -> 02:00 AEST (+11 -> +10)
//                        2026-10-03T16:00Z (Sun 10-04) 02:00 AEST -> 03:00 AEDT
//   Australia/Lord_Howe  2026-04-04T15:00Z (Sun 04-05) 02:00 +11    -> 01:30 +10:30
//                        2026-10-03T15:30Z (Sun 10-04) 02:00 +10:30 -> 02:30 +11
// ---------------------------------------------------------------------------

TEST_CASE("DST Europe/Berlin: fixed-time expressions") {
  // Spring forward: 02:30 does not exist on 03-29; it fires once at the jump.
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", 3) ==
        V{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"});
  // Fall back: 02:30 occurs twice on 10-25; it fires at the first (CEST) one only.
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z", 3) ==
        V{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"});
  // Asking from inside the repeated hour (second occurrence) does not fire it again.
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1) == V{"2026-10-26T01:30:00Z"});
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", 1) == V{"2026-10-26T01:30:00Z"});
  // Several skipped times of one jump fire once together.
  CHECK(fires("0,15,30,45 2 * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", 3) ==
        V{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:15:00Z"});
  CHECK(fires("0,15,30,45 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", 5) ==
        V{"2026-03-28T01:00:00Z", "2026-03-28T01:15:00Z", "2026-03-28T01:30:00Z", "2026-03-28T01:45:00Z",
          "2026-03-29T01:00:00Z"});
  // A skipped time and an existing one at the same instant: one fire.
  CHECK(fires("0 2,3 * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", 3) ==
        V{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T01:00:00Z"});
  // Fall back with several times in the repeated hour: each once, then the next day.
  CHECK(fires("0,30 2 * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", 3) ==
        V{"2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:00:00Z"});
  // Times outside the gap and the overlap are unaffected.
  CHECK(fires("30 1,3 * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", 2) ==
        V{"2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"});
  CHECK(fires("30 1,3 * * *", "Europe/Berlin", "2026-10-24T22:00:00Z", 2) ==
        V{"2026-10-24T23:30:00Z", "2026-10-25T02:30:00Z"});
  // A skipped time restricted to the day of the jump.
  CHECK(fires("30 2 29 3 *", "Europe/Berlin", "2026-01-01T00:00:00Z", 2) ==
        V{"2026-03-29T01:00:00Z", "2027-03-29T00:30:00Z"});
  // Only the 28th: no fire at the 2026 jump (03-29), but 2027-03-28 is itself the day of the jump.
  CHECK(fires("30 2 28 3 *", "Europe/Berlin", "2026-03-27T00:00:00Z", 2) ==
        V{"2026-03-28T01:30:00Z", "2027-03-28T01:00:00Z"});
  // Asking exactly at the jump instant: strictly after, so not again.
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", 1) == V{"2026-03-30T00:30:00Z"});
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2026-03-29T00:59:59Z", 1) == V{"2026-03-29T01:00:00Z"});
}

TEST_CASE("DST Europe/Berlin: wildcard expressions") {
  // Every 30 minutes: continuous in UTC; local 02:00 and 02:30 are skipped on 03-29.
  auto spring = fires("*/30 * * * *", "Europe/Berlin", "2026-03-28T23:59:00Z", 4);
  CHECK(spring == V{"2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"});
  auto berlin = zone("Europe/Berlin");
  std::vector<std::string> local;
  for (auto& s : spring) local.push_back(format_local(utc(s.c_str()), berlin));
  CHECK(local == V{"2026-03-29 01:00:00 +01:00", "2026-03-29 01:30:00 +01:00", "2026-03-29 03:00:00 +02:00",
                   "2026-03-29 03:30:00 +02:00"});
  // ... and local 02:00 and 02:30 fire twice on 10-25 (CEST, then CET).
  auto fall = fires("*/30 * * * *", "Europe/Berlin", "2026-10-24T23:59:00Z", 4);
  CHECK(fall == V{"2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z"});
  local.clear();
  for (auto& s : fall) local.push_back(format_local(utc(s.c_str()), berlin));
  CHECK(local == V{"2026-10-25 02:00:00 +02:00", "2026-10-25 02:30:00 +02:00", "2026-10-25 02:00:00 +01:00",
                   "2026-10-25 02:30:00 +01:00"});
  // Restricted to hour 2: nothing at all on 03-29, four fires on 10-25.
  CHECK(fires("*/30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", 4) ==
        V{"2026-03-28T01:00:00Z", "2026-03-28T01:30:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:30:00Z"});
  CHECK(fires("*/30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 5) ==
        V{"2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z",
          "2026-10-26T01:00:00Z"});
  // Hour field `*`: 30 minutes past every local hour; 02:30 skipped, 02:30 repeated.
  CHECK(fires("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 3) ==
        V{"2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"});
  CHECK(fires("30 * * * *", "Europe/Berlin", "2026-10-25T00:00:00Z", 3) ==
        V{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"});
  // `* 2 * * *`: every minute of local hour 2 — none on 03-29, 120 on 10-25.
  auto e = cron("* 2 * * *");
  int count = 0;
  TimePoint t = utc("2026-10-24T12:00:00Z");
  while (true) {
    auto n = e.next_after(t, berlin);
    REQUIRE(n);
    if (*n >= utc("2026-10-25T12:00:00Z")) break;
    ++count;
    t = *n;
  }
  CHECK(count == 120);
  CHECK(format_utc(*e.next_after(utc("2026-03-28T12:00:00Z"), berlin)) == "2026-03-30T00:00:00Z");
}

TEST_CASE("DST America/New_York") {
  // Spring forward 2026-03-08T07:00Z: 02:00-03:00 EST does not exist.
  CHECK(fires("30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z", 3) ==
        V{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"});
  CHECK(fires("15 2 * * *", "America/New_York", "2026-03-08T00:00:00Z", 2) ==
        V{"2026-03-08T07:00:00Z", "2026-03-09T06:15:00Z"});
  CHECK(fires("0,20,40 2 * * *", "America/New_York", "2026-03-08T00:00:00Z", 2) ==
        V{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"});
  CHECK(fires("*/20 2 * * *", "America/New_York", "2026-03-07T00:00:00Z", 6) ==
        V{"2026-03-07T07:00:00Z", "2026-03-07T07:20:00Z", "2026-03-07T07:40:00Z", "2026-03-09T06:00:00Z",
          "2026-03-09T06:20:00Z", "2026-03-09T06:40:00Z"});
  // Fall back 2026-11-01T06:00Z: 01:00-02:00 occurs twice (EDT, then EST).
  CHECK(fires("30 1 * * *", "America/New_York", "2026-10-30T12:00:00Z", 3) ==
        V{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"});
  CHECK(fires("*/30 1 * * *", "America/New_York", "2026-10-31T00:00:00Z", 8) ==
        V{"2026-10-31T05:00:00Z", "2026-10-31T05:30:00Z", "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z",
          "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:00:00Z", "2026-11-02T06:30:00Z"});
  // Every local hour: 01:00 twice, in UTC simply hourly.
  CHECK(fires("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", 3) ==
        V{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"});
  // A fixed-time list in the overlap: 01:00 (EDT) then 02:00 (EST).
  CHECK(fires("0 1,2 * * *", "America/New_York", "2026-11-01T04:30:00Z", 3) ==
        V{"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-02T06:00:00Z"});
  // Daily at midnight: unaffected, but the UTC instant moves with the offset.
  CHECK(fires("@daily", "America/New_York", "2026-03-07T00:00:00Z", 3) ==
        V{"2026-03-07T05:00:00Z", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"});
}

TEST_CASE("DST Australia/Sydney") {
  // Fall back (southern autumn) 2026-04-04T16:00Z: Sunday 04-05 03:00 AEDT -> 02:00 AEST.
  CHECK(fires("30 2 * * *", "Australia/Sydney", "2026-04-03T00:00:00Z", 3) ==
        V{"2026-04-03T15:30:00Z", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"});
  CHECK(fires("*/30 2 * * *", "Australia/Sydney", "2026-04-04T00:00:00Z", 6) ==
        V{"2026-04-04T15:00:00Z", "2026-04-04T15:30:00Z", "2026-04-04T16:00:00Z", "2026-04-04T16:30:00Z",
          "2026-04-05T16:00:00Z", "2026-04-05T16:30:00Z"});
  // Spring forward 2026-10-03T16:00Z: Sunday 10-04 02:00 AEST -> 03:00 AEDT.
  CHECK(fires("30 2 * * *", "Australia/Sydney", "2026-10-02T00:00:00Z", 3) ==
        V{"2026-10-02T16:30:00Z", "2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"});
  CHECK(fires("*/30 2 * * *", "Australia/Sydney", "2026-10-02T00:00:00Z", 4) ==
        V{"2026-10-02T16:00:00Z", "2026-10-02T16:30:00Z", "2026-10-04T15:00:00Z", "2026-10-04T15:30:00Z"});
  CHECK(fires("0,10,50 2 * * *", "Australia/Sydney", "2026-10-03T00:00:00Z", 2) ==
        V{"2026-10-03T16:00:00Z", "2026-10-04T15:00:00Z"});
  // Weekly on Sunday at 02:30: the jump is on a Sunday in both directions.
  CHECK(fires("30 2 * * SUN", "Australia/Sydney", "2026-03-30T00:00:00Z", 2) ==
        V{"2026-04-04T15:30:00Z", "2026-04-11T16:30:00Z"});
  CHECK(fires("30 2 * * SUN", "Australia/Sydney", "2026-09-30T00:00:00Z", 2) ==
        V{"2026-10-03T16:00:00Z", "2026-10-10T15:30:00Z"});
}

TEST_CASE("DST Australia/Lord_Howe: a 30-minute shift") {
  // Fall back 2026-04-04T15:00Z: Sunday 04-05 02:00 +11 -> 01:30 +10:30; 01:30-02:00 repeats.
  CHECK(fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-03T00:00:00Z", 3) ==
        V{"2026-04-03T14:45:00Z", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"});
  // 01:15 is not in the repeated half hour.
  CHECK(fires("15 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", 2) ==
        V{"2026-04-04T14:15:00Z", "2026-04-05T14:45:00Z"});
  // Wildcard: 01:30 and 01:45 fire twice, 01:00 and 01:15 once.
  CHECK(fires("*/15 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z", 7) ==
        V{"2026-04-04T14:00:00Z", "2026-04-04T14:15:00Z", "2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z",
          "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z", "2026-04-05T14:30:00Z"});
  auto lh = zone("Australia/Lord_Howe");
  auto every15 = fires("*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:20:00Z", 5);
  CHECK(every15 == V{"2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z",
                     "2026-04-04T15:30:00Z"});
  std::vector<std::string> local;
  for (auto& s : every15) local.push_back(format_local(utc(s.c_str()), lh));
  CHECK(local == V{"2026-04-05 01:30:00 +11:00", "2026-04-05 01:45:00 +11:00", "2026-04-05 01:30:00 +10:30",
                   "2026-04-05 01:45:00 +10:30", "2026-04-05 02:00:00 +10:30"});
  // Spring forward 2026-10-03T15:30Z: Sunday 10-04 02:00 +10:30 -> 02:30 +11; 02:00-02:30 is skipped.
  CHECK(fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-02T00:00:00Z", 3) ==
        V{"2026-10-02T15:45:00Z", "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"});
  // 02:45 exists on 10-04.
  CHECK(fires("45 2 * * *", "Australia/Lord_Howe", "2026-10-02T00:00:00Z", 3) ==
        V{"2026-10-02T16:15:00Z", "2026-10-03T15:45:00Z", "2026-10-04T15:45:00Z"});
  // Skipped 02:00 and 02:15 fire once at the jump, together with 02:30 which is the jump's own local time.
  CHECK(fires("0,15,30,45 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", 3) ==
        V{"2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z", "2026-10-04T15:00:00Z"});
  // Wildcard: 02:00 and 02:15 do not fire on 10-04.
  CHECK(fires("*/15 2 * * *", "Australia/Lord_Howe", "2026-10-02T15:00:00Z", 7) ==
        V{"2026-10-02T15:30:00Z", "2026-10-02T15:45:00Z", "2026-10-02T16:00:00Z", "2026-10-02T16:15:00Z",
          "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z", "2026-10-04T15:00:00Z"});
  auto spring15 = fires("*/15 * * * *", "Australia/Lord_Howe", "2026-10-03T15:00:00Z", 3);
  CHECK(spring15 == V{"2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z"});
  local.clear();
  for (auto& s : spring15) local.push_back(format_local(utc(s.c_str()), lh));
  CHECK(local == V{"2026-10-04 01:45:00 +10:30", "2026-10-04 02:30:00 +11:00", "2026-10-04 02:45:00 +11:00"});
}

TEST_CASE("cron: zones without DST and UTC agree with plain arithmetic") {
  // Asia/Kolkata is +05:30 all year.
  CHECK(fires("0 0 * * *", "Asia/Kolkata", "2026-03-29T00:00:00Z", 2) ==
        V{"2026-03-29T18:30:00Z", "2026-03-30T18:30:00Z"});
  CHECK(fires("30 2 * * *", "UTC", "2026-03-29T00:00:00Z", 2) == V{"2026-03-29T02:30:00Z", "2026-03-30T02:30:00Z"});
}

// ---------------------------------------------------------------------------
// Randomized differential test against an independent minute-by-minute enumerator
// ---------------------------------------------------------------------------

namespace {

struct FieldSpec {
  int lo, hi;
  const char* const* names;  // names for values lo.. (month: 1..12, weekday: 0..6)
};

const char* const kMonthNamesT[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                    "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kDowNamesT[] = {"sun", "Mon", "TUE", "wed", "Thu", "FRI", "sat"};

// A randomly generated field: its text and the set of values it stands for,
// computed here independently of the parser.
struct GenField {
  std::string text;
  std::vector<bool> values;  // indexed by value; weekday 7 folded into 0
  bool starts_with_star = false;
};

struct GenExpr {
  std::string text;
  GenField f[5];
  bool wildcard() const { return f[0].starts_with_star || f[1].starts_with_star; }
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  int uniform(int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  std::mt19937_64& rng() { return rng_; }

  std::string value_text(const FieldSpec& s, int v, bool allow_name) {
    if (allow_name && s.names && chance(0.4)) {
      if (s.lo == 1) return s.names[v - 1];
      if (v <= 6) return s.names[v];  // weekday 7 has no name
    }
    return std::to_string(v);
  }

  // `focus` values are favoured so that expressions fire near the interesting instants.
  GenField field(const FieldSpec& s, double star_p, const std::vector<int>& focus) {
    GenField g;
    g.values.assign(static_cast<size_t>(s.hi + 1), false);
    auto set = [&](int v) { g.values[static_cast<size_t>(s.hi == 7 ? v % 7 : v)] = true; };
    auto pick = [&]() {
      if (!focus.empty() && chance(0.5)) return focus[static_cast<size_t>(uniform(0, (int)focus.size() - 1))];
      return uniform(s.lo, s.hi);
    };
    if (chance(star_p)) {
      if (chance(0.5)) {
        g.text = "*";
        for (int v = s.lo; v <= s.hi; ++v) set(v);
      } else {
        int step = uniform(1, std::max(1, (s.hi - s.lo + 1) / 3));
        g.text = "*/" + std::to_string(step);
        for (int v = s.lo; v <= s.hi; v += step) set(v);
      }
      g.starts_with_star = true;
      return g;
    }
    int items = uniform(1, 3);
    for (int i = 0; i < items; ++i) {
      if (i) g.text += ",";
      int kind = uniform(0, 5);
      if (kind <= 1) {
        int v = pick();
        g.text += value_text(s, v, true);
        set(v);
      } else if (kind == 2) {
        int a = pick(), b = pick();
        if (a > b) std::swap(a, b);
        g.text += value_text(s, a, true) + "-" + value_text(s, b, b != 7);
        for (int v = a; v <= b; ++v) set(v);
      } else if (kind == 3) {
        int a = pick(), b = uniform(a, s.hi), step = uniform(1, std::max(1, (s.hi - s.lo) / 2));
        g.text += value_text(s, a, true) + "-" + value_text(s, b, b != 7) + "/" + std::to_string(step);
        for (int v = a; v <= b; v += step) set(v);
      } else if (kind == 4) {
        int a = pick(), step = uniform(1, std::max(1, (s.hi - s.lo) / 2));
        g.text += value_text(s, a, true) + "/" + std::to_string(step);
        for (int v = a; v <= s.hi; v += step) set(v);
      } else {
        // A star-step inside a list: the field does not *start* with `*`.
        if (i == 0) {
          int v = pick();
          g.text += std::to_string(v) + ",";
          set(v);
        }
        int step = uniform(1, std::max(1, (s.hi - s.lo) / 2));
        g.text += "*/" + std::to_string(step);
        for (int v = s.lo; v <= s.hi; v += step) set(v);
      }
    }
    return g;
  }

  GenExpr expr() {
    static const FieldSpec specs[5] = {
        {0, 59, nullptr}, {0, 23, nullptr}, {1, 31, nullptr}, {1, 12, kMonthNamesT}, {0, 7, kDowNamesT}};
    GenExpr e;
    e.f[0] = field(specs[0], 0.3, {0, 15, 30, 45, 59});
    e.f[1] = field(specs[1], 0.3, {0, 1, 2, 3});  // DST jumps happen between 01:00 and 03:00 local
    e.f[2] = field(specs[2], 0.6, {});
    e.f[3] = field(specs[3], 0.8, {3, 4, 10, 11});
    e.f[4] = field(specs[4], 0.5, {0, 7});  // all 2026 transitions in these zones are on Sundays
    for (int i = 0; i < 5; ++i) e.text += (i ? " " : "") + e.f[i].text;
    return e;
  }

 private:
  std::mt19937_64 rng_;
};

struct LocalFields {
  int year, month, day, hour, minute, weekday;
};

// Local wall time (minute resolution) from local microseconds, with <chrono>'s calendar.
LocalFields split_local(Duration local) {
  using namespace std::chrono;
  auto mins = floor<minutes>(local);
  auto days_ = floor<days>(mins);
  year_month_day ymd{sys_days{days_}};
  weekday wd{sys_days{days_}};
  auto in_day = mins - days_;
  return {int(ymd.year()), int(unsigned(ymd.month())), int(unsigned(ymd.day())), int(in_day.count() / 60),
          int(in_day.count() % 60), int(wd.c_encoding())};
}

// SPEC §4 matching, independent of CronExpr.
bool spec_matches(const GenExpr& e, const LocalFields& l) {
  if (!e.f[0].values[l.minute] || !e.f[1].values[l.hour] || !e.f[3].values[l.month]) return false;
  bool dom = e.f[2].values[l.day], dow = e.f[4].values[l.weekday];
  bool restricted = !e.f[2].starts_with_star && !e.f[4].starts_with_star;
  return restricted ? (dom || dow) : (dom && dow);
}

// The fire instants in (after, window_end], walking UTC minute by minute.
std::vector<TimePoint> enumerate(const GenExpr& e, const TimeZone& z, TimePoint after, TimePoint window_end) {
  using namespace std::chrono;
  std::vector<TimePoint> out;
  const bool wildcard = e.wildcard();
  // Start a day early to know which local times have already been seen.
  TimePoint u = floor<minutes>(after) - hours(24);
  Duration max_seen = z.to_local(u);
  for (u += minutes(1); u <= window_end; u += minutes(1)) {
    Duration local = z.to_local(u);
    bool fire = false;
    if (wildcard) {
      fire = spec_matches(e, split_local(local));
    } else if (local > max_seen) {
      // Fixed-time: fire if the local time, or any local time skipped just before it, matches.
      for (Duration l = max_seen + minutes(1); l <= local && !fire; l += minutes(1))
        fire = spec_matches(e, split_local(l));
    }
    // else: a local time seen before (the zone went back): fixed-time does not fire again.
    max_seen = std::max(max_seen, local);
    if (fire && u > after) out.push_back(u);
  }
  return out;
}

}  // namespace

TEST_CASE("cron: randomized differential test against a minute-by-minute enumerator") {
  const uint64_t seed = 20260329;
  Generator gen(seed);
  const char* zone_names[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"};
  const char* transitions[][2] = {{"2026-06-01T00:00:00Z", "2026-12-01T00:00:00Z"},
                                  {"2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"},
                                  {"2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"},
                                  {"2026-04-04T16:00:00Z", "2026-10-03T16:00:00Z"},
                                  {"2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"}};
  const TimePoint year_start = utc("2026-01-01T00:00:00Z");
  const int kCases = 1500, kFires = 8;
  int compared = 0, dst_fires = 0, fixed_cases = 0, wildcard_cases = 0;
  for (int c = 0; c < kCases; ++c) {
    GenExpr g = gen.expr();
    int zi = gen.uniform(0, 4);
    auto z = zone(zone_names[zi]);
    TimePoint after;
    if (gen.chance(0.7)) {
      // Near a transition: from two days before it to two hours after it (inside a repeated hour).
      TimePoint tr = utc(transitions[zi][gen.uniform(0, 1)]);
      after = tr + std::chrono::seconds(gen.uniform(-2 * 86400, 2 * 3600));
    } else {
      after = year_start + std::chrono::seconds(gen.uniform(0, 364 * 86400));
    }
    if (gen.chance(0.5)) after = std::chrono::floor<std::chrono::minutes>(after);
    const TimePoint window_end = after + std::chrono::hours(72);

    INFO("seed " << seed << " case " << c << ": cron \"" << g.text << "\" in " << zone_names[zi] << " after "
                 << format_utc(after) << (g.wildcard() ? " (wildcard)" : " (fixed-time)"));
    auto parsed = CronExpr::parse(g.text);
    REQUIRE(parsed.ok());
    REQUIRE(parsed->is_wildcard() == g.wildcard());
    (g.wildcard() ? wildcard_cases : fixed_cases)++;

    std::vector<TimePoint> expected = enumerate(g, z, after, window_end);
    if (expected.size() > static_cast<size_t>(kFires)) expected.resize(kFires);
    std::vector<std::string> want, got;
    for (auto t : expected) want.push_back(format_utc(t));
    TimePoint t = after;
    for (int i = 0; i < kFires; ++i) {
      auto n = parsed->next_after(t, z);
      if (!n || *n > window_end) break;
      got.push_back(format_utc(*n));
      t = *n;
    }
    CHECK(got == want);
    compared += static_cast<int>(want.size());
    for (auto tp : expected) {
      bool near = std::chrono::abs(tp - utc(transitions[zi][0])) < std::chrono::hours(3) ||
                  std::chrono::abs(tp - utc(transitions[zi][1])) < std::chrono::hours(3);
      if (zi > 0 && near) ++dst_fires;
    }
  }
  // The test must actually exercise something.
  INFO("compared " << compared << " fires, " << dst_fires << " within 3h of a DST transition");
  CHECK(compared > kCases);
  CHECK(dst_fires > 50);
  CHECK(fixed_cases > 50);
  CHECK(wildcard_cases > 50);
}
