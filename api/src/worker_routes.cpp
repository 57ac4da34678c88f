// The worker endpoints (SPEC §2 `baton worker`, §5, §9): remote workers claim
// tries of their queues (long poll), heartbeat them with their checkpoints and
// log chunks, and report how they ended. The store's queue does the rest: a
// claim is FOR UPDATE SKIP LOCKED, a heartbeat or report on a try the worker
// no longer holds — or naming a ti_id and try_number its token is not for —
// is stale and stores nothing (the heartbeat answers its token, the report
// gets 409): the store checks the claim in the transaction that stores the
// log, checkpoint and report. The owner of the partition applies what
// happened. Bytes travel as base64url inside JSON.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "json_text.h"
#include "routes.h"
#include "util.h"

namespace baton::api {

namespace {

using nlohmann::json;

// Wakes long-polling claims when a scheduler queues tries (NOTIFY
// baton_queue): one listening session per server, started by the first claim
// that has to wait. The claims themselves wait parked in the server (no
// thread each); a notification wakes them through the WakeHub.
class QueueWaker {
 public:
  QueueWaker(store::DatabaseUrl url, std::shared_ptr<WakeHub> hub) : url_(std::move(url)), hub_(std::move(hub)) {}
  ~QueueWaker() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  void start() {
    std::call_once(once_, [this] { thread_ = std::thread([this] { run(); }); });
  }

 private:
  void run() {
    std::unique_ptr<store::Listener> l;
    while (!stop_) {
      if (!l) {
        auto o = store::open_listener(url_, {"baton_queue"});
        if (!o) {
          // No notifications (SQLite, or the database is away): the claims
          // look again every half second.
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          hub_->notify();
          continue;
        }
        l = std::move(*o);
      }
      auto w = l->wait(std::chrono::milliseconds(250));
      if (!w) {
        l.reset();
        continue;
      }
      if (!w->empty()) hub_->notify();
    }
  }

  store::DatabaseUrl url_;
  std::shared_ptr<WakeHub> hub_;
  std::once_flag once_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

const ParamSpec kWorker{.name = "worker",
                        .type = ValueType::string,
                        .description = "the worker's name (unique per worker process)",
                        .required = true,
                        .max_length = 200};
const ParamSpec kToken{.name = "attempt_token",
                       .type = ValueType::string,
                       .description = "the try's attempt token, from its claim",
                       .required = true,
                       .max_length = 100};
const ParamSpec kTiId{.name = "ti_id", .type = ValueType::integer, .required = true, .min = 1, .max = 1LL << 62};
const ParamSpec kTryNumber{.name = "try_number", .type = ValueType::integer, .required = true, .min = 1, .max = 1000000};

Result<std::string> decode_bytes(const json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return std::string();
  if (!j[field].is_string()) return Error::invalid(std::string("field `") + field + "` must be base64url text");
  auto b = base64url_decode(j[field].get<std::string>());
  if (!b) return Error::invalid(std::string("field `") + field + "` is not valid base64url (RFC 4648 §5, no padding)");
  return *b;
}

// What a heartbeat entry or a report carries for a try: its claim and its
// log chunk and checkpoint, decoded (nothing is stored here: the store
// checks the claim and stores them in one transaction).
Result<store::TryProgress> progress_of(const std::string& worker, const std::string& token, long long ti_id,
                                       int try_number, const json& t) {
  store::TryProgress p;
  p.worker = worker;
  p.attempt_token = token;
  p.ti_id = ti_id;
  p.try_number = try_number;
  if (t.contains("log") && !t["log"].is_null()) {
    auto log = decode_bytes(t, "log");
    if (!log) return log.error();
    long long offset = t.contains("log_offset") && t["log_offset"].is_number_integer() ? t["log_offset"].get<long long>() : 0;
    if (offset < 0) return Error::invalid("field `log_offset` must be 0 or more");
    p.log = std::move(*log);
    p.log_offset = offset;
  }
  if (t.contains("checkpoint") && !t["checkpoint"].is_null()) {
    auto cp = decode_bytes(t, "checkpoint");
    if (!cp) return cp.error();
    if (cp->size() > (1u << 20)) return Error::invalid("a checkpoint holds at most 1 MiB");
    p.checkpoint = std::move(*cp);
  }
  return p;
}

}  // namespace

void add_worker_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  auto waker = std::make_shared<QueueWaker>(s.url(), deps.wakeup);

  auto& claim = add(
      routes, "POST", "/workers/claim", Access::worker,
      "Claims up to `slots` queued tries of the worker's queues, waiting up to wait_ms for one (long poll)", "",
      [&s, waker, stopping = deps.stopping](Call& c) {
        std::string worker = *c.body_as<std::string>("worker");
        std::vector<std::string> queues = {"default"};
        if (auto q = c.body_as<std::string>("queues")) queues = json::parse(*q).get<std::vector<std::string>>();
        int slots = static_cast<int>(c.body_as<long long>("slots").value_or(1));
        long long wait_ms = c.body_as<long long>("wait_ms").value_or(0);
        auto received = c.request.received_at.time_since_epoch().count() ? c.request.received_at
                                                                          : std::chrono::steady_clock::now();
        auto deadline = received + std::chrono::milliseconds(wait_ms);
        // A stopping server claims nothing: its answer might not reach the worker.
        if (stopping->load()) return json_response(200, dump(json{{"items", json::array()}}));
        auto got = s.claim_tasks(worker, queues, slots);
        if (!got) return error_response(got.error());
        auto now = std::chrono::steady_clock::now();
        if (got->empty() && now < deadline && !stopping->load()) {
          // Nothing yet: the server parks the request (no thread waits) and
          // asks again when a try is queued, or in a second at the latest.
          waker->start();
          HttpResponse later;
          later.poll_again_at = std::min(deadline, now + std::chrono::seconds(1));
          return later;
        }
        json items = json::array();
        for (auto& q : *got) {
          json payload = json::parse(q.payload, nullptr, false);
          items.push_back({{"attempt_token", q.attempt_token},
                           {"ti_id", q.ti_id},
                           {"try_number", q.try_number},
                           {"queue", q.queue},
                           {"payload", payload.is_object() ? payload : json::object()},
                           {"checkpoint", q.checkpoint ? json(base64url_encode(*q.checkpoint)) : json(nullptr)}});
        }
        return json_response(200, dump(json{{"items", items}}));
      });
  claim.takes_body = true;
  claim.body = {kWorker,
                {.name = "queues", .type = ValueType::string_list, .description = "queues to take from (default: default)"},
                {.name = "slots", .type = ValueType::integer, .description = "at most this many tries", .min = 1, .max = 1000},
                {.name = "wait_ms",
                 .type = ValueType::integer,
                 .description = "how long to wait for a try when none is queued (default 0)",
                 .min = 0,
                 .max = 60000}};

  auto& beat = add(routes, "POST", "/workers/heartbeat", Access::worker,
                   "Renews the worker's tries, with their checkpoints and log chunks; answers the tokens it no longer "
                   "holds (their processes must be killed)",
                   "", [&s](Call& c) {
                     std::string worker = *c.body_as<std::string>("worker");
                     json tries = json::parse(c.body_as<std::string>("tries").value_or("[]"));
                     std::vector<std::string> tokens;
                     for (auto& t : tries) {
                       if (!t.contains("attempt_token") || !t["attempt_token"].is_string())
                         return error_response(Error::invalid("every entry of `tries` needs its attempt_token"));
                       tokens.push_back(t["attempt_token"].get<std::string>());
                     }
                     auto stale = s.heartbeat_tasks(worker, tokens);
                     if (!stale) return error_response(stale.error());
                     std::set<std::string> gone(stale->begin(), stale->end());
                     for (auto& t : tries) {
                       std::string token = t["attempt_token"].get<std::string>();
                       if (gone.count(token)) continue;
                       if (!t.contains("ti_id") || !t["ti_id"].is_number_integer() || !t.contains("try_number") ||
                           !t["try_number"].is_number_integer())
                         continue;  // a bare renewal
                       auto p = progress_of(worker, token, t["ti_id"].get<long long>(), t["try_number"].get<int>(), t);
                       if (!p) return error_response(p.error());
                       if (!p->log && !p->checkpoint) continue;
                       // Refused (the token is not this try's, or no longer held): stored nothing, and the
                       // worker hears the token is stale.
                       auto saved = s.save_progress(*p);
                       if (!saved && saved.error().code == "conflict") gone.insert(token);
                       else if (!saved) return error_response(saved.error());
                     }
                     return json_response(200, dump(json{{"stale", std::vector<std::string>(gone.begin(), gone.end())}}));
                   });
  beat.takes_body = true;
  beat.body = {kWorker,
               {.name = "tries",
                .type = ValueType::object_list,
                .description = "the tries it runs: attempt_token, ti_id, try_number, and optionally checkpoint "
                               "(base64url), log_offset and log (base64url, the bytes from log_offset on)",
                .required = true}};

  auto& report = add(
      routes, "POST", "/workers/report", Access::worker,
      "Reports how a try ended (with its last log chunk and checkpoint); 409 when the worker no longer holds it", "",
      [&s](Call& c) {
        std::string worker = *c.body_as<std::string>("worker");
        std::string token = *c.body_as<std::string>("attempt_token");
        long long ti_id = *c.body_as<long long>("ti_id");
        int try_number = static_cast<int>(*c.body_as<long long>("try_number"));
        json progress = json::object();
        if (auto l = c.body_as<std::string>("log")) progress["log"] = *l;
        if (auto o = c.body_as<long long>("log_offset")) progress["log_offset"] = *o;
        if (auto cp = c.body_as<std::string>("checkpoint")) progress["checkpoint"] = *cp;
        auto p = progress_of(worker, token, ti_id, try_number, progress);
        if (!p) return error_response(p.error());
        json body = {{"outcome", *c.body_as<std::string>("outcome")},
                     {"reason", c.body_as<std::string>("reason").value_or("")},
                     {"log_bytes", c.body_as<long long>("log_bytes").value_or(0)}};
        if (auto e = c.body_as<long long>("exit_code")) body["exit_code"] = *e;
        if (auto o = c.body_as<std::string>("output")) body["output"] = json::parse(*o);
        // The claim, the log, the checkpoint and the report (with the output) in one transaction: a stale
        // report stores nothing.
        if (auto r = s.report_task(*p, dump(body)); !r) {
          if (r.error().code == "conflict") return error_response(Error{"conflict", "stale report: " + r.error().message});
          return error_response(r.error());
        }
        return json_response(200, dump(json{{"accepted", true}}));
      });
  report.takes_body = true;
  report.body = {kWorker,
                 kToken,
                 kTiId,
                 kTryNumber,
                 {.name = "outcome",
                  .type = ValueType::enumeration,
                  .required = true,
                  .allowed = {"success", "failed", "skipped", "timeout", "shutdown"}},
                 {.name = "exit_code", .type = ValueType::integer, .min = -1, .max = 255},
                 {.name = "reason", .type = ValueType::string, .max_length = 4000},
                 {.name = "output", .type = ValueType::object, .description = "the try's outputs (success only)"},
                 {.name = "checkpoint", .type = ValueType::string, .description = "the last checkpoint, base64url"},
                 {.name = "log_offset", .type = ValueType::integer, .min = 0, .max = 1LL << 50},
                 {.name = "log", .type = ValueType::string, .description = "the log from log_offset on, base64url"},
                 {.name = "log_bytes", .type = ValueType::integer, .min = 0, .max = 1LL << 50}};
}

}  // namespace baton::api
