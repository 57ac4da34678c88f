#include "baton/core/schedule.h"

#include "baton/core/duration.h"

namespace baton {

namespace {
constexpr long long kYearUs = 366LL * 86400 * 1000000;
long long floor_div(long long a, long long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
}  // namespace

Schedule Schedule::cron(CronExpr expr, TimeZone zone) {
  Schedule s;
  s.kind_ = Kind::cron;
  s.cron_ = std::move(expr);
  s.zone_ = std::move(zone);
  return s;
}

Schedule Schedule::every(Duration period, TimePoint anchor) {
  Schedule s;
  s.kind_ = Kind::every;
  s.period_ = period;
  s.anchor_ = anchor;
  s.start_ = anchor;
  return s;
}

Schedule Schedule::datasets(std::vector<std::string> uris) {
  Schedule s;
  s.kind_ = Kind::datasets;
  s.datasets_ = std::move(uris);
  return s;
}

Schedule& Schedule::bounded(std::optional<TimePoint> start, std::optional<TimePoint> end) {
  if (kind_ == Kind::every) {
    if (start) anchor_ = *start;
    start_ = anchor_;
  } else {
    start_ = start;
  }
  end_ = end;
  return *this;
}

std::optional<TimePoint> Schedule::raw_next(TimePoint t) const {
  std::optional<TimePoint> n;
  switch (kind_) {
    case Kind::cron:
      n = cron_->next_after(t, zone_);
      break;
    case Kind::every: {
      if (t < anchor_) {
        n = anchor_;
        break;
      }
      long long k = floor_div((t - anchor_).count(), period_.count()) + 1;
      long long offset, at;
      if (__builtin_mul_overflow(k, period_.count(), &offset) ||
          __builtin_add_overflow(anchor_.time_since_epoch().count(), offset, &at))
        return std::nullopt;
      n = TimePoint(Duration(at));
      break;
    }
    default:
      return std::nullopt;
  }
  if (n && *n > kMaxInstant) return std::nullopt;
  return n;
}

std::optional<TimePoint> Schedule::raw_prev(TimePoint t) const {
  if (kind_ == Kind::every) {
    if (t < anchor_) return std::nullopt;
    return anchor_ + Duration(floor_div((t - anchor_).count(), period_.count()) * period_.count());
  }
  // Cron has no cheap inverse: widen a window backwards until it holds a tick.
  // Not on a hot path (manual runs, bounds).
  for (long long w = 3600LL * 1000000; w <= 500 * kYearUs; w *= 4) {
    std::optional<TimePoint> last;
    for (auto n = raw_next(t - Duration(w) - Duration(1)); n && *n <= t; n = raw_next(*n)) last = n;
    if (last) return last;
  }
  return std::nullopt;
}

// Past end_date, the only tick left is the one that closes the last interval.
bool Schedule::closes_last_interval(TimePoint tick) const {
  auto last_start = raw_prev(*end_);
  return last_start && (!start_ || *last_start >= *start_) && raw_next(*last_start) == tick;
}

std::optional<TimePoint> Schedule::next_tick(TimePoint t) const {
  if (!is_time_based()) return std::nullopt;
  auto n = start_ && t < *start_ ? raw_next(*start_ - Duration(1)) : raw_next(t);
  if (n && end_ && *n > *end_ && !closes_last_interval(*n)) return std::nullopt;
  return n;
}

std::optional<TimePoint> Schedule::prev_tick(TimePoint t) const {
  if (!is_time_based()) return std::nullopt;
  auto last = raw_prev(t);
  if (last && end_ && *last > *end_ && !closes_last_interval(*last)) {
    // The tick closing the last interval, if that interval starts at or after
    // start_date (otherwise no interval lies within the bounds at all).
    auto last_start = raw_prev(*end_);
    last = last_start && (!start_ || *last_start >= *start_) ? raw_next(*last_start) : std::nullopt;
  }
  if (!last || (start_ && *last < *start_)) return std::nullopt;
  return last;
}

std::optional<DataInterval> Schedule::interval_starting(TimePoint tick) const {
  if (!is_time_based() || (start_ && tick < *start_) || (end_ && tick > *end_)) return std::nullopt;
  auto e = next_tick(tick);
  if (!e) return std::nullopt;
  return DataInterval{tick, *e};
}

std::optional<DataInterval> Schedule::last_complete_interval(TimePoint t) const {
  auto e = prev_tick(t);
  if (!e) return std::nullopt;
  auto s = prev_tick(*e - Duration(1));
  if (!s) return std::nullopt;
  return DataInterval{*s, *e};
}

std::optional<DataInterval> Schedule::next_run_interval(std::optional<TimePoint> last_tick, bool catchup,
                                                        TimePoint now) const {
  if (!is_time_based()) return std::nullopt;
  auto start = last_tick ? next_tick(*last_tick) : start_ ? next_tick(*start_ - Duration(1)) : std::nullopt;
  if (!start) return std::nullopt;
  auto end = next_tick(*start);
  if (!end) return std::nullopt;
  if (!catchup && *end <= now)
    if (auto latest = last_complete_interval(now); latest && latest->start > *start) return latest;
  return DataInterval{*start, *end};
}

std::string Schedule::describe() const {
  switch (kind_) {
    case Kind::cron:
      return cron_->text() + " (" + zone_.name() + ")";
    case Kind::every:
      return "every " + format_duration(period_);
    case Kind::datasets: {
      std::string out = "datasets: ";
      for (size_t i = 0; i < datasets_.size(); ++i) out += (i ? ", " : "") + datasets_[i];
      return out;
    }
    default:
      return "none";
  }
}

}  // namespace baton
