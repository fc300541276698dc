// settlectl outage: the office's outage records (停机/断网记录) over the
// socket: list, show one with its figures and notes, note who was told,
// record one only people saw, and export a period for the insurance centre.
#pragma once

#include "tools/settlectl/cashier_cmds.hpp"

#include <cstdint>
#include <iosfwd>
#include <string>

namespace settle::tools {

struct OutageCommand {
  std::string action;  // list, show, note, record, export
  std::string from, to, kind;
  std::int64_t limit = 0;  // list: at most this many (0 = all)
  std::int64_t id = 0;     // show, note
  std::string note_kind = "told";
  std::string target, detail;
  std::string cause;  // record
  bool csv = false;
};
int run_outage(const ClientOptions& o, const OutageCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
