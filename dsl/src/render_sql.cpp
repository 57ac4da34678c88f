// The renderer of a `sql` field (render.h): a lexer of SQL (PostgreSQL's or
// SQLite's) reads the author's text one byte at a time, so that it knows where
// the next value stands: a bound parameter outside quotes, escaped inside a
// literal, refused where it could change the statement. It also cuts the text
// into statements. Linear in the text and the values, no regular expressions,
// no recursion.
#include "baton/dsl/render.h"
#include "render_text.h"

namespace baton::dsl {

using namespace render_text;

namespace {

bool is_ident_char(unsigned char c) { return is_alnum(c) || c == '_' || c == '$' || c >= 0x80; }

// A value that may stand as it is inside a PostgreSQL dollar-quoted body
// (often code): letters, digits and _ . : + -, no -- and no - at either end.
bool sql_word_safe(std::string_view v) {
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '+') continue;
    if (c == '-' && i > 0 && i + 1 < v.size() && v[i + 1] != '-') continue;
    return false;
  }
  return true;
}

class SqlLexer {
 public:
  enum class Where { normal, single, estring, ustring, dident, dollar, line_comment, block_comment, bracket, backtick };
  struct Bound {
    size_t pos;    // of the `;`
    bool content;  // the statement it ends holds more than blanks and comments
  };

  explicit SqlLexer(SqlDialect d) : pg_(d == SqlDialect::postgres) {}

  // Where a value written now stands. A quote that may close a literal (or be
  // the first of a doubled one) has closed it when a value comes next.
  Where where() const { return maybe_end_ ? Where::normal : ctx_; }
  bool after_ident_char() const { return where() == Where::normal && !maybe_end_ && is_ident_char(h_[0]); }
  const std::string& error() const { return error_; }
  // Inside E'...' right after a backslash: the next byte is escaped.
  bool escape_pending() const { return !maybe_end_ && ctx_ == Where::estring && esc_; }
  // Where the text stands now, with nothing pending (no quote that may close
  // it, no backslash): what a value escaped for its literal must leave.
  bool settled_in(Where w) const { return !maybe_end_ && !esc_ && ctx_ == w; }
  const std::vector<Bound>& bounds() const { return bounds_; }
  bool content() const { return content_; }

  // `s` starts at byte `at` of the output; `as_is`: a value inserted as it
  // is, which must not close what it stands in (nor let the text after it do so).
  void feed(std::string_view s, size_t at, bool as_is) {
    if (as_is) ranges_.push_back({at, at + s.size()});
    for (size_t i = 0; i < s.size() && error_.empty(); ++i) step(s[i], at + i);
  }
  // A placeholder or a quoted identifier written at `at`: no name character may follow it.
  void token(std::string_view s, size_t at) {
    feed(s, at, false);
    after_token_ = true;
  }
  void finish() {
    if (maybe_end_) {
      maybe_end_ = false;
      ctx_ = Where::normal;
    }
  }

 private:
  static bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

  // A closing sequence at [from, to) that a value inserted as it is took
  // part in: by its bytes, or (an empty value) by joining the text around it.
  void closes(size_t from, size_t to, const char* what) {
    for (auto it = ranges_.rbegin(); it != ranges_.rend(); ++it) {
      auto [a, b] = *it;
      if (b < from) break;  // ranges are in order: none further back reaches
      bool hit = a == b ? from < a && a < to : a < to && from < b;
      if (hit) {
        error_ = std::string("it would end the ") + what + " it stands in";
        return;
      }
    }
  }
  void to_normal() {
    ctx_ = Where::normal;
    h_[0] = h_[1] = h_[2] = 0;
  }

  void step(char ch, size_t pos) {
    if (maybe_end_) {
      maybe_end_ = false;
      if (ch == quote_) return;  // a doubled quote: still inside
      // PostgreSQL continues a '...' literal after only whitespace holding
      // a line break (and -- comments): 'a'<LF>'b' is 'ab', and an E'...'
      // stays an E'...'.
      Where closed = ctx_;
      to_normal();
      content_ = true;
      if (pg_ && (closed == Where::single || closed == Where::estring || closed == Where::ustring)) {
        cont_ = closed;
        cont_nl_ = cont_dash_ = false;
      }
    }
    switch (ctx_) {
      case Where::normal: return normal(ch, pos);
      case Where::single:
      case Where::ustring:
      case Where::dident:
      case Where::backtick:
        if (ch == quote_) {
          maybe_end_ = true;
          closes(pos, pos + 1, "quoted text");
        }
        return;
      case Where::estring:
        if (esc_) esc_ = false;
        else if (ch == '\\') esc_ = true;
        else if (ch == '\'') {
          maybe_end_ = true;
          closes(pos, pos + 1, "string literal");
        }
        return;
      case Where::bracket:
        if (ch == ']') {
          closes(pos, pos + 1, "[identifier]");
          to_normal();
        }
        return;
      case Where::line_comment:
        if (ch == '\n' || (pg_ && ch == '\r')) {
          closes(pos, pos + 1, "-- comment");
          to_normal();
          if (cont_ != Where::normal) cont_nl_ = true;
        }
        return;
      case Where::block_comment:
        if (cprev_ == '*' && ch == '/') {
          closes(pos - 1, pos + 1, "/* comment */");
          cprev_ = 0;
          if (--comment_depth_ == 0) to_normal();
          return;
        }
        if (pg_ && cprev_ == '/' && ch == '*') {  // PostgreSQL's comments nest
          closes(pos - 1, pos + 1, "/* comment */");
          ++comment_depth_;
          cprev_ = 0;
          return;
        }
        cprev_ = ch;
        return;
      case Where::dollar:
        // Looking for the closing $tag$ (its only border is "$").
        if (ch == tag_[tag_match_]) ++tag_match_;
        else tag_match_ = ch == '$' ? 1 : 0;
        if (tag_match_ == tag_.size()) {
          closes(pos + 1 - tag_.size(), pos + 1, "dollar-quoted text");
          tag_match_ = 0;
          to_normal();
        }
        return;
    }
  }

  void push_history(char ch) {
    h_[2] = h_[1];
    h_[1] = h_[0];
    h_[0] = ch;
  }

  void normal(char ch, size_t pos) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool tok = after_token_;
    after_token_ = false;
    if (tok && is_ident_char(c)) {
      error_ = "other characters of a name follow it";
      return;
    }
    if (dq_open_) {  // $tag$ being read
      if (ch == '$') {
        dq_open_ = false;
        tag_ = "$" + dq_tag_ + "$";
        tag_match_ = 0;
        ctx_ = Where::dollar;
        return;
      }
      if (is_alpha(c) || c == '_' || c >= 0x80 || (!dq_tag_.empty() && is_digit(c))) {
        dq_tag_ += ch;  // any length: PostgreSQL does not cut a tag
        push_history(ch);
        content_ = true;
        return;
      }
      dq_open_ = false;  // $1, or a $ in a name: not a dollar quote
    }
    if (cont_ != Where::normal) {  // after a '...' literal closed (PostgreSQL)
      if (cont_dash_) {
        cont_dash_ = false;
        if (ch != '-') cont_ = Where::normal;  // a lone -: not a comment
      } else if (ch == '\'' && cont_nl_) {
        // The same literal goes on, of the same kind.
        ctx_ = cont_;
        quote_ = '\'';
        esc_ = false;
        cont_ = Where::normal;
        push_history(ch);
        content_ = true;
        return;
      } else if (ch == '\n' || ch == '\r') {
        cont_nl_ = true;
      } else if (ch == '-') {
        cont_dash_ = true;
      } else if (!blank(ch) && ch != '\v') {
        cont_ = Where::normal;
      }
    }
    char p = h_[0], p2 = h_[1];
    bool p_ident = is_ident_char(static_cast<unsigned char>(p));
    bool p2_ident = is_ident_char(static_cast<unsigned char>(p2));
    bool p3_ident = is_ident_char(static_cast<unsigned char>(h_[2]));
    bool content_before = content_, content_before_prev = content_prev_;
    content_prev_ = content_;
    if (!blank(ch) && ch != ';') content_ = true;
    push_history(ch);
    switch (ch) {
      case '\'':
        quote_ = '\'';
        ctx_ = Where::single;
        if (pg_ && (p == 'E' || p == 'e') && !p2_ident) ctx_ = Where::estring;
        if (pg_ && p == '&' && (p2 == 'U' || p2 == 'u') && !p3_ident) ctx_ = Where::ustring;
        esc_ = false;
        break;
      case '"':
        quote_ = '"';
        ctx_ = Where::dident;
        break;
      case '`':
        if (!pg_) {
          quote_ = '`';
          ctx_ = Where::backtick;
        }
        break;
      case '[':
        if (!pg_) ctx_ = Where::bracket;
        break;
      case '-':
        if (p == '-') {
          ctx_ = Where::line_comment;
          content_ = content_before_prev;
        }
        break;
      case '*':
        if (p == '/') {
          ctx_ = Where::block_comment;
          comment_depth_ = 1;
          cprev_ = 0;
          content_ = content_before_prev;
        }
        break;
      case '$':
        if (pg_ && !p_ident) {
          dq_open_ = true;
          dq_tag_.clear();
        }
        break;
      case '(': ++depth_; break;
      case ')':
        if (depth_ > 0) --depth_;
        break;
      case ';':
        if (depth_ == 0) {
          bounds_.push_back({pos, content_before});
          content_ = content_prev_ = false;
        }
        break;
      default: break;
    }
  }

  bool pg_;
  Where ctx_ = Where::normal;
  char quote_ = '\'';
  bool maybe_end_ = false, esc_ = false, after_token_ = false;
  char h_[3] = {0, 0, 0};  // the last bytes of normal text, newest first
  char cprev_ = 0;
  int comment_depth_ = 0, depth_ = 0;
  bool dq_open_ = false;
  // A '...' literal that closed, followed by only blanks and -- comments so
  // far (cont_nl_: with a line break among them; cont_dash_: a - just read).
  Where cont_ = Where::normal;
  bool cont_nl_ = false, cont_dash_ = false;
  std::string dq_tag_, tag_;
  size_t tag_match_ = 0;
  bool content_ = false, content_prev_ = false;
  std::vector<std::pair<size_t, size_t>> ranges_;
  std::vector<Bound> bounds_;
  std::string error_;
};

}  // namespace

const char* to_string(RenderedPiece::Type t) {
  switch (t) {
    case RenderedPiece::Type::string: return "string";
    case RenderedPiece::Type::integer: return "integer";
    case RenderedPiece::Type::real: return "real";
    case RenderedPiece::Type::boolean: return "boolean";
    case RenderedPiece::Type::null: return "null";
    case RenderedPiece::Type::json: return "json";
  }
  return "string";
}

RenderedPiece::Type value_type(std::string_view name) {
  using T = RenderedPiece::Type;
  for (T t : {T::string, T::integer, T::real, T::boolean, T::null, T::json})
    if (name == to_string(t)) return t;
  return T::string;
}

std::string sql_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

Result<RenderedSql> compose_sql(const std::vector<RenderedPiece>& pieces, SqlDialect dialect) {
  using W = SqlLexer::Where;
  const bool pg = dialect == SqlDialect::postgres;
  SqlLexer lx(dialect);
  RenderedSql r;
  std::string& out = r.sql;
  // Statements: where the current one starts, its parameters, and how many
  // of the lexer's boundaries were turned into statements.
  size_t stmt_start = 0, bounds_seen = 0;
  std::vector<SqlParam> stmt_params;
  auto take_bounds = [&] {
    for (; bounds_seen < lx.bounds().size(); ++bounds_seen) {
      const auto& b = lx.bounds()[bounds_seen];
      if (b.content || !stmt_params.empty())
        r.statements.push_back({out.substr(stmt_start, b.pos - stmt_start), std::move(stmt_params)});
      stmt_params.clear();
      stmt_start = b.pos + 1;
    }
  };
  const RenderedPiece* last_value = nullptr;
  auto lexer_error = [&] {
    std::string who = last_value ? value_of(*last_value) : std::string("a value");
    return Error{"template_error", who + " cannot stand where it is: " + lx.error()};
  };
  for (const auto& p : pieces) {
    if (p.kind == RenderedPiece::Kind::text || p.kind == RenderedPiece::Kind::raw) {
      size_t at = out.size();
      out += p.text;
      lx.feed(p.text, at, false);
      if (!lx.error().empty()) return lexer_error();
      take_bounds();
      continue;
    }
    last_value = &p;
    const std::string& v = p.text;
    auto fail = [&](const std::string& why) { return Error{"template_error", value_of(p) + " " + why}; };
    if (v.find('\0') != std::string::npos) return fail("holds a NUL byte, which SQL text cannot hold");
    W w = lx.where();
    if (p.kind == RenderedPiece::Kind::ident) {
      if (w != W::normal) return fail("is an ident() inside quotes or a comment; ident() stands on its own");
      if (v.empty()) return fail("is an empty name: ident() needs at least one character");
      if (lx.after_ident_char())
        return fail("stands right after other characters of a name; ident() is the whole name, e.g. "
                    "{{ ident(\"t_\", ds_nodash) }}");
      std::string enc = sql_ident(v);
      size_t at = out.size();
      out += enc;
      lx.token(enc, at);
      if (!lx.error().empty()) return lexer_error();
      continue;
    }
    std::string enc;
    bool as_is = false;
    switch (w) {
      case W::normal: {
        if (lx.after_ident_char())
          return fail("stands right after other characters of a name (like t_{{ x }}), where it cannot be a bound "
                      "parameter; write the whole name as {{ ident(\"t_\", x) }}");
        SqlParam param{v, p.type};
        stmt_params.push_back(param);
        r.params.push_back(std::move(param));
        enc = pg ? "$" + std::to_string(stmt_params.size()) : "?" + std::to_string(r.params.size());
        size_t at = out.size();
        out += enc;
        lx.token(enc, at);
        if (!lx.error().empty()) return lexer_error();
        continue;
      }
      case W::single:
      case W::ustring:
      case W::estring:
        if (lx.escape_pending())
          return fail("stands right after a backslash inside E'...', which would escape the value's first "
                      "character; remove the backslash (or write \\\\ for a backslash)");
        // '' for a quote; in E'...' and U&'...' a backslash is doubled too.
        for (char c : v) {
          if (c == '\'') enc += '\'';
          if (c == '\\' && w != W::single) enc += '\\';
          enc += c;
        }
        r.literal_values = true;
        if (w == W::single && pg && v.find('\\') != std::string::npos) r.literal_backslash = true;
        break;
      case W::dident:
      case W::backtick: {
        char q = w == W::dident ? '"' : '`';
        for (char c : v) {
          if (c == q) enc += q;
          enc += c;
        }
        break;
      }
      case W::bracket:
        if (v.find(']') != std::string::npos) return fail("holds a ], which cannot stand inside [...]");
        enc = v;
        as_is = true;
        break;
      case W::dollar:
        if (!sql_word_safe(v))
          return fail("(\"" + shown(v) +
                      "\") stands inside dollar-quoted text ($$...$$), which is often code: only letters, digits "
                      "and _ . : + - (no --) can stand there; pass the value as a bound parameter outside it");
        enc = v;
        as_is = true;
        break;
      case W::line_comment:
        if (v.find('\n') != std::string::npos || v.find('\r') != std::string::npos)
          return fail("holds a line break, which would end the -- comment it stands in");
        enc = v;
        as_is = true;
        break;
      case W::block_comment:
        if (v.find("*/") != std::string::npos || v.find("/*") != std::string::npos)
          return fail("holds */ or /*, which would end (or nest) the /* comment */ it stands in");
        enc = v;
        as_is = true;
        break;
    }
    size_t at = out.size();
    out += enc;
    lx.feed(enc, at, as_is);
    if (!lx.error().empty()) return lexer_error();
    // An escaped value stays inside what it stands in, and leaves nothing
    // pending (a quote that may close it, a backslash) for the text after it.
    if (!as_is && !lx.settled_in(w))
      return fail("(\"" + shown(v) + "\") would end the quoted text it stands in");
    take_bounds();
  }
  lx.finish();
  take_bounds();
  if (lx.content() || !stmt_params.empty())
    r.statements.push_back({out.substr(stmt_start), std::move(stmt_params)});
  return r;
}

Result<RenderedSql> render_sql(std::string_view text, const RenderContext& ctx, SqlDialect dialect) {
  auto pieces = render_pieces(text, ctx);
  if (!pieces) return pieces.error();
  return compose_sql(*pieces, dialect);
}

}  // namespace baton::dsl
