#include "dispatcher.h"

#include <algorithm>
#include <limits>

#include "baton/core/duration.h"
#include "baton/core/random.h"
#include "loop.h"

namespace baton::scheduler {

namespace {

const std::string& ns_of(const ActiveRun& r) { return r.graph->spec().ns; }

}  // namespace

Dispatcher::Dispatcher(const Clock& clock, Loop& loop, ActiveRuns& runs, DagRegistry& registry, DispatchHost& host,
                       WorkerChannel& channel, DispatcherOptions options)
    : clock_(clock),
      loop_(loop),
      runs_(runs),
      registry_(registry),
      host_(host),
      channel_(channel),
      options_(std::move(options)) {
  // A shared member's tries go to the remote workers: no worker slots here.
  free_workers_ = options_.shared ? std::numeric_limits<int>::max() / 2 : options_.workers;
}

Dispatcher::ReadyKey Dispatcher::ready_key(const ActiveRun& r, int ti) const {
  return ReadyKey{r.rec.run_type == "backfill" || r.rec.backfill_id ? 1 : 0, -r.tis[static_cast<size_t>(ti)].priority,
                  options_.slack_order ? r.slack : 0, r.rec.logical_date.time_since_epoch().count(), r.rec.pk, ti};
}

// The run's ready tries move to their place for its new slack.
void Dispatcher::slack_changed(const ActiveRun& r, long long old_slack) {
  if (!options_.slack_order) return;
  const auto& inst = r.engine->instances();
  for (size_t i = 0; i < inst.size(); ++i) {
    if (inst[i].state != TaskState::scheduled) continue;
    int ti = static_cast<int>(i);
    ReadyKey old = ready_key(r, ti);
    old.slack = old_slack;
    auto& set = ready_of(r, ti);
    if (set.erase(old)) set.insert(ready_key(r, ti));
  }
}

// A foreach task's own instance is expanded by the loop, as a noop is run.
std::set<Dispatcher::ReadyKey>& Dispatcher::ready_of(const ActiveRun& r, int ti) {
  return on_worker(r, ti) ? ready_[ns_of(r)] : ready_noop_;
}

bool Dispatcher::on_worker(const ActiveRun& r, int ti) const {
  const auto& spec = spec_of(r, ti);
  if (is_foreach(spec) && r.engine->instances()[static_cast<size_t>(ti)].parent < 0) return false;
  return spec.type != dsl::TaskType::noop && !loop_task(spec.type);
}

// On a shared member a worker's try only waits in the store's queue here:
// the claims hold it to the cap, counting what all workers hold.
bool Dispatcher::counts_running(const ActiveRun& r, int ti) const {
  const auto& spec = spec_of(r, ti);
  if (is_foreach(spec) && r.engine->instances()[static_cast<size_t>(ti)].parent < 0) return false;
  if (options_.shared && on_worker(r, ti)) return false;
  return spec.type != dsl::TaskType::noop;
}

std::vector<std::string> Dispatcher::contenders() const {
  std::set<std::string> out;
  for (auto& [ns, set] : ready_)
    if (!set.empty()) out.insert(ns);
  for (auto& ns : fair_.holders()) out.insert(ns);
  return {out.begin(), out.end()};
}

void Dispatcher::task_ready(const ActiveRun& r, int ti) { ready_of(r, ti).insert(ready_key(r, ti)); }

// A namespace's set left empty stays until the next pass (a pass may be
// walking it).
void Dispatcher::task_unready(const ActiveRun& r, int ti) { ready_of(r, ti).erase(ready_key(r, ti)); }

// Pool slots and the DAG's task count follow task states; worker slots
// follow the worker threads (freed when a worker reports).
void Dispatcher::released(const ActiveRun& r, int ti) {
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  pool_used_[rec.pool] -= rec.pool_slots;
  --active_tasks_[r.rec.dag_id];
  if (counts_running(r, ti)) fair_.ended(ns_of(r));
  if (on_worker(r, ti)) fair_.gave_slot(ns_of(r), clock_.now());
}

void Dispatcher::holds(const ActiveRun& r, int ti) {
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  pool_used_[rec.pool] += rec.pool_slots;
  ++active_tasks_[r.rec.dag_id];
  if (counts_running(r, ti)) fair_.began(ns_of(r));
  if (on_worker(r, ti)) fair_.took_slot(ns_of(r), clock_.now());
}

void Dispatcher::clear() {
  ready_.clear();
  ready_noop_.clear();
  pool_used_.clear();
  active_tasks_.clear();
  fair_.clear(clock_.now());
}

void Dispatcher::refresh_pools(store::Store& store) {
  auto pools = store.list_pools();
  if (!pools) return;
  pool_slots_.clear();
  for (auto& p : *pools) pool_slots_[p.name] = p.slots;
}

void Dispatcher::refresh_namespaces(const std::vector<store::Namespace>& list) {
  std::map<std::string, FairShare::Config> configs;
  for (auto& n : list) configs[n.name] = FairShare::Config{n.weight, n.max_running_tasks};
  fair_.configure(std::move(configs));
}

std::string Dispatcher::pool_block(const std::string& pool, int slots) {
  auto size = pool_slots_.find(pool);
  int total = size == pool_slots_.end() ? 0 : size->second;
  int used = pool_used_[pool];
  if (used + slots <= total) return "";
  if (size == pool_slots_.end())
    return "pool " + pool + " does not exist (create it with PUT /api/v1/pools/" + pool + ")";
  return "pool " + pool + ": " + std::to_string(used) + " of " + std::to_string(total) + " slots taken";
}

std::string Dispatcher::task_limit_block(const std::string& dag_id) {
  const auto& g = registry_.current(dag_id);
  if (!g) return "";
  int limit = g->spec().max_active_tasks;
  int active = active_tasks_[dag_id];
  if (active < limit) return "";
  return "max_active_tasks: " + std::to_string(active) + " of " + std::to_string(limit) +
         " task instances of the DAG are active";
}

// A noop task (like Airflow's EmptyOperator) takes no worker: it is queued,
// started and finished here, in this turn, and what it unblocks goes next.
void Dispatcher::dispatch() {
  if (loop_.stopping()) return;
  if (dispatching_) {
    dispatch_again_ = true;
    return;
  }
  dispatching_ = true;
  do {
    dispatch_again_ = false;
    dispatch_noops();
    dispatch_to_workers();
  } while (dispatch_again_ && !loop_.stopping());
  dispatching_ = false;
}

void Dispatcher::dispatch_noops() {
  if (ready_noop_.empty()) return;
  std::vector<ReadyKey> keys(ready_noop_.begin(), ready_noop_.end());
  for (const ReadyKey& key : keys) {
    if (!ready_noop_.count(key)) continue;  // decided meanwhile (its run was canceled)
    ActiveRun* r = runs_.find(key.run_pk);
    if (!r) {
      ready_noop_.erase(key);
      continue;
    }
    if (r->engine->needs_expansion(key.ti)) {
      host_.expand(*r, key.ti);  // takes no slot
      continue;
    }
    auto& rec = r->tis[static_cast<size_t>(key.ti)];
    if (!pool_block(rec.pool, rec.pool_slots).empty() || !task_limit_block(r->rec.dag_id).empty()) continue;
    if (counts_running(*r, key.ti) && fair_.at_cap(ns_of(*r))) continue;  // a sensor's or trigger_dag's
    // start_try takes a worker slot and the try's end gives it back.
    if (!start_try(*r, key.ti)) continue;
    if (dsl::is_sensor(spec_of(*r, key.ti).type)) {
      ++free_workers_;  // a poke takes no worker slot: a poker thread does it
      host_.poke(make_assignment(*r, key.ti, options_.paths));
      continue;
    }
    if (spec_of(*r, key.ti).type == dsl::TaskType::trigger_dag) {
      ++free_workers_;  // no worker either: the loop triggers and watches
      host_.start_trigger(*r, key.ti);
      continue;
    }
    host_.finished(executor::Finished{key.run_pk, key.ti, *rec.attempt_token, TryOutcome::success, "", std::nullopt,
                                      std::nullopt, 0});
  }
}

// Weighted fair queueing: each free slot goes to the namespace FairShare
// names among those with a ready try that can go; within the namespace, the
// first of its ready set that no pool or max_active_tasks holds back. A
// namespace at its max_running_tasks, or whose ready tries are all held
// back, is left out until the next pass. A shared member queues every try
// (its workers are remote): fairness and caps are the claim's (the store's).
void Dispatcher::dispatch_to_workers() {
  if (ready_.empty()) return;
  // Where each namespace's walk of its ready set goes on from this pass:
  // only the key being queued is erased meanwhile, and it is passed first.
  std::map<std::string, std::set<ReadyKey>::iterator> at;
  std::vector<std::string> candidates;
  for (auto& [ns, set] : ready_) {
    if (set.empty() || (!options_.shared && fair_.at_cap(ns))) continue;
    at[ns] = set.begin();
    candidates.push_back(ns);
  }
  while (free_workers_ > 0 && !candidates.empty()) {
    // One namespace with work (the common case) needs no weighing.
    const std::string ns =
        options_.shared || candidates.size() == 1 ? candidates.front() : fair_.next(candidates);
    auto& set = ready_[ns];
    auto& it = at[ns];
    bool started = false;
    while (it != set.end() && !started) {
      ReadyKey key = *it;
      ActiveRun* r = runs_.find(key.run_pk);
      if (!r) {
        it = set.erase(it);
        continue;
      }
      auto& rec = r->tis[static_cast<size_t>(key.ti)];
      ++it;  // queue() erases key from the set through the host's apply
      if (!pool_block(rec.pool, rec.pool_slots).empty() || !task_limit_block(r->rec.dag_id).empty()) continue;
      started = start_try(*r, key.ti);
    }
    if (!started || it == set.end() || (!options_.shared && fair_.at_cap(ns)))
      candidates.erase(std::find(candidates.begin(), candidates.end(), ns));
  }
  for (auto it = ready_.begin(); it != ready_.end();) it = it->second.empty() ? ready_.erase(it) : std::next(it);
}

bool Dispatcher::runs_remote(const ActiveRun& r, int ti) const {
  auto type = spec_of(r, ti).type;
  return options_.shared && type != dsl::TaskType::noop && !loop_task(type);
}

// Queues a try of a scheduled task instance and offers it to the workers
// (noops, sensors and trigger_dag begin here: the scheduler carries them out
// itself). False when the engine refused (nothing changed).
bool Dispatcher::start_try(ActiveRun& r, int ti) {
  auto q = r.engine->queue(ti);
  if (!q) return false;
  --free_workers_;
  auto& rec = r.tis[static_cast<size_t>(ti)];
  pool_used_[rec.pool] += rec.pool_slots;
  ++active_tasks_[r.rec.dag_id];
  if (counts_running(r, ti)) fair_.began(ns_of(r));
  if (on_worker(r, ti)) fair_.took_slot(ns_of(r), clock_.now());
  rec.attempt_token = random_hex(16);
  const auto type = spec_of(r, ti).type;
  if (type == dsl::TaskType::noop || loop_task(type)) {
    rec.worker = options_.member_id + "/local";
    host_.apply(r, *q);
    return begin(r, ti);
  }
  rec.worker.reset();
  host_.apply(r, *q);
  if (auto worker = channel_.offer(r, ti)) claimed(r, ti, *worker);
  return true;
}

// The try started when its worker claimed it (as the server stored the
// claim), however late its owner hears of it.
void Dispatcher::claimed(ActiveRun& r, int ti, const std::string& worker, std::optional<TimePoint> at) {
  auto& rec = r.tis[static_cast<size_t>(ti)];
  rec.worker = worker;
  // Never before it was ready (the server's clock may be behind the owner's).
  if (at && rec.ready_at) at = std::max(*at, *rec.ready_at);
  if (begin(r, ti, at)) channel_.began(r, ti);
}

bool Dispatcher::begin(ActiveRun& r, int ti, std::optional<TimePoint> at) {
  auto& rec = r.tis[static_cast<size_t>(ti)];
  auto b = r.engine->begin_try(ti, at);
  if (!b) return false;
  // A claim's stored time (a remote try's start); else now (a sensor's
  // next poke keeps its first poke's start, which is not this moment).
  const TimePoint now = at ? r.engine->instances()[static_cast<size_t>(ti)].started_at.value_or(clock_.now())
                           : clock_.now();
  rec.heartbeat_at = now;
  rec.last_activity_at.reset();
  rec.flags.clear();  // slow and stuck are a try's
  if (rec.ready_at) {
    double lat = std::max(0.0, std::chrono::duration<double>(now - *rec.ready_at).count());
    size_t k = 0;
    while (k < std::size(kLatencyBounds) && lat > kLatencyBounds[k]) ++k;
    ++latency_buckets_[k];
    ++latency_count_;
    latency_sum_ += lat;
    fair_.started(ns_of(r), lat, now);
  }
  host_.apply(r, *b);
  const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
  host_.try_began(r, ti, e.try_number);
  store::TryRecord tr;
  tr.ti_id = rec.id;
  tr.try_number = e.try_number;
  tr.state = TaskState::running;
  tr.worker = rec.worker;
  tr.attempt_token = rec.attempt_token;
  tr.queued_at = now;
  tr.started_at = now;
  tr.log_path = log_rel(r, rec, e.try_number);
  loop_.batch().tries.push_back(tr);
  return true;
}

std::vector<std::string> Dispatcher::blocks(const ActiveRun& r, int ti) {
  std::vector<std::string> out;
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  if (free_workers_ <= 0)
    out.push_back("workers: " + std::to_string(options_.workers) + " of " + std::to_string(options_.workers) +
                  " slots busy");
  // Its namespace's place: at its cap (a sensor's or trigger_dag's too), or
  // (all slots busy, several namespaces waiting for them) its share.
  if (counts_running(r, ti) || (on_worker(r, ti) && !options_.shared)) {
    auto others = contenders();
    if ((counts_running(r, ti) && fair_.at_cap(ns_of(r))) ||
        (on_worker(r, ti) && !options_.shared && free_workers_ <= 0 && others.size() > 1))
      out.push_back(fair_.why(ns_of(r), others, options_.workers));
  }
  if (auto p = pool_block(rec.pool, rec.pool_slots); !p.empty()) out.push_back(p);
  if (auto t = task_limit_block(r.rec.dag_id); !t.empty()) out.push_back(t);
  // Its place among the waiting: its run's slack (SPEC §7).
  if (!out.empty() && options_.slack_order && r.slack != ActiveRun::kNoSlack) {
    auto d = std::chrono::duration_cast<Duration>(std::chrono::milliseconds(r.slack < 0 ? -r.slack : r.slack));
    out.push_back("run " + r.rec.run_id + (r.slack >= 0 ? " has " + format_duration(d) + " of slack"
                                                         : " is expected " + format_duration(d) + " past its SLA deadline") +
                  " (least slack goes first)");
  }
  return out;
}

std::vector<std::string> Dispatcher::remote_blocks(const ActiveRun& r, int ti,
                                                   const std::map<std::string, long long>* held,
                                                   const std::map<std::string, long long>* held_ns) {
  // In the remote queue until a worker claims it; a claim waits for a slot
  // of the pool across all members.
  std::vector<std::string> out;
  const auto& rec = r.tis[static_cast<size_t>(ti)];
  out.push_back("waiting for a remote worker on queue " + rec.queue + " to claim it");
  auto size = pool_slots_.find(rec.pool);
  if (held && size != pool_slots_.end()) {
    auto h = held->find(rec.pool);
    long long used = h == held->end() ? 0 : h->second;
    if (used + rec.pool_slots > size->second)
      out.push_back("pool " + rec.pool + ": " + std::to_string(used) + " of " + std::to_string(size->second) +
                    " slots taken by tries on workers (of all members)");
  }
  const auto& cap = fair_.config(ns_of(r)).max_running_tasks;
  if (held_ns && cap) {
    auto h = held_ns->find(ns_of(r));
    long long used = h == held_ns->end() ? 0 : h->second;
    if (used >= *cap)
      out.push_back("namespace " + ns_of(r) + ": " + std::to_string(used) + " of " + std::to_string(*cap) +
                    " running on workers (max_running_tasks, of all members)");
  }
  return out;
}

void Dispatcher::metrics(SchedulerMetrics& out) {
  out.latency_bounds.assign(std::begin(kLatencyBounds), std::end(kLatencyBounds));
  out.latency_buckets = latency_buckets_;
  out.latency_count = latency_count_;
  out.latency_sum = latency_sum_;
  out.namespaces = fair_.figures(clock_.now());
  // A shared member's tries for the workers are queued or running too.
  if (options_.shared)
    for (auto& [ns, f] : out.namespaces) f.running += fair_.slots(ns);
  auto count = [&](const std::set<ReadyKey>& set, const std::string* ns) {
    for (auto& key : set) {
      ActiveRun* r = runs_.find(key.run_pk);
      if (!r) continue;
      const auto& ti = r->tis[static_cast<size_t>(key.ti)];
      ++out.queue_depth[ti.queue];
      ++out.pool_depth[ti.pool];
      if (ns) ++out.namespaces[*ns].ready;
    }
  };
  for (auto& [ns, set] : ready_) count(set, &ns);
  count(ready_noop_, nullptr);
}

}  // namespace baton::scheduler
