// settlectl inpatient over the daemon's socket: one window transaction per
// command (params checked first, then login, the card and PIN when the
// action needs them, the call or the pages), printed as text or exact JSON.
#include "tools/common/exit_codes.hpp"
#include "tools/settlectl/cashier_cmds.hpp"
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/inpatient.hpp"
#include "tools/settlectl/session.hpp"

#include <iostream>

namespace settle::tools {

using json::Json;

int run_inpatient(const ClientOptions& o, const InpatientCommand& c, std::ostream& out, std::ostream& err) {
  const auto fail = [&](Failure f) {
    if (!o.json) f.message = "inpatient " + c.action + ": " + f.message;
    return report_failure(f, o.json, out, err);
  };

  // Everything sent is read and checked before the connection is opened.
  Json lines;
  if (c.action == "add-lines") {
    if (c.lines_file == "-" && (o.password_file.empty() || o.password_file == "-"))
      return fail({exit_code::usage, "--lines - reads the lines from standard input: give the password with --password-file FILE",
                   "USAGE", "--lines"});
    auto l = read_inpatient_lines(c.lines_file, std::cin);
    if (!l) return fail({exit_code::usage, l.error().message, "USAGE", "--lines"});
    lines = std::move(*l);
  }
  auto params = inpatient_params(c, lines);
  if (!params) return fail({exit_code::usage, params.error().message, "USAGE", params.error().field});
  const std::string method(inpatient_method(c.action));

  Session s(o);
  if (auto f = s.open(true)) return fail(*f);
  if (inpatient_needs_card(c.action))
    if (auto f = s.read_card()) return fail(*f);
  if (inpatient_wants_pin(c, o.pin_stdin))
    if (auto f = s.verify_pin()) return fail(*f);

  const PageFetch fetch = [&](const Json& p) { return s.call(method, p); };
  const bool paged = c.action == "list" || (c.action == "get" && c.all);
  Answer a = paged ? follow_pages(*params, fetch, c.action == "get" ? "lines" : "") : fetch(*params);
  if (!a) return fail(a.error());
  if (o.json) out << dump_exact(a.value()) << "\n";
  else out << inpatient_text(c.action, a.value());
  return 0;
}

}  // namespace settle::tools
