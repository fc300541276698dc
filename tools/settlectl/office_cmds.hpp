// settlectl's commands of the insurance office and IT: operators (over the
// socket as an administrator while settled runs, on the ledger file only
// while it is stopped), an operator's own password change, the audit trail.
#pragma once

#include "tools/settlectl/cashier_cmds.hpp"

#include <cstdint>
#include <iosfwd>
#include <string>

namespace settle::tools {

struct OperatorCommand {
  std::string action;  // add, reset, unlock, disable, enable, role, list
  std::string ledger;  // set: work on this ledger file (settled must be stopped)
  std::string name;    // the operator acted on
  std::string role = "cashier";
  // add, reset: the initial password, first line of this file; "-" (the
  // default) = stdin, after the administrator's own password line.
  std::string initial_password_file;
};
// Exit status as run_cashier's.
int run_operator(const ClientOptions& o, const OperatorCommand& c, std::ostream& out, std::ostream& err);

// settlectl password: the logged-in operator's own password (also an
// initial one, which must be changed before anything else).
struct PasswordCommand {
  std::string new_password_file;  // "-" = stdin (after the current password line)
};
int run_password(const ClientOptions& o, const PasswordCommand& c, std::ostream& out, std::ostream& err);

// settlectl audit: the audit trail, every page, newest first; a table, CSV
// (--csv) or JSON.
struct AuditCommand {
  std::string from, to;  // dates or ISO 8601 date-times
  std::string by;        // operator whose actions
  std::string action;    // one action (a method name such as settle.commit, or login_failed, ...)
  bool csv = false;
  std::int64_t limit = 0;  // at most this many entries (0 = all)
};
int run_audit(const ClientOptions& o, const AuditCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
