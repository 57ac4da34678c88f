// Fencing: what a part that writes for partitions needs to know of
// membership (SPEC §9): the epochs its writes carry, whether a DAG's
// partition is this process's, and what to do when the store refuses a write
// for a stale epoch. Membership implements it; tests fake it.
#pragma once

#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/store/store.h"

namespace baton::scheduler {

class Fencing {
 public:
  virtual ~Fencing() = default;
  virtual const std::vector<store::Fence>& fences() const = 0;
  virtual bool owns(const std::string& dag_id) const = 0;
  virtual void fenced_out(const Error& e) = 0;
};

}  // namespace baton::scheduler
