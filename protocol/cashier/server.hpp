// The cashier socket server: newline-delimited JSON-RPC over a Unix domain
// socket (and optionally loopback TCP), per-connection sessions and role
// checks, bounded pipelining, and notifications to subscribed connections.
#pragma once

#include "engine/result.hpp"
#include "protocol/cashier/auth.hpp"
#include "protocol/cashier/params.hpp"
#include "protocol/cashier/rpc.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace boost::asio {
class thread_pool;
}

namespace settle::cashier {

// Who is calling: the connection and its logged-in operator and window.
struct SessionInfo {
  std::uint64_t connection_id = 0;
  std::string operator_name;
  Role role = Role::cashier;
  std::string window;
  std::string source;  // the peer as the kernel names it ("uid:1000")
  bool logged_in = false;
  bool must_change_password = false;  // only session.change_password until changed
};

// One validated request for the daemon.
struct Call {
  Json id;  // the client's id (for logs; the server answers with it)
  Method method = Method::engine_status;
  MethodParams params;
  std::optional<std::string> request_id;  // mutating methods
  std::optional<std::string> canonical;   // canonical_form() of mutating methods
};

// What the daemon answers: a result object or an error.
struct Reply {
  std::optional<Json> result;
  std::optional<RpcError> error;

  static Reply ok(Json result) { return Reply{std::move(result), std::nullopt}; }
  static Reply fail(Error e, Json extra_data = Json::object()) {
    return Reply{std::nullopt, domain_error(std::move(e), std::move(extra_data))};
  }
};

// Completes one call. Call it exactly once, from any thread. If every copy
// is destroyed without being called, the client gets INTERNAL.
using Completion = std::function<void(Reply)>;

// Methods the server answers itself (they never reach the Dispatcher):
// session.login, session.logout, session.change_password, events.subscribe
// and operator.* (these run on the server's auth thread).
bool answered_by_server(Method m) noexcept;

// The daemon's side: every method answered_by_server does not answer.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // Called on the server's io_context; must not block. The session is
  // already checked: logged in (except engine.status) and allowed by role.
  virtual void dispatch(const SessionInfo& session, Call call, Completion done) = 0;
  // The session of a connection ended (logout, another login, or the
  // connection closed): drop what was bound to it (card read, PIN verified).
  virtual void session_ended(std::uint64_t /*connection_id*/) {}
};

struct ServerConfig {
  std::string unix_path;                   // created with mode 0660
  std::optional<std::string> tcp_address;  // loopback only ("127.0.0.1", "::1"); unset = no TCP
  std::uint16_t tcp_port = 0;              // 0 = any free port (see Server::tcp_port)
  std::size_t max_connections = 64;
  std::size_t max_in_flight_per_connection = 16;      // reading pauses at this many
  std::size_t max_queued_output_bytes = 1024 * 1024;  // reading pauses above; notifications close a slow reader
  std::chrono::milliseconds write_timeout{10'000};    // a write not done by then closes the connection
  std::chrono::milliseconds idle_timeout{0};          // 0 = connections may stay idle
  // A connection nobody is logged in on is closed once it has sent no request
  // for this long (0 = never); the clock starts again when a session ends.
  std::chrono::milliseconds login_timeout{30'000};
  // A logged-in session with no request for this long is ended, with a
  // session.expired notification (0 = never).
  std::chrono::milliseconds session_idle_timeout{0};
  // A request line begun and not finished within this closes the connection.
  std::chrono::milliseconds partial_line_timeout{10'000};
  // Failed logins (wrong password, locked) one connection may make; the
  // connection is closed after answering the last.
  int max_failed_logins_per_connection = 3;
  // Calls a source (the peer's uid) may make in a second on connections
  // nobody is logged in on, session.login aside (logins have their own
  // throttle): engine.status, and calls refused as UNAUTHENTICATED. Past it
  // they are answered LIMIT_EXCEEDED (retry_after_ms), unaudited. Sessions
  // are not limited.
  int unauthenticated_calls_per_second = 10;
  // Checks the window of session.login (nullptr = any window).
  std::function<bool(std::string_view)> window_known;
  // Operating events worth a log line (never a PIN, password or ID number).
  std::function<void(std::string_view)> log;
  // A call the server refused itself (no session, a role that may not call
  // it, an initial password to change) and every refused login, for the
  // audit trail: the session, the method, the error, and for a login the
  // operator name given.
  std::function<void(const SessionInfo&, std::string_view method, const Error&, std::string_view operator_given)>
      refused;
};

enum class StopMode {
  drain,  // stop accepting and reading; answer what is in flight, then close
  abort,  // close every connection now; late completions are dropped
};

// Threading: every handler runs on one strand of the given io_context;
// start(), stop() and notify() may be called from any thread. Logins (a slow
// KDF and the OperatorStore) run on a private auth thread. Destroy the Server
// only after the io_context has stopped running.
class Server {
 public:
  Server(boost::asio::io_context& ioc, ServerConfig config, Authenticator& auth, Dispatcher& dispatcher);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Errors: INVALID_CONFIG (non-loopback TCP address,
  // path too long, the path is not a socket, another server listens on it),
  // INTERNAL for other system errors.
  Status start();
  // Stops accepting; closes connections per `mode`; removes the socket file;
  // calls on_stopped (on the io_context) when the last connection is gone.
  void stop(StopMode mode, std::function<void()> on_stopped = {});
  // Sends a notification to every logged-in connection subscribed to topic.
  void notify(Topic topic, std::string method, Json params);
  // Sends a notification to one logged-in connection (e.g. the progress of a
  // call it made); nothing if it is gone.
  void notify_connection(std::uint64_t connection_id, std::string method, Json params);

  std::optional<std::uint16_t> tcp_port() const;  // the bound port, after start()
  std::size_t connection_count() const;
  // Accepts that failed (out of descriptors and the like), since start().
  std::uint64_t accept_failures() const;
  // Connections closed to make room for a new one (the oldest not logged in).
  std::uint64_t evictions() const;
  // Calls before a login answered LIMIT_EXCEEDED (unauthenticated_calls_per_second).
  std::uint64_t unauthenticated_limited() const;

  struct Impl;

 private:
  std::unique_ptr<boost::asio::thread_pool> auth_pool_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace settle::cashier
