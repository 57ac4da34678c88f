// Which scheduler member owns which partition of the DAGs (SPEC §9,
// DESIGN.md "High availability"): rendezvous (highest random weight) hashing.
// Partition p goes to the live member m with the highest stable_hash(m, p):
// every process computes the same answer from the same member list, and when
// a member joins or leaves only the partitions it wins or held move — about
// 1/n of them — so partitions (and their epochs) move as little as possible.
// Pure functions; safe from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace baton::scheduler {

// partition -> owner for partitions 0..count-1; no owner when no member lives.
std::map<int, std::optional<std::string>> rendezvous_assignment(int count, const std::vector<std::string>& members);

}  // namespace baton::scheduler
