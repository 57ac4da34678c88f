// The files of web_dir (see the header).
#include "static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace baton::api {

namespace {

constexpr off_t kMaxFileBytes = 16 << 20;

// A descriptor closed when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

HttpResponse refused(const std::string& why) { return error_response(400, "invalid_argument", why); }

}  // namespace

Status check_web_dir(const std::string& web_dir) {
  struct stat st {};
  if (::stat(web_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Error::invalid("web_dir \"" + web_dir + "\" is not a directory");
  return {};
}

std::string content_type_for(const std::string& name) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},       {".json", "application/json"},
      {".svg", "image/svg+xml"},                 {".png", "image/png"},
      {".ico", "image/x-icon"},                  {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},              {".woff2", "font/woff2"}};
  for (auto& [ext, type] : kTypes)
    if (ends_with(name, ext)) return type;
  return "application/octet-stream";
}

std::optional<HttpResponse> serve_static(const std::string& web_dir, const std::string& path) {
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f) return refused("the path holds a control byte (NUL, CR, LF, ...): not a file name");
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") return refused("the path holds a `..` segment: files are served only from the web folder");
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  Fd dir(::open(web_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd < 0) return std::nullopt;
  // Down the folders, never through a link.
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    Fd next(::openat(dir.fd, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.fd < 0) return std::nullopt;
    dir = std::move(next);
  }
  std::string name = parts.empty() ? "index.html" : parts.back();
  Fd file(::openat(dir.fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (file.fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return std::nullopt;
  if (S_ISDIR(st.st_mode)) {
    Fd index(::openat(file.fd, "index.html", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (index.fd < 0 || ::fstat(index.fd, &st) != 0) return std::nullopt;
    file = std::move(index);
    name = "index.html";
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  if (st.st_size > kMaxFileBytes) return error_response(500, "internal", "the file is larger than 16 MiB: not served");
  HttpResponse r;
  r.body.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < r.body.size()) {
    ssize_t n = ::read(file.fd, r.body.data() + got, r.body.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  r.body.resize(got);
  r.content_type = content_type_for(name);
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

}  // namespace baton::api
