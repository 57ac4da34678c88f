// The scheduler's event loop. All scheduling state lives on the loop thread;
// workers and API threads talk to it by posting handlers. Each handler ends
// with flush(): the turn's changes go to the store in one transaction, and
// only then are tries handed to workers.
#include "baton/scheduler/scheduler.h"

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "baton/core/duration.h"
#include "baton/core/ids.h"
#include "baton/core/random.h"
#include "baton/dsl/dag_folder.h"
#include "baton/dsl/template.h"
#include "baton/executor/notifier.h"
#include "baton/core/sha256.h"
#include "baton/executor/adapters.h"
#include "baton/executor/shell_runner.h"
#include "baton/scheduler/partitions.h"
#include "baton/scheduler/remote_control.h"
#include "baton/scheduler/run_engine.h"
#include "commands.h"
#include "git_state.h"

namespace baton::scheduler {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

std::string make_run_id(const std::string& run_type, TimePoint logical_date, bool with_suffix) {
  std::string ts = format_utc(std::chrono::time_point_cast<std::chrono::seconds>(logical_date));
  std::string compact;
  for (char c : ts)
    if (c != '-' && c != ':') compact += c;
  return run_type + "__" + compact + (with_suffix ? "_" + random_hex(3) : "");
}

namespace {

const TimePoint kMinInstant{Duration(-62135596800LL * 1000000)};  // 0001-01-01
// One poke of a sensor.http waits this long at most for its answer.
constexpr Duration kPokeHttpTimeout = std::chrono::seconds(30);
// Threads that poke sensors: a slow sensor.http does not hold up the others.
constexpr int kPokers = 4;
// Events of one URI a dataset run takes at most; the rest go to the next run.
constexpr int kDatasetEventsPerRun = 1000;

struct DagEntry {
  std::string dag_id;
  std::string file;
  dsl::DagGraphPtr graph;
  bool paused = false;
  bool active = true;
  std::optional<TimePoint> last_tick;
  std::optional<TimePoint> next_due;  // the armed wake-up, if any
  int running_tasks = 0;  // queued + running task instances (max_active_tasks)
};

// A backfill being carried out: its plan's steps still to take up, and the
// runs it created or reran that have not finished.
struct ActiveBackfill {
  store::BackfillRecord rec;
  std::vector<BackfillStep> steps;
  size_t next = 0;
  std::set<long long> active;
  std::vector<std::string> tasks;  // a rerun's tasks (empty: per reprocess mode)
};

// A deadline of SPEC §7 to check when it passes.
struct SlaCheck {
  std::string kind;  // run_deadline, run_duration, task_duration
  std::string dag_id, run_id;
  long long run_pk = 0;
  int ti = -1;  // task_duration: the task instance and its try
  int try_number = 0;
  TimePoint deadline{};
};

struct ActiveRun {
  store::RunRecord rec;
  dsl::DagGraphPtr graph;
  std::unique_ptr<RunEngine> engine;
  std::vector<store::TaskInstanceRecord> tis;  // index = task index in graph->spec().tasks
};

// Task types the scheduler carries out itself, with no worker: sensors (the
// poker thread) and trigger_dag (the loop).
bool loop_task(dsl::TaskType t) { return dsl::is_sensor(t) || t == dsl::TaskType::trigger_dag; }

// The task types a worker runs (noop never reaches one).
bool executor_runs(dsl::TaskType t) {
  return t == dsl::TaskType::shell || t == dsl::TaskType::http || t == dsl::TaskType::sql;
}

// What a worker needs for one try.
struct Assignment {
  long long run_pk = 0;
  int ti = 0;
  long long ti_id = 0;
  std::string attempt_token;
  dsl::TaskType type = dsl::TaskType::noop;
  std::string command_template;
  std::map<std::string, dsl::TemplateText> env_templates;
  dsl::RenderContext ctx;
  executor::ShellTry shell;
  // The task's spec (http and sql keep their templates there); the graph is
  // held so that the spec outlives a run that ends while the try runs.
  dsl::DagGraphPtr graph;
  const dsl::TaskSpec* spec = nullptr;
  executor::HttpCall http;  // rendered by render()
  executor::SqlCall sql;    // rendered by render(); url from the named connection
};

struct Finished {
  long long run_pk;
  int ti;
  std::string attempt_token;
  TryOutcome outcome;
  std::string reason;
  std::optional<int> exit_code;
  std::optional<std::string> output;
  long long log_bytes = 0;
  bool worker_slot = true;  // false: a sensor's poke, which takes none
};

// Ready task instances in dispatch order: live runs before backfills, then
// higher priority, then older logical date.
struct ReadyKey {
  int backfill;
  int neg_priority;
  long long logical_date;
  long long run_pk;
  int ti;
  auto operator<=>(const ReadyKey&) const = default;
};

}  // namespace

struct Scheduler::Impl {
  Impl(store::Store& s, const Clock& c, SchedulerOptions o) : store(s), clock(c), options(std::move(o)) {}

  store::Store& store;
  const Clock& clock;
  SchedulerOptions options;
  std::shared_ptr<spdlog::logger> log = spdlog::default_logger()->clone("scheduler");

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  asio::steady_timer timer{io};
  asio::steady_timer poll_timer{io};
  std::thread loop_thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> accepting{false};  // Control calls are served
  std::atomic<bool> kill_all{false};   // shutdown: every try, also one about to start, is killed
  bool in_report = false;  // applying a worker's own report (its try already ended)
  // Datasets: a produced event or a hint from the API asks for a check of
  // the dataset-scheduled DAGs after the next write; the poll checks again
  // whenever the newest event id changed (events written by other processes).
  bool datasets_dirty = false;
  long long datasets_seen = -1;

  // ---- state of the loop thread ----
  std::map<std::string, DagEntry> dags;
  std::map<std::string, std::pair<long long, long long>> file_stamps;  // path -> (mtime ns, size)
  std::map<std::string, dsl::CompileResult> compiled_files;            // path -> its last compile, ids unchecked
  std::map<long long, ActiveRun> runs;
  std::map<long long, ActiveBackfill> backfills;  // running ones, by id
  // The active runs of each DAG by (logical date, pk): max_active_runs,
  // start order and depends_on_past without a pass over every run.
  std::map<std::string, std::set<std::pair<long long, long long>>> runs_by_dag;
  // Running task instances (run pk, index): the zombie check's scan.
  std::set<std::pair<long long, int>> running_tis;
  // (DAG, logical date) of runs whose depends_on_past tasks changed: the next
  // run of the DAG looks at its past again, after the turn's write.
  std::set<std::pair<std::string, long long>> past_changed;
  // Runs whose past could not be read (the store was unavailable): the
  // next poll looks again.
  std::set<std::pair<std::string, long long>> past_retry;
  std::set<ReadyKey> ready;       // tries for the workers
  std::set<ReadyKey> ready_noop;  // noop tasks: the loop completes them itself, with no worker
  bool dispatching = false, dispatch_again = false;
  std::multimap<TimePoint, std::string> dag_due;  // when a DAG's next interval completes
  std::multimap<TimePoint, long long> run_wake;   // retries
  std::multimap<TimePoint, SlaCheck> sla_due;     // SLA deadlines
  long long sla_detected = 0;
  std::set<std::tuple<long long, std::string, std::string>> sla_seen;  // (run pk, task, kind) detected
  // ready -> running latency of every try started (GET /metrics)
  static constexpr double kLatencyBounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300};
  std::vector<long long> latency_buckets = std::vector<long long>(std::size(kLatencyBounds) + 1, 0);
  long long latency_count = 0;
  double latency_sum = 0;
  std::map<std::string, int> pool_slots, pool_used;
  int free_workers = 0;
  store::WriteBatch batch;
  std::vector<Assignment> to_dispatch;

  // ---- workers ----
  std::mutex work_mu;
  std::condition_variable work_cv;
  std::deque<Assignment> work;
  bool workers_stop = false;
  std::vector<std::thread> workers;
  std::mutex cancel_mu;
  std::map<long long, std::shared_ptr<std::atomic<bool>>> cancel_flags;  // ti_id -> flag
  std::atomic<int> busy_workers{0};

  // ---- sensors: poked by this process on a thread of their own, no worker slot ----
  std::mutex poke_mu;
  std::condition_variable poke_cv;
  std::deque<Assignment> pokes;  // guarded by poke_mu
  bool pokes_stop = false;       // guarded by poke_mu
  std::vector<std::thread> pokers;

  // ---- notifications: one thread of its own, fed by the outbox ----
  std::thread notifier;
  std::mutex notify_mu;
  std::condition_variable notify_cv;
  bool notify_stop = false;
  bool notify_kick = false;
  std::string notify_dir;  // the DAGs folder, absolute

  // ---- membership and partitions (SPEC §9) ----
  // The one scheduling process (SQLite, and PostgreSQL until schedulers
  // share partitions) is its own leader and owns every partition; every
  // write batch is fenced by the epochs it was given, so a process that lost
  // its scheduling lock and was replaced has its writes refused.
  std::vector<store::Fence> fences;
  TimePoint member_started{};
  std::optional<TimePoint> member_renewed;
  // Shared mode: the partitions this member owns (mirrors `fences`), the
  // leader lock while it leads, and a resync owed after a refused write.
  std::set<int> owned;
  std::unique_ptr<store::SchedulingLock> leader_lock;
  std::unique_ptr<store::SchedulingLock> member_lock;  // dies with the process: seen dead at once
  std::optional<TimePoint> commands_pruned;
  bool resync_posted = false;
  // The listener thread: wakes the loop for worker events and carries out
  // commands for the owned partitions (their copy, for that thread).
  std::thread listener;
  std::atomic<bool> listener_stop{false};
  std::mutex owned_mu;
  std::vector<int> owned_copy;
  std::atomic<bool> drain_posted{false};

  bool owns(const std::string& dag_id) const { return !options.shared || owned.count(partition_of(dag_id)) > 0; }

  // ================= helpers =================

  template <class F>
  auto on_loop(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    if (!accepting.load() || io.get_executor().running_in_this_thread())
      return R(Error{"unavailable", "the scheduler is not running"});
    std::promise<R> p;
    auto fut = p.get_future();
    commands::Current cmd = commands::current();
    asio::post(io, [&] {
      // A command for a partition this member no longer owns is left for
      // its new owner.
      if (cmd.id && !owns(cmd.dag_id)) {
        p.set_value(R(Error{"moved", "the DAG's partition moved to another member"}));
        return;
      }
      // The changes reach the store before the caller hears back, so that
      // whatever it reads next already shows them; a command's answer is
      // written with them.
      try {
        R r = fn();
        if (cmd.id) batch.command_results.push_back(commands::answer(cmd.id, r));
        flush();
        p.set_value(std::move(r));
      } catch (...) {
        flush();
        p.set_exception(std::current_exception());
      }
    });
    return fut.get();
  }

  void audit(const std::string& actor, const std::string& action, const std::string& target, json details) {
    batch.audit.push_back({actor, action, target, details.dump(-1, ' ', false, json::error_handler_t::replace)});
  }

  // Writes the turn's changes, then hands the queued tries to the workers.
  void flush() {
    write_batch();
    // The events a success produced are in the store now: their consumers.
    if (datasets_dirty) {
      datasets_dirty = false;
      check_datasets();
      write_batch();
    }
    // depends_on_past reads the previous run's states from the store, so
    // after the write; what it unblocks goes in a second write.
    if (!past_changed.empty()) {
      refresh_changed_pasts();
      write_batch();
    }
    if (!to_dispatch.empty()) {
      {
        std::lock_guard lock(work_mu);
        for (auto& a : to_dispatch) work.push_back(std::move(a));
      }
      work_cv.notify_all();
      to_dispatch.clear();
    }
    arm_timer();
  }

  // Rows are written whole, so only the last version of each row in a turn
  // counts: a task instance that went scheduled -> queued -> running -> success
  // in one turn is one UPDATE, not four.
  template <class T, class Key>
  static void keep_last(std::vector<T>& rows, Key key) {
    if (rows.size() < 2) return;
    std::set<decltype(key(rows[0]))> seen;
    std::vector<T> out;
    out.reserve(rows.size());
    for (auto it = rows.rbegin(); it != rows.rend(); ++it)
      if (seen.insert(key(*it)).second) out.push_back(std::move(*it));
    std::reverse(out.begin(), out.end());
    rows = std::move(out);
  }

  void write_batch() {
    if (!batch.empty()) {
      bool notifications = !batch.notifications.empty() || !batch.sla_misses.empty();
      keep_last(batch.runs, [](const store::RunRecord& r) { return r.pk; });
      keep_last(batch.task_instances, [](const store::TaskInstanceRecord& t) { return t.id; });
      keep_last(batch.tries, [](const store::TryRecord& t) { return std::make_pair(t.ti_id, t.try_number); });
      keep_last(batch.backfills, [](const store::BackfillRecord& b) { return b.id; });
      batch.fences = fences;
      auto s = store.apply(batch);
      if (!s && s.error().code != "stale_epoch") s = store.apply(batch);  // once more: a busy database
      if (!s && s.error().code == "stale_epoch") {
        // A partition moved away while this process was not looking (it was
        // paused, or the leader moved it): nothing of this batch happened.
        batch = {};
        fenced_out(s.error());
        return;
      }
      if (!s) {
        // Nothing may act on changes the store does not have: stop here; a
        // restart recovers from the store.
        log->critical("writing to the store failed: {}; stopping", s.error().message);
        spdlog::shutdown();
        std::_Exit(70);
      }
      batch = {};
      if (notifications) {
        std::lock_guard lock(notify_mu);
        notify_kick = true;
        notify_cv.notify_one();
      }
    }
  }

  // A write refused for a stale epoch. A shared member reads its partitions
  // again and reloads them from the store (on a later turn); the one
  // scheduling process of standalone was replaced by another, and stops.
  void fenced_out(const Error& e) {
    if (!options.shared) {
      log->critical("writing to the store failed: {}", e.message);
      log->critical("another scheduler owns this scheduler's partitions now: this one stops");
      spdlog::shutdown();
      std::_Exit(70);
    }
    log->warn("a write was refused: {}; loading the owned partitions again", e.message);
    if (resync_posted) return;
    resync_posted = true;
    asio::post(io, [this] {
      resync_posted = false;
      refresh_ownership(true);
      flush();
    });
  }

  // Group commit: events that arrive together (tries finishing on several
  // workers, heartbeats) are written in one transaction. The flush is posted
  // behind the events already queued, so they all land in it.
  bool flush_pending = false;
  void request_flush() {
    if (flush_pending) return;
    flush_pending = true;
    asio::post(io, [this] {
      flush_pending = false;
      flush();
    });
  }

  void arm_timer() {
    std::optional<TimePoint> next;
    if (!dag_due.empty()) next = dag_due.begin()->first;
    if (!run_wake.empty() && (!next || run_wake.begin()->first < *next)) next = run_wake.begin()->first;
    if (!sla_due.empty() && (!next || sla_due.begin()->first < *next)) next = sla_due.begin()->first;
    if (!next) return;
    auto wait = *next - clock.now();
    if (wait < Duration(0)) wait = Duration(0);
    timer.expires_after(wait);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      on_timer();
      flush();
    });
  }

  // ================= DAGs =================

  void scan_folder(bool first) {
    auto files = dsl::find_dag_files({options.dags_dir});
    if (!files) {
      if (first) log->warn("DAGs folder: {}", files.error().message);
      return;
    }
    std::map<std::string, std::pair<long long, long long>> now_stamps;
    std::vector<std::string> changed;
    for (auto& f : *files) {
      struct stat st {};
      if (::stat(f.c_str(), &st) != 0) continue;
      auto stamp = std::make_pair(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
                                  static_cast<long long>(st.st_size));
      now_stamps[f] = stamp;
      auto it = file_stamps.find(f);
      if (it == file_stamps.end() || it->second != stamp) changed.push_back(f);
    }
    bool removed = false;
    for (auto& [f, _] : file_stamps) removed = removed || !now_stamps.count(f);
    if (changed.empty() && !removed) return;
    file_stamps = now_stamps;
    // Only changed files are compiled again; duplicate ids are judged across
    // the whole folder's results.
    for (auto it = compiled_files.begin(); it != compiled_files.end();)
      it = now_stamps.count(it->first) ? std::next(it) : compiled_files.erase(it);
    for (auto& lf : dsl::compile_dag_files(changed)) compiled_files[lf.path] = std::move(lf.result);
    std::vector<dsl::LoadedFile> all;
    all.reserve(compiled_files.size());
    for (auto& [path, result] : compiled_files) all.push_back({path, result});
    auto load = dsl::check_unique_ids(std::move(all));
    auto git = read_git_state(options.dags_dir);
    std::set<std::string> seen;
    for (auto& lf : load.files) {
      const auto& r = lf.result;
      if (r.dag_id.empty()) {
        for (auto& e : r.errors) log->warn("{}", e.format());
        continue;
      }
      seen.insert(r.dag_id);
      if (!r.graph) {
        json errs = json::array();
        for (auto& e : r.errors) errs.push_back({{"file", e.file}, {"line", e.pos.line}, {"column", e.pos.col},
                                                 {"message", e.message}});
        if (auto s = store.set_import_errors(r.dag_id, lf.path, partition_of(r.dag_id),
                                             errs.dump(-1, ' ', false, json::error_handler_t::replace));
            !s)
          log->error("{}", s.error().message);
        for (auto& e : r.errors) log->warn("{}", e.format());
        continue;
      }
      register_graph(r.graph, lf.path, git ? &*git : nullptr);
    }
    for (auto& [id, d] : dags)
      if (d.active && !seen.count(id) && d.graph) {
        d.active = false;
        if (auto s = store.deactivate_dag(id, "system"); !s) log->error("{}", s.error().message);
        log->info("DAG {} removed (its file is gone): no new runs", id);
      }
  }

  void register_graph(const dsl::DagGraphPtr& g, const std::string& path, const GitState* git) {
    DagEntry& d = dags[g->dag_id()];
    bool changed = !d.graph || d.graph->hash() != g->hash() || !d.active;
    d.dag_id = g->dag_id();
    d.file = path;
    if (!changed) return;
    store::DagVersionRecord v;
    v.dag_id = g->dag_id();
    v.version = g->hash();
    v.compiled = g->canonical_json();
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    v.source = ss.str();
    v.file = path;
    if (git) {
      if (!git->commit.empty()) v.git_commit = git->commit;
      v.git_dirty = git->is_dirty(path);
    }
    if (auto r = store.register_dag_version(v, g->spec().ns, partition_of(g->dag_id()), "system"); !r) {
      log->error("registering DAG {}: {}", g->dag_id(), r.error().message);
      return;
    }
    d.graph = g;
    d.active = true;
    if (auto rec = store.get_dag(g->dag_id())) {
      d.paused = rec->paused;
      d.last_tick = rec->last_tick;
    }
    versions[{g->dag_id(), g->hash()}] = g;
    log->info("DAG {} version {} from {}", g->dag_id(), g->hash().substr(0, 12), path);
    if (g->spec().schedule_kind == dsl::DagSpec::ScheduleKind::datasets) datasets_seen = -1;  // checked at the next poll
    plan_dag(d);
  }

  std::map<std::pair<std::string, std::string>, dsl::DagGraphPtr> versions;

  dsl::DagGraphPtr graph_of(const std::string& dag_id, const std::string& version) {
    auto it = versions.find({dag_id, version});
    if (it != versions.end()) return it->second;
    auto v = store.get_dag_version(dag_id, version);
    if (!v) return nullptr;
    auto r = dsl::compile_dag(v->source, v->file);
    if (!r.graph || r.graph->hash() != version) {
      log->error("DAG {} version {} no longer compiles to itself", dag_id, version);
      if (!r.graph) return nullptr;
    }
    versions[{dag_id, version}] = r.graph;
    return r.graph;
  }

  // Runs of the DAG in memory (queued or running); a backfill's do not
  // hold up the schedule's catchup (they yield, not the other way round).
  int unfinished_runs(const std::string& dag_id) const {
    auto it = runs_by_dag.find(dag_id);
    if (it == runs_by_dag.end()) return 0;
    int n = 0;
    for (auto& [_, pk] : it->second) n += runs.at(pk).rec.backfill_id ? 0 : 1;
    return n;
  }

  // Runs of the DAG that are running (not queued): its max_active_runs.
  int running_runs(const std::string& dag_id) const {
    auto it = runs_by_dag.find(dag_id);
    if (it == runs_by_dag.end()) return 0;
    int n = 0;
    for (auto& [_, pk] : it->second) n += runs.at(pk).engine->state() == RunState::running;
    return n;
  }

  static bool has_depends_on_past(const dsl::DagGraph& g) {
    const auto& tasks = g.spec().tasks;
    return std::any_of(tasks.begin(), tasks.end(), [](const dsl::TaskSpec& t) { return t.depends_on_past; });
  }

  ActiveRun& add_run(ActiveRun a) {
    long long pk = a.rec.pk;
    long long ld = a.rec.logical_date.time_since_epoch().count();
    // A run that comes in between may now be the past of the one after it.
    if (has_depends_on_past(*a.graph)) past_changed.insert({a.rec.dag_id, ld});
    runs_by_dag[a.rec.dag_id].insert({ld, pk});
    return runs.emplace(pk, std::move(a)).first->second;
  }

  void drop_run(long long pk) {
    auto it = runs.find(pk);
    if (it == runs.end()) return;
    auto d = runs_by_dag.find(it->second.rec.dag_id);
    if (d != runs_by_dag.end()) {
      d->second.erase({it->second.rec.logical_date.time_since_epoch().count(), pk});
      if (d->second.empty()) runs_by_dag.erase(d);
    }
    runs.erase(it);
  }

  // ================= depends_on_past =================

  // Gives each depends_on_past task of a run what holds it: the previous run
  // (the latest with an earlier logical date, any type) holds a task whose
  // instance there is not success or skipped; no previous run, or one
  // without the task, holds nothing. A pending instance of a running run
  // that nothing holds any more is evaluated (and may be scheduled).
  void refresh_past(ActiveRun& r) {
    const auto& tasks = r.graph->spec().tasks;
    if (!has_depends_on_past(*r.graph)) return;
    std::string unreadable;
    std::optional<store::RunRecord> prev;
    std::map<std::string, TaskState> past;  // task id -> state in the previous run
    if (auto p = store.previous_run(r.rec.dag_id, r.rec.logical_date); !p) {
      unreadable = p.error().message;
    } else if (*p) {
      prev = **p;
      if (auto mem = runs.find(prev->pk); mem != runs.end()) {
        const ActiveRun& m = mem->second;
        for (size_t i = 0; i < m.tis.size(); ++i)
          if (m.tis[i].map_index < 0) past[m.tis[i].task_id] = m.engine->instances()[i].state;
      } else if (auto tis = store.list_task_instances(prev->pk); !tis) {
        unreadable = tis.error().message;
      } else {
        for (auto& t : *tis)
          if (t.map_index < 0) past[t.task_id] = t.state;
      }
    }
    if (!unreadable.empty())  // the key whose successor is this run
      past_retry.insert({r.rec.dag_id, r.rec.logical_date.time_since_epoch().count() - 1});
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (!tasks[i].depends_on_past) continue;
      std::string block;
      if (!unreadable.empty()) {
        block = "depends_on_past: the previous run cannot be read: " + unreadable;
      } else if (auto it = prev ? past.find(tasks[i].id) : past.end(); it != past.end() && !is_success_like(it->second)) {
        block = "depends_on_past: task " + tasks[i].id + " of the previous run " + prev->run_id + " is " +
                to_string(it->second);
      }
      apply_transitions(r, r.engine->set_past_block(static_cast<int>(i), std::move(block)));
    }
  }

  void refresh_changed_pasts() {
    bool changed = false;
    while (!past_changed.empty()) {
      auto [dag_id, ld] = *past_changed.begin();
      past_changed.erase(past_changed.begin());
      auto d = runs_by_dag.find(dag_id);
      if (d == runs_by_dag.end()) continue;
      auto next = d->second.upper_bound({ld, std::numeric_limits<long long>::max()});
      if (next == d->second.end()) continue;
      auto rit = runs.find(next->second);
      if (rit == runs.end()) continue;
      size_t before = batch.task_instances.size();
      refresh_past(rit->second);
      changed = changed || batch.task_instances.size() != before;
      if (is_finished(rit->second.engine->state())) drop_run(rit->first);
    }
    if (changed) dispatch();
  }

  // Creates the runs a DAG's schedule owes (catchup or only the latest
  // interval) and arms the time its next interval completes.
  void plan_dag(DagEntry& d) {
    if (!d.graph || !d.active || d.paused || stopping || !owns(d.dag_id)) return;
    const Schedule& s = d.graph->schedule();
    if (!s.is_time_based()) return;
    const auto& spec = d.graph->spec();
    TimePoint now = clock.now();
    if (spec.catchup) {
      while (unfinished_runs(d.dag_id) < spec.max_active_runs) {
        auto start = d.last_tick ? s.next_tick(*d.last_tick) : s.next_tick(kMinInstant);
        if (!start) break;
        auto end = s.next_tick(*start);
        if (!end || *end > now) break;
        if (!create_scheduled_run(d, *start, *end)) break;
      }
    } else {
      auto end = s.prev_tick(now);
      auto start = end ? s.prev_tick(*end - Duration(1)) : std::nullopt;
      if (start && (!d.last_tick || *start > *d.last_tick)) create_scheduled_run(d, *start, *end);
    }
    // With catchup at its limit, a finishing run plans again (settle()).
    if (spec.catchup && unfinished_runs(d.dag_id) >= spec.max_active_runs) return;
    // Otherwise wake when the interval after the last one with a run completes.
    auto next_start = d.last_tick ? s.next_tick(*d.last_tick) : s.next_tick(kMinInstant);
    auto due = next_start ? s.next_tick(*next_start) : std::nullopt;
    if (due && *due <= now) due = spec.catchup ? std::optional<TimePoint>(now + std::chrono::seconds(1)) : s.next_tick(now);
    if (!due || (d.next_due && *d.next_due == *due)) return;
    d.next_due = due;
    dag_due.emplace(*due, d.dag_id);
  }

  // A manual run, now (on the loop): Scheduler::trigger, and trigger_dag tasks.
  Result<TriggerResult> trigger_now(const std::string& dag_id, const TriggerRequest& req, const std::string& actor) {
    auto d = dags.find(dag_id);
    if (d == dags.end() || !d->second.graph) return Error::not_found("no DAG \"" + dag_id + "\"");
    if (!d->second.active) return Error::invalid("DAG " + dag_id + " is inactive (its file was removed)");
    const auto& g = d->second.graph;
    json params = json::parse(g->spec().params_json);
    json overrides = json::parse(req.params_json, nullptr, false);
    if (overrides.is_discarded() || !overrides.is_object()) return Error::invalid("params must be a JSON object");
    std::vector<std::string> given;
    for (auto& [k, v] : overrides.items()) given.push_back(k);
    if (auto st = dsl::check_param_names(g->spec(), given); !st) {
      // A key seen before returns its first run, whatever the DAG declares
      // now (a retry after the DAG was edited).
      if (req.idempotency_key)
        if (auto seen = store.find_run_by_key(dag_id, *req.idempotency_key); seen && *seen)
          return TriggerResult{**seen, false};
      return st.error();
    }
    for (auto& [k, v] : overrides.items()) params[k] = v;
    store::RunRecord r;
    r.dag_id = dag_id;
    r.run_type = "manual";
    r.logical_date = req.logical_date.value_or(clock.now());
    if (auto iv = g->schedule().is_time_based() ? g->schedule().last_complete_interval(r.logical_date)
                                                : std::optional<DataInterval>()) {
      r.data_interval_start = iv->start;
      r.data_interval_end = iv->end;
    } else {
      r.data_interval_start = r.data_interval_end = r.logical_date;
    }
    r.run_id = make_run_id("manual", r.logical_date, true);
    r.params = params.dump(-1, ' ', false, json::error_handler_t::replace);
    r.dag_version = g->hash();
    r.note = req.note;
    r.idempotency_key = req.idempotency_key;
    r.created_by = actor;
    auto c = store.create_run(r, task_instances_for(*g), actor, fences);
    if (!c && c.error().code == "stale_epoch") fenced_out(c.error());
    if (!c) return c.error();
    if (c->created) {
      adopt(c->run, g, c->task_instances);
      dispatch();
    }
    return TriggerResult{c->run, c->created};
  }

  // ================= trigger_dag =================

  // A trigger_dag task is running: the run it made (or the command asking
  // the DAG's owner to make it), until that run ends (wait) or at once.
  struct TriggerWatch {
    std::string token;          // the try's attempt token
    std::string dag_id;         // the triggered DAG
    std::string run_id;         // the triggered run, once known
    long long command_id = 0;   // while the DAG's owner (another member) makes it
    TimePoint asked_at{};
    std::string payload;        // the command, to send again if it expired
    bool wait = true;
    bool canceled = false;      // the task ended before the command was answered: cancel what it makes
  };
  std::map<std::pair<long long, int>, TriggerWatch> trigger_watches;  // (run pk, task index)

  void start_trigger(ActiveRun& r, int ti) {
    const auto& spec = spec_of(r, ti);
    auto& rec = r.tis[static_cast<size_t>(ti)];
    auto fail = [&](const std::string& why) {
      on_finished(Finished{r.rec.pk, ti, *rec.attempt_token, TryOutcome::failed, why, std::nullopt, std::nullopt, 0,
                           false});
    };
    Assignment a = assignment(r, ti);
    bind_variables(a);
    json params = json::parse(spec.trigger_params_json, nullptr, false);
    if (!params.is_object()) params = json::object();
    for (auto& [k, v] : params.items()) {
      if (!v.is_string()) continue;
      auto rendered = dsl::render_template(v.get<std::string>(), a.ctx);
      if (!rendered) return fail("params." + k + ": " + rendered.error().message);
      v = *rendered;
    }
    TriggerRequest req;
    req.logical_date = r.rec.logical_date;
    req.params_json = params.dump(-1, ' ', false, json::error_handler_t::replace);
    // One run per try: a retry, or this process after a crash, asks again
    // with the same key and gets the same run.
    std::string who = r.rec.dag_id + "\n" + r.rec.run_id + "\n" + spec.id + "\n" + std::to_string(rec.try_number);
    if (rec.map_index >= 0) who += "\n" + std::to_string(rec.map_index);
    req.idempotency_key = "trigger_dag:" + sha256_hex(who).substr(0, 32);
    req.note = "triggered by " + r.rec.dag_id + " / " + r.rec.run_id + " / " + spec.id +
               (rec.map_index >= 0 ? " [" + std::to_string(rec.map_index) + "]" : "");
    TriggerWatch w;
    w.token = *rec.attempt_token;
    w.dag_id = spec.target_dag;
    w.wait = spec.wait;
    if (owns(spec.target_dag)) {
      auto made = trigger_now(spec.target_dag, req, "system");
      if (!made) return fail("triggering DAG " + spec.target_dag + ": " + made.error().message);
      w.run_id = made->run.run_id;
    } else {
      store::CommandRecord c;
      c.kind = "trigger";
      c.dag_id = spec.target_dag;
      c.partition = partition_of(spec.target_dag);
      c.payload = w.payload = commands::encode_trigger(req);
      c.created_by = "system";
      auto id = store.enqueue_command(c);
      if (!id) return fail("triggering DAG " + spec.target_dag + ": " + id.error().message);
      w.command_id = *id;
      w.asked_at = clock.now();
    }
    auto key = std::make_pair(r.rec.pk, ti);
    trigger_watches[key] = w;
    if (!w.run_id.empty()) triggered(r, ti, trigger_watches[key]);
  }

  // The triggered run is known: shown as the task's output; without wait
  // the task is done.
  // A line in the try's log (the UI and `baton tasks logs` show it).
  void trigger_log(const ActiveRun& r, int ti, const std::string& line) {
    const auto& rec = r.tis[static_cast<size_t>(ti)];
    fs::path p = fs::path(options.logs_dir) / log_rel(r, rec, rec.try_number);
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    std::ofstream(p, std::ios::app) << "[baton] " << line << "\n";
  }

  void triggered(ActiveRun& r, int ti, TriggerWatch& w) {
    auto& rec = r.tis[static_cast<size_t>(ti)];
    trigger_log(r, ti, "triggered DAG " + w.dag_id + ": run " + w.run_id + (w.wait ? " (waiting for it to end)" : ""));
    json out = {{"dag_id", w.dag_id}, {"run_id", w.run_id}};
    rec.output = out.dump();
    batch.task_instances.push_back(rec);
    if (!w.wait) {
      std::string token = w.token;
      trigger_watches.erase({r.rec.pk, ti});
      on_finished(Finished{r.rec.pk, ti, token, TryOutcome::success, "", std::nullopt, out.dump(), 0, false});
    }
  }

  // On the poll: commands answered, triggered runs ended.
  void check_triggers() {
    std::vector<std::tuple<long long, int, std::string, TryOutcome, std::string, std::string>> done;
    for (auto& [key, w] : trigger_watches) {
      auto rit = runs.find(key.first);
      const store::TaskInstanceRecord* rec =
          rit == runs.end() ? nullptr : &rit->second.tis[static_cast<size_t>(key.second)];
      if (w.canceled) {
        // Canceled while the DAG's owner was asked: the command is withdrawn,
        // or the run it made is canceled once it is known.
        auto c = store.get_command(w.command_id);
        if (!c) continue;
        if (!c->processed_at) {
          auto expired = store.expire_command(w.command_id);
          if (expired && *expired) done.emplace_back(key.first, key.second, "", TryOutcome::failed, "", "");
          continue;
        }
        if (auto made = commands::trigger_of(*c)) enqueue_cancel(w.dag_id, made->run.run_id);
        done.emplace_back(key.first, key.second, "", TryOutcome::failed, "", "");
        continue;
      }
      if (!rec || rec->attempt_token != w.token || rec->state != TaskState::running) {
        done.emplace_back(key.first, key.second, "", TryOutcome::failed, "", "");  // gone: drop the watch
        continue;
      }
      if (w.run_id.empty()) {
        auto c = store.get_command(w.command_id);
        if (!c) continue;
        if (!c->processed_at) {
          if (clock.now() - w.asked_at > std::chrono::seconds(20)) {
            // Not taken up (its owner was moving): asked again, with the same key.
            (void)store.expire_command(w.command_id);
            store::CommandRecord again;
            again.kind = "trigger";
            again.dag_id = w.dag_id;
            again.partition = partition_of(w.dag_id);
            again.payload = w.payload;
            again.created_by = "system";
            if (auto id = store.enqueue_command(again)) {
              w.command_id = *id;
              w.asked_at = clock.now();
            }
          }
          continue;
        }
        auto made = commands::trigger_of(*c);
        if (!made) {
          done.emplace_back(key.first, key.second, w.token, TryOutcome::failed,
                            "triggering DAG " + w.dag_id + ": " + made.error().message, "");
          continue;
        }
        w.run_id = made->run.run_id;
        if (!w.wait) {
          // Done as soon as the run exists: finished below, outside this loop.
          trigger_log(rit->second, key.second, "triggered DAG " + w.dag_id + ": run " + w.run_id);
          json out = {{"dag_id", w.dag_id}, {"run_id", w.run_id}};
          done.emplace_back(key.first, key.second, w.token, TryOutcome::success, "", out.dump());
          continue;
        }
        triggered(rit->second, key.second, w);
        continue;
      }
      auto run = store.get_run(w.dag_id, w.run_id);
      if (!run || !is_finished(run->state)) continue;
      json out = {{"dag_id", w.dag_id}, {"run_id", w.run_id}, {"state", to_string(run->state)}};
      if (run->state == RunState::success)
        done.emplace_back(key.first, key.second, w.token, TryOutcome::success, "", out.dump());
      else
        done.emplace_back(key.first, key.second, w.token, TryOutcome::failed,
                          "the triggered run " + w.dag_id + " / " + w.run_id + " is " + to_string(run->state),
                          out.dump());
    }
    for (auto& [pk, ti, token, outcome, reason, output] : done) {
      trigger_watches.erase({pk, ti});
      if (token.empty()) continue;
      if (auto rit = runs.find(pk); rit != runs.end() && !(outcome == TryOutcome::success && output.find("\"state\"") == std::string::npos) )
        trigger_log(rit->second, ti, outcome == TryOutcome::success ? "the triggered run succeeded" : reason);
      on_finished(Finished{pk, ti, token, outcome, reason, std::nullopt,
                           output.empty() ? std::nullopt : std::optional<std::string>(output), 0, false});
    }
  }

  // The trigger_dag task stopped being running by an operator's hand or its
  // run's cancel: the run it made is canceled too.
  void cancel_triggered(long long run_pk, int ti) {
    auto it = trigger_watches.find({run_pk, ti});
    if (it == trigger_watches.end()) return;
    if (it->second.run_id.empty()) {
      it->second.canceled = true;  // the owner is still making it: check_triggers cancels it then
      return;
    }
    TriggerWatch w = it->second;
    trigger_watches.erase(it);
    if (owns(w.dag_id)) {
      std::string dag = w.dag_id, run = w.run_id;
      asio::post(io, [this, dag, run] {
        Error err;
        if (ActiveRun* r = find_run(dag, run, err)) {
          apply_transitions(*r, r->engine->cancel());
          audit("system", "run.canceled", "dag:" + dag + "/" + run, json{{"why", "its trigger_dag task ended"}});
          settle(*r);
          request_flush();
        }
      });
    } else {
      enqueue_cancel(w.dag_id, w.run_id);
    }
  }

  // Asks the owner of a DAG (another member) to cancel one of its runs.
  void enqueue_cancel(const std::string& dag_id, const std::string& run_id) {
    store::CommandRecord c;
    c.kind = "cancel_run";
    c.dag_id = dag_id;
    c.partition = partition_of(dag_id);
    c.payload = commands::encode_run(run_id);
    c.created_by = "system";
    if (auto id = store.enqueue_command(c); !id) log->error("canceling {} {}: {}", dag_id, run_id, id.error().message);
  }

  // ================= datasets (SPEC §6) =================

  // A task that `produces` datasets succeeded: an event per URI, written
  // with its success.
  void produced(ActiveRun& r, int ti, TimePoint now) {
    const auto& spec = spec_of(r, ti);
    for (auto& uri : spec.produces) {
      store::DatasetEvent e;
      e.uri = uri;
      e.at = now;
      e.source_dag_id = r.rec.dag_id;
      e.source_run_id = r.rec.run_id;
      e.source_task_id = spec.id;
      batch.dataset_events.push_back(std::move(e));
      datasets_dirty = true;
    }
  }

  // Every dataset-scheduled DAG this scheduler owns gets a run when each of
  // its URIs has an event it has not consumed. Runs beyond max_active_runs
  // wait queued, like any other.
  void check_datasets() {
    for (auto& [id, d] : dags) {
      if (!d.graph || !d.active || d.paused || stopping || !owns(id)) continue;
      const auto& spec = d.graph->spec();
      if (spec.schedule_kind != dsl::DagSpec::ScheduleKind::datasets || spec.schedule_datasets.empty()) continue;
      auto cursors = store.dataset_cursors(id);
      if (!cursors) {
        log->error("datasets of {}: {}", id, cursors.error().message);
        continue;
      }
      std::map<std::string, long long> after;
      for (auto& c : *cursors) after[c.uri] = c.last_event_id;
      std::vector<store::DatasetEvent> events;
      bool every = true;
      for (auto& uri : spec.schedule_datasets) {
        auto e = store.list_dataset_events(uri, after[uri], kDatasetEventsPerRun);
        if (!e || e->empty()) {
          every = false;
          break;
        }
        if (e->size() == static_cast<size_t>(kDatasetEventsPerRun)) datasets_dirty = true;  // more for the next run
        events.insert(events.end(), e->begin(), e->end());
      }
      if (every) create_dataset_run(d, std::move(events));
    }
  }

  void create_dataset_run(DagEntry& d, std::vector<store::DatasetEvent> events) {
    std::sort(events.begin(), events.end(), [](auto& a, auto& b) { return a.id < b.id; });
    json params = json::parse(d.graph->spec().params_json);
    json list = json::array();
    std::map<std::string, long long> last;
    TimePoint lo = events.front().at, hi = lo;
    for (auto& e : events) {
      json extra = json::parse(e.extra, nullptr, false);
      list.push_back({{"uri", e.uri}, {"at", format_utc(e.at)}, {"extra", extra.is_object() ? extra : json::object()}});
      last[e.uri] = std::max(last[e.uri], e.id);
      lo = std::min(lo, e.at);
      hi = std::max(hi, e.at);
    }
    params["dataset_events"] = list;
    // The events it consumes name the run: made again after a crash before
    // the cursors moved, it is the same run.
    std::string consumed;
    for (auto& [uri, n] : last) consumed += uri + "\n" + std::to_string(n) + "\n";
    store::RunRecord r;
    r.dag_id = d.dag_id;
    r.run_type = "dataset";
    TimePoint now = clock.now();
    r.run_id = make_run_id("dataset", now, true);
    r.logical_date = now;
    r.data_interval_start = lo;
    r.data_interval_end = hi;
    r.params = params.dump(-1, ' ', false, json::error_handler_t::replace);
    r.dag_version = d.graph->hash();
    r.idempotency_key = "dataset:" + sha256_hex(consumed).substr(0, 32);
    r.created_by = "system";
    // The cursors move with the run, in one transaction: a crash leaves both
    // or neither.
    std::vector<store::DatasetCursor> cursors;
    for (auto& [uri, n] : last) cursors.push_back({d.dag_id, uri, n});
    auto c = store.create_run(r, task_instances_for(*d.graph), "system", fences, cursors);
    if (!c && c.error().code == "stale_epoch") {
      fenced_out(c.error());
      return;
    }
    if (!c) {
      log->error("creating a dataset run of {}: {}", d.dag_id, c.error().message);
      return;  // the next check tries again
    }
    if (c->created) {
      log->info("run {} {} for {} dataset event(s)", d.dag_id, c->run.run_id, events.size());
      adopt(c->run, d.graph, c->task_instances);
    }
  }

  bool create_scheduled_run(DagEntry& d, TimePoint start, TimePoint end) {
    store::RunRecord r;
    r.dag_id = d.dag_id;
    r.run_type = "scheduled";
    r.run_id = make_run_id("scheduled", start, false);
    r.logical_date = start;
    r.data_interval_start = start;
    r.data_interval_end = end;
    r.params = d.graph->spec().params_json;
    r.dag_version = d.graph->hash();
    auto c = store.create_run(r, task_instances_for(*d.graph), "system", fences);
    if (!c && c.error().code == "stale_epoch") {
      fenced_out(c.error());
      return false;
    }
    if (!c && c.error().code != "conflict") {
      log->error("creating run {} {}: {}", d.dag_id, r.run_id, c.error().message);
      return false;  // tried again at the next wake-up
    }
    // Created now, or already there from an earlier life: move on.
    d.last_tick = start;
    batch.last_ticks.push_back({d.dag_id, start});
    if (c) adopt(c->run, d.graph, c->task_instances);
    return true;
  }

  static store::TaskInstanceRecord task_instance_for(const dsl::TaskSpec& t) {
    store::TaskInstanceRecord r;
    r.task_id = t.id;
    r.max_tries = t.retries + 1;
    r.queue = t.queue;
    r.pool = t.pool;
    r.pool_slots = t.pool_slots;
    r.priority = t.priority;
    return r;
  }

  static std::vector<store::TaskInstanceRecord> task_instances_for(const dsl::DagGraph& g) {
    std::vector<store::TaskInstanceRecord> out;
    for (auto& t : g.spec().tasks) out.push_back(task_instance_for(t));
    return out;
  }

  // ================= foreach (SPEC §3) =================

  static constexpr size_t kMaxForeachItems = 100000;

  // A scheduled foreach task: its list (literal, or its template rendered
  // with the outputs of its upstream) becomes one mapped instance per item,
  // written to the store at once with their items, fenced like every write;
  // then the engine appends them and they are evaluated. A list that cannot
  // be worked out fails the task with the reason; a store that cannot take
  // them leaves the task scheduled, to be expanded on a later turn.
  void expand(ActiveRun& r, int ti) {
    const dsl::TaskSpec& spec = spec_of(r, ti);
    auto fail = [&](const std::string& why) {
      auto t = r.engine->expansion_failed(ti, "foreach: " + why);
      if (!t) return;
      log->warn("run {} {}: {} failed: foreach: {}", r.rec.dag_id, r.rec.run_id, spec.id, why);
      apply_transitions(r, *t);
      settle(r);  // may retire the run: r is not used after this
    };
    std::string list = spec.foreach_json.value_or("");
    if (spec.foreach_template) {
      dsl::RenderContext ctx = render_context(r, ti, 1);
      ctx.variable = variables();
      auto rendered = dsl::render_template(spec.foreach_template->text, ctx);
      if (!rendered) return fail(rendered.error().message);
      list = *rendered;
    }
    json items = json::parse(list, nullptr, false);
    if (!items.is_array()) {
      std::string shown = list.size() > 200 ? list.substr(0, 200) + "..." : list;
      return fail("expected a JSON list, got " + (shown.empty() ? std::string("nothing") : "\"" + shown + "\""));
    }
    if (items.size() > kMaxForeachItems)
      return fail(std::to_string(items.size()) + " items: at most " + std::to_string(kMaxForeachItems) + " are allowed");
    std::vector<store::TaskInstanceRecord> made;
    made.reserve(items.size());
    store::TaskInstanceRecord proto = task_instance_for(spec);
    for (size_t k = 0; k < items.size(); ++k) {
      store::TaskInstanceRecord c = proto;
      c.map_index = static_cast<int>(k);
      c.item = items[k].dump(-1, ' ', false, json::error_handler_t::replace);
      made.push_back(std::move(c));
    }
    if (!made.empty()) {
      auto added = store.add_task_instances(r.rec.pk, made, fences);
      if (!added && added.error().code == "stale_epoch") return fenced_out(added.error());
      if (!added) {
        // The write may have landed all the same (an answer lost at COMMIT):
        // the instances are taken as they are in the store, if all are there.
        auto there = store.list_task_instances(r.rec.pk);
        std::vector<store::TaskInstanceRecord> mine;
        if (there)
          for (auto& c : *there)
            if (c.task_id == spec.id && c.map_index >= 0) mine.push_back(c);
        std::sort(mine.begin(), mine.end(), [](auto& x, auto& y) { return x.map_index < y.map_index; });
        bool whole = mine.size() == made.size();
        for (size_t k = 0; whole && k < mine.size(); ++k) whole = mine[k].map_index == static_cast<int>(k);
        if (!whole) {
          log->error("run {} {}: expanding {}: {}", r.rec.dag_id, r.rec.run_id, spec.id, added.error().message);
          return;  // still scheduled: the next turn tries again
        }
        added = std::move(mine);
      }
      for (auto& c : *added) r.tis.push_back(std::move(c));
    }
    auto t = r.engine->expand(ti, static_cast<int>(items.size()));
    if (!t) {
      log->error("run {} {}: expanding {}: {}", r.rec.dag_id, r.rec.run_id, spec.id, t.error().message);
      return;
    }
    log->info("run {} {}: {} mapped over {} items", r.rec.dag_id, r.rec.run_id, spec.id, items.size());
    apply_transitions(r, *t);
    settle(r);  // dispatches the mapped instances; an empty list may end the run
  }

  // Takes a run into memory and starts it if max_active_runs allows.
  void adopt(const store::RunRecord& rec, const dsl::DagGraphPtr& g, const std::vector<store::TaskInstanceRecord>& tis) {
    ActiveRun a;
    a.rec = rec;
    a.graph = g;
    a.engine = std::make_unique<RunEngine>(g, clock);
    a.tis.resize(g->spec().tasks.size());
    for (auto& t : tis) {
      int i = g->index_of(t.task_id);
      if (i >= 0) a.tis[static_cast<size_t>(i)] = t;
    }
    ActiveRun& run = add_run(std::move(a));
    arm_run_slas(run);
    refresh_past(run);
    start_runs(rec.dag_id);
  }

  void start_runs(const std::string& dag_id) {
    auto dit = dags.find(dag_id);
    int limit = dit != dags.end() && dit->second.graph ? dit->second.graph->spec().max_active_runs : 16;
    int running = 0;
    // Oldest first (runs_by_dag is ordered by logical date), live runs
    // before a backfill's: backfills yield when run places are scarce.
    std::vector<ActiveRun*> queued, queued_backfill;
    if (auto it = runs_by_dag.find(dag_id); it != runs_by_dag.end())
      for (auto& [_, pk] : it->second) {
        ActiveRun& r = runs.at(pk);
        if (r.engine->state() == RunState::running) ++running;
        if (r.engine->state() == RunState::queued) (r.rec.backfill_id ? queued_backfill : queued).push_back(&r);
      }
    queued.insert(queued.end(), queued_backfill.begin(), queued_backfill.end());
    std::vector<long long> ended;
    for (ActiveRun* r : queued) {
      if (running >= limit) break;
      apply_transitions(*r, r->engine->start());
      ++running;
      if (is_finished(r->engine->state())) ended.push_back(r->rec.pk);  // e.g. every root skipped
    }
    if (ended.empty()) return;
    for (long long pk : ended) {
      run_ended(runs.at(pk));
      drop_run(pk);
    }
    // Plan again on a later turn: no recursion however many runs end at once.
    asio::post(io, [this, dag_id] {
      auto d = dags.find(dag_id);
      if (d != dags.end()) {
        start_runs(dag_id);
        if (d->second.graph && d->second.graph->spec().catchup) plan_dag(d->second);
      }
      request_flush();
    });
  }

  // ================= transitions -> records =================

  void apply_transitions(ActiveRun& r, const std::vector<Transition>& ts) {
    TimePoint now = clock.now();
    for (auto& t : ts) {
      if (t.ti < 0) {
        r.rec.state = t.run_to;
        if (t.run_to == RunState::running && !r.rec.started_at) {
          r.rec.started_at = now;
          if (auto d = r.graph->spec().sla_run_duration; d && r.rec.run_type != "backfill")
            sla_due.emplace(now + *d, SlaCheck{"run_duration", r.rec.dag_id, r.rec.run_id, r.rec.pk, -1, 0, now + *d});
        }
        if (is_finished(t.run_to)) r.rec.ended_at = now;
        if (t.run_to == RunState::success) queue_notification(r, "on_success", json::object());
        if (t.run_to == RunState::failed) queue_notification(r, "on_failure", json::object());
        if (t.run_to == RunState::running) r.rec.ended_at.reset();
        batch.runs.push_back(r.rec);
        continue;
      }
      const TaskInstance& e = r.engine->instances()[static_cast<size_t>(t.ti)];
      store::TaskInstanceRecord& rec = r.tis[static_cast<size_t>(t.ti)];
      rec.state = e.state;
      rec.try_number = e.try_number;
      rec.max_tries = e.max_tries;
      rec.wake_at = e.wake_at;
      rec.reason = e.reason.empty() ? std::nullopt : std::optional<std::string>(e.reason);
      rec.started_at = e.started_at;
      rec.ended_at = e.ended_at;
      if (t.to == TaskState::scheduled) rec.ready_at = now;
      if (t.to == TaskState::running) running_tis.insert({r.rec.pk, t.ti});
      if (t.from == TaskState::running) running_tis.erase({r.rec.pk, t.ti});
      if ((is_finished(t.to) || t.to == TaskState::pending) && e.parent < 0 && spec_of(r, t.ti).depends_on_past)
        past_changed.insert({r.rec.dag_id, r.rec.logical_date.time_since_epoch().count()});
      if (t.to == TaskState::pending) {
        rec.exit_code.reset();
        rec.worker.reset();
      }
      batch.task_instances.push_back(rec);
      // Datasets: a task's success (a foreach task's when its mapped instances
      // all ended: its own instance, not each mapped one).
      if (t.to == TaskState::success && in_report && e.parent < 0 &&
          (t.from == TaskState::running || t.from == TaskState::pending))
        produced(r, t.ti, now);
      ReadyKey key = ready_key(r, t.ti);
      if (t.from == TaskState::scheduled) ready_of(r, t.ti).erase(key);
      if (t.to == TaskState::scheduled) ready_of(r, t.ti).insert(key);
      if (t.to == TaskState::waiting && e.wake_at) run_wake.emplace(*e.wake_at, r.rec.pk);  // the next poke
      if (t.to == TaskState::up_for_retry && e.wake_at) {
        run_wake.emplace(*e.wake_at, r.rec.pk);
        queue_notification(r, "on_retry",
                           json{{"task_id", rec.task_id}, {"try_number", e.try_number}, {"reason", e.reason},
                                {"retry_at", format_utc(*e.wake_at)}});
      }
      if (holds_slot(t.from) && !holds_slot(t.to)) release(r, t.ti);
      if (options.shared && (t.from == TaskState::running || t.from == TaskState::queued) && !holds_slot(t.to) &&
          !in_report && rec.attempt_token) {
        // A remote try ended here (canceled, marked): out of the queue, so
        // that its worker's heartbeat hears it is stale and kills it.
        batch.dequeue.push_back(*rec.attempt_token);
        if (t.from == TaskState::queued) end_try(r, rec, rec.try_number + 1, t.to, now);  // the try that never began
      }
      if (t.from == TaskState::running && !in_report) {
        // Canceled or marked while running: the process is killed and its
        // try ends now (the worker's late report is then refused).
        kill_try(rec.id);
        end_try(r, rec, rec.try_number, t.to, now);
        if (spec_of(r, t.ti).type == dsl::TaskType::trigger_dag) cancel_triggered(r.rec.pk, t.ti);
      }
      if (t.from == TaskState::waiting && is_finished(t.to) && !in_report)
        end_try(r, rec, rec.try_number, t.to, now);  // a sensor canceled or marked between pokes
    }
  }

  // The record of a try the scheduler ended itself (canceled, marked): its
  // token is dropped, so that whatever the worker says of it is stale.
  void end_try(const ActiveRun& r, store::TaskInstanceRecord& rec, int try_number, TaskState to, TimePoint now) {
    store::TryRecord tr;
    tr.ti_id = rec.id;
    tr.try_number = try_number;
    bool began = try_number == rec.try_number;
    tr.state = to == TaskState::success && began ? TaskState::success : TaskState::failed;
    if (began) {
      tr.worker = rec.worker;
      tr.started_at = rec.started_at;
    }
    tr.attempt_token = rec.attempt_token;
    tr.ended_at = now;
    tr.reason = to == TaskState::canceled ? "canceled" : std::string("marked ") + to_string(to);
    tr.log_path = log_rel(r, rec, try_number);
    batch.tries.push_back(tr);
    rec.attempt_token.reset();
    batch.task_instances.back().attempt_token.reset();
  }

  // The task of task instance `ti` (a mapped instance's is its foreach task).
  static const dsl::TaskSpec& spec_of(const ActiveRun& r, int ti) {
    return r.graph->spec().tasks[static_cast<size_t>(r.engine->instances()[static_cast<size_t>(ti)].task)];
  }

  static bool is_foreach(const dsl::TaskSpec& t) { return t.foreach_json || t.foreach_template; }

  // A foreach task's own instance is expanded by the loop, as a noop is run.
  std::set<ReadyKey>& ready_of(const ActiveRun& r, int ti) {
    const auto& spec = spec_of(r, ti);
    if (is_foreach(spec) && r.engine->instances()[static_cast<size_t>(ti)].parent < 0) return ready_noop;
    return spec.type == dsl::TaskType::noop || loop_task(spec.type) ? ready_noop : ready;
  }

  // Where a try's log is, under the logs folder: DAG/RUN/TASK/TRY.log, and
  // DAG/RUN/TASK/MAP_INDEX/TRY.log for a mapped instance.
  static std::string log_rel(const ActiveRun& r, const store::TaskInstanceRecord& rec, int try_number) {
    std::string dir = r.rec.dag_id + "/" + r.rec.run_id + "/" + rec.task_id;
    if (rec.map_index >= 0) dir += "/" + std::to_string(rec.map_index);
    return dir + "/" + std::to_string(try_number) + ".log";
  }

  ReadyKey ready_key(const ActiveRun& r, int ti) const {
    return ReadyKey{r.rec.run_type == "backfill" || r.rec.backfill_id ? 1 : 0, -r.tis[static_cast<size_t>(ti)].priority,
                    r.rec.logical_date.time_since_epoch().count(), r.rec.pk, ti};
  }

  // Pool slots and the DAG's task count follow task states; worker slots
  // follow the worker threads (freed when a worker reports, see on_finished).
  void release(ActiveRun& r, int ti) {
    const auto& rec = r.tis[static_cast<size_t>(ti)];
    pool_used[rec.pool] -= rec.pool_slots;
    --dags[r.rec.dag_id].running_tasks;
  }

  void kill_try(long long ti_id) {
    std::lock_guard lock(cancel_mu);
    auto it = cancel_flags.find(ti_id);
    if (it != cancel_flags.end()) it->second->store(true);
  }

  // After changes: retire finished runs, start queued ones, dispatch.
  void settle(ActiveRun& r) {
    std::string dag_id = r.rec.dag_id;
    if (is_finished(r.engine->state())) {
      log->info("run {} {} {}", dag_id, r.rec.run_id, to_string(r.engine->state()));
      run_ended(r);
      drop_run(r.rec.pk);
      start_runs(dag_id);
      auto d = dags.find(dag_id);
      if (d != dags.end() && d->second.graph && d->second.graph->spec().catchup) plan_dag(d->second);
    }
    dispatch();
  }

  // ================= dispatch =================

  std::string pool_block(const std::string& pool, int slots) {
    auto size = pool_slots.find(pool);
    int total = size == pool_slots.end() ? 0 : size->second;
    int used = pool_used[pool];
    if (used + slots <= total) return "";
    if (size == pool_slots.end()) return "pool " + pool + " does not exist (create it with PUT /api/v1/pools/" + pool + ")";
    return "pool " + pool + ": " + std::to_string(used) + " of " + std::to_string(total) + " slots taken";
  }

  std::string task_limit_block(const std::string& dag_id) {
    auto d = dags.find(dag_id);
    if (d == dags.end() || !d->second.graph) return "";
    int limit = d->second.graph->spec().max_active_tasks;
    if (d->second.running_tasks < limit) return "";
    return "max_active_tasks: " + std::to_string(d->second.running_tasks) + " of " + std::to_string(limit) +
           " task instances of the DAG are active";
  }

  // Hands ready task instances out within the limits. A noop task (like
  // Airflow's EmptyOperator) takes no worker: it is queued, started and
  // finished here, in this turn, and what it unblocks goes next — a chain of
  // noops ends in one turn and one transaction. Re-entered from a finish
  // (settle), it only asks the running pass to go round once more.
  void dispatch() {
    if (stopping) return;
    if (dispatching) {
      dispatch_again = true;
      return;
    }
    dispatching = true;
    do {
      dispatch_again = false;
      dispatch_noops();
      dispatch_to_workers();
    } while (dispatch_again && !stopping);
    dispatching = false;
  }

  void dispatch_noops() {
    if (ready_noop.empty()) return;
    std::vector<ReadyKey> keys(ready_noop.begin(), ready_noop.end());
    for (const ReadyKey& key : keys) {
      if (!ready_noop.count(key)) continue;  // decided meanwhile (its run was canceled)
      auto rit = runs.find(key.run_pk);
      if (rit == runs.end()) {
        ready_noop.erase(key);
        continue;
      }
      ActiveRun& r = rit->second;
      if (r.engine->needs_expansion(key.ti)) {
        expand(r, key.ti);  // takes no slot
        continue;
      }
      auto& rec = r.tis[static_cast<size_t>(key.ti)];
      if (!pool_block(rec.pool, rec.pool_slots).empty() || !task_limit_block(r.rec.dag_id).empty()) continue;
      // start_try takes a worker slot and on_finished gives it back.
      if (!start_try(r, key.ti)) continue;
      if (dsl::is_sensor(spec_of(r, key.ti).type)) {
        ++free_workers;  // a poke takes no worker slot: the poker thread does it
        {
          std::lock_guard lock(poke_mu);
          pokes.push_back(assignment(r, key.ti));
        }
        poke_cv.notify_one();
        continue;
      }
      if (spec_of(r, key.ti).type == dsl::TaskType::trigger_dag) {
        ++free_workers;  // no worker either: the loop triggers and watches
        start_trigger(r, key.ti);
        continue;
      }
      on_finished(Finished{key.run_pk, key.ti, *rec.attempt_token, TryOutcome::success, "", std::nullopt,
                           std::nullopt, 0});
    }
  }

  void dispatch_to_workers() {
    for (auto it = ready.begin(); it != ready.end() && free_workers > 0;) {
      ReadyKey key = *it;
      auto rit = runs.find(key.run_pk);
      if (rit == runs.end()) {
        it = ready.erase(it);
        continue;
      }
      ActiveRun& r = rit->second;
      auto& rec = r.tis[static_cast<size_t>(key.ti)];
      if (!pool_block(rec.pool, rec.pool_slots).empty() || !task_limit_block(r.rec.dag_id).empty()) {
        ++it;
        continue;
      }
      ++it;  // queue() erases key from `ready` through apply_transitions
      start_try(r, key.ti);
    }
  }

  // Members (not standalone) hand every try but noops, sensors and
  // trigger_dag to the remote workers.
  bool runs_remote(const ActiveRun& r, int ti) const {
    auto type = spec_of(r, ti).type;
    return options.shared && type != dsl::TaskType::noop && !loop_task(type);
  }

  // Queues and starts a try of a scheduled task instance; a try for a worker
  // joins to_dispatch. False when the engine refused (nothing changed).
  bool start_try(ActiveRun& r, int ti) {
    auto q = r.engine->queue(ti);
    if (!q) return false;
    --free_workers;
    auto& rec = r.tis[static_cast<size_t>(ti)];
    pool_used[rec.pool] += rec.pool_slots;
    ++dags[r.rec.dag_id].running_tasks;
    rec.attempt_token = random_hex(16);
    if (runs_remote(r, ti)) {
      // For the remote workers: queued until one claims it (its started
      // event then begins the try, see on_started).
      rec.worker.reset();
      apply_transitions(r, *q);
      enqueue_remote(r, ti);
      return true;
    }
    rec.worker = options.member_id + "/local";
    if (spec_of(r, ti).type != dsl::TaskType::noop && !loop_task(spec_of(r, ti).type)) {
      std::lock_guard lock(cancel_mu);
      cancel_flags[rec.id] = std::make_shared<std::atomic<bool>>(false);
    }
    apply_transitions(r, *q);
    return begin(r, ti, true);
  }

  // The try of a queued task instance begins: on a local worker (`local`),
  // or on the remote worker that claimed it.
  bool begin(ActiveRun& r, int ti, bool local) {
    auto& rec = r.tis[static_cast<size_t>(ti)];
    auto b = r.engine->begin_try(ti);
    if (!b) return false;
    rec.heartbeat_at = clock.now();
    rec.last_activity_at.reset();
    if (rec.ready_at) {
      double lat = std::chrono::duration<double>(clock.now() - *rec.ready_at).count();
      size_t k = 0;
      while (k < std::size(kLatencyBounds) && lat > kLatencyBounds[k]) ++k;
      ++latency_buckets[k];
      ++latency_count;
      latency_sum += lat;
    }
    apply_transitions(r, *b);
    if (auto d = spec_of(r, ti).sla_max_duration; d && r.rec.run_type != "backfill") {
      int try_number = r.engine->instances()[static_cast<size_t>(ti)].try_number;
      sla_due.emplace(clock.now() + *d,
                      SlaCheck{"task_duration", r.rec.dag_id, r.rec.run_id, r.rec.pk, ti, try_number, clock.now() + *d});
    }
    const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
    const dsl::TaskSpec& spec = spec_of(r, ti);
    store::TryRecord tr;
    tr.ti_id = rec.id;
    tr.try_number = e.try_number;
    tr.state = TaskState::running;
    tr.worker = rec.worker;
    tr.attempt_token = rec.attempt_token;
    tr.queued_at = clock.now();
    tr.started_at = clock.now();
    tr.log_path = log_rel(r, rec, e.try_number);
    batch.tries.push_back(tr);
    // dispatch_noops finishes a noop, and hands a sensor to the poker.
    if (spec.type == dsl::TaskType::noop || loop_task(spec.type) || !local) return true;
    to_dispatch.push_back(assignment(r, ti));
    return true;
  }

  // What a worker needs for a try of task instance `ti` (templates not rendered yet).
  Assignment assignment(ActiveRun& r, int ti) {
    auto& rec = r.tis[static_cast<size_t>(ti)];
    const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
    // A queued try (for a remote worker) gets its number when it begins.
    const int try_number = e.state == TaskState::queued ? e.try_number + 1 : e.try_number;
    const dsl::TaskSpec& spec = spec_of(r, ti);
    Assignment a;
    a.run_pk = r.rec.pk;
    a.ti = ti;
    a.ti_id = rec.id;
    a.attempt_token = *rec.attempt_token;
    a.type = spec.type;
    a.command_template = spec.command.text;
    a.env_templates = spec.env;
    a.graph = r.graph;
    a.spec = &spec;
    a.ctx = render_context(r, ti, try_number);
    auto& sh = a.shell;
    sh.dag_id = r.rec.dag_id;
    sh.run_id = r.rec.run_id;
    sh.task_id = spec.id;
    sh.map_index = rec.map_index;
    sh.try_number = try_number;
    sh.logical_date = format_utc(r.rec.logical_date);
    sh.data_interval_start = format_utc(r.rec.data_interval_start);
    sh.data_interval_end = format_utc(r.rec.data_interval_end);
    sh.params_json = r.rec.params;
    sh.working_dir = spec.working_dir;
    sh.skip_exit_code = spec.skip_exit_code;
    sh.timeout = spec.timeout;
    sh.kill_grace = spec.kill_grace;
    sh.log_path = options.logs_dir + "/" + log_rel(r, rec, try_number);
    sh.scratch_dir = options.logs_dir + "/.scratch/" + std::to_string(rec.id) + "-" + std::to_string(try_number);
    sh.heartbeat_interval = options.heartbeat_interval;
    return a;
  }

  // The values a task instance's templates see (SPEC §3). Outputs are
  // copied only of the tasks its templates read (the compiler found them,
  // all ancestors): a foreach task's is the list of its mapped instances'
  // outputs, by map_index (null where one has none).
  dsl::RenderContext render_context(const ActiveRun& r, int ti, int try_number) const {
    const auto& rec = r.tis[static_cast<size_t>(ti)];
    dsl::RenderContext ctx;
    ctx.zone = r.graph->schedule().zone();
    if (!r.graph->schedule().is_time_based()) {
      auto z = TimeZone::find(r.graph->spec().timezone);
      if (z) ctx.zone = *z;
    }
    ctx.logical_date = r.rec.logical_date;
    ctx.data_interval_start = r.rec.data_interval_start;
    ctx.data_interval_end = r.rec.data_interval_end;
    ctx.run_id = r.rec.run_id;
    ctx.dag_id = r.rec.dag_id;
    ctx.task_id = rec.task_id;
    ctx.try_number = try_number;
    ctx.map_index = rec.map_index;
    ctx.item_json = rec.item;
    ctx.params_json = r.rec.params;
    for (const auto& name : spec_of(r, ti).reads_outputs) {
      const int idx = r.graph->index_of(name);
      if (idx < 0 || static_cast<size_t>(idx) >= r.tis.size()) continue;
      const size_t k = static_cast<size_t>(idx);
      const auto& mapped = r.engine->mapped(static_cast<int>(k));
      if (mapped.empty()) {
        if (r.tis[k].output) ctx.outputs_json[r.tis[k].task_id] = *r.tis[k].output;
        continue;
      }
      std::string list = "[";
      for (size_t m = 0; m < mapped.size(); ++m) {
        const auto& out = r.tis[static_cast<size_t>(mapped[m])].output;
        if (m) list += ",";
        list += out ? *out : "null";
      }
      ctx.outputs_json[r.tis[k].task_id] = list + "]";
    }
    return ctx;
  }

  // `var.NAME` in a try's templates: read from the store when rendered (on a
  // worker or poker thread, or the loop for trigger_dag).
  void bind_variables(Assignment& a) { a.ctx.variable = variables(); }
  std::function<std::optional<std::string>(const std::string&)> variables() {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto v = store.get_variable(name);
      if (!v) return std::nullopt;
      return v->value;
    };
  }

  // Renders the templates of a try (the command and env of a shell task; the
  // url, headers and body of http; the statements of sql, whose connection
  // is looked up); false (and `why`) when one cannot be rendered. Variables
  // and connections are read from the store: on a worker thread, not the loop.
  bool render(Assignment& a, std::string& why) {
    bind_variables(a);
    a.shell.ds = dsl::render_template("{{ ds }}", a.ctx).value();
    auto text = [&](const dsl::TemplateText& t, const std::string& key, std::string& out) {
      auto r = dsl::render_template(t.text, a.ctx);
      if (!r) why = key + ": " + r.error().message;
      else out = *r;
      return r.ok();
    };
    if (a.type == dsl::TaskType::http) {
      const dsl::TaskSpec& s = *a.spec;
      a.http.method = s.method;
      a.http.expect_status = s.expect_status;
      a.http.timeout = s.timeout;
      a.http.log_path = a.shell.log_path;
      a.http.heartbeat_interval = options.heartbeat_interval;
      if (!text(s.url, "url", a.http.url) || !text(s.body, "body", a.http.body)) return false;
      for (auto& [k, v] : s.headers)
        if (!text(v, "headers." + k, a.http.headers[k])) return false;
      return true;
    }
    if (a.type == dsl::TaskType::sql) {
      const dsl::TaskSpec& s = *a.spec;
      a.sql.connection = s.connection;
      a.sql.timeout = s.timeout;
      a.sql.log_path = a.shell.log_path;
      a.sql.heartbeat_interval = options.heartbeat_interval;
      if (!text(s.sql, "sql", a.sql.sql)) return false;
      auto c = store.get_connection(s.connection);
      if (!c) {
        why = c.error().code == "not_found"
                  ? "no connection named \"" + s.connection + "\" (add it with `baton connections set " +
                        s.connection + " URL` or PUT /api/v1/connections/" + s.connection + ")"
                  : "connection " + s.connection + ": " + c.error().message;
        return false;
      }
      a.sql.url = c->url;
      return true;
    }
    auto cmd = dsl::render_template(a.command_template, a.ctx);
    if (!cmd) {
      why = cmd.error().message;
      return false;
    }
    a.shell.command = *cmd;
    for (auto& [k, v] : a.env_templates) {
      auto r = dsl::render_template(v.text, a.ctx);
      if (!r) {
        why = "env " + k + ": " + r.error().message;
        return false;
      }
      a.shell.env[k] = *r;
    }
    return true;
  }

  // Shared mode: the try goes into the store's queue for the remote workers,
  // rendered, with this turn's write (fenced by the partition's epoch).
  void enqueue_remote(ActiveRun& r, int ti) {
    auto& rec = r.tis[static_cast<size_t>(ti)];
    const auto& e = r.engine->instances()[static_cast<size_t>(ti)];
    Assignment a = assignment(r, ti);
    const int try_number = e.try_number + 1;  // begin_try counts it
    json p;
    std::string why;
    if (!executor_runs(a.type)) {
      p["error"] = std::string("task type ") + dsl::to_string(a.type) + " is not supported yet";
    } else if (!render(a, why)) {
      p["error"] = why;
    }
    p["type"] = dsl::to_string(a.type);
    if (a.type == dsl::TaskType::http)
      p["http"] = {{"method", a.http.method}, {"url", a.http.url},         {"headers", a.http.headers},
                   {"body", a.http.body},     {"expect_status", a.http.expect_status}};
    if (a.type == dsl::TaskType::sql)  // the connection's URL goes to the worker, as it must to connect
      p["sql"] = {{"connection", a.sql.connection}, {"url", a.sql.url}, {"sql", a.sql.sql}};
    const auto& sh = a.shell;
    p["dag_id"] = sh.dag_id;
    p["run_id"] = sh.run_id;
    p["task_id"] = sh.task_id;
    p["map_index"] = sh.map_index;
    p["try_number"] = sh.try_number;
    p["logical_date"] = sh.logical_date;
    p["data_interval_start"] = sh.data_interval_start;
    p["data_interval_end"] = sh.data_interval_end;
    p["ds"] = sh.ds;
    p["params"] = sh.params_json;
    p["command"] = sh.command;
    p["env"] = sh.env;
    p["working_dir"] = sh.working_dir;
    p["skip_exit_code"] = sh.skip_exit_code;
    if (sh.timeout) p["timeout_us"] = sh.timeout->count();
    p["kill_grace_us"] = sh.kill_grace.count();
    p["heartbeat_interval_us"] = options.heartbeat_interval.count();
    p["zombie_timeout_us"] = options.zombie_timeout.count();  // the worker kills the try itself before then
    p["log_path"] = log_rel(r, rec, try_number);
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
    q.payload = p.dump(-1, ' ', false, json::error_handler_t::replace);
    q.queued_at = clock.now();
    batch.enqueue.push_back(std::move(q));
    store::TryRecord tr;
    tr.ti_id = rec.id;
    tr.try_number = try_number;
    tr.state = TaskState::queued;
    tr.attempt_token = rec.attempt_token;
    tr.queued_at = clock.now();
    tr.log_path = p["log_path"].get<std::string>();
    batch.tries.push_back(tr);
  }

  // ================= events =================

  void on_finished(const Finished& f) {
    if (f.worker_slot) ++free_workers;  // the worker thread is free, whatever its report says
    auto rit = runs.find(f.run_pk);
    if (rit == runs.end()) return;  // the run was canceled and retired
    ActiveRun& r = rit->second;
    auto& rec = r.tis[static_cast<size_t>(f.ti)];
    // A stale report (the try was failed, canceled or handed to another
    // worker) never overwrites a newer state.
    if (rec.attempt_token != f.attempt_token || rec.state != TaskState::running) return;
    int try_number = rec.try_number;
    auto t = r.engine->finish_try(f.ti, f.outcome, f.reason);
    if (!t) return;
    rec.exit_code = f.exit_code;
    if (f.outcome == TryOutcome::success && f.output) rec.output = f.output;
    in_report = true;
    apply_transitions(r, *t);
    in_report = false;
    store::TryRecord tr;
    tr.ti_id = rec.id;
    tr.try_number = try_number;
    tr.state = f.outcome == TryOutcome::success   ? TaskState::success
               : f.outcome == TryOutcome::skipped ? TaskState::skipped
               : rec.state == TaskState::waiting  ? TaskState::waiting  // a sensor's try goes on
                                                  : TaskState::failed;
    tr.worker = rec.worker;
    tr.attempt_token = f.attempt_token;
    tr.started_at = rec.started_at;
    tr.queued_at = rec.started_at;
    if (tr.state != TaskState::waiting) tr.ended_at = clock.now();
    tr.exit_code = f.exit_code;
    tr.reason = f.reason.empty() ? std::nullopt : std::optional<std::string>(f.reason);
    tr.log_path = log_rel(r, rec, try_number);
    tr.log_bytes = f.log_bytes;
    batch.tries.push_back(tr);
    settle(r);
  }

  void on_heartbeat(long long run_pk, int ti, const std::string& token, std::optional<TimePoint> activity) {
    auto rit = runs.find(run_pk);
    if (rit == runs.end()) return;
    auto& rec = rit->second.tis[static_cast<size_t>(ti)];
    if (rec.attempt_token != token || rec.state != TaskState::running) return;
    rec.heartbeat_at = clock.now();
    if (activity) rec.last_activity_at = activity;
    batch.task_instances.push_back(rec);
  }

  // ================= membership =================

  store::MemberRecord member_record() const {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    TimePoint now = clock.now();
    return store::MemberRecord{options.member_id, host, static_cast<int>(getpid()), member_started, now,
                               now + options.member_lease};
  }

  // Joins as a member and takes every partition (bumping the epoch of any
  // that a previous process held). A shared member only joins: the leader
  // gives it partitions (membership_tick).
  Status join() {
    member_started = clock.now();
    if (options.shared) {
      auto l = store::hold_member_lock(store.url(), options.member_id);
      if (!l) return l.error();
      member_lock = std::move(*l);
    }
    if (auto s = store.heartbeat_member(member_record()); !s) return s;
    member_renewed = clock.now();
    if (options.shared) return {};
    (void)store.set_leader(options.member_id);  // the one scheduling process leads itself
    std::vector<std::pair<int, std::optional<std::string>>> all;
    for (int p = 0; p < kPartitions; ++p) all.push_back({p, options.member_id});
    auto parts = store.assign_partitions(all, "system");
    if (!parts) return parts.error();
    fences.clear();
    for (auto& p : *parts)
      if (p.owner == options.member_id) fences.push_back({p.partition, p.epoch});
    return {};
  }

  void renew_membership() {
    if (member_renewed && clock.now() - *member_renewed < options.member_heartbeat) return;
    if (auto s = store.heartbeat_member(member_record()); !s) {
      log->error("renewing membership: {}", s.error().message);
      return;
    }
    member_renewed = clock.now();
  }

  // Shared mode, every poll: lead if the leader lock is free (and while it
  // is held, give the partitions to the live members by rendezvous hashing:
  // a join or a death moves only what it must), then follow the partition
  // table: load what this member gained, drop what it lost.
  void membership_tick() {
    renew_membership();
    if (member_lock && !member_lock->check()) member_lock.reset();
    if (!member_lock)
      if (auto l = store::hold_member_lock(store.url(), options.member_id)) member_lock = std::move(*l);
    if (leader_lock && !leader_lock->check()) {
      log->warn("lost the leader lock");
      leader_lock.reset();
    }
    if (!leader_lock) {
      if (auto l = store::try_leader_lock(store.url(), options.member_id)) {
        leader_lock = std::move(*l);
        log->info("member {} leads", options.member_id);
        (void)store.set_leader(options.member_id);
      } else {
        break_stale_leader();
      }
    }
    if (leader_lock) {
      assign_partitions();
      // Answered intents are kept an hour (for whoever looks into them), then dropped.
      if (!commands_pruned || clock.now() - *commands_pruned > std::chrono::minutes(1)) {
        (void)store.prune_commands(clock.now() - std::chrono::hours(1));
        commands_pruned = clock.now();
      }
    }
    refresh_ownership(false);
  }

  // A leader that is paused or cut off keeps its session, and with it the
  // leader lock: once its lease is over, its session is ended, so that a
  // live member leads from the next tick (the paused one, when it wakes,
  // finds its lock gone and its writes fenced).
  void break_stale_leader() {
    auto leader = store.get_leader();
    auto members = store.list_members();
    if (!leader || !*leader || !members) return;
    for (auto& m : *members)
      if (m.member_id == **leader && m.lease_expires_at > clock.now()) return;  // alive
    log->warn("leader {} missed its lease: ending its leader lock's session", **leader);
    (void)store.break_leader_lock(**leader);
  }

  void assign_partitions() {
    auto members = store.list_members();
    auto parts = store.list_partitions();
    if (!members || !parts) return;
    TimePoint now = clock.now();
    std::vector<std::string> live;
    for (auto& m : *members) {
      if (m.lease_expires_at <= now) continue;
      // Killed outright: its member lock is gone before its lease is.
      if (auto alive = store.member_alive(m.member_id); alive && !*alive) continue;
      live.push_back(m.member_id);
    }
    auto want = rendezvous_assignment(kPartitions, live);
    std::map<int, std::optional<std::string>> have;
    for (auto& p : *parts) have[p.partition] = p.owner;
    std::vector<std::pair<int, std::optional<std::string>>> moves;
    for (auto& [p, owner] : want)
      if (!have.count(p) || have[p] != owner) moves.push_back({p, owner});
    if (moves.empty()) return;
    if (auto r = store.assign_partitions(moves, "system"); !r) {
      log->error("assigning partitions: {}", r.error().message);
      return;
    }
    log->info("leader {} moved {} partitions among {} live members", options.member_id, moves.size(), live.size());
    (void)store.set_leader(options.member_id);
  }

  // Reads the partition table; when what this member owns changed (or
  // `force`), its memory is loaded again from the store for exactly the
  // partitions it owns now.
  void refresh_ownership(bool force) {
    auto parts = store.list_partitions();
    if (!parts) return;
    std::vector<store::Fence> now_fences;
    for (auto& p : *parts)
      if (p.owner == options.member_id) now_fences.push_back({p.partition, p.epoch});
    auto same = [&] {
      if (now_fences.size() != fences.size()) return false;
      for (size_t i = 0; i < fences.size(); ++i)
        if (fences[i].partition != now_fences[i].partition || fences[i].epoch != now_fences[i].epoch) return false;
      return true;
    };
    if (!force && same()) return;
    // What this member did up to now is written under the epochs it held
    // (refused if one moved meanwhile: then the store has none of it).
    write_batch();
    batch = {};
    fences = now_fences;
    owned.clear();
    for (auto& f : fences) owned.insert(f.partition);
    {
      std::lock_guard lock(owned_mu);
      owned_copy.assign(owned.begin(), owned.end());
    }
    log->info("member {} owns {} partitions", options.member_id, owned.size());
    reload_owned();
  }

  // Forgets every run and backfill, then loads those of the owned
  // partitions from the store, as a restart would (but tries of remote
  // workers keep running: their workers are alive, or the zombie check says
  // otherwise).
  void reload_owned() {
    datasets_seen = -1;  // the dataset DAGs it owns now are checked at the next poll
    runs.clear();
    runs_by_dag.clear();
    backfills.clear();
    running_tis.clear();
    past_changed.clear();
    past_retry.clear();
    ready.clear();
    ready_noop.clear();
    dag_due.clear();
    run_wake.clear();
    sla_due.clear();
    pool_used.clear();
    if (auto list = store.list_dags())
      for (auto& d : *list) {
        auto it = dags.find(d.dag_id);
        if (it == dags.end()) continue;
        it->second.paused = d.paused;
        it->second.active = d.active;
        it->second.last_tick = d.last_tick;
      }
    for (auto& [_, d] : dags) {
      d.running_tasks = 0;
      d.next_due.reset();
    }
    queued_remote.clear();
    recover();
    requeue_lost();
    write_batch();
    recover_backfills();
    arm_finished_run_slas();
    for (auto& [_, d] : dags) plan_dag(d);
    dispatch();
  }

  // Shared mode: what remote workers did (claimed, finished), applied by
  // the owner in its loop; the events leave the store with the changes.
  void drain_events() {
    drain_posted = false;
    if (!options.shared || owned.empty() || stopping) return;
    std::vector<int> parts(owned.begin(), owned.end());
    for (int round = 0; round < 100; ++round) {
      auto evs = store.worker_events(parts, 1000);
      if (!evs || evs->empty()) break;
      for (auto& ev : *evs) {
        batch.events_done.push_back(ev.id);
        auto rit = runs.find(ev.run_pk);
        if (rit == runs.end() || ev.task_index < 0 ||
            static_cast<size_t>(ev.task_index) >= rit->second.tis.size())
          continue;  // the run is over (canceled): nothing to apply
        ActiveRun& r = rit->second;
        auto& rec = r.tis[static_cast<size_t>(ev.task_index)];
        if (rec.attempt_token != ev.attempt_token) continue;  // stale
        if (ev.kind == "started") {
          if (r.engine->instances()[static_cast<size_t>(ev.task_index)].state != TaskState::queued) continue;
          rec.worker = ev.worker;
          begin(r, ev.task_index, false);
        } else if (ev.kind == "finished") {
          json b = json::parse(ev.body, nullptr, false);
          if (!b.is_object()) b = json::object();
          Finished f{ev.run_pk, ev.task_index, ev.attempt_token, TryOutcome::failed, "", std::nullopt, std::nullopt, 0};
          std::string outcome = b.value("outcome", "failed");
          f.outcome = outcome == "success"   ? TryOutcome::success
                      : outcome == "skipped" ? TryOutcome::skipped
                      : outcome == "timeout" ? TryOutcome::timeout
                      : outcome == "shutdown" ? TryOutcome::shutdown
                                              : TryOutcome::failed;
          f.reason = b.value("reason", "");
          if (b.contains("exit_code") && b["exit_code"].is_number_integer()) f.exit_code = b["exit_code"].get<int>();
          if (b.contains("output") && b["output"].is_object()) f.output = b["output"].dump();
          f.log_bytes = b.value("log_bytes", 0LL);
          on_finished(f);  // settles the run
        }
      }
      write_batch();
      if (evs->size() < 1000) break;
    }
    dispatch();
  }

  // After a reload: a queued remote try whose queue row is gone with no
  // report waiting (queued by a process that did not write the queue, e.g.
  // standalone before the switch) goes back to the ready set. Never queued
  // again under its old token: a row missing because a worker claimed and
  // reported it must not run a second time.
  std::vector<std::pair<long long, int>> queued_remote;
  void requeue_lost() {
    auto lost = lost_among(queued_remote, kMinInstant);  // a far cutoff: only tries without a row count
    queued_remote.clear();
    for (auto& [pk, ti] : lost)
      if (auto q = runs.at(pk).engine->requeue(ti)) apply_transitions(runs.at(pk), *q);
    dispatch();
  }

  // Shared mode: remote tries whose claims stopped heartbeating for
  // zombie_timeout (or vanished) fail as worker_lost. A try that just began
  // has had no chance to heartbeat.
  void check_remote_zombies() {
    std::vector<std::pair<long long, int>> old;
    for (auto& [pk, ti] : running_tis) {
      auto rit = runs.find(pk);
      if (rit == runs.end()) continue;
      const auto& rec = rit->second.tis[static_cast<size_t>(ti)];
      if (loop_task(spec_of(rit->second, ti).type)) continue;  // carried out here, not on a remote worker
      if (!rec.started_at || clock.now() - *rec.started_at >= options.zombie_timeout) old.push_back({pk, ti});
    }
    for (auto& [pk, ti] : lost_among(old, clock.now() - options.zombie_timeout)) {
      auto rit = runs.find(pk);
      if (rit == runs.end()) continue;  // an earlier loss in this pass ended its run
      fail_lost(rit->second, ti, "no heartbeat from its worker for " + format_duration(options.zombie_timeout));
      settle(rit->second);
    }
  }

  // Which of these remote tries (run pk, index) the store says are lost
  // (store::lost_tries with `cutoff`), while they still hold the same token.
  std::vector<std::pair<long long, int>> lost_among(const std::vector<std::pair<long long, int>>& tis, TimePoint cutoff) {
    std::vector<std::string> tokens;
    std::map<std::string, std::pair<long long, int>> by_token;
    for (auto& [pk, ti] : tis) {
      auto rit = runs.find(pk);
      if (rit == runs.end()) continue;
      const auto& rec = rit->second.tis[static_cast<size_t>(ti)];
      if (!rec.attempt_token) continue;
      tokens.push_back(*rec.attempt_token);
      by_token[*rec.attempt_token] = {pk, ti};
    }
    std::vector<std::pair<long long, int>> out;
    if (tokens.empty()) return out;
    auto lost = store.lost_tries(tokens, cutoff);
    if (!lost) return out;
    for (auto& tok : *lost) {
      auto [pk, ti] = by_token[tok];
      auto rit = runs.find(pk);
      if (rit != runs.end() && rit->second.tis[static_cast<size_t>(ti)].attempt_token == tok) out.push_back({pk, ti});
    }
    return out;
  }

  // Shared mode: a thread of its own that sleeps on the store's
  // notifications; worker events wake the loop, commands for the owned
  // partitions are carried out from here (Control calls post to the loop).
  void listener_main() {
    std::unique_ptr<store::Listener> l;
    auto last_sweep = std::chrono::steady_clock::time_point{};
    while (!listener_stop) {
      if (!l) {
        auto o = store::open_listener(store.url(), {"baton_events", "baton_partitions"});
        if (!o) {
          log->warn("listening for events: {}", o.error().message);
          std::this_thread::sleep_for(std::chrono::seconds(1));
          continue;
        }
        l = std::move(*o);
      }
      auto w = l->wait(std::chrono::milliseconds(250));
      if (!w) {
        l.reset();
        continue;
      }
      if (listener_stop) break;
      const bool moved = std::find(w->begin(), w->end(), "baton_partitions") != w->end();
      if (moved)
        asio::post(io, [this] {
          if (stopping) return;
          refresh_ownership(false);
          flush();
        });
      std::vector<int> parts;
      {
        std::lock_guard lock(owned_mu);
        parts = owned_copy;
      }
      // What woke it: worker events (`e:P`) or commands (`c:P`) of a
      // partition; only its own partitions' are its business (every member
      // hears every notification). At least every 250 ms, and after a
      // notification without a partition or a change of partitions, both
      // are looked for, as a sweep: for what came while it was not
      // listening, or for a partition it gained since the notification.
      const auto now = std::chrono::steady_clock::now();
      bool sweep = moved || now - last_sweep >= std::chrono::milliseconds(250);
      bool events = sweep, commands = sweep;
      if (sweep) last_sweep = now;
      for (const auto& n : *w) {
        static const std::string kPrefix = "baton_events:";
        if (n == "baton_events") events = commands = true;
        if (n.size() < kPrefix.size() + 3 || n.compare(0, kPrefix.size(), kPrefix) != 0) continue;
        const char kind = n[kPrefix.size()];
        const int part = std::atoi(n.c_str() + kPrefix.size() + 2);
        if (!std::binary_search(parts.begin(), parts.end(), part)) continue;
        (kind == 'c' ? commands : events) = true;
      }
      if (events && !drain_posted.exchange(true)) asio::post(io, [this] {
          drain_events();
          request_flush();
        });
      if (parts.empty() || !commands) continue;
      auto cmds = store.pending_commands(parts, 100);
      if (!cmds) continue;
      if (cmds->size() == 100) last_sweep = {};  // more may wait: look again at once
      for (auto& c : *cmds) {
        if (listener_stop) break;
        commands::execute(*self_ptr, c);
      }
    }
  }
  Control* self_ptr = nullptr;  // the Scheduler: commands go through its Control calls

  // ================= notifications =================

  // Adds the event to the outbox (written with this turn's changes); the
  // notifier thread delivers it, so a slow or failing target never holds up
  // the loop.
  void queue_notification(const ActiveRun& r, const char* event, json details) {
    details["run_type"] = r.rec.run_type;
    details["state"] = to_string(r.engine->state());
    details["logical_date"] = format_utc(r.rec.logical_date);
    details["data_interval_start"] = format_utc(r.rec.data_interval_start);
    details["data_interval_end"] = format_utc(r.rec.data_interval_end);
    queue_notification(r.rec.dag_id, r.rec.run_id, *r.graph, event, std::move(details));
  }

  void queue_notification(const std::string& dag_id, const std::string& run_id, const dsl::DagGraph& g,
                          const std::string& event, json details) {
    const auto& spec = g.spec();
    const auto& targets = event == "on_success"   ? spec.on_success
                          : event == "on_failure" ? spec.on_failure
                          : event == "on_retry"   ? spec.on_retry
                                                  : spec.on_sla_miss;
    if (targets.empty()) return;
    details["event"] = event;
    details["dag_id"] = dag_id;
    details["run_id"] = run_id;
    details["at"] = format_utc(clock.now());
    std::string payload = details.dump(-1, ' ', false, json::error_handler_t::replace);
    for (auto& t : targets) {
      store::NotificationRecord n;
      n.event = event;
      n.dag_id = dag_id;
      n.target_kind = t.kind == dsl::NotifyTarget::Kind::webhook ? "webhook" : "command";
      n.target = t.value;
      n.payload = payload;
      n.next_attempt_at = clock.now();
      batch.notifications.push_back(std::move(n));
    }
  }

  void notifier_main() {
    while (true) {
      {
        std::unique_lock lock(notify_mu);
        notify_cv.wait_for(lock, options.notification_poll, [&] { return notify_stop || notify_kick; });
        if (notify_stop) return;
        notify_kick = false;
      }
      auto due = store.due_notifications(clock.now(), 20);
      if (!due) continue;
      for (auto& n : *due) {
        {
          std::lock_guard lock(notify_mu);
          if (notify_stop) return;
        }
        executor::NotificationTarget target{n.target_kind == "webhook" ? executor::NotificationTarget::Kind::webhook
                                                                       : executor::NotificationTarget::Kind::command,
                                            n.target};
        auto sent = executor::deliver(target, n.payload, options.notification_timeout, notify_dir);
        ++n.attempts;
        if (sent) {
          n.state = "sent";
          n.last_error.reset();
        } else {
          n.last_error = sent.error().message;
          Duration delay = options.notification_backoff * (1LL << std::min(n.attempts - 1, 20));
          n.next_attempt_at = clock.now() + std::min<Duration>(delay, std::chrono::minutes(5));
          if (n.attempts >= options.notification_attempts) n.state = "failed";
          log->warn("notification {} of {} to {} (attempt {} of {}): {}", n.event, n.dag_id, n.target, n.attempts,
                    options.notification_attempts, sent.error().message);
        }
        if (auto u = store.update_notification(n); !u) log->error("notification {}: {}", n.id, u.error().message);
      }
    }
  }

  // ================= SLAs =================

  // run_deadline: the run must succeed by data_interval_end + D (SPEC §7).
  // Backfill runs have no SLA: their intervals are long past by design.
  void arm_run_slas(const ActiveRun& r) {
    if (r.rec.run_type == "backfill") return;
    if (auto d = r.graph->spec().sla_run_deadline)
      sla_due.emplace(r.rec.data_interval_end + *d, SlaCheck{"run_deadline", r.rec.dag_id, r.rec.run_id, r.rec.pk, -1,
                                                             0, r.rec.data_interval_end + *d});
  }

  // At start: runs that ended without success keep their run SLAs (the run
  // still has not succeeded when the deadline passes), but are not in
  // memory; the newest of them are checked again (recording is idempotent).
  void arm_finished_run_slas() {
    for (auto& [id, d] : dags) {
      if (!d.graph || !owns(id)) continue;
      const auto& spec = d.graph->spec();
      if (!spec.sla_run_deadline && !spec.sla_run_duration) continue;
      for (RunState st : {RunState::failed, RunState::canceled}) {
        store::RunFilter f;
        f.dag_id = id;
        f.state = st;
        f.limit = 100;
        auto list = store.list_runs(f);
        if (!list) continue;
        for (auto& r : *list) {
          if (r.run_type == "backfill") continue;
          if (spec.sla_run_deadline)
            sla_due.emplace(r.data_interval_end + *spec.sla_run_deadline,
                            SlaCheck{"run_deadline", id, r.run_id, r.pk, -1, 0, r.data_interval_end + *spec.sla_run_deadline});
          if (spec.sla_run_duration && r.started_at)
            sla_due.emplace(*r.started_at + *spec.sla_run_duration,
                            SlaCheck{"run_duration", id, r.run_id, r.pk, -1, 0, *r.started_at + *spec.sla_run_duration});
        }
      }
    }
  }

  // A deadline passed: a miss unless the run succeeded (run SLAs) or the try
  // ended (task SLA) in time. Recorded once per (run, task, kind), also when
  // a restart checks it again.
  void check_sla(const SlaCheck& c) {
    std::string task_id;
    bool missed = false;
    auto mem = runs.find(c.run_pk);
    if (c.kind == "task_duration") {
      if (mem == runs.end()) return;  // the run ended: so did the try
      if (c.ti < 0 || static_cast<size_t>(c.ti) >= mem->second.engine->instances().size()) return;  // gone (a new version)
      const TaskInstance& t = mem->second.engine->instances()[static_cast<size_t>(c.ti)];
      missed = t.state == TaskState::running && t.try_number == c.try_number;
      task_id = mem->second.tis[static_cast<size_t>(c.ti)].task_id;
    } else if (mem != runs.end()) {
      missed = mem->second.engine->state() != RunState::success;
    } else {
      auto rec = store.get_run(c.dag_id, c.run_id);
      missed = rec && rec->state != RunState::success;
    }
    if (!missed) return;
    // Once per (run, task, kind) in this process: the mapped instances of a
    // task share its miss.
    if (!sla_seen.insert({c.run_pk, task_id, c.kind}).second) return;
    // The miss and its on_sla_miss notifications go in the loop's next
    // write, in one transaction; the notifications only with a miss that is
    // new there (a restart checks again what it may have recorded).
    store::WriteBatch::Miss miss{{0, c.dag_id, c.run_id, task_id, c.kind, c.deadline, clock.now()}, {}};
    if (auto d = dags.find(c.dag_id); d != dags.end() && d->second.graph) {
      json details = {{"kind", c.kind}, {"deadline", format_utc(c.deadline)},
                      {"task_id", task_id.empty() ? json(nullptr) : json(task_id)}};
      const size_t before = batch.notifications.size();
      if (mem != runs.end()) queue_notification(mem->second, "on_sla_miss", details);
      else queue_notification(c.dag_id, c.run_id, *d->second.graph, "on_sla_miss", details);
      miss.notifications.assign(std::make_move_iterator(batch.notifications.begin() + static_cast<long>(before)),
                                std::make_move_iterator(batch.notifications.end()));
      batch.notifications.resize(before);
    }
    batch.sla_misses.push_back(std::move(miss));
    ++sla_detected;
    log->warn("SLA miss: {} {}{} {} (deadline {})", c.dag_id, c.run_id, task_id.empty() ? "" : " task " + task_id,
              c.kind, format_utc(c.deadline));
    request_flush();
  }

  void on_timer() {
    TimePoint now = clock.now();
    while (!sla_due.empty() && sla_due.begin()->first <= now) {
      SlaCheck c = sla_due.begin()->second;
      sla_due.erase(sla_due.begin());
      check_sla(c);
    }
    while (!dag_due.empty() && dag_due.begin()->first <= now) {
      auto [at, id] = *dag_due.begin();
      dag_due.erase(dag_due.begin());
      auto d = dags.find(id);
      // Entries replaced by a later plan are stale.
      if (d == dags.end() || d->second.next_due != at) continue;
      d->second.next_due.reset();
      plan_dag(d->second);
    }
    std::set<long long> woke;
    while (!run_wake.empty() && run_wake.begin()->first <= now) {
      woke.insert(run_wake.begin()->second);
      run_wake.erase(run_wake.begin());
    }
    for (long long pk : woke) {
      auto rit = runs.find(pk);
      if (rit != runs.end()) apply_transitions(rit->second, rit->second.engine->wake_due());
    }
    dispatch();
  }

  void poll() {
    if (stopping) return;
    scan_folder(false);
    refresh_pools();
    if (options.shared) {
      membership_tick();
      drain_events();
      check_remote_zombies();
    } else {
      check_zombies();
      renew_membership();
    }
    advance_backfills();
    if (!trigger_watches.empty()) check_triggers();
    if (auto id = store.last_dataset_event_id(); id && *id != datasets_seen) {
      datasets_seen = *id;
      check_datasets();
    }
    past_changed.merge(past_retry);
    dispatch();
    flush();
    poll_timer.expires_after(options.folder_poll);
    poll_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) poll();
    });
  }

  void refresh_pools() {
    auto pools = store.list_pools();
    if (!pools) return;
    pool_slots.clear();
    for (auto& p : *pools) pool_slots[p.name] = p.slots;
  }

  // A run read back from the store, as an ActiveRun with its engine restored.
  // Task instances the graph has but the store does not (a run moved to a
  // later version by a clear) are created.
  Result<ActiveRun> load_run(const store::RunRecord& rec, const dsl::DagGraphPtr& g,
                             const std::vector<store::TaskInstanceRecord>& tis) {
    ActiveRun a;
    a.rec = rec;
    a.graph = g;
    a.engine = std::make_unique<RunEngine>(g, clock);
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
    // Mapped instances (of tasks that have foreach in this version) follow
    // the tasks' own, in the order they were made: by task in the order of
    // its first id, then by map_index — the order this process (or the
    // member before it) appended them in, so task indexes stay the same.
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
      auto added = store.add_task_instances(rec.pk, fresh);
      if (!added) return added.error();
      for (auto& t : *added) a.tis[static_cast<size_t>(g->index_of(t.task_id))] = t;
    }
    if (!a.engine->restore(rec.state, std::move(restored)))
      return Error{"internal", "its task instances do not fit DAG version " + rec.dag_version +
                                   " (mapped instances with gaps in their map indexes)"};
    return a;
  }

  // ================= recovery =================

  void recover() {
    store::RunFilter f;
    f.unfinished_only = true;
    f.limit = 1000000;
    auto list = store.list_runs(f);
    if (!list) {
      log->error("recovery: {}", list.error().message);
      return;
    }
    // Oldest first, so that start_runs keeps the order.
    std::reverse(list->begin(), list->end());
    for (auto& rec : *list) {
      if (!owns(rec.dag_id)) continue;
      auto g = graph_of(rec.dag_id, rec.dag_version);
      if (!g) {
        log->error("recovery: run {} {} has no usable DAG version {}", rec.dag_id, rec.run_id, rec.dag_version);
        continue;
      }
      auto tis = store.list_task_instances(rec.pk);
      if (!tis) continue;
      auto a = load_run(rec, g, *tis);
      if (!a) {
        log->error("recovery: run {} {}: {}", rec.dag_id, rec.run_id, a.error().message);
        continue;
      }
      long long pk = rec.pk;
      auto& run = add_run(std::move(*a));
      arm_run_slas(run);
      if (auto d = run.graph->spec().sla_run_duration; d && run.rec.started_at && run.rec.run_type != "backfill")
        sla_due.emplace(*run.rec.started_at + *d,
                        SlaCheck{"run_duration", rec.dag_id, rec.run_id, pk, -1, 0, *run.rec.started_at + *d});
      refresh_past(run);
      // A foreach task expanded just before a crash, or whose mapped
      // instances all ended just before it, is settled first.
      apply_transitions(run, run.engine->reconcile());
      // Tries of a previous life of this process: their workers are gone.
      for (size_t i = 0; i < run.tis.size(); ++i) {
        auto& t = run.tis[i];
        TaskState s = run.engine->instances()[i].state;
        if (options.shared && (s == TaskState::queued || s == TaskState::running) && t.attempt_token &&
            spec_of(run, static_cast<int>(i)).type != dsl::TaskType::noop &&
            !loop_task(spec_of(run, static_cast<int>(i)).type)) {
          // A remote try: still in the queue, or on a worker that is alive
          // (or that the zombie check will find lost). It keeps its slot.
          pool_used[t.pool] += t.pool_slots;
          ++dags[rec.dag_id].running_tasks;
          if (s == TaskState::running) running_tis.insert({pk, static_cast<int>(i)});
          if (s == TaskState::queued) queued_remote.push_back({pk, static_cast<int>(i)});
          continue;
        }
        if (s == TaskState::queued) {
          // Handed to a worker that never started it: it goes back to the
          // ready set without using up a try.
          auto q = run.engine->requeue(static_cast<int>(i));
          if (q) {
            pool_used[t.pool] += t.pool_slots;  // balanced by the release in apply_transitions
            ++dags[rec.dag_id].running_tasks;
            apply_transitions(run, *q);
          }
        } else if (s == TaskState::running) {
          // Count the slot it held, so that releasing it balances.
          pool_used[t.pool] += t.pool_slots;
          ++dags[rec.dag_id].running_tasks;
          running_tis.insert({pk, static_cast<int>(i)});
          if (dsl::is_sensor(spec_of(run, static_cast<int>(i)).type)) {
            // Its poke was lost with the process: poked again now, same try.
            if (auto w = run.engine->resume_sensor(static_cast<int>(i))) {
              in_report = true;  // its try goes on: nothing to kill, no try to close
              apply_transitions(run, *w);
              in_report = false;
              continue;
            }
          }
          if (spec_of(run, static_cast<int>(i)).type == dsl::TaskType::trigger_dag && t.attempt_token) {
            // Triggered again with the same key: the run it made, watched again.
            long long run_pk = pk;
            int ti = static_cast<int>(i);
            asio::post(io, [this, run_pk, ti] {
              auto rit = runs.find(run_pk);
              if (rit != runs.end() && rit->second.tis[static_cast<size_t>(ti)].state == TaskState::running)
                start_trigger(rit->second, ti);
              request_flush();
            });
            continue;
          }
          fail_lost(run, static_cast<int>(i), "its worker is gone (the scheduler restarted)");
        } else if (s == TaskState::scheduled) {
          if (dsl::is_sensor(spec_of(run, static_cast<int>(i)).type) && t.try_number > 0) {
            auto tries = store.list_tries(t.id);
            if (tries && !tries->empty() && tries->back().state == TaskState::waiting)
              run.engine->set_poking(static_cast<int>(i));
          }
          ready_of(run, static_cast<int>(i)).insert(ready_key(run, static_cast<int>(i)));
        } else if ((s == TaskState::up_for_retry || s == TaskState::waiting) && t.wake_at) {
          run_wake.emplace(*t.wake_at, pk);
        }
      }
      if (is_finished(run.engine->state())) drop_run(pk);
    }
    for (auto& [id, _] : dags)
      if (owns(id)) start_runs(id);
  }

  // A running try whose worker is gone (a restart, or no heartbeat for
  // zombie_timeout) fails as worker_lost and is retried under its policy. A
  // local process that may still run is killed, and its late report refused.
  void fail_lost(ActiveRun& run, int ti, const std::string& why) {
    auto& t = run.tis[static_cast<size_t>(ti)];
    int try_number = run.engine->instances()[static_cast<size_t>(ti)].try_number;
    kill_try(t.id);
    auto fin = run.engine->finish_try(ti, TryOutcome::worker_lost, "worker_lost");
    if (options.shared && t.attempt_token) batch.dequeue.push_back(*t.attempt_token);
    in_report = true;  // the try row is written just below
    if (fin) apply_transitions(run, *fin);
    in_report = false;
    store::TryRecord tr;
    tr.ti_id = t.id;
    tr.try_number = try_number;
    tr.state = TaskState::failed;
    tr.worker = t.worker;
    tr.attempt_token = t.attempt_token;
    tr.started_at = t.started_at;
    tr.ended_at = clock.now();
    tr.reason = "worker_lost";
    tr.log_path = log_rel(run, t, try_number);
    batch.tries.push_back(tr);
    log->warn("run {} {}: task {} try {} failed: worker_lost: {}", run.rec.dag_id, run.rec.run_id, t.task_id,
              try_number, why);
  }

  // The safety net for workers that stop heartbeating without dying
  // (SPEC §5): checked on every poll, over the running tries only.
  void check_zombies() {
    TimePoint cutoff = clock.now() - options.zombie_timeout;
    std::vector<std::pair<long long, int>> lost;
    for (auto& [pk, ti] : running_tis) {
      auto rit = runs.find(pk);
      if (rit == runs.end()) continue;
      const auto& rec = rit->second.tis[static_cast<size_t>(ti)];
      if (loop_task(spec_of(rit->second, ti).type)) continue;  // poked or watched here, not on a worker
      if (rec.heartbeat_at && *rec.heartbeat_at < cutoff) lost.push_back({pk, ti});
    }
    for (auto& [pk, ti] : lost) {
      auto rit = runs.find(pk);
      if (rit == runs.end()) continue;  // an earlier loss in this pass ended its run
      fail_lost(rit->second, ti, "no heartbeat for " + format_duration(options.zombie_timeout));
      settle(rit->second);
    }
  }

  // ================= workers =================

  // ================= sensors =================

  // Pokes sensors, kPokers at a time: each poke is quick (a file's existence,
  // one HTTP request of at most kPokeHttpTimeout, one read of the store), and
  // takes no worker slot; between pokes the sensor is waiting.
  void poker_main() {
    for (;;) {
      Assignment a;
      {
        std::unique_lock lock(poke_mu);
        poke_cv.wait(lock, [&] { return pokes_stop || !pokes.empty(); });
        if (pokes_stop) return;  // a poke in flight is recovered (worker_lost) at the next start
        a = std::move(pokes.front());
        pokes.pop_front();
      }
      Finished f = poke(a);
      std::error_code ec;
      auto bytes = fs::file_size(a.shell.log_path, ec);
      f.log_bytes = ec ? 0 : static_cast<long long>(bytes);
      asio::post(io, [this, f] {
        on_finished(f);
        request_flush();
      });
    }
  }

  Finished poke(Assignment& a) {
    Finished f{a.run_pk, a.ti, a.attempt_token, TryOutcome::reschedule, "", std::nullopt, std::nullopt, 0, false};
    const dsl::TaskSpec& s = *a.spec;
    std::error_code ec;
    fs::create_directories(fs::path(a.shell.log_path).parent_path(), ec);
    std::ofstream log(a.shell.log_path, std::ios::app);
    auto now_text = [this] { return format_utc(std::chrono::time_point_cast<std::chrono::seconds>(clock.now())); };
    bind_variables(a);
    auto rendered = [&](const dsl::TemplateText& t, const char* key) -> std::optional<std::string> {
      auto r = dsl::render_template(t.text, a.ctx);
      if (r) return *r;
      f.outcome = TryOutcome::failed;
      f.reason = std::string(key) + ": " + r.error().message;
      return std::nullopt;
    };
    if (s.type == dsl::TaskType::sensor_file) {
      auto path = rendered(s.path, "path");
      if (!path) return logged(f, log, now_text());
      fs::path p(*path);
      if (p.is_relative()) p = fs::path(options.dags_dir) / p;
      bool there = fs::exists(p, ec);
      f.reason = there ? "" : "file " + p.string() + " does not exist yet";
      if (there) f.outcome = TryOutcome::success;
      log << "[baton] " << now_text() << " poke: " << (there ? "file " + p.string() + " exists" : f.reason) << "\n";
    } else if (s.type == dsl::TaskType::sensor_http) {
      auto url = rendered(s.url, "url");
      if (!url) return logged(f, log, now_text());
      executor::HttpCall call;
      call.url = *url;
      call.expect_status = s.expect_status;
      call.timeout = kPokeHttpTimeout;
      call.log_path = a.shell.log_path;
      call.log_cap_bytes = 4096;
      log.close();
      std::atomic<bool> never{false};
      auto r = executor::run_http(call, [this] { return clock.now(); }, [](TimePoint) {}, never);
      if (r.outcome == executor::ShellResult::Outcome::success) {
        f.outcome = TryOutcome::success;
      } else {
        f.reason = "GET " + *url + ": " + (r.reason.empty() ? "no answer" : r.reason);
      }
    } else if (s.type == dsl::TaskType::sensor_task) {
      TimePoint at = a.ctx.logical_date + s.logical_date_offset;
      std::string what = "task " + s.target_task + " of DAG " + s.target_dag + " for logical date " + format_utc(at);
      auto runs = store.runs_between(s.target_dag, at, at);
      std::optional<TaskState> state;
      if (runs)
        for (auto it = runs->rbegin(); it != runs->rend() && !state; ++it) {
          auto tis = store.list_task_instances(it->pk);
          if (!tis) break;
          for (auto& t : *tis)
            if (t.task_id == s.target_task && t.map_index < 0) state = t.state;  // a foreach task's own: all of it
        }
      if (state && is_success_like(*state)) {
        f.outcome = TryOutcome::success;
        log << "[baton] " << now_text() << " poke: " << what << " is " << to_string(*state) << "\n";
      } else {
        f.reason = !runs ? "reading " + what + ": " + runs.error().message
                   : state ? what + " is " + to_string(*state)
                           : what + ": no such run or task yet";
        log << "[baton] " << now_text() << " poke: " << f.reason << "\n";
      }
    } else {
      f.outcome = TryOutcome::failed;
      f.reason = std::string("not a sensor: ") + dsl::to_string(s.type);
    }
    return f;
  }

  static Finished logged(Finished f, std::ofstream& log, const std::string& at) {
    log << "[baton] " << at << " poke: " << f.reason << "\n";
    return f;
  }

  void worker_main(int n) {
    executor::ShellRunner runner([this] { return clock.now(); });
    while (true) {
      Assignment a;
      {
        std::unique_lock lock(work_mu);
        work_cv.wait(lock, [&] { return workers_stop || !work.empty(); });
        if (workers_stop || work.empty()) return;  // tries left in `work` are recovered at the next start
        a = std::move(work.front());
        work.pop_front();
      }
      ++busy_workers;
      Finished f = run_one(runner, a, n);
      --busy_workers;
      asio::post(io, [this, f] {
        on_finished(f);
        request_flush();
      });
    }
  }

  // A local worker thread's tries share one scratch folder, emptied after
  // each (the runner removes an earlier try's checkpoint and output files
  // before it starts): a folder made and removed per try costs two inode
  // operations, a measurable share of a short task on ext4.
  Finished run_one(executor::ShellRunner& runner, Assignment& a, int slot) {
    Finished f{a.run_pk, a.ti, a.attempt_token, TryOutcome::success, "", std::nullopt, std::nullopt, 0};
    if (a.type == dsl::TaskType::noop) return f;
    if (!executor_runs(a.type)) {
      f.outcome = TryOutcome::failed;
      f.reason = std::string("task type ") + dsl::to_string(a.type) + " is not supported yet";
      return f;
    }
    std::error_code ec;
    fs::create_directories(fs::path(a.shell.log_path).parent_path(), ec);
    if (std::string why; !render(a, why)) {
      std::ofstream(a.shell.log_path, std::ios::app) << "[baton] " << why << "\n";
      f.outcome = TryOutcome::failed;
      f.reason = why;
      return f;
    }
    a.shell.scratch_dir = options.logs_dir + "/.scratch/slot-" + std::to_string(slot);
    // The last checkpoint, read here rather than on the loop (one query per try).
    if (auto cp = store.load_checkpoint(a.ti_id); cp && *cp) a.shell.checkpoint = **cp;
    std::shared_ptr<std::atomic<bool>> flag;
    {
      // Made when the try was handed out (start_try), so that a cancel
      // before the worker picked it up is seen here.
      std::lock_guard lock(cancel_mu);
      auto& slot = cancel_flags[a.ti_id];
      if (!slot) slot = std::make_shared<std::atomic<bool>>(false);
      if (kill_all) slot->store(true);
      flag = slot;
    }
    if (flag->load()) {
      std::lock_guard lock(cancel_mu);
      cancel_flags.erase(a.ti_id);
      f.outcome = stopping ? TryOutcome::shutdown : TryOutcome::failed;
      f.reason = stopping ? "shutdown" : "canceled";
      return f;
    }
    long long run_pk = a.run_pk;
    int ti = a.ti;
    long long ti_id = a.ti_id;
    std::string token = a.attempt_token;
    auto beat = [this, run_pk, ti, token](std::optional<TimePoint> activity) {
      asio::post(io, [this, run_pk, ti, token, activity] {
        on_heartbeat(run_pk, ti, token, activity);
        request_flush();
      });
    };
    executor::ShellResult result;
    if (a.type == dsl::TaskType::http || a.type == dsl::TaskType::sql) {
      executor::NowFn now = [this] { return clock.now(); };
      executor::BeatFn adapter_beat = [&beat](TimePoint activity) { beat(activity); };
      result = a.type == dsl::TaskType::http ? executor::run_http(a.http, now, adapter_beat, *flag)
                                             : executor::run_sql(a.sql, now, adapter_beat, *flag);
    } else {
      result = runner.run(
          a.shell,
          [&](const executor::ShellProgress& p) {
            if (p.checkpoint) (void)store.save_checkpoint(ti_id, token, *p.checkpoint);
            beat(p.last_activity_at);
          },
          *flag);
    }
    {
      std::lock_guard lock(cancel_mu);
      cancel_flags.erase(ti_id);
    }
    if (result.checkpoint) (void)store.save_checkpoint(ti_id, token, *result.checkpoint);
    std::vector<fs::path> left;
    for (auto it = fs::directory_iterator(a.shell.scratch_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      left.push_back(it->path());
    for (auto& p : left) fs::remove_all(p, ec);
    f.exit_code = result.exit_code >= 0 ? std::optional<int>(result.exit_code) : std::nullopt;
    f.log_bytes = static_cast<long long>(result.log_bytes);
    f.reason = result.reason;
    switch (result.outcome) {
      case executor::ShellResult::Outcome::success:
        f.outcome = TryOutcome::success;
        f.output = result.output_json;
        break;
      case executor::ShellResult::Outcome::skipped:
        f.outcome = TryOutcome::skipped;
        break;
      case executor::ShellResult::Outcome::timeout:
        f.outcome = TryOutcome::timeout;
        f.reason = "timeout";
        break;
      case executor::ShellResult::Outcome::canceled:
        f.outcome = stopping ? TryOutcome::shutdown : TryOutcome::failed;
        f.reason = stopping ? "shutdown" : "canceled";
        break;
      default:
        f.outcome = TryOutcome::failed;
    }
    return f;
  }

  // ================= backfills =================

  // The instants a backfill's bounds stand for, in the DAG's timezone: a
  // date covers its whole local day.
  Result<std::pair<TimePoint, TimePoint>> backfill_bounds(const dsl::DagGraph& g, const std::string& from,
                                                          const std::string& to) {
    TimeZone zone = g.schedule().zone();
    if (g.schedule().kind() != Schedule::Kind::cron)
      if (auto z = TimeZone::find(g.spec().timezone)) zone = *z;
    auto f = parse_date_time(from);
    if (!f) return Error::invalid("from: " + f.error().message);
    auto t = parse_date_time(to);
    if (!t) return Error::invalid("to: " + t.error().message);
    TimePoint from_at = zone.resolve(*f);
    TimePoint to_at;
    if (!t->absolute && !t->local.has_time) {
      DateTimeText next_day = *t;
      int y, m, d;
      civil_from_days(days_from_civil(t->local.year, t->local.month, t->local.day) + 1, y, m, d);
      next_day.local.year = y;
      next_day.local.month = m;
      next_day.local.day = d;
      to_at = zone.resolve(next_day) - Duration(1);
    } else {
      to_at = zone.resolve(*t);
    }
    if (to_at < from_at) return Error::invalid("to (" + to + ") is before from (" + from + ")");
    return std::make_pair(from_at, to_at);
  }

  // Interval by interval, what a backfill does (SPEC §7). Only intervals that
  // are over are taken: a backfill does not run the future.
  Result<std::vector<BackfillStep>> plan_backfill(const dsl::DagGraph& g, const store::BackfillRecord& b) {
    constexpr size_t kMaxIntervals = 100000;
    const Schedule& s = g.schedule();
    auto existing = store.runs_between(g.dag_id(), b.from_at, b.to_at);
    if (!existing) return existing.error();
    std::map<long long, const store::RunRecord*> by_date;  // the interval's own run: scheduled or backfill
    for (auto& r : *existing)
      if (r.run_type == "scheduled" || r.run_type == "backfill") by_date[r.logical_date.time_since_epoch().count()] = &r;
    std::vector<BackfillStep> plan;
    TimePoint now = clock.now();
    for (auto t = s.next_tick(b.from_at - Duration(1)); t && *t <= b.to_at; t = s.next_tick(*t)) {
      auto end = s.next_tick(*t);
      if (!end) break;
      BackfillStep step{*t, *end, "create", std::nullopt, ""};
      if (*end > now) {
        step.action = "skip";
        step.reason = "the interval is not over yet";
        plan.push_back(step);
        break;
      }
      if (plan.size() >= kMaxIntervals)
        return Error::invalid("the range holds more than " + std::to_string(kMaxIntervals) + " intervals: split it");
      if (auto it = by_date.find(t->time_since_epoch().count()); it != by_date.end()) {
        const store::RunRecord& run = *it->second;
        step.run_id = run.run_id;
        bool finished = is_finished(run.state);
        if (b.reprocess == "all" && finished) {
          step.action = "rerun";
        } else if (b.reprocess == "failed" && run.state == RunState::failed) {
          step.action = "rerun";
        } else {
          step.action = "skip";
          step.reason = !finished ? std::string("its run is ") + to_string(run.state)
                                  : std::string("it has a run (") + to_string(run.state) + ")";
        }
      }
      plan.push_back(step);
    }
    if (b.reverse) std::reverse(plan.begin(), plan.end());
    return plan;
  }

  static int steps_to_do(const std::vector<BackfillStep>& plan) {
    int n = 0;
    for (auto& st : plan) n += st.action != "skip";
    return n;
  }

  // Takes up steps while the backfill has places for runs; ends it when
  // every step is taken and every run finished.
  void advance(ActiveBackfill& bf) {
    auto& b = bf.rec;
    while (b.state == "running" && !stopping && bf.active.size() < static_cast<size_t>(b.max_active_runs) &&
           bf.next < bf.steps.size()) {
      const BackfillStep step = bf.steps[bf.next++];
      if (step.action == "skip") continue;
      TakeUp t = take_up(bf, step);
      if (t == TakeUp::retry_later) {  // the store failed: again on the next poll
        --bf.next;
        break;
      }
      if (t == TakeUp::not_ours) --b.total;  // taken by something else meanwhile: not this backfill's
    }
    b.cursor_at.reset();
    for (size_t k = bf.next; k < bf.steps.size() && !b.cursor_at; ++k)
      if (bf.steps[k].action != "skip") b.cursor_at = bf.steps[k].logical_date;
    if (b.state == "running" && !b.cursor_at && bf.active.empty()) {
      b.state = b.failed > 0 ? "failed" : "success";
      b.ended_at = clock.now();
      log->info("backfill {} of {} {}: {} runs, {} failed", b.id, b.dag_id, b.state, b.done, b.failed);
    }
    batch.backfills.push_back(b);
    if (b.state != "running") backfills.erase(b.id);
  }

  enum class TakeUp { taken, not_ours, retry_later };

  TakeUp take_up(ActiveBackfill& bf, const BackfillStep& step) {
    auto& b = bf.rec;
    auto d = dags.find(b.dag_id);
    if (d == dags.end() || !d->second.graph) return TakeUp::retry_later;
    if (step.action == "create") {
      store::RunRecord r;
      r.dag_id = b.dag_id;
      r.run_type = "backfill";
      r.run_id = make_run_id("backfill", step.logical_date, false);
      r.logical_date = r.data_interval_start = step.logical_date;
      r.data_interval_end = step.data_interval_end;
      r.params = d->second.graph->spec().params_json;
      r.dag_version = d->second.graph->hash();
      r.backfill_id = b.id;
      r.created_by = b.created_by;
      auto c = store.create_run(r, task_instances_for(*d->second.graph), b.created_by, fences);
      if (!c && c.error().code == "stale_epoch") {
        fenced_out(c.error());
        return TakeUp::retry_later;
      }
      if (!c) {
        // conflict: the schedule, catchup or another backfill made the interval's run first.
        if (c.error().code == "conflict") return TakeUp::not_ours;
        log->error("backfill {}: {}", b.id, c.error().message);
        return TakeUp::retry_later;
      }
      bf.active.insert(c->run.pk);
      adopt(c->run, d->second.graph, c->task_instances);
      return TakeUp::taken;
    }
    // rerun: clear the run's tasks (failed ones, all, or the chosen ones).
    Error err;
    ActiveRun* r = revive(b.dag_id, *step.run_id, false, err);
    if (!r) return err.code == "conflict" ? TakeUp::not_ours : TakeUp::retry_later;
    if (!is_finished(r->engine->state())) return TakeUp::not_ours;  // in progress: not ours to rerun
    // A rerun starts at once (a cleared run is running): within the DAG's
    // max_active_runs, or on a later poll.
    if (running_runs(b.dag_id) >= d->second.graph->spec().max_active_runs) {
      drop_run(r->rec.pk);
      return TakeUp::retry_later;
    }
    std::vector<std::string> targets = bf.tasks;
    if (targets.empty())
      for (size_t i = 0; i < r->tis.size(); ++i) {
        TaskState st = r->engine->instances()[i].state;
        if (b.reprocess == "all" || st == TaskState::failed || st == TaskState::upstream_failed ||
            st == TaskState::canceled)
          targets.push_back(r->tis[i].task_id);
      }
    auto t = r->engine->clear(targets, b.downstream);
    if (!t || targets.empty()) {
      if (is_finished(r->engine->state())) drop_run(r->rec.pk);
      return TakeUp::not_ours;
    }
    r->rec.backfill_id = b.id;  // before its tasks are ready: it yields to live runs while it reruns
    apply_transitions(*r, *t);
    batch.runs.push_back(r->rec);
    bf.active.insert(r->rec.pk);
    settle(*r);
    return TakeUp::taken;
  }

  // A run ended: if a backfill waits for it, count it and take up more.
  void run_ended(const ActiveRun& r) {
    if (!r.rec.backfill_id) return;
    auto it = backfills.find(*r.rec.backfill_id);
    if (it == backfills.end() || !it->second.active.erase(r.rec.pk)) return;
    ActiveBackfill& bf = it->second;
    ++bf.rec.done;
    if (r.engine->state() != RunState::success) ++bf.rec.failed;
    batch.backfills.push_back(bf.rec);  // counted in the same write as the run's end
    // Not from inside settle(): the next runs start on a turn of their own.
    long long id = bf.rec.id;
    asio::post(io, [this, id] {
      if (auto b = backfills.find(id); b != backfills.end()) {
        advance(b->second);
        dispatch();
      }
      request_flush();
    });
  }

  // At start: running backfills come back with the steps left after their
  // cursor. Their counts are taken again from the runs themselves (a crash
  // may have come between a run's end and its count, or during recovery).
  void recover_backfills() {
    auto list = store.list_backfills(std::nullopt, true, 0, 100000);
    if (!list) {
      log->error("recovery of backfills: {}", list.error().message);
      return;
    }
    for (auto& b : *list)
      if (owns(b.dag_id)) take_up_backfill(b);
  }

  // Carries on a running backfill read from the store (recovery, a partition
  // gained, a command carried out again that finds the backfill it made).
  void take_up_backfill(const store::BackfillRecord& b) {
    {
      ActiveBackfill bf;
      bf.rec = b;
      auto d = dags.find(b.dag_id);
      auto give_up = [&](const std::string& why) {
        bf.rec.state = "failed";
        bf.rec.ended_at = clock.now();
        batch.backfills.push_back(bf.rec);
        audit("system", "backfill.failed", "dag:" + b.dag_id + "/backfill/" + std::to_string(b.id),
              json{{"reason", why}});
        log->error("backfill {} of {} cannot go on: {}", b.id, b.dag_id, why);
      };
      if (d == dags.end() || !d->second.graph) {
        give_up("DAG " + b.dag_id + " has no usable version");
        return;
      }
      if (b.tasks) {
        json t = json::parse(*b.tasks, nullptr, false);
        if (t.is_array())
          for (auto& x : t)
            if (x.is_string()) bf.tasks.push_back(x.get<std::string>());
      }
      auto mine = store.runs_between(b.dag_id, b.from_at, b.to_at);
      if (!mine) {
        give_up(mine.error().message);
        return;
      }
      bf.rec.done = bf.rec.failed = 0;
      for (auto& r : *mine) {
        if (r.backfill_id != b.id) continue;
        if (runs.count(r.pk)) {
          bf.active.insert(r.pk);
        } else if (is_finished(r.state)) {
          ++bf.rec.done;
          if (r.state != RunState::success) ++bf.rec.failed;
        }
      }
      if (b.cursor_at) {
        auto plan = plan_backfill(*d->second.graph, b);
        if (!plan) {
          give_up(plan.error().message);
          return;
        }
        for (auto& st : *plan)
          if (b.reverse ? st.logical_date <= *b.cursor_at : st.logical_date >= *b.cursor_at) bf.steps.push_back(st);
      }
      // What is left, exactly: finished + in flight + still to take up.
      bf.rec.total = bf.rec.done + static_cast<int>(bf.active.size()) + steps_to_do(bf.steps);
      long long id = b.id;
      backfills.emplace(id, std::move(bf));
      advance(backfills.at(id));
    }
  }

  // Steps put back after a store error are taken up again on the poll.
  void advance_backfills() {
    std::vector<long long> ids;
    for (auto& [id, bf] : backfills)
      if (bf.next < bf.steps.size() && bf.active.size() < static_cast<size_t>(bf.rec.max_active_runs)) ids.push_back(id);
    for (long long id : ids)
      if (auto it = backfills.find(id); it != backfills.end()) advance(it->second);
  }

  // ================= control =================

  ActiveRun* find_run(const std::string& dag_id, const std::string& run_id, Error& err) {
    for (auto& [_, r] : runs)
      if (r.rec.dag_id == dag_id && r.rec.run_id == run_id) return &r;
    auto rec = store.get_run(dag_id, run_id);
    err = rec ? Error{"conflict", "run " + run_id + " of DAG " + dag_id + " is " + to_string(rec->state)}
              : rec.error();
    return nullptr;
  }

  // A finished run comes back into memory (clear, mark).
  ActiveRun* revive(const std::string& dag_id, const std::string& run_id, bool latest, Error& err) {
    if (ActiveRun* r = find_run(dag_id, run_id, err)) return r;
    auto rec = store.get_run(dag_id, run_id);
    if (!rec) {
      err = rec.error();
      return nullptr;
    }
    dsl::DagGraphPtr g;
    if (latest) {
      auto d = dags.find(dag_id);
      if (d == dags.end() || !d->second.graph) {
        err = Error::not_found("DAG " + dag_id + " has no current version");
        return nullptr;
      }
      g = d->second.graph;
      rec->dag_version = g->hash();
    } else {
      g = graph_of(dag_id, rec->dag_version);
    }
    if (!g) {
      err = Error{"conflict", "DAG version " + rec->dag_version + " of run " + run_id + " cannot be loaded"};
      return nullptr;
    }
    auto tis = store.list_task_instances(rec->pk);
    if (!tis) {
      err = tis.error();
      return nullptr;
    }
    auto a = load_run(*rec, g, *tis);
    if (!a) {
      err = a.error();
      return nullptr;
    }
    ActiveRun& r = add_run(std::move(*a));
    refresh_past(r);  // before a clear or mark evaluates its tasks
    return &r;
  }
};

Scheduler::Scheduler(store::Store& store, const Clock& clock, SchedulerOptions options)
    : impl_(std::make_unique<Impl>(store, clock, std::move(options))) {
  if (impl_->options.member_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    impl_->options.member_id = std::string(host) + ":" + std::to_string(getpid());
  }
}

Scheduler::~Scheduler() { stop(); }

Status Scheduler::start() {
  Impl& m = *impl_;
  std::error_code ec;
  // Tries run in their own working folders: every path handed to them must
  // be absolute.
  m.options.logs_dir = fs::absolute(m.options.logs_dir, ec).lexically_normal().string();
  m.notify_dir = fs::absolute(m.options.dags_dir, ec).lexically_normal().string();  // notification commands run there
  fs::create_directories(m.options.logs_dir, ec);
  if (ec) return Error{"unavailable", "cannot create the logs folder " + m.options.logs_dir + ": " + ec.message()};
  m.self_ptr = this;
  // A shared member's tries go to the remote workers: no worker slots here.
  m.free_workers = m.options.shared ? std::numeric_limits<int>::max() / 2 : m.options.workers;
  if (m.options.shared) m.options.workers = 0;
  if (auto j = m.join(); !j) return Error{"unavailable", "joining as a scheduler member: " + j.error().message};
  m.refresh_pools();
  // Known DAGs first (paused flags, last ticks), then the folder.
  if (auto list = m.store.list_dags()) {
    for (auto& d : *list) {
      if (!d.current_version) continue;
      auto g = m.graph_of(d.dag_id, *d.current_version);
      if (!g) continue;
      DagEntry& e = m.dags[d.dag_id];
      e.dag_id = d.dag_id;
      e.file = d.file;
      e.graph = g;
      e.paused = d.paused;
      e.active = d.active;
      e.last_tick = d.last_tick;
    }
  }
  if (m.options.shared) {
    // Nothing is owned yet: the DAGs first, then the partitions the leader
    // gives (this member may be the leader).
    m.scan_folder(true);
    m.write_batch();
    m.membership_tick();
    m.flush();
  } else {
    m.recover();
    m.scan_folder(true);
    m.write_batch();  // the runs that recovery ended are in the store before backfills count them
    m.recover_backfills();
    m.arm_finished_run_slas();
    for (auto& [_, d] : m.dags) m.plan_dag(d);
    m.flush();
    m.dispatch();
    m.flush();
  }
  m.guard.emplace(m.io.get_executor());
  for (int i = 0; i < m.options.workers; ++i) m.workers.emplace_back([&m, i] { m.worker_main(i); });
  m.poll_timer.expires_after(m.options.folder_poll);
  m.poll_timer.async_wait([&m](const boost::system::error_code& e) {
    if (!e) m.poll();
  });
  m.loop_thread = std::thread([&m] { m.io.run(); });
  for (int i = 0; i < kPokers; ++i) m.pokers.emplace_back([&m] { m.poker_main(); });
  m.notifier = std::thread([&m] { m.notifier_main(); });
  m.accepting = true;
  if (m.options.shared) m.listener = std::thread([&m] { m.listener_main(); });
  return {};
}

void Scheduler::stop(bool immediately) {
  Impl& m = *impl_;
  if (!m.loop_thread.joinable()) return;
  m.accepting = false;
  m.stopping = true;
  m.listener_stop = true;
  if (m.listener.joinable()) m.listener.join();
  asio::post(m.io, [&m] {
    m.timer.cancel();
    m.poll_timer.cancel();
  });
  {
    // Idle workers exit; busy ones finish the try they have.
    std::lock_guard lock(m.work_mu);
    m.workers_stop = true;
  }
  m.work_cv.notify_all();
  // Running tries get the grace period, then are killed.
  auto deadline = std::chrono::steady_clock::now() + (immediately ? Duration(0) : m.options.shutdown_grace);
  while (m.busy_workers.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard lock(m.cancel_mu);
    m.kill_all = true;
    for (auto& [_, flag] : m.cancel_flags) flag->store(true);
  }
  for (auto& t : m.workers) t.join();
  m.workers.clear();
  {
    std::lock_guard lock(m.poke_mu);
    m.pokes_stop = true;
  }
  m.poke_cv.notify_all();
  for (auto& t : m.pokers) t.join();
  m.pokers.clear();
  // Let the last reports land, then stop the loop.
  std::promise<void> done;
  asio::post(m.io, [&] {
    m.flush();
    done.set_value();
  });
  done.get_future().wait();
  {
    std::lock_guard lock(m.notify_mu);
    m.notify_stop = true;
  }
  m.notify_cv.notify_all();
  if (m.notifier.joinable()) m.notifier.join();
  if (auto r = m.store.remove_member(m.options.member_id); !r)
    m.log->warn("leaving the members: {}", r.error().message);
  m.leader_lock.reset();  // another member leads from its next tick
  m.guard.reset();
  m.io.stop();
  m.loop_thread.join();
}

Result<TriggerResult> Scheduler::trigger(const std::string& dag_id, const TriggerRequest& req,
                                         const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Result<TriggerResult> { return m.trigger_now(dag_id, req, actor); });
}

Status Scheduler::cancel_run(const std::string& dag_id, const std::string& run_id, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status {
    Error err;
    ActiveRun* r = m.find_run(dag_id, run_id, err);
    if (!r) return err;
    m.apply_transitions(*r, r->engine->cancel());
    m.audit(actor, "run.canceled", "dag:" + dag_id + "/" + run_id, json::object());
    m.settle(*r);
    return {};
  });
}

Status Scheduler::clear_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                             bool downstream, bool latest_version, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status {
    Error err;
    if (latest_version) {
      // Moving a run to another version rebuilds its graph: only a finished run can.
      Error ignored;
      if (ActiveRun* live = m.find_run(dag_id, run_id, ignored)) {
        auto d = m.dags.find(dag_id);
        if (d != m.dags.end() && d->second.graph && d->second.graph->hash() != live->graph->hash())
          return Error{"conflict", "run " + run_id + " is still " + to_string(live->engine->state()) +
                                       ": version latest applies to a finished run (wait, or cancel it first)"};
      }
    }
    ActiveRun* r = m.revive(dag_id, run_id, latest_version, err);
    if (!r) return err;
    if (r->graph->index_of(task_id) < 0) return Error::not_found("no task \"" + task_id + "\" in DAG " + dag_id);
    auto t = r->engine->clear(task_id, downstream);
    if (!t) {
      if (is_finished(r->engine->state())) m.drop_run(r->rec.pk);
      return t.error();
    }
    m.apply_transitions(*r, *t);
    if (latest_version) m.batch.runs.push_back(r->rec);
    m.audit(actor, "task.cleared", "dag:" + dag_id + "/" + run_id + "/" + task_id,
            json{{"downstream", downstream}, {"version", latest_version ? "latest" : "pinned"}});
    m.settle(*r);
    return {};
  });
}

Status Scheduler::mark_task(const std::string& dag_id, const std::string& run_id, const std::string& task_id,
                            TaskState to, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status {
    Error err;
    ActiveRun* r = m.revive(dag_id, run_id, false, err);
    if (!r) return err;
    int ti = r->graph->index_of(task_id);
    TaskState before = ti >= 0 ? r->engine->instances()[static_cast<size_t>(ti)].state : TaskState::pending;
    auto t = r->engine->mark(task_id, to);
    if (!t) {
      if (is_finished(r->engine->state())) m.drop_run(r->rec.pk);
      return t.error();
    }
    m.apply_transitions(*r, *t);
    m.audit(actor, "task.marked", "dag:" + dag_id + "/" + run_id + "/" + task_id,
            json{{"before", to_string(before)}, {"after", to_string(to)}});
    m.settle(*r);
    return {};
  });
}

Status Scheduler::set_paused(const std::string& dag_id, bool paused, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status {
    if (auto s = m.store.set_paused(dag_id, paused, actor); !s) return s;
    auto d = m.dags.find(dag_id);
    if (d != m.dags.end()) {
      d->second.paused = paused;
      if (!paused) {
        m.plan_dag(d->second);
        m.datasets_dirty = true;  // events that came while it was paused
      }
    }
    return {};
  });
}

void Scheduler::datasets_changed() {
  Impl& m = *impl_;
  asio::post(m.io, [&m] {
    m.datasets_dirty = true;
    m.request_flush();
  });
}

Result<BackfillResult> Scheduler::create_backfill(const BackfillRequest& req, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Result<BackfillResult> {
    auto d = m.dags.find(req.dag_id);
    if (d == m.dags.end() || !d->second.graph) return Error::not_found("no DAG \"" + req.dag_id + "\"");
    if (!d->second.active) return Error::invalid("DAG " + req.dag_id + " is inactive (its file was removed)");
    const auto& g = *d->second.graph;
    if (!g.schedule().is_time_based())
      return Error::invalid("DAG " + req.dag_id + " has no time schedule: a backfill needs intervals (cron or every)");
    if (req.reprocess != "none" && req.reprocess != "failed" && req.reprocess != "all")
      return Error::invalid("reprocess must be none, failed or all, not \"" + req.reprocess + "\"");
    if (req.max_active_runs < 1 || req.max_active_runs > 1000)
      return Error::invalid("max_active_runs must be from 1 to 1000");
    for (auto& t : req.tasks)
      if (g.index_of(t) < 0) return Error::invalid("no task \"" + t + "\" in DAG " + req.dag_id);
    if (req.downstream && req.tasks.empty()) return Error::invalid("downstream needs tasks");
    auto bounds = m.backfill_bounds(g, req.from, req.to);
    if (!bounds) return bounds.error();
    store::BackfillRecord b;
    b.dag_id = req.dag_id;
    b.from_at = bounds->first;
    b.to_at = bounds->second;
    b.from_text = req.from;
    b.to_text = req.to;
    b.reprocess = req.reprocess;
    b.max_active_runs = req.max_active_runs;
    b.reverse = req.reverse;
    if (!req.tasks.empty()) b.tasks = json(req.tasks).dump();
    b.downstream = req.downstream;
    b.idempotency_key = req.idempotency_key;
    auto plan = m.plan_backfill(g, b);
    if (!plan) return plan.error();
    b.total = Impl::steps_to_do(*plan);
    b.created_by = actor;
    // Written with the row itself: a crash right after creation resumes from here.
    for (auto& st : *plan)
      if (st.action != "skip") {
        b.cursor_at = st.logical_date;
        break;
      }
    // The intervals not over yet stay out, also when a restart plans again.
    for (auto& st : *plan)
      if (st.reason == "the interval is not over yet") b.to_at = std::min(b.to_at, st.logical_date - Duration(1));
    BackfillResult out{b, *plan};
    if (req.dry_run) return out;
    auto created = m.store.create_backfill(b, actor);
    if (!created) return created.error();
    if (!created->created) {
      // Made before by this command (carried out again): nothing is made
      // twice. The backfill goes on here: loaded with the partition, or (made
      // by the previous owner after this one loaded it) taken up now.
      const auto& found = created->backfill;
      if (found.state == "running" && !m.backfills.count(found.id) && m.owns(found.dag_id)) {
        m.take_up_backfill(found);
        m.dispatch();
      }
      out.backfill = found;
      if (auto it = m.backfills.find(found.id); it != m.backfills.end()) out.backfill = it->second.rec;
      return out;
    }
    const store::BackfillRecord& made = created->backfill;
    out.backfill = made;
    ActiveBackfill bf;
    bf.rec = made;
    bf.steps = *plan;
    bf.tasks = req.tasks;
    long long id = made.id;
    m.backfills.emplace(id, std::move(bf));
    m.advance(m.backfills.at(id));
    if (auto it = m.backfills.find(id); it != m.backfills.end()) out.backfill = it->second.rec;
    else out.backfill = m.batch.backfills.back();  // it ended at once (nothing to do)
    m.dispatch();
    return out;
  });
}

Status Scheduler::cancel_backfill(long long id, const std::string& actor) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Status {
    auto it = m.backfills.find(id);
    if (it == m.backfills.end()) {
      auto b = m.store.get_backfill(id);
      if (!b) return b.error();
      if (b->state != "running") return Error{"conflict", "backfill " + std::to_string(id) + " is " + b->state};
      b->state = "canceled";  // a backfill this scheduler could not take up again
      b->ended_at = m.clock.now();
      m.batch.backfills.push_back(*b);
      m.audit(actor, "backfill.canceled", "dag:" + b->dag_id + "/backfill/" + std::to_string(id), json::object());
      return {};
    }
    ActiveBackfill& bf = it->second;
    bf.rec.state = "canceled";
    bf.rec.ended_at = m.clock.now();
    m.audit(actor, "backfill.canceled", "dag:" + bf.rec.dag_id + "/backfill/" + std::to_string(id),
            json{{"done", bf.rec.done}, {"total", bf.rec.total}});
    std::vector<long long> active(bf.active.begin(), bf.active.end());
    m.batch.backfills.push_back(bf.rec);
    m.backfills.erase(it);  // its runs end below without taking up more
    // Every run first, then their ends: settling one must not start the
    // next queued run of the same backfill.
    for (long long pk : active)
      if (auto r = m.runs.find(pk); r != m.runs.end()) m.apply_transitions(r->second, r->second.engine->cancel());
    for (long long pk : active)
      if (auto r = m.runs.find(pk); r != m.runs.end()) m.settle(r->second);
    return {};
  });
}

Result<std::vector<std::string>> Scheduler::waiting_for(const std::string& dag_id, const std::string& run_id,
                                                        const std::string& task_id, int map_index) {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    auto d = m.dags.find(dag_id);
    Error err;
    ActiveRun* r = m.find_run(dag_id, run_id, err);
    if (!r) {
      if (err.code == "not_found") return err;
      out.push_back(err.message);  // finished
      return out;
    }
    int task = r->graph->index_of(task_id);
    if (task < 0) return Error::not_found("no task \"" + task_id + "\" in DAG " + dag_id);
    int ti = r->engine->instance_of(task, map_index);
    if (ti < 0)
      return Error::not_found("task \"" + task_id + "\" of run \"" + run_id + "\" has no map_index " +
                              std::to_string(map_index));
    TaskState s = r->engine->instances()[static_cast<size_t>(ti)].state;
    if (r->engine->state() == RunState::queued) {
      int limit = r->graph->spec().max_active_runs;
      out.push_back("max_active_runs: " + std::to_string(m.running_runs(dag_id)) + " of " + std::to_string(limit) +
                    " runs of the DAG are running");
    }
    if (d != m.dags.end() && d->second.paused) out.push_back("DAG is paused");
    auto engine_reasons = r->engine->waiting_for(ti);
    out.insert(out.end(), engine_reasons.begin(), engine_reasons.end());
    if (s == TaskState::scheduled && !r->engine->needs_expansion(ti)) {
      const auto& rec = r->tis[static_cast<size_t>(ti)];
      if (m.free_workers <= 0)
        out.push_back("workers: " + std::to_string(m.options.workers) + " of " + std::to_string(m.options.workers) +
                      " slots busy");
      if (auto p = m.pool_block(rec.pool, rec.pool_slots); !p.empty()) out.push_back(p);
      if (auto t = m.task_limit_block(dag_id); !t.empty()) out.push_back(t);
    }
    if (s == TaskState::queued && m.runs_remote(*r, ti)) {
      // In the remote queue until a worker claims it; a claim waits for a
      // slot of the pool across all members.
      const auto& rec = r->tis[static_cast<size_t>(ti)];
      out.push_back("waiting for a remote worker on queue " + rec.queue + " to claim it");
      auto size = m.pool_slots.find(rec.pool);
      if (auto held = m.store.held_pool_slots(); held && size != m.pool_slots.end()) {
        auto h = held->find(rec.pool);
        long long used = h == held->end() ? 0 : h->second;
        if (used + rec.pool_slots > size->second)
          out.push_back("pool " + rec.pool + ": " + std::to_string(used) + " of " + std::to_string(size->second) +
                        " slots taken by tries on workers (of all members)");
      }
    }
    return out;
  });
}

SchedulerStatus Scheduler::status() {
  Impl& m = *impl_;
  // What the store says: live members (lease not expired), who owns what, the leader.
  SchedulerStatus s = read_scheduler_status(m.store, m.clock);
  s.running = m.loop_thread.joinable() && !m.stopping;
  return s;
}

Result<SchedulerMetrics> Scheduler::metrics() {
  Impl& m = *impl_;
  return m.on_loop([&]() -> Result<SchedulerMetrics> {
    SchedulerMetrics out;
    out.latency_bounds.assign(std::begin(Impl::kLatencyBounds), std::end(Impl::kLatencyBounds));
    out.latency_buckets = m.latency_buckets;
    out.latency_count = m.latency_count;
    out.latency_sum = m.latency_sum;
    for (const auto* set : {&m.ready, &m.ready_noop})
      for (auto& key : *set) {
        auto r = m.runs.find(key.run_pk);
        if (r == m.runs.end()) continue;
        const auto& ti = r->second.tis[static_cast<size_t>(key.ti)];
        ++out.queue_depth[ti.queue];
        ++out.pool_depth[ti.pool];
      }
    out.active_runs = static_cast<long long>(m.runs.size());
    out.sla_misses_detected = m.sla_detected;
    return out;
  });
}

std::string Scheduler::logs_dir() const { return impl_->options.logs_dir; }

}  // namespace baton::scheduler
