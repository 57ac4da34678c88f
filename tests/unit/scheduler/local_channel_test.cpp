// The local worker channel on its own: an offered try is claimed at once by
// the process's slots; a running try whose heartbeat is older than the
// zombie timeout is lost (a sensor's or trigger_dag's never: the scheduler
// carries those out itself).
#include <catch2/catch.hpp>

#include "local_channel.h"
#include "parts_runs.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

TEST_CASE("local channel: the process's slots claim at once; silent tries are lost after the zombie timeout") {
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  ActiveRuns runs;
  executor::LocalWorkers workers(clock, "/tmp", 1s, {});
  LocalChannel channel(clock, runs, workers, "host:1", {"/tmp/logs", 1s, 60s});
  auto g = testing::compile(
      "dag: z\ntasks:\n  a: {command: 'true'}\n  s: {type: sensor.file, path: /nonexistent, poke_interval: 1m}\n");
  ActiveRun& r = runs.add(testing::make_active_run(g, clock, 1, clock.now()));
  CHECK(channel.offer(r, 0) == std::optional<std::string>("host:1/local"));
  for (int ti : {0, 1}) {
    r.tis[static_cast<size_t>(ti)].state = TaskState::running;
    r.tis[static_cast<size_t>(ti)].heartbeat_at = clock.now();
    runs.running_tis().insert({1, ti});
  }
  clock.advance(60s);
  CHECK(channel.lost().empty());
  clock.advance(1s);
  auto lost = channel.lost();
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].run_pk == 1);
  CHECK(lost[0].ti == 0);
  CHECK(lost[0].why == "no heartbeat for 1m");
}
