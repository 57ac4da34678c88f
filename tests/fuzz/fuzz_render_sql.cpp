// Fuzz target: the sql renderer (dsl::compose_sql), on both dialects. Any
// pieces must never crash; a value must never add a statement or change
// where the author's statements end: the same template with a neutral value
// ("v") in each place must render too, with the same statements and the
// same number of bound parameters.
#include <cstdlib>
#include <string>

#include "baton/dsl/render.h"
#include "render_fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using baton::dsl::RenderedPiece;
  auto dialect = data[0] & 1 ? baton::dsl::SqlDialect::postgres : baton::dsl::SqlDialect::sqlite;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto pieces = fuzz::pieces(in, "abcEU&$ '\"`[];()-/*\n=,0");
  auto r = baton::dsl::compose_sql(pieces, dialect);
  if (!r) return 0;
  bool raw = false;
  auto neutral = pieces;
  for (auto& p : neutral) {
    if (p.kind == RenderedPiece::Kind::raw) raw = true;
    if (p.kind != RenderedPiece::Kind::text) p.text = "v";
  }
  if (raw) return 0;  // opted out
  auto n = baton::dsl::compose_sql(neutral, dialect);
  if (!n) std::abort();  // a hostile value passed where a plain one fails
  if (n->params.size() != r->params.size() || n->statements.size() != r->statements.size()) std::abort();
  for (size_t i = 0; i < r->statements.size(); ++i)
    if (n->statements[i].params.size() != r->statements[i].params.size()) std::abort();
  return 0;
}
