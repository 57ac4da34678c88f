// Retention (docs/running.md, "Retention"): how long finished runs, tries
// and task logs are kept, the clean that removes what is older
// (Store::clean), the log files it removes from the logs folder, and the
// job that runs the clean periodically in a scheduling process (standalone,
// or the leader among the members) on a thread of its own and, on
// PostgreSQL, through a store (a database connection) of its own, so that the
// scheduling loop's writes never queue behind a clean on one connection (on
// SQLite it shares the scheduler's: a loop write waits for one batch).
//
// Threads: the free functions from any thread. RetentionJob: start()/stop()
// from the owner's thread; run_if_due() from one thread at a time (the job's
// own once started; a test calls it directly with a FakeClock instead).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"
#include "baton/store/store.h"

namespace baton::scheduler {

// Days to keep each kind (none: kept for ever, the default).
struct RetentionSettings {
  std::optional<int> runs_days;
  std::optional<int> tries_days;
  std::optional<int> logs_days;
  bool any() const { return runs_days || tries_days || logs_days; }
};

// A value of a retention setting: a whole number of days from 1 to 36500, or
// "" (keep everything). The error names `where` (the flag, variable or key)
// and what is allowed.
Result<std::optional<int>> parse_retention_days(const std::string& where, const std::string& value);

// The clean these settings ask for at `now`: each cutoff `now - N days`.
store::CleanRequest retention_request(const RetentionSettings& s, TimePoint now);

// Removes the log files (paths relative to `logs_dir`, as the store keeps
// them) and the folders that are left empty below `logs_dir` (never
// `logs_dir` itself). A path that is absolute, empty, has an empty, `.` or
// `..` component, or has a symlink anywhere below `logs_dir` (a folder or
// the file) is left alone. How many files it removed (0 when `logs_dir` is
// no folder).
long long remove_log_files(const std::string& logs_dir, const std::vector<std::string>& paths);

struct RetentionOptions {
  RetentionSettings settings;
  std::string logs_dir;
  Duration first_after = std::chrono::minutes(1);  // the first clean, after start
  Duration every = std::chrono::hours(1);          // then
  int batch_size = 5000;
  Duration poll = std::chrono::seconds(1);  // how often the thread looks at the clock
  // Held for each batch of runs the clean removes (CleanRequest::batch_guard):
  // the scheduler holds it while it brings a finished run back (clear, mark).
  std::shared_ptr<std::mutex> revive_mu;
};

class RetentionJob {
 public:
  // `leads`: whether this process may clean now (standalone: always; a
  // member: while it holds the leader lock). Called from the job's thread,
  // before a clean and before each of its batches (a process that no longer
  // leads stops after its current batch).
  RetentionJob(store::Store& store, const Clock& clock, RetentionOptions options, std::function<bool()> leads);
  // The same, cleaning through `own` (a second store on the same database),
  // which the job keeps until it goes.
  RetentionJob(std::unique_ptr<store::Store> own, const Clock& clock, RetentionOptions options,
               std::function<bool()> leads);
  ~RetentionJob();
  RetentionJob(const RetentionJob&) = delete;
  RetentionJob& operator=(const RetentionJob&) = delete;

  // The clean, when it is due and this process leads: its report (or
  // error); nullopt when it was not due or another process leads (then it
  // looks again after first_after).
  std::optional<Result<store::CleanReport>> run_if_due();
  TimePoint next_due() const { return next_due_; }

  void start();
  // Ends the thread; a clean under way stops after its current batch.
  void stop();

 private:
  std::unique_ptr<store::Store> own_;
  store::Store& store_;
  const Clock& clock_;
  RetentionOptions options_;
  std::function<bool()> leads_;
  TimePoint next_due_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace baton::scheduler
