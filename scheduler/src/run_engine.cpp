#include "baton/scheduler/run_engine.h"

#include <algorithm>
#include <functional>

#include "baton/core/retry.h"
#include "baton/core/trigger_rule.h"

namespace baton::scheduler {

const char* to_string(TryOutcome o) {
  switch (o) {
    case TryOutcome::success: return "success";
    case TryOutcome::failed: return "failed";
    case TryOutcome::skipped: return "skipped";
    case TryOutcome::timeout: return "timeout";
    case TryOutcome::worker_lost: return "worker_lost";
    case TryOutcome::shutdown: return "shutdown";
    case TryOutcome::reschedule: return "reschedule";
  }
  return "?";
}

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
  for (size_t i = 0; i < tasks.size(); ++i) {
    tis_[i].task = static_cast<int>(i);
    tis_[i].max_tries = tasks[i].retries + 1;
  }
}

Status RunEngine::set(int ti, TaskState to, std::vector<Transition>& out, std::string reason) {
  TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (auto s = check_transition(t.state, to); !s) return s;
  out.push_back({ti, t.state, to});
  t.state = to;
  if (!reason.empty() || is_finished(to) || to == TaskState::scheduled) t.reason = std::move(reason);
  if (to != TaskState::up_for_retry) t.wake_at.reset();
  if (is_finished(to) && !t.ended_at) t.ended_at = clock_.now();
  return {};
}

void RunEngine::restore(RunState state, std::vector<TaskInstance> instances) {
  state_ = state;
  canceled_ = state == RunState::canceled;
  if (instances.size() == tis_.size()) tis_ = std::move(instances);
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
  for (int d2 : graph_->downstream(t.task)) worklist.push_back(d2);
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
  bool any_bad = false;
  for (auto& t : tis_) {
    if (!is_finished(t.state)) return;  // something is left to run
    any_bad = any_bad || t.state == TaskState::failed || t.state == TaskState::upstream_failed;
  }
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
  if (auto s = set(ti, TaskState::queued, out); !s) return s.error();
  return out;
}

Result<std::vector<Transition>> RunEngine::begin_try(int ti) {
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
  t.started_at = clock_.now();
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
  std::size_t h = std::hash<std::string>{}(graph_->spec().tasks[static_cast<size_t>(ti)].id + "#" +
                                            std::to_string(tis_[static_cast<size_t>(ti)].try_number));
  return static_cast<double>(h % 1000003) / 1000003.0;
}

Result<std::vector<Transition>> RunEngine::finish_try(int ti, TryOutcome outcome, const std::string& reason) {
  std::vector<Transition> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return Error::invalid("no such task instance");
  TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (t.state != TaskState::running)
    return Error{"conflict", std::string("task instance is ") + to_string(t.state) + ", not running"};
  const dsl::TaskSpec& spec = graph_->spec().tasks[static_cast<size_t>(t.task)];
  std::string why = reason.empty() ? to_string(outcome) : reason;
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
      t.ended_at = clock_.now();
      if (!canceled_ && p.may_retry(t.try_number)) {
        (void)set(ti, TaskState::up_for_retry, out, why);
        t.wake_at = clock_.now() + p.delay_after(t.try_number, jitter_draw(ti));
        return out;  // nothing downstream changes yet
      }
      (void)set(ti, TaskState::failed, out, why);
    }
  }
  std::vector<int> worklist(graph_->downstream(t.task).begin(), graph_->downstream(t.task).end());
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
  for (int ti : targets) {
    TaskState s = tis_[static_cast<size_t>(ti)].state;
    if (holds_slot(s) || s == TaskState::waiting)
      return Error{"conflict", "task " + graph_->spec().tasks[static_cast<size_t>(ti)].id + " is " + to_string(s) +
                                   ": wait for it to finish, or cancel the run"};
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
    t.max_tries = t.try_number + graph_->spec().tasks[static_cast<size_t>(ti)].retries + 1;
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
  if (auto s = set(ti, to, out, std::string("marked ") + to_string(to)); !s) return s.error();
  std::vector<int> worklist(graph_->downstream(ti).begin(), graph_->downstream(ti).end());
  propagate(std::move(worklist), out);
  update_run_state(out);
  return out;
}

std::vector<std::string> RunEngine::waiting_for(int ti) const {
  std::vector<std::string> out;
  if (ti < 0 || ti >= static_cast<int>(tis_.size())) return out;
  const TaskInstance& t = tis_[static_cast<size_t>(ti)];
  if (is_finished(state_)) out.push_back(std::string("the run is ") + to_string(state_));
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
