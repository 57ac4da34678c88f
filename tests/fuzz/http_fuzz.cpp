// libFuzzer target for the HTTP request path: raw bytes, cut into pieces as a
// network would, through the request framer (api/src/request_framer.h) and,
// for every whole request, through the router, the authentication and the
// checks of queries and bodies (Api::handle) over a real SQLite store. `@T`
// in the input stands for an admin token, so that inputs reach past the
// authentication into the checks of the routes. The scheduler is absent: its
// intents answer "unavailable".
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "api.h"
#include "baton/core/clock.h"
#include "baton/core/sha256.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"
#include "request_framer.h"

using namespace baton;

namespace {

const char* kToken = "fuzz-admin-token-0123456789";

class NoScheduler final : public scheduler::Control {
 public:
  Error no() const { return Error{"unavailable", "no scheduler in the fuzzer"}; }
  Result<scheduler::TriggerResult> trigger(const std::string&, const scheduler::TriggerRequest&,
                                           const std::string&) override {
    return no();
  }
  Status cancel_run(const std::string&, const std::string&, const std::string&) override { return no(); }
  Status clear_task(const std::string&, const std::string&, const std::string&, bool, bool,
                    const std::string&) override {
    return no();
  }
  Status mark_task(const std::string&, const std::string&, const std::string&, TaskState,
                   const std::string&) override {
    return no();
  }
  Status set_paused(const std::string&, bool, const std::string&) override { return no(); }
  Result<scheduler::BackfillResult> create_backfill(const scheduler::BackfillRequest&, const std::string&) override {
    return no();
  }
  Status cancel_backfill(long long, const std::string&) override { return no(); }
  Result<std::vector<std::string>> waiting_for(const std::string&, const std::string&, const std::string&,
                                               int) override {
    return no();
  }
  scheduler::SchedulerStatus status() override { return {}; }
  Result<scheduler::SchedulerMetrics> metrics() override { return no(); }
  std::string logs_dir() const override { return "/nonexistent"; }
};

struct World {
  std::unique_ptr<store::Store> store;
  NoScheduler control;
  std::unique_ptr<api::Api> api;
  World() {
    std::string dir = std::filesystem::temp_directory_path() / ("baton-http-fuzz-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto url = store::parse_database_url("sqlite:" + dir + "/fuzz.db");
    auto s = store::open_store(*url, SystemClock::instance());
    if (!s) std::abort();
    store = std::move(*s);
    (void)store->create_token("fuzz", store::Role::admin, sha256_hex(kToken), "fuzz");
    api = std::make_unique<api::Api>(*store, control, SystemClock::instance());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  if (size < 1) return 0;
  // The first byte: how the bytes are cut (1 to 256 bytes a piece).
  size_t piece = static_cast<size_t>(data[0]) + 1;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  for (size_t at = bytes.find("@T"); at != std::string::npos; at = bytes.find("@T", at + 1))
    bytes.replace(at, 2, kToken);
  api::RequestFramer framer;
  for (size_t i = 0; i < bytes.size() && framer.state() != api::RequestFramer::State::refused; i += piece) {
    framer.feed(std::string_view(bytes).substr(i, piece));
    while (framer.state() == api::RequestFramer::State::complete) {
      api::HttpRequest request = framer.take();
      api::HttpResponse response = world.api->handle(request);
      if (response.status < 100 || response.status > 599) std::abort();
    }
  }
  return 0;
}
