#include "queue_channel.h"

#include <nlohmann/json.hpp>

#include <map>

#include "baton/core/duration.h"
#include "baton/core/ids.h"
#include "loop.h"

namespace baton::scheduler {

using nlohmann::json;

QueueChannel::QueueChannel(store::Store& store, const Clock& clock, Loop& loop, ActiveRuns& runs, RemoteHost& host,
                           TryPaths paths, executor::RenderServices render)
    : store_(store),
      clock_(clock),
      loop_(loop),
      runs_(runs),
      host_(host),
      paths_(std::move(paths)),
      render_(std::move(render)) {}

std::optional<std::string> QueueChannel::offer(ActiveRun& r, int ti) {
  auto& rec = r.tis[static_cast<size_t>(ti)];
  const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
  const int try_number = e.try_number + 1;  // begin_try counts it
  const TimePoint now = clock_.now();
  store::QueueItem q;
  q.attempt_token = *rec.attempt_token;
  q.ti_id = rec.id;
  q.run_pk = r.rec.pk;
  q.task_index = ti;
  q.try_number = try_number;
  q.partition = partition_of(r.rec.dag_id);
  q.queue = rec.queue;
  q.priority = rec.priority;
  q.pool = rec.pool;
  q.pool_slots = rec.pool_slots;
  q.ns = r.graph->spec().ns;
  q.backfill = r.rec.run_type == "backfill" || r.rec.backfill_id;
  // Deadline-aware claims (SPEC §7): the latest it can start, from its run's slack.
  if (slack_order_ && r.slack != ActiveRun::kNoSlack)
    q.latest_start = now.time_since_epoch().count() + r.slack * 1000;
  q.payload = remote_payload(r, ti, paths_, render_);
  q.queued_at = now;
  loop_.batch().enqueue.push_back(std::move(q));
  store::TryRecord tr;
  tr.ti_id = rec.id;
  tr.try_number = try_number;
  tr.state = TaskState::queued;
  tr.attempt_token = rec.attempt_token;
  tr.queued_at = now;
  tr.log_path = log_rel(r, rec, try_number);
  loop_.batch().tries.push_back(tr);
  return std::nullopt;  // a remote worker claims it
}

void QueueChannel::withdraw(const ActiveRun& r, int ti) {
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  if (rec.attempt_token) loop_.batch().dequeue.push_back(*rec.attempt_token);
}

void QueueChannel::drain(const std::set<int>& owned) {
  if (owned.empty() || loop_.stopping()) return;
  std::vector<int> parts(owned.begin(), owned.end());
  for (int round = 0; round < 100; ++round) {
    auto evs = store_.worker_events(parts, 1000);
    if (!evs || evs->empty()) break;
    for (auto& ev : *evs) {
      loop_.batch().events_done.push_back(ev.id);
      ActiveRun* r = runs_.find(ev.run_pk);
      if (!r || ev.task_index < 0 || static_cast<size_t>(ev.task_index) >= r->tis.size())
        continue;  // the run is over (canceled): nothing to apply
      auto& rec = r->tis[static_cast<size_t>(ev.task_index)];
      if (rec.attempt_token != ev.attempt_token) continue;  // stale
      if (ev.kind == "started") {
        if (r->engine->instances()[static_cast<size_t>(ev.task_index)].state != TaskState::queued) continue;
        host_.claimed(*r, ev.task_index, ev.worker, ev.at);
      } else if (ev.kind == "finished") {
        json b = json::parse(ev.body, nullptr, false);
        if (!b.is_object()) b = json::object();
        executor::Finished f{ev.run_pk, ev.task_index, ev.attempt_token, TryOutcome::failed, "", std::nullopt,
                             std::nullopt, 0};
        std::string outcome = b.value("outcome", "failed");
        f.outcome = outcome == "success"    ? TryOutcome::success
                    : outcome == "skipped"  ? TryOutcome::skipped
                    : outcome == "timeout"  ? TryOutcome::timeout
                    : outcome == "shutdown" ? TryOutcome::shutdown
                                            : TryOutcome::failed;
        f.reason = b.value("reason", "");
        if (b.contains("exit_code") && b["exit_code"].is_number_integer()) f.exit_code = b["exit_code"].get<int>();
        if (b.contains("output") && b["output"].is_object()) f.output = b["output"].dump();
        f.log_bytes = b.value("log_bytes", 0LL);
        f.at = ev.at;  // when the server stored the report
        host_.finished(f);  // settles the run
      }
    }
    host_.write();
    if (evs->size() < 1000) break;
  }
  host_.dispatch();
}

void QueueChannel::requeue_lost(const std::vector<std::pair<long long, int>>& queued) {
  auto lost = lost_among(queued, kMinInstant);  // a far cutoff: only tries without a row count
  for (auto& [pk, ti] : lost)
    if (ActiveRun* r = runs_.find(pk))
      if (auto q = r->engine->requeue(ti)) host_.apply(*r, *q);
  host_.dispatch();
}

// A try that just began has had no chance to heartbeat.
std::vector<WorkerChannel::Lost> QueueChannel::lost() {
  std::vector<std::pair<long long, int>> old;
  for (auto& [pk, ti] : runs_.running_tis()) {
    ActiveRun* r = runs_.find(pk);
    if (!r) continue;
    const auto& rec = r->tis[static_cast<size_t>(ti)];
    if (loop_task(spec_of(*r, ti).type)) continue;  // carried out here, not on a remote worker
    if (!rec.started_at || clock_.now() - *rec.started_at >= paths_.zombie_timeout) old.push_back({pk, ti});
  }
  std::vector<Lost> out;
  for (auto& [pk, ti] : lost_among(old, clock_.now() - paths_.zombie_timeout))
    out.push_back({pk, ti, "no heartbeat from its worker for " + format_duration(paths_.zombie_timeout)});
  return out;
}

// Which of these remote tries (run pk, index) the store says are lost
// (store::lost_tries with `cutoff`), while they still hold the same token.
std::vector<std::pair<long long, int>> QueueChannel::lost_among(const std::vector<std::pair<long long, int>>& tis,
                                                                TimePoint cutoff) {
  std::vector<std::string> tokens;
  std::map<std::string, std::pair<long long, int>> by_token;
  for (auto& [pk, ti] : tis) {
    ActiveRun* r = runs_.find(pk);
    if (!r) continue;
    const auto& rec = r->tis[static_cast<size_t>(ti)];
    if (!rec.attempt_token) continue;
    tokens.push_back(*rec.attempt_token);
    by_token[*rec.attempt_token] = {pk, ti};
  }
  std::vector<std::pair<long long, int>> out;
  if (tokens.empty()) return out;
  auto lost = store_.lost_tries(tokens, cutoff);
  if (!lost) return out;
  for (auto& tok : *lost) {
    auto [pk, ti] = by_token[tok];
    ActiveRun* r = runs_.find(pk);
    if (r && r->tis[static_cast<size_t>(ti)].attempt_token == tok) out.push_back({pk, ti});
  }
  return out;
}

}  // namespace baton::scheduler
