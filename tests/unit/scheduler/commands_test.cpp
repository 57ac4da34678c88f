// Commands on their own: an intent encoded by one process is carried out
// through the owner's Control with the same arguments, with the command's id
// as the idempotency key; answers decode to what the call returned.
#include <catch2/catch.hpp>

#include "baton/core/time.h"
#include "commands.h"

using namespace baton;
using namespace baton::scheduler;

namespace {

// Records what a command asked for, and which command was current then.
struct FakeControl final : Control {
  std::vector<std::string> calls;
  TriggerRequest trigger_req;
  BackfillRequest backfill_req;
  long long current_id = 0;
  Result<TriggerResult> trigger(const std::string& dag_id, const TriggerRequest& r, const std::string& actor) override {
    calls.push_back("trigger " + dag_id + " by " + actor);
    trigger_req = r;
    current_id = commands::current().id;
    return TriggerResult{};
  }
  Status cancel_run(const std::string& dag_id, const std::string& run_id, const std::string&) override {
    calls.push_back("cancel " + dag_id + "/" + run_id);
    return {};
  }
  Status clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id, bool downstream,
                    bool latest, const std::string&) override {
    calls.push_back("clear " + dag_id + "/" + run_id + "/" + task_id + (downstream ? " downstream" : "") +
                    (latest ? " latest" : ""));
    return {};
  }
  Status mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id, TaskState to,
                   const std::string&) override {
    calls.push_back("mark " + dag_id + "/" + run_id + "/" + task_id + " " + to_string(to));
    return {};
  }
  Status set_paused(const std::string& dag_id, bool paused, const std::string&) override {
    calls.push_back(std::string(paused ? "pause " : "unpause ") + dag_id);
    return {};
  }
  Result<BackfillResult> create_backfill(const BackfillRequest& r, const std::string&) override {
    calls.push_back("backfill " + r.dag_id);
    backfill_req = r;
    return BackfillResult{};
  }
  Status cancel_backfill(long long id, const std::string&) override {
    calls.push_back("cancel backfill " + std::to_string(id));
    return {};
  }
  Result<std::vector<std::string>> waiting_for(const std::string& dag_id, const std::string& run_id,
                                               const std::string& task_id, int map_index) override {
    calls.push_back("why " + dag_id + "/" + run_id + "/" + task_id + "[" + std::to_string(map_index) + "]");
    return std::vector<std::string>{};
  }
  SchedulerStatus status() override { return {}; }
  Result<SchedulerMetrics> metrics() override { return SchedulerMetrics{}; }
  std::string logs_dir() const override { return ""; }
  void datasets_changed() override {}
};

store::CommandRecord command(long long id, const std::string& kind, const std::string& payload) {
  store::CommandRecord c;
  c.id = id;
  c.kind = kind;
  c.dag_id = "d";
  c.payload = payload;
  c.created_by = "ada";
  return c;
}

}  // namespace

TEST_CASE("commands: each intent reaches the owner's Control with its arguments") {
  FakeControl control;
  TriggerRequest t;
  t.params_json = R"({"region":"eu"})";
  t.note = "hello";
  t.logical_date = *parse_utc("2026-11-21T00:00:00Z");
  commands::execute(control, command(7, "trigger", commands::encode_trigger(t)));
  CHECK(control.trigger_req.params_json == R"({"region":"eu"})");
  CHECK(control.trigger_req.note == std::optional<std::string>("hello"));
  CHECK(control.trigger_req.logical_date == t.logical_date);
  // Carried out twice, a command makes one run: its id is the key.
  CHECK(control.trigger_req.idempotency_key == std::optional<std::string>("command:7"));
  CHECK(control.current_id == 7);
  CHECK(commands::current().id == 0);  // only while it is carried out
  commands::execute(control, command(8, "cancel_run", commands::encode_run("r1")));
  commands::execute(control, command(9, "clear_task", commands::encode_clear("r1", "t", true, false)));
  commands::execute(control, command(10, "mark_task", commands::encode_mark("r1", "t", TaskState::success)));
  commands::execute(control, command(11, "set_paused", commands::encode_paused(true)));
  BackfillRequest b;
  b.dag_id = "d";
  b.from = "2026-11-01";
  b.to = "2026-11-03";
  b.tasks = {"t"};
  commands::execute(control, command(12, "create_backfill", commands::encode_backfill(b)));
  CHECK(control.backfill_req.tasks == std::vector<std::string>{"t"});
  CHECK(control.backfill_req.idempotency_key == std::optional<std::string>("command:12"));
  commands::execute(control, command(13, "cancel_backfill", commands::encode_backfill_id(5)));
  commands::execute(control, command(14, "waiting_for", commands::encode_waiting_for("r1", "t", 2)));
  CHECK(control.calls == std::vector<std::string>{"trigger d by ada", "cancel d/r1", "clear d/r1/t downstream",
                                                   "mark d/r1/t success", "pause d", "backfill d",
                                                   "cancel backfill 5", "why d/r1/t[2]"});
}

TEST_CASE("commands: a malformed payload is left unanswered, nothing is called") {
  FakeControl control;
  commands::execute(control, command(1, "cancel_run", "{}"));
  commands::execute(control, command(2, "trigger", "not json"));
  CHECK(control.calls.empty());
}

TEST_CASE("commands: answers decode to what the call returned, errors with their code and message") {
  TriggerResult made;
  made.run.pk = 3;
  made.run.dag_id = "d";
  made.run.run_id = "manual__1";
  made.run.state = RunState::running;
  made.created = false;
  auto a = commands::answer(4, Result<TriggerResult>(made));
  CHECK(a.id == 4);
  CHECK(a.status == "ok");
  store::CommandRecord c;
  c.status = a.status;
  c.result = a.result;
  auto back = commands::trigger_of(c);
  REQUIRE(back.ok());
  CHECK(back->run.run_id == "manual__1");
  CHECK(back->run.state == RunState::running);
  CHECK_FALSE(back->created);
  auto e = commands::answer(5, Status(Error::not_found("no DAG \"x\"")));
  c.status = e.status;
  c.result = e.result;
  auto st = commands::status_of(c);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == "not_found");
  CHECK(st.error().message == "no DAG \"x\"");
}
