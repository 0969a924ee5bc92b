// Baton's one error vocabulary. Expected failures travel as values (Result<T>);
// api/errors.cpp maps each code to an HTTP status and a JSON body, once.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace baton::core {

enum class Errc {
  bad_request,        // malformed input: JSON, fields, encodings
  too_large,          // an input past its documented limit
  unauthorized,       // no or bad credentials
  forbidden,          // credentials fine, but not for this thing
  not_found,          // unknown id
  conflict,           // state does not allow it (closed conversation, ...)
  rate_limited,       // too many requests or messages in flight
  unavailable,        // store busy or failing, server shutting down
  internal,           // a bug; logged
};

// Stable machine-readable name, e.g. "not_found"; used in every error body.
std::string_view errc_name(Errc code);

struct Error {
  Errc code;
  std::string message;
};

// A value or an Error. Small on purpose: the standard library's std::expected is C++23.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  Result(Errc code, std::string message) : v_(Error{code, std::move(message)}) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace baton::core
