#include "loop.h"

#include <boost/asio.hpp>

#include <algorithm>
#include <future>
#include <set>
#include <thread>

#include "log.h"

namespace baton::scheduler {

namespace asio = boost::asio;

struct Loop::Periodic {
  Periodic(asio::io_context& io, Duration p, std::function<void()> f) : timer(io), period(p), fn(std::move(f)) {}
  asio::steady_timer timer;
  Duration period;
  std::function<void()> fn;
};

struct Loop::Asio {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  asio::steady_timer timer{io};
  std::vector<std::unique_ptr<Periodic>> periodic;
  std::thread thread;
};

Loop::Loop(const Clock& clock) : clock_(clock), asio_(std::make_unique<Asio>()) {}

Loop::~Loop() {
  if (asio_->thread.joinable()) stop();
}

void Loop::start() {
  asio_->guard.emplace(asio_->io.get_executor());
  asio_->thread = std::thread([this] { asio_->io.run(); });
}

void Loop::stop() {
  if (!asio_->thread.joinable()) return;
  asio_->guard.reset();
  asio_->io.stop();
  asio_->thread.join();
}

bool Loop::running() const { return asio_->thread.joinable(); }

bool Loop::in_loop_thread() const { return asio_->io.get_executor().running_in_this_thread(); }

void Loop::post(std::function<void()> fn) { asio::post(asio_->io, std::move(fn)); }

void Loop::run_ready() {
  asio_->io.restart();
  asio_->io.poll();
}

bool Loop::run_one() {
  if (asio_->io.stopped()) asio_->io.restart();
  return asio_->io.poll_one() > 0;
}

void Loop::run_and_wait(std::function<void()> fn) {
  std::promise<void> done;
  asio::post(asio_->io, [&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void Loop::request_flush() {
  if (flush_pending_) return;
  flush_pending_ = true;
  asio::post(asio_->io, [this] {
    flush_pending_ = false;
    end_turn();
  });
}

void Loop::end_turn() {
  if (end_turn_) end_turn_();
}

void Loop::wake_at(std::optional<TimePoint> at) {
  if (!at) return;
  auto wait = *at - clock_.now();
  if (wait < Duration(0)) wait = Duration(0);
  asio_->timer.expires_after(wait);
  asio_->timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (on_wake_) on_wake_();
    end_turn();
  });
}

void Loop::every(Duration period, std::function<void()> fn) {
  auto& p = asio_->periodic.emplace_back(std::make_unique<Periodic>(asio_->io, period, std::move(fn)));
  arm(*p);
}

void Loop::arm(Periodic& p) {
  p.timer.expires_after(p.period);
  p.timer.async_wait([this, &p](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    p.fn();
    arm(p);
  });
}

void Loop::cancel_timers() {
  asio::post(asio_->io, [this] {
    asio_->timer.cancel();
    for (auto& p : asio_->periodic) p->timer.cancel();
  });
}

void Loop::audit(const std::string& actor, const std::string& action, const std::string& target,
                 std::string details_json) {
  batch_.audit.push_back({actor, action, target, std::move(details_json)});
}

namespace {

template <class T, class Key>
void keep_last(std::vector<T>& rows, Key key) {
  if (rows.size() < 2) return;
  std::set<decltype(key(rows[0]))> seen;
  std::vector<T> out;
  out.reserve(rows.size());
  for (auto it = rows.rbegin(); it != rows.rend(); ++it)
    if (seen.insert(key(*it)).second) out.push_back(std::move(*it));
  std::reverse(out.begin(), out.end());
  rows = std::move(out);
}

}  // namespace

Loop::Written Loop::write(store::Store& store, const std::vector<store::Fence>& fences) {
  Written out;
  if (batch_.empty()) return out;
  out.notifications = !batch_.notifications.empty() || !batch_.sla_misses.empty() ||
                      std::any_of(batch_.sla_risks.begin(), batch_.sla_risks.end(),
                                  [](const store::WriteBatch::Risk& r) { return !r.notifications.empty(); });
  keep_last(batch_.runs, [](const store::RunRecord& r) { return r.pk; });
  keep_last(batch_.task_instances, [](const store::TaskInstanceRecord& t) { return t.id; });
  keep_last(batch_.tries, [](const store::TryRecord& t) { return std::make_pair(t.ti_id, t.try_number); });
  keep_last(batch_.backfills, [](const store::BackfillRecord& b) { return b.id; });
  batch_.fences = fences;
  auto s = store.apply(batch_);
  if (!s && s.error().code != "stale_epoch") s = store.apply(batch_);  // once more: a busy database
  if (!s && s.error().code == "stale_epoch") {
    // A partition moved away while this process was not looking (it was
    // paused, or the leader moved it): nothing of this batch happened.
    batch_ = {};
    out.notifications = false;
    out.fenced = s.error();
    return out;
  }
  if (!s) {
    sched_log()->critical("writing to the store failed: {}; stopping", s.error().message);
    spdlog::shutdown();
    std::_Exit(70);
  }
  batch_ = {};
  return out;
}

}  // namespace baton::scheduler
