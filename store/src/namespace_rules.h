// Internal to the store: what both engines check of a namespace before
// storing it, and what its audit entry holds, so that the two say the same.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "baton/core/result.h"
#include "baton/store/store.h"

namespace baton::store {

// A namespace's fields as its audit entry holds them.
inline nlohmann::json namespace_fields(const Namespace& ns) {
  using nlohmann::json;
  return {{"weight", ns.weight},
          {"max_running_tasks", ns.max_running_tasks ? json(*ns.max_running_tasks) : json(nullptr)},
          {"folder", ns.folder ? json(*ns.folder) : json(nullptr)},
          {"description", ns.description}};
}

inline Status check_namespace(const Namespace& ns) {
  if (!(ns.weight >= 0.01 && ns.weight <= 1000))
    return Error::invalid("namespace weight must be from 0.01 to 1000, got " + nlohmann::json(ns.weight).dump());
  if (ns.max_running_tasks && *ns.max_running_tasks < 1)
    return Error::invalid("namespace max_running_tasks must be 1 or more, got " +
                          std::to_string(*ns.max_running_tasks));
  return {};
}

}  // namespace baton::store
