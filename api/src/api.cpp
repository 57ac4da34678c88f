// The router: route matching, authentication and roles, the checks of query
// parameters and bodies against the route table, the error format.
#include "api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "auth_failures.h"
#include "baton/core/sha256.h"
#include "baton/core/time.h"
#include "json_text.h"
#include "routes.h"
#include "scope.h"
#include "util.h"

namespace baton::api {

using nlohmann::json;

namespace {

// Bodies nest at most this deep: enough for any params, and a hostile body is
// refused before parsing (SPEC §12).
constexpr int kMaxBodyDepth = 64;
// A bearer token longer than this is not one Baton made.
constexpr size_t kMaxTokenLength = 1024;


std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// What a parameter or field accepts, in words, for error messages.
std::string expected(const ParamSpec& p) {
  switch (p.type) {
    case ValueType::string:
      return "a string";
    case ValueType::integer:
      return "an integer from " + std::to_string(p.min) + " to " + std::to_string(p.max);
    case ValueType::boolean:
      return "true or false";
    case ValueType::object:
      return "a JSON object";
    case ValueType::time:
      return "an ISO 8601 instant such as 2026-11-22T10:00:00Z";
    case ValueType::enumeration:
      return "one of " + join(p.allowed);
    case ValueType::string_list:
      return "a list of strings";
    case ValueType::object_list:
      return "a list of JSON objects";
    case ValueType::number: {
      std::ostringstream o;
      o << "a number from " << p.min_number << " to " << p.max_number;
      return o.str();
    }
  }
  return "?";
}

int rank(store::Role r) {
  switch (r) {
    case store::Role::viewer:
      return 1;
    case store::Role::operator_role:
      return 2;
    case store::Role::admin:
      return 3;
    case store::Role::worker:
      return 0;
  }
  return 0;
}

int rank(Access a) {
  switch (a) {
    case Access::open:
      return 0;
    case Access::viewer:
      return 1;
    case Access::operator_role:
      return 2;
    case Access::admin:
    case Access::worker:
      return 3;
  }
  return 3;
}

const char* role_name(Access a) {
  switch (a) {
    case Access::open:
      return "none";
    case Access::viewer:
      return "viewer";
    case Access::operator_role:
      return "operator";
    case Access::admin:
      return "admin";
    case Access::worker:
      return "worker";
  }
  return "admin";
}

// A route's path as segments: a literal, or `{name}` for a parameter that
// matches any one non-empty segment.
struct CompiledRoute {
  Route route;
  std::vector<std::string> segments;
};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 1;  // after the leading /
  while (true) {
    size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) return out;
    start = slash + 1;
  }
}

// Matches in one pass over the request's segments (no regex: a request path
// is up to 8 KiB of a client's choosing); the parameters in order.
bool match_route(const CompiledRoute& r, const std::vector<std::string>& parts, std::vector<std::string>& params) {
  if (parts.size() != r.segments.size()) return false;
  params.clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& seg = r.segments[i];
    if (!seg.empty() && seg.front() == '{') {
      if (parts[i].empty()) return false;
      params.push_back(parts[i]);
    } else if (seg != parts[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---- shared helpers (http.h, routes.h) ----

int http_status(const std::string& code) {
  if (code == "invalid_argument") return 400;
  if (code == "unauthenticated") return 401;
  if (code == "permission_denied") return 403;
  if (code == "not_found") return 404;
  if (code == "method_not_allowed") return 405;
  if (code == "conflict") return 409;
  if (code == "unsupported") return 400;  // not on this deployment (the message says what is needed)
  if (code == "payload_too_large") return 413;
  if (code == "unavailable") return 503;
  return 500;
}

std::string error_body(const std::string& code, const std::string& message) {
  return dump(json{{"error", {{"code", code}, {"message", message}}}});
}

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = error_body(code, message);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

HttpResponse error_response(const Error& e) {
  return error_response(http_status(e.code), e.code.empty() ? "internal" : e.code, e.message);
}

HttpResponse default_error(int status, const std::string& method, const std::string& path) {
  switch (status) {
    case 400:
      return error_response(400, "invalid_argument", "malformed HTTP request");
    case 404:
      return error_response(
          404, "not_found",
          "nothing at " + method + " " + path + " (the REST API is under /api/v1: see /api/v1/openapi.json)");
    case 405:
      return error_response(405, "method_not_allowed", "method " + method + " is not supported");
    case 413:
      return error_response(413, "payload_too_large",
                            "the request body is larger than 1 MiB (" + std::to_string(kMaxBodyBytes) +
                                " bytes; 8 MiB for the worker endpoints)");
    case 414:
      return error_response(414, "uri_too_long", "the request URI is too long");
    case 415:
      return error_response(415, "unsupported_media_type", "unsupported Content-Encoding");
    case 416:
      return error_response(416, "range_not_satisfiable", "the requested range cannot be served");
    case 500:
      return error_response(500, "internal", "internal error");
    default:
      return error_response(status, "http_error", "HTTP error " + std::to_string(status));
  }
}

HttpResponse json_response(int status, std::string json_text) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(json_text);
  return r;
}

HttpResponse no_content() {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

HttpResponse list_response(const std::vector<std::string>& item_json, const std::optional<std::string>& next_cursor) {
  std::string body = "{\"items\":[";
  for (size_t i = 0; i < item_json.size(); ++i) {
    if (i) body += ',';
    body += item_json[i];
  }
  body += "],\"next_cursor\":";
  body += next_cursor ? dump(json(*next_cursor)) : "null";
  body += '}';
  return json_response(200, std::move(body));
}

Result<Window> offset_window(size_t total, const Call& call) {
  size_t begin = 0;
  if (call.cursor) {
    auto c = decode_cursor(*call.cursor, 'o', 1);
    if (!c) return c.error();
    if ((*c)[0] < 0) return Error::invalid("query parameter `cursor`: not a cursor of this list");
    begin = std::min(total, static_cast<size_t>((*c)[0]));
  }
  Window w;
  w.begin = begin;
  w.end = std::min(total, begin + static_cast<size_t>(call.limit));
  if (w.end < total) w.next_cursor = encode_cursor('o', {static_cast<long long>(w.end)});
  return w;
}

// ---- the router ----

struct Api::Impl {
  Deps deps;
  std::vector<CompiledRoute> routes;
  std::string openapi;
  // Which failed authentications are audited (one per address and minute).
  std::unique_ptr<AuthFailures> auth_failures = std::make_unique<AuthFailures>(deps.clock);

  Impl(store::Store& s, scheduler::Control& c, const Clock& clock, bool metrics_public,
       std::chrono::milliseconds claim_recheck)
      : deps{s, c, clock, metrics_public, std::make_shared<std::atomic<bool>>(false)} {
    deps.claim_recheck = claim_recheck;
    std::vector<Route> table;
    table.push_back(Route{.method = "GET",
                          .path = "/openapi.json",
                          .access = Access::open,
                          .summary = "This OpenAPI 3.0 document",
                          .schema = "OpenApi",
                          .handler = [this](Call&) { return json_response(200, openapi); }});
    add_dag_routes(table, deps);
    add_run_routes(table, deps);
    add_task_routes(table, deps);
    add_resource_routes(table, deps);
    add_namespace_routes(table, deps);
    add_backfill_routes(table, deps);
    add_metrics_routes(table, deps);
    add_forecast_routes(table, deps);
    add_worker_routes(table, deps);
    for (auto& r : table) {
      auto segments = split_path(r.path);
      routes.push_back({std::move(r), std::move(segments)});
    }
    std::vector<Route> plain;
    for (auto& r : routes) plain.push_back(r.route);
    openapi = openapi_document(plain);
  }

  HttpResponse handle(const HttpRequest& req) const {
    std::string prefix = std::string(kApiPrefix) + "/";
    if (req.path.rfind(prefix, 0) != 0) return default_error(404, req.method, req.path);
    std::string sub = req.path.substr(prefix.size() - 1);
    std::string method = req.method == "HEAD" ? "GET" : req.method;

    const CompiledRoute* found = nullptr;
    std::vector<std::string> match, params;
    std::vector<std::string> allowed;
    std::vector<std::string> parts = split_path(sub);
    for (auto& r : routes) {
      if (!match_route(r, parts, params)) continue;
      if (r.route.method == method) {
        found = &r;
        match = params;
        break;
      }
      allowed.push_back(r.route.method);
    }
    if (!found) {
      if (allowed.empty())
        return error_response(
            404, "not_found",
            "no route " + req.method + " " + req.path + " (the routes are listed at /api/v1/openapi.json)");
      if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) allowed.push_back("HEAD");
      std::string allow = join(allowed);
      HttpResponse r;
      if (req.method == "OPTIONS") {
        r.status = 204;
        r.content_type.clear();
      } else {
        r = error_response(405, "method_not_allowed",
                           req.method + " is not allowed on " + req.path + "; allowed: " + allow);
      }
      r.headers.emplace_back("Allow", allow);
      return r;
    }
    const Route& route = found->route;

    Call call{req, {}, {}, {}, {}, 100, std::nullopt};
    call.path = std::move(match);

    if (route.access != Access::open) {
      auto token = authenticate(req);
      if (!token) return error_response(token.error());
      if (auto denied = authorize(*token, route, req); !denied.ok()) return error_response(denied.error());
      call.actor = token->name;
      call.role = store::to_string(token->role);
      call.namespaces = token->namespaces;
    }
    // Counts of failed authentications whose minute is over (cheap when
    // there are none). After authentication: a failure writes them itself,
    // its own address's count in its own entry.
    if (auto due = auth_failures->due(); !due.empty()) (void)write_auth_failures(deps.store, due);
    if (auto q = check_query(route, req, call); !q.ok()) return error_response(q.error());
    if (route.takes_body) {
      if (auto b = check_body(route, req, call); !b.ok()) return error_response(b.error());
    }
    // A scoped token reaches only its namespaces' DAGs (scope.h).
    if (auto hidden = scope_gate(deps.store, route, call)) return *hidden;
    return route.handler(call);
  }

  // A failed authentication is answered 401, and audited (without the
  // token, the path cut to 256 bytes) at most once per client address and
  // minute, with the count of the others (auth_failures.h).
  Result<store::Token> authenticate(const HttpRequest& req) const {
    std::string reason;
    if (req.authorization_count == 0 || !req.authorization) {
      reason = "no Authorization header";
    } else if (req.authorization_count > 1) {
      reason = "more than one Authorization header";
    } else {
      const std::string& h = *req.authorization;
      std::string scheme = h.substr(0, std::min<size_t>(h.size(), 7));
      std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string token = h.size() > 7 ? h.substr(7) : "";
      bool blank = token.empty() || token.find_first_of(" \t\r\n") != std::string::npos;
      if (scheme != "bearer ") {
        reason = "the Authorization header is not `Bearer TOKEN`";
      } else if (blank || token.size() > kMaxTokenLength) {
        reason = "malformed bearer token";
      } else {
        const std::string hash = sha256_hex(token);
        if (auto known = deps.tokens->get(hash)) return *known;
        const auto generation = deps.tokens->generation();
        auto t = deps.store.authenticate(hash);
        if (t) {
          deps.tokens->put(hash, *t, generation);
          return t;
        }
        if (t.error().code != "unauthenticated" && t.error().code != "not_found") return t.error();
        reason = "unknown or revoked token";
      }
    }
    auto entries = auth_failures->failed(req.remote_address.empty() ? "unknown" : req.remote_address);
    if (auto a = write_auth_failures(deps.store, entries, &req, reason); !a) return a.error();
    return Error{"unauthenticated", "authentication required: " + reason + " (send `Authorization: Bearer TOKEN`)"};
  }

  static Status authorize(const store::Token& token, const Route& route, const HttpRequest& req) {
    std::string what = req.method + " " + kApiPrefix + route.path;
    if (route.access == Access::worker) {
      // A scoped admin may not: a claim hands out any namespace's tries,
      // rendered with their variables and connections (SPEC §13).
      if (token.role == store::Role::admin && !token.namespaces.empty())
        return Error{"permission_denied", what + " is a worker endpoint: it needs a worker token or an admin token "
                                                 "that is not scoped to namespaces; token \"" + token.name +
                                                 "\" is scoped to " + join(token.namespaces)};
      if (token.role == store::Role::worker || token.role == store::Role::admin) return {};
      return Error{"permission_denied", what + " is a worker endpoint: it needs a token with the worker role; token \"" +
                                            token.name + "\" has the " + store::to_string(token.role) + " role"};
    }
    std::string needed =
        std::string("the ") + role_name(route.access) + " role" + (route.access == Access::admin ? "" : " or higher");
    if (token.role == store::Role::worker)
      return Error{"permission_denied",
                   "worker tokens may only use the worker endpoints; " + what + " needs " + needed};
    if (rank(token.role) < rank(route.access))
      return Error{"permission_denied", what + " needs " + needed + "; token \"" + token.name + "\" has the " +
                                            store::to_string(token.role) + " role"};
    // A privilege, not a question of what exists: a scoped admin is told.
    if (route.access == Access::admin && !route.scoped_admin && !token.namespaces.empty())
      return Error{"permission_denied", what + " needs an admin token that is not scoped to namespaces; token \"" +
                                            token.name + "\" is scoped to " + join(token.namespaces)};
    return {};
  }

  static Status check_query(const Route& route, const HttpRequest& req, Call& call) {
    static const ParamSpec kLimit{.name = "limit", .type = ValueType::integer, .min = 1, .max = 1000};
    static const ParamSpec kCursor{.name = "cursor", .max_length = 200};
    std::vector<const ParamSpec*> specs;
    for (auto& p : route.query) specs.push_back(&p);
    if (route.paginated) {
      specs.push_back(&kLimit);
      specs.push_back(&kCursor);
    }
    std::set<std::string> seen;
    for (auto& kv : req.query) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      const std::string& key = kv.first;
      const std::string& value = kv.second;
      auto it = std::find_if(specs.begin(), specs.end(), [&](const ParamSpec* p) { return p->name == key; });
      if (it == specs.end()) {
        std::vector<std::string> names;
        for (auto* p : specs) names.push_back(p->name);
        return Error::invalid("unknown query parameter `" + key + "`" +
                              (names.empty() ? "; this route takes none" : "; allowed: " + join(names)));
      }
      if (!seen.insert(key).second) return Error::invalid("query parameter `" + key + "` is given more than once");
      auto v = check_query_value(**it, value);
      if (!v) return v.error();
      call.query[key] = *v;
    }
    for (auto* p : specs)
      if (p->required && !seen.count(p->name))
        return Error::invalid("missing query parameter `" + p->name + "` (" + expected(*p) + ")");
    if (auto l = call.query_as<long long>("limit")) call.limit = static_cast<int>(*l);
    if (auto c = call.query_as<std::string>("cursor")) call.cursor = *c;
    return {};
  }

  static Result<Value> check_query_value(const ParamSpec& p, const std::string& text) {
    auto bad = [&] {
      return Error::invalid("query parameter `" + p.name + "` must be " + expected(p) + ", got \"" + text + "\"");
    };
    switch (p.type) {
      case ValueType::integer: {
        auto v = parse_integer(text);
        if (!v || *v < p.min || *v > p.max) return bad();
        return Value(*v);
      }
      case ValueType::boolean:
        if (text == "true") return Value(true);
        if (text == "false") return Value(false);
        return bad();
      case ValueType::time:
        if (!parse_utc(text)) return bad();
        return Value(text);
      case ValueType::enumeration:
        if (std::find(p.allowed.begin(), p.allowed.end(), text) == p.allowed.end()) return bad();
        return Value(text);
      case ValueType::string:
        if (text.empty()) return Error::invalid("query parameter `" + p.name + "` must not be empty");
        if (p.max_length && text.size() > p.max_length)
          return Error::invalid("query parameter `" + p.name + "` is longer than " + std::to_string(p.max_length) +
                                " bytes");
        return Value(text);
      case ValueType::number: {
        double d = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
        if (ec != std::errc() || end != text.data() + text.size() || !(d >= p.min_number && d <= p.max_number))
          return bad();
        return Value(d);
      }
      case ValueType::object:
      case ValueType::string_list:
      case ValueType::object_list:
        return bad();
    }
    return bad();
  }

  static Status check_body(const Route& route, const HttpRequest& req, Call& call) {
    json body = json::object();
    if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
      if (json_nesting_depth(req.body) > kMaxBodyDepth)
        return Error::invalid("the body nests arrays and objects deeper than " + std::to_string(kMaxBodyDepth) +
                              " levels");
      try {
        body = json::parse(req.body);
      } catch (const json::parse_error& e) {
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> "line 1, column 2: ..."
        if (auto at = what.find(" at "); at != std::string::npos) what = what.substr(at + 4);
        return Error::invalid("malformed JSON body: " + what);
      } catch (const json::out_of_range& e) {
        // A number too large for a double (1e999): "[json.exception.out_of_range.406] number overflow parsing '1e999'".
        std::string what = e.what();
        if (auto at = what.find("] "); at != std::string::npos) what = what.substr(at + 2);
        return Error::invalid("malformed JSON body: " + what);
      }
    }
    std::vector<std::string> names;
    for (auto& f : route.body) names.push_back(f.name);
    if (!body.is_object())
      return Error::invalid(std::string("the body must be a JSON object, got ") + body.type_name() +
                            (names.empty() ? "" : " (fields: " + join(names) + ")"));
    for (auto& item : body.items()) {
      const std::string& key = item.key();
      const json& value = item.value();
      auto it = std::find_if(route.body.begin(), route.body.end(), [&](const ParamSpec& p) { return p.name == key; });
      if (it == route.body.end())
        return Error::invalid("unknown field `" + key + "` in the body" +
                              (names.empty() ? "; this request takes no fields" : "; allowed: " + join(names)));
      if (value.is_null() && !it->required) continue;  // null: as if absent
      auto v = check_field(*it, value);
      if (!v) return v.error();
      call.body[key] = *v;
    }
    for (auto& f : route.body)
      if (f.required && !call.body.count(f.name))
        return Error::invalid("missing field `" + f.name + "` in the body (" + expected(f) + ")");
    return {};
  }

  static Result<Value> check_field(const ParamSpec& p, const json& v) {
    auto bad = [&] {
      std::string got = v.type_name();
      if (v.is_string()) {
        std::string s = v.get<std::string>();
        got = "\"" + (s.size() > 100 ? s.substr(0, 100) + "..." : s) + "\"";
      } else if (v.is_number() || v.is_boolean()) {
        got = dump(v);
      }
      return Error::invalid("field `" + p.name + "` must be " + expected(p) + ", got " + got);
    };
    switch (p.type) {
      case ValueType::string: {
        if (!v.is_string()) return bad();
        std::string s = v.get<std::string>();
        if (p.max_length && s.size() > p.max_length)
          return Error::invalid("field `" + p.name + "` is longer than " + std::to_string(p.max_length) + " bytes");
        return Value(std::move(s));
      }
      case ValueType::integer: {
        if (!v.is_number_integer()) return bad();
        if (v.is_number_unsigned() && v.get<unsigned long long>() > static_cast<unsigned long long>(p.max))
          return bad();
        long long n = v.get<long long>();
        if (n < p.min || n > p.max) return bad();
        return Value(n);
      }
      case ValueType::boolean:
        if (!v.is_boolean()) return bad();
        return Value(v.get<bool>());
      case ValueType::object:
        if (!v.is_object()) return bad();
        return Value(dump(v));
      case ValueType::time: {
        if (!v.is_string() || !parse_utc(v.get<std::string>())) return bad();
        return Value(v.get<std::string>());
      }
      case ValueType::enumeration: {
        if (!v.is_string()) return bad();
        std::string s = v.get<std::string>();
        if (std::find(p.allowed.begin(), p.allowed.end(), s) == p.allowed.end()) return bad();
        return Value(std::move(s));
      }
      case ValueType::string_list: {
        if (!v.is_array() || v.size() > 10000) return bad();
        for (auto& item : v)
          if (!item.is_string() || item.get<std::string>().size() > 200) return bad();
        return Value(dump(v));  // as its JSON text
      }
      case ValueType::object_list: {
        if (!v.is_array() || v.size() > 10000) return bad();
        for (auto& item : v)
          if (!item.is_object()) return bad();
        return Value(dump(v));
      }
      case ValueType::number: {  // integers too; NaN and infinities fail the range
        if (!v.is_number()) return bad();
        double d = v.get<double>();
        if (!(d >= p.min_number && d <= p.max_number)) return bad();
        return Value(d);
      }
    }
    return bad();
  }
};

Api::Api(store::Store& store, scheduler::Control& control, const Clock& clock, bool metrics_public,
         std::chrono::milliseconds claim_recheck)
    : impl_(std::make_unique<Impl>(store, control, clock, metrics_public, claim_recheck)) {}

Api::~Api() = default;

void Api::begin_stop() const {
  (void)write_auth_failures(impl_->deps.store, impl_->auth_failures->flush());
  impl_->deps.stopping->store(true);
  impl_->deps.wakeup->notify();
}
void Api::on_wake(std::function<void()> f) const { impl_->deps.wakeup->listen(std::move(f)); }
unsigned long long Api::wake_generation() const { return impl_->deps.wakeup->generation(); }
void Api::count_parked(int delta) const { impl_->deps.claims->parked += delta; }

HttpResponse Api::handle(const HttpRequest& request) const {
  try {
    return impl_->handle(request);
  } catch (const std::exception& e) {
    return error_response(500, "internal", std::string("internal error: ") + e.what());
  } catch (...) {
    return error_response(500, "internal", "internal error");
  }
}

Route& add(std::vector<Route>& routes, const char* method, const char* path, Access access, const char* summary,
           const char* schema, Handler handler) {
  Route r;
  r.method = method;
  r.path = path;
  r.access = access;
  r.summary = summary;
  r.schema = schema;
  r.handler = std::move(handler);
  routes.push_back(std::move(r));
  return routes.back();
}

}  // namespace baton::api
