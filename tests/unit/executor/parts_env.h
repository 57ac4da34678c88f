// The executor part tests' shared helpers: a temporary folder, compiled
// DAGs, an assignment as the scheduler makes it, render services over a map
// of variables, and the waits' limit.
#pragma once

#include <catch2/catch.hpp>
#include <httplib.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/core/clock.h"
#include "baton/dsl/compiler.h"
#include "baton/executor/assignment.h"
#include "baton/executor/local_workers.h"
#include "baton/executor/notifier.h"
#include "baton/executor/sensor_pokers.h"

namespace baton::executor_test {

using namespace baton::executor;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Long enough for a loaded machine; a try that hangs fails the test after it.
constexpr auto kWait = 10s;

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// A temporary folder per test, removed at the end.
struct Dir {
  fs::path path;
  Dir() {
    char tmpl[] = "/tmp/baton_parts_test_XXXXXX";
    char* made = ::mkdtemp(tmpl);
    REQUIRE(made != nullptr);
    path = fs::canonical(made);
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

inline dsl::DagGraphPtr compile(const std::string& yaml) {
  auto r = dsl::compile_dag(yaml, "x.yaml");
  std::string errors;
  for (auto& e : r.errors) errors += e.format() + "\n";
  INFO(errors);
  REQUIRE(r.graph);
  return r.graph;
}

inline const TimePoint kLogicalDate = *parse_utc("2026-11-21T00:00:00Z");

// An assignment of one task of a compiled DAG, as the scheduler makes it
// (templates not rendered yet), logging to `log_path`.
inline Assignment assignment_of(const dsl::DagGraphPtr& graph, const std::string& task, const fs::path& log_path,
                         long long ti_id = 7) {
  const int i = graph->index_of(task);
  REQUIRE(i >= 0);
  const dsl::TaskSpec& spec = graph->spec().tasks[static_cast<size_t>(i)];
  Assignment a;
  a.run_pk = 11;
  a.ti = i;
  a.ti_id = ti_id;
  a.attempt_token = "tok-" + std::to_string(ti_id);
  a.type = spec.type;
  a.command_template = spec.command.text;
  a.env_templates = spec.env;
  a.graph = graph;
  a.spec = &spec;
  a.ctx.logical_date = kLogicalDate;
  a.ctx.data_interval_start = kLogicalDate;
  a.ctx.data_interval_end = kLogicalDate + 24h;
  a.ctx.run_id = "scheduled__2026-11-21T00:00:00Z";
  a.ctx.dag_id = graph->spec().dag_id;
  a.ctx.task_id = task;
  a.ctx.params_json = "{}";
  a.shell.dag_id = graph->spec().dag_id;
  a.shell.run_id = a.ctx.run_id;
  a.shell.task_id = task;
  a.shell.logical_date = format_utc(kLogicalDate);
  a.shell.data_interval_start = format_utc(kLogicalDate);
  a.shell.data_interval_end = format_utc(kLogicalDate + 24h);
  a.shell.skip_exit_code = spec.skip_exit_code;
  a.shell.timeout = spec.timeout;
  a.shell.kill_grace = spec.kill_grace;
  a.shell.log_path = log_path.string();
  a.shell.heartbeat_interval = 50ms;
  return a;
}

inline RenderServices variables(std::map<std::string, std::string> vars) {
  RenderServices s;
  s.variable = [vars](const std::string&, const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  s.connection_url = [](const std::string&, const std::string& name) -> Result<std::string> {
    return Error::not_found("connection " + name);
  };
  return s;
}

}  // namespace baton::executor_test

