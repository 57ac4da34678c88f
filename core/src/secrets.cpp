#include "baton/core/secrets.h"

#include <algorithm>
#include <set>

namespace baton {

namespace {

struct Span {
  size_t begin, end;  // [begin, end) of a secret in the text
  enum class Kind { userinfo, url, quoted } kind;
};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != prefix[i]) return false;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = -1, lo = -1;
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex_digit(s[i + 1])) >= 0 && (lo = hex_digit(s[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A quoted value `'a b\'c'` (libpq) or `"a b\"c"` without its quotes and
// escapes.
std::string unquote(std::string_view s) {
  std::string out;
  size_t end = s.size() >= 2 && s.back() == s.front() ? s.size() - 1 : s.size();
  for (size_t i = 1; i < end; ++i) {
    if (s[i] == '\\' && i + 1 < end) ++i;
    out += s[i];
  }
  return out;
}

bool scheme_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' ||
         c == '-';
}

// Whether `://` starts at t[i].
bool url_separator_at(std::string_view t, size_t i) {
  return i + 2 < t.size() && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/';
}

// The password of each `scheme://user:PASSWORD@` in `t`. One pass: each
// URL's authority is scanned once, up to a blank or the next URL's `://`
// (URLs in a list or in compact JSON have no blank between them), and the
// search goes on from there.
void userinfo_spans(std::string_view t, std::vector<Span>& out) {
  size_t pos = 0;
  while (pos < t.size()) {
    size_t p = t.find("://", pos);
    if (p == std::string_view::npos) return;
    size_t start = p + 3;
    // The scheme: `sqlite://PATH` names a file, whatever it holds.
    size_t s = p;
    while (s > 0 && p - s < 16 && scheme_char(t[s - 1])) --s;
    bool sqlite = p - s == 6 && starts_with_icase(t.substr(s), "sqlite");
    size_t query = std::string_view::npos, colon = std::string_view::npos;
    size_t at_before_query = std::string_view::npos, last_at = std::string_view::npos;
    bool slash_before_query = false;
    size_t i = start;
    for (; i < t.size() && !blank(t[i]) && !url_separator_at(t, i); ++i) {
      char c = t[i];
      if (c == '@') {
        last_at = i;
        if (query == std::string_view::npos) at_before_query = i;
      } else if ((c == '?' || c == '#') && query == std::string_view::npos) {
        query = i;
      } else if (c == '/' && query == std::string_view::npos) {
        slash_before_query = true;
      } else if (c == ':' && colon == std::string_view::npos) {
        colon = i;
      }
    }
    // The user info ends at the last `@` before the query; with none there,
    // at the last `@` after it when no path came first (a password with `?`).
    size_t at = at_before_query != std::string_view::npos ? at_before_query
                : !slash_before_query                     ? last_at
                                                          : std::string_view::npos;
    if (!sqlite && at != std::string_view::npos && colon != std::string_view::npos && colon + 1 < at)
      out.push_back({colon + 1, at, Span::Kind::userinfo});
    pos = std::max(i, start);
  }
}

bool key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '%' ||
         c == '-' || c == '.';
}

bool key_delimiter(char c) {
  return blank(c) || c == '?' || c == '&' || c == ';' || c == ',' || c == '(' || c == '"' || c == '\'' ||
         c == '{' || c == '[';
}

// "sslpassword" percent-encoded whole is 33 bytes: longer keys are not ours.
constexpr size_t kMaxKey = 48;

bool secret_key(std::string_view key) {
  std::string k = percent_decode(key);
  for (char& c : k) c = lower(c);
  return k == "password" || k == "sslpassword";
}

// The value of each password= / sslpassword= parameter or keyword in `t`.
// Each `=` looks back over at most the blanks before it (which no other `=`
// looks at) and kMaxKey bytes of key; a value found is skipped whole.
void parameter_spans(std::string_view t, std::vector<Span>& out) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != '=') continue;
    size_t kend = i;
    while (kend > 0 && (t[kend - 1] == ' ' || t[kend - 1] == '\t')) --kend;
    size_t kb = kend;
    while (kb > 0 && kend - kb <= kMaxKey && key_char(t[kb - 1])) --kb;
    if (kb == kend || kend - kb > kMaxKey) continue;
    if (kb > 0 && !key_delimiter(t[kb - 1])) continue;
    if (!secret_key(t.substr(kb, kend - kb))) continue;
    bool query = kb > 0 && (t[kb - 1] == '?' || t[kb - 1] == '&');
    size_t v = i + 1, e;
    Span::Kind kind = Span::Kind::url;
    if (query) {
      e = v;
      while (e < t.size() && t[e] != '&' && t[e] != '#' && !blank(t[e])) ++e;
    } else {
      while (v < t.size() && (t[v] == ' ' || t[v] == '\t')) ++v;
      e = v;
      if (v < t.size() && (t[v] == '\'' || t[v] == '"')) {  // libpq: 'a b\'c'; also "a b\"c"
        kind = Span::Kind::quoted;
        const char quote = t[v];
        for (e = v + 1; e < t.size(); ++e) {
          if (t[e] == '\\' && e + 1 < t.size()) {
            ++e;
          } else if (t[e] == quote) {
            ++e;
            break;
          }
        }
      } else {
        while (e < t.size() && !blank(t[e])) e += t[e] == '\\' && e + 1 < t.size() ? 2 : 1;
        e = std::min(e, t.size());
      }
    }
    if (e > v) {
      out.push_back({v, e, kind});
      i = e - 1;
    }
  }
}

std::string replace_spans(std::string_view t, const std::vector<Span>& spans) {
  std::string out;
  out.reserve(t.size());
  size_t at = 0;
  for (const Span& s : spans) {  // in order, not overlapping
    out.append(t.substr(at, s.begin - at));
    out.append(kMasked);
    at = s.end;
  }
  out.append(t.substr(at));
  return out;
}

// Each `sqlite:` URL in `t` ([begin, end): from its scheme, not part of a
// longer one, to a blank or the next URL's `://`): a file name, in which
// nothing is a password.
std::vector<std::pair<size_t, size_t>> sqlite_urls(std::string_view t) {
  std::vector<std::pair<size_t, size_t>> out;
  constexpr std::string_view scheme = "sqlite:";
  for (size_t i = 0; i + scheme.size() <= t.size(); ++i) {
    if (lower(t[i]) != 's' || !starts_with_icase(t.substr(i), scheme)) continue;
    if (i > 0 && scheme_char(t[i - 1])) continue;  // mysqlite:
    size_t e = i + scheme.size();
    while (e < t.size() && !blank(t[e]) && !url_separator_at(t, e)) ++e;
    out.emplace_back(i, e);
    i = e - 1;
  }
  return out;
}

// Drops from spans[from..] (in order) those that start inside a sqlite: URL of `t`.
void drop_sqlite(std::string_view t, std::vector<Span>& spans, size_t from = 0) {
  auto urls = sqlite_urls(t);
  if (urls.empty()) return;
  size_t u = 0, kept = from;
  for (size_t k = from; k < spans.size(); ++k) {
    while (u < urls.size() && urls[u].second <= spans[k].begin) ++u;
    if (u < urls.size() && urls[u].first <= spans[k].begin) continue;
    spans[kept++] = spans[k];
  }
  spans.resize(kept);
}

}  // namespace

std::string mask_secrets(std::string_view text) {
  std::vector<Span> spans;
  userinfo_spans(text, spans);
  drop_sqlite(text, spans);
  std::string once = replace_spans(text, spans);
  spans.clear();
  parameter_spans(once, spans);
  drop_sqlite(once, spans);
  return replace_spans(once, spans);
}

std::vector<std::string> find_secrets(std::string_view text) {
  std::vector<std::string> out;
  std::vector<Span> spans;
  userinfo_spans(text, spans);
  drop_sqlite(text, spans);
  const size_t params = spans.size();
  parameter_spans(text, spans);
  drop_sqlite(text, spans, params);
  std::set<std::string> seen;
  auto add = [&](std::string s) {
    if (!s.empty() && seen.insert(s).second) out.push_back(std::move(s));
  };
  for (const Span& s : spans) {
    std::string_view raw = text.substr(s.begin, s.end - s.begin);
    add(std::string(raw));
    std::string plain = s.kind == Span::Kind::quoted ? unquote(raw) : percent_decode(raw);
    add(plain);
    // A password holding `/`, `@`, `?` or `#` unencoded is cut there by libpq,
    // whose error may then quote a piece of it ("invalid port "ab"").
    if (s.kind == Span::Kind::userinfo)
      for (const std::string& whole : {std::string(raw), plain}) {
        size_t from = 0;
        for (size_t i = 0; i <= whole.size(); ++i)
          if (i == whole.size() || whole[i] == '/' || whole[i] == '@' || whole[i] == '?' || whole[i] == '#' ||
              whole[i] == ':') {
            if (from > 0 || i < whole.size()) add(whole.substr(from, i - from));
            from = i + 1;
          }
      }
  }
  return out;
}

// ---------------------------------------------------------------- SecretMasker

SecretMasker::SecretMasker(const std::vector<std::string>& values) {
  nodes_.push_back({});
  std::set<std::string_view> unique;
  for (const auto& v : values)
    if (v.size() >= kMinMaskedLength && v.size() <= kMaxMaskedLength) unique.insert(v);
  for (std::string_view v : unique) {
    int node = 0;
    for (char ch : v) {
      auto c = static_cast<unsigned char>(ch);
      int next = child(node, c);
      if (next < 0) {
        next = static_cast<int>(nodes_.size());
        nodes_.push_back({0, nodes_[static_cast<size_t>(node)].depth + 1, 0, -1});
        edges_.push_back({c, next, nodes_[static_cast<size_t>(node)].first_edge});
        nodes_[static_cast<size_t>(node)].first_edge = static_cast<int>(edges_.size()) - 1;
      }
      node = next;
    }
    nodes_[static_cast<size_t>(node)].match = static_cast<int>(v.size());
  }
  // Failure links, breadth first: a node's link is shallower, so done before it.
  std::vector<int> queue;
  queue.reserve(nodes_.size());
  queue.push_back(0);
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    int u = queue[qi];
    for (int e = nodes_[static_cast<size_t>(u)].first_edge; e >= 0; e = edges_[static_cast<size_t>(e)].next) {
      const Edge edge = edges_[static_cast<size_t>(e)];
      Node& w = nodes_[static_cast<size_t>(edge.to)];
      w.fail = u == 0 ? 0 : step(nodes_[static_cast<size_t>(u)].fail, edge.byte);
      if (w.match == 0) w.match = nodes_[static_cast<size_t>(w.fail)].match;
      queue.push_back(edge.to);
    }
  }
}

int SecretMasker::child(int node, unsigned char byte) const {
  for (int e = nodes_[static_cast<size_t>(node)].first_edge; e >= 0; e = edges_[static_cast<size_t>(e)].next)
    if (edges_[static_cast<size_t>(e)].byte == byte) return edges_[static_cast<size_t>(e)].to;
  return -1;
}

int SecretMasker::step(int node, unsigned char byte) const {
  for (;;) {
    int next = child(node, byte);
    if (next >= 0) return next;
    if (node == 0) return 0;
    node = nodes_[static_cast<size_t>(node)].fail;
  }
}

// Every byte of every occurrence is masked: at each position the longest
// value ending there (Node::match) gives an interval, and intervals that
// overlap are merged into one *** (a value inside another, or two that
// overlap). The automaton is never reset at a match, so that a longer value
// still growing around a shorter one is seen. An interval is written once
// no later occurrence can overlap it: a later one starts inside the current
// state's text or after it (at or after `f` below), so intervals ending
// before f are final, and bytes before f outside every interval are plain.
void SecretMasker::feed(std::string_view in, std::string& out) {
  if (empty()) {
    out.append(in);
    return;
  }
  // held_ holds the bytes from absolute position written_ on (from held_at_
  // in it): the current state's text, which may still be part of a value.
  auto write_plain = [&](unsigned long long to) {  // bytes [written_, to) as they are
    if (to <= written_) return;
    out.append(held_, held_at_, static_cast<size_t>(to - written_));
    held_at_ += static_cast<size_t>(to - written_);
    written_ = to;
  };
  auto skip = [&](unsigned long long to) {  // bytes [written_, to) are masked
    if (to <= written_) return;
    held_at_ += static_cast<size_t>(to - written_);
    written_ = to;
  };
  for (char ch : in) {
    held_ += ch;
    const unsigned long long i = pos_++;
    state_ = step(state_, static_cast<unsigned char>(ch));
    const Node& n = nodes_[static_cast<size_t>(state_)];
    if (n.match > 0) {
      Interval v{i + 1 - static_cast<unsigned long long>(n.match), i + 1};
      while (!pending_.empty() && pending_.back().end > v.begin) {  // overlapping: one ***
        v.begin = std::min(v.begin, pending_.back().begin);
        pending_.pop_back();
      }
      pending_.push_back(v);
    }
    const unsigned long long f = pos_ - static_cast<unsigned long long>(n.depth);
    while (!pending_.empty() && pending_.front().end <= f) {
      write_plain(pending_.front().begin);
      skip(pending_.front().end);
      out.append(kMasked);
      pending_.pop_front();
    }
    if (pending_.empty() || pending_.front().begin >= f) {
      write_plain(f);
    } else {
      write_plain(pending_.front().begin);
      skip(f);  // inside the interval being masked
    }
    if (held_at_ > 4096 && held_at_ * 2 > held_.size()) {
      held_.erase(0, held_at_);
      held_at_ = 0;
    }
  }
  held_.erase(0, held_at_);
  held_at_ = 0;
}

void SecretMasker::flush(std::string& out) {
  // What is held is written; intervals found are masked whatever may follow.
  size_t at = 0;
  for (const Interval& v : pending_) {
    if (v.begin > written_ + at) {
      size_t plain = static_cast<size_t>(v.begin - written_) - at;
      out.append(held_, at, plain);
      at += plain;
    }
    at = std::max(at, static_cast<size_t>(v.end - written_));
    out.append(kMasked);
  }
  if (at < held_.size()) out.append(held_, at, std::string::npos);
  pending_.clear();
  held_.clear();
  held_at_ = 0;
  written_ = pos_ = 0;
  state_ = 0;
}

std::string SecretMasker::mask(std::string_view text) {
  std::string out;
  flush(out);
  feed(text, out);
  flush(out);
  return out;
}

std::string mask_message(std::string_view message, std::string_view url) {
  std::string masked = mask_secrets(message);
  auto secrets = find_secrets(url);
  if (secrets.empty()) return masked;
  return SecretMasker(secrets).mask(masked);
}

}  // namespace baton
