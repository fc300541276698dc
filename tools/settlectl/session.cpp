// The window transaction of settlectl's cashier commands: connection, login,
// card and PIN, and calls whose refusals are worded with the daemon's reason.
// The password and the PIN are wiped once sent and never printed.
#include "tools/settlectl/session.hpp"

#include "tools/common/exit_codes.hpp"
#include "tools/settlectl/cashier_cmds.hpp"
#include "tools/settlectl/format.hpp"

#include <fmt/format.h>

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>

namespace settle::tools {

using json::Json;

std::string reason_of_status(int status) {
  switch (status) {
    case exit_code::not_right: return "NOT_RIGHT";
    case exit_code::usage: return "USAGE";
    case exit_code::unreachable: return "UNREACHABLE";
    case exit_code::refused: return "REFUSED";
    case exit_code::local: return "LOCAL_FILE";
    default: return "FAILED";
  }
}

int report_failure(const Failure& f, bool json, std::ostream& out, std::ostream& err) {
  if (json) {
    Json e{{"reason", f.reason.empty() ? reason_of_status(f.status) : f.reason},
           {"message", f.message},
           {"field", f.field.empty() ? Json(nullptr) : Json(f.field)},
           {"exit_code", f.status}};
    out << dump_exact(Json{{"error", e}}, -1) << "\n" << std::flush;
  } else {
    err << "settlectl: " << f.message << "\n";
  }
  return f.status;
}

int fail(const ClientOptions& o, std::ostream& out, std::ostream& err, const Failure& f) {
  return report_failure(f, o.json, out, err);
}

Result<std::string> read_secret_line(const std::string& path, std::string_view what) {
  std::string line;
  if (path == "-") {
    if (!std::getline(std::cin, line))
      return make_error(Reason::invalid_request, std::string(what), fmt::format("no {} on standard input", what));
  } else {
    std::ifstream f(path);
    if (!f || !std::getline(f, line))
      return make_error(Reason::invalid_request, std::string(what), fmt::format("cannot read the {} from {}", what, path));
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

Result<std::string> read_pin(bool from_stdin) {
  std::string pin;
  if (from_stdin || !::isatty(STDIN_FILENO)) {
    if (!std::getline(std::cin, pin)) return make_error(Reason::invalid_request, "pin", "no PIN on standard input");
  } else {
    std::cerr << "PIN (the patient types it): " << std::flush;
    termios old{};
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, pin);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  while (!pin.empty() && (pin.back() == '\r' || pin.back() == '\n')) pin.pop_back();
  return pin;
}

std::optional<Failure> Session::open(bool login, bool initial_ok) {
  auto c = CashierClient::connect(o_.socket);
  if (!c) return Failure{exit_code::unreachable, c.error().message, "UNREACHABLE", "--socket"};
  client_.emplace(std::move(*c));
  if (!login) return std::nullopt;
  if (o_.operator_name.empty() || o_.window.empty())
    return Failure{exit_code::usage, "--operator and --window are needed (and --password-file, or the password on stdin)",
                   "USAGE", o_.operator_name.empty() ? "--operator" : "--window"};
  auto pw = read_secret_line(o_.password_file.empty() ? "-" : o_.password_file, "password");
  if (!pw) return Failure{exit_code::usage, pw.error().message, "USAGE", "--password-file"};
  auto a = call("session.login", Json{{"operator", o_.operator_name}, {"password", *pw}, {"window", o_.window}});
  std::fill(pw->begin(), pw->end(), '\0');
  if (!a) return a.error();
  const auto change = a.value().find("password_change_required");
  if (!initial_ok && change != a.value().end() && change->is_boolean() && change->get<bool>())
    return Failure{exit_code::refused, fmt::format("PASSWORD_CHANGE_REQUIRED: the password of {} is an initial one; change it first "
                                  "(settlectl password)",
                                  o_.operator_name),
                   "PASSWORD_CHANGE_REQUIRED", ""};
  return std::nullopt;
}

std::optional<Failure> Session::read_card() {
  auto a = call("card.read", Json{{"timeout_ms", o_.card_timeout_ms}});
  if (!a) return a.error();
  card_ = a.value();
  return std::nullopt;
}

std::optional<Failure> Session::verify_pin() {
  auto pin = read_pin(o_.pin_stdin);
  if (!pin) return Failure{exit_code::usage, pin.error().message, "USAGE", "pin"};
  auto a = call("card.verify_pin", Json{{"pin", *pin}});
  std::fill(pin->begin(), pin->end(), '\0');
  if (!a) return a.error();
  return std::nullopt;
}

Answer Session::call(std::string_view method, const Json& params, const CashierClient::NoteHandler& on_note) {
  auto a = client_->call(method, params, std::chrono::milliseconds(120'000), on_note);
  if (!a) return Answer{std::nullopt, Failure{exit_code::unreachable, a.error().message, "UNREACHABLE", ""}};
  if (!a->ok) {
    std::string msg = fmt::format("{}: {}", a->reason, a->message);
    if (a->data.is_object() && a->data.contains("retries_left") && !a->data["retries_left"].is_null())
      msg += fmt::format(" (tries left: {})", a->data["retries_left"].dump());
    std::string field;
    if (a->data.is_object() && a->data.contains("field") && a->data["field"].is_string())
      field = a->data["field"].get<std::string>();
    return Answer{std::nullopt, Failure{exit_code::refused, msg, a->reason, field}};
  }
  return Answer{a->result, std::nullopt};
}

}  // namespace settle::tools
