// Variables per namespace as tasks read them (SPEC §13): a task reads its
// DAG's namespace's entry, else the global one of that name, and never
// another namespace's, through the scheduler's real rendering.
#include "scheduler_env.h"

using namespace baton;
using namespace baton::scheduler_test;

TEST_CASE("a task reads its namespace's variable, else the global one, never another namespace's") {
  Env env;
  REQUIRE(env.store->put_variable("bucket", "s3-global", "test").ok());
  REQUIRE(env.store->put_variable("bucket", "s3-hr", "test", false, "hr").ok());
  REQUIRE(env.store->put_variable("shared", "everyone", "test").ok());
  REQUIRE(env.store->put_variable("fin_only", "f1n-value", "test", false, "finance").ok());
  env.write("hr_job.yaml",
            "dag: hr_job\n"
            "namespace: hr\n"
            "tasks:\n"
            "  a: {command: 'echo {{ var.bucket }} {{ var.shared }}'}\n");
  env.write("hr_peek.yaml",
            "dag: hr_peek\n"
            "namespace: hr\n"
            "tasks:\n"
            "  a: {command: 'echo {{ var.fin_only }}'}\n");
  env.write("plain.yaml",
            "dag: plain\n"
            "tasks:\n"
            "  a: {command: 'echo {{ var.bucket }}'}\n");
  env.start();

  auto job = env.sched->trigger("hr_job", {}, "alice");
  REQUIRE(job.ok());
  auto job_run = env.wait_finished("hr_job", job->run.run_id);
  CHECK(job_run.state == RunState::success);
  CHECK(env.log_of(job_run, "a", 1) == "s3-hr everyone\n");

  auto plain = env.sched->trigger("plain", {}, "alice");
  REQUIRE(plain.ok());
  auto plain_run = env.wait_finished("plain", plain->run.run_id);
  CHECK(plain_run.state == RunState::success);
  CHECK(env.log_of(plain_run, "a", 1) == "s3-global\n");

  // finance's variable is not hr's: as if there were none.
  auto peek = env.sched->trigger("hr_peek", {}, "alice");
  REQUIRE(peek.ok());
  auto peek_run = env.wait_finished("hr_peek", peek->run.run_id);
  CHECK(peek_run.state == RunState::failed);
  auto ti = env.tis(peek_run)["a"];
  REQUIRE(ti.reason);
  CHECK(ti.reason->find("fin_only") != std::string::npos);
  CHECK(ti.reason->find("f1n-value") == std::string::npos);
}
