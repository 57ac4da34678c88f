// Internal: thin RAII over the sqlite3 C API. Statements are prepared once and
// cached by their text. Not thread-safe: SqliteStore serializes access.
#pragma once

#include <sqlite3.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "baton/core/result.h"

namespace baton::store::sqlite {

class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  // Resetting on scope exit ends any read the statement still holds.
  ~Stmt() { sqlite3_reset(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, long long v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<long long>(v)); }
  Stmt& bind(int i, long v) { return bind(i, static_cast<long long>(v)); }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& bind_null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }
  // Ready to step again (bindings kept: bind every parameter anew).
  void reset() { sqlite3_reset(s_); }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int step() { return sqlite3_step(s_); }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  long long i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f64(int c) const { return sqlite3_column_double(s_, c); }
  std::string text(int c) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  std::optional<long long> opt_i64(int c) const { return is_null(c) ? std::nullopt : std::optional(i64(c)); }

 private:
  sqlite3_stmt* s_;
};

class Db {
 public:
  ~Db() {
    cache_.clear();
    if (db_) sqlite3_close_v2(db_);
  }
  Status open(const std::string& path);
  sqlite3* raw() const { return db_; }
  // Runs statements with no results (DDL, pragmas, BEGIN/COMMIT).
  Status exec(const std::string& sql);
  // A cached, reset statement with no bindings.
  Stmt prepare(const char* sql);
  std::string last_error() const { return sqlite3_errmsg(db_); }
  long long changes() const { return sqlite3_changes64(db_); }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  sqlite3* db_ = nullptr;
  std::map<const char*, std::unique_ptr<sqlite3_stmt, Finalize>> cache_;
};

// The store keeps statement journals and temporary tables in memory
// (`temp_store=MEMORY`, SqliteStore::open). For a scope whose statements
// may sort or collect a whole history (a migration building an index, the
// dry run's counts), they go to files, outside any transaction.
class TempInFiles {
 public:
  explicit TempInFiles(Db& db) : db_(db) { (void)db_.exec("PRAGMA temp_store=FILE"); }
  ~TempInFiles() { (void)db_.exec("PRAGMA temp_store=MEMORY"); }
  TempInFiles(const TempInFiles&) = delete;
  TempInFiles& operator=(const TempInFiles&) = delete;

 private:
  Db& db_;
};

}  // namespace baton::store::sqlite
