// The DAGs folder's watch (real inotify on a temporary folder) and what the
// registry does with its reports; the safety scan for what the watch missed;
// the cold load a chunk at a time with its progress. Waits for an event are
// bounded; nothing here asserts a time.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "dag_registry.h"
#include "folder_watch.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// What the watch reported, gathered from its thread.
struct Reports {
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> paths;
  int full = 0;

  void add(FolderWatch::Changes c) {
    std::lock_guard lock(mu);
    paths.insert(c.paths.begin(), c.paths.end());
    full += c.full ? 1 : 0;
    cv.notify_all();
  }
  // Waits (at most 10 s: a bound, not a timing assertion) until `path` was reported.
  bool saw(const std::string& path) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return paths.count(path) > 0; });
  }
  std::vector<std::string> take() {
    std::lock_guard lock(mu);
    std::vector<std::string> out(paths.begin(), paths.end());
    paths.clear();
    return out;
  }
};

const char* kDag = "dag: %s\ntasks:\n  x: {type: noop}\n";

std::string dag_text(const std::string& id, const std::string& extra = "") {
  std::string t = kDag;
  t.replace(t.find("%s"), 2, id);
  return t + extra;
}

}  // namespace

TEST_CASE("folder watch: a new, a changed, a renamed-in and a deleted file are reported, in subfolders too") {
  testing::PartsStore s;
  fs::create_directories(s.dir / "dags" / "team");
  s.write_dag("old.yaml", dag_text("old"));
  Reports r;
  auto w = FolderWatch::start(s.dags(), [&](FolderWatch::Changes c) { r.add(std::move(c)); });
  REQUIRE(w.ok());
  CHECK((*w)->watched() == 2);  // the folder and team/
  const std::string dags = s.dags();

  s.write_dag("new.yaml", dag_text("new"));
  CHECK(r.saw(dags + "/new.yaml"));

  s.write_dag("old.yaml", dag_text("old", "description: changed\n"));
  CHECK(r.saw(dags + "/old.yaml"));

  // Written elsewhere, then renamed in (how editors and git write files).
  std::ofstream(s.dir / "elsewhere.yaml") << dag_text("moved");
  fs::rename(s.dir / "elsewhere.yaml", s.dir / "dags" / "team" / "moved.yaml");
  CHECK(r.saw(dags + "/team/moved.yaml"));

  fs::remove(s.dir / "dags" / "new.yaml");
  r.take();
  fs::remove(s.dir / "dags" / "old.yaml");
  CHECK(r.saw(dags + "/old.yaml"));

  // A folder made after the start is watched as it appears.
  fs::create_directories(s.dir / "dags" / "later");
  CHECK(r.saw(dags + "/later"));
  s.write_dag("later/l.yaml", dag_text("l"));
  CHECK(r.saw(dags + "/later/l.yaml"));

  // Hidden names are not DAG files: not reported.
  r.take();
  std::ofstream(s.dir / "dags" / ".swap.yaml") << "x";
  s.write_dag("marker.yaml", dag_text("marker"));
  CHECK(r.saw(dags + "/marker.yaml"));
  CHECK(r.take() == std::vector<std::string>{dags + "/marker.yaml"});
  (*w)->stop();
}

TEST_CASE("folder watch: a missing folder is an error (the scheduler polls instead)") {
  auto w = FolderWatch::start("/nonexistent-baton-folder/dags", [](FolderWatch::Changes) {});
  CHECK_FALSE(w.ok());
}

TEST_CASE("dag registry: the watch's paths are compiled and nothing else; a folder moved away takes its DAGs") {
  testing::PartsStore s;
  fs::create_directories(s.dir / "dags" / "team");
  for (int i = 0; i < 20; ++i) s.write_dag("d" + std::to_string(i) + ".yaml", dag_text("d" + std::to_string(i)));
  s.write_dag("team/t.yaml", dag_text("t"));
  DagRegistry reg(*s.store, s.dags());
  reg.scan(true);
  REQUIRE(reg.find("d7"));
  const std::string dags = s.dags();

  long long looked = reg.files_looked_at(), compiled = reg.files_compiled();
  s.write_dag("d7.yaml", dag_text("d7", "description: v2\n"));
  s.write_dag("new.yaml", dag_text("new"));
  reg.changed({dags + "/d7.yaml", dags + "/new.yaml"});
  CHECK(reg.files_looked_at() - looked == 2);
  CHECK(reg.files_compiled() - compiled == 2);
  CHECK(reg.current("d7")->spec().description == "v2");
  REQUIRE(reg.find("new"));

  // A report of a file that did not change compiles nothing.
  compiled = reg.files_compiled();
  reg.changed({dags + "/d3.yaml"});
  CHECK(reg.files_compiled() == compiled);

  fs::rename(s.dir / "dags" / "team", s.dir / "team-away");
  reg.changed({dags + "/team"});
  CHECK_FALSE(reg.find("t")->active);
  CHECK_FALSE(s.store->get_dag("t")->active);
  CHECK(reg.find("d3")->active);

  fs::remove(s.dir / "dags" / "d3.yaml");
  reg.changed({dags + "/d3.yaml"});
  CHECK_FALSE(reg.find("d3")->active);
}

TEST_CASE("dag registry: the safety scan catches a change the watch missed") {
  testing::PartsStore s;
  s.write_dag("a.yaml", dag_text("a"));
  DagRegistry reg(*s.store, s.dags());
  reg.scan(true);
  // Changed and added with no report (a network filesystem, a lost event).
  s.write_dag("a.yaml", dag_text("a", "description: edited\n"));
  s.write_dag("b.yaml", dag_text("b"));
  CHECK_FALSE(reg.find("b"));
  reg.scan(false);
  REQUIRE(reg.find("b"));
  CHECK(reg.current("a")->spec().description == "edited");
  CHECK(s.store->get_dag("b").ok());
}

TEST_CASE("dag registry: the cold load goes a chunk at a time and says how far it got") {
  testing::PartsStore s;
  for (int i = 0; i < 5; ++i) s.write_dag("d" + std::to_string(i) + ".yaml", dag_text("d" + std::to_string(i)));
  // The store knew a DAG whose file is gone: deactivated only once the load is done.
  store::DagVersionRecord v;
  v.dag_id = "gone";
  v.version = "v1";
  v.compiled = "{}";
  v.source = dag_text("gone");
  v.file = s.dags() + "/gone.yaml";
  REQUIRE(s.store->register_dag_version(v, "default", 0, "system").ok());
  DagRegistry reg(*s.store, s.dags());
  REQUIRE(s.store->list_dags().ok());
  reg.load_known(*s.store->list_dags());
  REQUIRE(reg.find("gone"));
  CHECK(reg.progress().loading);
  reg.begin_load();
  auto p = reg.progress();
  CHECK(p.loading);
  CHECK(p.loaded == 0);
  CHECK(p.total == 5);
  CHECK(reg.load_step(2));
  p = reg.progress();
  CHECK(p.loading);
  CHECK(p.loaded == 2);
  CHECK(p.total == 5);
  // Registered so far: the API answers from these.
  auto listed = s.store->list_dags();
  REQUIRE(listed.ok());
  CHECK(listed->size() == 3);  // d0, d1 and the known one
  CHECK(reg.find("gone")->active);
  CHECK(reg.load_step(2));
  CHECK_FALSE(reg.load_step(2));
  p = reg.progress();
  CHECK_FALSE(p.loading);
  CHECK(p.loaded == 5);
  CHECK(s.store->list_dags()->size() == 6);
  CHECK_FALSE(reg.find("gone")->active);
}
