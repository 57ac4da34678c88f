// The forecaster on its own, with a fake clock (SPEC §7): duration histories,
// a run's expected end (the longest remaining path at p90), SLA risks found
// before the deadline and recovered without a second notification, slow
// and stuck tries, progress as activity; and the dispatcher's order by slack.
#include <catch2/catch.hpp>

#include "dag_registry.h"
#include "dispatcher_env.h"
#include "forecast.h"
#include "loop.h"
#include "parts_runs.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {

struct Host final : ForecastHost {
  std::vector<std::pair<long long, long long>> slack;  // (run pk, new slack) per change
  std::vector<int> failed;
  std::function<void(ActiveRun&, int)> on_fail;
  bool remote = false;
  void slack_changed(ActiveRun& r, long long) override { slack.push_back({r.rec.pk, r.slack}); }
  void fail_stuck(ActiveRun& r, int ti) override {
    failed.push_back(ti);
    if (on_fail) on_fail(r, ti);
  }
  bool runs_remote(const ActiveRun&, int) const override { return remote; }
};

struct Env {
  testing::PartsStore s;
  Loop loop{s.clock};
  ActiveRuns runs;
  DagRegistry registry{*s.store, s.dags()};
  Host host;
  Forecaster f{*s.store, s.clock, loop, runs, host};

  dsl::DagGraphPtr dag(const std::string& file, const std::string& yaml) {
    s.write_dag(file, yaml);
    registry.scan(true);
    auto g = registry.current(file.substr(0, file.find('.')));
    REQUIRE(g);
    return g;
  }
  // Histories in the store (as successes write them), read as at start.
  void history(const std::string& dag_id, const std::string& task_id, const std::vector<double>& seconds) {
    store::WriteBatch b;
    long long seq = 0;
    for (double x : seconds) b.durations.push_back({dag_id, task_id, ++seq, x, s.clock.now()});
    REQUIRE(s.store->apply(b).ok());
    f.load();
  }
  // A manual run whose data interval ends now, started now.
  ActiveRun& run(const dsl::DagGraphPtr& g, long long pk) {
    ActiveRun& r = runs.add(testing::make_active_run(g, s.clock, pk, s.clock.now()));
    r.rec.data_interval_end = s.clock.now();
    f.run_adopted(r);
    (void)r.engine->start();
    r.rec.started_at = s.clock.now();
    f.run_started(r);
    return r;
  }
  void begin(ActiveRun& r, int ti) {
    REQUIRE(r.engine->queue(ti));
    REQUIRE(r.engine->begin_try(ti));
    f.task_moved(r, ti, TaskState::queued, TaskState::running, false);
    f.try_began(r, ti, r.engine->instances()[static_cast<size_t>(ti)].try_number);
  }
  void succeed(ActiveRun& r, int ti) {
    REQUIRE(r.engine->finish_try(ti, TryOutcome::success));
    f.task_moved(r, ti, TaskState::running, TaskState::success, true);
    f.settle();
  }
  // Time passes; what is due is checked.
  void at(Duration d) {
    s.clock.advance(d);
    f.wake(s.clock.now());
  }
  // The batch goes to the store, as the turn's write does.
  void write() {
    REQUIRE(s.store->apply(loop.batch()).ok());
    loop.batch() = store::WriteBatch{};
  }
  // A run in the store whose first task's try runs on a remote worker (as
  // its owner wrote it), so that a worker's writes land on its row.
  ActiveRun& remote_try(const dsl::DagGraphPtr& g) {
    store::RunRecord rec;
    rec.dag_id = g->dag_id();
    rec.run_id = "r1";
    rec.run_type = "manual";
    rec.logical_date = rec.data_interval_start = rec.data_interval_end = s.clock.now();
    rec.dag_version = g->hash();
    auto made = s.store->create_run(rec, task_instances_for(*g), "test");
    REQUIRE(made);
    ActiveRun a = testing::make_active_run(g, s.clock, made->run.pk, s.clock.now());
    a.tis = made->task_instances;
    ActiveRun& r = runs.add(std::move(a));
    (void)r.engine->start();
    begin(r, 0);
    r.tis[0].attempt_token = "tok";
    r.tis[0].state = TaskState::running;
    loop.batch().task_instances.push_back(r.tis[0]);
    write();
    return r;
  }
  // What store_progress records when the try's worker writes (a log chunk
  // or a progress line): its activity, now.
  void worker_wrote(const ActiveRun& r, int ti) {
    store::WriteBatch w;
    store::TaskInstanceRecord stored = r.tis[static_cast<size_t>(ti)];
    stored.last_activity_at = s.clock.now();
    w.task_instances.push_back(stored);
    REQUIRE(s.store->apply(w).ok());
  }
  std::vector<store::SlaRisk> risks() {
    auto l = s.store->list_sla_risks(std::nullopt, std::nullopt, 0, 100);
    REQUIRE(l);
    return *l;
  }
  size_t notifications(const std::string& dag_id, const std::string& event) {
    auto l = s.store->list_notifications(dag_id, 100);
    REQUIRE(l);
    return static_cast<size_t>(std::count_if(l->begin(), l->end(), [&](auto& n) { return n.event == event; }));
  }
};

constexpr const char* kChain =
    "dag: chain\nsla: {run_deadline: 1h}\nnotify: {on_sla_risk: [{command: 'cat >> risk.log'}]}\n"
    "tasks:\n  a: {command: 'true'}\n  b: {command: 'true', depends_on: [a]}\n"
    "  c: {command: 'true', depends_on: [b]}\n";

// Ten durations whose p90 (nearest rank) is the ninth smallest: `p90` minutes.
std::vector<double> around(double p90_minutes) {
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) v.push_back(p90_minutes * 60 * 0.5);
  v.push_back(p90_minutes * 60);
  v.push_back(p90_minutes * 60 * 3);  // one outlier: the p90 ignores it
  return v;
}

}  // namespace

TEST_CASE("forecast: a chain's expected end adds its tasks' p90s; the risk is found before the deadline, once") {
  Env e;
  auto g = e.dag("chain.yaml", kChain);
  e.history("chain", "a", around(10));
  e.history("chain", "b", around(20));
  e.history("chain", "c", around(20));
  const TimePoint t0 = e.s.clock.now();
  ActiveRun& r = e.run(g, 1);
  // 10 + 20 + 20 minutes: 10 minutes of slack against the 1h deadline.
  REQUIRE(r.rec.expected_end);
  CHECK(*r.rec.expected_end == t0 + 50min);
  CHECK(r.rec.sla_deadline == std::optional<TimePoint>(t0 + 1h));
  CHECK(r.slack == 10 * 60 * 1000);
  CHECK(e.host.slack.back() == std::pair<long long, long long>{1, 10 * 60 * 1000});
  e.begin(r, 0);
  // a runs past its p90: the expected end moves with the clock, and passes
  // the deadline 20 minutes in (what is left after a: 40 minutes).
  REQUIRE(e.f.next_due());
  CHECK(*e.f.next_due() <= t0 + 20min + 1us);
  e.at(19min);
  CHECK(e.loop.batch().sla_risks.empty());
  e.at(1min + 1us);
  REQUIRE(e.loop.batch().sla_risks.size() == 1);
  const auto& risk = e.loop.batch().sla_risks[0];
  CHECK(risk.risk.kind == "run_deadline");
  CHECK(risk.risk.deadline == t0 + 1h);
  CHECK(risk.risk.expected_end > t0 + 1h);
  CHECK(risk.risk.detected_at < t0 + 1h);  // before the deadline
  REQUIRE(risk.notifications.size() == 1);
  CHECK(risk.notifications[0].event == "sla_at_risk");
  CHECK(risk.notifications[0].payload.find("\"expected_end\"") != std::string::npos);
  e.write();
  CHECK(e.notifications("chain", "sla_at_risk") == 1);
  // Still late a minute on: nothing new.
  e.at(1min);
  CHECK(e.loop.batch().sla_risks.empty());
  CHECK(e.risks().size() == 1);
}

TEST_CASE("forecast: a fan-in waits for its longest branch, not the sum of them") {
  Env e;
  auto make = [&](const std::string& deadline) {
    return "dag: fan\nsla: {run_deadline: " + deadline + "}\n"
           "tasks:\n  long: {command: 'true'}\n  short: {command: 'true'}\n"
           "  join: {command: 'true', depends_on: [long, short]}\n";
  };
  auto g = e.dag("fan.yaml", make("55m"));
  e.history("fan", "long", around(30));
  e.history("fan", "short", around(10));
  e.history("fan", "join", around(20));
  const TimePoint t0 = e.s.clock.now();
  ActiveRun& on_time = e.run(g, 1);
  CHECK(on_time.rec.expected_end == std::optional<TimePoint>(t0 + 50min));  // 30 + 20, not 60
  CHECK(e.loop.batch().sla_risks.empty());
  // With 45 minutes, the same run is at risk from its start.
  auto tight = e.dag("fan.yaml", make("45m"));
  ActiveRun& late = e.run(tight, 2);
  REQUIRE(e.loop.batch().sla_risks.size() == 1);
  CHECK(e.loop.batch().sla_risks[0].risk.run_id == late.rec.run_id);
  CHECK(late.slack == -5 * 60 * 1000);
}

TEST_CASE("forecast: a run back within its deadline is marked recovered, with no second notification") {
  Env e;
  auto g = e.dag("four.yaml",
                 "dag: four\nsla: {run_deadline: 1h}\nnotify: {on_sla_risk: [{command: 'cat'}]}\ntasks:\n"
                 "  a: {command: 'true'}\n  b: {command: 'true', depends_on: [a]}\n"
                 "  c: {command: 'true', depends_on: [b]}\n  d: {command: 'true', depends_on: [c]}\n");
  e.history("four", "a", around(10));
  e.history("four", "b", around(10));
  e.history("four", "c", around(10));
  e.history("four", "d", around(20));
  const TimePoint t0 = e.s.clock.now();
  ActiveRun& r = e.run(g, 1);  // 50 minutes: 10 of slack
  e.begin(r, 0);
  e.at(21min);  // a is 11 minutes past its p90: 21 + 40 > 60
  REQUIRE(e.loop.batch().sla_risks.size() == 1);
  CHECK(e.loop.batch().sla_risks[0].risk.detected_at == t0 + 21min);
  e.write();
  e.succeed(r, 0);  // 21 + 40: still late
  CHECK(e.loop.batch().sla_risks.empty());
  // b takes 1 minute of its 10: 22 + 30 = 52, back on time.
  e.begin(r, 1);
  e.at(1min);
  e.succeed(r, 1);
  REQUIRE(e.loop.batch().sla_risks.size() == 1);
  CHECK(e.loop.batch().sla_risks[0].risk.recovered_at == std::optional<TimePoint>(t0 + 22min));
  CHECK(e.loop.batch().sla_risks[0].notifications.empty());
  e.write();
  auto stored = e.risks();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].recovered_at == std::optional<TimePoint>(t0 + 22min));
  CHECK(stored[0].detected_at == t0 + 21min);
  // c runs far past its p90: at risk again, on the same row, with no new
  // notification (the one risk per run was told).
  e.begin(r, 2);
  e.at(20min);
  REQUIRE(e.loop.batch().sla_risks.size() == 1);
  e.write();
  stored = e.risks();
  REQUIRE(stored.size() == 1);
  CHECK_FALSE(stored[0].recovered_at);
  CHECK(e.notifications("four", "sla_at_risk") == 1);
  // The successes joined the histories (kept in the store for a restart).
  auto a = e.s.store->task_durations(std::string("four"), std::string("a"));
  REQUIRE(a);
  REQUIRE(a->size() == 11);
  CHECK(a->front().seconds == Approx(21 * 60));
}

TEST_CASE("forecast: a run at risk that succeeds before its deadline is recovered; one that fails is not") {
  Env e;
  auto g = e.dag("chain.yaml", kChain);
  e.history("chain", "a", around(10));
  e.history("chain", "b", around(20));
  e.history("chain", "c", around(20));
  const TimePoint t0 = e.s.clock.now();
  for (long long pk : {1, 2}) {
    ActiveRun& r = e.run(g, pk);
    e.begin(r, 0);
  }
  e.at(21min);  // both at risk
  REQUIRE(e.loop.batch().sla_risks.size() == 2);
  e.write();
  // Run 1: b takes its p90 (still late: 41 + 20 > 60), then c ends in a
  // minute, so the run succeeds at 42 minutes, before its deadline.
  ActiveRun& quick = *e.runs.find(1);
  e.succeed(quick, 0);
  e.begin(quick, 1);
  e.at(20min);
  e.succeed(quick, 1);
  e.begin(quick, 2);
  e.at(1min);
  CHECK(e.loop.batch().sla_risks.empty());  // at risk to the last
  e.succeed(quick, 2);
  REQUIRE(quick.engine->state() == RunState::success);
  e.f.run_ended(quick);
  REQUIRE(e.loop.batch().sla_risks.size() == 1);
  CHECK(e.loop.batch().sla_risks[0].risk.recovered_at == std::optional<TimePoint>(t0 + 42min));
  // Run 2 fails: its risk stays open.
  ActiveRun& broken = *e.runs.find(2);
  REQUIRE(broken.engine->finish_try(0, TryOutcome::failed));
  REQUIRE(is_finished(broken.engine->state()));
  e.f.run_ended(broken);
  e.write();
  auto stored = e.risks();
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].recovered_at == std::optional<TimePoint>(t0 + 42min));
  CHECK_FALSE(stored[1].recovered_at);
}

TEST_CASE("forecast: no expected end or risk for a run without history, nor a risk for one without an SLA") {
  Env e;
  auto g = e.dag("chain.yaml", kChain);
  e.history("chain", "a", around(10));
  e.history("chain", "b", around(20));  // c has none
  ActiveRun& r = e.run(g, 1);
  CHECK_FALSE(r.rec.expected_end);
  CHECK(r.rec.sla_deadline);
  e.begin(r, 0);
  e.at(2h);
  CHECK(e.loop.batch().sla_risks.empty());
  // No SLA: an expected end, no slack, never a risk.
  auto plain = e.dag("plain.yaml", "dag: plain\ntasks:\n  x: {command: 'true'}\n");
  e.history("plain", "x", around(60));
  ActiveRun& p = e.run(plain, 2);
  e.f.settle();  // the turn's write (a run without an SLA is forecast then)
  CHECK(p.rec.expected_end);
  CHECK_FALSE(p.rec.sla_deadline);
  CHECK(p.slack == ActiveRun::kNoSlack);
  e.begin(p, 0);
  e.at(5h);
  CHECK(e.loop.batch().sla_risks.empty());
}

TEST_CASE("forecast: a try past max(2 x p90, p90 + 1 min) is slow, once; one within its history is not") {
  Env e;
  auto g = e.dag("s.yaml",
                 "dag: s\nnotify: {on_slow: [{command: 'cat'}]}\ntasks:\n  t: {command: 'true'}\n"
                 "  young: {command: 'true'}\n");
  e.history("s", "t", around(10));  // p90 10 min: slow after 20 min
  e.history("s", "young", {60, 60, 60, 60});  // 4 successes: never slow
  ActiveRun& r = e.run(g, 1);
  e.begin(r, 0);
  e.begin(r, 1);
  e.at(19min);
  CHECK(r.tis[0].flags.empty());
  e.at(1min);
  CHECK(r.tis[0].flags == "slow");
  CHECK(r.tis[1].flags.empty());
  REQUIRE(e.loop.batch().notifications.size() == 1);
  CHECK(e.loop.batch().notifications[0].event == "task_slow");
  e.at(5h);
  CHECK(r.tis[0].flags == "slow");
  CHECK(e.loop.batch().notifications.size() == 1);
  // A run whose try ends within its history is never flagged.
  ActiveRun& quick = e.run(g, 2);
  e.begin(quick, 0);
  e.at(9min);
  e.succeed(quick, 0);
  e.at(1h);
  CHECK(quick.tis[0].flags.empty());
  SchedulerMetrics m;
  e.f.metrics(m);
  CHECK(m.slow_tries == 1);
}

TEST_CASE("forecast: a try with no activity for stuck_after is stuck; activity and progress put it off") {
  Env e;
  auto g = e.dag("k.yaml",
                 "dag: k\nnotify: {on_stuck: [{command: 'cat'}]}\ntasks:\n"
                 "  alert: {command: 'true', stuck_after: 10m}\n"
                 "  fail: {command: 'true', stuck_after: 10m, on_stuck: fail, retries: 1, retry_delay: 0s}\n");
  ActiveRun& r = e.run(g, 1);
  e.begin(r, 0);
  e.begin(r, 1);
  // The alert task writes (a log line, or a progress line: the heartbeat
  // brings its time) 8 minutes in; the other is silent.
  e.at(8min);
  r.tis[0].last_activity_at = e.s.clock.now();
  e.at(2min);
  CHECK(r.tis[0].flags.empty());
  CHECK(r.tis[1].flags == "stuck");
  REQUIRE(e.host.failed == std::vector<int>{1});
  e.at(7min);
  CHECK(r.tis[0].flags.empty());
  e.at(1min);  // 10 minutes after its last write
  CHECK(r.tis[0].flags == "stuck");
  CHECK(e.host.failed == std::vector<int>{1});  // alert: flagged, left running
  size_t stuck = 0;
  for (auto& n : e.loop.batch().notifications) stuck += n.event == "task_stuck";
  CHECK(stuck == 2);
}

TEST_CASE("forecast: on_stuck fail fails the try with reason stuck, and its retry starts afresh") {
  Env e;
  auto g = e.dag("k.yaml",
                 "dag: k\ntasks:\n  t: {command: 'true', stuck_after: 5m, on_stuck: fail, retries: 1, retry_delay: 0s}\n");
  ActiveRun& r = e.run(g, 1);
  e.host.on_fail = [&](ActiveRun& run, int ti) { REQUIRE(run.engine->finish_try(ti, TryOutcome::failed, "stuck")); };
  e.begin(r, 0);
  e.at(5min);
  const auto& inst = r.engine->instances()[0];
  CHECK(inst.state == TaskState::up_for_retry);
  CHECK(inst.reason == "stuck");
  // The second try is watched on its own: stuck again only 5 minutes after it began.
  r.tis[0].flags.clear();  // the dispatcher clears a try's flags as it begins
  (void)r.engine->wake_due();
  e.begin(r, 0);
  e.at(4min);
  CHECK(e.host.failed.size() == 1);
  e.at(1min);
  CHECK(e.host.failed.size() == 2);
}

TEST_CASE("forecast: a remote try's activity is what its worker stored") {
  Env e;
  e.host.remote = true;
  auto g = e.dag("k.yaml", "dag: k\ntasks:\n  t: {command: 'true', stuck_after: 10m}\n");
  // A run in the store, so that the worker's write lands on its row.
  ActiveRun& r = e.remote_try(g);
  // The worker wrote 9 minutes in (what store_progress records for it).
  e.at(9min);
  e.worker_wrote(r, 0);
  e.at(1min);
  CHECK(r.tis[0].flags.empty());
  e.at(9min);
  CHECK(r.tis[0].flags == "stuck");
}

TEST_CASE("dispatch: within one priority and one namespace, the run with least slack goes first") {
  using namespace baton::scheduler::testing_dispatch;
  testing_dispatch::Env e(1);
  auto g = testing::compile("dag: p\ntasks:\n  a: {command: 'true'}\n");
  auto urgent = testing::compile("dag: u\ntasks:\n  a: {command: 'true', priority: 5}\n");
  auto run = [&](const dsl::DagGraphPtr& graph, long long pk, const std::string& date, long long slack) -> ActiveRun& {
    ActiveRun& r = e.runs.add(testing::make_active_run(graph, e.s.clock, pk, *parse_utc(date)));
    r.slack = slack;
    e.host.apply(r, r.engine->start());
    return r;
  };
  run(g, 1, "2026-11-01T00:00:00Z", ActiveRun::kNoSlack);  // oldest, no SLA
  run(g, 2, "2026-11-02T00:00:00Z", 40 * 60000);
  ActiveRun& tight = run(g, 3, "2026-11-03T00:00:00Z", 5 * 60000);
  run(urgent, 4, "2026-11-04T00:00:00Z", ActiveRun::kNoSlack);  // priority still comes first
  ActiveRun& late = run(g, 5, "2026-11-05T00:00:00Z", 90 * 60000);
  // Run 5 falls behind: its slack is now the least (its ready try moves).
  long long old = late.slack;
  late.slack = -2 * 60000;
  e.d->slack_changed(late, old);
  std::vector<long long> order;
  for (int k = 0; k < 5; ++k) {
    if (k > 0) e.d->slot_freed();
    e.d->dispatch();
    for (long long pk : e.handed()) order.push_back(pk);
  }
  CHECK(order == std::vector<long long>{4, 5, 3, 2, 1});
  // tasks why names the slack of a waiting try.
  ActiveRun& waiting = run(g, 6, "2026-11-06T00:00:00Z", 4 * 60000);
  e.d->dispatch();  // the one slot is busy with run 1's try
  auto why = e.d->blocks(waiting, 0);
  REQUIRE(why.size() == 2);
  CHECK(why[1] == "run run6 has 4m of slack (least slack goes first)");
  (void)tight;
}

// ---- What a reload (a restart, a partition moved) and remote workers bring. ----

TEST_CASE("forecast: a try flagged slow is not flagged again when a reload re-arms its watch") {
  Env e;
  auto g = e.dag("s.yaml", "dag: s\nnotify: {on_slow: [{command: 'cat'}]}\ntasks:\n  t: {command: 'true'}\n");
  e.history("s", "t", around(10));  // slow after 20 min
  ActiveRun& r = e.run(g, 1);
  e.begin(r, 0);
  e.at(20min);
  REQUIRE(r.tis[0].flags == "slow");
  // reload_owned: forecast.clear(), then recovery's holds() re-arms the
  // running try (ListenerGlue::holds -> try_began); its flags came back
  // from the store as "slow".
  e.f.clear();
  e.f.try_began(r, 0, r.engine->instances()[0].try_number);
  e.at(1s);
  CHECK(r.tis[0].flags == "slow");
  size_t slow = 0;
  for (auto& n : e.loop.batch().notifications) slow += n.event == "task_slow";
  CHECK(slow == 1);  // "once per try"
}

TEST_CASE("forecast: the write of a slow flag does not erase the activity a remote worker stored") {
  Env e;
  e.host.remote = true;
  auto g = e.dag("k.yaml", "dag: k\ntasks:\n  t: {command: 'true', stuck_after: 10m}\n");
  e.history("k", "t", std::vector<double>(10, 285));  // p90 4m45s: slow after 9m30s
  ActiveRun& r = e.remote_try(g);
  // The worker logs 9 minutes in (stored by the API's heartbeat, as in the
  // test above).
  e.at(9min);
  e.worker_wrote(r, 0);
  e.at(30s);  // 9m30s: slow; the flag goes in the loop's write
  REQUIRE(r.tis[0].flags == "slow");
  e.write();
  e.at(30s);  // 10 min: the try logged 1 minute ago, it is not stuck
  CHECK(r.tis[0].flags == "slow");
}

TEST_CASE("forecast: a risk recorded before a reload is recovered when the run ends on time after it") {
  Env e;
  auto g = e.dag("four.yaml",
                 "dag: four\nsla: {run_deadline: 1h}\nnotify: {on_sla_risk: [{command: 'cat'}]}\ntasks:\n"
                 "  a: {command: 'true'}\n  b: {command: 'true', depends_on: [a]}\n"
                 "  c: {command: 'true', depends_on: [b]}\n  d: {command: 'true', depends_on: [c]}\n");
  e.history("four", "a", around(10));
  e.history("four", "b", around(10));
  e.history("four", "c", around(10));
  e.history("four", "d", around(20));
  const TimePoint t0 = e.s.clock.now();
  ActiveRun& r = e.run(g, 1);
  e.begin(r, 0);
  e.at(21min);  // at risk: 21 + 40 > 60
  REQUIRE(e.loop.batch().sla_risks.size() == 1);
  e.write();
  // a ends, and b runs a minute, while the DAG changes owner (a partition
  // moved, or a restart): the new owner never saw the risk.
  REQUIRE(r.engine->finish_try(0, TryOutcome::success));
  REQUIRE(r.engine->queue(1));
  REQUIRE(r.engine->begin_try(1));
  e.s.clock.advance(1min);
  REQUIRE(r.engine->finish_try(1, TryOutcome::success));
  e.f.clear();  // reload_owned
  e.f.run_adopted(r);
  e.f.run_started(r);
  CHECK(r.rec.expected_end == std::optional<TimePoint>(t0 + 52min));  // back on time
  e.write();
  e.begin(r, 2);
  e.at(5min);
  e.succeed(r, 2);
  e.begin(r, 3);
  e.at(5min);
  e.succeed(r, 3);
  REQUIRE(r.engine->state() == RunState::success);  // at 32 minutes, 28 before the deadline
  e.f.run_ended(r);
  e.write();
  auto stored = e.risks();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].recovered_at);  // docs/sla.md: back on time, or succeeded before the deadline: recovered
}
