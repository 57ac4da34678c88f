#include "baton/dsl/dag_folder.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include <sys/stat.h>

namespace baton::dsl {

namespace fs = std::filesystem;

std::vector<Diagnostic> FolderLoad::errors() const {
  std::vector<Diagnostic> out;
  for (auto& f : files) out.insert(out.end(), f.result.errors.begin(), f.result.errors.end());
  return out;
}

namespace {
bool is_dag_file(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}
}  // namespace

Result<std::vector<std::string>> find_dag_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (auto& p : paths) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return Error::not_found("no such file or folder: " + p);
    if (!fs::is_directory(st)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) return Error{"io_error", "cannot read folder " + p + ": " + ec.message()};
    for (; it != end; it.increment(ec)) {
      if (ec) return Error{"io_error", "cannot read folder " + p + ": " + ec.message()};
      const fs::path& entry = it->path();
      if (entry.filename().string().rfind('.', 0) == 0) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && is_dag_file(entry)) found.push_back(entry.string());
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  // A file named twice (or a folder and a file inside it, or a link to a
  // file also found) is read once: files are told apart by device and
  // inode, one stat each (a canonical path cost a lookup per component:
  // a tenth of the cold load of 10,000 files). What cannot be stat-ed is
  // kept by its name, for the compile to say why it cannot be read.
  std::vector<std::string> unique;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::set<std::string> unread;
  for (auto& f : out) {
    struct stat st {};
    bool fresh = ::stat(f.c_str(), &st) == 0 ? seen.insert({st.st_dev, st.st_ino}).second : unread.insert(f).second;
    if (fresh) unique.push_back(f);
  }
  return unique;
}

std::vector<LoadedFile> compile_dag_files(const std::vector<std::string>& files) {
  std::vector<LoadedFile> out(files.size());
  // Files compile independently: spread them over the cores.
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files.size();) out[i] = {files[i], compile_dag_file(files[i])};
  };
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), files.size() / 8 + 1);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return out;
}

FolderLoad load_dag_files(const std::vector<std::string>& files) { return check_unique_ids(compile_dag_files(files)); }

FolderLoad check_unique_ids(std::vector<LoadedFile> files, const std::map<std::string, std::string>& owners) {
  FolderLoad out;
  out.files = std::move(files);
  std::map<std::string, const LoadedFile*> owner;
  // The previous owners first: they keep their ids.
  for (auto& lf : out.files) {
    if (lf.refused || lf.result.dag_id.empty()) continue;
    auto was = owners.find(lf.result.dag_id);
    if (was != owners.end() && was->second == lf.path) owner.emplace(lf.result.dag_id, &lf);
  }
  for (auto& lf : out.files) {
    CompileResult& r = lf.result;
    if (lf.refused || r.dag_id.empty()) continue;
    auto [it, fresh] = owner.emplace(r.dag_id, &lf);
    if (!fresh && it->second != &lf) {
      const LoadedFile& first = *it->second;
      r.errors.push_back(
          {lf.path, r.dag_pos,
           "dag: duplicate DAG id \"" + r.dag_id + "\": already defined in " + first.path + ":" +
               std::to_string(first.result.dag_pos.line) + "; DAG ids must be unique across the folder"});
      r.graph = nullptr;
      continue;
    }
    if (r.graph) out.dags[r.dag_id] = r.graph;
  }
  return out;
}

namespace {

// Whether `file` lies below `folder` (both relative to the DAGs folder),
// component by component ("sales" holds "sales/x.yaml", not "salesforce/x.yaml").
bool under(const fs::path& file, const fs::path& folder) {
  auto f = file.begin();
  for (auto& part : folder) {
    if (part.empty() || part == ".") continue;
    if (f == file.end() || *f != part) return false;
    ++f;
  }
  return f != file.end();
}

}  // namespace

std::set<std::string> check_namespace_folders(std::vector<LoadedFile>& files, const std::string& root,
                                              const std::map<std::string, std::string>& folders) {
  std::set<std::string> refused;
  if (folders.empty()) return refused;
  std::error_code ec;
  fs::path real_root = fs::weakly_canonical(fs::path(root), ec);
  if (ec) real_root = fs::path(root).lexically_normal();
  for (auto& lf : files) {
    CompileResult& r = lf.result;
    auto it = folders.find(r.ns);
    if (r.dag_id.empty() || it == folders.end()) continue;
    fs::path real = fs::weakly_canonical(fs::path(lf.path), ec);
    if (ec) real = fs::path(lf.path).lexically_normal();
    fs::path rel = real.lexically_relative(real_root);
    bool inside = !rel.empty() && *rel.begin() != "..";
    if (inside && under(rel, fs::path(it->second))) continue;
    std::string shown = inside ? rel.string() : lf.path;
    if (fs::is_symlink(fs::path(lf.path), ec)) shown += " (a link to " + real.string() + ")";
    r.errors.push_back({lf.path, r.dag_pos,
                        "namespace: the DAG claims namespace \"" + r.ns + "\", which only DAG files under " +
                            it->second + "/ in the DAGs folder may claim; this file is " + shown +
                            " (move it under " + it->second + "/, or name another namespace)"});
    r.graph = nullptr;
    lf.refused = true;
    refused.insert(lf.path);
  }
  return refused;
}

}  // namespace baton::dsl
