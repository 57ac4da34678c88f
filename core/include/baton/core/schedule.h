// Schedule: when a DAG's runs are due (SPEC §4). A time schedule (cron or
// `every`) cuts time into data intervals [t_i, t_i+1) at its *ticks* t_i; the
// run for an interval has logical_date = t_i and is created at t_i+1.
// Ticks are bounded below by start_date (the first interval starts at the first
// tick at or after it) and above by end_date (no interval starts after it).
// Immutable; safe to share between threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/cron.h"
#include "baton/core/result.h"
#include "baton/core/time.h"
#include "baton/core/timezone.h"

namespace baton {

struct DataInterval {
  TimePoint start;
  TimePoint end;
  friend bool operator==(const DataInterval&, const DataInterval&) = default;
};

class Schedule {
 public:
  enum class Kind { none, cron, every, datasets };

  static Schedule none() { return Schedule(); }
  static Schedule cron(CronExpr expr, TimeZone zone);
  static Schedule every(Duration period, TimePoint anchor);
  static Schedule datasets(std::vector<std::string> uris);

  Kind kind() const { return kind_; }
  bool is_time_based() const { return kind_ == Kind::cron || kind_ == Kind::every; }
  const std::optional<CronExpr>& cron_expr() const { return cron_; }
  Duration period() const { return period_; }
  const std::vector<std::string>& dataset_uris() const { return datasets_; }
  const TimeZone& zone() const { return zone_; }

  // Bounds from start_date / end_date (both optional).
  Schedule& bounded(std::optional<TimePoint> start, std::optional<TimePoint> end);

  // The first tick strictly after t (nullopt: none, or past end_date).
  std::optional<TimePoint> next_tick(TimePoint t) const;
  // The last tick at or before t (nullopt: none at or after start_date).
  std::optional<TimePoint> prev_tick(TimePoint t) const;

  // The interval that starts at tick t.
  std::optional<DataInterval> interval_starting(TimePoint tick) const;
  // The last complete interval that ends at or before t (a manual run's interval).
  std::optional<DataInterval> last_complete_interval(TimePoint t) const;

  // The interval of the next scheduled run (SPEC §4), given `last_tick`, the
  // latest interval start that has a run: the interval after it — or,
  // without catchup, when that one is already complete at `now`, the latest
  // complete interval (the one the scheduler creates on its next turn).
  // nullopt: no interval is left (end_date), or not a time schedule.
  std::optional<DataInterval> next_run_interval(std::optional<TimePoint> last_tick, bool catchup, TimePoint now) const;

  // Text form for people: `0 3 * * * (Europe/Berlin)`, `every 15m`, `datasets: a, b`, `none`.
  std::string describe() const;

 private:
  std::optional<TimePoint> raw_next(TimePoint t) const;
  std::optional<TimePoint> raw_prev(TimePoint t) const;
  bool closes_last_interval(TimePoint tick) const;

  Kind kind_ = Kind::none;
  std::optional<CronExpr> cron_;
  TimeZone zone_;
  Duration period_{0};
  TimePoint anchor_{};
  std::vector<std::string> datasets_;
  std::optional<TimePoint> start_;
  std::optional<TimePoint> end_;
};

}  // namespace baton
