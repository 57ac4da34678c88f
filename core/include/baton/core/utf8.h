// UTF-8 checks (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF). Pure functions: safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace baton {

// The length of the well-formed UTF-8 sequence at s[i], or 0 when s[i] does
// not start one.
std::size_t utf8_sequence_at(std::string_view s, std::size_t i);

// The offset of the first byte that is not part of well-formed UTF-8, or npos.
std::size_t invalid_utf8_at(std::string_view s);

// The text with every byte that is not well-formed UTF-8, and every NUL,
// replaced by U+FFFD: what a text column that holds neither can store.
std::string to_storable_text(std::string_view s);

}  // namespace baton
