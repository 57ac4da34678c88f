#include "baton/scheduler/partitions.h"

#include <cstdint>

#include "baton/core/ids.h"

namespace baton::scheduler {

std::map<int, std::optional<std::string>> rendezvous_assignment(int count, const std::vector<std::string>& members) {
  std::map<int, std::optional<std::string>> out;
  for (int p = 0; p < count; ++p) {
    std::optional<std::string> best;
    std::uint64_t best_weight = 0;
    for (const auto& m : members) {
      // The member id and the partition, separated by a byte no id contains.
      std::uint64_t w = stable_hash(m + '\x1f' + std::to_string(p));
      // Mix: FNV-1a's high bits depend weakly on the last bytes.
      w ^= w >> 33;
      w *= 0xff51afd7ed558ccdULL;
      w ^= w >> 33;
      if (!best || w > best_weight || (w == best_weight && m < *best)) {
        best = m;
        best_weight = w;
      }
    }
    out[p] = best;
  }
  return out;
}

}  // namespace baton::scheduler
