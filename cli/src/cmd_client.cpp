// Client commands: talk to a running server over its REST API (--server,
// --token). trigger, runs list|show|cancel, tasks list|logs|clear|mark|why.
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "baton/core/ids.h"
#include "baton/core/random.h"
#include "baton/core/sha256.h"
#include "baton/core/time.h"
#include "baton/store/store.h"
#include "client.h"
#include "commands.h"
#include "config.h"

namespace baton::cli {

namespace {

using nlohmann::json;

std::string run_path(const std::string& dag, const std::string& run) {
  return "/api/v1/dags/" + enc(dag) + "/runs/" + enc(run);
}

bool terminal(const std::string& state) { return state == "success" || state == "failed" || state == "canceled"; }

int wait_for_run(const ClientOptions& o, const std::string& dag, const std::string& run) {
  std::string last;
  while (true) {
    json r = call_json(o, "GET", run_path(dag, run));
    std::string state = str(r, "state");
    if (state != last) {
      std::cerr << run << ": " << state << "\n";
      last = state;
    }
    if (terminal(state)) return state == "success" ? kOk : kFailed;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// ---- backfill --wait: progress until the backfill ends ----

std::atomic<bool> g_detach{false};
extern "C" void on_sigint(int) { g_detach = true; }

std::string eta_text(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  long long s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

// A bar on a terminal (redrawn in place), a line per change otherwise. Exit 0
// when every run it created or reran succeeded, 1 when any did not; Ctrl-C
// detaches (exit 130) and the backfill goes on.
int wait_for_backfill(const ClientOptions& o, long long id) {
  bool tty = ::isatty(2);
  g_detach = false;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, nullptr);
  auto t0 = std::chrono::steady_clock::now();
  int first_done = -1;
  std::string last;
  while (true) {
    json b = call_json(o, "GET", "/api/v1/backfills/" + std::to_string(id));
    int total = b.value("total", 0), done = b.value("done", 0), failed = b.value("failed", 0);
    std::string state = b.value("state", "");
    if (first_done < 0) first_done = done;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double rate = elapsed > 0.5 ? (done - first_done) / elapsed : 0;
    std::string eta = rate > 0 ? eta_text((total - done) / rate) : "?";
    char rate_text[32];
    std::snprintf(rate_text, sizeof rate_text, "%.1f", rate);
    std::string counts = std::to_string(done) + "/" + std::to_string(total) + " runs, " + std::to_string(failed) +
                         " failed, " + rate_text + " runs/s, ETA " + eta;
    if (tty) {
      int width = 30, filled = total > 0 ? width * done / total : width;
      std::cerr << "\r[" << std::string(static_cast<size_t>(filled), '#')
                << std::string(static_cast<size_t>(width - filled), ' ') << "] " << counts << "   " << std::flush;
    } else if (std::string line = state + ": " + std::to_string(done) + "/" + std::to_string(total) + " runs, " +
                                  std::to_string(failed) + " failed";
               line != last) {
      std::cerr << "backfill " << id << " " << line << "\n";
      last = line;
    }
    if (state != "running") {
      if (tty) std::cerr << "\n";
      std::cerr << "backfill " << id << " " << state << ": " << done << " of " << total << " runs done, " << failed
                << " failed\n";
      return state == "success" ? kOk : kFailed;
    }
    for (int i = 0; i < 10 && !g_detach; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_detach) {
      std::cerr << (tty ? "\n" : "") << "detached: backfill " << id
                << " goes on (baton backfill status " << id << ", baton backfill cancel " << id << ")\n";
      return 130;
    }
  }
}

}  // namespace

void register_client_commands(CLI::App& app) {
  // backfill DAG --from --to ... | backfill list | status ID | cancel ID
  {
    auto* bf = app.add_subcommand("backfill", "Backfill a DAG over a range of dates, and follow or cancel backfills");
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>();
    auto from = std::make_shared<std::string>();
    auto to = std::make_shared<std::string>();
    auto reprocess = std::make_shared<std::string>("none");
    auto max_active = std::make_shared<int>(10);
    auto reverse = std::make_shared<bool>(false);
    auto tasks = std::make_shared<std::string>();
    auto downstream = std::make_shared<bool>(false);
    auto dry_run = std::make_shared<bool>(false);
    auto wait = std::make_shared<bool>(false);
    bf->add_option("dag", *dag, "the DAG to backfill");
    bf->add_option("--from", *from, "first logical date (a date covers its whole local day), in the DAG's timezone");
    bf->add_option("--to", *to, "last logical date, inclusive");
    bf->add_option("--reprocess", *reprocess, "none (default): skip intervals with a run; failed; all")
        ->check(CLI::IsMember({"none", "failed", "all"}));
    bf->add_option("--max-active-runs", *max_active, "at most this many of its runs at once (default 10)")
        ->check(CLI::Range(1, 1000));
    bf->add_flag("--reverse", *reverse, "newest interval first");
    bf->add_option("--tasks", *tasks, "limit reruns to these tasks: a,b");
    bf->add_flag("--downstream", *downstream, "with --tasks: also what depends on them");
    bf->add_flag("--dry-run", *dry_run, "print the plan (create, skip, rerun per interval) and change nothing");
    bf->add_flag("--wait", *wait, "follow its progress; exit 0 if every run succeeded, 1 if any failed");
    add_client_options(bf, *o, true);
    bf->callback([=] {
      if (!bf->get_subcommands().empty()) return;  // list, status, cancel
      if (dag->empty() || from->empty() || to->empty()) {
        std::cerr << "error: backfill needs a DAG, --from and --to (or one of: list, status ID, cancel ID)\n";
        throw Exit{kBadInput};
      }
      json body = {{"dag_id", *dag}, {"from", *from}, {"to", *to}, {"reprocess", *reprocess},
                   {"max_active_runs", *max_active}, {"reverse", *reverse}, {"downstream", *downstream},
                   {"dry_run", *dry_run}};
      if (!tasks->empty()) {
        json list = json::array();
        std::string t = *tasks;
        for (size_t start = 0, comma; start <= t.size(); start = comma + 1) {
          comma = t.find(',', start);
          if (comma == std::string::npos) comma = t.size();
          if (comma > start) list.push_back(t.substr(start, comma - start));
        }
        body["tasks"] = list;
      }
      json r = call_json(*o, "POST", "/api/v1/backfills", body.dump());
      // A dry run's plan comes a page at a time: the whole of it is printed.
      while (*dry_run && r.value("plan_next_cursor", json()).is_string()) {
        json page = call_json(*o, "POST", "/api/v1/backfills?cursor=" + enc(r["plan_next_cursor"].get<std::string>()),
                              body.dump());
        for (auto& st : page["plan"]) r["plan"].push_back(st);
        r["plan_next_cursor"] = page.value("plan_next_cursor", json());
      }
      if (o->output == "json") {
        std::cout << r.dump(2) << "\n";
      } else if (*dry_run) {
        std::vector<std::vector<std::string>> rows = {{"LOGICAL_DATE", "ACTION", "RUN", "WHY"}};
        for (auto& st : r["plan"])
          rows.push_back({str(st, "logical_date"), str(st, "action"), str(st, "run_id"), str(st, "reason")});
        print_table(rows);
        const json& n = r["summary"];
        std::cout << n.value("create", 0LL) << " to create, " << n.value("rerun", 0LL) << " to rerun, "
                  << n.value("skip", 0LL) << " to skip\n";
        return;
      } else {
        std::cout << r.value("id", 0LL) << "\n";
      }
      if (*wait && !*dry_run) throw Exit{wait_for_backfill(*o, r.value("id", 0LL))};
    });
    {
      auto lo = std::make_shared<ClientOptions>();
      auto ldag = std::make_shared<std::string>();
      auto* cmd = bf->add_subcommand("list", "Backfills, newest first");
      cmd->add_option("--dag", *ldag, "only this DAG's");
      add_client_options(cmd, *lo, true);
      cmd->callback([=] {
        json j = call_json(*lo, "GET", "/api/v1/backfills?limit=1000" + (ldag->empty() ? "" : "&dag_id=" + enc(*ldag)));
        if (lo->output == "json") {
          std::cout << j.dump(2) << "\n";
          return;
        }
        std::vector<std::vector<std::string>> rows = {{"ID", "DAG", "FROM", "TO", "STATE", "DONE", "FAILED", "TOTAL"}};
        for (auto& b : j["items"])
          rows.push_back({str(b, "id"), str(b, "dag_id"), str(b, "from"), str(b, "to"), str(b, "state"), str(b, "done"),
                          str(b, "failed"), str(b, "total")});
        print_table(rows);
      });
    }
    {
      auto so = std::make_shared<ClientOptions>();
      auto id = std::make_shared<long long>(0);
      auto swait = std::make_shared<bool>(false);
      auto* cmd = bf->add_subcommand("status", "One backfill's progress");
      cmd->add_option("id", *id, "backfill id")->required();
      cmd->add_flag("--wait", *swait, "follow it until it ends");
      add_client_options(cmd, *so, true);
      cmd->callback([=] {
        if (*swait) throw Exit{wait_for_backfill(*so, *id)};
        json b = call_json(*so, "GET", "/api/v1/backfills/" + std::to_string(*id));
        if (so->output == "json") {
          std::cout << b.dump(2) << "\n";
          return;
        }
        std::cout << "backfill " << *id << " of " << str(b, "dag_id") << " from " << str(b, "from") << " to "
                  << str(b, "to") << ": " << str(b, "state") << ", " << str(b, "done") << "/" << str(b, "total")
                  << " runs, " << str(b, "failed") << " failed\n";
      });
    }
    {
      auto co = std::make_shared<ClientOptions>();
      auto id = std::make_shared<long long>(0);
      auto* cmd = bf->add_subcommand("cancel", "Cancel a backfill and every run of it still going");
      cmd->add_option("id", *id, "backfill id")->required();
      add_client_options(cmd, *co, false);
      cmd->callback([=] {
        call(*co, "POST", "/api/v1/backfills/" + std::to_string(*id) + "/cancel");
        std::cout << "canceled backfill " << *id << "\n";
      });
    }
  }

  // trigger
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>();
    auto params = std::make_shared<std::string>();
    auto date = std::make_shared<std::string>();
    auto key = std::make_shared<std::string>();
    auto note = std::make_shared<std::string>();
    auto wait = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("trigger", "Trigger a run of a DAG");
    cmd->add_option("dag", *dag, "DAG id")->required();
    cmd->add_option("--params", *params, "a JSON object overriding the DAG's params");
    cmd->add_option("--date", *date, "logical date (ISO 8601 instant; default now)");
    cmd->add_option("--idempotency-key", *key, "the same key returns the first run instead of creating another");
    cmd->add_option("--note", *note, "a note kept with the run");
    cmd->add_flag("--wait", *wait, "wait for the run to finish; exit 0 on success, 1 otherwise");
    add_client_options(cmd, *o, true);
    cmd->callback([=] {
      json body = json::object();
      if (!params->empty()) {
        auto p = json::parse(*params, nullptr, false);
        if (p.is_discarded() || !p.is_object()) {
          std::cerr << "error: --params must be a JSON object, e.g. '{\"region\": \"eu\"}'\n";
          throw Exit{kBadInput};
        }
        body["params"] = p;
      }
      if (!date->empty()) {
        auto t = parse_utc(*date);
        if (!t) {
          std::cerr << "error: --date: " << t.error().message << "\n";
          throw Exit{kBadInput};
        }
        body["logical_date"] = format_utc(*t);
      }
      if (!key->empty()) body["idempotency_key"] = *key;
      if (!note->empty()) body["note"] = *note;
      json run = call_json(*o, "POST", "/api/v1/dags/" + enc(*dag) + "/runs", body.dump());
      if (o->output == "json") std::cout << run.dump(2) << "\n";
      else std::cout << str(run, "run_id") << "\n";
      if (*wait) throw Exit{wait_for_run(*o, *dag, str(run, "run_id"))};
    });
  }

  auto* runs = app.add_subcommand("runs", "List, show and cancel runs");
  runs->require_subcommand(1);
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>();
    auto state = std::make_shared<std::string>();
    auto limit = std::make_shared<int>(25);
    auto* cmd = runs->add_subcommand("list", "Runs of a DAG, newest first");
    cmd->add_option("dag", *dag, "DAG id")->required();
    cmd->add_option("--state", *state, "only runs in this state");
    cmd->add_option("--limit", *limit, "how many (1 to 1000, default 25)");
    add_client_options(cmd, *o, true);
    cmd->callback([=] {
      std::string path = "/api/v1/dags/" + enc(*dag) + "/runs?limit=" + std::to_string(*limit);
      if (!state->empty()) path += "&state=" + enc(*state);
      json j = call_json(*o, "GET", path);
      if (o->output == "json") {
        std::cout << j.dump(2) << "\n";
        return;
      }
      std::vector<std::vector<std::string>> rows = {{"RUN", "TYPE", "STATE", "LOGICAL_DATE", "STARTED", "ENDED"}};
      for (auto& r : j["items"])
        rows.push_back({str(r, "run_id"), str(r, "run_type"), str(r, "state"), str(r, "logical_date"),
                        str(r, "started_at"), str(r, "ended_at")});
      print_table(rows);
    });
  }
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>();
    auto run = std::make_shared<std::string>();
    auto mapped = std::make_shared<std::string>();
    auto* cmd = runs->add_subcommand("show", "A run and its task instances");
    cmd->add_option("dag", *dag, "DAG id")->required();
    cmd->add_option("run", *run, "run id")->required();
    cmd->add_option("--mapped", *mapped, "list the mapped instances of this foreach task (every page)");
    add_client_options(cmd, *o, true);
    cmd->callback([=] {
      json r = call_json(*o, "GET", run_path(*dag, *run));
      // One row per task (a foreach task's rolls its mapped instances up),
      // or every mapped instance of one task, page by page.
      json items = json::array();
      std::string base = run_path(*dag, *run) + "/tasks?limit=1000&" +
                         (mapped->empty() ? std::string("map_index=-1") : "task_id=" + enc(*mapped));
      for (std::string cursor;;) {
        json t = call_json(*o, "GET", base + (cursor.empty() ? "" : "&cursor=" + enc(cursor)));
        for (auto& x : t["items"])
          if (mapped->empty() || x.value("map_index", -1) >= 0) items.push_back(x);
        if (!t["next_cursor"].is_string()) break;
        cursor = t["next_cursor"].get<std::string>();
      }
      if (o->output == "json") {
        std::cout << json{{"run", r}, {"tasks", items}}.dump(2) << "\n";
        return;
      }
      std::cout << "run " << str(r, "run_id") << " (" << str(r, "run_type") << ") " << str(r, "state") << "\n"
                << "logical date " << str(r, "logical_date") << ", interval " << str(r, "data_interval_start")
                << " .. " << str(r, "data_interval_end") << "\n";
      // The forecast (docs/sla.md).
      if (r.contains("expected_end") && r["expected_end"].is_string())
        std::cout << "expected end " << str(r, "expected_end")
                  << (r.contains("sla_deadline") && r["sla_deadline"].is_string()
                          ? ", SLA deadline " + str(r, "sla_deadline") +
                                (r.value("at_risk", false) ? ": AT RISK" : ": on time")
                          : std::string())
                  << "\n";
      if (!mapped->empty()) {
        std::vector<std::vector<std::string>> rows = {{"MAP_INDEX", "ITEM", "STATE", "TRY", "STARTED", "ENDED", "REASON"}};
        for (auto& x : items) {
          std::string item = x["item"].is_string() ? x["item"].get<std::string>() : x["item"].dump();
          if (item.size() > 40) item = item.substr(0, 37) + "...";
          rows.push_back({str(x, "map_index"), item, str(x, "state"), str(x, "try_number") + "/" + str(x, "max_tries"),
                          str(x, "started_at"), str(x, "ended_at"), str(x, "reason")});
        }
        if (items.empty()) std::cout << *mapped << " has no mapped instances in this run\n";
        else print_table(rows);
        return;
      }
      std::vector<std::vector<std::string>> rows = {{"TASK", "STATE", "TRY", "STARTED", "ENDED", "REASON"}};
      for (auto& x : items) {
        if (x["mapped"].is_object()) {
          // A foreach task: its mapped instances rolled up, by state.
          std::string counts;
          for (auto& [st, n] : x["mapped"]["counts"].items())
            counts += (counts.empty() ? "" : ", ") + st + " " + n.dump();
          rows.push_back({str(x, "task_id"), x["mapped"].value("state", ""),
                          x["mapped"]["mapped"].dump() + " mapped", str(x, "started_at"), str(x, "ended_at"),
                          counts});
          continue;
        }
        // A running try's flags (slow, stuck) and progress beside its reason.
        std::string note = str(x, "reason");
        if (x.contains("flags") && x["flags"].is_array())
          for (auto& f : x["flags"])
            if (f.is_string()) note += (note.empty() ? "" : "; ") + f.get<std::string>();
        if (x.contains("progress") && x["progress"].is_object() && x["progress"]["fraction"].is_number())
          note += (note.empty() ? "" : "; ") +
                  std::to_string(static_cast<int>(x["progress"]["fraction"].get<double>() * 100 + 0.5)) + "% " +
                  x["progress"].value("text", "");
        rows.push_back({str(x, "task_id"), str(x, "state"), str(x, "try_number") + "/" + str(x, "max_tries"),
                        str(x, "started_at"), str(x, "ended_at"), note});
      }
      print_table(rows);
    });
  }
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>();
    auto run = std::make_shared<std::string>();
    auto* cmd = runs->add_subcommand("cancel", "Cancel a run (running tasks are killed)");
    cmd->add_option("dag", *dag, "DAG id")->required();
    cmd->add_option("run", *run, "run id")->required();
    add_client_options(cmd, *o, false);
    cmd->callback([=] {
      call(*o, "POST", run_path(*dag, *run) + "/cancel", "{}");
      std::cout << "canceled " << *run << "\n";
    });
  }

  // tokens: through the server's API (admin), or with --db straight against
  // the database (to bootstrap, and to recover a lost admin token).
  {
    auto* tokens = app.add_subcommand("tokens", "API tokens (through the server, or with --db against the database)");
    tokens->require_subcommand(1);
    auto add_db = [](CLI::App* cmd, std::string& db) {
      cmd->add_option("--db", db, "work straight against this database instead of the server (sqlite:PATH or postgresql://...)");
    };
    auto print = [](const ClientOptions& o, const json& list) {
      if (o.output == "json") {
        std::cout << list.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return;
      }
      std::vector<std::vector<std::string>> rows = {{"NAME", "ROLE", "NAMESPACES", "CREATED", "REVOKED", "LAST_USED"}};
      for (auto& t : list["items"]) {
        std::string namespaces;
        if (t.contains("namespaces") && t["namespaces"].is_array())
          for (auto& n : t["namespaces"]) namespaces += (namespaces.empty() ? "" : ",") + n.get<std::string>();
        rows.push_back({str(t, "name"), str(t, "role"), namespaces.empty() ? "(all)" : namespaces, str(t, "created_at"),
                        str(t, "revoked_at"), str(t, "last_used_at")});
      }
      print_table(rows);
    };
    {
      auto o = std::make_shared<ClientOptions>();
      auto db = std::make_shared<std::string>();
      auto name = std::make_shared<std::string>();
      auto role = std::make_shared<std::string>();
      auto ns_text = std::make_shared<std::string>();
      auto* cmd = tokens->add_subcommand("create", "Create a token and print it once (the store keeps only its hash)");
      cmd->add_option("name", *name, "token name (shown as the actor in the audit log)")->required();
      cmd->add_option("--role", *role, "viewer, operator, admin or worker")
          ->required()
          ->check(CLI::IsMember({"viewer", "operator", "admin", "worker"}));
      cmd->add_option("--namespace", *ns_text,
                      "scope the token to these namespaces, comma-separated (N or N,M): it sees and acts on only "
                      "their DAGs, runs, variables, connections, ... (default: every namespace)");
      add_client_options(cmd, *o, false);
      add_db(cmd, *db);
      cmd->callback([=] {
        auto namespaces = parse_namespace_list(*ns_text);
        if (!namespaces || (!ns_text->empty() && namespaces->empty())) {
          std::cerr << "error: --namespace: "
                    << (namespaces ? std::string("give at least one namespace") : namespaces.error().message) << "\n";
          throw Exit{kBadInput};
        }
        if (!namespaces->empty() && *role == "worker") {
          std::cerr << "error: --namespace: a worker token cannot be scoped (it only claims and reports tries)\n";
          throw Exit{kBadInput};
        }
        if (db->empty()) {
          json body{{"name", *name}, {"role", *role}};
          if (!namespaces->empty()) body["namespaces"] = *namespaces;
          json j = call_json(*o, "POST", "/api/v1/tokens", body.dump());
          std::cout << str(j, "token") << "\n";
          return;
        }
        if (!is_valid_name(*name)) {
          std::cerr << "error: invalid token name \"" << *name
                    << "\": use 1 to 200 characters of A-Z a-z 0-9 _ . - (not starting with . or -)\n";
          throw Exit{kBadInput};
        }
        auto s = open_store_or_exit(*db);
        std::string token = "baton_" + random_hex(24);
        auto t = s->create_token(*name, *store::role_from_string(*role), sha256_hex(token), "cli", *namespaces);
        if (!t) {
          std::cerr << "error: " << t.error().message << "\n";
          throw Exit{t.error().code == "invalid_argument" ? kBadInput : kFailed};
        }
        std::cout << token << "\n";
      });
    }
    {
      auto o = std::make_shared<ClientOptions>();
      auto db = std::make_shared<std::string>();
      auto* cmd = tokens->add_subcommand("list", "List tokens (never their secrets)");
      add_client_options(cmd, *o, true);
      add_db(cmd, *db);
      cmd->callback([=] {
        if (db->empty()) {
          json all = {{"items", json::array()}, {"next_cursor", nullptr}};
          std::string path = "/api/v1/tokens?limit=1000";
          for (;;) {  // every page
            json page = call_json(*o, "GET", path);
            for (auto& t : page["items"]) all["items"].push_back(t);
            if (!page["next_cursor"].is_string()) break;
            path = "/api/v1/tokens?limit=1000&cursor=" + enc(page["next_cursor"].get<std::string>());
          }
          print(*o, all);
          return;
        }
        auto s = open_store_or_exit(*db);
        auto list = s->list_tokens();
        if (!list) {
          std::cerr << "error: " << list.error().message << "\n";
          throw Exit{kFailed};
        }
        json items = json::array();
        auto at = [](const std::optional<TimePoint>& p) { return p ? json(format_utc(*p)) : json(nullptr); };
        for (auto& t : *list)
          items.push_back({{"name", t.name}, {"role", store::to_string(t.role)}, {"created_at", format_utc(t.created_at)},
                           {"revoked_at", at(t.revoked_at)}, {"last_used_at", at(t.last_used_at)},
                           {"namespaces", t.namespaces}});
        print(*o, json{{"items", items}, {"next_cursor", nullptr}});
      });
    }
    {
      auto o = std::make_shared<ClientOptions>();
      auto db = std::make_shared<std::string>();
      auto name = std::make_shared<std::string>();
      auto* cmd = tokens->add_subcommand("revoke", "Revoke a token");
      cmd->add_option("name", *name, "token name")->required();
      add_client_options(cmd, *o, false);
      add_db(cmd, *db);
      cmd->callback([=] {
        if (db->empty()) {
          call(*o, "DELETE", "/api/v1/tokens/" + enc(*name));
        } else {
          auto s = open_store_or_exit(*db);
          if (auto r = s->revoke_token(*name, "cli"); !r) {
            std::cerr << "error: " << r.error().message << "\n";
            throw Exit{r.error().code == "invalid_argument" ? kBadInput : kFailed};
          }
        }
        std::cout << "revoked " << *name << "\n";
      });
    }
  }

  // pools, variables, connections: list | get | set | delete over the API;
  // variables and connections in a namespace with --namespace (SPEC §13).
  static const char* kNamespaceHelp =
      "the namespace it belongs to (default: the global one; a token scoped to namespaces must name one of them)";
  auto ns_query = [](const std::string& ns) { return ns.empty() ? std::string() : "?namespace=" + enc(ns); };
  struct Resource {
    const char* name;      // command and path segment
    const char* what;      // help text
    const char* field;     // the JSON field set takes
    const char* value_help;
  };
  for (const Resource& res : {Resource{"pools", "Pools of slots", "slots", "number of slots"},
                              Resource{"variables", "Variables (var.NAME in templates)", "value", "the value"},
                              Resource{"connections", "Connections for sql tasks (passwords are never shown)", "url",
                                       "a libpq URL or sqlite:PATH"}}) {
    auto* group = app.add_subcommand(res.name, res.what);
    group->require_subcommand(1);
    std::string base = std::string("/api/v1/") + res.name;
    std::string field = res.field;
    bool numeric = field == "slots";
    {
      auto o = std::make_shared<ClientOptions>();
      auto* cmd = group->add_subcommand("list", std::string("List ") + res.name);
      add_client_options(cmd, *o, true);
      auto ns = std::make_shared<std::string>();
      if (!numeric)
        cmd->add_option("--namespace", *ns,
                        "only this namespace's (default: every one the token sees; a scoped token sees its "
                        "namespaces', not the global ones)");
      cmd->callback([=] {
        json j = call_json(*o, "GET", base + "?limit=1000" + (ns->empty() ? "" : "&namespace=" + enc(*ns)));
        if (o->output == "json") {
          std::cout << j.dump(2) << "\n";
          return;
        }
        std::vector<std::vector<std::string>> rows = {{"NAME", numeric ? "SLOTS" : field == "url" ? "URL" : "VALUE"}};
        if (numeric) rows[0].push_back("USED");
        else rows[0].insert(rows[0].begin(), "NAMESPACE");
        for (auto& x : j["items"]) {
          rows.push_back({str(x, "name"), str(x, field.c_str())});
          if (numeric) rows.back().push_back(str(x, "used"));
          else rows.back().insert(rows.back().begin(), x["namespace"].is_string() ? str(x, "namespace") : "(global)");
        }
        print_table(rows);
      });
    }
    {
      auto o = std::make_shared<ClientOptions>();
      auto name = std::make_shared<std::string>();
      auto* cmd = group->add_subcommand("get", "Show one");
      cmd->add_option("name", *name, "name")->required();
      add_client_options(cmd, *o, true);
      auto ns = std::make_shared<std::string>();
      if (!numeric) cmd->add_option("--namespace", *ns, kNamespaceHelp);
      cmd->callback([=] {
        json j = call_json(*o, "GET", base + "/" + enc(*name) + ns_query(*ns));
        if (o->output == "json") std::cout << j.dump(2) << "\n";
        else std::cout << str(j, field.c_str()) << "\n";
      });
    }
    {
      auto o = std::make_shared<ClientOptions>();
      auto name = std::make_shared<std::string>();
      auto value = std::make_shared<std::string>();
      auto secret = std::make_shared<bool>(false), plain = std::make_shared<bool>(false);
      auto* cmd = group->add_subcommand("set", "Create or change one");
      cmd->add_option("name", *name, "name")->required();
      cmd->add_option("value", *value, res.value_help)->required();
      if (field == "value") {
        auto* s = cmd->add_flag("--secret", *secret,
                                "write-only: shown as *** by get and list, masked in the logs of the tries that "
                                "read it (a secret variable set again stays secret unless --no-secret)");
        cmd->add_flag("--no-secret", *plain, "make a secret variable plain again")->excludes(s);
      }
      add_client_options(cmd, *o, false);
      auto ns = std::make_shared<std::string>();
      if (!numeric) cmd->add_option("--namespace", *ns, kNamespaceHelp);
      cmd->callback([=] {
        json body;
        if (numeric) {
          long long n = -1;
          try {
            size_t used = 0;
            n = std::stoll(*value, &used);
            if (used != value->size()) n = -1;
          } catch (const std::exception&) {
          }
          if (n < 0) {
            std::cerr << "error: the number of slots must be a whole number, 0 or more\n";
            throw Exit{kBadInput};
          }
          body[field] = n;
        } else {
          body[field] = *value;
        }
        if (*secret || *plain) body["secret"] = *secret;
        call(*o, "PUT", base + "/" + enc(*name) + ns_query(*ns), body.dump());
        std::cout << "set " << *name << "\n";
      });
    }
    {
      auto o = std::make_shared<ClientOptions>();
      auto name = std::make_shared<std::string>();
      auto* cmd = group->add_subcommand("delete", "Delete one");
      cmd->add_option("name", *name, "name")->required();
      add_client_options(cmd, *o, false);
      auto ns = std::make_shared<std::string>();
      if (!numeric) cmd->add_option("--namespace", *ns, kNamespaceHelp);
      cmd->callback([=] {
        call(*o, "DELETE", base + "/" + enc(*name) + ns_query(*ns));
        std::cout << "deleted " << *name << "\n";
      });
    }
  }

  auto* tasks = app.add_subcommand("tasks", "Task instances: logs, clear, mark, why");
  tasks->require_subcommand(1);
  auto task_args = [](CLI::App* cmd, std::shared_ptr<std::string> dag, std::shared_ptr<std::string> run,
                      std::shared_ptr<std::string> task) {
    cmd->add_option("dag", *dag, "DAG id")->required();
    cmd->add_option("run", *run, "run id")->required();
    cmd->add_option("task", *task, "task id")->required();
  };
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>(), run = std::make_shared<std::string>(),
         task = std::make_shared<std::string>();
    auto try_n = std::make_shared<int>(0);
    auto map_index = std::make_shared<int>(-1);
    auto follow = std::make_shared<bool>(false);
    auto* cmd = tasks->add_subcommand("logs", "Print a try's log (--follow while it runs)");
    task_args(cmd, dag, run, task);
    cmd->add_option("--try", *try_n, "try number (default: the latest)");
    cmd->add_option("--map-index", *map_index, "a mapped instance of a foreach task (0, 1, ...)");
    cmd->add_flag("--follow,-f", *follow, "keep printing while the try runs");
    add_client_options(cmd, *o, false);
    cmd->callback([=] {
      long long offset = 0;
      while (true) {
        std::string path = run_path(*dag, *run) + "/tasks/" + enc(*task) + "/logs?offset=" + std::to_string(offset);
        if (*try_n > 0) path += "&try=" + std::to_string(*try_n);
        if (*map_index >= 0) path += "&map_index=" + std::to_string(*map_index);
        auto r = call(*o, "GET", path);
        std::cout << r.body << std::flush;
        offset += static_cast<long long>(r.body.size());
        auto it = r.headers.find("X-Baton-Log-Complete");
        bool complete = it == r.headers.end() || it->second == "true";
        if (!*follow || complete) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    });
  }
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>(), run = std::make_shared<std::string>(),
         task = std::make_shared<std::string>();
    auto downstream = std::make_shared<bool>(false);
    auto version = std::make_shared<std::string>("pinned");
    auto* cmd = tasks->add_subcommand("clear", "Clear a task (and optionally its downstream) so it runs again");
    task_args(cmd, dag, run, task);
    cmd->add_flag("--downstream", *downstream, "also clear everything downstream of it");
    cmd->add_option("--version", *version, "pinned (the run's own DAG version) or latest")
        ->check(CLI::IsMember({"pinned", "latest"}));
    add_client_options(cmd, *o, false);
    cmd->callback([=] {
      call(*o, "POST", run_path(*dag, *run) + "/tasks/" + enc(*task) + "/clear",
           json{{"downstream", *downstream}, {"version", *version}}.dump());
      std::cout << "cleared " << *task << (*downstream ? " and its downstream" : "") << "\n";
    });
  }
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>(), run = std::make_shared<std::string>(),
         task = std::make_shared<std::string>();
    auto state = std::make_shared<std::string>();
    auto* cmd = tasks->add_subcommand("mark", "Mark a task success or failed");
    task_args(cmd, dag, run, task);
    cmd->add_option("state", *state, "success or failed")->required()->check(CLI::IsMember({"success", "failed"}));
    add_client_options(cmd, *o, false);
    cmd->callback([=] {
      call(*o, "POST", run_path(*dag, *run) + "/tasks/" + enc(*task) + "/state", json{{"state", *state}}.dump());
      std::cout << "marked " << *task << " " << *state << "\n";
    });
  }
  {
    auto o = std::make_shared<ClientOptions>();
    auto dag = std::make_shared<std::string>(), run = std::make_shared<std::string>(),
         task = std::make_shared<std::string>();
    auto map_index = std::make_shared<int>(-1);
    auto* cmd = tasks->add_subcommand("why", "Why a task is not running");
    task_args(cmd, dag, run, task);
    cmd->add_option("--map-index", *map_index, "a mapped instance of a foreach task (0, 1, ...)");
    add_client_options(cmd, *o, true);
    cmd->callback([=] {
      json t = call_json(*o, "GET", run_path(*dag, *run) + "/tasks/" + enc(*task) +
                                        (*map_index >= 0 ? "?map_index=" + std::to_string(*map_index) : ""));
      if (o->output == "json") {
        std::cout << t.dump(2) << "\n";
        return;
      }
      std::cout << *task << " is " << str(t, "state") << "\n";
      if (t.contains("waiting_for"))
        for (auto& w : t["waiting_for"]) std::cout << "  - " << w.get<std::string>() << "\n";
    });
  }
}

// audit list: GET /api/v1/audit page by page (viewer), or with --db straight
// from the database. Both print the same: a line per entry, or with
// --output json {"items": [...], "next_cursor": null}.
void add_audit_list_command(CLI::App& audit) {
  auto o = std::make_shared<ClientOptions>();
  auto db = std::make_shared<std::string>();
  auto dag = std::make_shared<std::string>();
  auto action = std::make_shared<std::string>();
  auto actor = std::make_shared<std::string>();
  auto since = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(1000);
  auto* cmd = audit.add_subcommand("list", "List audit entries, oldest first (through the server, or with --db)");
  cmd->add_option("--dag", *dag, "only entries about this DAG");
  cmd->add_option("--action", *action, "only this action, e.g. token.created");
  cmd->add_option("--actor", *actor, "only entries by this actor (a token name, system, cli or anonymous)");
  cmd->add_option("--since", *since, "only entries at or after this instant (ISO 8601)");
  cmd->add_option("--limit", *limit, "at most this many entries (1 to 100000, default 1000)");
  cmd->add_option("--db", *db,
                  "read straight from this database instead of the server (sqlite:PATH or postgresql://...)");
  add_client_options(cmd, *o, true);
  cmd->callback([=] {
    std::optional<TimePoint> from;
    if (!since->empty()) {
      auto t = parse_utc(*since);
      if (!t) {
        std::cerr << "error: --since: " << t.error().message << "\n";
        throw Exit{kBadInput};
      }
      from = *t;
    }
    if (*limit < 1 || *limit > 100000) {
      std::cerr << "error: --limit must be from 1 to 100000\n";
      throw Exit{kBadInput};
    }
    json items = json::array();
    if (db->empty()) {
      std::string query;
      auto param = [&](const char* name, const std::string& v) {
        if (!v.empty()) query += std::string("&") + name + "=" + enc(v);
      };
      param("dag_id", *dag);
      param("action", *action);
      param("actor", *actor);
      if (from) param("since", format_utc(*from));
      std::optional<std::string> cursor;
      while (static_cast<int>(items.size()) < *limit) {
        int page = std::min(1000, *limit - static_cast<int>(items.size()));
        std::string path = "/api/v1/audit?limit=" + std::to_string(page) + query;
        if (cursor) path += "&cursor=" + enc(*cursor);
        json j = call_json(*o, "GET", path);
        for (auto& e : j["items"]) items.push_back(e);
        if (!j["next_cursor"].is_string() || j["items"].empty()) break;
        cursor = j["next_cursor"].get<std::string>();
      }
    } else {
      store::AuditFilter f;
      if (!dag->empty()) f.dag_id = *dag;
      if (!action->empty()) f.action = *action;
      if (!actor->empty()) f.actor = *actor;
      f.since = from;
      f.limit = *limit;
      auto s = open_store_or_exit(*db);
      auto list = s->list_audit(f);
      if (!list) {
        std::cerr << "error: " << list.error().message << "\n";
        throw Exit{kFailed};
      }
      for (auto& e : *list) {
        json details = json::parse(e.details, nullptr, false);
        if (details.is_discarded()) details = e.details;
        items.push_back({{"id", e.id}, {"at", format_utc(e.at)}, {"actor", e.actor}, {"action", e.action},
                         {"target", e.target}, {"details", details}, {"prev_hash", e.prev_hash}, {"hash", e.hash}});
      }
    }
    if (o->output == "json") {
      std::cout << json{{"items", items}, {"next_cursor", nullptr}}.dump(2, ' ', false, json::error_handler_t::replace)
                << "\n";
      return;
    }
    for (auto& e : items)
      std::cout << str(e, "id") << "  " << str(e, "at") << "  " << str(e, "actor") << "  " << str(e, "action") << "  "
                << str(e, "target") << "  " << (e.contains("details") ? e["details"].dump(-1, ' ', false, json::error_handler_t::replace) : "{}")
                << "\n";
  });
}

}  // namespace baton::cli
