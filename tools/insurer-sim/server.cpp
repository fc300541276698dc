// HTTPS sessions of the simulated insurer and plain-HTTP control sessions,
// all on one io_context thread: every read, handshake and write has its
// deadline; the number of open connections is bounded.
#include "tools/insurer-sim/server.hpp"

#include "protocol/insurer/envelope.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <vector>
#include <optional>

namespace settle::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

struct Server::Impl {
  Impl(asio::io_context& io, ServerConfig c, Insurer& ins, FaultSet& f, insurer::Verifier& v)
      : ioc(io), cfg(std::move(c)), insurer(ins), faults(f), verifier(v), tls(ssl::context::tls_server),
        acceptor(io), control_acceptor(io), lazy_flush(io) {}

  asio::io_context& ioc;
  ServerConfig cfg;
  Insurer& insurer;
  FaultSet& faults;
  insurer::Verifier& verifier;
  NetCounters net;
  ssl::context tls;
  tcp::acceptor acceptor;
  tcp::acceptor control_acceptor;
  // Shared with the sessions: a session may be destroyed with the
  // io_context, after the Server.
  std::shared_ptr<std::size_t> open_connections = std::make_shared<std::size_t>(0);
  bool stopped = false;
  // Answers waiting for the batch that holds their work to be committed
  // (group commit). At most one per open connection.
  std::vector<std::function<void(const Status&)>> pending;
  bool flush_posted = false;
  // A batch of queries only is committed lazily: after kLazyFlushMs, at the
  // next request that changes data, or once it holds kLazyFlushBytes.
  static constexpr int kLazyFlushMs = 200;
  static constexpr std::size_t kLazyFlushBytes = 8u << 20;
  asio::steady_timer lazy_flush;
  bool lazy_armed = false;

  void do_accept();

  // Called after a query's answer was sent without waiting for the batch.
  void flush_later() {
    if (insurer.batch_bytes() >= kLazyFlushBytes) {
      if (!flush_posted) {
        flush_posted = true;
        asio::post(ioc, [this] { flush(); });
      }
      return;
    }
    if (lazy_armed) return;
    lazy_armed = true;
    lazy_flush.expires_after(milliseconds(kLazyFlushMs));
    lazy_flush.async_wait([this](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;  // stopping: stop() committed
      lazy_armed = false;
      if (!flush_posted && insurer.batch_open()) flush();
    });
  }
  void do_accept_control();

  // Queues an answer until the batch is durable; the commit runs once the
  // requests already read have been handled.
  void defer(std::function<void(const Status&)> answer) {
    pending.push_back(std::move(answer));
    if (flush_posted) return;
    flush_posted = true;
    asio::post(ioc, [this] { flush(); });
  }
  // Commits the batch and releases the answers waiting for it.
  void flush() {
    flush_posted = false;
    const Status committed = insurer.commit();
    auto answers = std::move(pending);
    pending.clear();
    for (auto& a : answers) a(committed);
  }
};

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The msgid of a body, if it is JSON with one (for error replies).
std::string msgid_of(std::string_view body) {
  auto doc = json::parse(body, "request");
  if (!doc) return {};
  const json::Json* m = json::find(*doc, "msgid");
  return m != nullptr && m->is_string() ? m->get<std::string>() : std::string{};
}

std::string infno_of(std::string_view body) {
  auto doc = json::parse(body, "request");
  if (!doc) return {};
  const json::Json* m = json::find(*doc, "infno");
  return m != nullptr && m->is_string() ? m->get<std::string>() : std::string{};
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, Server::Impl& srv)
      : stream_(std::move(s), srv.tls), srv_(srv), timer_(srv.ioc), open_(srv.open_connections) {
    ++*open_;
  }
  // Touches nothing of the Server: it may already be gone.
  ~Session() { --*open_; }

  void run() {
    beast::get_lowest_layer(stream_).expires_after(milliseconds(srv_.cfg.handshake_timeout_ms));
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) return close();
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(insurer::max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(milliseconds(srv_.cfg.idle_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    const std::int64_t received_ms = now_ms() + srv_.faults.clock_offset_s() * 1000;
    received_at_ = std::chrono::steady_clock::now();
    timed_infno_.clear();
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    // refuse: the line is down for connections opened before it went down
    // too; their next request is reset unread (nothing processed).
    if (srv_.faults.refusing()) return close();
    const std::string& body = req.body();
    const RequestFaults f = srv_.faults.for_request([&body] { return infno_of(body); });
    delay_ms_ = f.delay_ms;
    if (req.method() != http::verb::post) return reply(http::status::method_not_allowed, "", "only POST is served", received_ms);
    if (f.action == FaultKind::drop_request) return close();
    if (f.action == FaultKind::stall) return stall();
    // A proxy's error page, the request never forwarded (nothing processed).
    if (f.action == FaultKind::http_error_before) return write_error_page(f.http_status);
    http_error_status_ = f.http_status;

    insurer::SignedHeaders h;
    h.paasid = std::string(req[insurer::header_paasid]);
    h.timestamp = std::string(req[insurer::header_timestamp]);
    h.nonce = std::string(req[insurer::header_nonce]);
    h.signature = std::string(req[insurer::header_signature]);
    if (Status s = srv_.verifier.verify(h, body); !s) {
      ++srv_.net.refused_signature;
      return reply(http::status::unauthorized, msgid_of(body), s.error().message, received_ms);
    }
    auto decoded = insurer::decode_request(body);
    if (!decoded) {
      ++srv_.net.bad_requests;
      return reply(http::status::bad_request, msgid_of(body), decoded.error().message, received_ms);
    }
    const std::string msgid = decoded->head.msgid;
    timed_infno_ = decoded->head.infno;
    if (f.action == FaultKind::error)
      return reply(http::status::ok, msgid, f.error_msg, received_ms);
    auto r = srv_.insurer.handle(*decoded);
    if (!r) return reply(http::status::internal_server_error, msgid, "insurer storage failure: " + r.error().message, received_ms);
    if (srv_.insurer.batch_queries_only() && f.action != FaultKind::lost_reply) {
      // A query in a batch of queries: its answer depends on committed data
      // only, so it goes out now and the batch is committed later.
      answer(Ok{}, *r, msgid, received_ms, f.action);
      return srv_.flush_later();
    }
    srv_.defer([self = shared_from_this(), reply = std::move(*r), msgid, received_ms,
                action = f.action](const Status& committed) mutable {
      self->answer(committed, reply, msgid, received_ms, action);
    });
  }

  // Called once the batch holding this request's work is committed (or failed).
  void answer(const Status& committed, Reply& r, const std::string& msgid, std::int64_t received_ms,
              std::optional<FaultKind> action) {
    if (!committed)
      return reply(http::status::internal_server_error, msgid, "insurer storage failure: " + committed.error().message,
                   received_ms);
    if (action == FaultKind::lost_reply) return close();  // committed, never answered
    if (action == FaultKind::garbage) return write(http::status::ok, "<html>502 Bad Gateway\x01\x02 garbled");
    // The work is committed; the answer is replaced by a proxy's error page.
    if (action == FaultKind::http_error_after) return write_error_page(http_error_status_);
    insurer::Response resp;
    resp.infcode = r.infcode;
    resp.inf_refmsgid = msgid;
    resp.refmsg_time = insurer::compact_time_ms(received_ms);
    resp.respond_time = insurer::compact_time_ms(now_ms() + srv_.faults.clock_offset_s() * 1000);
    resp.err_msg = r.err_msg;
    if (r.output_text.empty()) {
      resp.output = std::move(r.output);
      return write(http::status::ok, insurer::encode_response(resp));
    }
    // The output as recorded with the msgid, spliced into the envelope: the
    // same bytes as dumping it again (keys in the same order), without a
    // second dump of a large page.
    resp.output = nullptr;
    std::string envelope = insurer::encode_response(resp);
    constexpr std::string_view kSlot = "\"output\":null";
    const auto at = envelope.find(kSlot);
    SETTLE_ASSERT(at != std::string::npos);
    envelope.replace(at, kSlot.size(), "\"output\":" + r.output_text);
    write(http::status::ok, std::move(envelope));
  }

  void reply(http::status status, const std::string& msgid, std::string_view err, std::int64_t received_ms) {
    write(status, insurer::encode_error_reply(msgid, err, received_ms, now_ms() + srv_.faults.clock_offset_s() * 1000));
  }

  // An error page as a reverse proxy in front of the insurer sends it: HTML, not an envelope.
  void write_error_page(int status) {
    const auto st = static_cast<http::status>(status);
    const std::string reason(http::obsolete_reason(st));
    write(st, fmt::format("<html><head><title>{0} {1}</title></head><body><h1>{0} {1}</h1></body></html>\n", status, reason),
          "text/html");
  }

  void write(http::status status, std::string body,
             std::string_view content_type = "application/json; charset=utf-8") {
    if (!timed_infno_.empty()) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - received_at_);
      srv_.net.processing_us[timed_infno_] += us.count();
      ++srv_.net.processed[timed_infno_];
      timed_infno_.clear();
    }
    res_ = {};
    res_.result(status);
    res_.version(11);
    res_.set(http::field::content_type, content_type);
    res_.set(http::field::server, "insurer-sim");
    // The simulator's clock, as every HTTP server with a clock says it (the
    // hospital's side measures its own clock against it).
    res_.set(http::field::date, insurer::http_date(now_ms() / 1000 + srv_.faults.clock_offset_s()));
    res_.keep_alive(keep_alive_);
    res_.body() = std::move(body);
    res_.prepare_payload();
    if (delay_ms_ > 0) {
      timer_.expires_after(milliseconds(delay_ms_));
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec) return self->close();
        self->do_write();
      });
      return;
    }
    do_write();
  }

  void do_write() {
    beast::get_lowest_layer(stream_).expires_after(milliseconds(srv_.cfg.idle_timeout_ms));
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (!self->keep_alive_ || self->srv_.stopped) return self->close();
      self->do_read();
    });
  }

  // Read, then nothing: hold the connection until the client gives up (or
  // stall_hold_ms passes).
  void stall() {
    beast::get_lowest_layer(stream_).expires_never();
    timer_.expires_after(milliseconds(srv_.cfg.stall_hold_ms));
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->close(); });
    // Notice the client closing: a read that ends when the peer goes away.
    stream_.async_read_some(asio::buffer(sink_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) self->timer_.cancel();
    });
  }

  void close() {
    beast::error_code ignored;
    timer_.cancel();
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  Server::Impl& srv_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool keep_alive_ = true;
  std::int64_t delay_ms_ = 0;
  int http_error_status_ = 0;  // the request's http_error_after fault, if any
  std::chrono::steady_clock::time_point received_at_{};
  std::string timed_infno_;  // set once the request decoded; its time is counted at write()
  std::array<char, 64> sink_{};
  std::shared_ptr<std::size_t> open_;
};

class ControlSession : public std::enable_shared_from_this<ControlSession> {
 public:
  ControlSession(tcp::socket s, Server::Impl& srv) : stream_(std::move(s)), srv_(srv) {}

  void run() {
    parser_.body_limit(1024 * 1024);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->on_read();
    });
  }

 private:
  void on_read() {
    const auto& req = parser_.get();
    srv_.flush();  // the control endpoint sees and changes committed state only
    ControlContext ctx{srv_.insurer, srv_.faults, srv_.net};
    ControlAnswer a = control_handle(ctx, std::string_view(req.method_string().data(), req.method_string().size()),
                                     std::string_view(req.target().data(), req.target().size()), req.body());
    res_.result(a.status);
    res_.version(11);
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(false);
    res_.body() = a.body.dump();
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.close();
    });
  }

  beast::tcp_stream stream_;
  Server::Impl& srv_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> res_;
};

Status bind_listen(tcp::acceptor& a, const std::string& host, std::uint16_t port, std::string_view what) {
  beast::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error(Reason::invalid_config, std::string(what), fmt::format("{}: \"{}\" is not an IP address", what, host));
  const tcp::endpoint ep(addr, port);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Reason::invalid_config, std::string(what), fmt::format("{}: cannot listen on {}:{}: {}", what, host, port, ec.message()));
  return Ok{};
}

}  // namespace

void Server::Impl::do_accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
    if (ec) {
      if (!stopped && acceptor.is_open()) do_accept();
      return;
    }
    ++net.connections;
    if (faults.refuse_connection() || *open_connections >= cfg.max_connections) {
      ++net.refused_connections;
      beast::error_code ignored;
      s.set_option(asio::socket_base::linger(true, 0), ignored);  // RST, before any TLS byte
      s.close(ignored);
    } else {
      // Replies go out as several writes (TLS records of the head and the
      // body): without TCP_NODELAY the last one waits for the client's
      // delayed ACK (about 40 ms a call on Linux loopback).
      beast::error_code nodelay_ec;
      s.set_option(tcp::no_delay(true), nodelay_ec);
      std::make_shared<Session>(std::move(s), *this)->run();
    }
    do_accept();
  });
}

void Server::Impl::do_accept_control() {
  control_acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
    if (!ec) std::make_shared<ControlSession>(std::move(s), *this)->run();
    if (!stopped && control_acceptor.is_open()) do_accept_control();
  });
}

Server::Server(asio::io_context& ioc, ServerConfig cfg, Insurer& insurer, FaultSet& faults, insurer::Verifier& verifier)
    : impl_(std::make_unique<Impl>(ioc, std::move(cfg), insurer, faults, verifier)) {}

Server::~Server() = default;

Status Server::start() {
  Impl& s = *impl_;
  beast::error_code ec;
  const auto caddr = asio::ip::make_address(s.cfg.control_host, ec);
  if (ec || !caddr.is_loopback())
    return make_error(Reason::invalid_config, "control",
                      fmt::format("--control {}: the control endpoint binds loopback addresses only", s.cfg.control_host));
  s.tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  const auto tls_step = [](beast::error_code e, std::string_view what, const std::string& file) -> Status {
    if (e) return make_error(Reason::invalid_config, std::string(what), fmt::format("{} {}: {}", what, file, e.message()));
    return Ok{};
  };
  s.tls.use_certificate_chain_file(s.cfg.cert_file, ec);
  if (Status st = tls_step(ec, "--cert", s.cfg.cert_file); !st) return st;
  s.tls.use_private_key_file(s.cfg.key_file, ssl::context::pem, ec);
  if (Status st = tls_step(ec, "--key", s.cfg.key_file); !st) return st;
  s.tls.load_verify_file(s.cfg.ca_file, ec);
  if (Status st = tls_step(ec, "--ca", s.cfg.ca_file); !st) return st;
  s.tls.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  if (Status st = bind_listen(s.acceptor, s.cfg.listen_host, s.cfg.listen_port, "--listen"); !st) return st;
  if (Status st = bind_listen(s.control_acceptor, s.cfg.control_host, s.cfg.control_port, "--control"); !st) return st;
  s.do_accept();
  s.do_accept_control();
  return Ok{};
}

void Server::stop() {
  impl_->lazy_flush.cancel();
  impl_->flush();
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->control_acceptor.close(ignored);
}

std::uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }
std::uint16_t Server::control_port() const { return impl_->control_acceptor.local_endpoint().port(); }

}  // namespace settle::sim
