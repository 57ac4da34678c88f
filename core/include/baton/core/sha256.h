// SHA-256 of a byte string, and HMAC-SHA-256 (RFC 2104) of one under a key,
// as lower-case hex (OpenSSL's libcrypto underneath). Pure functions: safe
// from any thread.
#pragma once

#include <string>
#include <string_view>

namespace baton {
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
}
