#include "baton/dsl/diagnostics.h"

#include <algorithm>

#include "baton/core/ids.h"

namespace baton::dsl {

std::string Diagnostic::format() const {
  return file + ":" + std::to_string(std::max(pos.line, 1)) + ":" + std::to_string(std::max(pos.col, 1)) +
         (warning ? ": warning: " : ": error: ") + message;
}

void Diagnostics::warning(SourcePos pos, const std::string& path, const std::string& message) {
  if (!muted_) warnings_.push_back({file_, pos, path.empty() ? message : path + ": " + message, true});
}

void Diagnostics::error(SourcePos pos, std::string message) {
  if (!muted_) list_.push_back({file_, pos, std::move(message)});
}

void Diagnostics::error(SourcePos pos, const std::string& path, const std::string& message) {
  error(pos, path.empty() ? message : path + ": " + message);
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  // Suggestions are for near misses of short names: skip what cannot be one,
  // so that hostile input (huge words, thousands of candidates) stays cheap.
  if (word.size() > 64) return "";
  int best = 1 << 30;
  const std::string* pick = nullptr;
  for (auto& c : candidates) {
    size_t diff = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (diff > 3 || c.size() > 64) continue;
    int d = edit_distance(word, c);
    if (d < best) {
      best = d;
      pick = &c;
    }
  }
  int allowed = std::max<int>(1, static_cast<int>(std::min(word.size(), pick ? pick->size() : 0)) / 3);
  if (!pick || best > std::min(allowed, 3) || best >= static_cast<int>(word.size())) return "";
  return " (did you mean \"" + *pick + "\"?)";
}

}  // namespace baton::dsl
