// The paper emergency ledger's CSV read into reentry.record's rows: the
// columns, the checks of each line (named by line and column), at most 500
// settlements (docs/reentry.md).
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace settle::tools {

// The CSV's rows as reentry.record's params (no batch_ref) with each
// settlement's first line, or the first problem as "line N, column C: ...".
struct ReentryCsv {
  json::Json rows = json::Json::array();
  std::vector<std::int64_t> first_line;  // per settlement, the CSV line it starts on
};
Result<ReentryCsv> parse_reentry_csv(const std::string& text);

}  // namespace settle::tools
