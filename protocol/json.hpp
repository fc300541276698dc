// Exact JSON for every wire of the project (cashier API, insurer protocol,
// tool input): numbers with a fraction or an exponent are kept as their own
// text, never converted to double, so amounts are read exactly (Money rules).
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace settle::json {

using Json = nlohmann::json;

// Deepest nesting accepted; deeper documents are refused, not parsed.
inline constexpr int max_depth = 64;

// Parses text. Integers become number_integer/number_unsigned; every other
// number (fraction, exponent, too large for 64 bits) becomes a "raw number"
// holding its exact text. Errors are INVALID_REQUEST ("invalid JSON at byte
// N: ..."), with `what` naming the document ("request", "insurer reply").
Result<Json> parse(std::string_view text, std::string_view what = "document");

// A raw number made by parse(), and its text.
bool is_raw_number(const Json& j);
// JSON as nlohmann's dump(indent) writes it, except that raw numbers are
// written as their own text (12.30 stays 12.30): what goes back on a wire.
std::string dump_exact(const Json& j, int indent = -1);
std::string_view raw_number_text(const Json& j);
// Makes a raw number from exact text (for tests and writers).
Json make_raw_number(std::string_view text);

// The JSON type of a value in words ("string", "number", "object", ...).
std::string_view type_name(const Json& j);

// Typed field access on an object. `path` names the field in errors
// ("lines[3].amount"). Missing required fields and wrong types are
// INVALID_REQUEST naming the field; amounts break as INVALID_AMOUNT.
const Json* find(const Json& obj, std::string_view key);
Result<std::string> get_string(const Json& obj, std::string_view key, std::string_view path,
                               std::size_t max_len = 4096);
Result<std::optional<std::string>> get_opt_string(const Json& obj, std::string_view key,
                                                  std::string_view path, std::size_t max_len = 4096);
Result<std::int64_t> get_int(const Json& obj, std::string_view key, std::string_view path);
Result<std::optional<std::int64_t>> get_opt_int(const Json& obj, std::string_view key, std::string_view path);
Result<bool> get_bool(const Json& obj, std::string_view key, std::string_view path);
Result<std::optional<bool>> get_opt_bool(const Json& obj, std::string_view key, std::string_view path);

// An amount given as a JSON number (its exact text) or a string.
Result<Amount> to_amount(const Json& v, std::string_view path, Sign sign = Sign::non_negative);
Result<Amount> get_amount(const Json& obj, std::string_view key, std::string_view path,
                          Sign sign = Sign::non_negative);
Result<std::optional<Amount>> get_opt_amount(const Json& obj, std::string_view key,
                                             std::string_view path, Sign sign = Sign::non_negative);
// A ratio given as a decimal string ("0.10") or a JSON number.
Result<Ratio> to_ratio(const Json& v, std::string_view path);

// Amounts are always written as strings with two decimals ("12.30").
inline Json amount_value(Amount a) { return Json(format_amount(a)); }

// Joins a path and a key: ("lines[2]", "amount") -> "lines[2].amount".
std::string path_join(std::string_view path, std::string_view key);

}  // namespace settle::json
