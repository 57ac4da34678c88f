#include "past.h"

#include <map>
#include <optional>

#include "loop.h"

namespace baton::scheduler {

PastTracker::PastTracker(store::Store& store, Loop& loop, ActiveRuns& runs, Apply apply)
    : store_(store), loop_(loop), runs_(runs), apply_(std::move(apply)) {}

// A pending instance of a running run that nothing holds any more is
// evaluated (and may be scheduled).
void PastTracker::refresh(ActiveRun& r) {
  const auto& tasks = r.graph->spec().tasks;
  if (!has_depends_on_past(*r.graph)) return;
  std::string unreadable;
  std::optional<store::RunRecord> prev;
  std::map<std::string, TaskState> past;  // task id -> state in the previous run
  if (auto p = store_.previous_run(r.rec.dag_id, r.rec.logical_date); !p) {
    unreadable = p.error().message;
  } else if (*p) {
    prev = **p;
    if (ActiveRun* m = runs_.find(prev->pk)) {
      for (size_t i = 0; i < m->tis.size(); ++i)
        if (m->tis[i].map_index < 0) past[m->tis[i].task_id] = m->engine->instances()[i].state;
    } else if (auto tis = store_.list_task_instances(prev->pk); !tis) {
      unreadable = tis.error().message;
    } else {
      for (auto& t : *tis)
        if (t.map_index < 0) past[t.task_id] = t.state;
    }
  }
  if (!unreadable.empty())  // the key whose successor is this run
    retry_.insert({r.rec.dag_id, r.rec.logical_date.time_since_epoch().count() - 1});
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i].depends_on_past) continue;
    std::string block;
    if (!unreadable.empty()) {
      block = "depends_on_past: the previous run cannot be read: " + unreadable;
    } else if (auto it = prev ? past.find(tasks[i].id) : past.end(); it != past.end() && !is_success_like(it->second)) {
      block = "depends_on_past: task " + tasks[i].id + " of the previous run " + prev->run_id + " is " +
              to_string(it->second);
    }
    apply_(r, r.engine->set_past_block(static_cast<int>(i), std::move(block)));
  }
}

bool PastTracker::refresh_changed() {
  bool changed = false;
  while (!changed_.empty()) {
    auto [dag_id, ld] = *changed_.begin();
    changed_.erase(changed_.begin());
    ActiveRun* next = runs_.after(dag_id, ld);
    if (!next) continue;
    size_t before = loop_.batch().task_instances.size();
    refresh(*next);
    changed = changed || loop_.batch().task_instances.size() != before;
    if (is_finished(next->engine->state())) runs_.drop(next->rec.pk);
  }
  return changed;
}

}  // namespace baton::scheduler
