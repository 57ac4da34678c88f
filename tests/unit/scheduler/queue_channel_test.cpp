// The store-queue channel on its own: an offered try becomes a queue row in
// the turn's write, rendered, and nobody claims it at once; a withdrawn one
// leaves the queue.
#include <catch2/catch.hpp>

#include "loop.h"
#include "parts_runs.h"
#include "parts_support.h"
#include "queue_channel.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {

struct NoHost final : RemoteHost {
  void claimed(ActiveRun&, int, const std::string&, TimePoint) override {}
  void finished(const executor::Finished&) override {}
  void apply(ActiveRun&, const std::vector<Transition>&) override {}
  void dispatch() override {}
  void write() override {}
};

}  // namespace

TEST_CASE("queue channel: an offered try is a rendered queue row and a queued try record; withdrawn, it leaves") {
  testing::PartsStore s;
  Loop loop(s.clock);
  ActiveRuns runs;
  NoHost host;
  executor::RenderServices render{
      [](const std::string&, const std::string& n) { return std::optional<std::string>("v-" + n); },
      [](const std::string&, const std::string&) -> Result<std::string> { return Error::not_found("no"); },
      {}};
  QueueChannel channel(*s.store, s.clock, loop, runs, host, {"/logs", 1s, 30s}, render);
  auto g = testing::compile(
      "dag: q\ntasks:\n  a: {command: 'echo {{ var.x }}', queue: gpu, pool: p, pool_slots: 2, priority: 3}\n");
  ActiveRun& r = runs.add(testing::make_active_run(g, s.clock, 1, *parse_utc("2026-11-21T00:00:00Z")));
  (void)r.engine->start();
  REQUIRE(r.engine->queue(0));
  r.tis[0].attempt_token = "tok";
  CHECK_FALSE(channel.offer(r, 0));  // a remote worker claims it later
  auto& batch = loop.batch();
  REQUIRE(batch.enqueue.size() == 1);
  const auto& q = batch.enqueue[0];
  CHECK(q.attempt_token == "tok");
  CHECK(q.queue == "gpu");
  CHECK(q.pool == "p");
  CHECK(q.pool_slots == 2);
  CHECK(q.priority == 3);
  CHECK(q.try_number == 1);
  CHECK(q.payload.find("\"command\":\"echo v-x\"") != std::string::npos);
  CHECK(q.payload.find("\"zombie_timeout_us\":30000000") != std::string::npos);
  CHECK(q.latest_start == store::QueueItem::kNoLatestStart);  // no SLA
  REQUIRE(batch.tries.size() == 1);
  CHECK(batch.tries[0].state == TaskState::queued);
  CHECK(batch.tries[0].log_path == "q/run1/a/1.log");
  channel.withdraw(r, 0);
  CHECK(batch.dequeue == std::vector<std::string>{"tok"});
  CHECK(channel.lost().empty());  // nothing running
  // A run with 5 minutes of slack: its try must start within them (claims
  // take the earliest first within a priority, SPEC §7); not with slack
  // ordering off.
  for (bool on : {true, false}) {
    channel.set_slack_order(on);
    ActiveRun& tight = runs.add(testing::make_active_run(g, s.clock, on ? 2 : 3, *parse_utc("2026-11-21T00:00:00Z")));
    tight.slack = 5 * 60 * 1000;
    (void)tight.engine->start();
    REQUIRE(tight.engine->queue(0));
    tight.tis[0].attempt_token = on ? "tok-on" : "tok-off";
    CHECK_FALSE(channel.offer(tight, 0));
    CHECK(batch.enqueue.back().latest_start ==
          (on ? (s.clock.now() + std::chrono::minutes(5)).time_since_epoch().count() : store::QueueItem::kNoLatestStart));
  }
}
