// The client commands' shared parts (client.h).
#include "client.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>

#include "commands.h"

namespace baton::cli {

using nlohmann::json;

void add_client_options(CLI::App* cmd, ClientOptions& o, bool listing) {
  cmd->add_option("--server", o.server, "server URL (default: $BATON_SERVER or http://127.0.0.1:8080)");
  cmd->add_option("--token", o.token, "API token (default: $BATON_TOKEN)");
  if (listing) cmd->add_option("--output", o.output, "text or json")->check(CLI::IsMember({"text", "json"}));
}

std::string enc(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

Response call(const ClientOptions& o, const std::string& method, const std::string& path,
              const std::string& body) {
  httplib::Client cli(o.server);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(60);
  httplib::Headers h;
  if (!o.token.empty()) h.emplace("Authorization", "Bearer " + o.token);
  httplib::Result r = method == "GET"      ? cli.Get(path.c_str(), h)
                      : method == "POST"   ? cli.Post(path.c_str(), h, body, "application/json")
                      : method == "PUT"    ? cli.Put(path.c_str(), h, body, "application/json")
                      : method == "DELETE" ? cli.Delete(path.c_str(), h)
                                           : cli.Patch(path.c_str(), h, body, "application/json");
  if (!r) {
    std::cerr << "error: cannot reach the server at " << o.server << " (" << httplib::to_string(r.error()) << ")\n";
    throw Exit{kUnreachable};
  }
  if (r->status >= 400) {
    std::string message = r->body;
    auto j = json::parse(r->body, nullptr, false);
    if (!j.is_discarded() && j.contains("error")) message = j["error"].value("message", r->body);
    std::cerr << "error: " << message << " (HTTP " << r->status << ")\n";
    throw Exit{r->status == 400 || r->status == 413 ? kBadInput : kFailed};
  }
  return {r->status, r->body, r->headers};
}

json call_json(const ClientOptions& o, const std::string& method, const std::string& path, const std::string& body) {
  auto r = call(o, method, path, body);
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    std::cerr << "error: the server answered something that is not JSON\n";
    throw Exit{kFailed};
  }
  return j;
}

std::string str(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  for (auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) std::cout << r[i] << (i + 1 < r.size() ? std::string(w[i] - r[i].size() + 2, ' ') : "");
    std::cout << "\n";
  }
}

}  // namespace baton::cli
