// Retention (Store::clean, `baton db clean`) on every engine: a dry run
// announces exactly what the clean then removes; what must stay stays
// (unfinished runs, the latest and the latest finished run of each DAG, the
// run before an unfinished one, the runs in a running backfill's range, the
// audit log, whose chain still verifies); every batch is audited.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "baton/store/store.h"
#include "store_each.h"

using namespace baton;
using namespace baton::store;
namespace fs = std::filesystem;

namespace {

DatabaseUrl g_url;  // the store each_store is running the body on

// A fresh store per engine (SQLite always; PostgreSQL with BATON_TEST_PG_URL).
void each_store(const std::function<void(Store&, FakeClock&)>& body) {
  testing::each_store_at("clean", "2026-01-01T00:00:00Z", [&](Store& s, FakeClock& clock, const DatabaseUrl& url) {
    g_url = url;
    body(s, clock);
  });
}

TimePoint at(const char* text) { return *parse_utc(text); }

AuditFilter all_audit() {
  AuditFilter f;
  f.limit = 1000;
  return f;
}

using testing::records::version;

// A run with two task instances, each tried once (log files named after the
// run); `state` finished or not, ended at `ended` (when finished).
struct Made {
  RunRecord run;
  std::vector<TaskInstanceRecord> tis;
};
Made make_run(Store& s, FakeClock& clock, const std::string& dag, const char* logical, RunState state,
              const char* ended, const std::string& v = "v1", std::optional<long long> backfill = std::nullopt) {
  clock.set(at(ended));
  RunRecord r;
  r.dag_id = dag;
  r.logical_date = at(logical);
  r.data_interval_start = r.logical_date;
  r.data_interval_end = r.logical_date + std::chrono::hours(24);
  r.run_id = std::string(backfill ? "backfill__" : "scheduled__") + logical;
  r.run_type = backfill ? "backfill" : "scheduled";
  r.dag_version = v;
  r.state = state;
  r.backfill_id = backfill;
  r.started_at = at(ended) - std::chrono::minutes(5);
  bool finished = state != RunState::running && state != RunState::queued;
  if (finished) r.ended_at = at(ended);
  std::vector<TaskInstanceRecord> tis(2);
  tis[0].task_id = "a";
  tis[1].task_id = "b";
  for (auto& t : tis) t.state = finished ? TaskState::success : TaskState::up_for_retry;
  auto c = s.create_run(r, tis, "system");
  REQUIRE(c.ok());
  WriteBatch b;
  for (auto& t : c->task_instances) {
    TryRecord y;
    y.ti_id = t.id;
    y.try_number = 1;
    y.state = finished ? TaskState::success : TaskState::failed;
    y.started_at = at(ended) - std::chrono::minutes(4);
    y.ended_at = at(ended) - std::chrono::minutes(1);
    y.log_path = dag + "/" + r.run_id + "/" + t.task_id + "/1.log";
    b.tries.push_back(y);
  }
  REQUIRE(s.apply(b).ok());
  return {c->run, c->task_instances};
}

long long rows_of(const CleanReport& r, const char* table) {
  auto* t = r.find(table);
  REQUIRE(t);
  return t->rows;
}

std::set<std::string> run_ids(Store& s, const std::string& dag) {
  RunFilter f;
  f.dag_id = dag;
  f.limit = 1000;
  auto runs = s.list_runs(f);
  REQUIRE(runs.ok());
  std::set<std::string> out;
  for (auto& r : *runs) out.insert(r.run_id);
  return out;
}

}  // namespace

TEST_CASE("clean: a dry run announces what the clean removes; what must stay stays") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("etl", "v1"), "default", 0, "system").ok());
    clock.set(at("2026-01-02T00:00:00Z"));
    REQUIRE(s.register_dag_version(version("etl", "v2"), "default", 0, "system").ok());
    REQUIRE(s.register_dag_version(version("solo", "v1"), "default", 0, "system").ok());
    REQUIRE(s.register_dag_version(version("bf", "v1"), "default", 0, "system").ok());

    // etl: two old finished runs (r1 removed; r2 kept: the run before the
    // unfinished r3, whose depends_on_past reads it), an old unfinished one,
    // the latest (old, kept), a recent one (kept).
    auto r1 = make_run(s, clock, "etl", "2026-01-01T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z", "v1");
    auto r2 = make_run(s, clock, "etl", "2026-01-02T00:00:00Z", RunState::failed, "2026-01-04T00:00:00Z", "v2");
    auto r3 = make_run(s, clock, "etl", "2026-01-03T00:00:00Z", RunState::running, "2026-01-05T00:00:00Z", "v2");
    auto r5 = make_run(s, clock, "etl", "2026-11-01T00:00:00Z", RunState::success, "2026-11-20T00:00:00Z", "v2");
    auto r4 = make_run(s, clock, "etl", "2026-12-01T00:00:00Z", RunState::success, "2026-01-06T00:00:00Z", "v2");
    // solo: one old finished run, its latest (kept).
    make_run(s, clock, "solo", "2026-01-01T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z");
    // bf: a running backfill counts on an old finished run (kept); a
    // finished backfill with no run left (removed).
    clock.set(at("2026-01-02T00:00:00Z"));
    BackfillRecord bf;
    bf.dag_id = "bf";
    bf.from_at = at("2026-01-01T00:00:00Z");
    bf.to_at = at("2026-01-02T00:00:00Z");
    bf.from_text = "2026-01-01";
    bf.to_text = "2026-01-02";
    bf.created_by = "alice";
    auto running = s.create_backfill(bf, "alice");
    REQUIRE(running.ok());
    auto done = s.create_backfill(bf, "alice");
    REQUIRE(done.ok());
    make_run(s, clock, "bf", "2026-01-01T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z", "v1",
             running->backfill.id);
    make_run(s, clock, "bf", "2026-01-02T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z", "v1",
             running->backfill.id);
    {
      WriteBatch b;
      BackfillRecord ended = done->backfill;
      ended.state = "success";
      ended.ended_at = at("2026-01-03T00:00:00Z");
      b.backfills.push_back(ended);
      REQUIRE(s.apply(b).ok());
    }
    // An SLA miss of a removed run, notifications (old sent: removed; old
    // pending and recent sent: kept), dataset events (the newest kept).
    clock.set(at("2026-01-04T00:00:00Z"));
    REQUIRE(s.record_sla_miss({0, "etl", r1.run.run_id, "", "run_deadline", clock.now(), clock.now()}).ok());
    REQUIRE(s.record_sla_miss({0, "etl", r4.run.run_id, "", "run_deadline", clock.now(), clock.now()}).ok());
    auto notify = [&](const char* when, const char* state) {
      clock.set(at(when));
      WriteBatch b;
      NotificationRecord n;
      n.event = "on_failure";
      n.dag_id = "etl";
      n.target_kind = "webhook";
      n.target = "http://127.0.0.1:1/hook";
      n.payload = "{}";
      n.next_attempt_at = clock.now() + std::chrono::hours(24 * 365);
      b.notifications.push_back(n);
      REQUIRE(s.apply(b).ok());
      auto all = s.list_notifications("etl", 100);
      REQUIRE(all.ok());
      NotificationRecord last = all->back();
      last.state = state;
      REQUIRE(s.update_notification(last).ok());
    };
    notify("2026-01-04T00:00:00Z", "sent");
    notify("2026-01-04T00:00:00Z", "pending");
    notify("2026-11-21T00:00:00Z", "sent");
    clock.set(at("2026-01-05T00:00:00Z"));
    for (int i = 0; i < 3; ++i) REQUIRE(s.record_dataset_event({0, "s3://lake/x", {}, "{}", {}, {}, {}}).ok());

    clock.set(at("2026-11-22T10:00:00Z"));
    auto audit_before = s.list_audit(all_audit());
    REQUIRE(audit_before.ok());

    CleanRequest req;
    req.runs_before = req.tries_before = req.logs_before = at("2026-06-01T00:00:00Z");
    req.batch_size = 3;  // several batches
    req.dry_run = true;
    auto dry = s.clean(req, "alice");
    INFO((dry.ok() ? std::string() : dry.error().message));
    REQUIRE(dry.ok());
    CHECK(dry->dry_run);
    CHECK(rows_of(*dry, "dag_runs") == 1);        // r1
    CHECK(rows_of(*dry, "task_instances") == 2);  // its
    // Its (2), and the old tries of the finished runs that stay: r2, r4, solo's, the backfill's (10).
    CHECK(rows_of(*dry, "task_tries") == 12);
    CHECK(rows_of(*dry, "log files") == 12);
    CHECK(rows_of(*dry, "sla_misses") == 1);
    CHECK(rows_of(*dry, "notifications") == 1);
    CHECK(rows_of(*dry, "backfills") == 1);
    CHECK(rows_of(*dry, "dataset_events") == 2);
    CHECK(rows_of(*dry, "dag_versions") == 1);  // etl v1: only r1 used it
    CHECK(dry->find("dag_runs")->oldest == at("2026-01-03T00:00:00Z"));
    CHECK(dry->find("dag_runs")->newest == at("2026-01-03T00:00:00Z"));
    CHECK(dry->batches == 0);
    // ... and changed nothing.
    CHECK(run_ids(s, "etl").size() == 5);
    CHECK(s.list_audit(all_audit())->size() == audit_before->size());

    std::vector<std::string> logs;
    req.dry_run = false;
    req.on_logs_removed = [&](const std::vector<std::string>& paths) {
      logs.insert(logs.end(), paths.begin(), paths.end());
      return static_cast<long long>(paths.size());
    };
    // Each batch of runs is taken under the guard (the scheduler's lock
    // against bringing a run back while it goes), released after it.
    int guards = 0, held = 0;
    req.batch_guard = [&]() -> std::shared_ptr<void> {
      ++guards;
      ++held;
      return std::shared_ptr<void>(&held, [](int* h) { --*h; });
    };
    auto done_clean = s.clean(req, "alice");
    INFO((done_clean.ok() ? std::string() : done_clean.error().message));
    REQUIRE(done_clean.ok());
    CHECK(guards >= 1);
    CHECK(held == 0);
    CHECK_FALSE(done_clean->dry_run);
    for (auto& t : dry->tables) {
      INFO(t.table);
      CHECK(rows_of(*done_clean, t.table.c_str()) == t.rows);
      CHECK(done_clean->find(t.table)->oldest == t.oldest);
      CHECK(done_clean->find(t.table)->newest == t.newest);
    }
    CHECK(done_clean->batches > 2);
    CHECK(logs.size() == 12);
    CHECK(std::count(logs.begin(), logs.end(), "etl/" + r1.run.run_id + "/a/1.log") == 1);

    // What stays: the unfinished run, the latest, the recent one; solo's
    // only run; the backfill's runs; their task instances.
    CHECK(run_ids(s, "etl") ==
          std::set<std::string>{r2.run.run_id, r3.run.run_id, r4.run.run_id, r5.run.run_id});
    CHECK(run_ids(s, "solo").size() == 1);
    CHECK(run_ids(s, "bf").size() == 2);
    CHECK(s.list_task_instances(r4.run.pk)->size() == 2);
    CHECK(s.list_tries(r4.tis[0].id)->empty());     // its old tries went
    CHECK(s.list_tries(r3.tis[0].id)->size() == 1);  // an unfinished run keeps them
    CHECK(s.list_tries(r5.tis[0].id)->size() == 1);  // recent
    CHECK(s.get_run("etl", r1.run.run_id).error().code == "not_found");
    CHECK(s.list_task_instances(r1.run.pk)->empty());
    CHECK(s.list_sla_misses(std::nullopt, std::nullopt, 0, 100)->size() == 1);
    CHECK(s.list_notifications("etl", 100)->size() == 2);
    CHECK(s.get_backfill(running->backfill.id).ok());
    CHECK(s.get_backfill(done->backfill.id).error().code == "not_found");
    CHECK(s.list_dataset_events("s3://lake/x", 0, 100)->size() == 1);
    CHECK(s.list_dag_versions("etl")->size() == 1);
    CHECK(s.get_dag_version("etl", "v2").ok());
    // The counts of the metrics follow (what is left, by state).
    auto counts = s.count_states();
    REQUIRE(counts.ok());
    long long runs_left = 0, tis_left = 0;
    for (auto& [state, n] : counts->runs) runs_left += n;
    for (auto& [state, n] : counts->task_instances) tis_left += n;
    CHECK(runs_left == 7);
    CHECK(tis_left == 14);
    CHECK(counts->sla_misses == 1);

    // The audit log: nothing removed, one db.cleaned entry per batch (with
    // its counts, which add up to the report's), intact.
    auto audit_after = s.list_audit(all_audit());
    REQUIRE(audit_after->size() == audit_before->size() + static_cast<size_t>(done_clean->batches));
    std::map<std::string, long long> audited;
    long long entries = 0;
    for (auto& e : *audit_after) {
      if (e.action != "db.cleaned") continue;
      ++entries;
      CHECK(e.actor == "alice");
      CHECK(e.details.find("2026-06-01T00:00:00Z") != std::string::npos);
      auto details = nlohmann::json::parse(e.details);
      for (auto& [table, n] : details["removed"].items()) audited[table] += n.get<long long>();
    }
    for (auto& t : done_clean->tables) {
      INFO(t.table);
      CHECK(audited[t.table] == t.rows);
    }
    CHECK(entries == done_clean->batches);
    auto check = s.verify_audit();
    REQUIRE(check.ok());
    CHECK_FALSE(check->first_bad_id);

    // Again: nothing left to remove, and no audit entry for nothing.
    auto again = s.clean(req, "alice");
    REQUIRE(again.ok());
    CHECK(again->total() == 0);
    CHECK(s.list_audit(all_audit())->size() == audit_after->size());
  });
}

TEST_CASE("clean: each kind on its own; logs go, their tries stay") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("etl", "v1"), "default", 0, "system").ok());
    auto r1 = make_run(s, clock, "etl", "2026-01-01T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z");
    make_run(s, clock, "etl", "2026-01-02T00:00:00Z", RunState::success, "2026-11-20T00:00:00Z");
    clock.set(at("2026-11-22T10:00:00Z"));

    // Nothing asked: nothing removed.
    auto none = s.clean(CleanRequest{}, "system");
    REQUIRE(none.ok());
    CHECK(none->total() == 0);

    CleanRequest logs_only;
    logs_only.logs_before = at("2026-06-01T00:00:00Z");
    logs_only.dry_run = true;
    auto dry = s.clean(logs_only, "system");
    REQUIRE(dry.ok());
    CHECK(rows_of(*dry, "log files") == 2);
    CHECK(rows_of(*dry, "task_tries") == 0);
    CHECK(rows_of(*dry, "dag_runs") == 0);
    logs_only.dry_run = false;
    std::vector<std::string> gone;
    logs_only.on_logs_removed = [&](const std::vector<std::string>& p) {
      gone.insert(gone.end(), p.begin(), p.end());
      return static_cast<long long>(p.size());
    };
    auto done = s.clean(logs_only, "system");
    REQUIRE(done.ok());
    CHECK(rows_of(*done, "log files") == 2);
    CHECK(gone.size() == 2);
    // A logs-only clean is audited too, with the files it removed.
    auto audit = s.list_audit(all_audit());
    REQUIRE(audit.ok());
    long long cleaned = 0;
    for (auto& e : *audit)
      if (e.action == "db.cleaned") {
        ++cleaned;
        CHECK(e.details.find("\"log files\":2") != std::string::npos);
      }
    CHECK(cleaned == 1);
    auto tries = s.list_tries(r1.tis[0].id);
    REQUIRE(tries->size() == 1);
    CHECK_FALSE((*tries)[0].log_path);
    CHECK((*tries)[0].state == TaskState::success);

    // Tries: the rows of the old run's tries go; the run stays.
    CleanRequest tries_only;
    tries_only.tries_before = at("2026-06-01T00:00:00Z");
    auto t = s.clean(tries_only, "system");
    REQUIRE(t.ok());
    CHECK(rows_of(*t, "task_tries") == 2);
    CHECK(rows_of(*t, "log files") == 0);  // already gone
    CHECK(s.list_tries(r1.tis[0].id)->empty());
    CHECK(s.get_run("etl", r1.run.run_id).ok());
    CHECK(s.verify_audit()->first_bad_id == std::nullopt);
  });
}

TEST_CASE("clean: keeps the runs a running backfill or a depends_on_past gate may read") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("d", "v1"), "default", 0, "system").ok());
    REQUIRE(s.register_dag_version(version("b", "v1"), "default", 0, "system").ok());
    // d: l1, l2 finished; l3 running (reads l2); l4 the latest finished; l5 queued, the latest.
    auto l1 = make_run(s, clock, "d", "2026-01-01T00:00:00Z", RunState::success, "2026-01-02T00:00:00Z");
    auto l2 = make_run(s, clock, "d", "2026-01-02T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z");
    auto l3 = make_run(s, clock, "d", "2026-01-03T00:00:00Z", RunState::running, "2026-01-04T00:00:00Z");
    auto l4 = make_run(s, clock, "d", "2026-01-04T00:00:00Z", RunState::success, "2026-01-05T00:00:00Z");
    auto l5 = make_run(s, clock, "d", "2026-01-05T00:00:00Z", RunState::queued, "2026-01-06T00:00:00Z");
    // b: a running backfill over 01-01..01-03 may rerun b1 (not made by it); b2 is outside.
    clock.set(at("2026-01-02T00:00:00Z"));
    BackfillRecord bf;
    bf.dag_id = "b";
    bf.from_at = at("2026-01-01T00:00:00Z");
    bf.to_at = at("2026-01-03T00:00:00Z");
    bf.from_text = "2026-01-01";
    bf.to_text = "2026-01-03";
    bf.created_by = "alice";
    REQUIRE(s.create_backfill(bf, "alice").ok());
    auto b1 = make_run(s, clock, "b", "2026-01-02T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z");
    auto b2 = make_run(s, clock, "b", "2026-01-10T00:00:00Z", RunState::success, "2026-01-11T00:00:00Z");
    auto b3 = make_run(s, clock, "b", "2026-01-11T00:00:00Z", RunState::success, "2026-01-12T00:00:00Z");
    clock.set(at("2026-11-22T10:00:00Z"));

    CleanRequest req;
    req.runs_before = at("2026-06-01T00:00:00Z");
    req.dry_run = true;
    auto dry = s.clean(req, "alice");
    REQUIRE(dry.ok());
    CHECK(rows_of(*dry, "dag_runs") == 2);  // l1, b2
    req.dry_run = false;
    auto done = s.clean(req, "alice");
    REQUIRE(done.ok());
    CHECK(rows_of(*done, "dag_runs") == 2);
    CHECK(run_ids(s, "d") == std::set<std::string>{l2.run.run_id, l3.run.run_id, l4.run.run_id, l5.run.run_id});
    CHECK(run_ids(s, "b") == std::set<std::string>{b1.run.run_id, b3.run.run_id});
    (void)l1;
    (void)b2;
  });
}

TEST_CASE("clean: a keyed audit log without the key removes nothing") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("etl", "v1"), "default", 0, "system").ok());
    make_run(s, clock, "etl", "2026-01-01T00:00:00Z", RunState::success, "2026-01-02T00:00:00Z");
    make_run(s, clock, "etl", "2026-01-02T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z");
    {
      OpenOptions keyed;
      keyed.audit_key = std::string("0123456789abcdef0123456789abcdef");
      auto k = open_store(g_url, clock, keyed);
      REQUIRE(k.ok());
      REQUIRE((*k)->append_audit("alice", "note", "db", "{}").ok());
    }
    clock.set(at("2026-11-22T10:00:00Z"));
    CleanRequest req;
    req.runs_before = req.tries_before = req.logs_before = at("2026-06-01T00:00:00Z");
    bool files = false;
    req.on_logs_removed = [&](const std::vector<std::string>& p) {
      files = true;
      return static_cast<long long>(p.size());
    };
    auto r = s.clean(req, "alice");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "failed_precondition");
    CHECK_FALSE(files);
    CHECK(run_ids(s, "etl").size() == 2);
    auto tries = s.list_tries(s.list_task_instances(s.get_run("etl", "scheduled__2026-01-01T00:00:00Z")->pk)->at(0).id);
    REQUIRE(tries.ok());
    REQUIRE(tries->size() == 1);
    CHECK(tries->at(0).log_path);
  });
}

TEST_CASE("clean: a batch's log files are removed only once its transaction committed") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("etl", "v1"), "default", 0, "system").ok());
    make_run(s, clock, "etl", "2026-01-01T00:00:00Z", RunState::success, "2026-01-02T00:00:00Z");
    make_run(s, clock, "etl", "2026-01-02T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z");
    make_run(s, clock, "etl", "2026-01-03T00:00:00Z", RunState::success, "2026-11-20T00:00:00Z");  // stays
    clock.set(at("2026-11-22T10:00:00Z"));
    // Another connection (another process): it sees what was committed only.
    OpenOptions no_migrate;
    no_migrate.migrate = false;
    auto other = open_store(g_url, clock, no_migrate);
    REQUIRE(other.ok());
    CleanRequest req;
    req.runs_before = at("2026-06-01T00:00:00Z");
    req.batch_size = 3;  // a run and its two task instances a batch
    std::vector<std::string> committed, not_yet;
    req.on_logs_removed = [&](const std::vector<std::string>& paths) {
      for (auto& p : paths) {  // etl/<run id>/<task>/1.log
        std::string run_id = p.substr(4, p.find('/', 4) - 4);
        ((*other)->get_run("etl", run_id).ok() ? not_yet : committed).push_back(p);
      }
      return static_cast<long long>(paths.size());
    };
    auto done = s.clean(req, "system");
    INFO((done.ok() ? std::string() : done.error().message));
    REQUIRE(done.ok());
    CHECK(rows_of(*done, "dag_runs") == 2);
    CHECK(done->batches == 2);
    CHECK(committed.size() == 4);
    CHECK(not_yet.empty());
  });
}

TEST_CASE("clean: a run made unfinished again (cleared) before the clean is kept") {
  each_store([](Store& s, FakeClock& clock) {
    REQUIRE(s.register_dag_version(version("etl", "v1"), "default", 0, "system").ok());
    auto r1 = make_run(s, clock, "etl", "2026-01-01T00:00:00Z", RunState::success, "2026-01-02T00:00:00Z");
    auto r2 = make_run(s, clock, "etl", "2026-01-02T00:00:00Z", RunState::success, "2026-01-03T00:00:00Z");
    auto r3 = make_run(s, clock, "etl", "2026-01-03T00:00:00Z", RunState::success, "2026-11-20T00:00:00Z");
    clock.set(at("2026-11-22T10:00:00Z"));
    CleanRequest req;
    req.runs_before = req.logs_before = at("2026-06-01T00:00:00Z");
    req.dry_run = true;
    CHECK(rows_of(*s.clean(req, "system"), "dag_runs") == 2);  // r1, r2
    // An operator clears a task of r1, as the scheduler writes it: the run
    // queued again, the task instance to run again.
    WriteBatch clear;
    RunRecord run = r1.run;
    run.state = RunState::queued;
    run.ended_at.reset();
    clear.runs.push_back(run);
    TaskInstanceRecord ti = r1.tis[0];
    ti.state = TaskState::scheduled;
    clear.task_instances.push_back(ti);
    REQUIRE(s.apply(clear).ok());
    req.dry_run = false;
    auto done = s.clean(req, "system");
    REQUIRE(done.ok());
    CHECK(rows_of(*done, "dag_runs") == 1);
    CHECK(run_ids(s, "etl") == std::set<std::string>{r1.run.run_id, r3.run.run_id});
    CHECK(s.list_task_instances(r1.run.pk)->size() == 2);
    CHECK(s.list_tries(r1.tis[0].id)->size() == 1);
    (void)r2;
  });
}
