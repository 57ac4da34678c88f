// ShellRunner: runs one try of a shell task as its own process group
// (`/bin/sh -c COMMAND`), with the environment of SPEC §5, its stdout and
// stderr captured to a log file (capped, truncation marked), a timeout that
// sends SIGTERM to the whole group and SIGKILL after the grace, the checkpoint
// handed in and read back, and the output file read on success.
//
// run() blocks the calling thread (a worker slot) until the try ends. It is
// safe to call from several threads at once, one try each. Setting the
// `cancel` flag from any thread ends the try like a timeout (SIGTERM to the
// group, grace, SIGKILL) with outcome `canceled`.
//
// The try's files are `checkpoint` and `output.json` in scratch_dir (named by
// BATON_CHECKPOINT_FILE and BATON_OUTPUT_FILE); stale ones are removed at the
// start. The checkpoint is read at every heartbeat, so a task should replace
// it atomically (write a temporary file, then rename). The task's environment
// is the worker's minus the worker's own BATON_* settings (token, database
// URL), plus the task's `env`, plus the try's BATON_* variables, which win
// (BATON_PARAMS, and BATON_PARAM_<NAME> for each param whose name is an
// identifier: a string as it is, any other value as JSON).
// When the main child ends, whatever it left running in its group is killed.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/progress.h"
#include "baton/core/time.h"

namespace baton::executor {

struct ShellTry {
  // Identity, for the environment.
  std::string dag_id, run_id, task_id;
  int map_index = -1;
  int try_number = 1;
  std::string logical_date;          // ISO 8601 UTC
  std::string data_interval_start;   // ISO 8601 UTC
  std::string data_interval_end;     // ISO 8601 UTC
  std::string ds;                    // YYYY-MM-DD in the DAG's timezone
  std::string params_json = "{}";

  std::string command;               // already rendered
  std::map<std::string, std::string> env;  // the task's `env`, rendered
  std::string working_dir;           // empty: the scratch folder
  int skip_exit_code = 99;
  std::optional<Duration> timeout;
  Duration kill_grace = std::chrono::seconds(10);

  std::string scratch_dir;           // an empty folder of this try's own (checkpoint and output files)
  std::string log_path;              // the file the log is appended to
  std::optional<std::string> checkpoint;  // saved by an earlier try, handed to this one
  size_t log_cap_bytes = 10 * 1024 * 1024;
  size_t file_cap_bytes = 1024 * 1024;    // checkpoint and output
  Duration heartbeat_interval = std::chrono::seconds(5);
  // Values masked (as ***) wherever they appear in the log: the secret
  // variables the try's templates used (baton/core/secrets.h: SecretMasker;
  // values under 4 bytes are not masked).
  std::vector<std::string> secrets;
};

// What the runner reports while the try runs (every heartbeat_interval) and
// when it ends.
struct ShellProgress {
  std::optional<std::string> checkpoint;       // the file's current content, when it changed
  std::optional<TimePoint> last_activity_at;   // last log line, checkpoint or progress write
  std::optional<ProgressLine> progress;        // BATON_PROGRESS_FILE's latest line, when it changed
  size_t log_bytes = 0;
};

struct ShellResult {
  enum class Outcome { success, failed, skipped, timeout, canceled };
  Outcome outcome = Outcome::failed;
  int exit_code = -1;          // -1 when killed by a signal or not started
  std::string reason;          // "exit code 3", "timeout after 20m", "killed by signal 9", "cannot start: ..."
  std::optional<std::string> output_json;  // a JSON object from BATON_OUTPUT_FILE, on success only
  std::optional<std::string> checkpoint;   // the final checkpoint, if any
  size_t log_bytes = 0;
  bool log_truncated = false;
};

const char* to_string(ShellResult::Outcome o);

// Appends a line of Baton's own ("[baton] TEXT") to a try's log, making the
// file and its folders: for a try that ends before ShellRunner runs it.
void append_log_note(const std::string& log_path, const std::string& text);

class ShellRunner {
 public:
  using ProgressFn = std::function<void(const ShellProgress&)>;

  // `now` reads the wall clock for last_activity_at (inject a fake in tests).
  explicit ShellRunner(std::function<TimePoint()> now);

  ShellResult run(const ShellTry& t, const ProgressFn& on_progress, std::atomic<bool>& cancel);

 private:
  std::function<TimePoint()> now_;
};

}  // namespace baton::executor
