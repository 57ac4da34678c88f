// Reads that do not grow with history (BENCHMARKS.md W5), on every engine:
// every list query the API serves stays on an index (its very statements,
// from Store::explain_list_queries), keyset pages cover a list exactly once,
// and the counters behind GET /metrics agree with the rows through every
// kind of write. SQLite always; PostgreSQL when BATON_TEST_PG_URL names a
// database. Sizes are small and nothing is timed: a plan is the same on ten
// rows as on a million once no table is scanned whole.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <pqxx/pqxx>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "baton/store/store.h"
#include "store_engines.h"

using namespace baton;
using namespace baton::store;
namespace fs = std::filesystem;

namespace {

std::vector<testing::StoreEngine> engines() { return testing::store_engines("plans"); }

void each_store(const std::function<void(Store&, FakeClock&, const std::string&)>& body) {
  for (auto& e : engines()) {
    DYNAMIC_SECTION(e.name) {
      FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
      auto url = parse_database_url(e.url);
      REQUIRE(url.ok());
      auto store = open_store(*url, clock);
      INFO((store.ok() ? std::string() : store.error().message));
      REQUIRE(store.ok());
      body(**store, clock, e.name);
    }
  }
}

// The tables that grow with history: no list may read one of them whole.
const std::set<std::string> kBigTables = {"dag_runs",   "task_instances", "task_tries",     "audit_log",
                                          "backfills",  "sla_misses",     "notifications",  "dataset_events",
                                          "dags"};

// The lists a client pages through with a cursor: besides no whole table,
// no sort of everything that matches (the index gives the order). The lists
// of one run's task instances and tries are bounded by the run, and the
// unfinished runs by the work in flight: those may sort.
bool keyset_list(const std::string& name) {
  return name.rfind("runs.", 0) == 0 ? name.find("unfinished") == std::string::npos && name != "runs.recent"
                                     : name.rfind("audit.", 0) == 0 || name == "dags.page" ||
                                           name.rfind("backfills.", 0) == 0 || name.rfind("sla_misses.", 0) == 0 ||
                                           name.rfind("dataset_events.", 0) == 0 || name == "notifications.dag";
}

// What is wrong with a plan, or "".
std::string plan_problem(const QueryPlan& p, const std::string& engine) {
  std::istringstream lines(p.plan);
  std::string line;
  while (std::getline(lines, line)) {
    if (engine == "sqlite") {
      // "SCAN t" reads t whole; "SCAN t USING [COVERING] INDEX i" walks an
      // index in order (a keyset page stops after its limit).
      for (auto& t : kBigTables) {
        auto at = line.find("SCAN " + t);
        if (at == std::string::npos) continue;
        auto rest = line.substr(at + 5 + t.size());
        if (!rest.empty() && rest[0] != ' ') continue;  // another table with this prefix
        if (rest.find("USING INDEX") == std::string::npos && rest.find("USING COVERING INDEX") == std::string::npos)
          return "reads " + t + " whole: " + line;
      }
      if (keyset_list(p.name) && line.find("TEMP B-TREE FOR ORDER BY") != std::string::npos)
        return "sorts everything that matches: " + line;
    } else {
      static const std::regex seq("Seq Scan on ([a-z_]+)");
      if (std::smatch m; std::regex_search(line, m, seq) && kBigTables.count(m[1].str()))
        return "reads " + m[1].str() + " whole: " + line;
      if (keyset_list(p.name) && (line.find("Sort  (") != std::string::npos ||
                                  line.find("Sort (") != std::string::npos))
        return "sorts everything that matches: " + line;
    }
  }
  return "";
}

// SQLite: the columns a keyset list filters on, each of which must be in
// its SEARCH's condition (an index on all of them, not one walked and the
// others filtered).
std::vector<std::string> search_columns(const std::string& name) {
  std::vector<std::string> out;
  auto has = [&](const char* part) { return name.find(part) != std::string::npos; };
  if (name.rfind("runs.", 0) == 0 && name.find("unfinished") == std::string::npos && name != "runs.recent") {
    if (has("dag")) out.push_back("dag_id=?");
    if (has("state")) out.push_back("state=?");
    if (has("type")) out.push_back("run_type=?");
  } else if (name.rfind("audit.action", 0) == 0) {
    out.push_back("action=?");
  } else if (name.rfind("audit.actor", 0) == 0) {
    out.push_back("actor=?");
  } else if (name == "audit.first_since") {
    out.push_back("at>?");
  } else if (name == "sla_misses.first_since") {
    out.push_back("detected_at>?");
  } else if (name == "sla_misses.dag" || name == "backfills.dag" || name == "notifications.dag") {
    out.push_back("dag_id=?");
  } else if (name == "dataset_events.uri") {
    out.push_back("uri=?");
  }
  return out;
}

// Run i on day `day` (manual runs may share one: pages break ties by id).
RunRecord make_run(const std::string& dag, int i, int day, RunState state, const std::string& type = "scheduled") {
  RunRecord r;
  r.dag_id = dag;
  r.run_type = type;
  r.run_id = type + "__" + std::to_string(1000 + i);
  r.logical_date = *parse_utc("2026-01-01T00:00:00Z") + std::chrono::hours(24 * day);
  r.data_interval_start = r.logical_date;
  r.data_interval_end = r.logical_date + std::chrono::hours(24);
  r.dag_version = "v1";
  r.state = state;
  return r;
}

void register_dag(Store& s, const std::string& dag) {
  DagVersionRecord v;
  v.dag_id = dag;
  v.version = "v1";
  v.compiled = "{}";
  v.source = "dag: " + dag;
  v.file = "dags/" + dag + ".yaml";
  REQUIRE(s.register_dag_version(v, "default", 0, "system").ok());
}

}  // namespace

TEST_CASE("every list query the API serves stays on an index") {
  each_store([](Store& s, FakeClock&, const std::string& engine) {
    register_dag(s, "d");
    auto plans = s.explain_list_queries();
    INFO((plans.ok() ? std::string() : plans.error().message));
    REQUIRE(plans.ok());
    std::set<std::string> names;
    for (auto& p : *plans) {
      names.insert(p.name);
      INFO(engine << " " << p.name << " (" << p.table << "):\n" << p.plan);
      CHECK_FALSE(p.plan.empty());
      CHECK(plan_problem(p, engine) == "");
      if (engine == "sqlite")
        for (auto& col : search_columns(p.name)) {
          INFO("filter " << col);
          CHECK(std::regex_search(p.plan, std::regex("SEARCH [a-z_]+ USING [A-Z ]*INDEX [a-z_]+ \\([^)]*\\b" +
                                                     std::regex_replace(col, std::regex("[?]"), "\\?") + "")));
        }
    }
    // Every list the API serves is among them.
    for (const char* n : {"runs.dag", "runs.dag_state", "runs.dag_type", "runs.unfinished", "task_instances.run", "tries.task_instance", "tries.run", "backfills.dag",
                          "backfills.all", "audit.dag.oldest", "audit.all.newest", "audit.action.oldest",
                          "audit.actor.newest", "sla_misses.all", "sla_misses.dag", "notifications.dag",
                          "dataset_events.all", "dataset_events.uri", "dags.page", "runs.dag_state_type", "audit.first_since", "sla_misses.first_since"})
      CHECK(names.count(n) == 1);
  });
}

TEST_CASE("keyset pages of runs cover each run once, newest first, with every filter") {
  each_store([](Store& s, FakeClock&, const std::string&) {
    register_dag(s, "d");
    register_dag(s, "e");
    for (int i = 0; i < 23; ++i) {
      RunState st = i % 3 == 0 ? RunState::failed : RunState::success;
      REQUIRE(s.create_run(make_run("d", i, i, st, i % 4 == 1 ? "manual" : "scheduled"), {}, "system").ok());
      REQUIRE(s.create_run(make_run("e", i, i / 2, RunState::success, "manual"), {}, "system").ok());
    }
    auto page_all = [&](RunFilter f) {
      std::vector<RunRecord> all;
      f.limit = 4;
      for (int guard = 0; guard < 100; ++guard) {
        auto page = s.list_runs(f);
        REQUIRE(page.ok());
        all.insert(all.end(), page->begin(), page->end());
        if (page->size() < 4) break;
        f.before = std::make_pair(page->back().logical_date, page->back().pk);
      }
      return all;
    };
    auto check = [&](RunFilter f, size_t expected) {
      auto runs = page_all(f);
      CHECK(runs.size() == expected);
      std::set<long long> seen;
      for (size_t i = 0; i < runs.size(); ++i) {
        CHECK(seen.insert(runs[i].pk).second);
        if (f.dag_id) CHECK(runs[i].dag_id == *f.dag_id);
        if (f.state) CHECK(runs[i].state == *f.state);
        if (f.run_type) CHECK(runs[i].run_type == *f.run_type);
        if (i > 0)
          CHECK(std::make_pair(runs[i].logical_date, runs[i].pk) <
                std::make_pair(runs[i - 1].logical_date, runs[i - 1].pk));
      }
    };
    RunFilter f;
    check(f, 46);
    f.dag_id = "d";
    check(f, 23);
    f.state = RunState::failed;
    check(f, 8);
    f.run_type = "manual";
    check(f, 2);  // runs 9 and 21

    f.state.reset();
    check(f, 6);
    f.dag_id.reset();
    check(f, 6 + 23);
    RunFilter failed;
    failed.state = RunState::failed;
    check(failed, 8);

    auto recent = s.recent_runs({"d", "e", "nobody"}, 3);
    REQUIRE(recent.ok());
    CHECK(recent->count("nobody") == 0);
    REQUIRE(recent->at("d").size() == 3);
    CHECK(recent->at("d")[0].run_id == "scheduled__1022");
    CHECK(recent->at("e")[1].run_id == "manual__1021");
    CHECK(recent->at("e")[2].run_id == "manual__1020");

    std::vector<std::string> ids;
    std::string after;
    for (;;) {
      auto page = s.list_dags_page(after, 1);
      REQUIRE(page.ok());
      if (page->empty()) break;
      ids.push_back(page->front().dag_id);
      after = page->front().dag_id;
    }
    CHECK(ids == std::vector<std::string>{"d", "e"});
  });
}

TEST_CASE("the counts of runs and task instances follow every write") {
  each_store([](Store& s, FakeClock&, const std::string&) {
    register_dag(s, "d");
    std::vector<TaskInstanceRecord> tis(3);
    tis[0].task_id = "a";
    tis[1].task_id = "b";
    tis[2].task_id = "c";
    auto one = s.create_run(make_run("d", 0, 0, RunState::queued), tis, "system");
    auto two = s.create_run(make_run("d", 2, 2, RunState::queued), tis, "system");
    REQUIRE(one.ok());
    REQUIRE(two.ok());
    auto counts = s.count_states();
    REQUIRE(counts.ok());
    CHECK(counts->runs["queued"] == 2);
    CHECK(counts->task_instances["pending"] == 6);
    CHECK(counts->sla_misses == 0);

    WriteBatch b;
    RunRecord r = one->run;
    r.state = RunState::running;
    b.runs.push_back(r);
    for (auto t : one->task_instances) {
      t.state = t.task_id == "a" ? TaskState::queued : TaskState::scheduled;
      b.task_instances.push_back(t);
    }
    // The same row twice in one batch counts once, as its last state.
    auto again = one->task_instances[2];
    again.state = TaskState::running;
    b.task_instances.push_back(again);
    REQUIRE(s.apply(b).ok());
    counts = s.count_states();
    REQUIRE(counts.ok());
    CHECK(counts->runs["queued"] == 1);
    CHECK(counts->runs["running"] == 1);
    CHECK(counts->task_instances["pending"] == 3);
    CHECK(counts->task_instances["queued"] == 1);
    CHECK(counts->task_instances["scheduled"] == 1);
    CHECK(counts->task_instances["running"] == 1);
    CHECK(counts->queued["default"] == 1);

    // Unchanged states change no count; a later version's task adds one.
    REQUIRE(s.apply(b).ok());
    TaskInstanceRecord extra;
    extra.task_id = "z";
    REQUIRE(s.add_task_instances(one->run.pk, {extra}).ok());
    SlaMiss m;
    m.dag_id = "d";
    m.run_id = one->run.run_id;
    m.kind = "run_duration";
    REQUIRE(s.record_sla_miss(m).ok());
    REQUIRE(s.record_sla_miss(m).ok());  // seen before: not counted again
    counts = s.count_states();
    REQUIRE(counts.ok());
    CHECK(counts->task_instances["pending"] == 4);
    CHECK(counts->task_instances["running"] == 1);
    CHECK(counts->sla_misses == 1);
    long long total = 0;
    for (auto& [_, n] : counts->task_instances) total += n;
    CHECK(total == 7);
  });
}

// PostgreSQL: the counts' triggers lock no row another writer may hold, so
// that sessions changing runs and task instances in opposite orders never
// deadlock (a counter row per state did: the scheduler exits on a write that
// fails twice), and the counts stay exact through concurrent writes and
// folds. A statement that waits on a lock fails after lock_timeout instead
// of hanging; none should wait at all.
TEST_CASE("concurrent writers of the counts neither deadlock nor lose a count (PostgreSQL)") {
  std::string pg_url;
  for (auto& e : engines())
    if (e.name == "postgres") pg_url = e.url;
  if (pg_url.empty()) {
    SUCCEED("PostgreSQL only: BATON_TEST_PG_URL is not set");
    return;
  }
  FakeClock clock(*parse_utc("2026-11-22T10:00:00Z"));
  auto url = parse_database_url(pg_url);
  REQUIRE(url.ok());
  auto one = open_store(*url, clock);
  auto two = open_store(*url, clock);
  REQUIRE(one.ok());
  REQUIRE(two.ok());
  Store& s = **one;
  register_dag(s, "d");
  std::vector<TaskInstanceRecord> tis(2);
  tis[0].task_id = "a";
  tis[1].task_id = "b";
  std::vector<RunStore::Created> runs;
  for (int i = 0; i < 20; ++i) {
    auto c = s.create_run(make_run("d", i, i, RunState::queued), tis, "system");
    REQUIRE(c.ok());
    runs.push_back(*c);
  }
  // Two sessions that the sharded counters of before put on one shard
  // (backend pid mod 16): among 17 sessions, two are.
  std::vector<std::unique_ptr<pqxx::connection>> sessions;
  std::map<int, pqxx::connection*> by_shard;
  pqxx::connection* pa = nullptr;
  pqxx::connection* pb = nullptr;
  while (!pa) {
    sessions.push_back(std::make_unique<pqxx::connection>(url->conninfo));
    auto* c = sessions.back().get();
    auto [it, fresh] = by_shard.emplace(c->backendpid() % 16, c);
    if (!fresh) {
      pa = it->second;
      pb = c;
    }
  }
  pqxx::connection& ca = *pa;
  pqxx::connection& cb = *pb;
  std::string schema = pqxx::nontransaction(ca).exec("SELECT current_schema()")[0][0].c_str();
  // The truth, counted over the tables, against count_states.
  auto check_exact = [&] {
    auto counts = s.count_states();
    REQUIRE(counts.ok());
    pqxx::nontransaction t(ca);
    std::map<std::string, long long> runs_n, tis_n;
    for (auto row : t.exec("SELECT state, count(*) FROM dag_runs GROUP BY state")) runs_n[row[0].c_str()] = row[1].as<long long>();
    for (auto row : t.exec("SELECT state, count(*) FROM task_instances GROUP BY state"))
      tis_n[row[0].c_str()] = row[1].as<long long>();
    std::map<std::string, long long> got_runs(counts->runs.begin(), counts->runs.end());
    std::map<std::string, long long> got_tis(counts->task_instances.begin(), counts->task_instances.end());
    CHECK(got_runs == runs_n);
    CHECK(got_tis == tis_n);
  };

  SECTION("two transactions in opposite orders") {
    pqxx::work a(ca), b(cb);
    a.exec("SET LOCAL lock_timeout = '10s'");
    b.exec("SET LOCAL lock_timeout = '10s'");
    auto run = [](int k) { return std::to_string(k); };
    // A: a run running -> success, B: another queued -> running, A: a third
    // queued -> running (the review's deadlock), then each the other's
    // kind of row: task instances in the opposite order.
    a.exec("UPDATE dag_runs SET state = 'running' WHERE id IN (" + run(runs[0].run.pk) + ", " + run(runs[1].run.pk) + ")");
    a.exec("UPDATE dag_runs SET state = 'success' WHERE id = " + run(runs[0].run.pk));
    b.exec("UPDATE task_instances SET state = 'queued' WHERE id = " + run(runs[5].task_instances[0].id));
    b.exec("UPDATE dag_runs SET state = 'running' WHERE id = " + run(runs[5].run.pk));
    a.exec("UPDATE dag_runs SET state = 'running' WHERE id = " + run(runs[2].run.pk));
    a.exec("UPDATE task_instances SET state = 'queued' WHERE id = " + run(runs[2].task_instances[0].id));
    b.exec("UPDATE task_instances SET state = 'running' WHERE id = " + run(runs[5].task_instances[0].id));
    b.exec("DELETE FROM task_instances WHERE id = " + run(runs[6].task_instances[1].id));
    a.commit();
    b.commit();
    check_exact();
    // A session whose search_path is another schema still counts in the
    // schema of the table it changes.
    pqxx::work c(cb);
    c.exec("SET LOCAL search_path = public");
    c.exec("UPDATE " + c.quote_name(schema) + ".dag_runs SET state = 'failed' WHERE id = " + run(runs[7].run.pk));
    c.commit();
    check_exact();
    auto counts = s.count_states();
    REQUIRE(counts.ok());
    CHECK(counts->runs["failed"] == 1);
  }

  SECTION("two stores applying batches at once, with folds between") {
    std::mutex mu;
    std::vector<std::string> errors;  // Catch's assertions are for this thread only
    auto writer = [&](Store& st, bool forward) {
      for (int round = 0; round < 10; ++round) {
        WriteBatch wb;
        // Each its own runs (a run is one member's), in opposite orders.
        for (int k = 0; k < 10; ++k) {
          auto& c = runs[forward ? k : 19 - k];
          RunRecord r = c.run;
          r.state = round % 2 == 0 ? RunState::running : RunState::queued;
          TaskInstanceRecord ti = c.task_instances[forward ? 0 : 1];
          ti.state = round % 2 == 0 ? TaskState::queued : TaskState::scheduled;
          if (forward) {
            wb.runs.push_back(r);
            wb.task_instances.push_back(ti);
          } else {
            wb.task_instances.push_back(ti);
            wb.runs.push_back(r);
          }
        }
        auto applied = st.apply(wb);
        auto folded = round % 3 == 0 ? st.fold_counts() : Status();
        std::lock_guard lock(mu);
        if (!applied.ok()) errors.push_back(applied.error().message);
        if (!folded.ok()) errors.push_back(folded.error().message);
      }
    };
    std::thread t1([&] { writer(**one, true); });
    std::thread t2([&] { writer(**two, false); });
    t1.join();
    t2.join();
    CHECK(errors == std::vector<std::string>{});
    check_exact();
    // A fold moves every delta into the totals and changes no count.
    REQUIRE(s.fold_counts().ok());
    CHECK(pqxx::nontransaction(ca).exec("SELECT count(*) FROM state_count_deltas")[0][0].as<long long>() == 0);
    check_exact();
  }
}

TEST_CASE("the DAG table's generation moves with every change the DAG summary counts") {
  each_store([](Store& s, FakeClock&, const std::string&) {
    auto at = [&] {
      auto g = s.dags_generation();
      REQUIRE(g.ok());
      return *g;
    };
    long long g0 = at();
    register_dag(s, "d");
    long long g1 = at();
    CHECK(g1 > g0);
    REQUIRE(s.set_paused("d", true, "ops").ok());
    long long g2 = at();
    CHECK(g2 > g1);
    REQUIRE(s.set_import_errors("d", "dags/d.yaml", 0, R"([{"line": 1, "message": "bad"}])").ok());
    long long g3 = at();
    CHECK(g3 > g2);
    // A tick of the scheduler is not a change of the DAG the summary shows.
    WriteBatch tick;
    tick.last_ticks.push_back({"d", *parse_utc("2026-11-21T00:00:00Z")});
    REQUIRE(s.apply(tick).ok());
    CHECK(at() == g3);
    REQUIRE(s.deactivate_dag("d", "system").ok());
    CHECK(at() > g3);
  });
}
