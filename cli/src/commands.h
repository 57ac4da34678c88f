// The subcommands of `baton`, registered on the CLI11 app by main.cpp.
// Exit codes (SPEC §11): 0 success; 1 the operation failed; 2 bad usage or
// input; 3 server or database unreachable.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace CLI {
class App;
}
namespace baton::store {
class Store;
}

namespace baton::cli {

enum ExitCode { kOk = 0, kFailed = 1, kBadInput = 2, kUnreachable = 3 };

// Thrown by a command's callback to leave with a code after it printed why.
struct Exit {
  int code;
};

// The DAGs folder: --dags, else BATON_DAGS, else baton.yaml's dags, else ./dags.
std::string default_dags_dir();

// Opens the database of a --db URL (migrating it), with the audit key of
// audit_key_file if one is set, or prints why not and throws Exit (2 for a
// malformed URL or key file, 3 when unreachable).
std::unique_ptr<store::Store> open_store_or_exit(const std::string& url);

// The audit key held in the file `path` (SPEC §7 audit_key_file): its bytes,
// a trailing newline dropped; none when `path` is empty. Prints why not and
// throws Exit{2} when the file is missing, unreadable, over 4 KiB, or holds
// fewer than 16 bytes.
std::optional<std::string> audit_key_or_exit(const std::string& path);

// `audit list`, on the `audit` command: through the server (--server,
// --token), or straight from the database with --db.
void add_audit_list_command(CLI::App& audit);

void register_dags_commands(CLI::App& app);
void register_schedule_commands(CLI::App& app);
void register_db_commands(CLI::App& app);
void register_standalone_command(CLI::App& app);  // also server and scheduler
void register_worker_command(CLI::App& app);
void register_client_commands(CLI::App& app);
void register_namespaces_commands(CLI::App& app);  // cmd_namespaces.cpp
void register_dags_test_command(CLI::App& dags);
void register_config_command(CLI::App& app);

}  // namespace baton::cli
