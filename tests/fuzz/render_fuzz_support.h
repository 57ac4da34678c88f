// Shared by the renderers' fuzz targets: the input cut into pieces. Bytes
// are split at 0x1f (unit separator): even pieces are the author's text,
// odd ones values (a value's first byte picks its kind: 'R' raw, 'I' ident,
// anything else a plain value, the byte kept). Literal text may be mapped
// into a small alphabet (its own bytes kept) so that the targets can check
// the structure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "baton/dsl/template.h"

namespace fuzz {

inline std::vector<baton::dsl::RenderedPiece> pieces(std::string_view in, std::string_view alphabet,
                                                     bool kinds = true) {
  using baton::dsl::RenderedPiece;
  std::vector<RenderedPiece> out;
  size_t start = 0;
  bool literal = true;
  while (start <= in.size()) {
    size_t end = in.find('\x1f', start);
    if (end == std::string_view::npos) end = in.size();
    std::string_view part = in.substr(start, end - start);
    RenderedPiece p;
    if (literal) {
      // Bytes of the alphabet stay as they are (readable seeds); others map into it.
      for (unsigned char c : part)
        p.text += alphabet.empty() || alphabet.find(static_cast<char>(c)) != std::string_view::npos
                      ? static_cast<char>(c)
                      : alphabet[c % alphabet.size()];
    } else {
      p.kind = RenderedPiece::Kind::value;
      if (kinds && !part.empty() && (part[0] == 'R' || part[0] == 'I')) {
        p.kind = part[0] == 'R' ? RenderedPiece::Kind::raw : RenderedPiece::Kind::ident;
        part.remove_prefix(1);
      }
      p.text = std::string(part);
      p.source = "{{ params.x }}";
    }
    out.push_back(std::move(p));
    literal = !literal;
    start = end + 1;
  }
  return out;
}

}  // namespace fuzz
