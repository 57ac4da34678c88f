// Internal to the store: how both engines write a token's namespaces and
// name the variables and connections of a namespace (audit targets, errors),
// so that the two engines say the same. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace baton::store {

// A token's namespaces as stored: comma-separated ("" for none). Namespace
// names hold no comma (the rule of a DAG file's `namespace:`).
inline std::string join_namespaces(const std::vector<std::string>& namespaces) {
  std::string out;
  for (auto& n : namespaces) out += (out.empty() ? "" : ",") + n;
  return out;
}

inline std::vector<std::string> split_namespaces(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// The audit target of a variable or connection: `variable:NAME` (global) or
// `variable:NS/NAME` (a `/` is in no name, so the two cannot be confused).
inline std::string entry_target(const std::string& kind, const std::string& ns, const std::string& name) {
  return kind + ":" + (ns.empty() ? name : ns + "/" + name);
}

// The not_found message of a variable or connection.
inline std::string entry_missing(const std::string& kind, const std::string& ns, const std::string& name) {
  return "no " + kind + " named \"" + name + "\"" + (ns.empty() ? "" : " in namespace \"" + ns + "\"");
}

}  // namespace baton::store
