// Fuzz target: the url renderer (dsl::compose_url) and parse_http_url. Any
// pieces must never crash (a std::regex used to overflow the stack on a
// long URL); a rendered URL is valid and at most 8 KiB; and a value that
// does not stand at the start or in the host never changes the URL's
// structure: the path's segments, the query's parameters and the fragment
// are those of the same template with a neutral value ("v") in each place.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "baton/dsl/render.h"
#include "render_fuzz_support.h"

namespace {

int count(const std::string& s, char c) { return static_cast<int>(std::count(s.begin(), s.end(), c)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using baton::dsl::RenderedPiece;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)baton::dsl::parse_http_url(in);  // the parser alone, on any bytes
  auto pieces = fuzz::pieces(in, "ab1:/?#&=.%@[]h");
  if (!pieces.empty() && (in.empty() || in[0] != 'x')) pieces[0].text = "http://h" + pieces[0].text;
  auto r = baton::dsl::compose_url(pieces);
  if (!r) return 0;
  if (r->size() > baton::dsl::kMaxUrlBytes || !baton::dsl::parse_http_url(*r)) std::abort();
  auto neutral = pieces;
  for (auto& p : neutral) {
    if (p.kind == RenderedPiece::Kind::raw) return 0;  // opted out
    if (p.kind != RenderedPiece::Kind::text) p.text = "v";
  }
  if (pieces[0].text.empty() || pieces[0].text.find("://") == std::string::npos) return 0;  // the host is a value
  auto n = baton::dsl::compose_url(neutral);
  if (!n) return 0;
  auto a = baton::dsl::parse_http_url(*r), b = baton::dsl::parse_http_url(*n);
  if (!a || !b) std::abort();
  // The host part may hold a value (host characters only): compare what follows it.
  for (char c : {'/', '?', '&', '='})
    if (count(a->target, c) != count(b->target, c)) std::abort();
  if (count(*r, '#') != count(*n, '#')) std::abort();
  return 0;
}
