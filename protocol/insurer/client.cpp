// The insurer HTTPS client: connection pool, deadlines, signing and the
// request/reply exchange on Asio/Beast coroutines. It decides the outcome
// class of every request; the error codes behind it are read only through
// client_errors.cpp.
#include "protocol/insurer/client.hpp"

#include "protocol/insurer/client_errors.hpp"
#include "protocol/insurer/signing.hpp"
#include "protocol/insurer/tls_context.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <variant>
#include <vector>

namespace settle::insurer {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using detail::Phase;
using detail::Translated;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Reply header block bound: the insurer's headers are a few hundred bytes.
constexpr std::uint32_t max_reply_header_bytes = 16 * 1024;

std::chrono::milliseconds ms(std::uint32_t v) { return std::chrono::milliseconds(v); }

std::uint32_t elapsed_ms_since(SteadyClock::time_point start) {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  return static_cast<std::uint32_t>(std::min<std::int64_t>(d.count(), UINT32_MAX));
}

Error config_error(std::string field, std::string message) {
  return make_error(Reason::invalid_config, std::move(field), std::move(message));
}

}  // namespace

std::string_view link_error_name(LinkError e) noexcept {
  switch (e) {
    case LinkError::none: return "none";
    case LinkError::resolve_failed: return "resolve_failed";
    case LinkError::connect_refused: return "connect_refused";
    case LinkError::connect_failed: return "connect_failed";
    case LinkError::connect_timeout: return "connect_timeout";
    case LinkError::tls_handshake_failed: return "tls_handshake_failed";
    case LinkError::server_cert_rejected: return "server_cert_rejected";
    case LinkError::host_name_mismatch: return "host_name_mismatch";
    case LinkError::client_cert_rejected: return "client_cert_rejected";
    case LinkError::pool_wait_timeout: return "pool_wait_timeout";
    case LinkError::pool_queue_full: return "pool_queue_full";
    case LinkError::client_closed: return "client_closed";
    case LinkError::signing_failed: return "signing_failed";
    case LinkError::request_too_large: return "request_too_large";
    case LinkError::write_failed: return "write_failed";
    case LinkError::reply_timeout: return "reply_timeout";
    case LinkError::connection_closed: return "connection_closed";
    case LinkError::bad_reply: return "bad_reply";
    case LinkError::reply_too_large: return "reply_too_large";
  }
  return "unknown";
}

std::string_view outcome_class_name(OutcomeClass c) noexcept {
  switch (c) {
    case OutcomeClass::answered: return "answered";
    case OutcomeClass::unreachable: return "unreachable";
    case OutcomeClass::in_doubt: return "in_doubt";
  }
  return "unknown";
}

Status validate(const ClientConfig& c) {
  if (c.host.empty()) return config_error("host", "host is required");
  if (c.port == 0) return config_error("port", "port must be 1-65535");
  if (c.target.empty() || c.target.front() != '/') {
    return config_error("target", "target must be a path starting with '/'");
  }
  if (c.pool_size < 1 || c.pool_size > link_limits::max_pool_size) {
    return config_error("pool_size", fmt::format("pool_size must be 1-{}", link_limits::max_pool_size));
  }
  if (c.max_waiting > link_limits::max_waiting_bound) {
    return config_error("max_waiting", fmt::format("max_waiting must be at most {}",
                                                   link_limits::max_waiting_bound));
  }
  struct Named {
    const char* name;
    std::uint32_t value;
  };
  for (const Named& t : {Named{"connect_timeout_ms", c.connect_timeout_ms},
                         Named{"request_timeout_ms", c.request_timeout_ms},
                         Named{"pool_wait_timeout_ms", c.pool_wait_timeout_ms},
                         Named{"idle_timeout_ms", c.idle_timeout_ms}}) {
    if (t.value == 0 || t.value > link_limits::max_timeout_ms) {
      return config_error(t.name, fmt::format("{} must be 1-{}", t.name, link_limits::max_timeout_ms));
    }
  }
  if (c.max_reply_bytes == 0) return config_error("max_reply_bytes", "max_reply_bytes must be positive");
  if (c.paasid.empty() || c.paasid.size() > max_paasid_len) {
    return config_error("paasid", fmt::format("paasid must be 1-{} characters", max_paasid_len));
  }
  if (c.secret.empty()) return config_error("secret", "secret is required");
  return Ok{};
}

namespace {

using Stream = beast::ssl_stream<beast::tcp_stream>;

// One TLS connection to the insurer, and its read buffer (kept across
// requests: bytes left in it after a reply make the connection unusable).
struct Connection {
  Connection(const asio::any_io_executor& ex, ssl::context& ctx) : stream(ex, ctx) {}
  Stream stream;
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since{};
  std::uint64_t requests = 0;

  void close() {
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream).socket().close(ignored);
  }

  // True only if the connection is certainly still open and quiet: no bytes
  // left from the last reply, none decrypted and unread, and the socket shows
  // neither FIN, RST nor unexpected data (e.g. a close_notify alert). Anything
  // else means the insurer closed it while idle; nothing has been written, so
  // it is safe to drop it and use another.
  bool idle_and_open() {
    if (buffer.size() != 0) return false;
    if (SSL_pending(stream.native_handle()) > 0) return false;
    auto& sock = beast::get_lowest_layer(stream).socket();
    if (!sock.is_open()) return false;
    char byte = 0;
    const ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

// A caller waiting for a connection. Whoever frees one hands it over directly
// (conn), or hands over the freed slot (slot: the waiter may open one).
struct Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::unique_ptr<Connection> conn;
  bool slot = false;
  bool closed = false;
  bool done = false;
};

struct Lease {
  std::unique_ptr<Connection> conn;
  bool fresh = false;
};

}  // namespace

struct Client::Impl {
  Impl(asio::any_io_executor ex, ClientConfig c, std::shared_ptr<ssl::context> ctx)
      : executor(std::move(ex)),
        cfg(std::move(c)),
        tls(std::move(ctx)),
        signer(cfg.paasid, cfg.secret) {}

  asio::any_io_executor executor;
  ClientConfig cfg;
  std::shared_ptr<ssl::context> tls;
  Signer signer;
  std::vector<std::unique_ptr<Connection>> idle;  // back() = most recently used
  std::size_t open = 0;                           // idle + busy + connecting
  std::deque<std::shared_ptr<Waiter>> waiters;
  bool closed = false;
  ClientStats counters;

  detail::ErrorContext context(std::uint32_t timeout_ms) const {
    detail::ErrorContext ctx;
    ctx.host = cfg.host;
    ctx.port = cfg.port;
    ctx.server_name = cfg.server_name;
    ctx.timeout_ms = timeout_ms;
    return ctx;
  }

  // Gives a connection back. Reusable ones go to the first waiter or the idle
  // list; others are closed and their slot goes to the first waiter.
  void release(std::unique_ptr<Connection> conn, bool reusable) {
    SETTLE_ASSERT(conn != nullptr && open > 0);
    if (reusable && !closed) {
      conn->idle_since = SteadyClock::now();
      if (!waiters.empty()) {
        auto w = std::move(waiters.front());
        waiters.pop_front();
        w->conn = std::move(conn);
        w->done = true;
        w->timer.cancel();
        return;
      }
      idle.push_back(std::move(conn));
      return;
    }
    conn->close();
    give_slot_away();
  }

  // A slot became free (a connection closed or failed to open).
  void give_slot_away() {
    SETTLE_ASSERT(open > 0);
    if (!waiters.empty() && !closed) {
      auto w = std::move(waiters.front());
      waiters.pop_front();
      w->slot = true;
      w->done = true;
      w->timer.cancel();
      return;
    }
    --open;
  }

  asio::awaitable<std::variant<Lease, Translated>> connect() {
    const auto deadline = SteadyClock::now() + ms(cfg.connect_timeout_ms);
    auto conn = std::make_unique<Connection>(executor, *tls);
    if (!detail::configure_peer_name(conn->stream.native_handle(), cfg.server_name)) {
      co_return Translated{OutcomeClass::unreachable, LinkError::tls_handshake_failed,
                           fmt::format("OpenSSL refused server name '{}'", cfg.server_name)};
    }

    // Resolve (an address needs none), bounded by the same deadline.
    std::vector<tcp::endpoint> endpoints;
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(cfg.host, ec);
    if (!ec) {
      endpoints.emplace_back(address, cfg.port);
    } else {
      using namespace asio::experimental::awaitable_operators;
      tcp::resolver resolver(executor);
      asio::steady_timer timer(executor);
      timer.expires_at(deadline);
      auto which = co_await (resolver.async_resolve(cfg.host, std::to_string(cfg.port), use_tuple) ||
                             timer.async_wait(use_tuple));
      if (which.index() == 1) {
        co_return detail::translate(Phase::resolve, asio::error::operation_aborted,
                                    context(cfg.connect_timeout_ms));
      }
      auto [rec, results] = std::get<0>(std::move(which));
      if (rec) co_return detail::translate(Phase::resolve, rec, context(cfg.connect_timeout_ms));
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }

    auto& lowest = beast::get_lowest_layer(conn->stream);
    lowest.expires_at(deadline);
    auto [cec, endpoint] = co_await lowest.async_connect(endpoints, use_tuple);
    if (cec) co_return detail::translate(Phase::connect, cec, context(cfg.connect_timeout_ms));
    boost::system::error_code nodelay_ec;
    lowest.socket().set_option(tcp::no_delay(true), nodelay_ec);

    auto [hec] = co_await conn->stream.async_handshake(ssl::stream_base::client, use_tuple);
    if (hec) {
      auto ctx = context(cfg.connect_timeout_ms);
      ctx.verify_result = SSL_get_verify_result(conn->stream.native_handle());
      ctx.server_certificate_seen = SSL_get0_peer_certificate(conn->stream.native_handle()) != nullptr;
      conn->close();
      co_return detail::translate(Phase::handshake, hec, ctx);
    }
    lowest.expires_never();
    ++counters.connections_opened;
    co_return Lease{std::move(conn), true};
  }

  // A connection for one request: an idle one that is still open, a new one
  // if the pool has room, or the first one freed within pool_wait_timeout_ms.
  asio::awaitable<std::variant<Lease, Translated>> acquire() {
    const auto wait_deadline = SteadyClock::now() + ms(cfg.pool_wait_timeout_ms);
    bool have_slot = false;
    for (;;) {
      if (closed) {
        if (have_slot) give_slot_away();
        co_return Translated{OutcomeClass::unreachable, LinkError::client_closed,
                             "the insurer client is closed"};
      }
      if (!have_slot) {
        while (!idle.empty()) {
          auto conn = std::move(idle.back());
          idle.pop_back();
          if (SteadyClock::now() - conn->idle_since > ms(cfg.idle_timeout_ms)) {
            ++counters.idle_expired;
            conn->close();
            --open;
            continue;
          }
          if (!conn->idle_and_open()) {
            ++counters.stale_discarded;
            spdlog::debug("insurer link: pooled connection found closed by {}:{} before use; dropped",
                          cfg.host, cfg.port);
            conn->close();
            --open;
            continue;
          }
          co_return Lease{std::move(conn), false};
        }
        if (open < cfg.pool_size) {
          ++open;
          have_slot = true;
        }
      }
      if (have_slot) {
        auto made = co_await connect();
        if (std::holds_alternative<Translated>(made)) {
          ++counters.connect_failures;
          give_slot_away();
        }
        co_return made;
      }

      if (waiters.size() >= cfg.max_waiting) {
        co_return Translated{OutcomeClass::unreachable, LinkError::pool_queue_full,
                             fmt::format("all {} connections busy and {} requests already waiting",
                                         cfg.pool_size, waiters.size())};
      }
      auto w = std::make_shared<Waiter>(executor);
      w->timer.expires_at(wait_deadline);
      waiters.push_back(w);
      (void)co_await w->timer.async_wait(use_tuple);
      if (!w->done) {  // the deadline passed; nobody handed anything over
        std::erase(waiters, w);
        co_return Translated{OutcomeClass::unreachable, LinkError::pool_wait_timeout,
                             fmt::format("no free connection to {}:{} within {} ms", cfg.host,
                                         cfg.port, cfg.pool_wait_timeout_ms)};
      }
      if (w->closed) {
        co_return Translated{OutcomeClass::unreachable, LinkError::client_closed,
                             "the insurer client is closed"};
      }
      if (w->conn) {
        if (w->conn->idle_and_open()) co_return Lease{std::move(w->conn), false};
        ++counters.stale_discarded;
        w->conn->close();
        have_slot = true;  // its slot is ours now
        continue;
      }
      SETTLE_ASSERT(w->slot);
      have_slot = true;
    }
  }

  asio::awaitable<Outcome> run(LinkRequest request) {
    const auto start = SteadyClock::now();
    auto finish = [&](Outcome o) {
      o.elapsed_ms = elapsed_ms_since(start);
      if (o.kind == OutcomeClass::answered) {
        spdlog::debug("insurer {} msgid={} answered HTTP {} in {} ms{}", request.infno, request.msgid,
                      o.http_status, o.elapsed_ms, o.reused_connection ? " (pooled)" : "");
      } else {
        spdlog::warn("insurer {} msgid={} {} ({}): {} after {} ms", request.infno, request.msgid,
                     outcome_class_name(o.kind), link_error_name(o.error), o.detail, o.elapsed_ms);
      }
      return o;
    };
    auto failed = [&](Translated t, bool reused) {
      Outcome o;
      o.kind = t.kind;
      o.error = t.error;
      o.detail = std::move(t.detail);
      o.reused_connection = reused;
      return finish(std::move(o));
    };

    if (request.body.size() > link_limits::max_request_bytes) {
      co_return failed({OutcomeClass::unreachable, LinkError::request_too_large,
                        fmt::format("request body of {} bytes exceeds {} bytes", request.body.size(),
                                    link_limits::max_request_bytes)},
                       false);
    }
    const std::uint32_t timeout_ms = request.request_timeout_ms.value_or(cfg.request_timeout_ms);
    SETTLE_ASSERT(timeout_ms > 0 && timeout_ms <= link_limits::max_timeout_ms);

    auto got = co_await acquire();
    if (std::holds_alternative<Translated>(got)) co_return failed(std::get<Translated>(std::move(got)), false);
    Lease lease = std::get<Lease>(std::move(got));
    const bool reused = !lease.fresh;

    // Signed as late as possible: the timestamp is checked against a window.
    auto headers = signer.sign(request.body);
    if (!headers.ok()) {
      release(std::move(lease.conn), true);
      co_return failed({OutcomeClass::unreachable, LinkError::signing_failed, headers.error().message},
                       reused);
    }

    http::request<http::string_body> req{http::verb::post, cfg.target, 11};
    req.set(http::field::host, cfg.port == 443 ? cfg.server_name
                                               : fmt::format("{}:{}", cfg.server_name, cfg.port));
    req.set(http::field::user_agent, "settled");
    req.set(http::field::content_type, "application/json;charset=utf-8");
    req.set(http::field::accept, "application/json");
    req.set(header_paasid, headers->paasid);
    req.set(header_timestamp, headers->timestamp);
    req.set(header_nonce, headers->nonce);
    req.set(header_signature, headers->signature);
    req.keep_alive(true);
    req.body() = std::move(request.body);
    req.prepare_payload();

    Connection& conn = *lease.conn;
    auto ctx = context(timeout_ms);
    ctx.first_request_on_fresh_connection = lease.fresh;
    auto& lowest = beast::get_lowest_layer(conn.stream);

    // From here on a byte may reach the insurer: every failure is in doubt.
    lowest.expires_after(ms(timeout_ms));
    ++counters.requests_sent;
    if (reused) ++counters.reused;
    ++conn.requests;
    auto [wec, written] = co_await http::async_write(conn.stream, req, use_tuple);
    if (wec) {
      release(std::move(lease.conn), false);
      co_return failed(detail::translate(Phase::write, wec, ctx), reused);
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(cfg.max_reply_bytes);
    parser.header_limit(max_reply_header_bytes);
    auto [rec, read] = co_await http::async_read(conn.stream, conn.buffer, parser, use_tuple);
    if (rec) {
      release(std::move(lease.conn), false);
      co_return failed(detail::translate(Phase::read, rec, ctx), reused);
    }
    lowest.expires_never();

    auto res = parser.release();
    const bool reusable = res.keep_alive() && conn.buffer.size() == 0;
    release(std::move(lease.conn), reusable);
    Outcome o;
    o.kind = OutcomeClass::answered;
    o.http_status = res.result_int();
    if (const auto date = parse_http_date(res[http::field::date])) {
      const auto here_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      o.clock_offset_s = *date - here_s;
    }
    o.body = std::move(res.body());
    o.reused_connection = reused;
    co_return finish(std::move(o));
  }

  void close_all() {
    closed = true;
    for (auto& c : idle) c->close();
    SETTLE_ASSERT(open >= idle.size());
    open -= idle.size();
    idle.clear();
    while (!waiters.empty()) {
      auto w = std::move(waiters.front());
      waiters.pop_front();
      w->closed = true;
      w->done = true;
      w->timer.cancel();
    }
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::shared_ptr<Client>> Client::create(asio::any_io_executor executor, ClientConfig config) {
  if (config.server_name.empty()) config.server_name = config.host;
  if (auto v = validate(config); !v.ok()) return v.error();
  auto tls = detail::make_client_tls_context(config.ca_file, config.cert_file, config.key_file);
  if (!tls.ok()) return tls.error();
  auto impl = std::make_unique<Impl>(std::move(executor), std::move(config), std::move(*tls));
  return std::shared_ptr<Client>(new Client(std::move(impl)));
}

asio::awaitable<Outcome> Client::post(LinkRequest request) {
  auto self = shared_from_this();  // keeps the pool alive while the request runs
  co_return co_await impl_->run(std::move(request));
}

void Client::post(LinkRequest request, std::function<void(Outcome)> done) {
  SETTLE_ASSERT(done);
  asio::co_spawn(
      impl_->executor,
      [self = shared_from_this(), r = std::move(request), cb = std::move(done)]() mutable
      -> asio::awaitable<void> { cb(co_await self->post(std::move(r))); },
      asio::detached);
}

void Client::close() { impl_->close_all(); }

ClientStats Client::stats() const {
  ClientStats s = impl_->counters;
  s.open_connections = impl_->open;
  s.idle_connections = impl_->idle.size();
  s.waiting = impl_->waiters.size();
  return s;
}

const ClientConfig& Client::config() const noexcept { return impl_->cfg; }

Result<std::unique_ptr<SyncClient>> SyncClient::create(ClientConfig config) {
  std::unique_ptr<SyncClient> s(new SyncClient());
  auto c = Client::create(s->io_.get_executor(), std::move(config));
  if (!c.ok()) return c.error();
  s->client_ = std::move(*c);
  return s;
}

SyncClient::~SyncClient() {
  if (client_) client_->close();
}

Outcome SyncClient::post(LinkRequest request) {
  std::optional<Outcome> out;
  asio::co_spawn(io_, client_->post(std::move(request)),
                 [&out](std::exception_ptr e, Outcome o) {
                   if (e) std::rethrow_exception(e);
                   out = std::move(o);
                 });
  io_.restart();
  io_.run();
  SETTLE_ASSERT(out.has_value());
  return std::move(*out);
}

ClientStats SyncClient::stats() const { return client_->stats(); }

}  // namespace settle::insurer
