// `baton dags test DAG_FILE [--date D] [--task T] [--params JSON]`: runs a DAG
// (or one task of it) in the foreground, with no server and no database, one
// task at a time in topological order (a foreach task expanded, its mapped
// instances after), logs to the terminal. Retries are not
// waited for: a failed try fails the task (this is a test of the DAG's code).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "baton/core/clock.h"
#include "baton/dsl/compiler.h"
#include "baton/dsl/render.h"
#include "baton/dsl/template.h"
#include "baton/executor/shell_runner.h"
#include "baton/scheduler/run_engine.h"
#include "commands.h"

namespace baton::cli {

namespace {

using nlohmann::json;

struct TestOptions {
  std::string file, date, task, params;
};

int run_test(const TestOptions& o) {
  auto r = dsl::compile_dag_file(o.file);
  if (!r.graph) {
    for (auto& e : r.errors) std::cerr << e.format() << "\n";
    return kFailed;
  }
  const auto& g = r.graph;
  const Clock& clock = SystemClock::instance();
  auto zone = TimeZone::find(g->spec().timezone);
  TimePoint logical = clock.now();
  if (!o.date.empty()) {
    auto d = parse_date_time(o.date);
    if (!d) {
      std::cerr << "error: --date: " << d.error().message << "\n";
      return kBadInput;
    }
    logical = zone->resolve(*d);
  }
  json params = json::parse(g->spec().params_json);
  std::vector<std::string> given_keys;  // set by --params: data, never rendered
  if (!o.params.empty()) {
    auto p = json::parse(o.params, nullptr, false);
    if (p.is_discarded() || !p.is_object()) {
      std::cerr << "error: --params must be a JSON object\n";
      return kBadInput;
    }
    std::vector<std::string> given;
    for (auto& [k, v] : p.items()) given.push_back(k);
    if (auto st = dsl::check_param_names(g->spec(), given); !st) {
      std::cerr << "error: " << st.error().message << "\n";
      return kBadInput;
    }
    for (auto& [k, v] : p.items()) params[k] = v;
    for (auto& [k, v] : p.items()) given_keys.push_back(k);
  }
  if (!o.task.empty() && g->index_of(o.task) < 0) {
    std::cerr << "error: no task \"" << o.task << "\" in DAG " << g->dag_id() << "\n";
    return kBadInput;
  }
  DataInterval iv{logical, logical};
  if (g->schedule().is_time_based()) {
    if (auto i = g->schedule().last_complete_interval(logical)) iv = *i;
    if (!o.date.empty())
      if (auto i = g->schedule().interval_starting(logical)) iv = *i;
  }
  std::string run_id = "test__" + g->dag_id();
  {
    // The defaults' templates are rendered when the run is made (no
    // variables here: there is no store).
    dsl::RenderContext rc;
    rc.zone = *zone;
    rc.logical_date = logical;
    rc.data_interval_start = iv.start;
    rc.data_interval_end = iv.end;
    rc.run_id = run_id;
    rc.dag_id = g->dag_id();
    auto rendered = dsl::render_run_params(g->spec(), params.dump(), given_keys, rc);
    if (!rendered) {
      std::cerr << "error: " << rendered.error().message << "\n";
      return kFailed;
    }
    params = json::parse(*rendered);
  }
  auto scratch = std::filesystem::temp_directory_path() / ("baton-dags-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(scratch);
  executor::ShellRunner runner([&] { return clock.now(); });
  scheduler::RunEngine engine(g, clock);
  engine.start();
  std::map<int, std::string> outputs;  // task instance -> its output
  std::vector<std::string> items;      // the items of the mapped instances, in their order
  const size_t n_tasks = g->spec().tasks.size();
  auto context = [&](const dsl::TaskSpec& spec, int ti) {
    dsl::RenderContext ctx;
    ctx.zone = *zone;
    ctx.logical_date = logical;
    ctx.data_interval_start = iv.start;
    ctx.data_interval_end = iv.end;
    ctx.run_id = run_id;
    ctx.dag_id = g->dag_id();
    ctx.task_id = spec.id;
    ctx.params_json = params.dump();
    const auto& inst = engine.instances()[static_cast<size_t>(ti)];
    ctx.map_index = inst.map_index;
    if (inst.map_index >= 0) ctx.item_json = items[static_cast<size_t>(ti) - n_tasks];
    // Outputs; a foreach task's is the list of its mapped instances' outputs.
    for (size_t k = 0; k < n_tasks; ++k) {
      const auto& mapped = engine.mapped(static_cast<int>(k));
      const std::string& id = g->spec().tasks[k].id;
      if (mapped.empty()) {
        if (auto o2 = outputs.find(static_cast<int>(k)); o2 != outputs.end()) ctx.outputs_json[id] = o2->second;
        continue;
      }
      std::string list = "[";
      for (size_t m = 0; m < mapped.size(); ++m) {
        auto o2 = outputs.find(mapped[m]);
        list += (m ? "," : "") + (o2 == outputs.end() ? std::string("null") : o2->second);
      }
      ctx.outputs_json[id] = list + "]";
    }
    return ctx;
  };
  bool any_failed = false;
  while (true) {
    // The next ready instance: tasks in topological order, then mapped ones.
    int next = -1;
    for (auto* t : g->order()) {
      int i = g->index_of(t->id);
      if (engine.instances()[static_cast<size_t>(i)].state == TaskState::scheduled) {
        next = i;
        break;
      }
    }
    for (size_t i = n_tasks; next < 0 && i < engine.instances().size(); ++i)
      if (engine.instances()[i].state == TaskState::scheduled) next = static_cast<int>(i);
    if (next < 0) break;
    const auto& inst = engine.instances()[static_cast<size_t>(next)];
    const dsl::TaskSpec& spec = g->spec().tasks[static_cast<size_t>(inst.task)];
    const bool chosen = o.task.empty() || spec.id == o.task;
    if (engine.needs_expansion(next)) {
      if (!chosen) {  // stands in for its instances, as another task's try does
        (void)engine.mark(spec.id, TaskState::success);
        continue;
      }
      std::string list = spec.foreach_json.value_or("");
      std::string why;
      if (spec.foreach_template) {
        auto rendered = dsl::render_template(spec.foreach_template->text, context(spec, next));
        if (rendered) list = *rendered;
        else why = rendered.error().message;
      }
      json parsed = why.empty() ? json::parse(list, nullptr, false) : json();
      if (why.empty() && !parsed.is_array()) why = "expected a JSON list, got \"" + list.substr(0, 200) + "\"";
      if (!why.empty()) {
        (void)engine.expansion_failed(next, "foreach: " + why);
        std::cerr << "== " << spec.id << ": failed (foreach: " << why << ")\n";
        any_failed = true;
        continue;
      }
      for (auto& item : parsed) items.push_back(item.dump());
      std::cerr << "== " << spec.id << ": mapped over " << parsed.size() << " items\n";
      (void)engine.expand(next, static_cast<int>(parsed.size()));
      continue;
    }
    const std::string name = spec.id + (inst.map_index >= 0 ? "[" + std::to_string(inst.map_index) + "]" : "");
    const int map_index = inst.map_index;
    (void)engine.queue(next);
    (void)engine.begin_try(next);
    if (!chosen) {
      (void)engine.finish_try(next, scheduler::TryOutcome::success);
      continue;
    }
    std::cerr << "== " << name << " (" << dsl::to_string(spec.type) << ")\n";
    scheduler::TryOutcome outcome = scheduler::TryOutcome::success;
    std::string reason;
    if (spec.type == dsl::TaskType::shell) {
      dsl::RenderContext ctx = context(spec, next);
      executor::ShellTry t;
      auto cmd = dsl::render_shell(spec.command.text, ctx);  // each value one shell word
      if (!cmd) {
        outcome = scheduler::TryOutcome::failed;
        reason = cmd.error().message;
      } else {
        t.command = *cmd;
        for (auto& [k, v] : spec.env) t.env[k] = dsl::render_template(v.text, ctx).value_or("");
        t.dag_id = g->dag_id();
        t.run_id = run_id;
        t.task_id = spec.id;
        t.map_index = map_index;
        t.logical_date = format_utc(logical);
        t.data_interval_start = format_utc(iv.start);
        t.data_interval_end = format_utc(iv.end);
        t.ds = dsl::render_template("{{ ds }}", ctx).value_or("");
        t.params_json = ctx.params_json;
        t.working_dir = spec.working_dir;
        t.skip_exit_code = spec.skip_exit_code;
        t.timeout = spec.timeout;
        t.kill_grace = spec.kill_grace;
        t.scratch_dir = (scratch / name).string();
        // The log goes to a file (a reopened /dev/stderr would not append
        // when stderr is a regular file), then to the terminal.
        t.log_path = (scratch / (name + ".log")).string();
        std::atomic<bool> cancel{false};
        auto res = runner.run(t, {}, cancel);
        std::ifstream log(t.log_path, std::ios::binary);
        std::cerr << log.rdbuf();
        std::cerr.clear();
        reason = res.reason;
        if (res.outcome == executor::ShellResult::Outcome::success) {
          if (res.output_json) outputs[next] = *res.output_json;
        } else {
          outcome = res.outcome == executor::ShellResult::Outcome::skipped ? scheduler::TryOutcome::skipped
                                                                            : scheduler::TryOutcome::failed;
        }
      }
    } else if (spec.type != dsl::TaskType::noop) {
      outcome = scheduler::TryOutcome::failed;
      reason = std::string("task type ") + dsl::to_string(spec.type) + " cannot run in dags test yet";
    }
    // No retries in a test: the first failure is final.
    (void)engine.finish_try(next, outcome, reason);
    if (engine.instances()[static_cast<size_t>(next)].state == TaskState::up_for_retry)
      (void)engine.mark_instance(next, TaskState::failed);
    TaskState now = engine.instances()[static_cast<size_t>(next)].state;
    std::cerr << "== " << name << ": " << to_string(now) << (reason.empty() ? "" : " (" + reason + ")") << "\n";
    any_failed = any_failed || now == TaskState::failed;
  }
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  std::cerr << "run " << to_string(engine.state()) << "\n";
  return engine.state() == RunState::success && !any_failed ? kOk : kFailed;
}

}  // namespace

void register_dags_test_command(CLI::App& dags) {
  auto o = std::make_shared<TestOptions>();
  auto* cmd = dags.add_subcommand("test", "Run a DAG (or one task) in the foreground, with no server and no database");
  cmd->add_option("file", o->file, "the DAG file")->required();
  cmd->add_option("--date", o->date, "logical date (default now), read in the DAG's timezone");
  cmd->add_option("--task", o->task, "run only this task (its upstream tasks count as succeeded)");
  cmd->add_option("--params", o->params, "a JSON object overriding the DAG's params");
  cmd->callback([o] { throw Exit{run_test(*o)}; });
}

}  // namespace baton::cli
