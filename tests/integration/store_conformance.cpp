// The Store contract, on SQLite and on PostgreSQL (BATON_TEST_PG_URL): database
// URLs, migrations, tokens, pools, variables and connections, and the audit
// log's chain and key. The same tests run against both engines.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <unistd.h>

#include <pqxx/pqxx>
#include <sqlite3.h>

#include "baton/core/sha256.h"
#include "baton/store/store.h"
#include "store_each.h"
#include "test_db.h"

using namespace baton;
using namespace baton::store;
namespace fs = std::filesystem;

namespace {
void each_store(const std::function<void(Store&, FakeClock&)>& body) { testing::each_store("conf", body); }
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
    // last_used_at moves on at most once a minute (a request is not a write).
    auto first_use = clock.now();
    clock.advance(std::chrono::seconds(30));
    REQUIRE(s.authenticate(sha256_hex("secret-1")).ok());
    CHECK(s.list_tokens()->at(0).last_used_at == first_use);
    clock.advance(std::chrono::seconds(31));
    auto later = s.authenticate(sha256_hex("secret-1"));
    REQUIRE(later.ok());
    CHECK(later->last_used_at == clock.now());
    CHECK(s.list_tokens()->at(0).last_used_at == clock.now());
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

TEST_CASE("secret variables: stored with their flag, their value never audited") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.put_variable("api_key", "k-9f8e7d6c", "admin", true).ok());
    auto v = s.get_variable("api_key");
    REQUIRE(v.ok());
    CHECK(v->value == "k-9f8e7d6c");  // the store has it: tries need it
    CHECK(v->secret);
    REQUIRE(s.put_variable("plain", "visible", "admin").ok());
    CHECK_FALSE(s.get_variable("plain")->secret);
    auto all = s.list_variables();
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].name == "api_key");
    CHECK((*all)[0].secret);
    CHECK_FALSE((*all)[1].secret);
    // Made plain again, then secret again: the flag follows each put.
    REQUIRE(s.put_variable("api_key", "k-1a2b3c4d", "admin", false).ok());
    CHECK_FALSE(s.get_variable("api_key")->secret);
    REQUIRE(s.put_variable("api_key", "k-5e6f7a8b", "admin", true).ok());
    CHECK(s.get_variable("api_key")->secret);
    auto log = s.list_audit({});
    REQUIRE(log.ok());
    int secret_sets = 0;
    for (auto& e : *log) {
      CHECK(e.details.find("k-9f8e7d6c") == std::string::npos);
      CHECK(e.details.find("k-5e6f7a8b") == std::string::npos);
      if (e.action == "variable.set" && e.details.find("\"secret\":true") != std::string::npos) ++secret_sets;
    }
    CHECK(secret_sets == 2);
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
    // `_` and `%` in an id are not patterns.
    REQUIRE(s.append_audit("bob", "dag.paused", "dag:myXdag", "{}").ok());
    AuditFilter underscore;
    underscore.dag_id = "my_dag";
    CHECK(s.list_audit(underscore)->empty());
    REQUIRE(s.append_audit("bob", "dag.paused", "dag:my_dag/run1", "{}").ok());
    CHECK(s.list_audit(underscore)->size() == 1);

  });
}

TEST_CASE("the audit key: entries after it are HMACs, a rewrite without the key is found only with it") {
  each_store([](Store& s, FakeClock& clock) {
    const std::string key = "0123456789abcdef-the-audit-key";
    REQUIRE(s.append_audit("alice", "dag.paused", "dag:sales", "{}").ok());
    REQUIRE(s.append_audit("bob", "pool.set", "pool:etl", R"({"after":3})").ok());
    auto keyed = open_store(s.url(), clock, OpenOptions{.audit_key = key});
    REQUIRE(keyed.ok());
    Store& k = **keyed;
    // The plain log verifies without the key; with it, its head is not
    // signed yet (nothing keyed yet).
    auto before = k.verify_audit();
    REQUIRE(before.ok());
    CHECK_FALSE(before->first_bad_id);
    CHECK_FALSE(before->keyed_from);
    CHECK(before->unsigned_head);
    auto before_plain = s.verify_audit();
    REQUIRE(before_plain.ok());
    CHECK_FALSE(before_plain->first_bad_id);
    CHECK_FALSE(before_plain->unsigned_head);
    // The first change under the key starts the keyed chain with a marker.
    clock.advance(std::chrono::seconds(1));
    REQUIRE(k.append_audit("carol", "variable.set", "variable:x", "{}").ok());
    REQUIRE(k.append_audit("carol", "variable.deleted", "variable:x", "{}").ok());
    auto all = *k.list_audit({});
    REQUIRE(all.size() == 5);
    CHECK(all[2].action == kAuditKeyedAction);
    CHECK(all[2].actor == "system");
    CHECK(all[2].prev_hash == all[1].hash);  // the plain entries are sealed by the first keyed one
    for (size_t i = 0; i < all.size(); ++i) CHECK(is_keyed_audit_hash(all[i].hash) == (i >= 2));
    CHECK(all[3].hash == audit_hash(all[3], key));
    CHECK(all[3].hash.size() == kKeyedAuditHash.size() + 64);
    auto with_key = k.verify_audit();
    REQUIRE(with_key.ok());
    CHECK_FALSE(with_key->first_bad_id);
    CHECK(with_key->checked == 5);
    CHECK(with_key->keyed_from == 3);
    CHECK(with_key->keyed_unchecked == 0);
    // Without the key: the links are checked, the keyed contents are not.
    auto without = s.verify_audit();
    REQUIRE(without.ok());
    CHECK_FALSE(without->first_bad_id);
    CHECK(without->keyed_unchecked == 3);
    // No process appends to a keyed log without its key, nor under another key.
    auto plain_append = s.append_audit("mallory", "pool.set", "pool:etl", "{}");
    REQUIRE_FALSE(plain_append.ok());
    CHECK(plain_append.error().code == "failed_precondition");
    CHECK(plain_append.error().message.find("audit_key_file") != std::string::npos);
    auto other = open_store(s.url(), clock, OpenOptions{.audit_key = std::string("another key of 16+ bytes")});
    REQUIRE(other.ok());
    CHECK((*other)->append_audit("mallory", "pool.set", "pool:etl", "{}").error().code == "failed_precondition");
    auto wrong = (*other)->verify_audit();
    REQUIRE(wrong.ok());
    CHECK(wrong->first_bad_id == 3);
    // A write batch is refused as a whole too.
    WriteBatch b;
    b.audit.push_back({"mallory", "run.canceled", "dag:sales/x", "{}"});
    CHECK_FALSE(s.apply(b).ok());
    REQUIRE(k.list_audit({})->size() == 5);
    // The head: "ID:HASH mac=...", with a MAC only the key makes.
    const std::string head = audit_head(5, all[4].hash, key);
    CHECK(head.rfind("5:" + all[4].hash + " mac=", 0) == 0);
    REQUIRE(k.append_audit("carol", "pool.set", "pool:etl", "{}").ok());  // appends check it

    // Tampering, as someone with write access to the database but not the
    // key would do it, checked entry by entry.
    all = *k.list_audit({});
    REQUIRE(all.size() == 6);
    const std::string real_head = audit_head(6, all[5].hash, key);
    auto verify = [&](const std::vector<AuditEntry>& es, const std::optional<std::string>& with,
                      const std::optional<std::string>& at_head) {
      AuditVerifier v(with);
      for (auto& e : es)
        if (!v.add(e)) break;
      return v.finish(at_head);
    };
    CHECK_FALSE(verify(all, key, real_head).first_bad_id);
    // 1. A keyed entry's details changed, its hash left: only the key finds it.
    auto edited = all;
    edited[3].details = R"({"edited":true})";
    CHECK(verify(edited, key, real_head).first_bad_id == 4);
    CHECK_FALSE(verify(edited, std::nullopt, real_head).first_bad_id);
    CHECK(verify(edited, std::nullopt, real_head).keyed_unchecked == 4);
    // 2. ... and the chain recomputed from there as plain SHA-256: a plain
    //    entry after keyed ones, found with or without the key.
    auto rehashed = edited;
    for (size_t i = 3; i < rehashed.size(); ++i) {
      rehashed[i].prev_hash = rehashed[i - 1].hash;
      rehashed[i].hash = audit_hash(rehashed[i]);
    }
    const std::string plain_head = "6:" + rehashed[5].hash;
    CHECK(verify(rehashed, key, plain_head).first_bad_id == 4);
    CHECK(verify(rehashed, std::nullopt, plain_head).first_bad_id == 4);
    // 3. A plain entry before the key rewritten, the plain chain recomputed
    //    up to the first keyed entry, whose prev_hash is set to match: its
    //    HMAC no longer holds, which only the key finds.
    auto early = all;
    early[1].details = R"({"after":300})";
    early[1].hash = audit_hash(early[1]);
    early[2].prev_hash = early[1].hash;
    CHECK(verify(early, key, real_head).first_bad_id == 3);
    CHECK_FALSE(verify(early, std::nullopt, real_head).first_bad_id);
    // 4. The newest entries removed and the head set back: the head's MAC
    //    (which only the key makes) gives it away.
    auto cut = all;
    cut.pop_back();
    CHECK(verify(cut, key, "5:" + cut[4].hash).first_bad_id == 6);
    CHECK_FALSE(verify(cut, std::nullopt, "5:" + cut[4].hash).first_bad_id);
    CHECK_FALSE(verify(cut, key, audit_head(5, cut[4].hash, key)).first_bad_id);  // a head saved back then
  });
}

namespace {

// SQL run on the store's database behind its back, as someone with write
// access to it (but not the audit key) would.
void tamper(const DatabaseUrl& url, const std::string& sql) {
  if (url.engine == DatabaseUrl::Engine::postgres) {
    pqxx::connection conn(url.conninfo);
    pqxx::nontransaction t(conn);
    t.exec(sql);
    return;
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(url.path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

// Rewrites the whole log as `entries` (ids 1..n), each sealed as plain
// SHA-256, and the head as "n:HASH" without a MAC: what someone without
// the key can make.
void reseal_as_plain(const DatabaseUrl& url, std::vector<AuditEntry> entries) {
  std::string sql = "DELETE FROM audit_log;";
  std::string prev(64, '0');
  for (size_t i = 0; i < entries.size(); ++i) {
    AuditEntry& e = entries[i];
    e.id = static_cast<long long>(i) + 1;
    e.prev_hash = prev;
    e.hash = audit_hash(e);
    prev = e.hash;
    auto q = [](const std::string& v) {
      std::string out = "'";
      for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
      return out + "'";
    };
    sql += "INSERT INTO audit_log (id, at, actor, action, target, details, prev_hash, hash) VALUES (" +
           std::to_string(e.id) + ", " + std::to_string(e.at.time_since_epoch().count()) + ", " + q(e.actor) + ", " +
           q(e.action) + ", " + q(e.target) + ", " + q(e.details) + ", " + q(e.prev_hash) + ", " + q(e.hash) + ");";
  }
  sql += "UPDATE settings SET value = '" + std::to_string(entries.size()) + ":" + prev + "' WHERE key = 'audit_head';";
  tamper(url, sql);
}

}  // namespace

TEST_CASE("the audit key: the head is always signed, and verify with the key requires it") {
  each_store([](Store& s, FakeClock& clock) {
    const std::string key = "0123456789abcdef-the-audit-key";
    auto opened = open_store(s.url(), clock, OpenOptions{.audit_key = key});
    REQUIRE(opened.ok());
    Store& k = **opened;
    // An empty log verifies with the key: there is no head to sign yet.
    auto empty = k.verify_audit();
    REQUIRE(empty.ok());
    CHECK_FALSE(empty->first_bad_id);
    CHECK(empty->problem.empty());
    // Three keyed entries; the head carries a MAC.
    for (int i = 0; i < 3; ++i) {
      clock.advance(std::chrono::seconds(1));
      REQUIRE(k.append_audit("admin", "token.created", "token:t" + std::to_string(i), "{}").ok());
    }
    auto intact = k.verify_audit();
    REQUIRE(intact.ok());
    CHECK_FALSE(intact->first_bad_id);
    CHECK(intact->problem.empty());
    CHECK(intact->keyed_from == 1);
    auto all = *k.list_audit({});
    REQUIRE(all.size() == 3);

    // The attack: one entry deleted, the rest sealed again as plain SHA-256,
    // the head unsigned. Nothing is keyed any more, so only the head tells.
    reseal_as_plain(s.url(), {all[0], all[2]});
    auto attacked = k.verify_audit();
    REQUIRE(attacked.ok());
    CHECK(attacked->checked == 2);
    CHECK_FALSE(attacked->keyed_from);
    CHECK(attacked->problem.find("not signed with this key") != std::string::npos);
    CHECK(attacked->unsigned_head);
    // Without the key it is a plain log, and intact: the key is what finds it.
    auto without = s.verify_audit();
    REQUIRE(without.ok());
    CHECK_FALSE(without->first_bad_id);
    CHECK(without->problem.empty());
    CHECK_FALSE(without->unsigned_head);
    // With another key, the head is not signed with it either.
    auto other = open_store(s.url(), clock, OpenOptions{.audit_key = std::string("another key of 16+ bytes")});
    REQUIRE(other.ok());
    CHECK((*other)->verify_audit()->unsigned_head);

    // A log that was never keyed, verified with a key: the same answer (the
    // key cannot tell it from one rewritten without the key) ...
    reseal_as_plain(s.url(), all);
    CHECK(k.verify_audit()->unsigned_head);
    // ... until a process with the key appends: it keys the log and signs the head.
    REQUIRE(k.append_audit("admin", "token.created", "token:t3", "{}").ok());
    auto keyed = k.verify_audit();
    REQUIRE(keyed.ok());
    CHECK_FALSE(keyed->first_bad_id);
    CHECK_FALSE(keyed->unsigned_head);
    CHECK(keyed->problem.empty());
    CHECK(keyed->keyed_from == 4);
    CHECK(keyed->checked == 5);
  });
}

TEST_CASE("audit_head signs every head under a key, keyed entry or plain") {
  const std::string key = "0123456789abcdef-the-audit-key";
  const std::string plain(64, 'a');
  CHECK(audit_head(3, plain, std::nullopt) == "3:" + plain);
  CHECK(audit_head(3, plain, key).rfind("3:" + plain + " mac=", 0) == 0);
  const std::string keyed = std::string(kKeyedAuditHash) + std::string(64, 'b');
  CHECK(audit_head(3, keyed, key).rfind("3:" + keyed + " mac=", 0) == 0);
  // A plain last entry under a head signed with the key verifies with it.
  AuditEntry e;
  e.id = 1;
  e.prev_hash = std::string(64, '0');
  e.actor = "a";
  e.action = "b";
  e.target = "c";
  e.details = "{}";
  e.hash = audit_hash(e);
  AuditVerifier signed_head(key);
  REQUIRE(signed_head.add(e));
  auto ok = signed_head.finish(audit_head(1, e.hash, key));
  CHECK_FALSE(ok.first_bad_id);
  CHECK_FALSE(ok.unsigned_head);
  AuditVerifier unsigned_head(key);
  REQUIRE(unsigned_head.add(e));
  auto bad = unsigned_head.finish(audit_head(1, e.hash, std::nullopt));
  CHECK(bad.unsigned_head);
  AuditVerifier forged(key);
  REQUIRE(forged.add(e));
  CHECK(forged.finish("1:" + e.hash + " mac=" + std::string(64, 'c')).unsigned_head);
}
