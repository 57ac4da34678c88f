#include "listener.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

#include "commands.h"
#include "log.h"

namespace baton::scheduler {

PartitionListener::PartitionListener(store::Store& store, Control& control, ListenerCallbacks callbacks)
    : store_(store), control_(control), callbacks_(std::move(callbacks)) {}

PartitionListener::~PartitionListener() { stop(); }

void PartitionListener::start() { thread_ = std::thread([this] { main(); }); }

void PartitionListener::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::chrono::milliseconds ListenerGate::timeout(Clock::time_point now) const {
  using std::chrono::milliseconds;
  // Until the next sweep is due, or a waiting started event's deadline.
  auto until = kSweepEvery - (now - last_sweep_);
  if (started_waits_) until = std::min(until, kStartedDelay - (now - started_since_));
  return std::clamp(std::chrono::duration_cast<milliseconds>(until), milliseconds(1),
                    std::chrono::duration_cast<milliseconds>(kSweepEvery));
}

ListenerGate::Wake ListenerGate::heard(const std::vector<std::string>& notes, bool moved,
                                       const std::vector<int>& parts, Clock::time_point now) {
  Wake w;
  const bool sweep = moved || now - last_sweep_ >= kSweepEvery;
  w.events = w.commands = sweep;
  if (sweep) last_sweep_ = now;
  for (const auto& n : notes) {
    static const std::string kPrefix = "baton_events:";
    if (n == "baton_events") w.events = w.commands = true;
    if (n.size() < kPrefix.size() + 3 || n.compare(0, kPrefix.size(), kPrefix) != 0) continue;
    const char kind = n[kPrefix.size()];
    const int part = std::atoi(n.c_str() + kPrefix.size() + 2);
    if (!std::binary_search(parts.begin(), parts.end(), part)) continue;  // another member's
    if (kind == 's') {
      if (!started_waits_) started_since_ = now;
      started_waits_ = true;
    } else {
      (kind == 'c' ? w.commands : w.events) = true;
    }
  }
  if (started_waits_ && now - started_since_ >= kStartedDelay) w.events = true;
  if (w.events) started_waits_ = false;  // a drain applies every waiting event
  return w;
}

void PartitionListener::main() {
  std::unique_ptr<store::Listener> l;
  ListenerGate gate;
  while (!stop_) {
    if (!l) {
      auto o = store::open_listener(store_.url(), {"baton_events", "baton_partitions"});
      if (!o) {
        sched_log()->warn("listening for events: {}", o.error().message);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      l = std::move(*o);
    }
    auto w = l->wait(gate.timeout(ListenerGate::Clock::now()));
    if (!w) {
      l.reset();
      continue;
    }
    if (stop_) break;
    const bool moved = std::find(w->begin(), w->end(), "baton_partitions") != w->end();
    if (moved) callbacks_.partitions_moved();
    std::vector<int> parts = callbacks_.owned();
    auto wake = gate.heard(*w, moved, parts, ListenerGate::Clock::now());
    if (wake.events) callbacks_.events();
    if (parts.empty() || !wake.commands) continue;
    auto cmds = store_.pending_commands(parts, 100);
    if (!cmds) continue;
    if (cmds->size() == 100) gate.sweep_next();  // more may wait: look again at once
    for (auto& c : *cmds) {
      if (stop_) break;
      commands::execute(control_, c);
    }
  }
}

}  // namespace baton::scheduler
