// `baton config show`: the effective configuration — every setting, its
// value (secrets masked) and where it came from (SPEC §2).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <memory>

#include "commands.h"
#include "config.h"

namespace baton::cli {

void register_config_command(CLI::App& app) {
  auto* cfg = app.add_subcommand("config", "The effective configuration");
  cfg->require_subcommand(1);
  auto output = std::make_shared<std::string>("text");
  auto* show = cfg->add_subcommand(
      "show", "Print every setting with its value and source (flag > BATON_* variable > baton.yaml > default)");
  show->add_option("--output", *output, "text or json")->check(CLI::IsMember({"text", "json"}));
  show->callback([output] {
    const Config& c = config();
    if (*output == "json") {
      nlohmann::json j = nlohmann::json::object();
      for (auto& s : settings()) {
        const auto& v = c.get(s.key);
        j[s.key] = {{"value", mask_setting(s, v.value)}, {"source", v.source}, {"env", s.env}};
      }
      std::cout << nlohmann::json{{"file", c.file().empty() ? nlohmann::json(nullptr) : nlohmann::json(c.file())},
                                  {"settings", j}}
                       .dump(2)
                << "\n";
      return;
    }
    std::cout << "# configuration file: " << (c.file().empty() ? "none" : c.file()) << "\n";
    for (auto& s : settings()) {
      const auto& v = c.get(s.key);
      std::cout << std::left << std::setw(20) << s.key << " " << std::setw(40)
                << (v.value.empty() ? "\"\"" : mask_setting(s, v.value)) << " # " << v.source << "\n";
    }
  });
}

}  // namespace baton::cli
