// Base64url (RFC 4648 §5) without padding: pagination cursors of the API,
// and the bytes (logs, checkpoints) a remote worker sends inside JSON.
// decode refuses anything else. Pure functions: safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace baton {

std::string base64url_encode(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace baton
