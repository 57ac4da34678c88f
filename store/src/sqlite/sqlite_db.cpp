// The thin RAII over the sqlite3 C API (sqlite_db.h).
#include "sqlite_db.h"

#include <cstring>
#include <stdexcept>

namespace baton::store::sqlite {

Status Db::open(const std::string& path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return Error{"unavailable", "cannot open SQLite database " + path + ": " + why};
  }
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 1);
  return {};
}

Status Db::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error{"database_error", msg};
  }
  return {};
}

Stmt Db::prepare(const char* sql) {
  auto it = cache_.find(sql);
  // Keyed by the text's address (static strings, as a rule); a text at an
  // address once used by another (a temporary) gets its own statement.
  if (it != cache_.end() && std::strcmp(sqlite3_sql(it->second.get()), sql) != 0) {
    cache_.erase(it);
    it = cache_.end();
  }
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      throw std::logic_error(std::string("bad SQL: ") + sqlite3_errmsg(db_) + ": " + sql);  // a bug, not input
    it = cache_.emplace(sql, std::unique_ptr<sqlite3_stmt, Finalize>(s)).first;
  }
  sqlite3_reset(it->second.get());
  sqlite3_clear_bindings(it->second.get());
  return Stmt(it->second.get());
}

}  // namespace baton::store::sqlite
