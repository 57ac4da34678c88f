// W10 (docs/benchmarks.md): SLA-driven dispatch (SPEC §7). Prints one JSON
// line; returns 0 when every request and phase went through.
#pragma once

#include <string>

namespace bench {

struct W10Options {
  int workers = 4;        // slots shared by the two DAGs
  int runs = 50;          // measured runs of the SLA DAG, per phase
  int warm = 3;           // SLA-DAG runs on an idle server first (its history)
  int every_ms = 1500;    // between two SLA-DAG triggers
  int sla_s = 3;          // the SLA DAG's run_duration
  int bulk_tasks = 20;    // shell tasks of 500 ms per bulk run
  int bulk_active = 2;    // bulk runs kept running (a new one as one ends)
};

int run_w10(const std::string& baton, const W10Options& o);

}  // namespace bench
