// What the renderers of render.h share (render_shell.cpp, render_sql.cpp,
// render_http.cpp): byte classes, and how a value is named and quoted in an
// error message. Internal to the dsl library; pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "baton/dsl/template.h"

namespace baton::dsl::render_text {

inline bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }

// A value as it may be quoted in a message: at most 60 bytes, control bytes
// escaped.
inline std::string shown(std::string_view v, size_t max = 60) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (v.size() > max) out += "...";
  return out;
}

// "the value of params.x" (where the value came from), for error messages.
inline std::string value_of(const RenderedPiece& p) {
  return "the value of " + (p.source.empty() ? "a template" : p.source);
}

}  // namespace baton::dsl::render_text
