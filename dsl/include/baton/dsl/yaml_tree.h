// A YAML document as a tree with source positions, read through yaml-cpp's
// event parser so that Baton can enforce its own limits while reading (size,
// nesting depth, alias expansion) and can report duplicate keys, which
// yaml-cpp's node API silently merges. Immutable once loaded; shared subtrees
// (aliases) are shared, never copied, so a "billion laughs" costs nothing.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::dsl {

struct SourcePos {
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;   // 1-based
};

struct YamlNode;
using YamlNodePtr = std::shared_ptr<const YamlNode>;

struct YamlNode {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  SourcePos pos;
  std::string scalar;  // the text of a scalar
  bool quoted = false; // a quoted or block scalar: always a string
  bool multiline = false;
  std::vector<YamlNodePtr> items;                              // sequence
  std::vector<std::pair<YamlNodePtr, YamlNodePtr>> entries;    // map: key, value

  bool is_map() const { return kind == Kind::map; }
  bool is_seq() const { return kind == Kind::sequence; }
  bool is_scalar() const { return kind == Kind::scalar; }
  bool is_null() const { return kind == Kind::null; }
  // The value of a map entry whose key is the plain scalar `key`, or null.
  const YamlNode* get(std::string_view key) const;
  // The key node itself (for errors about an entry as a whole), or null.
  const YamlNode* key(std::string_view key) const;
};

struct YamlLimits {
  size_t max_bytes = 1 << 20;      // 1 MiB
  int max_depth = 64;              // nested sequences and maps
  size_t max_alias_nodes = 10000;  // nodes that alias expansion would add
  size_t max_alias_bytes = 1 << 20;  // scalar text that alias expansion would add
};

struct YamlError {
  SourcePos pos;
  std::string message;
};

struct YamlDocument {
  YamlNodePtr root;                // null when the text could not be read
  std::vector<YamlError> errors;   // malformed YAML, limits, duplicate keys
};

YamlDocument load_yaml(std::string_view text, const YamlLimits& limits = {});

// What a plain scalar means under the YAML 1.2 core schema.
enum class ScalarType { null, boolean, integer, floating, string };
ScalarType scalar_type(const YamlNode& n);
bool scalar_bool(const YamlNode& n);

// The node as canonical JSON (map keys in document order, scalars typed by the
// core schema). Used for params, foreach lists and outputs.
std::string to_json(const YamlNode& n);
std::string json_quote(std::string_view s);

// "a mapping", "a list", "a string", ... for error messages.
std::string describe_kind(const YamlNode& n);

}  // namespace baton::dsl
