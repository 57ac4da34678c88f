// Helpers for the DSL tests: compile text, find an error by line and words.
#pragma once

#include <catch2/catch.hpp>

#include <string>

#include "baton/dsl/compiler.h"

namespace baton::dsl::test {

inline CompileResult compile(const std::string& yaml) { return compile_dag(yaml, "dag.yaml"); }

inline std::string all_errors(const CompileResult& r) {
  std::string out;
  for (auto& d : r.errors) out += d.format() + "\n";
  return out;
}

// True when some error is on `line` and contains every fragment.
inline bool has_error(const CompileResult& r, int line, std::initializer_list<std::string> fragments) {
  for (auto& d : r.errors) {
    if (line && d.pos.line != line) continue;
    bool all = true;
    for (auto& f : fragments) all = all && d.message.find(f) != std::string::npos;
    if (all) return true;
  }
  return false;
}

#define REQUIRE_ERROR(result, line, ...)                                    \
  do {                                                                      \
    INFO("errors:\n" << ::baton::dsl::test::all_errors(result));            \
    REQUIRE(::baton::dsl::test::has_error(result, line, {__VA_ARGS__}));    \
  } while (0)

}  // namespace baton::dsl::test
