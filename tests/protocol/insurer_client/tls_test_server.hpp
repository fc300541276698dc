// An in-process HTTPS server on 127.0.0.1 (ephemeral port, own thread) that
// misbehaves on demand, for the insurer client's unit tests: it answers,
// stalls the handshake, swallows requests, hangs up, or sends garbage, and
// counts what it saw. Requests are checked with the real signing Verifier.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace settle::testing {

enum class ServerMode : int {
  answer,            // 200 with {"echo": <request body>} (401 if the signature is bad)
  never_handshake,   // accept TCP, never speak TLS
  read_no_answer,    // read the request, never reply
  close_after_read,  // read the request, close the connection
  garbage,           // read the request, reply with bytes that are not HTTP
  answer_then_close, // reply, then close the connection (TLS close_notify + FIN)
  big_answer,        // 200 with a 4 KiB body
  connection_close,  // reply with "Connection: close" and close
};

struct ServerOptions {
  std::string cert = "server";  // server.crt/.key or other-server.crt/.key
  std::string client_ca = "ca"; // CA that client certificates must chain to
  bool tls12_only = false;
  std::string tls12_ciphers = {};  // TLS 1.2 suites the server accepts (OpenSSL's list); empty = its defaults
  std::string paasid = "H11010500001";
  std::string secret = "test-secret";
};

class TlsTestServer {
 public:
  explicit TlsTestServer(ServerOptions options = {});
  ~TlsTestServer();
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;

  std::uint16_t port() const;
  void set_mode(ServerMode m) { mode.store(m); }

  std::atomic<ServerMode> mode{ServerMode::answer};
  std::atomic<int> answer_delay_ms{0};
  std::atomic<int> accepts{0};
  std::atomic<int> handshakes{0};
  std::atomic<int> handshake_failures{0};
  std::atomic<int> requests{0};
  std::atomic<int> bad_signatures{0};
  std::atomic<int> closed_by_server{0};
  std::atomic<int> active_requests{0};
  std::atomic<int> max_active_requests{0};

  // Headers/body of the last request, for inspection.
  std::string last_body() const;
  std::string last_header(const std::string& name) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace settle::testing
