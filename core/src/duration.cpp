#include "baton/core/duration.h"

#include <limits>

namespace baton {

Result<Duration> parse_duration(std::string_view text, bool allow_negative) {
  auto bad = [&](const char* why) {
    return Error::invalid("invalid duration \"" + std::string(text) + "\": " + why +
                          "; expected forms like 45s, 5m, 2h, 1d, 1h30m or a number of seconds");
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    if (!allow_negative) return bad("must not be negative");
    negative = true;
    s.remove_prefix(1);
  } else if (!s.empty() && s[0] == '+' && allow_negative) {
    s.remove_prefix(1);
  }
  if (s.empty()) return bad("empty");
  // A bare integer: seconds.
  bool all_digits = true;
  for (char c : s) all_digits = all_digits && c >= '0' && c <= '9';
  const long long kMaxSeconds = 100LL * 366 * 86400;  // 100 years is plenty
  if (all_digits) {
    if (s.size() > 12) return bad("too large");
    long long v = std::stoll(std::string(s));
    if (v > kMaxSeconds) return bad("too large (at most 100 years)");
    return Duration((negative ? -v : v) * 1000000LL);
  }
  static const struct {
    char unit;
    long long seconds;
  } kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
  size_t i = 0;
  int next_unit = 0;
  long long total = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return bad("a number must come before each unit");
    if (i - start > 12) return bad("too large");
    long long v = std::stoll(std::string(s.substr(start, i - start)));
    if (i == s.size()) return bad("missing unit after the last number");
    char u = s[i++];
    int k = next_unit;
    while (k < 4 && kUnits[k].unit != u) ++k;
    if (k == 4) {
      bool known = u == 'd' || u == 'h' || u == 'm' || u == 's';
      return bad(known ? "units must appear once each, largest first (d, h, m, s)" : "unknown unit (use d, h, m or s)");
    }
    next_unit = k + 1;
    total += v * kUnits[k].seconds;
    if (total > kMaxSeconds) return bad("too large (at most 100 years)");
  }
  return Duration((negative ? -total : total) * 1000000LL);
}

std::string format_duration(Duration d) {
  long long us = d.count();
  std::string out;
  if (us < 0) {
    out = "-";
    us = -us;
  }
  long long secs = us / 1000000;
  long long rest_us = us % 1000000;
  if (secs == 0 && rest_us == 0) return "0s";
  static const struct {
    char unit;
    long long seconds;
  } kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
  for (auto& u : kUnits) {
    if (secs >= u.seconds) {
      out += std::to_string(secs / u.seconds) + u.unit;
      secs %= u.seconds;
    }
  }
  if (rest_us) out += std::to_string(rest_us) + "us";
  return out;
}

}  // namespace baton
