#include "baton/executor/sensor_pokers.h"

#include <filesystem>
#include <fstream>

#include "baton/executor/adapters.h"

namespace baton::executor {

namespace fs = std::filesystem;

namespace {

// One poke of a sensor.http waits this long at most for its answer.
constexpr Duration kPokeHttpTimeout = std::chrono::seconds(30);

Finished logged(Finished f, std::ofstream& log, const std::string& at) {
  log << "[baton] " << at << " poke: " << f.reason << "\n";
  return f;
}

}  // namespace

SensorPokers::SensorPokers(const Clock& clock, std::string dags_dir, SensorServices services)
    : clock_(clock), dags_dir_(std::move(dags_dir)), services_(std::move(services)) {}

SensorPokers::~SensorPokers() { stop(); }

void SensorPokers::start(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { main(); });
}

void SensorPokers::poke(Assignment a) {
  {
    std::lock_guard lock(mu_);
    pokes_.push_back(std::move(a));
  }
  cv_.notify_one();
}

void SensorPokers::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void SensorPokers::main() {
  for (;;) {
    Assignment a;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !pokes_.empty(); });
      if (stop_) return;
      a = std::move(pokes_.front());
      pokes_.pop_front();
    }
    Finished f = poke_now(a);
    std::error_code ec;
    auto bytes = fs::file_size(a.shell.log_path, ec);
    f.log_bytes = ec ? 0 : static_cast<long long>(bytes);
    services_.finished(f);
  }
}

Finished SensorPokers::poke_now(Assignment& a) {
  Finished f{a.run_pk, a.ti, a.attempt_token, TryOutcome::reschedule, "", std::nullopt, std::nullopt, 0, false};
  const dsl::TaskSpec& s = *a.spec;
  std::error_code ec;
  fs::create_directories(fs::path(a.shell.log_path).parent_path(), ec);
  std::ofstream log(a.shell.log_path, std::ios::app);
  auto now_text = [this] { return format_utc(std::chrono::time_point_cast<std::chrono::seconds>(clock_.now())); };
  a.ctx.variable = services_.variable;
  auto rendered = [&](const dsl::TemplateText& t, const char* key) -> std::optional<std::string> {
    auto r = dsl::render_template(t.text, a.ctx);
    if (r) return *r;
    f.outcome = TryOutcome::failed;
    f.reason = std::string(key) + ": " + r.error().message;
    return std::nullopt;
  };
  if (s.type == dsl::TaskType::sensor_file) {
    auto path = rendered(s.path, "path");
    if (!path) return logged(f, log, now_text());
    fs::path p(*path);
    if (p.is_relative()) p = fs::path(dags_dir_) / p;
    bool there = fs::exists(p, ec);
    f.reason = there ? "" : "file " + p.string() + " does not exist yet";
    if (there) f.outcome = TryOutcome::success;
    log << "[baton] " << now_text() << " poke: " << (there ? "file " + p.string() + " exists" : f.reason) << "\n";
  } else if (s.type == dsl::TaskType::sensor_http) {
    auto url = rendered(s.url, "url");
    if (!url) return logged(f, log, now_text());
    HttpCall call;
    call.url = *url;
    call.expect_status = s.expect_status;
    call.timeout = kPokeHttpTimeout;
    call.log_path = a.shell.log_path;
    call.log_cap_bytes = 4096;
    log.close();
    std::atomic<bool> never{false};
    auto r = run_http(call, [this] { return clock_.now(); }, [](TimePoint) {}, never);
    if (r.outcome == ShellResult::Outcome::success) {
      f.outcome = TryOutcome::success;
    } else {
      f.reason = "GET " + *url + ": " + (r.reason.empty() ? "no answer" : r.reason);
    }
  } else if (s.type == dsl::TaskType::sensor_task) {
    TimePoint at = a.ctx.logical_date + s.logical_date_offset;
    std::string what = "task " + s.target_task + " of DAG " + s.target_dag + " for logical date " + format_utc(at);
    auto state = services_.task_state(s.target_dag, s.target_task, at);
    if (state && *state && is_success_like(**state)) {
      f.outcome = TryOutcome::success;
      log << "[baton] " << now_text() << " poke: " << what << " is " << to_string(**state) << "\n";
    } else {
      f.reason = !state   ? "reading " + what + ": " + state.error().message
                 : *state ? what + " is " + to_string(**state)
                          : what + ": no such run or task yet";
      log << "[baton] " << now_text() << " poke: " << f.reason << "\n";
    }
  } else {
    f.outcome = TryOutcome::failed;
    f.reason = std::string("not a sensor: ") + dsl::to_string(s.type);
  }
  return f;
}

}  // namespace baton::executor
