#include <spdlog/spdlog.h>

#include <algorithm>

#include "baton/executor/notifier.h"

#include "baton/core/secrets.h"

namespace baton::executor {

Notifier::Notifier(const Clock& clock, NotifierOptions options, Due due, Update update)
    : clock_(clock), options_(std::move(options)), due_(std::move(due)), update_(std::move(update)) {}

Notifier::~Notifier() { stop(); }

void Notifier::start() { thread_ = std::thread([this] { main(); }); }

void Notifier::kick() {
  std::lock_guard lock(mu_);
  kick_ = true;
  cv_.notify_one();
}

void Notifier::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Notifier::main() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.poll, [&] { return stop_ || kick_; });
      if (stop_) return;
      kick_ = false;
    }
    deliver_due();
  }
}

void Notifier::deliver_due() {
  auto due = due_(clock_.now(), 20);
  if (!due || due->empty()) return;
  auto base = spdlog::default_logger();
  auto log = base ? base->clone("scheduler") : std::make_shared<spdlog::logger>("scheduler");
  for (auto& n : *due) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    auto sent = deliver(n.target, n.payload, options_.timeout, options_.working_dir);
    ++n.attempts;
    if (sent) {
      n.state = "sent";
      n.last_error.reset();
    } else {
      n.last_error = sent.error().message;
      Duration delay = options_.backoff * (1LL << std::min(n.attempts - 1, 20));
      n.next_attempt_at = clock_.now() + std::min<Duration>(delay, std::chrono::minutes(5));
      // A target that can never be delivered (an invalid URL: not http(s),
      // longer than 8 KiB) fails for good now rather than being tried again.
      const bool never = sent.error().code == "invalid_argument";
      if (never || n.attempts >= options_.attempts) n.state = "failed";
      std::string target = mask_secrets(n.target.target);
      if (target.size() > 200) target = target.substr(0, 200) + "...";
      if (never)
        log->error("notification {} of {} to {} failed for good (it can never be delivered): {}", n.event, n.dag_id,
                   target, sent.error().message);
      else
        log->warn("notification {} of {} to {} (attempt {} of {}): {}", n.event, n.dag_id, target, n.attempts,
                  options_.attempts, sent.error().message);
    }
    if (auto u = update_(n); !u) log->error("notification {}: {}", n.id, u.error().message);
  }
}

}  // namespace baton::executor
