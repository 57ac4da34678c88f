// The database a test works on: a fresh SQLite file in `dir`, or — when
// BATON_TEST_STORE=postgres — a fresh schema of the PostgreSQL database named
// by BATON_TEST_PG_URL (the store creates the first schema of its
// search_path). Header-only; for tests.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace baton::testing {

inline bool on_postgres() {
  const char* e = std::getenv("BATON_TEST_STORE");
  return e && std::strcmp(e, "postgres") == 0;
}

inline std::string test_database_url(const std::filesystem::path& dir) {
  if (!on_postgres()) return "sqlite:" + (dir / "baton.db").string();
  static int counter = 0;
  std::string url = std::getenv("BATON_TEST_PG_URL");
  url += url.find('?') == std::string::npos ? "?" : "&";
  return url + "options=-csearch_path%3Dbaton_s" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

}  // namespace baton::testing
