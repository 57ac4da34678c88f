// DagSpec: one DAG file as read and checked, task defaults already applied;
// DagGraph: its compiled, immutable form (topological order, adjacency, hash).
// A DagGraph is shared as `std::shared_ptr<const DagGraph>` and never changes:
// a run is pinned to the DagGraph (version) it was created with.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/schedule.h"
#include "baton/core/time.h"
#include "baton/dsl/yaml_tree.h"

namespace baton::dsl {

enum class TaskType { shell, noop, http, sql, sensor_file, sensor_task, sensor_http, trigger_dag };
enum class TriggerRule { all_success, all_failed, all_done, one_success, one_failed, none_failed, none_skipped, always };
enum class RetryBackoff { fixed, exponential };

const char* to_string(TaskType t);
const char* to_string(TriggerRule r);
const char* to_string(RetryBackoff b);
bool is_sensor(TaskType t);

// A string that may hold `{{ ... }}` templates, with where it was written.
struct TemplateText {
  std::string text;
  SourcePos pos;
  bool plain = false;  // a single-line plain scalar: columns inside it are exact
};

struct NotifyTarget {
  enum class Kind { webhook, command };
  Kind kind = Kind::webhook;
  std::string value;  // URL or command line
};

struct TaskSpec {
  std::string id;
  SourcePos pos;
  TaskType type = TaskType::noop;
  std::vector<std::string> depends_on;
  std::vector<SourcePos> depends_on_pos;
  TriggerRule trigger_rule = TriggerRule::all_success;
  int retries = 0;
  Duration retry_delay = std::chrono::seconds(30);
  RetryBackoff retry_backoff = RetryBackoff::fixed;
  Duration max_retry_delay = std::chrono::hours(1);
  bool retry_jitter = false;
  std::optional<Duration> timeout;  // sensors: total wait (default 7d)
  Duration kill_grace = std::chrono::seconds(10);
  std::string pool = "default";
  int pool_slots = 1;
  std::string queue = "default";
  int priority = 0;
  bool depends_on_past = false;
  // foreach: a literal list (as JSON) or a template that yields a JSON list.
  std::optional<std::string> foreach_json;
  std::optional<TemplateText> foreach_template;
  std::map<std::string, TemplateText> env;
  std::string working_dir;
  int skip_exit_code = 99;
  std::optional<Duration> sla_max_duration;
  // SPEC §7: a running try with no log byte, checkpoint or progress for
  // stuck_after is stuck; with on_stuck: fail it fails (reason stuck).
  std::optional<Duration> stuck_after;
  bool stuck_fail = false;
  std::vector<std::string> produces;
  // The upstream tasks whose outputs this task's templates (and foreach)
  // read, found when the DAG compiles: only those are copied for a try.
  std::vector<std::string> reads_outputs;

  // shell
  TemplateText command;
  // http, sensor.http
  std::string method = "GET";
  TemplateText url;
  std::map<std::string, TemplateText> headers;
  TemplateText body;
  std::vector<int> expect_status;  // empty: any 2xx
  // sql
  std::string connection;
  TemplateText sql;
  // sensor.file
  TemplateText path;
  // sensor.task, trigger_dag
  std::string target_dag;
  std::string target_task;
  Duration logical_date_offset{0};
  Duration poke_interval = std::chrono::seconds(60);
  // trigger_dag
  std::string trigger_params_json = "{}";
  std::map<std::string, TemplateText> trigger_params_templates;
  bool wait = true;

  // Templates of this task, each with the key path it came from.
  std::vector<std::pair<std::string, const TemplateText*>> templates() const;
};

struct DagSpec {
  std::string file;
  std::string dag_id;
  SourcePos dag_pos;
  std::string description;
  std::string owner;
  std::string ns = "default";
  std::vector<std::string> tags;

  enum class ScheduleKind { none, cron, every, datasets };
  ScheduleKind schedule_kind = ScheduleKind::none;
  std::string schedule_text;  // the cron expression or the `every` duration
  std::vector<std::string> schedule_datasets;
  SourcePos schedule_pos;

  std::string timezone = "UTC";
  std::optional<TimePoint> start_date;
  std::optional<TimePoint> end_date;
  std::string start_date_text, end_date_text;
  bool catchup = false;
  int max_active_runs = 16;
  int max_active_tasks = 32;
  bool depends_on_past = false;
  std::string params_json = "{}";                       // defaults, as a JSON object
  std::map<std::string, TemplateText> params_templates; // string params (may hold templates)
  std::vector<std::string> param_names;
  std::optional<Duration> sla_run_deadline;
  std::optional<Duration> sla_run_duration;
  std::vector<NotifyTarget> on_failure, on_success, on_retry, on_sla_miss;
  std::vector<NotifyTarget> on_sla_risk, on_slow, on_stuck;  // SPEC §7 forecasts
  std::vector<TaskSpec> tasks;  // in file order
};

// The params a trigger (API, CLI, trigger_dag, `dags test`) gives must be
// ones the DAG declares (`dataset_events` too on a dataset schedule):
// invalid_argument naming the first that is not, and the declared ones.
Status check_param_names(const DagSpec& spec, const std::vector<std::string>& given);

class DagGraph {
 public:
  const DagSpec& spec() const { return spec_; }
  const std::string& dag_id() const { return spec_.dag_id; }
  // Tasks in topological order (ties by file order).
  const std::vector<const TaskSpec*>& order() const { return order_; }
  const TaskSpec* task(const std::string& id) const;
  // Indices into spec().tasks.
  int index_of(const std::string& id) const;
  const std::vector<int>& upstream(int i) const { return upstream_[static_cast<size_t>(i)]; }
  const std::vector<int>& downstream(int i) const { return downstream_[static_cast<size_t>(i)]; }
  const std::vector<int>& roots() const { return roots_; }
  const std::vector<int>& leaves() const { return leaves_; }
  const Schedule& schedule() const { return schedule_; }
  // The version: SHA-256 of the canonical JSON form.
  const std::string& hash() const { return hash_; }
  const std::string& canonical_json() const { return canonical_; }

 private:
  friend class Compiler;
  DagSpec spec_;
  std::vector<const TaskSpec*> order_;
  std::map<std::string, int> index_;
  std::vector<std::vector<int>> upstream_, downstream_;
  std::vector<int> roots_, leaves_;
  Schedule schedule_;
  std::string hash_;
  std::string canonical_;
};

using DagGraphPtr = std::shared_ptr<const DagGraph>;

}  // namespace baton::dsl
