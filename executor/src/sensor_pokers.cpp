#include "baton/executor/sensor_pokers.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include "baton/core/secrets.h"
#include "baton/dsl/render.h"
#include "baton/executor/adapters.h"

namespace baton::executor {

namespace fs = std::filesystem;

namespace {

// One poke of a sensor.http waits this long at most for its answer.
constexpr Duration kPokeHttpTimeout = std::chrono::seconds(30);

Finished logged(Finished f, std::ofstream& log, const std::string& at) {
  log << "[baton] " << at << " poke: " << f.reason << "\n";  // a template's error: names, not values
  return f;
}

}  // namespace

namespace {

// A path made absolute, with `..` and the symbolic links of its existing part
// resolved (what the kernel would open, as far as it exists yet).
fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  fs::path r = fs::weakly_canonical(abs, ec);
  return ec ? abs.lexically_normal() : r;
}

bool under(const fs::path& path, const std::string& root) {
  const std::string& s = path.native();
  if (root == "/") return !s.empty() && s[0] == '/';
  return s == root || (s.size() > root.size() && s.compare(0, root.size(), root) == 0 && s[root.size()] == '/');
}

}  // namespace

SensorPokers::SensorPokers(const Clock& clock, std::string dags_dir, SensorServices services,
                           std::vector<std::string> roots)
    : clock_(clock), dags_dir_(std::move(dags_dir)), services_(std::move(services)) {
  if (roots.empty()) roots = {dags_dir_, "/tmp"};
  for (auto& r : roots) {
    if (r.empty()) continue;
    std::string root = resolved(r).string();
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    roots_.push_back(root);
  }
}

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
  // The values of the secret variables the templates read are masked in
  // what the poke writes and reports.
  auto secrets = std::make_shared<std::vector<std::string>>();
  const std::string ns = namespace_of(a);
  a.ctx.variable = nullptr;
  if (services_.variable) {
    a.ctx.variable = [secrets, ns, variable = services_.variable,
                      is_secret = services_.variable_is_secret](const std::string& name) -> std::optional<std::string> {
      auto v = variable(ns, name);
      if (v && is_secret && is_secret(ns, name)) secrets->push_back(*v);
      return v;
    };
  }
  Finished f = poke_once(a, *secrets);
  a.ctx.variable = nullptr;
  if (!secrets->empty()) f.reason = SecretMasker(*secrets).mask(f.reason);
  return f;
}

Finished SensorPokers::poke_once(Assignment& a, const std::vector<std::string>& secrets) {
  Finished f{a.run_pk, a.ti, a.attempt_token, TryOutcome::reschedule, "", std::nullopt, std::nullopt, 0, false};
  const dsl::TaskSpec& s = *a.spec;
  std::error_code ec;
  fs::create_directories(fs::path(a.shell.log_path).parent_path(), ec);
  std::ofstream log(a.shell.log_path, std::ios::app);
  auto now_text = [this] { return format_utc(std::chrono::time_point_cast<std::chrono::seconds>(clock_.now())); };
  auto shown = [&](const std::string& text) { return secrets.empty() ? text : SecretMasker(secrets).mask(text); };
  // A url's values are percent-encoded for where they stand (render.h); a
  // path is text as it is.
  auto rendered = [&](const dsl::TemplateText& t, const char* key) -> std::optional<std::string> {
    auto r = std::string(key) == "url" ? dsl::render_url(t.text, a.ctx) : dsl::render_template(t.text, a.ctx);
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
    // Only under sensor_roots, after `..` and links: the existence of a file
    // elsewhere (/root/.ssh/id_rsa) is none of a DAG's business.
    fs::path real = resolved(p);
    bool allowed = false;
    for (auto& root : roots_) allowed = allowed || under(real, root);
    if (!allowed) {
      std::string list;
      for (auto& root : roots_) list += (list.empty() ? "" : ", ") + root;
      f.outcome = TryOutcome::failed;
      f.reason = "path " + p.string() + (real != p.lexically_normal() ? " (" + real.string() + " once resolved)" : "") +
                 " is outside sensor_roots (" + list +
                 "): sensor.file looks only under these folders (sensor_roots in baton.yaml, BATON_SENSOR_ROOTS)";
      log << "[baton] " << now_text() << " poke: " << shown(f.reason) << "\n";
      return f;
    }
    bool there = fs::exists(real, ec);
    f.reason = there ? "" : "file " + p.string() + " does not exist yet";
    if (there) f.outcome = TryOutcome::success;
    log << "[baton] " << now_text() << " poke: " << shown(there ? "file " + p.string() + " exists" : f.reason) << "\n";
  } else if (s.type == dsl::TaskType::sensor_http) {
    auto url = rendered(s.url, "url");
    if (!url) return logged(f, log, now_text());
    HttpCall call;
    call.url = *url;
    call.expect_status = s.expect_status;
    call.timeout = kPokeHttpTimeout;
    call.log_path = a.shell.log_path;
    call.log_cap_bytes = 4096;
    call.secrets = secrets;
    log.close();
    std::atomic<bool> never{false};
    auto r = run_http(call, [this] { return clock_.now(); }, [](TimePoint) {}, never);
    if (r.outcome == ShellResult::Outcome::success) {
      f.outcome = TryOutcome::success;
    } else {
      f.reason = "GET " + mask_secrets(*url) + ": " + (r.reason.empty() ? "no answer" : r.reason);
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
