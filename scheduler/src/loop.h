// Loop: the one event-loop thread of a scheduling process (DESIGN.md "The
// scheduler, in named parts"). It owns the io_context, the turn's write batch
// and group commit. Handlers posted from any thread run one at a time on the
// loop thread; a turn ends with `end_turn()`, which the composition root sets
// (write the batch, then act on what was written). Timers: one wake-up at the
// earliest deadline the parts asked for, and the periodic poll (the safety
// net). Boost.Asio stays inside loop.cpp.
//
// Threads: post(), request_flush() (from the loop thread only), run_and_wait()
// and stopping() may be called from any thread; everything else from the loop
// thread, or before start().
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/store/store.h"

namespace baton::scheduler {

class Loop {
 public:
  explicit Loop(const Clock& clock);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Wiring, before start(): what ends a turn, and what a passed deadline does
  // (end_turn follows it).
  void set_end_turn(std::function<void()> fn) { end_turn_ = std::move(fn); }
  void set_on_wake(std::function<void()> fn) { on_wake_ = std::move(fn); }

  void start();  // the loop thread
  // The last handlers run, then the thread ends (after set_stopping()).
  void stop();
  bool running() const;
  bool in_loop_thread() const;
  // No new work: timers do nothing any more, parts stop planning.
  void set_stopping() { stopping_ = true; }
  bool stopping() const { return stopping_; }

  void post(std::function<void()> fn);
  // Runs the handlers posted so far on the calling thread (tests, with no
  // loop thread running).
  void run_ready();
  // Runs at most one posted handler on the calling thread; false when none
  // was ready (tests: a turn at a time).
  bool run_one();
  // Runs `fn` on the loop and waits for it (not from the loop thread).
  void run_and_wait(std::function<void()> fn);

  // Group commit: a turn-ending write posted behind the events already
  // queued, so that events that arrive together (tries finishing on several
  // workers, heartbeats) land in one transaction. Loop thread.
  void request_flush();
  void end_turn();

  // The wake-up at `at` replaces the previous one; nullopt keeps it.
  void wake_at(std::optional<TimePoint> at);
  // `fn` every `period` (first after one period) until stopping.
  void every(Duration period, std::function<void()> fn);
  void cancel_timers();  // any thread

  // The turn's changes, written in one transaction.
  store::WriteBatch& batch() { return batch_; }
  void audit(const std::string& actor, const std::string& action, const std::string& target, std::string details_json);

  // Writes the batch under `fences`, rows collapsed to their last version
  // (a task instance that went scheduled -> queued -> running -> success in
  // one turn is one UPDATE, not four). A stale epoch drops the batch and is
  // returned; any other failure stops the process (exit 70): nothing may act
  // on changes the store does not have.
  struct Written {
    bool notifications = false;  // notifications or SLA misses went in
    std::optional<Error> fenced;
  };
  Written write(store::Store& store, const std::vector<store::Fence>& fences);

 private:
  struct Asio;
  struct Periodic;
  void arm(Periodic& p);
  const Clock& clock_;
  std::unique_ptr<Asio> asio_;
  std::function<void()> end_turn_, on_wake_;
  std::atomic<bool> stopping_{false};
  bool flush_pending_ = false;
  store::WriteBatch batch_;
};

}  // namespace baton::scheduler
