// One conformance suite for the Store interface, run against every engine:
// SQLite always; PostgreSQL when BATON_TEST_PG_URL names a database (the test
// command starts a private cluster for it once that engine exists).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <unistd.h>

#include "baton/core/sha256.h"
#include "baton/store/store.h"

using namespace baton;
using namespace baton::store;
namespace fs = std::filesystem;

namespace {

struct Engine {
  std::string name;
  std::string url;
};

std::vector<Engine> engines() {
  static int counter = 0;
  auto dir = fs::temp_directory_path() / ("baton-store-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<Engine> out = {{"sqlite", "sqlite:" + (dir / ("t" + std::to_string(++counter) + ".db")).string()}};
  if (const char* pg = std::getenv("BATON_TEST_PG_URL"); pg && *pg) out.push_back({"postgres", pg});
  return out;
}

// Runs body once per engine with a fresh store and a fake clock.
void each_store(const std::function<void(Store&, FakeClock&)>& body) {
  for (auto& e : engines()) {
    DYNAMIC_SECTION(e.name) {
      FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
      auto url = parse_database_url(e.url);
      REQUIRE(url.ok());
      auto store = open_store(*url, clock);
      INFO((store.ok() ? std::string() : store.error().message));
      REQUIRE(store.ok());
      body(**store, clock);
    }
  }
}

}  // namespace

TEST_CASE("database URLs") {
  CHECK(parse_database_url("sqlite:./baton.db")->path == "./baton.db");
  CHECK(parse_database_url("sqlite:///tmp/x.db")->path == "/tmp/x.db");
  auto pg = parse_database_url("postgresql://baton:s3cret@127.0.0.1:5432/baton");
  REQUIRE(pg.ok());
  CHECK(pg->engine == DatabaseUrl::Engine::postgres);
  CHECK(pg->masked() == "postgresql://baton:***@127.0.0.1:5432/baton");
  CHECK_FALSE(parse_database_url("mysql://x").ok());
  CHECK_FALSE(parse_database_url("sqlite:").ok());
}

TEST_CASE("migrations apply once and report their state") {
  each_store([](Store& s, FakeClock&) {
    auto st = s.migration_status();
    REQUIRE(st.ok());
    REQUIRE_FALSE(st->empty());
    for (auto& m : *st) CHECK(m.applied_at.has_value());
    auto again = s.migrate();
    REQUIRE(again.ok());
    CHECK(*again == 0);
  });
}

TEST_CASE("tokens: only the hash is stored; revoked tokens do not authenticate") {
  each_store([](Store& s, FakeClock& clock) {
    auto t = s.create_token("ci", Role::operator_role, sha256_hex("secret-1"), "admin");
    REQUIRE(t.ok());
    CHECK(t->role == Role::operator_role);
    auto dup = s.create_token("ci", Role::viewer, sha256_hex("secret-2"), "admin");
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().code == "conflict");
    clock.advance(std::chrono::seconds(5));
    auto who = s.authenticate(sha256_hex("secret-1"));
    REQUIRE(who.ok());
    CHECK(who->name == "ci");
    CHECK_FALSE(s.authenticate(sha256_hex("wrong")).ok());
    auto list = s.list_tokens();
    REQUIRE(list.ok());
    REQUIRE(list->size() == 1);
    CHECK((*list)[0].last_used_at == clock.now());
    REQUIRE(s.revoke_token("ci", "admin").ok());
    CHECK_FALSE(s.authenticate(sha256_hex("secret-1")).ok());
    CHECK(s.revoke_token("ci", "admin").error().code == "not_found");
  });
}

TEST_CASE("pools: the default pool has 128 slots and cannot be deleted") {
  each_store([](Store& s, FakeClock&) {
    auto d = s.get_pool("default");
    REQUIRE(d.ok());
    CHECK(d->slots == 128);
    REQUIRE(s.put_pool({"etl", 4, "nightly loads"}, "admin").ok());
    REQUIRE(s.put_pool({"etl", 6, ""}, "admin").ok());
    CHECK(s.get_pool("etl")->slots == 6);
    CHECK(s.put_pool({"bad", -1, ""}, "admin").error().code == "invalid_argument");
    CHECK(s.delete_pool("default", "admin").error().code == "conflict");
    REQUIRE(s.delete_pool("etl", "admin").ok());
    CHECK(s.get_pool("etl").error().code == "not_found");
    CHECK(s.list_pools()->size() == 1);
  });
}

TEST_CASE("variables and connections") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.put_variable("bucket", "s3://a", "admin").ok());
    REQUIRE(s.put_variable("bucket", "s3://b", "admin").ok());
    CHECK(s.get_variable("bucket")->value == "s3://b");
    CHECK(s.get_variable("nope").error().code == "not_found");
    REQUIRE(s.put_connection("wh", "postgresql://u:pw@127.0.0.1/wh", "admin").ok());
    CHECK(s.get_connection("wh")->url == "postgresql://u:pw@127.0.0.1/wh");
    CHECK(s.list_connections()->size() == 1);
    REQUIRE(s.delete_variable("bucket", "admin").ok());
    CHECK(s.delete_variable("bucket", "admin").error().code == "not_found");
    REQUIRE(s.delete_connection("wh", "admin").ok());
    // The audit log has every change, and never a connection's password.
    auto log = s.list_audit({});
    REQUIRE(log.ok());
    std::vector<std::string> actions;
    for (auto& e : *log) {
      actions.push_back(e.action);
      CHECK(e.details.find("pw") == std::string::npos);
    }
    CHECK(actions == std::vector<std::string>{"variable.set", "variable.set", "connection.set", "variable.deleted",
                                              "connection.deleted"});
  });
}

TEST_CASE("the audit log chains every entry and finds tampering") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.append_audit("alice", "dag.paused", "dag:sales", R"({"before":false,"after":true})").ok());
    clock.advance(std::chrono::seconds(1));
    REQUIRE(s.append_audit("system", "run.triggered", "dag:sales/manual__x", "{}").ok());
    REQUIRE(s.append_audit("bob", "pool.set", "pool:etl", "{}").ok());
    CHECK_FALSE(s.append_audit("bob", "x", "y", "not json").ok());
    auto all = s.list_audit({});
    REQUIRE(all->size() == 3);
    CHECK((*all)[0].prev_hash == std::string(64, '0'));
    CHECK((*all)[1].prev_hash == (*all)[0].hash);
    CHECK((*all)[0].hash == audit_hash((*all)[0]));
    AuditFilter by_dag;
    by_dag.dag_id = "sales";
    CHECK(s.list_audit(by_dag)->size() == 2);
    AuditFilter by_actor;
    by_actor.actor = "bob";
    CHECK(s.list_audit(by_actor)->size() == 1);
    AuditFilter page;
    page.limit = 2;
    auto first = s.list_audit(page);
    REQUIRE(first->size() == 2);
    page.after_id = first->back().id;
    CHECK(s.list_audit(page)->size() == 1);
    auto ok = s.verify_audit();
    REQUIRE(ok.ok());
    CHECK(ok->checked == 3);
    CHECK_FALSE(ok->first_bad_id.has_value());
  });
}
