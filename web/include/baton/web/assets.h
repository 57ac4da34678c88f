// The web UI's files (web/index.html, web/style.css, web/js/...), compiled
// into the binary at build time so that a server needs no folder beside it.
// Immutable after start: safe from any thread.
#pragma once

#include <string_view>

namespace baton::web {

struct Asset {
  std::string_view path;          // "/index.html", "/js/app.js", ...
  std::string_view content_type;  // from the file's extension
  std::string_view body;
};

// The file at a URL path; "/" is index.html. nullptr when there is none.
const Asset* find_asset(std::string_view path);

}  // namespace baton::web
