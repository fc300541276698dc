// The cashier socket server on Boost.Asio: acceptors for the Unix socket and
// loopback TCP, and one Connection per client that frames lines, checks
// sessions and roles, bounds its in-flight calls and queued output, and
// writes answers in completion order. boost::system errors stop here.
#include "protocol/cashier/server.hpp"

#include "engine/limits.hpp"
#include "protocol/cashier/framer.hpp"
#include "protocol/cashier/mask.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>

namespace asio = boost::asio;

namespace settle::cashier {
namespace {

using Strand = asio::strand<asio::io_context::executor_type>;
using GenericSocket = asio::generic::stream_protocol::socket;

constexpr std::size_t kReadChunkBytes = 16 * 1024;

std::string system_message(const boost::system::error_code& ec) { return ec.message(); }

// Is a server accepting on this Unix socket path? (A refused connect means
// the file is left over from a process that is gone.)
enum class Probe { listening, stale, error };
Probe probe_unix_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Probe::error;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  if (rc == 0) return Probe::listening;
  if (err == ECONNREFUSED || err == ENOENT) return Probe::stale;
  return Probe::error;
}

// The peer of a Unix socket as the kernel tells it: "uid:<n>".
std::string unix_peer_source(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "unix:unknown";
  return fmt::format("uid:{}", cred.uid);
}

// /proc/net/tcp's text of an address: each 32-bit word as the kernel holds
// it (host order), then the port.
std::string proc_net_address(const asio::ip::tcp::endpoint& ep) {
  std::string out;
  const auto add_words = [&out](const unsigned char* bytes, std::size_t n) {
    for (std::size_t i = 0; i + 4 <= n; i += 4) {
      std::uint32_t word = 0;
      std::memcpy(&word, bytes + i, 4);
      out += fmt::format("{:08X}", word);
    }
  };
  if (ep.address().is_v4()) {
    const auto b = ep.address().to_v4().to_bytes();
    add_words(b.data(), b.size());
  } else {
    const auto b = ep.address().to_v6().to_bytes();
    add_words(b.data(), b.size());
  }
  return fmt::format("{}:{:04X}", out, ep.port());
}

// The peer of a loopback TCP connection: the user owning the client's end,
// read from /proc/net/tcp{,6} (the client's socket is the established row
// whose local address is our remote one). "tcp:unknown" when it cannot be
// found; such a connection may not log in.
std::string tcp_peer_source(const asio::ip::tcp::endpoint& local, const asio::ip::tcp::endpoint& remote) {
  const std::string want_local = proc_net_address(remote), want_remote = proc_net_address(local);
  std::ifstream in(local.address().is_v4() ? "/proc/net/tcp" : "/proc/net/tcp6");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    // sl local rem st tx:rx tr:when retrnsmt uid ...
    std::istringstream fields(line);
    std::string sl, loc, rem, st, q, tr, retr, uid;
    if (!(fields >> sl >> loc >> rem >> st >> q >> tr >> retr >> uid)) continue;
    // Established rows only: a client that closed at once leaves a TIME_WAIT
    // row, which the kernel shows as uid 0 (not who it was).
    if (loc == want_local && rem == want_remote && st == "01") return "uid:" + uid;
  }
  return "tcp:unknown";
}

struct Connection;

// One operator.* call through the Authenticator (blocking: the auth thread).
// `target` gets the operator it named. The answer of a change is the
// operator as listed after it.
Reply run_admin(Authenticator& auth, Method m, const MethodParams& params, const Actor& by, std::string& target) {
  const auto role_of = [](const std::string& name) { return role_from_name(name).value_or(Role::cashier); };
  Status done = Ok{};
  switch (m) {
    case Method::operator_list: {
      auto all = auth.list();
      if (!all) return Reply::fail(all.error());
      Json ops = Json::array();
      for (const auto& o : *all) ops.push_back(operator_json(o));
      return Reply::ok(Json{{"operators", std::move(ops)}});
    }
    case Method::operator_add: {
      const auto& p = std::get<OperatorAddParams>(params);
      target = p.operator_name;
      done = auth.add_operator(p.operator_name, role_of(p.role), p.password, by);
      break;
    }
    case Method::operator_reset_password: {
      const auto& p = std::get<OperatorResetPasswordParams>(params);
      target = p.operator_name;
      done = auth.reset_password(p.operator_name, p.password, by);
      break;
    }
    case Method::operator_unlock:
      target = std::get<OperatorUnlockParams>(params).operator_name;
      done = auth.unlock(target, by);
      break;
    case Method::operator_set_role: {
      const auto& p = std::get<OperatorSetRoleParams>(params);
      target = p.operator_name;
      done = auth.set_role(p.operator_name, role_of(p.role), by);
      break;
    }
    case Method::operator_disable:
      target = std::get<OperatorDisableParams>(params).operator_name;
      done = auth.set_disabled(target, true, by);
      break;
    case Method::operator_enable:
      target = std::get<OperatorEnableParams>(params).operator_name;
      done = auth.set_disabled(target, false, by);
      break;
    default:
      return Reply::fail(make_error(Reason::internal, "", "not an operator method"));
  }
  if (!done) {
    Error e = done.error();
    if (e.reason == Reason::invalid_request) return Reply{std::nullopt, RpcError{rpc_invalid_params, e, Json::object()}};
    return Reply::fail(std::move(e));
  }
  auto all = auth.list();
  if (!all) return Reply::fail(all.error());
  for (const auto& o : *all)
    if (o.name == target) return Reply::ok(operator_json(o));
  return Reply::ok(Json{{"operator", target}});
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& ioc, ServerConfig cfg, Authenticator& a, Dispatcher& d, asio::thread_pool& pool)
      : strand(asio::make_strand(ioc)), config(std::move(cfg)), auth(a), dispatcher(d), auth_pool(pool),
        unix_acceptor(strand), tcp_acceptor(strand),
        unauthenticated_rate(std::max(1, config.unauthenticated_calls_per_second), std::chrono::seconds(1)) {}

  void log(std::string_view line) const {
    if (config.log) config.log(line);
  }

  Status start();
  void do_accept_unix();
  void on_accept_unix(const boost::system::error_code& ec, asio::local::stream_protocol::socket socket);
  void do_accept_tcp();
  void on_accept_tcp(const boost::system::error_code& ec, asio::ip::tcp::socket socket);
  // An accept that failed (out of descriptors and the like) is tried again
  // after a pause, not at once: the condition may last, and retrying at once
  // would spin a core. The pause doubles from 10 ms to 1 s and is reset by
  // the next success; the first failure of a run is logged, then one line a
  // minute at most.
  struct AcceptRetry {
    explicit AcceptRetry(Strand& s) : timer(s) {}
    asio::steady_timer timer;
    std::chrono::milliseconds pause{0};
    std::chrono::steady_clock::time_point last_log{};
  };
  void accept_failed(AcceptRetry& r, const boost::system::error_code& ec, std::string_view kind, void (Impl::*again)());
  void adopt(GenericSocket socket, std::string source);
  void connection_closed(std::uint64_t id);
  // Ends the sessions of an operator (disabled, role changed, password reset).
  void end_sessions_of(const std::string& operator_name, std::string_view why);
  // Once a second: logins not made in time, idle sessions, unfinished lines.
  void sweep();
  void stop_now(StopMode mode, std::function<void()> on_stopped);
  void maybe_stopped();
  // session.list: the sessions open now, by window then operator.
  Json sessions_json() const;
  void remove_socket_file();

  Strand strand;
  ServerConfig config;
  Authenticator& auth;
  Dispatcher& dispatcher;
  asio::thread_pool& auth_pool;
  asio::local::stream_protocol::acceptor unix_acceptor;
  asio::ip::tcp::acceptor tcp_acceptor;
  AcceptRetry unix_retry{strand}, tcp_retry{strand};
  std::atomic<std::uint64_t> accept_failures{0};
  std::atomic<std::uint64_t> evictions{0};
  std::atomic<std::uint64_t> unauthenticated_limited{0};
  asio::steady_timer sweep_timer{strand};
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections;
  std::uint64_t next_connection_id = 1;
  std::atomic<std::size_t> connection_count{0};
  std::atomic<int> bound_tcp_port{-1};
  bool started = false;
  bool stopping = false;
  std::function<void()> on_stopped;
  ino_t socket_inode = 0;
  bool socket_file_ours = false;
  // Calls on connections nobody is logged in on, per source (the uid).
  SourceRate unauthenticated_rate;
  // Throttled logins (LIMIT_EXCEEDED) audited and logged: one a minute per source.
  SourceRate throttled_login_audit{1, std::chrono::minutes(1)};
  SourceRate throttled_login_log{1, std::chrono::minutes(1)};
};

namespace {

struct Connection : std::enable_shared_from_this<Connection> {
  Connection(std::shared_ptr<Server::Impl> s, GenericSocket sock, std::uint64_t id, std::string source)
      : server(std::move(s)), socket(std::move(sock)), write_timer(server->strand), idle_timer(server->strand) {
    session.connection_id = id;
    session.source = std::move(source);
  }

  using SteadyTime = std::chrono::steady_clock::time_point;

  void start() {
    unauth_since = last_request = std::chrono::steady_clock::now();
    arm_idle_timer();
    do_read();
  }

  // --- reading and framing ---------------------------------------------------

  bool paused() const {
    return login_pending || in_flight >= server->config.max_in_flight_per_connection ||
           queued_bytes > server->config.max_queued_output_bytes;
  }

  void do_read() {
    if (closed || closing || draining || peer_done || reading || paused() || framer.has_pending_input()) return;
    reading = true;
    // Deadline of this read: the idle timer, armed at start and after each read.
    socket.async_read_some(asio::buffer(read_buf),
                           asio::bind_executor(server->strand, [self = shared_from_this()](
                                                                   const boost::system::error_code& ec, std::size_t n) {
                             self->on_read(ec, n);
                           }));
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    reading = false;
    if (ec == asio::error::eof && !closed) {
      // The client has sent everything: answer what it sent, then close.
      peer_done = true;
      process_input();
      maybe_finish();
      return;
    }
    if (ec) {
      close();
      return;
    }
    if (closed) return;
    arm_idle_timer();
    framer.feed(std::string_view(read_buf.data(), n));
    process_input();
    note_partial_line();
    do_read();
  }

  // When the line being assembled began (for the sweep's partial-line limit).
  void note_partial_line() {
    if (!framer.has_partial_line()) {
      partial_since.reset();
    } else if (!partial_since) {
      partial_since = std::chrono::steady_clock::now();
    }
  }

  // Frames lines until the input is used up or the connection has to wait
  // (in-flight bound, output bound, a login in progress).
  void process_input() {
    if (framing) return;  // finish() may come back here while a line is handled
    framing = true;
    while (framer.has_pending_input() && !closed && !closing && !draining && !paused()) {
      auto frame = framer.next();
      if (!frame) break;
      if (frame->kind == LineFramer::Frame::Kind::oversized) {
        const std::size_t max_line = framer.max_line_bytes();
        bad_line(LineError{nullptr, RpcError{limit_code(),
                                             make_error(Reason::limit_exceeded, "",
                                                        fmt::format("request line longer than {} bytes; skipped to "
                                                                    "the next newline",
                                                                    max_line)),
                                             Json{{"limit_bytes", max_line}}}});
        continue;
      }
      handle_line(frame->text);
    }
    if (draining || closing) framer.clear();
    // A last line without its newline, once the client has finished sending.
    if (peer_done && !framer.has_pending_input() && !closed && !closing && !draining && !paused()) {
      if (auto last = framer.finish()) handle_line(last->text);
    }
    framing = false;
  }

  static int limit_code() { return reason_rpc_code(Reason::limit_exceeded); }

  void handle_line(std::string_view text) {
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank lines are ignored
    ParsedLine parsed = parse_request_line(text);
    if (parsed.error) {
      bad_line(std::move(*parsed.error));
      return;
    }
    bad_in_row = 0;
    handle_request(std::move(*parsed.request));
  }

  void bad_line(LineError e) {
    ++bad_in_row;
    mask_error(e.error);
    enqueue(encode_error(e.id, e.error));
    if (bad_in_row >= limits::max_bad_lines_in_a_row) {
      server->log(fmt::format("cashier connection {}: {} bad lines in a row, closing", session.connection_id, bad_in_row));
      closing = true;  // closes once the last error is written; process_input drops the rest
      if (!writing) close();
    }
  }

  // --- requests ------------------------------------------------------------------

  void handle_request(Request req) {
    ++in_flight;
    const Method m = req.method;
    last_request = std::chrono::steady_clock::now();
    if (!session.logged_in && m != Method::session_login) {
      // Before a login, a source's calls are few: a flood of engine.status or
      // of refused calls costs the daemon nothing past this (no audit entry,
      // no log line), and sessions are never limited.
      SourceRate& rate = server->unauthenticated_rate;
      const auto now = std::chrono::system_clock::now();
      if (!rate.take(now, session.source)) {
        ++server->unauthenticated_limited;
        const auto wait = std::max<std::int64_t>(1, rate.retry_after(now, session.source).count());
        finish(req.id, Reply::fail(make_error(Reason::limit_exceeded, "",
                                              fmt::format("more than {} calls in a second from this client before a "
                                                          "login; try again in {} ms",
                                                          rate.limit(), wait)),
                                   Json{{"retry_after_ms", wait}}));
        return;
      }
    }
    if (!session.logged_in && !allowed_without_login(m)) {
      refuse(req.id, m, make_error(Reason::unauthenticated, "",
                                   fmt::format("{} needs a logged-in session (session.login)", method_name(m))));
      return;
    }
    if (session.logged_in && session.must_change_password && !allowed_before_password_change(m)) {
      refuse(req.id, m, make_error(Reason::password_change_required, "",
                                   "the password is an initial one: change it first (session.change_password)"));
      return;
    }
    if (session.logged_in && !role_may_call(session.role, m)) {
      refuse(req.id, m,
             make_error(Reason::forbidden, "", fmt::format("role {} may not call {}", role_name(session.role), method_name(m))),
             Json{{"role", std::string(role_name(session.role))}});
      return;
    }
    auto params = parse_params(m, req.params);
    if (!params) {
      const Error& e = params.error();
      finish(req.id, Reply{std::nullopt, RpcError{code_for_params_error(e), e, Json::object()}});
      return;
    }
    switch (m) {
      case Method::session_login:
        do_login(std::move(req.id), std::get<LoginParams>(std::move(*params)));
        return;
      case Method::session_logout:
        end_session();
        finish(req.id, Reply::ok(Json::object()));
        return;
      case Method::session_list:
        finish(req.id, Reply::ok(Json{{"sessions", server->sessions_json()}}));
        return;
      case Method::events_subscribe: {
        const auto& topics = std::get<SubscribeParams>(*params).topics;
        // The office's work list is the office's: its events carry the
        // insurer's reasons and settlement ids.
        const bool office = session.role == Role::supervisor || session.role == Role::auditor;
        if (!office && std::find(topics.begin(), topics.end(), Topic::work) != topics.end()) {
          finish(req.id, Reply::fail(make_error(Reason::forbidden, "topics",
                                                fmt::format("role {} may not subscribe to work",
                                                            role_name(session.role))),
                                     Json{{"role", std::string(role_name(session.role))}}));
          return;
        }
        topics_mask = 0;
        for (Topic t : topics) topics_mask |= topic_bit(t);
        finish(req.id, Reply::ok(Json::object()));
        return;
      }
      case Method::session_change_password:
        do_change_password(std::move(req.id), std::get<ChangePasswordParams>(std::move(*params)));
        return;
      case Method::operator_list:
      case Method::operator_add:
      case Method::operator_reset_password:
      case Method::operator_unlock:
      case Method::operator_set_role:
      case Method::operator_disable:
      case Method::operator_enable:
        do_admin(std::move(req.id), m, std::move(*params));
        return;
      default:
        break;
    }
    Call call;
    call.id = req.id;
    call.method = m;
    call.request_id = request_id_of(*params);
    call.canonical = canonical_form(*params);
    call.params = std::move(*params);
    server->dispatcher.dispatch(session, std::move(call), make_completion(std::move(req.id)));
  }

  static unsigned topic_bit(Topic t) { return 1U << static_cast<unsigned>(t); }

  // A call the server refuses itself: answered, and told to the audit trail.
  void refuse(const Json& id, Method m, Error e, Json data = Json::object()) {
    if (server->config.refused) server->config.refused(session, method_name(m), e, "");
    finish(id, Reply::fail(std::move(e), std::move(data)));
  }

  // The completion handed to the dispatcher: posts back to the strand; if
  // dropped uncalled, answers INTERNAL so the in-flight slot is not lost.
  struct CompletionState {
    std::shared_ptr<Connection> conn;
    Json id;
    std::atomic<bool> called{false};
    ~CompletionState() {
      if (!called.load()) {
        auto c = conn;
        asio::post(c->server->strand, [c, id = std::move(id)]() mutable {
          c->finish(id, Reply::fail(make_error(Reason::internal, "", "the request was dropped without an answer")));
        });
      }
    }
  };

  Completion make_completion(Json id) {
    auto state = std::make_shared<CompletionState>();
    state->conn = shared_from_this();
    state->id = std::move(id);
    return [state](Reply reply) {
      const bool first = !state->called.exchange(true);
      SETTLE_ASSERT(first && "a Completion is called exactly once");
      auto c = state->conn;
      asio::post(c->server->strand, [c, id = state->id, reply = std::move(reply)]() mutable {
        c->finish(id, std::move(reply));
      });
    };
  }

  void do_login(Json id, LoginParams p) {
    end_session();  // a login attempt ends whatever session the connection had
    if (session.source.ends_with(":unknown")) {
      // Locks and the throttle are kept per client: one the kernel cannot name
      // would share them with every other such client.
      OPENSSL_cleanse(p.password.data(), p.password.size());
      login_refused(id,
                    domain_error(make_error(Reason::forbidden, "",
                                            "the daemon cannot tell which user this connection belongs to; log in "
                                            "over the Unix socket")),
                    p.operator_name, p.window);
      return;
    }
    if (server->config.window_known && !server->config.window_known(p.window)) {
      OPENSSL_cleanse(p.password.data(), p.password.size());
      finish(id, Reply{std::nullopt, RpcError{rpc_invalid_params,
                                              make_error(Reason::invalid_request, "window",
                                                         "window: not a payment window of this daemon"),
                                              Json::object()}});
      return;
    }
    login_pending = true;  // later lines wait: they may depend on this login
    asio::post(server->auth_pool, [self = shared_from_this(), id = std::move(id), p = std::move(p),
                                   source = session.source]() mutable {
      LoginOutcome outcome = self->server->auth.login(p.operator_name, p.password, LoginContext{source, p.window});
      OPENSSL_cleanse(p.password.data(), p.password.size());
      auto strand = self->server->strand;
      asio::post(strand, [self = std::move(self), id = std::move(id), window = std::move(p.window),
                          name = std::move(p.operator_name), outcome = std::move(outcome)]() mutable {
        self->on_login(std::move(id), std::move(window), name, std::move(outcome));
      });
    });
  }

  void on_login(Json id, std::string window, std::string_view operator_given, LoginOutcome outcome) {
    login_pending = false;
    if (closed) return;
    if (outcome.error) {
      login_refused(id, std::move(*outcome.error), operator_given, window);
      return;
    }
    SETTLE_ASSERT(outcome.identity.has_value());
    failed_logins = 0;
    session.logged_in = true;
    logged_in_at = std::chrono::system_clock::now();
    session.operator_name = outcome.identity->operator_name;
    session.role = outcome.identity->role;
    session.window = window;
    session.must_change_password = outcome.identity->must_change_password;
    server->log(fmt::format("cashier connection {}: {} logged in as {} at window {} from {}{}", session.connection_id,
                            session.operator_name, role_name(session.role), session.window, session.source,
                            session.must_change_password ? " (must change the initial password)" : ""));
    finish(id, Reply::ok(session_json()));
  }

  Json session_json() const {
    return Json{{"operator", session.operator_name},
                {"role", std::string(role_name(session.role))},
                {"window", session.window},
                {"password_change_required", session.must_change_password}};
  }

  // A refused login or password check: answered; a connection that keeps
  // failing is closed after the answer (its next guesses need a new one, and
  // the source's throttle counts them all).
  void login_refused(const Json& id, RpcError error, std::string_view operator_given = "",
                     std::string_view window_given = "") {
    const Reason r = error.error.reason;
    if (r != Reason::limit_exceeded || server->throttled_login_log.take(std::chrono::system_clock::now(), session.source))
      server->log(fmt::format("cashier connection {}: login refused ({}) from {}", session.connection_id,
                              reason_name(r), session.source));
    // A throttled source's logins are refused unchecked, as fast as it sends
    // them: the first of each minute is audited, not every one (the trail
    // would otherwise grow as fast as a client can reconnect).
    const bool audited = r != Reason::limit_exceeded ||
                         server->throttled_login_audit.take(std::chrono::system_clock::now(), session.source);
    if (server->config.refused && audited) {
      SessionInfo at = session;
      if (!window_given.empty()) at.window = std::string(window_given);
      server->config.refused(at, "session.login", error.error, operator_given);
    }
    const bool counts = r == Reason::login_failed || r == Reason::locked_out || r == Reason::limit_exceeded;
    if (r == Reason::locked_out) end_session();
    finish(id, Reply{std::nullopt, std::move(error)});
    if (counts && ++failed_logins >= server->config.max_failed_logins_per_connection && !closed) {
      server->log(fmt::format("cashier connection {}: {} failed logins, closing", session.connection_id, failed_logins));
      closing = true;
      if (!writing) close();
    }
  }

  void do_change_password(Json id, ChangePasswordParams p) {
    login_pending = true;
    asio::post(server->auth_pool, [self = shared_from_this(), id = std::move(id), p = std::move(p),
                                   name = session.operator_name, ctx = LoginContext{session.source, session.window}]() mutable {
      LoginOutcome outcome = self->server->auth.change_own_password(name, p.password, p.new_password, ctx);
      OPENSSL_cleanse(p.password.data(), p.password.size());
      OPENSSL_cleanse(p.new_password.data(), p.new_password.size());
      asio::post(self->server->strand, [self, id = std::move(id), outcome = std::move(outcome)]() mutable {
        self->login_pending = false;
        if (self->closed) return;
        if (outcome.error) {
          if (outcome.error->error.reason == Reason::invalid_request) {
            self->finish(id, Reply{std::nullopt, std::move(*outcome.error)});
          } else {
            self->login_refused(id, std::move(*outcome.error), self->session.operator_name);
          }
          return;
        }
        self->session.must_change_password = false;
        self->server->log(fmt::format("cashier connection {}: {} changed the password", self->session.connection_id,
                                      self->session.operator_name));
        self->finish(id, Reply::ok(self->session_json()));
      });
    });
  }

  // operator.* on the auth thread (the KDF and the store block); sessions of
  // an operator disabled, given another role or a new password end.
  void do_admin(Json id, Method m, MethodParams params) {
    login_pending = true;
    const Actor by{session.operator_name, session.window, session.source};
    asio::post(server->auth_pool, [self = shared_from_this(), id = std::move(id), m, params = std::move(params),
                                   by]() mutable {
      std::string target;
      Reply reply = run_admin(self->server->auth, m, params, by, target);
      std::visit(
          [](auto& v) {
            if constexpr (requires { v.password; }) OPENSSL_cleanse(v.password.data(), v.password.size());
          },
          params);
      asio::post(self->server->strand, [self, id = std::move(id), m, reply = std::move(reply),
                                        target = std::move(target)]() mutable {
        self->login_pending = false;
        const bool ends = m == Method::operator_disable || m == Method::operator_set_role ||
                          m == Method::operator_reset_password;
        if (ends && !reply.error) self->server->end_sessions_of(target, method_name(m));
        if (self->closed) return;
        self->finish(id, std::move(reply));
        self->resume();
      });
    });
  }

  // Called by the sweep once a second.
  void sweep(SteadyTime now) {
    if (closed) return;
    const ServerConfig& c = server->config;
    const bool busy = login_pending || in_flight > 0;
    if (partial_since && c.partial_line_timeout.count() > 0 && now - *partial_since >= c.partial_line_timeout) {
      server->log(fmt::format("cashier connection {}: a request line begun {} s ago is not finished, closing",
                              session.connection_id, c.partial_line_timeout.count() / 1000));
      close();
      return;
    }
    if (!session.logged_in && !busy && c.login_timeout.count() > 0 &&
        now - std::max(unauth_since, last_request) >= c.login_timeout) {
      server->log(fmt::format("cashier connection {}: not logged in and idle for {} s, closing", session.connection_id,
                              c.login_timeout.count() / 1000));
      close();
      return;
    }
    if (session.logged_in && !busy && c.session_idle_timeout.count() > 0 &&
        now - last_request >= c.session_idle_timeout) {
      server->log(fmt::format("cashier connection {}: the session of {} was idle for {} s and has ended",
                              session.connection_id, session.operator_name, c.session_idle_timeout.count() / 1000));
      notify(std::make_shared<const std::string>(encode_notification(
                 "session.expired", Json{{"operator", session.operator_name}, {"reason", "idle"}})),
             std::nullopt);
      end_session();
      return;
    }
  }

  // An administrator changed this session's operator: the session ends.
  void end_by_admin(std::string_view why) {
    if (closed || !session.logged_in) return;
    notify(std::make_shared<const std::string>(encode_notification(
               "session.expired", Json{{"operator", session.operator_name}, {"reason", std::string(why)}})),
           std::nullopt);
    end_session();
  }

  void end_session() {
    if (!session.logged_in) return;
    session.logged_in = false;
    session.must_change_password = false;
    unauth_since = std::chrono::steady_clock::now();
    session.operator_name.clear();
    session.window.clear();
    topics_mask = 0;
    server->dispatcher.session_ended(session.connection_id);
  }

  // Answers one request and frees its in-flight slot.
  void finish(const Json& id, Reply reply) {
    SETTLE_ASSERT(in_flight > 0);
    --in_flight;
    if (closed) return;
    if (reply.error) {
      // Every error, for every role: an echoed or foreign personal number is
      // masked, the insurer's words cleaned and bounded (mask_error).
      mask_error(*reply.error);
      enqueue(encode_error(id, *reply.error));
    } else {
      Json result = reply.result ? std::move(*reply.result) : Json::object();
      if (!(session.logged_in && session.role == Role::auditor)) mask_id_numbers(result);
      enqueue(encode_result(id, result));
    }
    resume();
  }

  void resume() {
    if (closed) return;
    if (!paused()) {
      process_input();
      do_read();
    }
    maybe_finish();
  }

  // Closes a draining connection, or one whose client has finished sending,
  // once every answer is written.
  void maybe_finish() {
    if (closed || in_flight > 0 || writing || !out_queue.empty() || login_pending) return;
    if (draining || (peer_done && !framer.has_pending_input())) close();
  }

  // --- writing ---------------------------------------------------------------------

  void enqueue(std::string bytes) {
    if (closed) return;
    queued_bytes += bytes.size();
    out_queue.push_back(std::move(bytes));
    do_write();
  }

  // Notifications do not wait: a client that does not read its socket is closed.
  void notify(const std::shared_ptr<const std::string>& note, std::optional<Topic> t) {
    if (closed || closing || !session.logged_in || (t && (topics_mask & topic_bit(*t)) == 0)) return;
    if (queued_bytes + note->size() > server->config.max_queued_output_bytes) {
      server->log(fmt::format("cashier connection {}: not reading its notifications, closing", session.connection_id));
      close();
      return;
    }
    enqueue(*note);
  }

  void do_write() {
    if (writing || out_queue.empty() || closed) return;
    writing = true;
    write_timer.expires_after(server->config.write_timeout);  // deadline of this write
    write_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) { self->on_write_timeout(ec); });
    asio::async_write(socket, asio::buffer(out_queue.front()),
                      asio::bind_executor(server->strand, [self = shared_from_this()](
                                                              const boost::system::error_code& ec, std::size_t n) {
                        self->on_write(ec, n);
                      }));
  }

  void on_write(const boost::system::error_code& ec, std::size_t /*n*/) {
    writing = false;
    if (ec || closed) {
      close();
      return;
    }
    write_timer.cancel();
    queued_bytes -= out_queue.front().size();
    out_queue.pop_front();
    if (closed) return;
    if (!out_queue.empty()) {
      do_write();
      return;
    }
    if (closing) {
      close();
      return;
    }
    resume();
  }

  void on_write_timeout(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || closed || !writing) return;
    server->log(fmt::format("cashier connection {}: write timed out, closing", session.connection_id));
    close();
  }

  void arm_idle_timer() {
    if (server->config.idle_timeout.count() <= 0 || closed) return;
    idle_timer.expires_after(server->config.idle_timeout);
    idle_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) { self->on_idle(ec); });
  }

  void on_idle(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || closed) return;
    if (in_flight > 0 || writing) {
      arm_idle_timer();
      return;
    }
    server->log(fmt::format("cashier connection {}: idle, closing", session.connection_id));
    close();
  }

  // --- ending ------------------------------------------------------------------------

  void drain() {
    draining = true;
    framer.clear();
    resume();
  }

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    socket.shutdown(asio::socket_base::shutdown_both, ignored);
    socket.close(ignored);
    write_timer.cancel();
    idle_timer.cancel();
    out_queue.clear();
    queued_bytes = 0;
    end_session();
    server->connection_closed(session.connection_id);
  }

  std::shared_ptr<Server::Impl> server;
  GenericSocket socket;
  asio::steady_timer write_timer;
  asio::steady_timer idle_timer;
  std::array<char, kReadChunkBytes> read_buf{};
  LineFramer framer;  // holds at most one read chunk and one line
  bool reading = false;
  bool writing = false;
  bool closing = false;  // close after the queued output is written
  bool draining = false;
  bool closed = false;
  bool login_pending = false;
  bool framing = false;
  bool peer_done = false;  // the client shut down its sending side
  int bad_in_row = 0;
  int failed_logins = 0;  // on this connection
  SteadyTime unauth_since{};  // not logged in since (the login deadline)
  SteadyTime last_request{};  // the session's idle clock
  std::optional<SteadyTime> partial_since;  // a request line begun, not finished
  std::size_t in_flight = 0;
  std::deque<std::string> out_queue;
  std::size_t queued_bytes = 0;
  SessionInfo session;
  std::chrono::system_clock::time_point logged_in_at{};  // of the session now open
  unsigned topics_mask = 0;
};

}  // namespace

// --- Server::Impl ----------------------------------------------------------------------

Status Server::Impl::start() {
  const auto invalid = [](std::string msg) { return make_error(Reason::invalid_config, "cashier", std::move(msg)); };
  const auto system = [](std::string what, const boost::system::error_code& ec) {
    return make_error(Reason::internal, "cashier", fmt::format("{}: {}", what, system_message(ec)));
  };
  const std::string& path = config.unix_path;
  if (path.empty()) return invalid("cashier socket path is empty");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    return invalid(fmt::format("cashier socket path is longer than {} bytes: {}", sizeof(sockaddr_un{}.sun_path) - 1, path));
  SETTLE_ASSERT(config.max_in_flight_per_connection >= 1 && config.max_connections >= 1);

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return invalid(fmt::format("{} exists and is not a socket; not touching it", path));
    switch (probe_unix_socket(path)) {
      case Probe::listening:
        return invalid(fmt::format("another server is listening on {}", path));
      case Probe::stale:
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
          return make_error(Reason::internal, "cashier",
                            fmt::format("cannot remove the stale socket {}: {}", path, std::strerror(errno)));
        log(fmt::format("removed stale cashier socket {}", path));
        break;
      case Probe::error:
        return make_error(Reason::internal, "cashier",
                          fmt::format("cannot tell whether {} is in use: {}", path, std::strerror(errno)));
    }
  }

  boost::system::error_code ec;
  const asio::local::stream_protocol::endpoint ep(path);
  unix_acceptor.open(ep.protocol(), ec);
  if (ec) return system("cashier socket", ec);
  unix_acceptor.bind(ep, ec);
  if (ec) return system(fmt::format("binding {}", path), ec);
  socket_file_ours = true;
  // The mode is set before listen(): until then nobody can connect.
  if (::chmod(path.c_str(), 0660) != 0) {
    const std::string err = std::strerror(errno);
    unix_acceptor.close(ec);
    remove_socket_file();
    return make_error(Reason::internal, "cashier", fmt::format("chmod 0660 {}: {}", path, err));
  }
  if (::lstat(path.c_str(), &st) == 0) socket_inode = st.st_ino;
  unix_acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    unix_acceptor.close(ec);
    remove_socket_file();
    return system(fmt::format("listening on {}", path), ec);
  }

  if (config.tcp_address) {
    const auto addr = asio::ip::make_address(*config.tcp_address, ec);
    Error err;
    bool failed = false;
    if (ec) {
      err = invalid(fmt::format("cashier.tcp: \"{}\" is not an IP address", *config.tcp_address));
      failed = true;
    } else if (!addr.is_loopback()) {
      err = invalid(fmt::format("cashier.tcp: {} is not a loopback address; the cashier API listens on loopback only",
                                *config.tcp_address));
      failed = true;
    } else {
      const asio::ip::tcp::endpoint tep(addr, config.tcp_port);
      tcp_acceptor.open(tep.protocol(), ec);
      if (!ec) tcp_acceptor.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) tcp_acceptor.bind(tep, ec);
      if (!ec) tcp_acceptor.listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        err = system(fmt::format("cashier.tcp {}:{}", *config.tcp_address, config.tcp_port), ec);
        failed = true;
      } else {
        bound_tcp_port = tcp_acceptor.local_endpoint(ec).port();
      }
    }
    if (failed) {
      tcp_acceptor.close(ec);
      unix_acceptor.close(ec);
      remove_socket_file();
      return err;
    }
  }

  auto self = shared_from_this();
  asio::post(strand, [self] {
    self->do_accept_unix();
    if (self->tcp_acceptor.is_open()) self->do_accept_tcp();
    self->sweep();
  });
  return Ok{};
}

void Server::Impl::do_accept_unix() {
  if (stopping || !unix_acceptor.is_open()) return;
  unix_acceptor.async_accept(
      [self = shared_from_this()](const boost::system::error_code& ec, asio::local::stream_protocol::socket s) {
        self->on_accept_unix(ec, std::move(s));
      });
}

void Server::Impl::on_accept_unix(const boost::system::error_code& ec, asio::local::stream_protocol::socket socket) {
  if (ec) {
    if (ec == asio::error::operation_aborted || stopping) return;
    accept_failed(unix_retry, ec, "unix", &Impl::do_accept_unix);
    return;
  }
  unix_retry.pause = std::chrono::milliseconds(0);
  const auto proto = asio::generic::stream_protocol(AF_UNIX, 0);
  boost::system::error_code err;
  std::string source = unix_peer_source(socket.native_handle());
  GenericSocket g(strand);
  g.assign(proto, socket.release(err), err);
  if (!err) adopt(std::move(g), std::move(source));
  do_accept_unix();
}

void Server::Impl::do_accept_tcp() {
  if (stopping || !tcp_acceptor.is_open()) return;
  tcp_acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec,
                                                                asio::ip::tcp::socket s) { self->on_accept_tcp(ec, std::move(s)); });
}

void Server::Impl::on_accept_tcp(const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
  if (ec) {
    if (ec == asio::error::operation_aborted || stopping) return;
    accept_failed(tcp_retry, ec, "tcp", &Impl::do_accept_tcp);
    return;
  }
  tcp_retry.pause = std::chrono::milliseconds(0);
  boost::system::error_code err;
  socket.set_option(asio::ip::tcp::no_delay(true), err);
  const auto local = socket.local_endpoint(err);
  const auto remote = socket.remote_endpoint(err);
  std::string source = err ? std::string("tcp:unknown") : tcp_peer_source(local, remote);
  const int family = local.protocol().family();
  GenericSocket g(strand);
  g.assign(asio::generic::stream_protocol(family, IPPROTO_TCP), socket.release(err), err);
  if (!err) adopt(std::move(g), std::move(source));
  do_accept_tcp();
}

void Server::Impl::accept_failed(AcceptRetry& r, const boost::system::error_code& ec, std::string_view kind,
                                 void (Impl::*again)()) {
  ++accept_failures;
  const bool first = r.pause.count() == 0;
  r.pause = first ? std::chrono::milliseconds(10) : std::min(r.pause * 2, std::chrono::milliseconds(1000));
  const auto now = std::chrono::steady_clock::now();
  if (first || now - r.last_log >= std::chrono::minutes(1)) {
    r.last_log = now;
    log(fmt::format("cashier accept ({}): {}; accepting again in {} ms, backing off to 1 s while it lasts", kind,
                    system_message(ec), r.pause.count()));
  }
  r.timer.expires_after(r.pause);
  r.timer.async_wait([self = shared_from_this(), again](const boost::system::error_code& wait_ec) {
    if (wait_ec) return;  // cancelled: the server is stopping
    ((*self).*again)();
  });
}

void Server::Impl::adopt(GenericSocket socket, std::string source) {
  if (stopping) return;
  if (connections.size() >= config.max_connections) {
    // Room for a cashier: the oldest connection nobody has logged in on (and
    // that waits for nothing) gives way. Only when every one is a session or
    // busy is the new one refused.
    std::shared_ptr<Connection> oldest;
    for (auto& [cid, c] : connections) {
      if (!c->session.logged_in && !c->login_pending && c->in_flight == 0 && !c->closed) {
        oldest = c;
        break;  // the map is ordered by id: the first is the oldest
      }
    }
    if (!oldest) {
      log(fmt::format("cashier: {} connections already, all logged in or busy; refusing one more", connections.size()));
      boost::system::error_code ignored;
      socket.close(ignored);
      return;
    }
    ++evictions;
    log(fmt::format("cashier: {} connections already; closing connection {} (not logged in) to make room",
                    connections.size(), oldest->session.connection_id));
    oldest->close();
  }
  const std::uint64_t id = next_connection_id++;
  auto conn = std::make_shared<Connection>(shared_from_this(), std::move(socket), id, std::move(source));
  connections.emplace(id, conn);
  connection_count = connections.size();
  conn->start();
}

void Server::Impl::end_sessions_of(const std::string& operator_name, std::string_view why) {
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, c] : connections)
    if (c->session.logged_in && c->session.operator_name == operator_name) all.push_back(c);
  for (auto& c : all) {
    log(fmt::format("cashier connection {}: the session of {} ends ({})", c->session.connection_id, operator_name, why));
    c->end_by_admin(why);
  }
}

void Server::Impl::sweep() {
  if (stopping) return;
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, c] : connections) all.push_back(c);
  for (auto& c : all) c->sweep(now);
  sweep_timer.expires_after(std::chrono::seconds(1));
  sweep_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->sweep();
  });
}

void Server::Impl::connection_closed(std::uint64_t id) {
  connections.erase(id);
  connection_count = connections.size();
  maybe_stopped();
}

void Server::Impl::remove_socket_file() {
  if (!socket_file_ours) return;
  socket_file_ours = false;
  struct stat st {};
  // Only our own socket: another server may have replaced it since.
  if (::lstat(config.unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      (socket_inode == 0 || st.st_ino == socket_inode))
    ::unlink(config.unix_path.c_str());
}

void Server::Impl::stop_now(StopMode mode, std::function<void()> done) {
  stopping = true;
  if (done) on_stopped = std::move(done);
  boost::system::error_code ignored;
  unix_acceptor.close(ignored);
  tcp_acceptor.close(ignored);
  unix_retry.timer.cancel();
  tcp_retry.timer.cancel();
  sweep_timer.cancel();
  remove_socket_file();
  // Copy first: closing a connection erases it from the map.
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, c] : connections) all.push_back(c);
  for (auto& c : all) {
    if (mode == StopMode::abort) {
      c->close();
    } else {
      c->drain();
    }
  }
  maybe_stopped();
}

Json Server::Impl::sessions_json() const {
  std::vector<const Connection*> open;
  for (const auto& entry : connections)
    if (entry.second->session.logged_in) open.push_back(entry.second.get());
  std::sort(open.begin(), open.end(), [](const Connection* a, const Connection* b) {
    return std::tie(a->session.window, a->session.operator_name, a->session.connection_id) <
           std::tie(b->session.window, b->session.operator_name, b->session.connection_id);
  });
  Json out = Json::array();
  for (const Connection* c : open)
    out.push_back(Json{{"window", c->session.window},
                       {"operator", c->session.operator_name},
                       {"role", std::string(role_name(c->session.role))},
                       {"since", format_iso8601_local(c->logged_in_at)},
                       {"source", c->session.source}});
  return out;
}

void Server::Impl::maybe_stopped() {
  if (stopping && connections.empty() && on_stopped) {
    auto cb = std::move(on_stopped);
    on_stopped = nullptr;
    cb();
  }
}

// --- Server ------------------------------------------------------------------------------

bool answered_by_server(Method m) noexcept {
  switch (m) {
    case Method::session_login:
    case Method::session_logout:
    case Method::session_change_password:
    case Method::events_subscribe:
    case Method::operator_list:
    case Method::operator_add:
    case Method::operator_reset_password:
    case Method::operator_unlock:
    case Method::operator_set_role:
    case Method::operator_disable:
    case Method::operator_enable:
    case Method::session_list:
      return true;
    default:
      return false;
  }
}

Server::Server(asio::io_context& ioc, ServerConfig config, Authenticator& auth, Dispatcher& dispatcher)
    : auth_pool_(std::make_unique<asio::thread_pool>(1)),
      impl_(std::make_shared<Impl>(ioc, std::move(config), auth, dispatcher, *auth_pool_)) {
  // Named as `top -H` and perf show it (the password hashing of logins).
  asio::post(*auth_pool_, [] { pthread_setname_np(pthread_self(), "cashier-auth"); });
}

Server::~Server() {
  // The io_context has stopped running (see the header): nothing else touches
  // impl_ now. Logins still queued on the auth thread are finished or dropped.
  boost::system::error_code ignored;
  impl_->stopping = true;
  impl_->sweep_timer.cancel();
  impl_->unix_acceptor.close(ignored);
  impl_->tcp_acceptor.close(ignored);
  impl_->remove_socket_file();
  auth_pool_->join();
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, c] : impl_->connections) all.push_back(c);
  for (auto& c : all) c->close();
}

Status Server::start() {
  // Runs on the caller's thread before any handler of this server exists.
  SETTLE_ASSERT(!impl_->started && "Server::start is called once");
  impl_->started = true;
  return impl_->start();
}

void Server::stop(StopMode mode, std::function<void()> on_stopped) {
  asio::post(impl_->strand, [impl = impl_, mode, cb = std::move(on_stopped)]() mutable {
    impl->stop_now(mode, std::move(cb));
  });
}

void Server::notify(Topic topic, std::string method, Json params) {
  auto line = std::make_shared<const std::string>(encode_notification(method, params));
  asio::post(impl_->strand, [impl = impl_, line, topic] {
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [id, c] : impl->connections) all.push_back(c);
    for (auto& c : all) c->notify(line, topic);
  });
}

void Server::notify_connection(std::uint64_t connection_id, std::string method, Json params) {
  auto line = std::make_shared<const std::string>(encode_notification(method, params));
  asio::post(impl_->strand, [impl = impl_, line, connection_id] {
    auto it = impl->connections.find(connection_id);
    if (it == impl->connections.end()) return;
    auto c = it->second;
    c->notify(line, std::nullopt);
  });
}

std::optional<std::uint16_t> Server::tcp_port() const {
  const int p = impl_->bound_tcp_port.load();
  if (p < 0) return std::nullopt;
  return static_cast<std::uint16_t>(p);
}

std::size_t Server::connection_count() const { return impl_->connection_count.load(); }
std::uint64_t Server::accept_failures() const { return impl_->accept_failures.load(); }
std::uint64_t Server::evictions() const { return impl_->evictions.load(); }
std::uint64_t Server::unauthenticated_limited() const { return impl_->unauthenticated_limited.load(); }

}  // namespace settle::cashier
