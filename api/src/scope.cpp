// Scoped tokens: the router's gate and the filter of lists (scope.h).
#include "scope.h"

#include "util.h"

namespace baton::api {

Result<bool> DagScope::sees_dag(const std::string& dag_id) {
  if (!call_.scoped()) return true;
  if (auto it = seen_.find(dag_id); it != seen_.end()) return it->second;
  auto d = store_.get_dag(dag_id);
  if (!d && d.error().code != "not_found") return d.error();
  bool sees = d && call_.sees(d->ns);
  seen_[dag_id] = sees;
  return sees;
}

Result<bool> DagScope::sees_audit(const store::AuditEntry& e) {
  if (!call_.scoped()) return true;
  const std::string& t = e.target;
  auto after = [&](std::string_view prefix) -> std::optional<std::string> {
    if (t.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    std::string rest = t.substr(prefix.size());
    return rest.substr(0, rest.find('/'));
  };
  if (auto dag = after("dag:")) return sees_dag(*dag);
  for (std::string_view kind : {"variable:", "connection:"}) {
    // A namespace's entry is KIND:NS/NAME; a global one (no `/`) belongs to none.
    if (t.compare(0, kind.size(), kind) == 0) {
      std::string rest = t.substr(kind.size());
      size_t slash = rest.find('/');
      return slash != std::string::npos && call_.sees(rest.substr(0, slash));
    }
  }
  return false;
}

namespace {

HttpResponse empty_list() { return list_response({}, std::nullopt); }

}  // namespace

std::optional<HttpResponse> scope_gate(store::Store& s, const Route& route, const Call& c) {
  if (!c.scoped() || route.access == Access::open || route.access == Access::worker) return std::nullopt;
  DagScope scope(s, c);
  // The DAG of the path: the routes under /dags/{dag_id}.
  size_t param = 0;
  for (size_t at = 0; (at = route.path.find('{', at)) != std::string::npos; ++at, ++param) {
    if (route.path.compare(at, 9, "{dag_id}/") != 0 && route.path.compare(at, 8, "{dag_id}") != 0) continue;
    if (param >= c.path.size()) break;
    const std::string& dag_id = c.path[param];
    auto sees = scope.sees_dag(dag_id);
    if (!sees) return error_response(sees.error());
    // As find_dag (dag_views.cpp) answers a DAG that is not there.
    if (!*sees && s.get_dag(dag_id)) return error_response(Error::not_found("no DAG named \"" + dag_id + "\""));
    break;
  }
  // A backfill's routes: its DAG's namespace.
  if (route.path.rfind("/backfills/{id}", 0) == 0 && !c.path.empty()) {
    if (auto id = parse_integer(c.path[0]); id && *id > 0) {
      auto b = s.get_backfill(*id);
      if (!b && b.error().code != "not_found") return error_response(b.error());
      if (b) {
        auto sees = scope.sees_dag(b->dag_id);
        if (!sees) return error_response(sees.error());
        // As the store answers a backfill that is not there.
        if (!*sees) return error_response(Error::not_found("no backfill " + std::to_string(*id)));
      }
    }
  }
  // A DAG named in the body (POST /backfills), as the scheduler answers one
  // that is not there.
  if (auto dag_id = c.body_as<std::string>("dag_id")) {
    auto d = s.get_dag(*dag_id);
    if (d && !c.sees(d->ns)) return error_response(Error::not_found("no DAG \"" + *dag_id + "\""));
  }
  // A list of one DAG's entries: empty, as for a DAG with none.
  if (auto dag_id = c.query_as<std::string>("dag_id"); dag_id && route.paginated) {
    auto sees = scope.sees_dag(*dag_id);
    if (!sees) return error_response(sees.error());
    if (!*sees) return empty_list();
  }
  return std::nullopt;
}

}  // namespace baton::api
