// The misbehaving HTTPS test server's implementation: one io_context thread,
// one coroutine per connection, real TLS with client certificate checks.
#include "tls_test_server.hpp"

#include "protocol/insurer/signing.hpp"
#include "test_pki.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <thread>

namespace settle::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct TlsTestServer::Impl {
  explicit Impl(TlsTestServer& o, ServerOptions opt)
      : owner(o),
        options(std::move(opt)),
        tls(ssl::context::tls_server),
        acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        verifier({{options.paasid, options.secret}}) {
    tls.use_certificate_chain_file(pki(options.cert + ".crt"));
    tls.use_private_key_file(pki(options.cert + ".key"), ssl::context::pem);
    tls.load_verify_file(pki(options.client_ca + ".crt"));
    tls.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    if (options.tls12_only) SSL_CTX_set_max_proto_version(tls.native_handle(), TLS1_2_VERSION);
    if (!options.tls12_ciphers.empty()) SSL_CTX_set_cipher_list(tls.native_handle(), options.tls12_ciphers.c_str());
  }

  TlsTestServer& owner;
  ServerOptions options;
  asio::io_context io;
  ssl::context tls;
  tcp::acceptor acceptor;
  insurer::Verifier verifier;
  std::vector<std::shared_ptr<tcp::socket>> silent;  // never_handshake connections, held open
  mutable std::mutex mu;
  std::string last_body;
  std::map<std::string, std::string> last_headers;
  std::thread thread;

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
      if (ec) co_return;
      ++owner.accepts;
      if (owner.mode.load() == ServerMode::never_handshake) {
        silent.push_back(std::make_shared<tcp::socket>(std::move(sock)));
        continue;
      }
      asio::co_spawn(io, session(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> pause(int delay_ms) {
    asio::steady_timer t(io);
    t.expires_after(std::chrono::milliseconds(delay_ms));
    (void)co_await t.async_wait(use_tuple);
  }

  asio::awaitable<void> session(tcp::socket sock) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(sock), tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (hec) {
      ++owner.handshake_failures;
      co_return;
    }
    ++owner.handshakes;
    beast::flat_buffer buffer;
    for (;;) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
      http::request<http::string_body> req;
      auto [rec, n] = co_await http::async_read(stream, buffer, req, use_tuple);
      if (rec) co_return;
      ++owner.requests;
      const int active = ++owner.active_requests;
      int seen = owner.max_active_requests.load();
      while (active > seen && !owner.max_active_requests.compare_exchange_weak(seen, active)) {
      }
      {
        std::lock_guard lock(mu);
        last_body = req.body();
        last_headers.clear();
        for (const auto& f : req) last_headers[std::string(f.name_string())] = std::string(f.value());
      }
      insurer::SignedHeaders h{std::string(req[insurer::header_paasid]),
                               std::string(req[insurer::header_timestamp]),
                               std::string(req[insurer::header_nonce]),
                               std::string(req[insurer::header_signature])};
      const auto verdict = verifier.verify(h, req.body());
      if (!verdict.ok()) ++owner.bad_signatures;

      const ServerMode served = owner.mode.load();
      if (const int d = owner.answer_delay_ms.load(); d > 0) co_await pause(d);
      if (served == ServerMode::read_no_answer) {
        co_await pause(5000);
        --owner.active_requests;
        co_return;
      }
      if (served == ServerMode::close_after_read) {
        --owner.active_requests;
        ++owner.closed_by_server;
        beast::get_lowest_layer(stream).socket().close();
        co_return;
      }
      if (served == ServerMode::garbage) {
        static const std::string junk = "this is not an HTTP response\r\n\r\n";
        (void)co_await asio::async_write(stream, asio::buffer(junk), use_tuple);
        --owner.active_requests;
        ++owner.closed_by_server;
        beast::get_lowest_layer(stream).socket().close();
        co_return;
      }

      http::response<http::string_body> res{verdict.ok() ? http::status::ok : http::status::unauthorized,
                                            11};
      res.set(http::field::content_type, "application/json");
      if (!verdict.ok()) {
        res.body() = nlohmann::json{{"err_msg", verdict.error().message}}.dump();
      } else if (served == ServerMode::big_answer) {
        res.body() = nlohmann::json{{"pad", std::string(4096, 'x')}}.dump();
      } else {
        res.body() = nlohmann::json{{"echo", req.body()}}.dump();
      }
      res.keep_alive(served != ServerMode::connection_close);
      res.prepare_payload();
      auto [wec, m] = co_await http::async_write(stream, res, use_tuple);
      --owner.active_requests;
      if (wec) co_return;
      if (served == ServerMode::answer_then_close || served == ServerMode::connection_close) {
        // FIN without waiting for the client's close_notify, as servers do
        // when they reap idle keep-alive connections.
        beast::get_lowest_layer(stream).socket().close();
        ++owner.closed_by_server;
        co_return;
      }
    }
  }
};

TlsTestServer::TlsTestServer(ServerOptions options)
    : impl_(std::make_unique<Impl>(*this, std::move(options))) {
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

TlsTestServer::~TlsTestServer() {
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t TlsTestServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string TlsTestServer::last_body() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_body;
}

std::string TlsTestServer::last_header(const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->last_headers.find(name);
  return it == impl_->last_headers.end() ? std::string() : it->second;
}

}  // namespace settle::testing
