// Time points and their text forms. Baton counts time in microseconds since the
// Unix epoch (UTC); every instant it shows or accepts is ISO 8601 UTC with a `Z`.
// Pure functions: safe from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "baton/core/result.h"

namespace baton {

using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

// The last instant Baton schedules: 9999-12-31T23:59:59Z (the text forms
// have four-digit years).
constexpr TimePoint kMaxInstant{Duration(253402300799LL * 1000000)};

// 2026-03-29T01:00:00Z; fractional seconds are printed only when present.
std::string format_utc(TimePoint t);

// Parses an absolute instant: `2026-03-29T01:00:00Z`, `2026-03-29T03:00:00+02:00`,
// fractional seconds allowed, `T` or one space between date and time.
Result<TimePoint> parse_utc(std::string_view text);

// A civil date-time without a zone, as written in a DAG file or on the command line.
struct LocalDateTime {
  int year = 1970, month = 1, day = 1;
  int hour = 0, minute = 0, second = 0;
  bool has_time = false;  // false for a plain date: `2026-01-01`
};

// A date or a date-time that is either local (no zone given: read in a DAG's
// timezone) or absolute (ends in `Z` or carries an offset).
struct DateTimeText {
  LocalDateTime local;
  std::optional<TimePoint> absolute;
};

// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (also with a space), each
// optionally followed by `Z` or `+HH:MM`/`-HH:MM`. Checks calendar validity.
Result<DateTimeText> parse_date_time(std::string_view text);

// Days since 1970-01-01 of a civil date, and back: proleptic Gregorian.
long long days_from_civil(int y, int m, int d);
void civil_from_days(long long days, int& y, int& m, int& d);
// 0 = Sunday .. 6 = Saturday.
int weekday_from_days(long long days);
bool is_valid_date(int y, int m, int d);

}  // namespace baton
