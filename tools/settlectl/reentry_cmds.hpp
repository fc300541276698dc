// settlectl reentry: the paper emergency ledger (离线应急台账) entered into the
// ledger from a CSV file (import), and its batches listed, shown, approved or
// refused by a second person (docs/reentry.md).
#pragma once

#include "tools/settlectl/cashier_cmds.hpp"
#include "tools/settlectl/reentry_csv.hpp"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace settle::tools {

struct ReentryCommand {
  std::string action;  // import, list, show, approve, refuse
  std::string file;    // import: the CSV file ("-" = stdin)
  std::string batch_ref;
  std::string state;   // list: entered, approved, refused
  std::int64_t limit = 100;
  std::int64_t id = 0;  // show, approve, refuse
  std::string note;
};
int run_reentry(const ClientOptions& o, const ReentryCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
