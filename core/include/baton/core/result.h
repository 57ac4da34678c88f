// Result<T> and Error: expected failures (bad input, not found, conflicts) as
// values. Exceptions are kept for programming errors and for the boundaries of
// libraries that throw, where they are caught and converted into an Error.
// Plain value types: safe to copy and move between threads.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace baton {

struct Error {
  // A stable machine-readable code ("invalid_argument", "not_found", ...) and a
  // message for people that says what is wrong, where, and what is allowed.
  std::string code;
  std::string message;

  static Error invalid(std::string message) { return {"invalid_argument", std::move(message)}; }
  static Error not_found(std::string message) { return {"not_found", std::move(message)}; }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  T value_or(T fallback) const { return ok() ? std::get<0>(v_) : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

// Status: a Result that carries nothing on success.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}
  static Status Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace baton
