// settlectl's window transaction on one connection to the daemon: connect,
// log in (password from a file or stdin), read the card, verify the PIN, call;
// a refused or failed call becomes a Failure carrying settlectl's exit status.
#pragma once

#include "protocol/json.hpp"
#include "tools/settlectl/client.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace settle::tools {

struct ClientOptions;

// Why a command stops: the exit status (tools/common/exit_codes.hpp: 2 bad
// usage or input, 3 the daemon could not be reached, 4 the daemon refused,
// 5 a local file), a sentence for people, and for programs (--json) the
// daemon's reason and the field it names.
struct Failure {
  int status = 0;
  std::string message{};
  std::string reason{};  // the daemon's reason (INVALID_REQUEST, ...), or settlectl's own word for it
  std::string field{};   // the option or field at fault, when one is named
};

// The reason settlectl gives a failure of its own, by exit status
// (usage, unreachable, refused, local_file, not_right).
std::string reason_of_status(int status);

// Prints a failure: with `json`, {"error": {"reason", "message", "field",
// "exit_code"}} on `out` (stdout, so a program reads one JSON document
// either way); otherwise "settlectl: message" on `err`. Returns its status.
int report_failure(const Failure& f, bool json, std::ostream& out, std::ostream& err);
// The same, as the command's options ask (--json).
int fail(const ClientOptions& o, std::ostream& out, std::ostream& err, const Failure& f);

// A call's result, or a Failure with the daemon's reason.
struct Answer {
  std::optional<json::Json> result;
  std::optional<Failure> failure;
  explicit operator bool() const { return result.has_value(); }
  const json::Json& value() const { return *result; }
  Failure error() const { return *failure; }
};

// Reads the first line of a file, or of stdin for "-"; trailing newline removed.
Result<std::string> read_secret_line(const std::string& path, std::string_view what);

// The PIN: one line on stdin (scripts), or typed at the terminal without echo.
Result<std::string> read_pin(bool from_stdin);

class Session {
 public:
  explicit Session(const ClientOptions& o) : o_(o) {}

  // Connects (and logs in unless `login` is false). A login with an initial
  // password (password_change_required) is a Failure unless `initial_ok`:
  // only settlectl password may go on with it.
  std::optional<Failure> open(bool login, bool initial_ok = false);
  // card.read at the operator's window; the card is kept for card().
  std::optional<Failure> read_card();
  // card.verify_pin with the PIN read by read_pin.
  std::optional<Failure> verify_pin();
  Answer call(std::string_view method, const json::Json& params, const CashierClient::NoteHandler& on_note = {});

  const json::Json& card() const { return card_; }

 private:
  const ClientOptions& o_;
  std::optional<CashierClient> client_;
  json::Json card_;
};

}  // namespace settle::tools
