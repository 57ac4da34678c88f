// `baton worker --server URL --token T [--queues a,b] [--slots N] [--exit-when-idle D]` (SPEC §2):
// a remote worker. It needs no database: it claims tries from the server,
// runs them, heartbeats and reports over HTTP (executor/remote_worker.h).
#include <CLI/CLI.hpp>

#include <signal.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "baton/core/duration.h"
#include "baton/core/secrets.h"
#include "baton/executor/remote_worker.h"
#include "commands.h"
#include "config.h"

namespace baton::cli {

namespace {

struct WorkerOptions {
  std::string server = config().value("server");
  std::string token = config().value("token");
  std::string queues = config().value("queues");
  std::string slots = config().value("slots");
  std::string dir = config().value("worker_dir");
  std::string name = config().value("worker_name");
  std::string heartbeat = config().value("heartbeat_interval");
  std::string grace = config().value("shutdown_grace");
  std::string exit_when_idle;
};

[[noreturn]] void fail(int code, const std::string& message) {
  std::cerr << "error: " << message << "\n";
  throw Exit{code};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ','))
    if (!part.empty()) out.push_back(part);
  return out;
}

void run_worker(const WorkerOptions& o) {
  // A peer that closes a connection while this process writes to it (a
  // server that refused a body, a client that went away) is an error of that
  // request (EPIPE), not a reason for the whole process to die: cpp-httplib
  // as Debian builds it sends without MSG_NOSIGNAL. Tasks and notification
  // commands get every signal back to its default when they are spawned.
  ::signal(SIGPIPE, SIG_IGN);
  executor::RemoteWorkerOptions w;
  w.servers = split(o.server);
  if (w.servers.empty()) fail(kBadInput, "--server: give the server's URL, e.g. http://127.0.0.1:8080");
  for (auto& s : w.servers)
    if (s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0)
      fail(kBadInput, "--server: \"" + mask_secrets(s) + "\" is not an http:// or https:// URL");
  if (o.token.empty()) fail(kBadInput, "--token: a token with the worker role is needed (baton tokens create NAME --role worker)");
  w.token = o.token;
  w.queues = split(o.queues);
  if (w.queues.empty()) fail(kBadInput, "--queues: name at least one queue");
  size_t used = 0;
  int slots = 0;
  try {
    slots = std::stoi(o.slots, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != o.slots.size() || slots < 1 || slots > 1024)
    fail(kBadInput, "--slots: \"" + o.slots + "\" must be a whole number from 1 to 1024");
  w.slots = slots;
  w.work_dir = o.dir;
  w.name = o.name;
  auto heartbeat = parse_duration(o.heartbeat);
  if (!heartbeat || *heartbeat < std::chrono::milliseconds(100))
    fail(kBadInput, "--heartbeat-interval: " + (heartbeat ? std::string("must be at least 100ms") : heartbeat.error().message));
  w.heartbeat_interval = *heartbeat;
  auto grace = parse_duration(o.grace);
  if (!grace || *grace < Duration(0))
    fail(kBadInput, "--shutdown-grace: " + (grace ? std::string("must not be negative") : grace.error().message));
  w.shutdown_grace = *grace;
  if (!o.exit_when_idle.empty()) {
    auto idle = parse_duration(o.exit_when_idle);
    if (!idle || *idle < std::chrono::seconds(1))
      fail(kBadInput, "--exit-when-idle: " + (idle ? std::string("must be at least 1s") : idle.error().message) +
                          " (e.g. 5m)");
    w.exit_when_idle = *idle;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<bool> ended{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (ended) return;  // run() ended on its own
    std::cout << "stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
    std::cout.flush();
    stop = true;
  });
  executor::RemoteWorker worker(w);
  auto r = worker.run(stop);
  if (!stop) {
    // run() ended on its own (a refused token, or idle): wake the signal thread.
    ended = true;
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  if (!r) fail(kFailed, r.error().message);
}

}  // namespace

void register_worker_command(CLI::App& app) {
  auto o = std::make_shared<WorkerOptions>();
  auto* cmd = app.add_subcommand("worker", "A remote worker: runs tries it takes from a server over HTTP (no database)");
  cmd->add_option("--server", o->server,
                  "the server's URL; several, comma-separated, are tried in turn (default: $BATON_SERVER)");
  cmd->add_option("--token", o->token, "a token with the worker role (default: $BATON_TOKEN)");
  cmd->add_option("--queues", o->queues, "queues to take tries of, comma-separated (default: $BATON_QUEUES or default)");
  cmd->add_option("--slots", o->slots, "tries it runs at once (default: $BATON_SLOTS or 4)");
  cmd->add_option("--dir", o->dir,
                  "folder for its slots' log files (the running tries' logs, until sent) and scratch files "
                  "(default: $BATON_WORKER_DIR or ./worker)");
  cmd->add_option("--name", o->name, "its name in tries and logs (default: host:pid)");
  cmd->add_option("--heartbeat-interval", o->heartbeat,
                  "how often it heartbeats its tries (default: $BATON_HEARTBEAT_INTERVAL or 5s)");
  cmd->add_option("--shutdown-grace", o->grace,
                  "on SIGTERM/SIGINT, how long running tries may go on before they are killed (default: 30s)");
  cmd->add_option("--exit-when-idle", o->exit_when_idle,
                  "exit 0 after this long with no try running or claimed, e.g. 5m (to scale workers to zero; "
                  "default: never)");
  cmd->callback([o] { run_worker(*o); });
}

}  // namespace baton::cli
