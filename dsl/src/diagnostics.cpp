#include "baton/dsl/diagnostics.h"

#include <algorithm>

#include "baton/core/ids.h"

namespace baton::dsl {

std::string Diagnostic::format() const {
  return file + ":" + std::to_string(std::max(pos.line, 1)) + ":" + std::to_string(std::max(pos.col, 1)) +
         ": error: " + message;
}

void Diagnostics::error(SourcePos pos, std::string message) {
  if (!muted_) list_.push_back({file_, pos, std::move(message)});
}

void Diagnostics::error(SourcePos pos, const std::string& path, const std::string& message) {
  error(pos, path.empty() ? message : path + ": " + message);
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  int best = 1 << 30;
  const std::string* pick = nullptr;
  for (auto& c : candidates) {
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
