// settlectl's cashier and operator commands over the daemon's socket. Each
// command is one window transaction on one connection: log in, read the card
// (and verify the PIN when one is given), then the operation itself.
#pragma once

#include "tools/common/paths.hpp"

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace settle::tools {

struct ClientOptions {
  std::string socket = default_cashier_socket;
  std::string operator_name;
  std::string password_file;  // first line is the password; "-" = stdin
  std::string window;
  bool json = false;
  bool pin_stdin = false;      // read the card's PIN from stdin (one line)
  std::int64_t card_timeout_ms = 0;
};

struct CashierCommand {
  std::string name;  // status, read-card, verify-pin, person, history, preview, commit, refund, resettle, get, list
  std::string lines_file;     // preview/commit: charge lines JSON ([...] or {"lines": [...]}); refund: [{code, amount}]
  std::string request_id;
  std::string setl_id;
  bool no_account = false;
  std::string from, to, state;
  bool full = false;  // redlist-sync: a whole snapshot
  std::int64_t item_id = 0;  // parked-retry, parked-resolve: the outbox item
  std::string note;          // parked-resolve: what the office did instead
  bool stay_queue = false;   // parked-retry, parked-resolve: the item is a stay's (queue "stay")
  bool csv = false;          // list: CSV of every row
  std::string refund_id;     // sheet: that refund's sheet
  std::string paper = "A5";  // sheet: A5 or A4
  std::string out_file;      // sheet: where the HTML goes ("-" or empty: stdout)
  std::int64_t limit = 200;  // list: rows shown in the table (0 = all)
};

// Exit status (tools/common/exit_codes.hpp): 0 done, 1 uploads flush left
// some unsent, 2 bad usage or input, 3 the daemon could not be reached, 4 the
// daemon refused (its reason printed), 5 a local file. With --json a failure
// is {"error": {...}} on `out`.
int run_cashier(const ClientOptions& o, const CashierCommand& c, std::ostream& out, std::ostream& err);

// settlectl inpatient ACTION (inpatient.hpp): the same exit statuses; bad
// options or lines files are refused (2) before anything is sent.
struct InpatientCommand;
int run_inpatient(const ClientOptions& o, const InpatientCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
