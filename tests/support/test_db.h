// The database a test works on: a fresh SQLite file in `dir`, or — when
// BATON_TEST_STORE=postgres — a fresh schema of the PostgreSQL database named
// by BATON_TEST_PG_URL (the store creates the first schema of its
// search_path). Header-only; for tests.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

namespace baton::testing {

inline bool on_postgres() {
  const char* e = std::getenv("BATON_TEST_STORE");
  return e && std::strcmp(e, "postgres") == 0;
}

// What names a test process's schemas and files: its id and a random tag
// drawn once ("12345_9f3a01c2"). Process ids wrap (at 32,768 by default)
// while one PostgreSQL cluster serves a whole test run, and a later process
// must never find an earlier one's schema (its tokens, DAGs and runs) under
// its own name.
inline const std::string& process_tag() {
  static const std::string tag = [] {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(std::random_device{}()));
    return std::to_string(::getpid()) + "_" + hex;
  }();
  return tag;
}

inline std::string test_database_url(const std::filesystem::path& dir) {
  if (!on_postgres()) return "sqlite:" + (dir / "baton.db").string();
  static int counter = 0;
  std::string url = std::getenv("BATON_TEST_PG_URL");
  url += url.find('?') == std::string::npos ? "?" : "&";
  return url + "options=-csearch_path%3Dbaton_s" + process_tag() + "_" + std::to_string(++counter);
}

}  // namespace baton::testing
