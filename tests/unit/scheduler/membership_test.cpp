// Membership on its own (standalone: one member that leads itself): joining
// takes every partition; a second process that joins takes them over, and
// the first one's epochs are then stale.
#include <catch2/catch.hpp>

#include "baton/core/ids.h"
#include "membership.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;

TEST_CASE("membership: a standalone member owns every partition and its row is live") {
  testing::PartsStore s;
  Membership m(*s.store, s.clock, {"host:1", false});
  REQUIRE(m.join().ok());
  CHECK(m.fences().size() == static_cast<size_t>(kPartitions));
  CHECK(m.owns("any_dag"));
  auto members = s.store->list_members();
  REQUIRE(members.ok());
  REQUIRE(members->size() == 1);
  CHECK(members->front().member_id == "host:1");
  CHECK(members->front().lease_expires_at > s.clock.now());
  CHECK(*s.store->get_leader() == std::optional<std::string>("host:1"));
  m.leave();
  CHECK(s.store->list_members()->empty());
}

TEST_CASE("membership: a process that takes over bumps the epochs, and the old owner's writes are refused") {
  testing::PartsStore s;
  Membership first(*s.store, s.clock, {"host:1", false});
  REQUIRE(first.join().ok());
  Membership second(*s.store, s.clock, {"host:2", false});
  REQUIRE(second.join().ok());
  for (size_t i = 0; i < first.fences().size(); ++i) CHECK(second.fences()[i].epoch > first.fences()[i].epoch);
  store::WriteBatch b;
  b.audit.push_back({"x", "y", "z", "{}"});
  b.fences = first.fences();
  auto stale = s.store->apply(b);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code == "stale_epoch");
  b.fences = second.fences();
  CHECK(s.store->apply(b).ok());
}

TEST_CASE("membership: the lease is renewed once per heartbeat") {
  testing::PartsStore s;
  Membership m(*s.store, s.clock, {"host:1", false, std::chrono::seconds(1), std::chrono::seconds(5)});
  REQUIRE(m.join().ok());
  auto lease = [&] { return s.store->list_members()->front().lease_expires_at; };
  const TimePoint first = lease();
  s.clock.advance(std::chrono::milliseconds(500));
  m.renew();
  CHECK(lease() == first);  // not yet a heartbeat since the last
  s.clock.advance(std::chrono::milliseconds(600));
  m.renew();
  CHECK(lease() == first + std::chrono::milliseconds(1100));
}
