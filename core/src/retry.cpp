#include "baton/core/retry.h"

#include <algorithm>

namespace baton {

Duration RetryPolicy::delay_after(int finished_try, double jitter_draw) const {
  Duration d = retry_delay;
  if (exponential) {
    // retry_delay * 2^(n-1), capped; doubling stops as soon as the cap is hit
    // so that large try numbers cannot overflow.
    for (int i = 1; i < finished_try && d < max_retry_delay; ++i) d *= 2;
    d = std::min(d, max_retry_delay);
  }
  if (jitter) {
    double draw = std::clamp(jitter_draw, 0.0, 1.0);
    d += Duration(static_cast<long long>(static_cast<double>(d.count()) * 0.1 * draw));
  }
  return d;
}

}  // namespace baton
