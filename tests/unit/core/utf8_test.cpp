#include <catch2/catch.hpp>

#include <string>

#include "baton/core/utf8.h"

using namespace baton;

TEST_CASE("utf8: well-formed text passes; the first bad byte is found") {
  CHECK(invalid_utf8_at("plain ascii") == std::string_view::npos);
  CHECK(invalid_utf8_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == std::string_view::npos);
  CHECK(invalid_utf8_at("caf\xe9") == 3);                 // Latin-1
  CHECK(invalid_utf8_at("a\xc0\xaf") == 1);                // overlong '/'
  CHECK(invalid_utf8_at("a\xed\xa0\x80") == 1);            // a surrogate
  CHECK(invalid_utf8_at("a\xf4\x90\x80\x80") == 1);        // past U+10FFFF
  CHECK(invalid_utf8_at("a\xe2\x82") == 1);                // cut short
}

TEST_CASE("utf8: storable text replaces bad bytes and NULs with U+FFFD, keeps the rest") {
  CHECK(to_storable_text("ok \xc3\xa9") == "ok \xc3\xa9");
  CHECK(to_storable_text("caf\xe9!") == "caf\xef\xbf\xbd!");
  CHECK(to_storable_text(std::string("a\0b", 3)) == "a\xef\xbf\xbd" "b");
  CHECK(to_storable_text("\xff\xfe") == "\xef\xbf\xbd\xef\xbf\xbd");
}
