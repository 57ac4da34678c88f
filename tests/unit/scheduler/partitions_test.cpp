// Rendezvous assignment of partitions to scheduler members: balanced, the
// same in every process, and moving only what a join or a leave must move.
#include <catch2/catch.hpp>

#include <map>

#include "baton/core/ids.h"
#include "baton/scheduler/partitions.h"

using namespace baton;
using namespace baton::scheduler;

namespace {
int moved(const std::map<int, std::optional<std::string>>& a, const std::map<int, std::optional<std::string>>& b) {
  int n = 0;
  for (auto& [p, owner] : a) n += b.at(p) != owner;
  return n;
}
std::map<std::string, int> counts(const std::map<int, std::optional<std::string>>& a) {
  std::map<std::string, int> c;
  for (auto& [_, owner] : a) ++c[owner.value_or("-")];
  return c;
}
}  // namespace

TEST_CASE("rendezvous: every partition has one owner, spread over the members") {
  auto a = rendezvous_assignment(kPartitions, {"s1", "s2", "s3"});
  REQUIRE(a.size() == static_cast<size_t>(kPartitions));
  auto c = counts(a);
  CHECK(c.count("-") == 0);
  for (auto& [m, n] : c) {
    INFO(m << " owns " << n);
    CHECK(n >= 10);  // 64 / 3 = 21 on average
    CHECK(n <= 32);
  }
  // The order of the list does not matter: every process agrees.
  CHECK(rendezvous_assignment(kPartitions, {"s3", "s1", "s2"}) == a);
  // No member alive: no owners.
  for (auto& [_, owner] : rendezvous_assignment(4, {})) CHECK_FALSE(owner.has_value());
}

TEST_CASE("rendezvous: a leave moves only the leaver's partitions, a join only what the newcomer wins") {
  auto three = rendezvous_assignment(kPartitions, {"s1", "s2", "s3"});
  auto two = rendezvous_assignment(kPartitions, {"s1", "s3"});
  int held = counts(three)["s2"];
  CHECK(moved(three, two) == held);
  for (auto& [p, owner] : three)
    if (owner != "s2") CHECK(two.at(p) == owner);
  auto four = rendezvous_assignment(kPartitions, {"s1", "s2", "s3", "s4"});
  int won = counts(four)["s4"];
  CHECK(moved(three, four) == won);
  for (auto& [p, owner] : four)
    if (owner != "s4") CHECK(three.at(p) == owner);
}

TEST_CASE("partition_of is stable: the same number in every process and build") {
  // Fixed values: a change here would move every DAG to another partition.
  CHECK(stable_hash("") == 14695981039346656037ULL);
  CHECK(stable_hash("a") == 12638187200555641996ULL);
  CHECK(partition_of("daily_sales") == partition_of("daily_sales"));
  CHECK(partition_of("daily_sales") >= 0);
  CHECK(partition_of("daily_sales") < kPartitions);
}
