// The effective configuration of a baton process (SPEC §2): a flag wins over
// its BATON_* environment variable, which wins over the key of the optional
// `baton.yaml`, which wins over the built-in default. `baton config show`
// prints the result with where each value came from, secrets masked.
//
// main() loads it once, before the commands register their flags (their
// defaults come from here); then it is read-only. Not for other threads
// before main() has loaded it.
#pragma once

#include <string>
#include <vector>

namespace baton::cli {

struct Setting {
  const char* key;    // in baton.yaml, e.g. heartbeat_interval
  const char* env;    // e.g. BATON_HEARTBEAT_INTERVAL
  const char* fallback;
  const char* help;
  bool secret = false;
};

// Every setting Baton reads, in the order `config show` prints them.
const std::vector<Setting>& settings();

struct ConfigValue {
  std::string value;
  std::string source;  // "default", "baton.yaml", or the environment variable's name
};

class Config {
 public:
  // Reads `path` (an explicit --config/BATON_CONFIG must exist; the default
  // ./baton.yaml is optional) and the environment. Returns false with
  // `error` set (FILE:LINE:COL: error: ...) when the file is malformed or
  // names an unknown key or a wrong type.
  bool load(const std::string& path, bool explicit_path, std::string& error);

  const ConfigValue& get(const std::string& key) const;
  const std::string& value(const std::string& key) const { return get(key).value; }
  const std::string& file() const { return file_; }  // "" when none was read
  // Unknown BATON_* environment variables (a warning each, SPEC §2).
  const std::vector<std::string>& unknown_env() const { return unknown_env_; }

 private:
  std::vector<std::pair<std::string, ConfigValue>> values_;
  std::string file_;
  std::vector<std::string> unknown_env_;
};

// The process's configuration, loaded by main().
Config& config();

// A value with its secret parts hidden: a URL's password, a token.
std::string mask_setting(const Setting& s, const std::string& value);

}  // namespace baton::cli
