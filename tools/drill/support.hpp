// What the drill's runner (drill.cpp) and its scenarios (scenario.cpp) share:
// the clock and time helpers, calls through settlectl's client, the login of
// a window, and the entry of the scenarios after the insurer line's.
#pragma once

#include "tests/support/daemon_harness.hpp"
#include "tools/drill/drill.hpp"
#include "tools/settlectl/client.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

namespace settle::drill {

using Clock = std::chrono::steady_clock;
using settle::tools::CashierClient;
using settle::tools::RpcAnswer;


inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
inline std::chrono::milliseconds ms(double s) { return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000)); }

// The clearing date (the insurer's calendar day, UTC+8) of now, YYYY-MM-DD.
inline std::string clearing_date() {
  const std::time_t t = std::time(nullptr) + 8 * 3600;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// Now in the hospital's zone (China Standard Time, UTC+8, as the daemon and
// the insurer write every time), whatever the host's zone is.
inline std::string iso_now() {
  const std::time_t t = std::time(nullptr) + 8 * 3600;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
  return buf;
}

// A string field, or "" when absent or not a string.
inline std::string str_at(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  const Json* v = json::find(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

inline std::int64_t int_at(const Json& obj, const char* key, std::int64_t otherwise = -1) {
  if (!obj.is_object() || json::find(obj, key) == nullptr) return otherwise;
  auto v = json::get_int(obj, key, key);
  return v ? *v : otherwise;
}

// A call through settlectl's client; a transport failure becomes an answer
// with reason TRANSPORT and the client's message.
inline RpcAnswer call(CashierClient& c, std::string_view method, const Json& params, std::chrono::milliseconds timeout) {
  auto a = c.call(method, params, timeout);
  if (a) return std::move(*a);
  RpcAnswer failed;
  failed.reason = "TRANSPORT";
  failed.message = a.error().message;
  return failed;
}

inline std::string describe(const RpcAnswer& a) {
  return a.ok ? std::string("ok") : fmt::format("{} ({})", a.reason, a.message);
}

inline CashierClient login(const std::string& socket, const std::string& op, const std::string& password,
                    const std::string& window) {
  auto c = CashierClient::connect(socket);
  if (!c) throw std::runtime_error(fmt::format("cannot connect to settled at {}: {}", socket, c.error().message));
  const RpcAnswer a =
      call(*c, "session.login", Json{{"operator", op}, {"password", password}, {"window", window}},
           std::chrono::seconds(10));
  if (!a.ok) throw std::runtime_error(fmt::format("session.login as {} at {}: {}", op, window, describe(a)));
  return std::move(*c);
}

// Runs the scenarios other than `line` that the options name, on the stack
// the runner brought up (`own`: started by the drill, else attached).
std::vector<ScenarioResult> run_scenarios(settle::testing::Stack& stack, bool own, const Options& o,
                                          const std::string& socket, const std::string& pin,
                                          const std::vector<std::string>& windows,
                                          const std::function<void(const std::string&)>& say);

// The flag file that fails the ledger's writes (the drill's own stack, started
// with the write-failing shim), or "" when the shim is not there.
std::string disk_fault_flag(const settle::testing::Stack& stack);

}  // namespace settle::drill
