#include "fair_share.h"

#include <algorithm>
#include <cmath>

#include "baton/core/fair.h"

namespace baton::scheduler {

namespace {

constexpr long long kSecond = 1000000;  // µs

long long floor_div(long long a, long long b) { return a / b - (a % b != 0 && (a < 0) != (b < 0) ? 1 : 0); }

size_t ring_index(long long second, int size) {
  long long k = second % size;
  return static_cast<size_t>(k < 0 ? k + size : k);
}

}  // namespace

const FairShare::Config& FairShare::config(const std::string& ns) const {
  auto it = configs_.find(ns);
  return it == configs_.end() ? defaults_ : it->second;
}

void FairShare::accrue(State& s, TimePoint now) {
  long long to = now.time_since_epoch().count();
  long long from = s.since.time_since_epoch().count();
  s.since = now;
  if (s.slots <= 0 || from <= 0 || to <= from) return;
  from = std::max(from, to - kWindowSeconds * kSecond);
  while (from < to) {
    long long second = floor_div(from, kSecond);
    long long end = std::min(to, (second + 1) * kSecond);
    size_t k = ring_index(second, kWindowSeconds);
    if (s.second_of[k] != second) {
      s.second_of[k] = second;
      s.held_us[k] = 0;
    }
    s.held_us[k] += s.slots * (end - from);
    from = end;
  }
}

long long FairShare::held_over_window(const State& s, TimePoint now) {
  long long current = floor_div(now.time_since_epoch().count(), kSecond);
  long long sum = 0;
  for (size_t k = 0; k < s.held_us.size(); ++k)
    if (s.second_of[k] > current - kWindowSeconds && s.second_of[k] <= current) sum += s.held_us[k];
  return sum;
}

void FairShare::took_slot(const std::string& ns, TimePoint now) {
  State& s = states_[ns];
  accrue(s, now);
  ++s.slots;
}

void FairShare::gave_slot(const std::string& ns, TimePoint now) {
  State& s = states_[ns];
  accrue(s, now);
  if (s.slots > 0) --s.slots;
}

void FairShare::ended(const std::string& ns) {
  State& s = states_[ns];
  if (s.running > 0) --s.running;
}

void FairShare::started(const std::string& ns, double latency, TimePoint now) {
  auto& l = states_[ns].latencies;
  l.emplace_back(now, latency);
  while (!l.empty() && (l.size() > kMaxLatencies || l.front().first < now - std::chrono::seconds(kWindowSeconds)))
    l.pop_front();
}

void FairShare::clear(TimePoint now) {
  for (auto& [ns, s] : states_) {
    accrue(s, now);
    s.slots = 0;
    s.running = 0;
  }
}

long long FairShare::slots(const std::string& ns) const {
  auto it = states_.find(ns);
  return it == states_.end() ? 0 : it->second.slots;
}

std::vector<std::string> FairShare::holders() const {
  std::vector<std::string> out;
  for (auto& [ns, s] : states_)
    if (s.slots > 0) out.push_back(ns);
  return out;
}

long long FairShare::running(const std::string& ns) const {
  auto it = states_.find(ns);
  return it == states_.end() ? 0 : it->second.running;
}

bool FairShare::at_cap(const std::string& ns) const {
  const auto& cap = config(ns).max_running_tasks;
  return cap && running(ns) >= *cap;
}

std::string FairShare::next(const std::vector<std::string>& candidates) const {
  std::vector<FairEntry> entries;
  entries.reserve(candidates.size());
  for (const auto& ns : candidates) entries.push_back({ns, slots(ns), config(ns).weight});
  int k = fair_next(entries);
  return k < 0 ? std::string() : candidates[static_cast<size_t>(k)];
}

long long FairShare::share_of(const std::string& ns, const std::vector<std::string>& contenders,
                              long long total) const {
  double sum = 0;
  bool counted = false;
  for (const auto& c : contenders) {
    sum += config(c).weight;
    counted = counted || c == ns;
  }
  if (!counted) sum += config(ns).weight;
  if (sum <= 0) return total;
  return std::max<long long>(1, static_cast<long long>(std::floor(static_cast<double>(total) * config(ns).weight / sum)));
}

std::string FairShare::why(const std::string& ns, const std::vector<std::string>& contenders, long long total) const {
  if (at_cap(ns))
    return "namespace " + ns + ": " + std::to_string(running(ns)) + " of " +
           std::to_string(*config(ns).max_running_tasks) + " running (max_running_tasks)";
  return "namespace " + ns + ": " + std::to_string(running(ns)) + " running, share " +
         std::to_string(share_of(ns, contenders, total)) + " of " + std::to_string(total) + " slots";
}

std::map<std::string, NamespaceFigures> FairShare::figures(TimePoint now) {
  std::map<std::string, long long> held;
  long long all = 0;
  for (auto& [ns, s] : states_) {
    accrue(s, now);
    held[ns] = held_over_window(s, now);
    all += held[ns];
    while (!s.latencies.empty() && s.latencies.front().first < now - std::chrono::seconds(kWindowSeconds))
      s.latencies.pop_front();
  }
  std::map<std::string, NamespaceFigures> out;
  for (auto it = states_.begin(); it != states_.end();) {
    const auto& [ns, s] = *it;
    if (s.slots == 0 && s.running == 0 && held[ns] == 0 && s.latencies.empty()) {
      it = states_.erase(it);  // nothing to show: forgotten, so the map stays small
      continue;
    }
    NamespaceFigures f;
    f.running = s.running;
    f.share = all > 0 ? static_cast<double>(held[ns]) / static_cast<double>(all) : 0;
    if (!s.latencies.empty()) {
      std::vector<double> l;
      l.reserve(s.latencies.size());
      for (auto& p : s.latencies) l.push_back(p.second);
      auto mid = l.begin() + static_cast<std::ptrdiff_t>(l.size() / 2);
      std::nth_element(l.begin(), mid, l.end());
      f.latency_p50 = *mid;
    }
    out[ns] = f;
    ++it;
  }
  return out;
}

}  // namespace baton::scheduler
