#include "baton/dsl/template.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "baton/dsl/diagnostics.h"

namespace baton::dsl {

namespace {

using nlohmann::json;

struct Expr {
  enum class Kind { name, string, integer, call } kind = Kind::name;
  std::string text;  // name, string value or function name
  long long integer = 0;
  std::vector<Expr> args;
  size_t offset = 0;
};

struct Segment {
  std::string text;           // literal text, when !expr
  std::optional<Expr> expr;
  bool raw = false;           // `{{ expr | raw }}`
  size_t offset = 0;          // where the `{{` stands
  std::string source;         // the expression as written, for messages
};

struct Parsed {
  Expr expr;
  bool raw = false;
};

struct ParseError {
  size_t offset;
  std::string message;
};

const std::vector<std::string> kBaseNames = {
    "ds",       "ds_nodash", "ts",          "logical_date", "data_interval_start", "data_interval_end", "run_id",
    "dag_id",   "task_id",   "try_number",  "map_index",    "item",                "params",            "outputs",
    "var"};
const std::vector<std::string> kFunctions = {"ds_add", "format", "ident"};
// The names whose values a trigger (or a stored variable, or an upstream
// task) can set: `| raw` on them is warned about.
const std::vector<std::string> kTriggerSettable = {"params", "item", "outputs", "var"};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

class ExprParser {
 public:
  ExprParser(std::string_view s, size_t base) : s_(s), base_(base) {}

  Parsed parse() {
    Parsed p{expr(), false};
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '|') {
      ++i_;
      skip_ws();
      size_t start = i_;
      while (i_ < s_.size() && is_name_char(s_[i_])) ++i_;
      std::string filter(s_.substr(start, i_ - start));
      if (filter.empty()) fail("expected a filter after \"|\": the only filter is raw");
      if (filter != "raw") {
        i_ = start;
        fail("unknown filter \"" + filter + "\": the only filter is raw ({{ x | raw }})");
      }
      p.raw = true;
      skip_ws();
    }
    if (i_ < s_.size()) fail("unexpected \"" + char_at() + "\" after the expression");
    return p;
  }

 private:
  [[noreturn]] void fail(const std::string& message) { throw ParseError{base_ + i_, message}; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  // A printable form of the character at i_ (a whole UTF-8 sequence).
  std::string char_at() const {
    size_t len = 1;
    while (i_ + len < s_.size() && (static_cast<unsigned char>(s_[i_ + len]) & 0xC0) == 0x80) ++len;
    return std::string(s_.substr(i_, len));
  }

  Expr expr() {
    // Calls nest; keep the recursion (and any hostile input) shallow.
    if (++depth_ > kMaxDepth) fail("expressions nest deeper than " + std::to_string(kMaxDepth) + " calls");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    skip_ws();
    Expr e;
    e.offset = base_ + i_;
    if (i_ >= s_.size()) fail("empty expression: expected a name such as ds or params.NAME");
    char c = s_[i_];
    if (c == '"') {
      e.kind = Expr::Kind::string;
      ++i_;
      while (true) {
        if (i_ >= s_.size()) fail("unterminated string literal");
        char d = s_[i_++];
        if (d == '"') break;
        if (d == '\\') {
          if (i_ >= s_.size()) fail("unterminated string literal");
          char x = s_[i_++];
          e.text += x == 'n' ? '\n' : x == 't' ? '\t' : x;
        } else {
          e.text += d;
        }
      }
      return e;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      e.kind = Expr::Kind::integer;
      size_t start = i_;
      if (c == '-') ++i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      std::string num(s_.substr(start, i_ - start));
      if (num == "-" || num.size() > 12) fail("invalid integer \"" + num + "\"");
      e.integer = std::stoll(num);
      return e;
    }
    if (!is_name_char(c) || c == '.' || c == '-')
      fail("unexpected \"" + char_at() + "\": expected a name, a \"string\", an integer or a call");
    size_t start = i_;
    while (i_ < s_.size() && is_name_char(s_[i_])) ++i_;
    e.text = std::string(s_.substr(start, i_ - start));
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '(') {
      e.kind = Expr::Kind::call;
      ++i_;
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ')') {
        ++i_;
        return e;
      }
      while (true) {
        e.args.push_back(expr());
        skip_ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ')') {
          ++i_;
          break;
        }
        fail("expected \",\" or \")\" in the call of " + e.text);
      }
    }
    return e;
  }

  static constexpr int kMaxDepth = 16;
  std::string_view s_;
  size_t base_;
  size_t i_ = 0;
  int depth_ = 0;
};

std::vector<Segment> parse_segments(std::string_view text) {
  std::vector<Segment> out;
  size_t i = 0;
  std::string lit;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      lit += text.substr(i);
      break;
    }
    lit += text.substr(i, open - i);
    // Find the closing braces outside string literals.
    size_t j = open + 2;
    bool in_string = false;
    while (j < text.size()) {
      if (in_string) {
        if (text[j] == '\\') ++j;
        else if (text[j] == '"') in_string = false;
      } else if (text[j] == '"') {
        in_string = true;
      } else if (text.compare(j, 2, "}}") == 0) {
        break;
      }
      ++j;
    }
    if (j >= text.size()) throw ParseError{open, "\"{{\" is never closed with \"}}\""};
    if (!lit.empty()) out.push_back({std::move(lit), std::nullopt, false, 0, ""});
    lit.clear();
    std::string_view inner = text.substr(open + 2, j - open - 2);
    Parsed p = ExprParser(inner, open + 2).parse();
    size_t b = inner.find_first_not_of(" \t\r\n"), e = inner.find_last_not_of(" \t\r\n");
    std::string source(b == std::string_view::npos ? "" : inner.substr(b, e - b + 1).substr(0, 200));
    out.push_back({"", std::move(p.expr), p.raw, open, "{{ " + source + " }}"});
    i = j + 2;
  }
  if (!lit.empty()) out.push_back({std::move(lit), std::nullopt, false, 0, ""});
  return out;
}

// Splits `outputs.a.b.c` into a task id and a key path, preferring the longest
// task id that exists (task ids may contain dots).
bool split_outputs(const std::string& rest, const std::vector<std::string>& tasks, std::string& task,
                   std::string& key) {
  size_t best = 0;
  for (auto& t : tasks) {
    if (t.size() > best && rest.compare(0, t.size(), t) == 0 && (rest.size() == t.size() || rest[t.size()] == '.')) {
      best = t.size();
      task = t;
    }
  }
  if (best == 0) {
    size_t dot = rest.find('.');
    task = rest.substr(0, dot);
    key = dot == std::string::npos ? "" : rest.substr(dot + 1);
    return false;
  }
  key = best < rest.size() ? rest.substr(best + 1) : "";
  return true;
}

const char* kSupportedFormat = "%Y %y %m %d %H %M %S %j %F %T %s %z %%";

bool valid_format(const std::string& f, std::string& bad) {
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') continue;
    if (i + 1 >= f.size() || std::string("YymdHMSjFTsz%").find(f[i + 1]) == std::string::npos) {
      bad = f.substr(i, 2);
      return false;
    }
    ++i;
  }
  return true;
}

void check_expr(const Expr& e, const TemplateScope& scope, std::vector<TemplateIssue>& issues, bool top) {
  switch (e.kind) {
    case Expr::Kind::string:
    case Expr::Kind::integer:
      return;
    case Expr::Kind::call: {
      if (e.text == "ident") {
        if (scope.field != TemplateField::sql)
          issues.push_back({e.offset, "ident() exists only in sql (it renders a double-quoted SQL identifier)"});
        else if (!top)
          issues.push_back({e.offset, "ident() must be the whole template: {{ ident(x) }}"});
        else if (e.args.empty())
          issues.push_back({e.offset, "ident takes 1 or more arguments (joined): ident(x) or ident(\"t_\", ds_nodash)"});
        for (auto& a : e.args) check_expr(a, scope, issues, false);
        return;
      }
      if (e.text != "ds_add" && e.text != "format") {
        issues.push_back({e.offset, "unknown function \"" + e.text + "\"" + did_you_mean(e.text, kFunctions) +
                                        "; functions: ds_add(date, days), format(time, \"%Y/%m/%d\"), "
                                        "ident(name) in sql"});
        return;
      }
      if (e.args.size() != 2) {
        issues.push_back({e.offset, e.text + " takes 2 arguments, got " + std::to_string(e.args.size()) +
                                        (e.text == "ds_add" ? ": ds_add(date, days)" : ": format(time, \"%Y/%m/%d\")")});
        return;
      }
      for (auto& a : e.args) check_expr(a, scope, issues, false);
      if (e.text == "ds_add" && e.args[1].kind == Expr::Kind::string)
        issues.push_back({e.args[1].offset, "ds_add: the number of days must be an integer"});
      if (e.text == "format") {
        if (e.args[1].kind != Expr::Kind::string) {
          issues.push_back({e.args[1].offset, "format: the format must be a \"string\" literal"});
        } else {
          std::string bad;
          if (!valid_format(e.args[1].text, bad))
            issues.push_back({e.args[1].offset, "format: unsupported directive \"" + bad + "\"; supported: " +
                                                    kSupportedFormat});
        }
      }
      return;
    }
    case Expr::Kind::name:
      break;
  }
  const std::string& n = e.text;
  size_t dot = n.find('.');
  std::string head = n.substr(0, dot);
  std::string rest = dot == std::string::npos ? "" : n.substr(dot + 1);
  auto unknown = [&](const std::string& what) {
    issues.push_back({e.offset, what});
  };
  static const std::vector<std::string> kNone;
  const auto& params = scope.params ? *scope.params : kNone;
  const auto& upstream_tasks = scope.upstream_tasks ? *scope.upstream_tasks : kNone;
  const auto& all_tasks = scope.all_tasks ? *scope.all_tasks : kNone;
  if (head == "params") {
    if (rest.empty()) return;  // the whole params object
    std::string name = rest.substr(0, rest.find('.'));
    if (std::find(params.begin(), params.end(), name) == params.end())
      unknown("unknown template name \"" + n + "\": \"" + name + "\" is not declared in the DAG's params" +
              did_you_mean(name, params) + (params.empty() ? "" : "; declared: ") + [&] {
                std::string s;
                for (size_t i = 0; i < params.size() && i < 20; ++i) s += (i ? ", " : "") + params[i];
                return s;
              }());
    return;
  }
  if (head == "outputs") {
    if (!scope.outputs_allowed) {
      unknown("\"" + n + "\" cannot be used here: outputs exist only for task fields");
      return;
    }
    if (rest.empty()) {
      unknown("\"outputs\" needs a task: outputs.TASK or outputs.TASK.KEY");
      return;
    }
    std::string task, key;
    if (!split_outputs(rest, all_tasks, task, key)) {
      unknown("unknown template name \"" + n + "\": there is no task \"" + task + "\"" +
              did_you_mean(task, all_tasks));
      return;
    }
    if (std::find(upstream_tasks.begin(), upstream_tasks.end(), task) == upstream_tasks.end())
      unknown("\"" + n + "\": task \"" + task +
              "\" is not upstream of this task, so its output cannot exist yet; add it to depends_on");
    else if (scope.outputs_read &&
             std::find(scope.outputs_read->begin(), scope.outputs_read->end(), task) == scope.outputs_read->end())
      scope.outputs_read->push_back(task);
    return;
  }
  if (head == "var") {
    if (rest.empty()) unknown("\"var\" needs a variable name: var.NAME");
    return;
  }
  if (!rest.empty() && head != "item") {
    auto it = std::find(kBaseNames.begin(), kBaseNames.end(), head);
    if (it != kBaseNames.end()) {
      unknown("\"" + n + "\": " + head + " has no fields");
      return;
    }
  }
  if (head == "item") {
    if (!scope.has_item) unknown("\"item\" exists only in tasks with foreach");
    return;
  }
  if (head == "task_id" || head == "try_number" || head == "map_index") {
    if (!scope.task_level) unknown("\"" + head + "\" exists only in task fields");
    return;
  }
  if (std::find(kBaseNames.begin(), kBaseNames.end(), head) != kBaseNames.end()) return;
  std::vector<std::string> candidates = kBaseNames;
  candidates.insert(candidates.end(), kFunctions.begin(), kFunctions.end());
  unknown("unknown template name \"" + n + "\"" + did_you_mean(head, candidates) +
          "; names: ds, ds_nodash, ts, logical_date, data_interval_start, data_interval_end, run_id, dag_id, "
          "task_id, try_number, map_index, item, params.NAME, outputs.TASK[.KEY], var.NAME");
}

// ---- rendering ----

struct RenderError {
  std::string message;
};

std::string local_date(TimePoint t, const TimeZone& zone) {
  long long us = zone.to_local(t).count();
  long long days = us >= 0 ? us / 86400000000LL : -((-us + 86399999999LL) / 86400000000LL);
  int y, m, d;
  civil_from_days(days, y, m, d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return buf;
}

std::string format_time(TimePoint t, const TimeZone& zone, const std::string& f) {
  long long local_us = zone.to_local(t).count();
  long long secs = local_us >= 0 ? local_us / 1000000 : -((-local_us + 999999) / 1000000);
  long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  long long sod = secs - days * 86400;
  int y, m, d;
  civil_from_days(days, y, m, d);
  std::string out;
  char buf[32];
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%' || i + 1 >= f.size()) {
      out += f[i];
      continue;
    }
    char c = f[++i];
    switch (c) {
      case 'Y': std::snprintf(buf, sizeof buf, "%04d", y); break;
      case 'y': std::snprintf(buf, sizeof buf, "%02d", y % 100); break;
      case 'm': std::snprintf(buf, sizeof buf, "%02d", m); break;
      case 'd': std::snprintf(buf, sizeof buf, "%02d", d); break;
      case 'H': std::snprintf(buf, sizeof buf, "%02lld", sod / 3600); break;
      case 'M': std::snprintf(buf, sizeof buf, "%02lld", sod / 60 % 60); break;
      case 'S': std::snprintf(buf, sizeof buf, "%02lld", sod % 60); break;
      case 'j': std::snprintf(buf, sizeof buf, "%03lld", days - days_from_civil(y, 1, 1) + 1); break;
      case 'F': std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d); break;
      case 'T': std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", sod / 3600, sod / 60 % 60, sod % 60); break;
      case 's': std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(t.time_since_epoch().count() / 1000000)); break;
      case 'z': {
        long long off = zone.offset_at(t).count() / 60000000;
        std::snprintf(buf, sizeof buf, "%c%02lld%02lld", off < 0 ? '-' : '+', std::abs(off) / 60, std::abs(off) % 60);
        break;
      }
      case '%': std::snprintf(buf, sizeof buf, "%%"); break;
      default: std::snprintf(buf, sizeof buf, "%%%c", c);
    }
    out += buf;
  }
  return out;
}

json navigate(const json& root, const std::string& path, const std::string& full) {
  const json* cur = &root;
  size_t i = 0;
  while (i < path.size()) {
    size_t dot = path.find('.', i);
    std::string key = path.substr(i, dot == std::string::npos ? std::string::npos : dot - i);
    if (cur->is_object() && cur->contains(key)) {
      cur = &(*cur)[key];
    } else if (cur->is_array() && !key.empty() && key.size() <= 9 &&
               key.find_first_not_of("0123456789") == std::string::npos && std::stoull(key) < cur->size()) {
      cur = &(*cur)[std::stoull(key)];
    } else {
      throw RenderError{"template name \"" + full + "\" is missing: no \"" + key + "\" there"};
    }
    if (dot == std::string::npos) break;
    i = dot + 1;
  }
  return *cur;
}

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const std::exception&) {
    throw RenderError{what + " is not valid JSON"};
  }
}

json eval(const Expr& e, const RenderContext& ctx);

std::string as_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

json eval_name(const std::string& n, const RenderContext& ctx) {
  size_t dot = n.find('.');
  std::string head = n.substr(0, dot);
  std::string rest = dot == std::string::npos ? "" : n.substr(dot + 1);
  if (head == "ds") return local_date(ctx.logical_date, ctx.zone);
  if (head == "ds_nodash") {
    std::string s = local_date(ctx.logical_date, ctx.zone);
    s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
    return s;
  }
  if (head == "ts" || head == "logical_date") return format_utc(ctx.logical_date);
  if (head == "data_interval_start") return format_utc(ctx.data_interval_start);
  if (head == "data_interval_end") return format_utc(ctx.data_interval_end);
  if (head == "run_id") return ctx.run_id;
  if (head == "dag_id") return ctx.dag_id;
  if (head == "task_id") return ctx.task_id;
  if (head == "try_number") return ctx.try_number;
  if (head == "map_index") return ctx.map_index;
  if (head == "item") {
    if (!ctx.item_json) throw RenderError{"template name \"item\" is missing: this task instance has no item"};
    json item = parse_json(*ctx.item_json, "item");
    return rest.empty() ? item : navigate(item, rest, n);
  }
  if (head == "params") {
    json params = parse_json(ctx.params_json, "params");
    return rest.empty() ? params : navigate(params, rest, n);
  }
  if (head == "var") {
    std::optional<std::string> v = ctx.variable ? ctx.variable(rest) : std::nullopt;
    if (!v) throw RenderError{"template name \"" + n + "\" is missing: no variable \"" + rest + "\" is stored"};
    return *v;
  }
  if (head == "outputs") {
    std::vector<std::string> tasks;
    for (auto& [k, _] : ctx.outputs_json) tasks.push_back(k);
    std::string task, key;
    if (!split_outputs(rest, tasks, task, key))
      throw RenderError{"template name \"" + n + "\" is missing: task \"" + task + "\" has no output"};
    json out = parse_json(ctx.outputs_json.at(task), "the output of " + task);
    return key.empty() ? out : navigate(out, key, n);
  }
  throw RenderError{"unknown template name \"" + n + "\""};
}

TimePoint as_time(const json& v, const std::string& fn) {
  std::string s = as_text(v);
  auto r = parse_date_time(s);
  if (!r) throw RenderError{fn + ": \"" + s + "\" is not a date or an instant"};
  if (r->absolute) return *r->absolute;
  return TimePoint(Duration((days_from_civil(r->local.year, r->local.month, r->local.day) * 86400LL +
                             r->local.hour * 3600LL + r->local.minute * 60LL + r->local.second) *
                            1000000LL));
}

json eval(const Expr& e, const RenderContext& ctx) {
  switch (e.kind) {
    case Expr::Kind::string: return e.text;
    case Expr::Kind::integer: return e.integer;
    case Expr::Kind::name: return eval_name(e.text, ctx);
    case Expr::Kind::call: {
      if (e.text == "ident") {
        std::string joined;
        for (auto& a : e.args) joined += as_text(eval(a, ctx));
        return joined;
      }
      if (e.args.size() != 2) throw RenderError{e.text + " takes 2 arguments"};
      json a = eval(e.args[0], ctx), b = eval(e.args[1], ctx);
      if (e.text == "ds_add") {
        std::string s = as_text(a);
        auto r = parse_date_time(s);
        if (!r || r->local.has_time) throw RenderError{"ds_add: \"" + s + "\" is not a date YYYY-MM-DD"};
        long long n = b.is_number_integer() ? b.get<long long>() : 0;
        if (!b.is_number_integer()) {
          try {
            n = std::stoll(as_text(b));
          } catch (const std::exception&) {
            throw RenderError{"ds_add: the number of days must be an integer"};
          }
        }
        if (n > 3650000 || n < -3650000) throw RenderError{"ds_add: the number of days must be within +-3650000"};
        int y, m, d;
        civil_from_days(days_from_civil(r->local.year, r->local.month, r->local.day) + n, y, m, d);
        if (!is_valid_date(y, m, d)) throw RenderError{"ds_add: the result is outside the years 1 to 9999"};
        char buf[16];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
        return std::string(buf);
      }
      if (e.text == "format") {
        std::string s = as_text(a);
        auto r = parse_date_time(s);
        if (!r) throw RenderError{"format: \"" + s + "\" is not a date or an instant"};
        // A local date-time is formatted as it is; an instant in the DAG's zone.
        TimeZone zone = r->absolute ? ctx.zone : TimeZone();
        return format_time(as_time(a, "format"), zone, as_text(b));
      }
      throw RenderError{"unknown function \"" + e.text + "\""};
    }
  }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& template_base_names() { return kBaseNames; }

namespace {

// The first name a trigger can set that the expression reads, or "".
std::string settable_name(const Expr& e) {
  if (e.kind == Expr::Kind::name) {
    std::string head = e.text.substr(0, e.text.find('.'));
    return std::find(kTriggerSettable.begin(), kTriggerSettable.end(), head) != kTriggerSettable.end() ? e.text : "";
  }
  for (auto& a : e.args)
    if (auto n = settable_name(a); !n.empty()) return n;
  return "";
}

const char* field_name(TemplateField f) {
  switch (f) {
    case TemplateField::command: return "command";
    case TemplateField::sql: return "sql";
    case TemplateField::url: return "url";
    case TemplateField::header: return "header";
    case TemplateField::text: break;
  }
  return "text";
}

}  // namespace

std::vector<TemplateIssue> check_template(std::string_view text, const TemplateScope& scope) {
  std::vector<TemplateIssue> issues;
  try {
    auto segments = parse_segments(text);
    for (size_t k = 0; k < segments.size(); ++k) {
      auto& seg = segments[k];
      if (!seg.expr) continue;
      check_expr(*seg.expr, scope, issues, true);
      bool quoting_field = scope.field == TemplateField::command || scope.field == TemplateField::sql ||
                           scope.field == TemplateField::url;
      if (!quoting_field) continue;
      std::string name = settable_name(*seg.expr);
      if (name.empty()) continue;
      if (seg.raw) {
        if (seg.expr->kind == Expr::Kind::call && seg.expr->text == "ident") {
          issues.push_back({seg.offset, "ident() and | raw cannot be combined"});
          continue;
        }
        issues.push_back({seg.offset,
                          std::string("`| raw` inserts ") + name + " into the " + field_name(scope.field) +
                              " as it is, and a trigger (or a variable, an item, an upstream output) can set it: "
                              "its value can change what the " + field_name(scope.field) +
                              " does; without `| raw` it is quoted for where it stands",
                          true});
      } else if (scope.field == TemplateField::url && k == 0) {
        issues.push_back({seg.offset,
                          name + " stands at the start of the url and is inserted as it is (it names the host): "
                              "a trigger (or a variable, an item, an upstream output) can set it and send the "
                              "request anywhere",
                          true});
      }
    }
  } catch (const ParseError& e) {
    issues.push_back({e.offset, "template syntax: " + e.message});
  }
  return issues;
}

Result<std::vector<RenderedPiece>> render_pieces(std::string_view text, const RenderContext& ctx) {
  try {
    std::vector<RenderedPiece> out;
    for (auto& seg : parse_segments(text)) {
      RenderedPiece p;
      if (!seg.expr) {
        p.text = std::move(seg.text);
        out.push_back(std::move(p));
        continue;
      }
      json v = eval(*seg.expr, ctx);
      p.kind = seg.raw ? RenderedPiece::Kind::raw
               : seg.expr->kind == Expr::Kind::call && seg.expr->text == "ident" ? RenderedPiece::Kind::ident
                                                                                 : RenderedPiece::Kind::value;
      p.type = v.is_string()              ? RenderedPiece::Type::string
               : v.is_number_integer()    ? RenderedPiece::Type::integer
               : v.is_number_float()      ? RenderedPiece::Type::real
               : v.is_boolean()           ? RenderedPiece::Type::boolean
               : v.is_null()              ? RenderedPiece::Type::null
                                          : RenderedPiece::Type::json;
      p.text = as_text(v);
      p.source = std::move(seg.source);
      out.push_back(std::move(p));
    }
    return out;
  } catch (const ParseError& e) {
    return Error::invalid("template syntax at offset " + std::to_string(e.offset) + ": " + e.message);
  } catch (const RenderError& e) {
    return Error{"template_error", e.message};
  } catch (const std::exception& e) {
    return Error{"template_error", std::string("template could not be rendered: ") + e.what()};
  }
}

Result<std::string> render_template(std::string_view text, const RenderContext& ctx) {
  try {
    std::string out;
    for (auto& seg : parse_segments(text)) out += seg.expr ? as_text(eval(*seg.expr, ctx)) : seg.text;
    return out;
  } catch (const ParseError& e) {
    return Error::invalid("template syntax at offset " + std::to_string(e.offset) + ": " + e.message);
  } catch (const RenderError& e) {
    return Error{"template_error", e.message};
  } catch (const std::exception& e) {
    return Error{"template_error", std::string("template could not be rendered: ") + e.what()};
  }
}

}  // namespace baton::dsl
