// baton: the one binary. main() wires the subcommands; each lives in its own
// cmd_*.cpp file.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "commands.h"

namespace baton::cli {

std::string default_dags_dir() {
  const char* env = std::getenv("BATON_DAGS");
  return env && *env ? env : "./dags";
}

}  // namespace baton::cli

int main(int argc, char** argv) {
  using namespace baton::cli;
  CLI::App app{"Baton: a workflow orchestration scheduler.\nDAGs are YAML files; see docs/dag-language.md.", "baton"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print the help of every subcommand");

  auto* version = app.add_subcommand("version", "Print Baton's version");
  version->callback([] { std::cout << "baton " << BATON_VERSION << "\n"; });

  register_dags_commands(app);
  register_schedule_commands(app);
  register_db_commands(app);
  register_standalone_command(app);
  register_client_commands(app);

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
