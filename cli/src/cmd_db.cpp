// Commands that work straight against the database (--db URL): `db migrate`,
// `db status` and `audit list|verify`. (`tokens` with --db is in
// cmd_client.cpp, beside its API form.)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "baton/core/clock.h"
#include "baton/store/store.h"
#include "commands.h"
#include "config.h"

namespace baton::cli {

namespace {

using nlohmann::json;

std::string default_db() { return config().value("db"); }

std::unique_ptr<store::Store> open_or_exit(const std::string& text, bool migrate = true) {
  auto url = store::parse_database_url(text);
  if (!url) {
    std::cerr << "error: --db: " << url.error().message << "\n";
    throw Exit{kBadInput};
  }
  store::OpenOptions options;
  options.migrate = migrate;
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

}  // namespace

std::unique_ptr<store::Store> open_store_or_exit(const std::string& url) { return open_or_exit(url); }

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

  auto* audit = app.add_subcommand("audit", "The audit log");
  audit->require_subcommand(1);
  {
    auto* cmd = audit->add_subcommand("list", "List audit entries, oldest first");
    auto dag = std::make_shared<std::string>();
    auto action = std::make_shared<std::string>();
    auto since = std::make_shared<std::string>();
    auto limit = std::make_shared<int>(1000);
    cmd->add_option("--dag", *dag, "only entries about this DAG");
    cmd->add_option("--action", *action, "only this action, e.g. token.created");
    cmd->add_option("--since", *since, "only entries at or after this instant (ISO 8601)");
    cmd->add_option("--limit", *limit, "at most this many entries (1 to 100000, default 1000)");
    add_db(cmd);
    add_output(cmd);
    cmd->callback([db_url, output, dag, action, since, limit] {
      store::AuditFilter f;
      if (!dag->empty()) f.dag_id = *dag;
      if (!action->empty()) f.action = *action;
      if (!since->empty()) {
        auto t = parse_utc(*since);
        if (!t) fail(Error::invalid("--since: " + t.error().message));
        f.since = *t;
      }
      if (*limit < 1 || *limit > 100000) fail(Error::invalid("--limit must be from 1 to 100000"));
      f.limit = *limit;
      auto s = open_or_exit(*db_url);
      auto list = s->list_audit(f);
      if (!list) fail(list.error());
      if (*output == "json") {
        json items = json::array();
        for (auto& e : *list)
          items.push_back({{"id", e.id}, {"at", format_utc(e.at)}, {"actor", e.actor}, {"action", e.action},
                           {"target", e.target}, {"details", json::parse(e.details)}, {"prev_hash", e.prev_hash},
                           {"hash", e.hash}});
        std::cout << json{{"items", items}, {"next_cursor", nullptr}}.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return;
      }
      for (auto& e : *list)
        std::cout << e.id << "  " << format_utc(e.at) << "  " << e.actor << "  " << e.action << "  " << e.target
                  << "  " << e.details << "\n";
    });
  }
  {
    auto* cmd = audit->add_subcommand("verify", "Check the hash chain; exit 1 naming the first broken entry");
    add_db(cmd);
    cmd->callback([db_url] {
      auto s = open_or_exit(*db_url);
      auto check = s->verify_audit();
      if (!check) fail(check.error());
      if (check->first_bad_id) {
        std::cerr << "audit log broken at entry " << *check->first_bad_id << ": " << check->problem << "\n";
        throw Exit{kFailed};
      }
      std::cout << "audit log intact: " << check->checked << " entries\n";
    });
  }
}

}  // namespace baton::cli
