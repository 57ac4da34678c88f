// The dispatcher's test bench: a fake host that applies transitions the
// way the run keeper does for the dispatcher's sake, a fake channel, and a
// dispatcher over a SQLite store with a fake clock.
#pragma once

#include <catch2/catch.hpp>

#include "dispatcher.h"
#include "loop.h"
#include "parts_runs.h"
#include "parts_support.h"

namespace baton::scheduler::testing_dispatch {

using namespace baton;
using namespace baton::scheduler;


// Applies transitions the way the run keeper does for the dispatcher's
// sake (the ready set and the slots), and records the rest.
struct FakeHost final : DispatchHost {
  Dispatcher* d = nullptr;
  std::vector<std::string> finished_noops, poked, triggered;
  void apply(ActiveRun& r, const std::vector<Transition>& ts) override {
    for (auto& t : ts) {
      if (t.ti < 0) continue;
      r.tis[static_cast<size_t>(t.ti)].state = t.to;
      if (t.from == TaskState::scheduled) d->task_unready(r, t.ti);
      if (t.to == TaskState::scheduled) d->task_ready(r, t.ti);
      if (holds_slot(t.from) && !holds_slot(t.to)) d->released(r, t.ti);
    }
  }
  void expand(ActiveRun&, int) override {}
  void finished(const executor::Finished& f) override {
    finished_noops.push_back(std::to_string(f.run_pk));
    if (f.worker_slot) d->slot_freed();
  }
  void poke(executor::Assignment a) override { poked.push_back(a.shell.task_id); }
  void start_trigger(ActiveRun& r, int ti) override { triggered.push_back(r.tis[static_cast<size_t>(ti)].task_id); }
  void try_began(const ActiveRun&, int, int) override {}
};

// Claims every offered try at once (like the local slots), or none (like
// the store's queue, whose workers claim later).
struct FakeChannel final : WorkerChannel {
  bool claim_at_once = true;
  std::vector<long long> offered, began_runs, handed;
  std::optional<std::string> offer(ActiveRun& r, int) override {
    offered.push_back(r.rec.pk);
    if (!claim_at_once) return std::nullopt;
    return std::string("w1");
  }
  void began(ActiveRun& r, int) override { began_runs.push_back(r.rec.pk); }
  void flush() override {
    handed.insert(handed.end(), began_runs.begin(), began_runs.end());
    began_runs.clear();
  }
  void withdraw(const ActiveRun&, int) override {}
  std::vector<Lost> lost() override { return {}; }
};

struct Env {
  testing::PartsStore s;
  Loop loop{s.clock};
  ActiveRuns runs;
  DagRegistry registry{*s.store, s.dags()};
  FakeHost host;
  FakeChannel channel;
  std::unique_ptr<Dispatcher> d;
  explicit Env(int workers, bool shared = false) {
    channel.claim_at_once = !shared;
    d = std::make_unique<Dispatcher>(s.clock, loop, runs, registry, host, channel,
                                     DispatcherOptions{shared, workers, "me", {"/tmp/logs"}});
    host.d = d.get();
    d->refresh_pools(*s.store);
  }
  ActiveRun& start(const dsl::DagGraphPtr& g, long long pk, const std::string& date,
                   std::optional<long long> backfill = {}) {
    ActiveRun& r = runs.add(testing::make_active_run(g, s.clock, pk, *parse_utc(date), backfill));
    host.apply(r, r.engine->start());
    return r;
  }
  // What went to the workers at the end of the turn.
  std::vector<long long> handed() {
    channel.flush();
    std::vector<long long> out;
    out.swap(channel.handed);
    return out;
  }
};


}  // namespace baton::scheduler::testing_dispatch
