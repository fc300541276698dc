// The cashier API's version, answered by engine.status as `api_version`
// (docs/cashier-api.md, "Versioning"): MINOR grows with each compatible
// addition, MAJOR with any change an existing terminal could notice.
#pragma once

#include <string_view>

namespace settle::cashier {

inline constexpr std::string_view api_version = "1.3";

}  // namespace settle::cashier
