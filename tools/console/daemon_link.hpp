// One connection to settled's cashier socket (docs/cashier-api.md): an
// asynchronous JSON-RPC 2.0 line client. Requests get ids of their own on
// this connection, answers are matched by id, notifications (lines without
// an id) go to on_notification. Runs on one io_context thread.
#pragma once

#include "protocol/json.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace settle::console {

class DaemonLink : public std::enable_shared_from_this<DaemonLink> {
 public:
  struct Answer {
    bool reached = false;          // an answer line with the request's id came
    json::Json response;           // that line: {"jsonrpc","id","result"|"error"}
    std::string failure;           // else what went wrong, for people
  };

  static std::shared_ptr<DaemonLink> create(const boost::asio::any_io_executor& ex, const std::string& socket_path);
  ~DaemonLink();
  DaemonLink(const DaemonLink&) = delete;
  DaemonLink& operator=(const DaemonLink&) = delete;

  // Connects; "" when connected, else what failed (naming the socket).
  boost::asio::awaitable<std::string> connect();
  // Sends one request and waits for its answer, at most `timeout`.
  boost::asio::awaitable<Answer> call(const std::string& method, const json::Json& params,
                                      std::chrono::seconds timeout);
  // Closes the socket; waiting calls end unreached. on_closed is not called.
  void close();
  bool is_open() const;

  // A notification line: its method and params.
  std::function<void(const std::string& method, const json::Json& params)> on_notification;
  // The daemon closed the connection or it failed (not after close()).
  std::function<void(const std::string& why)> on_closed;

 private:
  struct Impl;
  DaemonLink(const boost::asio::any_io_executor& ex, const std::string& socket_path);
  void send_line(std::string line);
  boost::asio::awaitable<void> read_loop(std::shared_ptr<DaemonLink> self);
  boost::asio::awaitable<void> write_loop(std::shared_ptr<DaemonLink> self);
  void fail(const std::string& why);
  std::unique_ptr<Impl> impl_;
};

}  // namespace settle::console
