#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "baton/core/sha256.h"
#include "baton/store/store.h"

namespace baton::store {

Result<std::unique_ptr<SchedulingLock>> acquire_postgres_scheduling_lock(const DatabaseUrl& url, bool shared);
Result<std::unique_ptr<SchedulingLock>> try_postgres_leader_lock(const DatabaseUrl& url, const std::string& member_id);
Result<std::unique_ptr<Listener>> open_postgres_listener(const DatabaseUrl& url, const std::vector<std::string>& channels);
Result<std::unique_ptr<SchedulingLock>> hold_postgres_member_lock(const DatabaseUrl& url, const std::string& member_id);

namespace {

class FileLock final : public SchedulingLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {}
  ~FileLock() override { ::close(fd_); }
  Status check() override { return {}; }  // held by the kernel for as long as the process lives

 private:
  int fd_;
};

}  // namespace

Result<std::unique_ptr<SchedulingLock>> acquire_scheduling_lock(const DatabaseUrl& url, bool shared) {
  if (url.engine == DatabaseUrl::Engine::postgres) return acquire_postgres_scheduling_lock(url, shared);
  if (shared)
    return Error::invalid("SQLite admits one scheduling process: run baton standalone on " + url.path +
                          ", or use PostgreSQL for baton server and baton scheduler");
  std::string path = url.path + ".scheduler.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"unavailable", "cannot open " + path + ": " + std::strerror(errno)};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Error{"conflict", "another baton process is already scheduling on " + url.path +
                                 " (SQLite admits one scheduling process; use PostgreSQL for more)"};
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) (void)!::write(fd, pid.data(), pid.size());
  return std::unique_ptr<SchedulingLock>(std::make_unique<FileLock>(fd));
}

Result<std::unique_ptr<SchedulingLock>> try_leader_lock(const DatabaseUrl& url, const std::string& member_id) {
  if (url.engine == DatabaseUrl::Engine::postgres) return try_postgres_leader_lock(url, member_id);
  return Error{"unsupported", "SQLite has one scheduling process, which leads itself"};
}

Result<std::unique_ptr<SchedulingLock>> hold_member_lock(const DatabaseUrl& url, const std::string& member_id) {
  if (url.engine == DatabaseUrl::Engine::postgres) return hold_postgres_member_lock(url, member_id);
  return Error{"unsupported", "SQLite has one scheduling process"};
}

Result<std::unique_ptr<Listener>> open_listener(const DatabaseUrl& url, const std::vector<std::string>& channels) {
  if (url.engine == DatabaseUrl::Engine::postgres) return open_postgres_listener(url, channels);
  return Error{"unsupported", "SQLite has no notifications across processes"};
}

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

std::string backfill_audit_details(const BackfillRecord& b) {
  nlohmann::json j = {{"from", b.from_text},      {"to", b.to_text},        {"reprocess", b.reprocess},
                      {"max_active_runs", b.max_active_runs}, {"reverse", b.reverse}, {"downstream", b.downstream},
                      {"total", b.total}};
  j["tasks"] = b.tasks ? nlohmann::json::parse(*b.tasks, nullptr, false) : nlohmann::json(nullptr);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool AuditVerifier::add(const AuditEntry& e) {
  if (check_.first_bad_id) return false;
  if (prev_.empty()) prev_ = std::string(64, '0');
  ++check_.checked;
  if (e.id != prev_id_ + 1)
    check_.problem = "entries " + std::to_string(prev_id_ + 1) + " to " + std::to_string(e.id - 1) + " are missing";
  else if (e.prev_hash != prev_)
    check_.problem = "its prev_hash does not match the hash of entry " + std::to_string(prev_id_);
  else if (audit_hash(e) != e.hash)
    check_.problem = "its contents do not match its hash (the entry was altered)";
  if (!check_.problem.empty()) {
    check_.first_bad_id = e.id;
    return false;
  }
  prev_ = e.hash;
  prev_id_ = e.id;
  return true;
}

AuditCheck AuditVerifier::finish(const std::optional<std::string>& head) {
  if (check_.first_bad_id) return check_;
  if (prev_.empty()) prev_ = std::string(64, '0');
  if (!head) {
    if (prev_id_ != 0) {
      check_.first_bad_id = 1;
      check_.problem = "the recorded head of the log is missing";
    }
  } else if (*head != std::to_string(prev_id_) + ":" + prev_) {
    check_.first_bad_id = prev_id_ + 1;
    check_.problem = "the log ends at entry " + std::to_string(prev_id_) + " but its recorded head is entry " +
                     head->substr(0, head->find(':')) + " (entries were removed from the end)";
  }
  return check_;
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
