// Fuzz target: any bytes through the whole compiler (YAML reader, spec parser,
// graph checks, templates, schedules). It must never crash, hang or leak, and
// must produce either a graph or at least one error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "baton/dsl/compiler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = baton::dsl::compile_dag(text, "fuzz.yaml");
  if (!r.graph && r.errors.empty()) std::abort();
  if (r.graph) {
    // Walking the compiled graph must be safe too.
    for (auto* t : r.graph->order()) (void)r.graph->upstream(r.graph->index_of(t->id));
    (void)r.graph->schedule().next_tick(baton::TimePoint{});
  }
  return 0;
}
