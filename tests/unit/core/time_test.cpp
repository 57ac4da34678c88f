#include <catch2/catch.hpp>

#include "baton/core/duration.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"

using namespace baton;

static TimePoint utc(const char* s) { return *parse_utc(s); }

TEST_CASE("instants print as ISO 8601 UTC with Z and parse back") {
  CHECK(format_utc(utc("2026-03-29T01:00:00Z")) == "2026-03-29T01:00:00Z");
  CHECK(format_utc(utc("2026-03-29T03:00:00+02:00")) == "2026-03-29T01:00:00Z");
  CHECK(format_utc(utc("1969-12-31T23:59:59Z")) == "1969-12-31T23:59:59Z");
  CHECK(format_utc(utc("2026-01-01T00:00:00.25Z")) == "2026-01-01T00:00:00.25Z");
  CHECK_FALSE(parse_utc("2026-02-30T00:00:00Z").ok());
  CHECK_FALSE(parse_utc("2026-01-01").ok());
  CHECK_FALSE(parse_utc("2026-01-01T25:00:00Z").ok());
  CHECK(parse_utc("yesterday").error().message.find("2026-03-29T01:00:00Z") != std::string::npos);
}

TEST_CASE("dates and local date-times are read in a zone") {
  auto berlin = *TimeZone::find("Europe/Berlin");
  auto d = parse_date_time("2026-01-01");
  REQUIRE(d.ok());
  CHECK_FALSE(d->local.has_time);
  CHECK(format_utc(berlin.resolve(*d)) == "2025-12-31T23:00:00Z");
  CHECK(format_utc(berlin.resolve(*parse_date_time("2026-07-01T03:30"))) == "2026-07-01T01:30:00Z");
  // Skipped by the spring-forward jump: the instant of the jump.
  CHECK(format_utc(berlin.resolve(*parse_date_time("2026-03-29T02:30:00"))) == "2026-03-29T01:00:00Z");
  // Occurs twice: the first occurrence.
  CHECK(format_utc(berlin.resolve(*parse_date_time("2026-10-25T02:30:00"))) == "2026-10-25T00:30:00Z");
  CHECK_FALSE(parse_date_time("2026-13-01").ok());
  CHECK_FALSE(parse_date_time("2026-1-01").ok());
}

TEST_CASE("time zones come from the IANA database and unknown ones are errors") {
  CHECK(TimeZone::find("America/New_York").ok());
  auto bad = TimeZone::find("Europe/Berlln");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("Europe/Berlln") != std::string::npos);
  auto ny = *TimeZone::find("America/New_York");
  CHECK(ny.offset_at(utc("2036-07-01T12:00:00Z")) == std::chrono::hours(-4));
  CHECK(ny.offset_at(utc("2036-01-01T12:00:00Z")) == std::chrono::hours(-5));
}

TEST_CASE("durations") {
  using namespace std::chrono;
  CHECK(*parse_duration("45s") == seconds(45));
  CHECK(*parse_duration("5m") == minutes(5));
  CHECK(*parse_duration("2h") == hours(2));
  CHECK(*parse_duration("1d") == hours(24));
  CHECK(*parse_duration("1h30m") == minutes(90));
  CHECK(*parse_duration("90") == seconds(90));
  CHECK(*parse_duration("-1d", true) == hours(-24));
  CHECK_FALSE(parse_duration("-1d").ok());
  CHECK_FALSE(parse_duration("30m1h").ok());
  CHECK_FALSE(parse_duration("5x").ok());
  CHECK_FALSE(parse_duration("").ok());
  CHECK_FALSE(parse_duration("m").ok());
  CHECK_FALSE(parse_duration("99999999999999999999s").ok());
  CHECK(parse_duration("5x").error().message.find("45s, 5m, 2h, 1d, 1h30m") != std::string::npos);
  CHECK(format_duration(minutes(90)) == "1h30m");
  CHECK(format_duration(seconds(0)) == "0s");
  CHECK(format_duration(hours(24) + seconds(5)) == "1d5s");
}
