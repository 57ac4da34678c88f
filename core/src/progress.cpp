#include "baton/core/progress.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "baton/core/utf8.h"

namespace baton {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Cut at kMaxProgressText bytes without splitting a character.
std::string cut(std::string s) {
  if (s.size() <= kMaxProgressText) return s;
  size_t n = kMaxProgressText;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

}  // namespace

std::optional<ProgressLine> parse_progress(std::string_view text) {
  // The last line with anything on it.
  std::string_view line;
  while (!text.empty()) {
    size_t nl = text.rfind('\n');
    std::string_view last = nl == std::string_view::npos ? text : text.substr(nl + 1);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(0, nl);
    size_t b = 0;
    while (b < last.size() && blank(last[b])) ++b;
    size_t e = last.size();
    while (e > b && blank(last[e - 1])) --e;
    if (e > b) {
      line = last.substr(b, e - b);
      break;
    }
  }
  if (line.empty()) return std::nullopt;
  size_t sp = 0;
  while (sp < line.size() && !blank(line[sp])) ++sp;
  std::string number(line.substr(0, sp));
  bool percent = !number.empty() && number.back() == '%';
  if (percent) number.pop_back();
  if (number.empty() || number.size() > 32) return std::nullopt;
  for (char c : number)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.')) return std::nullopt;
  char* end = nullptr;
  double f = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(f)) return std::nullopt;
  if (percent) f /= 100;
  if (f < 0 || f > 1) return std::nullopt;
  std::string_view rest = line.substr(sp);
  while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
  return ProgressLine{f, cut(to_storable_text(rest))};
}

std::optional<ProgressLine> checked_progress(double fraction, const std::string& text, std::string& why) {
  if (!std::isfinite(fraction) || fraction < 0 || fraction > 1) {
    why = "`fraction` must be a number from 0 to 1";
    return std::nullopt;
  }
  if (text.size() > kMaxProgressText) {
    why = "`text` holds at most " + std::to_string(kMaxProgressText) + " bytes";
    return std::nullopt;
  }
  if (invalid_utf8_at(text) != std::string::npos || text.find('\0') != std::string::npos) {
    why = "`text` must be UTF-8 text";
    return std::nullopt;
  }
  return ProgressLine{fraction, text};
}

}  // namespace baton
