// The window transaction of settlectl's cashier commands: connection, login,
// card and PIN, and calls whose refusals are worded with the daemon's reason.
// The password and the PIN are wiped once sent and never printed.
#include "tools/settlectl/session.hpp"

#include "tools/settlectl/cashier_cmds.hpp"

#include <fmt/format.h>

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>

namespace settle::tools {

using json::Json;

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
  if (!c) return Failure{3, c.error().message};
  client_.emplace(std::move(*c));
  if (!login) return std::nullopt;
  if (o_.operator_name.empty() || o_.window.empty())
    return Failure{2, "--operator and --window are needed (and --password-file, or the password on stdin)"};
  auto pw = read_secret_line(o_.password_file.empty() ? "-" : o_.password_file, "password");
  if (!pw) return Failure{2, pw.error().message};
  auto a = call("session.login", Json{{"operator", o_.operator_name}, {"password", *pw}, {"window", o_.window}});
  std::fill(pw->begin(), pw->end(), '\0');
  if (!a) return a.error();
  const auto change = a.value().find("password_change_required");
  if (!initial_ok && change != a.value().end() && change->is_boolean() && change->get<bool>())
    return Failure{1, fmt::format("PASSWORD_CHANGE_REQUIRED: the password of {} is an initial one; change it first "
                                  "(settlectl password)",
                                  o_.operator_name)};
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
  if (!pin) return Failure{2, pin.error().message};
  auto a = call("card.verify_pin", Json{{"pin", *pin}});
  std::fill(pin->begin(), pin->end(), '\0');
  if (!a) return a.error();
  return std::nullopt;
}

Answer Session::call(std::string_view method, const Json& params, const CashierClient::NoteHandler& on_note) {
  auto a = client_->call(method, params, std::chrono::milliseconds(120'000), on_note);
  if (!a) return Answer{std::nullopt, Failure{3, a.error().message}};
  if (!a->ok) {
    std::string msg = fmt::format("{}: {}", a->reason, a->message);
    if (a->data.is_object() && a->data.contains("retries_left") && !a->data["retries_left"].is_null())
      msg += fmt::format(" (tries left: {})", a->data["retries_left"].dump());
    return Answer{std::nullopt, Failure{1, msg}};
  }
  return Answer{a->result, std::nullopt};
}

}  // namespace settle::tools
