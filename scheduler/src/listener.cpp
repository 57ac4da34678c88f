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

void PartitionListener::main() {
  std::unique_ptr<store::Listener> l;
  auto last_sweep = std::chrono::steady_clock::time_point{};
  // Since when a claim's started event (`s:P`) waits. Not urgent (the try
  // runs whatever its owner knows, and its start time is the claim's): it
  // goes with the next drain, a report's, or kStartedDelay after it at the
  // latest. A burst of claims makes one turn, and a claim's wake-up does not
  // take the CPU from the start of its own try.
  bool started_waits = false;
  auto started_since = std::chrono::steady_clock::time_point{};
  constexpr auto kStartedDelay = std::chrono::milliseconds(50);
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
    auto timeout = std::chrono::milliseconds(250);
    if (started_waits)
      timeout = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                               kStartedDelay - (std::chrono::steady_clock::now() - started_since)),
                           std::chrono::milliseconds(1), timeout);
    auto w = l->wait(timeout);
    if (!w) {
      l.reset();
      continue;
    }
    if (stop_) break;
    const bool moved = std::find(w->begin(), w->end(), "baton_partitions") != w->end();
    if (moved) callbacks_.partitions_moved();
    std::vector<int> parts = callbacks_.owned();
    // What woke it: worker events (`e:P`; `s:P`, claims, deferred) or commands (`c:P`) of a
    // partition; only its own partitions' are its business (every member
    // hears every notification). At least every 250 ms, and after a
    // notification without a partition or a change of partitions, both are
    // looked for, as a sweep: for what came while it was not listening, or
    // for a partition it gained since the notification.
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
      if (kind == 's') {
        if (!started_waits) started_since = now;
        started_waits = true;
      } else {
        (kind == 'c' ? commands : events) = true;
      }
    }
    if (started_waits && now - started_since >= kStartedDelay) events = true;
    if (events) {
      started_waits = false;  // a drain applies every waiting event
      callbacks_.events();
    }
    if (parts.empty() || !commands) continue;
    auto cmds = store_.pending_commands(parts, 100);
    if (!cmds) continue;
    if (cmds->size() == 100) last_sweep = {};  // more may wait: look again at once
    for (auto& c : *cmds) {
      if (stop_) break;
      commands::execute(control_, c);
    }
  }
}

}  // namespace baton::scheduler
