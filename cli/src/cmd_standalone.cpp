// `baton standalone`: everything in one process — scheduler, local worker
// slots, REST API and web UI — on the embedded SQLite store (or PostgreSQL).
#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "baton/api/server.h"
#include "baton/core/clock.h"
#include "baton/core/duration.h"
#include "baton/core/random.h"
#include "baton/core/sha256.h"
#include "baton/scheduler/scheduler.h"
#include "baton/store/store.h"
#include "commands.h"
#include "config.h"

namespace baton::cli {

namespace {

struct StandaloneOptions {
  std::string dags = config().value("dags");
  std::string db = config().value("db");
  std::string listen = config().value("listen");
  std::string logs = config().value("logs");
  std::string web = config().value("web");
  std::string workers = config().value("workers");
  std::string heartbeat = config().value("heartbeat_interval");
  std::string zombie = config().value("zombie_timeout");
  std::string grace = config().value("shutdown_grace");
};

[[noreturn]] void fail(int code, const std::string& message) {
  std::cerr << "error: " << message << "\n";
  throw Exit{code};
}

std::string default_web_dir() {
  // Next to the binary's source tree when run from a build folder, else none.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
    if (std::filesystem::exists(dir / "web" / "index.html", ec)) return (dir / "web").string();
  return "";
}

void run_standalone(const StandaloneOptions& o) {
  auto url = store::parse_database_url(o.db);
  if (!url) fail(kBadInput, "--db: " + url.error().message);
  size_t colon = o.listen.rfind(':');
  if (colon == std::string::npos) fail(kBadInput, "--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  std::string host = o.listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(o.listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) fail(kBadInput, "--listen: the port must be a number from 0 to 65535");
  int workers = 0;
  {
    size_t used = 0;
    try {
      workers = std::stoi(o.workers, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != o.workers.size() || workers < 1 || workers > 1024)
      fail(kBadInput, "--workers: \"" + o.workers + "\" must be a whole number from 1 to 1024");
  }
  auto heartbeat = parse_duration(o.heartbeat);
  if (!heartbeat || *heartbeat < std::chrono::seconds(1))
    fail(kBadInput, "--heartbeat-interval: " + (heartbeat ? std::string("must be at least 1s") : heartbeat.error().message));
  auto zombie = parse_duration(o.zombie);
  if (!zombie || *zombie <= *heartbeat * 2)
    fail(kBadInput, "--zombie-timeout: " + (zombie ? "must be more than twice the heartbeat interval (" +
                                                         format_duration(*heartbeat) + ")"
                                                   : zombie.error().message));
  auto grace = parse_duration(o.grace);
  if (!grace || *grace < Duration(0))
    fail(kBadInput, "--shutdown-grace: " + (grace ? std::string("must not be negative") : grace.error().message));

  // Signals are taken by sigwait below, so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto lock = store::acquire_scheduling_lock(*url);
  if (!lock) fail(lock.error().code == "conflict" ? kFailed : kUnreachable, lock.error().message);
  const Clock& clock = SystemClock::instance();
  auto st = store::open_store(*url, clock);
  if (!st) fail(kUnreachable, st.error().message);
  store::Store& s = **st;

  // First start: an admin token, printed once.
  auto tokens = s.list_tokens();
  std::optional<std::string> admin_token;
  if (tokens && tokens->empty()) {
    std::string token = "baton_" + random_hex(24);
    if (auto t = s.create_token("admin", store::Role::admin, sha256_hex(token), "system"); !t)
      fail(kFailed, t.error().message);
    admin_token = token;
  }

  scheduler::SchedulerOptions so;
  so.dags_dir = o.dags;
  so.logs_dir = o.logs;
  so.workers = workers;
  so.heartbeat_interval = *heartbeat;
  so.zombie_timeout = *zombie;
  so.shutdown_grace = *grace;
  scheduler::Scheduler sched(s, clock, so);
  if (auto r = sched.start(); !r) fail(kFailed, r.error().message);

  api::ApiOptions ao;
  ao.host = host;
  ao.port = port;
  ao.web_dir = o.web.empty() ? default_web_dir() : o.web;
  const std::string& public_metrics = config().value("metrics_public");
  if (public_metrics != "true" && public_metrics != "false")
    fail(kBadInput, "metrics_public (" + config().get("metrics_public").source + "): \"" + public_metrics +
                        "\" must be true or false");
  ao.metrics_public = public_metrics == "true";
  api::ApiServer server(s, sched, clock, ao);
  if (auto r = server.start(); !r) {
    sched.stop();
    fail(kFailed, r.error().message);
  }
  std::cout << "baton standalone: DAGs " << o.dags << ", database " << url->masked() << ", " << workers
            << " worker slots\n";
  std::cout << "UI and API: http://" << host << ":" << server.port() << "/  (REST: http://" << host << ":"
            << server.port() << "/api/v1/)\n";
  if (admin_token) std::cout << "admin token: " << *admin_token << "\n";
  std::cout.flush();

  // Wait for a signal; meanwhile make sure the scheduling lock is still held
  // (on PostgreSQL it lives with a session that a server restart ends): a
  // process that lost it must not go on scheduling beside the one that took it.
  int sig = 0;
  timespec every{2, 0};
  while ((sig = sigtimedwait(&signals, nullptr, &every)) < 0) {
    if (errno != EAGAIN && errno != EINTR) continue;
    if (auto held = (*lock)->check(); !held) {
      std::cerr << "error: " << held.error().message << "; stopping at once (start baton again)\n";
      server.stop();
      sched.stop(/*immediately=*/true);
      throw Exit{kUnreachable};
    }
  }
  std::cout << "stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  std::cout.flush();
  server.stop();
  sched.stop();
}

}  // namespace

void register_standalone_command(CLI::App& app) {
  auto o = std::make_shared<StandaloneOptions>();
  auto* cmd = app.add_subcommand("standalone", "Scheduler, local workers, REST API and web UI in one process");
  cmd->add_option("--dags", o->dags, "DAGs folder (default: $BATON_DAGS or ./dags)");
  cmd->add_option("--db", o->db, "database URL (default: $BATON_DB or sqlite:./baton.db)");
  cmd->add_option("--listen", o->listen, "HOST:PORT to serve on (default: $BATON_LISTEN or 127.0.0.1:8080)");
  cmd->add_option("--workers", o->workers, "local worker slots (default: $BATON_WORKERS or 4)");
  cmd->add_option("--logs", o->logs, "folder for task logs (default: $BATON_LOGS or ./logs)");
  cmd->add_option("--web", o->web, "folder of the web UI's files (default: web/ of the source tree)");
  cmd->add_option("--heartbeat-interval", o->heartbeat,
                  "how often running tries report and save their checkpoint (default: $BATON_HEARTBEAT_INTERVAL or 5s)");
  cmd->add_option("--zombie-timeout", o->zombie,
                  "a try with no heartbeat for this long fails as worker_lost (default: $BATON_ZOMBIE_TIMEOUT or 60s)");
  cmd->add_option("--shutdown-grace", o->grace,
                  "on SIGTERM/SIGINT, how long running tries may go on before they are killed (default: $BATON_SHUTDOWN_GRACE or 30s)");
  cmd->callback([o] { run_standalone(*o); });
}

}  // namespace baton::cli
