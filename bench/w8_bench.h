// W8 (BENCHMARKS.md): backfill isolation. Prints one JSON line; returns 0 when every run was right.
#pragma once

#include <string>

namespace bench {

int run_w8(const std::string& baton, int intervals, int workers, int chain, int runs);

}  // namespace bench
