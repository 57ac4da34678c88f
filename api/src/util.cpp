#include "util.h"

#include <algorithm>
#include <charconv>

#include "baton/core/secrets.h"

namespace baton::api {

std::string mask_url(std::string_view url) { return mask_secrets(url); }

std::string encode_cursor(char kind, const std::vector<long long>& parts) {
  std::string raw(1, kind);
  for (long long p : parts) raw += ":" + std::to_string(p);
  return base64url_encode(raw);
}

Result<std::vector<long long>> decode_cursor(std::string_view text, char kind, size_t parts) {
  auto bad = [] {
    return Error::invalid(
        "query parameter `cursor`: not a cursor of this list (use the `next_cursor` of the "
        "previous page, unchanged)");
  };
  if (text.empty() || text.size() > 200) return bad();
  auto raw = base64url_decode(text);
  if (!raw || raw->size() < 1 || (*raw)[0] != kind) return bad();
  std::vector<long long> out;
  size_t pos = 1;
  while (pos < raw->size()) {
    if ((*raw)[pos] != ':') return bad();
    size_t end = raw->find(':', pos + 1);
    if (end == std::string::npos) end = raw->size();
    auto v = parse_integer(std::string_view(*raw).substr(pos + 1, end - pos - 1));
    if (!v) return bad();
    out.push_back(*v);
    pos = end;
  }
  if (out.size() != parts) return bad();
  return out;
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  auto word = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(name[0])) return false;
  for (char c : name.substr(1))
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

std::optional<long long> parse_integer(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

int json_nesting_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{')
      deepest = std::max(deepest, ++depth);
    else if (c == ']' || c == '}')
      --depth;
  }
  return deepest;
}

}  // namespace baton::api
