// Namespaces (SPEC §13): the tenants as an admin configured them, with the
// defaults for those nobody configured, and what the scheduler sees of each
// right now (running and queued tries, share of the slots).
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "baton/core/ids.h"
#include "json_text.h"
#include "routes.h"

namespace baton::api {

namespace {

using nlohmann::json;

constexpr size_t kMaxFolder = 1024;

// Every namespace some DAG names (active or not), read again only when the
// DAG table changed (store.h dags_generation). Shared by the API's threads.
class DagNamespaces {
 public:
  Result<std::set<std::string>> get(store::Store& s) {
    auto generation = s.dags_generation();  // first: a change after it makes the next request read again
    if (!generation) return generation.error();
    {
      std::lock_guard lock(mu_);
      if (generation_ == *generation) return names_;
    }
    auto dags = s.list_dags();
    if (!dags) return dags.error();
    std::set<std::string> names;
    for (auto& d : *dags) names.insert(d.ns);
    std::lock_guard lock(mu_);
    generation_ = *generation;
    names_ = names;
    return names;
  }

 private:
  std::mutex mu_;
  long long generation_ = -1;      // guarded by mu_
  std::set<std::string> names_;    // guarded by mu_
};

// A namespace's folder as stored: a relative path under the DAGs folder,
// without `.` components, doubled or trailing slashes. Refuses what could
// point outside it or be read two ways.
Result<std::string> normalize_folder(const std::string& folder) {
  auto bad = [&](const std::string& why) {
    return Error::invalid("field `folder`: \"" + (folder.size() > 100 ? folder.substr(0, 100) + "..." : folder) +
                          "\" " + why +
                          "; a folder is a relative path under the DAGs folder such as team_a/dags (no leading "
                          "/, no .. component, no backslash or control character, at most 1024 bytes; null for "
                          "none)");
  };
  if (folder.size() > kMaxFolder) return bad("is longer than 1024 bytes");
  if (folder.empty()) return bad("is empty");
  if (folder[0] == '/') return bad("starts with /");
  for (unsigned char c : folder) {
    if (c == '\\') return bad("holds a backslash");
    if (c < 0x20 || c == 0x7f) return bad("holds a control character");
  }
  std::string out;
  size_t pos = 0;
  while (pos <= folder.size()) {
    size_t slash = folder.find('/', pos);
    if (slash == std::string::npos) slash = folder.size();
    std::string part = folder.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return bad("has a .. component");
    out += (out.empty() ? "" : "/") + part;
  }
  if (out.empty()) return bad("names the DAGs folder itself");
  return out;
}

json namespace_json(const store::Namespace& ns, bool configured, const scheduler::SchedulerMetrics* live) {
  scheduler::NamespaceFigures f;
  if (live)
    if (auto it = live->namespaces.find(ns.name); it != live->namespaces.end()) f = it->second;
  return {{"name", ns.name},
          {"weight", ns.weight},
          {"max_running_tasks", opt(ns.max_running_tasks)},
          {"folder", opt(ns.folder)},
          {"description", ns.description},
          {"configured", configured},
          {"running", f.running},
          {"queued", f.ready},
          {"share", f.share},
          {"latency_p50", f.latency_p50}};
}

// What the scheduler sees now; none when it cannot say (it is stopping, or
// this server runs none): the live figures are then 0.
std::optional<scheduler::SchedulerMetrics> live_figures(scheduler::Control& control) {
  auto m = control.metrics();
  if (!m) return std::nullopt;
  return std::move(*m);
}

// One namespace: as configured, or with the defaults when a DAG names it (or
// it is `default`); not_found otherwise.
Result<std::pair<store::Namespace, bool>> find_namespace(store::Store& s, DagNamespaces& used,
                                                          const std::string& name) {
  auto stored = s.get_namespace(name);
  if (stored) return std::make_pair(*stored, true);
  if (stored.error().code != "not_found") return stored.error();
  if (name != "default") {
    auto names = used.get(s);
    if (!names) return names.error();
    if (!names->count(name))
      return Error::not_found("no namespace named \"" + name + "\": none is configured and no DAG names it");
  }
  store::Namespace defaults;
  defaults.name = name;
  return std::make_pair(defaults, false);
}

}  // namespace

void add_namespace_routes(std::vector<Route>& routes, const Deps& deps) {
  store::Store& s = deps.store;
  scheduler::Control& control = deps.control;
  auto used = std::make_shared<DagNamespaces>();

  add(routes, "GET", "/namespaces", Access::viewer,
      "Namespaces: every configured one, every one a DAG names, and default; with their running and queued tries "
      "and share of the slots",
      "Namespace",
      [&s, &control, used](Call& c) {
        auto stored = s.list_namespaces();
        if (!stored) return error_response(stored.error());
        auto names = used->get(s);
        if (!names) return error_response(names.error());
        std::map<std::string, std::pair<store::Namespace, bool>> all;
        // A scoped token's list holds its namespaces only (SPEC §13).
        auto add_default = [&](const std::string& name) {
          if (!c.sees(name)) return;
          store::Namespace d;
          d.name = name;
          all.emplace(name, std::make_pair(d, false));
        };
        for (auto& ns : *stored)
          if (c.sees(ns.name)) all.emplace(ns.name, std::make_pair(ns, true));
        for (auto& name : *names) add_default(name);
        add_default("default");
        auto w = offset_window(all.size(), c);
        if (!w) return error_response(w.error());
        auto live = live_figures(control);
        std::vector<std::string> items;
        auto it = std::next(all.begin(), static_cast<long>(w->begin));
        for (size_t i = w->begin; i < w->end; ++i, ++it)
          items.push_back(dump(namespace_json(it->second.first, it->second.second, live ? &*live : nullptr)));
        return list_response(items, w->next_cursor);
      })
      .paginated = true;

  add(routes, "GET", "/namespaces/{name}", Access::viewer, "One namespace (configured, or named by a DAG)",
      "Namespace", [&s, &control, used](Call& c) {
        // Another namespace is, to a scoped token, one that does not exist.
        if (!c.sees(c.path[0]))
          return error_response(Error::not_found("no namespace named \"" + c.path[0] +
                                                 "\": none is configured and no DAG names it"));
        auto found = find_namespace(s, *used, c.path[0]);
        if (!found) return error_response(found.error());
        auto live = live_figures(control);
        return json_response(200, dump(namespace_json(found->first, found->second, live ? &*live : nullptr)));
      });

  // The body is the whole namespace: a field left out (or null) takes its
  // default. `baton namespaces set` merges with what is stored itself.
  auto& put = add(
      routes, "PUT", "/namespaces/{name}", Access::admin,
      "Configure a namespace: weight, cap on running tries, folder, description (fields left out take their "
      "defaults)",
      "Namespace", [&s, &control](Call& c) {
        const std::string& name = c.path[0];
        if (auto ok = check_namespace_name(name); !ok.ok()) return error_response(ok.error());
        store::Namespace ns;
        ns.name = name;
        if (auto w = c.body_as<double>("weight")) ns.weight = *w;
        if (auto n = c.body_as<long long>("max_running_tasks")) ns.max_running_tasks = static_cast<int>(*n);
        if (auto f = c.body_as<std::string>("folder")) {
          auto folder = normalize_folder(*f);
          if (!folder) return error_response(folder.error());
          ns.folder = *folder;
        }
        ns.description = c.body_as<std::string>("description").value_or("");
        auto before = s.get_namespace(name);
        if (!before && before.error().code != "not_found") return error_response(before.error());
        if (auto st = s.put_namespace(ns, c.actor); !st.ok()) return error_response(st.error());
        auto live = live_figures(control);
        return json_response(before ? 200 : 201, dump(namespace_json(ns, true, live ? &*live : nullptr)));
      });
  put.takes_body = true;
  put.body = {{.name = "weight",
               .type = ValueType::number,
               .description = "its share of the slots relative to the other namespaces' (default 1)",
               .min_number = 0.01,
               .max_number = 1000},
              {.name = "max_running_tasks",
               .type = ValueType::integer,
               .description = "at most this many of its tries running at once, across all scheduler members "
                              "(null or left out: no cap)",
               .min = 1,
               .max = 1000000},
              {.name = "folder",
               .description = "only DAG files under this subfolder of the DAGs folder may name the namespace "
                              "(a relative path; null or left out: any file)",
               .max_length = kMaxFolder},
              {.name = "description", .description = "what the namespace is for", .max_length = 4096}};

  add(routes, "DELETE", "/namespaces/{name}", Access::admin,
      "Forget a namespace's configuration: it has the defaults again (its DAGs keep naming it)", "", [&s](Call& c) {
        if (auto st = s.delete_namespace(c.path[0], c.actor); !st.ok()) return error_response(st.error());
        return no_content();
      });
}

}  // namespace baton::api
