// What the routes of DAGs, runs and task instances share (dag_routes.cpp,
// run_routes.cpp, task_routes.cpp): stored JSON text as a value, lookups
// whose errors name what is missing, the cache of parsed compiled versions,
// and the roll-up of a foreach task's mapped instances. Included by those
// files only (it brings nlohmann/json).
#pragma once

#include <nlohmann/json.hpp>

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/store/store.h"

namespace baton::api {

// Stored JSON text as a value; text that does not parse (it should not
// happen) is shown as a string rather than lost.
nlohmann::json parse_stored(const std::string& text);

Result<store::DagRecord> find_dag(store::Store& s, const std::string& dag_id);
// The run, after checking its DAG, so that a wrong DAG id says so.
Result<store::RunRecord> find_run(store::Store& s, const std::string& dag_id, const std::string& run_id);

// A compiled version never changes (its name is the hash of its text), so
// its parsed form is kept for the requests that follow: a DAG of thousands of
// tasks is read and parsed once, not on every look at its page. Bounded by
// an estimate of the memory the parsed versions take (kBudget); shared by
// the API's threads.
class CompiledCache {
 public:
  Result<std::shared_ptr<const nlohmann::json>> get(store::Store& s, const std::string& dag_id,
                                                    const std::string& version);

 private:
  // Bounded by an estimate of the parsed form's memory: nlohmann::json takes
  // several times the bytes of the text it was parsed from.
  static constexpr size_t kParsedPerTextByte = 8;
  static constexpr size_t kBudget = 256u << 20;
  struct Entry {
    std::string key;
    std::shared_ptr<const nlohmann::json> value;
    size_t bytes;
  };
  std::mutex mu_;
  std::list<Entry> order_;  // most recently used first; guarded by mu_
  std::map<std::string, std::list<Entry>::iterator> index_;  // guarded by mu_
  size_t used_ = 0;  // guarded by mu_
};

CompiledCache& compiled_cache();

// Tasks of a run's version that have no foreach. Mapped instances of one of
// them were made under an older version the run was moved off (clear
// --version latest): history, not the task's state, so roll-ups leave them out.
std::set<std::string> unmapped_tasks(store::Store& s, const store::RunRecord& r);

// The grid's cell of one task in one run: the state of an unmapped task, or
// for a mapped task (foreach) its mapped instances rolled up into one state,
// with a count by state. What needs a person's eye comes first in the
// roll-up. The task's own instance of a mapped task is not counted.
nlohmann::json grid_cell(std::vector<const store::TaskInstanceRecord*> tis);

}  // namespace baton::api
