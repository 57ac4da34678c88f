// Diagnostics: every error found in a DAG file, each with its position, printed
// as `FILE:LINE:COL: error: MESSAGE` (SPEC §3). Collected, never thrown, so that
// one pass reports every error of every file.
#pragma once

#include <string>
#include <vector>

#include "baton/dsl/yaml_tree.h"

namespace baton::dsl {

struct Diagnostic {
  std::string file;
  SourcePos pos;
  std::string message;  // starts with the key path: `tasks.load.depends_on[0]: ...`
  bool warning = false;  // `FILE:LINE:COL: warning: ...`; never makes a file invalid

  std::string format() const;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  void error(SourcePos pos, std::string message);
  // Key path prefix: error(pos, path, msg) -> "path: msg".
  void error(SourcePos pos, const std::string& path, const std::string& message);
  // A warning: printed by `dags validate`, kept apart from the errors (it
  // never makes a file invalid).
  void warning(SourcePos pos, const std::string& path, const std::string& message);
  const std::vector<Diagnostic>& warnings() const { return warnings_; }
  bool empty() const { return list_.empty(); }
  size_t size() const { return list_.size(); }
  const std::vector<Diagnostic>& list() const { return list_; }
  const std::string& file() const { return file_; }
  // While muted, errors are dropped (used when a `defaults` entry that was
  // already checked once is applied to each task).
  void set_muted(bool muted) { muted_ = muted; }
  bool muted() const { return muted_; }

 private:
  std::string file_;
  std::vector<Diagnostic> list_;
  std::vector<Diagnostic> warnings_;
  bool muted_ = false;
};

// ` (did you mean "x"?)` for the closest candidate within a small edit
// distance, or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace baton::dsl
