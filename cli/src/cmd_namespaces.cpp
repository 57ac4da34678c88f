// `baton namespaces list|set|delete` (SPEC §13): the tenants' weights, caps,
// folders and descriptions, over the server's REST API.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>

#include "client.h"
#include "commands.h"

namespace baton::cli {

namespace {

using nlohmann::json;

// Every namespace the server lists (configured, named by a DAG, default),
// all pages.
json all_namespaces(const ClientOptions& o) {
  json items = json::array();
  std::string path = "/api/v1/namespaces?limit=1000";
  for (;;) {
    json page = call_json(o, "GET", path);
    for (auto& item : page["items"]) items.push_back(item);
    if (!page.contains("next_cursor") || !page["next_cursor"].is_string()) return items;
    path = "/api/v1/namespaces?limit=1000&cursor=" + enc(page["next_cursor"].get<std::string>());
  }
}

std::string number_text(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", j[key].get<double>());
  return buf;
}

}  // namespace

void register_namespaces_commands(CLI::App& app) {
  auto* group = app.add_subcommand(
      "namespaces", "Namespaces (tenants): weight, cap on running tries, folder; running and queued tries");
  group->require_subcommand(1);

  {
    auto o = std::make_shared<ClientOptions>();
    auto* cmd = group->add_subcommand(
        "list", "List every namespace configured or named by a DAG, with its running and queued tries and share");
    add_client_options(cmd, *o, true);
    cmd->callback([=] {
      json items = all_namespaces(*o);
      if (o->output == "json") {
        std::cout << json{{"items", items}, {"next_cursor", nullptr}}.dump(2, ' ', false, json::error_handler_t::replace)
                  << "\n";
        return;
      }
      std::vector<std::vector<std::string>> rows = {
          {"NAME", "WEIGHT", "MAX_RUNNING", "FOLDER", "RUNNING", "QUEUED", "SHARE", "CONFIGURED"}};
      for (auto& n : items)
        rows.push_back({str(n, "name"), number_text(n, "weight"), str(n, "max_running_tasks"), str(n, "folder"),
                        str(n, "running"), str(n, "queued"), number_text(n, "share"),
                        n.value("configured", false) ? "yes" : "no"});
      print_table(rows);
    });
  }

  {
    auto o = std::make_shared<ClientOptions>();
    auto name = std::make_shared<std::string>();
    auto weight = std::make_shared<std::optional<double>>();
    auto cap = std::make_shared<std::optional<long long>>();
    auto folder = std::make_shared<std::optional<std::string>>();
    auto description = std::make_shared<std::optional<std::string>>();
    auto no_cap = std::make_shared<bool>(false), no_folder = std::make_shared<bool>(false);
    auto* cmd = group->add_subcommand(
        "set", "Configure a namespace; what you leave out keeps its stored value (or its default: weight 1, no cap, "
               "no folder)");
    cmd->add_option("name", *name, "the namespace, as DAG files name it in `namespace:`")->required();
    cmd->add_option("--weight", *weight, "its share of the slots relative to the others', 0.01 to 1000 (default 1)");
    auto* c = cmd->add_option("--max-running-tasks", *cap,
                              "at most this many of its tries running at once, 1 to 1000000 (default: no cap)");
    cmd->add_flag("--no-max-running-tasks", *no_cap, "remove the cap")->excludes(c);
    auto* f = cmd->add_option("--folder", *folder,
                              "only DAG files under this subfolder of the DAGs folder may name the namespace");
    cmd->add_flag("--no-folder", *no_folder, "let any DAG file name it again")->excludes(f);
    cmd->add_option("--description", *description, "what the namespace is for");
    add_client_options(cmd, *o, false);
    cmd->callback([=] {
      // A NaN or infinity would reach the server as null (the default):
      // refuse it here, in the server's words.
      if (*weight && !(**weight >= 0.01 && **weight <= 1000)) {
        std::cerr << "error: --weight must be a number from 0.01 to 1000, got " << **weight << "\n";
        throw Exit{kBadInput};
      }
      // PUT sets the whole namespace: start from what is stored.
      json body = {{"weight", 1}, {"max_running_tasks", nullptr}, {"folder", nullptr}, {"description", ""}};
      for (auto& n : all_namespaces(*o))
        if (n.value("name", "") == *name && n.value("configured", false))
          for (const char* key : {"weight", "max_running_tasks", "folder", "description"})
            if (n.contains(key)) body[key] = n[key];
      if (*weight) body["weight"] = **weight;
      if (*cap) body["max_running_tasks"] = **cap;
      if (*no_cap) body["max_running_tasks"] = nullptr;
      if (*folder) body["folder"] = **folder;
      if (*no_folder) body["folder"] = nullptr;
      if (*description) body["description"] = **description;
      auto r = call(*o, "PUT", "/api/v1/namespaces/" + enc(*name), body.dump());
      std::cout << (r.status == 201 ? "created " : "set ") << *name << "\n";
    });
  }

  {
    auto o = std::make_shared<ClientOptions>();
    auto name = std::make_shared<std::string>();
    auto* cmd = group->add_subcommand(
        "delete", "Forget a namespace's configuration: it has the defaults again (its DAGs keep naming it)");
    cmd->add_option("name", *name, "the namespace")->required();
    add_client_options(cmd, *o, false);
    cmd->callback([=] {
      call(*o, "DELETE", "/api/v1/namespaces/" + enc(*name));
      std::cout << "deleted " << *name << "\n";
    });
  }
}

}  // namespace baton::cli
