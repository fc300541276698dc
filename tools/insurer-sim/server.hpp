// The simulator's network side: the insurer's HTTPS endpoint (Beast on one
// io_context thread, TLS 1.2+, client certificate required, signatures
// verified, faults applied) and the loopback control endpoint (plain HTTP).
#pragma once

#include "engine/result.hpp"
#include "protocol/insurer/signing.hpp"
#include "tools/insurer-sim/control.hpp"
#include "tools/insurer-sim/faults.hpp"
#include "tools/insurer-sim/insurer.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace settle::sim {

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  std::string control_host = "127.0.0.1";
  std::uint16_t control_port = 0;
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  std::int64_t handshake_timeout_ms = 10'000;
  std::int64_t idle_timeout_ms = 120'000;   // a kept-alive connection with no request is closed
  std::int64_t stall_hold_ms = 120'000;     // how long a stalled request is held open
  std::size_t max_connections = 1024;
};

class Server {
 public:
  Server(boost::asio::io_context& ioc, ServerConfig cfg, Insurer& insurer, FaultSet& faults,
         insurer::Verifier& verifier);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds both ports and starts accepting. INVALID_CONFIG for a non-loopback
  // control address, unreadable certificates or a port in use.
  Status start();
  void stop();
  std::uint16_t port() const;
  std::uint16_t control_port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace settle::sim
