// baton: the one binary. main() wires the subcommands; each lives in its own
// cmd_*.cpp file.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "commands.h"
#include "config.h"

namespace baton::cli {

std::string default_dags_dir() { return config().value("dags"); }

namespace {

// --config FILE (or BATON_CONFIG) is read before the commands register their
// flags, whose defaults come from it.
bool load_config(int argc, char** argv) {
  std::string path = "baton.yaml";
  bool explicit_path = false;
  if (const char* e = std::getenv("BATON_CONFIG"); e && *e) {
    path = e;
    explicit_path = true;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      path = argv[i + 1];
      explicit_path = true;
    } else if (std::strncmp(argv[i], "--config=", 9) == 0) {
      path = argv[i] + 9;
      explicit_path = true;
    }
  }
  std::string error;
  if (!config().load(path, explicit_path, error)) {
    std::cerr << error << "\n";
    return false;
  }
  for (auto& name : config().unknown_env())
    std::cerr << "warning: unknown environment variable " << name << " (ignored; `baton config show` lists the known ones)\n";
  return true;
}

}  // namespace

}  // namespace baton::cli

int main(int argc, char** argv) {
  using namespace baton::cli;
  if (!load_config(argc, argv)) return kBadInput;
  CLI::App app{"Baton: a workflow orchestration scheduler.\nDAGs are YAML files; see docs/dag-language.md.", "baton"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string config_file;
  app.add_option("--config", config_file, "configuration file (default: $BATON_CONFIG, else ./baton.yaml if present)");
  app.set_help_all_flag("--help-all", "Print the help of every subcommand");

  auto* version = app.add_subcommand("version", "Print Baton's version");
  version->callback([] { std::cout << "baton " << BATON_VERSION << "\n"; });

  register_dags_commands(app);
  register_schedule_commands(app);
  register_db_commands(app);
  register_standalone_command(app);
  register_worker_command(app);
  register_client_commands(app);
  register_namespaces_commands(app);
  register_config_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kBadInput;
  } catch (const Exit& e) {
    return e.code;
  } catch (const std::exception& e) {
    // A bug, not bad input: say so plainly instead of aborting.
    std::cerr << "error: internal error: " << e.what() << "\n";
    return kFailed;
  }
  return kOk;
}
