// W7 (BENCHMARKS.md): fair share between namespaces. Prints one JSON line;
// returns 0 when every request and phase went through.
#pragma once

#include <string>

namespace bench {

int run_w7(const std::string& baton, int workers, int flood, int seconds, double weight_a, double weight_b);

}  // namespace bench
