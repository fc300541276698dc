// settlectl notice show: the patient notices (患者告知) the daemon has in
// force for the line's state now, a state, a refusal's reason or one id,
// printed as text or written as a printable HTML page.
#pragma once

#include "tools/settlectl/cashier_cmds.hpp"

#include <iosfwd>
#include <string>

namespace settle::tools {

struct NoticeCommand {
  std::string state;      // "" = current
  std::string reason;     // "" = none
  std::string id;         // "" = all that apply
  std::string html_file;  // "" = text; "-" = the page on stdout
  std::string paper = "A4";
};
int run_notice(const ClientOptions& o, const NoticeCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
