#include "baton/core/time.h"

#include <cstdio>

namespace baton {

// Howard Hinnant's days_from_civil / civil_from_days algorithms (public domain
// formulas), written out here so that core's callers need no date/tz header.
long long days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

void civil_from_days(long long z, int& y, int& m, int& d) {
  z += 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long yy = static_cast<long long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yy + (m <= 2));
}

int weekday_from_days(long long z) { return static_cast<int>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6); }

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool is_valid_date(int y, int m, int d) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  int max = kDays[m - 1] + (m == 2 && is_leap(y) ? 1 : 0);
  return d <= max;
}

std::string format_utc(TimePoint t) {
  const long long us = t.time_since_epoch().count();
  long long secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  long long frac = us - secs * 1000000;
  long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  long long sod = secs - days * 86400;
  int y, m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, static_cast<int>(sod / 3600),
                        static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", frac);
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

namespace {

struct Cursor {
  std::string_view s;
  size_t i = 0;
  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }
  bool digits(int n, int& out) {
    out = 0;
    for (int k = 0; k < n; ++k) {
      if (done() || s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i++] - '0');
    }
    return true;
  }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i;
    return true;
  }
};

const char* kDateForms =
    "expected a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM[:SS] with an optional `Z` or "
    "+HH:MM offset";

}  // namespace

Result<DateTimeText> parse_date_time(std::string_view text) {
  Cursor c{text};
  DateTimeText out;
  LocalDateTime& l = out.local;
  auto bad = [&](const std::string& why) {
    return Error::invalid("invalid date \"" + std::string(text) + "\": " + why);
  };
  if (!c.digits(4, l.year) || !c.eat('-') || !c.digits(2, l.month) || !c.eat('-') || !c.digits(2, l.day))
    return bad(kDateForms);
  if (!is_valid_date(l.year, l.month, l.day)) return bad("no such day in the calendar");
  if (c.done()) return out;
  if (!c.eat('T') && !c.eat(' ') && !c.eat('t')) return bad(kDateForms);
  l.has_time = true;
  if (!c.digits(2, l.hour) || !c.eat(':') || !c.digits(2, l.minute)) return bad(kDateForms);
  long long micros = 0;
  if (c.eat(':')) {
    if (!c.digits(2, l.second)) return bad(kDateForms);
    if (c.eat('.')) {
      int digits = 0;
      while (!c.done() && c.peek() >= '0' && c.peek() <= '9') {
        if (digits < 6) micros = micros * 10 + (c.peek() - '0');
        ++digits;
        ++c.i;
      }
      if (digits == 0) return bad(kDateForms);
      for (int k = digits; k < 6; ++k) micros *= 10;
    }
  }
  if (l.hour > 23 || l.minute > 59 || l.second > 59) return bad("hour, minute or second out of range");
  std::optional<long long> offset_secs;
  if (c.eat('Z') || c.eat('z')) {
    offset_secs = 0;
  } else if (c.peek() == '+' || c.peek() == '-') {
    int sign = c.peek() == '-' ? -1 : 1;
    ++c.i;
    int oh, om = 0;
    if (!c.digits(2, oh)) return bad(kDateForms);
    if (c.eat(':')) {
      if (!c.digits(2, om)) return bad(kDateForms);
    } else if (!c.done() && !c.digits(2, om)) {
      return bad(kDateForms);
    }
    if (oh > 23 || om > 59) return bad("offset out of range");
    offset_secs = sign * (oh * 3600LL + om * 60LL);
  }
  if (!c.done()) return bad(kDateForms);
  if (offset_secs) {
    long long secs = days_from_civil(l.year, l.month, l.day) * 86400LL + l.hour * 3600LL + l.minute * 60LL +
                     l.second - *offset_secs;
    out.absolute = TimePoint(Duration(secs * 1000000LL + micros));
  }
  return out;
}

Result<TimePoint> parse_utc(std::string_view text) {
  auto r = parse_date_time(text);
  if (!r || !r->absolute || !r->local.has_time)
    return Error::invalid("invalid instant \"" + std::string(text) +
                          "\": expected ISO 8601 with a zone, like 2026-03-29T01:00:00Z");
  return *r->absolute;
}

}  // namespace baton
