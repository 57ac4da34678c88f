// Namespaces' fair share of the worker slots (SPEC §13), through the
// dispatcher with a fake host and a fake clock: shares against weights,
// lending, max_running_tasks, priorities and backfills within a namespace,
// what `tasks why` says, and the figures of GET /namespaces.
#include <catch2/catch.hpp>

#include <deque>

#include "dispatcher_env.h"

using namespace baton;
using namespace baton::scheduler;
using namespace baton::scheduler::testing_dispatch;

namespace {

// A DAG of `tasks` independent shell tasks in namespace `ns`.
dsl::DagGraphPtr flood_dag(const std::string& ns, int tasks, int priority = 1, const std::string& dag = "") {
  std::string y = "dag: " + (dag.empty() ? "flood_" + ns : dag) + "\nnamespace: " + ns + "\ntasks:\n";
  for (int i = 0; i < tasks; ++i)
    y += "  t" + std::to_string(i) + ": {command: 'true', priority: " + std::to_string(priority) + "}\n";
  return testing::compile(y);
}

// The tries on worker slots, oldest first: the bench ends them in the
// order they began, as workers of equal tasks would.
struct Slots {
  Env& e;
  std::deque<std::pair<ActiveRun*, int>> busy;

  // Notes what began since the last look (in the runs' order).
  void look() {
    for (auto& [pk, run] : e.runs.all()) {
      ActiveRun* r = &run;
      for (size_t i = 0; i < r->tis.size(); ++i)
        if (r->tis[i].state == TaskState::running &&
            std::find(busy.begin(), busy.end(), std::make_pair(r, static_cast<int>(i))) == busy.end())
          busy.emplace_back(r, static_cast<int>(i));
    }
  }
  void dispatch() {
    e.d->dispatch();
    e.handed();
    look();
  }
  // The oldest try ends; its slot is handed out again.
  std::string end_oldest() {
    REQUIRE_FALSE(busy.empty());
    auto [r, ti] = busy.front();
    busy.pop_front();
    e.s.clock.advance(std::chrono::seconds(1));
    e.host.apply(*r, *r->engine->finish_try(ti, TryOutcome::success));
    e.d->slot_freed();
    dispatch();
    return r->graph->spec().ns;
  }
  std::map<std::string, int> per_namespace() const {
    std::map<std::string, int> out;
    for (auto& [r, ti] : busy) ++out[r->graph->spec().ns];
    return out;
  }
};

}  // namespace

TEST_CASE("fair share: busy slots follow the weights at 1:1, 3:1 and 1:1:1 while every namespace has work") {
  struct Case {
    std::map<std::string, double> weights;
    std::map<std::string, int> slots;  // of 8
  };
  auto c = GENERATE(Case{{{"a", 1}, {"b", 1}}, {{"a", 4}, {"b", 4}}}, Case{{{"a", 3}, {"b", 1}}, {{"a", 6}, {"b", 2}}},
                    Case{{{"a", 1}, {"b", 1}, {"c", 1}}, {{"a", 3}, {"b", 3}, {"c", 2}}});
  Env e(8);
  std::map<std::string, FairShare::Config> configs;
  for (auto& [ns, w] : c.weights) configs[ns].weight = w;
  e.d->configure_namespaces(configs);
  long long pk = 1;
  // The first namespace's run is older and more urgent: without fair share
  // it would take every slot.
  for (auto& [ns, w] : c.weights)
    e.start(flood_dag(ns, 60, ns == "a" ? 10 : 1), pk++, ns == "a" ? "2026-11-01T00:00:00Z" : "2026-11-21T00:00:00Z");
  Slots s{e, {}};
  s.dispatch();
  CHECK(s.per_namespace() == c.slots);
  // Forty tries end, one at a time; after each the slots are shared as before.
  for (int i = 0; i < 40; ++i) {
    s.end_oldest();
    INFO("after " << i + 1 << " tries ended");
    CHECK(s.per_namespace() == c.slots);
  }
  // Over the last minute, each namespace held its weight's part of the busy slots.
  SchedulerMetrics m;
  e.d->metrics(m);
  for (auto& [ns, n] : c.slots) {
    INFO(ns);
    CHECK(m.namespaces[ns].share == Approx(n / 8.0).margin(0.02));
    CHECK(m.namespaces[ns].running == n);
    long long scheduled = 0;
    for (auto& [pk, r] : e.runs.all())
      for (auto& ti : r.tis) scheduled += r.graph->spec().ns == ns && ti.state == TaskState::scheduled;
    CHECK(m.namespaces[ns].ready == scheduled);
  }
}

TEST_CASE("fair share: a namespace with nothing ready lends its share, and takes it back as slots free up") {
  Env e(8);
  e.d->configure_namespaces({{"a", {1, {}}}, {"b", {1, {}}}});
  e.start(flood_dag("a", 40), 1, "2026-11-21T00:00:00Z");
  Slots s{e, {}};
  s.dispatch();
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 8}});  // b has nothing: a borrows its share
  e.start(flood_dag("b", 10), 2, "2026-11-21T00:00:00Z");
  s.dispatch();  // no slot is free: b waits for the next one
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 8}});
  auto why = e.d->blocks(*e.runs.find(2), 0);
  CHECK(why == std::vector<std::string>{"workers: 8 of 8 slots busy", "namespace b: 0 running, share 4 of 8 slots"});
  // Each slot a's tries free goes to b until b has its share.
  for (int i = 0; i < 4; ++i) CHECK(s.end_oldest() == "a");
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 4}, {"b", 4}});
  s.end_oldest();
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 4}, {"b", 4}});
}

TEST_CASE("fair share: max_running_tasks caps a namespace, and its free slots go to the others or stay free") {
  Env e(8);
  e.d->configure_namespaces({{"a", {1, 3}}});
  ActiveRun& a = e.start(flood_dag("a", 20), 1, "2026-11-21T00:00:00Z");
  e.start(flood_dag("b", 2), 2, "2026-11-21T00:00:00Z");
  Slots s{e, {}};
  s.dispatch();
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 3}, {"b", 2}});  // three slots stay free
  int waiting = 0;
  while (a.tis[static_cast<size_t>(waiting)].state != TaskState::scheduled) ++waiting;
  CHECK(e.d->blocks(a, waiting) == std::vector<std::string>{"namespace a: 3 of 3 running (max_running_tasks)"});
  // A try of a ends: the next of a takes its place, never a fourth.
  for (int i = 0; i < 6; ++i) {
    s.end_oldest();
    CHECK(s.per_namespace()["a"] == 3);
  }
  // Raised, the cap lets a take the free slots at the next pass.
  e.d->configure_namespaces({{"a", {1, 6}}});
  s.dispatch();
  CHECK(s.per_namespace()["a"] == 6);
}

TEST_CASE("fair share: priority orders tries within a namespace, never across; live runs before backfills within it") {
  Env e(2);
  e.d->configure_namespaces({});
  // a's tries are all more urgent than b's: b still gets its half.
  e.start(flood_dag("a", 4, 50), 1, "2026-11-21T00:00:00Z");
  ActiveRun& b_low = e.start(flood_dag("b", 2, 1, "b_low"), 2, "2026-11-21T00:00:00Z");
  ActiveRun& b_high = e.start(flood_dag("b", 1, 9, "b_high"), 3, "2026-11-21T00:00:00Z");
  ActiveRun& b_backfill = e.start(flood_dag("b", 1, 99, "b_backfill"), 4, "2026-10-01T00:00:00Z", 7);
  Slots s{e, {}};
  s.dispatch();
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 1}, {"b", 1}});
  // b's slot went to its live, more urgent run, before its backfill's
  // (however urgent) and its less urgent run.
  CHECK(b_high.tis[0].state == TaskState::running);
  CHECK(b_backfill.tis[0].state == TaskState::scheduled);
  CHECK(b_low.tis[0].state == TaskState::scheduled);
  s.end_oldest();  // a's: a's slot goes back to a (both at one)
  s.end_oldest();  // b_high's: b's next is b_low's, live
  CHECK(b_low.tis[0].state == TaskState::running);
  CHECK(b_backfill.tis[0].state == TaskState::scheduled);
}

TEST_CASE("fair share: without namespaces configured every namespace weighs 1, and one namespace alone takes all") {
  Env e(4);
  e.start(flood_dag("default", 10), 1, "2026-11-21T00:00:00Z");
  Slots s{e, {}};
  s.dispatch();
  CHECK(s.per_namespace() == std::map<std::string, int>{{"default", 4}});
  e.start(flood_dag("x", 10), 2, "2026-11-21T00:00:00Z");
  for (int i = 0; i < 3; ++i) s.end_oldest();
  CHECK(s.per_namespace() == std::map<std::string, int>{{"default", 2}, {"x", 2}});
}

TEST_CASE("fair share: pools apply on top; a namespace whose ready tries a pool holds back lends its slots") {
  Env e(8);
  REQUIRE(e.s.store->put_pool({"narrow", 1, ""}, "test").ok());
  e.d->refresh_pools(*e.s.store);
  e.d->configure_namespaces({{"a", {3, {}}}, {"b", {1, {}}}});
  // a's tries all need the one slot of pool narrow: a holds one slot, not six.
  std::string y = "dag: narrow_a\nnamespace: a\ntasks:\n";
  for (int i = 0; i < 10; ++i) y += "  t" + std::to_string(i) + ": {command: 'true', pool: narrow}\n";
  ActiveRun& a = e.start(testing::compile(y), 1, "2026-11-21T00:00:00Z");
  e.start(flood_dag("b", 20), 2, "2026-11-21T00:00:00Z");
  Slots s{e, {}};
  s.dispatch();
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 1}, {"b", 7}});
  int waiting = 0;
  while (a.tis[static_cast<size_t>(waiting)].state != TaskState::scheduled) ++waiting;
  auto why = e.d->blocks(a, waiting);
  CHECK(std::find(why.begin(), why.end(), "pool narrow: 1 of 1 slots taken") != why.end());
  // a's try ends: its pool slot goes to a's next try.
  CHECK(s.end_oldest() == "a");
  CHECK(s.per_namespace() == std::map<std::string, int>{{"a", 1}, {"b", 7}});
}

TEST_CASE("fair share: on a shared member, tries queued for remote workers do not count against the cap here") {
  Env e(0, true);  // the workers are remote: every try is queued, the claims share them
  e.d->configure_namespaces({{"a", {1, 1}}});
  auto g = testing::compile(
      "dag: mixed\nnamespace: a\ntasks:\n  s1: {command: 'true'}\n  s2: {command: 'true'}\n  s3: {command: 'true'}\n"
      "  wait: {type: sensor.file, path: /nonexistent, poke_interval: 1m}\n");
  ActiveRun& r = e.start(g, 1, "2026-11-21T00:00:00Z");
  e.d->dispatch();
  // All three go to the queue (the claim holds them to the cap), and the
  // sensor is not starved by them: it is a's one try here.
  CHECK(e.channel.offered.size() == 3);
  CHECK(e.host.poked == std::vector<std::string>{"wait"});
  auto other = testing::compile(
      "dag: second\nnamespace: a\ntasks:\n  wait: {type: sensor.file, path: /nonexistent, poke_interval: 1m}\n");
  ActiveRun& r2 = e.start(other, 2, "2026-11-21T00:00:00Z");
  e.d->dispatch();
  CHECK(e.host.poked.size() == 1);  // a's second sensor waits: a is at its cap of 1
  CHECK(r2.tis[0].state == TaskState::scheduled);
  CHECK(e.d->blocks(r2, 0) == std::vector<std::string>{"namespace a: 1 of 1 running (max_running_tasks)"});
  SchedulerMetrics m;
  e.d->metrics(m);
  CHECK(m.namespaces["a"].running == 4);  // three queued for workers, one sensor
  (void)r;
}
