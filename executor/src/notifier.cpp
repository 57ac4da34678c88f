#include "baton/executor/notifier.h"

#include "baton/core/secrets.h"
#include "baton/dsl/render.h"

#include <httplib.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace baton::executor {

namespace {

Status post_webhook(const std::string& url, const std::string& body, Duration timeout) {
  // A linear parser: a std::regex recursed per byte and overflowed the stack
  // on a long URL. An invalid URL is an error with code "invalid_argument": it can
  // never be delivered (the notifier fails it for good).
  auto u = dsl::parse_http_url(url);
  if (!u) return Error::invalid("webhook: " + u.error().message);
  std::string scheme_host = u->base();
  std::string path = u->target;
  httplib::Client cli(scheme_host);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count() % 1000000;
  cli.set_connection_timeout(secs, usecs);
  cli.set_read_timeout(secs, usecs);
  cli.set_write_timeout(secs, usecs);
  auto r = cli.Post(path.c_str(), body, "application/json");
  if (!r) {
    std::string why;
    switch (r.error()) {
      case httplib::Error::Connection: why = "cannot connect (refused or unreachable)"; break;
      case httplib::Error::ConnectionTimeout: why = "no connection within the timeout"; break;
      case httplib::Error::Read: why = "no answer within the timeout (or the connection broke)"; break;
      case httplib::Error::Write: why = "the request could not be sent"; break;
      default: why = httplib::to_string(r.error());
    }
    return Error{"unavailable", "webhook " + mask_secrets(url) + ": " + why};
  }
  if (r->status < 200 || r->status > 299)
    return Error{"failed", "webhook " + mask_secrets(url) + " answered HTTP " + std::to_string(r->status)};
  return {};
}

Status run_command(const std::string& command, const std::string& input, Duration timeout, const std::string& dir) {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Error{"failed", std::string("pipe: ") + std::strerror(errno)};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  // The command runs in `dir` (the DAGs folder): `./alert.sh` is the DAG author's script.
  std::string script = "cd \"$BATON_NOTIFY_DIR\" && " + command;
  std::string dir_env = "BATON_NOTIFY_DIR=" + dir;
  std::vector<std::string> env_copy;
  for (char** e = environ; e && *e; ++e) env_copy.emplace_back(*e);
  env_copy.push_back(dir_env);
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char* const*>(argv), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  if (rc != 0) {
    ::close(in[1]);
    return Error{"failed", std::string("cannot start the command: ") + std::strerror(rc)};
  }
  // The event on stdin; a command that does not read it must not block us.
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  bool done = false;
  while (!done) {
    if (in[1] >= 0 && written < input.size()) {
      ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // it closed stdin
    }
    if (in[1] >= 0 && written >= input.size()) {
      ::close(in[1]);
      in[1] = -1;
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      done = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      if (in[1] >= 0) ::close(in[1]);
      return Error{"timeout", "command timed out and was killed: " + command};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (in[1] >= 0) ::close(in[1]);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  return Error{"failed", "command " + command + (WIFEXITED(status) ? " exited " + std::to_string(WEXITSTATUS(status))
                                                                  : std::string(" was killed by a signal"))};
}

}  // namespace

Status deliver(const NotificationTarget& t, const std::string& payload_json, Duration timeout,
               const std::string& working_dir) {
  // A command that exits without reading its input must not kill us with
  // SIGPIPE: blocked in this (the notifier's) thread, the write gets EPIPE.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
  if (t.kind == NotificationTarget::Kind::webhook) return post_webhook(t.target, payload_json, timeout);
  return run_command(t.target, payload_json, timeout, working_dir);
}

}  // namespace baton::executor
