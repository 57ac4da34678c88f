// Duration statistics of run-time forecasts (SPEC §7): percentiles of a
// task's last successful tries, and when a try counts as slow. Pure
// functions: safe from any thread.
#pragma once

#include <vector>

#include "baton/core/time.h"

namespace baton {

struct DurationStats {
  int count = 0;
  double p50 = 0, p90 = 0, p99 = 0;  // seconds (nearest rank)
  double last = 0;                   // the newest
};

// Of durations in seconds, newest first (empty: all zero).
DurationStats duration_stats(const std::vector<double>& newest_first);

// The nearest-rank percentile q (0 < q <= 1) of xs (empty: 0).
double percentile(std::vector<double> xs, double q);

// A try is slow past max(2 × p90, p90 + 1 minute), given at least
// kSlowMinHistory earlier successes.
constexpr int kSlowMinHistory = 5;
Duration slow_after(double p90_seconds);

// Seconds as a Duration (µs), rounded; negative and NaN are 0.
Duration seconds_to_duration(double s);

}  // namespace baton
