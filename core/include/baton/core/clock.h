// Clock: the only way Baton reads the current time, so that cron, retries,
// timeouts and SLA deadlines are tested with a FakeClock instead of sleeps.
// SystemClock is thread-safe; FakeClock is thread-safe too (atomic).
#pragma once

#include <atomic>

#include "baton/core/time.h"

namespace baton {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
  static const SystemClock& instance();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(Duration(now_.load())); }
  void set(TimePoint t) { now_.store(t.time_since_epoch().count()); }
  void advance(Duration d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<long long> now_;
};

}  // namespace baton
