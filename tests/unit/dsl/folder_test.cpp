#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "baton/dsl/dag_folder.h"

using namespace baton::dsl;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("baton-folder-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel) << text;
  }
};
}  // namespace

TEST_CASE("a folder is read recursively; dot names and other extensions are ignored") {
  TempDir d;
  d.write("a.yaml", "dag: a\ntasks: {t: {type: noop}}\n");
  d.write("sub/b.yml", "dag: b\ntasks: {t: {type: noop}}\n");
  d.write(".hidden.yaml", "dag: hidden\ntasks: {t: {type: noop}}\n");
  d.write(".git/c.yaml", "dag: c\ntasks: {t: {type: noop}}\n");
  d.write("notes.txt", "not a dag");
  auto files = find_dag_files({d.path.string()});
  REQUIRE(files.ok());
  REQUIRE(files->size() == 2);
  auto load = load_dag_files(*files);
  CHECK(load.dags.size() == 2);
  CHECK(load.dags.count("a"));
  CHECK(load.dags.count("b"));
  CHECK(load.errors().empty());
}

TEST_CASE("an invalid file never stops the others; every error of every file is reported") {
  TempDir d;
  d.write("1.yaml", "dag: one\ntasks: {t: {type: noop}}\n");
  d.write("2.yaml", "dag: two\ncatchup: x\ntasks: {t: {type: noop, retries: y}}\n");
  d.write("3.yaml", "dag: three\ntasks: [\n");
  auto load = load_dag_files(*find_dag_files({d.path.string()}));
  CHECK(load.dags.size() == 1);
  CHECK(load.errors().size() == 3);
}

TEST_CASE("error: duplicate DAG ids across files") {
  TempDir d;
  d.write("a.yaml", "dag: same\ntasks: {t: {type: noop}}\n");
  d.write("b.yaml", "# second\ndag: same\ntasks: {t: {type: noop}}\n");
  auto load = load_dag_files(*find_dag_files({d.path.string()}));
  CHECK(load.dags.size() == 1);
  CHECK(load.dags.at("same")->spec().file == (d.path / "a.yaml").string());
  auto errors = load.errors();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].file == (d.path / "b.yaml").string());
  CHECK(errors[0].pos.line == 2);
  CHECK(errors[0].message.find("duplicate DAG id \"same\": already defined in " + (d.path / "a.yaml").string() +
                               ":1") != std::string::npos);
}

TEST_CASE("a file of exactly 1 MiB is read whole; one byte more is refused") {
  TempDir d;
  std::string head = "dag: big\ntasks: {t: {type: noop}}\n# ";
  d.write("big.yaml", head + std::string((1 << 20) - head.size() - 1, 'x') + "\n");
  REQUIRE(fs::file_size(d.path / "big.yaml") == (1u << 20));
  auto load = load_dag_files(*find_dag_files({d.path.string()}));
  CHECK(load.errors().empty());
  CHECK(load.dags.count("big") == 1);
  d.write("big.yaml", head + std::string((1 << 20) - head.size(), 'x') + "\n");
  auto over = load_dag_files(*find_dag_files({d.path.string()}));
  REQUIRE(over.errors().size() == 1);
  CHECK(over.errors()[0].message.find("the limit is 1048576 bytes (1 MiB)") != std::string::npos);
}

TEST_CASE("error: a file over 1 MiB is refused without reading it") {
  TempDir d;
  d.write("big.yaml", "dag: big\n# " + std::string(1 << 20, 'x') + "\n");
  auto load = load_dag_files(*find_dag_files({d.path.string()}));
  REQUIRE(load.errors().size() == 1);
  CHECK(load.errors()[0].message.find("the limit is 1048576 bytes (1 MiB)") != std::string::npos);
}

TEST_CASE("a file named twice is read once; only regular files are read") {
  TempDir d;
  d.write("a.yaml", "dag: a\ntasks: {t: {type: noop}}\n");
  auto files = find_dag_files({d.path.string(), (d.path / "a.yaml").string(), (d.path / "." / "a.yaml").string()});
  REQUIRE(files.ok());
  CHECK(files->size() == 1);
  auto load = load_dag_files(*files);
  CHECK(load.errors().empty());
  // Named through a symlinked folder, and by a symlink found in the
  // folder: the same file still. A hard link is a file of its own (its
  // path is where the namespace rules look).
  fs::create_directory_symlink(d.path, d.path / ".via");
  fs::create_symlink(d.path / "a.yaml", d.path / "c.yaml");
  fs::create_hard_link(d.path / "a.yaml", d.path / "b.yaml");
  auto linked = find_dag_files({d.path.string(), (d.path / ".via" / "a.yaml").string()});
  REQUIRE(linked.ok());
  CHECK(*linked == std::vector<std::string>{(d.path / "a.yaml").string(), (d.path / "b.yaml").string()});
  auto dev = load_dag_files({"/dev/zero"});
  REQUIRE(dev.errors().size() == 1);
  CHECK(dev.errors()[0].message.find("not a regular file") != std::string::npos);
}

TEST_CASE("a missing path is an error") {
  auto r = find_dag_files({"/nonexistent/baton"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("/nonexistent/baton") != std::string::npos);
}

TEST_CASE("a namespace bound to a folder: only DAG files under it may claim it, and the error names all three") {
  TempDir d;
  d.write("sales/daily.yaml", "dag: daily\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  d.write("sales/deep/weekly.yaml", "dag: weekly\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  d.write("salesforce/sync.yaml", "dag: sync\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  d.write("ops/rogue.yaml", "dag: rogue\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  d.write("ops/own.yaml", "dag: own\nnamespace: ops\ntasks: {t: {type: noop}}\n");
  d.write("top.yaml", "dag: top\ntasks: {t: {type: noop}}\n");
  auto files = find_dag_files({d.path.string()});
  REQUIRE(files.ok());
  auto compiled = compile_dag_files(*files);
  auto refused = check_namespace_folders(compiled, d.path.string(), {{"sales", "sales"}});
  CHECK(refused == std::set<std::string>{(d.path / "ops/rogue.yaml").string(), (d.path / "salesforce/sync.yaml").string()});
  auto load = check_unique_ids(std::move(compiled));
  CHECK(load.dags.size() == 4);
  CHECK(load.dags.count("daily"));
  CHECK(load.dags.count("weekly"));
  auto errors = load.errors();
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].file == (d.path / "ops/rogue.yaml").string());
  CHECK(errors[0].message ==
        "namespace: the DAG claims namespace \"sales\", which only DAG files under sales/ in the DAGs folder may "
        "claim; this file is ops/rogue.yaml (move it under sales/, or name another namespace)");
  CHECK(errors[1].message.find("this file is salesforce/sync.yaml") != std::string::npos);
  // A folder given with a trailing slash or a dot means the same; no folders, no check.
  auto again = compile_dag_files(*files);
  CHECK(check_namespace_folders(again, d.path.string() + "/", {{"sales", "./sales/"}}).size() == 2);
  auto none = compile_dag_files(*files);
  CHECK(check_namespace_folders(none, d.path.string(), {}).empty());
}

TEST_CASE("a refused file owns no DAG id: it can neither take a bound namespace's DAG nor have it refused") {
  TempDir d;
  d.write("sales/daily.yaml", "dag: daily\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  // Sorts first, and claims sales' id and namespace from ops/.
  d.write("a_ops/daily.yaml", "dag: daily\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  auto files = find_dag_files({d.path.string()});
  REQUIRE(files.ok());
  auto compiled = compile_dag_files(*files);
  check_namespace_folders(compiled, d.path.string(), {{"sales", "sales"}});
  auto load = check_unique_ids(std::move(compiled));
  REQUIRE(load.dags.count("daily"));
  for (auto& f : load.files) {
    INFO(f.path);
    bool rogue = f.path == (d.path / "a_ops/daily.yaml").string();
    CHECK(f.refused == rogue);
    CHECK(static_cast<bool>(f.result.graph) == !rogue);
    if (!rogue) CHECK(f.result.errors.empty());  // no "duplicate id": the refused file owns none
  }
}

TEST_CASE("a symlink counts where it points; the file that owned an id keeps it against a newcomer") {
  TempDir d;
  d.write("sales/daily.yaml", "dag: daily\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  fs::create_directories(d.path / "a_ops");
  fs::create_symlink("../sales/daily.yaml", d.path / "a_ops/daily.yaml");
  auto files = find_dag_files({d.path.string()});
  REQUIRE(files.ok());
  REQUIRE(files->size() == 1);  // the same file twice is read once, under the first path
  auto compiled = compile_dag_files(*files);
  CHECK(check_namespace_folders(compiled, d.path.string(), {{"sales", "sales"}}).empty());
  // A link into ops/ from sales/ is refused, and says where it points.
  TempDir e;
  e.write("ops/job.yaml", "dag: job\nnamespace: sales\ntasks: {t: {type: noop}}\n");
  fs::create_directories(e.path / "sales");
  fs::create_symlink("../ops/job.yaml", e.path / "sales/job.yaml");
  auto linked = compile_dag_files({(e.path / "sales/job.yaml").string()});
  REQUIRE(check_namespace_folders(linked, e.path.string(), {{"sales", "sales"}}).size() == 1);
  CHECK(linked[0].result.errors.back().message.find("this file is ops/job.yaml (a link to ") != std::string::npos);
  // Owners: b.yaml had the id; a.yaml, first in path order, gets the duplicate error.
  TempDir f;
  f.write("a.yaml", "dag: x\ntasks: {t: {type: noop}}\n");
  f.write("b.yaml", "dag: x\ntasks: {t: {type: noop}}\n");
  auto both = find_dag_files({f.path.string()});
  auto load = check_unique_ids(compile_dag_files(*both), {{"x", (f.path / "b.yaml").string()}});
  REQUIRE(load.dags.count("x"));
  CHECK(load.files[0].result.errors.size() == 1);
  CHECK(load.files[0].result.errors[0].message.find("duplicate DAG id") != std::string::npos);
  CHECK(load.files[1].result.errors.empty());
}
