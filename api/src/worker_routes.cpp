// The worker endpoints (SPEC §2 `baton worker`, §5, §9): remote workers claim
// tries of their queues (long poll), heartbeat them with their checkpoints and
// log chunks, and report how they ended. The store's queue does the rest: a
// claim is FOR UPDATE SKIP LOCKED, a heartbeat or report on a try the worker
// no longer holds — or naming a ti_id and try_number its token is not for —
// is stale and stores nothing (the heartbeat answers its token, the report
// gets 409): the store checks the claim in the transaction that stores the
// log, checkpoint and report. The owner of the partition applies what
// happened. Bytes travel as base64url inside JSON.
//
// Round trips: a claim hands a worker up to its free slots at once; a report
// (or a batch of them, POST /workers/reports) may carry the worker's next
// claim, answered with the tries it took; a heartbeat renews all the
// worker's tries at once. Every claim answer says how long the server held
// the request before it claimed (`waited_us`), so that the worker can bound
// the age of the claim with its own steady clock (docs/running.md).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "baton/core/progress.h"
#include "baton/core/sha256.h"
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

  // The first claim to park listens before it parks (its caller waits for
  // the connection once), and every listening connection begins with a
  // wake-up: a try queued after a claim looked and before the LISTEN is
  // then looked for at once (the claim about to park sees a new
  // generation and looks again).
  void start() {
    std::call_once(once_, [this] {
      std::unique_ptr<store::Listener> first;
      if (auto o = store::open_listener(url_, {"baton_queue"})) {
        first = std::move(*o);
        hub_->notify();
      }
      thread_ = std::thread([this, l = std::move(first)]() mutable { run(std::move(l)); });
    });
  }

 private:
  void run(std::unique_ptr<store::Listener> l) {
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
        hub_->notify();
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

// Claims that found nothing, by set of queues. A wake-up reaches one parked
// claim of each set of queues (the server's poll groups), but idle workers
// poll again every second, and new claims come all the time: with many
// workers each would ask the database. A claim that found nothing since the
// last wake-up, less than 250 ms ago, answers for the long polls of the
// same queues. Only queued tries wake the parked claims; a pool's slot freed
// by a report is seen at a parked claim's next look (claim_recheck).
class EmptyClaims {
 public:
  // A digest of the sorted names: a key's size does not follow the request's.
  static std::string key(std::vector<std::string> queues) {
    std::sort(queues.begin(), queues.end());
    return sha256_hex(json(queues).dump());
  }
  bool known_empty(const std::string& key, unsigned long long generation, std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mu_);
    auto it = seen_.find(key);
    return it != seen_.end() && it->second.generation == generation &&
           now - it->second.at < std::chrono::milliseconds(250);
  }
  // `generation` as read before the claim began: a try queued meanwhile has
  // bumped it, so this finding never hides that try.
  void found(const std::string& key, bool empty, unsigned long long generation,
             std::chrono::steady_clock::time_point at) {
    std::lock_guard lock(mu_);
    if (!empty) {
      seen_.erase(key);
      return;
    }
    if (seen_.size() > 10000) seen_.clear();
    seen_[key] = {generation, at};
  }

 private:
  struct Seen {
    unsigned long long generation = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex mu_;
  std::map<std::string, Seen> seen_;
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
                                       int try_number, const json& t, TimePoint now = {}) {
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
  // A heartbeat's progress line (SPEC §7): {"fraction": 0 to 1, "text": ...}.
  if (t.contains("progress") && !t["progress"].is_null()) {
    const json& g = t["progress"];
    const char* allowed = "field `progress` takes {\"fraction\": a number from 0 to 1, \"text\": a string}";
    if (!g.is_object() || !g.contains("fraction") || !g["fraction"].is_number() ||
        (g.contains("text") && !g["text"].is_string()))
      return Error::invalid(allowed);
    for (auto& [k, _] : g.items())
      if (k != "fraction" && k != "text")
        return Error::invalid("unknown field `progress." + k + "`: " + allowed);
    std::string why;
    auto line = checked_progress(g["fraction"].get<double>(), g.value("text", std::string()), why);
    if (!line) return Error::invalid("field `progress`: " + why);
    p.progress = store::progress_record(try_number, line->fraction, line->text, now);
  }
  return p;
}

// A claim a worker asks for: its queues and free slots.
struct ClaimAsk {
  std::vector<std::string> queues = {"default"};
  int slots = 1;
};

// A claim that took all it asked for may have left tries queued: the next
// parked claim of its queues looks (HttpResponse::wake_next). One that took
// fewer took all it could, and wakes none. `group`: EmptyClaims::key, made
// here when not given (only a filled claim needs it).
void wake_next_if_filled(HttpResponse& r, const ClaimAsk& ask, size_t took, std::string group = "") {
  if (took < static_cast<size_t>(ask.slots)) return;
  r.poll_group = group.empty() ? EmptyClaims::key(ask.queues) : std::move(group);
  r.wake_next = true;
}

// The optional `claim` field of a report: {"queues": [...], "slots": N}.
Result<std::optional<ClaimAsk>> claim_ask_of(const json& body) {
  if (!body.contains("claim") || body["claim"].is_null()) return std::optional<ClaimAsk>();
  const json& c = body["claim"];
  const char* allowed = "the field `claim` takes {\"queues\": [names], \"slots\": 1 to 1000}";
  if (!c.is_object()) return Error::invalid(allowed);
  ClaimAsk a;
  for (auto& [k, v] : c.items()) {
    if (k == "queues") {
      if (!v.is_array() || v.empty() || v.size() > 1000) return Error::invalid(std::string("claim.queues: ") + allowed);
      a.queues.clear();
      for (auto& q : v) {
        if (!q.is_string() || q.get<std::string>().empty() || q.get<std::string>().size() > 200)
          return Error::invalid("claim.queues: every queue is a name of 1 to 200 characters");
        a.queues.push_back(q.get<std::string>());
      }
    } else if (k == "slots") {
      if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 1000)
        return Error::invalid(std::string("claim.slots: ") + allowed);
      a.slots = static_cast<int>(v.get<long long>());
    } else {
      return Error::invalid("claim: unknown field `" + k + "`; " + allowed);
    }
  }
  return std::optional<ClaimAsk>(a);
}

// Claims for `worker` and answers the tries as a claim's answer does:
// {"items": [...], "waited_us": N}, N being how long the server held the
// request (from its last byte) before the claim began — the worker counts
// the claim's age as its own time since it sent the request, less N.
json claim_answer(const std::vector<store::QueueItem>& got, std::chrono::steady_clock::time_point began,
                  std::chrono::steady_clock::time_point received) {
  json items = json::array();
  for (auto& q : got) {
    json payload = json::parse(q.payload, nullptr, false);
    items.push_back({{"attempt_token", q.attempt_token},
                     {"ti_id", q.ti_id},
                     {"try_number", q.try_number},
                     {"queue", q.queue},
                     {"payload", payload.is_object() ? payload : json::object()},
                     {"checkpoint", q.checkpoint ? json(base64url_encode(*q.checkpoint)) : json(nullptr)}});
  }
  auto waited = std::chrono::duration_cast<std::chrono::microseconds>(began - received).count();
  return json{{"items", items}, {"waited_us", std::max<long long>(0, waited)}};
}

Result<json> claim_now(store::Store& s, const std::string& worker, const ClaimAsk& ask,
                       std::chrono::steady_clock::time_point received) {
  auto began = std::chrono::steady_clock::now();
  // Issue 17 adds a namespace's limit here: the claim will take at most what
  // the worker's namespaces have left, as pools are counted in the store.
  auto got = s.claim_tasks(worker, ask.queues, ask.slots);
  if (!got) return got.error();
  return claim_answer(*got, began, received);
}

std::chrono::steady_clock::time_point received_of(const HttpRequest& r) {
  return r.received_at.time_since_epoch().count() ? r.received_at : std::chrono::steady_clock::now();
}

// A refused report's error, as the worker reads it.
Error stale_report(const Error& e) { return e.code == "conflict" ? Error{"conflict", "stale report: " + e.message} : e; }

// One report (of POST /workers/report, or an entry of /workers/reports),
// checked as the single route's fields are.
Result<store::TryReport> report_of(const std::string& worker, const json& r) {
  auto str = [&](const char* k, size_t max) -> Result<std::optional<std::string>> {
    if (!r.contains(k) || r[k].is_null()) return std::optional<std::string>();
    if (!r[k].is_string() || (max && r[k].get<std::string>().size() > max))
      return Error::invalid(std::string("field `") + k + "` must be text" +
                            (max ? " of at most " + std::to_string(max) + " bytes" : std::string()));
    return std::optional<std::string>(r[k].get<std::string>());
  };
  auto num = [&](const char* k, long long min, long long max) -> Result<std::optional<long long>> {
    if (!r.contains(k) || r[k].is_null()) return std::optional<long long>();
    if (!r[k].is_number_integer() || r[k].get<long long>() < min || r[k].get<long long>() > max)
      return Error::invalid(std::string("field `") + k + "` must be a whole number from " + std::to_string(min) +
                            " to " + std::to_string(max));
    return std::optional<long long>(r[k].get<long long>());
  };
  static const std::set<std::string> known = {"attempt_token", "ti_id",      "try_number", "outcome", "exit_code",
                                              "reason",        "output",     "checkpoint", "log_offset", "log",
                                              "log_bytes"};
  for (auto& [k, _] : r.items())
    if (!known.count(k)) return Error::invalid("unknown field `" + k + "` in a report");
  auto token = str("attempt_token", 100);
  if (!token) return token.error();
  auto ti_id = num("ti_id", 1, 1LL << 62);
  if (!ti_id) return ti_id.error();
  auto try_number = num("try_number", 1, 1000000);
  if (!try_number) return try_number.error();
  auto outcome = str("outcome", 0);
  if (!outcome) return outcome.error();
  if (!*token || !*ti_id || !*try_number || !*outcome)
    return Error::invalid("a report needs attempt_token, ti_id, try_number and outcome");
  static const std::set<std::string> outcomes = {"success", "failed", "skipped", "timeout", "shutdown"};
  if (!outcomes.count(**outcome))
    return Error::invalid("field `outcome` must be one of success, failed, skipped, timeout, shutdown");
  auto exit_code = num("exit_code", -1, 255);
  if (!exit_code) return exit_code.error();
  auto reason = str("reason", 4000);
  if (!reason) return reason.error();
  auto log_bytes = num("log_bytes", 0, 1LL << 50);
  if (!log_bytes) return log_bytes.error();
  auto log_offset = num("log_offset", 0, 1LL << 50);
  if (!log_offset) return log_offset.error();
  if (r.contains("output") && !r["output"].is_null() && !r["output"].is_object())
    return Error::invalid("field `output` must be an object");
  auto p = progress_of(worker, **token, **ti_id, static_cast<int>(**try_number), r);  // no `progress`: not a known field
  if (!p) return p.error();
  json body = {{"outcome", **outcome}, {"reason", reason->value_or("")}, {"log_bytes", log_bytes->value_or(0)}};
  if (*exit_code) body["exit_code"] = **exit_code;
  if (r.contains("output") && r["output"].is_object()) body["output"] = r["output"];
  return store::TryReport{std::move(*p), dump(body)};
}

// One report, checked, then stored: the claim, the log, the checkpoint and
// the report (with the output) in one transaction, so a stale report stores
// nothing. With `then`, the worker's next claim is made in the same
// transaction, and its answer is set in `claimed`; when that transaction
// fails for another reason than a stale report or an absent database, the
// report is stored alone and `claimed` says why there are no tries
// (`claim_error`).
Status store_report(store::Store& s, const std::string& worker, const json& r, const std::optional<ClaimAsk>& then,
                    json* claimed, std::chrono::steady_clock::time_point received) {
  auto rep = report_of(worker, r);
  if (!rep) return rep.error();
  if (then && claimed) {
    auto began = std::chrono::steady_clock::now();
    // Issue 17's namespace limit goes here too (see claim_now).
    auto got = s.report_and_claim(rep->progress, rep->report_json, then->queues, then->slots);
    if (got) {
      *claimed = claim_answer(*got, began, received);
      return {};
    }
    if (got.error().code == "conflict" || got.error().code == "unavailable") return stale_report(got.error());
    // Another error (the claim's, or the report's): the report alone, so
    // that an error that comes back every time does not hold it up.
    *claimed = claim_answer({}, began, received);
    (*claimed)["claim_error"] = got.error().message;
  }
  if (auto st = s.report_task(rep->progress, rep->report_json); !st) return stale_report(st.error());
  return {};
}

}  // namespace

void add_worker_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  auto waker = std::make_shared<QueueWaker>(s.url(), deps.wakeup);

  auto& claim = add(
      routes, "POST", "/workers/claim", Access::worker,
      "Claims up to `slots` queued tries of the worker's queues, waiting up to wait_ms for one (long poll)", "",
      [&s, waker, stopping = deps.stopping, hub = deps.wakeup, recheck = deps.claim_recheck, counts = deps.claims,
       empty = std::make_shared<EmptyClaims>()](Call& c) {
        std::string worker = *c.body_as<std::string>("worker");
        std::vector<std::string> queues = {"default"};
        if (auto q = c.body_as<std::string>("queues")) queues = json::parse(*q).get<std::vector<std::string>>();
        int slots = static_cast<int>(c.body_as<long long>("slots").value_or(1));
        long long wait_ms = c.body_as<long long>("wait_ms").value_or(0);
        auto received = received_of(c.request);
        auto deadline = received + std::chrono::milliseconds(wait_ms);
        // A stopping server claims nothing: its answer might not reach the worker.
        if (stopping->load()) return json_response(200, dump(json{{"items", json::array()}, {"waited_us", 0}}));
        const std::string key = EmptyClaims::key(queues);
        const auto generation = hub->generation();
        auto began = std::chrono::steady_clock::now();
        Result<json> got = json{{"items", json::array()}, {"waited_us", 0}};
        // Long polls only: one that finds nothing parks, and the wake-up
        // of a try queued meanwhile bumps the generation and asks again.
        if (wait_ms == 0 || !empty->known_empty(key, generation, began)) {
          got = claim_now(s, worker, ClaimAsk{queues, slots}, received);
          if (!got) return error_response(got.error());
          counts->count(!(*got)["items"].empty());
          empty->found(key, (*got)["items"].empty(), generation, began);
        }
        auto now = std::chrono::steady_clock::now();
        if ((*got)["items"].empty() && now < deadline && !stopping->load()) {
          // Nothing yet: the server parks the request (no thread waits) and
          // asks again when a try is queued, or after claim_recheck (a
          // second) at the latest.
          waker->start();
          HttpResponse later;
          later.poll_again_at = std::min(deadline, now + recheck);
          later.poll_group = key;  // a wake-up hands on one claim of these queues
          return later;
        }
        HttpResponse answer = json_response(200, dump(*got));
        wake_next_if_filled(answer, ClaimAsk{queues, slots}, (*got)["items"].size(), key);
        return answer;
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
                   "", [&s, &clock = deps.clock](Call& c) {
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
                       auto p = progress_of(worker, token, t["ti_id"].get<long long>(), t["try_number"].get<int>(), t,
                                            clock.now());
                       if (!p) return error_response(p.error());
                       if (!p->log && !p->checkpoint && !p->progress) continue;
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
                               "(base64url), log_offset and log (base64url, the bytes from log_offset on), and "
                               "progress ({\"fraction\": 0 to 1, \"text\": at most 200 bytes})",
                .required = true}};

  auto& report = add(
      routes, "POST", "/workers/report", Access::worker,
      "Reports how a try ended (with its last log chunk and checkpoint); 409 when the worker no longer holds it. "
      "With `claim`, the answer also carries the worker's next tries (`items`, `waited_us`), as a claim answers",
      "", [&s, stopping = deps.stopping, counts = deps.claims](Call& c) {
        json r = json::parse(c.request.body, nullptr, false);
        if (!r.is_object()) return error_response(Error::invalid("the body must be a JSON object"));
        auto ask = claim_ask_of(r);
        if (!ask) return error_response(ask.error());
        std::string worker = r["worker"].get<std::string>();
        r.erase("worker");
        r.erase("claim");
        // The report and the next claim in one transaction (a stopping
        // server claims nothing: its answer might not reach the worker).
        json out = {{"accepted", true}};
        json claimed;
        std::optional<ClaimAsk> then = stopping->load() ? std::nullopt : *ask;
        if (auto st = store_report(s, worker, r, then, &claimed, received_of(c.request)); !st)
          return error_response(st.error());
        if (then && !claimed.contains("claim_error")) counts->count(!claimed["items"].empty());
        if (*ask) {
          out["items"] = then ? claimed["items"] : json::array();
          out["waited_us"] = then ? claimed["waited_us"] : json(0);
          if (claimed.contains("claim_error")) out["claim_error"] = claimed["claim_error"];
        }
        HttpResponse answer = json_response(200, dump(out));
        if (*ask) wake_next_if_filled(answer, **ask, out["items"].size());
        return answer;
      });
  report.takes_body = true;
  const ParamSpec kClaim{.name = "claim",
                         .type = ValueType::object,
                         .description = "the worker's next claim, answered with the report: {\"queues\": [names], "
                                        "\"slots\": 1 to 1000} (its free slots, this try's included)"};
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
                 {.name = "log_bytes", .type = ValueType::integer, .min = 0, .max = 1LL << 50},
                 kClaim};

  auto& reports = add(
      routes, "POST", "/workers/reports", Access::worker,
      "Reports how several tries ended, each as POST /workers/report takes it; answers each one's status "
      "(`results`, in order: 200, or 409 for a try the worker no longer holds, or the error) and, with `claim`, "
      "the worker's next tries (`items`, `waited_us`)",
      "", [&s, stopping = deps.stopping, counts = deps.claims](Call& c) {
        std::string worker = *c.body_as<std::string>("worker");
        json list = json::parse(c.body_as<std::string>("reports").value_or("[]"));
        if (list.size() > 1000) return error_response(Error::invalid("at most 1000 reports in one request"));
        json body = json::parse(c.request.body, nullptr, false);
        auto ask = claim_ask_of(body);
        if (!ask) return error_response(ask.error());
        // Each report checked, then the good ones and the claim stored in
        // one transaction, each report taken or refused on its own. When
        // that fails, the reports are stored without the claim, then (the
        // database reachable) each alone, and the claim made by itself: an
        // error that comes back every time (the claim's, or one report's)
        // holds up no other report, nor the claim.
        std::vector<Status> status(list.size());
        std::vector<store::TryReport> good;
        std::vector<size_t> good_at;
        for (size_t i = 0; i < list.size(); ++i) {
          auto rep = report_of(worker, list[i]);
          if (!rep) {
            status[i] = rep.error();
            continue;
          }
          good.push_back(std::move(*rep));
          good_at.push_back(i);
        }
        std::optional<ClaimAsk> then = stopping->load() ? std::nullopt : *ask;
        json out;
        if (*ask) out = {{"items", json::array()}, {"waited_us", 0}};
        auto began = std::chrono::steady_clock::now();
        std::optional<std::vector<store::QueueItem>> claimed;  // the claim's tries, once made
        std::optional<Error> claim_failed;
        if (!good.empty()) {
          auto taken =
              s.report_tasks(worker, good, then ? then->queues : std::vector<std::string>(), then ? then->slots : 0);
          if (taken && then) claimed = std::move(taken->claimed);
          if (!taken && then) taken = s.report_tasks(worker, good, {}, 0);  // without the claim
          if (!taken && taken.error().code != "unavailable") {              // each alone
            taken = store::QueueStore::ReportsTaken{};
            for (auto& g : good) taken->reports.push_back(s.report_task(g.progress, g.report_json));
          }
          // No database: nothing was stored, and the worker sends them again.
          if (!taken) claim_failed = taken.error();
          for (size_t k = 0; k < good_at.size(); ++k) {
            Status st = taken ? taken->reports[k] : Status(taken.error());
            if (!st) status[good_at[k]] = stale_report(st.error());
          }
        }
        if (then && !claimed && !claim_failed) {  // the claim by itself: one statement
          auto got = s.claim_tasks(worker, then->queues, then->slots);
          if (got) claimed = std::move(*got);
          else claim_failed = got.error();
        }
        if (then && claim_failed) out["claim_error"] = claim_failed->message;
        if (claimed) {
          counts->count(!claimed->empty());
          json answer = claim_answer(*claimed, began, received_of(c.request));
          out["items"] = std::move(answer["items"]);
          out["waited_us"] = answer["waited_us"];
        }
        json results = json::array();
        for (size_t i = 0; i < list.size(); ++i) {
          const json& r = list[i];
          json token = r.is_object() && r.contains("attempt_token") ? r["attempt_token"] : json(nullptr);
          if (status[i]) {
            results.push_back({{"attempt_token", token}, {"status", 200}});
            continue;
          }
          const Error& e = status[i].error();
          results.push_back({{"attempt_token", token},
                             {"status", error_response(e).status},
                             {"error", {{"code", e.code}, {"message", e.message}}}});
        }
        out["results"] = std::move(results);
        HttpResponse answer = json_response(200, dump(out));
        if (*ask) wake_next_if_filled(answer, **ask, out["items"].size());
        return answer;
      });
  reports.takes_body = true;
  reports.body = {kWorker,
                  {.name = "reports",
                   .type = ValueType::object_list,
                   .description = "the reports, each with the fields of POST /workers/report but worker and claim",
                   .required = true},
                  kClaim};
}

}  // namespace baton::api
