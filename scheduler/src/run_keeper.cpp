#include "run_keeper.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "assignments.h"
#include "baton/dsl/template.h"
#include "log.h"
#include "loop.h"
#include "notifications.h"

namespace baton::scheduler {

using nlohmann::json;

namespace {
constexpr size_t kMaxForeachItems = 100000;
}  // namespace

RunKeeper::RunKeeper(store::Store& store, const Clock& clock, Loop& loop, DagRegistry& registry, Fencing& fencing,
                     ActiveRuns& runs, RunListener& listener, RunKeeperOptions options)
    : store_(store),
      clock_(clock),
      loop_(loop),
      registry_(registry),
      fencing_(fencing),
      runs_(runs),
      listener_(listener),
      options_(options) {}

ActiveRun& RunKeeper::add(ActiveRun a) {
  // A run that comes in between may now be the past of the one after it.
  if (has_depends_on_past(*a.graph)) listener_.past_changed(a.rec.dag_id, a.rec.logical_date.time_since_epoch().count());
  return runs_.add(std::move(a));
}

void RunKeeper::adopt(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
                      const std::vector<store::TaskInstanceRecord>& tis) {
  ActiveRun a;
  a.rec = rec;
  a.graph = g;
  a.engine = std::make_unique<RunEngine>(g, clock_);
  a.tis.resize(g->spec().tasks.size());
  for (auto& t : tis) {
    int i = g->index_of(t.task_id);
    if (i >= 0) a.tis[static_cast<size_t>(i)] = t;
  }
  ActiveRun& run = add(std::move(a));
  listener_.run_adopted(run);
  listener_.refresh_past(run);
  start_runs(rec.dag_id);
}

void RunKeeper::start_runs(const std::string& dag_id) {
  const auto& g = registry_.current(dag_id);
  int limit = g ? g->spec().max_active_runs : 16;
  int running = 0;
  // Oldest first, live runs before a backfill's: backfills yield when run
  // places are scarce.
  std::vector<ActiveRun*> queued, queued_backfill;
  for (ActiveRun* r : runs_.of_dag(dag_id)) {
    if (r->engine->state() == RunState::running) ++running;
    if (r->engine->state() == RunState::queued) (r->rec.backfill_id ? queued_backfill : queued).push_back(r);
  }
  queued.insert(queued.end(), queued_backfill.begin(), queued_backfill.end());
  std::vector<long long> ended;
  for (ActiveRun* r : queued) {
    if (running >= limit) break;
    apply(*r, r->engine->start());
    ++running;
    if (is_finished(r->engine->state())) ended.push_back(r->rec.pk);  // e.g. every root skipped
  }
  if (ended.empty()) return;
  for (long long pk : ended) {
    listener_.run_ended(*runs_.find(pk));
    runs_.drop(pk);
  }
  // Plan again on a later turn: no recursion however many runs end at once.
  loop_.post([this, dag_id] {
    if (registry_.find(dag_id)) {
      start_runs(dag_id);
      listener_.replan(dag_id);
    }
    loop_.request_flush();
  });
}

void RunKeeper::apply(ActiveRun& r, const std::vector<Transition>& ts) {
  TimePoint now = clock_.now();
  auto& batch = loop_.batch();
  for (auto& t : ts) {
    if (t.ti < 0) {
      r.rec.state = t.run_to;
      if (t.run_to == RunState::running && !r.rec.started_at) {
        r.rec.started_at = now;
        listener_.run_started(r, now);
      }
      if (is_finished(t.run_to)) r.rec.ended_at = now;
      if (t.run_to == RunState::success) queue_notification(batch, clock_, r, "on_success", json::object());
      if (t.run_to == RunState::failed) queue_notification(batch, clock_, r, "on_failure", json::object());
      if (t.run_to == RunState::running) r.rec.ended_at.reset();
      batch.runs.push_back(r.rec);
      continue;
    }
    const TaskInstance& e = r.engine->instances()[static_cast<size_t>(t.ti)];
    store::TaskInstanceRecord& rec = r.tis[static_cast<size_t>(t.ti)];
    rec.state = e.state;
    rec.try_number = e.try_number;
    rec.max_tries = e.max_tries;
    rec.wake_at = e.wake_at;
    rec.reason = e.reason.empty() ? std::nullopt : std::optional<std::string>(e.reason);
    rec.started_at = e.started_at;
    rec.ended_at = e.ended_at;
    if (t.to == TaskState::scheduled) rec.ready_at = now;
    if (t.to == TaskState::running) runs_.running_tis().insert({r.rec.pk, t.ti});
    if (t.from == TaskState::running) runs_.running_tis().erase({r.rec.pk, t.ti});
    listener_.task_moved(r, t.ti, t.from, t.to, in_report_);
    if ((is_finished(t.to) || t.to == TaskState::pending) && e.parent < 0 && spec_of(r, t.ti).depends_on_past)
      listener_.past_changed(r.rec.dag_id, r.rec.logical_date.time_since_epoch().count());
    if (t.to == TaskState::pending) {
      rec.exit_code.reset();
      rec.worker.reset();
    }
    batch.task_instances.push_back(rec);
    // Datasets: a task's success (a foreach task's when its mapped instances
    // all ended: its own instance, not each mapped one).
    if (t.to == TaskState::success && in_report_ && e.parent < 0 &&
        (t.from == TaskState::running || t.from == TaskState::pending))
      produced(r, t.ti, now);
    if (t.from == TaskState::scheduled) listener_.task_unready(r, t.ti);
    if (t.to == TaskState::scheduled) listener_.task_ready(r, t.ti);
    if (t.to == TaskState::waiting && e.wake_at) wake_.emplace(*e.wake_at, r.rec.pk);  // the next poke
    if (t.to == TaskState::up_for_retry && e.wake_at) {
      wake_.emplace(*e.wake_at, r.rec.pk);
      queue_notification(batch, clock_, r, "on_retry",
                         json{{"task_id", rec.task_id}, {"try_number", e.try_number}, {"reason", e.reason},
                              {"retry_at", format_utc(*e.wake_at)}});
    }
    if (holds_slot(t.from) && !holds_slot(t.to)) listener_.released(r, t.ti);
    if ((t.from == TaskState::running || t.from == TaskState::queued) && !holds_slot(t.to) && !in_report_ &&
        rec.attempt_token) {
      // A try ended here (canceled, marked) while a worker may hold it: the
      // worker stops it, and its late report is refused.
      listener_.withdraw(r, t.ti);
      if (t.from == TaskState::queued && options_.shared)
        end_try(r, rec, rec.try_number + 1, t.to, now);  // the try that never began
    }
    if (t.from == TaskState::running && !in_report_) {
      // Canceled or marked while running: its try ends now.
      end_try(r, rec, rec.try_number, t.to, now);
      if (spec_of(r, t.ti).type == dsl::TaskType::trigger_dag) listener_.trigger_task_ended(r.rec.pk, t.ti);
    }
    if (t.from == TaskState::waiting && is_finished(t.to) && !in_report_)
      end_try(r, rec, rec.try_number, t.to, now);  // a sensor canceled or marked between pokes
  }
}

// The record of a try the scheduler ended itself (canceled, marked): its
// token is dropped, so that whatever the worker says of it is stale.
void RunKeeper::end_try(const ActiveRun& r, store::TaskInstanceRecord& rec, int try_number, TaskState to,
                        TimePoint now) {
  auto& batch = loop_.batch();
  store::TryRecord tr;
  tr.ti_id = rec.id;
  tr.try_number = try_number;
  bool began = try_number == rec.try_number;
  tr.state = to == TaskState::success && began ? TaskState::success : TaskState::failed;
  if (began) {
    tr.worker = rec.worker;
    tr.started_at = rec.started_at;
  }
  tr.attempt_token = rec.attempt_token;
  tr.ended_at = now;
  tr.reason = to == TaskState::canceled ? "canceled" : std::string("marked ") + to_string(to);
  tr.log_path = log_rel(r, rec, try_number);
  batch.tries.push_back(tr);
  rec.attempt_token.reset();
  batch.task_instances.back().attempt_token.reset();
}

// A task that `produces` datasets succeeded: an event per URI, written with
// its success.
void RunKeeper::produced(ActiveRun& r, int ti, TimePoint now) {
  const auto& spec = spec_of(r, ti);
  for (auto& uri : spec.produces) {
    store::DatasetEvent e;
    e.uri = uri;
    e.at = now;
    e.source_dag_id = r.rec.dag_id;
    e.source_run_id = r.rec.run_id;
    e.source_task_id = spec.id;
    loop_.batch().dataset_events.push_back(std::move(e));
    listener_.produced();
  }
}

void RunKeeper::settle(ActiveRun& r) {
  std::string dag_id = r.rec.dag_id;
  if (is_finished(r.engine->state())) {
    sched_log()->info("run {} {} {}", dag_id, r.rec.run_id, to_string(r.engine->state()));
    listener_.run_ended(r);
    runs_.drop(r.rec.pk);
    start_runs(dag_id);
    listener_.replan(dag_id);
  }
  listener_.dispatch();
}

void RunKeeper::finished(const executor::Finished& f) {
  if (f.worker_slot) listener_.slot_freed();  // the worker thread is free, whatever its report says
  ActiveRun* rp = runs_.find(f.run_pk);
  if (!rp) return;  // the run was canceled and retired
  ActiveRun& r = *rp;
  auto& rec = r.tis[static_cast<size_t>(f.ti)];
  // A stale report (the try was failed, canceled or handed to another
  // worker) never overwrites a newer state.
  if (rec.attempt_token != f.attempt_token || rec.state != TaskState::running) return;
  int try_number = rec.try_number;
  auto t = r.engine->finish_try(f.ti, f.outcome, f.reason, f.at);
  if (!t) return;
  rec.exit_code = f.exit_code;
  if (f.outcome == TryOutcome::success && f.output) rec.output = f.output;
  in_report_ = true;
  apply(r, *t);
  in_report_ = false;
  store::TryRecord tr;
  tr.ti_id = rec.id;
  tr.try_number = try_number;
  tr.state = f.outcome == TryOutcome::success   ? TaskState::success
             : f.outcome == TryOutcome::skipped ? TaskState::skipped
             : rec.state == TaskState::waiting  ? TaskState::waiting  // a sensor's try goes on
                                                : TaskState::failed;
  tr.worker = rec.worker;
  tr.attempt_token = f.attempt_token;
  tr.started_at = rec.started_at;
  tr.queued_at = rec.started_at;
  if (tr.state != TaskState::waiting)
    tr.ended_at = r.engine->instances()[static_cast<size_t>(f.ti)].ended_at.value_or(clock_.now());
  tr.exit_code = f.exit_code;
  tr.reason = f.reason.empty() ? std::nullopt : std::optional<std::string>(f.reason);
  tr.log_path = log_rel(r, rec, try_number);
  tr.log_bytes = f.log_bytes;
  loop_.batch().tries.push_back(tr);
  settle(r);
}

void RunKeeper::heartbeat(long long run_pk, int ti, const std::string& token, std::optional<TimePoint> activity,
                          const std::optional<ProgressLine>& progress) {
  ActiveRun* r = runs_.find(run_pk);
  if (!r) return;
  auto& rec = r->tis[static_cast<size_t>(ti)];
  if (rec.attempt_token != token || rec.state != TaskState::running) return;
  rec.heartbeat_at = clock_.now();
  if (activity) rec.last_activity_at = activity;
  if (progress) rec.progress = store::progress_record(rec.try_number, progress->fraction, progress->text, clock_.now());
  loop_.batch().task_instances.push_back(rec);
}

// A process that may still run is stopped, and its late report refused.
void RunKeeper::fail_lost(ActiveRun& run, int ti, const std::string& why) { fail_running(run, ti, "worker_lost", why); }

void RunKeeper::fail_running(ActiveRun& run, int ti, const std::string& reason, const std::string& why) {
  auto& t = run.tis[static_cast<size_t>(ti)];
  int try_number = run.engine->instances()[static_cast<size_t>(ti)].try_number;
  listener_.withdraw(run, ti);
  auto fin = run.engine->finish_try(ti, reason == "worker_lost" ? TryOutcome::worker_lost : TryOutcome::failed, reason);
  in_report_ = true;  // the try row is written just below
  if (fin) apply(run, *fin);
  in_report_ = false;
  store::TryRecord tr;
  tr.ti_id = t.id;
  tr.try_number = try_number;
  tr.state = TaskState::failed;
  tr.worker = t.worker;
  tr.attempt_token = t.attempt_token;
  tr.started_at = t.started_at;
  tr.ended_at = clock_.now();
  tr.reason = reason;
  tr.log_path = log_rel(run, t, try_number);
  loop_.batch().tries.push_back(tr);
  sched_log()->warn("run {} {}: task {} try {} failed: {}: {}", run.rec.dag_id, run.rec.run_id, t.task_id, try_number,
                   reason, why);
}

// A scheduled foreach task: its list (literal, or its template rendered with
// the outputs of its upstream) becomes one mapped instance per item, written
// to the store at once with their items, fenced like every write; then the
// engine appends them and they are evaluated. A list that cannot be worked
// out fails the task with the reason; a store that cannot take them leaves
// the task scheduled, to be expanded on a later turn.
void RunKeeper::expand(ActiveRun& r, int ti) {
  const dsl::TaskSpec& spec = spec_of(r, ti);
  auto fail = [&](const std::string& why) {
    auto t = r.engine->expansion_failed(ti, "foreach: " + why);
    if (!t) return;
    sched_log()->warn("run {} {}: {} failed: foreach: {}", r.rec.dag_id, r.rec.run_id, spec.id, why);
    apply(r, *t);
    settle(r);  // may retire the run: r is not used after this
  };
  std::string list = spec.foreach_json.value_or("");
  if (spec.foreach_template) {
    dsl::RenderContext ctx = render_context(r, ti, 1);
    // The DAG's namespace's entry, else the global one (SPEC §13).
    ctx.variable = [this, ns = r.graph->spec().ns](const std::string& name) -> std::optional<std::string> {
      auto v = store_.resolve_variable(ns, name);
      if (!v) return std::nullopt;
      return v->value;
    };
    auto rendered = dsl::render_template(spec.foreach_template->text, ctx);
    if (!rendered) return fail(rendered.error().message);
    list = *rendered;
  }
  json items = json::parse(list, nullptr, false);
  if (!items.is_array()) {
    std::string shown = list.size() > 200 ? list.substr(0, 200) + "..." : list;
    return fail("expected a JSON list, got " + (shown.empty() ? std::string("nothing") : "\"" + shown + "\""));
  }
  if (items.size() > kMaxForeachItems)
    return fail(std::to_string(items.size()) + " items: at most " + std::to_string(kMaxForeachItems) + " are allowed");
  std::vector<store::TaskInstanceRecord> made;
  made.reserve(items.size());
  store::TaskInstanceRecord proto = task_instance_for(spec);
  for (size_t k = 0; k < items.size(); ++k) {
    store::TaskInstanceRecord c = proto;
    c.map_index = static_cast<int>(k);
    c.item = items[k].dump(-1, ' ', false, json::error_handler_t::replace);
    made.push_back(std::move(c));
  }
  if (!made.empty()) {
    auto added = store_.add_task_instances(r.rec.pk, made, fencing_.fences());
    if (!added && added.error().code == "stale_epoch") return fencing_.fenced_out(added.error());
    if (!added) {
      // The write may have landed all the same (an answer lost at COMMIT):
      // the instances are taken as they are in the store, if all are there.
      auto there = store_.list_task_instances(r.rec.pk);
      std::vector<store::TaskInstanceRecord> mine;
      if (there)
        for (auto& c : *there)
          if (c.task_id == spec.id && c.map_index >= 0) mine.push_back(c);
      std::sort(mine.begin(), mine.end(), [](auto& x, auto& y) { return x.map_index < y.map_index; });
      bool whole = mine.size() == made.size();
      for (size_t k = 0; whole && k < mine.size(); ++k) whole = mine[k].map_index == static_cast<int>(k);
      if (!whole) {
        sched_log()->error("run {} {}: expanding {}: {}", r.rec.dag_id, r.rec.run_id, spec.id, added.error().message);
        return;  // still scheduled: the next turn tries again
      }
      added = std::move(mine);
    }
    for (auto& c : *added) r.tis.push_back(std::move(c));
  }
  auto t = r.engine->expand(ti, static_cast<int>(items.size()));
  if (!t) {
    sched_log()->error("run {} {}: expanding {}: {}", r.rec.dag_id, r.rec.run_id, spec.id, t.error().message);
    return;
  }
  sched_log()->info("run {} {}: {} mapped over {} items", r.rec.dag_id, r.rec.run_id, spec.id, items.size());
  apply(r, *t);
  settle(r);  // dispatches the mapped instances; an empty list may end the run
}

std::optional<TimePoint> RunKeeper::next_wake() const {
  if (wake_.empty()) return std::nullopt;
  return wake_.begin()->first;
}

void RunKeeper::wake(TimePoint now) {
  std::set<long long> woke;
  while (!wake_.empty() && wake_.begin()->first <= now) {
    woke.insert(wake_.begin()->second);
    wake_.erase(wake_.begin());
  }
  for (long long pk : woke)
    if (ActiveRun* r = runs_.find(pk)) apply(*r, r->engine->wake_due());
}

ActiveRun* RunKeeper::find(const std::string& dag_id, const std::string& run_id, Error& err) {
  if (ActiveRun* r = runs_.find(dag_id, run_id)) return r;
  auto rec = store_.get_run(dag_id, run_id);
  err = rec ? Error{"conflict", "run " + run_id + " of DAG " + dag_id + " is " + to_string(rec->state)} : rec.error();
  return nullptr;
}

ActiveRun* RunKeeper::revive(const std::string& dag_id, const std::string& run_id, bool latest, Error& err) {
  if (ActiveRun* r = find(dag_id, run_id, err)) return r;
  auto rec = store_.get_run(dag_id, run_id);
  if (!rec) {
    err = rec.error();
    return nullptr;
  }
  dsl::DagGraphPtr g;
  if (latest) {
    g = registry_.current(dag_id);
    if (!g) {
      err = Error::not_found("DAG " + dag_id + " has no current version");
      return nullptr;
    }
    rec->dag_version = g->hash();
  } else {
    g = registry_.graph_of(dag_id, rec->dag_version);
  }
  if (!g) {
    err = Error{"conflict", "DAG version " + rec->dag_version + " of run " + run_id + " cannot be loaded"};
    return nullptr;
  }
  auto tis = store_.list_task_instances(rec->pk);
  if (!tis) {
    err = tis.error();
    return nullptr;
  }
  auto a = load_run(*rec, g, *tis);
  if (!a) {
    err = a.error();
    return nullptr;
  }
  ActiveRun& r = add(std::move(*a));
  listener_.refresh_past(r);  // before a clear or mark evaluates its tasks
  return &r;
}

RunKeeper::Rerun RunKeeper::rerun(const store::BackfillRecord& b, const std::string& run_id,
                                  const std::vector<std::string>& tasks, long long& pk) {
  Error err;
  ActiveRun* r = revive(b.dag_id, run_id, false, err);
  // A run that is gone (removed by a clean) is not ours to rerun either:
  // waiting for it would hold the backfill for ever.
  if (!r) return err.code == "conflict" || err.code == "not_found" ? Rerun::not_ours : Rerun::retry_later;
  if (!is_finished(r->engine->state())) return Rerun::not_ours;  // in progress: not ours to rerun
  // A rerun starts at once (a cleared run is running): within the DAG's
  // max_active_runs, or on a later poll.
  auto g = registry_.current(b.dag_id);
  if (g && runs_.running(b.dag_id) >= g->spec().max_active_runs) {
    runs_.drop(r->rec.pk);
    return Rerun::retry_later;
  }
  std::vector<std::string> targets = tasks;
  if (targets.empty())
    for (size_t i = 0; i < r->tis.size(); ++i) {
      TaskState st = r->engine->instances()[i].state;
      if (b.reprocess == "all" || st == TaskState::failed || st == TaskState::upstream_failed ||
          st == TaskState::canceled)
        targets.push_back(r->tis[i].task_id);
    }
  auto t = r->engine->clear(targets, b.downstream);
  if (!t || targets.empty()) {
    if (is_finished(r->engine->state())) runs_.drop(r->rec.pk);
    return Rerun::not_ours;
  }
  r->rec.backfill_id = b.id;  // before its tasks are ready: it yields to live runs while it reruns
  apply(*r, *t);
  loop_.batch().runs.push_back(r->rec);
  pk = r->rec.pk;
  return Rerun::taken;
}

}  // namespace baton::scheduler
