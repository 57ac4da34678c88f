// The one Catch2 main of every test binary. With BATON_TEST_STORE=postgres
// (the *_pg entries of ctest) a binary runs its tests on PostgreSQL; without
// a database to run them on (BATON_TEST_PG_URL, set by
// scripts/with-postgres.sh) it exits 77, which ctest reports as skipped.
//
// Logs: warnings and errors only, so that a failure is not lost among the
// info lines of the schedulers the tests run (a burst of runs logs one line
// each). SPDLOG_LEVEL=info (or debug) shows them again.
#define CATCH_CONFIG_RUNNER
#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

int main(int argc, char* argv[]) {
  // As in baton's main(): a server that closes a connection the test's
  // cpp-httplib client still writes to (a refused body) gives EPIPE, not death.
  std::signal(SIGPIPE, SIG_IGN);
  // Before any logger is cloned from the default one (a clone keeps the
  // level it was made with).
  spdlog::set_level(spdlog::level::warn);
  spdlog::cfg::load_env_levels();
  const char* engine = std::getenv("BATON_TEST_STORE");
  const char* pg = std::getenv("BATON_TEST_PG_URL");
  if (engine && std::strcmp(engine, "postgres") == 0 && !(pg && *pg)) {
    std::cerr << "skipped: BATON_TEST_STORE=postgres needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)\n";
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
