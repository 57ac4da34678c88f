#include "git_state.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

extern char** environ;

namespace baton::scheduler {

namespace fs = std::filesystem;

namespace {

// Runs git with `args` and returns its standard output, or nullopt when it
// could not run or exited non-zero. Its standard error is discarded.
std::optional<std::string> run_git(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string git = "git";
  argv.push_back(git.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "git", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) text.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return text;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string normal(const fs::path& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(p, ec);
  return (ec ? fs::absolute(p, ec) : c).lexically_normal().string();
}

}  // namespace

bool GitState::is_dirty(const std::string& path) const { return dirty.count(normal(path)) > 0; }

std::optional<GitState> read_git_state(const std::string& dir) {
  auto top = run_git({"-C", dir, "rev-parse", "--show-toplevel"});
  if (!top) return std::nullopt;
  GitState g;
  fs::path root = trim(*top);
  if (auto head = run_git({"-C", dir, "rev-parse", "--verify", "-q", "HEAD"})) g.commit = trim(*head);
  // -z: NUL-separated entries "XY path" (a rename adds its old path as a
  // second entry), paths relative to the top of the work tree.
  auto status = run_git({"-C", dir, "status", "--porcelain", "-z", "--untracked-files=all", "--", "."});
  if (!status) return std::nullopt;
  const std::string& s = *status;
  size_t i = 0;
  while (i < s.size()) {
    size_t end = s.find('\0', i);
    if (end == std::string::npos) end = s.size();
    std::string entry = s.substr(i, end - i);
    i = end + 1;
    if (entry.size() < 4) continue;
    bool renamed = entry[0] == 'R' || entry[0] == 'C';
    g.dirty.insert(normal(root / entry.substr(3)));
    if (renamed && i < s.size()) {  // the old path: skip it
      end = s.find('\0', i);
      i = end == std::string::npos ? s.size() : end + 1;
    }
  }
  return g;
}

}  // namespace baton::scheduler
