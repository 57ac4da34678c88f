#include "baton/core/timezone.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>

namespace baton {

namespace {

const date::time_zone* tz(const void* p) { return static_cast<const date::time_zone*>(p); }

constexpr long long kUs = 1000000;
constexpr long long kDay = 86400;
// Far-away period bounds are clamped to ±10,000 years so that they fit
// comfortably in microseconds.
constexpr long long kLimitSeconds = 10000LL * 366 * kDay;
// Footer rules are applied up to the end of the year 9999; from
// 10000-01-01T00:00:00Z on the offset stays as it was at the end of 9999.
constexpr long long kRuleEndSeconds = 253402300800LL;

TimePoint from_seconds(long long v) {
  if (v > kLimitSeconds) v = kLimitSeconds;
  if (v < -kLimitSeconds) v = -kLimitSeconds;
  return TimePoint(Duration(v * kUs));
}

TimePoint clamp(date::sys_seconds s) { return from_seconds(s.time_since_epoch().count()); }

date::sys_seconds to_seconds(TimePoint t) {
  return date::floor<std::chrono::seconds>(date::sys_time<Duration>(t.time_since_epoch()));
}

long long floor_div(long long a, long long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

bool is_leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// ---------------------------------------------------------------------------
// POSIX TZ strings (POSIX.1-2017 §8.3, with the RFC 8536 §3.3.1 extensions:
// transition times may be negative and up to 167 hours).
//   std offset [dst [offset] [,start[/time],end[/time]]]
// Names are 3+ letters or <...> of letters, digits, '+' and '-'. Offsets are
// [+-]hh[:mm[:ss]], positive west of Greenwich. Dates are Mm.w.d (day d of week
// w of month m, w = 5 the last), Jn (1..365, February 29 never counted) or n
// (0..365, February 29 counted). Times default to 02:00:00.
// ---------------------------------------------------------------------------

struct RuleDate {
  char kind = 'M';  // 'M': month.week.weekday, 'J': Julian 1..365 without Feb 29, 'D': zero-based day 0..365
  int month = 0, week = 0, weekday = 0;
  int day = 0;
};

struct RuleTransition {
  RuleDate date;
  long long time = 7200;  // seconds after local midnight, in the local time before the transition
};

struct PosixTz {
  std::string std_name, dst_name;
  long long std_offset = 0;  // east of Greenwich, seconds: local = utc + offset
  bool has_dst = false;
  long long dst_offset = 0;
  RuleTransition start, end;  // into DST, out of DST
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixTz> parse() {
    PosixTz z;
    long long off = 0;
    if (!name(z.std_name) || !hms(off, 24)) return std::nullopt;
    z.std_offset = -off;
    if (done()) return z;
    if (!name(z.dst_name)) return std::nullopt;
    z.has_dst = true;
    z.dst_offset = z.std_offset + 3600;
    if (!done() && s_[i_] != ',') {
      if (!hms(off, 24)) return std::nullopt;
      z.dst_offset = -off;
    }
    // A DST name without a rule leaves the dates to the implementation; TZif
    // footers always spell the rule out, so it is not accepted here.
    if (!eat(',') || !transition(z.start) || !eat(',') || !transition(z.end) || !done()) return std::nullopt;
    return z;
  }

 private:
  bool done() const { return i_ >= s_.size(); }
  bool eat(char c) {
    if (done() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool name(std::string& out) {
    size_t j = i_;
    if (eat('<')) {
      j = i_;
      while (j < s_.size() && s_[j] != '>') {
        char c = s_[j];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') return false;
        ++j;
      }
      if (j >= s_.size() || j - i_ < 3) return false;
      out = std::string(s_.substr(i_, j - i_));
      i_ = j + 1;
      return true;
    }
    while (j < s_.size() && std::isalpha(static_cast<unsigned char>(s_[j]))) ++j;
    if (j - i_ < 3) return false;
    out = std::string(s_.substr(i_, j - i_));
    i_ = j;
    return true;
  }

  // An unsigned number of 1..max_digits digits.
  bool number(long long& v, size_t max_digits) {
    size_t j = i_;
    v = 0;
    while (j < s_.size() && j - i_ < max_digits && digit(s_[j])) v = v * 10 + (s_[j++] - '0');
    if (j == i_) return false;
    i_ = j;
    return true;
  }

  // [+-]h[hh][:mm[:ss]] with at most max_hours hours.
  bool hms(long long& out, long long max_hours) {
    long long sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    long long h = 0, m = 0, sec = 0;
    if (!number(h, 3) || h > max_hours) return false;
    if (eat(':')) {
      if (!number(m, 2) || m > 59) return false;
      if (eat(':') && (!number(sec, 2) || sec > 59)) return false;
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

  bool transition(RuleTransition& t) {
    long long a = 0, b = 0, c = 0;
    if (eat('M')) {
      if (!number(a, 2) || a < 1 || a > 12 || !eat('.') || !number(b, 1) || b < 1 || b > 5 || !eat('.') ||
          !number(c, 1) || c > 6)
        return false;
      t.date = {'M', static_cast<int>(a), static_cast<int>(b), static_cast<int>(c), 0};
    } else if (eat('J')) {
      if (!number(a, 3) || a < 1 || a > 365) return false;
      t.date = {'J', 0, 0, 0, static_cast<int>(a)};
    } else {
      if (!number(a, 3) || a > 365) return false;
      t.date = {'D', 0, 0, 0, static_cast<int>(a)};
    }
    t.time = 7200;
    if (eat('/')) {
      if (!hms(t.time, 167)) return false;
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::optional<PosixTz> parse_posix_tz(std::string_view text) {
  if (text.size() > 256) return std::nullopt;
  return PosixParser(text).parse();
}

// Days since 1970-01-01 of a rule date in year y.
long long rule_day(const RuleDate& d, int y) {
  const long long jan1 = days_from_civil(y, 1, 1);
  switch (d.kind) {
    case 'J':
      return jan1 + d.day - 1 + (is_leap_year(y) && d.day >= 60 ? 1 : 0);
    case 'D':
      return jan1 + d.day;
    default: {
      const long long first = days_from_civil(y, d.month, 1);
      const long long next = d.month == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, d.month + 1, 1);
      long long day = first + (d.weekday - weekday_from_days(first) + 7) % 7 + (d.week - 1) * 7LL;
      if (day >= next) day -= 7;  // week 5: the last such weekday (at most one week too far)
      return day;
    }
  }
}

struct RuleEvent {
  long long at;      // UTC seconds
  long long offset;  // in effect from `at` on
};

// The rule's two transitions of year y, in time order.
std::array<RuleEvent, 2> year_events(const PosixTz& z, int y) {
  RuleEvent on{rule_day(z.start.date, y) * kDay + z.start.time - z.std_offset, z.dst_offset};
  RuleEvent off{rule_day(z.end.date, y) * kDay + z.end.time - z.dst_offset, z.std_offset};
  if (off.at < on.at) std::swap(on, off);
  return {on, off};
}

struct RulePeriod {
  long long begin, end, offset;  // UTC seconds; [begin, end)
};

// The period of a DST rule that contains the instant s (UTC seconds, before
// kRuleEndSeconds). Periods are bounded by the rule's changes of offset; a rule
// whose transitions cancel out (all-year DST) is cut at UTC year boundaries so
// that consecutive calls still tile time.
RulePeriod rule_period_at(const PosixTz& z, long long s) {
  int y, m, d;
  civil_from_days(floor_div(s, kDay), y, m, d);
  // The transitions of five years around s, in time order (a stable
  // insertion sort: without allocation, equal instants keep the rule's order).
  std::array<RuleEvent, 10> events;
  size_t n = 0;
  for (int yy = y - 2; yy <= y + 2; ++yy)
    for (const RuleEvent& e : year_events(z, yy)) {
      size_t i = n++;
      for (; i > 0 && events[i - 1].at > e.at; --i) events[i] = events[i - 1];
      events[i] = e;
    }
  // The changes of offset: events at one instant collapse into the last one.
  long long cur = events.front().offset == z.dst_offset ? z.std_offset : z.dst_offset;
  long long begin = std::numeric_limits<long long>::min(), end = std::numeric_limits<long long>::max();
  long long offset = cur;
  for (size_t i = 0; i < events.size(); ++i) {
    if (i + 1 < events.size() && events[i + 1].at == events[i].at) continue;
    if (events[i].offset == cur) continue;
    if (events[i].at <= s) {
      begin = events[i].at;
      offset = events[i].offset;
    } else {
      end = events[i].at;
      break;
    }
    cur = events[i].offset;
  }
  if (begin == std::numeric_limits<long long>::min()) begin = days_from_civil(y, 1, 1) * kDay;
  if (end == std::numeric_limits<long long>::max()) end = days_from_civil(y + 1, 1, 1) * kDay;
  return {begin, std::min(end, kRuleEndSeconds), offset};
}

// ---------------------------------------------------------------------------
// TZif footers (RFC 8536 §3.3): version 2+ files repeat the data with 64-bit
// times after the version 1 block and end with "\n" POSIX-TZ-string "\n".
// ---------------------------------------------------------------------------

uint64_t be32(const std::string& d, size_t at) {
  return (uint64_t(static_cast<unsigned char>(d[at])) << 24) | (uint64_t(static_cast<unsigned char>(d[at + 1])) << 16) |
         (uint64_t(static_cast<unsigned char>(d[at + 2])) << 8) | uint64_t(static_cast<unsigned char>(d[at + 3]));
}

// The footer of a TZif file's contents, or nullopt for a version 1 or malformed file.
std::optional<std::string> tzif_footer(const std::string& d) {
  constexpr size_t kHeader = 44;
  if (d.size() < kHeader || d.compare(0, 4, "TZif") != 0 || d[4] == '\0') return std::nullopt;
  // Counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
  auto block = [&](size_t at, uint64_t time_size, uint64_t leap_size) -> uint64_t {
    const uint64_t isut = be32(d, at + 20), isstd = be32(d, at + 24), leap = be32(d, at + 28),
                   time = be32(d, at + 32), type = be32(d, at + 36), chars = be32(d, at + 40);
    return kHeader + time * (time_size + 1) + type * 6 + chars + leap * leap_size + isstd + isut;
  };
  const uint64_t v1 = block(0, 4, 8);
  if (v1 + kHeader > d.size() || d.compare(static_cast<size_t>(v1), 4, "TZif") != 0) return std::nullopt;
  const uint64_t footer = v1 + block(static_cast<size_t>(v1), 8, 12);
  if (footer >= d.size() || d[static_cast<size_t>(footer)] != '\n') return std::nullopt;
  const size_t from = static_cast<size_t>(footer) + 1;
  const size_t nl = d.find('\n', from);
  if (nl == std::string::npos) return std::nullopt;
  return d.substr(from, nl - from);
}

bool safe_zone_name(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string part = name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

std::optional<std::string> read_footer(const std::string& name) {
  if (!safe_zone_name(name)) return std::nullopt;
  const char* env = std::getenv("TZDIR");
  std::string dir = env && *env ? env : "/usr/share/zoneinfo";
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in) return std::nullopt;
  constexpr size_t kMaxFile = 1 << 20;  // real TZif files are a few KiB
  std::string data;
  char buf[16384];
  while (in && data.size() <= kMaxFile) {
    in.read(buf, sizeof buf);
    data.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (data.size() > kMaxFile) return std::nullopt;
  return tzif_footer(data);
}

std::string format_hms(long long v, bool sign_always) {
  char buf[32];
  const char* sign = v < 0 ? "-" : (sign_always ? "+" : "");
  long long a = v < 0 ? -v : v;
  if (sign_always && a % 60 == 0)
    std::snprintf(buf, sizeof buf, "%s%02lld:%02lld", sign, a / 3600, a / 60 % 60);
  else
    std::snprintf(buf, sizeof buf, "%s%lld:%02lld:%02lld", sign, a / 3600, a / 60 % 60, a % 60);
  return buf;
}

std::string format_rule_date(const RuleDate& d) {
  switch (d.kind) {
    case 'J':
      return "J" + std::to_string(d.day);
    case 'D':
      return std::to_string(d.day);
    default:
      return "M" + std::to_string(d.month) + "." + std::to_string(d.week) + "." + std::to_string(d.weekday);
  }
}

}  // namespace

// The footer rule of a zone and where it takes over: at `begin`, the start of
// the last period stored in the zone's file (which date/tz extends forever).
struct TimeZone::Tail {
  long long begin = 0;  // UTC seconds
  PosixTz rule;         // has_dst, dst_offset != std_offset

  // The period of an instant (UTC seconds) at or after `begin`, from the rule,
  // beginning no earlier than the stored period does.
  Period period(long long s) const {
    RulePeriod p;
    if (s < kRuleEndSeconds) {
      p = rule_period_at(rule, s);
    } else {
      p = {kRuleEndSeconds, kLimitSeconds, rule_period_at(rule, kRuleEndSeconds - 1).offset};
    }
    p.begin = std::max(p.begin, begin);
    return {from_seconds(p.begin), from_seconds(p.end), Duration(p.offset * kUs)};
  }

  // The tail of a zone, read once per zone name for the whole process (the
  // entries are never freed); null when the stored behaviour stays.
  static const Tail* of(const std::string& name, const date::time_zone* zone) {
    static std::mutex mu;
    static auto* cache = new std::map<std::string, std::unique_ptr<const Tail>>();
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache->find(name);
    if (it != cache->end()) return it->second.get();
    std::unique_ptr<const Tail> tail;
    try {
      tail = load(name, zone);
    } catch (const std::exception&) {
      tail = nullptr;  // keep the stored behaviour
    }
    const Tail* p = tail.get();
    cache->emplace(name, std::move(tail));
    return p;
  }

  static std::unique_ptr<const Tail> load(const std::string& name, const date::time_zone* zone) {
    auto footer = read_footer(name);
    if (!footer) return nullptr;
    auto rule = parse_posix_tz(*footer);
    if (!rule || !rule->has_dst || rule->dst_offset == rule->std_offset) return nullptr;
    const auto last = zone->get_info(date::sys_seconds(std::chrono::seconds(kRuleEndSeconds - 1)));
    // Only a last period that runs on forever is replaced (a library that
    // applies the rule itself ends its periods at the rule's transitions).
    if (last.end.time_since_epoch().count() < kRuleEndSeconds) return nullptr;
    auto tail = std::make_unique<Tail>();
    tail->begin = last.begin.time_since_epoch().count();
    tail->rule = std::move(*rule);
    return tail;
  }
};

namespace {

// from_local from period_at alone: walks the periods around the local time in
// UTC order, so the first match is the first occurrence.
TimePoint from_local_by_periods(const TimeZone& zone, Duration local) {
  using Period = TimeZone::Period;
  const Duration window = std::chrono::hours(48);  // more than any UTC offset
  Period p = zone.period_at(TimePoint(local - window));
  Period prev = p;
  for (int n = 0; n < 64; ++n) {
    if (n > 0 && prev.offset < p.offset && local >= p.begin.time_since_epoch() + prev.offset &&
        local < p.begin.time_since_epoch() + p.offset)
      return p.begin;  // skipped by the jump forward at p.begin
    const TimePoint u(local - p.offset);
    if (u >= p.begin && u < p.end) return u;
    if (p.end.time_since_epoch() > local + window) break;
    Period next = zone.period_at(p.end);
    if (next.begin <= p.begin) break;
    prev = p;
    p = next;
  }
  return TimePoint(local - zone.offset_at(TimePoint(local)));
}

}  // namespace

// Hooks for tests (tests/unit/core/timezone_test.cpp declares them): not part
// of the public interface.
namespace timezone_testing {

// "CET +01:00 CEST +02:00 M3.5.0/2:00:00 M10.5.0/3:00:00", "JST +09:00", or ""
// when the text is not a POSIX TZ string. Offsets east-positive.
std::string describe_posix_tz(std::string_view text) {
  auto z = parse_posix_tz(text);
  if (!z) return "";
  std::string out = z->std_name + " " + format_hms(z->std_offset, true);
  if (!z->has_dst) return out;
  out += " " + z->dst_name + " " + format_hms(z->dst_offset, true);
  out += " " + format_rule_date(z->start.date) + "/" + format_hms(z->start.time, false);
  out += " " + format_rule_date(z->end.date) + "/" + format_hms(z->end.time, false);
  return out;
}

// The rule's transitions in year y as "INSTANT OFFSET" in time order, joined by
// ", " ("2040-03-11T07:00:00Z -04:00, 2040-11-04T06:00:00Z -05:00"); "" when
// the text does not parse or has no DST.
std::string posix_tz_transitions(std::string_view text, int year) {
  auto z = parse_posix_tz(text);
  if (!z || !z->has_dst || year < 1 || year > 9999) return "";
  std::string out;
  for (const auto& e : year_events(*z, year)) {
    if (!out.empty()) out += ", ";
    out += format_utc(from_seconds(e.at)) + " " + format_hms(e.offset, true);
  }
  return out;
}

}  // namespace timezone_testing

TimeZone::TimeZone() = default;

Result<TimeZone> TimeZone::find(std::string_view name) {
  TimeZone z;
  if (name == "UTC" || name == "Etc/UTC") {
    z.name_ = std::string(name);
    return z;
  }
  try {
    const date::time_zone* zone = date::locate_zone(name);
    z.zone_ = zone;
    z.name_ = std::string(name);
    z.tail_ = Tail::of(z.name_, zone);
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
  const long long s = floor_div(t.time_since_epoch().count(), kUs);
  if (tail_ && s >= tail_->begin) return tail_->period(s);
  auto info = tz(zone_)->get_info(to_seconds(t));
  return {clamp(info.begin), clamp(info.end), std::chrono::duration_cast<Duration>(info.offset)};
}

TimePoint TimeZone::from_local(Duration local) const {
  if (!zone_) return TimePoint(local);
  // Near or after the last stored transition the footer rule decides.
  if (tail_ && floor_div(local.count(), kUs) + 2 * kDay >= tail_->begin) return from_local_by_periods(*this, local);
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
