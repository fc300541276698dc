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
  std::string key_file;  // the ledger's storage key (default: the ledger-key credential, if any)
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

// settlectl closeout ACTION: the cashier's close-out (preview, record, get,
// list, sheet); a table, --csv (the items) or --json.
struct CloseoutCommand {
  std::string action;      // preview, record, get, list, sheet
  std::string date;        // preview: a day's report
  std::string request_id;  // record
  std::string id;          // get, sheet (sheet without: the preview)
  std::string from, to, by, window;  // list
  std::string paper = "A4";
  std::string out_file;    // sheet: where the HTML goes ("-" = stdout)
  bool csv = false;
};
int run_closeout(const ClientOptions& o, const CloseoutCommand& c, std::ostream& out, std::ostream& err);

// settlectl correction ACTION: record, approve, refuse, list.
struct CorrectionCommand {
  std::string action;
  std::string target = "settlement";  // settlement, outbox, stay
  std::string setl_id;
  std::int64_t item_id = 0;
  std::string kind;  // amounts, undo, resolve (the correction's action)
  std::string fund, account, cash;
  std::string reason;
  std::int64_t id = 0;  // approve, refuse
  std::string note;
  std::string state;  // list
};
int run_correction(const ClientOptions& o, const CorrectionCommand& c, std::ostream& out, std::ostream& err);

// settlectl work: the insurance office's work list.
int run_work(const ClientOptions& o, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
