// The PostgreSQL Store: scheduler members, partitions and their fences, the
// leader, and commands (intents for a partition's owner); and the advisory
// locks and the LISTEN connection, each on a session of its own.
#include <nlohmann/json.hpp>

#include <set>

#include "postgres_batch.h"
#include "postgres_store.h"

namespace baton::store::postgres {

// ---- members and partitions ----

Status PostgresCluster::heartbeat_member(const MemberRecord& m) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t,
                  "INSERT INTO scheduler_members (member_id, host, pid, started_at, heartbeat_at, lease_expires_at) "
                  "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (member_id) DO UPDATE SET host = $2, pid = $3, "
                  "heartbeat_at = $5, lease_expires_at = $6",
                  params(m.member_id, m.host, m.pid, m.started_at, m.heartbeat_at, m.lease_expires_at));
    if (!r) return r.error();
    return true;
  }));
}

Status PostgresCluster::remove_member(const std::string& member_id) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t, "DELETE FROM scheduler_members WHERE member_id = $1", params(member_id));
    if (!r) return r.error();
    return true;
  }));
}

Result<std::vector<MemberRecord>> PostgresCluster::list_members() {
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<MemberRecord>> {
    auto r = exec(t,
                  "SELECT member_id, host, pid, started_at, heartbeat_at, lease_expires_at FROM scheduler_members "
                  "ORDER BY member_id",
                  {});
    if (!r) return r.error();
    std::vector<MemberRecord> out;
    for (auto row : *r)
      out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<int>(), tp(row[3].as<long long>()),
                     tp(row[4].as<long long>()), tp(row[5].as<long long>())});
    return out;
  });
}

// The member's lock is free (this session could take it): its process is gone.
Result<bool> PostgresCluster::member_alive(const std::string& member_id) {
  return read([&](pqxx::transaction_base& t) -> Result<bool> {
    auto r = exec(t,
                  "SELECT CASE WHEN pg_try_advisory_lock(k) THEN NOT pg_advisory_unlock(k) ELSE true END FROM "
                  "(SELECT hashtext('baton.member:' || current_setting('search_path') || ':' || $1) AS k) x",
                  params(member_id));
    if (!r) return r.error();
    return (*r)[0][0].as<bool>();
  });
}

Result<std::vector<PartitionRecord>> PostgresCluster::list_partitions() {
  return read([&](pqxx::transaction_base& t) { return partitions_in(t); });
}

Result<std::vector<PartitionRecord>> PostgresCluster::assign_partitions(
    const std::vector<std::pair<int, std::optional<std::string>>>& owners, const std::string& actor) {
  return write([&](pqxx::work& t) -> Result<std::vector<PartitionRecord>> {
    json moved = json::array();
    for (auto& [p, owner] : owners) {
      auto r = exec(t,
                    "INSERT INTO partitions (partition_no, owner, epoch, assigned_at) VALUES ($1, $2, 1, $3) "
                    "ON CONFLICT (partition_no) DO UPDATE SET owner = excluded.owner, epoch = partitions.epoch + 1, "
                    "assigned_at = excluded.assigned_at WHERE partitions.owner IS DISTINCT FROM excluded.owner",
                    params(p, owner, now()));
      if (!r) return r.error();
      if (r->affected_rows() > 0) moved.push_back({{"partition", p}, {"owner", owner ? json(*owner) : json(nullptr)}});
    }
    if (!moved.empty()) {
      if (auto a = audit(t, actor, "partitions.assigned", "partitions", json{{"moved", moved}}); !a)
        return a.error();
      if (auto n = exec(t, "SELECT pg_notify('baton_partitions', '')", {}); !n) return n.error();
    }
    return partitions_in(t);
  });
}

Result<std::vector<PartitionRecord>> PostgresCluster::partitions_in(pqxx::transaction_base& t) {
  auto r = exec(t, "SELECT partition_no, owner, epoch, assigned_at FROM partitions ORDER BY partition_no", {});
  if (!r) return r.error();
  std::vector<PartitionRecord> out;
  for (auto row : *r) out.push_back({row[0].as<int>(), opt_text(row[1]), row[2].as<long long>(), opt_tp(row[3])});
  return out;
}

// The share lock holds off a reassignment (an UPDATE of the row) until
// this transaction ends: the epoch checked is the epoch committed with.
// Every partition in one statement.
Result<bool> PostgresBase::check_fences(pqxx::transaction_base& t, const std::vector<Fence>& fences,
                                        const std::vector<long long>& events_done) {
  if (fences.empty()) return true;
  auto st = events_done.empty() ? fences_statement(fences)
                                : with_parts({{"done", events_done_statement(events_done)}}, fences_statement(fences));
  auto r = exec(t, st.sql, st.params);
  if (!r) return r.error();
  std::map<int, long long> epochs;
  for (auto row : *r) epochs[row[0].as<int>()] = row[1].as<long long>();
  for (auto& f : fences) {
    long long now_epoch = epochs.count(f.partition) ? epochs[f.partition] : 0;
    if (now_epoch != f.epoch)
      return Error{"stale_epoch", "partition " + std::to_string(f.partition) + " is at epoch " +
                                      std::to_string(now_epoch) + ", not " + std::to_string(f.epoch) +
                                      ": it moved to another scheduler, and this write is refused"};
  }
  return true;
}

// ---- the leader and commands ----

Status PostgresCluster::set_leader(const std::string& member_id) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t,
                  "INSERT INTO settings (key, value) VALUES ('leader', $1) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  params(member_id));
    if (!r) return r.error();
    return true;
  }));
}

Result<std::optional<std::string>> PostgresCluster::get_leader() {
  return read([&](pqxx::transaction_base& t) -> Result<std::optional<std::string>> {
    auto r = exec(t, "SELECT value FROM settings WHERE key = 'leader'", {});
    if (!r) return r.error();
    if (r->empty()) return std::optional<std::string>();
    return std::optional<std::string>((*r)[0][0].c_str());
  });
}

Status PostgresCluster::break_leader_lock(const std::string& member_id) {
  return status_of(write([&](pqxx::work& t) -> Result<bool> {
    // The advisory lock of a bigint key k shows in pg_locks as classid =
    // the high 32 bits of k, objid = the low 32 bits, objsubid = 1.
    auto r = exec(t,
                  "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid, "
                  "(SELECT hashtext('baton.leader:' || current_setting('search_path'))::bigint AS k) x "
                  "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.database = "
                  "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                  "AND l.classid::bigint = ((x.k >> 32) & 4294967295) AND l.objid::bigint = (x.k & 4294967295) "
                  "AND a.application_name = left('baton leader ' || $1, 63)",
                  params(member_id));
    if (!r) return r.error();
    return true;
  }));
}

CommandRecord PostgresCluster::command_row(const pqxx::row& row) {
  CommandRecord c;
  c.id = row[0].as<long long>();
  c.kind = row[1].c_str();
  c.dag_id = row[2].is_null() ? "" : row[2].c_str();
  c.partition = row[3].as<int>();
  c.payload = row[4].c_str();
  c.created_by = row[5].c_str();
  c.created_at = tp(row[6].as<long long>());
  c.processed_at = opt_tp(row[7]);
  c.status = opt_text(row[8]);
  c.result = opt_text(row[9]);
  return c;
}

Result<long long> PostgresCluster::enqueue_command(const CommandRecord& c) {
  return write([&](pqxx::work& t) -> Result<long long> {
    auto r = exec(t,
                  "INSERT INTO commands (kind, dag_id, partition_no, payload, created_by, created_at) "
                  "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                  params(c.kind, c.dag_id, c.partition, c.payload, c.created_by, now()));
    if (!r) return r.error();
    if (auto n = exec(t, "SELECT pg_notify('baton_events', $1)", params("c:" + std::to_string(c.partition))); !n)
      return n.error();
    return (*r)[0][0].as<long long>();
  });
}

Result<std::vector<CommandRecord>> PostgresCluster::pending_commands(const std::vector<int>& partitions, int limit) {
  if (partitions.empty()) return std::vector<CommandRecord>();
  return read([&](pqxx::transaction_base& t) -> Result<std::vector<CommandRecord>> {
    Column ps;
    for (int p : partitions) ps.add(p);
    static const std::string sql = sql_with("SELECT ", kCommandColumns,
                                            " FROM commands WHERE processed_at IS NULL AND partition_no = "
                                            "ANY($1::int[]) AND created_at > $3 ORDER BY id LIMIT $2");
    // Older than its caller's wait: given up (expire_command), or soon will be.
    auto r = exec(t, sql, params(ps.text(), limit, now() - 30000000LL));
    if (!r) return r.error();
    std::vector<CommandRecord> out;
    for (auto row : *r) out.push_back(command_row(row));
    return out;
  });
}

Result<CommandRecord> PostgresCluster::get_command(long long id) {
  return read([&](pqxx::transaction_base& t) -> Result<CommandRecord> {
    static const std::string sql = sql_with("SELECT ", kCommandColumns, " FROM commands WHERE id = $1");
    auto r = exec(t, sql, params(id));
    if (!r) return r.error();
    if (r->empty()) return Error::not_found("no command " + std::to_string(id));
    return command_row((*r)[0]);
  });
}

Result<bool> PostgresCluster::expire_command(long long id) {
  return write([&](pqxx::work& t) -> Result<bool> {
    auto r = exec(t,
                  "UPDATE commands SET processed_at = $1, status = 'unavailable', result = "
                  "'{\"message\": \"expired: no scheduler member carried it out in time\"}' "
                  "WHERE id = $2 AND processed_at IS NULL",
                  params(now(), id));
    if (!r) return r.error();
    return r->affected_rows() > 0;
  });
}

Result<long long> PostgresCluster::prune_commands(TimePoint before) {
  return write([&](pqxx::work& t) -> Result<long long> {
    auto r = exec(t, "DELETE FROM commands WHERE processed_at < $1", params(before));
    if (!r) return r.error();
    return static_cast<long long>(r->affected_rows());
  });
}

}  // namespace baton::store::postgres

namespace baton::store {

namespace {

class AdvisoryLock final : public SchedulingLock {
 public:
  explicit AdvisoryLock(std::unique_ptr<pqxx::connection> c) : conn_(std::move(c)) {}
  ~AdvisoryLock() override {
    try {
      conn_->disconnect();  // the server drops a session's advisory locks with it
    } catch (const std::exception&) {
    }
  }

  // The lock lives exactly as long as its session: a lost session is a lost lock.
  Status check() override {
    try {
      pqxx::nontransaction n(*conn_);
      n.exec("SELECT 1");
      return {};
    } catch (const std::exception& e) {
      std::string what = e.what();
      return Error{"unavailable", "the session holding the scheduling lock is gone: " + what.substr(0, what.find('\n'))};
    }
  }

 private:
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

// Locks are keyed by the deployment's search_path, so that deployments in
// separate schemas of one database do not exclude each other.
Result<std::unique_ptr<SchedulingLock>> acquire_postgres_scheduling_lock(const DatabaseUrl& url, bool shared) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    pqxx::nontransaction n(*c);
    n.exec("SET application_name = 'baton scheduling lock'");  // for pg_stat_activity
    auto r = n.exec(std::string("SELECT ") + (shared ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock") +
                    "(hashtext('baton.scheduler:' || current_setting('search_path')))");
    if (!r[0][0].as<bool>())
      return Error{"conflict",
                   shared ? "a baton standalone process is scheduling on " + url.masked() +
                                ": stop it before starting baton server or baton scheduler members"
                          : "another baton process is already scheduling on " + url.masked() +
                                " (baton standalone schedules alone; for more than one process run baton server "
                                "and baton scheduler members)"};
    return std::unique_ptr<SchedulingLock>(std::make_unique<AdvisoryLock>(std::move(c)));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable",
                 "PostgreSQL " + url.masked() + ": " + url.mask(what.substr(0, what.find('\n')))};
  }
}

Result<std::unique_ptr<SchedulingLock>> try_postgres_leader_lock(const DatabaseUrl& url, const std::string& member_id) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    pqxx::nontransaction n(*c);
    // Named for break_leader_lock (and pg_stat_activity).
    n.exec_params("SELECT set_config('application_name', left('baton leader ' || $1, 63), false)", member_id);
    auto r = n.exec("SELECT pg_try_advisory_lock(hashtext('baton.leader:' || current_setting('search_path')))");
    if (!r[0][0].as<bool>()) return Error{"conflict", "another member leads"};
    return std::unique_ptr<SchedulingLock>(std::make_unique<AdvisoryLock>(std::move(c)));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable",
                 "PostgreSQL " + url.masked() + ": " + url.mask(what.substr(0, what.find('\n')))};
  }
}

namespace {

class Wake final : public pqxx::notification_receiver {
 public:
  Wake(pqxx::connection_base& c, const std::string& channel, std::set<std::string>& fired)
      : pqxx::notification_receiver(c, channel), fired_(fired) {}
  void operator()(const std::string& payload, int) override {
    fired_.insert(payload.empty() ? channel() : channel() + ":" + payload);
  }

 private:
  std::set<std::string>& fired_;
};

class PostgresListener final : public Listener {
 public:
  PostgresListener(std::unique_ptr<pqxx::connection> c, const std::vector<std::string>& channels)
      : conn_(std::move(c)) {
    for (auto& ch : channels) receivers_.push_back(std::make_unique<Wake>(*conn_, ch, fired_));
  }
  ~PostgresListener() override {
    receivers_.clear();
    try {
      conn_->disconnect();
    } catch (const std::exception&) {
    }
  }

  Result<std::vector<std::string>> wait(Duration timeout) override {
    try {
      fired_.clear();
      conn_->get_notifs();
      if (fired_.empty()) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
        if (us < 0) us = 0;
        conn_->await_notification(us / 1000000, us % 1000000);
      }
      return std::vector<std::string>(fired_.begin(), fired_.end());
    } catch (const std::exception& e) {
      std::string what = e.what();
      return Error{"unavailable", "listening for notifications: " + what.substr(0, what.find('\n'))};
    }
  }

 private:
  std::unique_ptr<pqxx::connection> conn_;
  std::set<std::string> fired_;
  std::vector<std::unique_ptr<Wake>> receivers_;
};

}  // namespace

Result<std::unique_ptr<SchedulingLock>> hold_postgres_member_lock(const DatabaseUrl& url, const std::string& member_id) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    pqxx::nontransaction n(*c);
    n.exec("SET application_name = 'baton member lock'");
    auto r = n.exec_params(
        "SELECT pg_try_advisory_lock(hashtext('baton.member:' || current_setting('search_path') || ':' || $1))",
        member_id);
    if (!r[0][0].as<bool>()) return Error{"conflict", "member " + member_id + " is already running"};
    return std::unique_ptr<SchedulingLock>(std::make_unique<AdvisoryLock>(std::move(c)));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable",
                 "PostgreSQL " + url.masked() + ": " + url.mask(what.substr(0, what.find('\n')))};
  }
}

Result<std::unique_ptr<Listener>> open_postgres_listener(const DatabaseUrl& url, const std::vector<std::string>& channels) {
  try {
    auto c = std::make_unique<pqxx::connection>(url.conninfo);
    {
      pqxx::nontransaction n(*c);
      n.exec("SET application_name = 'baton listener'");
    }
    auto l = std::make_unique<PostgresListener>(std::move(c), channels);
    return std::unique_ptr<Listener>(std::move(l));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Error{"unavailable",
                 "PostgreSQL " + url.masked() + ": " + url.mask(what.substr(0, what.find('\n')))};
  }
}

}  // namespace baton::store
