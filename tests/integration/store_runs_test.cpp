// The Store contract for DAG versions and runs, on both engines: versions,
// one run per interval, idempotency keys, batches, keyset pages, the write
// batch, two processes on one database.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <unistd.h>

#include "baton/core/sha256.h"
#include "baton/store/store.h"
#include "store_each.h"
#include "test_db.h"

using namespace baton;
using namespace baton::store;
using namespace baton::testing::records;
namespace fs = std::filesystem;

namespace {
void each_store(const std::function<void(Store&, FakeClock&)>& body) { testing::each_store("runs", body); }

// An answer of a batch of runs against the store: entry `i` of `made` is a
// conflict when `refused` says so, else the run of DAG `prefix`+i with two
// task instances, each the stored row of its id. Adds the run's pk and its
// task instances' ids to `pks` and `ti_ids`.
void check_made(Store& s, const std::vector<Result<RunStore::Created>>& made, int i, bool refused,
                const std::string& prefix, std::set<long long>& pks, std::set<long long>& ti_ids) {
  INFO("entry " << i);
  if (refused) {
    REQUIRE_FALSE(made[i].ok());
    CHECK(made[i].error().code == "conflict");
    return;
  }
  REQUIRE(made[i].ok());
  const auto& c = *made[i];
  CHECK(c.run.dag_id == prefix + std::to_string(i));
  auto stored = s.get_run(c.run.dag_id, c.run.run_id);
  REQUIRE(stored.ok());
  CHECK(stored->pk == c.run.pk);
  pks.insert(c.run.pk);
  auto tis = s.list_task_instances(c.run.pk);
  REQUIRE(tis.ok());
  REQUIRE(tis->size() == 2);
  REQUIRE(c.task_instances.size() == 2);
  for (auto& t : c.task_instances) {
    CHECK(t.run_pk == c.run.pk);
    auto it = std::find_if(tis->begin(), tis->end(), [&](auto& x) { return x.id == t.id; });
    REQUIRE(it != tis->end());
    CHECK(it->task_id == t.task_id);
    CHECK(it->map_index == t.map_index);
    ti_ids.insert(t.id);
  }
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
    // Many at once: those found, whatever is asked beside them.
    REQUIRE(s.register_dag_version(version("hr", "v1"), "default", 1, "system").ok());
    auto many = s.get_dag_versions({{"sales", "v2"}, {"sales", "v9"}, {"nope", "v1"}, {"hr", "v1"}, {"sales", "v1"}});
    REQUIRE(many.ok());
    std::set<std::string> got;
    for (auto& v : *many) {
      got.insert(v.dag_id + "@" + v.version);
      CHECK(v.source == "dag: " + v.dag_id + "\n");
    }
    CHECK(got == std::set<std::string>{"sales@v1", "sales@v2", "hr@v1"});
    CHECK(s.get_dag_versions({})->empty());
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
    CHECK(actions == std::vector<std::string>{"dag.version_registered", "dag.version_registered",
                                              "dag.version_registered", "dag.paused", "dag.removed"});
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

TEST_CASE("runs made together: each entry stands alone — keys within the batch, an id taken, its own actor") {
  each_store([](Store& s, FakeClock&) {
    REQUIRE(s.register_dag_version(version("sales", "v1"), "default", 0, "system").ok());
    auto manual = [](const char* id, std::optional<std::string> key, const char* who) {
      RunStore::NewRun n{scheduled_run("sales", "2026-11-21T00:00:00Z"), two_tasks(), {}, who};
      n.run.run_type = "manual";
      n.run.run_id = id;
      n.run.idempotency_key = std::move(key);
      n.run.created_by = who;
      return n;
    };
    REQUIRE(s.create_run(manual("manual__taken", std::nullopt, "zed").run, two_tasks(), "zed").ok());
    std::vector<RunStore::NewRun> batch = {
        manual("manual__a", "k1", "alice"),
        manual("manual__b", "k1", "bob"),  // the key alice's entry made in this batch
        manual("manual__taken", std::nullopt, "carol"),
        manual("manual__d", std::nullopt, "dave"),
    };
    auto made = s.create_runs(batch, "");
    REQUIRE(made.ok());
    REQUIRE(made->size() == 4);
    REQUIRE((*made)[0].ok());
    CHECK((*made)[0]->created);
    REQUIRE((*made)[1].ok());
    CHECK_FALSE((*made)[1]->created);
    CHECK((*made)[1]->run.run_id == "manual__a");
    CHECK((*made)[1]->task_instances.size() == 2);
    REQUIRE_FALSE((*made)[2].ok());
    CHECK((*made)[2].error().code == "conflict");
    CHECK((*made)[2].error().message.find("with id manual__taken") != std::string::npos);
    REQUIRE((*made)[3].ok());
    CHECK((*made)[3]->created);
    RunFilter f;
    f.dag_id = "sales";
    CHECK(s.list_runs(f)->size() == 3);  // taken, a, d
    AuditFilter audit;
    audit.action = "run.triggered";
    auto entries = s.list_audit(audit);
    REQUIRE(entries.ok());
    std::multiset<std::string> actors;
    for (auto& e : *entries) actors.insert(e.actor);
    CHECK(actors == std::multiset<std::string>{"zed", "alice", "dave"});
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
    for (const char* id : {"a", "b", "c"}) runs.push_back({scheduled_run(id, "2026-11-21T00:00:00Z"), two_tasks(), {}, {}});
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

TEST_CASE("batches: many runs and versions at once keep each entry's answer, ids and audit chain") {
  each_store([](Store& s, FakeClock& clock) {
    // 30 new DAGs at once, then a registration naming one DAG twice: its
    // versions in order.
    std::vector<DagVersionRegistration> regs;
    for (int i = 0; i < 30; ++i) regs.push_back({version("d" + std::to_string(i), "v1"), "default", i % 4});
    auto rows = s.register_dag_versions(regs, "system");
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 30);
    for (int i = 0; i < 30; ++i) {
      CHECK((*rows)[i].dag_id == "d" + std::to_string(i));
      CHECK((*rows)[i].partition == i % 4);
      CHECK((*rows)[i].current_version == std::string("v1"));
    }
    auto twice = s.register_dag_versions({{version("d7", "v1b"), "default", 3}, {version("d7", "v2"), "default", 3}},
                                         "system");
    REQUIRE(twice.ok());
    REQUIRE(twice->size() == 2);
    CHECK((*twice)[0].current_version == std::string("v1b"));
    CHECK((*twice)[1].current_version == std::string("v2"));
    CHECK(s.get_dag("d7")->current_version == std::string("v2"));
    // Without a DAG named twice, in one go: only the changed DAGs are
    // audited; each row is its own DAG's, in the order asked.
    clock.advance(std::chrono::seconds(1));
    regs[3] = {version("d3", "v2"), "team", 1};
    regs[20].partition = 2;  // a moved partition alone is no new version
    std::reverse(regs.begin(), regs.end());
    auto again = s.register_dag_versions(regs, "alice");
    REQUIRE(again.ok());
    REQUIRE(again->size() == 30);
    for (size_t i = 0; i < regs.size(); ++i) CHECK((*again)[i].dag_id == regs[i].version.dag_id);
    CHECK((*again)[26].dag_id == "d3");
    CHECK((*again)[26].ns == "team");
    CHECK((*again)[26].current_version == std::string("v2"));
    CHECK((*again)[9].partition == 2);
    CHECK((*again)[22].current_version == std::string("v1"));  // d7 back to v1: a change
    AuditFilter by_alice;
    by_alice.actor = "alice";
    auto audited = s.list_audit(by_alice);
    REQUIRE(audited.ok());
    std::set<std::string> targets;
    for (auto& e : *audited) targets.insert(e.target);
    CHECK(targets == std::set<std::string>{"dag:d3", "dag:d7"});
    AuditFilter registered;
    registered.action = "dag.version_registered";
    CHECK(s.list_audit(registered)->size() == 34);

    // Runs: two entries with one run id, two for one interval, one interval
    // taken already; every other entry made with its own task instances.
    REQUIRE(s.create_run(scheduled_run("d5", "2026-11-21T00:00:00Z"), two_tasks(), "system").ok());
    std::vector<RunStore::NewRun> runs;
    for (int i = 0; i < 30; ++i)
      runs.push_back({scheduled_run("d" + std::to_string(i), "2026-11-21T00:00:00Z"), two_tasks(), {}, {}});
    runs.push_back(runs[2]);  // the same run id again
    RunStore::NewRun other_id = runs[4];
    other_id.run.run_id = "scheduled__other";  // the same interval under another id
    runs.push_back(other_id);
    RunStore::NewRun manual = runs[9];
    manual.run.run_type = "manual";
    manual.run.run_id = "manual__x";
    manual.run.logical_date += std::chrono::hours(1);
    manual.actor = "bob";
    runs.push_back(manual);
    auto made = s.create_runs(runs, "system");
    REQUIRE(made.ok());
    REQUIRE(made->size() == 33);
    std::set<long long> pks, ti_ids;
    for (int i = 0; i < 30; ++i) check_made(s, *made, i, i == 5, "d", pks, ti_ids);
    CHECK(ti_ids.size() == 58);
    REQUIRE_FALSE((*made)[30].ok());
    CHECK((*made)[30].error().message.find("for the interval starting") != std::string::npos);
    REQUIRE_FALSE((*made)[31].ok());
    CHECK((*made)[31].error().code == "conflict");
    REQUIRE((*made)[32].ok());
    CHECK((*made)[32]->run.run_id == "manual__x");
    AuditFilter by_bob;
    by_bob.actor = "bob";
    CHECK(s.list_audit(by_bob)->size() == 1);
    // Triggers with and without a key in one batch: each made, audited in
    // the batch's order.
    std::vector<RunStore::NewRun> mixed;
    for (const char* who : {"kim", "lee", "max", "ned"}) {
      RunStore::NewRun n = manual;
      n.run.run_id = std::string("manual__") + who;
      n.run.logical_date += std::chrono::minutes(who[0]);
      if (who[0] == 'k' || who[0] == 'm') n.run.idempotency_key = std::string("key-") + who;
      n.actor = who;
      mixed.push_back(n);
    }
    auto mixed_made = s.create_runs(mixed, "system");
    REQUIRE(mixed_made.ok());
    for (auto& m : *mixed_made) {
      REQUIRE(m.ok());
      CHECK(m->created);
      CHECK(m->task_instances.size() == 2);
    }
    AuditFilter triggered;
    triggered.action = "run.triggered";
    triggered.newest_first = true;
    triggered.limit = 4;
    auto last_four = s.list_audit(triggered);
    REQUIRE(last_four.ok());
    std::vector<std::string> order;
    for (auto& e : *last_four) order.insert(order.begin(), e.actor);
    CHECK(order == std::vector<std::string>{"kim", "lee", "max", "ned"});
    auto check = s.verify_audit();
    REQUIRE(check.ok());
    CHECK_FALSE(check->first_bad_id);
  });
}

TEST_CASE("batches: 150 runs go in statements of many rows, each answer its own run and task instances") {
  each_store([](Store& s, FakeClock&) {
    std::vector<DagVersionRegistration> regs;
    for (int i = 0; i < 150; ++i) regs.push_back({version("m" + std::to_string(i), "v1"), "default", i % 4});
    REQUIRE(s.register_dag_versions(regs, "system").ok());
    std::vector<RunStore::NewRun> runs;
    for (int i = 0; i < 150; ++i)
      runs.push_back({scheduled_run("m" + std::to_string(i), "2026-11-21T00:00:00Z"), two_tasks(), {}, {}});
    runs[100] = runs[99];  // m99's interval again, under another id: refused by the store, in a chunk's middle
    runs[100].run.run_id = "scheduled__again";
    runs[140] = runs[3];  // m3's run id again: refused before it is sent
    auto made = s.create_runs(runs, "system");
    REQUIRE(made.ok());
    REQUIRE(made->size() == 150);
    std::set<long long> pks, ti_ids;
    for (int i = 0; i < 150; ++i) check_made(s, *made, i, i == 100 || i == 140, "m", pks, ti_ids);
    CHECK(pks.size() == 148);
    CHECK(ti_ids.size() == 296);
    CHECK_FALSE(s.get_run("m99", "scheduled__again").ok());
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

    // A run named twice in one batch takes its last row; a DAG's last tick
    // moves only forward, to the latest of the batch's.
    b = {};
    RunRecord ended = run;
    ended.state = RunState::success;
    ended.ended_at = clock.now();
    ended.note = std::nullopt;
    b.runs = {run, ended};
    b.last_ticks = {{"d", *parse_utc("2026-11-21T02:00:00Z")},
                    {"d", *parse_utc("2026-11-21T03:00:00Z")},
                    {"d", *parse_utc("2026-11-21T01:00:00Z")}};
    REQUIRE(s.apply(b).ok());
    auto back_run = s.get_run("d", run.run_id);
    CHECK(back_run->state == RunState::success);
    CHECK(back_run->ended_at == ended.ended_at);
    CHECK(s.get_dag("d")->last_tick == *parse_utc("2026-11-21T03:00:00Z"));
    b = {};
    b.last_ticks = {{"d", *parse_utc("2026-11-21T02:30:00Z")}};
    REQUIRE(s.apply(b).ok());
    CHECK(s.get_dag("d")->last_tick == *parse_utc("2026-11-21T03:00:00Z"));

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
  for (auto& e : testing::store_engines("runs")) {
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
