// Between C++ values and SQLite's columns, for the SQLite Store's files:
// times as microseconds, optional columns, and the run rows that more than
// one subject reads. Internal to the SQLite engine.
#pragma once

#include <optional>
#include <string>

#include "baton/core/time.h"
#include "baton/store/store.h"
#include "sqlite_db.h"

namespace baton::store::sqlite {

TimePoint tp(long long us);
std::optional<TimePoint> opt_tp(const std::optional<long long>& v);
long long us(TimePoint t);
std::optional<long long> us(const std::optional<TimePoint>& t);
std::optional<std::string> opt_text(const Stmt& st, int c);
std::optional<int> opt_int(const Stmt& st, int c);

// The columns of a run, in the order run_row reads them.
extern const char* kRunColumns;
RunRecord run_row(const Stmt& st);

}  // namespace baton::store::sqlite
