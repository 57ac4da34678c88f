#include <catch2/catch.hpp>

#include "baton/core/retry.h"
#include "baton/core/states.h"
#include "baton/core/trigger_rule.h"

using namespace baton;
using namespace std::chrono_literals;
using V = TriggerDecision::Verdict;

TEST_CASE("states print as SPEC's strings and parse back") {
  for (int i = 0; i < 11; ++i) {
    auto s = static_cast<TaskState>(i);
    CHECK(task_state_from_string(to_string(s)) == s);
  }
  for (int i = 0; i < 5; ++i) {
    auto s = static_cast<RunState>(i);
    CHECK(run_state_from_string(to_string(s)) == s);
  }
  CHECK(std::string(to_string(TaskState::up_for_retry)) == "up_for_retry");
  CHECK(std::string(to_string(TaskState::upstream_failed)) == "upstream_failed");
  CHECK_FALSE(task_state_from_string("done").has_value());
}

TEST_CASE("legal and illegal transitions") {
  using T = TaskState;
  CHECK(can_transition(T::pending, T::scheduled));
  CHECK(can_transition(T::scheduled, T::queued));
  CHECK(can_transition(T::queued, T::running));
  CHECK(can_transition(T::running, T::success));
  CHECK(can_transition(T::running, T::up_for_retry));
  CHECK(can_transition(T::up_for_retry, T::scheduled));
  CHECK(can_transition(T::running, T::waiting));
  CHECK(can_transition(T::waiting, T::scheduled));
  CHECK(can_transition(T::success, T::pending));  // clear
  CHECK(can_transition(T::pending, T::success));  // mark
  CHECK(can_transition(T::running, T::canceled));
  CHECK_FALSE(can_transition(T::success, T::canceled));
  CHECK_FALSE(can_transition(T::pending, T::running));
  CHECK_FALSE(can_transition(T::success, T::running));
  CHECK_FALSE(can_transition(T::up_for_retry, T::running));
  CHECK_FALSE(can_transition(T::running, T::running));
  auto bad = check_transition(T::success, T::running);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "a task instance cannot go from success to running");
  CHECK(can_transition(RunState::queued, RunState::running));
  CHECK(can_transition(RunState::failed, RunState::running));
  CHECK_FALSE(can_transition(RunState::success, RunState::failed));
  CHECK(check_transition(RunState::canceled, RunState::success).error().message ==
        "a run cannot go from canceled to success");
}

namespace {
UpstreamCounts counts(std::initializer_list<TaskState> states, int total = -1) {
  UpstreamCounts u;
  for (auto s : states) u.add(s);
  if (total >= 0) u.total = total;  // the rest are still unfinished
  return u;
}
V verdict(TriggerRuleKind r, std::initializer_list<TaskState> states, int total = -1) {
  return evaluate_trigger_rule(r, counts(states, total)).verdict;
}
}  // namespace

TEST_CASE("trigger-rule matrix (Airflow's meanings)") {
  using T = TaskState;
  using R = TriggerRuleKind;
  const T S = T::success, K = T::skipped, F = T::failed, U = T::upstream_failed;

  // all_success
  CHECK(verdict(R::all_success, {S, S}) == V::run);
  CHECK(verdict(R::all_success, {S}, 2) == V::wait);
  CHECK(verdict(R::all_success, {S, F}) == V::upstream_failed);
  CHECK(verdict(R::all_success, {F}, 3) == V::upstream_failed);  // decided before the rest finish
  CHECK(verdict(R::all_success, {U, S}) == V::upstream_failed);
  CHECK(verdict(R::all_success, {S, K}) == V::skip);
  CHECK(verdict(R::all_success, {}) == V::run);  // a root task

  // all_failed
  CHECK(verdict(R::all_failed, {F, U}) == V::run);
  CHECK(verdict(R::all_failed, {F}, 2) == V::wait);
  CHECK(verdict(R::all_failed, {F, S}) == V::skip);
  CHECK(verdict(R::all_failed, {K}, 2) == V::skip);

  // all_done
  CHECK(verdict(R::all_done, {S, F, K, U}) == V::run);
  CHECK(verdict(R::all_done, {S, F}, 3) == V::wait);

  // one_success
  CHECK(verdict(R::one_success, {S}, 3) == V::run);  // does not wait for the rest
  CHECK(verdict(R::one_success, {F}, 3) == V::wait);
  CHECK(verdict(R::one_success, {F, U}) == V::upstream_failed);
  CHECK(verdict(R::one_success, {F, K}) == V::skip);

  // one_failed
  CHECK(verdict(R::one_failed, {F}, 3) == V::run);
  CHECK(verdict(R::one_failed, {U}, 2) == V::run);
  CHECK(verdict(R::one_failed, {S}, 2) == V::wait);
  CHECK(verdict(R::one_failed, {S, K}) == V::skip);

  // none_failed
  CHECK(verdict(R::none_failed, {S, K}) == V::run);
  CHECK(verdict(R::none_failed, {S}, 2) == V::wait);
  CHECK(verdict(R::none_failed, {S, F}) == V::upstream_failed);
  CHECK(verdict(R::none_failed, {U}, 2) == V::upstream_failed);

  // none_skipped
  CHECK(verdict(R::none_skipped, {S, F, U}) == V::run);
  CHECK(verdict(R::none_skipped, {S}, 2) == V::wait);
  CHECK(verdict(R::none_skipped, {K}, 2) == V::skip);

  // always
  CHECK(verdict(R::always, {}, 3) == V::run);
  CHECK(verdict(R::always, {F, U}) == V::run);
}

TEST_CASE("trigger-rule reasons say what the upstream tasks did") {
  auto d = evaluate_trigger_rule(TriggerRuleKind::all_success, counts({TaskState::success}, 3));
  CHECK(d.reason == "trigger rule all_success: 1 of 3 upstream tasks finished, 1 succeeded");
}

TEST_CASE("retry delays: fixed, exponential with a cap, jitter") {
  RetryPolicy fixed;
  fixed.retries = 2;
  fixed.retry_delay = 30s;
  CHECK(fixed.max_tries() == 3);
  CHECK(fixed.may_retry(1));
  CHECK(fixed.may_retry(2));
  CHECK_FALSE(fixed.may_retry(3));
  CHECK(fixed.delay_after(1) == 30s);
  CHECK(fixed.delay_after(2) == 30s);

  RetryPolicy exp;
  exp.retries = 10;
  exp.retry_delay = 10s;
  exp.exponential = true;
  exp.max_retry_delay = 1min;
  CHECK(exp.delay_after(1) == 10s);
  CHECK(exp.delay_after(2) == 20s);
  CHECK(exp.delay_after(3) == 40s);
  CHECK(exp.delay_after(4) == 60s);
  CHECK(exp.delay_after(1000000) == 60s);  // no overflow

  RetryPolicy jit = fixed;
  jit.jitter = true;
  CHECK(jit.delay_after(1, 0.0) == 30s);
  CHECK(jit.delay_after(1, 0.5) == 31500ms);
  CHECK(jit.delay_after(1, 0.999999) < 33s);
}

TEST_CASE("every state's name, in the enum's order, reads back as that state") {
  REQUIRE(task_state_names().size() == 11);
  for (size_t i = 0; i < task_state_names().size(); ++i)
    CHECK(task_state_from_string(task_state_names()[i]) == static_cast<TaskState>(i));
  REQUIRE(run_state_names().size() == 5);
  for (size_t i = 0; i < run_state_names().size(); ++i)
    CHECK(run_state_from_string(run_state_names()[i]) == static_cast<RunState>(i));
}
