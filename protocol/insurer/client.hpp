// The insurer link's HTTPS client: mutual TLS 1.2+ to the insurer, a bounded
// pool of keep-alive connections, a deadline on every step, and one outcome
// per request in exactly three classes (answered / unreachable / in_doubt),
// which is what the daemon's offline and reversal logic branches on.
#pragma once

#include "engine/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace settle::insurer {

// Transport limits, each with its reason.
namespace link_limits {
// Connections to one insurer endpoint: the insurer grants each institution a
// handful; more only multiplies handshakes and server load.
inline constexpr std::size_t max_pool_size = 64;
// Callers waiting for a connection, per client: beyond this a request is
// refused at once (unreachable) rather than queued behind minutes of work.
inline constexpr std::size_t max_waiting_bound = 4096;
// Largest reply accepted (3202/9303 pages included).
inline constexpr std::size_t default_max_reply_bytes = 8 * 1024 * 1024;
// Largest request body the client will send.
inline constexpr std::size_t max_request_bytes = 8 * 1024 * 1024;
// No timeout may be configured beyond ten minutes: a bigger figure is a typo.
inline constexpr std::uint32_t max_timeout_ms = 600'000;
}  // namespace link_limits

struct ClientConfig {
  std::string host;               // name or address to connect to
  std::uint16_t port = 443;
  std::string server_name;        // expected in the server certificate, sent as SNI; empty = host
  std::string target = "/";       // HTTP request target (path) of the insurer's endpoint
  std::string ca_file;            // PEM: the only CA(s) trusted for the insurer's certificate
  std::string cert_file;          // PEM: this institution's client certificate (chain)
  std::string key_file;           // PEM: its private key
  std::size_t pool_size = 4;      // persistent connections at most
  std::size_t max_waiting = 256;  // callers waiting for a connection at most
  std::uint32_t connect_timeout_ms = 3000;    // resolve + TCP connect + TLS handshake
  std::uint32_t request_timeout_ms = 5000;    // from the first byte written to the last byte read
  std::uint32_t pool_wait_timeout_ms = 5000;  // waiting for a free connection
  std::uint32_t idle_timeout_ms = 30'000;     // pooled connections idle longer are closed, not reused
  std::size_t max_reply_bytes = link_limits::default_max_reply_bytes;
  std::string paasid;             // x-tif-paasid
  std::string secret;             // HMAC key for x-tif-signature
};

// Checks a config without touching the network; files must be readable and
// the key must match the certificate. INVALID_CONFIG naming the field.
Status validate(const ClientConfig& config);

// What happened to one request. The daemon branches on this and on nothing else.
enum class OutcomeClass : std::uint8_t {
  answered,     // an HTTP response was received: status + body (the codec decides what it means)
  unreachable,  // nothing was sent: safe to settle offline without a reversal
  in_doubt,     // request bytes may have reached the insurer, no complete reply: reverse it
};

// Why, in the link's own words (foreign codes are translated once, in client_errors.cpp).
enum class LinkError : std::uint8_t {
  none = 0,
  // unreachable
  resolve_failed = 1,        // the host name did not resolve
  connect_refused = 2,       // TCP connection refused
  connect_failed = 3,        // network/host unreachable and other connect errors
  connect_timeout = 4,       // connect or TLS handshake not done within connect_timeout_ms
  tls_handshake_failed = 5,  // TLS failed for a reason other than certificates (protocol, version)
  server_cert_rejected = 6,  // the insurer's certificate is not from the configured CA, or expired
  host_name_mismatch = 7,    // the insurer's certificate does not name server_name
  client_cert_rejected = 8,  // the insurer refused this institution's certificate
  pool_wait_timeout = 9,     // no connection became free within pool_wait_timeout_ms
  pool_queue_full = 10,      // max_waiting callers already waiting
  client_closed = 11,        // the client was closed
  signing_failed = 12,       // the request could not be signed (random generator failure)
  request_too_large = 13,    // the body exceeds link_limits::max_request_bytes
  // in_doubt
  write_failed = 20,         // the connection failed while the request was being written
  reply_timeout = 21,        // no complete reply within request_timeout_ms
  connection_closed = 22,    // the insurer closed or reset the connection before a complete reply
  bad_reply = 23,            // bytes came back that are not an HTTP/1.1 response
  reply_too_large = 24,      // the reply exceeds max_reply_bytes
};

std::string_view link_error_name(LinkError e) noexcept;

struct Outcome {
  OutcomeClass kind = OutcomeClass::unreachable;
  LinkError error = LinkError::none;  // none exactly when answered
  std::string detail;                 // a sentence for the log; empty when answered
  unsigned http_status = 0;           // answered only
  std::string body;                   // answered only
  bool reused_connection = false;     // the request went over a pooled connection
  std::uint32_t elapsed_ms = 0;       // from post() to the outcome
  // answered only, when the reply carried a readable Date header: the
  // insurer's clock less this host's, in seconds, when the reply was read.
  std::optional<std::int64_t> clock_offset_s;

  bool answered() const noexcept { return kind == OutcomeClass::answered; }
};

std::string_view outcome_class_name(OutcomeClass c) noexcept;

// One request: the already-encoded envelope, and its infno/msgid for the log.
struct LinkRequest {
  std::string body;
  std::string infno;
  std::string msgid;
  std::optional<std::uint32_t> request_timeout_ms;  // overrides the config for this request
};

// Counters since the client was made (tests and metrics).
struct ClientStats {
  std::uint64_t connections_opened = 0;   // TLS handshakes completed
  std::uint64_t connect_failures = 0;
  std::uint64_t requests_sent = 0;        // requests whose writing started
  std::uint64_t reused = 0;               // requests sent over a pooled connection
  std::uint64_t stale_discarded = 0;      // pooled connections found closed before use
  std::uint64_t idle_expired = 0;         // pooled connections closed for idleness
  std::size_t open_connections = 0;       // now: idle + busy + connecting
  std::size_t idle_connections = 0;       // now
  std::size_t waiting = 0;                // now
};

// Asynchronous client. Threading: the pool's state lives on the executor
// given to create(); run that io_context on ONE thread (or give a strand).
// post(LinkRequest, callback) may be called from any thread (it starts on the
// executor); co_await post(LinkRequest), close() and stats() only from code
// running on that executor. Owned through shared_ptr: operations in flight
// keep it alive. Requests never retry once a byte has been written; the only second
// attempt is taking another connection when a pooled one is found closed
// before anything was written (see docs/insurer-protocol.md).
class Client : public std::enable_shared_from_this<Client> {
 public:
  // Loads the certificates and key; INVALID_CONFIG naming what is wrong.
  static Result<std::shared_ptr<Client>> create(boost::asio::any_io_executor executor,
                                                ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request. Never throws; every failure is an Outcome.
  boost::asio::awaitable<Outcome> post(LinkRequest request);
  // The same with a completion callback, called on the client's executor.
  void post(LinkRequest request, std::function<void(Outcome)> done);

  // Closes idle connections and refuses waiting and later requests
  // (unreachable, client_closed). Requests in flight finish by their deadline.
  void close();

  ClientStats stats() const;
  const ClientConfig& config() const noexcept;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A blocking wrapper for tools and tests: owns an io_context and runs it for
// the duration of each call. Keeps its pooled connections between calls.
class SyncClient {
 public:
  static Result<std::unique_ptr<SyncClient>> create(ClientConfig config);
  ~SyncClient();

  Outcome post(LinkRequest request);
  ClientStats stats() const;

 private:
  SyncClient() = default;
  boost::asio::io_context io_;
  std::shared_ptr<Client> client_;
};

}  // namespace settle::insurer
