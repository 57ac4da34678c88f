#include "forecast.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "baton/core/duration.h"

#include "log.h"
#include "loop.h"
#include "notifications.h"

namespace baton::scheduler {

using nlohmann::json;

namespace {

long long us_of(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint tp_of(long long us) { return TimePoint(Duration(us)); }

// The run's SLA deadline (the earliest of run_deadline and run_duration),
// and which it is. Backfill runs have none (SLA misses skip them too).
std::optional<std::pair<TimePoint, std::string>> deadline_of(const ActiveRun& r) {
  if (r.rec.run_type == "backfill") return std::nullopt;
  const auto& spec = r.graph->spec();
  std::optional<std::pair<TimePoint, std::string>> out;
  if (spec.sla_run_deadline) out = {{r.rec.data_interval_end + *spec.sla_run_deadline, "run_deadline"}};
  if (spec.sla_run_duration && r.rec.started_at) {
    TimePoint d = *r.rec.started_at + *spec.sla_run_duration;
    if (!out || d < out->first) out = {{d, "run_duration"}};
  }
  return out;
}

bool has_flag(const std::string& flags, const std::string& flag) {
  return ("," + flags + ",").find("," + flag + ",") != std::string::npos;
}

EndCurve later(EndCurve a, EndCurve b) { return {std::max(a.c, b.c), std::max(a.d, b.d)}; }
EndCurve plus(EndCurve a, long long us) { return {a.c == EndCurve::kNever ? a.c : a.c + us, a.d + us}; }

}  // namespace

Forecaster::Forecaster(store::Store& store, const Clock& clock, Loop& loop, ActiveRuns& runs, ForecastHost& host)
    : store_(store), clock_(clock), loop_(loop), runs_(runs), host_(host) {}

// Each DAG's histories are read from the store the first time one of its
// runs needs them (a process that owns 10,000 DAGs reads none at start, and
// a reload only forgets them).
void Forecaster::load() { histories_.clear(); }

Forecaster::DagHistories* Forecaster::histories_of(const std::string& dag_id) {
  if (auto d = histories_.find(dag_id); d != histories_.end()) return &d->second;
  auto rows = store_.task_durations(dag_id, std::nullopt);
  if (!rows) {
    sched_log()->warn("task duration histories of {} not read: {}", dag_id, rows.error().message);
    return nullptr;  // asked again next time
  }
  DagHistories& tasks = histories_[dag_id];
  for (auto& d : *rows) {  // by task, newest first
    History& h = tasks[d.task_id];
    if (h.newest_first.empty()) h.seq = d.seq;
    if (static_cast<int>(h.newest_first.size()) < store::kDurationHistory) h.newest_first.push_back(d.seconds);
  }
  for (auto& [_, h] : tasks) h.stats = duration_stats(h.newest_first);
  return &tasks;
}

void Forecaster::clear() {
  due_.clear();
  risk_due_.clear();
  dirty_.clear();
  dirty_sla_.clear();
  at_risk_.clear();
}

Forecaster::History* Forecaster::find(const std::string& dag_id, const std::string& task_id) {
  DagHistories* d = histories_of(dag_id);
  if (!d) return nullptr;
  auto t = d->find(task_id);
  return t == d->end() ? nullptr : &t->second;
}

const Forecaster::History* Forecaster::find(const std::string& dag_id, const std::string& task_id) const {
  return const_cast<Forecaster*>(this)->find(dag_id, task_id);
}

const std::vector<double>* Forecaster::history(const std::string& dag_id, const std::string& task_id) const {
  const History* h = find(dag_id, task_id);
  return h ? &h->newest_first : nullptr;
}

std::optional<long long> Forecaster::p90_of(const ActiveRun& r, int ti) const {
  const auto& spec = spec_of(r, ti);
  if (spec.type == dsl::TaskType::noop) return 0;
  const History* h = find(r.rec.dag_id, spec.id);
  if (!h || h->stats.count == 0) return std::nullopt;
  return seconds_to_duration(h->stats.p90).count();
}

// The longest remaining path: each unfinished task ends at its start (the
// end of its unfinished upstream, else now) plus its p90; a running try at
// max(its start + p90, now); a try waiting to be retried at max(its retry
// time, now) + p90; a foreach task at the end of its last mapped instance.
std::optional<EndCurve> Forecaster::curve(const ActiveRun& r) const {
  const auto& inst = r.engine->instances();
  const dsl::DagGraph& g = *r.graph;
  const size_t n = g.spec().tasks.size();
  std::vector<std::vector<int>> mapped(n);
  for (size_t i = n; i < inst.size(); ++i)
    if (inst[i].parent >= 0 && static_cast<size_t>(inst[i].parent) < n) mapped[static_cast<size_t>(inst[i].parent)].push_back(static_cast<int>(i));
  std::vector<std::optional<EndCurve>> end(n);  // of unfinished tasks: when they end
  std::vector<char> done(n, 0);
  bool complete = true, any = false;
  EndCurve total;
  // One instance that has not finished, after `start`.
  auto one = [&](int i, EndCurve start) -> std::optional<EndCurve> {
    const TaskInstance& e = inst[static_cast<size_t>(i)];
    auto p90 = p90_of(r, i);
    if (!p90) return std::nullopt;
    if ((e.state == TaskState::running || e.state == TaskState::waiting) && e.started_at)
      return EndCurve{us_of(*e.started_at) + *p90, 0};
    if (e.state == TaskState::up_for_retry && e.wake_at) return plus(later(start, {us_of(*e.wake_at), 0}), *p90);
    return plus(start, *p90);
  };
  // Depth first, upstream before downstream (the graph has no cycle).
  std::vector<int> stack;
  for (size_t root = 0; root < n && complete; ++root) {
    if (done[root]) continue;
    stack.push_back(static_cast<int>(root));
    while (!stack.empty() && complete) {
      int v = stack.back();
      bool ready = true;
      for (int u : g.upstream(v))
        if (!done[static_cast<size_t>(u)]) {
          stack.push_back(u);
          ready = false;
        }
      if (!ready) continue;
      stack.pop_back();
      if (done[static_cast<size_t>(v)]) continue;
      done[static_cast<size_t>(v)] = 1;
      const TaskInstance& e = inst[static_cast<size_t>(v)];
      if (is_finished(e.state)) continue;
      EndCurve start;
      start.c = EndCurve::kNever;
      start.d = 0;
      for (int u : g.upstream(v))
        if (end[static_cast<size_t>(u)]) start = later(start, *end[static_cast<size_t>(u)]);
      std::optional<EndCurve> mine;
      if (!mapped[static_cast<size_t>(v)].empty()) {
        EndCurve m = start;
        for (int c : mapped[static_cast<size_t>(v)]) {
          if (is_finished(inst[static_cast<size_t>(c)].state)) continue;
          auto x = one(c, start);
          if (!x) {
            complete = false;
            break;
          }
          m = later(m, *x);
        }
        mine = m;
      } else {
        mine = one(v, start);
      }
      if (!mine) complete = false;
      end[static_cast<size_t>(v)] = mine;
      if (mine) {
        total = later(total, *mine);
        any = true;
      }
    }
  }
  if (!complete || !any) return std::nullopt;
  return total;
}

// A run loaded from the store whose stored forecast passed its deadline was
// found at risk before (by this process or another): a forecast back on
// time marks that risk recovered.
void Forecaster::run_adopted(ActiveRun& r) {
  if (r.rec.expected_end && r.rec.sla_deadline && *r.rec.expected_end > *r.rec.sla_deadline)
    at_risk_.insert(r.rec.pk);
  now_or_at_write(r);
}
void Forecaster::run_started(ActiveRun& r) { now_or_at_write(r); }

// A run with an SLA is forecast at once (its tries' order reads its slack);
// any other with the turn's write (once, however many times it moved).
void Forecaster::now_or_at_write(ActiveRun& r) {
  if (deadline_of(r)) forecast(r);
  else dirty_.insert(r.rec.pk);
}

// A run at risk that succeeded before its deadline made it after all: its
// risk is marked recovered. One that failed, or ends after the deadline (a
// miss), keeps its risk open.
void Forecaster::run_ended(const ActiveRun& r) {
  dirty_.erase(r.rec.pk);
  dirty_sla_.erase(r.rec.pk);
  risk_due_.erase(r.rec.pk);
  if (!at_risk_.count(r.rec.pk)) return;
  auto deadline = deadline_of(r);
  if (r.engine->state() == RunState::success && deadline && clock_.now() <= deadline->first)
    record_risk(r, false, clock_.now());
  at_risk_.erase(r.rec.pk);
}

void Forecaster::task_moved(ActiveRun& r, int ti, TaskState from, TaskState to, bool reported) {
  const TaskInstance& e = r.engine->instances()[static_cast<size_t>(ti)];
  const auto& spec = spec_of(r, ti);
  // Only a try that ran to its end (a worker's report): one marked success
  // by hand says nothing of how long the task takes.
  if (reported && to == TaskState::success && from == TaskState::running && e.started_at && e.ended_at &&
      spec.type != dsl::TaskType::noop && !(e.parent < 0 && is_foreach(spec))) {
    double seconds = std::chrono::duration<double>(*e.ended_at - *e.started_at).count();
    if (seconds < 0) seconds = 0;
    // Its seq goes on from the store's; a store that cannot be read leaves
    // the ring as it was (this success is not recorded).
    if (DagHistories* tasks = histories_of(r.rec.dag_id)) {
      History& h = (*tasks)[spec.id];
      h.newest_first.insert(h.newest_first.begin(), seconds);
      if (static_cast<int>(h.newest_first.size()) > store::kDurationHistory) h.newest_first.pop_back();
      h.stats = duration_stats(h.newest_first);
      loop_.batch().durations.push_back({r.rec.dag_id, spec.id, ++h.seq, seconds, *e.ended_at});
    }
  }
  if (from == to) return;
  dirty_.insert(r.rec.pk);
  if (deadline_of(r)) dirty_sla_.insert(r.rec.pk);
}

void Forecaster::try_began(const ActiveRun& r, int ti, int try_number) {
  const auto& spec = spec_of(r, ti);
  const TaskInstance& e = r.engine->instances()[static_cast<size_t>(ti)];
  TimePoint start = e.started_at.value_or(clock_.now());
  if (spec.type != dsl::TaskType::noop) {
    const History* h = find(r.rec.dag_id, spec.id);
    if (h && h->stats.count >= kSlowMinHistory)
      due_.emplace(start + slow_after(h->stats.p90), Check{Check::slow, r.rec.pk, ti, try_number});
  }
  if (spec.stuck_after && !loop_task(spec.type) && spec.type != dsl::TaskType::noop)
    due_.emplace(start + *spec.stuck_after, Check{Check::stuck, r.rec.pk, ti, try_number});
}

// dirty_sla_ is a part of dirty_: a full settle empties both.
void Forecaster::settle(bool sla_only) {
  std::set<long long> due;
  due.swap(sla_only ? dirty_sla_ : dirty_);
  if (!sla_only) dirty_sla_.clear();
  for (long long pk : due) {
    if (ActiveRun* r = runs_.find(pk)) forecast(*r);
    if (sla_only) dirty_.erase(pk);
  }
}

void Forecaster::forecast(ActiveRun& r) {
  const TimePoint now = clock_.now();
  auto deadline = deadline_of(r);
  EndCurve c;
  std::optional<TimePoint> expected;
  if (!is_finished(r.engine->state()))
    if (auto x = curve(r)) {
      c = *x;
      expected = tp_of(c.at(us_of(now)));
    }
  // Kept to the second: a forecast that moves less is not written again.
  auto changed = [](const std::optional<TimePoint>& a, const std::optional<TimePoint>& b) {
    return a.has_value() != b.has_value() || (a && (*a - *b > std::chrono::seconds(1) || *b - *a > std::chrono::seconds(1)));
  };
  std::optional<TimePoint> dl = deadline ? std::optional(deadline->first) : std::nullopt;
  // ...unless it crosses the deadline (the run's at_risk reads the two).
  auto late = [&](const std::optional<TimePoint>& e) { return e && dl && *e > *dl; };
  if (changed(r.rec.expected_end, expected) || r.rec.sla_deadline != dl || late(r.rec.expected_end) != late(expected)) {
    r.rec.expected_end = expected;
    r.rec.sla_deadline = dl;
    loop_.batch().runs.push_back(r.rec);
  }
  // Slack: to the deadline from the expected end (from now without one);
  // none without an SLA.
  long long slack = ActiveRun::kNoSlack;
  if (deadline) slack = std::chrono::duration_cast<std::chrono::milliseconds>(deadline->first - expected.value_or(now)).count();
  if (slack != r.slack) {
    long long old = r.slack;
    r.slack = slack;
    host_.slack_changed(r, old);
  }
  if (!deadline || !expected || now >= deadline->first) return;
  bool risk = *expected > deadline->first;
  record_risk(r, risk, *expected);
  // Not at risk yet: it will be when the time alone pushes the expected
  // end past the deadline (a try running past its p90), unless a task ends
  // first (which forecasts again).
  // One such check per run: the latest forecast's (an earlier one is
  // dropped when it comes due).
  if (!risk && c.d > 0) {
    TimePoint when = std::max(tp_of(us_of(deadline->first) - c.d + 1), now);
    if (when < deadline->first) {
      auto [it, fresh] = risk_due_.try_emplace(r.rec.pk, when);
      if (fresh || it->second != when) {
        it->second = when;
        due_.emplace(when, Check{Check::risk, r.rec.pk, -1, 0});
      }
    }
  } else {
    risk_due_.erase(r.rec.pk);
  }
}

void Forecaster::record_risk(const ActiveRun& r, bool risk, TimePoint expected_end) {
  bool was = at_risk_.count(r.rec.pk) > 0;
  if (risk == was) return;
  auto deadline = deadline_of(r);
  if (!deadline) return;
  const TimePoint now = clock_.now();
  auto& batch = loop_.batch();
  store::WriteBatch::Risk entry;
  entry.risk.dag_id = r.rec.dag_id;
  entry.risk.run_id = r.rec.run_id;
  entry.risk.kind = deadline->second;
  entry.risk.deadline = deadline->first;
  entry.risk.expected_end = expected_end;
  entry.risk.detected_at = now;
  if (risk) {
    at_risk_.insert(r.rec.pk);
    ++risks_detected_;
    // Sent only with a risk that is new in the store (once per run, also
    // across restarts and after a recovery).
    json details = {{"kind", deadline->second},
                    {"deadline", format_utc(deadline->first)},
                    {"expected_end", format_utc(expected_end)}};
    const size_t before = batch.notifications.size();
    queue_notification(batch, clock_, r, "on_sla_risk", details);
    entry.notifications.assign(std::make_move_iterator(batch.notifications.begin() + static_cast<long>(before)),
                               std::make_move_iterator(batch.notifications.end()));
    batch.notifications.resize(before);
    sched_log()->warn("SLA at risk: {} {} expected to end {} after its {} deadline {}", r.rec.dag_id, r.rec.run_id,
                      format_duration(expected_end - deadline->first), deadline->second, format_utc(deadline->first));
  } else {
    at_risk_.erase(r.rec.pk);
    entry.risk.recovered_at = now;
    entry.recovery = true;  // an open risk of the run, if the store has one
    sched_log()->info("SLA risk recovered: {} {} expected {}, deadline {}", r.rec.dag_id, r.rec.run_id,
                      format_utc(expected_end), format_utc(deadline->first));
  }
  batch.sla_risks.push_back(std::move(entry));
  loop_.request_flush();
}

std::optional<TimePoint> Forecaster::next_due() const {
  if (due_.empty()) return std::nullopt;
  return due_.begin()->first;
}

void Forecaster::wake(TimePoint now) {
  while (!due_.empty() && due_.begin()->first <= now) {
    const TimePoint at = due_.begin()->first;
    Check c = due_.begin()->second;
    due_.erase(due_.begin());
    switch (c.kind) {
      case Check::risk: {
        auto it = risk_due_.find(c.run_pk);
        if (it == risk_due_.end() || it->second != at) break;  // replaced by a later forecast's
        risk_due_.erase(it);
        if (ActiveRun* r = runs_.find(c.run_pk)) forecast(*r);
        break;
      }
      case Check::slow: check_slow(c); break;
      case Check::stuck: check_stuck(c, now); break;
    }
  }
}

void Forecaster::check_slow(const Check& c) {
  ActiveRun* r = runs_.find(c.run_pk);
  if (!r || c.ti < 0 || static_cast<size_t>(c.ti) >= r->engine->instances().size()) return;
  const TaskInstance& e = r->engine->instances()[static_cast<size_t>(c.ti)];
  if (e.state != TaskState::running || e.try_number != c.try_number || !e.started_at) return;
  if (has_flag(r->tis[static_cast<size_t>(c.ti)].flags, "slow")) return;  // once per try (a restart arms it again)
  const History* h = find(r->rec.dag_id, spec_of(*r, c.ti).id);
  double p90 = h ? h->stats.p90 : 0;
  // The history may have moved since the try began (other runs' tries
  // ended): slow by today's p90.
  if (TimePoint when = *e.started_at + slow_after(p90); when > clock_.now()) {
    due_.emplace(when, c);
    return;
  }
  ++slow_flagged_;
  flag(*r, c.ti, "slow", "on_slow",
       json{{"try_number", c.try_number},
            {"running_for", format_duration(clock_.now() - e.started_at.value_or(clock_.now()))},
            {"p90_seconds", p90},
            {"slow_after", format_duration(slow_after(p90))}});
}

// Stuck: no log byte, checkpoint or progress since the try began for
// stuck_after. A remote try's activity is what its worker stored.
void Forecaster::check_stuck(const Check& c, TimePoint now) {
  ActiveRun* r = runs_.find(c.run_pk);
  if (!r || c.ti < 0 || static_cast<size_t>(c.ti) >= r->engine->instances().size()) return;
  const TaskInstance& e = r->engine->instances()[static_cast<size_t>(c.ti)];
  if (e.state != TaskState::running || e.try_number != c.try_number || !e.started_at) return;
  const auto& spec = spec_of(*r, c.ti);
  if (!spec.stuck_after) return;
  auto& rec = r->tis[static_cast<size_t>(c.ti)];
  std::optional<TimePoint> activity = rec.last_activity_at;
  if (host_.runs_remote(*r, c.ti)) {
    if (auto stored = store_.list_task_instances(r->rec.pk))
      for (auto& t : *stored)
        if (t.id == rec.id && t.last_activity_at && (!activity || *t.last_activity_at > *activity))
          activity = t.last_activity_at;
  }
  TimePoint last = std::max(*e.started_at, activity.value_or(*e.started_at));
  if (last + *spec.stuck_after > now) {
    due_.emplace(last + *spec.stuck_after, c);  // it wrote since: look again then
    return;
  }
  if (has_flag(rec.flags, "stuck")) return;
  ++stuck_flagged_;
  flag(*r, c.ti, "stuck", "on_stuck",
       json{{"try_number", c.try_number},
            {"last_activity_at", format_utc(last)},
            {"stuck_after", format_duration(*spec.stuck_after)},
            {"on_stuck", spec.stuck_fail ? "fail" : "alert"}});
  if (spec.stuck_fail) host_.fail_stuck(*r, c.ti);
}

void Forecaster::flag(ActiveRun& r, int ti, const std::string& name, const std::string& event, json details) {
  auto& rec = r.tis[static_cast<size_t>(ti)];
  if (!rec.flags.empty()) rec.flags += ",";
  rec.flags += name;
  auto& batch = loop_.batch();
  batch.task_instances.push_back(rec);
  details["task_id"] = rec.task_id;
  if (rec.map_index >= 0) details["map_index"] = rec.map_index;
  queue_notification(batch, clock_, r, event, std::move(details));
  sched_log()->warn("run {} {}: task {} try {} is {}", r.rec.dag_id, r.rec.run_id, rec.task_id, rec.try_number, name);
  loop_.request_flush();
}

void Forecaster::metrics(SchedulerMetrics& out) const {
  out.sla_risks_open = static_cast<long long>(at_risk_.size());
  out.sla_risks_detected = risks_detected_;
  out.slow_tries = slow_flagged_;
  out.stuck_tries = stuck_flagged_;
}

}  // namespace baton::scheduler
