#include "baton/executor/local_workers.h"

#include <algorithm>
#include <filesystem>

#include "baton/executor/shell_runner.h"

namespace baton::executor {

namespace fs = std::filesystem;

LocalWorkers::LocalWorkers(const Clock& clock, std::string logs_dir, Duration heartbeat_interval,
                           LocalWorkerServices services)
    : clock_(clock),
      logs_dir_(std::move(logs_dir)),
      heartbeat_interval_(heartbeat_interval),
      services_(std::move(services)) {}

LocalWorkers::~LocalWorkers() {
  if (!threads_.empty()) stop(Duration(0));
}

void LocalWorkers::start(int slots) {
  slots_ = static_cast<size_t>(std::max(slots, 0));
  for (int i = 0; i < slots; ++i) threads_.emplace_back([this, i] { main(i); });
}

void LocalWorkers::expect(long long ti_id) {
  std::lock_guard lock(cancel_mu_);
  cancel_flags_[ti_id] = std::make_shared<std::atomic<bool>>(false);
}

void LocalWorkers::hand(std::vector<Assignment> tries) {
  if (tries.empty()) return;
  {
    std::lock_guard lock(work_mu_);
    for (auto& a : tries) work_.push_back(std::move(a));
  }
  // An idle slot woken per try. Every idle slot woken for one try made them
  // all race for it, and on two cores the one that won waited for the
  // others to run and sleep again: on the way to every start of a chain.
  // A slot that finds no try waits again; one busy now takes what is left
  // when its try ends (it looks before it waits).
  if (tries.size() >= slots_) {
    work_cv_.notify_all();
  } else {
    for (size_t i = 0; i < tries.size(); ++i) work_cv_.notify_one();
  }
}

void LocalWorkers::kill(long long ti_id) {
  std::lock_guard lock(cancel_mu_);
  auto it = cancel_flags_.find(ti_id);
  if (it != cancel_flags_.end()) it->second->store(true);
}

void LocalWorkers::stop(Duration grace) {
  {
    // Idle workers exit; busy ones finish the try they have.
    std::lock_guard lock(work_mu_);
    workers_stop_ = true;
  }
  work_cv_.notify_all();
  // Running tries get the grace period, then are killed.
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (busy_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard lock(cancel_mu_);
    kill_all_ = true;
    for (auto& [_, flag] : cancel_flags_) flag->store(true);
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void LocalWorkers::main(int slot) {
  ShellRunner runner([this] { return clock_.now(); });
  while (true) {
    Assignment a;
    {
      std::unique_lock lock(work_mu_);
      work_cv_.wait(lock, [&] { return workers_stop_ || !work_.empty(); });
      if (workers_stop_ || work_.empty()) return;  // tries left in the queue are recovered at the next start
      a = std::move(work_.front());
      work_.pop_front();
    }
    ++busy_;
    Finished f = run_one(runner, a, slot);
    --busy_;
    services_.finished(f);
  }
}

// A worker thread's tries share one scratch folder, emptied after each (the
// runner removes an earlier try's checkpoint and output files before it
// starts): a folder made and removed per try costs two inode operations, a
// measurable share of a short task on ext4.
Finished LocalWorkers::run_one(ShellRunner& runner, Assignment& a, int slot) {
  Finished f{a.run_pk, a.ti, a.attempt_token, TryOutcome::success, "", std::nullopt, std::nullopt, 0};
  if (a.type == dsl::TaskType::noop) return f;
  if (!worker_runs(a.type)) {
    f.outcome = TryOutcome::failed;
    f.reason = std::string("task type ") + dsl::to_string(a.type) + " is not supported yet";
    return f;
  }
  // The log's folder is made with its first byte (ShellRunner), not here.
  if (std::string why; !render(a, services_.render, heartbeat_interval_, why)) {
    append_log_note(a.shell.log_path, why);
    f.outcome = TryOutcome::failed;
    f.reason = why;
    return f;
  }
  a.shell.scratch_dir = logs_dir_ + "/.scratch/slot-" + std::to_string(slot);
  // The last checkpoint, read here rather than on the loop (one query per
  // later try). It is an earlier try's (SPEC §5), and a task instance's try
  // counter goes on when it is cleared (§4): a first try has none to read.
  if (a.shell.try_number > 1)
    if (auto cp = services_.load_checkpoint(a.ti_id)) a.shell.checkpoint = *cp;
  std::shared_ptr<std::atomic<bool>> flag;
  {
    // Made when the try was handed out (expect), so that a kill before this
    // worker picked it up is seen here.
    std::lock_guard lock(cancel_mu_);
    auto& slot_flag = cancel_flags_[a.ti_id];
    if (!slot_flag) slot_flag = std::make_shared<std::atomic<bool>>(false);
    if (kill_all_) slot_flag->store(true);
    flag = slot_flag;
  }
  const bool stopping = stopping_;
  if (flag->load()) {
    std::lock_guard lock(cancel_mu_);
    if (auto it = cancel_flags_.find(a.ti_id); it != cancel_flags_.end() && it->second == flag) cancel_flags_.erase(it);
    f.outcome = stopping ? TryOutcome::shutdown : TryOutcome::failed;
    f.reason = stopping ? "shutdown" : "canceled";
    return f;
  }
  long long run_pk = a.run_pk;
  int ti = a.ti;
  long long ti_id = a.ti_id;
  std::string token = a.attempt_token;
  auto beat = [this, run_pk, ti, token](std::optional<TimePoint> activity,
                                         const std::optional<ProgressLine>& progress = std::nullopt) {
    services_.heartbeat(run_pk, ti, token, activity, progress);
  };
  ShellResult result;
  if (a.type == dsl::TaskType::http || a.type == dsl::TaskType::sql) {
    NowFn now = [this] { return clock_.now(); };
    BeatFn adapter_beat = [&beat](TimePoint activity) { beat(activity); };
    result = a.type == dsl::TaskType::http ? run_http(a.http, now, adapter_beat, *flag)
                                           : run_sql(a.sql, now, adapter_beat, *flag);
  } else {
    result = runner.run(
        a.shell,
        [&](const ShellProgress& p) {
          if (p.checkpoint) services_.save_checkpoint(ti_id, token, *p.checkpoint);
          beat(p.last_activity_at, p.progress);
        },
        *flag);
  }
  {
    // Only this try's flag: the task instance's next try (a retry with no
    // delay) may have its own here already, which a kill must still find.
    std::lock_guard lock(cancel_mu_);
    if (auto it = cancel_flags_.find(ti_id); it != cancel_flags_.end() && it->second == flag) cancel_flags_.erase(it);
  }
  if (result.checkpoint) services_.save_checkpoint(ti_id, token, *result.checkpoint);
  std::error_code ec;
  std::vector<fs::path> left;
  for (auto it = fs::directory_iterator(a.shell.scratch_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    left.push_back(it->path());
  for (auto& p : left) fs::remove_all(p, ec);
  f.exit_code = result.exit_code >= 0 ? std::optional<int>(result.exit_code) : std::nullopt;
  f.log_bytes = static_cast<long long>(result.log_bytes);
  f.reason = result.reason;
  switch (result.outcome) {
    case ShellResult::Outcome::success:
      f.outcome = TryOutcome::success;
      f.output = result.output_json;
      break;
    case ShellResult::Outcome::skipped:
      f.outcome = TryOutcome::skipped;
      break;
    case ShellResult::Outcome::timeout:
      f.outcome = TryOutcome::timeout;
      f.reason = "timeout";
      break;
    case ShellResult::Outcome::canceled:
      f.outcome = stopping_ ? TryOutcome::shutdown : TryOutcome::failed;
      f.reason = stopping_ ? "shutdown" : "canceled";
      break;
    default:
      f.outcome = TryOutcome::failed;
  }
  return f;
}

}  // namespace baton::executor
