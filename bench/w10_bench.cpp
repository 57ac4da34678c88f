// W10 (docs/benchmarks.md), SLA-driven dispatch (SPEC §7), against the real
// `baton standalone` on SQLite with `workers` slots (4), twice in one
// sitting: slack ordering off (BATON_SLACK_ORDER=false: the baseline,
// priority then the older logical date) and on.
//  - w10_sla: a small fan of 200 ms shell tasks (extract -> part_a, part_b
//    -> load; critical path 600 ms) with `sla: {run_duration: sla_s}`.
//  - w10_bulk: `bulk_tasks` independent 500 ms shell tasks with a loose SLA
//    (run_duration 1h: it has slack, lots of it), `bulk_active` runs of it
//    kept running (a new one triggered as one ends), so the slots are always
//    taken and the older bulk runs hold a backlog of ready tries.
// Same priority for both. First, on the idle server, one bulk run and
// `warm` SLA runs, so every task has a duration history (the forecast).
// Then the bulk load starts, and after 2 s an SLA run is triggered every
// `every_ms`, `runs` times. Figures per phase: the SLA runs' miss rate (ended
// after started_at + sla_s, or not ended), their duration (started_at ->
// ended_at) p50 / p99, the misses and at-risk runs the server recorded
// (GET /sla-misses, /sla-risks), bulk tasks done per second and the
// server's CPU; and the miss rate the same durations would give at other
// deadlines (miss_rate_if_deadline). A benchmark, not a test: one JSON
// line, no time asserted.
#include "w10_bench.h"

#include <httplib.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "harness.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace bench {

namespace {

std::string sla_dag(int sla_s) {
  return "dag: w10_sla\nmax_active_runs: 1000\nmax_active_tasks: 100000\nsla: {run_duration: " +
         std::to_string(sla_s) +
         "s}\ntasks:\n"
         "  extract: {command: 'sleep 0.2'}\n"
         "  part_a: {command: 'sleep 0.2', depends_on: [extract]}\n"
         "  part_b: {command: 'sleep 0.2', depends_on: [extract]}\n"
         "  load: {command: 'sleep 0.2', depends_on: [part_a, part_b]}\n";
}

std::string bulk_dag(int tasks) {
  std::string y = "dag: w10_bulk\nmax_active_runs: 1000\nmax_active_tasks: 100000\nsla: {run_duration: 1h}\ntasks:\n";
  for (int i = 0; i < tasks; ++i) y += "  t" + std::to_string(i) + ": {command: 'sleep 0.5'}\n";
  return y;
}

struct Phase {
  bool ok = false;
  long long errors = 0;
  int measured = 0, ended = 0, missed = 0, not_success = 0;
  long long server_misses = 0, server_risks = 0;
  std::vector<double> durations;  // seconds, of the measured runs that ended
  double bulk_per_s = 0, cpu_s = 0, window_s = 0;
};

struct Api {
  httplib::Client cli;
  httplib::Headers h;
  long long& errors;
  Api(int port, const std::string& token, long long& e)
      : cli("127.0.0.1", port), h{{"Authorization", "Bearer " + token}}, errors(e) {
    cli.set_keep_alive(true);
  }
  // The new run's id ("" on an error).
  std::string trigger(const std::string& dag) {
    auto r = cli.Post(("/api/v1/dags/" + dag + "/runs").c_str(), h, "{}", "application/json");
    std::smatch m;
    static const std::regex id_re("\"run_id\"\\s*:\\s*\"([^\"]+)\"");
    if (!r || r->status != 201 || !std::regex_search(r->body, m, id_re)) {
      ++errors;
      std::fprintf(stderr, "W10: trigger of %s: %s\n", dag.c_str(),
                   r ? (std::to_string(r->status) + " " + r->body).c_str() : httplib::to_string(r.error()).c_str());
      return "";
    }
    return m[1];
  }
  std::string get(const std::string& path) {
    auto r = cli.Get(path.c_str(), h);
    if (!r || r->status != 200) {
      ++errors;
      std::fprintf(stderr, "W10: GET %s: %s\n", path.c_str(),
                   r ? (std::to_string(r->status) + " " + r->body).c_str() : httplib::to_string(r.error()).c_str());
      return "";
    }
    return r->body;
  }
  // Runs of the DAG not finished, among its newest `limit`.
  int unfinished(const std::string& dag, int limit) {
    std::string body = get("/api/v1/dags/" + dag + "/runs?limit=" + std::to_string(limit));
    static const std::regex st_re("\"state\"\\s*:\\s*\"(queued|running)\"");
    return static_cast<int>(std::distance(std::sregex_iterator(body.begin(), body.end(), st_re), std::sregex_iterator()));
  }
  bool wait_done(const std::string& dag, const std::string& run_id, std::chrono::seconds limit) {
    if (run_id.empty()) return false;
    auto t0 = Clock::now();
    static const std::regex st_re("\"state\"\\s*:\\s*\"(success|failed|canceled)\"");
    while (Clock::now() - t0 < limit) {
      std::string body = get("/api/v1/dags/" + dag + "/runs/" + run_id);
      if (std::regex_search(body, st_re)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Entries of a list (sla-misses, sla-risks) of the DAG whose run is in `runs`.
  long long count_of(const std::string& path, const std::set<std::string>& runs) {
    std::string body = get(path);
    static const std::regex id_re("\"run_id\"\\s*:\\s*\"([^\"]+)\"");
    long long n = 0;
    for (std::sregex_iterator it(body.begin(), body.end(), id_re), end; it != end; ++it)
      if (runs.count((*it)[1])) ++n;
    return n;
  }
};

Phase one_phase(const std::string& baton, const W10Options& o, bool slack) {
  Phase p;
  ++g_schema;
  std::string dir = g_folders.make("w10bench");
  fs::create_directories(dir + "/dags");
  std::ofstream(dir + "/dags/w10_sla.yaml") << sla_dag(o.sla_s);
  std::ofstream(dir + "/dags/w10_bulk.yaml") << bulk_dag(o.bulk_tasks);
  // The child takes the setting from its environment (docs/cli.md).
  setenv("BATON_SLACK_ORDER", slack ? "true" : "false", 1);
  Server s = start(baton, dir, o.workers);
  unsetenv("BATON_SLACK_ORDER");
  if (s.port == 0) {
    std::fprintf(stderr, "standalone did not start (see %s/err.log)\n", dir.c_str());
    stop(s);
    ++p.errors;
    return p;
  }
  Api api(s.port, s.token, p.errors);
  // Warm-up on the idle server: every task gets a duration history.
  bool warm_ok = api.wait_done("w10_bulk", api.trigger("w10_bulk"), std::chrono::seconds(120));
  for (int i = 0; i < o.warm; ++i) warm_ok = api.wait_done("w10_sla", api.trigger("w10_sla"), std::chrono::seconds(60)) && warm_ok;
  if (!warm_ok) {
    ++p.errors;
    std::fprintf(stderr, "W10: the warm-up runs did not all end\n");
  }

  // The bulk load, topped up to `bulk_active` unfinished runs every 100 ms.
  const int list_limit = o.bulk_active + 20;
  auto top_up = [&] {
    for (int n = api.unfinished("w10_bulk", list_limit); n < o.bulk_active; ++n) api.trigger("w10_bulk");
  };
  const auto tick = std::chrono::milliseconds(100);
  auto wall0 = std::chrono::system_clock::now();
  double cpu0 = cpu_seconds(s.pid);
  auto head_start = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < head_start) {
    top_up();
    std::this_thread::sleep_for(tick);
  }
  std::set<std::string> measured;
  auto next = Clock::now();
  for (int i = 0; i < o.runs; ++i) {
    std::string id = api.trigger("w10_sla");
    if (!id.empty()) measured.insert(id);
    next += std::chrono::milliseconds(o.every_ms);
    while (Clock::now() < next) {
      top_up();
      std::this_thread::sleep_until(std::min(next, Clock::now() + tick));
    }
  }
  // The last SLA runs end under the same load (at most a minute more).
  auto drain = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < drain && api.unfinished("w10_sla", o.runs + o.warm) > 0) {
    top_up();
    std::this_thread::sleep_for(tick);
  }
  p.cpu_s = cpu_seconds(s.pid) - cpu0;
  auto wall1 = std::chrono::system_clock::now();
  p.server_misses = api.count_of("/api/v1/sla-misses?dag_id=w10_sla&limit=1000", measured);
  p.server_risks = api.count_of("/api/v1/sla-risks?dag_id=w10_sla&limit=1000", measured);
  stop(s);

  // What happened, from the database.
  const long long from_us = std::chrono::duration_cast<std::chrono::microseconds>(wall0.time_since_epoch()).count();
  const long long to_us = std::chrono::duration_cast<std::chrono::microseconds>(wall1.time_since_epoch()).count();
  p.window_s = static_cast<double>(to_us - from_us) / 1e6;
  sqlite3* db = nullptr;
  sqlite3_open_v2((dir + "/baton.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT run_id, state, coalesce(started_at, created_at), coalesce(ended_at, 0) FROM dag_runs "
                     "WHERE dag_id = 'w10_sla'",
                     -1, &st, nullptr);
  const long long sla_us = static_cast<long long>(o.sla_s) * 1000000;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    if (!measured.count(id)) continue;
    ++p.measured;
    std::string state = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    long long start = sqlite3_column_int64(st, 2), end = sqlite3_column_int64(st, 3);
    if (state != "success") ++p.not_success;
    if (end == 0) {  // not ended: missed
      ++p.missed;
      continue;
    }
    ++p.ended;
    p.durations.push_back(static_cast<double>(end - start) / 1e6);
    if (end > start + sla_us) ++p.missed;
  }
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db,
                     "SELECT count(*) FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_pk WHERE r.dag_id = "
                     "'w10_bulk' AND ti.state = 'success' AND ti.ended_at >= ? AND ti.ended_at < ?",
                     -1, &st, nullptr);
  sqlite3_bind_int64(st, 1, from_us);
  sqlite3_bind_int64(st, 2, to_us);
  if (sqlite3_step(st) == SQLITE_ROW && p.window_s > 0)
    p.bulk_per_s = static_cast<double>(sqlite3_column_int64(st, 0)) / p.window_s;
  sqlite3_finalize(st);
  sqlite3_close(db);
  p.ok = p.errors == 0 && p.measured == o.runs && p.not_success == 0;
  if (p.measured != o.runs || p.not_success != 0)
    std::fprintf(stderr, "W10: %d of %d SLA runs found, %d not successful\n", p.measured, o.runs, p.not_success);
  return p;
}

std::string phase_json(const Phase& p, int runs) {
  // The miss rate the same durations give at other deadlines (the order
  // against the bulk runs does not depend on the deadline: theirs is 1h).
  std::string at;
  for (int d : {1, 2, 3, 4, 5, 6, 8, 10}) {
    long long late = runs - static_cast<long long>(p.durations.size());
    for (double x : p.durations) late += x > d ? 1 : 0;
    char one[48];
    std::snprintf(one, sizeof one, "%s\"%ds\": %.3f", at.empty() ? "" : ", ", d,
                  runs > 0 ? static_cast<double>(late) / runs : 0);
    at += one;
  }
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"ok\": %s, \"runs\": %d, \"ended\": %d, \"missed\": %d, \"miss_rate\": %.3f, "
                "\"server_sla_misses\": %lld, \"server_at_risk\": %lld, \"duration_p50_s\": %.3f, "
                "\"duration_p99_s\": %.3f, \"duration_max_s\": %.3f, \"bulk_tasks_per_s\": %.2f, "
                "\"server_cpu_s\": %.2f, \"window_s\": %.1f, \"errors\": %lld, \"miss_rate_if_deadline\": {%s}}",
                p.ok ? "true" : "false", p.measured, p.ended, p.missed,
                runs > 0 ? static_cast<double>(p.missed) / runs : 0, p.server_misses, p.server_risks,
                percentile(p.durations, 0.5), percentile(p.durations, 0.99), percentile(p.durations, 1.0),
                p.bulk_per_s, p.cpu_s, p.window_s, p.errors, at.c_str());
  return buf;
}

}  // namespace

int run_w10(const std::string& baton, const W10Options& o) {
  Phase off = one_phase(baton, o, false);
  Phase on = one_phase(baton, o, true);
  std::printf(
      "{\"workload\": \"W10\", \"engine\": \"sqlite\", \"workers\": %d, \"runs\": %d, \"warm\": %d, \"every_ms\": %d, "
      "\"sla_s\": %d, \"bulk_tasks\": %d, \"bulk_active\": %d, \"ok\": %s, \"slack_off\": %s, \"slack_on\": %s}\n",
      o.workers, o.runs, o.warm, o.every_ms, o.sla_s, o.bulk_tasks, o.bulk_active, off.ok && on.ok ? "true" : "false",
      phase_json(off, o.runs).c_str(), phase_json(on, o.runs).c_str());
  return off.ok && on.ok ? 0 : 1;
}

}  // namespace bench
