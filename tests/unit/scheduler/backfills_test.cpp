// Backfills on their own, with fake runs and a fake clock: the plan, taking
// up runs a few at a time, counting them, ending, canceling, and the
// refusals that say what is allowed.
#include <catch2/catch.hpp>

#include "active_runs.h"
#include "backfills.h"
#include "loop.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;

namespace {

struct FakeRuns final : BackfillRuns {
  std::vector<store::RunRecord> adopted;
  std::vector<long long> canceled;
  int dispatches = 0;
  void adopt(const store::RunRecord& rec, const dsl::DagGraphPtr&, const std::vector<store::TaskInstanceRecord>&) override {
    adopted.push_back(rec);
  }
  Rerun rerun(const store::BackfillRecord&, const std::string&, const std::vector<std::string>&, long long&) override {
    return Rerun::not_ours;
  }
  void settle(long long) override {}
  void cancel(const std::vector<long long>& pks) override { canceled = pks; }
  bool in_memory(long long) override { return false; }
  void dispatch() override { ++dispatches; }
};

struct Env {
  testing::PartsStore s;  // now: 2026-11-22T10:00Z
  testing::FakeFencing fencing;
  FakeRuns runs;
  Loop loop{s.clock};
  DagRegistry registry{*s.store, s.dags()};
  Backfills backfills{*s.store, s.clock, loop, registry, fencing, runs};
  Env() {
    s.write_dag("d.yaml", "dag: d\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n  a: {type: noop}\n");
    registry.scan(true);
  }
  // A finished scheduled run for one day.
  void ran(const std::string& day, RunState state) {
    store::RunRecord r;
    r.dag_id = "d";
    r.run_type = "scheduled";
    r.logical_date = r.data_interval_start = *parse_utc(day + "T00:00:00Z");
    r.data_interval_end = r.logical_date + std::chrono::hours(24);
    r.run_id = "scheduled__" + day;
    r.params = "{}";
    r.dag_version = registry.current("d")->hash();
    auto c = s.store->create_run(r, task_instances_for(*registry.current("d")), "test", {});
    REQUIRE(c.ok());
    store::WriteBatch b;
    c->run.state = state;
    b.runs.push_back(c->run);
    REQUIRE(s.store->apply(b).ok());
  }
  std::vector<std::string> plan(const std::string& reprocess, const std::string& from, const std::string& to) {
    BackfillRequest req;
    req.dag_id = "d";
    req.from = from;
    req.to = to;
    req.reprocess = reprocess;
    req.dry_run = true;
    auto r = backfills.create(req, "ada");
    REQUIRE(r.ok());
    std::vector<std::string> out;
    for (auto& st : r->plan) out.push_back(format_utc(st.logical_date).substr(0, 10) + " " + st.action);
    return out;
  }
};

}  // namespace

TEST_CASE("backfills: the plan says for each interval what it does, by the reprocess mode") {
  Env e;
  e.ran("2026-11-02", RunState::success);
  e.ran("2026-11-03", RunState::failed);
  using V = std::vector<std::string>;
  CHECK(e.plan("none", "2026-11-01", "2026-11-03") == V{"2026-11-01 create", "2026-11-02 skip", "2026-11-03 skip"});
  CHECK(e.plan("failed", "2026-11-01", "2026-11-03") == V{"2026-11-01 create", "2026-11-02 skip", "2026-11-03 rerun"});
  CHECK(e.plan("all", "2026-11-02", "2026-11-03") == V{"2026-11-02 rerun", "2026-11-03 rerun"});
  // A backfill does not run the future: the interval not over yet is skipped, and the plan ends there.
  CHECK(e.plan("none", "2026-11-21", "2026-11-30") == V{"2026-11-21 create", "2026-11-22 skip"});
  CHECK(e.runs.adopted.empty());  // a dry run makes nothing
}

TEST_CASE("backfills: refusals say what is wrong and what is allowed") {
  Env e;
  BackfillRequest req;
  req.dag_id = "d";
  req.from = "2026-11-05";
  req.to = "2026-11-01";
  CHECK(e.backfills.create(req, "ada").error().message == "to (2026-11-01) is before from (2026-11-05)");
  req.to = "2026-11-06";
  req.reprocess = "some";
  CHECK(e.backfills.create(req, "ada").error().message == "reprocess must be none, failed or all, not \"some\"");
  req.reprocess = "none";
  req.max_active_runs = 0;
  CHECK(e.backfills.create(req, "ada").error().message == "max_active_runs must be from 1 to 1000");
  req.max_active_runs = 2;
  req.tasks = {"zz"};
  CHECK(e.backfills.create(req, "ada").error().message == "no task \"zz\" in DAG d");
  req.dag_id = "nope";
  CHECK(e.backfills.create(req, "ada").error().code == "not_found");
  CHECK(e.s.store->list_backfills(std::nullopt, false, 0, 10)->empty());
}

TEST_CASE("backfills: runs are taken up max_active_runs at a time, counted as they end, and the backfill ends") {
  Env e;
  BackfillRequest req;
  req.dag_id = "d";
  req.from = "2026-11-01";
  req.to = "2026-11-03";
  req.max_active_runs = 2;
  auto made = e.backfills.create(req, "ada");
  REQUIRE(made.ok());
  CHECK(made->backfill.total == 3);
  REQUIRE(e.runs.adopted.size() == 2);
  CHECK(e.runs.adopted[0].run_id == "backfill__20261101T000000Z");
  CHECK(e.runs.adopted[0].backfill_id == made->backfill.id);
  CHECK(e.runs.adopted[0].created_by == "ada");
  const long long id = made->backfill.id;
  e.backfills.run_ended(e.runs.adopted[0].pk, id, true);
  e.loop.run_ready();  // the next step is taken up on a turn of its own
  REQUIRE(e.runs.adopted.size() == 3);
  e.backfills.run_ended(e.runs.adopted[1].pk, id, false);
  e.backfills.run_ended(e.runs.adopted[2].pk, id, true);
  e.loop.run_ready();
  const auto& last = e.loop.batch().backfills.back();
  CHECK(last.state == "failed");  // one of its runs failed
  CHECK(last.done == 3);
  CHECK(last.failed == 1);
  CHECK(last.ended_at);
  REQUIRE_FALSE(e.loop.write(*e.s.store, {}).fenced);
  CHECK(e.s.store->get_backfill(id)->state == "failed");
}

TEST_CASE("backfills: a cancel cancels its runs, takes up no more, and is audited") {
  Env e;
  BackfillRequest req;
  req.dag_id = "d";
  req.from = "2026-11-01";
  req.to = "2026-11-10";
  req.max_active_runs = 2;
  auto made = e.backfills.create(req, "ada");
  REQUIRE(made.ok());
  REQUIRE(e.backfills.cancel(made->backfill.id, "bob").ok());
  CHECK(e.runs.canceled.size() == 2);
  CHECK(e.loop.batch().backfills.back().state == "canceled");
  CHECK(e.loop.batch().audit.back().actor == "bob");
  CHECK(e.loop.batch().audit.back().action == "backfill.canceled");
  e.backfills.run_ended(e.runs.adopted[0].pk, made->backfill.id, false);
  e.loop.run_ready();
  CHECK(e.runs.adopted.size() == 2);
  REQUIRE_FALSE(e.loop.write(*e.s.store, {}).fenced);
  CHECK(e.backfills.cancel(made->backfill.id, "bob").error().code == "conflict");
}

TEST_CASE("backfills: at most kStepsPerTurn runs a turn; what was posted meanwhile comes before the next batch") {
  Env e;
  BackfillRequest req;
  req.dag_id = "d";
  req.from = "2026-01-01";
  req.to = "2026-11-20";  // 324 intervals
  req.max_active_runs = 1000;
  auto made = e.backfills.create(req, "ada");
  REQUIRE(made.ok());
  CHECK(made->summary.create == 324);
  CHECK(made->plan.empty());
  CHECK(e.runs.adopted.size() == Backfills::kStepsPerTurn);
  // A live trigger arrives: it runs after the one batch queued before it.
  size_t seen = 0;
  e.loop.post([&] { seen = e.runs.adopted.size(); });
  // Runs that end meanwhile add no second batch: one turn of advance is queued at a time.
  for (int i = 0; i < 10; ++i) e.backfills.run_ended(e.runs.adopted[static_cast<size_t>(i)].pk, made->backfill.id, true);
  while (e.loop.run_one()) {
  }
  CHECK(seen == 2 * Backfills::kStepsPerTurn);
  CHECK(e.runs.adopted.size() == 324);
  // Progress is in the batch of every turn: done counts what ended.
  CHECK(e.loop.batch().backfills.back().done == 10);
}
