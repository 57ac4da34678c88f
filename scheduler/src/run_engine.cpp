#include "baton/scheduler/run_engine.h"

#include <algorithm>
#include <functional>

#include "baton/core/retry.h"
#include "baton/core/trigger_rule.h"

namespace baton::scheduler {

namespace {

RetryPolicy policy_of(const dsl::TaskSpec& t) {
  RetryPolicy p;
  p.retries = t.retries;
  p.retry_delay = t.retry_delay;
  p.exponential = t.retry_backoff == dsl::RetryBackoff::exponential;
  p.max_retry_delay = t.max_retry_delay;
  p.jitter = t.retry_jitter;
  return p;
}

TriggerRuleKind rule_of(const dsl::TaskSpec& t) {
  // dsl::TriggerRule and TriggerRuleKind list the rules in the same order.
  return static_cast<TriggerRuleKind>(static_cast<int>(t.trigger_rule));
}

}  // namespace

RunEngine::RunEngine(dsl::DagGraphPtr graph, const Clock& clock) : graph_(std::move(graph)), clock_(clock) {
  const auto& tasks = graph_->spec().tasks;
  tis_.resize(tasks.size());
  past_block_.resize(tasks.size());
  mapped_.resize(tasks.size());
  tally_.resize(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    tis_[i].task = static_cast<int>(i);
    tis_[i].max_tries = tasks[i].retries + 1;
  }
  recount();
}

bool RunEngine::is_foreach(int task) const {
  const auto& t = graph_->spec().tasks[static_cast<size_t>(task)];
  return t.foreach_json.has_value() || t.foreach_template.has_value();
}

int RunEngine::instance_of(int task, int map_index) const {
  if (task < 0 || task >= static_cast<int>(mapped_.size())) return -1;
  if (map_index < 0) return task;
  const auto& m = mapped_[static_cast<size_t>(task)];
  return map_index < static_cast<int>(m.size()) ? m[static_cast<size_t>(map_index)] : -1;
}

const std::vector<int>& RunEngine::mapped(int task) const {
  static const std::vector<int> none;
  if (task < 0 || task >= static_cast<int>(mapped_.size())) return none;
  return mapped_[static_cast<size_t>(task)];
}

void RunEngine::count(const TaskInstance& t, int delta) {
  if (!is_finished(t.state)) unfinished_ += delta;
  if (t.state == TaskState::failed || t.state == TaskState::upstream_failed) bad_ += delta;
  if (t.parent < 0) return;
  Tally& y = tally_[static_cast<size_t>(t.task)];
  switch (t.state) {
    case TaskState::success: y.success += delta; break;
    case TaskState::skipped: y.skipped += delta; break;
    case TaskState::failed:
    case TaskState::canceled: y.failed += delta; break;
    case TaskState::upstream_failed: y.upstream_failed += delta; break;
    default: y.unfinished += delta; break;
  }
}

void RunEngine::recount() {
  unfinished_ = bad_ = 0;
  for (auto& y : tally_) y = Tally{};
  for (auto& t : tis_) count(t, 1);
}

Status RunEngine::set(int ti, TaskState to, std::vector<Transition>& out, std::string reason) {
  TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (auto s = check_transition(t.state, to); !s) return s;
  out.push_back({ti, t.state, to});
  count(t, -1);
  t.state = to;
  count(t, 1);
  if (!reason.empty() || is_finished(to) || to == TaskState::scheduled) t.reason = std::move(reason);
  if (to != TaskState::up_for_retry) t.wake_at.reset();
  if (is_finished(to) && !t.ended_at) t.ended_at = clock_.now();
  return {};
}

bool RunEngine::restore(RunState state, std::vector<TaskInstance> instances) {
  const size_t n_tasks = graph_->spec().tasks.size();
  if (instances.size() < n_tasks) return false;
  std::vector<std::vector<int>> mapped(n_tasks);
  for (size_t i = 0; i < instances.size(); ++i) {
    TaskInstance& t = instances[i];
    if (i < n_tasks) {
      if (t.task != static_cast<int>(i) || t.map_index >= 0) return false;
      t.parent = -1;
      continue;
    }
    if (t.task < 0 || static_cast<size_t>(t.task) >= n_tasks || !is_foreach(t.task) || t.map_index < 0) return false;
    t.parent = t.task;
    auto& m = mapped[static_cast<size_t>(t.task)];
    if (static_cast<size_t>(t.map_index) >= m.size()) m.resize(static_cast<size_t>(t.map_index) + 1, -1);
    if (m[static_cast<size_t>(t.map_index)] >= 0) return false;  // twice
    m[static_cast<size_t>(t.map_index)] = static_cast<int>(i);
  }
  for (auto& m : mapped)
    for (int k : m)
      if (k < 0) return false;  // a gap in the map indexes
  state_ = state;
  canceled_ = state == RunState::canceled;
  tis_ = std::move(instances);
  mapped_ = std::move(mapped);
  past_block_.assign(tis_.size(), "");
  recount();
  return true;
}

std::vector<Transition> RunEngine::reconcile() {
  std::vector<Transition> out;
  if (state_ != RunState::running) return out;
  std::vector<int> worklist;
  for (size_t task = 0; task < mapped_.size(); ++task) {
    if (mapped_[task].empty()) continue;
    int ti = static_cast<int>(task);
    if (tis_[task].state == TaskState::scheduled)
      (void)set(ti, TaskState::pending, out, "mapped over " + std::to_string(mapped_[task].size()) + " items");
    aggregate(ti, worklist, out);
    // Mapped instances written just before a crash, whose move to scheduled
    // was not: evaluated now.
    for (int c : mapped_[task])
      if (tis_[static_cast<size_t>(c)].state == TaskState::pending) worklist.push_back(c);
  }
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

bool RunEngine::needs_expansion(int ti) const {
  return ti >= 0 && ti < static_cast<int>(mapped_.size()) && is_foreach(ti) &&
         mapped_[static_cast<size_t>(ti)].empty() && tis_[static_cast<size_t>(ti)].state == TaskState::scheduled;
}

Result<std::vector<Transition>> RunEngine::expand(int ti, int items) {
  if (!needs_expansion(ti)) return Error{"conflict", "task instance " + std::to_string(ti) + " is not a scheduled foreach task"};
  if (items < 0) return Error::invalid("a negative number of items");
  std::vector<Transition> out;
  std::vector<int> worklist;
  tis_[static_cast<size_t>(ti)].started_at = clock_.now();
  if (items == 0) {
    (void)set(ti, TaskState::skipped, out, "foreach: the list is empty");
    unlocked(ti, worklist, out);
  } else {
    const int max_tries = graph_->spec().tasks[static_cast<size_t>(ti)].retries + 1;
    auto& m = mapped_[static_cast<size_t>(ti)];
    tis_.reserve(tis_.size() + static_cast<size_t>(items));
    m.reserve(static_cast<size_t>(items));
    for (int k = 0; k < items; ++k) {
      TaskInstance c;
      c.task = ti;
      c.map_index = k;
      c.parent = ti;
      c.max_tries = max_tries;
      m.push_back(static_cast<int>(tis_.size()));
      tis_.push_back(c);
      count(c, 1);
    }
    past_block_.resize(tis_.size());
    (void)set(ti, TaskState::pending, out, "mapped over " + std::to_string(items) + " items");
    worklist = m;
  }
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

Result<std::vector<Transition>> RunEngine::expansion_failed(int ti, const std::string& reason) {
  if (!needs_expansion(ti)) return Error{"conflict", "task instance " + std::to_string(ti) + " is not a scheduled foreach task"};
  std::vector<Transition> out;
  std::vector<int> worklist;
  tis_[static_cast<size_t>(ti)].started_at = clock_.now();
  (void)set(ti, TaskState::failed, out, reason);
  unlocked(ti, worklist, out);
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

void RunEngine::unlocked(int ti, std::vector<int>& worklist, std::vector<Transition>& out) {
  const TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (t.parent >= 0) {
    aggregate(t.task, worklist, out);
    return;
  }
  for (int d : graph_->downstream(t.task)) worklist.push_back(d);
}

void RunEngine::aggregate(int task, std::vector<int>& worklist, std::vector<Transition>& out) {
  const Tally& y = tally_[static_cast<size_t>(task)];
  const auto n = std::to_string(mapped_[static_cast<size_t>(task)].size());
  if (y.unfinished > 0 || canceled_ || tis_[static_cast<size_t>(task)].state != TaskState::pending) return;
  if (y.failed > 0)
    (void)set(task, TaskState::failed, out, std::to_string(y.failed) + " of " + n + " mapped instances failed");
  else if (y.upstream_failed > 0)
    (void)set(task, TaskState::upstream_failed, out,
              std::to_string(y.upstream_failed) + " of " + n + " mapped instances are upstream_failed");
  else if (y.success > 0)
    (void)set(task, TaskState::success, out);
  else
    (void)set(task, TaskState::skipped, out, "all " + n + " mapped instances were skipped");
  for (int d : graph_->downstream(task)) worklist.push_back(d);
}

std::vector<Transition> RunEngine::start() {
  std::vector<Transition> out;
  if (state_ != RunState::queued) return out;
  out.push_back({-1, {}, {}, state_, RunState::running});
  state_ = RunState::running;
  std::vector<int> worklist;
  for (size_t i = 0; i < tis_.size(); ++i) worklist.push_back(static_cast<int>(i));
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

void RunEngine::evaluate(int ti, std::vector<int>& worklist, std::vector<Transition>& out) {
  TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (t.state != TaskState::pending || canceled_) return;
  // An expanded foreach task: its mapped instances decide it (aggregate);
  // they are what its upstream's decision reaches (after a clear of the
  // upstream with downstream, they wait in pending for it).
  if (t.parent < 0 && !mapped_[static_cast<size_t>(t.task)].empty()) {
    for (int c : mapped_[static_cast<size_t>(t.task)])
      if (tis_[static_cast<size_t>(c)].state == TaskState::pending) worklist.push_back(c);
    return;
  }
  UpstreamCounts up;
  for (int u : graph_->upstream(t.task)) up.add(tis_[static_cast<size_t>(u)].state);
  TriggerDecision d = evaluate_trigger_rule(rule_of(graph_->spec().tasks[static_cast<size_t>(t.task)]), up);
  using V = TriggerDecision::Verdict;
  switch (d.verdict) {
    case V::wait:
      return;
    case V::run:
      if (!past_block_[static_cast<size_t>(ti)].empty()) return;  // depends_on_past
      (void)set(ti, TaskState::scheduled, out);
      return;
    case V::skip:
      (void)set(ti, TaskState::skipped, out, d.reason);
      break;
    case V::upstream_failed:
      (void)set(ti, TaskState::upstream_failed, out, d.reason);
      break;
  }
  // A decision without running unlocks this task's downstream too.
  unlocked(ti, worklist, out);
}

void RunEngine::propagate(std::vector<int> worklist, std::vector<Transition>& out) {
  while (!worklist.empty()) {
    int ti = worklist.back();
    worklist.pop_back();
    evaluate(ti, worklist, out);
  }
}

void RunEngine::update_run_state(std::vector<Transition>& out) {
  if (state_ != RunState::running) return;
  if (unfinished_ > 0) return;  // something is left to run
  bool any_bad = bad_ > 0;
  RunState to = canceled_ ? RunState::canceled : any_bad ? RunState::failed : RunState::success;
  // A run whose leaves all succeeded or were skipped, with no failure, succeeded.
  out.push_back({-1, {}, {}, state_, to});
  state_ = to;
}

std::vector<Transition> RunEngine::set_past_block(int ti, std::string block) {
  std::vector<Transition> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return out;
  past_block_[static_cast<size_t>(ti)] = std::move(block);
  if (!past_block_[static_cast<size_t>(ti)].empty() || state_ != RunState::running) return out;
  propagate({ti}, out);
  update_run_state(out);
  return out;
}

Result<std::vector<Transition>> RunEngine::queue(int ti) {
  std::vector<Transition> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return Error::invalid("no such task instance");
  if (tis_[static_cast<size_t>(ti)].parent < 0 && is_foreach(tis_[static_cast<size_t>(ti)].task))
    return Error{"conflict", "a foreach task runs as its mapped instances, not itself"};
  if (auto s = set(ti, TaskState::queued, out); !s) return s.error();
  return out;
}

Result<std::vector<Transition>> RunEngine::begin_try(int ti, std::optional<TimePoint> at) {
  std::vector<Transition> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return Error::invalid("no such task instance");
  if (auto s = set(ti, TaskState::running, out); !s) return s.error();
  TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (t.poking && t.try_number > 0) {
    t.poking = false;  // a sensor's next poke: its try, and its timeout, go on
    return out;
  }
  t.poking = false;
  ++t.try_number;
  const TimePoint now = clock_.now();
  t.started_at = at ? std::min(*at, now) : now;
  t.ended_at.reset();
  return out;
}

Result<std::vector<Transition>> RunEngine::requeue(int ti) {
  std::vector<Transition> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return Error::invalid("no such task instance");
  if (tis_[static_cast<size_t>(ti)].state != TaskState::queued)
    return Error{"conflict", "only a queued task instance can be requeued"};
  if (auto s = set(ti, TaskState::scheduled, out); !s) return s.error();
  return out;
}

double RunEngine::jitter_draw(int ti) const {
  // Deterministic per (task instance, try), spread over [0, 1).
  const TaskInstance& t = tis_[static_cast<size_t>(ti)];
  std::string key = graph_->spec().tasks[static_cast<size_t>(t.task)].id + "#" + std::to_string(t.try_number);
  if (t.map_index >= 0) key += "#" + std::to_string(t.map_index);
  std::size_t h = std::hash<std::string>{}(key);
  return static_cast<double>(h % 1000003) / 1000003.0;
}

Result<std::vector<Transition>> RunEngine::finish_try(int ti, TryOutcome outcome, const std::string& reason,
                                                      std::optional<TimePoint> at) {
  std::vector<Transition> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return Error::invalid("no such task instance");
  TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (t.state != TaskState::running)
    return Error{"conflict", std::string("task instance is ") + to_string(t.state) + ", not running"};
  const dsl::TaskSpec& spec = graph_->spec().tasks[static_cast<size_t>(t.task)];
  std::string why = reason.empty() ? to_string(outcome) : reason;
  TimePoint ended = clock_.now();
  if (at) ended = std::min(*at, ended);
  if (t.started_at) ended = std::max(*t.started_at, ended);
  if (outcome != TryOutcome::reschedule) t.ended_at = ended;  // a success's or skip's too (set() keeps it)
  switch (outcome) {
    case TryOutcome::success:
      (void)set(ti, TaskState::success, out);
      break;
    case TryOutcome::skipped:
      (void)set(ti, TaskState::skipped, out, why);
      break;
    case TryOutcome::reschedule: {
      // A sensor's condition is not met: it waits for its next poke, unless
      // its timeout (counted from the first poke) has passed.
      TimePoint now = clock_.now();
      TimePoint deadline = t.started_at.value_or(now) + spec.timeout.value_or(std::chrono::hours(24 * 7));
      if (!canceled_ && now < deadline) {
        (void)set(ti, TaskState::waiting, out, why);
        t.wake_at = std::min(now + spec.poke_interval, deadline);
        return out;  // nothing downstream changes yet
      }
      t.ended_at = now;
      (void)set(ti, TaskState::failed, out, "timeout");
      break;
    }
    default: {
      RetryPolicy p = policy_of(spec);
      p.retries = t.max_tries - 1;  // a clear may have granted more tries
      if (!canceled_ && p.may_retry(t.try_number)) {
        (void)set(ti, TaskState::up_for_retry, out, why);
        t.wake_at = clock_.now() + p.delay_after(t.try_number, jitter_draw(ti));
        return out;  // nothing downstream changes yet
      }
      (void)set(ti, TaskState::failed, out, why);
    }
  }
  std::vector<int> worklist;
  unlocked(ti, worklist, out);
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

std::vector<Transition> RunEngine::wake_due() {
  std::vector<Transition> out;
  TimePoint now = clock_.now();
  for (size_t i = 0; i < tis_.size(); ++i) {
    TaskState s = tis_[i].state;
    if ((s == TaskState::up_for_retry || s == TaskState::waiting) && tis_[i].wake_at && *tis_[i].wake_at <= now) {
      (void)set(static_cast<int>(i), TaskState::scheduled, out, s == TaskState::waiting ? tis_[i].reason : "");
      tis_[i].poking = s == TaskState::waiting;
    }
  }
  return out;
}

Result<std::vector<Transition>> RunEngine::resume_sensor(int ti) {
  std::vector<Transition> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return Error::invalid("no such task instance");
  if (auto s = set(ti, TaskState::waiting, out, "poked again after a restart"); !s) return s.error();
  tis_[static_cast<size_t>(ti)].wake_at = clock_.now();
  return out;
}

void RunEngine::set_poking(int ti) {
  if (ti >= 0 && ti < static_cast<int>(tis_.size())) tis_[static_cast<size_t>(ti)].poking = true;
}

std::optional<TimePoint> RunEngine::next_wake() const {
  std::optional<TimePoint> best;
  for (auto& t : tis_)
    if ((t.state == TaskState::up_for_retry || t.state == TaskState::waiting) && t.wake_at &&
        (!best || *t.wake_at < *best))
      best = t.wake_at;
  return best;
}

std::vector<Transition> RunEngine::cancel() {
  std::vector<Transition> out;
  if (is_finished(state_)) return out;
  canceled_ = true;
  for (size_t i = 0; i < tis_.size(); ++i)
    if (!is_finished(tis_[i].state)) (void)set(static_cast<int>(i), TaskState::canceled, out, "run canceled");
  if (state_ == RunState::queued) {
    out.push_back({-1, {}, {}, state_, RunState::canceled});
    state_ = RunState::canceled;
    return out;
  }
  update_run_state(out);
  return out;
}

Result<std::vector<Transition>> RunEngine::clear(const std::string& task_id, bool downstream) {
  return clear(std::vector<std::string>{task_id}, downstream);
}

Result<std::vector<Transition>> RunEngine::clear(const std::vector<std::string>& task_ids, bool downstream) {
  // The tasks and, if asked, everything downstream of them.
  std::vector<int> targets;
  std::vector<char> seen(tis_.size(), 0);
  for (auto& id : task_ids) {
    int root = graph_->index_of(id);
    if (root < 0) return Error::not_found("no task \"" + id + "\" in DAG " + graph_->dag_id());
    if (!seen[static_cast<size_t>(root)]) targets.push_back(root);
    seen[static_cast<size_t>(root)] = 1;
  }
  if (downstream) {
    for (size_t k = 0; k < targets.size(); ++k)
      for (int d : graph_->downstream(targets[k]))
        if (!seen[static_cast<size_t>(d)]) {
          seen[static_cast<size_t>(d)] = 1;
          targets.push_back(d);
        }
  }
  // A foreach task is cleared with every mapped instance (which run again
  // over the items they were made for).
  for (size_t k = 0, n = targets.size(); k < n; ++k)
    for (int c : mapped_[static_cast<size_t>(targets[k])]) targets.push_back(c);
  for (int ti : targets) {
    const TaskInstance& t = tis_[static_cast<size_t>(ti)];
    if (holds_slot(t.state) || t.state == TaskState::waiting)
      return Error{"conflict", "task " + graph_->spec().tasks[static_cast<size_t>(t.task)].id +
                                   (t.map_index >= 0 ? " [" + std::to_string(t.map_index) + "]" : "") + " is " +
                                   to_string(t.state) + ": wait for it to finish, or cancel the run"};
  }
  std::vector<Transition> out;
  if (is_finished(state_)) {
    out.push_back({-1, {}, {}, state_, RunState::running});
    state_ = RunState::running;
  }
  canceled_ = false;
  for (int ti : targets) {
    TaskInstance& t = tis_[static_cast<size_t>(ti)];
    if (t.state == TaskState::pending) continue;
    (void)set(ti, TaskState::pending, out, "cleared");
    t.ended_at.reset();
    // The try counter goes on; the cleared task gets its full retries again.
    t.max_tries = t.try_number + graph_->spec().tasks[static_cast<size_t>(t.task)].retries + 1;
  }
  // A target whose upstream is still undecided simply waits.
  propagate(std::move(targets), out);
  update_run_state(out);
  return out;
}

Result<std::vector<Transition>> RunEngine::mark(const std::string& task_id, TaskState to) {
  if (to != TaskState::success && to != TaskState::failed)
    return Error::invalid(std::string("a task can be marked success or failed, not ") + to_string(to));
  int ti = graph_->index_of(task_id);
  if (ti < 0) return Error::not_found("no task \"" + task_id + "\" in DAG " + graph_->dag_id());
  std::vector<Transition> out;
  if (tis_[static_cast<size_t>(ti)].state == to) return out;
  if (is_finished(state_)) {
    out.push_back({-1, {}, {}, state_, RunState::running});
    state_ = RunState::running;
  }
  // A foreach task is marked with every mapped instance.
  for (int c : mapped_[static_cast<size_t>(ti)])
    if (tis_[static_cast<size_t>(c)].state != to) (void)set(c, to, out, std::string("marked ") + to_string(to));
  if (auto s = set(ti, to, out, std::string("marked ") + to_string(to)); !s) return s.error();
  std::vector<int> worklist(graph_->downstream(ti).begin(), graph_->downstream(ti).end());
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

Result<std::vector<Transition>> RunEngine::mark_instance(int ti, TaskState to) {
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return Error::invalid("no such task instance");
  const TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (t.parent < 0) return mark(graph_->spec().tasks[static_cast<size_t>(t.task)].id, to);
  if (to != TaskState::success && to != TaskState::failed)
    return Error::invalid(std::string("a task can be marked success or failed, not ") + to_string(to));
  std::vector<Transition> out;
  if (t.state == to) return out;
  if (is_finished(state_)) {
    out.push_back({-1, {}, {}, state_, RunState::running});
    state_ = RunState::running;
  }
  const int task = t.task;
  if (auto s = set(ti, to, out, std::string("marked ") + to_string(to)); !s) return s.error();
  // A task that had already ended takes the new aggregate of its instances.
  if (is_finished(tis_[static_cast<size_t>(task)].state) && tally_[static_cast<size_t>(task)].unfinished == 0)
    (void)set(task, TaskState::pending, out, "marked an instance");
  std::vector<int> worklist;
  unlocked(ti, worklist, out);
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

std::vector<std::string> RunEngine::waiting_for(int ti) const {
  std::vector<std::string> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return out;
  const TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (is_finished(state_)) out.push_back(std::string("the run is ") + to_string(state_));
  const auto& mapped = mapped_[static_cast<size_t>(t.task)];
  if (t.parent < 0 && !mapped.empty() && t.state == TaskState::pending) {
    const Tally& y = tally_[static_cast<size_t>(t.task)];
    out.push_back(std::to_string(static_cast<int>(mapped.size()) - y.unfinished) + " of " +
                  std::to_string(mapped.size()) + " mapped instances finished");
    return out;
  }
  if (needs_expansion(ti)) out.push_back("the foreach items are being worked out");
  switch (t.state) {
    case TaskState::pending: {
      for (int u : graph_->upstream(t.task)) {
        const TaskInstance& ut = tis_[static_cast<size_t>(u)];
        if (!is_finished(ut.state))
          out.push_back("upstream " + graph_->spec().tasks[static_cast<size_t>(u)].id + " is " + to_string(ut.state));
      }
      UpstreamCounts up;
      for (int u : graph_->upstream(t.task)) up.add(tis_[static_cast<size_t>(u)].state);
      out.push_back(evaluate_trigger_rule(rule_of(graph_->spec().tasks[static_cast<size_t>(t.task)]), up).reason);
      if (!past_block_[static_cast<size_t>(ti)].empty()) out.push_back(past_block_[static_cast<size_t>(ti)]);
      break;
    }
    case TaskState::up_for_retry:
      if (t.wake_at) out.push_back("retry at " + format_utc(*t.wake_at) + " (try " + std::to_string(t.try_number + 1) +
                                   " of " + std::to_string(t.max_tries) + ")");
      break;
    case TaskState::waiting: {
      const auto& spec = graph_->spec().tasks[static_cast<size_t>(t.task)];
      if (!t.reason.empty()) out.push_back(t.reason);
      if (t.wake_at) out.push_back("next poke at " + format_utc(*t.wake_at));
      if (t.started_at)
        out.push_back("gives up at " +
                      format_utc(*t.started_at + spec.timeout.value_or(std::chrono::hours(24 * 7))) + " (timeout)");
      break;
    }
    default:
      if (is_finished(t.state))
        out.push_back(std::string("it is ") + to_string(t.state) + (t.reason.empty() ? "" : " (" + t.reason + ")"));
      break;
  }
  return out;
}

}  // namespace baton::scheduler
