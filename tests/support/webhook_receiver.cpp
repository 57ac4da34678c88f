// A webhook receiver for the end-to-end tests, on 127.0.0.1: POST /ok answers
// 204, /fail 500, /hang after 30 s; GET /json answers {"rows": 42} (for the
// http task type); POST /record/... keeps what arrived (injection_test.sh).
// Every body received is appended, one per
// line, to DIR/PATH.log (ok.log, fail.log, hang.log). Writes its port to
// DIR/port once it listens; stops on SIGTERM.
// Usage: webhook_receiver DIR
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

namespace {
httplib::Server* g_server = nullptr;
extern "C" void on_term(int) {
  if (g_server) g_server->stop();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::string dir = argv[1];
  httplib::Server http;
  std::mutex mu;
  auto keep = [&](const std::string& name, const httplib::Request& req) {
    std::lock_guard lock(mu);
    std::ofstream(dir + "/" + name + ".log", std::ios::app) << req.body << "\n";
  };
  http.Post("/ok", [&](const httplib::Request& req, httplib::Response& res) {
    keep("ok", req);
    res.status = 204;
  });
  http.Post("/fail", [&](const httplib::Request& req, httplib::Response& res) {
    keep("fail", req);
    res.status = 500;
  });
  http.Post("/hang", [&](const httplib::Request& req, httplib::Response& res) {
    keep("hang", req);
    for (int i = 0; i < 300 && http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    res.status = 200;
  });
  // POST /record/...: what arrived, decoded, each in a file of its own
  // (record-path, record-q, record-z, record-h: the X-P header, record-body),
  // for the injection test to compare byte for byte.
  http.Post(R"(/record/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    auto put = [&](const std::string& name, const std::string& value) {
      std::ofstream(dir + "/record-" + name, std::ios::binary | std::ios::trunc) << value;
    };
    put("path", req.path);
    put("q", req.get_param_value("q"));
    put("z", req.get_param_value("z"));
    put("h", req.get_header_value("X-P"));
    put("body", req.body);
    res.status = 204;
  });
  http.Get("/json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"rows": 42})", "application/json");
  });
  int port = http.bind_to_any_port("127.0.0.1");
  if (port <= 0) return 1;
  g_server = &http;
  std::signal(SIGTERM, on_term);
  std::ofstream(dir + "/port") << port << "\n";
  http.listen_after_bind();
  return 0;
}
