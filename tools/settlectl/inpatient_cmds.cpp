// settlectl inpatient over the daemon's socket: one window transaction per
// command (params checked first, then login, the card and PIN when the
// action needs them, the call or the pages), printed as text or exact JSON.
#include "tools/settlectl/cashier_cmds.hpp"
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/inpatient.hpp"
#include "tools/settlectl/session.hpp"

#include <iostream>

namespace settle::tools {

using json::Json;

int run_inpatient(const ClientOptions& o, const InpatientCommand& c, std::ostream& out, std::ostream& err) {
  const auto fail = [&](const Failure& f) {
    err << "settlectl inpatient " << c.action << ": " << f.message << "\n";
    return f.status;
  };

  // Everything sent is read and checked before the connection is opened.
  Json lines;
  if (c.action == "add-lines") {
    if (c.lines_file == "-" && (o.password_file.empty() || o.password_file == "-"))
      return fail({2, "--lines - reads the lines from standard input: give the password with --password-file FILE"});
    auto l = read_inpatient_lines(c.lines_file, std::cin);
    if (!l) return fail({2, l.error().message});
    lines = std::move(*l);
  }
  auto params = inpatient_params(c, lines);
  if (!params) return fail({2, params.error().message});
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
