// `baton dags validate|list|show`: read DAG files straight from disk; they need
// no server and no database.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <memory>

#include "baton/core/clock.h"
#include "baton/core/duration.h"
#include "baton/dsl/dag_folder.h"
#include "commands.h"

namespace baton::cli {

namespace {

using nlohmann::json;

dsl::FolderLoad load_or_exit(const std::vector<std::string>& paths) {
  auto files = dsl::find_dag_files(paths);
  if (!files) {
    std::cerr << "error: " << files.error().message << "\n";
    throw Exit{kBadInput};
  }
  return dsl::load_dag_files(*files);
}

std::string short_version(const std::string& hash) { return hash.substr(0, 12); }

std::string next_run_text(const dsl::DagGraph& g) {
  auto next = g.schedule().next_tick(SystemClock::instance().now());
  return next ? format_utc(*next) : "";
}

// A DAG by id (looked up in the folder) or by file path.
dsl::DagGraphPtr find_dag(const std::string& what, const std::string& dags_dir) {
  std::error_code ec;
  bool is_file = std::filesystem::is_regular_file(what, ec);
  auto load = load_or_exit({is_file ? what : dags_dir});
  if (is_file) {
    if (load.files.empty() || !load.files[0].result.graph) {
      for (auto& d : load.errors()) std::cerr << d.format() << "\n";
      throw Exit{kFailed};
    }
    return load.files[0].result.graph;
  }
  auto it = load.dags.find(what);
  if (it != load.dags.end()) return it->second;
  for (auto& f : load.files)
    if (f.result.dag_id == what) {
      std::cerr << "error: DAG \"" << what << "\" (" << f.path << ") is invalid:\n";
      for (auto& d : f.result.errors) std::cerr << d.format() << "\n";
      throw Exit{kFailed};
    }
  std::cerr << "error: no DAG \"" << what << "\" in " << dags_dir
            << " (give a DAG id found there, or the path of a DAG file; --dags sets the folder)\n";
  throw Exit{kBadInput};
}

void print_text(const dsl::DagGraph& g, const std::string& file) {
  const auto& s = g.spec();
  std::cout << "DAG " << s.dag_id << "  (namespace " << s.ns << ", version " << short_version(g.hash()) << ")\n";
  std::cout << "file:      " << file << "\n";
  if (!s.description.empty()) std::cout << "about:     " << s.description << "\n";
  if (!s.owner.empty()) std::cout << "owner:     " << s.owner << "\n";
  std::cout << "schedule:  " << g.schedule().describe();
  if (auto n = next_run_text(g); !n.empty()) std::cout << "  next tick " << n;
  std::cout << "\n";
  if (s.start_date) std::cout << "start:     " << format_utc(*s.start_date) << "\n";
  if (s.end_date) std::cout << "end:       " << format_utc(*s.end_date) << "\n";
  std::cout << "runs:      catchup " << (s.catchup ? "on" : "off") << ", max_active_runs " << s.max_active_runs
            << ", max_active_tasks " << s.max_active_tasks << "\n";
  std::cout << "tasks (" << s.tasks.size() << ", in topological order):\n";
  size_t width = 4;
  for (auto* t : g.order()) width = std::max(width, t->id.size());
  for (auto* t : g.order()) {
    std::cout << "  " << t->id << std::string(width - t->id.size() + 2, ' ') << dsl::to_string(t->type);
    if (!t->depends_on.empty()) {
      std::cout << "  <- ";
      for (size_t i = 0; i < t->depends_on.size(); ++i) std::cout << (i ? ", " : "") << t->depends_on[i];
    }
    if (t->trigger_rule != dsl::TriggerRule::all_success) std::cout << "  [" << dsl::to_string(t->trigger_rule) << "]";
    if (t->retries) std::cout << "  retries " << t->retries;
    if (t->foreach_json || t->foreach_template) std::cout << "  (foreach)";
    std::cout << "\n";
  }
}

std::string dot_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void print_dot(const dsl::DagGraph& g) {
  std::cout << "digraph " << dot_quote(g.dag_id()) << " {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  for (auto* t : g.order())
    std::cout << "  " << dot_quote(t->id) << " [label=" << dot_quote(t->id + "\\n" + dsl::to_string(t->type)) << "];\n";
  for (auto* t : g.order())
    for (auto& d : t->depends_on) std::cout << "  " << dot_quote(d) << " -> " << dot_quote(t->id) << ";\n";
  std::cout << "}\n";
}

json graph_json(const dsl::DagGraph& g, const std::string& file) {
  json spec = json::parse(g.canonical_json());
  json edges = json::array();
  for (auto* t : g.order())
    for (auto& d : t->depends_on) edges.push_back({{"from", d}, {"to", t->id}});
  json out = {{"dag_id", g.dag_id()}, {"version", g.hash()}, {"file", file}, {"edges", edges}, {"spec", spec}};
  auto n = next_run_text(g);
  out["next_tick"] = n.empty() ? json(nullptr) : json(n);
  return out;
}

}  // namespace

void register_dags_commands(CLI::App& app) {
  auto* dags = app.add_subcommand("dags", "Validate, list, show and test DAG files");
  dags->require_subcommand(1);
  register_dags_test_command(*dags);

  // validate
  {
    auto* cmd = dags->add_subcommand("validate", "Check DAG files or folders; print every error of every file");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto output = std::make_shared<std::string>("text");
    cmd->add_option("paths", *paths, "DAG files or folders (folders are read recursively)")->required();
    cmd->add_option("--output", *output, "text or json")->check(CLI::IsMember({"text", "json"}));
    cmd->callback([paths, output] {
      auto load = load_or_exit(*paths);
      auto errors = load.errors();
      size_t warnings = 0;
      for (auto& f : load.files) warnings += f.result.warnings.size();
      if (*output == "json") {
        json items = json::array();
        for (auto& f : load.files) {
          json errs = json::array();
          for (auto& d : f.result.errors)
            errs.push_back({{"line", d.pos.line}, {"column", d.pos.col}, {"message", d.message}});
          json warns = json::array();
          for (auto& d : f.result.warnings)
            warns.push_back({{"line", d.pos.line}, {"column", d.pos.col}, {"message", d.message}});
          items.push_back({{"file", f.path},
                           {"dag_id", f.result.dag_id.empty() ? json(nullptr) : json(f.result.dag_id)},
                           {"valid", f.result.graph != nullptr},
                           {"errors", errs},
                           {"warnings", warns}});
        }
        std::cout << json{{"items", items}, {"errors", errors.size()}, {"warnings", warnings}}.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
      } else {
        // Warnings (never fatal: `| raw` on what a trigger can set) before the errors.
        for (auto& f : load.files)
          for (auto& d : f.result.warnings) std::cerr << d.format() << "\n";
        for (auto& d : errors) std::cerr << d.format() << "\n";
        size_t bad = 0;
        for (auto& f : load.files) bad += f.result.graph ? 0 : 1;
        std::cerr << load.files.size() << " file(s) checked, " << load.files.size() - bad << " valid, " << bad
                  << " invalid, " << errors.size() << " error(s)";
        if (warnings > 0) std::cerr << ", " << warnings << " warning(s)";
        std::cerr << "\n";
      }
      if (!errors.empty()) throw Exit{kFailed};
    });
  }

  // list
  {
    auto* cmd = dags->add_subcommand("list", "List the DAGs of the DAGs folder");
    auto dir = std::make_shared<std::string>(default_dags_dir());
    auto output = std::make_shared<std::string>("text");
    cmd->add_option("--dags", *dir, "DAGs folder (default: $BATON_DAGS or ./dags)");
    cmd->add_option("--output", *output, "text or json")->check(CLI::IsMember({"text", "json"}));
    cmd->callback([dir, output] {
      auto load = load_or_exit({*dir});
      if (*output == "json") {
        json items = json::array();
        json import_errors = json::array();
        for (auto& f : load.files) {
          if (f.result.graph) {
            const auto& g = *f.result.graph;
            auto n = next_run_text(g);
            items.push_back({{"dag_id", g.dag_id()},
                             {"namespace", g.spec().ns},
                             {"schedule", g.schedule().describe()},
                             {"timezone", g.spec().timezone},
                             {"tasks", g.spec().tasks.size()},
                             {"version", g.hash()},
                             {"file", f.path},
                             {"next_tick", n.empty() ? json(nullptr) : json(n)}});
          }
          for (auto& d : f.result.errors)
            import_errors.push_back(
                {{"file", d.file}, {"line", d.pos.line}, {"column", d.pos.col}, {"message", d.message}});
        }
        std::cout << json{{"items", items}, {"next_cursor", nullptr}, {"import_errors", import_errors}}.dump(2, ' ', false, json::error_handler_t::replace)
                  << "\n";
      } else {
        std::vector<std::vector<std::string>> rows = {{"DAG", "NAMESPACE", "SCHEDULE", "TASKS", "VERSION", "FILE"}};
        for (auto& f : load.files)
          if (f.result.graph) {
            const auto& g = *f.result.graph;
            rows.push_back({g.dag_id(), g.spec().ns, g.schedule().describe(), std::to_string(g.spec().tasks.size()),
                            short_version(g.hash()), f.path});
          }
        std::vector<size_t> w(rows[0].size(), 0);
        for (auto& r : rows)
          for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
        for (auto& r : rows) {
          for (size_t i = 0; i < r.size(); ++i)
            std::cout << r[i] << (i + 1 < r.size() ? std::string(w[i] - r[i].size() + 2, ' ') : "");
          std::cout << "\n";
        }
        for (auto& f : load.files)
          if (!f.result.graph)
            std::cout << "invalid: " << f.path << " (" << f.result.errors.size()
                      << " error(s); see baton dags validate " << f.path << ")\n";
      }
    });
  }

  // show
  {
    auto* cmd = dags->add_subcommand("show", "Show a DAG's compiled graph");
    auto dag = std::make_shared<std::string>();
    auto dir = std::make_shared<std::string>(default_dags_dir());
    auto format = std::make_shared<std::string>("text");
    cmd->add_option("dag", *dag, "DAG id (looked up in --dags) or a DAG file")->required();
    cmd->add_option("--dags", *dir, "DAGs folder (default: $BATON_DAGS or ./dags)");
    cmd->add_option("--format,--output", *format, "text, dot or json")->check(CLI::IsMember({"text", "dot", "json"}));
    cmd->callback([dag, dir, format] {
      auto g = find_dag(*dag, *dir);
      std::string file = g->spec().file;
      if (*format == "dot") print_dot(*g);
      else if (*format == "json") std::cout << graph_json(*g, file).dump(2, ' ', false, json::error_handler_t::replace) << "\n";
      else print_text(*g, file);
    });
  }
}

}  // namespace baton::cli
