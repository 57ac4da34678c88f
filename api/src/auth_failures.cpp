#include "auth_failures.h"

#include <nlohmann/json.hpp>

#include "baton/core/utf8.h"
#include "baton/store/store.h"
#include "json_text.h"

namespace baton::api {

namespace {

const std::string kOverflow = "*";

// At most `max` bytes of the path, whole characters (bytes that are not
// UTF-8 count as the U+FFFD they are stored as).
std::string cut_path(const std::string& path, std::size_t max) {
  std::string text = to_storable_text(std::string_view(path).substr(0, max));
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace

Status write_auth_failures(store::Store& store, const std::vector<AuthFailures::Entry>& entries,
                           const HttpRequest* request, const std::string& reason) {
  using nlohmann::json;
  for (auto& e : entries) {
    json d = json::object();
    if (e.failure && request) {
      d["method"] = to_storable_text(std::string_view(request->method).substr(0, 16));
      d["path"] = cut_path(request->path, kAuditPathBytes);
      if (request->path.size() > kAuditPathBytes) d["path_bytes"] = request->path.size();
      d["reason"] = reason;
    } else {
      d["reason"] = "not audited one by one";
    }
    d["address"] = e.address;
    d["suppressed"] = e.suppressed;
    if (e.suppressed > 0) {
      d["first_suppressed_at"] = format_utc(*e.first_suppressed);
      d["last_suppressed_at"] = format_utc(*e.last_suppressed);
    }
    if (auto a = store.append_audit("anonymous", "auth.failed", "api", dump(d)); !a) return a.error();
  }
  return {};
}

AuthFailures::AuthFailures(const Clock& clock, std::size_t max_addresses, Duration window)
    : clock_(clock), max_addresses_(max_addresses), window_(window) {}

std::vector<AuthFailures::Entry> AuthFailures::failed(const std::string& address) {
  const TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  std::vector<Entry> out;
  // Windows that are over close first. Those of this address and of "*" are
  // set aside: the count of the one this failure falls into goes into its
  // entry rather than an entry of its own.
  std::unordered_map<std::string, Window> over;
  expire(now, out, [&](const std::string& a, const Window& w) {
    if (a != address && a != kOverflow) return false;
    over[a] = w;
    return true;
  });
  const std::string& key =
      windows_.count(address) || windows_.size() < max_addresses_ ? address : kOverflow;
  for (auto& [a, w] : over)
    if (a != key && w.suppressed > 0) out.push_back({a, false, w.suppressed, w.first, w.last});
  if (auto it = windows_.find(key); it != windows_.end()) {
    Window& w = it->second;
    if (w.suppressed == 0) w.first = now;
    w.last = now;
    ++w.suppressed;
    return out;
  }
  Entry e;
  e.address = key;
  if (auto c = over.find(key); c != over.end() && c->second.suppressed > 0) {
    e.suppressed = c->second.suppressed;
    e.first_suppressed = c->second.first;
    e.last_suppressed = c->second.last;
  }
  out.push_back(std::move(e));
  windows_[key] = Window{now, 0, {}, {}};
  order_.emplace_back(now, key);
  note_next_due();
  return out;
}

std::vector<AuthFailures::Entry> AuthFailures::due() {
  std::vector<Entry> out;
  const long long next = next_due_.load(std::memory_order_relaxed);
  if (next == 0) return out;
  const TimePoint now = clock_.now();
  if (now.time_since_epoch().count() < next) return out;
  std::lock_guard lock(mu_);
  expire(now, out, [](const std::string&, const Window&) { return false; });
  return out;
}

std::vector<AuthFailures::Entry> AuthFailures::flush() {
  std::lock_guard lock(mu_);
  std::vector<Entry> out;
  for (auto& [at, address] : order_) {
    auto it = windows_.find(address);
    if (it == windows_.end() || it->second.opened != at || it->second.suppressed == 0) continue;
    out.push_back({address, false, it->second.suppressed, it->second.first, it->second.last});
  }
  windows_.clear();
  order_.clear();
  note_next_due();
  return out;
}

std::size_t AuthFailures::tracked() const {
  std::lock_guard lock(mu_);
  return windows_.size();
}

void AuthFailures::expire(TimePoint now, std::vector<Entry>& out,
                          const std::function<bool(const std::string&, const Window&)>& set_aside) {
  while (!order_.empty() && order_.front().first + window_ <= now) {
    auto [at, address] = std::move(order_.front());
    order_.pop_front();
    auto it = windows_.find(address);
    if (it == windows_.end() || it->second.opened != at) continue;
    Window w = it->second;
    windows_.erase(it);
    if (!set_aside(address, w) && w.suppressed > 0) out.push_back({address, false, w.suppressed, w.first, w.last});
  }
  note_next_due();
}

void AuthFailures::note_next_due() {
  next_due_.store(order_.empty() ? 0 : (order_.front().first + window_).time_since_epoch().count(),
                  std::memory_order_relaxed);
}

}  // namespace baton::api
