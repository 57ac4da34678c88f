#include "baton/scheduler/retention.h"

#include <filesystem>

#include "log.h"

namespace baton::scheduler {

namespace fs = std::filesystem;

Result<std::optional<int>> parse_retention_days(const std::string& where, const std::string& value) {
  if (value.empty()) return std::optional<int>();
  bool digits = value.size() <= 6 && value.find_first_not_of("0123456789") == std::string::npos;
  int days = digits ? std::stoi(value) : 0;
  if (!digits || days < 1 || days > 36500)
    return Error::invalid(where + ": \"" + value +
                          "\" must be a whole number of days from 1 to 36500 (or empty: keep everything)");
  return std::optional<int>(days);
}

store::CleanRequest retention_request(const RetentionSettings& s, TimePoint now) {
  auto before = [&](const std::optional<int>& days) -> std::optional<TimePoint> {
    if (!days) return std::nullopt;
    return now - std::chrono::hours(24) * *days;
  };
  store::CleanRequest r;
  r.runs_before = before(s.runs_days);
  r.tries_before = before(s.tries_days);
  r.logs_before = before(s.logs_days);
  return r;
}

long long remove_log_files(const std::string& logs_dir, const std::vector<std::string>& paths) {
  std::error_code ec;
  fs::path root = fs::absolute(logs_dir, ec).lexically_normal();
  long long removed = 0;
  for (auto& p : paths) {
    fs::path rel(p);
    if (p.empty() || rel.is_absolute()) continue;
    bool climbs = false;
    for (auto& part : rel.lexically_normal())
      if (part == "..") climbs = true;
    if (climbs) continue;
    fs::path file = (root / rel).lexically_normal();
    if (fs::remove(file, ec)) ++removed;
    // The run's and task's folders, once empty (remove() leaves a full one).
    for (fs::path dir = file.parent_path(); dir != root && dir.string().size() > root.string().size();
         dir = dir.parent_path())
      if (!fs::remove(dir, ec)) break;
  }
  return removed;
}

RetentionJob::RetentionJob(store::Store& store, const Clock& clock, RetentionOptions options,
                           std::function<bool()> leads)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      leads_(std::move(leads)),
      next_due_(clock.now() + options_.first_after) {}

RetentionJob::~RetentionJob() { stop(); }

std::optional<Result<store::CleanReport>> RetentionJob::run_if_due() {
  TimePoint now = clock_.now();
  if (now < next_due_) return std::nullopt;
  if (leads_ && !leads_()) {
    next_due_ = now + options_.first_after;
    return std::nullopt;
  }
  next_due_ = now + options_.every;
  store::CleanRequest req = retention_request(options_.settings, now);
  req.batch_size = options_.batch_size;
  req.on_logs_removed = [this](const std::vector<std::string>& paths) { remove_log_files(options_.logs_dir, paths); };
  req.should_stop = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  auto r = store_.clean(req, "system");
  if (!r)
    sched_log()->error("retention: {}", r.error().message);
  else if (r->total() > 0)
    sched_log()->info("retention: removed {} rows in {} batches ({} runs, {} tries, {} log files)", r->total(),
                      r->batches, r->find("dag_runs")->rows, r->find("task_tries")->rows,
                      r->find("log files")->rows);
  return r;
}

void RetentionJob::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, options_.poll, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      (void)run_if_due();
      lock.lock();
    }
  });
}

void RetentionJob::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace baton::scheduler
