// How settlectl shows the daemon's answers: a field as text (amounts stay the
// daemon's decimal text, exact numbers their own digits), a settlement and a
// refund as label/value lines, and JSON for programs written exactly.
#pragma once

#include "protocol/json.hpp"

#include <string>
#include <string_view>

namespace settle::tools {

// The member `key` as text: strings as they are, numbers (exact ones too) as
// their digits, booleans as true/false, missing or null as "".
std::string str(const json::Json& j, std::string_view key);
// The same, "-" when missing, null or empty.
std::string str_or_dash(const json::Json& j, std::string_view key);
// A value (not a member) as str() shows it.
std::string value_text(const json::Json& v);

// The `reasons` array joined, or "none (the normal split)".
std::string reasons_text(const json::Json& j);

// A settlement (settle.commit, inpatient.discharge) and a refund as lines.
std::string settlement_text(const json::Json& r);
std::string refund_text(const json::Json& r);

// JSON as nlohmann's dump(indent) writes it, except that exact numbers read
// by json::parse are written as their own text (12.30 stays 12.30).
std::string dump_exact(const json::Json& j, int indent = 2);

}  // namespace settle::tools
