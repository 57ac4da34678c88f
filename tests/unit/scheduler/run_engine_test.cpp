// Scheduling semantics of one run, driven by a fake clock: readiness by
// trigger rule, propagation of skips and failures, retry timings, run states,
// cancel, clear and mark.
#include <catch2/catch.hpp>

#include <algorithm>

#include "baton/dsl/compiler.h"
#include "baton/scheduler/run_engine.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {

dsl::DagGraphPtr compile(const std::string& yaml) {
  auto r = dsl::compile_dag(yaml, "test.yaml");
  std::string errors;
  for (auto& e : r.errors) errors += e.format() + "\n";
  INFO(errors);
  REQUIRE(r.graph);
  return r.graph;
}

struct Fixture {
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  dsl::DagGraphPtr graph;
  std::unique_ptr<RunEngine> run;

  explicit Fixture(const std::string& yaml) : graph(compile(yaml)) {
    run = std::make_unique<RunEngine>(graph, clock);
  }
  TaskState state(const std::string& task) const {
    return run->instances()[static_cast<size_t>(run->index_of(task))].state;
  }
  const TaskInstance& ti(const std::string& task) const {
    return run->instances()[static_cast<size_t>(run->index_of(task))];
  }
  // Queue, start and finish one try of a scheduled task.
  void run_try(const std::string& task, TryOutcome outcome) {
    int i = run->index_of(task);
    REQUIRE(state(task) == TaskState::scheduled);
    REQUIRE(run->queue(i).ok());
    REQUIRE(run->begin_try(i).ok());
    auto r = run->finish_try(i, outcome);
    INFO((r.ok() ? "" : r.error().message));
    REQUIRE(r.ok());
  }
};

const char* kChain =
    "dag: chain\n"
    "tasks:\n"
    "  extract: {type: noop}\n"
    "  transform: {type: noop, depends_on: [extract]}\n"
    "  load: {type: noop, depends_on: [transform]}\n";

}  // namespace

TEST_CASE("a new run schedules only its roots; a finished try wakes its downstream") {
  Fixture f(kChain);
  CHECK(f.run->state() == RunState::queued);
  auto started = f.run->start();
  CHECK(f.run->state() == RunState::running);
  CHECK(f.state("extract") == TaskState::scheduled);
  CHECK(f.state("transform") == TaskState::pending);
  f.run_try("extract", TryOutcome::success);
  CHECK(f.state("transform") == TaskState::scheduled);
  CHECK(f.state("load") == TaskState::pending);
  f.run_try("transform", TryOutcome::success);
  f.run_try("load", TryOutcome::success);
  CHECK(f.run->state() == RunState::success);
}

TEST_CASE("a failure fails its downstream and the run") {
  Fixture f(kChain);
  f.run->start();
  f.run_try("extract", TryOutcome::failed);
  CHECK(f.state("extract") == TaskState::failed);
  CHECK(f.state("transform") == TaskState::upstream_failed);
  CHECK(f.state("load") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);
  CHECK(f.ti("transform").reason.find("trigger rule all_success") != std::string::npos);
}

TEST_CASE("trigger rules decide cleanup, alerting and skip propagation") {
  Fixture f("dag: rules\n"
            "tasks:\n"
            "  a: {type: noop}\n"
            "  b: {type: noop}\n"
            "  join: {type: noop, depends_on: [a, b]}\n"
            "  cleanup: {type: noop, depends_on: [a, b], trigger_rule: all_done}\n"
            "  alert: {type: noop, depends_on: [a, b], trigger_rule: one_failed}\n"
            "  after_join: {type: noop, depends_on: [join]}\n"
            "  whatever: {type: noop, depends_on: [join], trigger_rule: always}\n");
  f.run->start();
  CHECK(f.state("whatever") == TaskState::scheduled);  // always: runs at once
  f.run_try("a", TryOutcome::skipped);
  CHECK(f.state("join") == TaskState::skipped);
  CHECK(f.state("after_join") == TaskState::skipped);  // skips propagate
  CHECK(f.state("cleanup") == TaskState::pending);
  f.run_try("b", TryOutcome::failed);
  CHECK(f.state("cleanup") == TaskState::scheduled);
  CHECK(f.state("alert") == TaskState::scheduled);
  f.run_try("cleanup", TryOutcome::success);
  f.run_try("alert", TryOutcome::success);
  f.run_try("whatever", TryOutcome::success);
  CHECK(f.run->state() == RunState::failed);  // b failed
}

TEST_CASE("a run of only skipped and successful tasks succeeds") {
  Fixture f("dag: s\ntasks:\n  a: {type: noop}\n  b: {type: noop, depends_on: [a]}\n");
  f.run->start();
  f.run_try("a", TryOutcome::skipped);
  CHECK(f.state("b") == TaskState::skipped);
  CHECK(f.run->state() == RunState::success);
}

TEST_CASE("retries: fixed delay, then failure when tries run out") {
  Fixture f("dag: r\ntasks:\n  a: {command: 'false', retries: 2, retry_delay: 30s}\n  b: {type: noop, depends_on: [a]}\n");
  f.run->start();
  f.run_try("a", TryOutcome::failed);
  CHECK(f.state("a") == TaskState::up_for_retry);
  CHECK(f.state("b") == TaskState::pending);
  CHECK(*f.run->next_wake() == f.clock.now() + 30s);
  auto why = f.run->waiting_for(f.run->index_of("a"));
  REQUIRE(why.size() == 1);
  CHECK(why[0] == "retry at 2026-11-22T10:00:30Z (try 2 of 3)");
  f.clock.advance(29s);
  CHECK(f.run->wake_due().empty());
  f.clock.advance(1s);
  CHECK(f.run->wake_due().size() == 1);
  f.run_try("a", TryOutcome::timeout);
  CHECK(f.ti("a").reason == "timeout");
  f.clock.advance(30s);
  f.run->wake_due();
  f.run_try("a", TryOutcome::worker_lost);
  CHECK(f.state("a") == TaskState::failed);
  CHECK(f.ti("a").try_number == 3);
  CHECK(f.ti("a").reason == "worker_lost");
  CHECK(f.state("b") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);
}

TEST_CASE("retries: exponential backoff capped by max_retry_delay") {
  Fixture f("dag: r\ntasks:\n  a:\n    command: 'false'\n    retries: 5\n    retry_delay: 10s\n"
            "    retry_backoff: exponential\n    max_retry_delay: 35s\n");
  f.run->start();
  std::vector<Duration> delays;
  for (int i = 0; i < 5; ++i) {
    f.run_try("a", TryOutcome::failed);
    REQUIRE(f.state("a") == TaskState::up_for_retry);
    delays.push_back(*f.run->next_wake() - f.clock.now());
    f.clock.set(*f.run->next_wake());
    f.run->wake_due();
  }
  CHECK(delays == std::vector<Duration>{10s, 20s, 35s, 35s, 35s});
}

TEST_CASE("retry jitter adds at most 10 %") {
  Fixture f("dag: r\ntasks:\n  a: {command: 'false', retries: 1, retry_delay: 100s, retry_jitter: true}\n");
  f.run->start();
  f.run_try("a", TryOutcome::failed);
  Duration d = *f.run->next_wake() - f.clock.now();
  CHECK(d >= 100s);
  CHECK(d < 110s);
}

TEST_CASE("success ends a retrying task's trouble") {
  Fixture f("dag: r\ntasks:\n  a: {command: x, retries: 1, retry_delay: 0}\n  b: {type: noop, depends_on: [a]}\n");
  f.run->start();
  f.run_try("a", TryOutcome::failed);
  f.run->wake_due();
  f.run_try("a", TryOutcome::success);
  CHECK(f.state("b") == TaskState::scheduled);
  CHECK(f.ti("a").try_number == 2);
}

TEST_CASE("cancel: unfinished task instances are canceled, finished ones stay") {
  Fixture f(kChain);
  f.run->start();
  f.run_try("extract", TryOutcome::success);
  int t = f.run->index_of("transform");
  REQUIRE(f.run->queue(t).ok());
  REQUIRE(f.run->begin_try(t).ok());
  auto out = f.run->cancel();
  CHECK(f.state("extract") == TaskState::success);
  CHECK(f.state("transform") == TaskState::canceled);  // the scheduler kills its process
  CHECK(f.state("load") == TaskState::canceled);
  CHECK(f.run->state() == RunState::canceled);
  bool saw_running_canceled = false;
  for (auto& tr : out) saw_running_canceled |= tr.ti == t && tr.from == TaskState::running;
  CHECK(saw_running_canceled);
  // A late report from the killed try is refused.
  CHECK_FALSE(f.run->finish_try(t, TryOutcome::success).ok());
}

TEST_CASE("clear with downstream reruns them; the try counter goes on") {
  Fixture f(kChain);
  f.run->start();
  f.run_try("extract", TryOutcome::success);
  f.run_try("transform", TryOutcome::failed);
  REQUIRE(f.run->state() == RunState::failed);
  auto r = f.run->clear("transform", true);
  REQUIRE(r.ok());
  CHECK(f.run->state() == RunState::running);
  CHECK(f.state("extract") == TaskState::success);
  CHECK(f.state("transform") == TaskState::scheduled);
  CHECK(f.state("load") == TaskState::pending);
  f.run_try("transform", TryOutcome::success);
  CHECK(f.ti("transform").try_number == 2);
  f.run_try("load", TryOutcome::success);
  CHECK(f.run->state() == RunState::success);
  CHECK(f.run->clear("nope", false).error().code == "not_found");
}

TEST_CASE("clear without downstream leaves downstream as it was; running tasks cannot be cleared") {
  Fixture f(kChain);
  f.run->start();
  f.run_try("extract", TryOutcome::success);
  int t = f.run->index_of("transform");
  REQUIRE(f.run->queue(t).ok());
  REQUIRE(f.run->begin_try(t).ok());
  auto busy = f.run->clear("extract", true);
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.error().message == "task transform is running: wait for it to finish, or cancel the run");
  REQUIRE(f.run->clear("extract", false).ok());
  CHECK(f.state("extract") == TaskState::scheduled);
  CHECK(f.state("transform") == TaskState::running);
}

TEST_CASE("mark success unblocks downstream; mark failed fails it") {
  Fixture f(kChain);
  f.run->start();
  REQUIRE(f.run->mark("extract", TaskState::success).ok());
  CHECK(f.state("transform") == TaskState::scheduled);
  REQUIRE(f.run->mark("transform", TaskState::failed).ok());
  CHECK(f.state("load") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);
  REQUIRE(f.run->mark("transform", TaskState::success).ok());
  CHECK(f.state("load") == TaskState::upstream_failed);  // decided; a clear reruns it
  CHECK(f.run->mark("load", TaskState::running).error().code == "invalid_argument");
}

TEST_CASE("waiting_for names the upstream tasks and the trigger rule") {
  Fixture f("dag: w\ntasks:\n  a: {type: noop}\n  b: {type: noop}\n  c: {type: noop, depends_on: [a, b]}\n");
  f.run->start();
  f.run_try("a", TryOutcome::success);
  auto why = f.run->waiting_for(f.run->index_of("c"));
  REQUIRE(why.size() == 2);
  CHECK(why[0] == "upstream b is scheduled");
  CHECK(why[1] == "trigger rule all_success: 1 of 2 upstream tasks finished, 1 succeeded");
}

TEST_CASE("illegal moves are refused") {
  Fixture f(kChain);
  f.run->start();
  int load = f.run->index_of("load");
  CHECK_FALSE(f.run->queue(load).ok());        // pending, not scheduled
  CHECK_FALSE(f.run->begin_try(load).ok());
  CHECK_FALSE(f.run->finish_try(load, TryOutcome::success).ok());
  CHECK_FALSE(f.run->queue(99).ok());
}

TEST_CASE("depends_on_past holds only a decision to run, and says why") {
  Fixture f(
      "dag: past\n"
      "tasks:\n"
      "  a: {type: noop, depends_on_past: true}\n"
      "  b: {type: noop, depends_on: [a]}\n"
      "  c: {type: noop, depends_on: [b], depends_on_past: true}\n");
  std::string why = "depends_on_past: task a of the previous run scheduled__20261121T000000Z is failed";
  f.run->set_past_block(f.run->index_of("a"), why);
  f.run->set_past_block(f.run->index_of("c"), "depends_on_past: task c of the previous run is running");
  f.run->start();
  CHECK(f.state("a") == TaskState::pending);
  auto reasons = f.run->waiting_for(f.run->index_of("a"));
  CHECK(std::find(reasons.begin(), reasons.end(), why) != reasons.end());
  // The previous run's task succeeded (cleared and rerun): a is scheduled at once.
  auto t = f.run->set_past_block(f.run->index_of("a"), "");
  REQUIRE(t.size() == 1);
  CHECK(t[0].to == TaskState::scheduled);
  f.run_try("a", TryOutcome::failed);
  // An upstream failure is decided without waiting for the past.
  CHECK(f.state("b") == TaskState::upstream_failed);
  CHECK(f.state("c") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);
}

TEST_CASE("a sensor waits between pokes in one try, and fails at its timeout counted from the first poke") {
  Fixture f(
      "dag: s\n"
      "tasks:\n"
      "  wait: {type: sensor.file, path: /tmp/x, poke_interval: 30s, timeout: 100s}\n"
      "  after: {type: noop, depends_on: [wait]}\n");
  f.run->start();
  int i = f.run->index_of("wait");
  f.run_try("wait", TryOutcome::reschedule);  // poke 1 at 10:00:00
  CHECK(f.state("wait") == TaskState::waiting);
  CHECK(f.ti("wait").try_number == 1);
  CHECK(f.ti("wait").wake_at == *parse_utc("2026-11-22T10:00:30Z"));
  CHECK(f.state("after") == TaskState::pending);
  CHECK(f.run->next_wake() == *parse_utc("2026-11-22T10:00:30Z"));
  auto why = f.run->waiting_for(i);
  CHECK(std::find(why.begin(), why.end(), "next poke at 2026-11-22T10:00:30Z") != why.end());
  CHECK(std::find(why.begin(), why.end(), "gives up at 2026-11-22T10:01:40Z (timeout)") != why.end());

  f.clock.advance(29s);
  CHECK(f.run->wake_due().empty());
  f.clock.advance(1s);
  CHECK(f.run->wake_due().size() == 1);
  CHECK(f.state("wait") == TaskState::scheduled);
  f.run_try("wait", TryOutcome::reschedule);  // poke 2, the same try
  CHECK(f.ti("wait").try_number == 1);
  CHECK(f.ti("wait").started_at == *parse_utc("2026-11-22T10:00:00Z"));

  // The last pokes come at the deadline, not after it.
  f.clock.advance(30s);
  f.run->wake_due();
  f.run_try("wait", TryOutcome::reschedule);  // poke 3 at 10:01:00
  CHECK(f.ti("wait").wake_at == *parse_utc("2026-11-22T10:01:30Z"));
  f.clock.advance(30s);
  f.run->wake_due();
  f.run_try("wait", TryOutcome::reschedule);  // poke 4 at 10:01:30
  CHECK(f.ti("wait").wake_at == *parse_utc("2026-11-22T10:01:40Z"));
  f.clock.advance(10s);
  f.run->wake_due();
  f.run_try("wait", TryOutcome::reschedule);  // poke 5 at the deadline: not met
  CHECK(f.state("wait") == TaskState::failed);
  CHECK(f.ti("wait").reason == "timeout");
  CHECK(f.state("after") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);
}

TEST_CASE("a sensor whose condition is met succeeds; a waiting one is canceled with its run") {
  Fixture f(
      "dag: s\n"
      "tasks:\n"
      "  wait: {type: sensor.http, url: 'http://127.0.0.1:1/', poke_interval: 5s}\n"
      "  other: {type: sensor.file, path: x, poke_interval: 5s}\n"
      "  after: {type: noop, depends_on: [wait]}\n");
  f.run->start();
  f.run_try("wait", TryOutcome::reschedule);
  f.run_try("other", TryOutcome::reschedule);
  f.clock.advance(5s);
  f.run->wake_due();
  f.run_try("wait", TryOutcome::success);
  CHECK(f.state("wait") == TaskState::success);
  CHECK(f.ti("wait").try_number == 1);
  CHECK(f.state("after") == TaskState::scheduled);
  f.run->cancel();
  CHECK(f.state("other") == TaskState::canceled);
  CHECK(f.run->state() == RunState::canceled);
}

// ---- foreach: dynamic fan-out ----

namespace {

const char* kFanOut =
    "dag: fan\n"
    "tasks:\n"
    "  list: {type: noop}\n"
    "  each: {command: 'echo {{ item }}', foreach: [a, b, c], retries: 1, depends_on: [list]}\n"
    "  after: {type: noop, depends_on: [each]}\n";

// Runs one try of the mapped instance `k` of `task`.
void run_mapped(Fixture& f, const std::string& task, int k, TryOutcome outcome) {
  int i = f.run->instance_of(f.run->index_of(task), k);
  REQUIRE(i >= 0);
  REQUIRE(f.run->instances()[static_cast<size_t>(i)].state == TaskState::scheduled);
  REQUIRE(f.run->queue(i).ok());
  REQUIRE(f.run->begin_try(i).ok());
  REQUIRE(f.run->finish_try(i, outcome).ok());
}

}  // namespace

TEST_CASE("foreach: expanded into mapped instances; downstream waits for every one") {
  Fixture f(kFanOut);
  f.run->start();
  f.run_try("list", TryOutcome::success);
  int each = f.run->index_of("each");
  CHECK(f.state("each") == TaskState::scheduled);
  CHECK(f.run->needs_expansion(each));
  CHECK(f.run->queue(each).error().code == "conflict");  // it is not run itself
  auto e = f.run->expand(each, 3);
  REQUIRE(e.ok());
  CHECK(f.state("each") == TaskState::pending);
  CHECK(f.ti("each").reason == "mapped over 3 items");
  REQUIRE(f.run->mapped(each).size() == 3);
  CHECK(f.run->instances().size() == 6);
  for (int k = 0; k < 3; ++k) {
    const auto& c = f.run->instances()[static_cast<size_t>(f.run->instance_of(each, k))];
    CHECK(c.map_index == k);
    CHECK(c.task == each);
    CHECK(c.state == TaskState::scheduled);
  }
  CHECK_FALSE(f.run->needs_expansion(each));
  CHECK_FALSE(f.run->expand(each, 3).ok());  // once
  run_mapped(f, "each", 0, TryOutcome::success);
  run_mapped(f, "each", 2, TryOutcome::success);
  CHECK(f.state("each") == TaskState::pending);
  CHECK(f.state("after") == TaskState::pending);
  CHECK(f.run->waiting_for(each) == std::vector<std::string>{"2 of 3 mapped instances finished"});
  run_mapped(f, "each", 1, TryOutcome::skipped);
  CHECK(f.state("each") == TaskState::success);
  CHECK(f.state("after") == TaskState::scheduled);
  f.run_try("after", TryOutcome::success);
  CHECK(f.run->state() == RunState::success);
}

TEST_CASE("foreach: a mapped instance retries on its own; one failure fails the task and its downstream") {
  Fixture f(kFanOut);
  f.run->start();
  f.run_try("list", TryOutcome::success);
  int each = f.run->index_of("each");
  REQUIRE(f.run->expand(each, 3).ok());
  run_mapped(f, "each", 0, TryOutcome::success);
  run_mapped(f, "each", 1, TryOutcome::failed);
  const auto& one = f.run->instances()[static_cast<size_t>(f.run->instance_of(each, 1))];
  CHECK(one.state == TaskState::up_for_retry);
  f.clock.advance(31s);
  f.run->wake_due();
  run_mapped(f, "each", 1, TryOutcome::failed);
  CHECK(one.state == TaskState::failed);
  CHECK(f.state("each") == TaskState::pending);  // [2] is still to run
  run_mapped(f, "each", 2, TryOutcome::success);
  CHECK(f.state("each") == TaskState::failed);
  CHECK(f.ti("each").reason == "1 of 3 mapped instances failed");
  CHECK(f.state("after") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);

  // Clear reruns every mapped instance over the same items, then downstream.
  REQUIRE(f.run->clear("each", true).ok());
  CHECK(f.run->state() == RunState::running);
  CHECK(f.run->mapped(each).size() == 3);
  for (int k = 0; k < 3; ++k) run_mapped(f, "each", k, TryOutcome::success);
  CHECK(f.state("each") == TaskState::success);
  f.run_try("after", TryOutcome::success);
  CHECK(f.run->state() == RunState::success);
}

TEST_CASE("foreach: a clear of its upstream with downstream reruns the mapped instances after it") {
  Fixture f(kFanOut);
  f.run->start();
  f.run_try("list", TryOutcome::success);
  int each = f.run->index_of("each");
  REQUIRE(f.run->expand(each, 2).ok());
  run_mapped(f, "each", 0, TryOutcome::success);
  run_mapped(f, "each", 1, TryOutcome::success);
  f.run_try("after", TryOutcome::success);
  REQUIRE(f.run->state() == RunState::success);
  REQUIRE(f.run->clear("list", true).ok());
  for (int k : f.run->mapped(each)) CHECK(f.run->instances()[static_cast<size_t>(k)].state == TaskState::pending);
  f.run_try("list", TryOutcome::success);
  run_mapped(f, "each", 0, TryOutcome::success);
  run_mapped(f, "each", 1, TryOutcome::success);
  CHECK(f.state("each") == TaskState::success);
  f.run_try("after", TryOutcome::success);
  CHECK(f.run->state() == RunState::success);

  // An upstream that fails this time decides the mapped instances, then the task.
  REQUIRE(f.run->clear("list", true).ok());
  f.run_try("list", TryOutcome::failed);
  for (int k : f.run->mapped(each))
    CHECK(f.run->instances()[static_cast<size_t>(k)].state == TaskState::upstream_failed);
  CHECK(f.state("each") == TaskState::upstream_failed);
  CHECK(f.state("after") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);
}

TEST_CASE("foreach: an empty list skips the task; a list that cannot be worked out fails it") {
  Fixture f(kFanOut);
  f.run->start();
  f.run_try("list", TryOutcome::success);
  int each = f.run->index_of("each");
  REQUIRE(f.run->expand(each, 0).ok());
  CHECK(f.state("each") == TaskState::skipped);
  CHECK(f.state("after") == TaskState::skipped);
  CHECK(f.run->state() == RunState::success);

  // A clear works the list out again.
  REQUIRE(f.run->clear("each", true).ok());
  CHECK(f.run->needs_expansion(each));
  REQUIRE(f.run->expansion_failed(each, "foreach: expected a JSON list").ok());
  CHECK(f.state("each") == TaskState::failed);
  CHECK(f.ti("each").reason == "foreach: expected a JSON list");
  CHECK(f.state("after") == TaskState::upstream_failed);
  CHECK(f.run->state() == RunState::failed);
}

TEST_CASE("foreach: mark and cancel reach every mapped instance") {
  Fixture f(kFanOut);
  f.run->start();
  f.run_try("list", TryOutcome::success);
  int each = f.run->index_of("each");
  REQUIRE(f.run->expand(each, 3).ok());
  int one = f.run->instance_of(each, 1);
  REQUIRE(f.run->queue(one).ok());
  REQUIRE(f.run->begin_try(one).ok());
  auto m = f.run->mark("each", TaskState::success);
  REQUIRE(m.ok());
  for (int k : f.run->mapped(each)) CHECK(f.run->instances()[static_cast<size_t>(k)].state == TaskState::success);
  // The running one is among the transitions (the scheduler kills its try).
  CHECK(std::any_of(m->begin(), m->end(), [&](const Transition& t) { return t.ti == one && t.from == TaskState::running; }));
  CHECK(f.state("after") == TaskState::scheduled);

  // One mapped instance alone: its task follows once they all ended.
  Fixture one_by_one(kFanOut);
  one_by_one.run->start();
  one_by_one.run_try("list", TryOutcome::success);
  REQUIRE(one_by_one.run->expand(each, 2).ok());
  REQUIRE(one_by_one.run->mark_instance(one_by_one.run->instance_of(each, 0), TaskState::failed).ok());
  CHECK(one_by_one.state("each") == TaskState::pending);
  run_mapped(one_by_one, "each", 1, TryOutcome::success);
  CHECK(one_by_one.state("each") == TaskState::failed);
  CHECK(one_by_one.state("after") == TaskState::upstream_failed);
  CHECK(one_by_one.run->state() == RunState::failed);
  // Marked success after the task ended: the task takes the new aggregate.
  REQUIRE(one_by_one.run->mark_instance(one_by_one.run->instance_of(each, 0), TaskState::success).ok());
  CHECK(one_by_one.state("each") == TaskState::success);

  Fixture g(kFanOut);
  g.run->start();
  g.run_try("list", TryOutcome::success);
  REQUIRE(g.run->expand(each, 2).ok());
  g.run->cancel();
  CHECK(g.run->state() == RunState::canceled);
  for (int k : g.run->mapped(each)) CHECK(g.run->instances()[static_cast<size_t>(k)].state == TaskState::canceled);
  CHECK(g.state("each") == TaskState::canceled);
}

TEST_CASE("foreach: restore takes the mapped instances back; reconcile finishes what a crash left half done") {
  Fixture f(kFanOut);
  f.run->start();
  f.run_try("list", TryOutcome::success);
  int each = f.run->index_of("each");
  REQUIRE(f.run->expand(each, 2).ok());
  run_mapped(f, "each", 0, TryOutcome::success);
  run_mapped(f, "each", 1, TryOutcome::success);
  REQUIRE(f.state("after") == TaskState::scheduled);

  // As read back after a crash between the mapped instances' end and the
  // aggregate's write: `each` is still scheduled in the store.
  std::vector<TaskInstance> back = f.run->instances();
  back[static_cast<size_t>(each)].state = TaskState::scheduled;
  back[static_cast<size_t>(f.run->index_of("after"))].state = TaskState::pending;
  std::swap(back[3], back[4]);  // order of the mapped ones does not matter; their map_index does
  RunEngine again(f.graph, f.clock);
  REQUIRE(again.restore(RunState::running, back));
  CHECK(again.instance_of(each, 0) == 4);
  auto ts = again.reconcile();
  CHECK(again.instances()[static_cast<size_t>(each)].state == TaskState::success);
  CHECK(again.instances()[static_cast<size_t>(again.index_of("after"))].state == TaskState::scheduled);

  // A crash right after the mapped instances were written, before their
  // move to scheduled: they are pending, the task scheduled.
  std::vector<TaskInstance> early = f.run->instances();
  early[static_cast<size_t>(each)].state = TaskState::scheduled;
  early[static_cast<size_t>(f.run->index_of("after"))].state = TaskState::pending;
  for (size_t k = 3; k < early.size(); ++k) {
    TaskInstance fresh;  // as inserted: pending, no try
    fresh.task = each;
    fresh.map_index = early[k].map_index;
    early[k] = fresh;
  }
  RunEngine third(f.graph, f.clock);
  REQUIRE(third.restore(RunState::running, early));
  third.reconcile();
  CHECK(third.instances()[static_cast<size_t>(each)].state == TaskState::pending);
  for (int k : third.mapped(each)) CHECK(third.instances()[static_cast<size_t>(k)].state == TaskState::scheduled);

  // What does not fit is refused: a gap in the map indexes, a mapped
  // instance of a task without foreach.
  RunEngine bad(f.graph, f.clock);
  auto gap = back;
  gap[3].map_index = 5;
  CHECK_FALSE(bad.restore(RunState::running, gap));
  auto stray = back;
  stray[3].task = 0;
  CHECK_FALSE(bad.restore(RunState::running, stray));
  CHECK(bad.instances().size() == 3);
}

TEST_CASE("a try's start and end as its worker's server stored them, kept between its start and the engine's now") {
  Fixture f("dag: t\ntasks:\n  a: {command: 'true'}\n  b: {command: 'true'}\n");
  f.run->start();
  const TimePoint now = f.clock.now();
  // A claim and a report stored earlier than the owner applies them.
  int a = f.run->index_of("a");
  REQUIRE(f.run->queue(a).ok());
  REQUIRE(f.run->begin_try(a, now - 5s).ok());
  CHECK(f.ti("a").started_at == std::optional<TimePoint>(now - 5s));
  REQUIRE(f.run->finish_try(a, TryOutcome::success, "", now - 2s).ok());
  CHECK(f.ti("a").ended_at == std::optional<TimePoint>(now - 2s));
  // A server whose clock is ahead: never later than now; an end never
  // before its start.
  int b = f.run->index_of("b");
  REQUIRE(f.run->queue(b).ok());
  REQUIRE(f.run->begin_try(b, now + 1min).ok());
  CHECK(f.ti("b").started_at == std::optional<TimePoint>(now));
  REQUIRE(f.run->finish_try(b, TryOutcome::failed, "", now - 1h).ok());
  CHECK(f.ti("b").ended_at == std::optional<TimePoint>(now));
}
