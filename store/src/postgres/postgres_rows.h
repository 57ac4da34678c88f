// Between C++ values and PostgreSQL's, for the PostgreSQL Store's files:
// statement parameters (Params, one value each; Column, a whole batch of
// rows as one array parameter), fields read back, and the run rows that
// more than one subject reads. Internal to the PostgreSQL engine.
#pragma once

#include <pqxx/pqxx>

#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "baton/core/time.h"
#include "baton/store/store.h"

namespace baton::store::postgres {

TimePoint tp(long long us);
long long us(TimePoint t);

// Text as PostgreSQL stores it (see postgres_rows.cpp).
std::string storable(const std::string& s);

// Positional parameters ($1, $2, ...): nullopt is NULL.
class Params {
 public:
  Params& add(const std::string& v) {
    vals_.emplace_back(storable(v));
    return *this;
  }
  Params& add(const char* v) { return add(std::string(v)); }
  Params& add(const std::optional<std::string>& v) { return v ? add(*v) : null(); }
  Params& add(long long v) {
    vals_.emplace_back(std::to_string(v));
    return *this;
  }
  Params& add(int v) { return add(static_cast<long long>(v)); }
  Params& add(double v) {  // the shortest text that reads back as the same double
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    vals_.emplace_back(std::string(buf, r.ptr));
    return *this;
  }
  Params& add(bool v) {
    vals_.emplace_back(v ? "true" : "false");
    return *this;
  }
  Params& add(const std::optional<long long>& v) { return v ? add(*v) : null(); }
  Params& add(const std::optional<int>& v) { return v ? add(static_cast<long long>(*v)) : null(); }
  Params& add(const std::optional<bool>& v) { return v ? add(*v) : null(); }
  Params& add(TimePoint t) { return add(us(t)); }
  Params& add(const std::optional<TimePoint>& t) { return t ? add(us(*t)) : null(); }
  Params& null() {
    vals_.emplace_back(std::nullopt);
    return *this;
  }
  size_t size() const { return vals_.size(); }
  // Another statement's values after these (its $1 becomes $size()+1).
  Params& append(const Params& more) {
    vals_.insert(vals_.end(), more.vals_.begin(), more.vals_.end());
    return *this;
  }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    for (auto& v : vals_) out.push_back(v ? v->c_str() : nullptr);
    return out;
  }

 private:
  std::vector<std::optional<std::string>> vals_;
};

// One column of many rows as a PostgreSQL array literal ({"a",NULL,"b"}),
// bound as one parameter and taken apart by unnest(): a whole batch of rows
// in one statement and one round trip.
class Column {
 public:
  void add(const std::optional<std::string>& v) {
    text_ += text_.empty() ? "{" : ",";
    if (!v) {
      text_ += "NULL";
      return;
    }
    text_ += '"';
    for (char c : storable(*v)) {
      if (c == '"' || c == '\\') text_ += '\\';
      text_ += c;
    }
    text_ += '"';
  }
  void add(const std::string& v) { add(std::optional<std::string>(v)); }
  void add(long long v) { add(std::to_string(v)); }
  void add(int v) { add(std::to_string(v)); }
  void add(const std::optional<long long>& v) { add(v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt); }
  void add(const std::optional<int>& v) { add(v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt); }
  void add(TimePoint t) { add(us(t)); }
  void add(const std::optional<TimePoint>& t) { add(t ? std::optional<long long>(us(*t)) : std::nullopt); }
  std::string text() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

template <class... A>
Params params(const A&... a) {
  Params p;
  (p.add(a), ...);
  return p;
}

std::optional<std::string> opt_text(const pqxx::field& f);
std::optional<long long> opt_i64(const pqxx::field& f);
std::optional<TimePoint> opt_tp(const pqxx::field& f);
std::optional<int> opt_int(const pqxx::field& f);

// "SELECT " + columns + " FROM ...": a statement with a list of columns.
std::string sql_with(const char* head, const char* columns, const char* tail);

// The columns of a run, in the order run_row reads them.
extern const char* kRunColumns;
RunRecord run_row(const pqxx::row& r);

}  // namespace baton::store::postgres
