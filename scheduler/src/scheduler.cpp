// The scheduler's composition root: the parts built in dependency order,
// the turn, the poll, the reload of owned partitions, start and stop. The
// Control entry points are in scheduler_control.cpp.
#include "baton/scheduler/scheduler.h"

#include <unistd.h>

#include <filesystem>
#include <limits>

#include "log.h"
#include "scheduler_impl.h"

namespace baton::scheduler {

namespace fs = std::filesystem;

namespace {

// Threads that poke sensors: a slow sensor.http does not hold up the others.
constexpr int kPokers = 4;

std::optional<TimePoint> earliest(std::initializer_list<std::optional<TimePoint>> ts) {
  std::optional<TimePoint> out;
  for (auto& t : ts)
    if (t && (!out || *t < *out)) out = t;
  return out;
}

executor::OutboxItem outbox_item(const store::NotificationRecord& n) {
  executor::OutboxItem o;
  o.id = n.id;
  o.event = n.event;
  o.dag_id = n.dag_id;
  o.target = {n.target_kind == "webhook" ? executor::NotificationTarget::Kind::webhook
                                         : executor::NotificationTarget::Kind::command,
              n.target};
  o.payload = n.payload;
  o.attempts = n.attempts;
  o.state = n.state;
  o.last_error = n.last_error;
  o.next_attempt_at = n.next_attempt_at;
  return o;
}

// `var.NAME` and connections, read from the store when a try is rendered:
// the entry of the DAG's namespace, else the global one (SPEC §13).
executor::RenderServices render_services(store::Store& store) {
  executor::RenderServices s;
  s.variable = [&store](const std::string& ns, const std::string& name) -> std::optional<std::string> {
    auto v = store.resolve_variable(ns, name);
    if (!v) return std::nullopt;
    return v->value;
  };
  s.connection_url = [&store](const std::string& ns, const std::string& name) -> Result<std::string> {
    auto c = store.resolve_connection(ns, name);
    if (!c) return c.error();
    return c->url;
  };
  s.variable_is_secret = [&store](const std::string& ns, const std::string& name) {
    auto v = store.resolve_variable(ns, name);
    return v && v->secret;
  };
  return s;
}

// A worker's or a poker's report, applied on the loop (group commit).
std::function<void(const executor::Finished&)> report_to(SchedulerParts& p) {
  return [&p](const executor::Finished& f) {
    p.loop.post([&p, f] {
      p.keeper.finished(f);
      p.loop.request_flush();
    });
  };
}

executor::LocalWorkerServices worker_services(SchedulerParts& p) {
  executor::LocalWorkerServices s;
  s.render = render_services(p.store);
  store::Store& store = p.store;
  s.load_checkpoint = [&store](long long ti_id) -> std::optional<std::string> {
    if (auto cp = store.load_checkpoint(ti_id); cp && *cp) return **cp;
    return std::nullopt;
  };
  s.save_checkpoint = [&store](long long ti_id, const std::string& token, const std::string& cp) {
    (void)store.save_checkpoint(ti_id, token, cp);
  };
  s.heartbeat = [&p](long long run_pk, int ti, const std::string& token, std::optional<TimePoint> activity,
                     const std::optional<ProgressLine>& progress) {
    p.loop.post([&p, run_pk, ti, token, activity, progress] {
      p.keeper.heartbeat(run_pk, ti, token, activity, progress);
      p.loop.request_flush();
    });
  };
  s.finished = report_to(p);
  return s;
}

executor::SensorServices sensor_services(SchedulerParts& p) {
  executor::SensorServices s;
  store::Store& store = p.store;
  s.variable = render_services(store).variable;
  s.variable_is_secret = render_services(store).variable_is_secret;
  s.task_state = [&store](const std::string& dag_id, const std::string& task_id,
                          TimePoint at) -> Result<std::optional<TaskState>> {
    auto runs = store.runs_between(dag_id, at, at);
    if (!runs) return runs.error();
    std::optional<TaskState> state;
    for (auto it = runs->rbegin(); it != runs->rend() && !state; ++it) {
      auto tis = store.list_task_instances(it->pk);
      if (!tis) break;
      for (auto& t : *tis)
        if (t.task_id == task_id && t.map_index < 0) state = t.state;  // a foreach task's own: all of it
    }
    return state;
  };
  s.finished = report_to(p);
  return s;
}

}  // namespace

SchedulerParts::SchedulerParts(store::Store& s, const Clock& c, SchedulerOptions o)
    : store(s),
      clock(c),
      options(std::move(o)),
      notify_dir([this] {
        std::error_code ec;
        return fs::absolute(options.dags_dir, ec).lexically_normal().string();
      }()),
      loop(c),
      membership(s, c, {options.member_id, options.shared, options.member_heartbeat, options.member_lease}),
      registry(s, options.dags_dir),
      sla(s, c, loop, runs, registry),
      forecast(s, c, loop, runs, forecast_glue),
      past(s, loop, runs, [this](ActiveRun& r, const std::vector<Transition>& ts) { keeper.apply(r, ts); }),
      workers(c, options.logs_dir, options.heartbeat_interval, worker_services(*this)),
      local_channel(c, runs, workers, options.member_id,
                    {options.logs_dir, options.heartbeat_interval, options.zombie_timeout}),
      queue_channel(s, c, loop, runs, tries_glue, {options.logs_dir, options.heartbeat_interval, options.zombie_timeout},
                    render_services(s)),
      channel(options.shared ? static_cast<WorkerChannel&>(queue_channel) : local_channel),
      dispatcher(c, loop, runs, registry, dispatch_glue, channel,
                 {options.shared, options.workers, options.member_id,
                  {options.logs_dir, options.heartbeat_interval, options.zombie_timeout}, options.slack_order}),
      keeper(s, c, loop, registry, membership, runs, listener_glue, {options.shared}),
      factory(s, c, loop, registry, membership, runs_glue),
      backfills(s, c, loop, registry, membership, runs_glue),
      triggers(s, c, loop, membership, runs, tries_glue, options.logs_dir),
      pokers(c, options.dags_dir, sensor_services(*this), options.sensor_roots),
      notifier(
          c, {options.notification_timeout, options.notification_attempts, options.notification_backoff,
              options.notification_poll, notify_dir},
          [&s](TimePoint now, int limit) -> Result<std::vector<executor::OutboxItem>> {
            auto due = s.due_notifications(now, limit);
            if (!due) return due.error();
            std::vector<executor::OutboxItem> out;
            for (auto& n : *due) out.push_back(outbox_item(n));
            return out;
          },
          [&s](const executor::OutboxItem& o) -> Status {
            store::NotificationRecord n;
            n.id = o.id;
            n.event = o.event;
            n.dag_id = o.dag_id;
            n.target_kind = o.target.kind == executor::NotificationTarget::Kind::webhook ? "webhook" : "command";
            n.target = o.target.target;
            n.payload = o.payload;
            n.attempts = o.attempts;
            n.state = o.state;
            n.last_error = o.last_error;
            n.next_attempt_at = o.next_attempt_at;
            return s.update_notification(n);
          }) {
  queue_channel.set_slack_order(options.slack_order);
  loop.set_end_turn([this] { flush(); });
  loop.set_on_wake([this] { on_wake(); });
  registry.set_on_registered([this](DagEntry& d, const store::DagRecord* rec) {
    if (rec) factory.set_last_tick(d.dag_id, rec->last_tick);
    if (d.graph->spec().schedule_kind == dsl::DagSpec::ScheduleKind::datasets)
      factory.forget_datasets_seen();  // checked at the next poll
    factory.plan(d);
  });
  membership.set_on_resync([this] {
    loop.post([this] {
      membership.resync_started();
      refresh_ownership(true);
      flush();
    });
  });
}

// Whatever happened before (a start that failed half-way), no thread of
// this process outlives the parts it calls into.
SchedulerParts::~SchedulerParts() {
  if (watch) watch->stop();
  if (listener) listener->stop();
  workers.stop(Duration(0));
  pokers.stop();
  notifier.stop();
  loop.stop();
}

void SchedulerParts::write() {
  // The runs that came due this turn, in one transaction of their own (the
  // store gives them their ids), then what they started. While the folder
  // loads, the scheduled runs its DAGs owe wait for the load's end (and are
  // made then, as the runs of the DAGs the store knew already are:
  // load_next), or for a stop that comes first: the folder first. Made and
  // run with each chunk, they took half of its turn (docs/benchmarks.md,
  // "The folder first, runs set-wise on SQLite").
  if ((!registry.loading() || loop.stopping()) && factory.commit_runs()) dispatcher.dispatch();
  forecast.settle();  // the forecasts of the runs that moved, in this write
  auto w = loop.write(store, membership.fences());
  if (w.fenced) membership.fenced_out(*w.fenced);
  else if (w.notifications) notifier.kick();
}

void SchedulerParts::flush() {
  write();
  // The events a success produced are in the store now: their consumers
  // (once the folder is loaded: a DAG's stored version may be stale).
  if (!registry.loading() && factory.take_datasets_dirty()) {
    factory.check_datasets();
    write();
  }
  // depends_on_past reads the previous run's states from the store, so
  // after the write; what it unblocks goes in a second write.
  if (past.pending()) {
    if (past.refresh_changed()) dispatcher.dispatch();
    write();
  }
  channel.flush();
  loop.wake_at(earliest(
      {factory.next_due(), factory.next_build(), keeper.next_wake(), sla.next_due(), forecast.next_due()}));
  snapshot_metrics(false);
}

void SchedulerParts::snapshot_metrics(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - metrics_at < std::chrono::milliseconds(100)) return;
  metrics_at = now;
  SchedulerMetrics out;
  dispatcher.metrics(out);
  out.active_runs = static_cast<long long>(runs.size());
  out.sla_misses_detected = sla.detected();
  forecast.metrics(out);
  std::lock_guard lock(metrics_mu);
  metrics = std::move(out);
}

SchedulerMetrics SchedulerParts::metrics_snapshot() const {
  std::lock_guard lock(metrics_mu);
  return metrics;
}

void SchedulerParts::on_wake() {
  TimePoint now = clock.now();
  sla.wake(now);
  forecast.wake(now);
  factory.wake(now);
  keeper.wake(now);
  forecast.settle(true);
  dispatcher.dispatch();
}

void SchedulerParts::refresh_namespaces() {
  auto list = store.list_namespaces();
  if (!list) return;  // kept as they were; the next poll reads them again
  dispatcher.refresh_namespaces(*list);
  std::map<std::string, std::string> folders;
  for (auto& n : *list)
    if (n.folder) folders[n.name] = *n.folder;
  registry.set_namespace_folders(std::move(folders));
}

void SchedulerParts::poll() {
  dispatcher.refresh_pools(store);
  refresh_namespaces();
  if (options.shared) {
    membership_tick();
    drain_events();
  } else {
    membership.renew();
  }
  fail_lost();
  backfills.advance_all();
  if (triggers.any()) triggers.check();
  if (!registry.loading()) factory.poll_datasets();
  past.retry_unreadable();
  dispatcher.dispatch();
  flush();
  snapshot_metrics(true);
  // The counters' deltas folded into their totals at most every 10 s, here
  // where no other transaction is open, so that they stay few when nobody
  // reads /metrics.
  if (auto now = std::chrono::steady_clock::now(); now - folded_at >= std::chrono::seconds(10)) {
    folded_at = now;
    if (auto f = store.fold_counts(); !f) sched_log()->warn("folding the state counts: {}", f.error().message);
  }
}

namespace {
// DAG files compiled and registered per turn of the cold load.
constexpr size_t kLoadChunk = 1000;
}  // namespace

// The watch reports on its own thread; the registry looks at those paths on
// the loop. Where inotify fails, the folder is polled as the poll's period;
// with it, a full scan every folder_scan all the same.
void SchedulerParts::watch_folder() {
  auto w = FolderWatch::start(options.dags_dir, [this](FolderWatch::Changes c) {
    loop.post([this, c = std::move(c)] {
      if (loop.stopping()) return;
      if (c.full) registry.scan(false);  // during the cold load: after it
      else registry.changed(c.paths);
      flush();
    });
  });
  if (w) {
    watch = std::move(*w);
    sched_log()->info("DAGs folder {}: watched ({} folder(s)); full scan every {}s", options.dags_dir,
                      watch->watched(), std::chrono::duration_cast<std::chrono::seconds>(options.folder_scan).count());
  } else {
    sched_log()->warn("DAGs folder {}: {}; polling it every {}ms instead", options.dags_dir, w.error().message,
                      std::chrono::duration_cast<std::chrono::milliseconds>(options.folder_poll).count());
  }
  loop.every(watch ? options.folder_scan : options.folder_poll, [this] {
    if (registry.progress().loading) return;  // the load looks at every file anyway
    registry.scan(false);
    flush();
  });
}

void SchedulerParts::load_next(TimePoint began) {
  if (loop.stopping()) return;
  bool more = registry.load_step(kLoadChunk);
  TimePoint loaded = clock.now();
  flush();
  if (more) {
    loop.post([this, began] { load_next(began); });
    return;
  }
  auto ms = [](Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  // The DAGs the store knew whose versions did not change were not planned
  // as they registered.
  factory.plan_all();
  dispatcher.dispatch();
  flush();
  // Running backfills and dataset schedules go on with the versions the
  // folder has now: a stored version may no longer compile (a backfill would
  // fail for want of it) or be stale.
  backfills.recover();
  factory.poll_datasets();
  dispatcher.dispatch();
  flush();
  auto p = registry.progress();
  sched_log()->info("DAGs folder loaded: {} file(s) in {} ms; the runs they owed made and dispatched in {} ms more",
                    p.total, ms(loaded - began), ms(clock.now() - loaded));
}

// Tries whose workers stopped heartbeating fail as worker_lost.
void SchedulerParts::fail_lost() {
  for (auto& l : channel.lost())
    if (ActiveRun* r = runs.find(l.run_pk)) {  // an earlier loss in this pass may have ended its run
      keeper.fail_lost(*r, l.ti, l.why);
      keeper.settle(*r);
    }
}

void SchedulerParts::membership_tick() {
  membership.tick();
  refresh_ownership(false);
}

// When what this member owns changed (or `force`), its memory is loaded
// again from the store for exactly the partitions it owns now.
void SchedulerParts::refresh_ownership(bool force) {
  auto next = membership.ownership_changed(force);
  if (!next) return;
  // What this member did up to now is written under the epochs it held
  // (refused if one moved meanwhile: then the store has none of it).
  write();
  loop.batch() = {};
  membership.take(std::move(*next));
  reload_owned();
}

// Forgets every run and backfill, then loads those of the owned partitions
// from the store, as a restart would (but tries of remote workers keep
// running: their workers are alive, or the zombie check says otherwise).
void SchedulerParts::reload_owned() {
  factory.forget_datasets_seen();  // the dataset DAGs it owns now are checked at the next poll
  keeper.clear();
  backfills.clear();
  past.clear();
  dispatcher.clear();
  factory.reset();
  sla.clear();
  forecast.clear();
  forecast.load();  // the histories of the DAGs it owns now
  if (auto list = store.list_dags())
    for (auto& d : *list) {
      DagEntry* e = registry.find(d.dag_id);
      if (!e) continue;
      e->paused = d.paused;
      e->active = d.active;
      factory.set_last_tick(d.dag_id, d.last_tick);
    }
  keeper.recover();
  queue_channel.requeue_lost(keeper.take_queued_remote());
  write();
  backfills.recover();
  sla.arm_finished(membership);
  factory.plan_all();
  dispatcher.dispatch();
}

void SchedulerParts::drain_events() {
  drain_posted = false;
  if (!options.shared || loop.stopping()) return;
  queue_channel.drain(membership.owned());
}

// ---- Scheduler ----

namespace {

SchedulerOptions normalized(SchedulerOptions o) {
  if (o.member_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    o.member_id = std::string(host) + ":" + std::to_string(getpid());
  }
  // Tries run in their own working folders: every path handed to them must
  // be absolute. Notification commands run in the DAGs folder.
  std::error_code ec;
  o.logs_dir = fs::absolute(o.logs_dir, ec).lexically_normal().string();
  // A shared member's tries go to the remote workers: no worker slots here.
  if (o.shared) o.workers = 0;
  return o;
}

}  // namespace

Scheduler::Scheduler(store::Store& store, const Clock& clock, SchedulerOptions options)
    : impl_(std::make_unique<Impl>(store, clock, normalized(std::move(options)))) {}

Scheduler::~Scheduler() { stop(); }

Status Scheduler::start() {
  Impl& m = *impl_;
  std::error_code ec;
  fs::create_directories(m.options.logs_dir, ec);
  if (ec) return Error{"unavailable", "cannot create the logs folder " + m.options.logs_dir + ": " + ec.message()};
  // Retention's connection of its own (a clean's batch never holds the
  // loop's), opened before anything starts.
  std::unique_ptr<store::Store> retention_store;
  if (m.options.retention.any() && m.options.retention_store) {
    auto own = m.options.retention_store();
    if (!own)
      return Error{own.error().code,
                   "retention: opening its own connection to the database: " + own.error().message};
    retention_store = std::move(*own);
  }
  if (auto j = m.membership.join(); !j)
    return Error{"unavailable", "joining as a scheduler member: " + j.error().message};
  m.dispatcher.refresh_pools(m.store);
  m.refresh_namespaces();
  // Watched before the first scan or load: a change made while it runs is
  // not missed (its report is handled once the loop runs).
  m.watch_folder();
  m.forecast.load();
  // A member of several loads the folder before it takes partitions.
  const bool background = m.options.load_in_background && !m.options.shared;
  // Known DAGs first (paused flags, last ticks), then the folder.
  if (auto list = m.store.list_dags()) {
    m.registry.load_known(*list);
    for (auto& d : *list)
      if (m.registry.find(d.dag_id)) m.factory.set_last_tick(d.dag_id, d.last_tick);
  }
  if (m.options.shared) {
    // Nothing is owned yet: the DAGs first, then the partitions the leader
    // gives (this member may be the leader).
    m.registry.scan(true);
    m.write();
    m.membership_tick();
    m.flush();
  } else {
    m.keeper.recover();
    if (!background) m.registry.scan(true);
    m.write();  // the runs that recovery ended are in the store before backfills count them
    // In the background, backfills wait for the load (load_next).
    if (!background) m.backfills.recover();
    m.sla.arm_finished(m.membership);
    if (!background) m.factory.plan_all();
    m.flush();
    m.dispatcher.dispatch();
    m.flush();
  }
  m.workers.start(m.options.workers);
  m.loop.every(m.options.folder_poll, [&m] { m.poll(); });
  m.loop.start();
  m.pokers.start(kPokers);
  m.notifier.start();
  if (m.options.retention.any()) {
    RetentionOptions ro;
    ro.settings = m.options.retention;
    ro.logs_dir = m.options.logs_dir;
    ro.first_after = m.options.retention_first_after;
    ro.every = m.options.retention_every;
    ro.revive_mu = m.revive_mu;
    auto leads = [&m] { return m.membership.leads(); };
    if (retention_store) {
      m.retention = std::make_unique<RetentionJob>(std::move(retention_store), m.clock, std::move(ro), leads);
    } else {
      m.retention = std::make_unique<RetentionJob>(m.store, m.clock, std::move(ro), leads);
    }
    m.retention->start();
  }
  {
    std::lock_guard lock(m.trigger_mu);
    m.triggers_closed = false;
  }
  m.accepting = true;
  if (background) {
    TimePoint began = m.clock.now();
    m.loop.post([&m, began] {
      m.registry.begin_load();
      m.load_next(began);
    });
  }
  if (m.options.shared) {
    m.listener = std::make_unique<PartitionListener>(
        m.store, *this,
        ListenerCallbacks{[&m] { return m.membership.owned_snapshot(); },
                          [&m] {
                            m.loop.post([&m] {
                              if (m.loop.stopping()) return;
                              m.refresh_ownership(false);
                              m.flush();
                            });
                          },
                          [&m] {
                            if (m.drain_posted.exchange(true)) return;
                            m.loop.post([&m] {
                              m.drain_events();
                              m.loop.request_flush();
                            });
                          }});
    m.listener->start();
  }
  return {};
}

void Scheduler::stop(bool immediately) {
  Impl& m = *impl_;
  if (!m.loop.running()) return;
  m.accepting = false;
  if (m.retention) m.retention->stop();  // after its current batch
  if (m.watch) m.watch->stop();
  m.loop.set_stopping();
  m.workers.set_stopping();
  if (m.listener) m.listener->stop();
  m.loop.cancel_timers();
  // Idle workers exit; busy ones get the grace period, then are killed.
  m.workers.stop(immediately ? Duration(0) : m.options.shutdown_grace);
  m.pokers.stop();
  // Let the last reports land, then stop the loop.
  m.loop.run_and_wait([&m] { m.flush(); });
  m.notifier.stop();
  m.membership.leave();
  m.loop.stop();
  // Triggers queued after the loop's last turn (their drain was dropped)
  // are answered all the same, and no more queue.
  std::vector<SchedulerParts::QueuedTrigger> left;
  {
    std::lock_guard lock(m.trigger_mu);
    m.triggers_closed = true;
    left.swap(m.trigger_queue);
  }
  for (auto& q : left) q.answer.set_value(Error{"unavailable", "the scheduler is not running"});
}

std::string Scheduler::logs_dir() const { return impl_->options.logs_dir; }

}  // namespace baton::scheduler
