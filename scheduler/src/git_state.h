// GitState: what git says of the DAGs folder, for the versions registered
// from it (SPEC §3: "each version records the commit and whether the file had
// uncommitted changes"). Read with the `git` command, once per folder scan
// that found a change: three short processes, not one per file.
// Blocking I/O; called from the scheduler's loop only when files changed.
#pragma once

#include <optional>
#include <set>
#include <string>

namespace baton::scheduler {

struct GitState {
  std::string commit;           // HEAD of the work tree ("" before the first commit)
  std::set<std::string> dirty;  // absolute paths with uncommitted changes, untracked ones included

  bool is_dirty(const std::string& path) const;
};

// nullopt: the folder is not inside a git work tree, or git is not installed.
std::optional<GitState> read_git_state(const std::string& dir);

}  // namespace baton::scheduler
