// JSON helpers shared by the route files: a value as compact text (invalid
// UTF-8 replaced, never thrown), and optional fields as null. Header-only,
// included by api .cpp files only (it brings nlohmann/json).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "baton/core/time.h"

namespace baton::api {

inline std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
inline nlohmann::json opt_time(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(format_utc(*t)) : nlohmann::json(nullptr);
}
template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace baton::api
