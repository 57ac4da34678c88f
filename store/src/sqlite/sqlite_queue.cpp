// The SQLite Store: remote workers are PostgreSQL's (unsupported here, their
// logs are files of the one process); checkpoints.
#include "sqlite_store.h"

namespace baton::store::sqlite {

// SQLite admits one scheduling process, with its workers inside it: the
// queue for remote workers and intents across processes are PostgreSQL's.
Error SqliteBase::remote_unsupported() {
  return Error{"unsupported",
               "remote workers and schedulers in other processes need PostgreSQL (baton server --db "
               "postgresql://...); baton standalone on SQLite runs its tasks itself"};
}

// ---- remote workers ----

Result<std::vector<QueueItem>> SqliteQueue::claim_tasks(const std::string&, const std::vector<std::string>&, int) {
  return remote_unsupported();
}

Result<std::vector<std::string>> SqliteQueue::heartbeat_tasks(const std::string&, const std::vector<std::string>&) {
  return remote_unsupported();
}

Result<std::map<std::string, long long>> SqliteQueue::held_pool_slots() { return remote_unsupported(); }
Result<std::map<std::string, long long>> SqliteQueue::held_by_namespace() { return remote_unsupported(); }

// No try is ever claimed here (apply refuses to queue one), so no worker
// holds one: whatever a worker sends is refused and nothing is stored.
Status SqliteQueue::save_progress(const TryProgress&) { return remote_unsupported(); }

Status SqliteQueue::report_task(const TryProgress&, const std::string&) { return remote_unsupported(); }

// One call, as on PostgreSQL (never a report, then a claim apart): refused
// whole, with nothing stored and nothing claimed.
Result<std::vector<QueueItem>> SqliteQueue::report_and_claim(const TryProgress&, const std::string&,
                                                             const std::vector<std::string>&, int) {
  return remote_unsupported();
}

Result<QueueStore::ReportsTaken> SqliteQueue::report_tasks(const std::string&, const std::vector<TryReport>&,
                                                           const std::vector<std::string>&, int) {
  return remote_unsupported();
}

Result<std::vector<WorkerEvent>> SqliteQueue::worker_events(const std::vector<int>&, int) {
  return remote_unsupported();
}

Result<std::vector<std::string>> SqliteQueue::lost_tries(const std::vector<std::string>&, TimePoint) {
  return remote_unsupported();
}

Result<std::optional<std::string>> SqliteQueue::read_log(long long, int, long long, long long) {
  return std::optional<std::string>();  // every log is a file of the one process
}

// ---- checkpoints ----

Status SqliteQueue::save_checkpoint(long long ti_id, const std::string& attempt_token, const std::string& data) {
  auto r = write([&]() -> Result<bool> {
    auto st = db_.prepare(
        "UPDATE task_instances SET checkpoint = ?, checkpoint_at = ?, last_activity_at = ? "
        "WHERE id = ? AND attempt_token = ?");
    long long at = now();
    st.bind(1, data).bind(2, at).bind(3, at).bind(4, ti_id).bind(5, attempt_token);
    if (st.step() != SQLITE_DONE) return db_error();
    if (db_.changes() == 0)
      return Error{"conflict", "stale attempt token: the try was failed or handed to another worker"};
    return true;
  });
  return r ? Status() : Status(r.error());
}

Result<std::optional<std::string>> SqliteQueue::load_checkpoint(long long ti_id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT checkpoint FROM task_instances WHERE id = ?");
  st.bind(1, ti_id);
  int rc = st.step();
  if (rc == SQLITE_DONE) return Error::not_found("no task instance " + std::to_string(ti_id));
  if (rc != SQLITE_ROW) return db_error();
  if (st.is_null(0)) return std::optional<std::string>();
  return std::optional<std::string>(st.text(0));
}

}  // namespace baton::store::sqlite
