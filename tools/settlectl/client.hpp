// The cashier API client of settlectl: one connection to the daemon's Unix
// socket, newline-delimited JSON-RPC requests answered in order, with a
// deadline on every answer.
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <chrono>
#include <functional>
#include <cstdint>
#include <string>
#include <string_view>

namespace settle::tools {

// An answer: the result, or the error object's reason, message and data.
struct RpcAnswer {
  bool ok = false;
  json::Json result;
  std::string reason;   // the error's data.reason
  std::string message;  // the error's message
  json::Json data;      // the error's data
};

class CashierClient {
 public:
  // Connects to the daemon's socket. Errors name the path and what failed.
  static Result<CashierClient> connect(const std::string& socket_path);
  CashierClient(CashierClient&& o) noexcept;
  CashierClient& operator=(CashierClient&&) = delete;
  CashierClient(const CashierClient&) = delete;
  ~CashierClient();

  // Sends one request and waits for its answer (notifications are skipped,
  // or given to on_note). The timeout runs from the last line received.
  using NoteHandler = std::function<void(const std::string& method, const json::Json& params)>;
  Result<RpcAnswer> call(std::string_view method, const json::Json& params,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(120'000),
                         const NoteHandler& on_note = {});

 private:
  explicit CashierClient(int fd) : fd_(fd) {}
  Result<std::string> read_line(std::chrono::milliseconds timeout);

  int fd_ = -1;
  std::int64_t next_id_ = 1;
  std::string buffer_;
};

}  // namespace settle::tools
