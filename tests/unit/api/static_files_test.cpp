// The files of web_dir: only regular files under the folder, never through a
// link, never a name with a control byte or `..`.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "static_files.h"

namespace fs = std::filesystem;
using baton::api::serve_static;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "baton-static-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

}  // namespace

TEST_CASE("files under the web folder are served with their type; / is index.html") {
  TempDir d;
  fs::create_directories(d.path / "web" / "sub");
  write(d.path / "web" / "index.html", "<p>home</p>");
  write(d.path / "web" / "sub" / "app.js", "x()");
  auto home = serve_static((d.path / "web").string(), "/");
  REQUIRE(home);
  CHECK(home->status == 200);
  CHECK(home->body == "<p>home</p>");
  CHECK(home->content_type.rfind("text/html", 0) == 0);
  auto js = serve_static((d.path / "web").string(), "/sub/app.js");
  REQUIRE(js);
  CHECK(js->content_type.rfind("text/javascript", 0) == 0);
  CHECK_FALSE(serve_static((d.path / "web").string(), "/missing.html"));
}

TEST_CASE("a NUL, a control byte or a .. segment is refused") {
  TempDir d;
  write(d.path / "a.txt", "text");
  std::string nul = std::string("/a.txt") + '\0' + ".html";
  auto r = serve_static(d.path.string(), nul);
  REQUIRE(r);
  CHECK(r->status == 400);
  auto up = serve_static((d.path / "x").string(), "/../a.txt");
  REQUIRE(up);
  CHECK(up->status == 400);
}

TEST_CASE("symbolic links are never followed, in the name or on the way") {
  TempDir d;
  fs::create_directories(d.path / "web");
  fs::create_directories(d.path / "outside");
  write(d.path / "outside" / "secret.txt", "secret");
  fs::create_symlink(d.path / "outside" / "secret.txt", d.path / "web" / "link.txt");
  fs::create_directory_symlink(d.path / "outside", d.path / "web" / "dir");
  fs::create_symlink("/etc/passwd", d.path / "web" / "passwd.html");
  std::string web = (d.path / "web").string();
  CHECK_FALSE(serve_static(web, "/link.txt"));
  CHECK_FALSE(serve_static(web, "/dir/secret.txt"));
  CHECK_FALSE(serve_static(web, "/passwd.html"));
}
