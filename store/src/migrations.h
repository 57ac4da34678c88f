// Internal: the migrations embedded in the binary (generated from migrations/).
#pragma once

#include <vector>

namespace baton::store {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<Migration>& sqlite_migrations();
const std::vector<Migration>& postgres_migrations();

}  // namespace baton::store
