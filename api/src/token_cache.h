// The tokens this server authenticated in the last second, by hash: a
// worker's requests (claims, heartbeats, reports, each long poll's wake-up)
// then cost no database read each. A revoke through this server clears it;
// one made elsewhere (another server, `baton tokens revoke`) takes effect
// here within a second (docs/security.md). Failures are never kept: an
// unknown token is looked up, and audited, every time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "baton/store/records.h"

namespace baton::api {

class TokenCache {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr std::chrono::seconds kFresh{1};
  static constexpr size_t kMaxEntries = 4096;

  explicit TokenCache(Now now = [] { return std::chrono::steady_clock::now(); }) : now_(std::move(now)) {}

  std::optional<store::Token> get(const std::string& hash) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(hash);
    if (it == entries_.end()) return std::nullopt;
    if (now_() >= it->second.until) {
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.token;
  }
  // Read before the database lookup whose answer goes to put(): a clear
  // in between (a revoke that may have committed after the read) makes
  // put() keep nothing.
  unsigned long long generation() {
    std::lock_guard lock(mu_);
    return generation_;
  }
  void put(const std::string& hash, const store::Token& token, unsigned long long looked_up_at) {
    std::lock_guard lock(mu_);
    if (looked_up_at != generation_) return;
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_[hash] = Entry{token, now_() + kFresh};
  }
  void clear() {
    std::lock_guard lock(mu_);
    entries_.clear();
    ++generation_;
  }

 private:
  struct Entry {
    store::Token token;
    std::chrono::steady_clock::time_point until;
  };
  Now now_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
  unsigned long long generation_ = 0;  // clears so far
};

}  // namespace baton::api
