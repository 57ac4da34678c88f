#include "baton/core/ids.h"

#include <algorithm>
#include <vector>

namespace baton {

namespace {
bool id_shape(std::string_view s, bool underscore_first) {
  if (s.empty() || s.size() > 200) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(s[0]) && !(underscore_first && s[0] == '_')) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}
}  // namespace

bool is_valid_dag_id(std::string_view s) { return id_shape(s, false); }

std::uint64_t stable_hash(std::string_view s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

int partition_of(std::string_view dag_id, int partitions) {
  return static_cast<int>(stable_hash(dag_id) % static_cast<std::uint64_t>(partitions));
}
bool is_valid_task_id(std::string_view s) { return id_shape(s, true); }

int edit_distance(std::string_view a, std::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

Status check_namespace_name(std::string_view name) {
  if (is_valid_dag_id(name)) return {};
  return Error::invalid("invalid namespace \"" + std::string(name) +
                        "\": use 1 to 200 letters, digits, `_`, `.` or `-`, starting with a letter or digit");
}

Result<std::vector<std::string>> parse_namespace_list(std::string_view text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  for (;;) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    if (auto ok = check_namespace_name(part); !ok.ok()) return ok.error();
    if (std::find(out.begin(), out.end(), part) == out.end()) out.emplace_back(part);
    if (comma == std::string_view::npos) return out;
    text.remove_prefix(comma + 1);
  }
}

}  // namespace baton
