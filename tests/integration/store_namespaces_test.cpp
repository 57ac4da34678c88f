// Namespaces as stored objects (SPEC §13), on both engines: the defaults of
// one nobody configured, put/replace/delete, the audit entries with the
// fields, and values out of range refused with nothing stored.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <limits>

#include "baton/store/store.h"
#include "store_each.h"

using namespace baton;
using namespace baton::store;
using nlohmann::json;

namespace {
void each_store(const std::function<void(Store&, FakeClock&)>& body) { testing::each_store("ns", body); }

std::vector<AuditEntry> audit_of(Store& s, const std::string& action) {
  AuditFilter f;
  f.action = action;
  auto log = s.list_audit(f);
  REQUIRE(log.ok());
  return *log;
}
}  // namespace

TEST_CASE("namespaces: none configured at first; a default one is not_found") {
  each_store([](Store& s, FakeClock&) {
    auto all = s.list_namespaces();
    REQUIRE(all.ok());
    CHECK(all->empty());
    auto d = s.get_namespace("default");
    REQUIRE_FALSE(d.ok());
    CHECK(d.error().code == "not_found");
    CHECK(Namespace{}.weight == 1);
    CHECK_FALSE(Namespace{}.max_running_tasks);
    CHECK_FALSE(Namespace{}.folder);
  });
}

TEST_CASE("namespaces: put creates, put again replaces every field, list is by name") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.put_namespace({"team-b", 2.5, 40, "team_b/dags", "the B team"}, "admin").ok());
    REQUIRE(s.put_namespace({"analytics", 0.01, std::nullopt, std::nullopt, ""}, "admin").ok());
    auto b = s.get_namespace("team-b");
    REQUIRE(b.ok());
    CHECK(b->weight == 2.5);
    CHECK(b->max_running_tasks == 40);
    CHECK(b->folder == "team_b/dags");
    CHECK(b->description == "the B team");
    auto a = s.get_namespace("analytics");
    REQUIRE(a.ok());
    CHECK(a->weight == 0.01);  // read back exactly
    CHECK_FALSE(a->max_running_tasks);
    CHECK_FALSE(a->folder);

    REQUIRE(s.put_namespace({"team-b", 1000, std::nullopt, std::nullopt, "renamed"}, "ops").ok());
    b = s.get_namespace("team-b");
    REQUIRE(b.ok());
    CHECK(b->weight == 1000);
    CHECK_FALSE(b->max_running_tasks);
    CHECK_FALSE(b->folder);
    CHECK(b->description == "renamed");

    auto all = s.list_namespaces();
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].name == "analytics");
    CHECK((*all)[1].name == "team-b");
    CHECK((*all)[1].weight == 1000);
  });
}

TEST_CASE("namespaces: each put and delete is audited with the fields") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.put_namespace({"etl", 3, 10, "etl", "loads"}, "alice").ok());
    REQUIRE(s.put_namespace({"etl", 0.5, std::nullopt, std::nullopt, ""}, "bob").ok());
    auto sets = audit_of(s, "namespace.set");
    REQUIRE(sets.size() == 2);
    CHECK(sets[0].actor == "alice");
    CHECK(sets[0].target == "namespace:etl");
    json first = json::parse(sets[0].details);
    CHECK(first["weight"] == 3.0);
    CHECK(first["max_running_tasks"] == 10);
    CHECK(first["folder"] == "etl");
    CHECK(first["description"] == "loads");
    CHECK(first["before"].is_null());
    json second = json::parse(sets[1].details);
    CHECK(second["weight"] == 0.5);
    CHECK(second["max_running_tasks"].is_null());
    CHECK(second["folder"].is_null());
    CHECK(second["before"]["weight"] == 3.0);

    REQUIRE(s.delete_namespace("etl", "carol").ok());
    auto dels = audit_of(s, "namespace.deleted");
    REQUIRE(dels.size() == 1);
    CHECK(dels[0].actor == "carol");
    CHECK(dels[0].target == "namespace:etl");
    // The chain still verifies with the new entries.
    auto check = s.verify_audit();
    REQUIRE(check.ok());
    CHECK_FALSE(check->first_bad_id);
  });
}

TEST_CASE("namespaces: delete returns one to the defaults; deleting one not configured is not_found") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.put_namespace({"etl", 3, 10, std::nullopt, ""}, "admin").ok());
    REQUIRE(s.delete_namespace("etl", "admin").ok());
    CHECK(s.get_namespace("etl").error().code == "not_found");
    CHECK(s.list_namespaces()->empty());
    auto again = s.delete_namespace("etl", "admin");
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == "not_found");
    CHECK(again.error().message.find("etl") != std::string::npos);
    CHECK(s.delete_namespace("never", "admin").error().code == "not_found");
    CHECK(audit_of(s, "namespace.deleted").size() == 1);  // a failed delete is not audited
  });
}

TEST_CASE("namespaces: a weight or cap out of range is refused and nothing is stored") {
  each_store([](Store& s, FakeClock&) {
    for (double w : {0.0, 0.009, -1.0, 1000.5, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
      auto r = s.put_namespace({"bad", w, std::nullopt, std::nullopt, ""}, "admin");
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == "invalid_argument");
    }
    for (int cap : {0, -5}) {
      auto r = s.put_namespace({"bad", 1, cap, std::nullopt, ""}, "admin");
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == "invalid_argument");
    }
    CHECK(s.get_namespace("bad").error().code == "not_found");
    CHECK(audit_of(s, "namespace.set").empty());
  });
}

TEST_CASE("namespaces: any text is stored as given (quotes, unicode, long descriptions)") {
  each_store([](Store& s, FakeClock&) {
    std::string desc = "l'équipe \"data\"; DROP TABLE namespaces; --" + std::string(4000, 'x');
    REQUIRE(s.put_namespace({"data.team_1", 7.25, 1000000, "a/b c/d", desc}, "admin").ok());
    auto n = s.get_namespace("data.team_1");
    REQUIRE(n.ok());
    CHECK(n->description == desc);
    CHECK(n->folder == "a/b c/d");
    CHECK(n->max_running_tasks == 1000000);
    CHECK(n->weight == 7.25);
  });
}
