#include <catch2/catch.hpp>

#include "baton/core/fair.h"

using namespace baton;

// The rule the scheduler's local slots use, and that baton_claim
// (migrations/postgres/0014_server_side_writes.sql) applies to remote
// claims; tests/integration/store_claim_batch_test.cpp holds the claims to
// the same cases.
TEST_CASE("fair_next: the least (held + 1) / weight, then the fewer held, then the name in byte order") {
  CHECK(fair_next({}) == -1);
  CHECK(fair_next({{"a", 5, 1}}) == 0);
  // (held + 1) / weight: 3:1 weights give 3:1 slots.
  CHECK(fair_next({{"heavy", 2, 3}, {"light", 0, 1}}) == 1);  // 1.0 against 1.0: the fewer held
  CHECK(fair_next({{"heavy", 3, 3}, {"light", 0, 1}}) == 1);  // 1.33 against 1.0
  CHECK(fair_next({{"heavy", 1, 3}, {"light", 0, 1}}) == 0);  // 0.67 against 1.0
  // Equal shares: the fewer held first.
  CHECK(fair_next({{"a", 3, 2}, {"b", 1, 1}}) == 1);  // 2.0 against 2.0, 3 held against 1
  // Equal shares and held: the name in byte order ("B" before "a").
  CHECK(fair_next({{"a", 0, 1}, {"B", 0, 1}}) == 1);
  CHECK(fair_next({{"B", 0, 1}, {"a", 0, 1}}) == 0);
}
