// The renderer of a `command` (render.h): a lexer of POSIX sh reads the
// author's text (and what it has written so far) one byte at a time, so that
// it knows where the next value stands, and each value is quoted or escaped
// for that place, or refused with the reason. Linear in the text and the
// values, no regular expressions, no recursion.
#include "baton/dsl/render.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "render_text.h"

namespace baton::dsl {

using namespace render_text;

namespace {

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

}  // namespace

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

}  // namespace baton::dsl
