// Commands that work straight against the database (--db URL): `db migrate`,
// `db status`, `db clean` and `audit verify`; the audit key file. (`tokens` and `audit
// list` with --db are in cmd_client.cpp, beside their API forms.)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <unistd.h>

#include "baton/core/clock.h"
#include "baton/scheduler/retention.h"
#include "baton/store/store.h"
#include "commands.h"
#include "config.h"

namespace baton::cli {

namespace {

using nlohmann::json;

std::string default_db() { return config().value("db"); }

std::unique_ptr<store::Store> open_or_exit(const std::string& text, bool migrate = true,
                                           const std::string& key_file = config().value("audit_key_file")) {
  auto url = store::parse_database_url(text);
  if (!url) {
    std::cerr << "error: --db: " << url.error().message << "\n";
    throw Exit{kBadInput};
  }
  store::OpenOptions options;
  options.migrate = migrate;
  options.audit_key = audit_key_or_exit(key_file);
  auto s = store::open_store(*url, SystemClock::instance(), options);
  if (!s) {
    std::cerr << "error: " << s.error().message << "\n";
    throw Exit{s.error().code == "unavailable" ? kUnreachable : kFailed};
  }
  return std::move(*s);
}

void fail(const Error& e) {
  std::cerr << "error: " << e.message << "\n";
  throw Exit{e.code == "invalid_argument" ? kBadInput : kFailed};
}

// `--before`: a date (midnight UTC) or an instant; a time without a zone is UTC.
TimePoint before_or_exit(const std::string& text, TimePoint now) {
  auto bad = [&](const std::string& why) {
    std::cerr << "error: --before \"" << text << "\": " << why << "\n";
    throw Exit{kBadInput};
  };
  auto d = parse_date_time(text);
  if (!d) bad(d.error().message + " (allowed: YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ)");
  TimePoint t = d->absolute ? *d->absolute
                            : TimePoint(std::chrono::seconds(
                                  days_from_civil(d->local.year, d->local.month, d->local.day) * 86400LL +
                                  d->local.hour * 3600LL + d->local.minute * 60LL + d->local.second));
  if (t > now)
    bad("is in the future (now is " + format_utc(now) +
        "): db clean removes what ended before a date that has passed");
  return t;
}

void print_clean(const store::CleanReport& r, TimePoint before, const std::vector<std::string>& kinds,
                 const std::string& output) {
  auto when = [](const std::optional<TimePoint>& t) { return t ? format_utc(*t) : std::string("-"); };
  long long files = r.find("log files") ? r.find("log files")->rows : 0;
  long long rows = r.total() - files;
  if (output == "json") {
    json tables = json::array();
    for (auto& t : r.tables)
      tables.push_back({{"table", t.table},
                        {"rows", t.rows},
                        {"oldest", t.oldest ? json(format_utc(*t.oldest)) : json(nullptr)},
                        {"newest", t.newest ? json(format_utc(*t.newest)) : json(nullptr)}});
    std::cout << json{{"dry_run", r.dry_run}, {"before", format_utc(before)}, {"kinds", kinds},
                      {"tables", tables}, {"total", rows}, {"log_files", files}, {"batches", r.batches}}
                     .dump(2) << "\n";
    return;
  }
  std::string what;
  for (auto& k : kinds) what += (what.empty() ? "" : ", ") + k;
  std::cout << (r.dry_run ? "dry run (nothing removed): would remove " : "removed ") << what << " ended before "
            << format_utc(before) << "\n";
  char line[160];
  std::snprintf(line, sizeof line, "  %-16s %10s  %-28s %s\n", "table", "rows", "oldest", "newest");
  std::cout << line;
  for (auto& t : r.tables) {
    std::snprintf(line, sizeof line, "  %-16s %10lld  %-28s %s\n", t.table.c_str(), t.rows, when(t.oldest).c_str(),
                  when(t.newest).c_str());
    std::cout << line;
  }
  std::cout << "total: " << rows << " rows, " << files << " log files";
  if (!r.dry_run) std::cout << " in " << r.batches << " transaction(s)";
  std::cout << "\n";
}

}  // namespace

std::unique_ptr<store::Store> open_store_or_exit(const std::string& url) { return open_or_exit(url); }

std::optional<std::string> audit_key_or_exit(const std::string& path) {
  if (path.empty()) return std::nullopt;
  auto bad = [&](const std::string& why) {
    std::cerr << "error: audit key file " << path << ": " << why << "\n";
    throw Exit{kBadInput};
  };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) bad("not a regular file (audit_key_file, BATON_AUDIT_KEY_FILE)");
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size > 4096) bad("more than 4 KiB: a key, not a database, goes there");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in) bad("cannot be read");
  std::string key = ss.str();
  // A key written by `echo` or an editor ends in a newline: not part of it.
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' || key.back() == '\t'))
    key.pop_back();
  if (key.size() < 16)
    bad("holds " + std::to_string(key.size()) +
        " bytes: an audit key needs at least 16 (make one with: openssl rand -hex 32 > " + path + ")");
  return key;
}

void register_db_commands(CLI::App& app) {
  auto db_url = std::make_shared<std::string>(default_db());
  auto output = std::make_shared<std::string>("text");
  auto add_db = [&](CLI::App* cmd) {
    cmd->add_option("--db", *db_url, "database URL: sqlite:PATH or postgresql://... (default: $BATON_DB or sqlite:./baton.db)");
  };
  auto add_output = [&](CLI::App* cmd) {
    cmd->add_option("--output", *output, "text or json")->check(CLI::IsMember({"text", "json"}));
  };

  auto* db = app.add_subcommand("db", "Database schema");
  db->require_subcommand(1);
  {
    auto* cmd = db->add_subcommand("migrate", "Apply pending migrations");
    add_db(cmd);
    cmd->callback([db_url] {
      auto s = open_or_exit(*db_url, false);
      auto n = s->migrate();
      if (!n) fail(n.error());
      std::cout << "applied " << *n << " migration(s) to " << s->url().masked() << "\n";
    });
  }
  {
    auto* cmd = db->add_subcommand("status", "Show applied and pending migrations");
    add_db(cmd);
    add_output(cmd);
    cmd->callback([db_url, output] {
      auto s = open_or_exit(*db_url, false);
      auto st = s->migration_status();
      if (!st) fail(st.error());
      if (*output == "json") {
        json items = json::array();
        for (auto& m : *st)
          items.push_back({{"version", m.version}, {"name", m.name},
                           {"applied_at", m.applied_at ? json(format_utc(*m.applied_at)) : json(nullptr)}});
        std::cout << json{{"items", items}, {"next_cursor", nullptr}}.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return;
      }
      int pending = 0;
      for (auto& m : *st) {
        std::cout << m.name << "  " << (m.applied_at ? "applied " + format_utc(*m.applied_at) : "pending") << "\n";
        pending += m.applied_at ? 0 : 1;
      }
      std::cout << (pending ? std::to_string(pending) + " pending" : "up to date") << "\n";
    });
  }

  {
    auto* cmd = db->add_subcommand(
        "clean", "Remove finished runs, tries and task logs that ended before a date (retention; audited)");
    auto before = std::make_shared<std::string>();
    auto tables = std::make_shared<std::string>("runs,tries,logs");
    auto dry_run = std::make_shared<bool>(false);
    auto yes = std::make_shared<bool>(false);
    auto logs = std::make_shared<std::string>(config().value("logs"));
    auto batch = std::make_shared<int>(5000);
    add_db(cmd);
    add_output(cmd);
    cmd->add_option("--before", *before, "remove what ended before this date (YYYY-MM-DD, UTC) or instant")
        ->required();
    cmd->add_option("--tables", *tables, "what to remove, comma-separated: runs, tries, logs (default: all three)");
    cmd->add_flag("--dry-run", *dry_run, "print what would be removed (counts per table, oldest and newest), change nothing");
    cmd->add_flag("--yes,-y", *yes, "do not ask for confirmation (needed when stdin is not a terminal)");
    cmd->add_option("--logs", *logs, "the folder of task logs (default: $BATON_LOGS or ./logs)");
    cmd->add_option("--batch-size", *batch, "rows per transaction, about (default 5000)")
        ->check(CLI::Range(1, 1000000));
    cmd->callback([=] {
      TimePoint cutoff = before_or_exit(*before, SystemClock::instance().now());
      std::vector<std::string> kinds;
      {
        std::stringstream ss(*tables);
        for (std::string k; std::getline(ss, k, ',');) {
          if (k != "runs" && k != "tries" && k != "logs") {
            std::cerr << "error: --tables: unknown kind \"" << k << "\" (allowed: runs, tries, logs, comma-separated)\n";
            throw Exit{kBadInput};
          }
          if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
        }
        if (kinds.empty()) {
          std::cerr << "error: --tables: empty (allowed: runs, tries, logs, comma-separated)\n";
          throw Exit{kBadInput};
        }
      }
      bool interactive = !*dry_run && !*yes;
      if (interactive && !::isatty(0)) {
        std::cerr << "error: db clean removes rows for good: give --yes to go ahead (stdin is not a terminal to "
                     "ask on), or --dry-run to see what it would remove\n";
        throw Exit{kBadInput};
      }
      auto s = open_or_exit(*db_url);
      store::CleanRequest req;
      auto has = [&](const char* k) { return std::find(kinds.begin(), kinds.end(), k) != kinds.end(); };
      if (has("runs")) req.runs_before = cutoff;
      if (has("tries")) req.tries_before = cutoff;
      if (has("logs")) req.logs_before = cutoff;
      req.batch_size = *batch;
      if (*dry_run || interactive) {
        req.dry_run = true;
        auto r = s->clean(req, "cli");
        if (!r) fail(r.error());
        print_clean(*r, cutoff, kinds, *output);
        if (*dry_run) return;
        if (r->total() == 0) return;
        std::cout << "Remove these rows for good? [y/N] " << std::flush;
        std::string answer;
        std::getline(std::cin, answer);
        if (answer != "y" && answer != "yes") {
          std::cout << "nothing removed\n";
          return;
        }
        req.dry_run = false;
      }
      std::string logs_dir = *logs;
      std::error_code ec;
      if (!std::filesystem::is_directory(logs_dir, ec)) {
        // A wrong folder would drop the logs' rows and leave their files.
        auto count = req;
        count.dry_run = true;
        auto r = s->clean(count, "cli");
        if (!r) fail(r.error());
        if (long long n = r->find("log files")->rows; n > 0) {
          std::cerr << "error: --logs: " << logs_dir << " is not a folder, and this clean would remove " << n
                    << " log file(s) from it: give the folder of task logs (--logs, $BATON_LOGS or the logs "
                       "setting)\n";
          throw Exit{kBadInput};
        }
      }
      req.on_logs_removed = [logs_dir](const std::vector<std::string>& paths) {
        return scheduler::remove_log_files(logs_dir, paths);
      };
      auto r = s->clean(req, "cli");
      if (!r) fail(r.error());
      print_clean(*r, cutoff, kinds, *output);
    });
  }

  auto* audit = app.add_subcommand("audit", "The audit log");
  audit->require_subcommand(1);
  add_audit_list_command(*audit);  // through the server, or --db (cmd_client.cpp)
  {
    auto* cmd = audit->add_subcommand(
        "verify", "Check the hash chain (HMAC-SHA-256 entries with the audit key); exit 1 naming the first broken entry");
    auto key_file = std::make_shared<std::string>(config().value("audit_key_file"));
    add_db(cmd);
    cmd->add_option("--audit-key-file", *key_file,
                    "the file holding the audit key (default: $BATON_AUDIT_KEY_FILE or audit_key_file)");
    cmd->callback([db_url, key_file] {
      auto s = open_or_exit(*db_url, true, *key_file);
      auto check = s->verify_audit();
      if (!check) fail(check.error());
      if (check->first_bad_id) {
        std::cerr << "audit log broken at entry " << *check->first_bad_id << ": " << check->problem << "\n";
        throw Exit{kFailed};
      }
      if (check->unsigned_head) {
        std::cerr << "audit log not verified: " << check->problem << "\n";
        throw Exit{kFailed};
      }
      if (check->keyed_unchecked > 0) {
        // The links hold, but whether keyed entries were altered only the key can tell.
        std::cerr << "error: the audit log is keyed from entry " << *check->keyed_from << " (HMAC-SHA-256): "
                  << check->keyed_unchecked
                  << " keyed entries cannot be checked without the key; give it with --audit-key-file "
                     "(or audit_key_file)\n";
        throw Exit{kBadInput};
      }
      std::cout << "audit log intact: " << check->checked << " entries";
      if (check->keyed_from)
        std::cout << " (keyed from entry " << *check->keyed_from << ", checked with the audit key)";
      else if (!key_file->empty() && check->checked > 0)
        std::cout << " (none keyed yet; the head is signed with the audit key)";
      std::cout << "\n";
    });
  }
}

}  // namespace baton::cli
