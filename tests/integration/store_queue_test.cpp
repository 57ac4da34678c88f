// The Store contract for what several processes share, on both engines:
// members and partitions, events and commands, counts, the remote workers'
// queue and claims, the notification outbox, SLA misses, datasets.
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
void each_store(const std::function<void(Store&, FakeClock&)>& body) { testing::each_store("queue", body); }

// A try of task `ti` of `run` (partition 3) for remote workers.
QueueItem queued_try(const RunStore::Created& run, const std::string& token, int ti, const FakeClock& clock, int priority = 0,
                     const std::string& queue = "default") {
  QueueItem q;
  q.attempt_token = token;
  q.ti_id = run.task_instances[static_cast<size_t>(ti)].id;
  q.run_pk = run.run.pk;
  q.task_index = ti;
  q.partition = 3;
  q.queue = queue;
  q.priority = priority;
  q.payload = R"({"command": "true"})";
  q.queued_at = clock.now();
  return q;
}
}  // namespace

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
    CHECK(heard("baton_events:s:3"));  // a claim's started event: its owner may defer it
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
      return queue_item(token, run->task_instances[0].id, run->run.pk, partition, priority, pool, slots, clock.now());
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
      return queued_try(*run, token, ti, clock, priority, queue);
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

// PostgreSQL writes what a turn usually writes (task instances, tries,
// durations, tries queued, worker events applied) as one statement: under a
// fence that moved it must still be refused whole, with the same error.
TEST_CASE("a turn's usual write, under a fence that moved, is refused whole; under the current one, written whole") {
  each_store([](Store& s, FakeClock& clock) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;  // remote workers: PostgreSQL
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 3, "system").ok());
    auto run = s.create_run(scheduled_run("d", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(run.ok());
    REQUIRE(s.assign_partitions({{3, "m1"}}, "system").ok());  // epoch 1
    auto item = [&](const std::string& token, int ti) { return queued_try(*run, token, ti, clock); };
    WriteBatch first;
    first.fences = {{3, 1}};
    first.enqueue = {item("t-0", 0)};
    REQUIRE(s.apply(first).ok());
    REQUIRE(s.claim_tasks("w1", {"default"}, 1)->size() == 1);
    REQUIRE(s.report_task(holding("w1", item("t-0", 0)), R"({"outcome": "success"})").ok());
    auto evs = s.worker_events({3}, 100);
    REQUIRE(evs->size() == 2);  // started, finished

    // The owner's turn: the try's end, its next task queued, the events applied.
    WriteBatch turn;
    turn.fences = {{3, 1}, {5, 0}};
    for (auto& e : *evs) turn.events_done.push_back(e.id);
    TaskInstanceRecord done = run->task_instances[0];
    done.state = TaskState::success;
    done.try_number = 1;
    done.ended_at = clock.now();
    turn.task_instances = {done};
    TryRecord tr;
    tr.ti_id = done.id;
    tr.state = TaskState::success;
    tr.worker = "w1";
    tr.attempt_token = "t-0";
    tr.ended_at = clock.now();
    turn.tries = {tr};
    turn.durations = {{"d", done.task_id, 1, 2.5, clock.now()}};
    turn.enqueue = {item("t-1", 1)};

    REQUIRE(s.assign_partitions({{3, "m2"}}, "system").ok());  // epoch 2: the turn is stale
    auto refused = s.apply(turn);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "stale_epoch");
    CHECK(refused.error().message ==
          "partition 3 is at epoch 2, not 1: it moved to another scheduler, and this write is refused");
    CHECK(s.worker_events({3}, 100)->size() == 2);
    CHECK(s.list_task_instances(run->run.pk)->at(0).state != TaskState::success);
    CHECK(s.list_tries(done.id)->empty());
    CHECK(s.task_durations(std::string("d"), done.task_id)->empty());
    CHECK(s.claim_tasks("w2", {"default"}, 5)->empty());
    // A partition never assigned is at epoch 0: a fence of 1 on it is refused too.
    WriteBatch unassigned = turn;
    unassigned.fences = {{3, 2}, {5, 1}};
    CHECK(s.apply(unassigned).error().message ==
          "partition 5 is at epoch 0, not 1: it moved to another scheduler, and this write is refused");
    CHECK(s.worker_events({3}, 100)->size() == 2);

    turn.fences = {{3, 2}, {5, 0}};
    REQUIRE(s.apply(turn).ok());
    CHECK(s.worker_events({3}, 100)->empty());
    CHECK(s.list_task_instances(run->run.pk)->at(0).state == TaskState::success);
    REQUIRE(s.list_tries(done.id)->size() == 1);
    CHECK(s.list_tries(done.id)->at(0).worker == std::optional<std::string>("w1"));
    REQUIRE(s.task_durations(std::string("d"), done.task_id)->size() == 1);
    CHECK(s.task_durations(std::string("d"), done.task_id)->at(0).seconds == 2.5);
    auto next = s.claim_tasks("w2", {"default"}, 5);
    REQUIRE(next->size() == 1);
    CHECK((*next)[0].attempt_token == "t-1");
  });
}
