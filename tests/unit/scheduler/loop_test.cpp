// The loop on its own: group commit, the write of a turn (rows collapsed to
// their last version, a stale epoch refused), and wake-ups.
#include <catch2/catch.hpp>

#include <future>

#include "active_runs.h"
#include "baton/core/ids.h"
#include "loop.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {

// A run of DAG `d` in the store, as create_run made it.
store::Store::Created make_run(store::Store& s, const dsl::DagGraphPtr& g) {
  store::DagVersionRecord v;
  v.dag_id = g->dag_id();
  v.version = g->hash();
  v.compiled = g->canonical_json();
  v.source = "dag: d\n";
  v.file = "d.yaml";
  REQUIRE(s.register_dag_version(v, "default", partition_of(g->dag_id()), "test").ok());
  store::RunRecord r;
  r.dag_id = g->dag_id();
  r.run_type = "manual";
  r.run_id = "manual__1";
  r.dag_version = g->hash();
  r.params = "{}";
  auto c = s.create_run(r, task_instances_for(*g), "test", {});
  REQUIRE(c.ok());
  return *c;
}

}  // namespace

TEST_CASE("loop: events posted together end in one turn (group commit)") {
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  Loop loop(clock);
  int turns = 0;
  loop.set_end_turn([&] { ++turns; });
  for (int i = 0; i < 3; ++i) loop.post([&] { loop.request_flush(); });
  loop.run_ready();
  CHECK(turns == 1);
  loop.post([&] { loop.request_flush(); });
  loop.run_ready();
  CHECK(turns == 2);
}

TEST_CASE("loop: a turn's write keeps only the last version of each row") {
  testing::PartsStore s;
  auto g = testing::compile("dag: d\ntasks:\n  a: {type: noop}\n");
  auto made = make_run(*s.store, g);
  Loop loop(s.clock);
  store::RunRecord run = made.run;
  for (RunState st : {RunState::running, RunState::failed, RunState::success}) {
    run.state = st;
    loop.batch().runs.push_back(run);
  }
  auto w = loop.write(*s.store, {});
  CHECK_FALSE(w.fenced);
  CHECK(loop.batch().empty());
  auto back = s.store->get_run("d", "manual__1");
  REQUIRE(back.ok());
  CHECK(back->state == RunState::success);
}

TEST_CASE("loop: a write under a stale epoch is refused whole, dropped and reported") {
  testing::PartsStore s;
  auto g = testing::compile("dag: d\ntasks:\n  a: {type: noop}\n");
  auto made = make_run(*s.store, g);
  for (const char* owner : {"me", "other"}) {
    std::vector<std::pair<int, std::optional<std::string>>> all;
    for (int p = 0; p < kPartitions; ++p) all.push_back({p, std::string(owner)});
    REQUIRE(s.store->assign_partitions(all, "test").ok());  // moved to another: a new epoch
  }
  Loop loop(s.clock);
  store::RunRecord run = made.run;
  run.state = RunState::failed;
  loop.batch().runs.push_back(run);
  loop.audit("me", "run.canceled", "dag:d/manual__1", "{}");
  auto w = loop.write(*s.store, {{partition_of("d"), 1}});
  REQUIRE(w.fenced);
  CHECK(w.fenced->code == "stale_epoch");
  CHECK(loop.batch().empty());
  CHECK(s.store->get_run("d", "manual__1")->state == RunState::queued);
}

TEST_CASE("loop: a deadline that passed wakes the loop, and the turn follows") {
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  Loop loop(clock);
  std::vector<std::string> seen;
  std::promise<void> turned;
  loop.set_on_wake([&] { seen.push_back("wake"); });
  loop.set_end_turn([&] {
    seen.push_back("turn");
    if (seen.size() == 2) turned.set_value();
  });
  loop.start();
  loop.post([&] { loop.wake_at(clock.now() - 1s); });
  REQUIRE(turned.get_future().wait_for(10s) == std::future_status::ready);
  loop.set_stopping();
  loop.stop();
  CHECK(seen == std::vector<std::string>{"wake", "turn"});
}
