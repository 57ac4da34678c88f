// The SQLite Store: the notification outbox, SLA misses, state counts for
// metrics, and the audit log's hash chain.
#include <nlohmann/json.hpp>

#include <limits>

#include "sqlite_lists.h"
#include "sqlite_store.h"

namespace baton::store::sqlite {

namespace {

const std::string kGenesisHash(64, '0');

// The details of the audit.keyed entry that starts the keyed chain.
std::string keyed_marker_details(long long last_plain) {
  json d = {{"algorithm", "HMAC-SHA-256"},
            {"note", "from this entry on, every hash is an HMAC under the audit key; entries up to " +
                         std::to_string(last_plain) + " are plain SHA-256, sealed by this one"}};
  return d.dump();
}

const char* kNotificationColumns =
    "id, event, dag_id, target_kind, target, payload, attempts, next_attempt_at, state, last_error, created_at";

}  // namespace

// ---- notifications ----

// Claimed for 5 minutes, as on PostgreSQL (where members share the outbox).
Result<std::vector<NotificationRecord>> SqliteAudit::due_notifications(TimePoint at, int limit) {
  return write([&]() -> Result<std::vector<NotificationRecord>> {
    static const std::string sql = std::string("SELECT ") + kNotificationColumns +
                                   " FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? "
                                   "ORDER BY next_attempt_at, id LIMIT ?";
    auto st = db_.prepare(sql.c_str());
    st.bind(1, us(at)).bind(2, limit);
    auto rows = notification_rows(st);
    if (!rows) return rows;
    TimePoint lease = at + std::chrono::minutes(5);
    for (auto& n : *rows) {
      auto u = db_.prepare("UPDATE notifications SET next_attempt_at = ? WHERE id = ?");
      u.bind(1, us(lease)).bind(2, n.id);
      if (u.step() != SQLITE_DONE) return db_error();
      n.next_attempt_at = lease;
    }
    return rows;
  });
}

Result<std::vector<NotificationRecord>> SqliteAudit::list_notifications(const std::string& dag_id, int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(kNotificationsSql);
  st.bind(1, dag_id).bind(2, limit);
  return notification_rows(st);
}

Status SqliteAudit::update_notification(const NotificationRecord& n) {
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare(
        "UPDATE notifications SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?");
    st.bind(1, n.state).bind(2, n.attempts).bind(3, us(n.next_attempt_at)).bind(4, n.last_error).bind(5, n.id);
    if (st.step() != SQLITE_DONE) return db_error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Result<std::vector<NotificationRecord>> SqliteAudit::notification_rows(Stmt& st) {
  std::vector<NotificationRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5),
                   static_cast<int>(st.i64(6)), tp(st.i64(7)), st.text(8), opt_text(st, 9), tp(st.i64(10))});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Status SqliteAudit::insert_notification_locked(const NotificationRecord& n) {
  auto st = db_.prepare(
      "INSERT INTO notifications (event, dag_id, target_kind, target, payload, attempts, next_attempt_at, state, "
      "created_at) VALUES (?, ?, ?, ?, ?, 0, ?, 'pending', ?)");
  st.bind(1, n.event).bind(2, n.dag_id).bind(3, n.target_kind).bind(4, n.target).bind(5, n.payload);
  st.bind(6, us(n.next_attempt_at)).bind(7, now());
  if (st.step() != SQLITE_DONE) return db_error();
  return {};
}

// ---- SLA misses and counts ----

Result<bool> SqliteAudit::record_sla_miss(const SlaMiss& m) {
  return write([&]() { return insert_sla_miss_locked(m); });
}

// True when the miss is new.
Result<bool> SqliteAudit::insert_sla_miss_locked(const SlaMiss& m) {
  auto st = db_.prepare(
      "INSERT INTO sla_misses (dag_id, run_id, task_id, kind, deadline, detected_at) VALUES (?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(dag_id, run_id, task_id, kind) DO NOTHING");
  st.bind(1, m.dag_id).bind(2, m.run_id).bind(3, m.task_id).bind(4, m.kind).bind(5, us(m.deadline));
  st.bind(6, us(m.detected_at));
  if (st.step() != SQLITE_DONE) return db_error();
  return db_.changes() > 0;
}

// A list since an instant starts after the id before the first row at or
// after it (rows older than that are never walked); no instant, after 0;
// kNoneSince when no row is that recent.
Result<long long> SqliteAudit::first_since(const char* sql, std::optional<long long> since) {
  if (!since) return 0LL;
  auto st = db_.prepare(sql);
  st.bind(1, *since);
  if (st.step() != SQLITE_ROW) return db_error();
  return st.is_null(0) ? kNoneSince : st.i64(0) - 1;
}

Result<std::vector<SlaMiss>> SqliteAudit::list_sla_misses(const std::optional<std::string>& dag_id,
                                                          std::optional<TimePoint> since, long long after_id,
                                                          int limit) {
  std::lock_guard lock(mu_);
  std::vector<SlaMiss> out;
  auto first = first_since(kSlaMissesFirstSinceSql, us(since));
  if (!first) return first.error();
  if (*first == kNoneSince) return out;
  auto st = db_.prepare(sla_misses_sql(dag_id.has_value()));
  st.bind(1, std::max(after_id, *first)).bind(2, dag_id).bind(3, us(since)).bind(4, limit);
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), tp(st.i64(5)), tp(st.i64(6))});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<StateCounts> SqliteAudit::count_states() {
  std::lock_guard lock(mu_);
  StateCounts c;
  // The counters the triggers keep (migration 0007), and the queued task
  // instances per queue from their partial index: never a count of history.
  {
    auto st = db_.prepare("SELECT subject, state, n FROM state_counts WHERE n <> 0");
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      std::string subject = st.text(0);
      if (subject == "run") c.runs[st.text(1)] = st.i64(2);
      else if (subject == "task_instance") c.task_instances[st.text(1)] = st.i64(2);
      else if (subject == "sla_miss") c.sla_misses = st.i64(2);
    }
    if (rc != SQLITE_DONE) return db_error();
  }
  auto st = db_.prepare("SELECT queue, count(*) FROM task_instances WHERE state = 'queued' GROUP BY queue");
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) c.queued[st.text(0)] = st.i64(1);
  if (rc != SQLITE_DONE) return db_error();
  return c;
}

// The triggers update state_counts itself (one writer at a time here).
Status SqliteAudit::fold_counts() { return {}; }

// ---- audit ----

Result<AuditEntry> SqliteAudit::append_audit(const std::string& actor, const std::string& action,
                                             const std::string& target, const std::string& details_json) {
  json details;
  try {
    details = json::parse(details_json);
  } catch (const std::exception&) {
    return Error::invalid("audit details must be a JSON object");
  }
  if (!details.is_object()) return Error::invalid("audit details must be a JSON object");
  return write([&]() { return audit_locked(actor, action, target, details); });
}

// With the audit key, after a plain entry, the chain becomes keyed: an
// audit.keyed entry first (store.h), then the entry itself; an empty log is
// keyed from its first entry.
Result<AuditEntry> SqliteBase::audit_locked(const std::string& actor, const std::string& action,
                                             const std::string& target, const json& details) {
  AuditEntry last;
  last.hash = kGenesisHash;
  auto st = db_.prepare("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
  if (st.step() == SQLITE_ROW) {
    last.id = st.i64(0);
    last.hash = st.text(1);
  }
  auto head = db_.prepare("SELECT value FROM settings WHERE key = 'audit_head'");
  std::optional<std::string> head_value;
  if (head.step() == SQLITE_ROW) head_value = head.text(0);
  if (auto ok = check_audit_append(last.id, last.hash, head_value, audit_key_); !ok) return ok.error();
  auto append = [&](const std::string& who, const std::string& what, const std::string& on,
                    const std::string& text) -> Result<AuditEntry> {
    AuditEntry e = next_audit_entry(last.id, last.hash, clock_.now(), who, what, on, text, audit_key_);
    auto ins = db_.prepare(
        "INSERT INTO audit_log (id, at, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, "
        "?)");
    ins.bind(1, e.id).bind(2, e.at.time_since_epoch().count()).bind(3, e.actor).bind(4, e.action);
    ins.bind(5, e.target).bind(6, e.details).bind(7, e.prev_hash).bind(8, e.hash);
    if (ins.step() != SQLITE_DONE) return db_error();
    last = e;
    return e;
  };
  if (audit_key_ && last.id > 0 && !is_keyed_audit_hash(last.hash))
    if (auto m = append("system", kAuditKeyedAction, "audit", keyed_marker_details(last.id)); !m) return m.error();
  auto e = append(actor, action, target, details.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!e) return e;
  auto put = db_.prepare(
      "INSERT INTO settings (key, value) VALUES ('audit_head', ?) ON CONFLICT(key) DO UPDATE SET value = "
      "excluded.value");
  put.bind(1, audit_head(e->id, e->hash, audit_key_));
  if (put.step() != SQLITE_DONE) return db_error();
  return e;
}

Result<std::vector<AuditEntry>> SqliteAudit::list_audit(const AuditFilter& f) {
  std::lock_guard lock(mu_);
  std::vector<AuditEntry> out;
  auto since = f.since ? std::optional<long long>(f.since->time_since_epoch().count()) : std::nullopt;
  auto first = first_since(kAuditFirstSinceSql, since);
  if (!first) return first.error();
  if (*first == kNoneSince) return out;
  auto st = db_.prepare(audit_sql(f.dag_id.has_value(), f.action.has_value(), f.actor.has_value(), f.newest_first));
  st.bind(1, std::max(f.after_id, *first)).bind(2, f.dag_id).bind(3, f.action).bind(4, f.actor);
  st.bind(5, since);
  st.bind(6, f.limit).bind(7, f.before_id > 0 ? f.before_id : std::numeric_limits<long long>::max());
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(audit_row(st));
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<AuditCheck> SqliteAudit::verify_audit() {
  std::lock_guard lock(mu_);
  AuditVerifier v(audit_key_);
  auto st = db_.prepare("SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log ORDER BY id");
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    if (!v.add(audit_row(st))) return v.finish(std::nullopt);
  if (rc != SQLITE_DONE) return db_error();
  auto head = db_.prepare("SELECT value FROM settings WHERE key = 'audit_head'");
  return v.finish(head.step() == SQLITE_ROW ? std::optional<std::string>(head.text(0)) : std::nullopt);
}

AuditEntry SqliteAudit::audit_row(const Stmt& st) {
  return AuditEntry{st.i64(0), tp(st.i64(1)), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6), st.text(7)};
}

}  // namespace baton::store::sqlite
