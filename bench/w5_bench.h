// W5 (BENCHMARKS.md) with its history: `history` runs of a 10-task DAG made
// through the API, then every read timed, and the memory against 1,000 runs.
// Prints one JSON line; returns 0 when every request was answered right.
#pragma once

#include <string>

namespace bench {

int run_w5(const std::string& baton, int history, int clients);

}  // namespace bench
