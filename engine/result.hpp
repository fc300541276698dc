// Result<T>: a value or an operating error, the engine's replacement for
// std::expected (C++23). Operating errors are values; programmer errors are
// SETTLE_ASSERT, which stays on in release builds.
#pragma once

#include "engine/errors.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#define SETTLE_ASSERT(cond)                                                              \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace settle {

// One operating error: a stable reason, the field or key it concerns (may be
// empty), and a sentence for people.
struct Error {
  Reason reason = Reason::internal;
  std::string field;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

inline Error make_error(Reason r, std::string field, std::string message) {
  return Error{r, std::move(field), std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { SETTLE_ASSERT(ok()); return std::get<0>(v_); }
  const T& value() const& { SETTLE_ASSERT(ok()); return std::get<0>(v_); }
  T&& value() && { SETTLE_ASSERT(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { SETTLE_ASSERT(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations with no value.
struct Ok {
  friend bool operator==(Ok, Ok) = default;
};
using Status = Result<Ok>;

}  // namespace settle
