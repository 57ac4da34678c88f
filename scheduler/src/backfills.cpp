#include "backfills.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "active_runs.h"
#include "baton/scheduler/scheduler.h"
#include "log.h"
#include "loop.h"
#include "run_factory.h"

namespace baton::scheduler {

using nlohmann::json;

namespace {

int steps_to_do(const std::vector<BackfillStep>& plan) {
  int n = 0;
  for (auto& st : plan) n += st.action != "skip";
  return n;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

Backfills::Backfills(store::Store& store, const Clock& clock, Loop& loop, DagRegistry& registry, Fencing& fencing,
                     BackfillRuns& runs)
    : store_(store), clock_(clock), loop_(loop), registry_(registry), fencing_(fencing), runs_(runs) {}

Result<std::pair<TimePoint, TimePoint>> Backfills::bounds(const dsl::DagGraph& g, const std::string& from,
                                                          const std::string& to) {
  TimeZone zone = g.schedule().zone();
  if (g.schedule().kind() != Schedule::Kind::cron)
    if (auto z = TimeZone::find(g.spec().timezone)) zone = *z;
  auto f = parse_date_time(from);
  if (!f) return Error::invalid("from: " + f.error().message);
  auto t = parse_date_time(to);
  if (!t) return Error::invalid("to: " + t.error().message);
  TimePoint from_at = zone.resolve(*f);
  TimePoint to_at;
  if (!t->absolute && !t->local.has_time) {
    DateTimeText next_day = *t;
    int y, m, d;
    civil_from_days(days_from_civil(t->local.year, t->local.month, t->local.day) + 1, y, m, d);
    next_day.local.year = y;
    next_day.local.month = m;
    next_day.local.day = d;
    to_at = zone.resolve(next_day) - Duration(1);
  } else {
    to_at = zone.resolve(*t);
  }
  if (to_at < from_at) return Error::invalid("to (" + to + ") is before from (" + from + ")");
  return std::make_pair(from_at, to_at);
}

Result<std::vector<BackfillStep>> Backfills::plan(const dsl::DagGraph& g, const store::BackfillRecord& b) {
  constexpr size_t kMaxIntervals = 100000;
  const Schedule& s = g.schedule();
  auto existing = store_.runs_between(g.dag_id(), b.from_at, b.to_at);
  if (!existing) return existing.error();
  std::map<long long, const store::RunRecord*> by_date;  // the interval's own run: scheduled or backfill
  for (auto& r : *existing)
    if (r.run_type == "scheduled" || r.run_type == "backfill") by_date[r.logical_date.time_since_epoch().count()] = &r;
  std::vector<BackfillStep> plan;
  TimePoint now = clock_.now();
  for (auto t = s.next_tick(b.from_at - Duration(1)); t && *t <= b.to_at; t = s.next_tick(*t)) {
    auto end = s.next_tick(*t);
    if (!end) break;
    BackfillStep step{*t, *end, "create", std::nullopt, ""};
    if (*end > now) {
      step.action = "skip";
      step.reason = "the interval is not over yet";
      plan.push_back(step);
      break;
    }
    if (plan.size() >= kMaxIntervals)
      return Error::invalid("the range holds more than " + std::to_string(kMaxIntervals) + " intervals: split it");
    if (auto it = by_date.find(t->time_since_epoch().count()); it != by_date.end()) {
      const store::RunRecord& run = *it->second;
      step.run_id = run.run_id;
      bool finished = is_finished(run.state);
      if (b.reprocess == "all" && finished) {
        step.action = "rerun";
      } else if (b.reprocess == "failed" && run.state == RunState::failed) {
        step.action = "rerun";
      } else {
        step.action = "skip";
        step.reason = !finished ? std::string("its run is ") + to_string(run.state)
                                : std::string("it has a run (") + to_string(run.state) + ")";
      }
    }
    plan.push_back(step);
  }
  if (b.reverse) std::reverse(plan.begin(), plan.end());
  return plan;
}

Result<BackfillResult> Backfills::create(const BackfillRequest& req, const std::string& actor) {
  DagEntry* d = registry_.find(req.dag_id);
  if (!d || !d->graph) return Error::not_found("no DAG \"" + req.dag_id + "\"");
  if (!d->active) return Error::invalid("DAG " + req.dag_id + " is inactive (its file was removed)");
  const auto& g = *d->graph;
  if (!g.schedule().is_time_based())
    return Error::invalid("DAG " + req.dag_id + " has no time schedule: a backfill needs intervals (cron or every)");
  if (req.reprocess != "none" && req.reprocess != "failed" && req.reprocess != "all")
    return Error::invalid("reprocess must be none, failed or all, not \"" + req.reprocess + "\"");
  if (req.max_active_runs < 1 || req.max_active_runs > 1000)
    return Error::invalid("max_active_runs must be from 1 to 1000");
  for (auto& t : req.tasks)
    if (g.index_of(t) < 0) return Error::invalid("no task \"" + t + "\" in DAG " + req.dag_id);
  if (req.downstream && req.tasks.empty()) return Error::invalid("downstream needs tasks");
  auto span = bounds(g, req.from, req.to);
  if (!span) return span.error();
  store::BackfillRecord b;
  b.dag_id = req.dag_id;
  b.from_at = span->first;
  b.to_at = span->second;
  b.from_text = req.from;
  b.to_text = req.to;
  b.reprocess = req.reprocess;
  b.max_active_runs = req.max_active_runs;
  b.reverse = req.reverse;
  if (!req.tasks.empty()) b.tasks = json(req.tasks).dump();
  b.downstream = req.downstream;
  b.idempotency_key = req.idempotency_key;
  auto steps = plan(g, b);
  if (!steps) return steps.error();
  b.total = steps_to_do(*steps);
  b.created_by = actor;
  // Written with the row itself: a crash right after creation resumes from here.
  for (auto& st : *steps)
    if (st.action != "skip") {
      b.cursor_at = st.logical_date;
      break;
    }
  // The intervals not over yet stay out, also when a restart plans again.
  for (auto& st : *steps)
    if (st.reason == "the interval is not over yet") b.to_at = std::min(b.to_at, st.logical_date - Duration(1));
  BackfillResult out;
  out.backfill = b;
  for (auto& st : *steps) {
    if (st.action == "create") ++out.summary.create;
    else if (st.action == "rerun") ++out.summary.rerun;
    else ++out.summary.skip;
  }
  if (req.dry_run) {
    out.plan = std::move(*steps);
    return out;
  }
  auto created = store_.create_backfill(b, actor);
  if (!created) return created.error();
  if (!created->created) {
    // Made before by this command (carried out again): nothing is made
    // twice. The backfill goes on here: loaded with the partition, or (made
    // by the previous owner after this one loaded it) taken up now.
    const auto& found = created->backfill;
    if (found.state == "running" && !active_.count(found.id) && fencing_.owns(found.dag_id)) {
      take_up_backfill(found);
      runs_.dispatch();
    }
    out.backfill = found;
    if (auto it = active_.find(found.id); it != active_.end()) out.backfill = it->second.rec;
    return out;
  }
  const store::BackfillRecord& made = created->backfill;
  out.backfill = made;
  Active bf;
  bf.rec = made;
  bf.steps = *steps;
  bf.tasks = req.tasks;
  long long id = made.id;
  active_.emplace(id, std::move(bf));
  advance(active_.at(id));
  if (auto it = active_.find(id); it != active_.end()) out.backfill = it->second.rec;
  else out.backfill = loop_.batch().backfills.back();  // it ended at once (nothing to do)
  runs_.dispatch();
  return out;
}

Status Backfills::cancel(long long id, const std::string& actor) {
  auto it = active_.find(id);
  if (it == active_.end()) {
    auto b = store_.get_backfill(id);
    if (!b) return b.error();
    if (b->state != "running") return Error{"conflict", "backfill " + std::to_string(id) + " is " + b->state};
    b->state = "canceled";  // a backfill this scheduler could not take up again, or has not yet
    b->ended_at = clock_.now();
    loop_.batch().backfills.push_back(*b);
    // Not taken up yet (the DAGs folder loads first): its runs in memory end too.
    if (auto mine = store_.runs_between(b->dag_id, b->from_at, b->to_at)) {
      std::vector<long long> runs;
      for (auto& r : *mine)
        if (r.backfill_id == id && runs_.in_memory(r.pk)) runs.push_back(r.pk);
      if (!runs.empty()) runs_.cancel(runs);
    }
    loop_.audit(actor, "backfill.canceled", "dag:" + b->dag_id + "/backfill/" + std::to_string(id), "{}");
    return {};
  }
  Active& bf = it->second;
  bf.rec.state = "canceled";
  bf.rec.ended_at = clock_.now();
  loop_.audit(actor, "backfill.canceled", "dag:" + bf.rec.dag_id + "/backfill/" + std::to_string(id),
              dump(json{{"done", bf.rec.done}, {"total", bf.rec.total}}));
  std::vector<long long> runs(bf.runs.begin(), bf.runs.end());
  loop_.batch().backfills.push_back(bf.rec);
  active_.erase(it);  // its runs end below without taking up more
  runs_.cancel(runs);
  return {};
}

// Takes up steps while the backfill has places for runs, at most
// kStepsPerTurn of them in this turn (the rest on a turn of its own); ends it
// when every step is taken and every run finished. The turn's new runs are
// made in one transaction (create_runs).
void Backfills::advance(Active& bf) {
  auto& b = bf.rec;
  size_t taken = 0;
  std::vector<size_t> creates;  // steps whose runs are made together, below
  auto has_place = [&] {
    return b.state == "running" && !loop_.stopping() &&
           bf.runs.size() + creates.size() < static_cast<size_t>(b.max_active_runs) && bf.next < bf.steps.size();
  };
  bool retry = false;
  while (has_place()) {
    if (taken == kStepsPerTurn) {
      post_advance(bf);
      break;
    }
    const size_t at = bf.next++;
    const BackfillStep step = bf.steps[at];
    if (step.action == "skip") continue;
    ++taken;
    if (step.action == "create") {
      creates.push_back(at);
      continue;
    }
    // A rerun goes in order: the runs before it are made first.
    if (!create_runs(bf, creates)) {
      bf.next = creates.front();
      retry = true;
      break;
    }
    creates.clear();
    TakeUp t = take_up(bf, step);
    if (t == TakeUp::retry_later) {  // the store failed: again on the next poll
      bf.next = at;
      retry = true;
      break;
    }
    if (t == TakeUp::not_ours) --b.total;  // taken by something else meanwhile: not this backfill's
  }
  if (!retry && !create_runs(bf, creates)) bf.next = creates.front();  // the store failed: again on the next poll
  b.cursor_at.reset();
  for (size_t k = bf.next; k < bf.steps.size() && !b.cursor_at; ++k)
    if (bf.steps[k].action != "skip") b.cursor_at = bf.steps[k].logical_date;
  if (b.state == "running" && !b.cursor_at && bf.runs.empty()) {
    b.state = b.failed > 0 ? "failed" : "success";
    b.ended_at = clock_.now();
    sched_log()->info("backfill {} of {} {}: {} runs, {} failed", b.id, b.dag_id, b.state, b.done, b.failed);
  }
  loop_.batch().backfills.push_back(b);
  if (b.state != "running") active_.erase(b.id);
}

// Queued behind what is on the loop's queue now. From inside a turn of
// advance() it is queued at the turn's end, after the runs it made were
// dispatched: what arrived during the turn (a live trigger) goes first.
void Backfills::post_advance(Active& bf) {
  if (bf.advance_posted) return;
  bf.advance_posted = true;
  long long id = bf.rec.id;
  if (in_turn_) {
    deferred_.push_back(id);
    return;
  }
  loop_.post([this, id] {
    auto it = active_.find(id);
    if (it == active_.end()) return;
    it->second.advance_posted = false;
    in_turn_ = true;
    advance(it->second);
    runs_.dispatch();
    in_turn_ = false;
    loop_.request_flush();
    auto later = std::move(deferred_);
    deferred_.clear();
    for (long long other : later)
      if (auto o = active_.find(other); o != active_.end()) {
        o->second.advance_posted = false;
        post_advance(o->second);
      }
  });
}

// Makes the runs of these create steps in one transaction and hands them to
// the run keeper; an interval whose run something else made first is not
// this backfill's. False when the store failed (nothing was made).
bool Backfills::create_runs(Active& bf, const std::vector<size_t>& steps) {
  if (steps.empty()) return true;
  auto& b = bf.rec;
  DagEntry* d = registry_.find(b.dag_id);
  if (!d || !d->graph) return false;
  std::vector<store::Store::NewRun> runs;
  runs.reserve(steps.size());
  const auto tis = task_instances_for(*d->graph);
  for (size_t at : steps) {
    const BackfillStep& step = bf.steps[at];
    store::RunRecord r;
    r.dag_id = b.dag_id;
    r.run_type = "backfill";
    r.run_id = make_run_id("backfill", step.logical_date, false);
    r.logical_date = r.data_interval_start = step.logical_date;
    r.data_interval_end = step.data_interval_end;
    r.params = d->graph->spec().params_json;
    // The defaults' templates rendered now (SPEC §3); one that cannot be keeps its text.
    if (auto p = run_params(store_, *d->graph, r, r.params); p) r.params = std::move(*p);
    else sched_log()->error("backfill {} run {}: {} (its text is kept)", b.id, r.run_id, p.error().message);
    r.dag_version = d->graph->hash();
    r.backfill_id = b.id;
    r.created_by = b.created_by;
    runs.push_back({std::move(r), tis, {}, {}});
  }
  auto made = store_.create_runs(runs, b.created_by, fencing_.fences());
  if (!made && made.error().code == "stale_epoch") {
    fencing_.fenced_out(made.error());
    return false;
  }
  if (!made) {
    sched_log()->error("backfill {}: {}", b.id, made.error().message);
    return false;
  }
  for (auto& c : *made) {
    if (!c) {
      // conflict: the schedule, catchup or another backfill made the interval's run first.
      --b.total;
      continue;
    }
    bf.runs.insert(c->run.pk);
    runs_.adopt(c->run, d->graph, c->task_instances);
  }
  return true;
}

Backfills::TakeUp Backfills::take_up(Active& bf, const BackfillStep& step) {
  auto& b = bf.rec;
  // rerun: clear the run's tasks (failed ones, all, or the chosen ones).
  long long pk = 0;
  switch (runs_.rerun(b, *step.run_id, bf.tasks, pk)) {
    case BackfillRuns::Rerun::not_ours: return TakeUp::not_ours;
    case BackfillRuns::Rerun::retry_later: return TakeUp::retry_later;
    case BackfillRuns::Rerun::taken: break;
  }
  bf.runs.insert(pk);
  runs_.settle(pk);
  return TakeUp::taken;
}

void Backfills::run_ended(long long run_pk, long long backfill_id, bool success) {
  auto it = active_.find(backfill_id);
  if (it == active_.end() || !it->second.runs.erase(run_pk)) return;
  Active& bf = it->second;
  ++bf.rec.done;
  if (!success) ++bf.rec.failed;
  loop_.batch().backfills.push_back(bf.rec);  // counted in the same write as the run's end
  // Not from inside a settle: the next runs start on a turn of their own,
  // one for all the runs that ended meanwhile.
  post_advance(bf);
}

// Running backfills come back with the steps left after their cursor. Their
// counts are taken again from the runs themselves (a crash may have come
// between a run's end and its count, or during recovery).
void Backfills::recover() {
  auto list = store_.list_backfills(std::nullopt, true, 0, 100000);
  if (!list) {
    sched_log()->error("recovery of backfills: {}", list.error().message);
    return;
  }
  for (auto& b : *list)
    if (fencing_.owns(b.dag_id) && !active_.count(b.id)) take_up_backfill(b);  // not one made meanwhile
}

// Carries on a running backfill read from the store (recovery, a partition
// gained, a command carried out again that finds the backfill it made).
void Backfills::take_up_backfill(const store::BackfillRecord& b) {
  Active bf;
  bf.rec = b;
  DagEntry* d = registry_.find(b.dag_id);
  auto give_up = [&](const std::string& why) {
    bf.rec.state = "failed";
    bf.rec.ended_at = clock_.now();
    loop_.batch().backfills.push_back(bf.rec);
    loop_.audit("system", "backfill.failed", "dag:" + b.dag_id + "/backfill/" + std::to_string(b.id),
                dump(json{{"reason", why}}));
    sched_log()->error("backfill {} of {} cannot go on: {}", b.id, b.dag_id, why);
  };
  if (!d || !d->graph) {
    give_up("DAG " + b.dag_id + " has no usable version");
    return;
  }
  if (b.tasks) {
    json t = json::parse(*b.tasks, nullptr, false);
    if (t.is_array())
      for (auto& x : t)
        if (x.is_string()) bf.tasks.push_back(x.get<std::string>());
  }
  auto mine = store_.runs_between(b.dag_id, b.from_at, b.to_at);
  if (!mine) {
    give_up(mine.error().message);
    return;
  }
  bf.rec.done = bf.rec.failed = 0;
  for (auto& r : *mine) {
    if (r.backfill_id != b.id) continue;
    if (runs_.in_memory(r.pk)) {
      bf.runs.insert(r.pk);
    } else if (is_finished(r.state)) {
      ++bf.rec.done;
      if (r.state != RunState::success) ++bf.rec.failed;
    }
  }
  if (b.cursor_at) {
    auto steps = plan(*d->graph, b);
    if (!steps) {
      give_up(steps.error().message);
      return;
    }
    for (auto& st : *steps)
      if (b.reverse ? st.logical_date <= *b.cursor_at : st.logical_date >= *b.cursor_at) bf.steps.push_back(st);
  }
  // What is left, exactly: finished + in flight + still to take up.
  bf.rec.total = bf.rec.done + static_cast<int>(bf.runs.size()) + steps_to_do(bf.steps);
  long long id = b.id;
  active_.emplace(id, std::move(bf));
  advance(active_.at(id));
}

void Backfills::advance_all() {
  std::vector<long long> ids;
  for (auto& [id, bf] : active_)
    if (bf.next < bf.steps.size() && bf.runs.size() < static_cast<size_t>(bf.rec.max_active_runs)) ids.push_back(id);
  for (long long id : ids)
    if (auto it = active_.find(id); it != active_.end()) advance(it->second);
}

}  // namespace baton::scheduler
