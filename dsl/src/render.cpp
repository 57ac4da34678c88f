// The renderers of render.h. Each reads the author's text (and what it has
// written so far) with a lexer of the field's language, one byte at a time,
// so that it knows where the next value stands: linear in the text and the
// values, no regular expressions, no recursion.
#include "baton/dsl/render.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "baton/core/secrets.h"

namespace baton::dsl {

namespace {

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }

// A value as it may be quoted in a message: at most 60 bytes, control bytes
// escaped.
std::string shown(std::string_view v, size_t max = 60) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (v.size() > max) out += "...";
  return out;
}

std::string value_of(const RenderedPiece& p) { return "the value of " + (p.source.empty() ? "a template" : p.source); }

// ============================================================ shell

// Spots the start of an arithmetic place in shell text the lexer does not
// follow closely (backquotes, here-document bodies): $((, $[, ${X[ and ${X:N,
// and with `commands` also (( and [[.
class ArithSpot {
 public:
  explicit ArithSpot(bool commands = false) : commands_(commands) {}
  // Also right after ${X or ${X: (a value there may make it ${X:offset}).
  bool seen() const { return seen_ || st_ >= 3; }
  void step(char c) {
    if (seen_) return;
    int st = st_;
    st_ = 0;
    if (st == 1 && c == '[') { seen_ = true; return; }           // $[
    if (st == 1 && c == '(') { st_ = 2; prev_ = c; return; }     // $(
    if (st == 2 && c == '(') { seen_ = true; return; }           // $((
    if (st == 1 && c == '{') { st_ = 3; prev_ = c; return; }     // ${
    if (st == 3) {
      if (c == '[') { seen_ = true; return; }
      if (c == ':') { st_ = 4; return; }
      if (is_alnum(static_cast<unsigned char>(c)) || c == '_' || c == '#' || c == '!' || c == '@' || c == '*') {
        st_ = 3;
        return;
      }
    }
    if (st == 4 && (c == 0 || !std::strchr("-=?+", c))) { seen_ = true; return; }  // ${X:offset}
    if (commands_ && (c == '(' || c == '[') && prev_ == c) { seen_ = true; return; }  // (( and [[
    if (c == '$') st_ = 1;
    prev_ = c;
  }

 private:
  bool commands_;
  bool seen_ = false;
  int st_ = 0;
  char prev_ = 0;
};

// A lexer of POSIX sh (dash), as far as it matters for where a value stands:
// quotes, $(...), `...`, $((...)), ${...}, $'...', comments and here-documents.
class ShellLexer {
 public:
  enum class Where { plain, single, dquote, heredoc, heredoc_quoted, comment, backtick, arith, param, ansi, heredoc_word };

  ShellLexer() { stack_.push_back({}); }

  Where where() const {
    if (body_) return body_->quoted ? Where::heredoc_quoted : Where::heredoc;
    if (hd_ != Hd::none) return Where::heredoc_word;
    if (comment_) return Where::comment;
    return stack_.back().ctx;
  }
  bool after_dollar() const { return dollar_; }
  bool after_backslash() const { return escape_ || body_esc_; }
  bool uncertain() const { return uncertain_; }
  // In ${...}: has an operator come after the name, or a [ (a value there is a
  // word or an index, not the name)?
  bool param_word() const { return stack_.back().op_seen || stack_.back().sub > 0; }
  // In a place bash evaluates as arithmetic: $((...)), $[...], ((...)), [[...]],
  // ${X:offset:length}, ${X[index]}, or anything nested in one; also after
  // such an expansion in backquotes or a here-document, which are not followed.
  // A name there is read as a variable whose text is evaluated in turn.
  bool in_arith() const {
    if (body_ && body_spot_.seen()) return true;
    for (const Frame& f : stack_) {
      if (f.ctx == Where::arith || f.bash_arith >= 0 || f.test || f.colon || f.offset || f.sub > 0) return true;
      if (f.ctx == Where::backtick && f.spot.seen()) return true;
    }
    return false;
  }
  // An unquoted { open in the current word (bash's brace expansion).
  bool brace_open() const { return stack_.back().ctx == Where::plain && stack_.back().braces > 0; }
  // A heredoc line made equal to its delimiter by a value.
  bool bad_line() const { return bad_line_; }

  void value_begins() {
    if (body_) line_has_value_ = true;
  }
  void feed(std::string_view s) {
    for (char c : s) step(c);
  }
  void finish() {
    if (body_) check_line();
  }

 private:
  struct Frame {
    Where ctx = Where::plain;
    bool cmdsub = false;       // a plain frame opened by $(
    bool just_opened = false;  // $( seen, nothing after it yet: a second ( makes it $((
    bool closing = false;      // arith: the first ) of ))
    bool op_seen = false;      // param: an operator after the name
    int depth = 0;             // plain and arith: open parentheses (brackets for $[); param: characters read
    bool bracket = false;      // arith: $[...] (ends at ])
    int bash_arith = -1;       // plain: the depth before a (( that bash reads as arithmetic
    bool test = false;         // plain: inside [[ ... ]]
    int braces = 0;            // plain: unquoted { open in the current word
    bool colon = false;        // param: a : right after the name (${X:offset} unless :- := :? :+)
    bool offset = false;       // param: in ${X:offset:length}
    int sub = 0;               // param: open [ of ${X[index]}
    ArithSpot spot{true};      // backtick: an arithmetic place seen in it
  };
  struct Heredoc {
    std::string delim;
    bool quoted = false;
    bool strip_tabs = false;
    size_t frame_depth = 1;
  };
  enum class Hd { none, after_op, before_word, word };

  void push(Where w, bool cmdsub = false) {
    Frame f;
    f.ctx = w;
    f.cmdsub = cmdsub;
    f.just_opened = cmdsub;
    stack_.push_back(f);
    at_word_start_ = w == Where::plain;
  }
  void pop() {
    if (stack_.size() > 1) stack_.pop_back();
  }
  // $[...]: bash's old arithmetic (dash reads it as text: the shells differ).
  void push_bracket_arith() {
    push(Where::arith);
    stack_.back().bracket = true;
    uncertain_ = true;
  }

  static bool is_meta(char c) {
    return c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')';
  }

  void step(char c) {
    if (body_) return body_char(c);
    if (hd_ != Hd::none && hd_word_char(c)) return;
    if (comment_) {
      if (c == '\n') {
        comment_ = false;
        newline();
      }
      return;
    }
    Frame& f = stack_.back();
    if (escape_) {
      escape_ = false;
      dollar_ = false;
      at_word_start_ = false;
      word_valid_ = false;
      lt_ = 0;
      return;
    }
    bool was_dollar = dollar_;
    dollar_ = false;
    switch (f.ctx) {
      case Where::plain: return plain_char(c, was_dollar);
      case Where::single:
        if (c == '\'') pop();
        return;
      case Where::ansi:
        if (c == '\\') escape_ = true;
        else if (c == '\'') pop();
        return;
      case Where::dquote:
        if (c == '\\') escape_ = true;
        else if (c == '"') pop();
        else if (c == '`') push(Where::backtick);
        else if (c == '$') dollar_ = true;
        else if (c == '(' && was_dollar) push(Where::plain, true);
        else if (c == '{' && was_dollar) push(Where::param);
        else if (c == '[' && was_dollar) push_bracket_arith();
        return;
      case Where::backtick:
        if (c == '\\') escape_ = true;
        else if (c == '`') return pop();
        else if (c == '$') dollar_ = true;
        f.spot.step(c);
        return;
      case Where::arith:
        if (f.bracket) {
          if (c == '[' && !was_dollar) {
            ++f.depth;
            return;
          }
          if (c == ']') {
            if (f.depth > 0) --f.depth;
            else pop();
            return;
          }
        } else {
          if (f.closing) {
            f.closing = false;
            if (c == ')') return pop();
            uncertain_ = true;
          }
          if (c == '(' && !was_dollar) {
            ++f.depth;
            return;
          }
          if (c == ')') {
            if (f.depth > 0) --f.depth;
            else f.closing = true;
            return;
          }
        }
        if (c == '(' && was_dollar) {
          push(Where::plain, true);
        } else if (c == '[' && was_dollar) {
          push_bracket_arith();
        } else if (c == '{' && was_dollar) {
          push(Where::param);
        } else if (c == '$') {
          dollar_ = true;
        } else if (c == '`') {
          push(Where::backtick);
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '\'' || c == '"') {
          uncertain_ = true;
        }
        return;
      case Where::param:
        if (c == '\\') {
          escape_ = true;
        } else if (c == '}') {
          return pop();
        } else if (c == '{' && was_dollar) {
          push(Where::param);
          return;
        } else if (c == '(' && was_dollar) {
          push(Where::plain, true);
          return;
        } else if (c == '[' && was_dollar) {
          push_bracket_arith();
          return;
        } else if (c == '\'' || c == '"' || c == '`') {
          uncertain_ = true;  // quoting inside ${...} is not followed
        } else if (c == '$') {
          dollar_ = true;
        } else if (f.sub > 0) {  // ${X[index]}: arithmetic
          if (c == '[') ++f.sub;
          else if (c == ']') --f.sub;
        } else if (f.colon) {  // ${X:offset} unless ${X:-word} ${X:=word} ${X:?word} ${X:+word}
          f.colon = false;
          if (c == 0 || !std::strchr("-=?+", c)) f.offset = true;
        } else if (f.depth > 0 && !f.op_seen && c == '[') {
          f.sub = 1;
        } else if (f.depth > 0 && c != 0 && std::strchr(":-=?+%#/^,", c)) {
          if (!f.op_seen && c == ':') f.colon = true;
          f.op_seen = true;
        }
        ++f.depth;
        return;
      default:
        return;
    }
  }

  void end_word() {
    if (word_valid_ && word_ == "case" && stack_.size() > 1) uncertain_ = true;  // its ) are not $( )'s
    word_.clear();
    word_valid_ = true;
  }

  void plain_char(char c, bool was_dollar) {
    Frame& f = stack_.back();
    bool word_start = at_word_start_;
    at_word_start_ = false;
    if (f.just_opened) {
      f.just_opened = false;
      if (c == '(') {
        f.ctx = Where::arith;
        f.depth = 0;
        return;
      }
    }
    if (c == '<') {
      ++lt_;
      f.braces = 0;
      close_run_ = 0;
      end_word();
      at_word_start_ = true;
      if (lt_ == 2 && f.bash_arith < 0) {  // in bash's ((...)), << is a shift
        hd_ = Hd::after_op;
        hd_strip_ = false;
      }
      return;
    }
    lt_ = 0;
    if (is_alpha(static_cast<unsigned char>(c))) {
      if (word_start) {
        word_.clear();
        word_valid_ = true;
      }
      if (word_valid_ && word_.size() < 8) word_ += c;
      else word_valid_ = false;
    } else if (c == ' ' || c == '\t' || c == '\n' || is_meta(c)) {
      end_word();
    } else {
      word_valid_ = false;
    }
    const bool delim = c == ' ' || c == '\t' || c == '\n' || is_meta(c);
    if (delim) f.braces = 0;  // brace expansion is within one word
    // The ]] that ends [[ ... ]]: a word of its own.
    if (close_run_ == 2 && delim) f.test = false;
    close_run_ = c != ']' ? 0 : word_start ? 1 : close_run_ == 1 ? 2 : 0;
    // Bash reads (( ... )) (also for((, while((, if(() and [[ ... ]] as
    // arithmetic or tests that evaluate their operands, and $'...' with
    // escapes; dash does not. Where the shells differ, only safe values may
    // follow; in the arithmetic itself only integers (in_arith).
    bool arith_opens = false;
    if ((c == '(' || c == '[') && !was_dollar) {
      if (open_run_ == c) {
        uncertain_ = true;
        open_run_ = 0;
        if (c == '(') arith_opens = true;
        else f.test = true;
      } else {
        open_run_ = c == '(' || word_start ? c : 0;
      }
    } else {
      open_run_ = 0;
    }
    switch (c) {
      case '\\': escape_ = true; break;
      case '\'':
        if (was_dollar) uncertain_ = true;
        push(was_dollar ? Where::ansi : Where::single);
        break;
      case '"': push(Where::dquote); break;
      case '`': push(Where::backtick); break;
      case '$': dollar_ = true; break;
      case '(':
        if (was_dollar) {
          push(Where::plain, true);
        } else {
          ++f.depth;
          if (arith_opens && f.bash_arith < 0) f.bash_arith = std::max(0, f.depth - 2);
          at_word_start_ = true;
        }
        break;
      case ')':
        if (f.depth > 0) {
          --f.depth;
          if (f.bash_arith >= 0 && f.depth <= f.bash_arith) f.bash_arith = -1;  // the )) of ((
          at_word_start_ = true;
        } else if (f.cmdsub) {
          pop();
        } else {
          at_word_start_ = true;  // a case pattern's )
        }
        break;
      case '{':
        if (was_dollar) push(Where::param);
        else ++f.braces;
        break;
      case '}':
        if (f.braces > 0) --f.braces;
        break;
      case '[':
        if (was_dollar) push_bracket_arith();
        break;
      case '#':
        if (word_start) comment_ = true;
        break;
      case '\n':
        newline();
        at_word_start_ = true;
        break;
      case ' ':
      case '\t':
      case ';':
      case '&':
      case '|':
      case '>':
        at_word_start_ = true;
        break;
      default: break;
    }
  }

  // The word after << (here-document delimiter); true when `c` was consumed.
  bool hd_word_char(char c) {
    switch (hd_) {
      case Hd::after_op:
        if (c == '<') {  // <<< is a here-string
          hd_ = Hd::none;
          lt_ = 0;
          return true;
        }
        lt_ = 0;
        hd_ = Hd::before_word;
        if (c == '-') {
          hd_strip_ = true;
          return true;
        }
        [[fallthrough]];
      case Hd::before_word:
        if (c == ' ' || c == '\t') return true;
        if (c == '\n' || is_meta(c)) {
          hd_ = Hd::none;  // a syntax error of the author's: sh says so
          return false;
        }
        hd_ = Hd::word;
        hd_delim_.clear();
        hd_quoted_ = false;
        hd_q_ = 0;
        hd_esc_ = false;
        [[fallthrough]];
      case Hd::word:
        if (hd_esc_) {
          hd_esc_ = false;
          hd_delim_ += c;
          return true;
        }
        if (hd_q_ == '\'') {
          if (c == '\'') hd_q_ = 0;
          else hd_delim_ += c;
          return true;
        }
        if (hd_q_ == '"') {
          if (c == '"') hd_q_ = 0;
          else if (c == '\\') hd_esc_ = true;
          else hd_delim_ += c;
          return true;
        }
        if (c == '\\') {
          hd_esc_ = hd_quoted_ = true;
          return true;
        }
        if (c == '\'' || c == '"') {
          hd_q_ = c;
          hd_quoted_ = true;
          return true;
        }
        if (c == ' ' || c == '\t' || c == '\n' || is_meta(c)) {
          pending_.push_back({hd_delim_, hd_quoted_, hd_strip_, stack_.size()});
          hd_ = Hd::none;
          return false;
        }
        if (c == '$' || c == '`') uncertain_ = true;  // an expansion in a delimiter
        hd_delim_ += c;
        return true;
      case Hd::none: break;
    }
    return false;
  }

  void newline() {
    if (pending_.empty()) return;
    body_ = pending_.front();
    pending_.erase(pending_.begin());
    if (body_->frame_depth != stack_.size()) uncertain_ = true;
    body_spot_ = ArithSpot();
    line_.clear();
    line_has_value_ = false;
    body_esc_ = false;
    dollar_ = false;
  }

  void check_line() {
    std::string_view l = line_;
    if (body_->strip_tabs)
      while (!l.empty() && l.front() == '\t') l.remove_prefix(1);
    if (l != body_->delim) return;
    if (line_has_value_) bad_line_ = true;
    body_.reset();
    if (!pending_.empty()) newline();
  }

  void body_char(char c) {
    if (c == '\n') {
      if (body_esc_ && !body_->quoted) uncertain_ = true;  // a line continuation
      body_esc_ = false;
      dollar_ = false;
      if (!body_->quoted) body_spot_.step(c);
      check_line();
      line_.clear();
      line_has_value_ = false;
      return;
    }
    if (line_.size() <= body_->delim.size() + 64) line_ += c;  // longer lines are never the delimiter
    else line_ += '\x01';
    if (body_->quoted) return;
    if (body_esc_) {
      body_esc_ = false;
      dollar_ = false;
      body_spot_.step(0);
      return;
    }
    if (c == '\\') {
      body_esc_ = true;
      dollar_ = false;
      return;
    }
    body_spot_.step(c);
    if (c == '`' || (dollar_ && (c == '(' || c == '{' || c == '['))) uncertain_ = true;  // expansions are not followed
    dollar_ = c == '$';
  }

  std::vector<Frame> stack_;
  bool escape_ = false, dollar_ = false, comment_ = false, at_word_start_ = true, uncertain_ = false;
  std::string word_;
  bool word_valid_ = true;
  int lt_ = 0;
  char open_run_ = 0;  // a ( or a [ that began a word: a second one right after it is (( or [[
  int close_run_ = 0;  // ] read at the start of a word (1), then another (2): ]] ends [[
  // here-documents
  Hd hd_ = Hd::none;
  std::string hd_delim_;
  bool hd_quoted_ = false, hd_strip_ = false, hd_esc_ = false;
  char hd_q_ = 0;
  std::vector<Heredoc> pending_;
  std::optional<Heredoc> body_;
  ArithSpot body_spot_;  // an arithmetic expansion in the current here-document
  std::string line_;
  bool line_has_value_ = false, body_esc_ = false, bad_line_ = false;
};

bool is_integer_text(std::string_view v) {
  size_t i = !v.empty() && (v[0] == '-' || v[0] == '+') ? 1 : 0;
  if (i >= v.size()) return false;
  for (; i < v.size(); ++i)
    if (!is_digit(static_cast<unsigned char>(v[i]))) return false;
  return true;
}

const char* kUseEnv =
    "; pass such a value in the environment instead (\"$BATON_PARAM_NAME\" for params, or an `env` entry)";

// ============================================================ sql

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

// ============================================================ url

bool is_unreserved(unsigned char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

std::string percent_encode(std::string_view v, bool dots_too) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(v.size());
  for (unsigned char c : v) {
    if (is_unreserved(c) && !(dots_too && c == '.')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool host_char(unsigned char c) {
  return is_alnum(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == ':' || c == '[' || c == ']';
}

// Where the next byte of a URL being written stands.
class UrlScanner {
 public:
  enum class Where { start, scheme, authority, path, query, fragment };
  Where where() const { return w_; }
  void feed(std::string_view s) {
    for (char c : s) step(c);
  }

 private:
  void step(char c) {
    switch (w_) {
      case Where::start:
      case Where::scheme:
        w_ = Where::scheme;
        if (colon_ == 0 && c == ':') colon_ = 1;
        else if (colon_ == 1 && c == '/') colon_ = 2;
        else if (colon_ == 2 && c == '/') w_ = Where::authority;
        else if (colon_ > 0) w_ = Where::path;  // not scheme://: the URL is invalid, said later
        else if (c == '/' || c == '?' || c == '#') w_ = c == '?' ? Where::query : c == '#' ? Where::fragment : Where::path;
        return;
      case Where::authority:
        if (c == '/') w_ = Where::path;
        else if (c == '?') w_ = Where::query;
        else if (c == '#') w_ = Where::fragment;
        return;
      case Where::path:
        if (c == '?') w_ = Where::query;
        else if (c == '#') w_ = Where::fragment;
        return;
      case Where::query:
        if (c == '#') w_ = Where::fragment;
        return;
      case Where::fragment: return;
    }
  }
  Where w_ = Where::start;
  int colon_ = 0;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// A URL in a message: its passwords masked, at most 200 bytes shown.
std::string url_shown(std::string_view url) {
  std::string masked = url.size() <= 64 * 1024 ? mask_secrets(url) : std::string(url.substr(0, 200));
  std::string s = shown(std::string_view(masked).substr(0, 200), 200);
  if (masked.size() > 200) s += "... (" + std::to_string(url.size()) + " bytes)";
  return s;
}

}  // namespace

// ---------------------------------------------------------------- shell

bool shell_safe(std::string_view v) {
  if (v.empty()) return false;
  for (unsigned char c : v)
    if (!is_alnum(c) && (c == 0 || !std::strchr("_@%+=:,./-", c))) return false;
  return true;
}

std::string shell_quote(std::string_view v) {
  if (v.empty()) return "''";
  if (shell_safe(v)) return std::string(v);
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += "'\"'\"'";
    else out += c;
  }
  return out + "'";
}

Result<std::string> compose_shell(const std::vector<RenderedPiece>& pieces) {
  using W = ShellLexer::Where;
  ShellLexer lx;
  std::string out;
  std::string last_in_body;  // the last value written into a here-document
  auto bad_line = [&] {
    return Error{"template_error", last_in_body +
                                       " makes a line of a here-document equal to its delimiter, which would end "
                                       "the here-document early"};
  };
  for (const auto& p : pieces) {
    if (p.kind == RenderedPiece::Kind::text || p.kind == RenderedPiece::Kind::raw) {
      out += p.text;
      lx.feed(p.text);
      if (lx.bad_line()) return bad_line();
      continue;
    }
    const std::string& v = p.text;
    auto fail = [&](const std::string& why) { return Error{"template_error", value_of(p) + " " + why}; };
    if (v.find('\0') != std::string::npos) return fail("holds a NUL byte, which a command cannot carry");
    W w = lx.where();
    bool any = shell_safe(v) || v.empty();
    if (lx.after_backslash() && w != W::single && w != W::heredoc_quoted && w != W::comment)
      return fail("stands right after a backslash, which would escape the value's first character; "
                  "remove the backslash");
    if (lx.after_dollar() && w != W::single && w != W::heredoc_quoted && w != W::comment && w != W::ansi)
      return fail("stands right after a `$`: its value would be read as (part of) a variable name; "
                  "write \\$ or put a space after the `$`");
    if (w != W::arith && lx.in_arith() && !is_integer_text(v))
      return fail("(\"" + shown(v) +
                  "\") stands in a place bash evaluates as arithmetic (((...)), $((...)), $[...], [[...]], "
                  "${X:offset} or ${X[index]}), where only an integer can stand: bash would read any other text, "
                  "and a name there as an expression of its own" + std::string(kUseEnv));
    if (lx.uncertain() && !any)
      return fail("(\"" + shown(v) +
                  "\") stands after shell syntax Baton does not follow for quoting (a `case` inside $(...), quotes "
                  "inside ${...}, an expansion or a line continuation inside a here-document): only a value made "
                  "of A-Za-z0-9_@%+=:,./- can stand there" + kUseEnv);
    std::string enc;
    switch (w) {
      case W::plain:
        // Inside an unquoted {...} of the word, bash would expand a , or ..
        if (lx.brace_open() && (v.find(',') != std::string::npos || v.find("..") != std::string::npos)) {
          enc = "'";
          for (char c : v) {
            if (c == '\'') enc += "'\"'\"'";
            else enc += c;
          }
          enc += "'";
        } else {
          enc = shell_quote(v);
        }
        break;
      case W::single:
        for (char c : v) {
          if (c == '\'') enc += "'\"'\"'";
          else enc += c;
        }
        break;
      case W::dquote:
        for (char c : v) {
          if (c == '$' || c == '`' || c == '"' || c == '\\') enc += '\\';
          enc += c;
        }
        break;
      case W::heredoc:
      case W::heredoc_quoted:
        if (v.find('\n') != std::string::npos)
          return fail("holds a line break, which would end a line of the here-document it stands in" +
                      std::string(kUseEnv));
        for (char c : v) {
          if (w == W::heredoc && (c == '$' || c == '`' || c == '\\')) enc += '\\';
          enc += c;
        }
        last_in_body = value_of(p);
        break;
      case W::comment:
        if (v.find('\n') != std::string::npos)
          return fail("holds a line break, which would end the shell comment it stands in");
        enc = v;
        break;
      case W::backtick:
      case W::ansi:
        if (!any)
          return fail("(\"" + shown(v) + "\") stands inside " + (w == W::backtick ? "`...`" : "$'...'") +
                      ", where only a value made of A-Za-z0-9_@%+=:,./- can stand; use $(...) instead of "
                      "backquotes" + kUseEnv);
        enc = v;
        break;
      case W::arith:
        if (!is_integer_text(v))
          return fail("(\"" + shown(v) + "\") stands inside $((...)), where only an integer can stand");
        enc = v;
        break;
      case W::param:
        if (!lx.param_word())
          return fail("stands in the name of a ${...} expansion: a value cannot choose which variable is read");
        if (!any)
          return fail("(\"" + shown(v) + "\") stands inside ${...}, where only a value made of "
                      "A-Za-z0-9_@%+=:,./- can stand" + kUseEnv);
        enc = v;
        break;
      case W::heredoc_word:
        return fail("stands in a here-document's delimiter (after <<), which must be the author's own text");
    }
    lx.value_begins();
    out += enc;
    lx.feed(enc);
    if (lx.bad_line()) return bad_line();
  }
  lx.finish();
  if (lx.bad_line()) return bad_line();
  return out;
}

Result<std::string> render_shell(std::string_view text, const RenderContext& ctx) {
  auto pieces = render_pieces(text, ctx);
  if (!pieces) return pieces.error();
  return compose_shell(*pieces);
}

// ---------------------------------------------------------------- sql

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

// ---------------------------------------------------------------- url

Result<HttpUrl> parse_http_url(std::string_view url) {
  auto bad = [&](const std::string& why) -> Error {
    return Error::invalid("url \"" + url_shown(url) + "\" " + why);
  };
  if (url.size() > kMaxUrlBytes)
    return Error::invalid("url is " + std::to_string(url.size()) + " bytes; a url may have at most " +
                          std::to_string(kMaxUrlBytes) + " (8 KiB): \"" + url_shown(url) + "\"");
  size_t colon = 0;
  while (colon < url.size() && colon < 16 && is_alpha(static_cast<unsigned char>(url[colon]))) ++colon;
  HttpUrl u;
  u.scheme = lower(url.substr(0, colon));
  if ((u.scheme != "http" && u.scheme != "https") || url.substr(colon, 3) != "://")
    return bad("is not an http:// or https:// URL");
  size_t i = colon + 3;
  size_t end = i;
  while (end < url.size() && url[end] != '/' && url[end] != '?' && url[end] != '#') ++end;
  u.authority = std::string(url.substr(i, end - i));
  for (unsigned char c : url)
    if (c <= ' ' || c == 0x7f) return bad("has a space or a control character (encode it, e.g. %20)");
  // [userinfo@]host[:port]
  std::string_view auth = u.authority;
  if (size_t at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
  if (auth.empty()) return bad("has no host");
  std::string_view host = auth, port;
  if (auth.front() == '[') {
    size_t close = auth.find(']');
    if (close == std::string_view::npos) return bad("has a [ without ] in its host");
    host = auth.substr(0, close + 1);
    for (unsigned char c : host.substr(1, host.size() - 2))
      if (!(std::isxdigit(c) || c == ':' || c == '.')) return bad("has an invalid IPv6 address in its host");
    std::string_view rest = auth.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("has text after the ] of its host");
      port = rest.substr(1);
      if (port.empty()) return bad("has an empty port");
    }
  } else {
    if (size_t c = auth.rfind(':'); c != std::string_view::npos) {
      host = auth.substr(0, c);
      port = auth.substr(c + 1);
      if (port.empty()) return bad("has an empty port");
    }
    if (host.empty()) return bad("has no host");
    for (unsigned char c : host)
      if (!(is_alnum(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == '%' || c >= 0x80))
        return bad("has a host that is not a name or an address");
  }
  if (!port.empty()) {
    if (port.size() > 5) return bad("has a port outside 1-65535");
    int n = 0;
    for (unsigned char c : port) {
      if (!is_digit(c)) return bad("has a port that is not a number");
      n = n * 10 + (c - '0');
    }
    if (n < 1 || n > 65535) return bad("has a port outside 1-65535");
  }
  std::string_view rest = url.substr(end);
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  u.target = rest.empty() || rest.front() != '/' ? "/" + std::string(rest) : std::string(rest);
  return u;
}

Result<std::string> compose_url(const std::vector<RenderedPiece>& pieces) {
  using W = UrlScanner::Where;
  UrlScanner sc;
  std::string out;
  for (const auto& p : pieces) {
    if (p.kind == RenderedPiece::Kind::text || p.kind == RenderedPiece::Kind::raw) {
      out += p.text;
      sc.feed(p.text);
      continue;
    }
    const std::string& v = p.text;
    std::string enc;
    switch (sc.where()) {
      case W::start: enc = v; break;  // the value is the base URL (its host): as it is
      case W::scheme:
        return Error{"template_error", value_of(p) + " stands in the scheme of the url, where no value may stand"};
      case W::authority:
        for (unsigned char c : v)
          if (!host_char(c))
            return Error{"template_error", value_of(p) + " (\"" + shown(v) +
                                               "\") stands in the host of the url and holds a character a host or "
                                               "port cannot hold (allowed: letters, digits and . - _ ~ : [ ])"};
        enc = v;
        break;
      case W::path:
        // One segment; "." and ".." (as a whole) are encoded too, so they
        // cannot climb the path.
        enc = percent_encode(v, v.find_first_not_of('.') == std::string::npos);
        break;
      case W::query:
      case W::fragment: enc = percent_encode(v, false); break;
    }
    out += enc;
    sc.feed(enc);
    if (out.size() > kMaxUrlBytes) break;  // said below, without encoding the rest
  }
  if (out.size() > kMaxUrlBytes)
    return Error{"template_error", "the rendered url is longer than " + std::to_string(kMaxUrlBytes) +
                                       " bytes (8 KiB), the most a url may have: \"" + url_shown(out) + "\""};
  auto u = parse_http_url(out);
  if (!u) return Error{"template_error", u.error().message};
  return out;
}

Result<std::string> render_url(std::string_view text, const RenderContext& ctx) {
  auto pieces = render_pieces(text, ctx);
  if (!pieces) return pieces.error();
  return compose_url(*pieces);
}

Status check_url_template(std::string_view text) {
  if (text.find("{{") == std::string_view::npos) {
    auto u = parse_http_url(text);
    if (!u) return u.error();
    return {};
  }
  // The literal text alone: templates only add to it.
  size_t literal = 0, i = 0;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      literal += text.size() - i;
      break;
    }
    literal += open - i;
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    i = close + 2;
  }
  if (literal > kMaxUrlBytes)
    return Error::invalid("the url's text (without its templates) is " + std::to_string(literal) +
                          " bytes; a url may have at most " + std::to_string(kMaxUrlBytes) + " (8 KiB)");
  return {};
}

// ---------------------------------------------------------------- headers

Status check_header_value(std::string_view name, std::string_view value) {
  for (unsigned char c : value)
    if (c == '\r' || c == '\n' || c == 0)
      return Error{"template_error", "header \"" + shown(name) + "\": the value holds " +
                                         (c == 0 ? "a NUL byte" : c == '\r' ? "a CR" : "an LF") +
                                         ", which would end the header (\"" + shown(value) + "\")"};
  return {};
}

Result<std::string> render_header(std::string_view name, std::string_view text, const RenderContext& ctx) {
  auto r = render_template(text, ctx);
  if (!r) return r;
  if (auto st = check_header_value(name, *r); !st) return st.error();
  return r;
}

}  // namespace baton::dsl
