// PartitionListener (shared mode): a thread of its own that sleeps on the
// store's notifications. A change of partitions and worker events of an
// owned partition wake the loop (through the callbacks, which post);
// commands for the owned partitions are carried out from this thread through
// the process's Control (whose calls post to the loop and wait).
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "baton/scheduler/control.h"
#include "baton/store/store.h"

namespace baton::scheduler {

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
