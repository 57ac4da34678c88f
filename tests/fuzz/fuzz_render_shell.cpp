// Fuzz target: the command renderer (dsl::compose_shell). Any pieces must
// never crash; and when the author's text is made of words, blanks, '...'
// and "..." only, the rendered command must split into exactly the words of
// the template with each value in place of its template: checked with a
// reference word splitter that refuses anything active (an operator, an
// expansion, a glob, a comment) outside quotes. A value that changed the
// command's structure aborts.
#include <cstdlib>
#include <string>
#include <vector>

#include "baton/dsl/render.h"
#include "render_fuzz_support.h"

namespace {

bool plain_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '@' ||
         c == '%' || c == '+' || c == '=' || c == ':' || c == ',' || c == '.' || c == '/' || c == '-' || c == 2 ||
         c == 3;  // 2 and 3 mark a template's place in the expected words
}

// The words /bin/sh would make of `s`, or false when `s` holds anything
// active outside quotes or ends inside quotes.
bool words(const std::string& s, std::vector<std::string>& out) {
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string::npos) return false;
      cur += s.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '"') {
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= s.size()) return false;
        char d = s[j];
        if (d == '"') break;
        if (d == '$' || d == '`') return false;  // an expansion
        if (d == '\\' && j + 1 < s.size() && std::string("$`\"\\\n").find(s[j + 1]) != std::string::npos) {
          if (s[j + 1] != '\n') cur += s[j + 1];
          ++j;
          continue;
        }
        cur += d;
      }
      i = j;
      in_word = true;
    } else if (plain_char(c)) {
      cur += static_cast<char>(c);
      in_word = true;
    } else {
      return false;  // active outside quotes
    }
  }
  if (in_word) out.push_back(cur);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto pieces = fuzz::pieces(in, "abcXYZ019 '\"=-");
  auto r = baton::dsl::compose_shell(pieces);
  if (!r) return 0;
  // The expected words: the template with a marker for each value.
  std::string marked;
  std::vector<std::string> values;
  for (auto& p : pieces) {
    if (p.kind == baton::dsl::RenderedPiece::Kind::raw) return 0;  // opted out
    if (p.kind == baton::dsl::RenderedPiece::Kind::text) {
      marked += p.text;
      continue;
    }
    if (values.size() >= 200) return 0;
    marked += '\x02';
    marked += static_cast<char>('a' + values.size() / 26);
    marked += static_cast<char>('a' + values.size() % 26);
    marked += '\x03';
    values.push_back(p.text);
  }
  std::vector<std::string> expected, got;
  if (!words(marked, expected)) return 0;  // not a command of words only
  for (auto& w : expected) {
    std::string filled;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == '\x02' && i + 3 < w.size() && w[i + 3] == '\x03') {
        filled += values[static_cast<size_t>((w[i + 1] - 'a') * 26 + (w[i + 2] - 'a'))];
        i += 3;
      } else {
        filled += w[i];
      }
    }
    w = filled;
  }
  if (!words(*r, got)) std::abort();  // a value made something active
  if (got != expected) std::abort();  // a value is not exactly its word part
  return 0;
}
