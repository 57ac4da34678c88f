// Weighted fair queueing's one decision (SPEC §13): which namespace the next
// slot goes to. The scheduler's local slots use it; the store's remote
// claims apply the same rule server-side (baton_claim, in
// migrations/postgres/0014_server_side_writes.sql), tested against the same
// ties (tests/unit/core/fair_test.cpp, tests/integration/store_claim_batch_test.cpp).
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
