// The route table of the REST API: each route says its method and path, who
// may call it, what it takes (query parameters, body fields, with types and
// allowed values) and what it answers. One table drives the router (matching,
// 404/405), the checks of bad input (unknown, duplicate, mistyped or
// out-of-range parameters and fields get 400 before any handler runs) and the
// OpenAPI document, so the three cannot drift apart.
//
// Handlers run on the HTTP server's threads, several at once: they keep no
// state of their own and reach the Store and Control (both thread-safe)
// through Deps.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "baton/core/clock.h"
#include "baton/scheduler/control.h"
#include "baton/store/store.h"
#include "http.h"
#include "token_cache.h"

namespace baton::api {

// Who may call a route. Roles rank viewer < operator < admin; a worker token
// may use none of the public routes (only the worker endpoints, later).
// `worker`: the worker endpoints, for worker (and admin) tokens only.
enum class Access { open, viewer, operator_role, admin, worker };

enum class ValueType { string, integer, boolean, object, time, enumeration, string_list, object_list, number };

// A query parameter or a field of a JSON body.
struct ParamSpec {
  std::string name{};
  ValueType type = ValueType::string;
  std::string description{};
  bool required = false;
  std::vector<std::string> allowed{};  // enumeration
  long long min = 0, max = 0;          // integer, inclusive
  size_t max_length = 0;               // string: 0 means only the body's limit
  double min_number = 0, max_number = 0;  // number (integers accepted), inclusive
};

// A checked value: integers, numbers and booleans as such; strings, times
// (as given, known to parse) and enumerations as text; objects as their JSON
// text.
using Value = std::variant<bool, long long, std::string, double>;

struct Call {
  const HttpRequest& request;
  std::vector<std::string> path;  // path parameters, in the order of the route's path
  std::map<std::string, Value> query;
  std::map<std::string, Value> body;
  std::string actor;  // the token's name; empty on open routes
  int limit = 100;    // paginated routes
  std::optional<std::string> cursor;
  std::string role{};  // the token's role; empty on open routes
  // The token's namespaces (SPEC §13); empty: unscoped (or an open route).
  std::vector<std::string> namespaces{};

  bool scoped() const { return !namespaces.empty(); }
  // Whether the caller may see and act on what belongs to namespace `ns`:
  // an unscoped token sees every namespace, a scoped one only its own.
  // What it may not see answers 404, as if it were not there.
  bool sees(const std::string& ns) const {
    return namespaces.empty() || std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
  }

  template <class T>
  std::optional<T> query_as(const std::string& name) const {
    return get<T>(query, name);
  }
  template <class T>
  std::optional<T> body_as(const std::string& name) const {
    return get<T>(body, name);
  }

 private:
  template <class T>
  static std::optional<T> get(const std::map<std::string, Value>& m, const std::string& name) {
    auto it = m.find(name);
    if (it == m.end() || !std::holds_alternative<T>(it->second)) return std::nullopt;
    return std::get<T>(it->second);
  }
};

using Handler = std::function<HttpResponse(Call&)>;

struct Route {
  std::string method{};  // GET, POST, PUT, PATCH, DELETE
  std::string path{};    // under /api/v1, `{name}` for a path parameter
  Access access = Access::viewer;
  std::string summary{};           // one line, for the OpenAPI document
  std::vector<ParamSpec> query{};  // besides limit and cursor of paginated routes
  bool takes_body = false;         // a JSON object (an empty body counts as {})
  std::vector<ParamSpec> body{};   // its fields; any other field is refused
  bool paginated = false;
  std::string schema{};  // OpenAPI component of the answer (of an item, when paginated);
                         // "text" for text/plain, empty for no body
  int status = 200;      // on success
  // Access::admin: whether an admin token scoped to namespaces may call it
  // (its handler keeps the caller to its namespaces: variables,
  // connections, scoped tokens). Otherwise the route needs an unscoped
  // admin (pools, namespaces), and a scoped one gets 403 (SPEC §13).
  bool scoped_admin = false;
  Handler handler{};
};

// Appends a route to the table and returns it (for further settings).
Route& add(std::vector<Route>& routes, const char* method, const char* path, Access access, const char* summary,
           const char* schema, Handler handler);

// Wake-ups of parked long polls: a handler's source of news (the queue's
// NOTIFY) calls notify(); the server, which parks the polls, listens.
// generation() counts the wake-ups, so that one between a handler's look and
// its parking is not lost.
class WakeHub {
 public:
  // The listener runs under the lock (it must be quick: the server's posts
  // a task), so that after listen({}) returns no call is still under way.
  void notify() {
    std::lock_guard lock(mu_);
    ++generation_;
    if (listener_) listener_();
  }
  unsigned long long generation() const {
    std::lock_guard lock(mu_);
    return generation_;
  }
  void listen(std::function<void()> f) {
    std::lock_guard lock(mu_);
    listener_ = std::move(f);
  }

 private:
  mutable std::mutex mu_;
  unsigned long long generation_ = 0;
  std::function<void()> listener_;
};

// The remote workers' claims on this server (GET /metrics).
struct ClaimCounters {
  std::atomic<long long> took{0};     // claims made in the store that found tries
  std::atomic<long long> nothing{0};  // and those that found none
  std::atomic<long long> parked{0};   // long polls parked now (ApiServer)
  void count(bool found) { ++(found ? took : nothing); }
};

struct Deps {
  store::Store& store;
  scheduler::Control& control;
  const Clock& clock;
  bool metrics_public = false;  // GET /metrics without a token
  // Set when the server begins to stop: long polls answer at once.
  std::shared_ptr<std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<WakeHub> wakeup = std::make_shared<WakeHub>();
  // Tokens authenticated in the last second (token_cache.h).
  std::shared_ptr<TokenCache> tokens = std::make_shared<TokenCache>();
  // ApiOptions::claim_recheck.
  std::chrono::milliseconds claim_recheck{1000};
  // The remote workers' claims this server made in the store, by whether
  // they found tries (GET /metrics: baton_worker_claims_total).
  std::shared_ptr<ClaimCounters> claims = std::make_shared<ClaimCounters>();
};

// The routes, by area (dag_routes.cpp, run_routes.cpp, task_routes.cpp,
// resource_routes.cpp, namespace_routes.cpp, backfill_routes.cpp,
// metrics_routes.cpp, worker_routes.cpp).
void add_dag_routes(std::vector<Route>& routes, const Deps& deps);
void add_run_routes(std::vector<Route>& routes, const Deps& deps);
void add_task_routes(std::vector<Route>& routes, const Deps& deps);
void add_resource_routes(std::vector<Route>& routes, const Deps& deps);
void add_namespace_routes(std::vector<Route>& routes, const Deps& deps);
void add_backfill_routes(std::vector<Route>& routes, const Deps& deps);
void add_metrics_routes(std::vector<Route>& routes, const Deps& deps);
void add_forecast_routes(std::vector<Route>& routes, const Deps& deps);  // forecast_routes.cpp
void add_worker_routes(std::vector<Route>& routes, const Deps& deps);

// The OpenAPI 3.0 document for the table (openapi.cpp).
std::string openapi_document(const std::vector<Route>& routes);

// Offset pagination over a list that is read whole: the items [begin, end)
// and the cursor of the next page (none on the last one).
struct Window {
  size_t begin = 0, end = 0;
  std::optional<std::string> next_cursor;
};
Result<Window> offset_window(size_t total, const Call& call);

// The answer of a list: {"items": [...], "next_cursor": ...}, from the items'
// JSON texts.
HttpResponse list_response(const std::vector<std::string>& item_json, const std::optional<std::string>& next_cursor);
HttpResponse json_response(int status, std::string json_text);
// 204, no body (a DELETE done).
HttpResponse no_content();

}  // namespace baton::api
