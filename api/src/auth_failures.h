// AuthFailures: which failed authentications the API audits (SPEC §12): at
// most one entry per client address and minute, each with the count of the
// failures from that address that were not audited one by one, so that a
// client hammering the API with bad tokens (or none) cannot flood the audit
// log, and the log still says how many there were.
//
// The rule, per address: a failure from an address with no open window is
// audited, and opens a window of one minute (`window`); failures inside the
// window are only counted. The count goes into the address's next entry
// (`suppressed`: its failures not audited since its previous entry), made by
// its first failure after the window; when none comes, the count is written
// on its own once the window is over (by the next failure of any address,
// or due(), which the API asks cheaply on every request that passed
// authentication or needs none), or when the server stops (flush()).
// Nothing is lost but the one-by-one detail.
//
// Memory is bounded: at most `max_addresses` windows are kept. A failure from
// an address beyond them counts into one shared window for every such address
// (address "*"), audited at most once a minute as well. So however many
// addresses a flood comes from, the audit log grows by at most
// 2 × (max_addresses + 1) entries a minute, each with a path of at most 256
// bytes (the API cuts it).
//
// Thread-safe: one mutex; due() takes it only when a window is over. No I/O:
// write_auth_failures() writes what it answers.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "baton/core/clock.h"
#include "http.h"

namespace baton::store {
class Store;
}

namespace baton::api {

class AuthFailures {
 public:
  // An auth.failed entry to write.
  struct Entry {
    std::string address;       // the client's address ("*": beyond the table)
    bool failure = true;       // true: this failure; false: only the count of a window that is over
    long long suppressed = 0;  // failures from the address not audited since its previous entry
    std::optional<TimePoint> first_suppressed, last_suppressed;  // when they came (suppressed > 0)
  };

  explicit AuthFailures(const Clock& clock, std::size_t max_addresses = 1024,
                        Duration window = std::chrono::minutes(1));

  // A failed authentication from `address` now: the entries to audit (none
  // when it is only counted; the counts of other windows that are over come
  // with it).
  std::vector<Entry> failed(const std::string& address);
  // The counts of windows that are over (none, cheaply, when none is).
  std::vector<Entry> due();
  // Every count not written yet (the server stops).
  std::vector<Entry> flush();

  std::size_t tracked() const;  // addresses with an open window (tests)

 private:
  struct Window {
    TimePoint opened{};
    long long suppressed = 0;
    TimePoint first{}, last{};
  };
  // Closes the windows over at `now`: their counts become entries, except
  // for those `set_aside` takes (true: the caller writes their count).
  void expire(TimePoint now, std::vector<Entry>& out,
              const std::function<bool(const std::string&, const Window&)>& set_aside);
  void note_next_due();

  const Clock& clock_;
  const std::size_t max_addresses_;
  const Duration window_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;  // guarded by mu_
  std::deque<std::pair<TimePoint, std::string>> order_;  // windows by opening; guarded by mu_
  std::atomic<long long> next_due_{0};  // µs: when the oldest window is over (0: none open)
};

// The longest path an auth.failed entry keeps, in bytes (SPEC §12).
constexpr std::size_t kAuditPathBytes = 256;

// Writes `entries` (from AuthFailures) as auth.failed audit entries: actor
// `anonymous`, target `api`, details `address` and `suppressed` (with
// `first_suppressed_at` and `last_suppressed_at` when it is not 0); the
// entry of this failure also `method`, `path` (cut to kAuditPathBytes at a
// character boundary, with `path_bytes`, its length, when cut) and `reason`.
// A count on its own has `reason` "not audited one by one".
Status write_auth_failures(store::Store& store, const std::vector<AuthFailures::Entry>& entries,
                           const HttpRequest* request = nullptr, const std::string& reason = "");

}  // namespace baton::api
