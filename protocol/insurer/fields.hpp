// Field-by-field reading of one JSON object for the insurer codecs: keeps the
// first error (naming the field's full path) and hands back neutral values
// after it, so a decoder reads every field in order and checks once at the end.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::insurer {

class Fields {
 public:
  // `obj` must be an object; otherwise the reader starts failed.
  Fields(const json::Json& obj, std::string path);

  std::string str(std::string_view key, std::size_t max_len = 200);
  // A required string that must not be empty.
  std::string nonempty(std::string_view key, std::size_t max_len = 200);
  std::optional<std::string> opt_str(std::string_view key, std::size_t max_len = 200);
  // A string of exactly `len` decimal digits.
  std::string digits(std::string_view key, std::size_t len);
  // Absent, null or "": ""; otherwise exactly `len` decimal digits.
  std::string opt_digits(std::string_view key, std::size_t len);
  // A string that must be one of `allowed`.
  std::string one_of(std::string_view key, std::initializer_list<std::string_view> allowed);
  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<std::int64_t> opt_integer(std::string_view key, std::int64_t min, std::int64_t max);
  bool boolean(std::string_view key);
  Amount amount(std::string_view key, Sign sign = Sign::non_negative);
  std::optional<Amount> opt_amount(std::string_view key);
  std::optional<Ratio> opt_ratio(std::string_view key);
  // A required member object / array; nullptr after an error.
  const json::Json* object(std::string_view key);
  // An optional member object: nullptr when absent or null (or after an error).
  const json::Json* opt_object(std::string_view key);
  const json::Json* array(std::string_view key, std::size_t max_items);
  const json::Json* opt_array(std::string_view key, std::size_t max_items);
  std::vector<std::string> string_array(std::string_view key, std::size_t max_items, std::size_t max_len = 64);

  // Records a failure found by the caller (first one wins).
  void fail(Reason r, std::string_view key, std::string_view what);
  // Records an error from a nested decoder.
  void fail(const Error& e);

  std::string path_of(std::string_view key) const { return json::path_join(path_, key); }
  const std::string& path() const { return path_; }
  bool ok() const { return !error_.has_value(); }
  // The first error, if any.
  Status status() const;

 private:
  const json::Json* member(std::string_view key);
  const json::Json& obj_;
  std::string path_;
  std::optional<Error> error_;
};

// Path of an array element: ("feedetail", 3) -> "feedetail[3]".
std::string index_path(std::string_view path, std::size_t i);

}  // namespace settle::insurer
