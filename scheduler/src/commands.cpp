#include "commands.h"

#include <nlohmann/json.hpp>

namespace baton::scheduler::commands {

using nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json opt(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }
json opt(const std::optional<TimePoint>& t) {
  return t ? json(t->time_since_epoch().count()) : json(nullptr);
}
json opt(const std::optional<long long>& v) { return v ? json(*v) : json(nullptr); }
long long us(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint tp(long long v) { return TimePoint(Duration(v)); }

std::optional<std::string> opt_text(const json& j, const char* k) {
  if (!j.contains(k) || j[k].is_null()) return std::nullopt;
  return j[k].get<std::string>();
}
std::optional<TimePoint> opt_time(const json& j, const char* k) {
  if (!j.contains(k) || j[k].is_null()) return std::nullopt;
  return tp(j[k].get<long long>());
}

json run_json(const store::RunRecord& r) {
  return {{"pk", r.pk},
          {"dag_id", r.dag_id},
          {"run_id", r.run_id},
          {"run_type", r.run_type},
          {"state", to_string(r.state)},
          {"logical_date", us(r.logical_date)},
          {"data_interval_start", us(r.data_interval_start)},
          {"data_interval_end", us(r.data_interval_end)},
          {"params", r.params},
          {"dag_version", r.dag_version},
          {"note", opt(r.note)},
          {"idempotency_key", opt(r.idempotency_key)},
          {"backfill_id", opt(r.backfill_id)},
          {"created_by", r.created_by},
          {"created_at", us(r.created_at)},
          {"started_at", opt(r.started_at)},
          {"ended_at", opt(r.ended_at)}};
}

store::RunRecord run_of(const json& j) {
  store::RunRecord r;
  r.pk = j.at("pk").get<long long>();
  r.dag_id = j.at("dag_id").get<std::string>();
  r.run_id = j.at("run_id").get<std::string>();
  r.run_type = j.at("run_type").get<std::string>();
  r.state = run_state_from_string(j.at("state").get<std::string>()).value_or(RunState::queued);
  r.logical_date = tp(j.at("logical_date").get<long long>());
  r.data_interval_start = tp(j.at("data_interval_start").get<long long>());
  r.data_interval_end = tp(j.at("data_interval_end").get<long long>());
  r.params = j.at("params").get<std::string>();
  r.dag_version = j.at("dag_version").get<std::string>();
  r.note = opt_text(j, "note");
  r.idempotency_key = opt_text(j, "idempotency_key");
  if (!j.at("backfill_id").is_null()) r.backfill_id = j.at("backfill_id").get<long long>();
  r.created_by = j.at("created_by").get<std::string>();
  r.created_at = tp(j.at("created_at").get<long long>());
  r.started_at = opt_time(j, "started_at");
  r.ended_at = opt_time(j, "ended_at");
  return r;
}

json backfill_json(const store::BackfillRecord& b) {
  return {{"id", b.id},
          {"dag_id", b.dag_id},
          {"from_at", us(b.from_at)},
          {"to_at", us(b.to_at)},
          {"from_text", b.from_text},
          {"to_text", b.to_text},
          {"reprocess", b.reprocess},
          {"max_active_runs", b.max_active_runs},
          {"reverse", b.reverse},
          {"tasks", opt(b.tasks)},
          {"downstream", b.downstream},
          {"state", b.state},
          {"total", b.total},
          {"done", b.done},
          {"failed", b.failed},
          {"cursor_at", opt(b.cursor_at)},
          {"created_by", b.created_by},
          {"created_at", us(b.created_at)},
          {"ended_at", opt(b.ended_at)}};
}

store::BackfillRecord backfill_rec_of(const json& j) {
  store::BackfillRecord b;
  b.id = j.at("id").get<long long>();
  b.dag_id = j.at("dag_id").get<std::string>();
  b.from_at = tp(j.at("from_at").get<long long>());
  b.to_at = tp(j.at("to_at").get<long long>());
  b.from_text = j.at("from_text").get<std::string>();
  b.to_text = j.at("to_text").get<std::string>();
  b.reprocess = j.at("reprocess").get<std::string>();
  b.max_active_runs = j.at("max_active_runs").get<int>();
  b.reverse = j.at("reverse").get<bool>();
  b.tasks = opt_text(j, "tasks");
  b.downstream = j.at("downstream").get<bool>();
  b.state = j.at("state").get<std::string>();
  b.total = j.at("total").get<int>();
  b.done = j.at("done").get<int>();
  b.failed = j.at("failed").get<int>();
  b.cursor_at = opt_time(j, "cursor_at");
  b.created_by = j.at("created_by").get<std::string>();
  b.created_at = tp(j.at("created_at").get<long long>());
  b.ended_at = opt_time(j, "ended_at");
  return b;
}

store::CommandResult error_answer(long long id, const Error& e) { return {id, e.code, dump(json{{"message", e.message}})}; }

// A command that ended with an error: its code and message, as the caller's.
std::optional<Error> error_of(const store::CommandRecord& c) {
  if (!c.status) return Error{"unavailable", "the command was not carried out"};
  if (*c.status == "ok") return std::nullopt;
  json j = json::parse(c.result.value_or("{}"), nullptr, false);
  std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                            ? j["message"].get<std::string>()
                            : *c.status;
  return Error{*c.status, message};
}

json result_json(const store::CommandRecord& c) {
  json j = json::parse(c.result.value_or("{}"), nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

}  // namespace

Current& current() {
  thread_local Current c;
  return c;
}

std::string encode_trigger(const TriggerRequest& r) {
  return dump({{"logical_date", opt(r.logical_date)},
               {"params", r.params_json},
               {"idempotency_key", opt(r.idempotency_key)},
               {"note", opt(r.note)}});
}
std::string encode_run(const std::string& run_id) { return dump({{"run_id", run_id}}); }
std::string encode_clear(const std::string& run_id, const std::string& task_id, bool downstream, bool latest) {
  return dump({{"run_id", run_id}, {"task_id", task_id}, {"downstream", downstream}, {"latest", latest}});
}
std::string encode_mark(const std::string& run_id, const std::string& task_id, TaskState to) {
  return dump({{"run_id", run_id}, {"task_id", task_id}, {"to", to_string(to)}});
}
std::string encode_paused(bool paused) { return dump({{"paused", paused}}); }
std::string encode_backfill(const BackfillRequest& r) {
  return dump({{"from", r.from},
               {"to", r.to},
               {"reprocess", r.reprocess},
               {"max_active_runs", r.max_active_runs},
               {"reverse", r.reverse},
               {"tasks", r.tasks},
               {"downstream", r.downstream},
               {"dry_run", r.dry_run}});
}
std::string encode_backfill_id(long long id) { return dump({{"id", id}}); }
std::string encode_waiting_for(const std::string& run_id, const std::string& task_id, int map_index) {
  return dump({{"run_id", run_id}, {"task_id", task_id}, {"map_index", map_index}});
}

void execute(Control& control, const store::CommandRecord& c) {
  current() = {c.id, c.dag_id};
  json p = json::parse(c.payload, nullptr, false);
  const std::string& actor = c.created_by;
  try {
    if (c.kind == "trigger") {
      TriggerRequest r;
      r.logical_date = opt_time(p, "logical_date");
      r.params_json = p.at("params").get<std::string>();
      // A command carried out twice (its owner died between the change and
      // the answer) must not make a second run.
      r.idempotency_key = opt_text(p, "idempotency_key").value_or("command:" + std::to_string(c.id));
      r.note = opt_text(p, "note");
      (void)control.trigger(c.dag_id, r, actor);
    } else if (c.kind == "cancel_run") {
      (void)control.cancel_run(c.dag_id, p.at("run_id").get<std::string>(), actor);
    } else if (c.kind == "clear_task") {
      (void)control.clear_task(c.dag_id, p.at("run_id").get<std::string>(), p.at("task_id").get<std::string>(),
                               p.at("downstream").get<bool>(), p.at("latest").get<bool>(), actor);
    } else if (c.kind == "mark_task") {
      (void)control.mark_task(c.dag_id, p.at("run_id").get<std::string>(), p.at("task_id").get<std::string>(),
                              task_state_from_string(p.at("to").get<std::string>()).value_or(TaskState::failed),
                              actor);
    } else if (c.kind == "set_paused") {
      (void)control.set_paused(c.dag_id, p.at("paused").get<bool>(), actor);
    } else if (c.kind == "create_backfill") {
      BackfillRequest r;
      r.dag_id = c.dag_id;
      r.from = p.at("from").get<std::string>();
      r.to = p.at("to").get<std::string>();
      r.reprocess = p.at("reprocess").get<std::string>();
      r.max_active_runs = p.at("max_active_runs").get<int>();
      r.reverse = p.at("reverse").get<bool>();
      r.tasks = p.at("tasks").get<std::vector<std::string>>();
      r.downstream = p.at("downstream").get<bool>();
      r.dry_run = p.at("dry_run").get<bool>();
      // As for a trigger: carried out twice, it still makes one backfill.
      r.idempotency_key = "command:" + std::to_string(c.id);
      (void)control.create_backfill(r, actor);
    } else if (c.kind == "cancel_backfill") {
      (void)control.cancel_backfill(p.at("id").get<long long>(), actor);
    } else if (c.kind == "waiting_for") {
      (void)control.waiting_for(c.dag_id, p.at("run_id").get<std::string>(), p.at("task_id").get<std::string>(),
                                p.at("map_index").get<int>());
    }
  } catch (const std::exception&) {
    // A malformed payload: not from RemoteControl; left unanswered, it
    // times out for its caller.
  }
  current() = {};
}

store::CommandResult answer(long long id, const Status& s) {
  if (!s) return error_answer(id, s.error());
  return {id, "ok", "{}"};
}

store::CommandResult answer(long long id, const Result<TriggerResult>& r) {
  if (!r) return error_answer(id, r.error());
  return {id, "ok", dump({{"run", run_json(r->run)}, {"created", r->created}})};
}

store::CommandResult answer(long long id, const Result<BackfillResult>& r) {
  if (!r) return error_answer(id, r.error());
  json plan = json::array();
  for (auto& st : r->plan)
    plan.push_back({{"logical_date", us(st.logical_date)},
                    {"data_interval_end", us(st.data_interval_end)},
                    {"action", st.action},
                    {"run_id", opt(st.run_id)},
                    {"reason", st.reason}});
  json summary = {{"create", r->summary.create}, {"rerun", r->summary.rerun}, {"skip", r->summary.skip}};
  return {id, "ok", dump({{"backfill", backfill_json(r->backfill)}, {"summary", summary}, {"plan", plan}})};
}

store::CommandResult answer(long long id, const Result<std::vector<std::string>>& r) {
  if (!r) return error_answer(id, r.error());
  return {id, "ok", dump({{"reasons", *r}})};
}

store::CommandResult answer(long long id, const Result<SchedulerMetrics>& r) {
  if (!r) return error_answer(id, r.error());
  return {id, "ok", "{}"};
}

Status status_of(const store::CommandRecord& c) {
  if (auto e = error_of(c)) return *e;
  return {};
}

Result<TriggerResult> trigger_of(const store::CommandRecord& c) {
  if (auto e = error_of(c)) return *e;
  try {
    json j = result_json(c);
    return TriggerResult{run_of(j.at("run")), j.at("created").get<bool>()};
  } catch (const std::exception& e) {
    return Error{"internal", std::string("reading the scheduler's answer: ") + e.what()};
  }
}

Result<BackfillResult> backfill_of(const store::CommandRecord& c) {
  if (auto e = error_of(c)) return *e;
  try {
    json j = result_json(c);
    BackfillResult out;
    out.backfill = backfill_rec_of(j.at("backfill"));
    if (auto it = j.find("summary"); it != j.end() && it->is_object()) {
      out.summary.create = it->value("create", 0LL);
      out.summary.rerun = it->value("rerun", 0LL);
      out.summary.skip = it->value("skip", 0LL);
    }
    for (auto& st : j.at("plan"))
      out.plan.push_back({tp(st.at("logical_date").get<long long>()), tp(st.at("data_interval_end").get<long long>()),
                          st.at("action").get<std::string>(), opt_text(st, "run_id"),
                          st.at("reason").get<std::string>()});
    return out;
  } catch (const std::exception& e) {
    return Error{"internal", std::string("reading the scheduler's answer: ") + e.what()};
  }
}

Result<std::vector<std::string>> reasons_of(const store::CommandRecord& c) {
  if (auto e = error_of(c)) return *e;
  try {
    return result_json(c).at("reasons").get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    return Error{"internal", std::string("reading the scheduler's answer: ") + e.what()};
  }
}

}  // namespace baton::scheduler::commands
