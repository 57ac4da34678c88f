// Batched claims of remote workers (SPEC §9), on every engine (part of
// store_tests, beside store_conformance.cpp): one claim takes up to the
// worker's free slots at once, never more, and never past a pool's slots,
// counted over the tries every worker holds, whichever member queued them —
// also when two workers claim at once. SQLite has no remote workers.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "baton/store/store.h"
#include "store_each.h"

using namespace baton;
using namespace baton::store;
namespace fs = std::filesystem;

namespace {

// Runs body once per engine with a fresh store (and its URL, for a second
// store on the same database: another server's).
void each_claim_store(const std::function<void(Store&, FakeClock&, const DatabaseUrl&)>& body) {
  testing::each_store_at("claim", "2026-11-22T10:00:00Z", body);
}

// A run with one task instance, and a maker of queue items for it: tries of
// partitions 3 and 4 (two owners).
struct Queued {
  Store& s;
  FakeClock& clock;
  long long ti_id = 0;
  long long run_pk = 0;

  Queued(Store& st, FakeClock& c) : s(st), clock(c) {
    REQUIRE(s.register_dag_version(testing::records::version("d", "v1"), "default", 3, "system").ok());
    RunRecord r;
    r.dag_id = "d";
    r.logical_date = *parse_utc("2026-11-21T00:00:00Z");
    r.data_interval_start = r.data_interval_end = r.logical_date;
    r.run_id = "scheduled__2026-11-21T00:00:00Z";
    r.run_type = "scheduled";
    r.dag_version = "v1";
    TaskInstanceRecord t;
    t.task_id = "a";
    auto run = s.create_run(r, {t}, "system");
    REQUIRE(run.ok());
    ti_id = run->task_instances[0].id;
    run_pk = run->run.pk;
    REQUIRE(s.assign_partitions({{3, "m1"}, {4, "m2"}}, "system").ok());
  }

  QueueItem item(const std::string& token, int partition, int priority, const std::string& pool, int slots = 1) {
    return testing::records::queue_item(token, ti_id, run_pk, partition, priority, pool, slots, clock.now());
  }

  void enqueue(std::vector<QueueItem> items) {
    WriteBatch b;
    b.fences = {{3, 1}, {4, 1}};
    b.enqueue = std::move(items);
    REQUIRE(s.apply(b).ok());
  }
};

std::map<std::string, int> per_pool(const std::vector<QueueItem>& items) {
  std::map<std::string, int> out;
  for (auto& q : items) out[q.pool] += q.pool_slots;
  return out;
}

}  // namespace

TEST_CASE("a batched claim takes up to the worker's free slots, never more, and never past a pool's slots") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl&) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) {
      CHECK(s.claim_tasks("w1", {"default"}, 8).error().code == "unsupported");
      return;
    }
    REQUIRE(s.put_pool({"etl", 3, ""}, "admin").ok());
    REQUIRE(s.put_pool({"wide", 100, ""}, "admin").ok());
    Queued q(s, clock);
    // Six tries of pool etl (3 slots) ahead, from both owners; five of a
    // pool with room behind them.
    std::vector<QueueItem> items;
    for (int i = 0; i < 6; ++i) items.push_back(q.item("etl-" + std::to_string(i), 3 + i % 2, 9, "etl"));
    for (int i = 0; i < 5; ++i) items.push_back(q.item("wide-" + std::to_string(i), 3 + i % 2, 5, "wide"));
    q.enqueue(items);

    // Four free slots: four tries, three of them etl's (its slots), one behind.
    auto first = s.claim_tasks("w1", {"default"}, 4);
    REQUIRE(first.ok());
    CHECK(first->size() == 4);
    CHECK(per_pool(*first) == std::map<std::string, int>{{"etl", 3}, {"wide", 1}});
    // Ten free slots: what is left of wide; etl is full across both owners.
    auto second = s.claim_tasks("w2", {"default"}, 10);
    REQUIRE(second.ok());
    CHECK(per_pool(*second) == std::map<std::string, int>{{"wide", 4}});
    CHECK(s.held_pool_slots()->at("etl") == 3);
    // One free slot takes one try, however many are queued.
    CHECK(s.claim_tasks("w3", {"default"}, 1)->empty());
    auto third = s.claim_tasks("w3", {"default"}, 10);
    REQUIRE(third.ok());
    CHECK(third->empty());
  });
}

TEST_CASE("batched claims at once, from two servers, together stay within a pool's slots") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl& url) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;
    REQUIRE(s.put_pool({"etl", 5, ""}, "admin").ok());
    Queued q(s, clock);
    std::vector<QueueItem> items;
    for (int i = 0; i < 40; ++i) items.push_back(q.item("etl-" + std::to_string(i), 3 + i % 2, i % 3, "etl"));
    for (int i = 0; i < 40; ++i) items.push_back(q.item("etl2-" + std::to_string(i), 3 + i % 2, 1, "etl", 2));
    q.enqueue(items);
    auto other = open_store(url, clock);  // another server's store
    REQUIRE(other.ok());
    std::vector<QueueItem> got_a, got_b;
    bool ok_a = true, ok_b = true;
    std::thread a([&] {
      for (int i = 0; i < 10; ++i) {
        auto c = s.claim_tasks("wa", {"default"}, 4);
        if (!c || c->size() > 4) ok_a = false;
        if (c) got_a.insert(got_a.end(), c->begin(), c->end());
      }
    });
    std::thread b([&] {
      for (int i = 0; i < 10; ++i) {
        auto c = (*other)->claim_tasks("wb", {"default"}, 3);
        if (!c || c->size() > 3) ok_b = false;
        if (c) got_b.insert(got_b.end(), c->begin(), c->end());
      }
    });
    a.join();
    b.join();
    CHECK(ok_a);
    CHECK(ok_b);
    int slots = per_pool(got_a)["etl"] + per_pool(got_b)["etl"];
    CHECK(slots == 5);  // filled: the 1-slot tries come first (higher priority)
    CHECK(s.held_pool_slots()->at("etl") == slots);
  });
}

TEST_CASE("a report that carries the next claim: both or neither, and within the slots asked for") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl&) {
    Queued q(s, clock);
    TryProgress p;
    p.worker = "w1";
    p.attempt_token = "r-1";
    p.ti_id = q.ti_id;
    p.try_number = 1;
    if (s.url().engine == DatabaseUrl::Engine::sqlite) {
      CHECK(s.report_and_claim(p, R"({"outcome": "success"})", {"default"}, 1).error().code == "unsupported");
      return;
    }
    q.enqueue({q.item("r-1", 3, 9, "default"), q.item("r-2", 3, 5, "default"), q.item("r-3", 4, 5, "default"),
               q.item("r-4", 4, 1, "default")});
    REQUIRE(s.claim_tasks("w1", {"default"}, 1)->size() == 1);  // r-1
    // A stale report (another worker's) stores nothing and claims nothing.
    TryProgress other = p;
    other.worker = "w2";
    auto refused = s.report_and_claim(other, R"({"outcome": "success"})", {"default"}, 2);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "conflict");
    CHECK(s.held_pool_slots()->at("default") == 1);
    // The holder's: reported, and two more claimed (no more than asked).
    auto next = s.report_and_claim(p, R"({"outcome": "success"})", {"default"}, 2);
    REQUIRE(next.ok());
    REQUIRE(next->size() == 2);
    CHECK((*next)[0].attempt_token == "r-2");
    CHECK((*next)[0].worker == "w1");
    CHECK(s.held_pool_slots()->at("default") == 2);
    auto evs = s.worker_events({3, 4}, 10);
    REQUIRE(evs.ok());
    int finished = 0, started = 0;
    for (auto& e : *evs) (e.kind == "finished" ? finished : started) += 1;
    CHECK(finished == 1);
    CHECK(started == 3);
    // Reported already: the same report again is stale, and claims nothing.
    CHECK(s.report_and_claim(p, R"({"outcome": "success"})", {"default"}, 5).error().code == "conflict");
    CHECK(s.held_pool_slots()->at("default") == 2);
    // With a log chunk (another path: the report's parts and the claim in
    // one transaction), the same: a stale report stores no log, claims nothing.
    TryProgress held = p;
    held.attempt_token = (*next)[0].attempt_token;
    held.ti_id = (*next)[0].ti_id;
    held.try_number = (*next)[0].try_number;
    held.log = std::string("last words\n");
    held.log_offset = 0;
    TryProgress stale = held;
    stale.worker = "w2";
    CHECK(s.report_and_claim(stale, R"({"outcome": "success"})", {"default"}, 1).error().code == "conflict");
    auto none = s.read_log(held.ti_id, held.try_number, 0, 100);
    REQUIRE(none.ok());
    CHECK((!*none || (*none)->empty()));
    CHECK(s.held_pool_slots()->at("default") == 2);
    auto last = s.report_and_claim(held, R"({"outcome": "success"})", {"default"}, 1);
    REQUIRE(last.ok());
    REQUIRE(last->size() == 1);
    CHECK((*last)[0].attempt_token == "r-4");
    auto log = s.read_log(held.ti_id, held.try_number, 0, 100);
    REQUIRE(log.ok());
    REQUIRE(*log);
    CHECK(**log == "last words\n");
    CHECK(s.held_pool_slots()->at("default") == 2);
  });
}

TEST_CASE("several reports of a worker and its next claim: one transaction, each report taken or refused alone") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl&) {
    Queued q(s, clock);
    auto report = [&](const std::string& token, int try_number, std::optional<std::string> log = std::nullopt) {
      TryReport r;
      r.progress.worker = "w1";
      r.progress.attempt_token = token;
      r.progress.ti_id = q.ti_id;
      r.progress.try_number = try_number;
      r.progress.log = std::move(log);
      r.report_json = R"({"outcome": "success"})";
      return r;
    };
    if (s.url().engine == DatabaseUrl::Engine::sqlite) {
      CHECK(s.report_tasks("w1", {report("t-1", 1)}, {"default"}, 1).error().code == "unsupported");
      return;
    }
    // Five tries, each its own try number (so each its own log).
    std::vector<QueueItem> items;
    for (int i = 1; i <= 5; ++i) {
      items.push_back(q.item("t-" + std::to_string(i), 3 + i % 2, 10 - i, "default"));
      items.back().try_number = i;
    }
    q.enqueue(items);
    REQUIRE(s.claim_tasks("w1", {"default"}, 3)->size() == 3);  // t-1, t-2, t-3
    // t-1 plain and t-2 with its last log chunk: taken. t-9 (never queued),
    // plain, and t-4 (queued, not w1's) with a chunk: refused, and t-4's
    // chunk is not stored. t-3's checkpoint is refused (the task instance
    // is on no try of that token), which undoes its report alone: t-3 stays
    // held. Then the claim of three slots: t-4 and t-5 are left.
    TryReport with_checkpoint = report("t-3", 3);
    with_checkpoint.progress.checkpoint = std::string("cp");
    auto taken = s.report_tasks("w1",
                                {report("t-1", 1), report("t-9", 9), report("t-2", 2, "two\n"),
                                 report("t-4", 4, "not mine\n"), with_checkpoint},
                                {"default"}, 3);
    REQUIRE(taken.ok());
    REQUIRE(taken->reports.size() == 5);
    CHECK(taken->reports[0].ok());
    CHECK(taken->reports[1].error().code == "conflict");
    CHECK(taken->reports[2].ok());
    CHECK(taken->reports[3].error().code == "conflict");
    CHECK(taken->reports[4].error().code == "conflict");
    std::vector<std::string> claimed;
    for (auto& c : taken->claimed) claimed.push_back(c.attempt_token);
    CHECK(claimed == std::vector<std::string>{"t-4", "t-5"});
    CHECK(s.held_pool_slots()->at("default") == 3);  // t-3, t-4, t-5
    auto log2 = s.read_log(q.ti_id, 2, 0, 100);
    REQUIRE(log2.ok());
    REQUIRE(*log2);
    CHECK(**log2 == "two\n");
    auto log4 = s.read_log(q.ti_id, 4, 0, 100);
    REQUIRE(log4.ok());
    CHECK((!*log4 || (*log4)->empty()));
    auto evs = s.worker_events({3, 4}, 20);
    REQUIRE(evs.ok());
    std::multiset<std::string> finished;
    for (auto& e : *evs)
      if (e.kind == "finished") finished.insert(e.attempt_token);
    CHECK(finished == std::multiset<std::string>{"t-1", "t-2"});
    // The same reports again: both refused now, and no claim asked for.
    auto again = s.report_tasks("w1", {report("t-1", 1), report("t-2", 2, "two\n")}, {"default"}, 0);
    REQUIRE(again.ok());
    CHECK(again->reports[0].error().code == "conflict");
    CHECK(again->reports[1].error().code == "conflict");
    CHECK(again->claimed.empty());
    // Another worker's report sent as w1's: refused, whatever its token.
    TryReport foreign = report("t-3", 3);
    foreign.progress.worker = "w2";
    auto mixed = s.report_tasks("w1", {foreign}, {"default"}, 0);
    REQUIRE(mixed.ok());
    CHECK(mixed->reports[0].error().code == "conflict");
    CHECK(s.held_pool_slots()->at("default") == 3);
  });
}

namespace {

std::map<std::string, int> per_namespace(const std::vector<QueueItem>& items) {
  std::map<std::string, int> out;
  for (auto& q : items) ++out[q.ns];
  return out;
}

QueueItem in_namespace(QueueItem q, const std::string& ns, bool backfill = false) {
  q.ns = ns;
  q.backfill = backfill;
  return q;
}

}  // namespace

TEST_CASE("claims share the workers among namespaces by weight, over the tries every worker holds") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl& url) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;
    REQUIRE(s.put_namespace({"a", 3, std::nullopt, std::nullopt, ""}, "admin").ok());
    Queued q(s, clock);
    // a floods first, and more urgently: first come, first served would
    // give it every slot.
    std::vector<QueueItem> items;
    for (int i = 0; i < 40; ++i) items.push_back(in_namespace(q.item("a-" + std::to_string(i), 3, 99, "default"), "a"));
    for (int i = 0; i < 40; ++i) items.push_back(in_namespace(q.item("b-" + std::to_string(i), 4, 1, "default"), "b"));
    q.enqueue(items);
    auto first = s.claim_tasks("w1", {"default"}, 8);
    REQUIRE(first.ok());
    CHECK(per_namespace(*first) == std::map<std::string, int>{{"a", 6}, {"b", 2}});
    // Another server's worker: the shares count what every worker holds.
    auto other = open_store(url, clock);
    REQUIRE(other.ok());
    auto second = (*other)->claim_tasks("w2", {"default"}, 4);
    REQUIRE(second.ok());
    CHECK(per_namespace(*second) == std::map<std::string, int>{{"a", 3}, {"b", 1}});
    // Within a namespace, the claim order holds: a's most urgent, oldest first.
    CHECK((*first)[0].attempt_token == "a-0");
  });
}

TEST_CASE("a namespace with nothing queued lends its share; one at max_running_tasks gets no more, from any worker") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl& url) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;
    REQUIRE(s.put_namespace({"capped", 1, 2, std::nullopt, ""}, "admin").ok());
    Queued q(s, clock);
    std::vector<QueueItem> items;
    for (int i = 0; i < 10; ++i) items.push_back(in_namespace(q.item("a-" + std::to_string(i), 3, 5, "default"), "a"));
    q.enqueue(items);
    // b has nothing queued: a takes every slot asked for.
    CHECK(per_namespace(*s.claim_tasks("w1", {"default"}, 5)) == std::map<std::string, int>{{"a", 5}});
    std::vector<QueueItem> capped;
    for (int i = 0; i < 6; ++i)
      capped.push_back(in_namespace(q.item("c-" + std::to_string(i), 4, 9, "default"), "capped"));
    q.enqueue(capped);
    auto other = open_store(url, clock);
    REQUIRE(other.ok());
    auto one = s.claim_tasks("w1", {"default"}, 1);
    auto more = (*other)->claim_tasks("w2", {"default"}, 6);
    REQUIRE(one.ok());
    REQUIRE(more.ok());
    int held = per_namespace(*one)["capped"] + per_namespace(*more)["capped"];
    CHECK(held == 2);  // its cap, across both workers
    CHECK(per_namespace(*more)["a"] == 5);  // the slots it could not take went to a
    CHECK((*other)->claim_tasks("w3", {"default"}, 4)->empty());  // a is drained, capped is full
  });
}

// baton_claim applies core/fair.h's rule server-side: its ties as
// tests/unit/core/fair_test.cpp has them for fair_next.
TEST_CASE("claims break fair-share ties as fair_next does: the fewer held, then the name in byte order") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl&) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;
    REQUIRE(s.put_namespace({"heavy", 3, std::nullopt, std::nullopt, ""}, "admin").ok());
    Queued q(s, clock);
    std::vector<QueueItem> items;
    for (int i = 0; i < 4; ++i) {
      items.push_back(in_namespace(q.item("a-" + std::to_string(i), 3, 1, "default"), "a"));
      items.push_back(in_namespace(q.item("B-" + std::to_string(i), 4, 1, "default"), "B"));
      items.push_back(in_namespace(q.item("heavy-" + std::to_string(i), 3, 1, "default"), "heavy"));
    }
    q.enqueue(items);
    // Nothing held, equal ranks 1/3 < 1 for heavy first; then heavy at
    // 2/3, still first; then heavy at 1 against a and B at 1: the fewer
    // held (a and B, 0) go before heavy (2), and "B" before "a".
    std::vector<std::string> order;
    for (int i = 0; i < 5; ++i) {
      auto one = s.claim_tasks("w1", {"default"}, 1);
      REQUIRE(one.ok());
      REQUIRE(one->size() == 1);
      order.push_back((*one)[0].ns);
    }
    CHECK(order == std::vector<std::string>{"heavy", "heavy", "B", "a", "heavy"});
  });
}

TEST_CASE("within a namespace, a claim takes live tries before a backfill's, however urgent") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl&) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;
    Queued q(s, clock);
    q.enqueue({in_namespace(q.item("backfill-1", 3, 99, "default"), "a", true),
               in_namespace(q.item("live-1", 3, 1, "default"), "a"), in_namespace(q.item("b-1", 4, 1, "default"), "b")});
    auto first = s.claim_tasks("w1", {"default"}, 2);
    REQUIRE(first.ok());
    REQUIRE(first->size() == 2);
    std::set<std::string> tokens{(*first)[0].attempt_token, (*first)[1].attempt_token};
    CHECK(tokens == std::set<std::string>{"live-1", "b-1"});
    auto next = s.claim_tasks("w1", {"default"}, 2);
    REQUIRE(next->size() == 1);
    CHECK((*next)[0].attempt_token == "backfill-1");
    CHECK((*next)[0].backfill);
    CHECK((*next)[0].ns == "a");
  });
}

TEST_CASE("within a namespace and a priority, a claim takes the try whose run must start first (SLA slack)") {
  each_claim_store([](Store& s, FakeClock& clock, const DatabaseUrl&) {
    if (s.url().engine == DatabaseUrl::Engine::sqlite) return;
    Queued q(s, clock);
    const long long now = clock.now().time_since_epoch().count();
    auto at = [](QueueItem i, long long latest) {
      i.latest_start = latest;
      return i;
    };
    // Queued in this order: no SLA, a loose one, a tight one; and an urgent
    // try with no SLA, whose priority still comes first.
    q.enqueue({q.item("none", 3, 1, "default"), at(q.item("loose", 3, 1, "default"), now + 3600000000LL),
               at(q.item("tight", 4, 1, "default"), now + 60000000LL), q.item("urgent", 4, 5, "default")});
    std::vector<std::string> order;
    for (int k = 0; k < 4; ++k) {
      auto one = s.claim_tasks("w1", {"default"}, 1);
      REQUIRE(one.ok());
      REQUIRE(one->size() == 1);
      order.push_back((*one)[0].attempt_token);
    }
    CHECK(order == std::vector<std::string>{"urgent", "tight", "loose", "none"});
  });
}
