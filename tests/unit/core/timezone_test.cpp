// TimeZone after the last transition stored in the tz files (Debian's stop in
// 2037): the POSIX TZ rule of the TZif footer takes over. Expected instants are
// derived by hand from the rules (weekday of 2040-01-01: Sunday; 2050-01-01:
// Saturday; 2100-01-01: Friday).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/cron.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"

// Test hooks defined in core/src/timezone.cpp (not part of the public interface).
namespace baton::timezone_testing {
std::string describe_posix_tz(std::string_view text);
std::string posix_tz_transitions(std::string_view text, int year);
}  // namespace baton::timezone_testing

using namespace baton;
using baton::timezone_testing::describe_posix_tz;
using baton::timezone_testing::posix_tz_transitions;

namespace {

using V = std::vector<std::string>;

TimePoint utc(const char* s) {
  auto r = parse_utc(s);
  INFO("instant: " << s);
  REQUIRE(r.ok());
  return *r;
}

TimeZone zone(const char* name) {
  auto z = TimeZone::find(name);
  INFO("zone: " << name);
  REQUIRE(z.ok());
  return *z;
}

std::string offset_text(Duration off) {
  long long m = off.count() / 60000000;
  char sign = m < 0 ? '-' : '+';
  if (m < 0) m = -m;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", sign, m / 60, m % 60);
  return buf;
}

// The offset at the start of a UTC year, then every change of offset in that
// year as "INSTANT OFFSET", found by walking period_at.
V year_changes(const TimeZone& z, int year) {
  const TimePoint from(std::chrono::seconds(days_from_civil(year, 1, 1) * 86400));
  const TimePoint to(std::chrono::seconds(days_from_civil(year + 1, 1, 1) * 86400));
  TimeZone::Period p = z.period_at(from);
  V out{offset_text(p.offset)};
  for (int n = 0; n < 100 && p.end < to; ++n) {
    TimeZone::Period next = z.period_at(p.end);
    if (next.begin != p.end) {
      out.push_back("gap at " + format_utc(p.end));
      break;
    }
    if (next.offset != p.offset) out.push_back(format_utc(next.begin) + " " + offset_text(next.offset));
    p = next;
  }
  return out;
}

std::string from_local(const TimeZone& z, const char* local) {
  auto d = parse_date_time(local);
  INFO("local: " << local);
  REQUIRE(d.ok());
  REQUIRE_FALSE(d->absolute);
  return format_utc(z.resolve(*d));
}

// The next `n` fire instants strictly after `after`, as ISO 8601 UTC.
V fires(const std::string& expr, const char* tz, const char* after, int n) {
  auto e = CronExpr::parse(expr);
  INFO("cron: " << expr);
  REQUIRE(e.ok());
  auto z = zone(tz);
  V out;
  TimePoint t = utc(after);
  for (int i = 0; i < n; ++i) {
    auto next = e->next_after(t, z);
    if (!next) break;
    out.push_back(format_utc(*next));
    t = *next;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// The POSIX TZ string parser
// ---------------------------------------------------------------------------

TEST_CASE("posix tz: the footers of common zones") {
  CHECK(describe_posix_tz("CET-1CEST,M3.5.0,M10.5.0/3") == "CET +01:00 CEST +02:00 M3.5.0/2:00:00 M10.5.0/3:00:00");
  CHECK(describe_posix_tz("EST5EDT,M3.2.0,M11.1.0") == "EST -05:00 EDT -04:00 M3.2.0/2:00:00 M11.1.0/2:00:00");
  CHECK(describe_posix_tz("EST5EDT,M3.2.0/2:00:00,M11.1.0/2:00:00") ==
        "EST -05:00 EDT -04:00 M3.2.0/2:00:00 M11.1.0/2:00:00");
  // Quoted names, an offset with minutes, an explicit DST offset.
  CHECK(describe_posix_tz("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0") ==
        "+1030 +10:30 +11 +11:00 M10.1.0/2:00:00 M4.1.0/2:00:00");
  // Southern hemisphere: DST starts in October and ends in April.
  CHECK(describe_posix_tz("AEST-10AEDT,M10.1.0,M4.1.0/3") == "AEST +10:00 AEDT +11:00 M10.1.0/2:00:00 M4.1.0/3:00:00");
  CHECK(describe_posix_tz("NZST-12NZDT,M9.5.0,M4.1.0/3") == "NZST +12:00 NZDT +13:00 M9.5.0/2:00:00 M4.1.0/3:00:00");
  // No DST: a fixed offset.
  CHECK(describe_posix_tz("<-03>3") == "-03 -03:00");
  CHECK(describe_posix_tz("JST-9") == "JST +09:00");
  CHECK(describe_posix_tz("<+08>-8") == "+08 +08:00");
  CHECK(describe_posix_tz("UTC0") == "UTC +00:00");
  CHECK(describe_posix_tz("<+0545>-5:45") == "+0545 +05:45");
  CHECK(describe_posix_tz("AAA+3:30:15") == "AAA -3:30:15");
}

TEST_CASE("posix tz: RFC 8536 transition times beyond 24h and negative") {
  // Israel: the Thursday of the 4th week of March at 26:00 (Friday 02:00).
  CHECK(describe_posix_tz("IST-2IDT,M3.4.4/26,M10.5.0") == "IST +02:00 IDT +03:00 M3.4.4/26:00:00 M10.5.0/2:00:00");
  // Greenland: the last Sunday of March at -2:00 (Saturday 22:00).
  CHECK(describe_posix_tz("WGT3WGST,M3.5.0/-2,M10.5.0/-1") ==
        "WGT -03:00 WGST -02:00 M3.5.0/-2:00:00 M10.5.0/-1:00:00");
  CHECK(describe_posix_tz("XXX0YYY,M3.5.0/167,M10.5.0/-167:59:59") ==
        "XXX +00:00 YYY +01:00 M3.5.0/167:00:00 M10.5.0/-167:59:59");
  // Julian day forms and explicit DST offsets.
  CHECK(describe_posix_tz("AAA3BBB2:30,J60/1:30,300/-0:30:15") ==
        "AAA -03:00 BBB -02:30 J60/1:30:00 300/-0:30:15");
  CHECK(describe_posix_tz("AAA-3BBB+1,J1,J365") == "AAA +03:00 BBB -01:00 J1/2:00:00 J365/2:00:00");
}

TEST_CASE("posix tz: malformed strings are rejected") {
  for (const char* bad :
       {"", "CE-1", "CET", "CET-", "CET-1CE", "CET-1CEST", "CET-1CEST,M3.5.0", "CET-1CEST,M3.5.0,", "CET-1CEST,,M10.5.0",
        "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M0.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.0.0,M10.5.0",
        "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5,M10.5.0", "CET-25", "CET-1:60", "CET-1:00:60", "CET-1CEST,J0,J365",
        "CET-1CEST,J366,J1", "CET-1CEST,366,1", "CET-1CEST,M3.5.0/168,M10.5.0", "CET-1CEST,M3.5.0/2:60,M10.5.0",
        "<AB>1", "<+1030-10:30", "<+10:30>-10", "CET-1 ", "CET-1CEST,M3.5.0,M10.5.0,", "CET-1CEST,M3.5.0,M10.5.0/3x",
        "1CET", "CET1000", "CET-1CEST-2-3,M3.5.0,M10.5.0"}) {
    INFO("tz: \"" << bad << "\"");
    CHECK(describe_posix_tz(bad).empty());
  }
}

TEST_CASE("posix tz: the transitions of a year in UTC") {
  CHECK(posix_tz_transitions("CET-1CEST,M3.5.0,M10.5.0/3", 2040) ==
        "2040-03-25T01:00:00Z +02:00, 2040-10-28T01:00:00Z +01:00");
  CHECK(posix_tz_transitions("EST5EDT,M3.2.0,M11.1.0", 2040) ==
        "2040-03-11T07:00:00Z -04:00, 2040-11-04T06:00:00Z -05:00");
  // Southern hemisphere: the end (April) comes first in the year.
  CHECK(posix_tz_transitions("AEST-10AEDT,M10.1.0,M4.1.0/3", 2040) ==
        "2040-03-31T16:00:00Z +10:00, 2040-10-06T16:00:00Z +11:00");
  CHECK(posix_tz_transitions("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 2040) ==
        "2040-03-31T15:00:00Z +10:30, 2040-10-06T15:30:00Z +11:00");
  // Week 5 is the last such weekday: September 2040 has five Sundays (the
  // 30th), March 2040 four (the 25th).
  CHECK(posix_tz_transitions("NZST-12NZDT,M9.5.0,M4.1.0/3", 2040) ==
        "2040-03-31T14:00:00Z +12:00, 2040-09-29T14:00:00Z +13:00");
  // 4th Thursday of March 2040 is the 22nd; 26:00 IST is 03-23 00:00Z.
  CHECK(posix_tz_transitions("IST-2IDT,M3.4.4/26,M10.5.0", 2040) ==
        "2040-03-23T00:00:00Z +03:00, 2040-10-27T23:00:00Z +02:00");
  // -2:00 on Sunday 03-25 is Saturday 22:00 at -03:00, i.e. 03-25 01:00Z.
  CHECK(posix_tz_transitions("WGT3WGST,M3.5.0/-2,M10.5.0/-1", 2040) ==
        "2040-03-25T01:00:00Z -02:00, 2040-10-28T01:00:00Z -03:00");
  // Jn never counts February 29; n (zero-based) does.
  CHECK(posix_tz_transitions("AAA0BBB,J60/0,J300/0", 2040) == "2040-03-01T00:00:00Z +01:00, 2040-10-26T23:00:00Z +00:00");
  CHECK(posix_tz_transitions("AAA0BBB,J60/0,J300/0", 2041) == "2041-03-01T00:00:00Z +01:00, 2041-10-26T23:00:00Z +00:00");
  CHECK(posix_tz_transitions("AAA0BBB,60/0,300/0", 2040) == "2040-03-01T00:00:00Z +01:00, 2040-10-26T23:00:00Z +00:00");
  CHECK(posix_tz_transitions("AAA0BBB,60/0,300/0", 2041) == "2041-03-02T00:00:00Z +01:00, 2041-10-27T23:00:00Z +00:00");
  CHECK(posix_tz_transitions("JST-9", 2040).empty());
}

// ---------------------------------------------------------------------------
// Zones after the last stored transition
// ---------------------------------------------------------------------------

TEST_CASE("tz rule: Europe/Berlin in 2040, 2050 and 2100") {
  auto z = zone("Europe/Berlin");
  // Last Sunday of March and of October, 01:00Z both.
  CHECK(year_changes(z, 2040) == V{"+01:00", "2040-03-25T01:00:00Z +02:00", "2040-10-28T01:00:00Z +01:00"});
  CHECK(year_changes(z, 2050) == V{"+01:00", "2050-03-27T01:00:00Z +02:00", "2050-10-30T01:00:00Z +01:00"});
  CHECK(year_changes(z, 2100) == V{"+01:00", "2100-03-28T01:00:00Z +02:00", "2100-10-31T01:00:00Z +01:00"});
  auto p = z.period_at(utc("2040-07-01T12:00:00Z"));
  CHECK(format_utc(p.begin) == "2040-03-25T01:00:00Z");
  CHECK(format_utc(p.end) == "2040-10-28T01:00:00Z");
  CHECK(p.offset == std::chrono::hours(2));
  CHECK(z.offset_at(utc("2040-03-25T00:59:59Z")) == std::chrono::hours(1));
  CHECK(z.offset_at(utc("2040-03-25T01:00:00Z")) == std::chrono::hours(2));
  CHECK(z.offset_at(utc("2040-10-28T00:59:59.999999Z")) == std::chrono::hours(2));
  CHECK(z.offset_at(utc("2040-10-28T01:00:00Z")) == std::chrono::hours(1));
  CHECK(format_local(utc("2050-07-01T10:00:00Z"), z) == "2050-07-01 12:00:00 +02:00");
}

TEST_CASE("tz rule: America/New_York in 2040, 2050 and 2100") {
  auto z = zone("America/New_York");
  // Second Sunday of March 02:00 EST, first Sunday of November 02:00 EDT.
  CHECK(year_changes(z, 2040) == V{"-05:00", "2040-03-11T07:00:00Z -04:00", "2040-11-04T06:00:00Z -05:00"});
  CHECK(year_changes(z, 2050) == V{"-05:00", "2050-03-13T07:00:00Z -04:00", "2050-11-06T06:00:00Z -05:00"});
  CHECK(year_changes(z, 2100) == V{"-05:00", "2100-03-14T07:00:00Z -04:00", "2100-11-07T06:00:00Z -05:00"});
}

TEST_CASE("tz rule: Australia/Sydney in 2040, 2050 and 2100") {
  auto z = zone("Australia/Sydney");
  // DST ends the first Sunday of April 03:00 AEDT, starts the first Sunday of October 02:00 AEST.
  CHECK(year_changes(z, 2040) == V{"+11:00", "2040-03-31T16:00:00Z +10:00", "2040-10-06T16:00:00Z +11:00"});
  CHECK(year_changes(z, 2050) == V{"+11:00", "2050-04-02T16:00:00Z +10:00", "2050-10-01T16:00:00Z +11:00"});
  CHECK(year_changes(z, 2100) == V{"+11:00", "2100-04-03T16:00:00Z +10:00", "2100-10-02T16:00:00Z +11:00"});
  // Across the year boundary one period (summer) runs from October to April.
  auto p = z.period_at(utc("2050-01-01T00:00:00Z"));
  CHECK(format_utc(p.begin) == "2049-10-02T16:00:00Z");
  CHECK(format_utc(p.end) == "2050-04-02T16:00:00Z");
}

TEST_CASE("tz rule: Australia/Lord_Howe shifts by 30 minutes (+10:30/+11)") {
  auto z = zone("Australia/Lord_Howe");
  // DST ends the first Sunday of April 02:00 +11, starts the first Sunday of October 02:00 +10:30.
  CHECK(year_changes(z, 2040) == V{"+11:00", "2040-03-31T15:00:00Z +10:30", "2040-10-06T15:30:00Z +11:00"});
  CHECK(year_changes(z, 2050) == V{"+11:00", "2050-04-02T15:00:00Z +10:30", "2050-10-01T15:30:00Z +11:00"});
  CHECK(year_changes(z, 2100) == V{"+11:00", "2100-04-03T15:00:00Z +10:30", "2100-10-02T15:30:00Z +11:00"});
  CHECK(z.offset_at(utc("2040-07-01T00:00:00Z")) == std::chrono::minutes(630));
}

TEST_CASE("tz rule: zones without DST in their footer keep their offset") {
  CHECK(zone("Asia/Tokyo").offset_at(utc("2040-07-01T00:00:00Z")) == std::chrono::hours(9));
  CHECK(zone("Asia/Kolkata").offset_at(utc("2100-01-01T00:00:00Z")) == std::chrono::minutes(330));
  CHECK(zone("UTC").offset_at(utc("2100-01-01T00:00:00Z")) == Duration(0));
}

TEST_CASE("tz rule: the hand-over from the stored transitions is seamless") {
  // The last stored transitions (2037) end at the first rule transition after them.
  auto berlin = zone("Europe/Berlin");
  auto p = berlin.period_at(utc("2037-12-01T00:00:00Z"));
  CHECK(format_utc(p.begin) == "2037-10-25T01:00:00Z");
  CHECK(format_utc(p.end) == "2038-03-28T01:00:00Z");
  CHECK(p.offset == std::chrono::hours(1));
  auto before = berlin.period_at(utc("2037-10-25T00:59:59Z"));
  CHECK(format_utc(before.begin) == "2037-03-29T01:00:00Z");
  CHECK(format_utc(before.end) == "2037-10-25T01:00:00Z");
  CHECK(before.offset == std::chrono::hours(2));

  auto sydney = zone("Australia/Sydney");
  p = sydney.period_at(utc("2037-12-01T00:00:00Z"));
  CHECK(format_utc(p.begin) == "2037-10-03T16:00:00Z");
  CHECK(format_utc(p.end) == "2038-04-03T16:00:00Z");
  CHECK(p.offset == std::chrono::hours(11));

  // Walking period_at from 2030 to 2045: strictly increasing, contiguous
  // periods that alternate between the two offsets, two changes a year.
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"}) {
    INFO("zone: " << name);
    auto z = zone(name);
    const TimePoint end = utc("2045-01-01T00:00:00Z");
    TimeZone::Period cur = z.period_at(utc("2030-01-01T00:00:00Z"));
    int changes = 0;
    bool ok = true;
    for (int n = 0; n < 1000 && cur.end < end; ++n) {
      TimeZone::Period next = z.period_at(cur.end);
      if (!(cur.begin < cur.end) || next.begin != cur.end || next.offset == cur.offset || !(next.end > next.begin)) {
        ok = false;
        INFO("at " << format_utc(cur.end));
        CHECK(ok);
        break;
      }
      // Any instant inside a period maps to that same period.
      auto mid = z.period_at(next.begin + (next.end - next.begin) / 2);
      CHECK(mid.begin == next.begin);
      CHECK(mid.end == next.end);
      ++changes;
      cur = next;
    }
    CHECK(ok);
    CHECK(changes == 30);
  }
}

TEST_CASE("tz rule: the last years up to 9999") {
  auto z = zone("Europe/Berlin");
  // 9999-01-01 is a Friday: the last Sundays are March 28 and October 31.
  CHECK(year_changes(z, 9999) == V{"+01:00", "9999-03-28T01:00:00Z +02:00", "9999-10-31T01:00:00Z +01:00"});
  auto last = z.period_at(utc("9999-12-31T23:59:59Z"));
  CHECK(format_utc(last.begin) == "9999-10-31T01:00:00Z");
  CHECK(last.offset == std::chrono::hours(1));
  // From 10000-01-01 on the offset stays: one period that runs on.
  auto after = z.period_at(last.end);
  CHECK(after.begin == last.end);
  CHECK(after.offset == std::chrono::hours(1));
  CHECK(after.end > after.begin + std::chrono::hours(24 * 365 * 100));
  CHECK(z.period_at(after.end - Duration(1)).begin == after.begin);
  CHECK(fires("0 12 1 7 *", "Europe/Berlin", "9998-12-31T00:00:00Z", 1) == V{"9999-07-01T10:00:00Z"});
}

// ---------------------------------------------------------------------------
// Local times and cron after 2037
// ---------------------------------------------------------------------------

TEST_CASE("tz rule: from_local for skipped and repeated local times in 2040") {
  auto berlin = zone("Europe/Berlin");
  CHECK(from_local(berlin, "2040-07-01T12:00") == "2040-07-01T10:00:00Z");
  CHECK(from_local(berlin, "2040-01-01") == "2039-12-31T23:00:00Z");
  // Skipped: 02:00-03:00 on 2040-03-25: the instant of the jump.
  CHECK(from_local(berlin, "2040-03-25T02:00") == "2040-03-25T01:00:00Z");
  CHECK(from_local(berlin, "2040-03-25T02:30") == "2040-03-25T01:00:00Z");
  CHECK(from_local(berlin, "2040-03-25T03:00") == "2040-03-25T01:00:00Z");
  CHECK(from_local(berlin, "2040-03-25T01:59:59") == "2040-03-25T00:59:59Z");
  // Repeated: 02:00-03:00 on 2040-10-28: the first occurrence (CEST).
  CHECK(from_local(berlin, "2040-10-28T02:30") == "2040-10-28T00:30:00Z");
  CHECK(from_local(berlin, "2040-10-28T03:00") == "2040-10-28T02:00:00Z");
  CHECK(from_local(berlin, "2040-10-28T01:59:59") == "2040-10-27T23:59:59Z");
  // Fractions of a second are kept.
  CHECK(format_utc(berlin.from_local(Duration((days_from_civil(2040, 7, 1) * 86400 + 12 * 3600) * 1000000LL + 500000))) ==
        "2040-07-01T10:00:00.5Z");

  auto ny = zone("America/New_York");
  CHECK(from_local(ny, "2040-03-11T02:30") == "2040-03-11T07:00:00Z");
  CHECK(from_local(ny, "2040-11-04T01:30") == "2040-11-04T05:30:00Z");
  auto lh = zone("Australia/Lord_Howe");
  // Skipped 02:00-02:30 on 2040-10-07; repeated 01:30-02:00 on 2040-04-01.
  CHECK(from_local(lh, "2040-10-07T02:15") == "2040-10-06T15:30:00Z");
  CHECK(from_local(lh, "2040-04-01T01:45") == "2040-03-31T14:45:00Z");
  CHECK(from_local(lh, "2040-04-01T02:00") == "2040-03-31T15:30:00Z");

  // Around the hand-over too: the repeated hour of 2037 (stored) and 2038 (rule).
  CHECK(from_local(berlin, "2037-10-25T02:30") == "2037-10-25T00:30:00Z");
  CHECK(from_local(berlin, "2038-03-28T02:30") == "2038-03-28T01:00:00Z");
  CHECK(from_local(berlin, "2038-10-31T02:30") == "2038-10-31T00:30:00Z");
}

TEST_CASE("tz rule: from_local inverts to_local hour by hour through 2040") {
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"}) {
    INFO("zone: " << name);
    auto z = zone(name);
    int mismatches = 0, repeated = 0;
    const TimePoint last = utc("2041-01-05T00:00:00Z");
    for (TimePoint u = utc("2039-12-25T00:00:00Z"); u < last; u += std::chrono::minutes(30)) {
      Duration local = z.to_local(u);
      TimePoint back = z.from_local(local);
      if (back == u) continue;
      // Only the second occurrence of a repeated local time maps elsewhere: to the first.
      if (back < u && z.to_local(back) == local)
        ++repeated;
      else
        ++mismatches;
    }
    CHECK(mismatches == 0);
    CHECK(repeated >= 1);
    CHECK(repeated <= 4);
  }
}

TEST_CASE("tz rule: cron fires across DST in 2040") {
  // Fixed-time: the skipped 02:30 fires at the jump, the repeated one once.
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2040-03-24T00:00:00Z", 3) ==
        V{"2040-03-24T01:30:00Z", "2040-03-25T01:00:00Z", "2040-03-26T00:30:00Z"});
  CHECK(fires("30 2 * * *", "Europe/Berlin", "2040-10-27T00:00:00Z", 3) ==
        V{"2040-10-27T00:30:00Z", "2040-10-28T00:30:00Z", "2040-10-29T01:30:00Z"});
  // Wildcard: the repeated hour fires twice, the skipped one not at all.
  CHECK(fires("*/30 2 * * *", "Europe/Berlin", "2040-10-27T12:00:00Z", 5) ==
        V{"2040-10-28T00:00:00Z", "2040-10-28T00:30:00Z", "2040-10-28T01:00:00Z", "2040-10-28T01:30:00Z",
          "2040-10-29T01:00:00Z"});
  CHECK(fires("*/30 2 * * *", "Europe/Berlin", "2040-03-24T12:00:00Z", 3) ==
        V{"2040-03-26T00:00:00Z", "2040-03-26T00:30:00Z", "2040-03-27T00:00:00Z"});
  CHECK(fires("30 2 * * *", "America/New_York", "2040-03-10T00:00:00Z", 3) ==
        V{"2040-03-10T07:30:00Z", "2040-03-11T07:00:00Z", "2040-03-12T06:30:00Z"});
  CHECK(fires("30 1 * * *", "America/New_York", "2040-11-03T00:00:00Z", 3) ==
        V{"2040-11-03T05:30:00Z", "2040-11-04T05:30:00Z", "2040-11-05T06:30:00Z"});
  CHECK(fires("15 2 * * *", "Australia/Lord_Howe", "2040-10-05T00:00:00Z", 3) ==
        V{"2040-10-05T15:45:00Z", "2040-10-06T15:30:00Z", "2040-10-07T15:15:00Z"});
  // Noon on July 1st is 10:00Z in every summer, also after 2037.
  CHECK(fires("0 12 1 7 *", "Europe/Berlin", "2036-01-01T00:00:00Z", 4) ==
        V{"2036-07-01T10:00:00Z", "2037-07-01T10:00:00Z", "2038-07-01T10:00:00Z", "2039-07-01T10:00:00Z"});
  CHECK(fires("0 12 1 1 *", "Australia/Sydney", "2099-06-01T00:00:00Z", 1) == V{"2100-01-01T01:00:00Z"});
}

// ---------------------------------------------------------------------------
// The footer comes from $TZDIR/NAME (the zones used here appear in no other test:
// the rule is read once per zone name and process).
// ---------------------------------------------------------------------------

namespace {

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct TzdirGuard {
  explicit TzdirGuard(const std::string& dir) {
    const char* old = std::getenv("TZDIR");
    if (old) saved = old;
    had = old != nullptr;
    ::setenv("TZDIR", dir.c_str(), 1);
  }
  ~TzdirGuard() {
    if (had)
      ::setenv("TZDIR", saved.c_str(), 1);
    else
      ::unsetenv("TZDIR");
  }
  std::string saved;
  bool had = false;
};

}  // namespace

TEST_CASE("tz rule: the footer is read from TZDIR; an unreadable one keeps the stored offsets") {
  const char* sys = std::getenv("TZDIR");
  const std::filesystem::path system_dir = sys && *sys ? sys : "/usr/share/zoneinfo";
  const std::string winnipeg = read_all(system_dir / "America/Winnipeg");
  REQUIRE(winnipeg.size() > 10);
  REQUIRE(winnipeg.back() == '\n');
  const size_t footer = winnipeg.rfind('\n', winnipeg.size() - 2);
  REQUIRE(footer != std::string::npos);

  // The tz database itself is set up before TZDIR changes.
  zone("Europe/Berlin");
  const auto dir = std::filesystem::temp_directory_path() / ("baton_tzdir_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "America");
  {
    // The pre-2007 US rule: first Sunday of April to last Sunday of October.
    std::ofstream out(dir / "America/Winnipeg", std::ios::binary);
    out << winnipeg.substr(0, footer + 1) << "CST6CDT,M4.1.0,M10.5.0\n";
    std::ofstream junk(dir / "America/Edmonton", std::ios::binary);
    junk << "not a TZif file\n";
  }
  TzdirGuard guard(dir.string());
  auto w = zone("America/Winnipeg");
  auto e = zone("America/Edmonton");
  std::filesystem::remove_all(dir);

  // 2040-04-01 is the first Sunday of April; 2040-10-28 the last of October.
  CHECK(year_changes(w, 2040) == V{"-06:00", "2040-04-01T08:00:00Z -05:00", "2040-10-28T07:00:00Z -06:00"});
  // The last stored period (from 2037-11-01T07:00Z) is not extended backwards
  // by the rule, whose winter began a week earlier: it ends at the rule's first
  // transition, 2038-04-04 02:00 CST.
  auto p = w.period_at(utc("2037-12-01T00:00:00Z"));
  CHECK(format_utc(p.begin) == "2037-11-01T07:00:00Z");
  CHECK(format_utc(p.end) == "2038-04-04T08:00:00Z");
  CHECK(w.period_at(p.begin - Duration(1)).end == p.begin);
  // Before 2038 the stored transitions still rule.
  CHECK(year_changes(w, 2030) == V{"-06:00", "2030-03-10T08:00:00Z -05:00", "2030-11-03T07:00:00Z -06:00"});
  // No usable footer: the last stored offset (MST) stays.
  CHECK(year_changes(e, 2040) == V{"-07:00"});
  CHECK(year_changes(e, 2030) == V{"-07:00", "2030-03-10T09:00:00Z -06:00", "2030-11-03T08:00:00Z -07:00"});
}
