#include "baton/dsl/yaml_tree.h"

#include "baton/core/utf8.h"

#include <yaml-cpp/yaml.h>
#include <yaml-cpp/eventhandler.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>

namespace baton::dsl {

namespace {

struct LimitExceeded {
  SourcePos pos;
  std::string message;
};

SourcePos to_pos(const YAML::Mark& m) { return m.is_null() ? SourcePos{} : SourcePos{m.line + 1, m.column + 1}; }

// Builds YamlNodes from parser events. Counts depth and the nodes that alias
// expansion adds, and throws LimitExceeded the moment a limit is passed, so a
// hostile document never gets to allocate.
class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(const YamlLimits& limits, std::vector<YamlError>& errors) : limits_(limits), errors_(errors) {}

  YamlNodePtr root() const { return root_; }
  int documents() const { return documents_; }
  // Where the second document starts (its `---`).
  const YAML::Mark& second_document() const { return second_document_; }
  // Where each quoted scalar starts (at its properties, if any).
  const std::vector<YAML::Mark>& quoted_scalars() const { return quoted_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_document_ = mark;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto n = std::make_shared<YamlNode>();
    n->kind = YamlNode::Kind::null;
    n->pos = to_pos(mark);
    // An empty value (`dag:` and nothing after it) is marked by the parser
    // where the next token starts, often lines below: it is told at its key.
    if (!stack_.empty() && stack_.back().node->kind == YamlNode::Kind::map && stack_.back().pending_key &&
        (n->pos.line == 0 || n->pos.line > stack_.back().pending_key->pos.line))
      n->pos = stack_.back().pending_key->pos;
    add(n, anchor, 1, 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw LimitExceeded{to_pos(mark), "unknown alias"};
    expanded_ += it->second.size;
    expanded_bytes_ += it->second.bytes;
    if (expanded_ > limits_.max_alias_nodes)
      throw LimitExceeded{to_pos(mark), "alias expansion exceeds " + std::to_string(limits_.max_alias_nodes) +
                                            " nodes (is this a \"billion laughs\" document?)"};
    if (expanded_bytes_ > limits_.max_alias_bytes)
      throw LimitExceeded{to_pos(mark), "alias expansion exceeds " + std::to_string(limits_.max_alias_bytes) +
                                            " bytes of text (is this a \"billion laughs\" document?)"};
    add(it->second.node, 0, it->second.size, it->second.bytes);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    auto n = std::make_shared<YamlNode>();
    n->kind = YamlNode::Kind::scalar;
    n->pos = to_pos(mark);
    n->scalar = value;
    // yaml-cpp tags plain scalars "?" and quoted or block scalars "!".
    n->quoted = tag == "!" || (!tag.empty() && tag != "?");
    n->multiline = value.find('\n') != std::string::npos;
    if (n->quoted && !mark.is_null()) quoted_.push_back(mark);
    add(n, anchor, 1, value.size());
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(YamlNode::Kind::sequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(YamlNode::Kind::map, mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    std::shared_ptr<YamlNode> node;
    YAML::anchor_t anchor;
    std::string path;          // key path, for messages: tasks.load
    size_t size = 1;           // nodes in this subtree, counting expansions
    size_t bytes = 0;          // scalar text in this subtree, counting expansions
    YamlNodePtr pending_key;   // maps: a key waiting for its value
    std::map<std::string, SourcePos> keys;  // maps: scalar keys seen
  };
  struct Anchored {
    YamlNodePtr node;
    size_t size;
    size_t bytes;
  };

  void open(YamlNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (static_cast<int>(stack_.size()) >= limits_.max_depth)
      throw LimitExceeded{to_pos(mark), "nesting deeper than " + std::to_string(limits_.max_depth) + " levels"};
    auto n = std::make_shared<YamlNode>();
    n->kind = kind;
    n->pos = to_pos(mark);
    Frame f;
    f.node = std::move(n);
    f.anchor = anchor;
    if (!stack_.empty()) f.path = child_path(stack_.back());
    stack_.push_back(std::move(f));
  }

  static std::string child_path(const Frame& parent) {
    const YamlNode& p = *parent.node;
    if (p.kind == YamlNode::Kind::sequence)
      return parent.path + "[" + std::to_string(p.items.size()) + "]";
    std::string key = parent.pending_key && parent.pending_key->kind == YamlNode::Kind::scalar
                          ? parent.pending_key->scalar
                          : "?";
    return parent.path.empty() ? key : parent.path + "." + key;
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    add(f.node, f.anchor, f.size, f.bytes);
  }

  void add(YamlNodePtr n, YAML::anchor_t anchor, size_t size, size_t bytes) {
    if (anchor) anchors_[anchor] = Anchored{n, size, bytes};
    if (stack_.empty()) {
      if (!root_) root_ = n;
      return;
    }
    Frame& parent = stack_.back();
    parent.size += size;
    parent.bytes += bytes;
    auto& p = *parent.node;
    if (p.kind == YamlNode::Kind::sequence) {
      p.items.push_back(std::move(n));
    } else if (!parent.pending_key) {
      parent.pending_key = std::move(n);
    } else {
      YamlNodePtr key = std::move(parent.pending_key);
      parent.pending_key.reset();
      if (key->kind == YamlNode::Kind::scalar) {
        auto [it, fresh] = parent.keys.emplace(key->scalar, key->pos);
        if (!fresh) {
          std::string path = parent.path.empty() ? key->scalar : parent.path + "." + key->scalar;
          errors_.push_back({key->pos, path + ": duplicate key \"" + key->scalar + "\" (first defined at line " +
                                           std::to_string(it->second.line) + ")"});
          return;  // the first definition wins
        }
      }
      p.entries.emplace_back(std::move(key), std::move(n));
    }
  }

  const YamlLimits& limits_;
  std::vector<YamlError>& errors_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  size_t expanded_ = 0;
  size_t expanded_bytes_ = 0;
  YamlNodePtr root_;
  int documents_ = 0;
  YAML::Mark second_document_ = YAML::Mark::null_mark();
  std::vector<YAML::Mark> quoted_;
};

// yaml-cpp takes a quoted scalar whose closing quote never comes as running
// to the end of the file (the rest of the file silently becomes one string).
// Each quoted scalar the parser saw is looked at again in the text: from its
// opening quote (after its anchor and tag, if any), the closing one must
// come before the end, by the same rules (`\"` in double quotes, `''` in
// single ones). Every scalar is read once: linear in the file.
std::optional<YamlError> unterminated_quote(std::string_view text, const std::vector<YAML::Mark>& marks) {
  for (const YAML::Mark& m : marks) {
    if (m.pos < 0 || static_cast<size_t>(m.pos) >= text.size()) continue;
    size_t i = static_cast<size_t>(m.pos);
    int line = m.line + 1, col = m.column + 1;
    // Properties first: `&anchor` and `!tag`, each followed by blanks.
    while (i < text.size() && (text[i] == '&' || text[i] == '!')) {
      while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') ++i, ++col;
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
        if (text[i] == '\n') {
          ++line;
          col = 1;
        } else {
          ++col;
        }
        ++i;
      }
    }
    if (i >= text.size() || (text[i] != '"' && text[i] != '\'')) continue;  // a block scalar (| or >)
    const char quote = text[i];
    bool closed = false;
    for (size_t k = i + 1; k < text.size(); ++k) {
      if (quote == '"' && text[k] == '\\') {
        ++k;
      } else if (text[k] == quote) {
        if (quote == '\'' && k + 1 < text.size() && text[k + 1] == '\'') {
          ++k;  // '' is a quote inside single quotes
        } else {
          closed = true;
          break;
        }
      }
    }
    if (!closed)
      return YamlError{{line, col},
                       std::string(quote == '"' ? "a double-quoted" : "a single-quoted") +
                           " string starts here and is never closed (the rest of the file would be part of it): "
                           "add the closing " + (quote == '"' ? "\"" : "'")};
  }
  return std::nullopt;
}

}  // namespace

const YamlNode* YamlNode::get(std::string_view key) const {
  for (auto& [k, v] : entries)
    if (k->kind == Kind::scalar && k->scalar == key) return v.get();
  return nullptr;
}

const YamlNode* YamlNode::key(std::string_view k) const {
  for (auto& [key_node, v] : entries)
    if (key_node->kind == Kind::scalar && key_node->scalar == k) return key_node.get();
  return nullptr;
}

YamlDocument load_yaml(std::string_view text, const YamlLimits& limits) {
  YamlDocument doc;
  if (text.size() > limits.max_bytes) {
    doc.errors.push_back({{1, 1}, "file is " + std::to_string(text.size()) + " bytes; the limit is " +
                                      std::to_string(limits.max_bytes) + " bytes (1 MiB)"});
    return doc;
  }
  // A UTF-8 byte order mark is not part of the document: yaml-cpp skips it,
  // but its marks (Mark.pos) then count from after it, and so must the quote
  // check that reads `text` at them, and every column of line 1.
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  const size_t bom = text.substr(0, kBom.size()) == kBom ? kBom.size() : 0;
  text.remove_prefix(bom);
  if (size_t bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    SourcePos pos{1, 1};
    for (size_t i = 0; i < bad; ++i) {
      if (text[i] == '\n') {
        ++pos.line;
        pos.col = 1;
      } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
        ++pos.col;
      }
    }
    doc.errors.push_back({pos, "the file is not valid UTF-8 (byte " + std::to_string(bad + bom) + ")"});
    return doc;
  }
  std::istringstream in{std::string(text)};
  TreeBuilder builder(limits, doc.errors);
  try {
    YAML::Parser parser(in);
    if (parser.HandleNextDocument(builder) && parser.HandleNextDocument(builder))
      doc.errors.push_back({to_pos(builder.second_document()),
                            "more than one YAML document: a second one starts here (`---`), and a file holds "
                            "exactly one DAG"});
    if (auto e = unterminated_quote(text, builder.quoted_scalars())) {
      doc.errors.insert(doc.errors.begin(), *e);
      return doc;
    }
  } catch (const LimitExceeded& e) {
    doc.errors.push_back({e.pos, e.message});
    return doc;
  } catch (const YAML::Exception& e) {
    // A quote never closed is the likelier cause of what the parser found.
    if (auto q = unterminated_quote(text, builder.quoted_scalars())) doc.errors.push_back(*q);
    doc.errors.push_back({to_pos(e.mark), "malformed YAML: " + e.msg});
    return doc;
  }
  doc.root = builder.root();
  return doc;
}

ScalarType scalar_type(const YamlNode& n) {
  if (n.kind == YamlNode::Kind::null) return ScalarType::null;
  if (n.kind != YamlNode::Kind::scalar) return ScalarType::string;
  if (n.quoted) return ScalarType::string;
  const std::string& s = n.scalar;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return ScalarType::null;
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE")
    return ScalarType::boolean;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size()) {
    bool digits = true;
    for (size_t k = i; k < s.size(); ++k) digits = digits && s[k] >= '0' && s[k] <= '9';
    if (digits) return ScalarType::integer;
    // A float: digits with one dot and/or an exponent.
    char* end = nullptr;
    std::strtod(s.c_str(), &end);
    bool has_digit = false;
    for (char c : s) has_digit = has_digit || (c >= '0' && c <= '9');
    if (end && *end == '\0' && has_digit && s.find_first_of("xXnN") == std::string::npos) return ScalarType::floating;
  }
  if (s == ".inf" || s == "-.inf" || s == ".nan") return ScalarType::floating;
  return ScalarType::string;
}

bool scalar_bool(const YamlNode& n) { return n.scalar == "true" || n.scalar == "True" || n.scalar == "TRUE"; }

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string to_json(const YamlNode& n) {
  switch (n.kind) {
    case YamlNode::Kind::null:
      return "null";
    case YamlNode::Kind::scalar:
      switch (scalar_type(n)) {
        case ScalarType::null: return "null";
        case ScalarType::boolean: return scalar_bool(n) ? "true" : "false";
        case ScalarType::integer: {
          std::string s = n.scalar;
          if (s[0] == '+') s.erase(0, 1);
          size_t i = s[0] == '-' ? 1 : 0;
          while (s.size() > i + 1 && s[i] == '0') s.erase(i, 1);  // JSON has no leading zeros
          return s;
        }
        case ScalarType::floating: {
          if (n.scalar.find_first_of("iInN") != std::string::npos) return json_quote(n.scalar);
          double v = std::strtod(n.scalar.c_str(), nullptr);
          if (!std::isfinite(v)) return json_quote(n.scalar);  // 1e999: JSON has no infinity
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.17g", v);
          return buf;
        }
        default:
          return json_quote(n.scalar);
      }
    case YamlNode::Kind::sequence: {
      std::string out = "[";
      for (size_t i = 0; i < n.items.size(); ++i) out += (i ? "," : "") + to_json(*n.items[i]);
      return out + "]";
    }
    case YamlNode::Kind::map: {
      std::string out = "{";
      bool first = true;
      for (auto& [k, v] : n.entries) {
        out += (first ? "" : ",") + json_quote(k->kind == YamlNode::Kind::scalar ? k->scalar : to_json(*k)) + ":" +
               to_json(*v);
        first = false;
      }
      return out + "}";
    }
  }
  return "null";
}

std::string describe_kind(const YamlNode& n) {
  switch (n.kind) {
    case YamlNode::Kind::null: return "nothing (null)";
    case YamlNode::Kind::sequence: return "a list";
    case YamlNode::Kind::map: return "a mapping";
    case YamlNode::Kind::scalar:
      switch (scalar_type(n)) {
        case ScalarType::null: return "null";
        case ScalarType::boolean: return "a boolean (" + n.scalar + ")";
        case ScalarType::integer: return "an integer (" + n.scalar + ")";
        case ScalarType::floating: return "a number (" + n.scalar + ")";
        default: {
          size_t cut = std::min<size_t>(n.scalar.size(), 40);
          while (cut < n.scalar.size() && (static_cast<unsigned char>(n.scalar[cut]) & 0xC0) == 0x80) --cut;
          return "a string (\"" + n.scalar.substr(0, cut) + (cut < n.scalar.size() ? "...\")" : "\")");
        }
      }
  }
  return "?";
}

}  // namespace baton::dsl
