// Retry policy (SPEC §3): tries = retries + 1; the delay before try n+1 is
// `retry_delay` (fixed) or min(max_retry_delay, retry_delay * 2^(n-1))
// (exponential); with jitter, up to +10 % more. Pure: the caller passes the
// random draw in [0, 1), so tests are exact.
#pragma once

#include "baton/core/time.h"

namespace baton {

struct RetryPolicy {
  int retries = 0;
  Duration retry_delay = std::chrono::seconds(30);
  bool exponential = false;
  Duration max_retry_delay = std::chrono::hours(1);
  bool jitter = false;

  int max_tries() const { return retries + 1; }
  // Whether try number `finished_try` (1-based) may be followed by another.
  bool may_retry(int finished_try) const { return finished_try < max_tries(); }
  // The delay between the end of try `finished_try` and the start of the next.
  Duration delay_after(int finished_try, double jitter_draw = 0.0) const;
};

}  // namespace baton
