// The policy file: a TOML file people edit (deductible, fund ratio, annual
// cap, class B ratios per insurance type and visit type), read into the
// engine's Policy with errors naming the file, line and key.
#pragma once

#include "engine/policy.hpp"
#include "engine/result.hpp"

#include <string>
#include <string_view>

namespace settle {

// Parses policy text; `source` names it in errors ("policy.toml").
// Amounts are quoted decimals ("1800.00") or integers (yuan); ratios are
// quoted decimals ("0.70"). Floats, unknown keys, missing keys and
// out-of-range values are INVALID_CONFIG errors: "<source>:<line>: <key>: ...".
Result<Policy> parse_policy(std::string_view text, std::string_view source);
Result<Policy> load_policy_file(const std::string& path);

}  // namespace settle
