// Every error class of SPEC §3, each asserting the message and its line.
#include <catch2/catch.hpp>

#include "test_util.h"

using namespace baton;
using namespace baton::dsl;
using namespace baton::dsl::test;

namespace {
// A valid DAG to break one line at a time.
const char* kHeader =
    "dag: sales\n"                 // 1
    "schedule: \"0 3 * * *\"\n"    // 2
    "timezone: Europe/Berlin\n"    // 3
    "start_date: 2026-01-01\n";    // 4
}  // namespace

TEST_CASE("a valid DAG compiles with every default applied") {
  auto r = compile(std::string(kHeader) +
                   "tasks:\n"
                   "  a:\n"
                   "    command: echo {{ ds }}\n"
                   "  b:\n"
                   "    type: noop\n"
                   "    depends_on: [a]\n");
  INFO(all_errors(r));
  REQUIRE(r.graph);
  const auto& s = r.graph->spec();
  CHECK(s.ns == "default");
  CHECK(s.max_active_runs == 16);
  CHECK(s.max_active_tasks == 32);
  CHECK_FALSE(s.catchup);
  const TaskSpec* a = r.graph->task("a");
  REQUIRE(a);
  CHECK(a->type == TaskType::shell);
  CHECK(a->retries == 0);
  CHECK(a->retry_delay == std::chrono::seconds(30));
  CHECK(a->max_retry_delay == std::chrono::hours(1));
  CHECK(a->kill_grace == std::chrono::seconds(10));
  CHECK(a->pool == "default");
  CHECK(a->queue == "default");
  CHECK(a->skip_exit_code == 99);
  CHECK(a->trigger_rule == TriggerRule::all_success);
}

TEST_CASE("error: malformed YAML") {
  auto r = compile("dag: x\ntasks: [a, b\n");
  REQUIRE_FALSE(r.graph);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.rfind("malformed YAML", 0) == 0);
  CHECK(r.errors[0].format().rfind("dag.yaml:", 0) == 0);
}

TEST_CASE("error: unknown keys, with did you mean") {
  auto r = compile(std::string(kHeader) +
                   "schedul: x\n"                 // 5
                   "tasks:\n"                     // 6
                   "  a:\n"                       // 7
                   "    comand: echo\n"           // 8
                   "    command: echo\n"          // 9
                   "    retires: 2\n");           // 10
  REQUIRE_ERROR(r, 5, "schedul: unknown key \"schedul\" (did you mean \"schedule\"?)", "allowed: dag,");
  REQUIRE_ERROR(r, 8, "tasks.a.comand: unknown key \"comand\" (did you mean \"command\"?)");
  REQUIRE_ERROR(r, 10, "tasks.a.retires: unknown key \"retires\" (did you mean \"retries\"?)");
  auto far = compile("dag: x\nzzzzzz: 1\ntasks: {a: {type: noop}}\n");
  REQUIRE_ERROR(far, 2, "unknown key \"zzzzzz\"; allowed:");
}

TEST_CASE("error: missing required keys") {
  auto r = compile("description: no id\n");
  REQUIRE_ERROR(r, 1, "missing required key `dag`");
  REQUIRE_ERROR(r, 1, "missing required key `tasks`");
  auto sql = compile("dag: x\ntasks:\n  load:\n    type: sql\n    sql: SELECT 1\n");
  REQUIRE_ERROR(sql, 3, "tasks.load: missing required key `connection` for a task of type sql");
  auto untyped = compile("dag: x\ntasks:\n  a:\n    retries: 1\n");
  REQUIRE_ERROR(untyped, 3, "tasks.a: a task needs `command`");
  auto no_start = compile("dag: x\nschedule: '@daily'\ntasks: {a: {type: noop}}\n");
  REQUIRE_ERROR(no_start, 2, "schedule: a time schedule needs `start_date`");
}

TEST_CASE("error: wrong types") {
  auto r = compile("dag: x\n"                          // 1
                   "catchup: maybe\n"                  // 2
                   "tags: sales\n"                     // 3
                   "max_active_runs: many\n"           // 4
                   "tasks:\n"                          // 5
                   "  a:\n"                            // 6
                   "    command: [echo]\n"             // 7
                   "    depends_on: {b: 1}\n"          // 8
                   "  b: just a string\n");            // 9
  REQUIRE_ERROR(r, 2, "catchup: expected true or false, found a string (\"maybe\")");
  REQUIRE_ERROR(r, 3, "tags: expected a list of strings, found a string");
  REQUIRE_ERROR(r, 4, "max_active_runs: expected an integer from 1 to 10000");
  REQUIRE_ERROR(r, 7, "tasks.a.command: expected a string, found a list");
  REQUIRE_ERROR(r, 8, "tasks.a.depends_on: expected a list of strings, found a mapping");
  REQUIRE_ERROR(r, 9, "tasks.b: expected a mapping of task keys");
  auto top = compile("- just\n- a list\n");
  REQUIRE_ERROR(top, 1, "a DAG file must be a mapping");
}

TEST_CASE("error: duplicate keys") {
  auto r = compile("dag: x\ntasks:\n  a: {type: noop}\n  a: {type: noop}\n");
  REQUIRE_ERROR(r, 4, "tasks.a: duplicate key \"a\" (first defined at line 3)");
}

TEST_CASE("error: dependency on an unknown task") {
  auto r = compile("dag: x\ntasks:\n  extract: {type: noop}\n  transform:\n    type: noop\n    depends_on: [extract, extrat]\n");
  REQUIRE_ERROR(r, 6, "tasks.transform.depends_on[1]: unknown task \"extrat\" (did you mean \"extract\"?)");
  CHECK(r.errors[0].pos.col == 27);
}

TEST_CASE("error: a cycle, printed") {
  auto r = compile("dag: x\n"
                   "tasks:\n"
                   "  a: {type: noop, depends_on: [c]}\n"   // 3
                   "  b: {type: noop, depends_on: [a]}\n"   // 4
                   "  c: {type: noop, depends_on: [b]}\n"   // 5
                   "  d: {type: noop, depends_on: [c]}\n");
  REQUIRE_ERROR(r, 3, "dependency cycle: a -> b -> c -> a");
  auto self = compile("dag: x\ntasks:\n  a: {type: noop, depends_on: [a]}\n");
  REQUIRE_ERROR(self, 3, "dependency cycle: a -> a");
  // Every cycle is reported, once.
  auto two = compile("dag: x\n"
                     "tasks:\n"
                     "  a: {type: noop, depends_on: [b]}\n"
                     "  b: {type: noop, depends_on: [a]}\n"
                     "  c: {type: noop, depends_on: [d]}\n"
                     "  d: {type: noop, depends_on: [c]}\n"
                     "  e: {type: noop, depends_on: [a, c]}\n");
  REQUIRE(two.errors.size() == 2);
  REQUIRE_ERROR(two, 3, "dependency cycle: a -> b -> a");
  REQUIRE_ERROR(two, 5, "dependency cycle: c -> d -> c");
}

TEST_CASE("error: bad cron, duration, timezone, date") {
  auto r = compile("dag: x\n"                                  // 1
                   "schedule: '0 3 * * MON-FRX'\n"             // 2
                   "timezone: Europe/Berln\n"                  // 3
                   "start_date: 2026-02-30\n"                  // 4
                   "tasks:\n"                                  // 5
                   "  a:\n"                                    // 6
                   "    command: echo\n"                       // 7
                   "    timeout: 20 minutes\n");               // 8
  REQUIRE_ERROR(r, 2, "invalid cron \"0 3 * * MON-FRX\": day-of-week field", "weekday name (SUN-SAT)");
  REQUIRE_ERROR(r, 3, "unknown time zone \"Europe/Berln\"", "Europe/Berlin");
  REQUIRE_ERROR(r, 4, "start_date: invalid date \"2026-02-30\": no such day in the calendar");
  REQUIRE_ERROR(r, 8, "tasks.a.timeout: invalid duration \"20 minutes\"", "1h30m");
  auto every = compile("dag: x\nschedule: every 15q\nstart_date: 2026-01-01\ntasks: {a: {type: noop}}\n");
  REQUIRE_ERROR(every, 2, "invalid `every` schedule \"every 15q\"");
  auto fields = compile("dag: x\nschedule: '0 3 * *'\nstart_date: 2026-01-01\ntasks: {a: {type: noop}}\n");
  REQUIRE_ERROR(fields, 2, "expected 5 fields", "got 4");
}

TEST_CASE("error: end_date before start_date") {
  auto r = compile("dag: x\nstart_date: 2026-05-01\nend_date: 2026-04-30\ntasks: {a: {type: noop}}\n");
  REQUIRE_ERROR(r, 3, "end_date 2026-04-30 is before start_date 2026-05-01");
}

TEST_CASE("error: unknown template names") {
  auto r = compile("dag: x\n"                                                 // 1
                   "params: {region: eu}\n"                                   // 2
                   "tasks:\n"                                                 // 3
                   "  a:\n"                                                   // 4
                   "    command: echo {{ dss }} {{ params.regoin }}\n"        // 5
                   "  b:\n"                                                   // 6
                   "    command: echo {{ outputs.c.rows }} {{ item }}\n"      // 7
                   "    depends_on: [a]\n"                                    // 8
                   "  c:\n"                                                   // 9
                   "    command: echo {{ ds_ad(ds, 1) }} {{ format(ts, \"%Q\") }}\n"  // 10
                   "    depends_on: [a]\n"
                   "    env: {X: '{{ ds '}\n");                               // 12
  REQUIRE_ERROR(r, 5, "tasks.a.command: unknown template name \"dss\" (did you mean \"ds\"?)");
  CHECK(has_error(r, 5, {"\"regoin\" is not declared in the DAG's params (did you mean \"region\"?)"}));
  REQUIRE_ERROR(r, 7, "task \"c\" is not upstream of this task");
  REQUIRE_ERROR(r, 7, "\"item\" exists only in tasks with foreach");
  REQUIRE_ERROR(r, 10, "unknown function \"ds_ad\" (did you mean \"ds_add\"?)");
  REQUIRE_ERROR(r, 10, "unsupported directive \"%Q\"");
  REQUIRE_ERROR(r, 12, "tasks.c.env.X: template syntax: \"{{\" is never closed");
  // The column points into the plain scalar, at the name.
  for (auto& d : r.errors)
    if (d.message.find("\"dss\"") != std::string::npos) CHECK(d.pos.col == 22);
}

TEST_CASE("templates that can exist compile") {
  auto r = compile("dag: x\n"
                   "params: {region: eu, day: '{{ ds }}'}\n"
                   "tasks:\n"
                   "  list:\n"
                   "    command: \"echo files > $BATON_OUTPUT_FILE\"\n"
                   "  each:\n"
                   "    command: echo {{ item }} {{ map_index }} {{ outputs.list.files }} {{ var.bucket }}\n"
                   "    foreach: '{{ outputs.list.files }}'\n"
                   "    depends_on: [list]\n"
                   "  after:\n"
                   "    command: echo {{ ds_add(ds, -1) }} {{ format(data_interval_end, \"%Y/%m/%d\") }} {{ outputs.list }}\n"
                   "    depends_on: [each]\n"
                   "  last:\n"
                   "    command: echo {{ outputs.each }} {{ outputs.list.n }} {{ outputs.each.0 }}\n"
                   "    env: {A: '{{ outputs.after.x }}'}\n"
                   "    depends_on: [after]\n");
  INFO(all_errors(r));
  REQUIRE(r.graph);
  // Each task records the tasks whose outputs it reads, once each: only
  // those are copied for its tries.
  auto reads = [&](const char* id) { return r.graph->task(id)->reads_outputs; };
  CHECK(reads("list").empty());
  CHECK(reads("each") == std::vector<std::string>{"list"});
  CHECK(reads("after") == std::vector<std::string>{"list"});
  CHECK(reads("last") == std::vector<std::string>{"each", "list", "after"});
}

TEST_CASE("error: values out of range") {
  auto r = compile("dag: x\n"
                   "max_active_runs: 0\n"                // 2
                   "tasks:\n"
                   "  a:\n"
                   "    command: echo\n"
                   "    retries: 101\n"                  // 6
                   "    skip_exit_code: 256\n"           // 7
                   "    pool_slots: 0\n"                 // 8
                   "  b:\n"
                   "    type: http\n"
                   "    url: http://127.0.0.1:1/\n"
                   "    expect_status: [200, 600]\n"     // 12
                   "    trigger_rule: all_sucess\n");    // 13
  REQUIRE_ERROR(r, 2, "max_active_runs: 0 is out of range; allowed: 1 to 10000");
  REQUIRE_ERROR(r, 6, "tasks.a.retries: 101 is out of range; allowed: 0 to 100");
  REQUIRE_ERROR(r, 7, "tasks.a.skip_exit_code: 256 is out of range; allowed: 0 to 255");
  REQUIRE_ERROR(r, 8, "tasks.a.pool_slots: 0 is out of range");
  REQUIRE_ERROR(r, 12, "tasks.b.expect_status[1]: 600 is out of range; allowed: 100 to 599");
  REQUIRE_ERROR(r, 13, "unknown trigger rule \"all_sucess\" (did you mean \"all_success\"?)");
}

TEST_CASE("error: invalid ids") {
  auto r = compile("dag: 'has space'\ntasks:\n  '-bad': {type: noop}\n");
  REQUIRE_ERROR(r, 1, "dag: invalid DAG id \"has space\"");
  REQUIRE_ERROR(r, 3, "invalid task id \"-bad\"");
}

TEST_CASE("an unknown type does not hide the task's other errors") {
  auto r = compile("dag: x\ntasks:\n  a:\n    type: shel\n    retries: abc\n    depends_on: [zz]\n");
  REQUIRE_ERROR(r, 4, "unknown task type \"shel\" (did you mean \"shell\"?)");
  REQUIRE_ERROR(r, 5, "tasks.a.retries: expected an integer");
  REQUIRE_ERROR(r, 6, "unknown task \"zz\"");
}

TEST_CASE("error: hostile foreach JSON is bounded") {
  std::string deep = "dag: x\ntasks:\n  a:\n    type: noop\n    foreach: '" + std::string(100, '[') + std::string(100, ']') + "'\n";
  REQUIRE_ERROR(compile(deep), 5, "nests deeper than 64 levels");
}

TEST_CASE("error: keys of another task type") {
  auto r = compile("dag: x\ntasks:\n  a:\n    type: noop\n    sql: SELECT 1\n");
  REQUIRE_ERROR(r, 5, "tasks.a.sql: key \"sql\" does not apply to a task of type noop; it belongs to type sql");
}

TEST_CASE("error: more than 10,000 tasks, rejected quickly") {
  std::string text = "dag: big\ntasks:\n";
  for (int i = 0; i <= 10000; ++i) text += "  t" + std::to_string(i) + ": {type: noop}\n";
  auto r = compile(text);
  REQUIRE_ERROR(r, 2, "10001 tasks; the limit is 10000 tasks per DAG");
}

TEST_CASE("defaults apply to every task unless it sets its own; bad defaults are reported once") {
  auto r = compile("dag: x\n"
                   "defaults:\n"
                   "  retries: 3\n"
                   "  connection: wh\n"
                   "  pool: etl\n"
                   "tasks:\n"
                   "  a: {command: echo}\n"
                   "  b: {type: sql, sql: SELECT 1, retries: 0}\n");
  INFO(all_errors(r));
  REQUIRE(r.graph);
  CHECK(r.graph->task("a")->retries == 3);
  CHECK(r.graph->task("a")->pool == "etl");
  CHECK(r.graph->task("b")->retries == 0);
  CHECK(r.graph->task("b")->connection == "wh");
  auto bad = compile("dag: x\ndefaults:\n  retries: lots\ntasks:\n  a: {command: echo}\n  b: {command: echo}\n");
  REQUIRE(bad.errors.size() == 1);
  REQUIRE_ERROR(bad, 3, "defaults.retries: expected an integer");
}

TEST_CASE("every error of a file is reported, sorted by position") {
  auto r = compile("dag: x\ncatchup: 1\nowner: [a]\ntasks:\n  a: {command: echo, retries: x}\n  b: {type: bogus}\n");
  REQUIRE(r.errors.size() == 4);
  for (size_t i = 1; i < r.errors.size(); ++i) CHECK(r.errors[i - 1].pos.line <= r.errors[i].pos.line);
}
