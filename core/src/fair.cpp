#include "baton/core/fair.h"

#include <tuple>

namespace baton {

int fair_next(const std::vector<FairEntry>& entries) {
  int best = -1;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    const auto& b = entries[static_cast<size_t>(best)];
    auto rank = [](const FairEntry& x) {
      return std::make_tuple(static_cast<double>(x.held + 1) / (x.weight > 0 ? x.weight : 1), x.held);
    };
    if (rank(e) < rank(b) || (rank(e) == rank(b) && e.ns < b.ns)) best = static_cast<int>(i);
  }
  return best;
}

}  // namespace baton
