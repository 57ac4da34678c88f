// The OpenAPI 3.0 document, built from the route table (paths, methods,
// parameters, bodies) and the schemas of the answers below, which mirror the
// JSON the handlers write.
#include <nlohmann/json.hpp>
#include <regex>

#include "baton/core/states.h"
#include "routes.h"

namespace baton::api {

namespace {

using nlohmann::json;

json str() { return {{"type", "string"}}; }
json nstr() { return {{"type", "string"}, {"nullable", true}}; }
json instant() { return {{"type", "string"}, {"format", "date-time"}}; }
json ninstant() { return {{"type", "string"}, {"format", "date-time"}, {"nullable", true}}; }
json integer() { return {{"type", "integer"}, {"format", "int64"}}; }
json ninteger() { return {{"type", "integer"}, {"format", "int64"}, {"nullable", true}}; }
json boolean() { return {{"type", "boolean"}}; }
json ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }
json array_of(json items) { return {{"type", "array"}, {"items", std::move(items)}}; }
json enumeration(std::vector<std::string> values) { return {{"type", "string"}, {"enum", std::move(values)}}; }

// An object whose every property is always present (null where absent).
json object(json properties) {
  json required = json::array();
  for (auto& [k, v] : properties.items()) required.push_back(k);
  return {{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}};
}

json list_of(json item) { return object({{"items", array_of(std::move(item))}, {"next_cursor", nstr()}}); }

json schemas() {
  const std::vector<std::string>& run_states = run_state_names();
  const std::vector<std::string>& task_states = task_state_names();
  json ti = {{"task_id", str()},
             {"map_index", integer()},
             {"item", {{"nullable", true}, {"description", "a mapped instance's foreach item"}}},
             {"mapped",
              {{"type", "object"},
               {"nullable", true},
               {"description",
                "a foreach task's own instance: its mapped instances rolled up — {state, mapped (how many), "
                "counts (by state)}"}}},
             {"state", enumeration(task_states)},
             {"try_number", integer()},
             {"max_tries", integer()},
             {"queue", str()},
             {"pool", str()},
             {"priority", integer()},
             {"started_at", ninstant()},
             {"ended_at", ninstant()},
             {"worker", nstr()},
             {"exit_code", ninteger()},
             {"reason", nstr()},
             {"last_activity_at", ninstant()},
             {"flags", {{"type", "array"},
                        {"items", enumeration({"slow", "stuck"})},
                        {"description", "the current try's: slow (past max(2 × p90, p90 + 1 min)), stuck (no "
                                        "log, checkpoint or progress for stuck_after)"}}},
             {"progress",
              {{"type", "object"},
               {"nullable", true},
               {"description", "the current try's latest progress line: {fraction (0 to 1), text, at}"}}}};
  json ti_detail = ti;
  ti_detail["waiting_for"] = array_of(str());
  ti_detail["output"] = {{"type", "object"}, {"nullable", true}};
  ti_detail["checkpoint"] = {{"type", "string"},
                             {"nullable", true},
                             {"description", "the last saved checkpoint (its first 64 KiB)"}};
  ti_detail["checkpoint_bytes"] = ninteger();
  json s;
  s["Error"] = object({{"error", object({{"code", str()}, {"message", str()}})}});
  s["Dag"] = object({{"dag_id", str()},
                     {"namespace", str()},
                     {"paused", boolean()},
                     {"active", boolean()},
                     {"file", str()},
                     {"schedule",
                      {{"type", "object"},
                       {"nullable", true},
                       {"properties",
                        {{"kind", enumeration({"none", "cron", "every", "datasets"})},
                         {"expression", str()},
                         {"datasets", array_of(str())}}}}},
                     {"timezone", nstr()},
                     {"version", nstr()},
                     {"next_run",
                      {{"type", "object"},
                       {"nullable", true},
                       {"description", "the next scheduled run: its interval, and when it is created (run_after)"},
                       {"properties",
                        {{"logical_date", instant()},
                         {"data_interval_start", instant()},
                         {"data_interval_end", instant()},
                         {"run_after", instant()}}}}},
                     {"last_run_state", {{"type", "string"}, {"enum", run_states}, {"nullable", true}}},
                     {"import_errors", {{"type", "array"}, {"items", json::object()}, {"nullable", true}}},
                     {"description", str()},
                     {"owner", str()},
                     {"tags", array_of(str())},
                     {"params", {{"type", "object"}, {"description", "the declared params and their defaults"}}},
                     {"recent_runs",
                      array_of(object({{"run_id", str()}, {"state", enumeration(run_states)}, {"logical_date", instant()}}))}});
  s["DagVersion"] = object({{"version", str()},
                            {"file", str()},
                            {"git_commit", nstr()},
                            {"git_dirty", {{"type", "boolean"}, {"nullable", true}}},
                            {"created_at", instant()}});
  s["Graph"] = object({{"dag_id", str()},
                       {"version", str()},
                       {"nodes", array_of(object({{"id", str()}, {"type", str()}, {"trigger_rule", str()}}))},
                       {"edges", array_of(object({{"from", str()}, {"to", str()}}))}});
  s["DagSummary"] = object({{"total", integer()},
                            {"matched", integer()},
                            {"paused", integer()},
                            {"with_import_errors", integer()},
                            {"tags", array_of(str())},
                            {"namespaces", array_of(str())}});
  s["Run"] = object({{"dag_id", str()},
                     {"run_id", str()},
                     {"run_type", enumeration({"scheduled", "manual", "backfill", "dataset"})},
                     {"state", enumeration(run_states)},
                     {"logical_date", instant()},
                     {"data_interval_start", instant()},
                     {"data_interval_end", instant()},
                     {"params", {{"type", "object"}}},
                     {"dag_version", str()},
                     {"created_at", instant()},
                     {"started_at", ninstant()},
                     {"ended_at", ninstant()},
                     {"backfill_id", ninteger()},
                     {"note", nstr()},
                     {"expected_end", ninstant()},
                     {"sla_deadline", ninstant()},
                     {"at_risk", {{"type", "boolean"}}}});
  s["TaskInstance"] = object(ti);
  s["TaskInstanceDetail"] = object(ti_detail);
  s["TaskInstanceList"] = list_of(ref("TaskInstance"));
  s["Try"] = object({{"try_number", integer()},
                     {"state", enumeration(task_states)},
                     {"worker", nstr()},
                     {"started_at", ninstant()},
                     {"ended_at", ninstant()},
                     {"exit_code", ninteger()},
                     {"reason", nstr()},
                     {"log_bytes", integer()}});
  json grid_run = s["Run"];
  grid_run["properties"].erase("params");
  grid_run["required"] = json::array();
  for (auto& [k, v] : grid_run["properties"].items()) grid_run["required"].push_back(k);
  grid_run["properties"]["cells"] = array_of(
      {{"description", "one per task, in the order of tasks: the state, null when the run has no such task, or for a "
                       "mapped task {state (rolled up), mapped (instances), counts (by state)}"}});
  grid_run["required"].push_back("cells");
  s["Grid"] = object({{"dag_id", str()},
                      {"version", nstr()},
                      {"tasks", array_of(str())},
                      {"runs", array_of(grid_run)},
                      {"next_cursor", nstr()}});
  json run_try = s["Try"];
  run_try["properties"]["task_id"] = str();
  run_try["properties"]["map_index"] = integer();
  run_try["properties"]["queued_at"] = ninstant();
  for (const char* k : {"task_id", "map_index", "queued_at"}) run_try["required"].push_back(k);
  s["RunTry"] = run_try;
  s["DatasetEvent"] = object({{"id", integer()},
                               {"uri", str()},
                               {"at", instant()},
                               {"extra", {{"type", "object"}}},
                               {"source_dag_id", nstr()},
                               {"source_run_id", nstr()},
                               {"source_task_id", nstr()}});
  s["Me"] = object({{"name", str()},
                    {"role", enumeration({"viewer", "operator", "admin", "worker"})},
                    {"namespaces", array_of(str())}});
  s["Pool"] = object({{"name", str()}, {"slots", integer()}, {"used", integer()}});
  s["Namespace"] = object({{"name", str()},
                           {"weight", {{"type", "number"}}},
                           {"max_running_tasks", ninteger()},
                           {"folder", nstr()},
                           {"description", str()},
                           {"configured", boolean()},
                           {"running", integer()},
                           {"queued", integer()},
                           {"share", {{"type", "number"}}},
                           {"latency_p50", {{"type", "number"}}}});
  s["Variable"] = object({{"name", str()},
                          {"namespace", nstr()},
                          {"value", str()},
                          {"secret", boolean()},
                          {"updated_at", instant()}});
  s["Backfill"] = object({{"id", ninteger()},
                          {"dag_id", str()},
                          {"from", str()},
                          {"to", str()},
                          {"from_at", instant()},
                          {"to_at", instant()},
                          {"reprocess", enumeration({"none", "failed", "all"})},
                          {"max_active_runs", integer()},
                          {"reverse", boolean()},
                          {"tasks", {{"type", "array"}, {"items", str()}, {"nullable", true}}},
                          {"downstream", boolean()},
                          {"state", enumeration({"running", "success", "failed", "canceled", "dry_run"})},
                          {"total", integer()},
                          {"done", integer()},
                          {"failed", integer()},
                          {"next_logical_date", ninstant()},
                          {"created_at", instant()},
                          {"created_by", str()},
                          {"ended_at", ninstant()},
                          {"summary", object({{"create", integer()}, {"rerun", integer()}, {"skip", integer()}})},
                          {"plan_next_cursor", nstr()},
                          {"plan", array_of(object({{"logical_date", instant()},
                                                    {"data_interval_end", instant()},
                                                    {"action", enumeration({"create", "skip", "rerun"})},
                                                    {"run_id", nstr()},
                                                    {"reason", str()}}))}});
  s["SlaMiss"] = object({{"dag_id", str()},
                         {"run_id", str()},
                         {"task_id", nstr()},
                         {"kind", enumeration({"run_deadline", "run_duration", "task_duration"})},
                         {"deadline", instant()},
                         {"detected_at", instant()}});
  s["SlaRisk"] = object({{"dag_id", str()},
                         {"run_id", str()},
                         {"kind", enumeration({"run_deadline", "run_duration"})},
                         {"deadline", instant()},
                         {"expected_end", instant()},
                         {"detected_at", instant()},
                         {"recovered_at", ninstant()}});
  s["TaskStats"] = object({{"dag_id", str()},
                           {"task_id", str()},
                           {"count", integer()},
                           {"p50", {{"type", "number"}, {"nullable", true}}},
                           {"p90", {{"type", "number"}, {"nullable", true}}},
                           {"p99", {{"type", "number"}, {"nullable", true}}},
                           {"last", {{"type", "number"}, {"nullable", true}}},
                           {"durations", array_of(object({{"seconds", {{"type", "number"}}}, {"ended_at", instant()}}))}});
  s["Token"] = object({{"name", str()},
                       {"role", enumeration({"viewer", "operator", "admin", "worker"})},
                       {"created_at", instant()},
                       {"revoked_at", ninstant()},
                       {"last_used_at", ninstant()},
                       {"namespaces", array_of(str())},
                       {"token", str()}});
  s["Connection"] = object({{"name", str()}, {"namespace", nstr()}, {"url", str()}, {"updated_at", instant()}});
  s["AuditEntry"] = object({{"id", integer()},
                            {"at", instant()},
                            {"actor", str()},
                            {"action", str()},
                            {"target", str()},
                            {"details", {{"type", "object"}}},
                            {"prev_hash", str()},
                            {"hash", str()}});
  s["Health"] = object(
      {{"status", enumeration({"ok", "loading", "error"})},
       {"db", enumeration({"ok", "error"})},
       {"scheduler",
        object({{"members", array_of(object({{"id", str()}, {"heartbeat_at", instant()}, {"partitions", integer()}}))},
                {"leader", nstr()},
                {"running", boolean()},
                {"partitions", array_of(object({{"partition", integer()}, {"owner", nstr()}, {"epoch", integer()}}))}})},
       {"time", instant()}});
  // Only while the scheduler's first load of the DAGs folder runs (files).
  s["Health"]["properties"]["dags"] = object({{"loaded", integer()}, {"total", integer()}});
  s["OpenApi"] = {{"type", "object"}};
  return s;
}

json param_schema(const ParamSpec& p) {
  switch (p.type) {
    case ValueType::string: {
      json j = str();
      if (p.max_length) j["maxLength"] = p.max_length;
      return j;
    }
    case ValueType::integer: {
      json j = integer();
      j["minimum"] = p.min;
      j["maximum"] = p.max;
      return j;
    }
    case ValueType::boolean:
      return boolean();
    case ValueType::object:
      return {{"type", "object"}};
    case ValueType::time:
      return instant();
    case ValueType::enumeration:
      return enumeration(p.allowed);
    case ValueType::string_list:
      return array_of(str());
    case ValueType::object_list:
      return array_of({{"type", "object"}});
    case ValueType::number:
      return {{"type", "number"}, {"minimum", p.min_number}, {"maximum", p.max_number}};
  }
  return str();
}

json error_response(const char* description) {
  return {{"description", description}, {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
}

std::string operation_id(const Route& r) {
  std::string id = r.method;
  for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool upper = true;
  for (char c : r.path) {
    if (c == '/' || c == '{' || c == '}' || c == '.' || c == '_') {
      upper = true;
      continue;
    }
    id += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return id;
}

}  // namespace

std::string openapi_document(const std::vector<Route>& routes) {
  json paths = json::object();
  static const std::regex param(R"(\{([a-z_]+)\})");
  for (auto& r : routes) {
    json op;
    op["summary"] = r.summary;
    op["operationId"] = operation_id(r);
    std::string area =
        r.path.substr(1, r.path.find('/', 1) == std::string::npos ? std::string::npos : r.path.find('/', 1) - 1);
    op["tags"] = {area};
    json params = json::array();
    for (std::sregex_iterator it(r.path.begin(), r.path.end(), param), end; it != end; ++it)
      params.push_back({{"name", (*it)[1].str()}, {"in", "path"}, {"required", true}, {"schema", str()}});
    for (auto& q : r.query)
      params.push_back({{"name", q.name},
                        {"in", "query"},
                        {"required", q.required},
                        {"description", q.description},
                        {"schema", param_schema(q)}});
    if (r.paginated) {
      params.push_back({{"name", "limit"},
                        {"in", "query"},
                        {"required", false},
                        {"description", "items per page, 1 to 1000 (default 100)"},
                        {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 100}}}});
      params.push_back({{"name", "cursor"},
                        {"in", "query"},
                        {"required", false},
                        {"description", "the next_cursor of the previous page"},
                        {"schema", str()}});
    }
    if (!params.empty()) op["parameters"] = params;
    if (r.takes_body) {
      json props = json::object(), required = json::array();
      for (auto& f : r.body) {
        json sch = param_schema(f);
        sch["description"] = f.description;
        props[f.name] = sch;
        if (f.required) required.push_back(f.name);
      }
      json schema = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
      if (!required.empty()) schema["required"] = required;
      op["requestBody"] = {{"required", !required.empty()}, {"content", {{"application/json", {{"schema", schema}}}}}};
    }
    json responses;
    json ok = {{"description", "success"}};
    if (r.schema == "text")
      ok["content"] = {{"text/plain", {{"schema", str()}}}};
    else if (!r.schema.empty())
      ok["content"] = {{"application/json", {{"schema", r.paginated ? list_of(ref(r.schema)) : ref(r.schema)}}}};
    if (r.schema.empty()) ok["description"] = "done (no content)";
    responses[std::to_string(r.schema.empty() ? 204 : r.status)] = ok;
    if (r.status == 201)
      responses["200"] = json{{"description", "the first run of this idempotency key"}, {"content", ok["content"]}};
    responses["400"] = error_response("bad input: what is wrong, where, and what is allowed");
    if (r.access != Access::open) {
      responses["401"] = error_response("no token, or an unknown or revoked one");
      responses["403"] = error_response("the token's role does not allow this");
    }
    responses["404"] = error_response("no such DAG, run, task or resource");
    if (r.method != "GET") responses["409"] = error_response("a conflict with the current state");
    if (r.takes_body) responses["413"] = error_response("the body is larger than 1 MiB");
    responses["default"] = error_response("an internal error");
    op["responses"] = responses;
    if (r.access == Access::open) op["security"] = json::array();
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    paths[r.path][method] = op;
  }
  json doc = {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "Baton REST API"},
        {"version", "1"},
        {"description",
         "Workflow scheduler API. Every request but /health and /openapi.json needs `Authorization: Bearer TOKEN`. "
         "Errors are {\"error\": {\"code\", \"message\"}}. Lists are {\"items\", \"next_cursor\"} with ?limit= "
         "(1 to 1000, default 100) and ?cursor=. Times are ISO 8601 UTC with Z. Bodies over 1 MiB get 413."}}},
      {"servers", json::array({{{"url", "/api/v1"}}})},
      {"security", json::array({{{"bearerAuth", json::array()}}})},
      {"paths", paths},
      {"components",
       {{"securitySchemes", {{"bearerAuth", {{"type", "http"}, {"scheme", "bearer"}}}}}, {"schemas", schemas()}}}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace baton::api
