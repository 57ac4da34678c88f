// The renderers of an http task's `url` and headers (render.h): a scanner
// follows the URL being written (scheme, host, path, query, fragment) so that
// each value is percent-encoded for where it stands; the result must parse as
// an http(s) URL of at most 8 KiB. A header's value may hold no CR, LF or NUL.
#include "baton/dsl/render.h"

#include <cctype>

#include "baton/core/secrets.h"
#include "render_text.h"

namespace baton::dsl {

using namespace render_text;

namespace {

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
