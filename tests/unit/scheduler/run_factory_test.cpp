// The run factory on its own, with a fake run sink and a fake clock:
// timetables with and without catchup, manual triggers, dataset runs.
#include <catch2/catch.hpp>
#include <algorithm>
#include <set>

#include "dag_registry.h"
#include "loop.h"
#include "parts_support.h"
#include "run_factory.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;

namespace {

struct FakeSink final : RunSink {
  std::vector<store::RunRecord> adopted;
  std::map<std::string, int> unfinished;
  int dispatches = 0;
  void adopt(const store::RunRecord& rec, const dsl::DagGraphPtr&, const std::vector<store::TaskInstanceRecord>& tis) override {
    CHECK_FALSE(tis.empty());
    adopted.push_back(rec);
    ++unfinished[rec.dag_id];
  }
  int unfinished_runs(const std::string& dag_id) override { return unfinished[dag_id]; }
  void dispatch() override { ++dispatches; }
  std::vector<std::string> run_ids() const {
    std::vector<std::string> out;
    for (auto& r : adopted) out.push_back(r.run_id);
    return out;
  }
};

struct Env {
  testing::PartsStore s;
  testing::FakeFencing fencing;
  FakeSink sink;
  Loop loop{s.clock};
  DagRegistry registry{*s.store, s.dags()};
  RunFactory factory{*s.store, s.clock, loop, registry, fencing, sink};
  Env() {
    registry.set_on_registered([this](DagEntry& d, const store::DagRecord* rec) {
      if (rec) factory.set_last_tick(d.dag_id, rec->last_tick);
      factory.plan(d);
    });
  }
  void write() { REQUIRE_FALSE(loop.write(*s.store, {}).fenced); }
};

}  // namespace

TEST_CASE("run factory: catchup makes the missed intervals, max_active_runs at a time, then waits for the next") {
  Env e;  // now: 2026-11-22T10:00Z
  e.s.write_dag("d.yaml",
                "dag: d\nschedule: '@daily'\nstart_date: 2026-11-18\ncatchup: true\nmax_active_runs: 2\n"
                "tasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  CHECK(e.sink.run_ids() == std::vector<std::string>{"scheduled__20261118T000000Z", "scheduled__20261119T000000Z"});
  CHECK_FALSE(e.factory.next_due());  // at its limit: a finishing run plans again
  e.sink.unfinished["d"] = 0;
  e.factory.plan(*e.registry.find("d"));
  e.factory.commit_runs();
  REQUIRE(e.sink.adopted.size() == 4);
  CHECK(e.sink.adopted[3].run_id == "scheduled__20261121T000000Z");
  CHECK_FALSE(e.factory.next_due());
  e.sink.unfinished["d"] = 0;
  e.factory.plan(*e.registry.find("d"));
  e.factory.commit_runs();
  CHECK(e.sink.adopted.size() == 4);  // the 22nd's interval is not over: it wakes when it is
  REQUIRE(e.factory.next_due());
  CHECK(format_utc(*e.factory.next_due()) == "2026-11-23T00:00:00Z");
  e.write();  // the last ticks reach the store
  CHECK(format_utc(*e.s.store->get_dag("d")->last_tick) == "2026-11-21T00:00:00Z");
  e.sink.unfinished["d"] = 0;
  e.factory.wake(e.s.clock.now());  // too early: nothing
  e.factory.commit_runs();
  CHECK(e.sink.adopted.size() == 4);
  e.s.clock.set(*parse_utc("2026-11-23T00:00:01Z"));
  e.factory.wake(e.s.clock.now());
  e.factory.commit_runs();
  REQUIRE(e.sink.adopted.size() == 5);
  CHECK(e.sink.adopted[4].run_id == "scheduled__20261122T000000Z");
}

TEST_CASE("run factory: without catchup only the latest interval gets a run, once") {
  Env e;
  e.s.write_dag("d.yaml", "dag: d\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: false\ntasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  CHECK(e.sink.run_ids() == std::vector<std::string>{"scheduled__20261121T000000Z"});
  e.factory.plan(*e.registry.find("d"));
  e.factory.commit_runs();
  CHECK(e.sink.adopted.size() == 1);
  CHECK(format_utc(*e.factory.next_due()) == "2026-11-23T00:00:00Z");
}

TEST_CASE("run factory: a paused or unowned DAG gets no runs") {
  Env e;
  e.s.write_dag("d.yaml", "dag: d\nschedule: '@daily'\nstart_date: 2026-11-20\ncatchup: true\ntasks:\n  a: {type: noop}\n");
  e.registry.set_on_registered([](DagEntry&, const store::DagRecord*) {});
  e.registry.scan(true);
  e.factory.commit_runs();
  e.registry.find("d")->paused = true;
  e.factory.plan(*e.registry.find("d"));
  e.factory.commit_runs();
  CHECK(e.sink.adopted.empty());
  CHECK_FALSE(e.factory.next_due());
}

TEST_CASE("run factory: a trigger checks the DAG and its params; a key seen before returns its first run") {
  Env e;
  e.s.write_dag("f.yaml", "dag: f\nparams: {region: eu}\ntasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  TriggerRequest req;
  CHECK(e.factory.trigger("nope", req, "alice").error().code == "not_found");
  req.params_json = R"({"regoin": "us"})";
  auto typo = e.factory.trigger("f", req, "alice");
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.error().message.find("did you mean \"region\"") != std::string::npos);
  req.params_json = "[1]";
  CHECK(e.factory.trigger("f", req, "alice").error().code == "invalid_argument");
  CHECK(e.sink.adopted.empty());
  req.params_json = R"({"region": "us"})";
  req.idempotency_key = "k1";
  auto first = e.factory.trigger("f", req, "alice");
  REQUIRE(first.ok());
  CHECK(first->created);
  CHECK(first->run.params.find("\"us\"") != std::string::npos);
  CHECK(first->run.created_by == "alice");
  auto again = e.factory.trigger("f", req, "bob");
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->run.run_id == first->run.run_id);
  CHECK(e.sink.adopted.size() == 1);
  CHECK(e.sink.dispatches == 1);
}

TEST_CASE("run factory: manual run ids are type, second and 8 random hex digits; a suffix already taken is drawn again") {
  Env e;  // now: 2026-11-22T10:00Z, for every trigger
  e.s.write_dag("f.yaml", "dag: f\ntasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  TriggerRequest req;
  auto plain = e.factory.trigger("f", req, "alice");
  REQUIRE(plain.ok());
  CHECK(plain->run.run_id.size() == std::string("manual__20261122T100000Z_").size() + 8);
  CHECK(plain->run.run_id.rfind("manual__20261122T100000Z_", 0) == 0);
  CHECK(plain->run.run_id.find_first_not_of("0123456789abcdef", 25) == std::string::npos);

  // Draws that collide: the second trigger draws "aaaaaaaa" again, then "bbbbbbbb".
  std::vector<std::string> draws = {"aaaaaaaa", "aaaaaaaa", "bbbbbbbb"};
  size_t next = 0;
  e.factory.set_run_id_suffixes([&] { return draws[std::min(next++, draws.size() - 1)]; });
  auto one = e.factory.trigger("f", req, "alice");
  REQUIRE(one.ok());
  CHECK(one->run.run_id == "manual__20261122T100000Z_aaaaaaaa");
  auto two = e.factory.trigger("f", req, "alice");
  REQUIRE(two.ok());
  CHECK(two->created);
  CHECK(two->run.run_id == "manual__20261122T100000Z_bbbbbbbb");
  CHECK(next == 3);
  // With an idempotency key as well: still a new run, under a fresh draw.
  draws = {"aaaaaaaa", "cccccccc"};
  next = 0;
  req.idempotency_key = "k";
  auto keyed = e.factory.trigger("f", req, "alice");
  REQUIRE(keyed.ok());
  CHECK(keyed->created);
  CHECK(keyed->run.run_id == "manual__20261122T100000Z_cccccccc");
  // Only when every draw is taken (8 in a row) does the trigger fail.
  draws = {"aaaaaaaa"};
  next = 0;
  req.idempotency_key.reset();
  auto stuck = e.factory.trigger("f", req, "alice");
  REQUIRE_FALSE(stuck.ok());
  CHECK(stuck.error().code == "conflict");
  CHECK(next == 8);
  CHECK(e.sink.adopted.size() == 4);
}

TEST_CASE("run factory: a thousand triggers of one DAG in one second all get runs, under distinct ids") {
  Env e;
  e.s.write_dag("f.yaml", "dag: f\ntasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto r = e.factory.trigger("f", TriggerRequest{}, "alice");
    REQUIRE(r.ok());
    ids.insert(r->run.run_id);
  }
  CHECK(ids.size() == 1000);
}

TEST_CASE("run factory: triggers queued together are made in one transaction, each answered as if alone") {
  Env e;  // now: 2026-11-22T10:00Z, for every trigger
  e.s.write_dag("f.yaml", "dag: f\nparams: {region: eu}\ntasks:\n  a: {type: noop}\n");
  e.s.write_dag("g.yaml", "dag: g\ntasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  std::vector<std::string> draws = {"00000001", "00000002", "00000003", "00000005", "00000002", "00000004"};
  size_t next = 0;
  e.factory.set_run_id_suffixes([&] { return draws[std::min(next++, draws.size() - 1)]; });
  TriggerRequest plain, keyed, typo;
  keyed.idempotency_key = "k1";
  typo.params_json = R"({"regoin": "us"})";
  TriggerRequest keyed_typo = typo;
  keyed_typo.idempotency_key = "k1";
  std::vector<RunFactory::Trigger> batch = {
      {"f", plain, "alice"},  // 00000001
      {"g", keyed, "bob"},    // 00000002
      {"nope", plain, "carol"},
      {"f", typo, "carol"},
      {"f", keyed, "dave"},   // 00000003 (another DAG's key)
      {"g", keyed, "erin"},   // 00000005, but the key bob's trigger made in this batch: bob's run
      {"g", plain, "frank"},  // 00000002 again: taken by bob's, drawn again alone (00000004)
      {"g", keyed_typo, "gus"},  // params refused, but bob's key: bob's run, as one after the other
  };
  long long commits = e.factory.trigger_commits();
  auto answers = e.factory.trigger_all(batch);
  REQUIRE(answers.size() == batch.size());
  CHECK(e.factory.trigger_commits() == commits + 2);  // the batch, and frank's second draw
  REQUIRE(answers[0].ok());
  CHECK(answers[0]->run.run_id == "manual__20261122T100000Z_00000001");
  CHECK(answers[0]->run.created_by == "alice");
  REQUIRE(answers[1].ok());
  CHECK(answers[1]->created);
  CHECK(answers[1]->run.run_id == "manual__20261122T100000Z_00000002");
  CHECK(answers[2].error().code == "not_found");
  CHECK(answers[3].error().message.find("did you mean \"region\"") != std::string::npos);
  REQUIRE(answers[4].ok());
  CHECK(answers[4]->created);
  CHECK(answers[4]->run.dag_id == "f");
  REQUIRE(answers[5].ok());
  CHECK_FALSE(answers[5]->created);
  CHECK(answers[5]->run.run_id == answers[1]->run.run_id);
  CHECK(answers[5]->run.created_by == "bob");
  REQUIRE(answers[6].ok());
  CHECK(answers[6]->created);
  CHECK(answers[6]->run.run_id == "manual__20261122T100000Z_00000004");
  REQUIRE(answers[7].ok());
  CHECK_FALSE(answers[7]->created);
  CHECK(answers[7]->run.run_id == answers[1]->run.run_id);
  CHECK(e.sink.adopted.size() == 4);
  CHECK(e.sink.dispatches == 1);
  // Each run made is audited under its own trigger's actor.
  store::AuditFilter f;
  f.action = "run.triggered";
  auto audit = e.s.store->list_audit(f);
  REQUIRE(audit.ok());
  std::multiset<std::string> actors;
  for (auto& a : *audit) actors.insert(a.actor);
  CHECK(actors == std::multiset<std::string>{"alice", "bob", "dave", "frank"});
}

TEST_CASE("run factory: a dataset DAG gets a run when each of its URIs has an event, and consumes them") {
  Env e;
  e.s.write_dag("c.yaml", "dag: c\nschedule: {datasets: ['s3://a', 's3://b']}\ntasks:\n  x: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  auto event = [&](const std::string& uri) {
    store::WriteBatch b;
    store::DatasetEvent ev;
    ev.uri = uri;
    ev.at = e.s.clock.now();
    b.dataset_events.push_back(ev);
    REQUIRE(e.s.store->apply(b).ok());
  };
  event("s3://a");
  e.factory.poll_datasets();
  CHECK(e.sink.adopted.empty());  // s3://b has none yet
  event("s3://b");
  e.factory.poll_datasets();
  REQUIRE(e.sink.adopted.size() == 1);
  CHECK(e.sink.adopted[0].run_type == "dataset");
  CHECK(e.sink.adopted[0].params.find("s3://b") != std::string::npos);
  e.factory.check_datasets();  // the events are consumed: no second run
  CHECK(e.sink.adopted.size() == 1);
}

TEST_CASE("run factory: a default param's template is rendered when the run is made; a trigger's value never") {
  Env e;  // now: 2026-11-22T10:00Z
  e.s.write_dag("p.yaml",
                "dag: p\nschedule: '@daily'\nstart_date: 2026-11-21\n"
                "params: {day: 'day={{ ds }}', bucket: '{{ var.bucket }}/{{ dag_id }}', given: x, n: 3}\n"
                "tasks:\n  a: {type: noop}\n");
  REQUIRE(e.s.store->put_variable("bucket", "s3://b", "test").ok());
  e.registry.scan(true);
  e.factory.commit_runs();
  REQUIRE(e.sink.adopted.size() == 1);  // the scheduled run of the 21st
  CHECK(e.sink.adopted[0].params == R"({"bucket":"s3://b/p","day":"day=2026-11-21","given":"x","n":3})");

  TriggerRequest req;
  req.logical_date = *parse_utc("2026-11-20T00:00:00Z");
  req.params_json = R"({"given": "{{ var.bucket }}", "day": "{{ ds }}"})";
  auto r = e.factory.trigger("p", req, "alice");
  REQUIRE(r.ok());
  CHECK(r->run.params == R"({"bucket":"s3://b/p","day":"{{ ds }}","given":"{{ var.bucket }}","n":3})");

  // A default that cannot be rendered: a trigger is refused with the reason.
  REQUIRE(e.s.store->delete_variable("bucket", "test").ok());
  auto refused = e.factory.trigger("p", TriggerRequest{}, "alice");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "invalid_argument");
  CHECK(refused.error().message.find("params.bucket") != std::string::npos);
  CHECK(refused.error().message.find("var.bucket") != std::string::npos);
}

TEST_CASE("run factory: DAGs due at the same minute are made in one turn with one write; a turn with none due plans none") {
  Env e;  // now: 2026-11-22T10:00Z
  constexpr int kDags = 200;
  for (int i = 0; i < kDags; ++i)
    e.s.write_dag("d" + std::to_string(i) + ".yaml",
                  "dag: d" + std::to_string(i) + "\nschedule: '" + (i % 2 ? "*/1 * * * *" : "every 1m") +
                      "'\nstart_date: 2026-11-01\ntasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  e.factory.commit_runs();
  e.write();
  REQUIRE(e.sink.adopted.size() == kDags);  // each DAG's latest interval
  REQUIRE(e.factory.next_due());
  CHECK(format_utc(*e.factory.next_due()) == "2026-11-22T10:01:00Z");

  // A turn before the minute: nothing is due, no DAG is looked at.
  e.s.clock.set(*parse_utc("2026-11-22T10:00:30Z"));
  long long plans = e.factory.plans(), commits = e.factory.run_commits();
  e.factory.wake(e.s.clock.now());
  CHECK_FALSE(e.factory.commit_runs());
  CHECK(e.factory.plans() == plans);
  CHECK(e.factory.run_commits() == commits);

  // The minute: every DAG fires in this turn, all its runs in one transaction.
  e.s.clock.set(*parse_utc("2026-11-22T10:01:00Z"));
  e.factory.wake(e.s.clock.now());
  CHECK(e.factory.plans() - plans == kDags);
  CHECK(e.factory.commit_runs());
  CHECK(e.factory.run_commits() - commits == 1);
  REQUIRE(e.sink.adopted.size() == 2 * kDags);
  std::set<std::string> ids;
  for (size_t i = kDags; i < e.sink.adopted.size(); ++i) {
    CHECK(e.sink.adopted[i].run_id == "scheduled__20261122T100000Z");
    CHECK(e.sink.adopted[i].pk > 0);
    ids.insert(e.sink.adopted[i].dag_id);
  }
  CHECK(ids.size() == kDags);
  e.write();
  CHECK(format_utc(*e.s.store->get_dag("d7")->last_tick) == "2026-11-22T10:00:00Z");
  CHECK(format_utc(*e.factory.next_due()) == "2026-11-22T10:02:00Z");
}

TEST_CASE("run factory: a run its interval has already is not made again, and the timetable moves on") {
  Env e;
  e.s.write_dag("d.yaml", "dag: d\nschedule: '*/1 * * * *'\nstart_date: 2026-11-01\ntasks:\n  a: {type: noop}\n");
  e.registry.scan(true);
  REQUIRE(e.factory.commit_runs());
  // Another life made the 10:00 run already (its last tick never reached the store).
  DagRegistry again(*e.s.store, e.s.dags());
  RunFactory other{*e.s.store, e.s.clock, e.loop, again, e.fencing, e.sink};
  again.set_on_registered([&](DagEntry& d, const store::DagRecord*) { other.plan(d); });
  e.s.clock.set(*parse_utc("2026-11-22T10:00:30Z"));
  again.scan(true);
  CHECK_FALSE(other.commit_runs());  // a conflict: nothing adopted
  CHECK(e.sink.adopted.size() == 1);
  CHECK(format_utc(*other.next_due()) == "2026-11-22T10:01:00Z");
}

TEST_CASE("run factory: a minute's runs are built in the second before it; a version changed since is built again") {
  Env e;  // now: 2026-11-22T10:00Z
  e.s.write_dag("d.yaml", "dag: d\nschedule: '*/1 * * * *'\nstart_date: 2026-11-01\ntasks:\n  a: {type: noop}\n");
  // A default param's template reads variables when the run is made: never ahead.
  e.s.write_dag("p.yaml",
                "dag: p\nschedule: '*/1 * * * *'\nstart_date: 2026-11-01\nparams: {b: '{{ var.bucket }}'}\n"
                "tasks:\n  a: {type: noop}\n");
  REQUIRE(e.s.store->put_variable("bucket", "s3://old", "test").ok());
  e.registry.scan(true);
  e.factory.commit_runs();
  e.write();  // the last ticks reach the store, as after every turn
  REQUIRE(e.sink.adopted.size() == 2);
  REQUIRE(e.factory.next_build());
  CHECK(format_utc(*e.factory.next_build()) == "2026-11-22T10:00:59Z");

  // The second before the minute: built, not made.
  e.s.clock.set(*parse_utc("2026-11-22T10:00:59Z"));
  long long plans = e.factory.plans();
  e.factory.wake(e.s.clock.now());
  CHECK_FALSE(e.factory.commit_runs());
  CHECK(e.factory.plans() == plans);
  CHECK(e.factory.built_ahead() == 0);
  CHECK_FALSE(e.factory.next_build());  // 10:02 is armed when 10:01 is planned
  REQUIRE(e.s.store->put_variable("bucket", "s3://new", "test").ok());

  // The minute: d's run is the one built ahead, p's is made now.
  e.s.clock.set(*parse_utc("2026-11-22T10:01:00Z"));
  e.factory.wake(e.s.clock.now());
  REQUIRE(e.factory.commit_runs());
  e.write();
  CHECK(e.factory.built_ahead() == 1);
  REQUIRE(e.factory.next_build());
  CHECK(format_utc(*e.factory.next_build()) == "2026-11-22T10:01:59Z");
  REQUIRE(e.sink.adopted.size() == 4);
  std::map<std::string, store::RunRecord> made;
  for (size_t i = 2; i < 4; ++i) made[e.sink.adopted[i].dag_id] = e.sink.adopted[i];
  CHECK(made["d"].run_id == "scheduled__20261122T100000Z");
  CHECK(format_utc(made["d"].data_interval_end) == "2026-11-22T10:01:00Z");
  CHECK(made["d"].dag_version == e.registry.find("d")->graph->hash());
  CHECK(made["p"].params == R"({"b":"s3://new"})");
  auto tis = e.s.store->list_task_instances(made["d"].pk);
  REQUIRE(tis.ok());
  REQUIRE(tis->size() == 1);
  CHECK(tis->front().task_id == "a");

  // Built for 10:02, then the file changes: the run is the new version's.
  e.s.clock.set(*parse_utc("2026-11-22T10:01:59Z"));
  e.factory.wake(e.s.clock.now());
  e.s.write_dag("d.yaml",
                "dag: d\nschedule: '*/1 * * * *'\nstart_date: 2026-11-01\ntasks:\n  a: {type: noop}\n"
                "  b: {type: noop, depends_on: [a]}\n");
  e.registry.scan(false);
  CHECK_FALSE(e.factory.commit_runs());  // the new version's plan makes nothing before 10:02
  e.s.clock.set(*parse_utc("2026-11-22T10:02:00Z"));
  long long commits = e.factory.run_commits();
  e.factory.wake(e.s.clock.now());
  REQUIRE(e.factory.commit_runs());
  e.write();
  CHECK(e.factory.run_commits() - commits == 1);
  CHECK(e.factory.built_ahead() == 1);  // the record of the old version was not used
  REQUIRE(e.sink.adopted.size() == 6);
  std::set<std::string> dags;
  for (size_t i = 4; i < 6; ++i) {
    dags.insert(e.sink.adopted[i].dag_id);
    CHECK(e.sink.adopted[i].run_id == "scheduled__20261122T100100Z");
    if (e.sink.adopted[i].dag_id != "d") continue;
    CHECK(e.sink.adopted[i].dag_version == e.registry.find("d")->graph->hash());
    auto tis2 = e.s.store->list_task_instances(e.sink.adopted[i].pk);
    REQUIRE(tis2.ok());
    CHECK(tis2->size() == 2);
  }
  CHECK(dags == std::set<std::string>{"d", "p"});
}

TEST_CASE("run factory: without catchup each wake-up makes the latest complete interval, across DST and to end_date") {
  // Woken on time, the factory steps forward from the last run; woken late,
  // it searches back from now. Either way the run is the schedule's latest
  // complete interval (Schedule::last_complete_interval, the search).
  struct Case {
    std::string from;  // the clock at the first plan
    std::string yaml;
    int late_every;  // every n-th wake-up comes 100 minutes late
  };
  // Berlin springs forward on 2027-03-28 and falls back on 2027-10-31; New
  // York on 2027-03-14 and 2027-11-07.
  const std::vector<Case> cases = {
      {"2027-03-27T12:10:00Z", "schedule: '30 2 * * *'\ntimezone: Europe/Berlin\nstart_date: 2027-03-20\n", 3},
      {"2027-10-30T12:10:00Z", "schedule: '30 2 * * *'\ntimezone: Europe/Berlin\nstart_date: 2027-10-20\n", 3},
      {"2027-10-30T20:10:00Z", "schedule: '*/20 1-3 * * *'\ntimezone: Europe/Berlin\nstart_date: 2027-10-20\n", 4},
      {"2027-03-13T12:10:00Z", "schedule: '0 */6 * * *'\ntimezone: America/New_York\nstart_date: 2027-03-10\n", 4},
      {"2027-03-13T23:10:00Z", "schedule: '*/45 1-3 * * *'\ntimezone: America/New_York\nstart_date: 2027-03-10\n", 5},
      {"2027-11-06T23:10:00Z", "schedule: '*/30 1-2 * * *'\ntimezone: America/New_York\nstart_date: 2027-11-01\n", 4},
      {"2027-03-27T12:10:00Z", "schedule: every 90m\nstart_date: 2027-03-20\n", 3},
      {"2027-03-27T12:10:00Z", "schedule: '0 * * * *'\nstart_date: 2027-03-27\nend_date: 2027-03-28T05:00:00\n", 7},
  };
  for (auto& c : cases) {
    INFO(c.yaml);
    Env e;
    e.s.clock.set(*parse_utc(c.from));
    e.s.write_dag("d.yaml", "dag: d\n" + c.yaml + "catchup: false\ntasks:\n  a: {type: noop}\n");
    e.registry.scan(true);
    e.factory.commit_runs();
    const Schedule& s = e.registry.find("d")->graph->schedule();
    int made = 0;
    for (int i = 1; i <= 30; ++i) {
      auto due = e.factory.next_due();
      if (!due) break;  // past end_date
      TimePoint now = *due + (i % c.late_every == 0 ? std::chrono::minutes(100) : std::chrono::minutes(0));
      e.s.clock.set(now);
      size_t before = e.sink.adopted.size();
      e.factory.wake(now);
      e.factory.commit_runs();
      e.write();
      auto want = s.last_complete_interval(now);
      REQUIRE(want);
      REQUIRE(e.sink.adopted.size() == before + 1);
      INFO("woken at " << format_utc(now));
      CHECK(format_utc(e.sink.adopted.back().data_interval_start) == format_utc(want->start));
      CHECK(format_utc(e.sink.adopted.back().data_interval_end) == format_utc(want->end));
      e.sink.unfinished["d"] = 0;
      ++made;
    }
    CHECK(made >= 5);
  }
}
