// FolderWatch: the DAGs folder watched with inotify (Linux), so that an idle
// scheduler does no per-file work at all. Every folder below the root is
// watched (names starting with `.` are skipped, as the DAG loader skips
// them), and a folder created or moved in is watched as it appears. Events
// are coalesced: after the first one the watch waits until the folder has
// been quiet for `quiet` (at most `max_wait`), then reports the paths that
// changed in one call — files written and closed, moved in or out, deleted;
// folders created, moved or deleted (the caller looks below them). A queue
// overflow reports `full` (the caller scans the whole folder), and the tree is
// walked again: a folder created while events were lost is watched from then
// on. The root replaced (deleted or moved and made again, `rm -rf dags; git
// clone ... dags`, or a symlinked root pointed elsewhere) is seen on the root
// itself and, by name, in its parent folder (which is watched for that): the
// watches move to the new root and the report is `full`. What inotify cannot
// see (network filesystems, a folder past the watch limit) is left to the
// caller's slow safety scan.
//
// Threads: start() and stop() from the owner's thread; the callback runs on
// the watch's own thread (it should post to the owner's loop).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/result.h"

namespace baton::scheduler {

class FolderWatch {
 public:
  struct Changes {
    std::vector<std::string> paths;  // sorted, each once
    bool full = false;               // events were lost: look at everything
  };
  using OnChange = std::function<void(Changes)>;

  // An error when inotify cannot be used (the caller polls instead).
  static Result<std::unique_ptr<FolderWatch>> start(const std::string& root, OnChange on_change,
                                                    Duration quiet = std::chrono::milliseconds(50),
                                                    Duration max_wait = std::chrono::milliseconds(500));
  ~FolderWatch();
  FolderWatch(const FolderWatch&) = delete;
  FolderWatch& operator=(const FolderWatch&) = delete;

  void stop();
  // Folders watched now (tests, logs).
  size_t watched() const;
  // Folders that could not be watched (the watch limit): the safety scan covers them.
  size_t failed() const { return failed_.load(); }

 private:
  FolderWatch(std::string root, OnChange on_change, Duration quiet, Duration max_wait);
  // Watches `dir` and the folders below it; `seen` gets their descriptors.
  void add_tree(const std::string& dir, std::set<int>* seen = nullptr);
  void remove_tree(const std::string& dir);
  // The tree walked again from the root (which may be a new folder now):
  // what is not watched yet is, and what is no longer in it is not.
  void rewatch();
  // Reads what is queued; false when nothing was.
  bool drain(Changes& out);
  void run();

  std::string root_;
  std::string root_name_;  // the root's name in its parent folder
  int parent_wd_ = -1;     // the parent folder's watch (the root's name replaced), -1: none
  OnChange on_change_;
  Duration quiet_, max_wait_;
  int fd_ = -1;       // inotify
  int wake_fd_ = -1;  // eventfd: stop
  mutable std::mutex mu_;
  std::map<int, std::string> dirs_;  // watch descriptor -> folder
  std::atomic<size_t> failed_{0};
  std::thread thread_;
};

}  // namespace baton::scheduler
