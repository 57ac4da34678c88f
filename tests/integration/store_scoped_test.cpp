// Scoped tokens and variables and connections per namespace (SPEC §13), on
// every engine: a token keeps its namespaces; an entry is unique within its
// namespace; a task's namespace reads its own entry, else the global one,
// never another namespace's; the audit log names the namespace.
#include <catch2/catch.hpp>

#include "baton/core/ids.h"
#include "baton/core/sha256.h"
#include "baton/store/store.h"
#include "store_each.h"

using namespace baton;
using namespace baton::store;

TEST_CASE("scoped tokens keep their namespaces, in the order given") {
  testing::each_store("scoped", [](Store& s, FakeClock&) {
    auto t = s.create_token("etl", Role::operator_role, sha256_hex("t-etl"), "admin", {"sales", "ops"});
    REQUIRE(t.ok());
    CHECK(t->namespaces == std::vector<std::string>{"sales", "ops"});
    REQUIRE(s.create_token("all", Role::viewer, sha256_hex("t-all"), "admin").ok());
    auto list = s.list_tokens();
    REQUIRE(list.ok());
    REQUIRE(list->size() == 2);
    CHECK((*list)[0].name == "all");
    CHECK((*list)[0].namespaces.empty());
    CHECK((*list)[1].namespaces == std::vector<std::string>{"sales", "ops"});
    auto who = s.authenticate(sha256_hex("t-etl"));
    REQUIRE(who.ok());
    CHECK(who->namespaces == std::vector<std::string>{"sales", "ops"});
    CHECK(s.authenticate(sha256_hex("t-all"))->namespaces.empty());
    // Audited with its namespaces; an unscoped one without.
    auto log = s.list_audit({});
    REQUIRE(log.ok());
    REQUIRE(log->size() == 2);
    CHECK((*log)[0].details.find("\"namespaces\":[\"sales\",\"ops\"]") != std::string::npos);
    CHECK((*log)[1].details.find("namespaces") == std::string::npos);
  });
}

TEST_CASE("namespace lists are checked with the rule of a DAG file's namespace") {
  CHECK(parse_namespace_list("").value().empty());
  CHECK(parse_namespace_list("sales").value() == std::vector<std::string>{"sales"});
  CHECK(parse_namespace_list("sales,ops,sales").value() == std::vector<std::string>{"sales", "ops"});
  auto bad = parse_namespace_list("sales,,ops");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "invalid_argument");
  auto slash = parse_namespace_list("a/b");
  REQUIRE_FALSE(slash.ok());
  CHECK(slash.error().message.find("invalid namespace \"a/b\"") != std::string::npos);
  CHECK_FALSE(parse_namespace_list("-x").ok());
}

TEST_CASE("variables and connections per namespace") {
  testing::each_store("scoped", [](Store& s, FakeClock&) {
    REQUIRE(s.put_variable("bucket", "s3://global", "admin").ok());
    REQUIRE(s.put_variable("bucket", "s3://sales", "admin", false, "sales").ok());
    REQUIRE(s.put_variable("only_ops", "o", "admin", true, "ops").ok());
    // The same name in two namespaces: two entries.
    CHECK(s.get_variable("bucket")->value == "s3://global");
    CHECK(s.get_variable("bucket", "sales")->value == "s3://sales");
    CHECK(s.get_variable("bucket", "sales")->ns == "sales");
    auto missing = s.get_variable("bucket", "ops");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == "not_found");
    CHECK(missing.error().message == "no variable named \"bucket\" in namespace \"ops\"");
    // Every namespace's, global first.
    auto all = s.list_variables();
    REQUIRE(all.ok());
    REQUIRE(all->size() == 3);
    CHECK((*all)[0].ns.empty());
    CHECK((*all)[1].ns == "ops");
    CHECK((*all)[2].ns == "sales");

    // A task reads its namespace's entry, else the global one; never another's.
    CHECK(s.resolve_variable("sales", "bucket")->value == "s3://sales");
    CHECK(s.resolve_variable("marketing", "bucket")->value == "s3://global");
    CHECK(s.resolve_variable("sales", "only_ops").error().code == "not_found");
    CHECK(s.resolve_variable("ops", "only_ops")->secret);
    CHECK(s.resolve_variable("default", "only_ops").error().code == "not_found");

    REQUIRE(s.put_connection("wh", "postgresql://u:pw@global/wh", "admin").ok());
    REQUIRE(s.put_connection("wh", "postgresql://u:pw@sales/wh", "admin", "sales").ok());
    CHECK(s.resolve_connection("sales", "wh")->url == "postgresql://u:pw@sales/wh");
    CHECK(s.resolve_connection("ops", "wh")->url == "postgresql://u:pw@global/wh");
    REQUIRE(s.put_connection("ops_db", "sqlite:/tmp/ops.db", "admin", "ops").ok());
    CHECK(s.resolve_connection("sales", "ops_db").error().code == "not_found");
    CHECK(s.list_connections()->size() == 3);

    // Deleting a namespace's entry leaves the global one of that name.
    REQUIRE(s.delete_variable("bucket", "admin", "sales").ok());
    CHECK(s.delete_variable("bucket", "admin", "sales").error().code == "not_found");
    CHECK(s.resolve_variable("sales", "bucket")->value == "s3://global");
    REQUIRE(s.delete_connection("wh", "admin", "sales").ok());
    CHECK(s.get_connection("wh")->url == "postgresql://u:pw@global/wh");

    // The audit log names the namespace in the target and details, and
    // never a connection's password or a secret's value.
    auto log = s.list_audit({});
    REQUIRE(log.ok());
    std::vector<std::string> targets;
    for (auto& e : *log) {
      targets.push_back(e.target);
      CHECK(e.details.find("pw") == std::string::npos);
      CHECK(e.details.find("\"o\"") == std::string::npos);
    }
    CHECK(targets == std::vector<std::string>{"variable:bucket", "variable:sales/bucket", "variable:ops/only_ops",
                                              "connection:wh", "connection:sales/wh", "connection:ops/ops_db",
                                              "variable:sales/bucket", "connection:sales/wh"});
    CHECK((*log)[1].details.find("\"namespace\":\"sales\"") != std::string::npos);
  });
}
