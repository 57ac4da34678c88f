#include "baton/executor/remote_worker.h"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "baton/core/base64.h"
#include "baton/core/clock.h"
#include "baton/core/duration.h"
#include "baton/core/secrets.h"
#include "baton/executor/adapters.h"
#include "baton/executor/shell_runner.h"

namespace baton::executor {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kLogChunk = 512u << 10;        // bytes of one try's log per request (base64 grows it by a third)
constexpr size_t kHeartbeatLogBudget = 4u << 20;  // bytes of log of all tries in one heartbeat (the body limit is 8 MiB)
constexpr int kMaxClaim = 1000;                     // tries one claim may ask for, reports one request may carry

// The server's `waited_us`, or 0 when it is not a number.
long long waited_of(const nlohmann::json& body) {
  auto it = body.find("waited_us");
  return it != body.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// One try on one slot, shared by its slot thread and the heartbeat thread.
struct Running {
  std::string token;
  long long ti_id = 0;
  int try_number = 1;
  std::string log_path;
  std::atomic<bool> cancel{false};
  std::atomic<bool> stale{false};  // the server says it is no longer ours
  std::mutex mu;                   // guards the fields below
  bool done = false;               // the slot thread ships the rest itself
  long long log_sent = 0;
  std::optional<std::string> checkpoint;  // the newest, not sent yet
  std::optional<ProgressLine> progress;   // the newest progress line, not sent yet
  Duration heartbeat_interval{};
  // Self-fencing: with no heartbeat through for `lease` (the scheduler's
  // zombie_timeout less one heartbeat interval), the try is killed here,
  // before its scheduler can fail it as lost and hand it to another worker.
  std::atomic<std::chrono::steady_clock::time_point> last_ok{std::chrono::steady_clock::now()};
  Duration lease{};
};

struct Answer {
  int status = 0;  // 0: no server could be reached
  json body;
  std::string error;
};

}  // namespace

struct RemoteWorker::Impl {
  explicit Impl(RemoteWorkerOptions o) : options(std::move(o)) {}

  RemoteWorkerOptions options;
  std::shared_ptr<spdlog::logger> log = spdlog::default_logger()->clone("worker");
  SystemClock clock;
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::shared_ptr<Running>> running;  // by token
  std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> slots;  // guarded by slots_mu; and whether each ended
  std::atomic<bool> stopping{false};
  std::atomic<bool> kill_all{false};
  std::atomic<size_t> server_index{0};
  // Scratch folders (DIR/scratch/NAME/slot-N), one per try running: a try
  // takes a free one and gives it back when it ends. A folder made and
  // removed for every try cost more than a short task's try itself (inode
  // allocation). Under the worker's name, which is its own (the servers
  // tell workers apart by it): two workers sharing a --dir share no folder.
  // The same slot has its log file, DIR/logs/NAME/slot-N.log: what the try
  // printed, read from there for the server (which keeps the log), emptied
  // when the next try takes the slot. So a worker's disk holds the logs of
  // the tries it runs now, not of every try it ever ran, and a try makes no
  // file or folder of its own.
  std::vector<int> free_scratch;  // guarded by mu
  int scratch_made = 0;           // guarded by mu

  static void empty_folder(const std::string& dir) {
    std::error_code ec;
    std::vector<fs::path> left;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      left.push_back(it->path());
    for (auto& f : left) fs::remove_all(f, ec);
  }

  // A try's scratch folder, emptied when taken (a worker killed in the
  // middle of a try leaves its files behind) and when given back, by the
  // guard's end.
  struct Scratch {
    Impl* m = nullptr;
    int n = -1;
    std::string dir;
    std::string log;        // the slot's log file
    std::string log_error;  // why it could not be emptied (the try does not start)
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() {
      if (!m) return;
      empty_folder(dir);
      std::lock_guard lock(m->mu);
      m->free_scratch.push_back(n);
    }
  };
  void take_scratch(Scratch& s) {
    {
      std::lock_guard lock(mu);
      if (free_scratch.empty()) {
        s.n = scratch_made++;
      } else {
        s.n = free_scratch.back();
        free_scratch.pop_back();
      }
    }
    s.m = this;
    std::string name = options.name;
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_') ch = '_';
    if (name.find_first_not_of('.') == std::string::npos) name = "worker";  // "", ".", ".."
    s.dir = (fs::path(options.work_dir) / "scratch" / name / ("slot-" + std::to_string(s.n))).string();
    s.log = (fs::path(options.work_dir) / "logs" / name / ("slot-" + std::to_string(s.n) + ".log")).string();
    empty_folder(s.dir);
    // The slot's last try's log (none yet: ENOENT); removed when it cannot
    // be emptied. When neither works, the try does not start: its log
    // would begin with the last try's bytes.
    if (::truncate(s.log.c_str(), 0) != 0 && errno != ENOENT && ::unlink(s.log.c_str()) != 0 && errno != ENOENT)
      s.log_error = "cannot empty the slot's log file " + s.log + ": " + std::strerror(errno);
  }

  // Kept-alive connections (TCP_NODELAY), per server: a request takes an
  // idle one or opens one, and gives it back when it got an answer. A
  // connection is used by one request at a time (the long-polling claim
  // holds one while heartbeats and reports use others).
  // One idle longer than kConnIdle is closed rather than used: the server
  // closes those idle for 30 s, and a request sent as it does would fail.
  static constexpr auto kConnIdle = std::chrono::seconds(20);
  struct IdleConn {
    std::unique_ptr<httplib::Client> cli;
    std::chrono::steady_clock::time_point since;
  };
  std::mutex conn_mu;
  std::vector<std::vector<IdleConn>> idle_conns;  // guarded by conn_mu, by server

  std::unique_ptr<httplib::Client> take_conn(size_t i, bool& reused) {
    {
      std::vector<IdleConn> old;  // closed outside the lock
      std::lock_guard lock(conn_mu);
      if (idle_conns.size() < options.servers.size()) idle_conns.resize(options.servers.size());
      auto now = std::chrono::steady_clock::now();
      while (!idle_conns[i].empty()) {
        auto c = std::move(idle_conns[i].back());
        idle_conns[i].pop_back();
        if (now - c.since > kConnIdle) {
          old.push_back(std::move(c));
          continue;
        }
        reused = true;
        return std::move(c.cli);
      }
    }
    reused = false;
    auto c = std::make_unique<httplib::Client>(options.servers[i]);
    c->set_connection_timeout(2, 0);
    c->set_write_timeout(30, 0);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_bearer_token_auth(options.token);
    return c;
  }
  void give_conn(size_t i, std::unique_ptr<httplib::Client> c) {
    std::unique_lock lock(conn_mu);
    // Enough for every slot's report, the claim and the heartbeat at once.
    if (idle_conns[i].size() < static_cast<size_t>(options.slots) + 4) {
      idle_conns[i].push_back({std::move(c), std::chrono::steady_clock::now()});
      return;
    }
    lock.unlock();  // more than that: closed (c's end), outside the lock
  }
  void drop_conns(size_t i) {
    std::vector<IdleConn> gone;
    std::lock_guard lock(conn_mu);
    gone.swap(idle_conns[i]);
  }

  // POSTs to the current server; on a connection failure, to the next one.
  // A kept connection that fails (the server closed it while idle, or
  // restarted) is tried once more on a new one first.
  Answer post(const std::string& path, const json& body, Duration read_timeout) {
    Answer a;
    std::string text = dump(body);
    for (size_t n = 0; n < options.servers.size(); ++n) {
      size_t i = server_index.load() % options.servers.size();
      httplib::Result r{nullptr, httplib::Error::Unknown};
      for (int round = 0; round < 2; ++round) {
        bool reused = false;
        auto cli = take_conn(i, reused);
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(read_timeout).count() + 2;
        cli->set_read_timeout(secs, 0);
        auto t0 = std::chrono::steady_clock::now();
        r = cli->Post(("/api/v1" + path).c_str(), text, "application/json");
        if (r) {
          give_conn(i, std::move(cli));
          break;
        }
        // Only a connection that failed at once was dead; one that timed out
        // (a paused server) is not waited for twice.
        if (!reused || std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(500)) break;
        drop_conns(i);
      }
      if (!r) {
        a.error = mask_secrets(options.servers[i]) + ": " + httplib::to_string(r.error());
        server_index = i + 1;
        continue;
      }
      a.status = r->status;
      a.body = json::parse(r->body, nullptr, false);
      if (a.status >= 400) {
        a.error = a.body.is_object() && a.body.contains("error") ? a.body["error"].value("message", r->body) : r->body;
        // A server without a database behind it: the next one may do.
        if (a.status == 503 && options.servers.size() > 1) {
          server_index = i + 1;
          continue;
        }
      }
      return a;
    }
    return a;
  }

  // The log bytes of a try from `offset`, at most kLogChunk.
  static std::string read_log(const std::string& path, long long offset, size_t max) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "";
    in.seekg(offset);
    std::string out(std::min(kLogChunk, max), '\0');
    in.read(out.data(), static_cast<std::streamsize>(out.size()));
    out.resize(static_cast<size_t>(in.gcount()));
    return out;
  }

  // What a heartbeat or report says of a try's progress (log chunk and
  // checkpoint); `take` marks it as sent.
  static json progress(Running& r, bool final, size_t& budget) {
    std::lock_guard lock(r.mu);
    if (r.done && !final) return nullptr;
    json t = {{"attempt_token", r.token}, {"ti_id", r.ti_id}, {"try_number", r.try_number}};
    std::string chunk = budget > 0 ? read_log(r.log_path, r.log_sent, budget) : "";
    budget -= std::min(budget, chunk.size());
    if (!chunk.empty()) {
      t["log_offset"] = r.log_sent;
      t["log"] = base64url_encode(chunk);
      t["log_bytes"] = static_cast<long long>(chunk.size());
    }
    if (r.checkpoint) t["checkpoint"] = base64url_encode(*r.checkpoint);
    if (r.progress && !final) t["progress"] = {{"fraction", r.progress->fraction}, {"text", r.progress->text}};
    return t;
  }
  static void sent(Running& r, const json& t) {
    std::lock_guard lock(r.mu);
    if (t.contains("log_bytes")) r.log_sent += t["log_bytes"].get<long long>();
    if (t.contains("checkpoint")) r.checkpoint.reset();
    // Only the line sent: a newer one that came meanwhile goes next time.
    if (t.contains("progress") && r.progress && t["progress"].value("text", "") == r.progress->text &&
        t["progress"].value("fraction", -1.0) == r.progress->fraction)
      r.progress.reset();
  }

  void heartbeat_main() {
    while (true) {
      Duration interval = options.heartbeat_interval;
      std::vector<std::shared_ptr<Running>> list;
      {
        std::unique_lock lock(mu);
        for (auto& [_, r] : running) {
          list.push_back(r);
          if (r->heartbeat_interval.count() > 0) interval = std::min(interval, r->heartbeat_interval);
        }
        if (cv.wait_for(lock, interval, [&] { return stopping_all; })) return;
        list.clear();
        for (auto& [_, r] : running) list.push_back(r);
      }
      if (list.empty()) continue;
      json tries = json::array();
      std::vector<std::pair<std::shared_ptr<Running>, json>> parts;
      size_t budget = kHeartbeatLogBudget;
      for (auto& r : list) {
        json t = progress(*r, false, budget);
        if (t.is_null()) continue;
        tries.push_back(t);
        parts.push_back({r, t});
      }
      if (tries.empty()) continue;
      for (auto& t : tries) t.erase("log_bytes");
      // A server that hangs (paused) must not stall the heartbeats past the
      // zombie timeout: a short wait, then the next server.
      auto a = post("/workers/heartbeat", {{"worker", options.name}, {"tries", tries}}, std::chrono::seconds(1));
      if (a.status != 200) {
        if (a.status == 0) log->warn("heartbeat: no server reachable: {}", a.error);
        else log->warn("heartbeat refused ({}): {}", a.status, a.error);
        auto now = std::chrono::steady_clock::now();
        for (auto& [r, t] : parts) {
          Duration silent = std::chrono::duration_cast<Duration>(now - r->last_ok.load());
          if (r->lease.count() > 0 && silent > r->lease && !r->stale.exchange(true)) {
            log->error("try {} of task instance {}: no heartbeat got through for {} ms; killing it before its "
                       "scheduler hands it to another worker",
                       r->try_number, r->ti_id, std::chrono::duration_cast<std::chrono::milliseconds>(silent).count());
            r->cancel = true;
          }
        }
        continue;
      }
      std::set<std::string> stale;
      if (a.body.contains("stale"))
        for (auto& s : a.body["stale"]) stale.insert(s.get<std::string>());
      for (auto& [r, t] : parts) {
        if (stale.count(r->token)) {
          if (!r->stale.exchange(true))
            log->warn("try {} of task instance {} is no longer this worker's: killing it", r->try_number, r->ti_id);
          r->cancel = true;
          continue;
        }
        r->last_ok = std::chrono::steady_clock::now();
        sent(*r, t);
      }
    }
  }
  bool stopping_all = false;  // guarded by mu: the heartbeat thread ends

  // A report waiting to be sent, alone or with others that end at once.
  struct PendingReport {
    json body;                // the report's fields (those of POST /workers/report but worker and claim)
    bool slot_given = false;  // a claim already asked for this try's slot
    bool done = false;        // guarded by report_mu: answered (or no server reached)
    int status = 0;           // 0: no server reached
    std::string error;
  };
  std::mutex report_mu;
  std::condition_variable report_cv;
  std::vector<std::shared_ptr<PendingReport>> report_queue;  // guarded by report_mu
  bool report_sending = false;                                // guarded by report_mu

  // Slots to claim for: the free ones (neither running nor claimed) are
  // counted as starting until the claim is answered, so that two claims at
  // once (the main loop's, a report's) never ask for one slot twice.
  // At most 1,000 a claim (the API's limit); the rest go with a later claim.
  int reserve_free(int extra) {
    std::lock_guard lock(mu);
    int free = std::max(0, options.slots - static_cast<int>(running.size() + starting));
    int n = std::min(free + extra, kMaxClaim);
    starting += static_cast<size_t>(n);
    return n;
  }
  void unreserve(int n) {
    if (n <= 0) return;
    {
      std::lock_guard lock(mu);
      starting -= std::min(starting, static_cast<size_t>(n));
    }
    cv.notify_all();
  }

  // Sends `p`, with the other reports waiting then, in one request; returns
  // once it is answered. One request at a time: the reports that end while
  // it is under way go together in the next.
  void send_report(const std::shared_ptr<PendingReport>& p) {
    std::unique_lock lock(report_mu);
    report_queue.push_back(p);
    while (!p->done) {
      if (report_sending) {
        report_cv.wait(lock);
        continue;
      }
      report_sending = true;
      std::vector<std::shared_ptr<PendingReport>> batch;
      size_t bytes = 0;
      auto it = report_queue.begin();
      // Whole reports (log, checkpoint, output) up to the budget, 1,000 at most
      // (the server's limits: 8 MiB, 1,000 reports); a report alone always goes.
      for (; it != report_queue.end() && batch.size() < static_cast<size_t>(kMaxClaim); ++it) {
        size_t size = (*it)->body.dump(-1, ' ', false, json::error_handler_t::replace).size() + 512;
        if (!batch.empty() && bytes + size > kHeartbeatLogBudget) break;
        bytes += size;
        batch.push_back(*it);
      }
      report_queue.erase(report_queue.begin(), it);
      lock.unlock();
      post_reports(batch);
      lock.lock();
      for (auto& b : batch) b->done = true;
      report_sending = false;
      report_cv.notify_all();
    }
  }

  // A server older than reports that carry a claim, or than several reports
  // in one request, refuses them (400: an unknown field `claim`; 404: no
  // POST /workers/reports): their reports go again the old way, one a
  // request to POST /workers/report without a claim (the main loop claims
  // the slots they free), and so do all later ones of this worker.
  std::atomic<bool> old_reports{false};

  // Each report of `batch` alone, without a claim. Whether the server took
  // this form (answered one 200 or 409).
  bool post_reports_old(std::vector<std::shared_ptr<PendingReport>>& batch) {
    bool taken = false;
    for (auto& b : batch) {
      json body = b->body;
      body["worker"] = options.name;
      auto a = post("/workers/report", body, std::chrono::seconds(5));
      b->status = a.status;
      b->error = a.error;
      b->slot_given = true;  // no claim asks for it: the main loop's does
      taken = taken || a.status == 200 || a.status == 409;
    }
    return taken;
  }

  // One request for `batch`, carrying the next claim: the slots of its tries
  // (those no claim asked for yet) and the free ones.
  void post_reports(std::vector<std::shared_ptr<PendingReport>>& batch) {
    if (old_reports) {
      post_reports_old(batch);
      return;
    }
    int own = 0;
    for (auto& b : batch)
      if (!b->slot_given) ++own;
    int ask = stopping ? 0 : reserve_free(own);
    json body;
    std::string path;
    if (batch.size() == 1) {
      path = "/workers/report";
      body = batch[0]->body;
    } else {
      path = "/workers/reports";
      body = {{"reports", json::array()}};
      for (auto& b : batch) body["reports"].push_back(b->body);
    }
    body["worker"] = options.name;
    if (ask > 0) body["claim"] = {{"queues", options.queues}, {"slots", ask}};
    auto sent_at = std::chrono::steady_clock::now();
    auto a = post(path, body, std::chrono::seconds(5));
    // A server older than this form: no /workers/reports (404), or a report
    // with a field it does not know (400 naming it). Any other 400 is about
    // the request itself, and answered as such.
    bool older = a.status == 404 || (a.status == 400 && a.error.find("unknown field `") != std::string::npos);
    if (older && (batch.size() > 1 || ask > 0)) {
      // Again the old way.
      unreserve(ask);
      if (post_reports_old(batch) && !old_reports.exchange(true))
        log->warn("the server refused {} ({}: {}) but took the reports one at a time without a claim: an older "
                  "server; this worker reports that way from now on",
                  batch.size() > 1 ? "several reports in one request" : "a report carrying a claim", a.status,
                  a.error);
      return;
    }
    bool answered = a.status == 200 || (batch.size() == 1 && a.status >= 400 && a.status < 500);
    if (a.status == 200 && batch.size() > 1 && a.body.contains("results") && a.body["results"].is_array() &&
        a.body["results"].size() == batch.size()) {
      for (size_t i = 0; i < batch.size(); ++i) {
        const json& res = a.body["results"][i];
        batch[i]->status = res.value("status", 500);
        if (res.contains("error") && res["error"].is_object()) batch[i]->error = res["error"].value("message", "");
      }
    } else if (batch.size() > 1 && a.status == 200) {
      for (auto& b : batch) b->status = 500, b->error = "the server answered no result for it";
    } else {
      for (auto& b : batch) b->status = a.status, b->error = a.error;
    }
    // A claim was made only when the request got its answer: then this
    // try's slot is spoken for (a report sent again asks for no slot).
    if (answered)
      for (auto& b : batch) b->slot_given = true;
    int got = 0;
    if (a.status == 200 && a.body.contains("items") && a.body["items"].is_array()) {
      if (a.body.contains("claim_error")) log->warn("claiming with a report: {}", a.body.value("claim_error", ""));
      json items = json::array();  // never more than asked for
      for (auto& item : a.body["items"])
        if (static_cast<int>(items.size()) < ask) items.push_back(item);
      got = static_cast<int>(items.size());
      launch(items, sent_at, waited_of(a.body));
    }
    unreserve(ask - got);
  }

  // Sends what is left of the log, then the report; again and again while no
  // server can be reached (a try's end is never dropped for a network error).
  void finish(Running& r, json report) {
    {
      std::lock_guard lock(r.mu);
      r.done = true;
    }
    auto pending = std::make_shared<PendingReport>();
    auto backoff = std::chrono::milliseconds(200);
    for (int attempt = 0;; ++attempt) {
      // Shutting down with no server to hear it: the owner's zombie check
      // fails the try as worker_lost instead.
      if (stopping && attempt > 10) {
        log->error("try {} of task instance {}: no server took its report", r.try_number, r.ti_id);
        return;
      }
      size_t budget = kLogChunk;
      json t = progress(r, true, budget);
      bool last = !t.contains("log_bytes") || t["log_bytes"].get<long long>() < static_cast<long long>(kLogChunk);
      if (!last) {
        json beat = t;
        beat.erase("log_bytes");
        beat.erase("checkpoint");
        auto a = post("/workers/heartbeat", {{"worker", options.name}, {"tries", json::array({beat})}},
                      std::chrono::seconds(5));
        if (a.status == 200) {
          std::lock_guard lock(r.mu);
          r.log_sent += t["log_bytes"].get<long long>();
          continue;
        }
      } else {
        json body = report;
        body["attempt_token"] = r.token;
        body["ti_id"] = r.ti_id;
        body["try_number"] = r.try_number;
        if (t.contains("log")) {
          body["log"] = t["log"];
          body["log_offset"] = t["log_offset"];
        }
        if (t.contains("checkpoint")) body["checkpoint"] = t["checkpoint"];
        pending->body = std::move(body);
        {
          std::lock_guard lock(report_mu);
          pending->done = false;
        }
        send_report(pending);
        int status = pending->status;
        if (status == 200) return;
        if (status == 409) {
          log->warn("report on try {} of task instance {} refused: {}", r.try_number, r.ti_id, pending->error);
          return;
        }
        // Bad input is for good; a server or database error may pass: again.
        if (status >= 400 && status < 500) {
          log->error("report on try {} of task instance {} refused ({}): {}", r.try_number, r.ti_id, status,
                     pending->error);
          return;
        }
        if (status == 0) log->warn("report on try {} of task instance {}: no server reachable: {}", r.try_number,
                                   r.ti_id, pending->error);
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }

  // Starts a thread for each claimed try. `sent_at` is when the claim was
  // sent (steady clock), `waited_us` how long the server says it held it
  // before claiming: the claim is at most (now - sent_at - waited) old.
  // A `waited_us` beyond the time since sending (a wrong server) counts as 0:
  // the claim's age is never underestimated.
  void launch(const json& items, std::chrono::steady_clock::time_point sent_at, long long waited_us) {
    auto since = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - sent_at).count();
    if (waited_us < 0 || waited_us > since) waited_us = 0;
    auto claimed = sent_at + std::chrono::microseconds(waited_us);
    std::lock_guard lock(slots_mu);
    for (auto& item : items) {
      auto ended = std::make_shared<std::atomic<bool>>(false);
      slots.emplace_back(std::thread([this, item, ended, claimed] {
                           run_try(item, claimed);  // takes it off `starting` once it counts as running
                           *ended = true;
                         }),
                         ended);
    }
  }
  std::mutex slots_mu;  // guards slots

  // Whether the server still holds `r` for this worker, asked right before it
  // starts: a claim's answer can reach the worker long after the server made
  // it (this process paused, say, while reading it), and meanwhile the
  // scheduler may have failed the try as lost and handed it on. A heartbeat
  // of the try alone answers that and renews its lease from now. No answer
  // (no server reachable): the lease as counted from the claim decides.
  void confirm(Running& r) {
    auto asked = std::chrono::steady_clock::now();
    auto a = post("/workers/heartbeat", {{"worker", options.name}, {"tries", json::array({{{"attempt_token", r.token}}})}},
                  std::chrono::seconds(1));
    if (a.status != 200) return;
    if (a.body.contains("stale"))
      for (auto& s : a.body["stale"])
        if (s.is_string() && s.get<std::string>() == r.token) {
          r.stale = true;
          return;
        }
    r.last_ok = asked;
  }

  void run_try(const json& item, std::chrono::steady_clock::time_point claimed_at) {
    auto r = std::make_shared<Running>();
    r->last_ok = claimed_at;
    r->token = item.value("attempt_token", "");
    r->ti_id = item.value("ti_id", 0LL);
    r->try_number = item.value("try_number", 1);
    const json& p = item.contains("payload") && item["payload"].is_object() ? item["payload"] : json::object();
    ShellTry t;
    t.dag_id = p.value("dag_id", "");
    t.run_id = p.value("run_id", "");
    t.task_id = p.value("task_id", "");
    t.map_index = p.value("map_index", -1);
    t.try_number = r->try_number;
    t.logical_date = p.value("logical_date", "");
    t.data_interval_start = p.value("data_interval_start", "");
    t.data_interval_end = p.value("data_interval_end", "");
    t.ds = p.value("ds", "");
    t.params_json = p.value("params", "{}");
    t.command = p.value("command", "");
    if (p.contains("secrets") && p["secrets"].is_array())  // values to mask in the log
      for (auto& v : p["secrets"])
        if (v.is_string()) t.secrets.push_back(v.get<std::string>());
    if (p.contains("env") && p["env"].is_object())
      for (auto& [k, v] : p["env"].items())
        if (v.is_string()) t.env[k] = v.get<std::string>();
    t.working_dir = p.value("working_dir", "");
    t.skip_exit_code = p.value("skip_exit_code", 99);
    if (p.contains("timeout_us")) t.timeout = Duration(p["timeout_us"].get<long long>());
    t.kill_grace = Duration(p.value("kill_grace_us", 10000000LL));
    t.heartbeat_interval = Duration(p.value("heartbeat_interval_us", 5000000LL));
    if (p.contains("zombie_timeout_us")) {
      Duration zombie(p["zombie_timeout_us"].get<long long>());
      if (zombie > t.heartbeat_interval) r->lease = zombie - t.heartbeat_interval;
    }
    Scratch scratch;
    take_scratch(scratch);
    t.scratch_dir = scratch.dir;
    t.log_path = scratch.log;
    if (item.contains("checkpoint") && item["checkpoint"].is_string())
      if (auto cp = base64url_decode(item["checkpoint"].get<std::string>())) t.checkpoint = *cp;
    r->log_path = t.log_path;
    r->heartbeat_interval = t.heartbeat_interval;
    {
      // Counted as running before it stops counting as starting: busy() never undercounts.
      std::lock_guard lock(mu);
      running[r->token] = r;
      --starting;
    }
    log->info("try {} of {} {} {} (task instance {}) starts", r->try_number, t.dag_id, t.run_id, t.task_id, r->ti_id);
    json report;
    // A claim younger than half its lease cannot have been handed on (its
    // scheduler waits a whole zombie_timeout from the claim's heartbeat):
    // it starts at once. An older one (this process was slow or paused
    // since the claim) is confirmed first (docs/running.md).
    if (!p.contains("error") && r->lease.count() > 0 &&
        std::chrono::steady_clock::now() - claimed_at > r->lease / 2)
      confirm(*r);
    if (!scratch.log_error.empty()) {
      log->error("try {} of task instance {}: {}", r->try_number, r->ti_id, scratch.log_error);
      report = {{"outcome", "failed"}, {"reason", "cannot start: " + scratch.log_error}};
    } else if (p.contains("error")) {
      append_log_note(t.log_path, p["error"].get<std::string>());
      report = {{"outcome", "failed"}, {"reason", p["error"].get<std::string>()}};
    } else if (r->stale || (r->lease.count() > 0 && std::chrono::duration_cast<Duration>(
                                                           std::chrono::steady_clock::now() - r->last_ok.load()) > r->lease)) {
      // Claimed longer ago than its lease (this process was paused in between):
      // its scheduler may have handed it to another worker already. Not run.
      log->error("try {} of task instance {}: claimed too long ago to start it safely; leaving it to its scheduler",
                 r->try_number, r->ti_id);
      r->stale = true;
      report = {{"outcome", "not started"}};  // not sent: the try is stale
    } else {
      if (kill_all) r->cancel = true;
      std::string type = p.value("type", "shell");
      ShellResult res;
      if (type == "http" || type == "sql") {
        // The worker's heartbeat loop reports every running try: nothing to add.
        NowFn now = [this] { return clock.now(); };
        BeatFn beat = [](TimePoint) {};
        const json& q = p.contains(type) && p[type].is_object() ? p[type] : json::object();
        if (type == "http") {
          HttpCall call;
          call.method = q.value("method", "GET");
          call.url = q.value("url", "");
          if (q.contains("headers") && q["headers"].is_object())
            for (auto& [k, v] : q["headers"].items())
              if (v.is_string()) call.headers[k] = v.get<std::string>();
          call.body = q.value("body", "");
          if (q.contains("expect_status") && q["expect_status"].is_array())
            for (auto& c : q["expect_status"])
              if (c.is_number_integer()) call.expect_status.push_back(c.get<int>());
          call.timeout = t.timeout;
          call.log_path = t.log_path;
          call.heartbeat_interval = t.heartbeat_interval;
          call.secrets = t.secrets;
          res = run_http(call, now, beat, r->cancel);
        } else {
          SqlCall call;
          call.connection = q.value("connection", "");
          call.url = q.value("url", "");
          call.sql = q.value("sql", "");
          // The bound values and statements (dsl::render_sql), as the scheduler rendered them.
          auto values = [](const json& a) {
            std::vector<dsl::SqlParam> out;
            if (a.is_array())
              for (auto& v : a)
                if (v.is_object() && v.contains("value") && v["value"].is_string())
                  out.push_back({v["value"].get<std::string>(),
                                 dsl::value_type(v.contains("type") && v["type"].is_string()
                                                     ? v["type"].get<std::string>()
                                                     : std::string("string"))});
            return out;
          };
          if (q.contains("params")) call.params = values(q["params"]);
          if (q.contains("statements") && q["statements"].is_array())
            for (auto& st : q["statements"])
              if (st.is_object() && st.contains("sql") && st["sql"].is_string())
                call.statements.push_back(
                    {st["sql"].get<std::string>(), st.contains("params") ? values(st["params"]) : std::vector<dsl::SqlParam>{}});
          auto flag = [&q](const char* k) { return q.contains(k) && q[k].is_boolean() && q[k].get<bool>(); };
          call.literal_values = flag("literal_values");
          call.literal_backslash = flag("literal_backslash");
          call.timeout = t.timeout;
          call.log_path = t.log_path;
          call.heartbeat_interval = t.heartbeat_interval;
          call.secrets = t.secrets;
          res = run_sql(call, now, beat, r->cancel);
        }
      } else {
        ShellRunner runner([this] { return clock.now(); });
        res = runner.run(
            t,
            [r](const ShellProgress& pr) {
              std::lock_guard lock(r->mu);
              if (pr.checkpoint) r->checkpoint = *pr.checkpoint;
              if (pr.progress) r->progress = *pr.progress;
            },
            r->cancel);
      }
      if (res.checkpoint) {
        std::lock_guard lock(r->mu);
        r->checkpoint = *res.checkpoint;
      }
      std::string outcome;
      std::string reason = res.reason;
      switch (res.outcome) {
        case ShellResult::Outcome::success: outcome = "success"; break;
        case ShellResult::Outcome::skipped: outcome = "skipped"; break;
        case ShellResult::Outcome::timeout:
          outcome = "timeout";
          reason = "timeout";
          break;
        case ShellResult::Outcome::canceled:
          outcome = stopping ? "shutdown" : "failed";
          reason = stopping ? "shutdown" : "canceled";
          break;
        default: outcome = "failed";
      }
      if (reason.size() > 3900) reason = reason.substr(0, 3900) + "...";  // the API takes 4,000 bytes
      report = {{"outcome", outcome}, {"reason", reason}, {"log_bytes", static_cast<long long>(res.log_bytes)}};
      if (res.exit_code >= 0) report["exit_code"] = res.exit_code;
      if (res.outcome == ShellResult::Outcome::success && res.output_json) {
        json o = json::parse(*res.output_json, nullptr, false);
        if (o.is_object()) report["output"] = o;
      }
    }
    if (!r->stale) {
      finish(*r, report);
    } else {
      // No heartbeat reads its log from here on: the slot's file will be
      // the next try's once the slot is given back.
      std::lock_guard lock(r->mu);
      r->done = true;
    }
    log->info("try {} of task instance {} ended: {}", r->try_number, r->ti_id, report.value("outcome", "?"));
    {
      std::lock_guard lock(mu);
      running.erase(r->token);
    }
    cv.notify_all();
  }

  size_t busy() {
    std::lock_guard lock(mu);
    return running.size() + starting;
  }
  size_t starting = 0;  // guarded by mu: claimed, thread not yet registered
};

RemoteWorker::RemoteWorker(RemoteWorkerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  if (impl_->options.name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    impl_->options.name = std::string(host) + ":" + std::to_string(getpid());
  }
}

RemoteWorker::~RemoteWorker() = default;

Status RemoteWorker::run(const std::atomic<bool>& stop) {
  Impl& m = *impl_;
  std::error_code ec;
  m.options.work_dir = fs::absolute(m.options.work_dir, ec).lexically_normal().string();
  fs::create_directories(fs::path(m.options.work_dir) / "logs", ec);
  if (ec) return Error{"unavailable", "cannot create " + m.options.work_dir + ": " + ec.message()};
  std::vector<std::string> shown_servers;
  for (auto& s : m.options.servers) shown_servers.push_back(mask_secrets(s));
  m.log->info("worker {} takes tries of queues {} on {} slots from {}", m.options.name,
              json(m.options.queues).dump(), m.options.slots, json(shown_servers).dump());
  std::thread beat([&m] { m.heartbeat_main(); });
  Status result;
  auto backoff = std::chrono::milliseconds(200);
  auto idle_since = std::chrono::steady_clock::now();
  while (!stop) {
    auto now = std::chrono::steady_clock::now();
    if (m.busy() > 0) idle_since = now;
    if (m.options.exit_when_idle.count() > 0 && now - idle_since >= m.options.exit_when_idle) {
      m.log->info("no try for {}: exiting (--exit-when-idle)", format_duration(m.options.exit_when_idle));
      break;
    }
    // Slot threads that ended are joined.
    {
      std::lock_guard lock(m.slots_mu);
      for (auto it = m.slots.begin(); it != m.slots.end();) {
        if (!*it->second) {
          ++it;
          continue;
        }
        it->first.join();
        it = m.slots.erase(it);
      }
    }
    int free = m.reserve_free(0);
    if (free <= 0) {
      std::unique_lock lock(m.mu);
      m.cv.wait_for(lock, std::chrono::milliseconds(200));
      continue;
    }
    auto wait = m.options.claim_wait;
    if (m.options.exit_when_idle.count() > 0)  // the idle time ends within a claim's wait at most
      wait = std::max(Duration(0), std::min(wait, m.options.exit_when_idle -
                                                      std::chrono::duration_cast<Duration>(now - idle_since)));
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
    auto sent_at = std::chrono::steady_clock::now();
    auto a = m.post("/workers/claim",
                    {{"worker", m.options.name}, {"queues", m.options.queues}, {"slots", free}, {"wait_ms", wait_ms}},
                    wait);
    if (a.status == 401 || a.status == 403) {
      m.unreserve(free);
      result = Error{a.status == 401 ? "unauthenticated" : "permission_denied", a.error};
      break;
    }
    if (a.status != 200) {
      m.unreserve(free);
      m.log->warn("claiming: {}", a.status == 0 ? "no server reachable: " + a.error : a.error);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    backoff = std::chrono::milliseconds(200);
    int got = 0;
    if (a.body.contains("items") && a.body["items"].is_array()) {
      // Never more than asked for (a server answering more is wrong: the rest would overrun the slots).
      json items = json::array();
      for (auto& item : a.body["items"])
        if (static_cast<int>(items.size()) < free) items.push_back(item);
      got = static_cast<int>(items.size());
      if (got > 0) idle_since = std::chrono::steady_clock::now();
      m.launch(items, sent_at, waited_of(a.body));
    }
    m.unreserve(free - got);
  }
  // Shutdown: running tries get the grace, then are killed (and reported as shutdown).
  m.stopping = true;
  auto deadline = std::chrono::steady_clock::now() + m.options.shutdown_grace;
  while (m.busy() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(m.mu);
    m.kill_all = true;
    for (auto& [_, r] : m.running) r->cancel = true;
  }
  // A slot thread may start another (a claim answered with its report)
  // before it ends: joined until none is left.
  while (true) {
    std::thread t;
    {
      std::lock_guard lock(m.slots_mu);
      if (m.slots.empty()) break;
      t = std::move(m.slots.front().first);
      m.slots.pop_front();
    }
    t.join();
  }
  {
    std::lock_guard lock(m.mu);
    m.stopping_all = true;
  }
  m.cv.notify_all();
  beat.join();
  return result;
}

}  // namespace baton::executor
