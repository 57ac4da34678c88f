// RunKeeper, recovery: runs read back from the store (at start, on a gained
// partition, for a clear or a mark of a finished run).
#include <algorithm>
#include <map>
#include <tuple>

#include "log.h"
#include "loop.h"
#include "run_keeper.h"

namespace baton::scheduler {

// A run read back from the store, as an ActiveRun with its engine restored.
// Task instances the graph has but the store does not (a run moved to a
// later version by a clear) are created.
Result<ActiveRun> RunKeeper::load_run(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
                                      const std::vector<store::TaskInstanceRecord>& tis) {
  ActiveRun a;
  a.rec = rec;
  a.graph = g;
  a.engine = std::make_unique<RunEngine>(g, clock_);
  const size_t n = g->spec().tasks.size();
  a.tis.resize(n);
  std::vector<TaskInstance> restored(n);
  std::vector<char> found(n, 0);
  for (size_t i = 0; i < n; ++i) {
    restored[i].task = static_cast<int>(i);
    restored[i].max_tries = g->spec().tasks[i].retries + 1;
  }
  auto fill = [](TaskInstance& e, const store::TaskInstanceRecord& t) {
    e.state = t.state;
    e.try_number = t.try_number;
    e.max_tries = t.max_tries;
    e.wake_at = t.wake_at;
    e.reason = t.reason.value_or("");
    e.started_at = t.started_at;
    e.ended_at = t.ended_at;
  };
  // Mapped instances (of tasks that have foreach in this version) follow the
  // tasks' own, in the order they were made: by task in the order of its
  // first id, then by map_index — the order this process (or the member
  // before it) appended them in, so task indexes stay the same.
  std::vector<const store::TaskInstanceRecord*> mapped;
  std::map<std::string, long long> first_id;
  for (auto& t : tis) {
    int i = g->index_of(t.task_id);
    if (i < 0) continue;
    if (t.map_index >= 0) {
      if (!is_foreach(g->spec().tasks[static_cast<size_t>(i)])) continue;  // from a version it had foreach in
      mapped.push_back(&t);
      auto [it, fresh] = first_id.emplace(t.task_id, t.id);
      if (!fresh) it->second = std::min(it->second, t.id);
      continue;
    }
    found[static_cast<size_t>(i)] = 1;
    a.tis[static_cast<size_t>(i)] = t;
    fill(restored[static_cast<size_t>(i)], t);
  }
  std::sort(mapped.begin(), mapped.end(), [&](const auto* x, const auto* y) {
    return std::make_tuple(first_id[x->task_id], x->map_index) < std::make_tuple(first_id[y->task_id], y->map_index);
  });
  for (const auto* t : mapped) {
    a.tis.push_back(*t);
    TaskInstance e;
    e.task = g->index_of(t->task_id);
    e.map_index = t->map_index;
    fill(e, *t);
    restored.push_back(e);
  }
  std::vector<store::TaskInstanceRecord> fresh;
  auto all = task_instances_for(*g);
  for (size_t i = 0; i < n; ++i)
    if (!found[i]) fresh.push_back(all[i]);
  if (!fresh.empty()) {
    auto added = store_.add_task_instances(rec.pk, fresh);
    if (!added) return added.error();
    for (auto& t : *added) a.tis[static_cast<size_t>(g->index_of(t.task_id))] = t;
  }
  if (!a.engine->restore(rec.state, std::move(restored)))
    return Error{"internal", "its task instances do not fit DAG version " + rec.dag_version +
                                 " (mapped instances with gaps in their map indexes)"};
  // A progress line is the store's (a worker may write a newer one): the
  // loop carries only those of its own local heartbeats (RunKeeper::heartbeat;
  // a remote try's never reach it), each the newest of its try.
  for (auto& t : a.tis) t.progress.reset();
  return a;
}

void RunKeeper::recover() {
  store::RunFilter f;
  f.unfinished_only = true;
  f.limit = 1000000;
  auto list = store_.list_runs(f);
  if (!list) {
    sched_log()->error("recovery: {}", list.error().message);
    return;
  }
  // Oldest first, so that start_runs keeps the order.
  std::reverse(list->begin(), list->end());
  for (auto& rec : *list) {
    if (!fencing_.owns(rec.dag_id)) continue;
    auto g = registry_.graph_of(rec.dag_id, rec.dag_version);
    if (!g) {
      sched_log()->error("recovery: run {} {} has no usable DAG version {}", rec.dag_id, rec.run_id, rec.dag_version);
      continue;
    }
    auto tis = store_.list_task_instances(rec.pk);
    if (!tis) continue;
    auto a = load_run(rec, g, *tis);
    if (!a) {
      sched_log()->error("recovery: run {} {}: {}", rec.dag_id, rec.run_id, a.error().message);
      continue;
    }
    auto& run = add(std::move(*a));
    listener_.run_adopted(run);
    if (run.rec.started_at) listener_.run_started(run, *run.rec.started_at);
    listener_.refresh_past(run);
    // A foreach task expanded just before a crash, or whose mapped instances
    // all ended just before it, is settled first.
    apply(run, run.engine->reconcile());
    recover_instances(run);
    if (is_finished(run.engine->state())) runs_.drop(rec.pk);
  }
  for (auto& [id, _] : registry_.all())
    if (fencing_.owns(id)) start_runs(id);
}

// Tries of a previous life of this process: their workers are gone.
void RunKeeper::recover_instances(ActiveRun& run) {
  const long long pk = run.rec.pk;
  for (size_t i = 0; i < run.tis.size(); ++i) {
    auto& t = run.tis[i];
    const int ti = static_cast<int>(i);
    TaskState s = run.engine->instances()[i].state;
    const auto type = spec_of(run, ti).type;
    if (options_.shared && (s == TaskState::queued || s == TaskState::running) && t.attempt_token &&
        type != dsl::TaskType::noop && !loop_task(type)) {
      // A remote try: still in the queue, or on a worker that is alive (or
      // that the zombie check will find lost). It keeps its slot.
      listener_.holds(run, ti);
      if (s == TaskState::running) runs_.running_tis().insert({pk, ti});
      if (s == TaskState::queued) queued_remote_.push_back({pk, ti});
      continue;
    }
    if (s == TaskState::queued) {
      // Handed to a worker that never started it: it goes back to the ready
      // set without using up a try.
      auto q = run.engine->requeue(ti);
      if (q) {
        listener_.holds(run, ti);  // balanced by the release in apply()
        apply(run, *q);
      }
    } else if (s == TaskState::running) {
      // Count the slot it held, so that releasing it balances.
      listener_.holds(run, ti);
      runs_.running_tis().insert({pk, ti});
      if (dsl::is_sensor(type)) {
        // Its poke was lost with the process: poked again now, same try.
        if (auto w = run.engine->resume_sensor(ti)) {
          in_report_ = true;  // its try goes on: nothing to kill, no try to close
          apply(run, *w);
          in_report_ = false;
          continue;
        }
      }
      if (type == dsl::TaskType::trigger_dag && t.attempt_token) {
        // Triggered again with the same key: the run it made, watched again.
        loop_.post([this, pk, ti] {
          ActiveRun* r = runs_.find(pk);
          if (r && r->tis[static_cast<size_t>(ti)].state == TaskState::running) listener_.resume_trigger(*r, ti);
          loop_.request_flush();
        });
        continue;
      }
      fail_lost(run, ti, "its worker is gone (the scheduler restarted)");
    } else if (s == TaskState::scheduled) {
      if (dsl::is_sensor(type) && t.try_number > 0) {
        auto tries = store_.list_tries(t.id);
        if (tries && !tries->empty() && tries->back().state == TaskState::waiting) run.engine->set_poking(ti);
      }
      listener_.task_ready(run, ti);
    } else if ((s == TaskState::up_for_retry || s == TaskState::waiting) && t.wake_at) {
      wake_.emplace(*t.wake_at, pk);
    }
  }
}

void RunKeeper::clear() {
  runs_.clear();
  wake_.clear();
  queued_remote_.clear();
}

std::vector<std::pair<long long, int>> RunKeeper::take_queued_remote() {
  std::vector<std::pair<long long, int>> out;
  out.swap(queued_remote_);
  return out;
}

}  // namespace baton::scheduler
