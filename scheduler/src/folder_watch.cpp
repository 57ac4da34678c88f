#include "folder_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "log.h"

namespace baton::scheduler {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ONLYDIR;
// The root's parent folder: its entries made, moved or deleted (only the
// root's name counts).
constexpr uint32_t kParentMask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR;

bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

int millis(Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms < 0 ? 0 : static_cast<int>(ms);
}

}  // namespace

FolderWatch::FolderWatch(std::string root, OnChange on_change, Duration quiet, Duration max_wait)
    : root_(std::move(root)), on_change_(std::move(on_change)), quiet_(quiet), max_wait_(max_wait) {}

Result<std::unique_ptr<FolderWatch>> FolderWatch::start(const std::string& root, OnChange on_change, Duration quiet,
                                                        Duration max_wait) {
  std::unique_ptr<FolderWatch> w(new FolderWatch(root, std::move(on_change), quiet, max_wait));
  w->fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd_ < 0) return Error{"unavailable", std::string("inotify: ") + std::strerror(errno)};
  w->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->wake_fd_ < 0) return Error{"unavailable", std::string("eventfd: ") + std::strerror(errno)};
  if (inotify_add_watch(w->fd_, root.c_str(), kMask) < 0)
    return Error{"unavailable", "inotify cannot watch " + root + ": " + std::strerror(errno)};
  // The root's name in its parent: a new folder (or link) under that name is
  // a new root, which the root's own watch cannot see (a symlink pointed
  // elsewhere changes nothing in the folder it pointed to).
  std::error_code ec;
  fs::path abs = fs::absolute(root, ec).lexically_normal();
  if (!ec && abs.filename().empty()) abs = abs.parent_path();  // "dags/"
  if (!ec && !abs.filename().empty() && abs.parent_path() != abs) {
    w->root_name_ = abs.filename().string();
    w->parent_wd_ = inotify_add_watch(w->fd_, abs.parent_path().c_str(), kParentMask);
    if (w->parent_wd_ < 0)
      sched_log()->warn("DAGs folder: cannot watch {}: {} (the folder replaced is seen by the safety scan)",
                        abs.parent_path().string(), std::strerror(errno));
  }
  // The root's watch is added again by add_tree (the same descriptor).
  w->add_tree(root);
  FolderWatch* self = w.get();
  w->thread_ = std::thread([self] { self->run(); });
  return w;
}

FolderWatch::~FolderWatch() {
  stop();
  if (fd_ >= 0) ::close(fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void FolderWatch::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
  thread_.join();
}

size_t FolderWatch::watched() const {
  std::lock_guard lock(mu_);
  return dirs_.size();
}

void FolderWatch::add_tree(const std::string& dir, std::set<int>* seen) {
  // The root may be a link to the folder; a link below it is not followed
  // (nor is it walked, as the DAG loader does not).
  int wd = inotify_add_watch(fd_, dir.c_str(), dir == root_ ? kMask : kMask | IN_DONT_FOLLOW);
  if (wd < 0) {
    // ENOSPC: past fs.inotify.max_user_watches. ENOENT/ENOTDIR: gone again.
    if (errno != ENOENT && errno != ENOTDIR) {
      if (failed_.fetch_add(1) == 0)
        sched_log()->warn("DAGs folder: cannot watch {}: {} (changes below it are seen by the safety scan)", dir,
                          std::strerror(errno));
    }
    return;
  }
  {
    std::lock_guard lock(mu_);
    dirs_[wd] = dir;
  }
  if (seen) seen->insert(wd);
  std::error_code ec;
  for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (hidden(it->path().filename().string())) continue;
    std::error_code ec2;
    if (it->is_directory(ec2) && !it->is_symlink(ec2)) add_tree(it->path().string(), seen);
  }
}

// After an overflow (events lost: folders made then are not watched, folders
// gone still are) or a new root. A folder watched already keeps its
// descriptor (its path is updated: it may have moved); the root's name gone
// leaves nothing watched until it comes back (the parent's watch sees it).
void FolderWatch::rewatch() {
  failed_ = 0;  // counted again
  std::set<int> seen;
  add_tree(root_, &seen);
  std::lock_guard lock(mu_);
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    inotify_rm_watch(fd_, it->first);  // its IN_IGNORED finds nothing: ignored
    it = dirs_.erase(it);
  }
}

// A folder moved away (or deleted): its watches and those below it go.
void FolderWatch::remove_tree(const std::string& dir) {
  std::lock_guard lock(mu_);
  std::string prefix = dir + "/";
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (it->second == dir || it->second.rfind(prefix, 0) == 0) {
      inotify_rm_watch(fd_, it->first);
      it = dirs_.erase(it);
    } else {
      ++it;
    }
  }
}

bool FolderWatch::drain(Changes& out) {
  alignas(inotify_event) char buf[64 * 1024];
  bool any = false;
  bool rewalk = false;  // the tree is walked again once the queue is read
  std::set<std::string> paths(out.paths.begin(), out.paths.end());
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;
    any = true;
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      if (e->mask & IN_Q_OVERFLOW) {
        out.full = rewalk = true;
        continue;
      }
      if (parent_wd_ >= 0 && e->wd == parent_wd_) {
        if (e->mask & IN_IGNORED) parent_wd_ = -1;  // the parent itself went (and the root with it)
        else if (e->len > 0 && root_name_ == e->name) out.full = rewalk = true;  // the root's name replaced
      }
      std::string dir;
      {
        std::lock_guard lock(mu_);
        auto it = dirs_.find(e->wd);
        if (it == dirs_.end()) continue;
        dir = it->second;
        if (e->mask & IN_IGNORED) {
          dirs_.erase(it);
          if (dir == root_) out.full = rewalk = true;  // unwatched by the kernel: gone, or unmounted
          continue;
        }
      }
      if (e->len == 0 || e->name[0] == '\0') {
        // The watched folder itself moved or went: the root means everything
        // (a new one may be in its place already, or come later).
        if ((e->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && dir == root_) out.full = rewalk = true;
        continue;
      }
      std::string name = e->name;
      if (hidden(name)) continue;
      std::string path = (fs::path(dir) / name).string();
      if (e->mask & IN_ISDIR) {
        if (e->mask & (IN_CREATE | IN_MOVED_TO)) add_tree(path);
        if (e->mask & (IN_DELETE | IN_MOVED_FROM)) remove_tree(path);
        paths.insert(path);
        continue;
      }
      if (e->mask & IN_CREATE) {
        // A file being created is reported when it is closed after writing;
        // a link appears whole.
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
      }
      paths.insert(path);
    }
  }
  if (rewalk) rewatch();
  out.paths.assign(paths.begin(), paths.end());
  return any;
}

void FolderWatch::run() {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  for (;;) {
    fds[0].revents = fds[1].revents = 0;
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      sched_log()->error("DAGs folder watch: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    Changes c;
    if (!drain(c)) continue;
    // Coalesce a burst (a git checkout, a copy of many files).
    auto until = std::chrono::steady_clock::now() + max_wait_;
    for (;;) {
      auto left = until - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration(0)) break;
      int wait = std::min(millis(quiet_), millis(std::chrono::duration_cast<Duration>(left)));
      fds[0].revents = fds[1].revents = 0;
      int r = ::poll(fds, 2, wait);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      if (fds[1].revents) return;
      drain(c);
    }
    if (!c.paths.empty() || c.full) on_change_(std::move(c));
  }
}

}  // namespace baton::scheduler
