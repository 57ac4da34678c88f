// Intents across processes (SPEC §9): a Control call made on one process (the
// API of `baton server`) and carried out by the scheduler that owns the DAG's
// partition, through the store's commands table. This header is the one
// encoding of each call and its answer, for both ends: RemoteControl writes
// requests and reads answers; the Scheduler reads requests and writes answers
// in the same transaction as the changes they made.
#pragma once

#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"

namespace baton::scheduler::commands {

// The command the calling thread is carrying out, if any (id 0: none): the
// scheduler's loop writes its answer with the batch of its changes.
struct Current {
  long long id = 0;
  std::string dag_id;
};
Current& current();

// Requests (the command's payload).
std::string encode_trigger(const TriggerRequest& r);
std::string encode_run(const std::string& run_id);
std::string encode_clear(const std::string& run_id, const std::string& task_id, bool downstream, bool latest);
std::string encode_mark(const std::string& run_id, const std::string& task_id, TaskState to);
std::string encode_paused(bool paused);
std::string encode_backfill(const BackfillRequest& r);
std::string encode_backfill_id(long long id);
std::string encode_waiting_for(const std::string& run_id, const std::string& task_id, int map_index);

// Carries a command out through `control` (the owner's Scheduler): the
// answer is written by the scheduler itself (see Current).
void execute(Control& control, const store::CommandRecord& c);

// Answers.
store::CommandResult answer(long long id, const Status& s);
store::CommandResult answer(long long id, const Result<TriggerResult>& r);
store::CommandResult answer(long long id, const Result<BackfillResult>& r);
store::CommandResult answer(long long id, const Result<std::vector<std::string>>& r);
store::CommandResult answer(long long id, const Result<SchedulerMetrics>& r);

Status status_of(const store::CommandRecord& c);
Result<TriggerResult> trigger_of(const store::CommandRecord& c);
Result<BackfillResult> backfill_of(const store::CommandRecord& c);
Result<std::vector<std::string>> reasons_of(const store::CommandRecord& c);

}  // namespace baton::scheduler::commands
