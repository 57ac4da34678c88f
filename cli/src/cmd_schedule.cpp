// `baton schedule next`: the next fire instants (ticks) of a cron expression,
// an `every` schedule or a DAG's schedule, one per line in ISO 8601 UTC.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>

#include "baton/core/clock.h"
#include "baton/core/duration.h"
#include "baton/core/schedule.h"
#include "baton/dsl/dag_folder.h"
#include "commands.h"

namespace baton::cli {

namespace {

struct NextOptions {
  std::string cron, every, start, target, tz, after, dags = default_dags_dir();
  int count = 10;
};

[[noreturn]] void bad_input(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  throw Exit{kBadInput};
}

TimePoint instant_in(const std::string& text, const TimeZone& zone, const char* flag) {
  auto d = parse_date_time(text);
  if (!d) bad_input(std::string(flag) + ": " + d.error().message);
  return zone.resolve(*d);
}

void run_next(const NextOptions& o) {
  int sources = !o.cron.empty() + !o.every.empty() + !o.target.empty();
  if (sources != 1) bad_input("give exactly one of --cron EXPR, --every DURATION --start T, or a DAG id or file");
  if (o.count < 1 || o.count > 100000) bad_input("--count must be from 1 to 100000");

  std::optional<Schedule> schedule;
  TimeZone zone;
  if (!o.tz.empty()) {
    auto z = TimeZone::find(o.tz);
    if (!z) bad_input("--tz: " + z.error().message);
    zone = *z;
  }
  if (!o.cron.empty()) {
    auto c = CronExpr::parse(o.cron);
    if (!c) bad_input(c.error().message);
    schedule = Schedule::cron(*c, zone);
  } else if (!o.every.empty()) {
    auto d = parse_duration(o.every);
    if (!d) bad_input("--every: " + d.error().message);
    if (d->count() <= 0) bad_input("--every: the period must be at least 1s");
    if (o.start.empty()) bad_input("--every needs --start T (the anchor: ticks are T, T+D, T+2D, ...)");
    schedule = Schedule::every(*d, instant_in(o.start, zone, "--start"));
  } else {
    std::error_code ec;
    bool is_file = std::filesystem::is_regular_file(o.target, ec);
    auto files = dsl::find_dag_files({is_file ? o.target : o.dags});
    if (!files) bad_input(files.error().message);
    auto load = dsl::load_dag_files(*files);
    dsl::DagGraphPtr g;
    for (auto& f : load.files)
      if (is_file || f.result.dag_id == o.target) {
        if (!f.result.graph) {
          for (auto& d : f.result.errors) std::cerr << d.format() << "\n";
          throw Exit{kFailed};
        }
        g = f.result.graph;
        break;
      }
    if (!g) bad_input("no DAG \"" + o.target + "\" in " + o.dags + " (give a DAG id found there or a DAG file)");
    if (!g->schedule().is_time_based())
      bad_input("DAG " + g->dag_id() + " has no time schedule (" + g->schedule().describe() + ")");
    if (!o.tz.empty()) bad_input("--tz does not apply to a DAG: it uses its own timezone (" + g->spec().timezone + ")");
    schedule = g->schedule();
    zone = g->schedule().zone();
  }
  TimePoint after = o.after.empty() ? SystemClock::instance().now() : instant_in(o.after, zone, "--after");
  for (int i = 0; i < o.count; ++i) {
    auto n = schedule->next_tick(after);
    if (!n) break;
    std::cout << format_utc(*n) << "\n";
    after = *n;
  }
}

}  // namespace

void register_schedule_commands(CLI::App& app) {
  auto* schedule = app.add_subcommand("schedule", "Work with schedules");
  schedule->require_subcommand(1);
  auto o = std::make_shared<NextOptions>();
  auto* next = schedule->add_subcommand(
      "next", "Print the next fire instants strictly after --after (default now), one per line, ISO 8601 UTC");
  next->add_option("--cron", o->cron, "a 5-field cron expression or @macro");
  next->add_option("--every", o->every, "a fixed period such as 15m (needs --start)");
  next->add_option("--start", o->start, "anchor of --every: a date or date-time (read in --tz unless it has a zone)");
  next->add_option("target", o->target, "a DAG id (looked up in --dags) or a DAG file");
  next->add_option("--tz", o->tz, "IANA time zone for --cron/--every (default UTC)");
  next->add_option("--after", o->after, "start after this date or instant (default now)");
  next->add_option("--count", o->count, "how many instants (default 10)");
  next->add_option("--dags", o->dags, "DAGs folder (default: $BATON_DAGS or ./dags)");
  next->callback([o] { run_next(*o); });
}

}  // namespace baton::cli
