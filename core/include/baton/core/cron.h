// CronExpr: a 5-field cron expression (minute hour day-of-month month
// day-of-week) or an @macro, and the instants at which it fires in a time zone
// with the daylight-saving semantics of Vixie cron / cronie (SPEC §4):
//  - a *wildcard* expression (minute or hour field starts with `*`) fires at
//    every instant whose local wall time matches: skipped local times do not
//    fire, local times that occur twice fire twice;
//  - any other expression is *fixed-time*: a local time that occurs twice fires
//    once, at its first occurrence; local times skipped by a jump forward fire
//    once, together, at the first instant after the jump.
// Immutable after parse; safe to share between threads.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "baton/core/result.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"

namespace baton {

class CronExpr {
 public:
  // Fields: numbers, `*`, lists `,`, ranges `-`, steps `/`; month names JAN-DEC,
  // weekday names SUN-SAT (case-insensitive), weekday 0 and 7 both Sunday.
  // Macros: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually.
  static Result<CronExpr> parse(std::string_view text);

  // The first fire instant strictly after `after`, or nullopt if there is none
  // within the next 400 years (e.g. `0 0 30 2 *`).
  std::optional<TimePoint> next_after(TimePoint after, const TimeZone& zone) const;

  // Does the local wall time (minutes resolution) match the fields?
  bool matches_local(int year, int month, int day, int hour, int minute) const;

  bool is_wildcard() const { return wildcard_; }
  const std::string& text() const { return text_; }

 private:
  // First local minute >= from (local microseconds, minute-aligned) that matches,
  // searching no further than `limit`.
  std::optional<Duration> next_local_match(Duration from, Duration limit) const;
  bool day_matches(int year, int month, int day) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> dom_;    // 1..31
  std::bitset<13> months_; // 1..12
  std::bitset<7> dow_;     // 0..6, Sunday = 0
  bool dom_star_ = false;
  bool dow_star_ = false;
  bool wildcard_ = false;
};

}  // namespace baton
