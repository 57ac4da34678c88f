// The Scheduler's Control entry points (API threads, the listener's
// commands): each is carried out on the loop, and its changes (with a
// command's answer) are written before the caller hears back.
#include <nlohmann/json.hpp>

#include <future>

#include "baton/scheduler/remote_control.h"
#include "commands.h"
#include "scheduler_impl.h"

namespace baton::scheduler {

using nlohmann::json;

namespace {
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
}  // namespace

template <class F>
auto Scheduler::Impl::on_loop(F fn) -> decltype(fn()) {
  using R = decltype(fn());
  if (!accepting.load() || loop.in_loop_thread()) return R(Error{"unavailable", "the scheduler is not running"});
  std::promise<R> p;
  auto fut = p.get_future();
  commands::Current cmd = commands::current();
  loop.post([&] {
    // A command for a partition this member no longer owns is left for its
    // new owner.
    if (cmd.id && !membership.owns(cmd.dag_id)) {
      p.set_value(R(Error{"moved", "the DAG's partition moved to another member"}));
      return;
    }
    // The changes reach the store before the caller hears back, so that
    // whatever it reads next already shows them; a command's answer is
    // written with them.
    try {
      R r = fn();
      if (cmd.id) loop.batch().command_results.push_back(commands::answer(cmd.id, r));
      flush();
      p.set_value(std::move(r));
    } catch (...) {
      flush();
      p.set_exception(std::current_exception());
    }
  });
  return fut.get();
}

// A command (another member asked) is answered with its own changes; the
// API's triggers queue, and the loop makes all that queued in one go.
Result<TriggerResult> Scheduler::trigger(const std::string& dag_id, const TriggerRequest& req,
                                         const std::string& actor) {
  Impl& m = *impl_;
  if (commands::current().id)
    return m.on_loop([&]() -> Result<TriggerResult> { return m.factory.trigger(dag_id, req, actor); });
  if (!m.accepting.load() || m.loop.in_loop_thread()) return Error{"unavailable", "the scheduler is not running"};
  std::future<Result<TriggerResult>> answer;
  bool first;
  {
    std::lock_guard lock(m.trigger_mu);
    if (m.triggers_closed) return Error{"unavailable", "the scheduler is not running"};
    first = m.trigger_queue.empty();
    m.trigger_queue.push_back({RunFactory::Trigger{dag_id, req, actor}, {}});
    answer = m.trigger_queue.back().answer.get_future();
  }
  if (first) m.loop.post([&m] { m.drain_triggers(); });
  return answer.get();
}

void SchedulerParts::drain_triggers() {
  std::vector<QueuedTrigger> queued;
  {
    std::lock_guard lock(trigger_mu);
    queued.swap(trigger_queue);
  }
  std::vector<RunFactory::Trigger> triggers;
  triggers.reserve(queued.size());
  for (auto& q : queued) triggers.push_back(std::move(q.trigger));
  // The runs reach the store before their callers hear back.
  try {
    auto answers = factory.trigger_all(triggers);
    flush();
    for (size_t i = 0; i < queued.size(); ++i) queued[i].answer.set_value(std::move(answers[i]));
  } catch (...) {
    flush();
    for (auto& q : queued) q.answer.set_exception(std::current_exception());
  }
}

Status Scheduler::cancel_run(const std::string& dag_id, const std::string& run_id, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status {
    Error err;
    ActiveRun* r = m.keeper.find(dag_id, run_id, err);
    if (!r) return err;
    m.keeper.apply(*r, r->engine->cancel());
    m.loop.audit(actor, "run.canceled", "dag:" + dag_id + "/" + run_id, "{}");
    m.keeper.settle(*r);
    return {};
  });
}

Status Scheduler::clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                             bool downstream, bool latest_version, const std::string& actor) {
  Impl& m = *impl_;
  // Held until the loop wrote the run back to life: no clean in between (retention.h).
  std::lock_guard revive(*m.revive_mu);
  return m.on_loop([&]() -> Status {
    Error err;
    if (latest_version) {
      // Moving a run to another version rebuilds its graph: only a finished run can.
      Error ignored;
      if (ActiveRun* live = m.keeper.find(dag_id, run_id, ignored)) {
        auto g = m.registry.current(dag_id);
        if (g && g->hash() != live->graph->hash())
          return Error{"conflict", "run " + run_id + " is still " + to_string(live->engine->state()) +
                                       ": version latest applies to a finished run (wait, or cancel it first)"};
      }
    }
    ActiveRun* r = m.keeper.revive(dag_id, run_id, latest_version, err);
    if (!r) return err;
    if (r->graph->index_of(task_id) < 0) return Error::not_found("no task \"" + task_id + "\" in DAG " + dag_id);
    auto t = r->engine->clear(task_id, downstream);
    if (!t) {
      if (is_finished(r->engine->state())) m.runs.drop(r->rec.pk);
      return t.error();
    }
    m.keeper.apply(*r, *t);
    if (latest_version) m.loop.batch().runs.push_back(r->rec);
    m.loop.audit(actor, "task.cleared", "dag:" + dag_id + "/" + run_id + "/" + task_id,
                 dump(json{{"downstream", downstream}, {"version", latest_version ? "latest" : "pinned"}}));
    m.keeper.settle(*r);
    return {};
  });
}

Status Scheduler::mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                            TaskState to, const std::string& actor) {
  Impl& m = *impl_;
  // Held until the loop wrote the run back to life: no clean in between (retention.h).
  std::lock_guard revive(*m.revive_mu);
  return m.on_loop([&]() -> Status {
    Error err;
    ActiveRun* r = m.keeper.revive(dag_id, run_id, false, err);
    if (!r) return err;
    int ti = r->graph->index_of(task_id);
    TaskState before = ti >= 0 ? r->engine->instances()[static_cast<size_t>(ti)].state : TaskState::pending;
    auto t = r->engine->mark(task_id, to);
    if (!t) {
      if (is_finished(r->engine->state())) m.runs.drop(r->rec.pk);
      return t.error();
    }
    m.keeper.apply(*r, *t);
    m.loop.audit(actor, "task.marked", "dag:" + dag_id + "/" + run_id + "/" + task_id,
                 dump(json{{"before", to_string(before)}, {"after", to_string(to)}}));
    m.keeper.settle(*r);
    return {};
  });
}

Status Scheduler::set_paused(const std::string& dag_id, bool paused, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status {
    if (auto s = m.store.set_paused(dag_id, paused, actor); !s) return s;
    if (DagEntry* d = m.registry.find(dag_id)) {
      d->paused = paused;
      if (!paused) {
        m.factory.plan(*d);
        m.factory.datasets_changed();  // events that came while it was paused
      }
    }
    return {};
  });
}

void Scheduler::datasets_changed() {
  Impl& m = *impl_;
  m.loop.post([&m] {
    m.factory.datasets_changed();
    m.loop.request_flush();
  });
}

Result<BackfillResult> Scheduler::create_backfill(const BackfillRequest& req, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Result<BackfillResult> { return m.backfills.create(req, actor); });
}

Status Scheduler::cancel_backfill(long long id, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status { return m.backfills.cancel(id, actor); });
}

Result<std::vector<std::string>> Scheduler::waiting_for(const std::string& dag_id, const std::string& run_id,
                                                        const std::string& task_id, int map_index) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    Error err;
    ActiveRun* r = m.keeper.find(dag_id, run_id, err);
    if (!r) {
      if (err.code == "not_found") return err;
      out.push_back(err.message);  // finished
      return out;
    }
    int task = r->graph->index_of(task_id);
    if (task < 0) return Error::not_found("no task \"" + task_id + "\" in DAG " + dag_id);
    int ti = r->engine->instance_of(task, map_index);
    if (ti < 0)
      return Error::not_found("task \"" + task_id + "\" of run \"" + run_id + "\" has no map_index " +
                              std::to_string(map_index));
    TaskState s = r->engine->instances()[static_cast<size_t>(ti)].state;
    if (r->engine->state() == RunState::queued) {
      int limit = r->graph->spec().max_active_runs;
      out.push_back("max_active_runs: " + std::to_string(m.runs.running(dag_id)) + " of " + std::to_string(limit) +
                    " runs of the DAG are running");
    }
    if (DagEntry* d = m.registry.find(dag_id); d && d->paused) out.push_back("DAG is paused");
    auto engine_reasons = r->engine->waiting_for(ti);
    out.insert(out.end(), engine_reasons.begin(), engine_reasons.end());
    if (s == TaskState::scheduled && !r->engine->needs_expansion(ti)) {
      auto blocks = m.dispatcher.blocks(*r, ti);
      out.insert(out.end(), blocks.begin(), blocks.end());
    }
    if (s == TaskState::queued && m.dispatcher.runs_remote(*r, ti)) {
      auto held = m.store.held_pool_slots();
      auto held_ns = m.store.held_by_namespace();
      auto blocks = m.dispatcher.remote_blocks(*r, ti, held ? &*held : nullptr, held_ns ? &*held_ns : nullptr);
      out.insert(out.end(), blocks.begin(), blocks.end());
    }
    return out;
  });
}

SchedulerStatus Scheduler::status() {
  Impl& m = *impl_;
  // What the store says: live members (lease not expired), who owns what, the leader.
  SchedulerStatus s = read_scheduler_status(m.store, m.clock);
  s.running = m.loop.running() && !m.loop.stopping();
  auto p = m.registry.progress();
  s.loading = p.loading;
  s.dags_loaded = p.loaded;
  s.dags_total = p.total;
  return s;
}

// From the snapshot the loop takes at the end of its turns (at most 100 ms
// old while it works, refreshed every second when idle): never waits for the
// loop, however long its turn.
Result<SchedulerMetrics> Scheduler::metrics() {
  Impl& m = *impl_;
  if (!m.accepting.load()) return Error{"unavailable", "the scheduler is not running"};
  return m.metrics_snapshot();
}

}  // namespace baton::scheduler
