// The long-running processes of SPEC §2 that share a database:
// `baton standalone` (scheduler, local worker slots, REST API and web UI in
// one process, on SQLite or PostgreSQL, alone on its database), and on
// PostgreSQL `baton server` (REST API and UI, plus a scheduler member unless
// --no-scheduler) and `baton scheduler` (a scheduler member only), any number
// of each (SPEC §9).
#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <tuple>

#include "baton/api/server.h"
#include "baton/core/clock.h"
#include "baton/core/duration.h"
#include "baton/core/random.h"
#include "baton/core/sha256.h"
#include "baton/scheduler/remote_control.h"
#include "baton/scheduler/retention.h"
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
  std::string folder_scan = config().value("folder_scan");
  std::string retention_runs = config().value("retention.runs_days");
  std::string retention_tries = config().value("retention.tries_days");
  std::string retention_logs = config().value("retention.logs_days");
  bool no_scheduler = false;
};

enum class Mode { standalone, server, scheduler };
const char* name_of(Mode m) {
  return m == Mode::standalone ? "standalone" : m == Mode::server ? "server" : "scheduler";
}

[[noreturn]] void fail(int code, const std::string& message) {
  std::cerr << "error: " << message << "\n";
  throw Exit{code};
}

// Waits for SIGTERM or SIGINT (blocked by the caller); meanwhile makes sure
// the scheduling lock is still held (on PostgreSQL it lives with a session
// that a server restart ends): a process that lost it must not go on
// scheduling beside the one that took it.
void wait_for_signal(store::SchedulingLock* lock, api::ApiServer* server, scheduler::Scheduler* sched) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int sig = 0;
  timespec every{2, 0};
  while ((sig = sigtimedwait(&signals, nullptr, &every)) < 0) {
    if (errno != EAGAIN && errno != EINTR) continue;
    if (!lock) continue;
    if (auto held = lock->check(); !held) {
      std::cerr << "error: " << held.error().message << "; stopping at once (start baton again)\n";
      if (server) server->stop();
      if (sched) sched->stop(/*immediately=*/true);
      throw Exit{kUnreachable};
    }
  }
  std::cout << "stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  std::cout.flush();
  if (server) server->stop();
  if (sched) sched->stop();
}

void run_process(const StandaloneOptions& o, Mode mode) {
  // A peer that closes a connection while this process writes to it (a
  // server that refused a body, a client that went away) is an error of that
  // request (EPIPE), not a reason for the whole process to die: cpp-httplib
  // as Debian builds it sends without MSG_NOSIGNAL. Tasks and notification
  // commands get every signal back to its default when they are spawned.
  ::signal(SIGPIPE, SIG_IGN);
  auto url = store::parse_database_url(o.db);
  if (!url) fail(kBadInput, "--db: " + url.error().message);
  if (mode != Mode::standalone && url->engine != store::DatabaseUrl::Engine::postgres)
    fail(kBadInput, std::string("baton ") + name_of(mode) + " shares its database with other processes: it needs " +
                        "PostgreSQL (--db postgresql://...); on SQLite run baton standalone");
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
  auto folder_scan = parse_duration(o.folder_scan);
  if (!folder_scan || *folder_scan < std::chrono::seconds(1))
    fail(kBadInput, "folder_scan (" + config().get("folder_scan").source + "): " +
                        (folder_scan ? std::string("must be at least 1s") : folder_scan.error().message));

  // Retention (docs/running.md "Retention"): days, or empty for ever. The
  // error names where the value came from.
  scheduler::RetentionSettings retention;
  for (auto [key, flag, value, slot] :
       {std::tuple{"retention.runs_days", "--retention-runs-days", &o.retention_runs, &retention.runs_days},
        std::tuple{"retention.tries_days", "--retention-tries-days", &o.retention_tries, &retention.tries_days},
        std::tuple{"retention.logs_days", "--retention-logs-days", &o.retention_logs, &retention.logs_days}}) {
    const auto& c = config().get(key);
    std::string where = *value != c.value ? std::string(flag)
                                          : std::string(key) + " (" + (c.source == "baton.yaml" ? config().file() : c.source) + ")";
    auto days = scheduler::parse_retention_days(where, *value);
    if (!days) fail(kBadInput, days.error().message);
    *slot = *days;
  }

  // Signals are taken by sigwait below, so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  bool shared = mode != Mode::standalone;
  bool scheduling = mode != Mode::server || !o.no_scheduler;
  auto lock = scheduling ? store::acquire_scheduling_lock(*url, shared)
                         : Result<std::unique_ptr<store::SchedulingLock>>(std::unique_ptr<store::SchedulingLock>());
  if (!lock) fail(lock.error().code == "conflict" ? kFailed : kUnreachable, lock.error().message);
  const Clock& clock = SystemClock::instance();
  // The audit key (audit_key_file): every audit entry this process appends is keyed.
  const std::optional<std::string> audit_key = audit_key_or_exit(config().value("audit_key_file"));
  auto st = store::open_store(*url, clock, store::OpenOptions{.audit_key = audit_key});
  if (!st) fail(kUnreachable, st.error().message);
  store::Store& s = **st;

  // First start: an admin token, printed once (by the one process that
  // made it, when several start together).
  auto tokens = s.list_tokens();
  std::optional<std::string> admin_token;
  if (mode != Mode::scheduler && tokens && tokens->empty()) {
    std::string token = "baton_" + random_hex(24);
    if (auto t = s.create_token("admin", store::Role::admin, sha256_hex(token), "system"); t)
      admin_token = token;
    else if (t.error().code != "conflict")
      fail(kFailed, t.error().message);
  }

  scheduler::SchedulerOptions so;
  so.dags_dir = o.dags;
  {
    std::stringstream roots(config().value("sensor_roots"));
    for (std::string root; std::getline(roots, root, ',');) {
      while (!root.empty() && root.front() == ' ') root.erase(root.begin());
      while (!root.empty() && root.back() == ' ') root.pop_back();
      if (!root.empty()) so.sensor_roots.push_back(root);
    }
  }
  so.logs_dir = o.logs;
  so.workers = workers;
  so.heartbeat_interval = *heartbeat;
  so.zombie_timeout = *zombie;
  so.shutdown_grace = *grace;
  so.shared = shared;
  so.folder_scan = *folder_scan;
  so.retention = retention;
  // On PostgreSQL the retention job cleans through a connection of its own.
  // Not on SQLite: one writer at a time there, and a loop write that waits
  // longer than the busy timeout for a batch on another connection would stop
  // the scheduler; on the shared connection it waits for the batch instead.
  if (url->engine == store::DatabaseUrl::Engine::postgres)
    so.retention_store = [db = *url, &clock, audit_key] {
      return store::open_store(db, clock, store::OpenOptions{.migrate = false, .audit_key = audit_key});
    };
  // Standalone serves the API while the DAGs folder loads (/health says how far).
  so.load_in_background = mode == Mode::standalone;
  const std::string& slack_order = config().value("slack_order");
  if (slack_order != "true" && slack_order != "false")
    fail(kBadInput, "slack_order (" + config().get("slack_order").source + "): \"" + slack_order +
                        "\" must be true or false");
  so.slack_order = slack_order == "true";
  std::unique_ptr<scheduler::Scheduler> sched;
  if (scheduling) {
    sched = std::make_unique<scheduler::Scheduler>(s, clock, so);
    // Standalone starts it once the API listens: /health answers from the
    // first moment, through recovery and the DAGs folder's load.
    if (mode != Mode::standalone)
      if (auto r = sched->start(); !r) fail(kFailed, r.error().message);
  }
  // Ends the scheduler member on every way out.
  struct Stop {
    std::unique_ptr<scheduler::Scheduler>& s;
    ~Stop() {
      if (s) s->stop();
    }
  } stop_sched{sched};
  if (mode == Mode::scheduler) {
    std::cout << "baton scheduler: DAGs " << o.dags << ", database " << url->masked() << "\n";
    std::cout.flush();
    wait_for_signal(lock->get(), nullptr, sched.get());
    return;
  }
  // A server's API has a connection of its own: its reads, intents and the
  // workers' claims do not wait for the scheduler member's writes.
  std::unique_ptr<store::Store> api_store;
  if (shared) {
    auto a = store::open_store(*url, clock, store::OpenOptions{.migrate = false, .audit_key = audit_key});
    if (!a) fail(kUnreachable, a.error().message);
    api_store = std::move(*a);
  }
  store::Store& as = api_store ? *api_store : s;
  // A server's intents go to whichever member owns the DAG (SPEC §9).
  std::unique_ptr<scheduler::Control> remote;
  if (shared) remote = std::make_unique<scheduler::RemoteControl>(as, clock, sched.get(), o.logs);
  scheduler::Control& control = shared ? *remote : static_cast<scheduler::Control&>(*sched);

  api::ApiOptions ao;
  ao.host = host;
  ao.port = port;
  // Worker long polls hold a thread each while they wait: a server has more.
  if (mode == Mode::server) ao.threads = 32;
  ao.web_dir = o.web;
  const std::string& public_metrics = config().value("metrics_public");
  if (public_metrics != "true" && public_metrics != "false")
    fail(kBadInput, "metrics_public (" + config().get("metrics_public").source + "): \"" + public_metrics +
                        "\" must be true or false");
  ao.metrics_public = public_metrics == "true";
  api::ApiServer server(as, control, clock, ao);
  if (auto r = server.start(); !r) fail(kFailed, r.error().message);
  if (mode == Mode::standalone && sched)
    if (auto r = sched->start(); !r) {
      server.stop();
      fail(kFailed, r.error().message);
    }
  if (mode == Mode::standalone)
    std::cout << "baton standalone: DAGs " << o.dags << ", database " << url->masked() << ", " << workers
              << " worker slots\n";
  else
    std::cout << "baton server: DAGs " << o.dags << ", database " << url->masked()
              << (scheduling ? ", with a scheduler member" : ", no scheduler member") << "\n";
  std::cout << "UI and API: http://" << host << ":" << server.port() << "/  (REST: http://" << host << ":"
            << server.port() << "/api/v1/)\n";
  if (admin_token) std::cout << "admin token: " << *admin_token << "\n";
  std::cout.flush();
  wait_for_signal(lock->get(), &server, sched.get());
}

CLI::App* add_process_command(CLI::App& app, Mode mode, const char* about) {
  auto o = std::make_shared<StandaloneOptions>();
  auto* cmd = app.add_subcommand(name_of(mode), about);
  cmd->add_option("--dags", o->dags, "DAGs folder (default: $BATON_DAGS or ./dags)");
  cmd->add_option("--db", o->db,
                  mode == Mode::standalone ? "database URL (default: $BATON_DB or sqlite:./baton.db)"
                                           : "PostgreSQL URL, postgresql://user:pass@host:port/db (default: $BATON_DB)");
  if (mode != Mode::scheduler)
    cmd->add_option("--listen", o->listen, "HOST:PORT to serve on (default: $BATON_LISTEN or 127.0.0.1:8080)");
  if (mode == Mode::standalone)
    cmd->add_option("--workers", o->workers, "local worker slots (default: $BATON_WORKERS or 4)");
  if (mode == Mode::server) cmd->add_flag("--no-scheduler", o->no_scheduler, "serve the API and UI only, schedule nothing");
  cmd->add_option("--logs", o->logs, "folder for task logs (default: $BATON_LOGS or ./logs)");
  if (mode != Mode::scheduler)
    cmd->add_option("--web", o->web, "serve the web UI from this folder instead of the copy built into baton (to edit the UI without a rebuild)");
  cmd->add_option("--heartbeat-interval", o->heartbeat,
                  "how often running tries report and save their checkpoint (default: $BATON_HEARTBEAT_INTERVAL or 5s)");
  cmd->add_option("--zombie-timeout", o->zombie,
                  "a try with no heartbeat for this long fails as worker_lost (default: $BATON_ZOMBIE_TIMEOUT or 60s)");
  cmd->add_option("--shutdown-grace", o->grace,
                  "on SIGTERM/SIGINT, how long running tries may go on before they are killed (default: $BATON_SHUTDOWN_GRACE or 30s)");
  cmd->add_option("--retention-runs-days", o->retention_runs,
                  "keep finished runs this many days, then remove them (default: $BATON_RETENTION_RUNS_DAYS or "
                  "retention.runs_days; none: for ever)");
  cmd->add_option("--retention-tries-days", o->retention_tries,
                  "keep the tries of finished runs this many days (default: $BATON_RETENTION_TRIES_DAYS or "
                  "retention.tries_days; none: for ever)");
  cmd->add_option("--retention-logs-days", o->retention_logs,
                  "keep task logs this many days (default: $BATON_RETENTION_LOGS_DAYS or retention.logs_days; none: "
                  "for ever)");
  cmd->callback([o, mode] { run_process(*o, mode); });
  return cmd;
}

}  // namespace

void register_standalone_command(CLI::App& app) {
  add_process_command(app, Mode::standalone, "Scheduler, local workers, REST API and web UI in one process");
  add_process_command(app, Mode::server,
                      "REST API and web UI, and a scheduler member unless --no-scheduler (PostgreSQL; any number)");
  add_process_command(app, Mode::scheduler, "A scheduler member only (PostgreSQL; any number)");
}

}  // namespace baton::cli
