// HttpRequest and HttpResponse: the API's own view of one exchange, free of
// the HTTP library (Beast and Asio stay in server.cpp, http_session.cpp and
// request_framer.cpp) and of the JSON library,
// so that the endpoints can be written, split over files and read without
// either in a header. Plain values: safe to copy between threads.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "baton/core/result.h"

namespace baton::api {

// Request bodies larger than this get 413 (SPEC §12).
constexpr size_t kMaxBodyBytes = 1 << 20;
// The worker endpoints (under /api/v1/workers/) carry checkpoints and log
// chunks of up to 1 MiB each, as base64url.
constexpr size_t kMaxWorkerBodyBytes = 8 << 20;

struct HttpRequest {
  std::string method;                                      // GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS
  std::string path;                                        // percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // percent-decoded
  std::optional<std::string> authorization;                // the Authorization header, if any
  int authorization_count = 0;                             // how many Authorization headers came
  std::string body;
  std::string remote_address;                              // the client's IP address, as text
  std::chrono::steady_clock::time_point received_at{};     // when its last byte came (long-poll deadlines)
  // Set by the server when the client closed its connection while the
  // request waited: a parked long poll is then dropped, not run again.
  std::shared_ptr<const std::atomic<bool>> client_gone;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // A long poll with nothing to answer yet: the server keeps the request,
  // holding no thread, and asks the handler again at this time or at the
  // next wake-up (Api::on_wake), whichever comes first.
  std::optional<std::chrono::steady_clock::time_point> poll_again_at;
  // Long polls of one group are alike (claims of one set of queues): a
  // wake-up resumes the one of each group parked longest, not all of them,
  // and long polls without a group each. A handler that may have left news
  // for another of its group (it took all it asked for) sets wake_next: the
  // server then resumes the next one of `poll_group`, and so on down the
  // group while each takes its fill.
  std::string poll_group;
  bool wake_next = false;
};

// The HTTP status for an Error code: invalid_argument 400, unauthenticated
// 401, permission_denied 403, not_found 404, method_not_allowed 405,
// conflict 409, payload_too_large 413, anything else 500.
int http_status(const std::string& error_code);

// `{"error": {"code": ..., "message": ...}}` as text.
std::string error_body(const std::string& code, const std::string& message);
HttpResponse error_response(int status, const std::string& code, const std::string& message);
HttpResponse error_response(const Error& e);

// The error a status gets when nothing more specific is known (unknown
// routes, bodies over the limit, requests the HTTP library refused).
HttpResponse default_error(int status, const std::string& method, const std::string& path);

}  // namespace baton::api
