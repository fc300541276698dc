// Trial calculations of settlectl (试算): the split of a charge and the split
// of a refund, from JSON on stdin, printed as a table or as JSON.
#pragma once

#include <iosfwd>
#include <string>

namespace settle::tools {

struct TrialOptions {
  std::string policy_path;
  bool json = false;
};

// Exit status (tools/common/exit_codes.hpp): 0 computed, 2 bad input (message on
// `err`, or a JSON error on `out` with --json), 4 refund refused.
int run_split(const TrialOptions& o, std::istream& in, std::ostream& out, std::ostream& err);
int run_refund(const TrialOptions& o, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
