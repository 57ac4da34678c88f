// What the scheduler's part tests share: a fresh SQLite store in a temporary
// folder with a DAGs folder beside it, a fake clock, compiled DAGs, and a
// fake of Fencing. Header-only; for tests.
#pragma once

#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "baton/core/clock.h"
#include "baton/dsl/compiler.h"
#include "baton/store/store.h"
#include "fencing.h"

namespace baton::testing {

inline dsl::DagGraphPtr compile(const std::string& yaml) {
  auto r = dsl::compile_dag(yaml, "test.yaml");
  std::string errors;
  for (auto& e : r.errors) errors += e.format() + "\n";
  INFO(errors);
  REQUIRE(r.graph);
  return r.graph;
}

// Owns every partition with epoch 1 (what a standalone's join gives on a
// fresh database), and counts refused writes.
struct FakeFencing final : scheduler::Fencing {
  std::vector<store::Fence> fences_;
  int fenced = 0;
  std::string last_error;
  const std::vector<store::Fence>& fences() const override { return fences_; }
  bool owns(const std::string&) const override { return true; }
  void fenced_out(const Error& e) override {
    ++fenced;
    last_error = e.message;
  }
};

struct PartsStore {
  std::filesystem::path dir;
  FakeClock clock{*parse_utc("2026-11-22T10:00:00Z")};
  std::unique_ptr<store::Store> store;

  PartsStore() {
    static int n = 0;
    dir = std::filesystem::temp_directory_path() /
          ("baton-parts-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "dags");
    auto url = store::parse_database_url("sqlite:" + (dir / "baton.db").string());
    REQUIRE(url.ok());
    auto opened = store::open_store(*url, clock);
    REQUIRE(opened.ok());
    store = std::move(*opened);
  }
  ~PartsStore() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string dags() const { return (dir / "dags").string(); }
  void write_dag(const std::string& name, const std::string& yaml) const {
    std::filesystem::create_directories((dir / "dags" / name).parent_path());
    std::ofstream(dir / "dags" / name) << yaml;
  }
};

}  // namespace baton::testing
