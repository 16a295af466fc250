#pragma once
// Result<T>: the runtime error channel of the data path (no exceptions there).
#include <string>
#include <utility>
#include <variant>

namespace pemx {

struct Error {
  std::string code;     // stable, machine-readable (e.g. "invalid_json")
  std::string message;  // for the operator
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace pemx
