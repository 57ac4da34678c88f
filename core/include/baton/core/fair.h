// Weighted fair queueing's one decision (SPEC §13), shared by the
// scheduler's local slots and the store's remote claims: which namespace the
// next slot goes to.
#pragma once

#include <string>
#include <vector>

namespace baton {

struct FairEntry {
  std::string ns;
  long long held = 0;  // slots (or claimed tries) it holds now
  double weight = 1;   // > 0
};

// The entry the next slot goes to: the least (held + 1) / weight — the
// weighted share it would have after this slot, so 3:1 weights give 3:1
// slots — then the fewer held, then the name. -1 when there is none.
int fair_next(const std::vector<FairEntry>& entries);

}  // namespace baton
