// The SQLite Store: scheduler members, partitions and their fences, the
// leader; commands across processes are PostgreSQL's (unsupported here).
#include <nlohmann/json.hpp>

#include "sqlite_store.h"

namespace baton::store::sqlite {

// ---- members and partitions ----

Status SqliteCluster::heartbeat_member(const MemberRecord& m) {
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare(
        "INSERT INTO scheduler_members (member_id, host, pid, started_at, heartbeat_at, lease_expires_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(member_id) DO UPDATE SET host = ?2, pid = ?3, "
        "heartbeat_at = ?5, lease_expires_at = ?6");
    st.bind(1, m.member_id).bind(2, m.host).bind(3, m.pid).bind(4, us(m.started_at)).bind(5, us(m.heartbeat_at));
    st.bind(6, us(m.lease_expires_at));
    if (st.step() != SQLITE_DONE) return db_error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Status SqliteCluster::remove_member(const std::string& member_id) {
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare("DELETE FROM scheduler_members WHERE member_id = ?");
    st.bind(1, member_id);
    if (st.step() != SQLITE_DONE) return db_error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Result<std::vector<MemberRecord>> SqliteCluster::list_members() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT member_id, host, pid, started_at, heartbeat_at, lease_expires_at FROM scheduler_members "
      "ORDER BY member_id");
  std::vector<MemberRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.text(0), st.text(1), static_cast<int>(st.i64(2)), tp(st.i64(3)), tp(st.i64(4)), tp(st.i64(5))});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<bool> SqliteCluster::member_alive(const std::string&) { return true; }

Result<std::vector<PartitionRecord>> SqliteCluster::list_partitions() {
  std::lock_guard lock(mu_);
  return partitions_locked();
}

Result<std::vector<PartitionRecord>> SqliteCluster::assign_partitions(
    const std::vector<std::pair<int, std::optional<std::string>>>& owners, const std::string& actor) {
  return write([&]() -> Result<std::vector<PartitionRecord>> {
    json moved = json::array();
    for (auto& [p, owner] : owners) {
      auto st = db_.prepare(
          "INSERT INTO partitions (partition_no, owner, epoch, assigned_at) VALUES (?1, ?2, 1, ?3) "
          "ON CONFLICT(partition_no) DO UPDATE SET owner = ?2, epoch = epoch + 1, assigned_at = ?3 "
          "WHERE owner IS NOT ?2");
      st.bind(1, p).bind(2, owner).bind(3, now());
      if (st.step() != SQLITE_DONE) return db_error();
      if (db_.changes() > 0) moved.push_back({{"partition", p}, {"owner", owner ? json(*owner) : json(nullptr)}});
    }
    if (!moved.empty())
      if (auto a = audit_locked(actor, "partitions.assigned", "partitions", json{{"moved", moved}}); !a)
        return a.error();
    return partitions_locked();
  });
}

Result<std::vector<PartitionRecord>> SqliteCluster::partitions_locked() {
  auto st = db_.prepare("SELECT partition_no, owner, epoch, assigned_at FROM partitions ORDER BY partition_no");
  std::vector<PartitionRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({static_cast<int>(st.i64(0)), opt_text(st, 1), st.i64(2), opt_tp(st.opt_i64(3))});
  if (rc != SQLITE_DONE) return db_error();
  return out;
}

Result<bool> SqliteBase::check_fences_locked(const std::vector<Fence>& fences) {
  for (auto& f : fences) {
    auto st = db_.prepare("SELECT epoch FROM partitions WHERE partition_no = ?");
    st.bind(1, f.partition);
    int rc = st.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error();
    long long now_epoch = rc == SQLITE_ROW ? st.i64(0) : 0;
    if (now_epoch != f.epoch) return stale_epoch(f, now_epoch);
  }
  return true;
}

Error SqliteBase::stale_epoch(const Fence& f, long long now_epoch) {
  return Error{"stale_epoch", "partition " + std::to_string(f.partition) + " is at epoch " +
                                  std::to_string(now_epoch) + ", not " + std::to_string(f.epoch) +
                                  ": it moved to another scheduler, and this write is refused"};
}

// ---- the leader, and commands (PostgreSQL's: remote_unsupported) ----

Status SqliteCluster::set_leader(const std::string& member_id) {
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare(
        "INSERT INTO settings (key, value) VALUES ('leader', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    st.bind(1, member_id);
    if (st.step() != SQLITE_DONE) return db_error();
    return true;
  });
  return r ? Status() : Status(r.error());
}

Result<std::optional<std::string>> SqliteCluster::get_leader() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT value FROM settings WHERE key = 'leader'");
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return db_error();
  return std::optional<std::string>(st.text(0));
}

Status SqliteCluster::break_leader_lock(const std::string&) { return remote_unsupported(); }

Result<long long> SqliteCluster::enqueue_command(const CommandRecord&) { return remote_unsupported(); }

Result<std::vector<CommandRecord>> SqliteCluster::pending_commands(const std::vector<int>&, int) {
  return remote_unsupported();
}

Result<CommandRecord> SqliteCluster::get_command(long long) { return remote_unsupported(); }

Result<bool> SqliteCluster::expire_command(long long) { return remote_unsupported(); }

Result<long long> SqliteCluster::prune_commands(TimePoint) { return 0LL; }  // SQLite has none

}  // namespace baton::store::sqlite
