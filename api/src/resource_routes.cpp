// Health, pools, variables, connections and the audit log.
#include <map>
#include <nlohmann/json.hpp>

#include "baton/core/ids.h"
#include "baton/core/random.h"
#include "baton/core/secrets.h"
#include "baton/core/sha256.h"
#include "baton/core/states.h"
#include "baton/core/time.h"
#include "json_text.h"
#include "routes.h"
#include "scope.h"
#include "util.h"

namespace baton::api {

namespace {

using nlohmann::json;


// Slots in use per pool: task instances that are queued or running hold
// pool_slots each (SPEC §3). Read from the store's unfinished runs; the
// scheduler's own count (in memory) will be the better source once it exposes
// one.
Result<std::map<std::string, long long>> pool_usage(store::Store& s) {
  constexpr int kPage = 1000;
  std::map<std::string, long long> used;
  store::RunFilter f;
  f.unfinished_only = true;
  f.limit = kPage;
  for (;;) {
    auto runs = s.list_runs(f);
    if (!runs) return runs.error();
    for (auto& run : *runs) {
      auto tis = s.list_task_instances(run.pk);
      if (!tis) return tis.error();
      for (auto& t : *tis)
        if (holds_slot(t.state)) used[t.pool] += t.pool_slots;
    }
    if (runs->size() < static_cast<size_t>(kPage)) break;
    f.before = std::make_pair(runs->back().logical_date, runs->back().pk);
  }
  return used;
}

json pool_json(const store::Pool& p, const std::map<std::string, long long>& used) {
  auto it = used.find(p.name);
  return {{"name", p.name}, {"slots", p.slots}, {"used", it == used.end() ? 0 : it->second}};
}

json ns_json(const std::string& ns) { return ns.empty() ? json(nullptr) : json(ns); }

json connection_json(const store::Connection& c) {
  return {{"name", c.name},
          {"namespace", ns_json(c.ns)},
          {"url", mask_url(c.url)},
          {"updated_at", format_utc(c.updated_at)}};
}

json token_json(const store::Token& t) {
  auto at = [](const std::optional<TimePoint>& p) { return p ? json(format_utc(*p)) : json(nullptr); };
  return {{"name", t.name},
          {"role", store::to_string(t.role)},
          {"created_at", format_utc(t.created_at)},
          {"revoked_at", at(t.revoked_at)},
          {"last_used_at", at(t.last_used_at)},
          {"namespaces", t.namespaces}};
}

// A secret variable is write-only: its value is shown as ***.
json variable_json(const store::Variable& v) {
  return {{"name", v.name},
          {"namespace", ns_json(v.ns)},
          {"value", v.secret ? std::string(kMasked) : v.value},
          {"secret", v.secret},
          {"updated_at", format_utc(v.updated_at)}};
}

Status check_name(const std::string& kind, const std::string& name) {
  if (is_valid_name(name)) return {};
  return Error::invalid("invalid " + kind + " name \"" + name +
                        "\": use 1 to 200 characters of A-Z a-z 0-9 _ . - (not starting with . or -)");
}

// A lookup that failed with not_found, worded for people.
Error not_found(const std::string& kind, const std::string& name, const Error& e) {
  if (e.code != "not_found") return e;
  return Error::not_found("no " + kind + " named \"" + name + "\"");
}

// The namespace a variable or connection route is about (SPEC §13):
// `?namespace=N`, or "" (global) without it. A scoped token must name one of
// its namespaces; one it does not see answers as a missing entry would
// (not_found, with `missing`'s message), so that names do not leak.
Result<std::string> entry_namespace(const Call& c, const std::string& kind, const std::string& name) {
  std::string ns = c.query_as<std::string>("namespace").value_or("");
  if (!ns.empty())
    if (auto ok = check_namespace_name(ns); !ok.ok()) return Error::invalid("query parameter `namespace`: " + ok.error().message);
  if (ns.empty() && c.scoped()) {
    std::string list;
    for (auto& n : c.namespaces) list += (list.empty() ? "" : ", ") + n;
    return Error::invalid("token \"" + c.actor + "\" is scoped to the namespaces " + list + ": name one with ?namespace=" +
                          c.namespaces.front() + " (global " + kind + "s belong to no namespace)");
  }
  if (!c.sees(ns))
    return Error::not_found("no " + kind + " named \"" + name + "\" in namespace \"" + ns + "\"");
  return ns;
}

// Whether a list shows an entry of namespace `ns` ("": global): the one
// `?namespace=` names, else every one the caller sees (a scoped token: its
// namespaces' entries, not the global ones).
bool listed(const Call& c, const std::string& ns) {
  if (auto want = c.query_as<std::string>("namespace")) return ns == *want && c.sees(ns);
  return c.scoped() ? !ns.empty() && c.sees(ns) : true;
}

// A scoped admin manages the tokens scoped to some of its namespaces
// (SPEC §13: unscoped tokens need an unscoped admin).
bool manages(const Call& c, const store::Token& t) {
  if (!c.scoped()) return true;
  if (t.namespaces.empty()) return false;
  for (auto& n : t.namespaces)
    if (!c.sees(n)) return false;
  return true;
}

const ParamSpec kNamespaceParam{.name = "namespace",
                                .description = "the namespace of the entry (SPEC §13); none: the global one. A token "
                                               "scoped to namespaces must name one of them",
                                .max_length = 200};
const ParamSpec kNamespaceListParam{.name = "namespace",
                                    .description = "only this namespace's entries; none: every entry the token sees "
                                                   "(a scoped token: its namespaces', not the global ones)",
                                    .max_length = 200};

}  // namespace

void add_resource_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;
  const Clock& clock = deps.clock;

  // ---- health ----

  add(routes, "GET", "/health", Access::open, "Liveness of the server, the database and the scheduler (no token)",
      "Health", [&s, &control, &clock](Call&) {
        bool db_ok = s.get_pool("default").ok();
        auto st = control.status();
        json members = json::array();
        for (auto& m : st.members)
          members.push_back({{"id", m.id}, {"heartbeat_at", format_utc(m.heartbeat_at)}, {"partitions", m.partitions}});
        // Partition ownership, compactly: each partition's owner and epoch.
        json partitions = json::array();
        for (auto& p : st.partitions)
          partitions.push_back(
              {{"partition", p.partition}, {"owner", p.owner.empty() ? json(nullptr) : json(p.owner)}, {"epoch", p.epoch}});
        // While the scheduler's first load of the DAGs folder runs, the API
        // answers from what is registered so far, and says so.
        json j = {{"status", !db_ok ? "error" : st.loading ? "loading" : "ok"},
                  {"db", db_ok ? "ok" : "error"},
                  {"scheduler",
                   {{"members", members},
                    {"leader", st.leader.empty() ? json(nullptr) : json(st.leader)},
                    {"running", st.running},
                    {"partitions", partitions}}},
                  {"time", format_utc(clock.now())}};
        if (st.loading) j["dags"] = {{"loaded", st.dags_loaded}, {"total", st.dags_total}};
        return json_response(db_ok ? 200 : 503, dump(j));
      });

  // ---- pools ----

  // Who the caller is: the UI's sign-in checks the token and shows only the
  // actions its role may take.
  add(routes, "GET", "/me", Access::viewer, "The caller's token: its name and role", "Me", [](Call& c) {
    return json_response(200, dump({{"name", c.actor}, {"role", c.role}, {"namespaces", c.namespaces}}));
  });

  add(routes, "GET", "/pools", Access::viewer, "Pools with their slots and the slots in use (queued or running)",
      "Pool",
      [&s](Call& c) {
        auto pools = s.list_pools();
        if (!pools) return error_response(pools.error());
        auto w = offset_window(pools->size(), c);
        if (!w) return error_response(w.error());
        auto used = pool_usage(s);
        if (!used) return error_response(used.error());
        std::vector<std::string> items;
        for (size_t i = w->begin; i < w->end; ++i) items.push_back(dump(pool_json((*pools)[i], *used)));
        return list_response(items, w->next_cursor);
      })
      .paginated = true;

  add(routes, "GET", "/pools/{name}", Access::viewer, "One pool", "Pool", [&s](Call& c) {
    auto p = s.get_pool(c.path[0]);
    if (!p) return error_response(not_found("pool", c.path[0], p.error()));
    auto used = pool_usage(s);
    if (!used) return error_response(used.error());
    return json_response(200, dump(pool_json(*p, *used)));
  });

  auto& put_pool =
      add(routes, "PUT", "/pools/{name}", Access::admin, "Create a pool or change its slots", "Pool", [&s](Call& c) {
        const std::string& name = c.path[0];
        if (auto ok = check_name("pool", name); !ok.ok()) return error_response(ok.error());
        auto before = s.get_pool(name);
        if (!before && before.error().code != "not_found") return error_response(before.error());
        store::Pool p{name, static_cast<int>(*c.body_as<long long>("slots")),
                      before ? before->description : std::string()};
        if (auto st = s.put_pool(p, c.actor); !st.ok()) return error_response(st.error());
        auto used = pool_usage(s);
        if (!used) return error_response(used.error());
        return json_response(before ? 200 : 201, dump(pool_json(p, *used)));
      });
  put_pool.takes_body = true;
  put_pool.body = {{.name = "slots",
                    .type = ValueType::integer,
                    .description = "how many slots the pool has",
                    .required = true,
                    .min = 0,
                    .max = 100000}};

  add(routes, "DELETE", "/pools/{name}", Access::admin, "Delete a pool (not the default pool)", "", [&s](Call& c) {
    if (auto st = s.delete_pool(c.path[0], c.actor); !st.ok())
      return error_response(not_found("pool", c.path[0], st.error()));
    return no_content();
  });

  // ---- variables ----

  auto& list_vars = add(routes, "GET", "/variables", Access::viewer, "Variables, by namespace (global first) and name",
                        "Variable", [&s](Call& c) {
                          auto all = s.list_variables();
                          if (!all) return error_response(all.error());
                          std::vector<store::Variable> vars;
                          for (auto& v : *all)
                            if (listed(c, v.ns)) vars.push_back(std::move(v));
                          auto w = offset_window(vars.size(), c);
                          if (!w) return error_response(w.error());
                          std::vector<std::string> items;
                          for (size_t i = w->begin; i < w->end; ++i) items.push_back(dump(variable_json(vars[i])));
                          return list_response(items, w->next_cursor);
                        });
  list_vars.paginated = true;
  list_vars.query = {kNamespaceListParam};

  add(routes, "GET", "/variables/{name}", Access::viewer, "One variable", "Variable", [&s](Call& c) {
    auto ns = entry_namespace(c, "variable", c.path[0]);
    if (!ns) return error_response(ns.error());
    auto v = s.get_variable(c.path[0], *ns);
    if (!v) return error_response(v.error());
    return json_response(200, dump(variable_json(*v)));
  }).query = {kNamespaceParam};

  auto& put_var = add(routes, "PUT", "/variables/{name}", Access::admin, "Set a variable", "Variable", [&s](Call& c) {
    const std::string& name = c.path[0];
    if (auto ok = check_name("variable", name); !ok.ok()) return error_response(ok.error());
    auto ns = entry_namespace(c, "variable", name);
    if (!ns) return error_response(ns.error());
    auto before = s.get_variable(name, *ns);
    if (!before && before.error().code != "not_found") return error_response(before.error());
    // `secret` left out keeps what the variable was (a secret stays secret
    // when its value changes); a new variable is plain unless it says so.
    bool secret = c.body_as<bool>("secret").value_or(before && before->secret);
    if (auto st = s.put_variable(name, *c.body_as<std::string>("value"), c.actor, secret, *ns); !st.ok())
      return error_response(st.error());
    auto now = s.get_variable(name, *ns);
    if (!now) return error_response(now.error());
    return json_response(before ? 200 : 201, dump(variable_json(*now)));
  });
  put_var.query = {kNamespaceParam};
  put_var.scoped_admin = true;
  put_var.takes_body = true;
  put_var.body = {{.name = "value", .type = ValueType::string, .description = "the value", .required = true},
                  {.name = "secret",
                   .type = ValueType::boolean,
                   .description = "write-only: shown as *** by GET, masked in the logs of the tries that read it, "
                                  "never in the audit log (default: unchanged; false for a new variable)"}};

  auto& delete_var = add(routes, "DELETE", "/variables/{name}", Access::admin, "Delete a variable", "", [&s](Call& c) {
    auto ns = entry_namespace(c, "variable", c.path[0]);
    if (!ns) return error_response(ns.error());
    if (auto st = s.delete_variable(c.path[0], c.actor, *ns); !st.ok()) return error_response(st.error());
    return no_content();
  });
  delete_var.query = {kNamespaceParam};
  delete_var.scoped_admin = true;

  // ---- connections (admin only: their URLs hold passwords, shown masked) ----

  auto& list_conns = add(routes, "GET", "/connections", Access::admin,
                         "Connections, by namespace (global first) and name, passwords masked", "Connection",
                         [&s](Call& c) {
                           auto all = s.list_connections();
                           if (!all) return error_response(all.error());
                           std::vector<store::Connection> conns;
                           for (auto& e : *all)
                             if (listed(c, e.ns)) conns.push_back(std::move(e));
                           auto w = offset_window(conns.size(), c);
                           if (!w) return error_response(w.error());
                           std::vector<std::string> items;
                           for (size_t i = w->begin; i < w->end; ++i) items.push_back(dump(connection_json(conns[i])));
                           return list_response(items, w->next_cursor);
                         });
  list_conns.paginated = true;
  list_conns.query = {kNamespaceListParam};
  list_conns.scoped_admin = true;

  auto& get_conn = add(routes, "GET", "/connections/{name}", Access::admin, "One connection, its password masked",
                       "Connection", [&s](Call& c) {
                         auto ns = entry_namespace(c, "connection", c.path[0]);
                         if (!ns) return error_response(ns.error());
                         auto conn = s.get_connection(c.path[0], *ns);
                         if (!conn) return error_response(conn.error());
                         return json_response(200, dump(connection_json(*conn)));
                       });
  get_conn.query = {kNamespaceParam};
  get_conn.scoped_admin = true;

  auto& put_conn = add(routes, "PUT", "/connections/{name}", Access::admin,
                       "Set a connection: a PostgreSQL URL (postgresql://user:pass@host:port/db) or sqlite:PATH",
                       "Connection", [&s](Call& c) {
                         const std::string& name = c.path[0];
                         if (auto ok = check_name("connection", name); !ok.ok()) return error_response(ok.error());
                         auto ns = entry_namespace(c, "connection", name);
                         if (!ns) return error_response(ns.error());
                         std::string url = *c.body_as<std::string>("url");
                         if (auto parsed = store::parse_database_url(url); !parsed)
                           return error_response(Error::invalid("field `url`: " + parsed.error().message));
                         auto before = s.get_connection(name, *ns);
                         if (!before && before.error().code != "not_found") return error_response(before.error());
                         if (auto st = s.put_connection(name, url, c.actor, *ns); !st.ok())
                           return error_response(st.error());
                         auto now = s.get_connection(name, *ns);
                         if (!now) return error_response(now.error());
                         return json_response(before ? 200 : 201, dump(connection_json(*now)));
                       });
  put_conn.takes_body = true;
  put_conn.query = {kNamespaceParam};
  put_conn.scoped_admin = true;
  put_conn.body = {{.name = "url",
                    .description = "postgresql://user:pass@host:port/db or sqlite:PATH (the password is write-only)",
                    .required = true,
                    .max_length = 4096}};

  auto& delete_conn =
      add(routes, "DELETE", "/connections/{name}", Access::admin, "Delete a connection", "", [&s](Call& c) {
        auto ns = entry_namespace(c, "connection", c.path[0]);
        if (!ns) return error_response(ns.error());
        if (auto st = s.delete_connection(c.path[0], c.actor, *ns); !st.ok()) return error_response(st.error());
        return no_content();
      });
  delete_conn.query = {kNamespaceParam};
  delete_conn.scoped_admin = true;

  // ---- tokens (admin): the token itself is shown once, on creation ----

  auto& list_tokens = add(routes, "GET", "/tokens", Access::admin,
                          "API tokens (never their secrets); a scoped admin sees the tokens scoped within its namespaces",
                          "Token", [&s](Call& c) {
                            auto all = s.list_tokens();
                            if (!all) return error_response(all.error());
                            std::vector<store::Token> list;
                            for (auto& t : *all)
                              if (manages(c, t)) list.push_back(std::move(t));
                            auto w = offset_window(list.size(), c);
                            if (!w) return error_response(w.error());
                            std::vector<std::string> items;
                            for (size_t i = w->begin; i < w->end; ++i) items.push_back(dump(token_json(list[i])));
                            return list_response(items, w->next_cursor);
                          });
  list_tokens.paginated = true;
  list_tokens.scoped_admin = true;

  auto& create_token = add(
      routes, "POST", "/tokens", Access::admin, "Create a token; the answer holds it once (the store keeps its hash)",
      "Token", [&s](Call& c) {
        std::string name = *c.body_as<std::string>("name");
        if (auto ok = check_name("token", name); !ok.ok()) return error_response(ok.error());
        auto role = *store::role_from_string(*c.body_as<std::string>("role"));
        std::vector<std::string> namespaces;
        for (auto& n : json::parse(c.body_as<std::string>("namespaces").value_or("[]"))) {
          std::string ns = n.get<std::string>();
          if (auto ok = check_namespace_name(ns); !ok.ok())
            return error_response(Error::invalid("field `namespaces`: " + ok.error().message));
          if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) namespaces.push_back(ns);
        }
        if (!namespaces.empty() && role == store::Role::worker)
          return error_response(Error::invalid(
              "field `namespaces`: a worker token cannot be scoped (it only claims and reports tries)"));
        store::Token wanted;
        wanted.namespaces = namespaces;
        if (!manages(c, wanted))
          return error_response(Error{
              "permission_denied", "token \"" + c.actor + "\" is scoped to namespaces: it may create only tokens "
                                   "scoped to some of them (field `namespaces`); an unscoped token needs an unscoped admin"});
        // Token names are one set for all namespaces: a scoped admin's tokens
        // are named after one of their namespaces (`hr-ci`), so that a name
        // taken (409) can only be one of that namespace's, never tell it
        // that another namespace has a token of some name.
        if (c.scoped()) {
          bool prefixed = false;
          for (auto& ns : namespaces) prefixed = prefixed || name.rfind(ns + "-", 0) == 0;
          if (!prefixed)
            return error_response(Error::invalid(
                "field `name`: a token created by a token scoped to namespaces is named after one of the new "
                "token's namespaces, then `-` (e.g. `" + namespaces.front() + "-ci`)"));
        }
        std::string token = "baton_" + random_hex(24);
        auto t = s.create_token(name, role, sha256_hex(token), c.actor, namespaces);
        if (!t) return error_response(t.error());
        json j = token_json(*t);
        j["token"] = token;
        return json_response(201, dump(j));
      });
  create_token.takes_body = true;
  create_token.body = {
      {.name = "name", .description = "the token's name (the actor in the audit log)", .required = true, .max_length = 200},
      {.name = "role", .type = ValueType::enumeration, .description = "what it may do", .required = true, .allowed = {"viewer", "operator", "admin", "worker"}},
      {.name = "namespaces",
       .type = ValueType::string_list,
       .description = "scope it to these namespaces (SPEC §13): it sees and acts on only their DAGs, runs, "
                      "variables, ...; none: unscoped. A scoped admin must give some of its own"}};
  create_token.scoped_admin = true;

  add(routes, "DELETE", "/tokens/{name}", Access::admin, "Revoke a token", "", [&s, tokens = deps.tokens](Call& c) {
    if (c.scoped()) {  // a token it does not manage is, to it, not there
      auto all = s.list_tokens();
      if (!all) return error_response(all.error());
      bool found = false;
      for (auto& t : *all) found = found || (t.name == c.path[0] && !t.revoked_at && manages(c, t));
      if (!found) return error_response(not_found("token", c.path[0], Error::not_found("")));
    }
    if (auto st = s.revoke_token(c.path[0], c.actor); !st.ok())
      return error_response(not_found("token", c.path[0], st.error()));
    tokens->clear();  // no longer good here at once (elsewhere within a second)
    return no_content();
  }).scoped_admin = true;

  // ---- datasets (SPEC §6) ----

  auto event_json = [](const store::DatasetEvent& e) {
    json extra = json::parse(e.extra, nullptr, false);
    auto src = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
    return json{{"id", e.id},
                {"uri", e.uri},
                {"at", format_utc(e.at)},
                {"extra", extra.is_object() ? extra : json::object()},
                {"source_dag_id", src(e.source_dag_id)},
                {"source_run_id", src(e.source_run_id)},
                {"source_task_id", src(e.source_task_id)}};
  };

  auto& post_event = add(
      routes, "POST", "/datasets/events", Access::operator_role,
      "Record that a dataset was updated: DAGs scheduled on it get a run once all their datasets have new events",
      "DatasetEvent", [&s, &control, event_json](Call& c) {
        store::DatasetEvent e;
        e.uri = *c.body_as<std::string>("uri");
        for (unsigned char ch : e.uri)
          if (ch < 0x20 || ch == 0x7f || ch == ' ')
            return error_response(Error::invalid("uri: a dataset URI has no spaces or control characters, got \"" +
                                                 e.uri + "\""));
        if (e.uri.empty()) return error_response(Error::invalid("uri: must not be empty"));
        if (auto extra = c.body_as<std::string>("extra")) e.extra = *extra;
        auto made = s.record_dataset_event(e);
        if (!made) return error_response(made.error());
        // Who said the dataset changed: it may start DAGs of any namespace.
        json details = {{"id", made->id}, {"extra", json::parse(made->extra, nullptr, false)}};
        if (auto a = s.append_audit(c.actor, "dataset.event", "dataset:" + made->uri,
                                    details.dump(-1, ' ', false, json::error_handler_t::replace));
            !a)
          return error_response(a.error());
        control.datasets_changed();
        return json_response(201, dump(event_json(*made)));
      });
  post_event.takes_body = true;
  post_event.status = 201;
  post_event.body = {
      {.name = "uri", .description = "the dataset, as DAGs name it in produces and schedule.datasets", .required = true,
       .max_length = 2000},
      {.name = "extra", .type = ValueType::object, .description = "anything to hand the runs it triggers"}};

  auto& list_events = add(routes, "GET", "/datasets/events", Access::viewer, "Dataset events, oldest first",
                          "DatasetEvent", [&s, event_json](Call& c) {
                            long long after = 0;
                            if (c.cursor) {
                              auto at = decode_cursor(*c.cursor, 'e', 1);
                              if (!at) return error_response(at.error());
                              after = (*at)[0];
                            }
                            auto uri = c.query_as<std::string>("uri");
                            // A scoped token: events from its namespaces' DAGs and from outside
                            // (no source DAG), not those other namespaces' tasks made (SPEC §13).
                            DagScope scope(s, c);
                            auto events =
                                !c.scoped()
                                    ? s.list_dataset_events(uri, after, c.limit + 1)
                                    : read_kept<store::DatasetEvent>(
                                          static_cast<size_t>(c.limit) + 1, std::max(c.limit + 1, 500),
                                          [&](int n) { return s.list_dataset_events(uri, after, n); },
                                          [&](const store::DatasetEvent& e) -> Result<bool> {
                                            if (!e.source_dag_id) return true;
                                            return scope.sees_dag(*e.source_dag_id);
                                          },
                                          [&](const store::DatasetEvent& e) { after = e.id; });
                            if (!events) return error_response(events.error());
                            std::optional<std::string> next;
                            if (events->size() > static_cast<size_t>(c.limit)) {
                              events->resize(static_cast<size_t>(c.limit));
                              next = encode_cursor('e', {events->back().id});
                            }
                            std::vector<std::string> items;
                            for (auto& e : *events) items.push_back(dump(event_json(e)));
                            return list_response(items, next);
                          });
  list_events.paginated = true;
  list_events.query = {{.name = "uri", .description = "only this dataset's events", .max_length = 2000}};

  // ---- audit ----

  auto& audit =
      add(routes, "GET", "/audit", Access::viewer, "The audit log, oldest first (order=desc: newest first)", "AuditEntry", [&s](Call& c) {
        store::AuditFilter f;
        f.dag_id = c.query_as<std::string>("dag_id");
        f.action = c.query_as<std::string>("action");
        f.actor = c.query_as<std::string>("actor");
        if (auto since = c.query_as<std::string>("since")) f.since = *parse_utc(*since);
        f.newest_first = c.query_as<std::string>("order").value_or("asc") == "desc";
        // A cursor belongs to one order: 'a' ascending, 'd' descending.
        char tag = f.newest_first ? 'd' : 'a';
        if (c.cursor) {
          auto at = decode_cursor(*c.cursor, tag, 1);
          if (!at) return error_response(at.error());
          (f.newest_first ? f.before_id : f.after_id) = (*at)[0];
        }
        f.limit = c.limit + 1;
        auto entries = c.scoped() ? Result<std::vector<store::AuditEntry>>(std::vector<store::AuditEntry>())
                                  : s.list_audit(f);
        if (!entries) return error_response(entries.error());
        if (c.scoped()) {
          // A scoped token's page leaves out what is not of its namespaces
          // (SPEC §13), read on in chunks until the page is full.
          DagScope scope(s, c);
          std::vector<store::AuditEntry> kept;
          const size_t want = static_cast<size_t>(c.limit) + 1;
          f.limit = std::max(c.limit + 1, 500);
          entries = s.list_audit(f);
          while (entries) {
            for (auto& e : *entries) {
              if (kept.size() == want) break;
              auto sees = scope.sees_audit(e);
              if (!sees) return error_response(sees.error());
              if (*sees) kept.push_back(std::move(e));
            }
            if (kept.size() == want || entries->size() < static_cast<size_t>(f.limit)) break;
            (f.newest_first ? f.before_id : f.after_id) = entries->back().id;
            entries = s.list_audit(f);
          }
          if (!entries) return error_response(entries.error());
          *entries = std::move(kept);
        }
        std::optional<std::string> next;
        if (entries->size() > static_cast<size_t>(c.limit)) {
          entries->resize(static_cast<size_t>(c.limit));
          next = encode_cursor(tag, {entries->back().id});
        }
        std::vector<std::string> items;
        for (auto& e : *entries) {
          json details = json::parse(e.details, nullptr, false);
          if (details.is_discarded()) details = e.details;
          items.push_back(dump({{"id", e.id},
                                {"at", format_utc(e.at)},
                                {"actor", e.actor},
                                {"action", e.action},
                                {"target", e.target},
                                {"details", details},
                                {"prev_hash", e.prev_hash},
                                {"hash", e.hash}}));
        }
        return list_response(items, next);
      });
  audit.paginated = true;
  audit.query = {
      {.name = "dag_id", .description = "entries about this DAG, its runs and tasks", .max_length = 200},
      {.name = "action", .description = "entries of this action, e.g. run.triggered", .max_length = 200},
      {.name = "actor", .description = "entries by this actor (a token name, or system)", .max_length = 200},
      {.name = "since", .type = ValueType::time, .description = "entries at or after this instant"},
      {.name = "order",
       .type = ValueType::enumeration,
       .description = "asc (default): oldest first; desc: newest first",
       .allowed = {"asc", "desc"}},
  };
}

}  // namespace baton::api
