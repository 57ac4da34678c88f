// The engines a store test runs on: SQLite always (a fresh file), PostgreSQL
// when BATON_TEST_PG_URL is set (a fresh schema). `tag` names the test file's
// files and schemas, so that two files in one process never share a schema.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_db.h"

namespace baton::testing {

struct StoreEngine {
  std::string name;  // sqlite, postgres
  std::string url;
};

inline std::vector<StoreEngine> store_engines(const std::string& tag) {
  static int counter = 0;
  auto dir = std::filesystem::temp_directory_path() / ("baton-" + tag + "-test-" + process_tag());
  std::filesystem::create_directories(dir);
  ++counter;
  std::vector<StoreEngine> out = {{"sqlite", "sqlite:" + (dir / (std::to_string(counter) + ".db")).string()}};
  if (const char* pg = std::getenv("BATON_TEST_PG_URL"); pg && *pg) {
    std::string url = pg;
    url += url.find('?') == std::string::npos ? "?" : "&";
    url += "options=-csearch_path%3Dbaton_" + tag + process_tag() + "_" + std::to_string(counter);
    out.push_back({"postgres", url});
  }
  return out;
}

}  // namespace baton::testing
