// SHA-256 of a byte string, as lower-case hex (OpenSSL's libcrypto underneath).
#pragma once

#include <string>
#include <string_view>

namespace baton {
std::string sha256_hex(std::string_view data);
}
