// Automatic retention on its own, with a fake clock: when the clean is due
// (first shortly after start, then every interval), only while this process
// leads, with cutoffs `now - N days`; the log files it removes stay inside
// the logs folder; the settings' values are checked.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "baton/scheduler/retention.h"
#include "membership.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;
namespace fs = std::filesystem;

namespace {

// A finished run of `dag` that ended at `ended`, with one try whose log is `log`.
void finished_run(store::Store& s, FakeClock& clock, const std::string& dag, const char* logical, TimePoint ended,
                  const std::string& log) {
  TimePoint now = clock.now();
  clock.set(ended);
  store::RunRecord r;
  r.dag_id = dag;
  r.logical_date = *parse_utc(logical);
  r.data_interval_start = r.data_interval_end = r.logical_date;
  r.run_id = std::string("manual__") + logical;
  r.run_type = "manual";
  r.dag_version = "v1";
  r.state = RunState::success;
  r.ended_at = ended;
  store::TaskInstanceRecord t;
  t.task_id = "a";
  t.state = TaskState::success;
  auto c = s.create_run(r, {t}, "system");
  REQUIRE(c.ok());
  store::WriteBatch b;
  store::TryRecord y;
  y.ti_id = c->task_instances[0].id;
  y.state = TaskState::success;
  y.ended_at = ended;
  y.log_path = log;
  b.tries.push_back(y);
  REQUIRE(s.apply(b).ok());
  clock.set(now);
}

void register_dag(store::Store& s, const std::string& dag) {
  store::DagVersionRecord v;
  v.dag_id = dag;
  v.version = "v1";
  v.compiled = "{}";
  v.source = "x";
  v.file = dag + ".yaml";
  REQUIRE(s.register_dag_version(v, "default", 0, "system").ok());
}

}  // namespace

TEST_CASE("retention: the days of each setting, checked") {
  CHECK(*parse_retention_days("retention.runs_days", "") == std::nullopt);
  CHECK(*parse_retention_days("retention.runs_days", "90") == 90);
  for (const char* bad : {"0", "-1", "1.5", "ninety", "36501", "99999999999"}) {
    auto r = parse_retention_days("BATON_RETENTION_RUNS_DAYS", bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("BATON_RETENTION_RUNS_DAYS") != std::string::npos);
    CHECK(r.error().message.find("from 1 to 36500") != std::string::npos);
  }
  RetentionSettings s;
  CHECK_FALSE(s.any());
  s.tries_days = 30;
  auto req = retention_request(s, *parse_utc("2026-11-22T10:00:00Z"));
  CHECK_FALSE(req.runs_before);
  CHECK(req.tries_before == *parse_utc("2026-10-23T10:00:00Z"));
  CHECK_FALSE(req.logs_before);
}

TEST_CASE("retention: due first after start, then every interval, only while leading") {
  testing::PartsStore s;
  fs::path logs = s.dir / "logs";
  register_dag(*s.store, "etl");
  TimePoint now = s.clock.now();
  fs::create_directories(logs / "etl/manual__old/a");
  std::ofstream(logs / "etl/manual__old/a/1.log") << "old\n";
  finished_run(*s.store, s.clock, "etl", "2026-01-01T00:00:00Z", now - std::chrono::hours(24 * 3),
               "etl/manual__old/a/1.log");
  finished_run(*s.store, s.clock, "etl", "2026-01-02T00:00:00Z", now - std::chrono::hours(24 * 2), "x/1.log");
  finished_run(*s.store, s.clock, "etl", "2026-01-03T00:00:00Z", now - std::chrono::hours(1), "y/1.log");

  bool leading = false;
  RetentionOptions o;
  o.settings.runs_days = 1;
  o.logs_dir = logs.string();
  o.first_after = std::chrono::minutes(1);
  o.every = std::chrono::hours(1);
  RetentionJob job(*s.store, s.clock, o, [&] { return leading; });
  CHECK(job.next_due() == now + std::chrono::minutes(1));
  CHECK_FALSE(job.run_if_due());  // not yet
  s.clock.advance(std::chrono::minutes(1));
  CHECK_FALSE(job.run_if_due());  // due, but another process leads: look again a minute later
  CHECK(job.next_due() == s.clock.now() + std::chrono::minutes(1));
  leading = true;
  s.clock.advance(std::chrono::minutes(1));
  auto r = job.run_if_due();
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK((*r)->find("dag_runs")->rows == 2);  // older than a day; the latest stays
  CHECK((*r)->find("log files")->rows == 1);  // the files removed (x/1.log was not there)
  CHECK_FALSE(fs::exists(logs / "etl/manual__old/a/1.log"));
  CHECK_FALSE(fs::exists(logs / "etl"));  // its emptied folders went too
  CHECK(fs::exists(logs));
  CHECK(job.next_due() == s.clock.now() + std::chrono::hours(1));
  s.clock.advance(std::chrono::minutes(59));
  CHECK_FALSE(job.run_if_due());
  s.clock.advance(std::chrono::minutes(1));
  auto again = job.run_if_due();
  REQUIRE(again);
  REQUIRE(again->ok());
  CHECK((*again)->total() == 0);
  // The clean was audited once, as the system's.
  store::AuditFilter cleaned;
  cleaned.action = "db.cleaned";
  auto audit = s.store->list_audit(cleaned);
  REQUIRE(audit.ok());
  REQUIRE(audit->size() == 1);
  CHECK(audit->front().actor == "system");
}

TEST_CASE("retention: log files outside the logs folder are never removed") {
  testing::PartsStore s;
  fs::path logs = s.dir / "logs";
  fs::create_directories(logs / "d/r/t");
  std::ofstream(logs / "d/r/t/1.log") << "x";
  std::ofstream(logs / "d/r/t/2.log") << "x";
  std::ofstream(s.dir / "outside.log") << "x";
  CHECK(remove_log_files(logs.string(), {"d/r/t/1.log", "../outside.log", (s.dir / "outside.log").string(),
                                         "d/../../outside.log", "missing/1.log"}) == 1);
  CHECK(fs::exists(s.dir / "outside.log"));
  CHECK(fs::exists(logs / "d/r/t/2.log"));  // a folder with a file left stays
  CHECK(remove_log_files(logs.string(), {"d/r/t/2.log"}) == 1);
  CHECK_FALSE(fs::exists(logs / "d"));
  CHECK(fs::exists(logs));
}

TEST_CASE("retention: a path through a symlink, or with an empty or `.` part, is left alone") {
  testing::PartsStore s;
  fs::path logs = s.dir / "logs";
  fs::path outside = s.dir / "elsewhere";
  fs::create_directories(logs / "d/r");
  fs::create_directories(outside / "r");
  std::ofstream(outside / "r/1.log") << "x";
  std::ofstream(outside / "2.log") << "x";
  std::ofstream(logs / "d/r/3.log") << "x";
  fs::create_directory_symlink(outside, logs / "link");
  fs::create_symlink(outside / "2.log", logs / "d/r/2.log");
  CHECK(remove_log_files(logs.string(), {"link/r/1.log", "d/r/2.log", "d/./r/3.log", "d//r/3.log", "", ".", "d/r/"}) ==
        0);
  CHECK(fs::exists(outside / "r/1.log"));
  CHECK(fs::exists(outside / "r"));
  CHECK(fs::exists(outside / "2.log"));
  CHECK(fs::exists(logs / "d/r/3.log"));
  // The logs folder itself may be a symlink (the operator's choice); its parts may not.
  fs::create_directory_symlink(logs, s.dir / "logs-link");
  CHECK(remove_log_files((s.dir / "logs-link").string(), {"d/r/3.log"}) == 1);
  CHECK(fs::exists(logs));
  CHECK(remove_log_files((s.dir / "missing").string(), {"d/r/3.log"}) == 0);
}

TEST_CASE("retention: a process that no longer leads stops after its current batch") {
  testing::PartsStore s;
  register_dag(*s.store, "etl");
  TimePoint now = s.clock.now();
  for (int i = 1; i <= 4; ++i)
    finished_run(*s.store, s.clock, "etl", ("2026-01-0" + std::to_string(i) + "T00:00:00Z").c_str(),
                 now - std::chrono::hours(24 * (10 - i)), "etl/" + std::to_string(i) + ".log");
  int asked = 0;
  RetentionOptions o;
  o.settings.runs_days = 1;
  o.logs_dir = (s.dir / "logs").string();
  o.first_after = std::chrono::minutes(1);
  o.batch_size = 2;  // a run and its task instance a batch
  // Leads when the clean starts and at its first batch, then is deposed.
  RetentionJob job(*s.store, s.clock, o, [&] { return ++asked <= 2; });
  s.clock.advance(std::chrono::minutes(1));
  auto r = job.run_if_due();
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK((*r)->find("dag_runs")->rows == 1);
  CHECK((*r)->batches == 1);
}

TEST_CASE("retention: a standalone process leads (and so cleans) from its join until it leaves") {
  testing::PartsStore s;
  Membership m(*s.store, s.clock, {"host:1", false});
  CHECK_FALSE(m.leads());
  REQUIRE(m.join().ok());
  CHECK(m.leads());
  m.leave();
  CHECK_FALSE(m.leads());
}
