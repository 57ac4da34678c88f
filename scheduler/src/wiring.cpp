// The adapters of the composition root: each interface a part declares,
// answered by the part that owns the answer.
#include <nlohmann/json.hpp>

#include "scheduler_impl.h"

namespace baton::scheduler {

// ---- RunListener ----

void ListenerGlue::task_ready(const ActiveRun& r, int ti) { p.dispatcher.task_ready(r, ti); }
void ListenerGlue::task_unready(const ActiveRun& r, int ti) { p.dispatcher.task_unready(r, ti); }
void ListenerGlue::released(const ActiveRun& r, int ti) { p.dispatcher.released(r, ti); }
void ListenerGlue::holds(const ActiveRun& r, int ti) {
  p.dispatcher.holds(r, ti);
  // A try found running at recovery is watched again (slow, stuck).
  const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
  if (e.state == TaskState::running) p.forecast.try_began(r, ti, e.try_number);
}
void ListenerGlue::slot_freed() { p.dispatcher.slot_freed(); }
// The runs that moved are forecast first, so that their tries compete with
// their slack of now (never within a pass: that walks the ready sets).
void ListenerGlue::dispatch() {
  if (!p.dispatcher.dispatching()) p.forecast.settle(true);
  p.dispatcher.dispatch();
}
void ListenerGlue::task_moved(ActiveRun& r, int ti, TaskState from, TaskState to, bool reported) {
  p.forecast.task_moved(r, ti, from, to, reported);
}
void ListenerGlue::run_adopted(ActiveRun& r) {
  p.sla.run_adopted(r);
  p.forecast.run_adopted(r);
}
void ListenerGlue::run_started(ActiveRun& r, TimePoint at) {
  p.sla.run_started(r, at);
  p.forecast.run_started(r);
}

void ListenerGlue::run_ended(const ActiveRun& r) {
  p.forecast.run_ended(r);
  if (r.rec.backfill_id)
    p.backfills.run_ended(r.rec.pk, *r.rec.backfill_id, r.engine->state() == RunState::success);
}

// With catchup, a run that ended may make room for the next interval's.
void ListenerGlue::replan(const std::string& dag_id) {
  DagEntry* d = p.registry.find(dag_id);
  if (d && d->graph && d->graph->spec().catchup) p.factory.plan(*d);
}

void ListenerGlue::past_changed(const std::string& dag_id, long long logical_date) {
  p.past.changed(dag_id, logical_date);
}
void ListenerGlue::refresh_past(ActiveRun& r) { p.past.refresh(r); }
void ListenerGlue::produced() { p.factory.datasets_changed(); }
void ListenerGlue::withdraw(const ActiveRun& r, int ti) { p.channel.withdraw(r, ti); }
void ListenerGlue::trigger_task_ended(long long run_pk, int ti) { p.triggers.task_ended(run_pk, ti); }
void ListenerGlue::resume_trigger(ActiveRun& r, int ti) { p.triggers.start(r, ti); }

// ---- DispatchHost ----

void DispatchGlue::apply(ActiveRun& r, const std::vector<Transition>& ts) { p.keeper.apply(r, ts); }
void DispatchGlue::expand(ActiveRun& r, int ti) { p.keeper.expand(r, ti); }
void DispatchGlue::finished(const executor::Finished& f) { p.keeper.finished(f); }
void DispatchGlue::poke(executor::Assignment a) { p.pokers.poke(std::move(a)); }
void DispatchGlue::start_trigger(ActiveRun& r, int ti) { p.triggers.start(r, ti); }
void DispatchGlue::try_began(const ActiveRun& r, int ti, int try_number) {
  p.sla.try_began(r, ti, try_number, p.clock.now());
  p.forecast.try_began(r, ti, try_number);
}

// ---- ForecastHost ----

void ForecastGlue::slack_changed(ActiveRun& r, long long old_slack) { p.dispatcher.slack_changed(r, old_slack); }

void ForecastGlue::fail_stuck(ActiveRun& r, int ti) {
  p.keeper.fail_running(r, ti, "stuck", "no log, checkpoint or progress for its stuck_after");
  p.keeper.settle(r);  // may retire the run
}

bool ForecastGlue::runs_remote(const ActiveRun& r, int ti) const { return p.dispatcher.runs_remote(r, ti); }

// ---- RunSink, BackfillRuns ----

void RunsGlue::adopt(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
                     const std::vector<store::TaskInstanceRecord>& tis) {
  p.keeper.adopt(rec, g, tis);
}
int RunsGlue::unfinished_runs(const std::string& dag_id) { return p.runs.unfinished(dag_id); }
void RunsGlue::dispatch() { p.dispatcher.dispatch(); }

BackfillRuns::Rerun RunsGlue::rerun(const store::BackfillRecord& b, const std::string& run_id,
                                    const std::vector<std::string>& tasks, long long& pk) {
  switch (p.keeper.rerun(b, run_id, tasks, pk)) {
    case RunKeeper::Rerun::taken: return Rerun::taken;
    case RunKeeper::Rerun::not_ours: return Rerun::not_ours;
    case RunKeeper::Rerun::retry_later: break;
  }
  return Rerun::retry_later;
}

void RunsGlue::settle(long long run_pk) {
  if (ActiveRun* r = p.runs.find(run_pk)) p.keeper.settle(*r);
}

// Every run first, then their ends: settling one must not start the next
// queued run of the same backfill.
void RunsGlue::cancel(const std::vector<long long>& run_pks) {
  for (long long pk : run_pks)
    if (ActiveRun* r = p.runs.find(pk)) p.keeper.apply(*r, r->engine->cancel());
  for (long long pk : run_pks)
    if (ActiveRun* r = p.runs.find(pk)) p.keeper.settle(*r);
}

bool RunsGlue::in_memory(long long run_pk) { return p.runs.find(run_pk) != nullptr; }

// ---- TriggerHost, RemoteHost ----

Result<TriggerResult> TriesGlue::trigger(const std::string& dag_id, const TriggerRequest& req) {
  return p.factory.trigger(dag_id, req, "system");
}
void TriesGlue::finished(const executor::Finished& f) { p.keeper.finished(f); }

void TriesGlue::cancel_run(const std::string& dag_id, const std::string& run_id) {
  Error err;
  if (ActiveRun* r = p.keeper.find(dag_id, run_id, err)) {
    p.keeper.apply(*r, r->engine->cancel());
    p.loop.audit("system", "run.canceled", "dag:" + dag_id + "/" + run_id,
                 nlohmann::json{{"why", "its trigger_dag task ended"}}.dump(
                     -1, ' ', false, nlohmann::json::error_handler_t::replace));
    p.keeper.settle(*r);
  }
}

void TriesGlue::claimed(ActiveRun& r, int ti, const std::string& worker, TimePoint at) {
  p.dispatcher.claimed(r, ti, worker, at);
}
void TriesGlue::apply(ActiveRun& r, const std::vector<Transition>& ts) { p.keeper.apply(r, ts); }
void TriesGlue::dispatch() { p.dispatcher.dispatch(); }
void TriesGlue::write() { p.write(); }

}  // namespace baton::scheduler
