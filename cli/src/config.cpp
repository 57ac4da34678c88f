#include "config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "baton/core/secrets.h"
#include "baton/dsl/yaml_tree.h"
#include "baton/store/store.h"

extern char** environ;

namespace baton::cli {

const std::vector<Setting>& settings() {
  static const std::vector<Setting> all = {
      {"db", "BATON_DB", "sqlite:./baton.db", "database URL: sqlite:PATH or postgresql://...", true},
      {"dags", "BATON_DAGS", "./dags", "the DAGs folder"},
      {"listen", "BATON_LISTEN", "127.0.0.1:8080", "HOST:PORT the API and UI listen on"},
      {"logs", "BATON_LOGS", "./logs", "the folder of task logs"},
      {"web", "BATON_WEB", "", "a folder to serve the UI from instead of the copy built into baton"},
      {"sensor_roots", "BATON_SENSOR_ROOTS", "",
       "the folders sensor.file may look in, comma-separated (empty: the DAGs folder and /tmp)"},
      {"workers", "BATON_WORKERS", "4", "local worker slots"},
      {"heartbeat_interval", "BATON_HEARTBEAT_INTERVAL", "5s", "how often running tries report"},
      {"zombie_timeout", "BATON_ZOMBIE_TIMEOUT", "60s", "a try with no heartbeat for this long fails as worker_lost"},
      {"shutdown_grace", "BATON_SHUTDOWN_GRACE", "30s", "on SIGTERM, how long running tries may go on"},
      {"folder_scan", "BATON_FOLDER_SCAN", "60s",
       "how often the watched DAGs folder is scanned in full all the same (the safety net of inotify)"},
      {"server", "BATON_SERVER", "http://127.0.0.1:8080", "the server client commands talk to"},
      {"token", "BATON_TOKEN", "", "the API token of client commands", true},
      {"metrics_public", "BATON_METRICS_PUBLIC", "false", "serve GET /api/v1/metrics without a token"},
      {"slack_order", "BATON_SLACK_ORDER", "true",
       "within a priority, the try whose run has the least slack to its SLA deadline goes first"},
      {"queues", "BATON_QUEUES", "default", "baton worker: the queues it takes tries of (comma-separated)"},
      {"slots", "BATON_SLOTS", "4", "baton worker: how many tries it runs at once"},
      {"worker_dir", "BATON_WORKER_DIR", "./worker", "baton worker: the folder of its tries' logs and scratch files"},
      {"worker_name", "BATON_WORKER_NAME", "", "baton worker: its name (default: host:pid)"},
      {"retention.runs_days", "BATON_RETENTION_RUNS_DAYS", "",
       "keep finished runs (and what hangs off them) this many days; empty: for ever"},
      {"retention.tries_days", "BATON_RETENTION_TRIES_DAYS", "",
       "keep the tries of finished runs this many days; empty: for ever"},
      {"retention.logs_days", "BATON_RETENTION_LOGS_DAYS", "", "keep task logs this many days; empty: for ever"},
      {"audit_key_file", "BATON_AUDIT_KEY_FILE", "",
       "a file holding the audit key, kept outside the database: audit hashes become HMAC-SHA-256 under it"},
  };
  return all;
}

namespace {

// Variables Baton sets itself or reads outside this table: not "unknown".
const std::set<std::string> kOtherKnownEnv = {
    "BATON_CONFIG",        "BATON_DAG_ID",       "BATON_TASK_ID",      "BATON_RUN_ID",
    "BATON_TRY_NUMBER",    "BATON_MAP_INDEX",    "BATON_LOGICAL_DATE", "BATON_DATA_INTERVAL_START",
    "BATON_DATA_INTERVAL_END", "BATON_DS",       "BATON_PARAMS",       "BATON_CHECKPOINT_FILE",
    "BATON_OUTPUT_FILE",   "BATON_PROGRESS_FILE", "BATON_JOBS",         "BATON_TEST_PG_URL",  "BATON_TEST_STORE",
    "BATON_PG_DURABLE",
};

}  // namespace

bool Config::load(const std::string& path, bool explicit_path, std::string& error) {
  values_.clear();
  unknown_env_.clear();
  file_.clear();
  for (auto& s : settings()) values_.push_back({s.key, {s.fallback, "default"}});
  auto find = [&](const std::string& key) -> ConfigValue* {
    for (auto& [k, v] : values_)
      if (k == key) return &v;
    return nullptr;
  };

  std::error_code ec;
  if (!path.empty() && (explicit_path || std::filesystem::exists(path, ec))) {
    if (!std::filesystem::is_regular_file(path, ec)) {
      error = path + ": error: the configuration file does not exist or is not a regular file";
      return false;
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    auto doc = dsl::load_yaml(ss.str());
    auto at = [&](const dsl::SourcePos& p) {
      return path + ":" + std::to_string(p.line) + ":" + std::to_string(p.col) + ": error: ";
    };
    if (!doc.errors.empty()) {
      error = at(doc.errors[0].pos) + doc.errors[0].message;
      return false;
    }
    if (doc.root && !doc.root->is_null()) {
      if (!doc.root->is_map()) {
        error = at(doc.root->pos) + "the configuration must be a mapping of keys to values, not " +
                dsl::describe_kind(*doc.root);
        return false;
      }
      for (auto& [k, v] : doc.root->entries) {
        ConfigValue* slot = k->is_scalar() ? find(k->scalar) : nullptr;
        // A group of settings (`retention: {runs_days: 90}`): its keys are
        // the settings GROUP.KEY.
        std::string group = k->is_scalar() ? k->scalar + "." : "";
        bool is_group = !slot && !group.empty() &&
                        std::any_of(settings().begin(), settings().end(),
                                    [&](const Setting& s) { return std::string(s.key).rfind(group, 0) == 0; });
        if (is_group) {
          if (!v->is_map()) {
            error = at(v->pos) + k->scalar + ": must be a mapping of its settings, not " + dsl::describe_kind(*v);
            return false;
          }
          for (auto& [gk, gv] : v->entries) {
            ConfigValue* g = gk->is_scalar() ? find(group + gk->scalar) : nullptr;
            if (!g) {
              std::string allowed;
              for (auto& s : settings())
                if (std::string(s.key).rfind(group, 0) == 0)
                  allowed += std::string(allowed.empty() ? "" : ", ") + (s.key + group.size());
              error = at(gk->pos) + "unknown key \"" + (gk->is_scalar() ? gk->scalar : "?") + "\" in " + k->scalar +
                      " (allowed: " + allowed + ")";
              return false;
            }
            if (!gv->is_scalar()) {
              error = at(gv->pos) + group + gk->scalar + ": must be a single value, not " + dsl::describe_kind(*gv);
              return false;
            }
            *g = {gv->scalar, "baton.yaml"};
          }
          continue;
        }
        if (!slot) {
          std::string allowed;
          for (auto& s : settings()) allowed += std::string(allowed.empty() ? "" : ", ") + s.key;
          error = at(k->pos) + "unknown key \"" + (k->is_scalar() ? k->scalar : "?") + "\" (allowed: " + allowed + ")";
          return false;
        }
        if (!v->is_scalar()) {
          error = at(v->pos) + k->scalar + ": must be a single value, not " + dsl::describe_kind(*v);
          return false;
        }
        *slot = {v->scalar, "baton.yaml"};
      }
    }
    file_ = path;
  }
  for (auto& s : settings())
    if (const char* e = std::getenv(s.env); e && *e) *find(s.key) = {e, s.env};

  std::set<std::string> known(kOtherKnownEnv);
  for (auto& s : settings()) known.insert(s.env);
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    if (entry.rfind("BATON_", 0) != 0) continue;
    std::string name = entry.substr(0, entry.find('='));
    if (!known.count(name)) unknown_env_.push_back(name);
  }
  return true;
}

const ConfigValue& Config::get(const std::string& key) const {
  for (auto& [k, v] : values_)
    if (k == key) return v;
  static const ConfigValue none{"", "default"};
  return none;
}

Config& config() {
  static Config c;
  return c;
}

std::string mask_setting(const Setting& s, const std::string& value) {
  // URLs (the database's, the server's) with every password form masked.
  std::string key = s.key;
  if (key == "db" || key == "server") return mask_secrets(value);
  if (!s.secret || value.empty()) return value;
  return value.substr(0, std::min<size_t>(value.size(), 6)) + "***";
}

}  // namespace baton::cli
