// Scoped tokens (SPEC §13): what a token scoped to namespaces may see. The
// router asks scope_gate() before a handler runs, so that every route of a
// DAG (its runs, task instances, logs, tries, backfills) answers a DAG of
// another namespace exactly as a missing one (404, the same message); the
// lists that span DAGs (audit, backfills, SLA misses and risks) ask a DagScope which
// entries to leave out. An unscoped call sees everything and costs nothing.
//
// A DagScope lives for one request (it remembers the DAGs it looked up);
// scope_gate() keeps no state: both are safe on the API's threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/result.h"
#include "baton/core/time.h"
#include "baton/store/store.h"
#include "http.h"
#include "routes.h"
#include "util.h"

namespace baton::api {

class DagScope {
 public:
  DagScope(store::Store& s, const Call& c) : store_(s), call_(c) {}
  // Whether the call sees the DAG: an unscoped call sees every DAG; a
  // scoped one those of its namespaces (a DAG not stored is seen by none).
  Result<bool> sees_dag(const std::string& dag_id);
  // Whether the call sees an audit entry: one about a DAG it sees (target
  // dag:ID...), or about a variable or connection of its namespaces
  // (variable:NS/NAME); a scoped call sees no other entry.
  Result<bool> sees_audit(const store::AuditEntry& e);

 private:
  store::Store& store_;
  const Call& call_;
  std::map<std::string, bool> seen_;
};

// The first `want` items of a keyset-paged list that `keep` admits, read in
// chunks: read(limit) reads the next chunk, advance(last item read) moves the
// list's cursor past it. A filtered page stays full, however many items the
// filter leaves out.
template <class T, class Read, class Keep, class Advance>
Result<std::vector<T>> read_kept(size_t want, int chunk, Read read, Keep keep, Advance advance) {
  std::vector<T> kept;
  for (;;) {
    Result<std::vector<T>> items = read(chunk);
    if (!items) return items.error();
    for (auto& x : *items) {
      if (kept.size() == want) return kept;
      Result<bool> k = keep(x);
      if (!k) return k.error();
      if (*k) kept.push_back(x);
    }
    if (kept.size() == want || items->size() < static_cast<size_t>(chunk)) return kept;
    advance(items->back());
  }
}

// The answer to give instead of the handler's, if any: a scoped call that
// names a DAG of another namespace (path `{dag_id}`, body `dag_id`, a
// backfill's id) gets the 404 a missing one would get; a list filtered by
// such a DAG (`?dag_id=`) is empty.
std::optional<HttpResponse> scope_gate(store::Store& s, const Route& route, const Call& c);

// A page of a list that spans DAGs, by id after the cursor (SLA misses, SLA
// risks: items with `id` and `dag_id`), with `?dag_id=` and `?since=`; a
// scoped call's page leaves out other namespaces' DAGs (SPEC §13).
// read(dag_id, since, after_id, limit) reads the store; item(x) is one
// item's JSON text.
template <class T, class Read, class Item>
HttpResponse dag_list_page(store::Store& s, const Call& c, char cursor_kind, Read read, Item item) {
  long long after = 0;
  if (c.cursor) {
    auto at = decode_cursor(*c.cursor, cursor_kind, 1);
    if (!at) return error_response(at.error());
    after = (*at)[0];
  }
  std::optional<TimePoint> since;
  if (auto t = c.query_as<std::string>("since")) since = *parse_utc(*t);
  auto dag_id = c.query_as<std::string>("dag_id");
  DagScope scope(s, c);
  auto list = !c.scoped() ? read(dag_id, since, after, c.limit + 1)
                          : read_kept<T>(
                                static_cast<size_t>(c.limit) + 1, std::max(c.limit + 1, 500),
                                [&](int n) { return read(dag_id, since, after, n); },
                                [&](const T& x) { return scope.sees_dag(x.dag_id); }, [&](const T& x) { after = x.id; });
  if (!list) return error_response(list.error());
  std::optional<std::string> next;
  if (list->size() > static_cast<size_t>(c.limit)) {
    list->resize(static_cast<size_t>(c.limit));
    next = encode_cursor(cursor_kind, {list->back().id});
  }
  std::vector<std::string> items;
  for (auto& x : *list) items.push_back(item(x));
  return list_response(items, next);
}

}  // namespace baton::api
