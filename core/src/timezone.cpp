#include "baton/core/timezone.h"

#include <date/tz.h>

#include <cstdio>

namespace baton {

namespace {

const date::time_zone* tz(const void* p) { return static_cast<const date::time_zone*>(p); }

// Clamp the library's far-away period bounds to ±10,000 years so that they fit
// comfortably in microseconds.
TimePoint clamp(date::sys_seconds s) {
  constexpr long long kLimit = 10000LL * 366 * 86400;
  long long v = s.time_since_epoch().count();
  if (v > kLimit) v = kLimit;
  if (v < -kLimit) v = -kLimit;
  return TimePoint(Duration(v * 1000000LL));
}

date::sys_seconds to_seconds(TimePoint t) {
  return date::floor<std::chrono::seconds>(date::sys_time<Duration>(t.time_since_epoch()));
}

}  // namespace

TimeZone::TimeZone() = default;

Result<TimeZone> TimeZone::find(std::string_view name) {
  TimeZone z;
  if (name == "UTC" || name == "Etc/UTC") {
    z.name_ = std::string(name);
    return z;
  }
  try {
    z.zone_ = date::locate_zone(name);
    z.name_ = std::string(name);
    return z;
  } catch (const std::exception&) {
    return Error::invalid("unknown time zone \"" + std::string(name) +
                          "\": expected an IANA name such as UTC, Europe/Berlin or America/New_York");
  }
}

TimeZone::Period TimeZone::period_at(TimePoint t) const {
  if (!zone_) {
    return {TimePoint(Duration(std::numeric_limits<long long>::min() / 2)),
            TimePoint(Duration(std::numeric_limits<long long>::max() / 2)), Duration(0)};
  }
  auto info = tz(zone_)->get_info(to_seconds(t));
  return {clamp(info.begin), clamp(info.end), std::chrono::duration_cast<Duration>(info.offset)};
}

TimePoint TimeZone::from_local(Duration local) const {
  if (!zone_) return TimePoint(local);
  auto secs = date::floor<std::chrono::seconds>(local);
  Duration frac = local - std::chrono::duration_cast<Duration>(secs);
  auto info = tz(zone_)->get_info(date::local_seconds(secs));
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:
      return TimePoint(std::chrono::duration_cast<Duration>(secs - info.first.offset) + frac);
    case date::local_info::nonexistent:
    default:
      return clamp(info.first.end);
  }
}

TimePoint TimeZone::resolve(const DateTimeText& text) const {
  if (text.absolute) return *text.absolute;
  const LocalDateTime& l = text.local;
  long long secs = days_from_civil(l.year, l.month, l.day) * 86400LL + l.hour * 3600LL + l.minute * 60LL + l.second;
  return from_local(Duration(secs * 1000000LL));
}

std::string format_local(TimePoint t, const TimeZone& zone) {
  long long local_us = zone.to_local(t).count();
  long long secs = local_us >= 0 ? local_us / 1000000 : -((-local_us + 999999) / 1000000);
  long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  long long sod = secs - days * 86400;
  int y, m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", y, m, d, static_cast<int>(sod / 3600),
                static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  std::string out(buf);
  Duration off = zone.offset_at(t);
  long long off_min = off.count() / 60000000;
  char sign = off_min < 0 ? '-' : '+';
  if (off_min < 0) off_min = -off_min;
  std::snprintf(buf, sizeof buf, " %c%02lld:%02lld", sign, off_min / 60, off_min % 60);
  return out + buf;
}

}  // namespace baton
