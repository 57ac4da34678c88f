#include "sla_monitor.h"

#include <nlohmann/json.hpp>

#include "log.h"
#include "loop.h"
#include "notifications.h"

namespace baton::scheduler {

using nlohmann::json;

SlaMonitor::SlaMonitor(store::Store& store, const Clock& clock, Loop& loop, ActiveRuns& runs, DagRegistry& registry)
    : store_(store), clock_(clock), loop_(loop), runs_(runs), registry_(registry) {}

void SlaMonitor::run_adopted(const ActiveRun& r) {
  if (r.rec.run_type == "backfill") return;
  if (auto d = r.graph->spec().sla_run_deadline)
    due_.emplace(r.rec.data_interval_end + *d,
                 Check{"run_deadline", r.rec.dag_id, r.rec.run_id, r.rec.pk, -1, 0, r.rec.data_interval_end + *d});
}

void SlaMonitor::run_started(const ActiveRun& r, TimePoint started_at) {
  if (auto d = r.graph->spec().sla_run_duration; d && r.rec.run_type != "backfill")
    due_.emplace(started_at + *d,
                 Check{"run_duration", r.rec.dag_id, r.rec.run_id, r.rec.pk, -1, 0, started_at + *d});
}

void SlaMonitor::try_began(const ActiveRun& r, int ti, int try_number, TimePoint now) {
  if (auto d = spec_of(r, ti).sla_max_duration; d && r.rec.run_type != "backfill")
    due_.emplace(now + *d, Check{"task_duration", r.rec.dag_id, r.rec.run_id, r.rec.pk, ti, try_number, now + *d});
}

void SlaMonitor::arm_finished(const Fencing& fencing) {
  for (auto& [id, d] : registry_.all()) {
    if (!d.graph || !fencing.owns(id)) continue;
    const auto& spec = d.graph->spec();
    if (!spec.sla_run_deadline && !spec.sla_run_duration) continue;
    for (RunState st : {RunState::failed, RunState::canceled}) {
      store::RunFilter f;
      f.dag_id = id;
      f.state = st;
      f.limit = 100;
      auto list = store_.list_runs(f);
      if (!list) continue;
      for (auto& r : *list) {
        if (r.run_type == "backfill") continue;
        if (spec.sla_run_deadline)
          due_.emplace(r.data_interval_end + *spec.sla_run_deadline,
                       Check{"run_deadline", id, r.run_id, r.pk, -1, 0, r.data_interval_end + *spec.sla_run_deadline});
        if (spec.sla_run_duration && r.started_at)
          due_.emplace(*r.started_at + *spec.sla_run_duration,
                       Check{"run_duration", id, r.run_id, r.pk, -1, 0, *r.started_at + *spec.sla_run_duration});
      }
    }
  }
}

std::optional<TimePoint> SlaMonitor::next_due() const {
  if (due_.empty()) return std::nullopt;
  return due_.begin()->first;
}

void SlaMonitor::wake(TimePoint now) {
  while (!due_.empty() && due_.begin()->first <= now) {
    Check c = due_.begin()->second;
    due_.erase(due_.begin());
    check(c);
  }
}

// A deadline passed: a miss unless the run succeeded (run SLAs) or the try
// ended (task SLA) in time. Recorded once per (run, task, kind), also when a
// restart checks it again.
void SlaMonitor::check(const Check& c) {
  std::string task_id;
  bool missed = false;
  ActiveRun* mem = runs_.find(c.run_pk);
  if (c.kind == "task_duration") {
    if (!mem) return;  // the run ended: so did the try
    if (c.ti < 0 || static_cast<size_t>(c.ti) >= mem->engine->instances().size()) return;  // gone (a new version)
    const TaskInstance& t = mem->engine->instances()[static_cast<size_t>(c.ti)];
    missed = t.state == TaskState::running && t.try_number == c.try_number;
    task_id = mem->tis[static_cast<size_t>(c.ti)].task_id;
  } else if (mem) {
    missed = mem->engine->state() != RunState::success;
  } else {
    auto rec = store_.get_run(c.dag_id, c.run_id);
    missed = rec && rec->state != RunState::success;
  }
  if (!missed) return;
  // Once per (run, task, kind) in this process: the mapped instances of a
  // task share its miss.
  if (!seen_.insert({c.run_pk, task_id, c.kind}).second) return;
  // The miss and its on_sla_miss notifications go in the loop's next write,
  // in one transaction; the notifications only with a miss that is new there
  // (a restart checks again what it may have recorded).
  auto& batch = loop_.batch();
  store::WriteBatch::Miss miss{{0, c.dag_id, c.run_id, task_id, c.kind, c.deadline, clock_.now()}, {}};
  if (auto g = registry_.current(c.dag_id)) {
    json details = {{"kind", c.kind},
                    {"deadline", format_utc(c.deadline)},
                    {"task_id", task_id.empty() ? json(nullptr) : json(task_id)}};
    const size_t before = batch.notifications.size();
    if (mem) queue_notification(batch, clock_, *mem, "on_sla_miss", details);
    else queue_notification(batch, clock_, c.dag_id, c.run_id, *g, "on_sla_miss", details);
    miss.notifications.assign(std::make_move_iterator(batch.notifications.begin() + static_cast<long>(before)),
                              std::make_move_iterator(batch.notifications.end()));
    batch.notifications.resize(before);
  }
  batch.sla_misses.push_back(std::move(miss));
  ++detected_;
  sched_log()->warn("SLA miss: {} {}{} {} (deadline {})", c.dag_id, c.run_id, task_id.empty() ? "" : " task " + task_id,
                   c.kind, format_utc(c.deadline));
  loop_.request_flush();
}

}  // namespace baton::scheduler
