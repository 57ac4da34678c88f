#include "run_factory.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "active_runs.h"
#include "baton/core/random.h"
#include "baton/core/sha256.h"
#include "baton/dsl/compiler.h"
#include "baton/dsl/template.h"
#include "baton/scheduler/scheduler.h"
#include "log.h"
#include "loop.h"

namespace baton::scheduler {

using nlohmann::json;

namespace {
// Events of one URI a dataset run takes at most; the rest go to the next run.
constexpr int kDatasetEventsPerRun = 1000;
// Attempts at a manual or dataset run id before a conflict is the answer.
constexpr int kDraws = 8;
}  // namespace

// docs/running.md, "Run ids". The suffix is 32 random bits: runs of one DAG
// made in the same second (or given the same logical date) share everything
// else, and the id is unique per DAG. A draw that another run of the DAG
// already has is drawn again (create_named_run), so a collision never
// reaches the caller; 32 bits make a second draw rare (a draw meets one of
// n runs of the same second with odds n in 2^32: one in four million at a
// thousand runs of one DAG in one second).
Result<std::string> run_params(store::Store& store, const dsl::DagGraph& g, const store::RunRecord& r,
                               const std::string& params_json, const std::vector<std::string>& given) {
  if (g.spec().params_templates.empty()) return params_json;
  dsl::RenderContext ctx;
  ctx.zone = g.schedule().zone();
  if (!g.schedule().is_time_based())
    if (auto z = TimeZone::find(g.spec().timezone)) ctx.zone = *z;
  ctx.logical_date = r.logical_date;
  ctx.data_interval_start = r.data_interval_start;
  ctx.data_interval_end = r.data_interval_end;
  ctx.run_id = r.run_id;
  ctx.dag_id = r.dag_id;
  // The DAG's namespace's entry, else the global one (SPEC §13).
  ctx.variable = [&store, ns = g.spec().ns](const std::string& name) -> std::optional<std::string> {
    auto v = store.resolve_variable(ns, name);
    if (!v) return std::nullopt;
    return v->value;
  };
  return dsl::render_run_params(g.spec(), params_json, given, std::move(ctx));
}

std::string make_run_id(const std::string& run_type, TimePoint logical_date, bool with_suffix) {
  std::string ts = format_utc(std::chrono::time_point_cast<std::chrono::seconds>(logical_date));
  std::string compact;
  for (char c : ts)
    if (c != '-' && c != ':') compact += c;
  return run_type + "__" + compact + (with_suffix ? "_" + random_hex(4) : "");
}

// A manual or dataset run can conflict only on its id: neither has the
// one-run-per-interval index, and a known idempotency key answers the first
// run instead of a conflict.
Result<store::RunStore::Created> RunFactory::create_named_run(store::RunRecord& r,
                                                              const std::vector<store::TaskInstanceRecord>& tis,
                                                              const std::string& actor,
                                                              const std::vector<store::DatasetCursor>& cursors) {
  for (int draw = 1;; ++draw) {
    auto c = store_.create_run(r, tis, actor, fencing_.fences(), cursors);
    if (c || c.error().code != "conflict" || draw == kDraws) return c;
    r.run_id = named_run_id(r);
  }
}

std::string RunFactory::named_run_id(const store::RunRecord& r) {
  return make_run_id(r.run_type, r.logical_date, false) + "_" + (suffixes_ ? suffixes_() : random_hex(4));
}

RunFactory::RunFactory(store::Store& store, const Clock& clock, Loop& loop, DagRegistry& registry, Fencing& fencing,
                       RunSink& sink)
    : store_(store), clock_(clock), loop_(loop), registry_(registry), fencing_(fencing), sink_(sink) {}

void RunFactory::set_last_tick(const std::string& dag_id, std::optional<TimePoint> tick) {
  timetables_[dag_id].last_tick = tick;
}

void RunFactory::reset() {
  due_.clear();
  built_through_ = TimePoint::min();
  fires_.clear();
  fire_runs_.clear();
  fires_per_dag_.clear();
  for (auto& [_, t] : timetables_) {
    t.next_due.reset();
    t.ahead.reset();
  }
}

void RunFactory::plan_all() {
  for (auto& [_, d] : registry_.all()) plan(d);
}

int RunFactory::unfinished(const std::string& dag_id) {
  auto it = fires_per_dag_.find(dag_id);
  return sink_.unfinished_runs(dag_id) + (it == fires_per_dag_.end() ? 0 : it->second);
}

void RunFactory::plan(DagEntry& d) {
  if (!d.graph || !d.active || d.paused || loop_.stopping() || !fencing_.owns(d.dag_id)) return;
  const Schedule& s = d.graph->schedule();
  if (!s.is_time_based()) return;
  ++plans_;
  Timetable& t = timetables_[d.dag_id];
  const auto& spec = d.graph->spec();
  TimePoint now = clock_.now();
  std::optional<TimePoint> next_start, due;  // the interval after the last with a run
  if (spec.catchup) {
    while (unfinished(d.dag_id) < spec.max_active_runs) {
      auto start = t.last_tick ? s.next_tick(*t.last_tick) : s.next_tick(kMinInstant);
      if (!start) break;
      auto end = s.next_tick(*start);
      if (!end || *end > now) break;
      if (!create_scheduled_run(d, t, *start, *end)) break;
    }
  } else {
    // The latest complete interval. At its minute that is the one after the
    // last with a run: three steps forward. Otherwise (the first plan, a
    // scheduler that slept through intervals) a search backwards from now,
    // which cron makes dear (Schedule::prev_tick).
    std::optional<TimePoint> start, end;
    if (t.last_tick) {
      auto after = s.next_run_interval(t.last_tick, true, now);  // the one after the last with a run
      auto e2 = after && after->end <= now ? s.next_tick(after->end) : std::nullopt;
      if (e2 && *e2 > now) {
        start = after->start;
        end = after->end;
        next_start = after->end;  // once it has its run: the steps are taken already
        due = e2;
      }
    }
    if (!end) {
      end = s.prev_tick(now);
      start = end ? s.prev_tick(*end - Duration(1)) : std::nullopt;
    }
    if (start && (!t.last_tick || *start > *t.last_tick)) create_scheduled_run(d, t, *start, *end);
    if (next_start && t.last_tick != start) next_start = due = std::nullopt;
  }
  // With catchup at its limit, a finishing run plans again (the run keeper).
  if (spec.catchup && unfinished(d.dag_id) >= spec.max_active_runs) return;
  // Otherwise wake when the interval after the last one with a run completes.
  if (!next_start) {
    next_start = t.last_tick ? s.next_tick(*t.last_tick) : s.next_tick(kMinInstant);
    due = next_start ? s.next_tick(*next_start) : std::nullopt;
  }
  if (due && *due <= now) due = spec.catchup ? std::optional<TimePoint>(now + std::chrono::seconds(1)) : s.next_tick(now);
  if (!due || (t.next_due && *t.next_due == *due)) return;
  t.next_due = due;
  due_.emplace(*due, d.dag_id);
}

std::optional<TimePoint> RunFactory::next_due() const {
  if (due_.empty()) return std::nullopt;
  return due_.begin()->first;
}

void RunFactory::wake(TimePoint now) {
  auto began = std::chrono::steady_clock::now();
  size_t planned = fires_.size();
  while (!due_.empty() && due_.begin()->first <= now) {
    auto [at, id] = *due_.begin();
    due_.erase(due_.begin());
    DagEntry* d = registry_.find(id);
    auto t = timetables_.find(id);
    // Entries replaced by a later plan are stale.
    if (!d || t == timetables_.end() || t->second.next_due != at) {
      // A record built for this wake-up (the DAG was edited to a later one).
      if (t != timetables_.end() && t->second.ahead && t->second.ahead->end == at) t->second.ahead.reset();
      continue;
    }
    t->second.next_due.reset();
    plan(*d);
    // A record built for a wake-up that made no run (the DAG was paused,
    // or its interval moved) is not kept.
    if (t->second.ahead && t->second.ahead->end <= now) t->second.ahead.reset();
  }
  if (fires_.size() - planned >= 100)
    sched_log()->info("{} DAG(s) due at {} planned in {} ms", fires_.size() - planned, format_utc(now),
                      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began)
                          .count());
  build_ahead(now);
}

std::optional<TimePoint> RunFactory::next_build() const {
  auto it = due_.upper_bound(built_through_);
  if (it == due_.end()) return std::nullopt;
  return it->first - kAhead;
}

void RunFactory::build_ahead(TimePoint now) {
  TimePoint horizon = now + kAhead;
  auto began = std::chrono::steady_clock::now();
  size_t built = 0;
  for (auto it = due_.upper_bound(built_through_); it != due_.end() && it->first <= horizon; ++it) {
    auto t = timetables_.find(it->second);
    if (t == timetables_.end() || t->second.next_due != it->first) continue;  // stale
    DagEntry* d = registry_.find(it->second);
    if (!d || !d->graph || !d->active || d->paused || !fencing_.owns(d->dag_id)) continue;
    if (!d->graph->spec().params_templates.empty()) continue;
    // The interval this wake-up completes: the one after the last with a run.
    auto iv = d->graph->schedule().next_run_interval(t->second.last_tick, true, now);
    if (!iv || iv->end != it->first) continue;
    t->second.ahead = Ahead{d->graph, iv->start, iv->end, scheduled_run(*d, iv->start, iv->end)};
    ++built;
  }
  built_through_ = horizon;  // a clock set back builds some again: the same records
  if (built >= 100)
    sched_log()->info("{} scheduled run(s) built ahead in {} ms", built,
                      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began)
                          .count());
}

Result<TriggerResult> RunFactory::trigger(const std::string& dag_id, const TriggerRequest& req,
                                          const std::string& actor) {
  return std::move(trigger_all({Trigger{dag_id, req, actor}}).front());
}

RunFactory::Prepared RunFactory::prepare_trigger(const Trigger& t) {
  Prepared p;
  const std::string& dag_id = t.dag_id;
  const TriggerRequest& req = t.req;
  auto answer = [&p](Result<TriggerResult> r) {
    p.answer = std::move(r);
    return std::move(p);
  };
  // A key seen before returns its first run, whatever the DAG declares now
  // (a retry after the DAG was edited).
  auto seen = [&]() -> std::optional<TriggerResult> {
    if (!req.idempotency_key) return std::nullopt;
    auto found = store_.find_run_by_key(dag_id, *req.idempotency_key);
    if (!found || !*found) return std::nullopt;
    return TriggerResult{**found, false};
  };
  DagEntry* d = registry_.find(dag_id);
  if (!d || !d->graph) return answer(Error::not_found("no DAG \"" + dag_id + "\""));
  if (!d->active) return answer(Error::invalid("DAG " + dag_id + " is inactive (its file was removed)"));
  const auto g = d->graph;
  json params = json::parse(g->spec().params_json);
  json overrides = json::parse(req.params_json, nullptr, false);
  if (overrides.is_discarded() || !overrides.is_object()) return answer(Error::invalid("params must be a JSON object"));
  std::vector<std::string> given;
  for (auto& [k, v] : overrides.items()) given.push_back(k);
  if (auto st = dsl::check_param_names(g->spec(), given); !st) {
    if (auto s = seen()) return answer(std::move(*s));
    return answer(st.error());
  }
  for (auto& [k, v] : overrides.items()) params[k] = v;
  store::RunRecord& r = p.run.run;
  r.dag_id = dag_id;
  r.run_type = "manual";
  r.logical_date = req.logical_date.value_or(clock_.now());
  if (auto iv = g->schedule().is_time_based() ? g->schedule().last_complete_interval(r.logical_date)
                                              : std::optional<DataInterval>()) {
    r.data_interval_start = iv->start;
    r.data_interval_end = iv->end;
  } else {
    r.data_interval_start = r.data_interval_end = r.logical_date;
  }
  r.run_id = named_run_id(r);
  // The defaults' templates rendered now; the trigger's values are data.
  auto rendered = run_params(store_, *g, r, params.dump(-1, ' ', false, json::error_handler_t::replace), given);
  if (!rendered) {
    if (auto s = seen()) return answer(std::move(*s));  // a retry of a trigger that made its run before
    return answer(Error::invalid(rendered.error().message));
  }
  r.params = std::move(*rendered);
  r.dag_version = g->hash();
  r.note = req.note;
  r.idempotency_key = req.idempotency_key;
  r.created_by = t.actor;
  p.run.task_instances = task_instances_for(*g);
  p.run.actor = t.actor;
  p.graph = g;
  return p;
}

std::vector<Result<TriggerResult>> RunFactory::trigger_all(const std::vector<Trigger>& triggers) {
  std::vector<Prepared> prepared;
  prepared.reserve(triggers.size());
  std::vector<store::RunStore::NewRun> runs;
  std::vector<size_t> made_for;  // runs[i] is triggers[made_for[i]]'s
  for (size_t i = 0; i < triggers.size(); ++i) {
    prepared.push_back(prepare_trigger(triggers[i]));
    if (prepared.back().answer) continue;
    runs.push_back(prepared.back().run);
    made_for.push_back(i);
  }
  std::vector<Result<TriggerResult>> out(triggers.size(), Error{"internal", "not answered"});
  auto made = runs.empty() ? Result<std::vector<Result<store::RunStore::Created>>>(
                                 std::vector<Result<store::RunStore::Created>>())
                           : store_.create_runs(runs, "", fencing_.fences());
  if (!runs.empty()) ++trigger_commits_;
  if (!made && made.error().code == "stale_epoch") fencing_.fenced_out(made.error());
  bool adopted = false;
  for (size_t i = 0; i < triggers.size(); ++i) {
    Prepared& p = prepared[i];
    if (p.answer) out[i] = std::move(*p.answer);
  }
  for (size_t k = 0; k < made_for.size(); ++k) {
    size_t i = made_for[k];
    Prepared& p = prepared[i];
    if (!made) {
      out[i] = made.error();
      continue;
    }
    auto c = std::move((*made)[k]);
    // A run id another run of the DAG has (the same random suffix): drawn
    // again, alone (the batch was the first of kDraws).
    for (int draw = 2; !c && c.error().code == "conflict" && draw <= kDraws; ++draw) {
      ++trigger_commits_;
      p.run.run.run_id = named_run_id(p.run.run);
      c = store_.create_run(p.run.run, p.run.task_instances, p.run.actor, fencing_.fences());
      if (!c && c.error().code == "stale_epoch") fencing_.fenced_out(c.error());
    }
    if (!c) {
      out[i] = c.error();
      continue;
    }
    if (c->created) {
      sink_.adopt(c->run, p.graph, c->task_instances);
      adopted = true;
    }
    out[i] = TriggerResult{c->run, c->created};
  }
  // A trigger refused before its run was built whose key a trigger earlier
  // in the group made gets that run, as it would one after the other.
  for (size_t i = 0; i < triggers.size(); ++i) {
    const auto& key = triggers[i].req.idempotency_key;
    if (out[i] || !key) continue;
    for (size_t j = 0; j < i; ++j)
      if (out[j] && triggers[j].dag_id == triggers[i].dag_id && out[j]->run.idempotency_key == key) {
        out[i] = TriggerResult{out[j]->run, false};
        break;
      }
  }
  if (adopted) sink_.dispatch();
  return out;
}

store::RunStore::NewRun RunFactory::scheduled_run(const DagEntry& d, TimePoint start, TimePoint end) {
  store::RunRecord r;
  r.dag_id = d.dag_id;
  r.run_type = "scheduled";
  r.run_id = make_run_id("scheduled", start, false);
  r.logical_date = start;
  r.data_interval_start = start;
  r.data_interval_end = end;
  r.params = d.graph->spec().params_json;
  // A default that cannot be rendered (a variable missing) keeps its text:
  // the run is made all the same, and the log says why.
  if (auto p = run_params(store_, *d.graph, r, r.params); p) r.params = std::move(*p);
  else sched_log()->error("run {} {}: {} (its text is kept)", d.dag_id, r.run_id, p.error().message);
  r.dag_version = d.graph->hash();
  return {std::move(r), task_instances_for(*d.graph), {}, {}};
}

bool RunFactory::create_scheduled_run(DagEntry& d, Timetable& t, TimePoint start, TimePoint end) {
  // Built ahead for this interval of this version, or now.
  if (t.ahead && t.ahead->graph == d.graph && t.ahead->start == start && t.ahead->end == end) {
    fire_runs_.push_back(std::move(t.ahead->run));
    ++built_ahead_;
  } else {
    fire_runs_.push_back(scheduled_run(d, start, end));
  }
  t.ahead.reset();
  fires_.push_back({d.dag_id, d.graph, t.last_tick, start});
  ++fires_per_dag_[d.dag_id];
  t.last_tick = start;
  return true;
}

// The fires of one turn (10,000 DAGs on the same minute) are one
// transaction, not one each.
bool RunFactory::commit_runs() {
  if (fires_.empty()) return false;
  auto fires = std::move(fires_);
  auto runs = std::move(fire_runs_);
  fires_.clear();
  fire_runs_.clear();
  fires_per_dag_.clear();
  ++run_commits_;
  auto began = std::chrono::steady_clock::now();
  auto made = store_.create_runs(runs, "system", fencing_.fences());
  if (fires.size() >= 100)
    sched_log()->info("{} scheduled run(s) made in one transaction in {} ms", fires.size(),
                      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began)
                          .count());
  if (!made) {
    // Nothing was made: each timetable goes back to where it was (latest
    // first, so a DAG with several fires ends at its first one's).
    for (auto it = fires.rbegin(); it != fires.rend(); ++it) timetables_[it->dag_id].last_tick = it->last_tick_before;
    // Each DAG wakes again in a second: its plan counted on these runs (a
    // catchup DAG at its limit armed nothing; the others, the interval after).
    TimePoint again = clock_.now() + std::chrono::seconds(1);
    for (auto& f : fires) {
      Timetable& t = timetables_[f.dag_id];
      if (t.next_due && *t.next_due == again) continue;
      t.next_due = again;
      due_.emplace(again, f.dag_id);
    }
    if (made.error().code == "stale_epoch") fencing_.fenced_out(made.error());
    else sched_log()->error("creating {} scheduled run(s): {} (tried again in a second)", fires.size(),
                            made.error().message);
    return false;
  }
  bool adopted = false;
  for (size_t i = 0; i < fires.size(); ++i) {
    auto& c = (*made)[i];
    if (!c && c.error().code != "conflict") {
      sched_log()->error("creating run {} {}: {}", fires[i].dag_id, runs[i].run.run_id, c.error().message);
      continue;
    }
    // Created now, or already there from an earlier life: move on.
    loop_.batch().last_ticks.push_back({fires[i].dag_id, fires[i].start});
    if (c) {
      sink_.adopt(c->run, fires[i].graph, c->task_instances);
      adopted = true;
    }
  }
  return adopted;
}

// ---- datasets (SPEC §6) ----

bool RunFactory::take_datasets_dirty() {
  bool was = datasets_dirty_;
  datasets_dirty_ = false;
  return was;
}

void RunFactory::poll_datasets() {
  if (auto id = store_.last_dataset_event_id(); id && *id != datasets_seen_) {
    datasets_seen_ = *id;
    check_datasets();
  }
}

// Every dataset-scheduled DAG this scheduler owns gets a run when each of its
// URIs has an event it has not consumed. Runs beyond max_active_runs wait
// queued, like any other.
void RunFactory::check_datasets() {
  for (auto& [id, d] : registry_.all()) {
    if (!d.graph || !d.active || d.paused || loop_.stopping() || !fencing_.owns(id)) continue;
    const auto& spec = d.graph->spec();
    if (spec.schedule_kind != dsl::DagSpec::ScheduleKind::datasets || spec.schedule_datasets.empty()) continue;
    auto cursors = store_.dataset_cursors(id);
    if (!cursors) {
      sched_log()->error("datasets of {}: {}", id, cursors.error().message);
      continue;
    }
    std::map<std::string, long long> after;
    for (auto& c : *cursors) after[c.uri] = c.last_event_id;
    std::vector<store::DatasetEvent> events;
    bool every = true;
    for (auto& uri : spec.schedule_datasets) {
      auto e = store_.list_dataset_events(uri, after[uri], kDatasetEventsPerRun);
      if (!e || e->empty()) {
        every = false;
        break;
      }
      if (e->size() == static_cast<size_t>(kDatasetEventsPerRun)) datasets_dirty_ = true;  // more for the next run
      events.insert(events.end(), e->begin(), e->end());
    }
    if (every) create_dataset_run(d, std::move(events));
  }
}

void RunFactory::create_dataset_run(DagEntry& d, std::vector<store::DatasetEvent> events) {
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
  TimePoint now = clock_.now();
  r.logical_date = now;
  r.run_id = named_run_id(r);
  r.data_interval_start = lo;
  r.data_interval_end = hi;
  r.params = params.dump(-1, ' ', false, json::error_handler_t::replace);
  if (auto p = run_params(store_, *d.graph, r, r.params, {"dataset_events"}); p) r.params = std::move(*p);
  else sched_log()->error("run {} {}: {} (its text is kept)", d.dag_id, r.run_id, p.error().message);
  r.dag_version = d.graph->hash();
  r.idempotency_key = "dataset:" + sha256_hex(consumed).substr(0, 32);
  r.created_by = "system";
  // The cursors move with the run, in one transaction: a crash leaves both
  // or neither.
  std::vector<store::DatasetCursor> cursors;
  for (auto& [uri, n] : last) cursors.push_back({d.dag_id, uri, n});
  auto c = create_named_run(r, task_instances_for(*d.graph), "system", cursors);
  if (!c && c.error().code == "stale_epoch") {
    fencing_.fenced_out(c.error());
    return;
  }
  if (!c) {
    sched_log()->error("creating a dataset run of {}: {}", d.dag_id, c.error().message);
    return;  // the next check tries again
  }
  if (c->created) {
    sched_log()->info("run {} {} for {} dataset event(s)", d.dag_id, c->run.run_id, events.size());
    sink_.adopt(c->run, d.graph, c->task_instances);
  }
}

}  // namespace baton::scheduler
