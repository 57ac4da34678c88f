// LocalWorkers: the worker slots of a standalone process. N threads take
// assignments from a queue, render and run them (shell, http, sql), and report
// heartbeats (with the checkpoint saved on the way) and the end of each try
// through the callbacks, which post to the scheduler's loop. A try can be
// killed by its task instance id; stopping gives busy tries a grace period,
// then kills them (reported as `shutdown`).
//
// Threads: every public method may be called from any thread; the callbacks
// are called from the worker threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/progress.h"
#include "baton/executor/assignment.h"

namespace baton::executor {

struct LocalWorkerServices {
  RenderServices render;
  // The last checkpoint of a task instance, read before its try starts.
  std::function<std::optional<std::string>(long long ti_id)> load_checkpoint;
  std::function<void(long long ti_id, const std::string& token, const std::string& checkpoint)> save_checkpoint;
  // activity: the last log line, checkpoint or progress; progress: the
  // latest progress line, when it changed.
  std::function<void(long long run_pk, int ti, const std::string& token, std::optional<TimePoint> activity,
                     const std::optional<ProgressLine>& progress)>
      heartbeat;
  std::function<void(const Finished&)> finished;
};

class LocalWorkers {
 public:
  LocalWorkers(const Clock& clock, std::string logs_dir, Duration heartbeat_interval, LocalWorkerServices services);
  ~LocalWorkers();
  LocalWorkers(const LocalWorkers&) = delete;
  LocalWorkers& operator=(const LocalWorkers&) = delete;

  void start(int slots);
  // A try is about to be handed out: a kill before a worker picks it up is
  // seen when it does.
  void expect(long long ti_id);
  void hand(std::vector<Assignment> tries);
  void kill(long long ti_id);
  // Shutdown: from now on a killed try reports `shutdown`.
  void set_stopping() { stopping_ = true; }
  // Idle workers exit; busy ones get `grace` to finish, then are killed.
  void stop(Duration grace);

 private:
  void main(int slot);
  Finished run_one(class ShellRunner& runner, Assignment& a, int slot);

  const Clock& clock_;
  std::string logs_dir_;
  Duration heartbeat_interval_;
  LocalWorkerServices services_;
  std::atomic<bool> stopping_{false};
  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<Assignment> work_;  // guarded by work_mu_
  bool workers_stop_ = false;    // guarded by work_mu_
  std::vector<std::thread> threads_;
  size_t slots_ = 0;  // set by start(), before any try is handed
  std::mutex cancel_mu_;
  std::map<long long, std::shared_ptr<std::atomic<bool>>> cancel_flags_;  // ti_id -> flag; guarded by cancel_mu_
  bool kill_all_ = false;                                                   // guarded by cancel_mu_
  std::atomic<int> busy_{0};
};

}  // namespace baton::executor
