// What the client commands share (cmd_client.cpp, cmd_namespaces.cpp): the
// options that name the server and the token, one request to the server's
// REST API with the exit codes of SPEC §11, and printing. Included by the
// CLI's command files only (it brings httplib and nlohmann/json).
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "config.h"

namespace CLI {
class App;
}

namespace baton::cli {

struct ClientOptions {
  std::string server = config().value("server");
  std::string token = config().value("token");
  std::string output = "text";
};

// --server and --token; --output text|json on listings.
void add_client_options(CLI::App* cmd, ClientOptions& o, bool listing);

// A path segment, percent-encoded.
std::string enc(const std::string& s);

struct Response {
  int status;
  std::string body;
  httplib::Headers headers;
};

// One request; exits 3 when the server cannot be reached, and with the
// server's error message otherwise (400 -> 2, other errors -> 1).
Response call(const ClientOptions& o, const std::string& method, const std::string& path,
              const std::string& body = "");
// The same, its answer as JSON (exit 1 when it is not).
nlohmann::json call_json(const ClientOptions& o, const std::string& method, const std::string& path,
                         const std::string& body = "");

// A field as text: "-" for a missing or null one, JSON for a non-string.
std::string str(const nlohmann::json& j, const char* key);

// Rows as columns aligned with two spaces between them.
void print_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace baton::cli
