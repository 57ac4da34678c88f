// Run-time forecasts in the store, on each engine (SPEC §7): the duration
// ring keeps a task's last 50 successes; an SLA risk is recorded once per
// run, with its notifications only the first time, and takes recovery and a
// new slip on the same row; a run's forecast and a task instance's flags and
// progress are written with the batch and read back (a write without
// progress keeps the stored one; an older activity never replaces a newer).
#include <catch2/catch.hpp>

#include "store_each.h"

using namespace baton;
using namespace baton::store;
using namespace baton::testing;
using namespace baton::testing::records;
using namespace std::chrono_literals;

TEST_CASE("forecasts: a task keeps its last 50 durations, newest first, through any number of successes") {
  each_store("forecasts_ring", [](Store& s, FakeClock& clock) {
    for (long long seq = 1; seq <= 120; ++seq) {
      WriteBatch b;
      b.durations.push_back({"etl", "load", seq, static_cast<double>(seq), clock.now() + std::chrono::seconds(seq)});
      if (seq % 7 == 0) b.durations.push_back({"etl", "other", seq / 7, 1.5, clock.now()});
      REQUIRE(s.apply(b).ok());
    }
    auto load = s.task_durations(std::string("etl"), std::string("load"));
    REQUIRE(load);
    REQUIRE(load->size() == static_cast<size_t>(kDurationHistory));
    CHECK(load->front().seq == 120);
    CHECK(load->front().seconds == Approx(120));
    CHECK(load->back().seq == 71);
    CHECK(load->front().ended_at == clock.now() + 120s);
    auto dag = s.task_durations(std::string("etl"), std::nullopt);
    REQUIRE(dag);
    CHECK(dag->size() == 50 + 17);
    CHECK(dag->front().task_id == "load");
    auto all = s.task_durations(std::nullopt, std::nullopt);
    REQUIRE(all);
    CHECK(all->size() == dag->size());
    // An older write of a slot (another member's late batch) never replaces a newer one.
    WriteBatch stale;
    stale.durations.push_back({"etl", "load", 70, 999, clock.now()});  // slot 20, holds seq 120
    REQUIRE(s.apply(stale).ok());
    load = s.task_durations(std::string("etl"), std::string("load"));
    CHECK(load->front().seconds == Approx(120));
    CHECK(load->size() == 50);
  });
}

TEST_CASE("forecasts: an SLA risk is recorded once per run; recovery and a new slip update its row") {
  each_store("forecasts_risk", [](Store& s, FakeClock& clock) {
    auto risk = [&](std::optional<TimePoint> recovered) {
      WriteBatch b;
      WriteBatch::Risk r;
      r.risk = {0, "etl", "run1", "run_deadline", clock.now() + 1h, clock.now() + 70min, clock.now(), recovered};
      NotificationRecord n;
      n.event = "sla_at_risk";
      n.dag_id = "etl";
      n.target_kind = "command";
      n.target = "cat";
      n.payload = "{}";
      n.next_attempt_at = clock.now();
      r.notifications.push_back(n);
      b.sla_risks.push_back(r);
      REQUIRE(s.apply(b).ok());
    };
    const TimePoint t0 = clock.now();
    risk(std::nullopt);
    clock.advance(5min);
    risk(clock.now());  // recovered
    clock.advance(5min);
    risk(std::nullopt);  // late again
    auto list = s.list_sla_risks(std::nullopt, std::nullopt, 0, 10);
    REQUIRE(list);
    REQUIRE(list->size() == 1);
    CHECK(list->front().detected_at == t0);  // the first detection stays
    CHECK_FALSE(list->front().recovered_at);
    CHECK(list->front().expected_end == clock.now() + 70min);
    auto notes = s.list_notifications("etl", 10);
    REQUIRE(notes);
    CHECK(notes->size() == 1);  // told once
    // Filters and pages, as the SLA misses'.
    CHECK(s.list_sla_risks(std::string("other"), std::nullopt, 0, 10)->empty());
    CHECK(s.list_sla_risks(std::nullopt, t0 + 1min, 0, 10)->empty());
    CHECK(s.list_sla_risks(std::nullopt, std::nullopt, list->front().id, 10)->empty());
  });
}

TEST_CASE("forecasts: a run's forecast, and a task instance's flags and progress, are kept with the batch") {
  each_store("forecasts_rows", [](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("etl", "v1"), "default", 0, "system").ok());
    auto c = s.create_run(scheduled_run("etl", "2026-11-21T00:00:00Z"), two_tasks(), "system");
    REQUIRE(c.ok());
    RunRecord run = c->run;
    run.state = RunState::running;
    run.expected_end = clock.now() + 50min;
    run.sla_deadline = clock.now() + 1h;
    TaskInstanceRecord ti = c->task_instances[0];
    ti.state = TaskState::running;
    ti.try_number = 2;
    ti.flags = "slow,stuck";
    ti.progress = progress_record(2, 0.5, "half", clock.now());
    ti.last_activity_at = clock.now();
    WriteBatch b;
    b.runs.push_back(run);
    b.task_instances.push_back(ti);
    REQUIRE(s.apply(b).ok());
    auto got = s.get_run("etl", run.run_id);
    REQUIRE(got);
    CHECK(got->expected_end == run.expected_end);
    CHECK(got->sla_deadline == run.sla_deadline);
    // The loop writes again with an older copy: progress and activity stay.
    ti.progress.reset();
    ti.last_activity_at = clock.now() - 1min;
    ti.flags.clear();
    WriteBatch again;
    again.task_instances.push_back(ti);
    REQUIRE(s.apply(again).ok());
    auto tis = s.list_task_instances(run.pk);
    REQUIRE(tis);
    const TaskInstanceRecord& back = (*tis)[0];
    CHECK(back.flags.empty());
    CHECK(back.last_activity_at == std::optional<TimePoint>(clock.now()));
    auto p = read_progress(back.progress, 2);
    REQUIRE(p);
    CHECK(p->fraction == Approx(0.5));
    CHECK(p->text == "half");
    CHECK_FALSE(read_progress(back.progress, 3));  // another try's
    // The same try with none (a remote try's owner knows none) keeps it; a
    // new try starts with none.
    ti.last_activity_at.reset();
    WriteBatch same;
    same.task_instances.push_back(ti);
    REQUIRE(s.apply(same).ok());
    CHECK((*s.list_task_instances(run.pk))[0].last_activity_at == std::optional<TimePoint>(clock.now()));
    ti.try_number = 3;
    WriteBatch fresh;
    fresh.task_instances.push_back(ti);
    REQUIRE(s.apply(fresh).ok());
    CHECK_FALSE((*s.list_task_instances(run.pk))[0].last_activity_at);
  });
}
