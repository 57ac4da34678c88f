// Cryptographically strong random bytes as hex (OpenSSL's RAND_bytes), for
// tokens and attempt tokens. Thread-safe.
#pragma once

#include <string>

namespace baton {
std::string random_hex(size_t bytes);
}
