// The dispatcher on its own, with a fake host: the order of the ready set,
// worker slots, pools, what takes no worker, and the remote queue.
#include <catch2/catch.hpp>

#include "dispatcher_env.h"

using namespace baton;
using namespace baton::scheduler;
using namespace baton::scheduler::testing_dispatch;

TEST_CASE("dispatcher: live runs before backfills, then higher priority, then older; within the worker slots") {
  Env e(2);
  auto plain = testing::compile("dag: p\ntasks:\n  a: {command: 'true'}\n");
  auto urgent = testing::compile("dag: u\ntasks:\n  a: {command: 'true', priority: 5}\n");
  e.start(urgent, 1, "2026-11-01T00:00:00Z", 7);  // a backfill's, however urgent
  e.start(plain, 2, "2026-11-21T00:00:00Z");
  e.start(plain, 3, "2026-11-20T00:00:00Z");
  ActiveRun& waiting = e.start(urgent, 4, "2026-11-21T00:00:00Z");
  e.d->dispatch();
  CHECK(e.handed() == std::vector<long long>{4, 3});
  // Both slots are busy: the next one says so.
  auto why = e.d->blocks(*e.runs.find(2), 0);
  REQUIRE(why.size() == 1);
  CHECK(why[0] == "workers: 2 of 2 slots busy");
  CHECK(waiting.tis[0].state == TaskState::running);
  CHECK(waiting.tis[0].attempt_token);
  CHECK(waiting.tis[0].worker == std::optional<std::string>("w1"));
  CHECK(e.channel.offered.size() == 2);
  e.d->slot_freed();
  e.d->dispatch();
  CHECK(e.handed() == std::vector<long long>{2});
  e.d->slot_freed();
  e.d->dispatch();
  CHECK(e.handed() == std::vector<long long>{1});
  // Each began with a running try in the turn's write.
  CHECK(e.loop.batch().tries.size() == 4);
  CHECK(e.loop.batch().tries[0].state == TaskState::running);
}

TEST_CASE("dispatcher: a noop is finished here, a sensor goes to the pokers, a trigger_dag to the loop; no worker") {
  Env e(1);
  auto g = testing::compile(
      "dag: m\ntasks:\n  n: {type: noop}\n  s: {type: sensor.file, path: /nonexistent, poke_interval: 1m}\n"
      "  t: {type: trigger_dag, dag: other}\n  sh: {command: 'true'}\n");
  e.start(g, 1, "2026-11-21T00:00:00Z");
  e.d->dispatch();
  CHECK(e.host.finished_noops.size() == 1);
  CHECK(e.host.poked == std::vector<std::string>{"s"});
  CHECK(e.host.triggered == std::vector<std::string>{"t"});
  CHECK(e.handed() == std::vector<long long>{1});  // the shell task still had the one worker
}

TEST_CASE("dispatcher: a pool's slots bound its tries, and the reason names the pool") {
  Env e(8);
  REQUIRE(e.s.store->put_pool({"p", 1, ""}, "test").ok());
  e.d->refresh_pools(*e.s.store);
  auto g = testing::compile("dag: q\ntasks:\n  a: {command: 'true', pool: p}\n  b: {command: 'true', pool: p}\n");
  ActiveRun& r = e.start(g, 1, "2026-11-21T00:00:00Z");
  e.d->dispatch();
  CHECK(e.handed().size() == 1);
  int waiting = r.tis[0].state == TaskState::scheduled ? 0 : 1;
  auto why = e.d->blocks(r, waiting);
  REQUIRE(why.size() == 1);
  CHECK(why[0] == "pool p: 1 of 1 slots taken");
  // The first try ends: its slot goes to the second.
  int done = 1 - waiting;
  e.host.apply(r, *r.engine->finish_try(done, TryOutcome::success));
  e.d->slot_freed();
  e.d->dispatch();
  CHECK(e.handed().size() == 1);
  CHECK(r.tis[static_cast<size_t>(waiting)].state == TaskState::running);
}

TEST_CASE("dispatcher: a try the workers claim later stays queued, then begins on the worker that claimed it") {
  Env e(0, true);
  auto g = testing::compile("dag: r\ntasks:\n  a: {command: 'echo hi'}\n");
  ActiveRun& r = e.start(g, 1, "2026-11-21T00:00:00Z");
  e.d->dispatch();
  CHECK(e.channel.offered == std::vector<long long>{1});
  CHECK(e.handed().empty());
  CHECK(r.tis[0].state == TaskState::queued);
  CHECK(r.tis[0].attempt_token);
  CHECK_FALSE(r.tis[0].worker);
  auto why = e.d->remote_blocks(r, 0, nullptr);
  REQUIRE_FALSE(why.empty());
  CHECK(why[0] == "waiting for a remote worker on queue default to claim it");
  e.d->claimed(r, 0, "w7");
  CHECK(r.tis[0].state == TaskState::running);
  CHECK(r.tis[0].worker == std::optional<std::string>("w7"));
  CHECK(e.loop.batch().tries.back().state == TaskState::running);
  CHECK(e.loop.batch().tries.back().worker == std::optional<std::string>("w7"));
  CHECK(e.handed() == std::vector<long long>{1});
}
