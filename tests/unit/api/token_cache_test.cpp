// The tokens a server authenticated in the last second (token_cache.h), on
// an injected steady clock.
#include <catch2/catch.hpp>

#include "token_cache.h"

using namespace baton;
using namespace std::chrono_literals;

namespace {

store::Token token(const std::string& name) {
  store::Token t;
  t.name = name;
  t.role = store::Role::worker;
  return t;
}

}  // namespace

TEST_CASE("token cache: a token is known for one second, then looked up again; a clear forgets all") {
  auto at = std::chrono::steady_clock::time_point{} + 1h;
  api::TokenCache cache([&] { return at; });
  CHECK_FALSE(cache.get("h1"));  // never seen: the database decides
  cache.put("h1", token("w1"), cache.generation());
  at += 999ms;
  REQUIRE(cache.get("h1"));
  CHECK(cache.get("h1")->name == "w1");
  at += 1ms;  // a revoke elsewhere is seen within a second
  CHECK_FALSE(cache.get("h1"));
  cache.put("h1", token("w1"), cache.generation());
  cache.put("h2", token("w2"), cache.generation());
  cache.clear();  // a revoke through this server
  CHECK_FALSE(cache.get("h1"));
  CHECK_FALSE(cache.get("h2"));
}

TEST_CASE("token cache: it never holds more than its bound of tokens") {
  auto at = std::chrono::steady_clock::time_point{} + 1h;
  api::TokenCache cache([&] { return at; });
  for (size_t i = 0; i < api::TokenCache::kMaxEntries; ++i) cache.put("h" + std::to_string(i), token("t"), cache.generation());
  CHECK(cache.get("h0"));
  cache.put("one-more", token("t"), cache.generation());  // full: it starts again from this one
  CHECK_FALSE(cache.get("h0"));
  CHECK(cache.get("one-more"));
}

TEST_CASE("token cache: a lookup that a revoke through this server overtook is not kept") {
  auto at = std::chrono::steady_clock::time_point{} + 1h;
  api::TokenCache cache([&] { return at; });
  auto looked_up_at = cache.generation();  // the database read begins
  cache.clear();                          // a revoke commits and clears meanwhile
  cache.put("h1", token("w1"), looked_up_at);
  CHECK_FALSE(cache.get("h1"));  // the next request reads the database again
  cache.put("h1", token("w1"), cache.generation());
  CHECK(cache.get("h1"));
}
