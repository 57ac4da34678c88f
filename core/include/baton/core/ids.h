// The shapes of identifiers users write (SPEC §3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/result.h"

namespace baton {

// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$ : DAG ids and namespaces.
bool is_valid_dag_id(std::string_view s);
// ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$ : task ids.
bool is_valid_task_id(std::string_view s);
// A list of namespaces as a user writes it (`--namespace a,b`, a token's
// `namespaces`): comma-separated, each a valid namespace (the rule of a DAG
// file's `namespace:`, is_valid_dag_id), in the order given, repeats dropped.
// invalid_argument naming the bad entry; an empty text is an empty list.
Result<std::vector<std::string>> parse_namespace_list(std::string_view text);
// The same check for one name (invalid_argument, in the parser's words).
Status check_namespace_name(std::string_view name);

// Pool and queue names: like task ids.
inline bool is_valid_name(std::string_view s) { return is_valid_task_id(s); }

// DAGs are scheduled by partition (SPEC §9): a fixed number of them, a DAG's
// partition a stable hash of its id — the same in every process and build
// (FNV-1a, 64-bit; std::hash promises neither).
constexpr int kPartitions = 64;
std::uint64_t stable_hash(std::string_view s);
int partition_of(std::string_view dag_id, int partitions = kPartitions);

// Levenshtein distance, for "did you mean" hints.
int edit_distance(std::string_view a, std::string_view b);

}  // namespace baton
