// The scheduler's logger (component "scheduler"), shared by its parts: a
// clone of spdlog's default logger, made again when the default one is
// replaced (a process sets its own sinks after the parts were built).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

namespace baton::scheduler {

inline std::shared_ptr<spdlog::logger> sched_log() {
  static std::mutex mu;
  static std::shared_ptr<spdlog::logger> base, log;
  auto current = spdlog::default_logger();  // null after spdlog::shutdown() (exit 70 on its way)
  std::lock_guard lock(mu);
  if (current && current != base) {
    base = current;
    log = current->clone("scheduler");
  }
  if (!log) log = std::make_shared<spdlog::logger>("scheduler");  // no sinks: says nothing
  return log;
}

}  // namespace baton::scheduler
