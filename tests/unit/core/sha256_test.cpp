// SHA-256 and HMAC-SHA-256 against published test vectors (FIPS 180-2,
// RFC 4231): the audit chain's hashes depend on them byte for byte.
#include <catch2/catch.hpp>

#include "baton/core/sha256.h"

using namespace baton;

TEST_CASE("sha256: FIPS 180-2 vectors") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("hmac_sha256: RFC 4231 vectors") {
  // Test case 1: a 20-byte key of 0x0b.
  CHECK(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the block.
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block (hashed first).
  CHECK(hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Keyed is not plain, and the key matters.
  CHECK(hmac_sha256_hex("k1", "x") != sha256_hex("x"));
  CHECK(hmac_sha256_hex("k1", "x") != hmac_sha256_hex("k2", "x"));
}
