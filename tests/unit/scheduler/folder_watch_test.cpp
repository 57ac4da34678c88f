// The DAGs folder's watch (real inotify on a temporary folder) and what the
// registry does with its reports; the safety scan for what the watch missed;
// a queue overflow and the folder replaced (watched again); the cold load a
// chunk at a time with its progress, and a full scan asked for during it.
// Waits for an event are bounded; nothing here asserts a time.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

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
  // Waits (at most 10 s) for a report of everything.
  bool saw_full() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return full > 0; });
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

// Polls (at most 10 s) until the watch has `n` folders.
bool watches(const FolderWatch& w, size_t n) {
  for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(10ms))
    if (w.watched() == n) return true;
  return w.watched() == n;
}

long long max_queued_events() {
  long long n = 0;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> n;
  return n;
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

TEST_CASE("folder watch: after the kernel's queue overflowed, a folder made while events were lost is watched") {
  const long long queued = max_queued_events();
  if (queued <= 0 || queued > 1000000) {
    WARN("fs.inotify.max_queued_events is " << queued << ": no overflow made here");
    return;
  }
  testing::PartsStore s;
  const std::string dags = s.dags();
  // The first report holds the watch's thread: meanwhile nobody reads the
  // kernel's queue, and it overflows.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool held = false, open = false;
    void let_go() {
      std::lock_guard lock(mu);
      open = true;
      cv.notify_all();
    }
  } gate;
  Reports r;
  auto w = FolderWatch::start(dags, [&](FolderWatch::Changes c) {
    {
      std::unique_lock lock(gate.mu);
      if (!gate.held) {
        gate.held = true;
        gate.cv.notify_all();
        gate.cv.wait_for(lock, 30s, [&] { return gate.open; });
      }
    }
    r.add(std::move(c));
  });
  REQUIRE(w.ok());
  struct LetGo {
    Gate& g;
    ~LetGo() { g.let_go(); }  // before the watch stops, whatever fails
  } let_go{gate};
  s.write_dag("first.yaml", dag_text("first"));
  {
    std::unique_lock lock(gate.mu);
    REQUIRE(gate.cv.wait_for(lock, 10s, [&] { return gate.held; }));
  }
  // More events than the kernel keeps: each round makes three (created, closed, deleted).
  for (long long i = 0; i < queued / 3 + 1000; ++i) {
    std::ofstream(s.dir / "dags" / "churn.txt") << "x";
    fs::remove(s.dir / "dags" / "churn.txt");
  }
  fs::create_directories(s.dir / "dags" / "lost");  // its event is lost
  gate.let_go();
  CHECK(r.saw_full());
  // Watched since the overflow: a file written in it is reported.
  CHECK((*w)->watched() == 2);
  s.write_dag("lost/x.yaml", dag_text("x"));
  CHECK(r.saw(dags + "/lost/x.yaml"));
  (*w)->stop();
}

TEST_CASE("folder watch: the folder deleted and made again (a fresh clone) is watched again, with a full report") {
  testing::PartsStore s;
  fs::create_directories(s.dir / "dags" / "team");
  s.write_dag("a.yaml", dag_text("a"));
  const std::string dags = s.dags();
  Reports r;
  auto w = FolderWatch::start(dags, [&](FolderWatch::Changes c) { r.add(std::move(c)); });
  REQUIRE(w.ok());
  REQUIRE((*w)->watched() == 2);
  // rm -rf dags; git clone ... dags
  fs::remove_all(s.dir / "dags");
  fs::create_directories(s.dir / "dags" / "one");
  fs::create_directories(s.dir / "dags" / "two");
  CHECK(r.saw_full());
  // The new folder and its two are watched (the old ones are not)...
  CHECK(watches(**w, 3));
  // ...and what is written in them is reported.
  s.write_dag("b.yaml", dag_text("b"));
  CHECK(r.saw(dags + "/b.yaml"));
  s.write_dag("two/c.yaml", dag_text("c"));
  CHECK(r.saw(dags + "/two/c.yaml"));
  // Moved away, and another moved in under the name.
  fs::create_directories(s.dir / "staged");
  std::ofstream(s.dir / "staged" / "d.yaml") << dag_text("d");
  fs::rename(s.dir / "dags", s.dir / "dags.old");
  fs::rename(s.dir / "staged", s.dir / "dags");
  CHECK(watches(**w, 1));
  s.write_dag("e.yaml", dag_text("e"));
  CHECK(r.saw(dags + "/e.yaml"));
  (*w)->stop();
}

TEST_CASE("folder watch: a symlinked folder pointed elsewhere is watched at its new target, with a full report") {
  testing::PartsStore s;
  fs::create_directories(s.dir / "v1");
  fs::create_directories(s.dir / "v2" / "team");
  fs::create_directory_symlink("v1", s.dir / "current");
  const std::string root = (s.dir / "current").string();
  Reports r;
  auto w = FolderWatch::start(root, [&](FolderWatch::Changes c) { r.add(std::move(c)); });
  REQUIRE(w.ok());
  REQUIRE((*w)->watched() == 1);
  std::ofstream(s.dir / "v1" / "a.yaml") << dag_text("a");
  CHECK(r.saw(root + "/a.yaml"));
  // As deploy tools do it: a new link renamed over the old one (nothing
  // changes in v1 or v2 themselves).
  fs::create_directory_symlink("v2", s.dir / "next");
  fs::rename(s.dir / "next", s.dir / "current");
  CHECK(r.saw_full());
  CHECK(watches(**w, 2));  // v2 and v2/team
  std::ofstream(s.dir / "v2" / "team" / "b.yaml") << dag_text("b");
  CHECK(r.saw(root + "/team/b.yaml"));
  // The old target is not watched any more.
  r.take();
  std::ofstream(s.dir / "v1" / "old.yaml") << dag_text("old");
  std::ofstream(s.dir / "v2" / "marker.yaml") << dag_text("marker");
  CHECK(r.saw(root + "/marker.yaml"));
  CHECK(r.take() == std::vector<std::string>{root + "/marker.yaml"});
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

TEST_CASE("dag registry: a full scan asked for during the cold load waits for its end, then finds what the load missed") {
  testing::PartsStore s;
  for (int i = 0; i < 5; ++i) s.write_dag("d" + std::to_string(i) + ".yaml", dag_text("d" + std::to_string(i)));
  DagRegistry reg(*s.store, s.dags());
  reg.begin_load();
  CHECK(reg.load_step(2));
  s.write_dag("late.yaml", dag_text("late"));  // after the load listed the folder
  const long long compiled = reg.files_compiled();
  // What a full report does (a queue overflow, the folder replaced): not the
  // three files left and the new one in this turn.
  reg.scan(false);
  CHECK(reg.files_compiled() == compiled);
  CHECK(reg.load_step(2));
  CHECK(reg.files_compiled() == compiled + 2);
  // The last chunk; the scan is a step of its own after it.
  CHECK(reg.load_step(2));
  CHECK(reg.progress().loading);
  CHECK_FALSE(reg.find("late"));
  CHECK_FALSE(reg.load_step(2));
  CHECK_FALSE(reg.progress().loading);
  REQUIRE(reg.find("late"));
  CHECK(reg.files_compiled() == compiled + 4);  // the scan compiled only the new file
  CHECK(s.store->get_dag("late").ok());
  // After the load a full scan is done at once.
  s.write_dag("later.yaml", dag_text("later"));
  reg.scan(false);
  CHECK(reg.find("later"));
}
