// Small pure helpers of the API: masking a connection URL's password, opaque
// pagination cursors, name and integer checks. Pure functions: safe from any
// thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/base64.h"  // base64url_encode, base64url_decode
#include "baton/core/result.h"

namespace baton::api {

// The URL with its password replaced by `***`: mask_secrets of
// baton/core/secrets.h (user info, password= and sslpassword= parameters,
// percent-encoded or not). A URL without a password (`sqlite:PATH`,
// `postgresql://host/db`) comes back as is.
std::string mask_url(std::string_view url);

// A pagination cursor: a kind letter and integers, as base64url, so that
// clients treat it as opaque. decode_cursor checks the kind and the count, and
// says what is wrong in words.
std::string encode_cursor(char kind, const std::vector<long long>& parts);
Result<std::vector<long long>> decode_cursor(std::string_view text, char kind, size_t parts);

// Pool, variable and connection names: ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$.
bool is_valid_name(std::string_view name);

// A whole decimal integer (an optional leading `-`, digits, nothing else).
std::optional<long long> parse_integer(std::string_view text);

// The deepest nesting of arrays and objects in a JSON text (strings skipped),
// counted without parsing it, so that a hostile body is refused before the
// parser (or a later recursive dump) sees it.
int json_nesting_depth(std::string_view text);

}  // namespace baton::api
