// Backfills through the real scheduler and store (SPEC §7): bounds, reprocess
// modes, keys, cancel, restarts, DST, runs in every state.
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <set>

#include "scheduler_env.h"

using namespace baton;
using namespace baton::scheduler;
using namespace baton::scheduler_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

BackfillRequest backfill(const std::string& dag, const std::string& from, const std::string& to,
                         const std::string& reprocess = "none") {
  BackfillRequest r;
  r.dag_id = dag;
  r.from = from;
  r.to = to;
  r.reprocess = reprocess;
  return r;
}

store::BackfillRecord wait_backfill(Env& env, long long id, Duration limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto b = env.store->get_backfill(id);
    REQUIRE(b.ok());
    if (b->state != "running") return *b;
    if (std::chrono::steady_clock::now() > deadline) FAIL("backfill " << id << " still running: " << b->done << "/" << b->total);
    std::this_thread::sleep_for(20ms);
  }
}

// logical date -> how many runs (scheduled or backfill) have it; the DAGs'
// own schedules add a run for the latest interval (today's), outside the ranges.
std::map<std::string, int> runs_per_interval(store::Store& s, const std::string& dag,
                                             TimePoint before = *parse_utc("2026-06-01T00:00:00Z")) {
  std::map<std::string, int> out;
  for (auto& r : runs_of(s, dag))
    if ((r.run_type == "scheduled" || r.run_type == "backfill") && r.logical_date < before)
      ++out[format_utc(r.logical_date)];
  return out;
}

std::vector<store::RunRecord> backfill_runs(store::Store& s, const std::string& dag) {
  std::vector<store::RunRecord> out;
  for (auto& r : runs_of(s, dag))
    if (r.run_type == "backfill") out.push_back(r);
  return out;
}

std::vector<std::string> actions(const BackfillResult& r) {
  std::vector<std::string> out;
  for (auto& s : r.plan) out.push_back(s.action);
  return out;
}

const char* kDaily =
    "dag: daily\n"
    "schedule: '0 0 * * *'\n"
    "timezone: Europe/Berlin\n"
    "start_date: 2026-01-01\n"
    "tasks:\n"
    "  a: {command: 'test {{ ds }} != 2026-01-03'}\n"  // the 3rd fails
    "  b: {type: noop, depends_on: [a]}\n";

}  // namespace

TEST_CASE("backfill: local-day bounds, one run per interval, each reprocess mode, dry runs change nothing") {
  Env env;
  env.write("daily.yaml", kDaily);
  env.start();
  // Dry run: the plan only.
  auto dry = backfill("daily", "2026-01-02", "2026-01-04");
  dry.dry_run = true;
  auto plan = env.sched->create_backfill(dry, "ops");
  REQUIRE(plan.ok());
  CHECK(actions(*plan) == std::vector<std::string>{"create", "create", "create"});
  // 2026-01-02 in Berlin starts at 2026-01-01T23:00Z.
  CHECK(format_utc(plan->plan[0].logical_date) == "2026-01-01T23:00:00Z");
  CHECK(backfill_runs(*env.store, "daily").empty());
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->empty());

  auto first = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-04"), "ops");
  REQUIRE(first.ok());
  CHECK(first->backfill.total == 3);
  auto done = wait_backfill(env, first->backfill.id);
  CHECK(done.state == "failed");  // the 3rd failed
  CHECK(done.done == 3);
  CHECK(done.failed == 1);
  auto made = backfill_runs(*env.store, "daily");
  CHECK(made.size() == 3);
  for (auto& r : made) CHECK(r.backfill_id == first->backfill.id);

  // none: only the new interval; failed: reruns the failed run; all: every finished one.
  auto none = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-05"), "ops");
  REQUIRE(none.ok());
  // A backfill made answers with the summary of its plan (the plan itself: dry runs).
  CHECK(none->plan.empty());
  CHECK((none->summary.create == 1 && none->summary.rerun == 0 && none->summary.skip == 3));
  CHECK(wait_backfill(env, none->backfill.id).state == "success");
  auto failed = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-05", "failed"), "ops");
  REQUIRE(failed.ok());
  CHECK((failed->summary.create == 0 && failed->summary.rerun == 1 && failed->summary.skip == 3));
  auto f = wait_backfill(env, failed->backfill.id);
  CHECK(f.state == "failed");
  CHECK(f.total == 1);
  auto third = env.store->get_run("daily", "backfill__20260102T230000Z");
  REQUIRE(third.ok());
  CHECK(env.tis(*third)["a"].try_number == 2);  // the try counter went on
  auto all = env.sched->create_backfill(backfill("daily", "2026-01-02", "2026-01-05", "all"), "ops");
  REQUIRE(all.ok());
  CHECK((all->summary.create == 0 && all->summary.rerun == 4 && all->summary.skip == 0));
  auto a = wait_backfill(env, all->backfill.id);
  CHECK(a.done == 4);
  CHECK(a.failed == 1);
  for (auto& [date, n] : runs_per_interval(*env.store, "daily")) CHECK(n == 1);
  CHECK(runs_per_interval(*env.store, "daily").size() == 4);

  // Bad input: a clear error, nothing stored.
  size_t before = env.store->list_backfills(std::nullopt, false, 0, 100)->size();
  CHECK(env.sched->create_backfill(backfill("daily", "2026-01-05", "2026-01-02"), "ops").error().code ==
        "invalid_argument");
  CHECK(env.sched->create_backfill(backfill("daily", "2026-13-01", "2026-01-02"), "ops").error().code ==
        "invalid_argument");
  auto bad_task = backfill("daily", "2026-01-02", "2026-01-03");
  bad_task.tasks = {"nope"};
  CHECK(env.sched->create_backfill(bad_task, "ops").error().code == "invalid_argument");
  CHECK(env.sched->create_backfill(backfill("nope", "2026-01-02", "2026-01-03"), "ops").error().code == "not_found");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == before);
}

TEST_CASE("backfill: --tasks with downstream reruns only those; newest first with reverse") {
  Env env;
  env.write("t.yaml",
            "dag: t\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n"
            "  a: {type: noop}\n  b: {command: 'true', depends_on: [a]}\n  c: {type: noop, depends_on: [b]}\n");
  env.start();
  auto first = env.sched->create_backfill(backfill("t", "2026-01-01", "2026-01-03"), "ops");
  REQUIRE(first.ok());
  REQUIRE(wait_backfill(env, first->backfill.id).state == "success");
  auto r = backfill("t", "2026-01-01", "2026-01-03", "all");
  r.tasks = {"b"};
  r.downstream = true;
  r.reverse = true;
  auto dry = r;
  dry.dry_run = true;
  auto plan = env.sched->create_backfill(dry, "ops");
  REQUIRE(plan.ok());
  CHECK(format_utc(plan->plan.front().logical_date) == "2026-01-03T00:00:00Z");
  auto rerun = env.sched->create_backfill(r, "ops");
  REQUIRE(rerun.ok());
  REQUIRE(wait_backfill(env, rerun->backfill.id).state == "success");
  auto run = env.store->get_run("t", "backfill__20260102T000000Z");
  auto tis = env.tis(*run);
  CHECK(tis["a"].try_number == 1);
  CHECK(tis["b"].try_number == 2);
  CHECK(tis["c"].try_number == 2);
}

TEST_CASE("backfill: a key it has seen returns that backfill (a command carried out twice makes one)") {
  Env env;
  env.write("t.yaml", "dag: t\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n  a: {type: noop}\n");
  env.start();
  auto r = backfill("t", "2026-01-01", "2026-01-03");
  r.idempotency_key = "command:41";
  auto first = env.sched->create_backfill(r, "ops");
  REQUIRE(first.ok());
  REQUIRE(wait_backfill(env, first->backfill.id).state == "success");
  auto again = env.sched->create_backfill(r, "ops");  // also after it ended
  REQUIRE(again.ok());
  CHECK(again->backfill.id == first->backfill.id);
  CHECK(again->backfill.state == "success");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == 1);
  CHECK(backfill_runs(*env.store, "t").size() == 3);
  store::AuditFilter af;
  af.action = "backfill.created";
  CHECK(env.store->list_audit(af)->size() == 1);
  // A backfill with the key that this scheduler never took up (the previous
  // owner of the partition made it after this one had loaded its
  // backfills): the command carried out again takes it up.
  auto dry = backfill("t", "2026-01-05", "2026-01-06");
  dry.dry_run = true;
  auto planned = env.sched->create_backfill(dry, "ops");
  REQUIRE(planned.ok());
  auto rec = planned->backfill;
  rec.idempotency_key = "command:7";
  auto behind = env.store->create_backfill(rec, "ops");
  REQUIRE(behind.ok());
  REQUIRE(behind->created);
  auto carried = backfill("t", "2026-01-05", "2026-01-06");
  carried.idempotency_key = "command:7";
  auto taken = env.sched->create_backfill(carried, "ops");
  REQUIRE(taken.ok());
  CHECK(taken->backfill.id == behind->backfill.id);
  CHECK(wait_backfill(env, behind->backfill.id).state == "success");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == 2);
  // Another key, or none, is another backfill.
  r.idempotency_key = "command:42";
  auto other = env.sched->create_backfill(r, "ops");
  REQUIRE(other.ok());
  CHECK(other->backfill.id != first->backfill.id);
  REQUIRE(wait_backfill(env, other->backfill.id).state == "success");
  CHECK(env.store->list_backfills(std::nullopt, false, 0, 100)->size() == 3);
}

TEST_CASE("backfill: cancel stops every run of it, running tasks included, and takes up no more") {
  Env env;
  env.write("slow.yaml", "dag: slow\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n  a: {command: 'sleep 30'}\n");
  env.start();
  auto r = backfill("slow", "2026-01-01", "2026-01-10");
  r.max_active_runs = 2;
  auto b = env.sched->create_backfill(r, "ops");
  REQUIRE(b.ok());
  CHECK(b->backfill.total == 10);
  env.wait_run("slow", "backfill__20260101T000000Z",
               [&](const store::RunRecord& run) { return env.tis(run)["a"].state == TaskState::running; });
  CHECK(backfill_runs(*env.store, "slow").size() == 2);  // at most max_active_runs
  // Runs in progress are never rerun, whatever the mode.
  auto dry = backfill("slow", "2026-01-01", "2026-01-01", "all");
  dry.dry_run = true;
  auto p = env.sched->create_backfill(dry, "ops");
  REQUIRE(p.ok());
  REQUIRE(p->plan.size() == 1);
  CHECK(p->plan[0].action == "skip");
  CHECK(p->plan[0].reason == "its run is running");
  REQUIRE(env.sched->cancel_backfill(b->backfill.id, "ops").ok());
  auto done = env.store->get_backfill(b->backfill.id);
  CHECK(done->state == "canceled");
  auto runs = backfill_runs(*env.store, "slow");
  CHECK(runs.size() == 2);
  for (auto& run : runs) {
    CHECK(run.state == RunState::canceled);
    auto tries = env.store->list_tries(env.tis(run)["a"].id);
    REQUIRE(tries->size() == 1);
    CHECK(tries->front().reason == "canceled");
  }
  CHECK(env.sched->cancel_backfill(b->backfill.id, "ops").error().code == "conflict");
  store::AuditFilter af;
  af.action = "backfill.canceled";
  CHECK(env.store->list_audit(af)->size() == 1);
}

TEST_CASE("backfill: survives a restart in the middle; overlapping backfills and the schedule never double an interval") {
  Env env;
  env.write("r.yaml",
            "dag: r\nschedule: '@daily'\nstart_date: 2026-01-01\nend_date: 2026-01-08\ncatchup: true\n"
            "max_active_runs: 1\ntasks:\n  a: {command: 'sleep 0.2'}\n");
  env.start();  // catchup starts on the same intervals
  auto one = backfill("r", "2026-01-01", "2026-01-31");  // past end_date: only its intervals
  one.max_active_runs = 1;
  auto two = backfill("r", "2025-12-01", "2026-01-05", "none");
  auto b1 = env.sched->create_backfill(one, "ops");
  auto b2 = env.sched->create_backfill(two, "ops");
  REQUIRE(b1.ok());
  REQUIRE(b2.ok());
  CHECK(b1->summary.create + b1->summary.rerun + b1->summary.skip == 8);  // 2026-01-01 .. 2026-01-08
  std::this_thread::sleep_for(500ms);
  env.restart();
  auto r1 = wait_backfill(env, b1->backfill.id, 30s);
  auto r2 = wait_backfill(env, b2->backfill.id, 30s);
  CHECK(r1.state == "success");
  CHECK(r2.state == "success");
  CHECK(r1.done == r1.total);
  auto per = runs_per_interval(*env.store, "r");
  CHECK(per.size() == 8);
  for (auto& [date, n] : per) {
    INFO(date);
    CHECK(n == 1);
  }
  for (auto& run : runs_of(*env.store, "r")) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!is_finished(env.store->get_run("r", run.run_id)->state) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    CHECK(env.store->get_run("r", run.run_id)->state == RunState::success);
  }
}

TEST_CASE("backfill: a range over a DST change has a 23-hour interval") {
  Env env;
  env.write("d.yaml", "dag: d\nschedule: '0 0 * * *'\ntimezone: Europe/Berlin\nstart_date: 2026-03-01\n"
                      "tasks:\n  a: {type: noop}\n");
  env.start();
  auto dry = backfill("d", "2026-03-28", "2026-03-30");
  dry.dry_run = true;
  auto p = env.sched->create_backfill(dry, "ops");
  REQUIRE(p.ok());
  REQUIRE(p->plan.size() == 3);
  CHECK(format_utc(p->plan[0].logical_date) == "2026-03-27T23:00:00Z");
  CHECK(format_utc(p->plan[1].logical_date) == "2026-03-28T23:00:00Z");
  CHECK(format_utc(p->plan[1].data_interval_end) == "2026-03-29T22:00:00Z");  // 23 hours
  CHECK(format_utc(p->plan[2].logical_date) == "2026-03-29T22:00:00Z");
}

// ---- SLAs (SPEC §7), with a fake clock ----


TEST_CASE("backfill: existing runs in every state — each mode reruns only what is finished, and what it asks for") {
  Env env;
  // The schedule's own run for the last interval (Jan 3) runs; the DAG runs one at a time.
  env.write("st.yaml",
            "dag: st\nschedule: '@daily'\nstart_date: 2026-01-01\nend_date: 2026-01-03\nmax_active_runs: 1\n"
            "tasks:\n  a: {command: 'sleep 30'}\n");
  env.start();
  env.wait_run("st", "scheduled__20260103T000000Z",
               [&](const store::RunRecord& run) { return env.tis(run)["a"].state == TaskState::running; });
  auto r = backfill("st", "2026-01-01", "2026-01-02");
  r.max_active_runs = 2;
  auto b = env.sched->create_backfill(r, "ops");
  REQUIRE(b.ok());
  CHECK(env.store->get_run("st", "backfill__20260101T000000Z")->state == RunState::queued);
  auto plan_of = [&](const char* mode) {
    auto dry = backfill("st", "2026-01-01", "2026-01-05", mode);  // past end_date: three intervals
    dry.dry_run = true;
    auto p = env.sched->create_backfill(dry, "ops");
    REQUIRE(p.ok());
    std::vector<std::string> out;
    for (auto& st : p->plan) out.push_back(st.action + (st.reason.empty() ? "" : ": " + st.reason));
    return out;
  };
  for (const char* mode : {"none", "failed", "all"})
    CHECK(plan_of(mode) == std::vector<std::string>{"skip: its run is queued", "skip: its run is queued",
                                                     "skip: its run is running"});
  // Jan 3 canceled: a finished run — `all` reruns it, `failed` does not (it did not fail).
  REQUIRE(env.sched->cancel_run("st", "scheduled__20260103T000000Z", "ops").ok());
  env.wait_run("st", "backfill__20260101T000000Z",
               [&](const store::RunRecord& run) { return run.state == RunState::running; });
  CHECK(plan_of("all") == std::vector<std::string>{"skip: its run is running", "skip: its run is queued", "rerun"});
  CHECK(plan_of("failed") ==
        std::vector<std::string>{"skip: its run is running", "skip: its run is queued", "skip: it has a run (canceled)"});
  REQUIRE(env.sched->cancel_backfill(b->backfill.id, "ops").ok());
}
