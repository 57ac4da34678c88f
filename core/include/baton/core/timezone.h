// TimeZone: an IANA zone from the operating system's tz database (through
// Howard Hinnant's date/tz, kept out of this header). After the last transition
// stored in the zone's TZif file, offsets follow the POSIX TZ rule of the file's
// footer (e.g. `CET-1CEST,M3.5.0,M10.5.0/3`), up to the year 9999. Zones are
// immutable and live for the whole process: copy the handle freely, use it from
// any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "baton/core/result.h"
#include "baton/core/time.h"

namespace baton {

class TimeZone {
 public:
  // UTC.
  TimeZone();
  // `Europe/Berlin`, `UTC`, ... An unknown name is an error that says so.
  static Result<TimeZone> find(std::string_view name);

  const std::string& name() const { return name_; }
  bool is_utc() const { return zone_ == nullptr; }

  // A stretch of time with one UTC offset: [begin, end), local = utc + offset.
  struct Period {
    TimePoint begin;
    TimePoint end;
    Duration offset;
  };
  Period period_at(TimePoint t) const;

  Duration offset_at(TimePoint t) const { return period_at(t).offset; }

  // Local wall time (as microseconds since the local epoch) of an instant.
  Duration to_local(TimePoint t) const { return t.time_since_epoch() + offset_at(t); }

  // The instant of a local wall time: when it occurs twice, the first one;
  // when it does not occur (skipped by a jump forward), the instant of the jump.
  TimePoint from_local(Duration local) const;

  // Resolves a date or date-time text: absolute ones as they are, local ones in
  // this zone (a plain date means local midnight).
  TimePoint resolve(const DateTimeText& text) const;

 private:
  struct Tail;  // the zone's footer rule, defined in timezone.cpp

  std::string name_ = "UTC";
  const void* zone_ = nullptr;  // const date::time_zone*, or null for UTC
  // The footer rule that takes over after the last stored transition, or null
  // when the zone has no DST rule there (or its file could not be read). Owned
  // by a process-wide cache: immortal, like zone_.
  const Tail* tail_ = nullptr;
};

// Local wall time of an instant, formatted like `2026-03-29 03:00:00 +02:00`.
std::string format_local(TimePoint t, const TimeZone& zone);

}  // namespace baton
