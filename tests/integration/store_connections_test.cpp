// A store's pool of PostgreSQL connections when the server ends every
// session (as a restart does): the call that meets a dead connection fails,
// and the rest of the pool is opened again before use, so the next calls
// succeed instead of each meeting another dead connection. PostgreSQL only.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "baton/core/clock.h"
#include "baton/core/time.h"
#include "baton/store/store.h"
#include "store_engines.h"

using namespace baton;

TEST_CASE("sessions ended by the server cost one failed call, not one per pooled connection") {
  bool ran = false;
  for (auto& e : testing::store_engines("conns")) {
    if (e.name != "postgres") continue;
    ran = true;
    const std::string app = "baton_pool_" + testing::process_tag();
    FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
    auto url = store::parse_database_url(e.url + "&application_name=" + app);
    REQUIRE(url.ok());
    auto opened = store::open_store(*url, clock);
    REQUIRE(opened.ok());
    store::Store& s = **opened;

    pqxx::connection admin(std::getenv("BATON_TEST_PG_URL"));
    auto sessions = [&] {
      pqxx::nontransaction n(admin);
      return n.exec_params("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app)[0][0].as<int>();
    };
    // Concurrent calls open several of the pool's connections.
    std::atomic<int> failures{0};
    std::vector<std::thread> callers;
    for (int i = 0; i < 8; ++i)
      callers.emplace_back([&] {
        for (int k = 0; k < 300; ++k)
          if (!s.list_members()) ++failures;
      });
    for (auto& t : callers) t.join();
    REQUIRE(failures == 0);
    const int open = sessions();
    INFO("connections the store had open: " << open);
    REQUIRE(open >= 2);  // with one, the test would prove nothing

    {
      pqxx::nontransaction n(admin);
      n.exec_params("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app);
    }
    for (int i = 0; i < 500 && sessions() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(sessions() == 0);

    int failed = 0;
    for (int k = 0; k < 20; ++k)
      if (!s.list_members()) ++failed;
    CHECK(failed <= 1);
    CHECK(s.list_members().ok());
  }
  if (!ran) SUCCEED("PostgreSQL only: BATON_TEST_PG_URL is not set");
}
