// PartitionListener (shared mode): a thread of its own that sleeps on the
// store's notifications. A change of partitions and worker events of an
// owned partition wake the loop (through the callbacks, which post);
// commands for the owned partitions are carried out from this thread through
// the process's Control (whose calls post to the loop and wait).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "baton/scheduler/control.h"
#include "baton/store/store.h"

namespace baton::scheduler {

// What the notifications heard ask of the listener: a drain of the worker
// events, a look for commands, or neither yet. Pure (the times are given),
// so that its rules are tested without a clock.
//  - `e:P` (a report) and `c:P` (a command) of an owned partition: at once;
//  - `s:P` (a claim's started event): not urgent (the try runs whatever its
//    owner knows, and its start time is the claim's). It goes with the next
//    drain, or kStartedDelay after it at the latest, so that a burst of
//    claims makes one turn and a claim's wake-up does not take the CPU from
//    the start of its own try;
//  - a notification without a partition, a change of partitions, and at
//    least every kSweepEvery: both, as a sweep (for what came while nobody
//    listened, or for a partition gained since the notification).
class ListenerGate {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kStartedDelay = std::chrono::milliseconds(50);
  static constexpr auto kSweepEvery = std::chrono::milliseconds(250);
  struct Wake {
    bool events = false;
    bool commands = false;
  };
  // How long the next wait may last: until the next sweep, or a waiting
  // started event's deadline (at least 1 ms).
  std::chrono::milliseconds timeout(Clock::time_point now) const;
  // The notifications of one wait (`baton_events`, `baton_events:K:P`, ...;
  // none when it timed out), whether the partitions moved, the owned
  // partitions (sorted), and when.
  Wake heard(const std::vector<std::string>& notes, bool moved, const std::vector<int>& parts,
             Clock::time_point now);
  // Sweep at the next wake-up, after the shortest wait (more commands may wait).
  void sweep_next() { last_sweep_ = {}; }

 private:
  Clock::time_point last_sweep_{};
  bool started_waits_ = false;
  Clock::time_point started_since_{};
};

struct ListenerCallbacks {
  std::function<std::vector<int>()> owned;  // the owned partitions, sorted (any thread)
  std::function<void()> partitions_moved;
  std::function<void()> events;
};

class PartitionListener {
 public:
  PartitionListener(store::Store& store, Control& control, ListenerCallbacks callbacks);
  ~PartitionListener();
  void start();
  void stop();

 private:
  void main();

  store::Store& store_;
  Control& control_;
  ListenerCallbacks callbacks_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace baton::scheduler
