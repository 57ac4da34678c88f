// One conformance suite for the Store interface, run against every engine:
// SQLite always; PostgreSQL when BATON_TEST_PG_URL names a database (the test
// command starts a private cluster for it once that engine exists).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <atomic>
#include <functional>
#include <map>
#include <algorithm>
#include <set>
#include <thread>
#include <unistd.h>

#include <pqxx/pqxx>
#include <sqlite3.h>

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
  // PostgreSQL: a fresh schema of the test database each time (the store
  // creates the first schema of its search_path).
  if (const char* pg = std::getenv("BATON_TEST_PG_URL"); pg && *pg) {
    std::string url = pg;
    url += url.find('?') == std::string::npos ? "?" : "&";
    url += "options=-csearch_path%3Dbaton_t" + std::to_string(::getpid()) + "_" + std::to_string(counter);
    out.push_back({"postgres", url});
  }
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

namespace {
DagVersionRecord version(const std::string& dag, const std::string& v) {
  DagVersionRecord r;
  r.dag_id = dag;
  r.version = v;
  r.compiled = "{}";
  r.source = "dag: " + dag + "\n";
  r.file = "dags/" + dag + ".yaml";
  return r;
}

RunRecord scheduled_run(const std::string& dag, const char* at) {
  RunRecord r;
  r.dag_id = dag;
  r.logical_date = *parse_utc(at);
  r.data_interval_start = r.logical_date;
  r.data_interval_end = r.logical_date + std::chrono::hours(24);
  r.run_id = "scheduled__" + std::string(at);
  r.run_type = "scheduled";
  r.dag_version = "v1";
  return r;
}

// What a worker holding `q` sends about it (a heartbeat's or a report's).
TryProgress holding(const std::string& worker, const QueueItem& q, std::optional<std::string> log = std::nullopt,
                 long long log_offset = 0) {
  TryProgress p;
  p.worker = worker;
  p.attempt_token = q.attempt_token;
  p.ti_id = q.ti_id;
  p.try_number = q.try_number;
  p.log = std::move(log);
  p.log_offset = log_offset;
  return p;
}

std::vector<TaskInstanceRecord> two_tasks() {
  TaskInstanceRecord a, b;
  a.task_id = "a";
  a.state = TaskState::scheduled;
  b.task_id = "b";
  b.max_tries = 3;
  b.pool = "etl";
  return {a, b};
}
}  // namespace

TEST_CASE("DAG versions: registered once, current, audited; errors keep the last version") {
  each_store([](Store& s, FakeClock&) {
    auto fresh = s.register_dag_version(version("sales", "v1"), "finance", 7, "system");
    REQUIRE(fresh.ok());
    CHECK(*fresh);
    CHECK_FALSE(*s.register_dag_version(version("sales", "v1"), "finance", 7, "system"));
    auto d = s.get_dag("sales");
    REQUIRE(d.ok());
    CHECK(d->current_version == "v1");
    CHECK(d->ns == "finance");
    CHECK(d->partition == 7);
    REQUIRE(s.set_import_errors("sales", "dags/sales.yaml", 7, R"([{"line":3}])").ok());
    CHECK(s.get_dag("sales")->current_version == "v1");
    CHECK(s.get_dag("sales")->import_errors == R"([{"line":3}])");
    REQUIRE(s.register_dag_version(version("sales", "v2"), "finance", 7, "system").ok());
    CHECK(s.get_dag("sales")->current_version == "v2");
    CHECK(s.get_dag("sales")->import_errors.empty());
    CHECK(s.list_dag_versions("sales")->size() == 2);
    CHECK(s.get_dag_version("sales", "v1")->source == "dag: sales\n");
    CHECK(s.get_dag_version("sales", "v9").error().code == "not_found");
    // An invalid file that never compiled still shows up, with its errors.
    REQUIRE(s.set_import_errors("broken", "dags/broken.yaml", 1, "[]").ok());
    CHECK_FALSE(s.get_dag("broken")->current_version.has_value());
    REQUIRE(s.set_paused("sales", true, "alice").ok());
    CHECK(s.get_dag("sales")->paused);
    CHECK(s.set_paused("nope", true, "alice").error().code == "not_found");
    REQUIRE(s.deactivate_dag("sales", "system").ok());
    CHECK_FALSE(s.get_dag("sales")->active);
    std::vector<std::string> actions;
    auto log = s.list_audit({});
    REQUIRE(log.ok());
    for (auto& e : *log) actions.push_back(e.action);
    CHECK(actions == std::vector<std::string>{"dag.version_registered", "dag.version_registered", "dag.paused",
                                              "dag.removed"});
  });
}

TEST_CASE("runs: one scheduled run per interval; idempotency keys return the first run") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.register_dag_version(version("sales", "v1"), "default", 0, "system").ok());
    auto c = s.create_run(scheduled_run("sales", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(c.ok());
    CHECK(c->created);
    REQUIRE(c->task_instances.size() == 2);
    CHECK(c->task_instances[0].id > 0);
    auto dup = scheduled_run("sales", "2026-11-21T00:00:00Z");
    dup.run_id = "scheduled__other";
    auto again = s.create_run(dup, two_tasks(), "system");
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == "conflict");
    // A backfill run for the same interval is refused too.
    dup.run_type = "backfill";
    dup.run_id = "backfill__x";
    CHECK(s.create_run(dup, {}, "system").error().code == "conflict");
    // Manual runs may share a logical date; an idempotency key dedupes them.
    RunRecord m = scheduled_run("sales", "2026-11-21T00:00:00Z");
    m.run_type = "manual";
    m.run_id = "manual__1";
    m.idempotency_key = "key-1";
    auto m1 = s.create_run(m, two_tasks(), "alice");
    REQUIRE(m1.ok());
    CHECK(m1->created);
    m.run_id = "manual__2";
    auto m2 = s.create_run(m, two_tasks(), "alice");
    REQUIRE(m2.ok());
    CHECK_FALSE(m2->created);
    CHECK(m2->run.run_id == "manual__1");
    CHECK(m2->task_instances.size() == 2);
    auto runs = s.list_runs({});
    REQUIRE(runs.ok());
    CHECK(runs->size() == 2);
    RunFilter manual;
    manual.run_type = "manual";
    CHECK(s.list_runs(manual)->size() == 1);
    CHECK(s.get_run("sales", "manual__1")->idempotency_key == "key-1");
    CHECK(s.get_run("sales", "nope").error().code == "not_found");
    // Manual triggers are audited.
    AuditFilter f;
    f.action = "run.triggered";
    CHECK(s.list_audit(f)->size() == 1);
  });
}

TEST_CASE("batches: DAG versions registered and scheduled runs made in one transaction each") {
  each_store([](Store& s, FakeClock&) {
    std::vector<DagVersionRegistration> regs;
    for (const char* id : {"a", "b", "c"}) regs.push_back({version(id, "v1"), std::string("ns_") + id, 2});
    auto rows = s.register_dag_versions(regs, "system");
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 3);
    CHECK((*rows)[1].dag_id == "b");
    CHECK((*rows)[1].ns == "ns_b");
    CHECK((*rows)[1].partition == 2);
    CHECK((*rows)[1].current_version == std::string("v1"));
    CHECK_FALSE((*rows)[1].paused);
    AuditFilter f;
    f.action = "dag.version_registered";
    CHECK(s.list_audit(f)->size() == 3);
    // Again: nothing new, nothing audited again.
    REQUIRE(s.register_dag_versions(regs, "system").ok());
    CHECK(s.list_audit(f)->size() == 3);

    // One of three intervals has its run already: that entry alone is a conflict.
    REQUIRE(s.create_run(scheduled_run("b", "2026-11-21T00:00:00Z"), two_tasks(), "system").ok());
    std::vector<RunStore::NewRun> runs;
    for (const char* id : {"a", "b", "c"}) runs.push_back({scheduled_run(id, "2026-11-21T00:00:00Z"), two_tasks()});
    auto made = s.create_runs(runs, "system");
    REQUIRE(made.ok());
    REQUIRE(made->size() == 3);
    REQUIRE((*made)[0].ok());
    CHECK((*made)[0]->run.pk > 0);
    CHECK((*made)[0]->task_instances.size() == 2);
    CHECK((*made)[0]->task_instances[1].id > 0);
    CHECK((*made)[1].error().code == "conflict");
    REQUIRE((*made)[2].ok());
    CHECK((*made)[2]->run.dag_id == "c");
    CHECK(s.list_task_instances((*made)[2]->run.pk)->size() == 2);
    CHECK(s.list_runs({})->size() == 3);
  });
}

TEST_CASE("runs list newest first, paged by cursor") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 0, "system").ok());
    for (const char* at : {"2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z"})
      REQUIRE(s.create_run(scheduled_run("d", at), {}, "system").ok());
    RunFilter f;
    f.limit = 2;
    auto page1 = s.list_runs(f);
    REQUIRE(page1->size() == 2);
    CHECK(format_utc((*page1)[0].logical_date) == "2026-11-20T00:00:00Z");
    f.before = std::make_pair(page1->back().logical_date, page1->back().pk);
    auto page2 = s.list_runs(f);
    REQUIRE(page2->size() == 1);
    CHECK(format_utc((*page2)[0].logical_date) == "2026-11-18T00:00:00Z");
    auto prev = s.previous_run("d", *parse_utc("2026-11-20T00:00:00Z"));
    REQUIRE(prev.ok());
    REQUIRE(prev->has_value());
    CHECK(format_utc((*prev)->logical_date) == "2026-11-19T00:00:00Z");
    CHECK_FALSE(s.previous_run("d", *parse_utc("2026-11-18T00:00:00Z"))->has_value());
  });
}

TEST_CASE("a write batch lands whole; checkpoints are fenced by the attempt token") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 0, "system").ok());
    auto c = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(c.ok());
    WriteBatch b;
    RunRecord run = c->run;
    run.state = RunState::running;
    run.started_at = clock.now();
    b.runs.push_back(run);
    TaskInstanceRecord a = c->task_instances[0];
    a.state = TaskState::running;
    a.try_number = 1;
    a.attempt_token = "tok-1";
    a.worker = "local-1";
    a.started_at = clock.now();
    b.task_instances.push_back(a);
    TryRecord t;
    t.ti_id = a.id;
    t.try_number = 1;
    t.worker = "local-1";
    t.attempt_token = "tok-1";
    t.started_at = clock.now();
    t.log_path = "d/run/a/1.log";
    b.tries.push_back(t);
    b.last_ticks.push_back({"d", *parse_utc("2026-11-21T00:00:00Z")});
    b.audit.push_back({"system", "run.started", "dag:d/" + run.run_id, "{}"});
    REQUIRE(s.apply(b).ok());
    auto tis = s.list_task_instances(c->run.pk);
    REQUIRE(tis.ok());
    CHECK((*tis)[0].state == TaskState::running);
    CHECK((*tis)[0].attempt_token == "tok-1");
    CHECK((*tis)[1].pool == "etl");
    CHECK((*tis)[1].max_tries == 3);
    CHECK(s.get_run("d", run.run_id)->state == RunState::running);
    CHECK(s.list_tries(a.id)->size() == 1);
    CHECK(s.get_dag("d")->last_tick == *parse_utc("2026-11-21T00:00:00Z"));
    // The try ends: the same try row is updated, not duplicated.
    b = {};
    t.state = TaskState::success;
    t.ended_at = clock.now();
    t.exit_code = 0;
    b.tries.push_back(t);
    REQUIRE(s.apply(b).ok());
    auto tries = s.list_tries(a.id);
    REQUIRE(tries->size() == 1);
    CHECK((*tries)[0].state == TaskState::success);
    CHECK((*tries)[0].exit_code == 0);

    // Text of any shape comes back as it went in; a later row of the same
    // task instance in one batch wins.
    b = {};
    a.reason = std::string("he said \"x\\y\" {a,b} NULL \u00fc ''");
    a.output = R"({"k": "v,{}\"", "n": null})";
    a.exit_code = 3;
    TaskInstanceRecord earlier = a;
    earlier.reason = "overwritten";
    b.task_instances = {earlier, a};
    REQUIRE(s.apply(b).ok());
    tis = s.list_task_instances(c->run.pk);
    CHECK((*tis)[0].reason == a.reason);
    CHECK((*tis)[0].output == a.output);
    CHECK((*tis)[0].exit_code == 3);
    CHECK_FALSE((*tis)[0].heartbeat_at.has_value());

    // Bytes a text column cannot hold (a NUL, Latin-1 quoted by an error
    // message) never make a batch fail: PostgreSQL stores U+FFFD instead.
    b = {};
    a.reason = std::string("caf\xe9 \0 end", 10);
    b.task_instances = {a};
    REQUIRE(s.apply(b).ok());
    tis = s.list_task_instances(c->run.pk);
    std::string back = *(*tis)[0].reason;
    CHECK(back.rfind("caf", 0) == 0);
    CHECK(back.size() >= 8);
    CHECK(back.substr(back.size() - 3) == "end");

    CHECK_FALSE(s.load_checkpoint(a.id)->has_value());
    // Checkpoints are bytes: NUL and non-UTF-8 included.
    std::string raw("a\0b\xff\xfe", 5);
    REQUIRE(s.save_checkpoint(a.id, "tok-1", raw).ok());
    CHECK(s.load_checkpoint(a.id)->value() == raw);
    REQUIRE(s.save_checkpoint(a.id, "tok-1", "row 500").ok());
    CHECK(s.load_checkpoint(a.id)->value() == "row 500");
    auto stale = s.save_checkpoint(a.id, "tok-0", "row 1");
    REQUIRE_FALSE(stale.ok());
    CHECK(stale.error().code == "conflict");
    CHECK(s.load_checkpoint(a.id)->value() == "row 500");
    std::string binary("a\0b\xff", 4);
    REQUIRE(s.save_checkpoint(a.id, "tok-1", binary).ok());
    CHECK(s.load_checkpoint(a.id)->value() == binary);
  });
}

TEST_CASE("two processes on one database: one run per interval, one unbroken audit chain") {
  for (auto& e : engines()) {
    DYNAMIC_SECTION(e.name) {
      FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
      auto url = parse_database_url(e.url);
      REQUIRE(url.ok());
      auto one = open_store(*url, clock);
      auto two = open_store(*url, clock);
      REQUIRE(one.ok());
      REQUIRE(two.ok());
      REQUIRE((*one)->register_dag_version(version("d", "v1"), "default", 0, "system").ok());
      // Both race for the same 20 intervals; the database keeps one run each.
      std::atomic<int> created{0}, conflicts{0};
      auto racer = [&](Store& s) {
        for (int day = 1; day <= 20; ++day) {
          char at[32];
          std::snprintf(at, sizeof at, "2026-01-%02dT00:00:00Z", day);
          auto c = s.create_run(scheduled_run("d", at), two_tasks(), "system");
          if (c) ++created;
          else if (c.error().code == "conflict") ++conflicts;
          (void)s.append_audit("racer", "test.raced", "dag:d", "{}");
        }
      };
      std::thread a(racer, std::ref(**one)), b(racer, std::ref(**two));
      a.join();
      b.join();
      CHECK(created == 20);
      CHECK(conflicts == 20);
      RunFilter f;
      f.dag_id = "d";
      f.limit = 1000;
      CHECK((*one)->list_runs(f)->size() == 20);
      auto check = (*two)->verify_audit();
      REQUIRE(check.ok());
      CHECK_FALSE(check->first_bad_id.has_value());
      CHECK(check->checked >= 40);
    }
  }
}

TEST_CASE("members and partitions: leases, owners, epochs bumped only on a move; stale writes refused") {
  each_store([](Store& s, FakeClock& clock) {
    MemberRecord m{"s1", "host-a", 101, clock.now(), clock.now(), clock.now() + std::chrono::seconds(10)};
    REQUIRE(s.heartbeat_member(m).ok());
    clock.advance(std::chrono::seconds(3));
    m.heartbeat_at = clock.now();
    m.lease_expires_at = clock.now() + std::chrono::seconds(10);
    REQUIRE(s.heartbeat_member(m).ok());
    REQUIRE(s.heartbeat_member({"s2", "host-b", 202, clock.now(), clock.now(), clock.now()}).ok());
    auto members = s.list_members();
    REQUIRE(members->size() == 2);
    CHECK((*members)[0].member_id == "s1");
    CHECK((*members)[0].started_at == *parse_utc("2026-11-22T10:00:00Z"));  // kept across heartbeats
    CHECK((*members)[0].lease_expires_at == *parse_utc("2026-11-22T10:00:13Z"));
    REQUIRE(s.remove_member("s2").ok());
    CHECK(s.list_members()->size() == 1);

    CHECK(s.list_partitions()->empty());
    auto first = s.assign_partitions({{0, "s1"}, {1, "s1"}, {2, std::nullopt}}, "s1");
    REQUIRE(first.ok());
    REQUIRE(first->size() == 3);
    CHECK((*first)[0].owner == "s1");
    CHECK((*first)[0].epoch == 1);
    CHECK_FALSE((*first)[2].owner.has_value());
    // Same owner again: nothing moves, no epoch changes.
    auto same = s.assign_partitions({{0, "s1"}, {1, "s1"}}, "s1");
    CHECK((*same)[0].epoch == 1);
    CHECK((*same)[1].epoch == 1);
    // Partition 1 moves to s2: its epoch is bumped; partition 0's is not.
    auto moved = s.assign_partitions({{0, "s1"}, {1, "s2"}}, "s1");
    CHECK((*moved)[0].epoch == 1);
    CHECK((*moved)[1].epoch == 2);
    CHECK((*moved)[1].owner == "s2");
    AuditFilter f;
    f.action = "partitions.assigned";
    CHECK(s.list_audit(f)->size() == 2);

    // A write fenced with the old epoch of partition 1 is refused whole.
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 1, "system").ok());
    WriteBatch stale;
    stale.fences.push_back({1, 1});
    stale.last_ticks.push_back({"d", *parse_utc("2026-11-21T00:00:00Z")});
    auto refused = s.apply(stale);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "stale_epoch");
    CHECK_FALSE(s.get_dag("d")->last_tick.has_value());
    WriteBatch current = stale;
    current.fences = {{1, 2}, {0, 1}};
    REQUIRE(s.apply(current).ok());
    CHECK(s.get_dag("d")->last_tick.has_value());
    // A partition that was never assigned is at epoch 0.
    WriteBatch unassigned = stale;
    unassigned.fences = {{9, 0}};
    CHECK(s.apply(unassigned).ok());

    // A foreach task's mapped instances: fenced like a batch, all or none,
    // once per (task, map_index), with their items.
    auto run = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(run.ok());
    std::vector<TaskInstanceRecord> mapped;
    for (int i = 0; i < 3; ++i) {
      TaskInstanceRecord t;
      t.task_id = "extract";
      t.map_index = i;
      t.item = i == 2 ? R"({"region":"eu"})" : std::to_string(i);
      mapped.push_back(t);
    }
    auto fenced_out = s.add_task_instances(run->run.pk, mapped, {{1, 1}});
    REQUIRE_FALSE(fenced_out.ok());
    CHECK(fenced_out.error().code == "stale_epoch");
    CHECK(s.list_task_instances(run->run.pk)->size() == 2);
    auto added = s.add_task_instances(run->run.pk, mapped, {{1, 2}});
    REQUIRE(added.ok());
    REQUIRE(added->size() == 3);
    CHECK((*added)[2].id > (*added)[0].id);
    auto twice = mapped;
    twice.erase(twice.begin(), twice.begin() + 2);
    TaskInstanceRecord fresh = mapped[0];
    fresh.map_index = 3;
    twice.insert(twice.begin(), fresh);  // a new one and one it has: neither is added
    CHECK_FALSE(s.add_task_instances(run->run.pk, twice, {{1, 2}}).ok());
    auto all = s.list_task_instances(run->run.pk);
    REQUIRE(all->size() == 5);
    CHECK((*all)[4].map_index == 2);
    CHECK((*all)[4].item == R"({"region":"eu"})");
    CHECK((*all)[0].item == std::nullopt);
  });
}

TEST_CASE("worker events and commands wake the owner of their partition: baton_events carries it") {
  each_store([](Store& s, FakeClock& clock) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;  // one process: nothing to wake
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 3, "system").ok());
    auto run = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(run.ok());
    REQUIRE(s.assign_partitions({{3, "m1"}}, "system").ok());
    auto l = open_listener(s.url(), {"baton_events"});
    REQUIRE(l.ok());
    // Channels are the database's: tests of other schemas running at the
    // same time notify on them too. So: what is expected arrives.
    auto heard = [&](const std::string& what) {
      for (int i = 0; i < 20; ++i) {
        auto w = (*l)->wait(std::chrono::milliseconds(100));
        REQUIRE(w.ok());
        if (std::find(w->begin(), w->end(), what) != w->end()) return true;
      }
      return false;
    };
    CommandRecord c;
    c.kind = "trigger";
    c.dag_id = "d";
    c.partition = 3;
    c.created_by = "ada";
    REQUIRE(s.enqueue_command(c).ok());
    CHECK(heard("baton_events:c:3"));
    QueueItem q;
    q.attempt_token = "t-1";
    q.ti_id = run->task_instances[0].id;
    q.run_pk = run->run.pk;
    q.partition = 3;
    q.payload = "{}";
    q.queued_at = clock.now();
    WriteBatch b;
    b.fences = {{3, 1}};
    b.enqueue = {q};
    REQUIRE(s.apply(b).ok());
    REQUIRE(s.claim_tasks("w1", {"default"}, 1)->size() == 1);
    CHECK(heard("baton_events:e:3"));
    REQUIRE(s.report_task(holding("w1", q), R"({"outcome": "success"})").ok());
    CHECK(heard("baton_events:e:3"));
    CHECK(s.report_task(holding("w1", q), R"({"outcome": "success"})").error().code == "conflict");
  });
}

TEST_CASE("counts for metrics: runs and task instances by state, queued tries by worker queue") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 3, "system").ok());
    auto tis = two_tasks();
    tis[0].queue = "gpu";
    auto run = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), tis, "system");
    REQUIRE(run.ok());
    auto c = s.count_states();
    REQUIRE(c.ok());
    CHECK(c->runs == std::map<std::string, long long>{{"queued", 1}});
    CHECK(c->task_instances == std::map<std::string, long long>{{"pending", 1}, {"scheduled", 1}});
    CHECK(c->queued.empty());
    WriteBatch b;
    for (auto ti : run->task_instances) {
      ti.state = TaskState::queued;
      b.task_instances.push_back(ti);
    }
    REQUIRE(s.apply(b).ok());
    c = s.count_states();
    CHECK(c->task_instances == std::map<std::string, long long>{{"queued", 2}});
    CHECK(c->queued == std::map<std::string, long long>{{"default", 1}, {"gpu", 1}});
  });
}

TEST_CASE("what a worker sends is stored only for the try its token is for, while the worker holds it") {
  each_store([](Store& s, FakeClock& clock) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) {
      // No try is ever claimed here: everything a worker sends is refused.
      QueueItem q;
      q.attempt_token = "t";
      q.ti_id = 1;
      q.try_number = 1;
      CHECK(s.save_progress(holding("w1", q, "x")).error().code == "unsupported");
      CHECK(s.report_task(holding("w1", q, "x"), "{}").error().code == "unsupported");
      return;
    }
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 3, "system").ok());
    auto run = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(run.ok());
    REQUIRE(s.assign_partitions({{3, "m1"}}, "system").ok());
    // The owner queues a try of each task instance, each with its token.
    WriteBatch b;
    b.fences = {{3, 1}};
    std::vector<QueueItem> items;
    for (int i = 0; i < 2; ++i) {
      TaskInstanceRecord ti = run->task_instances[static_cast<size_t>(i)];
      ti.state = TaskState::queued;
      ti.attempt_token = i == 0 ? "t-a" : "t-b";
      b.task_instances.push_back(ti);
      QueueItem q;
      q.attempt_token = *ti.attempt_token;
      q.ti_id = ti.id;
      q.run_pk = run->run.pk;
      q.task_index = i;
      q.partition = 3;
      q.payload = "{}";
      q.queued_at = clock.now();
      items.push_back(q);
    }
    b.enqueue = items;
    REQUIRE(s.apply(b).ok());
    const QueueItem& a = items[0];
    const QueueItem& bee = items[1];
    REQUIRE(s.claim_tasks("w1", {"default"}, 1)->at(0).attempt_token == "t-a");
    REQUIRE(s.claim_tasks("w2", {"default"}, 1)->at(0).attempt_token == "t-b");
    TryProgress mine = holding("w2", bee, "b's own log\n");
    mine.checkpoint = "b at row 7";
    REQUIRE(s.save_progress(mine).ok());

    // w1's valid token with b's task instance (or another try number of
    // its own): refused, and nothing of it is stored, log or checkpoint.
    TryProgress forged = holding("w1", a, "forged by w1, longer than b's own log\n");
    forged.ti_id = bee.ti_id;
    forged.checkpoint = "forged";
    CHECK(s.save_progress(forged).error().code == "conflict");
    CHECK(s.report_task(forged, R"({"outcome": "success"})").error().code == "conflict");
    TryProgress next_try = holding("w1", a, "a's next try");
    next_try.try_number = 2;
    CHECK(s.save_progress(next_try).error().code == "conflict");
    CHECK(**s.read_log(bee.ti_id, 1, 0, 100) == "b's own log\n");
    CHECK(**s.load_checkpoint(bee.ti_id) == "b at row 7");
    CHECK_FALSE(s.read_log(a.ti_id, 2, 0, 100)->has_value());
    // The forged report ended nothing: w1 still holds a, w2 still holds b.
    CHECK(s.heartbeat_tasks("w1", {"t-a"})->empty());
    CHECK(s.heartbeat_tasks("w2", {"t-b"})->empty());
    // Another worker with the right try: refused too.
    CHECK(s.save_progress(holding("w2", a, "not w2's")).error().code == "conflict");
    CHECK_FALSE(s.read_log(a.ti_id, 1, 0, 100)->has_value());

    // b's report with its last chunk and checkpoint, all or nothing; a
    // second (stale) report stores nothing.
    TryProgress last = holding("w2", bee, "done\n", 12);
    last.checkpoint = "b at the end";
    REQUIRE(s.report_task(last, R"({"outcome": "success", "output": {"rows": 7}})").ok());
    TryProgress stale = holding("w2", bee, "stale rewrite of everything\n");
    stale.checkpoint = "stale";
    CHECK(s.report_task(stale, R"({"outcome": "failed"})").error().code == "conflict");
    CHECK(s.save_progress(stale).error().code == "conflict");
    CHECK(**s.read_log(bee.ti_id, 1, 0, 100) == "b's own log\ndone\n");
    CHECK(**s.load_checkpoint(bee.ti_id) == "b at the end");
    auto evs = s.worker_events({3}, 100);
    REQUIRE(evs->size() == 3);  // two started, one finished
    CHECK((*evs)[2].body == R"({"outcome": "success", "output": {"rows": 7}})");

    // A checkpoint whose token is no longer the task instance's (the owner
    // moved on) undoes the whole report: the claim stays, nothing is stored.
    TaskInstanceRecord moved = run->task_instances[0];
    moved.state = TaskState::queued;
    moved.attempt_token = "t-a2";
    WriteBatch m;
    m.fences = {{3, 1}};
    m.task_instances = {moved};
    REQUIRE(s.apply(m).ok());
    TryProgress with_cp = holding("w1", a, "a's log\n");
    with_cp.checkpoint = "a at row 1";
    CHECK(s.report_task(with_cp, R"({"outcome": "success"})").error().code == "conflict");
    CHECK_FALSE(s.read_log(a.ti_id, 1, 0, 100)->has_value());
    CHECK_FALSE(s.load_checkpoint(a.ti_id)->has_value());
    CHECK(s.heartbeat_tasks("w1", {"t-a"})->empty());
    // The owner ends the try (its write deletes the queue row): whatever w1
    // sends for it now is stale.
    WriteBatch end;
    end.fences = {{3, 1}};
    end.dequeue = {"t-a"};
    REQUIRE(s.apply(end).ok());
    CHECK(s.save_progress(holding("w1", a, "after the end")).error().code == "conflict");
    CHECK_FALSE(s.read_log(a.ti_id, 1, 0, 100)->has_value());
  });
}

TEST_CASE("claims keep a pool's tries within its slots over the tries every worker holds") {
  each_store([](Store& s, FakeClock& clock) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) {
      CHECK(s.held_pool_slots().error().code == "unsupported");
      return;
    }
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 3, "system").ok());
    auto run = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(run.ok());
    REQUIRE(s.assign_partitions({{3, "m1"}, {4, "m2"}}, "system").ok());
    REQUIRE(s.put_pool({"db", 2, ""}, "admin").ok());
    // Tries of two owners (partitions 3 and 4): the pool is one for both.
    auto item = [&](const std::string& token, int partition, int priority, const std::string& pool, int slots) {
      QueueItem q;
      q.attempt_token = token;
      q.ti_id = run->task_instances[0].id;
      q.run_pk = run->run.pk;
      q.partition = partition;
      q.priority = priority;
      q.pool = pool;
      q.pool_slots = slots;
      q.payload = "{}";
      q.queued_at = clock.now();
      return q;
    };
    WriteBatch b;
    b.fences = {{3, 1}, {4, 1}};
    b.enqueue = {item("db-1", 3, 9, "db", 1), item("db-2", 4, 8, "db", 1), item("db-3", 3, 7, "db", 1),
                 item("db-wide", 4, 6, "db", 2), item("plain", 3, 0, "default", 1),
                 item("orphan", 4, 0, "deleted-since", 1)};
    REQUIRE(s.apply(b).ok());
    auto tokens = [](const Result<std::vector<QueueItem>>& c) {
      std::vector<std::string> out;
      for (auto& q : *c) out.push_back(q.attempt_token);
      return out;
    };
    auto w1 = s.claim_tasks("w1", {"default"}, 1);
    REQUIRE(w1.ok());
    CHECK(tokens(w1) == std::vector<std::string>{"db-1"});
    CHECK((*w1)[0].pool == "db");
    // The pool's second slot, then what is in other pools (a pool deleted
    // after its tries were queued holds nothing back).
    auto w2 = s.claim_tasks("w2", {"default"}, 10);
    REQUIRE(w2.ok());
    CHECK(tokens(w2) == std::vector<std::string>{"db-2", "plain", "orphan"});
    auto held = s.held_pool_slots();
    REQUIRE(held.ok());
    CHECK(*held == std::map<std::string, long long>{{"db", 2}, {"default", 1}, {"deleted-since", 1}});
    CHECK(s.claim_tasks("w3", {"default"}, 10)->empty());
    // A slot comes back with the report; a try taking 2 slots waits for both.
    REQUIRE(s.report_task(holding("w1", item("db-1", 3, 0, "db", 1)), R"({"outcome": "success"})").ok());
    CHECK(tokens(s.claim_tasks("w3", {"default"}, 10)) == std::vector<std::string>{"db-3"});
    REQUIRE(s.report_task(holding("w2", item("db-2", 3, 0, "db", 1)), R"({"outcome": "success"})").ok());
    CHECK(s.claim_tasks("w3", {"default"}, 10)->empty());
    REQUIRE(s.report_task(holding("w3", item("db-3", 3, 0, "db", 1)), R"({"outcome": "success"})").ok());
    CHECK(tokens(s.claim_tasks("w1", {"default"}, 10)) == std::vector<std::string>{"db-wide"});
    CHECK(s.held_pool_slots()->at("db") == 2);
    // Tries that can never fit (3 slots of a pool of 2), more of them than a
    // claim looks at, ahead of one that fits: they hold up no other pool.
    REQUIRE(s.report_task(holding("w1", item("db-wide", 3, 0, "db", 1)), R"({"outcome": "success"})").ok());
    WriteBatch wide;
    wide.fences = {{3, 1}, {4, 1}};
    for (int i = 0; i < 30; ++i) wide.enqueue.push_back(item("too-wide-" + std::to_string(i), 3, 9, "db", 3));
    wide.enqueue.push_back(item("behind", 4, 0, "default", 1));
    REQUIRE(s.apply(wide).ok());
    CHECK(tokens(s.claim_tasks("w2", {"default"}, 1)) == std::vector<std::string>{"behind"});
  });
}

TEST_CASE("the queue of remote workers: claims skip what another holds, stale heartbeats and reports are refused") {
  each_store([](Store& s, FakeClock& clock) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) {
      // One scheduling process, with its workers inside it.
      auto c = s.claim_tasks("w1", {"default"}, 1);
      REQUIRE_FALSE(c.ok());
      CHECK(c.error().code == "unsupported");
      CHECK(c.error().message.find("PostgreSQL") != std::string::npos);
      WriteBatch b;
      b.enqueue.push_back({});
      CHECK(s.apply(b).error().code == "unsupported");
      CHECK(acquire_scheduling_lock(s.url(), /*shared=*/true).error().code == "invalid_argument");
      return;
    }
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 3, "system").ok());
    auto run = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(run.ok());
    REQUIRE(s.assign_partitions({{3, "m1"}}, "system").ok());
    auto item = [&](const std::string& token, int ti, int priority, const std::string& queue) {
      QueueItem q;
      q.attempt_token = token;
      q.ti_id = run->task_instances[static_cast<size_t>(ti)].id;
      q.run_pk = run->run.pk;
      q.task_index = ti;
      q.partition = 3;
      q.queue = queue;
      q.priority = priority;
      q.payload = R"({"command": "true"})";
      q.queued_at = clock.now();
      return q;
    };
    WriteBatch b;
    b.fences = {{3, 1}};
    b.enqueue = {item("t-low", 0, 0, "default"), item("t-high", 1, 5, "default"), item("t-gpu", 1, 9, "gpu")};
    REQUIRE(s.apply(b).ok());
    // Only the worker's queues, highest priority first, at most `limit`.
    auto first = s.claim_tasks("w1", {"default"}, 1);
    REQUIRE(first.ok());
    REQUIRE(first->size() == 1);
    CHECK((*first)[0].attempt_token == "t-high");
    CHECK((*first)[0].payload == R"({"command": "true"})");
    auto second = s.claim_tasks("w2", {"default", "other"}, 5);
    REQUIRE(second->size() == 1);
    CHECK((*second)[0].attempt_token == "t-low");
    CHECK(s.claim_tasks("w3", {"default"}, 5)->empty());
    // Each claim left a started event for the partition's owner.
    auto evs = s.worker_events({3}, 100);
    REQUIRE(evs->size() == 2);
    CHECK((*evs)[0].kind == "started");
    CHECK((*evs)[0].worker == "w1");
    CHECK(s.worker_events({4}, 100)->empty());
    // Heartbeats: what the worker does not hold is stale.
    auto stale = s.heartbeat_tasks("w1", {"t-high", "t-low", "t-unknown"});
    REQUIRE(stale.ok());
    CHECK(std::set<std::string>(stale->begin(), stale->end()) == std::set<std::string>{"t-low", "t-unknown"});
    // A checkpoint is fenced by the token, a report by the worker holding it.
    const QueueItem high = item("t-high", 1, 5, "default");
    CHECK(s.report_task(holding("w2", high), R"({"outcome": "success"})").error().code == "conflict");
    REQUIRE(s.report_task(holding("w1", high), R"({"outcome": "success"})").ok());
    CHECK(s.report_task(holding("w1", high), R"({"outcome": "success"})").error().code == "conflict");  // once
    CHECK(s.heartbeat_tasks("w1", {"t-high"})->size() == 1);
    evs = s.worker_events({3}, 100);
    REQUIRE(evs->size() == 3);
    CHECK((*evs)[2].kind == "finished");
    CHECK((*evs)[2].body == R"({"outcome": "success"})");
    // Lost: a claim whose heartbeat is too old, unless an event waits for it.
    clock.advance(std::chrono::seconds(60));
    auto lost = s.lost_tries({"t-low", "t-high", "t-gpu", "t-gone"}, clock.now() - std::chrono::seconds(10));
    REQUIRE(lost.ok());
    // t-low: claimed, silent; t-high: its report waits; t-gpu: unclaimed; t-gone: no row.
    CHECK(std::set<std::string>(lost->begin(), lost->end()) == std::set<std::string>{"t-low", "t-gone"});
    // The owner applies the events and ends the tries, fenced.
    WriteBatch done;
    done.fences = {{3, 1}};
    for (auto& e : *evs) done.events_done.push_back(e.id);
    done.dequeue = {"t-low"};
    REQUIRE(s.apply(done).ok());
    CHECK(s.worker_events({3}, 100)->empty());
    CHECK(s.heartbeat_tasks("w2", {"t-low"})->size() == 1);
    // A stale owner can neither queue nor consume.
    REQUIRE(s.assign_partitions({{3, "m2"}}, "system").ok());
    WriteBatch stale_owner;
    stale_owner.fences = {{3, 1}};
    stale_owner.enqueue = {item("t-late", 0, 0, "default")};
    CHECK(s.apply(stale_owner).error().code == "stale_epoch");
    CHECK(s.claim_tasks("w1", {"default"}, 5)->empty());
    CHECK(s.create_run(scheduled_run("d", "2026-11-22T00:00:00Z"), {}, "system", {{3, 1}}).error().code ==
          "stale_epoch");

    // Logs of a held try: chunks by offset, a chunk sent twice kept once.
    REQUIRE(s.claim_tasks("w3", {"gpu"}, 1)->size() == 1);
    const QueueItem gpu = item("t-gpu", 1, 9, "gpu");
    long long ti = gpu.ti_id;
    CHECK_FALSE(s.read_log(ti, 1, 0, 100)->has_value());
    REQUIRE(s.save_progress(holding("w3", gpu, "hello ")).ok());
    REQUIRE(s.save_progress(holding("w3", gpu, std::string("w\0rld", 5), 6)).ok());
    REQUIRE(s.save_progress(holding("w3", gpu, std::string("w\0rld", 5), 6)).ok());
    CHECK(**s.read_log(ti, 1, 0, 100) == std::string("hello w\0rld", 11));
    CHECK(**s.read_log(ti, 1, 7, 100) == std::string("\0rld", 4));
    CHECK(**s.read_log(ti, 1, 0, 3) == "hel");

    // Commands: for the partition's owner, answered once.
    CommandRecord c;
    c.kind = "trigger";
    c.dag_id = "d";
    c.partition = 3;
    c.payload = "{}";
    c.created_by = "ada";
    auto id = s.enqueue_command(c);
    REQUIRE(id.ok());
    REQUIRE(s.pending_commands({3}, 10)->size() == 1);
    CHECK(s.pending_commands({4}, 10)->empty());
    WriteBatch answer;
    answer.fences = {{3, 2}};
    answer.command_results = {{*id, "ok", R"({"x": 1})"}};
    REQUIRE(s.apply(answer).ok());
    CHECK(s.pending_commands({3}, 10)->empty());
    auto got = s.get_command(*id);
    CHECK(got->status == "ok");
    CHECK(got->result == R"({"x": 1})");
    CHECK(got->created_by == "ada");
    // Leader and member locks.
    REQUIRE(s.set_leader("m2").ok());
    CHECK(*s.get_leader() == std::optional<std::string>("m2"));
    {
      auto life = hold_member_lock(s.url(), "m2");
      REQUIRE(life.ok());
      CHECK(*s.member_alive("m2"));
      CHECK(hold_member_lock(s.url(), "m2").error().code == "conflict");
    }
    // Its session ended (the server notices the closed socket a moment later).
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
      gone = !*s.member_alive("m2");
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(gone);
    auto lead = try_leader_lock(s.url(), "m1");
    REQUIRE(lead.ok());
    CHECK(try_leader_lock(s.url(), "m2").error().code == "conflict");
    // Breaking a named leader's lock leaves another member's alone...
    REQUIRE(s.break_leader_lock("m9").ok());
    CHECK((*lead)->check().ok());
    // ... and ends the session of the one named (a leader paused past its lease).
    REQUIRE(s.break_leader_lock("m1").ok());
    bool taken = false;
    for (int i = 0; i < 200 && !taken; ++i) {
      auto next = try_leader_lock(s.url(), "m2");
      taken = next.ok();
      if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(taken);  // (check() on the ended session would report it lost; libpqxx 6 leaks that error's result)
    // A command nobody carried out is given up, never to run; an answered one is not.
    CommandRecord late = c;
    auto late_id = s.enqueue_command(late);
    REQUIRE(late_id.ok());
    CHECK(*s.expire_command(*late_id));
    CHECK(s.get_command(*late_id)->status == std::optional<std::string>("unavailable"));
    CHECK(s.pending_commands({3}, 10)->empty());
    CHECK_FALSE(*s.expire_command(*id));
    // Answered commands are pruned once old enough.
    clock.advance(std::chrono::hours(2));
    CHECK(*s.prune_commands(clock.now() - std::chrono::hours(1)) == 2);
    CHECK(s.get_command(*id).error().code == "not_found");
    // Members share the scheduling lock; a standalone process cannot take it then.
    auto member = acquire_scheduling_lock(s.url(), true);
    REQUIRE(member.ok());
    REQUIRE(acquire_scheduling_lock(s.url(), true).ok());
    auto alone = acquire_scheduling_lock(s.url(), false);
    REQUIRE_FALSE(alone.ok());
    CHECK(alone.error().code == "conflict");
  });
}

TEST_CASE("the notification outbox: a due notification is claimed once until its outcome is recorded") {
  each_store([](Store& s, FakeClock& clock) {
    WriteBatch b;
    NotificationRecord n;
    n.event = "on_failure";
    n.dag_id = "d";
    n.target_kind = "webhook";
    n.target = "http://127.0.0.1:9/hook";
    n.payload = R"({"event": "on_failure"})";
    n.next_attempt_at = clock.now();
    b.notifications = {n};
    REQUIRE(s.apply(b).ok());
    auto first = s.due_notifications(clock.now(), 10);
    REQUIRE(first.ok());
    REQUIRE(first->size() == 1);
    CHECK((*first)[0].payload == n.payload);
    // A second notifier (another member) does not get it while it is claimed...
    CHECK(s.due_notifications(clock.now(), 10)->empty());
    // ... but does once the claim ran out (its holder died).
    clock.advance(std::chrono::minutes(6));
    auto again = s.due_notifications(clock.now(), 10);
    REQUIRE(again->size() == 1);
    NotificationRecord done = (*again)[0];
    done.state = "sent";
    done.attempts = 1;
    REQUIRE(s.update_notification(done).ok());
    clock.advance(std::chrono::hours(1));
    CHECK(s.due_notifications(clock.now(), 10)->empty());
    auto listed = s.list_notifications("d", 10);
    INFO((listed.ok() ? std::to_string(listed->size()) : listed.error().message));
    REQUIRE(listed.ok());
    REQUIRE(listed->size() == 1);
    CHECK((*listed)[0].state == "sent");
  });
}

TEST_CASE("an SLA miss and its notifications land in one write; a miss seen before adds no notification") {
  each_store([](Store& s, FakeClock& clock) {
    NotificationRecord n;
    n.event = "on_sla_miss";
    n.dag_id = "d";
    n.target_kind = "command";
    n.target = "true";
    n.payload = R"({"event": "on_sla_miss"})";
    n.next_attempt_at = clock.now();
    WriteBatch b;
    b.sla_misses.push_back({{0, "d", "r1", "", "run_deadline", clock.now(), clock.now()}, {n}});
    REQUIRE_FALSE(b.empty());
    // Refused whole (a stale fence): neither the miss nor its notification.
    WriteBatch stale = b;
    stale.fences = {{4, 7}};
    REQUIRE_FALSE(s.apply(stale).ok());
    CHECK(s.list_sla_misses("d", std::nullopt, 0, 10)->empty());
    CHECK(s.list_notifications("d", 10)->empty());
    REQUIRE(s.apply(b).ok());
    REQUIRE(s.apply(b).ok());  // detected again (a restart): still one of each
    CHECK(s.list_sla_misses("d", std::nullopt, 0, 10)->size() == 1);
    auto sent = s.list_notifications("d", 10);
    REQUIRE(sent->size() == 1);
    CHECK((*sent)[0].event == "on_sla_miss");
  });
}

TEST_CASE("datasets: events in id order, filtered by URI; a dataset run moves its cursors with it, once") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("sales", "v1"), "default", 0, "system").ok());
    DatasetEvent a;
    a.uri = "s3://a";
    a.extra = R"({"rows": 1})";
    auto e1 = s.record_dataset_event(a);
    REQUIRE(e1.ok());
    CHECK(e1->at == clock.now());
    WriteBatch b;
    DatasetEvent produced;
    produced.uri = "s3://b";
    produced.at = clock.now();
    produced.source_dag_id = "sales";
    produced.source_task_id = "load";
    b.dataset_events.push_back(produced);
    REQUIRE(s.apply(b).ok());
    auto all = s.list_dataset_events(std::nullopt, 0, 10);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].id < (*all)[1].id);
    CHECK((*all)[1].source_task_id == "load");
    CHECK(s.list_dataset_events(std::string("s3://b"), 0, 10)->size() == 1);
    CHECK(s.list_dataset_events(std::nullopt, (*all)[0].id, 10)->size() == 1);
    CHECK(*s.last_dataset_event_id() == (*all)[1].id);

    RunRecord r = scheduled_run("sales", "2026-11-22T10:00:00Z");
    r.run_type = "dataset";
    r.run_id = "dataset__1";
    r.idempotency_key = "dataset:k1";
    auto made = s.create_run(r, two_tasks(), "system", {}, {{"sales", "s3://a", (*all)[0].id}, {"sales", "s3://b", (*all)[1].id}});
    REQUIRE(made.ok());
    CHECK(made->created);
    auto cursors = s.dataset_cursors("sales");
    REQUIRE(cursors.ok());
    REQUIRE(cursors->size() == 2);
    CHECK((*cursors)[0].last_event_id == (*all)[0].id);
    // The same key finds the run and leaves the cursors; they never move back.
    auto again = s.create_run(r, two_tasks(), "system", {}, {{"sales", "s3://a", 999}});
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    CHECK((*s.dataset_cursors("sales"))[0].last_event_id == (*all)[0].id);
    RunRecord r2 = r;
    r2.run_id = "dataset__2";
    r2.idempotency_key = "dataset:k2";
    REQUIRE(s.create_run(r2, two_tasks(), "system", {}, {{"sales", "s3://a", 0}}).ok());
    CHECK((*s.dataset_cursors("sales"))[0].last_event_id == (*all)[0].id);
  });
}
