// SensorPokers: the threads that poke sensors (SPEC §5), a few at a time so
// that a slow sensor.http does not hold up the others. Each poke is quick (a
// file's existence, one HTTP request of at most 30 s, one read of a task's
// state) and takes no worker slot; between pokes the sensor is waiting. The
// outcome of a poke that found nothing yet is `reschedule`.
//
// Threads: every public method may be called from any thread; `finished` is
// called from the poker threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "baton/core/clock.h"
#include "baton/executor/assignment.h"

namespace baton::executor {

struct SensorServices {
  // `var.NAME` as a task of namespace NS reads it (RenderServices).
  std::function<std::optional<std::string>(const std::string& ns, const std::string& name)> variable;
  // Whether variable NAME, as namespace NS reads it, is secret (its value is
  // masked in the sensor's log and reason); unset: none is.
  std::function<bool(const std::string& ns, const std::string& name)> variable_is_secret;
  // sensor.task: the state of a task's own instance in the DAG's latest run
  // at that logical date (nullopt: no such run or task yet).
  std::function<Result<std::optional<TaskState>>(const std::string& dag_id, const std::string& task_id, TimePoint at)>
      task_state;
  std::function<void(const Finished&)> finished;
};

class SensorPokers {
 public:
  // Relative paths of sensor.file are taken from `dags_dir`. sensor.file
  // looks only under `roots` (SPEC §12, `sensor_roots`; empty: `dags_dir`
  // and /tmp): a path that leads elsewhere, after `..` and symbolic links
  // are resolved, fails the try.
  SensorPokers(const Clock& clock, std::string dags_dir, SensorServices services,
               std::vector<std::string> roots = {});
  ~SensorPokers();
  SensorPokers(const SensorPokers&) = delete;
  SensorPokers& operator=(const SensorPokers&) = delete;

  void start(int threads);
  void poke(Assignment a);
  // A poke in flight is recovered (worker_lost) at the next start.
  void stop();

  // One poke, on the calling thread.
  Finished poke_now(Assignment& a);

 private:
  void main();
  // poke_now without the masking of the reason; `secrets` fills while the
  // templates render.
  Finished poke_once(Assignment& a, const std::vector<std::string>& secrets);

  const Clock& clock_;
  std::string dags_dir_;
  SensorServices services_;
  std::vector<std::string> roots_;  // resolved (weakly_canonical), each without a trailing /
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Assignment> pokes_;  // guarded by mu_
  bool stop_ = false;             // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace baton::executor
