#include "baton/core/cron.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace baton {

namespace {

constexpr long long kMinuteUs = 60LL * 1000000;
constexpr long long kDayUs = 86400LL * 1000000;
constexpr long long kSearchYears = 400;
constexpr long long kSearchUs = kSearchYears * 366 * kDayUs;

struct FieldDef {
  const char* name;
  int lo, hi;
  const char* const* names;  // names[i] is the value lo + i, or null
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kDowNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

const FieldDef kFields[] = {
    {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},
    {"day-of-month", 1, 31, nullptr},
    {"month", 1, 12, kMonthNames},
    {"day-of-week", 0, 7, kDowNames},
};

long long floor_div(long long a, long long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Parses one field into a set of allowed values; `error` gets the reason.
bool parse_field(const std::string& text, const FieldDef& def, std::vector<bool>& out, std::string& error) {
  out.assign(static_cast<size_t>(def.hi + 1), false);
  auto value = [&](const std::string& tok, int& v) -> bool {
    if (tok.empty()) {
      error = "empty value";
      return false;
    }
    if (std::isdigit(static_cast<unsigned char>(tok[0]))) {
      if (tok.size() > 3) {
        error = "\"" + tok + "\" is out of range " + std::to_string(def.lo) + "-" + std::to_string(def.hi);
        return false;
      }
      for (char c : tok)
        if (!std::isdigit(static_cast<unsigned char>(c))) {
          error = "\"" + tok + "\" is not a number; allowed: " + std::to_string(def.lo) + "-" +
                  std::to_string(def.hi);
          return false;
        }
      v = std::stoi(tok);
      if (v < def.lo || v > def.hi) {
        error = tok + " is out of range " + std::to_string(def.lo) + "-" + std::to_string(def.hi);
        return false;
      }
      return true;
    }
    if (def.names) {
      std::string up;
      for (char c : tok) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      int count = def.hi - def.lo + 1 - (def.names == kDowNames ? 1 : 0);
      for (int i = 0; i < count; ++i)
        if (up == def.names[i]) {
          v = def.lo + i;
          return true;
        }
      error = "\"" + tok + "\" is not a " + (def.names == kDowNames ? "weekday name (SUN-SAT)" : "month name (JAN-DEC)");
      return false;
    }
    error = "\"" + tok + "\" is not a number; allowed: " + std::to_string(def.lo) + "-" + std::to_string(def.hi);
    return false;
  };

  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) {
      error = "empty list item";
      return false;
    }
    int step = 1;
    size_t slash = item.find('/');
    std::string range = item;
    if (slash != std::string::npos) {
      std::string s = item.substr(slash + 1);
      range = item.substr(0, slash);
      bool digits = !s.empty() && s.size() <= 3;
      for (char c : s) digits = digits && std::isdigit(static_cast<unsigned char>(c));
      if (!digits || std::stoi(s) == 0) {
        error = "step \"" + s + "\" must be a positive number";
        return false;
      }
      step = std::stoi(s);
    }
    int a, b;
    if (range == "*") {
      a = def.lo;
      b = def.hi;
    } else {
      size_t dash = range.find('-');
      if (dash == std::string::npos) {
        if (!value(range, a)) return false;
        // `a/step` means from a to the end of the range.
        b = slash != std::string::npos ? def.hi : a;
      } else {
        if (!value(range.substr(0, dash), a) || !value(range.substr(dash + 1), b)) return false;
        if (a > b) {
          error = "range " + range + " runs backwards (write the lower value first); allowed: " +
                  std::to_string(def.lo) + "-" + std::to_string(def.hi);
          return false;
        }
      }
    }
    for (int v = a; v <= b; v += step) out[static_cast<size_t>(v)] = true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace

Result<CronExpr> CronExpr::parse(std::string_view text_in) {
  std::string text(text_in);
  std::string body = text;
  // Trim.
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.pop_back();
  size_t lead = 0;
  while (lead < body.size() && std::isspace(static_cast<unsigned char>(body[lead]))) ++lead;
  body = body.substr(lead);
  if (!body.empty() && body[0] == '@') {
    static const struct {
      const char* name;
      const char* expr;
    } kMacros[] = {{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                   {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
                   {"@annually", "0 0 1 1 *"}};
    for (auto& m : kMacros)
      if (body == m.name) {
        auto r = parse(m.expr);
        if (r) r->text_ = body;
        return r;
      }
    return Error::invalid("invalid cron \"" + text +
                          "\": unknown macro; allowed: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, "
                          "@annually");
  }
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    size_t s = i;
    while (i < body.size() && !std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i > s) fields.push_back(body.substr(s, i - s));
  }
  if (fields.size() != 5)
    return Error::invalid("invalid cron \"" + text + "\": expected 5 fields (minute hour day-of-month month " +
                          "day-of-week) or a macro such as @daily, got " + std::to_string(fields.size()));
  CronExpr e;
  e.text_ = body;
  std::vector<bool> sets[5];
  for (int f = 0; f < 5; ++f) {
    std::string why;
    if (!parse_field(fields[f], kFields[f], sets[f], why))
      return Error::invalid("invalid cron \"" + text + "\": " + kFields[f].name + " field \"" + fields[f] +
                            "\": " + why);
  }
  for (int v = 0; v < 60; ++v) e.minutes_[v] = sets[0][v];
  for (int v = 0; v < 24; ++v) e.hours_[v] = sets[1][v];
  for (int v = 1; v <= 31; ++v) e.dom_[v] = sets[2][v];
  for (int v = 1; v <= 12; ++v) e.months_[v] = sets[3][v];
  for (int v = 0; v <= 7; ++v)
    if (sets[4][v]) e.dow_[v % 7] = true;
  e.dom_star_ = fields[2][0] == '*';
  e.dow_star_ = fields[4][0] == '*';
  e.wildcard_ = fields[0][0] == '*' || fields[1][0] == '*';
  return e;
}

bool CronExpr::day_matches(int year, int month, int day) const {
  if (!months_[month]) return false;
  int wd = weekday_from_days(days_from_civil(year, month, day));
  if (dom_star_ || dow_star_) return dom_[day] && dow_[wd];
  return dom_[day] || dow_[wd];
}

bool CronExpr::matches_local(int year, int month, int day, int hour, int minute) const {
  return minutes_[minute] && hours_[hour] && day_matches(year, month, day);
}

std::optional<Duration> CronExpr::next_local_match(Duration from, Duration limit) const {
  long long from_min = floor_div(from.count(), kMinuteUs);
  long long limit_min = floor_div(limit.count(), kMinuteUs);
  long long day = floor_div(from_min, 1440);
  int mod = static_cast<int>(from_min - day * 1440);
  while (day * 1440 <= limit_min) {
    int y, m, d;
    civil_from_days(day, y, m, d);
    if (!months_[m]) {
      // Jump to the first day of the next month.
      int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
      day = days_from_civil(ny, nm, 1);
      mod = 0;
      continue;
    }
    if (day_matches(y, m, d)) {
      for (int h = mod / 60; h < 24; ++h) {
        if (!hours_[h]) continue;
        for (int mi = (h == mod / 60 ? mod % 60 : 0); mi < 60; ++mi) {
          if (!minutes_[mi]) continue;
          long long at = day * 1440 + h * 60 + mi;
          if (at > limit_min) return std::nullopt;
          return Duration(at * kMinuteUs);
        }
      }
    }
    ++day;
    mod = 0;
  }
  return std::nullopt;
}

std::optional<TimePoint> CronExpr::next_after(TimePoint after, const TimeZone& zone) const {
  if (after >= kMaxInstant) return std::nullopt;
  const Duration search_end =
      std::min(after.time_since_epoch() + Duration(kSearchUs), kMaxInstant.time_since_epoch());
  // The first local minute strictly after a local time.
  auto minute_after = [](Duration local) { return Duration((floor_div(local.count(), kMinuteUs) + 1) * kMinuteUs); };
  auto minute_at_or_after = [](Duration local) {
    return Duration(-floor_div(-local.count(), kMinuteUs) * kMinuteUs);
  };
  if (zone.is_utc()) {
    auto m = next_local_match(minute_after(after.time_since_epoch()), search_end);
    if (!m) return std::nullopt;
    return TimePoint(*m);
  }
  // Walk the periods of constant UTC offset that follow `after`. Within one
  // period local time is a shifted copy of UTC time; at a period's start the
  // zone either jumps forward (a gap of local times that never occur) or back
  // (an overlap of local times that occur a second time).
  TimeZone::Period p = zone.period_at(after);
  bool first = true;
  while (p.begin.time_since_epoch() <= search_end) {
    Duration lo = first ? minute_after(after.time_since_epoch() + p.offset)
                        : minute_at_or_after(p.begin.time_since_epoch() + p.offset);
    Duration hi = std::min(p.end.time_since_epoch(), search_end) + p.offset - Duration(1);
    TimeZone::Period prev = zone.period_at(p.begin - Duration(1));
    if (!wildcard_ && prev.offset > p.offset) {
      // Jump back: fixed-time expressions already fired at the first occurrence.
      Duration first_unseen = minute_at_or_after(p.begin.time_since_epoch() + prev.offset);
      if (first_unseen > lo) lo = first_unseen;
    }
    if (!first && !wildcard_ && prev.offset < p.offset) {
      // Jump forward: skipped local times of fixed-time expressions fire once,
      // at the instant of the jump.
      Duration gap_lo = minute_at_or_after(p.begin.time_since_epoch() + prev.offset);
      Duration gap_hi = p.begin.time_since_epoch() + p.offset - Duration(1);
      if (gap_lo <= gap_hi && next_local_match(gap_lo, gap_hi)) return p.begin;
    }
    if (lo <= hi) {
      if (auto m = next_local_match(lo, hi)) return TimePoint(*m - p.offset);
    }
    if (p.end.time_since_epoch() >= search_end) break;
    TimeZone::Period next = zone.period_at(p.end);
    if (next.begin <= p.begin) break;  // the zone data ends: never go back in time
    p = next;
    first = false;
  }
  return std::nullopt;
}

}  // namespace baton
