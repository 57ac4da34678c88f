// FairShare: the namespaces' weighted fair queueing of worker slots (SPEC
// §13). It counts, per namespace, the tries that hold a worker slot and the
// tries that count against `max_running_tasks`, and says which namespace a
// freed slot goes to: the one furthest below its weighted share of the busy
// slots, among those with a ready try (a namespace with nothing ready lends
// its share, because it is not asked). It also keeps what GET /namespaces and
// /metrics show: each namespace's part of the busy slots over the last minute
// and its ready -> running latency. Loop thread only; the dispatcher owns it.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/time.h"
#include "baton/scheduler/control.h"

namespace baton::scheduler {

class FairShare {
 public:
  struct Config {
    double weight = 1;
    std::optional<int> max_running_tasks;
  };

  // The configured namespaces (the store's); any other has the defaults.
  void configure(std::map<std::string, Config> configs) { configs_ = std::move(configs); }
  const Config& config(const std::string& ns) const;

  // A try of `ns` took or gave back a worker slot, at `now`.
  void took_slot(const std::string& ns, TimePoint now);
  void gave_slot(const std::string& ns, TimePoint now);
  // A try of `ns` began or stopped counting against max_running_tasks.
  void began(const std::string& ns) { ++states_[ns].running; }
  void ended(const std::string& ns);
  // Its try started `latency` seconds after it became ready.
  void started(const std::string& ns, double latency, TimePoint now);
  void clear(TimePoint now);

  long long slots(const std::string& ns) const;
  // The namespaces holding a worker slot.
  std::vector<std::string> holders() const;
  long long running(const std::string& ns) const;
  bool at_cap(const std::string& ns) const;
  // Of `candidates` (namespaces with a ready try), the one the next slot
  // goes to (fair_next of core/fair.h over the slots they hold). Empty when
  // there are none.
  std::string next(const std::vector<std::string>& candidates) const;
  // Its slots of `total` by weight among `contenders` (the namespaces with a
  // ready try or a slot), rounded down but at least 1.
  long long share_of(const std::string& ns, const std::vector<std::string>& contenders, long long total) const;
  // Why a ready try of `ns` waits, in words ("namespace sales: 12 running,
  // share 3 of 8 slots"; "namespace sales: 5 of 5 running (max_running_tasks)").
  std::string why(const std::string& ns, const std::vector<std::string>& contenders, long long total) const;

  // Figures per namespace at `now` (ready counts are the dispatcher's).
  std::map<std::string, NamespaceFigures> figures(TimePoint now);

 private:
  static constexpr int kWindowSeconds = 60;
  struct State {
    long long slots = 0;    // worker slots held
    long long running = 0;  // tries counting against max_running_tasks
    // Slot-microseconds held per second of the last minute: a ring indexed
    // by the unix second modulo kWindowSeconds, with the second it holds.
    std::vector<long long> held_us = std::vector<long long>(kWindowSeconds, 0);
    std::vector<long long> second_of = std::vector<long long>(kWindowSeconds, -1);
    TimePoint since{};  // slots held unchanged since
    std::deque<std::pair<TimePoint, double>> latencies;  // of the last minute, at most kMaxLatencies
  };
  static constexpr size_t kMaxLatencies = 4096;
  void accrue(State& s, TimePoint now);
  static long long held_over_window(const State& s, TimePoint now);

  std::map<std::string, Config> configs_;
  std::map<std::string, State> states_;
  Config defaults_;
};

}  // namespace baton::scheduler
