#include <catch2/catch.hpp>

#include "baton/core/time.h"
#include "test_util.h"

using namespace baton;
using namespace baton::dsl;
using namespace baton::dsl::test;

namespace {
std::vector<std::string> order_of(const DagGraph& g) {
  std::vector<std::string> out;
  for (auto* t : g.order()) out.push_back(t->id);
  return out;
}
}  // namespace

TEST_CASE("the graph has a topological order, adjacency, roots and leaves") {
  auto r = compile("dag: x\n"
                   "tasks:\n"
                   "  report: {type: noop, depends_on: [load]}\n"
                   "  load: {type: noop, depends_on: [transform, dims]}\n"
                   "  dims: {type: noop}\n"
                   "  extract: {type: noop}\n"
                   "  transform: {type: noop, depends_on: [extract]}\n");
  INFO(all_errors(r));
  REQUIRE(r.graph);
  const DagGraph& g = *r.graph;
  // Ready tasks go in file order.
  CHECK(order_of(g) == std::vector<std::string>{"dims", "extract", "transform", "load", "report"});
  int load = g.index_of("load");
  CHECK(g.upstream(load).size() == 2);
  CHECK(g.downstream(load) == std::vector<int>{g.index_of("report")});
  CHECK(g.roots() == std::vector<int>{g.index_of("dims"), g.index_of("extract")});
  CHECK(g.leaves() == std::vector<int>{g.index_of("report")});
  CHECK(g.index_of("nope") == -1);
}

TEST_CASE("the version hash depends on what the DAG does, not how it is written") {
  auto a = compile("dag: x\ntasks:\n  a: {command: echo hi}\n  b: {type: noop, depends_on: [a]}\n");
  auto b = compile("# a comment\ndag: x\n\ntasks:\n  a:\n    command: \"echo hi\"\n  b:\n    depends_on: [a]\n    type: noop\n");
  auto c = compile("dag: x\ntasks:\n  a: {command: echo hello}\n  b: {type: noop, depends_on: [a]}\n");
  REQUIRE(a.graph);
  REQUIRE(b.graph);
  REQUIRE(c.graph);
  CHECK(a.graph->hash() == b.graph->hash());
  CHECK(a.graph->hash() != c.graph->hash());
  CHECK(a.graph->hash().size() == 64);
  // Neither the order of tasks in the file nor that of depends_on matters.
  auto e = compile("dag: x\ntasks:\n  b: {type: noop, depends_on: [a]}\n  a: {command: echo hi}\n");
  CHECK(e.graph->hash() == a.graph->hash());
  auto f1 = compile("dag: y\ntasks:\n  a: {type: noop}\n  c: {type: noop}\n  d: {type: noop, depends_on: [c, a]}\n");
  auto f2 = compile("dag: y\ntasks:\n  a: {type: noop}\n  c: {type: noop}\n  d: {type: noop, depends_on: [a, c]}\n");
  CHECK(f1.graph->hash() == f2.graph->hash());
  // Defaults resolved: writing the default explicitly is the same DAG.
  auto d = compile("dag: x\ntasks:\n  a: {command: echo hi, retries: 0}\n  b: {type: noop, depends_on: [a]}\n");
  CHECK(d.graph->hash() == a.graph->hash());
}

TEST_CASE("schedules compile with the DAG's timezone and bounds") {
  auto r = compile("dag: x\nschedule: '0 3 * * *'\ntimezone: Europe/Berlin\nstart_date: 2026-03-28\n"
                   "end_date: 2026-03-30\ntasks: {a: {type: noop}}\n");
  REQUIRE(r.graph);
  const Schedule& s = r.graph->schedule();
  CHECK(s.kind() == Schedule::Kind::cron);
  std::vector<std::string> ticks;
  for (auto t = s.next_tick(*parse_utc("2026-01-01T00:00:00Z")); t; t = s.next_tick(*t)) ticks.push_back(format_utc(*t));
  // 03:00 CET, then 03:00 CEST after the spring-forward, and the tick that
  // closes the last interval (the one starting on end_date).
  CHECK(ticks == std::vector<std::string>{"2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z",
                                          "2026-03-31T01:00:00Z"});
  auto every = compile("dag: y\nschedule: every 90m\nstart_date: 2026-01-01T00:30:00Z\ntasks: {a: {type: noop}}\n");
  REQUIRE(every.graph);
  CHECK(format_utc(*every.graph->schedule().next_tick(*parse_utc("2026-01-01T00:00:00Z"))) == "2026-01-01T00:30:00Z");
  CHECK(format_utc(*every.graph->schedule().next_tick(*parse_utc("2026-01-01T00:30:00Z"))) == "2026-01-01T02:00:00Z");
  auto ds = compile("dag: z\nschedule: {datasets: ['s3://a/b']}\ntasks: {a: {command: 'echo {{ params.dataset_events }}'}}\n");
  INFO(all_errors(ds));
  REQUIRE(ds.graph);
  CHECK(ds.graph->schedule().kind() == Schedule::Kind::datasets);
  auto none = compile("dag: n\nschedule: none\ntasks: {a: {type: noop}}\n");
  REQUIRE(none.graph);
  CHECK(none.graph->schedule().kind() == Schedule::Kind::none);
}

TEST_CASE("every task type reads its keys") {
  auto r = compile(R"(dag: types
params: {n: 1}
tasks:
  sh:
    command: ./run.sh
    env: {A: "1", B: 2}
    working_dir: /tmp
    skip_exit_code: 3
  web:
    type: http
    method: post
    url: http://127.0.0.1:9000/x
    headers: {X-Day: "{{ ds }}"}
    body: '{}'
    expect_status: [200, 201]
  q:
    type: sql
    connection: warehouse
    sql: SELECT 1
  f:
    type: sensor.file
    path: /tmp/ready
    poke_interval: 5s
  t:
    type: sensor.task
    dag: other
    task: done
    logical_date_offset: -1d
  h:
    type: sensor.http
    url: http://127.0.0.1:9000/ready
    expect_status: 204
    timeout: 1h
  trig:
    type: trigger_dag
    dag: other
    params: {day: "{{ ds }}"}
    wait: false
)");
  INFO(all_errors(r));
  REQUIRE(r.graph);
  auto& g = *r.graph;
  CHECK(g.task("sh")->env.at("B").text == "2");
  CHECK(g.task("sh")->skip_exit_code == 3);
  CHECK(g.task("web")->method == "POST");
  CHECK(g.task("web")->expect_status == std::vector<int>{200, 201});
  CHECK(g.task("q")->connection == "warehouse");
  CHECK(g.task("f")->poke_interval == std::chrono::seconds(5));
  CHECK(*g.task("f")->timeout == std::chrono::hours(24 * 7));  // sensors wait 7d by default
  CHECK(g.task("t")->logical_date_offset == std::chrono::hours(-24));
  CHECK(*g.task("h")->timeout == std::chrono::hours(1));
  CHECK(g.task("trig")->wait == false);
  CHECK(g.task("trig")->trigger_params_json == R"({"day":"{{ ds }}"})");
}
