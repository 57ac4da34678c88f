#include "baton/core/sha256.h"
#include "baton/store/store.h"

namespace baton::store {

Result<std::unique_ptr<Store>> open_sqlite_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options);
Result<std::unique_ptr<Store>> open_postgres_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options);

Result<std::unique_ptr<Store>> open_store(const DatabaseUrl& url, const Clock& clock, OpenOptions options) {
  if (url.engine == DatabaseUrl::Engine::sqlite) return open_sqlite_store(url, clock, options);
  return open_postgres_store(url, clock, options);
}

const char* to_string(Role r) {
  switch (r) {
    case Role::viewer: return "viewer";
    case Role::operator_role: return "operator";
    case Role::admin: return "admin";
    case Role::worker: return "worker";
  }
  return "?";
}

std::optional<Role> role_from_string(std::string_view s) {
  if (s == "viewer") return Role::viewer;
  if (s == "operator") return Role::operator_role;
  if (s == "admin") return Role::admin;
  if (s == "worker") return Role::worker;
  return std::nullopt;
}

std::string audit_hash(const AuditEntry& e) {
  // Fields joined with a separator that cannot occur in them unescaped: each
  // is length-prefixed.
  std::string buf;
  auto add = [&](const std::string& s) { buf += std::to_string(s.size()) + ":" + s + ";"; };
  add(e.prev_hash);
  add(std::to_string(e.id));
  add(std::to_string(e.at.time_since_epoch().count()));
  add(e.actor);
  add(e.action);
  add(e.target);
  add(e.details);
  return sha256_hex(buf);
}

}  // namespace baton::store
