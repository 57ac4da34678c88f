// Store tests' fixture: a body run once per engine (store_engines.h), each
// time on a fresh store with a fake clock at 2026-11-22T10:00Z.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include "baton/store/store.h"
#include "store_engines.h"

namespace baton::testing {

// The same, with the clock starting at `start` and the store's URL (a second
// store on the same database: another process's).
inline void each_store_at(const std::string& tag, const char* start,
                          const std::function<void(store::Store&, FakeClock&, const store::DatabaseUrl&)>& body) {
  for (auto& e : store_engines(tag)) {
    DYNAMIC_SECTION(e.name) {
      FakeClock clock(*parse_utc(start));
      auto url = store::parse_database_url(e.url);
      REQUIRE(url.ok());
      auto store = store::open_store(*url, clock);
      INFO((store.ok() ? std::string() : store.error().message));
      REQUIRE(store.ok());
      body(**store, clock, *url);
    }
  }
}

inline void each_store(const std::string& tag, const std::function<void(store::Store&, FakeClock&)>& body) {
  each_store_at(tag, "2026-11-22T10:00:00Z",
                [&](store::Store& s, FakeClock& clock, const store::DatabaseUrl&) { body(s, clock); });
}

// Records the store tests make: a DAG version, a scheduled run of a day,
// two task instances, a queued try; what a worker sends about a try it holds.
namespace records {
using namespace baton::store;
inline DagVersionRecord version(const std::string& dag, const std::string& v) {
  DagVersionRecord r;
  r.dag_id = dag;
  r.version = v;
  r.compiled = "{}";
  r.source = "dag: " + dag + "\n";
  r.file = "dags/" + dag + ".yaml";
  return r;
}

inline RunRecord scheduled_run(const std::string& dag, const char* at) {
  RunRecord r;
  r.dag_id = dag;
  r.logical_date = *parse_utc(at);
  r.data_interval_start = r.logical_date;
  r.data_interval_end = r.logical_date + std::chrono::hours(24);
  r.run_id = "scheduled__" + std::string(at);
  r.run_type = "scheduled";
  r.dag_version = "v1";
  return r;
}

// What a worker holding `q` sends about it (a heartbeat's or a report's).
inline TryProgress holding(const std::string& worker, const QueueItem& q,
                           std::optional<std::string> log = std::nullopt, long long log_offset = 0) {
  TryProgress p;
  p.worker = worker;
  p.attempt_token = q.attempt_token;
  p.ti_id = q.ti_id;
  p.try_number = q.try_number;
  p.log = std::move(log);
  p.log_offset = log_offset;
  return p;
}

inline std::vector<TaskInstanceRecord> two_tasks() {
  TaskInstanceRecord a, b;
  a.task_id = "a";
  a.state = TaskState::scheduled;
  b.task_id = "b";
  b.max_tries = 3;
  b.pool = "etl";
  return {a, b};
}
// A try of task instance `ti_id` (run `run_pk`) queued for the remote workers.
inline QueueItem queue_item(const std::string& token, long long ti_id, long long run_pk, int partition, int priority,
                            const std::string& pool, int slots, TimePoint at) {
  QueueItem q;
  q.attempt_token = token;
  q.ti_id = ti_id;
  q.run_pk = run_pk;
  q.partition = partition;
  q.priority = priority;
  q.pool = pool;
  q.pool_slots = slots;
  q.payload = "{}";
  q.queued_at = at;
  return q;
}
}  // namespace records

}  // namespace baton::testing
