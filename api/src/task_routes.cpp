// Task instances of a run: the list (with the roll-up of mapped instances),
// the run's tries, one instance with every reason why it is not running, a
// task's tries and logs, clear and mark. Reads from the Store, changes
// through Control.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "baton/core/time.h"
#include "dag_views.h"
#include "json_text.h"
#include "routes.h"

namespace baton::api {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// One answer of the logs endpoint holds at most this much (a try's log is
// capped at 10 MiB, SPEC §5); a client reads on from the next offset.
constexpr long long kMaxLogChunk = 16LL << 20;
// The part of a checkpoint (at most 1 MiB) a task instance shows.
constexpr size_t kMaxCheckpointShown = 64 << 10;

// `mapped`: for a foreach task's own instance, the roll-up of its mapped
// instances (grid_cell); null otherwise.
json ti_json(const store::TaskInstanceRecord& t, json mapped = nullptr) {
  json item = t.item ? json::parse(*t.item, nullptr, false) : json(nullptr);
  if (item.is_discarded()) item = nullptr;
  // slow, stuck: the current try's (SPEC §7); its latest progress line.
  json flags = json::array();
  for (size_t b = 0; b < t.flags.size();) {
    size_t e = t.flags.find(',', b);
    if (e == std::string::npos) e = t.flags.size();
    if (e > b) flags.push_back(t.flags.substr(b, e - b));
    b = e + 1;
  }
  json progress = nullptr;
  if (auto p = store::read_progress(t.progress, t.try_number))
    progress = {{"fraction", p->fraction}, {"text", p->text}, {"at", format_utc(p->at)}};
  return {{"task_id", t.task_id},
          {"item", std::move(item)},
          {"mapped", std::move(mapped)},
          {"map_index", t.map_index},
          {"state", to_string(t.state)},
          {"try_number", t.try_number},
          {"max_tries", t.max_tries},
          {"queue", t.queue},
          {"pool", t.pool},
          {"priority", t.priority},
          {"started_at", opt_time(t.started_at)},
          {"ended_at", opt_time(t.ended_at)},
          {"worker", opt(t.worker)},
          {"exit_code", opt(t.exit_code)},
          {"reason", opt(t.reason)},
          {"last_activity_at", opt_time(t.last_activity_at)},
          {"flags", flags},
          {"progress", progress}};
}

json try_json(const store::TryRecord& t) {
  return {{"try_number", t.try_number},       {"state", to_string(t.state)},
          {"worker", opt(t.worker)},          {"started_at", opt_time(t.started_at)},
          {"ended_at", opt_time(t.ended_at)}, {"exit_code", opt(t.exit_code)},
          {"reason", opt(t.reason)},          {"log_bytes", t.log_bytes}};
}

Result<std::vector<store::TaskInstanceRecord>> instances_of(store::Store& s, const store::RunRecord& run,
                                                            const std::string& task_id) {
  auto tis = s.list_task_instances(run.pk);
  if (!tis) return tis.error();
  std::vector<store::TaskInstanceRecord> out;
  for (auto& t : *tis)
    if (t.task_id == task_id) out.push_back(t);
  if (out.empty())
    return Error::not_found("run \"" + run.run_id + "\" of DAG \"" + run.dag_id + "\" has no task \"" + task_id + "\"");
  return out;
}

Result<store::TaskInstanceRecord> find_ti(store::Store& s, const store::RunRecord& run, const std::string& task_id,
                                          int map_index) {
  auto all = instances_of(s, run, task_id);
  if (!all) return all.error();
  for (auto& t : *all)
    if (t.map_index == map_index) return t;
  int lo = all->front().map_index, hi = lo;
  for (auto& t : *all) {
    lo = std::min(lo, t.map_index);
    hi = std::max(hi, t.map_index);
  }
  std::string has =
      lo == hi ? "map_index " + std::to_string(lo) : "map_index " + std::to_string(lo) + " to " + std::to_string(hi);
  return Error::not_found("task \"" + task_id + "\" of run \"" + run.run_id + "\" has no map_index " +
                          std::to_string(map_index) + " (it has " + has + ": give ?map_index=)");
}

// The log of a try from `offset`, read only inside logs_dir: a stored path
// that is absolute, climbs with `..` or leads out through a symbolic link is
// refused (SPEC §12). A missing file is an empty log (nothing written yet).
Result<std::string> read_log(const std::string& logs_dir, const std::string& rel, long long offset) {
  auto refused = [] { return Error::not_found("the log of this try is not available"); };
  fs::path p(rel);
  if (rel.empty() || p.is_absolute() || p.has_root_name() || rel.find('\0') != std::string::npos) return refused();
  for (auto& part : p)
    if (part == "..") return refused();
  if (logs_dir.empty()) return refused();
  std::error_code ec;
  fs::path base = fs::absolute(fs::path(logs_dir), ec);
  if (!ec) base = fs::weakly_canonical(base, ec);
  if (ec) return std::string();
  fs::path full = fs::weakly_canonical(base / p, ec);
  if (ec) return std::string();
  auto [b, f] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (b != base.end()) return refused();

  // O_NONBLOCK: a FIFO in the logs folder must not hang the request.
  int fd = ::open(full.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::string();
    return Error{"internal", "cannot read the log: " + std::string(std::strerror(errno))};
  }
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && offset < st.st_size) {
    long long want = std::min<long long>(st.st_size - offset, kMaxLogChunk);
    out.resize(static_cast<size_t>(want));
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n =
          ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + static_cast<long long>(got)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
  }
  ::close(fd);
  return out;
}

const ParamSpec kMapIndex{.name = "map_index",
                          .type = ValueType::integer,
                          .description = "the task instance's map index (-1, the default, for an unmapped task)",
                          .min = -1,
                          .max = 1000000};

int map_index_of(const Call& c) { return static_cast<int>(c.query_as<long long>("map_index").value_or(-1)); }

}  // namespace

void add_task_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;

  auto& tasks = add(
      routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks", Access::viewer,
      "The run's task instances: every task's own, then the mapped instances of foreach tasks; a foreach task's "
      "own instance rolls its mapped ones up in `mapped`",
      "TaskInstance", [&s](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        auto tis = s.list_task_instances(r->pk);
        if (!tis) return error_response(tis.error());
        auto task = c.query_as<std::string>("task_id");
        auto map_index = c.query_as<long long>("map_index");
        auto state = c.query_as<std::string>("state");
        auto only_mapped = c.query_as<bool>("mapped");
        std::map<std::string, std::vector<const store::TaskInstanceRecord*>> mapped;
        const auto unmapped = unmapped_tasks(s, *r);
        std::vector<const store::TaskInstanceRecord*> chosen;
        for (auto& t : *tis) {
          if (t.map_index >= 0 && !unmapped.count(t.task_id)) mapped[t.task_id].push_back(&t);
          if ((!task || t.task_id == *task) && (!map_index || t.map_index == *map_index) &&
              (!state || to_string(t.state) == *state) && (!only_mapped || (t.map_index >= 0) == *only_mapped))
            chosen.push_back(&t);
        }
        // The tasks' own first, then mapped ones by task and map_index.
        std::stable_sort(chosen.begin(), chosen.end(), [](auto* a, auto* b) {
          return (a->map_index >= 0) < (b->map_index >= 0) ||
                 (a->map_index >= 0 && b->map_index >= 0 &&
                  std::tie(a->task_id, a->map_index) < std::tie(b->task_id, b->map_index));
        });
        auto w = offset_window(chosen.size(), c);
        if (!w) return error_response(w.error());
        std::vector<std::string> items;
        for (size_t i = w->begin; i < w->end; ++i) {
          const auto& t = *chosen[i];
          auto m = t.map_index < 0 ? mapped.find(t.task_id) : mapped.end();
          items.push_back(dump(ti_json(t, m == mapped.end() ? json(nullptr) : grid_cell(m->second))));
        }
        return list_response(items, w->next_cursor);
      });
  tasks.paginated = true;
  tasks.query = {{.name = "task_id", .description = "only this task's instances", .max_length = 256},
                 {.name = "map_index",
                  .type = ValueType::integer,
                  .description = "only instances with this map index (-1: every task's own)",
                  .min = -1,
                  .max = 1000000},
                 {.name = "mapped",
                  .type = ValueType::boolean,
                  .description = "only mapped instances of foreach tasks (true), or only tasks' own (false)"},
                 {.name = "state",
                  .type = ValueType::enumeration,
                  .description = "only instances in this state",
                  .allowed = task_state_names()}};

  add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tries", Access::viewer,
      "Every try of every task instance of the run (its timeline), by task", "RunTry", [&s](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        auto tis = s.list_task_instances(r->pk);
        if (!tis) return error_response(tis.error());
        auto all = s.list_run_tries(r->pk);
        if (!all) return error_response(all.error());
        std::map<long long, const store::TaskInstanceRecord*> ti_of;
        for (auto& t : *tis) ti_of[t.id] = &t;
        auto w = offset_window(all->size(), c);
        if (!w) return error_response(w.error());
        std::vector<std::string> items;
        for (size_t i = w->begin; i < w->end; ++i) {
          auto& y = (*all)[i];
          json j = try_json(y);
          auto it = ti_of.find(y.ti_id);
          j["task_id"] = it == ti_of.end() ? json(nullptr) : json(it->second->task_id);
          j["map_index"] = it == ti_of.end() ? -1 : it->second->map_index;
          j["queued_at"] = opt_time(y.queued_at);
          items.push_back(dump(j));
        }
        return list_response(items, w->next_cursor);
      })
      .paginated = true;

  add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", Access::viewer,
      "One task instance, with every reason why it is not running (waiting_for) and its output", "TaskInstanceDetail",
      [&s, &control](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        int map_index = map_index_of(c);
        auto ti = find_ti(s, *r, c.path[2], map_index);
        if (!ti) return error_response(ti.error());
        auto why = control.waiting_for(r->dag_id, r->run_id, ti->task_id, map_index);
        if (!why) return error_response(why.error());
        json j = ti_json(*ti);
        j["waiting_for"] = *why;
        json output = ti->output ? json::parse(*ti->output, nullptr, false) : json(nullptr);
        j["output"] = output.is_object() ? output : json(nullptr);
        auto cp = s.load_checkpoint(ti->id);
        if (!cp) return error_response(cp.error());
        j["checkpoint_bytes"] = *cp ? json((*cp)->size()) : json(nullptr);
        j["checkpoint"] = *cp ? json((*cp)->substr(0, kMaxCheckpointShown)) : json(nullptr);
        return json_response(200, dump(j));
      })
      .query = {kMapIndex};

  auto& tries = add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/tries", Access::viewer,
                    "Every try of a task instance", "Try", [&s](Call& c) {
                      auto r = find_run(s, c.path[0], c.path[1]);
                      if (!r) return error_response(r.error());
                      auto ti = find_ti(s, *r, c.path[2], map_index_of(c));
                      if (!ti) return error_response(ti.error());
                      auto all = s.list_tries(ti->id);
                      if (!all) return error_response(all.error());
                      auto w = offset_window(all->size(), c);
                      if (!w) return error_response(w.error());
                      std::vector<std::string> items;
                      for (size_t i = w->begin; i < w->end; ++i) items.push_back(dump(try_json((*all)[i])));
                      return list_response(items, w->next_cursor);
                    });
  tries.paginated = true;
  tries.query = {kMapIndex};

  add(routes, "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs", Access::viewer,
      "A try's log as text from a byte offset; X-Baton-Log-Complete tells whether the try has ended", "text",
      [&s, &control](Call& c) {
        auto r = find_run(s, c.path[0], c.path[1]);
        if (!r) return error_response(r.error());
        auto ti = find_ti(s, *r, c.path[2], map_index_of(c));
        if (!ti) return error_response(ti.error());
        auto all = s.list_tries(ti->id);
        if (!all) return error_response(all.error());
        const store::TryRecord* t = nullptr;
        auto wanted = c.query_as<long long>("try");
        for (auto& x : *all)
          if (wanted ? x.try_number == *wanted : (!t || x.try_number > t->try_number)) t = &x;
        if (!t && ti->map_index < 0) {
          // A foreach task's own instance runs no try: its mapped ones do.
          auto same = instances_of(s, *r, ti->task_id);
          long long mapped = 0;
          if (same)
            for (auto& x : *same) mapped += x.map_index >= 0;
          if (mapped > 0)
            return error_response(Error::not_found(
                "task \"" + ti->task_id + "\" of run \"" + r->run_id + "\" is a foreach task: its " +
                std::to_string(mapped) + " mapped instances have the logs (give ?map_index= from 0 to " +
                std::to_string(mapped - 1) + "; `baton tasks logs` takes --map-index)"));
        }
        if (!t)
          return error_response(Error::not_found(
              wanted ? "task \"" + ti->task_id + "\" has no try " + std::to_string(*wanted)
                     : "task \"" + ti->task_id + "\" of run \"" + r->run_id + "\" has not been tried yet"));
        long long offset = c.query_as<long long>("offset").value_or(0);
        std::string text;
        // A remote worker's try: the log its heartbeats sent to the store.
        auto stored = s.read_log(ti->id, t->try_number, offset, kMaxLogChunk);
        if (!stored) return error_response(stored.error());
        if (*stored) {
          text = std::move(**stored);
        } else if (t->log_path) {
          auto log = read_log(control.logs_dir(), *t->log_path, offset);
          if (!log) return error_response(log.error());
          text = std::move(*log);
        }
        HttpResponse res;
        res.content_type = "text/plain; charset=utf-8";
        res.headers.emplace_back("X-Baton-Log-Complete", t->ended_at ? "true" : "false");
        res.headers.emplace_back("X-Baton-Log-Next-Offset",
                                 std::to_string(offset + static_cast<long long>(text.size())));
        res.headers.emplace_back("X-Baton-Try-Number", std::to_string(t->try_number));
        res.body = std::move(text);
        return res;
      })
      .query = {
      {.name = "try",
       .type = ValueType::integer,
       .description = "the try number (default: the latest)",
       .min = 1,
       .max = 1000000},
      kMapIndex,
      {.name = "offset",
       .type = ValueType::integer,
       .description = "the first byte to return (default 0)",
       .min = 0,
       .max = 1LL << 50},
  };

  auto& clear =
      add(routes, "POST", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/clear", Access::operator_role,
          "Clear a task (and optionally its downstream) so that it runs again; answers the task's instances",
          "TaskInstanceList", [&s, &control](Call& c) {
            auto r = find_run(s, c.path[0], c.path[1]);
            if (!r) return error_response(r.error());
            if (auto all = instances_of(s, *r, c.path[2]); !all) return error_response(all.error());
            bool downstream = c.body_as<bool>("downstream").value_or(false);
            bool latest = c.body_as<std::string>("version").value_or("pinned") == "latest";
            if (auto st = control.clear_task(r->dag_id, r->run_id, c.path[2], downstream, latest, c.actor); !st.ok())
              return error_response(st.error());
            auto now = instances_of(s, *r, c.path[2]);
            if (!now) return error_response(now.error());
            std::vector<std::string> items;
            for (auto& t : *now) items.push_back(dump(ti_json(t)));
            return list_response(items, std::nullopt);
          });
  clear.takes_body = true;
  clear.body = {
      {.name = "downstream",
       .type = ValueType::boolean,
       .description = "also clear what depends on it (default false)"},
      {.name = "version",
       .type = ValueType::enumeration,
       .description = "pinned (default): rerun on the run's own DAG version; latest: move the run to the current one",
       .allowed = {"pinned", "latest"}},
  };

  auto& mark =
      add(routes, "POST", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/state", Access::operator_role,
          "Mark a task success or failed; answers the task's instances", "TaskInstanceList", [&s, &control](Call& c) {
            auto r = find_run(s, c.path[0], c.path[1]);
            if (!r) return error_response(r.error());
            if (auto all = instances_of(s, *r, c.path[2]); !all) return error_response(all.error());
            TaskState to = *c.body_as<std::string>("state") == "success" ? TaskState::success : TaskState::failed;
            if (auto st = control.mark_task(r->dag_id, r->run_id, c.path[2], to, c.actor); !st.ok())
              return error_response(st.error());
            auto now = instances_of(s, *r, c.path[2]);
            if (!now) return error_response(now.error());
            std::vector<std::string> items;
            for (auto& t : *now) items.push_back(dump(ti_json(t)));
            return list_response(items, std::nullopt);
          });
  mark.takes_body = true;
  mark.body = {{.name = "state",
                .type = ValueType::enumeration,
                .description = "the state to set",
                .required = true,
                .allowed = {"success", "failed"}}};
}

}  // namespace baton::api
