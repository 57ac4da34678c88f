// The harness's shared parts (BENCHMARKS.md): statistics, the physical
// baselines measured in the same run, starting and stopping the real `baton`
// binary (standalone on SQLite or PostgreSQL, or the set-up of SPEC §9:
// `baton server --no-scheduler`, N `baton scheduler` members and two
// `baton worker`s), and reading what happened back from the database.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace bench {

double median(std::vector<double> v);
double percentile(std::vector<double> v, double p);

// Baselines: fork/exec/wait of /bin/true per second; durable one-row commits per second.
double fork_exec_rate(int n);
double sqlite_commit_rate(const std::string& dir, int n);
double pg_commit_rate(int n);
// PostgreSQL: transactions committed in the database so far (the statistics
// of pg_stat_database, flushed by backends as they end); -1 on SQLite.
long long pg_commits();

// PostgreSQL: the database of BATON_TEST_PG_URL (empty: SQLite), a schema per repetition.
extern std::string g_pg_url;
extern int g_schema;
extern int g_ha_members;  // 0: standalone
std::string pg_schema();
std::string pg_url_for(const std::string& schema);

// Each run's folder is its own and is removed when the harness ends, not
// after the run: ext4 passes over inodes freed in the last minutes when it
// allocates new ones (recently_deleted), so removing a run's thousands of
// log files made the next run's log folders slow to create, and measured
// the file system's bookkeeping of the previous run instead of this one.
struct RunFolders {
  std::vector<std::string> dirs;
  std::string make(const std::string& kind);
  ~RunFolders();
};
extern RunFolders g_folders;

double cpu_seconds(pid_t pid);
// A field of /proc/PID/status in kB (VmRSS, VmHWM) or a count (Threads).
long rss_kb(pid_t pid, const char* field);

struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string token;
  std::vector<pid_t> others;   // --ha: the members and the workers
  std::vector<pid_t> members;  // --ha: the scheduler members
};

pid_t spawn(const std::string& out, const std::string& err, std::vector<std::string> args);
std::string run_output(const std::string& cmd);
std::string token_of(const std::string& text);
// Standalone (or, with g_ha_members, the set-up of SPEC §9) on a fresh store in `dir` (dags in dir/dags).
Server start(const std::string& baton, const std::string& dir, int workers);
Server start_ha(const std::string& baton, const std::string& dir, int workers);
void stop(Server& s);

// W6: what the kill did, read from the database.
struct Failover {
  bool done = false;
  double resume_s = 0;       // kill -> the first write for the DAG after it
  long long duplicate_runs = 0, duplicate_tries = 0, lost = 0;
  int killed = 0;
  bool leader_killed = false;
};
void kill_owner_when(Failover& fo, const std::vector<pid_t>& members, const std::string& dag, double fraction, int tasks,
                     long long& kill_us);
void read_failover(Failover& fo, long long kill_us, int tasks);

struct TaskTimes {
  std::string task;
  double start = 0, end = 0;  // seconds
};
// The start and end of every task instance of the runs of one type (SQLite: db_path; PostgreSQL: the current schema, dropped after).
std::vector<TaskTimes> read_times(const std::string& db_path, std::string& run_state, const std::string& run_type = "manual");

}  // namespace bench
