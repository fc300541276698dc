// Checked reading of TOML files people edit (the policy file, the daemon's
// config): typed getters whose errors name the file, line and dotted key,
// exact amounts and ratios, and refusal of unknown keys.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"

#include <toml++/toml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace settle {

class TomlReader {
 public:
  explicit TomlReader(std::string_view source) : source_(source) {}

  // Parses the text; syntax errors are INVALID_CONFIG "<source>:<line>: ...".
  Result<toml::table> parse(std::string_view text) const;

  // "<source>:<line>: <key>: <what>" (the line of `n` when known).
  Error error_at(const toml::node* n, std::string_view key, std::string_view what) const;

  // Every key of `t` must be one of `allowed`.
  Status only_keys(const toml::table& t, std::string_view where, std::initializer_list<std::string_view> allowed) const;

  // Optional values: absent is nullopt; a wrong type is an error.
  Result<std::optional<std::string>> opt_string(const toml::table& t, std::string_view k, std::string_view key) const;
  Result<std::optional<std::int64_t>> opt_int(const toml::table& t, std::string_view k, std::string_view key,
                                              std::int64_t min, std::int64_t max) const;
  Result<std::optional<bool>> opt_bool(const toml::table& t, std::string_view k, std::string_view key) const;
  // Amounts are quoted decimals or integers (yuan); floats are refused.
  Result<std::optional<Amount>> opt_amount(const toml::table& t, std::string_view k, std::string_view key) const;
  // Ratios are quoted decimals ("0.70"); floats are refused.
  Result<std::optional<Ratio>> opt_ratio(const toml::node* n, std::string_view key) const;

  Result<std::string> string(const toml::table& t, std::string_view k, std::string_view key) const;
  Result<Amount> amount(const toml::table& t, std::string_view k, std::string_view key) const;
  Result<Ratio> ratio(const toml::node* n, std::string_view key) const;

  // A sub-table, or nullptr when absent; an error when it is not a table.
  Result<const toml::table*> opt_table(const toml::table& t, std::string_view k, std::string_view key) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

// "a.b" from where and key ("" + "b" -> "b").
std::string toml_key(std::string_view where, std::string_view key);

}  // namespace settle
