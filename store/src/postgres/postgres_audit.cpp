// The PostgreSQL Store: the notification outbox, SLA misses, state counts
// for metrics, and the audit log's hash chain.
#include <nlohmann/json.hpp>

#include <limits>

#include "postgres_lists.h"
#include "postgres_store.h"

namespace baton::store::postgres {

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

std::vector<NotificationRecord> notification_rows(const pqxx::result& r) {
  std::vector<NotificationRecord> out;
  for (auto row : r)
    out.push_back({row[0].as<long long>(), row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str(),
                   row[5].c_str(), row[6].as<int>(), tp(row[7].as<long long>()), row[8].c_str(), opt_text(row[9]),
                   tp(row[10].as<long long>())});
  return out;
}

AuditEntry audit_row(const pqxx::row& r) {
  return AuditEntry{r[0].as<long long>(), tp(r[1].as<long long>()), r[2].c_str(), r[3].c_str(),
                    r[4].c_str(),         r[5].c_str(),              r[6].c_str(), r[7].c_str()};
}

}  // namespace

// ---- notifications ----

// Members share the outbox: what one takes is claimed (its next attempt
// moved 5 minutes on, rows another holds skipped) until it records the
// outcome; a member that dies in between leaves it to the others then.
Result<std::vector<NotificationRecord>> PostgresAudit::due_notifications(TimePoint at, int limit) {
  static const std::string sql = sql_with(
      "UPDATE notifications SET next_attempt_at = $3 WHERE id IN (SELECT id FROM notifications WHERE state = "
      "'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ",
      kNotificationColumns, "");
  return write([&](pqxx::work& t) -> Result<std::vector<NotificationRecord>> {
    auto r = exec(t, sql, params(at, limit, at + std::chrono::minutes(5)));
    if (!r) return r.error();
    return notification_rows(*r);
  });
}

Result<std::vector<NotificationRecord>> PostgresAudit::list_notifications(const std::string& dag_id, int limit) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<NotificationRecord>> {
    auto r = exec(t, kNotificationsSql, params(dag_id, limit));
    if (!r) return r.error();
    return notification_rows(*r);
  });
}

Status PostgresAudit::update_notification(const NotificationRecord& n) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t,
                  "UPDATE notifications SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4 "
                  "WHERE id = $5",
                  params(n.state, n.attempts, n.next_attempt_at, n.last_error, n.id));
    if (!r) return r.error();
    return true;
  }));
}

Status PostgresAudit::insert_notification(pqxx::transaction_base& t, const NotificationRecord& n) {
  auto r = exec(t,
                "INSERT INTO notifications (event, dag_id, target_kind, target, payload, attempts, "
                "next_attempt_at, state, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, 'pending', $7)",
                params(n.event, n.dag_id, n.target_kind, n.target, n.payload, n.next_attempt_at, now()));
  if (!r) return r.error();
  return {};
}

// ---- SLA misses and counts ----

Result<bool> PostgresAudit::record_sla_miss(const SlaMiss& m) {
  return write([&](pqxx::work& t) { return insert_sla_miss(t, m); });
}

// True when the miss is new.
Result<bool> PostgresAudit::insert_sla_miss(pqxx::transaction_base& t, const SlaMiss& m) {
  auto r = exec(t,
                "INSERT INTO sla_misses (dag_id, run_id, task_id, kind, deadline, detected_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dag_id, run_id, task_id, kind) DO NOTHING",
                params(m.dag_id, m.run_id, m.task_id, m.kind, m.deadline, m.detected_at));
  if (!r) return r.error();
  return r->affected_rows() > 0;
}

// A list since an instant starts after the id before the first row at or
// after it (rows older than that are never walked); no instant, after 0;
// kNoneSince when no row is that recent.
Result<long long> PostgresAudit::first_since(pqxx::transaction_base& t, const std::string& sql,
                                             std::optional<TimePoint> since) {
  if (!since) return 0LL;
  auto r = exec(t, sql, params(*since));
  if (!r) return r.error();
  return (*r)[0][0].is_null() ? kNoneSince : (*r)[0][0].as<long long>() - 1;
}

Result<std::vector<SlaMiss>> PostgresAudit::list_sla_misses(const std::optional<std::string>& dag_id,
                                                            std::optional<TimePoint> since, long long after_id,
                                                            int limit) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<SlaMiss>> {
    std::vector<SlaMiss> out;
    auto first = first_since(t, kSlaMissesFirstSinceSql, since);
    if (!first) return first.error();
    if (*first == kNoneSince) return out;
    auto r = exec(t, sla_misses_sql(dag_id.has_value()), params(std::max(after_id, *first), dag_id, since, limit));
    if (!r) return r.error();
    for (auto row : *r)
      out.push_back({row[0].as<long long>(), row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str(),
                     tp(row[5].as<long long>()), tp(row[6].as<long long>())});
    return out;
  });
}

Result<StateCounts> PostgresAudit::count_states() {
  // Folded first, so that the deltas summed below stay few; a fold another
  // process is doing is not waited for, and a failed one only means more
  // deltas to sum.
  if (auto f = fold_counts(); !f && f.error().code == "unavailable") return f.error();
  return snapshot([&](pqxx::transaction_base& t) -> Result<StateCounts> {
    StateCounts c;
    // The counters the triggers keep (migration 0007: the totals and the
    // deltas not folded yet), and the queued task instances per queue from
    // their partial index: never a count of history.
    for (auto row : t.exec("SELECT subject, state, sum(n) FROM (SELECT subject, state, n FROM state_counts "
                           "UNION ALL SELECT subject, state, n FROM state_count_deltas) AS c GROUP BY subject, state")) {
      std::string_view subject = row[0].c_str();
      long long n = row[2].as<long long>();
      if (n == 0) continue;
      if (subject == "run") c.runs[row[1].c_str()] = n;
      else if (subject == "task_instance") c.task_instances[row[1].c_str()] = n;
      else if (subject == "sla_miss") c.sla_misses = n;
    }
    for (auto row : t.exec("SELECT queue, count(*) FROM task_instances WHERE state = 'queued' GROUP BY queue"))
      c.queued[row[0].c_str()] = row[1].as<long long>();
    return c;
  });
}

// One short transaction that locks only the totals' rows, which nothing
// but a fold writes, under a try-lock per deployment (its search_path):
// while one process folds, the others skip. The deltas it deletes are
// those committed before it began; later ones wait for the next fold.
Status PostgresAudit::fold_counts() {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto got = exec(t,
                    "SELECT pg_try_advisory_xact_lock(hashtext('baton.fold_counts:' || "
                    "current_setting('search_path')))",
                    {});
    if (!got) return got.error();
    if (!(*got)[0][0].as<bool>()) return true;
    auto r = exec(t,
                  "WITH d AS (DELETE FROM state_count_deltas RETURNING subject, state, n) "
                  "INSERT INTO state_counts AS c (subject, state, n) "
                  "SELECT subject, state, sum(n) FROM d GROUP BY subject, state "
                  "ON CONFLICT (subject, state) DO UPDATE SET n = c.n + excluded.n",
                  {});
    if (!r) return r.error();
    return true;
  }));
}

// ---- audit ----

Result<AuditEntry> PostgresAudit::append_audit(const std::string& actor, const std::string& action,
                                               const std::string& target, const std::string& details_json) {
  json details = json::parse(details_json, nullptr, false);
  if (details.is_discarded() || !details.is_object()) return Error::invalid("audit details must be a JSON object");
  return write([&](pqxx::work& t) { return audit(t, actor, action, target, details); });
}

// Appends to the chain. The head row's lock serializes appends from every
// process until this transaction ends, so ids stay contiguous. With the
// audit key, after a plain entry, the chain becomes keyed: an audit.keyed
// entry first (store.h), then the entry itself; an empty log is keyed from
// its first entry.
Result<AuditEntry> PostgresBase::audit(pqxx::work& t, const std::string& actor, const std::string& action,
                                        const std::string& target, const json& details) {
  auto e = audit_many(t, {audit_item(actor, action, target, details)});
  if (!e) return e.error();
  return std::move(e->back());
}

PostgresBase::AuditItem PostgresBase::audit_item(std::string actor, std::string action, std::string target,
                                                 const json& details) {
  return {std::move(actor), std::move(action), std::move(target),
          details.dump(-1, ' ', false, json::error_handler_t::replace)};
}

// Several entries in a row, in four statements whatever their number (10,000
// DAGs registered at a cold start are 10,000 entries): the head locked and
// the last entry read once, the chain computed here, the rows inserted in
// one statement, the head moved once. The entries come back in order, the
// keyed marker (if one was needed) not among them.
Result<std::vector<AuditEntry>> PostgresBase::audit_many(pqxx::work& t, const std::vector<AuditItem>& items) {
  std::vector<AuditEntry> out;
  if (items.empty()) return out;
  auto head = exec(t, "SELECT value FROM settings WHERE key = 'audit_head' FOR UPDATE", {});
  if (!head) return head.error();
  AuditEntry last;
  last.hash = kGenesisHash;
  auto found = exec(t, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", {});
  if (!found) return found.error();
  if (!found->empty()) {
    last.id = (*found)[0][0].as<long long>();
    last.hash = (*found)[0][1].c_str();
  }
  std::optional<std::string> head_value;
  if (!head->empty()) head_value = (*head)[0][0].c_str();
  if (auto ok = check_audit_append(last.id, last.hash, head_value, audit_key_); !ok) return ok.error();
  Column id, at, who, what, on, text, prev_hash, hash;
  TimePoint now = clock_.now();
  auto append = [&](const std::string& actor, const std::string& action, const std::string& target,
                    const std::string& details) {
    AuditEntry e = next_audit_entry(last.id, last.hash, now, actor, action, target, details, audit_key_);
    id.add(e.id);
    at.add(e.at);
    who.add(e.actor);
    what.add(e.action);
    on.add(e.target);
    text.add(e.details);
    prev_hash.add(e.prev_hash);
    hash.add(e.hash);
    last = e;
    return e;
  };
  if (audit_key_ && last.id > 0 && !is_keyed_audit_hash(last.hash))
    append("system", kAuditKeyedAction, "audit", keyed_marker_details(last.id));
  out.reserve(items.size());
  for (auto& i : items)
    out.push_back(append(i.actor, i.action, i.target, i.details));
  if (auto r = exec(t,
                    "INSERT INTO audit_log (id, at, actor, action, target, details, prev_hash, hash) "
                    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], "
                    "$6::text[], $7::text[], $8::text[])",
                    params(id.text(), at.text(), who.text(), what.text(), on.text(), text.text(), prev_hash.text(),
                           hash.text()));
      !r)
    return r.error();
  if (auto r = exec(t,
                    "INSERT INTO settings (key, value) VALUES ('audit_head', $1) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params(audit_head(last.id, last.hash, audit_key_)));
      !r)
    return r.error();
  return out;
}

Result<std::vector<AuditEntry>> PostgresAudit::list_audit(const AuditFilter& f) {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<AuditEntry>> {
    std::vector<AuditEntry> out;
    auto first = first_since(t, kAuditFirstSinceSql, f.since);
    if (!first) return first.error();
    if (*first == kNoneSince) return out;
    Params p;
    p.add(std::max(f.after_id, *first)).add(f.dag_id).add(f.action).add(f.actor).add(f.since).add(f.limit);
    p.add(f.before_id > 0 ? f.before_id : std::numeric_limits<long long>::max());
    auto r = exec(t, audit_sql(f.dag_id.has_value(), f.action.has_value(), f.actor.has_value(), f.newest_first), p);
    if (!r) return r.error();
    for (auto row : *r) out.push_back(audit_row(row));
    return out;
  });
}

Result<AuditCheck> PostgresAudit::verify_audit() {
  return snapshot([&](pqxx::transaction_base& t) -> Result<AuditCheck> {
    AuditVerifier v(audit_key_);
    auto r = exec(t, "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log ORDER BY id", {});
    if (!r) return r.error();
    for (auto row : *r)
      if (!v.add(audit_row(row))) return v.finish(std::nullopt);
    auto head = exec(t, "SELECT value FROM settings WHERE key = 'audit_head'", {});
    if (!head) return head.error();
    return v.finish(head->empty() ? std::nullopt : std::optional<std::string>((*head)[0][0].c_str()));
  });
}

}  // namespace baton::store::postgres
