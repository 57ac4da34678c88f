#include "trigger_dag.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "assignments.h"
#include "baton/core/ids.h"
#include "baton/core/sha256.h"
#include "commands.h"
#include "log.h"
#include "loop.h"

namespace baton::scheduler {

namespace fs = std::filesystem;
using nlohmann::json;

TriggerDagTasks::TriggerDagTasks(store::Store& store, const Clock& clock, Loop& loop, Fencing& fencing,
                                 ActiveRuns& runs, TriggerHost& host, std::string logs_dir)
    : store_(store),
      clock_(clock),
      loop_(loop),
      fencing_(fencing),
      runs_(runs),
      host_(host),
      logs_dir_(std::move(logs_dir)) {}

void TriggerDagTasks::start(ActiveRun& r, int ti) {
  const auto& spec = spec_of(r, ti);
  auto& rec = r.tis[static_cast<size_t>(ti)];
  auto fail = [&](const std::string& why) {
    host_.finished(executor::Finished{r.rec.pk, ti, *rec.attempt_token, TryOutcome::failed, why, std::nullopt,
                                      std::nullopt, 0, false});
  };
  dsl::RenderContext ctx = render_context(r, ti, r.engine->instances()[static_cast<size_t>(ti)].try_number);
  // The DAG's namespace's entry, else the global one (SPEC §13).
  ctx.variable = [this, ns = r.graph->spec().ns](const std::string& name) -> std::optional<std::string> {
    auto v = store_.resolve_variable(ns, name);
    if (!v) return std::nullopt;
    return v->value;
  };
  json params = json::parse(spec.trigger_params_json, nullptr, false);
  if (!params.is_object()) params = json::object();
  for (auto& [k, v] : params.items()) {
    if (!v.is_string()) continue;
    auto rendered = dsl::render_template(v.get<std::string>(), ctx);
    if (!rendered) return fail("params." + k + ": " + rendered.error().message);
    v = *rendered;
  }
  TriggerRequest req;
  req.logical_date = r.rec.logical_date;
  req.params_json = params.dump(-1, ' ', false, json::error_handler_t::replace);
  // One run per try: a retry, or this process after a crash, asks again
  // with the same key and gets the same run.
  std::string who = r.rec.dag_id + "\n" + r.rec.run_id + "\n" + spec.id + "\n" + std::to_string(rec.try_number);
  if (rec.map_index >= 0) who += "\n" + std::to_string(rec.map_index);
  req.idempotency_key = "trigger_dag:" + sha256_hex(who).substr(0, 32);
  req.note = "triggered by " + r.rec.dag_id + " / " + r.rec.run_id + " / " + spec.id +
             (rec.map_index >= 0 ? " [" + std::to_string(rec.map_index) + "]" : "");
  Watch w;
  w.token = *rec.attempt_token;
  w.dag_id = spec.target_dag;
  w.wait = spec.wait;
  if (fencing_.owns(spec.target_dag)) {
    auto made = host_.trigger(spec.target_dag, req);
    if (!made) return fail("triggering DAG " + spec.target_dag + ": " + made.error().message);
    w.run_id = made->run.run_id;
  } else {
    store::CommandRecord c;
    c.kind = "trigger";
    c.dag_id = spec.target_dag;
    c.partition = partition_of(spec.target_dag);
    c.payload = w.payload = commands::encode_trigger(req);
    c.created_by = "system";
    auto id = store_.enqueue_command(c);
    if (!id) return fail("triggering DAG " + spec.target_dag + ": " + id.error().message);
    w.command_id = *id;
    w.asked_at = clock_.now();
  }
  auto key = std::make_pair(r.rec.pk, ti);
  watches_[key] = w;
  if (!w.run_id.empty()) triggered(r, ti, watches_[key]);
}

// A line in the try's log (the UI and `baton tasks logs` show it).
void TriggerDagTasks::log_line(const ActiveRun& r, int ti, const std::string& line) {
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  fs::path p = fs::path(logs_dir_) / log_rel(r, rec, rec.try_number);
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  std::ofstream(p, std::ios::app) << "[baton] " << line << "\n";
}

// The triggered run is known: shown as the task's output; without wait the
// task is done.
void TriggerDagTasks::triggered(ActiveRun& r, int ti, Watch& w) {
  auto& rec = r.tis[static_cast<size_t>(ti)];
  log_line(r, ti, "triggered DAG " + w.dag_id + ": run " + w.run_id + (w.wait ? " (waiting for it to end)" : ""));
  json out = {{"dag_id", w.dag_id}, {"run_id", w.run_id}};
  rec.output = out.dump();
  loop_.batch().task_instances.push_back(rec);
  if (!w.wait) {
    std::string token = w.token;
    watches_.erase({r.rec.pk, ti});
    host_.finished(executor::Finished{r.rec.pk, ti, token, TryOutcome::success, "", std::nullopt, out.dump(), 0, false});
  }
}

void TriggerDagTasks::check() {
  std::vector<std::tuple<long long, int, std::string, TryOutcome, std::string, std::string>> done;
  for (auto& [key, w] : watches_) {
    ActiveRun* run = runs_.find(key.first);
    const store::TaskInstanceRecord* rec = run ? &run->tis[static_cast<size_t>(key.second)] : nullptr;
    if (w.canceled) {
      // Canceled while the DAG's owner was asked: the command is withdrawn,
      // or the run it made is canceled once it is known.
      auto c = store_.get_command(w.command_id);
      if (!c) continue;
      if (!c->processed_at) {
        auto expired = store_.expire_command(w.command_id);
        if (expired && *expired) done.emplace_back(key.first, key.second, "", TryOutcome::failed, "", "");
        continue;
      }
      if (auto made = commands::trigger_of(*c)) enqueue_cancel(w.dag_id, made->run.run_id);
      done.emplace_back(key.first, key.second, "", TryOutcome::failed, "", "");
      continue;
    }
    if (!rec || rec->attempt_token != w.token || rec->state != TaskState::running) {
      done.emplace_back(key.first, key.second, "", TryOutcome::failed, "", "");  // gone: drop the watch
      continue;
    }
    if (w.run_id.empty()) {
      auto c = store_.get_command(w.command_id);
      if (!c) continue;
      if (!c->processed_at) {
        if (clock_.now() - w.asked_at > std::chrono::seconds(20)) {
          // Not taken up (its owner was moving): asked again, with the same key.
          (void)store_.expire_command(w.command_id);
          store::CommandRecord again;
          again.kind = "trigger";
          again.dag_id = w.dag_id;
          again.partition = partition_of(w.dag_id);
          again.payload = w.payload;
          again.created_by = "system";
          if (auto id = store_.enqueue_command(again)) {
            w.command_id = *id;
            w.asked_at = clock_.now();
          }
        }
        continue;
      }
      auto made = commands::trigger_of(*c);
      if (!made) {
        done.emplace_back(key.first, key.second, w.token, TryOutcome::failed,
                          "triggering DAG " + w.dag_id + ": " + made.error().message, "");
        continue;
      }
      w.run_id = made->run.run_id;
      if (!w.wait) {
        // Done as soon as the run exists: finished below, outside this loop.
        log_line(*run, key.second, "triggered DAG " + w.dag_id + ": run " + w.run_id);
        json out = {{"dag_id", w.dag_id}, {"run_id", w.run_id}};
        done.emplace_back(key.first, key.second, w.token, TryOutcome::success, "", out.dump());
        continue;
      }
      triggered(*run, key.second, w);
      continue;
    }
    auto made = store_.get_run(w.dag_id, w.run_id);
    if (!made || !is_finished(made->state)) continue;
    json out = {{"dag_id", w.dag_id}, {"run_id", w.run_id}, {"state", to_string(made->state)}};
    if (made->state == RunState::success)
      done.emplace_back(key.first, key.second, w.token, TryOutcome::success, "", out.dump());
    else
      done.emplace_back(key.first, key.second, w.token, TryOutcome::failed,
                        "the triggered run " + w.dag_id + " / " + w.run_id + " is " + to_string(made->state),
                        out.dump());
  }
  for (auto& [pk, ti, token, outcome, reason, output] : done) {
    watches_.erase({pk, ti});
    if (token.empty()) continue;
    if (ActiveRun* run = runs_.find(pk);
        run && !(outcome == TryOutcome::success && output.find("\"state\"") == std::string::npos))
      log_line(*run, ti, outcome == TryOutcome::success ? "the triggered run succeeded" : reason);
    host_.finished(executor::Finished{pk, ti, token, outcome, reason, std::nullopt,
                                      output.empty() ? std::nullopt : std::optional<std::string>(output), 0, false});
  }
}

void TriggerDagTasks::task_ended(long long run_pk, int ti) {
  auto it = watches_.find({run_pk, ti});
  if (it == watches_.end()) return;
  if (it->second.run_id.empty()) {
    it->second.canceled = true;  // the owner is still making it: check() cancels it then
    return;
  }
  Watch w = it->second;
  watches_.erase(it);
  if (fencing_.owns(w.dag_id)) {
    std::string dag = w.dag_id, run = w.run_id;
    loop_.post([this, dag, run] {
      host_.cancel_run(dag, run);
      loop_.request_flush();
    });
  } else {
    enqueue_cancel(w.dag_id, w.run_id);
  }
}

// Asks the owner of a DAG (another member) to cancel one of its runs.
void TriggerDagTasks::enqueue_cancel(const std::string& dag_id, const std::string& run_id) {
  store::CommandRecord c;
  c.kind = "cancel_run";
  c.dag_id = dag_id;
  c.partition = partition_of(dag_id);
  c.payload = commands::encode_run(run_id);
  c.created_by = "system";
  if (auto id = store_.enqueue_command(c); !id)
    sched_log()->error("canceling {} {}: {}", dag_id, run_id, id.error().message);
}

}  // namespace baton::scheduler
