// The files of `--web DIR` (web_dir): a request path mapped to a file under
// that folder and nowhere else. A path holding a control byte or a `..`
// segment is refused; every component is opened without following symbolic
// links (O_NOFOLLOW, from the folder down with openat), so neither a link
// nor a race with one can lead out of the folder; `/` and folders mean their
// index.html. The content type comes from the file name's extension.
#pragma once

#include <optional>
#include <string>

#include "baton/core/result.h"
#include "http.h"

namespace baton::api {

// The folder can be served: it exists and is a directory.
Status check_web_dir(const std::string& web_dir);

// The answer for a GET of `path` (percent-decoded), or nothing when no such
// file is there (the caller answers 404). Files over 16 MiB are refused.
std::optional<HttpResponse> serve_static(const std::string& web_dir, const std::string& path);

// The content type for a file name, by its extension.
std::string content_type_for(const std::string& name);

}  // namespace baton::api
