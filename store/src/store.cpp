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

Result<Variable> ResourceStore::resolve_variable(const std::string& ns, const std::string& name) {
  if (!ns.empty()) {
    auto v = get_variable(name, ns);
    if (v || v.error().code != "not_found") return v;
  }
  return get_variable(name, "");
}

Result<Connection> ResourceStore::resolve_connection(const std::string& ns, const std::string& name) {
  if (!ns.empty()) {
    auto c = get_connection(name, ns);
    if (c || c.error().code != "not_found") return c;
  }
  return get_connection(name, "");
}

Result<std::vector<DagVersionRecord>> DagStore::get_dag_versions(
    const std::vector<std::pair<std::string, std::string>>& keys) {
  std::vector<DagVersionRecord> out;
  for (auto& [dag_id, version] : keys) {
    auto v = get_dag_version(dag_id, version);
    if (v) out.push_back(std::move(*v));
    else if (v.error().code != "not_found") return v.error();
  }
  return out;
}

Result<RunStore::Created> RunStore::create_run(const RunRecord& run, const std::vector<TaskInstanceRecord>& tis,
                                              const std::string& actor, const std::vector<Fence>& fences,
                                              const std::vector<DatasetCursor>& cursors) {
  auto made = create_runs({NewRun{run, tis, cursors, actor}}, actor, fences);
  if (!made) return made.error();
  return std::move(made->front());
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

long long CleanReport::total() const {
  long long n = 0;
  for (auto& t : tables) n += t.rows;
  return n;
}

const CleanTable* CleanReport::find(std::string_view table) const {
  for (auto& t : tables)
    if (t.table == table) return &t;
  return nullptr;
}

const std::vector<std::string>& clean_tables() {
  static const std::vector<std::string> all = {
      "dag_runs",      "task_instances", "task_tries", "try_logs",       "task_queue",   "worker_events",
      "sla_misses",    "sla_risks",      "notifications", "backfills", "dataset_events", "dag_versions",
      "log files"};
  return all;
}

std::string clean_audit_details(const CleanRequest& request, const CleanReport& report) {
  auto at = [](const std::optional<TimePoint>& t) { return t ? nlohmann::json(format_utc(*t)) : nlohmann::json(nullptr); };
  nlohmann::json removed = nlohmann::json::object();
  for (auto& t : report.tables)
    if (t.rows > 0) removed[t.table] = t.rows;
  nlohmann::json j = {{"runs_before", at(request.runs_before)},
                      {"tries_before", at(request.tries_before)},
                      {"logs_before", at(request.logs_before)},
                      {"removed", removed},
                      {"batches", report.batches}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

const std::string kGenesis(64, '0');

// The head's value before its MAC: "ID:HASH".
std::string head_base(long long id, const std::string& hash) { return std::to_string(id) + ":" + hash; }

std::string head_mac(const std::string& key, const std::string& base) {
  return hmac_sha256_hex(key, "baton audit head\n" + base);
}

// "ID:HASH" and the MAC (empty when none) of a recorded head.
std::pair<std::string, std::string> split_head(const std::string& head) {
  auto sp = head.find(" mac=");
  if (sp == std::string::npos) return {head, ""};
  return {head.substr(0, sp), head.substr(sp + 5)};
}

}  // namespace

bool is_keyed_audit_hash(std::string_view hash) { return hash.substr(0, kKeyedAuditHash.size()) == kKeyedAuditHash; }

std::string audit_head(long long id, const std::string& hash, const std::optional<std::string>& key) {
  std::string base = head_base(id, hash);
  if (!key) return base;
  return base + " mac=" + head_mac(*key, base);
}

Status check_audit_append(long long last_id, const std::string& last_hash, const std::optional<std::string>& head,
                          const std::optional<std::string>& key) {
  if (!is_keyed_audit_hash(last_hash)) return {};  // a plain log (or an empty one): anyone may go on
  if (!key)
    return Error{"failed_precondition",
                 "the audit log is keyed (HMAC-SHA-256 under the audit key; its last entry, " + std::to_string(last_id) +
                     ", is keyed): this process needs the same key to append to it — set audit_key_file "
                     "(BATON_AUDIT_KEY_FILE) to the key's file"};
  auto [base, mac] = split_head(head.value_or(""));
  if (base != head_base(last_id, last_hash) || mac.empty() || mac != head_mac(*key, base))
    return Error{"failed_precondition",
                 "the audit key does not match the key the audit log was written with (or the log's head was "
                 "altered): nothing was appended; check audit_key_file, and run baton audit verify with the log's key"};
  return {};
}

bool AuditVerifier::add(const AuditEntry& e) {
  if (check_.first_bad_id) return false;
  if (prev_.empty()) prev_ = kGenesis;
  ++check_.checked;
  const bool keyed = is_keyed_audit_hash(e.hash);
  if (e.id != prev_id_ + 1)
    check_.problem = "entries " + std::to_string(prev_id_ + 1) + " to " + std::to_string(e.id - 1) + " are missing";
  else if (e.prev_hash != prev_)
    check_.problem = "its prev_hash does not match the hash of entry " + std::to_string(prev_id_);
  else if (!keyed && check_.keyed_from)
    check_.problem = "a plain SHA-256 entry after keyed ones (from entry " + std::to_string(*check_.keyed_from) +
                     "): it was rewritten by someone without the audit key";
  else if (keyed && key_ && audit_hash(e, key_) != e.hash)
    check_.problem = "its contents do not match its HMAC under the audit key (the entry was altered, or this is not "
                     "the key it was written with)";
  else if (!keyed && audit_hash(e) != e.hash)
    check_.problem = "its contents do not match its hash (the entry was altered)";
  if (!check_.problem.empty()) {
    check_.first_bad_id = e.id;
    return false;
  }
  if (keyed) {
    if (!check_.keyed_from) check_.keyed_from = e.id;
    if (!key_) ++check_.keyed_unchecked;
  }
  prev_ = e.hash;
  prev_id_ = e.id;
  return true;
}

AuditCheck AuditVerifier::finish(const std::optional<std::string>& head) {
  if (check_.first_bad_id) return check_;
  if (prev_.empty()) prev_ = kGenesis;
  if (!head) {
    if (prev_id_ != 0) {
      check_.first_bad_id = 1;
      check_.problem = "the recorded head of the log is missing";
    }
    return check_;
  }
  auto [base, mac] = split_head(*head);
  if (base != head_base(prev_id_, prev_)) {
    check_.first_bad_id = prev_id_ + 1;
    check_.problem = "the log ends at entry " + std::to_string(prev_id_) + " but its recorded head is entry " +
                     base.substr(0, base.find(':')) + " (entries were removed from the end)";
  } else if (key_ && prev_id_ > 0 && (mac.empty() || mac != head_mac(*key_, base))) {
    if (is_keyed_audit_hash(prev_)) {
      check_.first_bad_id = prev_id_ + 1;
      check_.problem = "the recorded head's MAC does not match entry " + std::to_string(prev_id_) +
                       " under the audit key: entries were removed from the end and the head set back";
    } else {
      // No entry is keyed (a plain entry after keyed ones was refused in
      // add()): a log no process with this key has written to, or one
      // rewritten as plain SHA-256 without the key. The key cannot tell
      // which, so the log is not called intact.
      check_.unsigned_head = true;
      check_.problem = "the head is not signed with this key: none of the " + std::to_string(prev_id_) +
                       " entries is keyed and the recorded head carries no valid MAC under the key. Either no "
                       "process with this key has appended to the log yet (the next change made with the key "
                       "keys the log and signs the head), or the log was rewritten as plain SHA-256 by someone "
                       "without the key";
    }
  }
  return check_;
}

AuditEntry next_audit_entry(long long last_id, const std::string& last_hash, TimePoint at, std::string actor,
                            std::string action, std::string target, std::string details,
                            const std::optional<std::string>& key) {
  AuditEntry e;
  e.id = last_id + 1;
  e.prev_hash = last_hash;
  e.at = at;
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.target = std::move(target);
  e.details = std::move(details);
  e.hash = audit_hash(e, key);
  return e;
}

std::string audit_hash(const AuditEntry& e, const std::optional<std::string>& key) {
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
  if (key) return std::string(kKeyedAuditHash) + hmac_sha256_hex(*key, buf);
  return sha256_hex(buf);
}

std::string progress_record(int try_number, double fraction, const std::string& text, TimePoint at) {
  return nlohmann::json{{"try", try_number}, {"fraction", fraction}, {"text", text}, {"at", format_utc(at)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<StoredProgress> read_progress(const std::optional<std::string>& record, int try_number) {
  if (!record) return std::nullopt;
  auto j = nlohmann::json::parse(*record, nullptr, false);
  if (!j.is_object() || !j.contains("try") || !j["try"].is_number_integer() || j["try"].get<int>() != try_number ||
      !j.contains("fraction") || !j["fraction"].is_number() || !j.contains("text") || !j["text"].is_string() ||
      !j.contains("at") || !j["at"].is_string())
    return std::nullopt;
  auto at = parse_utc(j["at"].get<std::string>());
  if (!at) return std::nullopt;
  return StoredProgress{j["fraction"].get<double>(), j["text"].get<std::string>(), *at};
}

}  // namespace baton::store
