#include "baton/dsl/dag_folder.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

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
  // Each file with the path it has once links are resolved: a file named
  // twice (or a folder and a file inside it, or a symlink to a file also
  // found) is read once, under the first name. Only what is named here and
  // the symlinks found are resolved (a lookup per component of the path);
  // a file found below a folder is the folder's resolved path and the rest
  // of its own (the walk follows no linked folder). Resolving every path
  // was a tenth of the cold load of 10,000 files.
  std::vector<std::pair<std::string, fs::path>> out;
  auto resolved = [](const fs::path& p) {
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(p, ec);
    return ec ? p : canon;
  };
  for (auto& p : paths) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return Error::not_found("no such file or folder: " + p);
    if (!fs::is_directory(st)) {
      out.emplace_back(p, resolved(p));
      continue;
    }
    const fs::path root = resolved(p);
    std::vector<std::pair<std::string, fs::path>> found;
    fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) return Error{"io_error", "cannot read folder " + p + ": " + ec.message()};
    for (; it != end; it.increment(ec)) {
      if (ec) return Error{"io_error", "cannot read folder " + p + ": " + ec.message()};
      const fs::path& entry = it->path();
      if (entry.filename().string().rfind('.', 0) == 0) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec) || !is_dag_file(entry)) continue;
      found.emplace_back(entry.string(),
                         it->is_symlink(ec) ? resolved(entry) : root / entry.lexically_relative(p));
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  std::vector<std::string> unique;
  std::set<fs::path> seen;
  for (auto& [file, canon] : out)
    if (seen.insert(canon).second) unique.push_back(file);
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
