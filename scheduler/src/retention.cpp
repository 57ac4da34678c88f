#include "baton/scheduler/retention.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <utility>

#include "log.h"

namespace baton::scheduler {

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

namespace {

// A file descriptor closed when it goes.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The components of a relative path, or none when one is empty, `.` or `..`
// (or the path is absolute or empty).
std::optional<std::vector<std::string>> components(const std::string& path) {
  if (path.empty() || path.front() == '/') return std::nullopt;
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '/')) {
    if (part.empty() || part == "." || part == "..") return std::nullopt;
    parts.push_back(part);
  }
  if (path.back() == '/' || parts.empty()) return std::nullopt;
  return parts;
}

}  // namespace

long long remove_log_files(const std::string& logs_dir, const std::vector<std::string>& paths) {
  Fd root(::open(logs_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.fd < 0) return 0;
  long long removed = 0;
  for (auto& p : paths) {
    auto parts = components(p);
    if (!parts) continue;
    // Down the folders without following a symlink: a path with a
    // symlinked folder (or file) is left alone.
    std::vector<Fd> dirs;
    int at = root.fd;
    bool ok = true;
    for (size_t i = 0; i + 1 < parts->size(); ++i) {
      int fd = ::openat(at, (*parts)[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        ok = false;
        break;
      }
      dirs.emplace_back(fd);
      at = fd;
    }
    if (!ok) continue;
    struct stat st {};
    if (::fstatat(at, parts->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::unlinkat(at, parts->back().c_str(), 0) == 0) ++removed;
    // The run's and task's folders, once empty (never the logs folder).
    for (size_t i = dirs.size(); i-- > 0;) {
      int parent = i == 0 ? root.fd : dirs[i - 1].fd;
      if (::unlinkat(parent, (*parts)[i].c_str(), AT_REMOVEDIR) != 0) break;
    }
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

RetentionJob::RetentionJob(std::unique_ptr<store::Store> own, const Clock& clock, RetentionOptions options,
                           std::function<bool()> leads)
    : RetentionJob(*own, clock, std::move(options), std::move(leads)) {
  own_ = std::move(own);
}

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
  if (auto mu = options_.revive_mu)
    req.batch_guard = [mu]() -> std::shared_ptr<void> {
      mu->lock();
      return std::shared_ptr<void>(mu.get(), [mu](void*) { mu->unlock(); });
    };
  req.on_logs_removed = [this](const std::vector<std::string>& paths) {
    return remove_log_files(options_.logs_dir, paths);
  };
  // Stops after the current batch when the process stops or no longer
  // leads (a deposed leader leaves the clean to the new one).
  req.should_stop = [this] {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return true;
    }
    return leads_ && !leads_();
  };
  auto r = store_.clean(req, "system");
  if (!r)
    sched_log()->error("retention: {}", r.error().message);
  else if (r->total() > 0)
    sched_log()->info("retention: removed {} rows in {} batches ({} runs, {} tries, {} log files)",
                      r->total() - r->find("log files")->rows, r->batches, r->find("dag_runs")->rows, r->find("task_tries")->rows,
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
