// ShellRunner: one try of a shell task as its own process group. One thread
// (the caller's) spawns the child, then runs a poll() loop over the log pipe
// (and a pidfd, when the kernel gives one) that reads the output, heartbeats,
// enforces the timeout and watches the cancel flag.
#include "baton/executor/shell_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <string_view>
#include <system_error>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/duration.h"
#include "baton/core/secrets.h"

extern char** environ;

namespace baton::executor {

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Names of the files the task shares with Baton, inside the scratch folder.
constexpr const char* kCheckpointName = "checkpoint";
constexpr const char* kOutputName = "output.json";
constexpr const char* kProgressName = "progress";
constexpr const char* kParamsName = "params.json";
// Linux refuses to start a process with one environment string longer than
// this (MAX_ARG_STRLEN): larger params go to a file, BATON_PARAMS_FILE (only
// then: a file per try costs an inode, a measurable share of a short task).
constexpr size_t kMaxEnvString = 128 * 1024 - 1;
// Upper bound on how long cancel (an atomic flag without a wake-up) goes
// unnoticed, and on how often child exit is polled when there is no pidfd.
constexpr auto kTick = 50ms;
// After the group is gone, how long to wait for the log pipe to close: only a
// process that left the group (setsid) while holding the pipe can keep it open.
constexpr auto kDrain = 500ms;
// Output JSON deeper than this is refused: nlohmann's dump() and later
// template rendering recurse per level.
constexpr int kMaxOutputDepth = 128;
constexpr size_t kReadChunk = 64 * 1024;
constexpr Duration kLongest = std::chrono::hours(24 * 365 * 10);

std::string errno_text(int e) {
  char buf[256];
  // GNU strerror_r: returns the message, which may or may not be in buf.
  return strerror_r(e, buf, sizeof buf);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// The child's file actions open /dev/null on 0 and dup2() the pipe's write end
// onto 1 and 2; a pipe end that already is one of those (the worker closed its
// own stdio) would be clobbered or keep its close-on-exec flag. Move such
// descriptors up.
int lift_fd(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

enum class FileRead { ok, missing, too_big, error };

// Opens a file the task may have written. It is the task's file, so it may
// be anything: a FIFO (would block open), a symlink, a device without end.
// Only a regular file is opened (`fd` owns it, `st` is its stat).
FileRead open_task_file(const std::string& path, Fd& fd, struct stat& st, std::string& err) {
  int raw;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) {
    if (errno == ENOENT) return FileRead::missing;
    err = errno_text(errno);
    return FileRead::error;
  }
  fd.reset(raw);
  if (::fstat(raw, &st) != 0) {
    err = errno_text(errno);
    return FileRead::error;
  }
  if (!S_ISREG(st.st_mode)) {
    err = "not a regular file";
    return FileRead::error;
  }
  return FileRead::ok;
}

// Reads a file the task may have written: a regular file of at most `cap`
// bytes.
FileRead read_task_file(const std::string& path, size_t cap, std::string& out, std::string& err) {
  Fd guard;
  struct stat st {};
  if (auto r = open_task_file(path, guard, st, err); r != FileRead::ok) return r;
  const int fd = guard.get();
  if (static_cast<unsigned long long>(st.st_size) > cap) return FileRead::too_big;
  out.clear();
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno_text(errno);
      return FileRead::error;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > cap) return FileRead::too_big;  // grew while we read
  }
  return FileRead::ok;
}

// The last `tail` bytes of a file the task may have written (a regular file).
FileRead read_task_tail(const std::string& path, size_t tail, std::string& out, std::string& err) {
  Fd guard;
  struct stat st {};
  if (auto r = open_task_file(path, guard, st, err); r != FileRead::ok) return r;
  const int fd = guard.get();
  off_t from = st.st_size > static_cast<off_t>(tail) ? st.st_size - static_cast<off_t>(tail) : 0;
  out.assign(tail, '\0');
  ssize_t n;
  do {
    n = ::pread(fd, out.data(), tail, from);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    err = errno_text(errno);
    return FileRead::error;
  }
  out.resize(static_cast<size_t>(n));
  return FileRead::ok;
}

// Whether a process of group `pgid` is alive. A killed grandchild is
// reparented to init, which in a container may never reap it: a zombie member
// keeps kill(-pgid, 0) succeeding, so /proc is asked for live members.
bool group_alive(pid_t pgid) {
  if (::kill(-pgid, 0) != 0 && errno == ESRCH) return false;
  DIR* dir = ::opendir("/proc");
  if (!dir) return true;  // cannot tell: assume alive, the SIGKILL will follow
  bool alive = false;
  while (dirent* e = ::readdir(dir)) {
    const char* name = e->d_name;
    if (*name < '0' || *name > '9') continue;
    std::string path = std::string("/proc/") + name + "/stat";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
    const char* rp = std::strrchr(buf, ')');
    if (!rp || rp[1] == '\0') continue;
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (std::sscanf(rp + 2, "%c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(dir);
  return alive;
}

// "2s", "20m", "1h30m"; sub-second timeouts as "300ms".
std::string format_timeout(Duration d) {
  if (d.count() % 1000000 == 0) return format_duration(d);
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

// Deepest nesting of arrays and objects in a JSON text (strings skipped).
int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Why the log at `path` could not be made, from a look that makes nothing
// (empty: as far as that tells, it can). The file, when it is there already,
// must be a regular file this process may write; otherwise the nearest
// folder on its way that is there must be a folder it may write in. A disk
// that is full when the first byte comes loses the bytes, as a full disk
// does later on (the worker's log says so).
std::string log_unwritable(const std::string& path) {
  namespace fs = std::filesystem;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return "it is not a regular file";
    return ::access(path.c_str(), W_OK) == 0 ? "" : errno_text(errno);
  }
  if (errno != ENOENT && errno != ENOTDIR) return errno_text(errno);
  fs::path dir = fs::path(path).parent_path();
  while (!dir.empty()) {
    if (::stat(dir.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return dir.string() + " is not a directory";
      if (::access(dir.c_str(), W_OK | X_OK) != 0) return dir.string() + ": " + errno_text(errno);
      return "";
    }
    if (errno != ENOENT && errno != ENOTDIR) return dir.string() + ": " + errno_text(errno);
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return "";  // a relative path under the working folder
}

// The log of one try: task output up to the cap, then only Baton's marker.
// Secret values are masked in the task's output before it counts against the
// cap; the bytes that may begin one are held back until the next output, a
// note of Baton's own, or the end (finish()).
// The try's log file is made (with its folders) at the first byte written to
// it: a task that prints nothing leaves no file (the API answers an empty log
// for it), and the file's inode and folder are not made on the way to the
// task's start. On a file system that scans its recently freed inodes at
// every allocation (ext4 without a journal), those two cost more than a
// short task's whole hop.
class LogSink {
 public:
  LogSink(std::string path, size_t cap, const std::vector<std::string>& secrets)
      : path_(std::move(path)), cap_(cap), masker_(secrets) {}

  void task_output(const char* p, size_t n) {
    if (truncated_) return;
    if (!masker_.empty()) {
      masked_.clear();
      masker_.feed(std::string_view(p, n), masked_);
      capped(masked_.data(), masked_.size());
      return;
    }
    capped(p, n);
  }

  // Writes what the masker still holds (the end of the task's output).
  void finish() {
    if (masker_.empty() || truncated_) return;
    masked_.clear();
    masker_.flush(masked_);
    capped(masked_.data(), masked_.size());
  }

  // A line of Baton's own, on a line of its own; nothing after truncation.
  void note(const std::string& text) {
    finish();
    if (!truncated_) line(text);
  }

  size_t bytes() const { return written_; }
  bool truncated() const { return truncated_; }

 private:
  void capped(const char* p, size_t n) {
    if (truncated_) return;
    size_t room = cap_ - task_bytes_;
    if (n <= room) {
      put(p, n);
      task_bytes_ += n;
      return;
    }
    put(p, room);
    task_bytes_ += room;
    truncated_ = true;
    line("log truncated at " + std::to_string(cap_) + " bytes");
  }

  void line(const std::string& text) {
    std::string s = at_line_start_ ? "" : "\n";
    s += "[baton] " + text + "\n";
    put(s.data(), s.size());
  }

  void put(const char* p, size_t n) {
    if (n == 0 || failed_) return;
    // A log that cannot be made or written (disk full) must not stop the try:
    // the pipe is still drained, the bytes are lost. Whether it can be made
    // at all was looked at before the start (log_unwritable).
    if (!fd_.valid()) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
      fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
      if (!fd_.valid()) {
        spdlog::warn("the log {} cannot be made ({}): the try's output is lost", path_, errno_text(errno));
        failed_ = true;
        return;
      }
    }
    if (!write_all(fd_.get(), p, n)) {
      failed_ = true;
      return;
    }
    written_ += n;
    at_line_start_ = p[n - 1] == '\n';
  }

  std::string path_;
  Fd fd_;
  size_t cap_;
  size_t task_bytes_ = 0;
  size_t written_ = 0;
  bool truncated_ = false;
  bool at_line_start_ = true;
  bool failed_ = false;
  SecretMasker masker_;
  std::string masked_;
};

// The task's signal dispositions: every signal back to its default, as a
// fresh process has them (ignored signals would otherwise survive exec).
// sigaddset() refuses glibc's internal signals (SIGCANCEL, SIGSETXID), and
// glibc's posix_spawn leaves those ignored in the child unless they are in
// this set, so the set is filled bit by bit (sigfillset clears them too);
// SIGKILL and SIGSTOP cannot be set and are left out.
sigset_t default_signals() {
  sigset_t set;
  std::memset(&set, 0xff, sizeof set);
  ::sigdelset(&set, SIGKILL);
  ::sigdelset(&set, SIGSTOP);
  return set;
}

// Attributes and file actions of posix_spawn, destroyed on every path.
class SpawnAttr {
 public:
  SpawnAttr() : err_(::posix_spawnattr_init(&attr_)) {}
  ~SpawnAttr() {
    if (err_ == 0) ::posix_spawnattr_destroy(&attr_);
  }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  int init_error() const { return err_; }
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
  int err_;
};

class SpawnActions {
 public:
  SpawnActions() : err_(::posix_spawn_file_actions_init(&actions_)) {}
  ~SpawnActions() {
    if (err_ == 0) ::posix_spawn_file_actions_destroy(&actions_);
  }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  int init_error() const { return err_; }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
  int err_;
};

// Why chdir into `dir` would fail now (0: it would not). posix_spawn reports
// only an error code, not which step failed; this tells a working directory
// that went away or cannot be entered from a failure to exec /bin/sh.
int dir_error(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  if (::faccessat(AT_FDCWD, dir.c_str(), X_OK, AT_EACCESS) != 0) return errno;
  return 0;
}

bool valid_env_name(const std::string& name) {
  return !name.empty() && name.find('=') == std::string::npos && name.find('\0') == std::string::npos;
}

// One try from spawn to reap: the state of the poll loop.
class TryLoop {
 public:
  TryLoop(const ShellTry& t, const ShellRunner::ProgressFn& on_progress, std::atomic<bool>& cancel,
          const std::function<TimePoint()>& now, LogSink& log, std::string checkpoint_path, std::string progress_path)
      : t_(t), on_progress_(on_progress), cancel_(cancel), now_(now), log_(log),
        checkpoint_path_(std::move(checkpoint_path)), progress_path_(std::move(progress_path)),
        reported_checkpoint_(t.checkpoint) {}

  // Runs the loop until the child is reaped and its group is gone; takes
  // ownership of out_r.
  void run(pid_t pid, int out_r) {
    pid_ = pid;
    out_.reset(out_r);
    int flags = ::fcntl(out_.get(), F_GETFL);
    if (flags >= 0) ::fcntl(out_.get(), F_SETFL, flags | O_NONBLOCK);
    // glibc's <sys/pidfd.h> lacks extern "C" in some versions: the raw call.
    // -1 on old kernels: child exit is then noticed by the kTick polling.
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

    const auto start = SteadyClock::now();
    // Clamped so that no sum below can overflow the clock.
    const Duration interval = std::clamp<Duration>(t_.heartbeat_interval, 10ms, kLongest);
    const Duration grace = std::clamp<Duration>(t_.kill_grace, Duration::zero(), kLongest);
    std::optional<SteadyClock::time_point> deadline;
    if (t_.timeout) deadline = start + std::clamp<Duration>(*t_.timeout, Duration::zero(), kLongest);
    auto next_beat = start + interval;

    for (;;) {
      auto now = SteadyClock::now();
      if (!reaped_ && stop_ == Stop::none) {
        if (cancel_.load()) {
          begin_stop(Stop::canceled, now, grace);
        } else if (deadline && now >= *deadline) {
          begin_stop(Stop::timeout, now, grace);
        }
      }
      if (stop_ != Stop::none && !group_done_ && now >= kill_at_) {
        ::kill(-pid_, SIGKILL);
        mark_group_done(now);
      }
      if (!reaped_ && now >= next_beat) {
        heartbeat();
        next_beat += interval;
        if (next_beat <= now) next_beat = now + interval;
      }
      if (reaped_ && !group_done_ && !group_alive(pid_)) mark_group_done(now);
      if (reaped_ && group_done_ && (!out_.valid() || now >= drain_until_)) break;

      // Sleep until the next thing that can happen.
      SteadyClock::time_point wake = now + 1h;
      if (!reaped_) {
        wake = std::min(wake, next_beat);
        wake = std::min(wake, now + kTick);  // cancel flag; child exit without pidfd
        if (deadline && stop_ == Stop::none) wake = std::min(wake, *deadline);
      }
      if (stop_ != Stop::none && !group_done_) wake = std::min(wake, std::min(kill_at_, now + kTick));
      if (group_done_) wake = std::min(wake, drain_until_);
      auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      if (wait_ms < 0) wait_ms = 0;

      pollfd fds[2];
      nfds_t n = 0;
      int out_idx = -1;
      if (out_.valid()) {
        out_idx = static_cast<int>(n);
        fds[n++] = pollfd{out_.get(), POLLIN, 0};
      }
      if (pidfd_.valid() && !reaped_) fds[n++] = pollfd{pidfd_.get(), POLLIN, 0};
      int ready = ::poll(n ? fds : nullptr, n, static_cast<int>(wait_ms));
      if (ready < 0 && errno != EINTR) {
        // Should not happen with valid descriptors; do not spin.
        ::usleep(10000);
      }
      if (ready > 0 && out_idx >= 0 && fds[out_idx].revents != 0) drain_pipe();
      if (!reaped_) check_child();
    }
  }

  enum class Stop { none, timeout, canceled };
  Stop stop() const { return stop_; }
  std::optional<int> status() const { return status_; }
  void note_oversize_checkpoint() {
    if (oversize_noted_) return;
    oversize_noted_ = true;
    log_.note("checkpoint over " + std::to_string(t_.file_cap_bytes) + " bytes ignored");
  }

 private:
  void begin_stop(Stop why, SteadyClock::time_point now, Duration grace) {
    stop_ = why;
    ::kill(-pid_, SIGTERM);
    kill_at_ = now + grace;
  }

  void mark_group_done(SteadyClock::time_point now) {
    group_done_ = true;
    drain_until_ = now + kDrain;
  }

  void drain_pipe() {
    char buf[kReadChunk];
    // Bounded so that a task flooding its output still gets heartbeats,
    // timeouts and cancel on time.
    for (int i = 0; i < 16; ++i) {
      ssize_t r = ::read(out_.get(), buf, sizeof buf);
      if (r > 0) {
        log_.task_output(buf, static_cast<size_t>(r));
        last_activity_ = now_();
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      out_.reset();  // EOF (every writer gone) or an error: stop reading
      return;
    }
  }

  void check_child() {
    siginfo_t info{};
    int r;
    // WNOWAIT: the zombie keeps its pid, so the group id cannot be reused
    // before the group is killed.
    do {
      r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (errno == ECHILD) {  // reaped by someone else (a SIGCHLD handler of the host)
        reaped_ = true;
        ::kill(-pid_, SIGKILL);
        mark_group_done(SteadyClock::now());
      }
      return;
    }
    if (info.si_pid != pid_) return;
    if (stop_ == Stop::none) {
      // A normal end: whatever the task left running in its group goes too.
      ::kill(-pid_, SIGKILL);
      mark_group_done(SteadyClock::now());
    }
    // While stopping, the rest of the group keeps its grace (checked above).
    int status = 0;
    pid_t w;
    do {
      w = ::waitpid(pid_, &status, 0);
    } while (w < 0 && errno == EINTR);
    reaped_ = true;
    if (w == pid_) status_ = status;
    pidfd_.reset();
  }

  void heartbeat() {
    ShellProgress p;
    std::string content, err;
    switch (read_task_file(checkpoint_path_, t_.file_cap_bytes, content, err)) {
      case FileRead::ok:
        if (!reported_checkpoint_ || *reported_checkpoint_ != content) {
          reported_checkpoint_ = content;
          p.checkpoint = std::move(content);
          last_activity_ = now_();
        }
        break;
      case FileRead::too_big:
        note_oversize_checkpoint();
        break;
      case FileRead::missing:
      case FileRead::error:
        break;
    }
    // The progress file's latest line (its tail is read: a task may append).
    switch (read_task_tail(progress_path_, kProgressTail, content, err)) {
      case FileRead::ok:
        if (content != reported_progress_) {
          reported_progress_ = content;
          if (auto line = parse_progress(content)) {
            p.progress = std::move(line);
            last_activity_ = now_();
          }
        }
        break;
      default: break;
    }
    p.last_activity_at = last_activity_;
    p.log_bytes = log_.bytes();
    if (!on_progress_) return;
    try {
      on_progress_(p);
    } catch (...) {
      // The caller's failure to record a heartbeat must not abandon the
      // process group; the try goes on.
    }
  }

  const ShellTry& t_;
  const ShellRunner::ProgressFn& on_progress_;
  std::atomic<bool>& cancel_;
  const std::function<TimePoint()>& now_;
  LogSink& log_;
  std::string checkpoint_path_;
  std::string progress_path_;
  std::optional<std::string> reported_checkpoint_;
  std::string reported_progress_;  // the progress file's tail at the last heartbeat

  pid_t pid_ = -1;
  Fd out_, pidfd_;
  Stop stop_ = Stop::none;
  SteadyClock::time_point kill_at_{}, drain_until_{};
  bool reaped_ = false, group_done_ = false, oversize_noted_ = false;
  std::optional<int> status_;
  std::optional<TimePoint> last_activity_;
};

ShellResult not_started(std::string reason) {
  ShellResult r;
  r.outcome = ShellResult::Outcome::failed;
  r.exit_code = -1;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

void append_log_note(const std::string& log_path, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(log_path).parent_path(), ec);
  std::ofstream(log_path, std::ios::app) << "[baton] " << text << "\n";
}

const char* to_string(ShellResult::Outcome o) {
  switch (o) {
    case ShellResult::Outcome::success: return "success";
    case ShellResult::Outcome::failed: return "failed";
    case ShellResult::Outcome::skipped: return "skipped";
    case ShellResult::Outcome::timeout: return "timeout";
    case ShellResult::Outcome::canceled: return "canceled";
  }
  return "failed";
}

ShellRunner::ShellRunner(std::function<TimePoint()> now) : now_(std::move(now)) {
  if (!now_) now_ = [] { return SystemClock::instance().now(); };
}

ShellResult ShellRunner::run(const ShellTry& t, const ProgressFn& on_progress, std::atomic<bool>& cancel) {
  if (cancel.load()) {
    ShellResult r;
    r.outcome = ShellResult::Outcome::canceled;
    r.reason = "canceled before start";
    return r;
  }
  if (t.scratch_dir.empty()) return not_started("cannot start: no scratch folder");
  if (t.log_path.empty()) return not_started("cannot start: no log path");

  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(t.scratch_dir, ec);
  if (!fs::is_directory(t.scratch_dir, ec)) {
    return not_started("cannot start: scratch folder " + t.scratch_dir + " is not a directory");
  }
  const std::string checkpoint_path = (fs::path(t.scratch_dir) / kCheckpointName).string();
  const std::string output_path = (fs::path(t.scratch_dir) / kOutputName).string();
  const std::string params_path = (fs::path(t.scratch_dir) / kParamsName).string();
  const std::string progress_path = (fs::path(t.scratch_dir) / kProgressName).string();

  // The log first, so that every later failure can be told there too.
  if (std::string why = log_unwritable(t.log_path); !why.empty())
    return not_started("cannot open log " + t.log_path + ": " + why);
  LogSink log(t.log_path, t.log_cap_bytes, t.secrets);
  auto fail_start = [&](const std::string& why) {
    log.note("cannot start: " + why);
    ShellResult r = not_started("cannot start: " + why);
    r.log_bytes = log.bytes();
    return r;
  };

  // Files of an earlier use of the folder must not pass for this try's.
  ::unlink(output_path.c_str());
  ::unlink(checkpoint_path.c_str());
  ::unlink(progress_path.c_str());  // a scratch folder used again starts with none
  if (t.checkpoint) {
    Fd ck(::open(checkpoint_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!ck.valid() || !write_all(ck.get(), t.checkpoint->data(), t.checkpoint->size())) {
      return fail_start("cannot write checkpoint file " + checkpoint_path + ": " + errno_text(errno));
    }
  }
  ::unlink(params_path.c_str());
  const bool params_in_file = std::string("BATON_PARAMS=").size() + t.params_json.size() > kMaxEnvString;
  if (params_in_file) {
    Fd pf(::open(params_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!pf.valid() || !write_all(pf.get(), t.params_json.data(), t.params_json.size())) {
      return fail_start("cannot write params file " + params_path + ": " + errno_text(errno));
    }
  }

  std::string cwd = t.working_dir.empty() ? t.scratch_dir : t.working_dir;
  if (!t.working_dir.empty()) {
    struct stat st {};
    if (::stat(t.working_dir.c_str(), &st) != 0) {
      return fail_start("working_dir " + t.working_dir + ": " + errno_text(errno));
    }
    if (!S_ISDIR(st.st_mode)) return fail_start("working_dir " + t.working_dir + " is not a directory");
  }
  if (t.command.find('\0') != std::string::npos) return fail_start("the command holds a NUL byte");

  // Environment: the worker's, minus its own BATON_* settings (its token and
  // database URL are not the task's business), plus the task's env, plus the
  // try's BATON_* variables, which win.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string key(kv.substr(0, eq));
    if (key.rfind("BATON_", 0) == 0) continue;
    env.emplace(std::move(key), std::string(kv.substr(eq + 1)));
  }
  for (const auto& [k, v] : t.env) {
    if (!valid_env_name(k)) return fail_start("bad environment variable name '" + k + "'");
    if (v.find('\0') != std::string::npos) return fail_start("environment variable " + k + " holds a NUL byte");
    env[k] = v;
  }
  env["BATON_DAG_ID"] = t.dag_id;
  env["BATON_TASK_ID"] = t.task_id;
  env["BATON_RUN_ID"] = t.run_id;
  env["BATON_TRY_NUMBER"] = std::to_string(t.try_number);
  env["BATON_MAP_INDEX"] = std::to_string(t.map_index);
  env["BATON_LOGICAL_DATE"] = t.logical_date;
  env["BATON_DATA_INTERVAL_START"] = t.data_interval_start;
  env["BATON_DATA_INTERVAL_END"] = t.data_interval_end;
  env["BATON_DS"] = t.ds;
  // The params in BATON_PARAMS; too long for one environment string (a
  // dataset run with many events), in BATON_PARAMS_FILE instead, which the
  // log says.
  if (!params_in_file) {
    env["BATON_PARAMS"] = t.params_json;
  } else {
    env["BATON_PARAMS_FILE"] = params_path;
    log.note("BATON_PARAMS is not set: the params are " + std::to_string(t.params_json.size()) +
             " bytes, more than Linux lets one environment variable hold (128 KiB); read them from "
             "$BATON_PARAMS_FILE");
  }
  // Each param whose name is an identifier as BATON_PARAM_<NAME> (SPEC §5):
  // a string as it is, anything else as JSON. A command reads a value as
  // data from there ("$BATON_PARAM_region"), never through its text. One
  // that Linux cannot carry (a NUL, more than 128 KiB) is left out, as is
  // everything past 1 MiB of them (the whole environment is bounded), and
  // the log says which.
  {
    nlohmann::json params = nlohmann::json::parse(t.params_json, nullptr, false);
    size_t total = 0;
    std::string left_out;
    if (params.is_object())
      for (auto& [k, v] : params.items()) {
        bool identifier = !k.empty() && !(k[0] >= '0' && k[0] <= '9');
        for (char ch : k)
          identifier = identifier && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                                      (ch >= '0' && ch <= '9') || ch == '_');
        if (!identifier) continue;
        std::string name = "BATON_PARAM_" + k;
        std::string value = v.is_string() ? v.get<std::string>()
                                          : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        size_t bytes = name.size() + 1 + value.size();
        if (value.find('\0') != std::string::npos || bytes > kMaxEnvString || total + bytes > (1u << 20)) {
          left_out += (left_out.empty() ? "" : ", ") + name;
          continue;
        }
        total += bytes;
        env[name] = std::move(value);
      }
    if (!left_out.empty())
      log.note("not in the environment (a NUL byte, or too long for it): " + left_out +
               "; every param is in " + (params_in_file ? "$BATON_PARAMS_FILE" : "$BATON_PARAMS"));
  }
  env["BATON_CHECKPOINT_FILE"] = checkpoint_path;
  env["BATON_OUTPUT_FILE"] = output_path;
  env["BATON_PROGRESS_FILE"] = progress_path;

  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", command = t.command;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail_start("pipe: " + errno_text(errno));
  // Lifted above 2: the file actions below write onto 0, 1 and 2.
  Fd out_r(lift_fd(out_pipe[0])), out_w(lift_fd(out_pipe[1]));
  if (!out_r.valid() || !out_w.valid()) {
    return fail_start("cannot set up the child's descriptors: " + errno_text(errno));
  }

  // posix_spawn, not fork: glibc starts the child with clone(CLONE_VM |
  // CLONE_VFORK), so the worker's page tables are not copied and no atfork
  // handler takes the malloc locks while the other threads wait. The child
  // gets its own session (so its pid is its group id), an empty signal mask,
  // default signal dispositions, stdin from /dev/null, stdout and stderr into
  // the log pipe, the working directory, and no other descriptor.
  SpawnAttr attr;
  SpawnActions actions;
  if (int e = attr.init_error() ? attr.init_error() : actions.init_error()) {
    return fail_start("posix_spawn setup: " + errno_text(e));
  }
  sigset_t no_signals;
  ::sigemptyset(&no_signals);
  const sigset_t dfl_signals = default_signals();
  int setup_err = 0;
  auto step = [&](int e) {
    if (setup_err == 0) setup_err = e;
  };
  step(::posix_spawnattr_setflags(
      attr.get(), POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  step(::posix_spawnattr_setsigmask(attr.get(), &no_signals));
  step(::posix_spawnattr_setsigdefault(attr.get(), &dfl_signals));
  step(::posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0));
  step(::posix_spawn_file_actions_adddup2(actions.get(), out_w.get(), 1));
  step(::posix_spawn_file_actions_adddup2(actions.get(), out_w.get(), 2));
  step(::posix_spawn_file_actions_addchdir_np(actions.get(), cwd.c_str()));
  // Descriptors the worker's libraries opened without O_CLOEXEC stay out of
  // the task; this also closes both pipe ends (after the dup2s above).
  step(::posix_spawn_file_actions_addclosefrom_np(actions.get(), 3));
  if (setup_err != 0) return fail_start("posix_spawn setup: " + errno_text(setup_err));

  // glibc reports a failed clone, file action or exec as posix_spawn's own
  // error (the child is reaped by then); a successful return means exec
  // succeeded, so the child already is its own session and group. The step
  // that failed is not told: a working directory that cannot be entered is
  // named as before, anything else is almost always the exec.
  pid_t pid = -1;
  int spawn_err = ::posix_spawn(&pid, "/bin/sh", actions.get(), attr.get(), argv, envp.data());
  if (spawn_err != 0) {
    std::string why = dir_error(cwd) != 0 ? "working directory " + cwd + ": " + errno_text(spawn_err)
                                          : "exec /bin/sh: " + errno_text(spawn_err);
    return fail_start(why);
  }
  out_w.reset();

  TryLoop loop(t, on_progress, cancel, now_, log, checkpoint_path, progress_path);
  loop.run(pid, out_r.release());
  log.finish();

  ShellResult r;
  std::string content, err;
  switch (read_task_file(checkpoint_path, t.file_cap_bytes, content, err)) {
    case FileRead::ok: r.checkpoint = std::move(content); break;
    case FileRead::too_big: loop.note_oversize_checkpoint(); break;
    case FileRead::missing:
    case FileRead::error: break;
  }

  const std::optional<int> status = loop.status();
  const bool exited = status && WIFEXITED(*status);
  if (exited) r.exit_code = WEXITSTATUS(*status);
  using Outcome = ShellResult::Outcome;
  auto fail = [&](const std::string& why) {
    r.outcome = Outcome::failed;
    r.reason = why;
    log.note(why);
  };
  switch (loop.stop()) {
    case TryLoop::Stop::timeout:
      r.outcome = Outcome::timeout;
      r.reason = "timeout after " + format_timeout(t.timeout.value_or(Duration::zero()));
      break;
    case TryLoop::Stop::canceled:
      r.outcome = Outcome::canceled;
      r.reason = "canceled";
      break;
    case TryLoop::Stop::none:
      if (!status) {
        r.outcome = Outcome::failed;
        r.reason = "lost the exit status of the task";
      } else if (!exited) {
        r.outcome = Outcome::failed;
        r.reason = WIFSIGNALED(*status) ? "killed by signal " + std::to_string(WTERMSIG(*status))
                                        : "ended abnormally";
      } else if (r.exit_code == 0) {
        r.outcome = Outcome::success;
        switch (read_task_file(output_path, t.file_cap_bytes, content, err)) {
          case FileRead::missing: break;
          case FileRead::too_big:
            fail("output file over " + std::to_string(t.file_cap_bytes) + " bytes");
            break;
          case FileRead::error: fail("cannot read output file: " + err); break;
          case FileRead::ok:
            if (json_depth(content) > kMaxOutputDepth) {
              fail("output file nested deeper than " + std::to_string(kMaxOutputDepth) + " levels");
              break;
            }
            try {
              auto j = nlohmann::json::parse(content);
              if (!j.is_object()) {
                fail(std::string("output file is not a JSON object (it is ") + j.type_name() + ")");
              } else {
                r.output_json = j.dump();
              }
            } catch (const nlohmann::json::exception& e) {
              fail(std::string("output file is not valid JSON: ") + e.what());
            }
            break;
        }
      } else if (r.exit_code == t.skip_exit_code) {
        r.outcome = Outcome::skipped;
        r.reason = "exit code " + std::to_string(r.exit_code) + " (skip_exit_code)";
      } else {
        r.outcome = Outcome::failed;
        r.reason = "exit code " + std::to_string(r.exit_code);
      }
      break;
  }
  r.log_bytes = log.bytes();
  r.log_truncated = log.truncated();
  return r;
}

}  // namespace baton::executor
