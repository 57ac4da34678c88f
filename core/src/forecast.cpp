#include "baton/core/forecast.h"

#include <algorithm>
#include <cmath>

namespace baton {

double percentile(std::vector<double> xs, double q) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  double rank = std::ceil(q * static_cast<double>(xs.size()));
  size_t i = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return xs[std::min(i, xs.size() - 1)];
}

DurationStats duration_stats(const std::vector<double>& newest_first) {
  DurationStats s;
  s.count = static_cast<int>(newest_first.size());
  if (newest_first.empty()) return s;
  s.p50 = percentile(newest_first, 0.5);
  s.p90 = percentile(newest_first, 0.9);
  s.p99 = percentile(newest_first, 0.99);
  s.last = newest_first.front();
  return s;
}

Duration seconds_to_duration(double s) {
  if (!(s > 0)) return Duration(0);
  if (s > 1e12) s = 1e12;  // beyond any schedule: keeps the arithmetic finite
  return Duration(static_cast<long long>(std::llround(s * 1e6)));
}

Duration slow_after(double p90_seconds) {
  return seconds_to_duration(std::max(2 * p90_seconds, p90_seconds + 60));
}

}  // namespace baton
