// The DAG registry on its own: the folder compiled and registered, versions
// kept, import errors recorded, removed files deactivated.
#include <catch2/catch.hpp>

#include "dag_registry.h"
#include "parts_support.h"

using namespace baton;
using namespace baton::scheduler;

TEST_CASE("dag registry: each new version is registered once; a changed file makes another") {
  testing::PartsStore s;
  DagRegistry reg(*s.store, s.dags());
  std::vector<std::string> registered;
  reg.set_on_registered([&](DagEntry& d, const store::DagRecord* rec) {
    CHECK(rec != nullptr);
    registered.push_back(d.dag_id);
  });
  s.write_dag("a.yaml", "dag: a\ntasks:\n  x: {type: noop}\n");
  reg.scan(true);
  REQUIRE(registered == std::vector<std::string>{"a"});
  const std::string v1 = reg.current("a")->hash();
  reg.scan(false);
  CHECK(registered.size() == 1);  // nothing changed, nothing compiled
  s.write_dag("a.yaml", "dag: a\ntasks:\n  x: {type: noop}\n  y: {type: noop, depends_on: [x]}\n");
  reg.scan(false);
  CHECK(registered.size() == 2);
  const std::string v2 = reg.current("a")->hash();
  CHECK(v2 != v1);
  auto rec = s.store->get_dag("a");
  REQUIRE(rec.ok());
  CHECK(rec->current_version == v2);
  // A run on the first version still finds its graph: in memory, and after
  // a restart from the stored source.
  CHECK(reg.graph_of("a", v1)->hash() == v1);
  DagRegistry restarted(*s.store, s.dags());
  auto g = restarted.graph_of("a", v1);
  REQUIRE(g);
  CHECK(g->spec().tasks.size() == 1);
  CHECK(restarted.graph_of("a", "no-such-version") == nullptr);
}

TEST_CASE("dag registry: a file that does not compile has import errors; a removed file's DAG is inactive") {
  testing::PartsStore s;
  DagRegistry reg(*s.store, s.dags());
  s.write_dag("b.yaml", "dag: b\ntasks:\n  x: {type: noop}\n");
  s.write_dag("c.yaml", "dag: c\ntasks:\n  x: {type: noop, depends_on: [missing]}\n");
  reg.scan(true);
  auto c = s.store->get_dag("c");
  REQUIRE(c.ok());
  CHECK(c->import_errors.find("missing") != std::string::npos);
  CHECK(reg.current("c") == nullptr);
  REQUIRE(reg.find("b"));
  CHECK(reg.find("b")->active);
  std::filesystem::remove(s.dir / "dags" / "b.yaml");
  reg.scan(false);
  CHECK_FALSE(reg.find("b")->active);
  CHECK_FALSE(s.store->get_dag("b")->active);
}

TEST_CASE("dag registry: load_known takes the store's DAGs with their flags before any scan") {
  testing::PartsStore s;
  {
    DagRegistry first(*s.store, s.dags());
    s.write_dag("p.yaml", "dag: p\ntasks:\n  x: {type: noop}\n");
    first.scan(true);
  }
  REQUIRE(s.store->set_paused("p", true, "test").ok());
  DagRegistry reg(*s.store, s.dags());
  auto list = s.store->list_dags();
  REQUIRE(list.ok());
  reg.load_known(*list);
  REQUIRE(reg.find("p"));
  CHECK(reg.find("p")->paused);
  CHECK(reg.current("p"));
}

TEST_CASE("dag registry: a folder that cannot be listed at start keeps the known DAGs as they were") {
  testing::PartsStore s;
  {
    DagRegistry reg(*s.store, s.dags());
    s.write_dag("a.yaml", "dag: a\ntasks:\n  x: {type: noop}\n");
    reg.scan(true);
    REQUIRE(s.store->get_dag("a")->active);
  }
  // The folder is gone at the next start (not mounted yet, a typo): the load
  // finds nothing to list, and deactivates nothing.
  std::filesystem::rename(s.dags(), s.dir / "away");
  DagRegistry restarted(*s.store, s.dags());
  auto known = s.store->list_dags();
  REQUIRE(known.ok());
  restarted.load_known(*known);
  restarted.scan(true);
  CHECK(s.store->get_dag("a")->active);
  REQUIRE(restarted.find("a"));
  CHECK(restarted.find("a")->active);
  // Back again: a scan sees it, and a file removed for real is deactivated.
  std::filesystem::rename(s.dir / "away", s.dags());
  std::filesystem::remove(s.dir / "dags" / "a.yaml");
  restarted.scan(false);
  CHECK_FALSE(s.store->get_dag("a")->active);
}

TEST_CASE("dag registry: a DAG outside its namespace's folder is refused, also when the folder is set later") {
  testing::PartsStore s;
  DagRegistry reg(*s.store, s.dags());
  s.write_dag("sales/daily.yaml", "dag: daily\nnamespace: sales\ntasks:\n  x: {type: noop}\n");
  s.write_dag("ops/rogue.yaml", "dag: rogue\nnamespace: sales\ntasks:\n  x: {type: noop}\n");
  reg.scan(true);
  REQUIRE(reg.find("rogue"));
  CHECK(reg.find("rogue")->active);  // no folder yet: any file may claim sales
  // sales is bound to its folder: the rogue file is invalid and makes no more runs.
  reg.set_namespace_folders({{"sales", "sales"}});
  CHECK_FALSE(reg.find("rogue")->active);
  auto rogue = s.store->get_dag("rogue");
  REQUIRE(rogue.ok());
  CHECK_FALSE(rogue->active);
  CHECK(rogue->import_errors.find("only DAG files under sales/") != std::string::npos);
  CHECK(reg.find("daily")->active);
  // A rogue file written after is refused at once: no DAG, nothing filed
  // under sales (its error is in the log).
  s.write_dag("ops/late.yaml", "dag: late\nnamespace: sales\ntasks:\n  x: {type: noop}\n");
  reg.scan(false);
  CHECK((!reg.find("late") || !reg.find("late")->active));
  CHECK(s.store->get_dag("late").error().code == "not_found");
  // One that claims sales' own DAG id from ops/ (sorting first) takes
  // nothing: daily stays sales', active, without errors.
  s.write_dag("a_ops/daily.yaml", "dag: daily\nnamespace: sales\ntasks:\n  x: {type: noop}\n  y: {type: noop}\n");
  reg.scan(false);
  CHECK(reg.find("daily")->active);
  CHECK(reg.find("daily")->file == (s.dir / "dags" / "sales/daily.yaml").string());
  CHECK(reg.current("daily")->spec().tasks.size() == 1);
  CHECK(s.store->get_dag("daily")->import_errors.empty());
  // The binding lifted: both are DAGs again.
  reg.set_namespace_folders({});
  CHECK(reg.find("rogue")->active);
  CHECK(reg.find("late")->active);
  CHECK(s.store->get_dag("rogue")->active);
}

TEST_CASE("dag registry: a file elsewhere cannot take a DAG's id into another namespace; its own file can move it") {
  testing::PartsStore s;
  DagRegistry reg(*s.store, s.dags());
  s.write_dag("sales/weekly.yaml", "dag: weekly\nnamespace: sales\ntasks:\n  x: {type: noop}\n");
  reg.scan(true);
  REQUIRE(reg.find("weekly"));
  // ops/ sorts first and names the id with namespace ops: refused, the DAG
  // (and its runs) stay sales'.
  s.write_dag("a_ops/take.yaml", "dag: weekly\nnamespace: ops\ntasks:\n  x: {type: noop}\n  y: {type: noop}\n");
  reg.scan(false);
  CHECK(reg.current("weekly")->spec().ns == "sales");
  CHECK(reg.find("weekly")->active);
  CHECK(s.store->get_dag("weekly")->ns == "sales");
  // The sales file itself says ops: the DAG moves (its authors said so).
  std::filesystem::remove(s.dir / "dags" / "a_ops" / "take.yaml");
  s.write_dag("sales/weekly.yaml", "dag: weekly\nnamespace: ops\ntasks:\n  x: {type: noop}\n");
  reg.scan(false);
  CHECK(reg.current("weekly")->spec().ns == "ops");
  CHECK(s.store->get_dag("weekly")->ns == "ops");
}

TEST_CASE("dag registry: an invalid file's errors are filed under the namespace it names") {
  testing::PartsStore s;
  DagRegistry reg(*s.store, s.dags());
  s.write_dag("sales/broken.yaml", "dag: broken\nnamespace: sales\nnonsense: 1\ntasks:\n  x: {type: noop}\n");
  reg.scan(true);
  auto rec = s.store->get_dag("broken");
  REQUIRE(rec.ok());
  CHECK_FALSE(rec->import_errors.empty());
  CHECK(rec->ns == "sales");
}

TEST_CASE("dag registry: a version's stored source is the text it was compiled from, though the file changed since") {
  testing::PartsStore s;
  DagRegistry reg(*s.store, s.dags());
  reg.scan(true);  // an empty folder
  // 1,001 new files: compiled together, registered 1,000 and then 1. The
  // last one is written anew while the first 1,000 register.
  auto name = [](int i) {
    std::string n = std::to_string(i);
    return "d" + std::string(4 - n.size(), '0') + n + ".yaml";
  };
  for (int i = 0; i <= 1000; ++i) s.write_dag(name(i), "dag: d" + std::to_string(i) + "\ntasks:\n  x: {type: noop}\n");
  const std::string compiled = "dag: d1000\ntasks:\n  x: {type: noop}\n";
  bool rewritten = false;
  reg.set_on_registered([&](DagEntry&, const store::DagRecord*) {
    if (rewritten) return;
    rewritten = true;
    s.write_dag(name(1000), "dag: d1000\ntasks:\n  x: {type: noop}\n  y: {type: noop, depends_on: [x]}\n");
  });
  reg.scan(false);
  REQUIRE(rewritten);
  REQUIRE(reg.current("d1000"));
  const std::string version = reg.current("d1000")->hash();
  auto stored = s.store->get_dag_version("d1000", version);
  REQUIRE(stored.ok());
  CHECK(stored->source == compiled);
  // So a restart compiles that version again from what was stored.
  DagRegistry restarted(*s.store, s.dags());
  auto g = restarted.graph_of("d1000", version);
  REQUIRE(g);
  CHECK(g->spec().tasks.size() == 1);
}

TEST_CASE("dag registry: a file let through later registers only what it still is; an edit not read yet waits for it") {
  testing::PartsStore s;
  DagRegistry reg(*s.store, s.dags());
  reg.set_namespace_folders({{"sales", "sales"}});
  s.write_dag("ops/late.yaml", "dag: late\nnamespace: sales\ntasks:\n  x: {type: noop}\n");
  reg.scan(true);
  CHECK(s.store->get_dag("late").error().code == "not_found");  // refused
  // Edited, and not read yet, when the binding is lifted: the version
  // compiled before is not the file's any more, and is not registered.
  const std::string now = "dag: late\nnamespace: sales\ntasks:\n  x: {type: noop}\n  y: {type: noop}\n";
  s.write_dag("ops/late.yaml", now);
  reg.set_namespace_folders({});
  CHECK(s.store->get_dag("late").error().code == "not_found");
  // The edit read: the file's version, with its own text.
  reg.scan(false);
  REQUIRE(reg.current("late"));
  CHECK(reg.current("late")->spec().tasks.size() == 2);
  auto versions = s.store->list_dag_versions("late");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 1);
  CHECK(versions->front().source == now);
  CHECK(versions->front().version == reg.current("late")->hash());
}
