// The insurer HTTPS client against a real TLS server on loopback: each way a
// request can fail lands in the right outcome class (answered / unreachable /
// in_doubt), the pool reuses and bounds connections, and certificates from
// the wrong CA or for the wrong name are refused before anything is sent.
#include "protocol/insurer/client.hpp"

#include "protocol/insurer/signing.hpp"
#include "protocol/insurer/tls_context.hpp"
#include "test_pki.hpp"
#include "tls_test_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

using namespace settle;
using namespace settle::insurer;
using settle::testing::pki;
using settle::testing::ServerMode;
using settle::testing::ServerOptions;
using settle::testing::TlsTestServer;

namespace {

ClientConfig config_for(std::uint16_t port) {
  ClientConfig c;
  c.host = "127.0.0.1";
  c.port = port;
  c.server_name = "insurer.test";
  c.target = "/fsi/api";
  c.ca_file = pki("ca.crt");
  c.cert_file = pki("client.crt");
  c.key_file = pki("client.key");
  c.pool_size = 2;
  // Generous: a handshake under the sanitizers on a busy machine can take
  // longer than 300 ms. Each test of a timeout sets its own.
  c.connect_timeout_ms = 5000;
  c.request_timeout_ms = 5000;
  c.pool_wait_timeout_ms = 5000;
  c.paasid = "H11010500001";
  c.secret = "test-secret";
  return c;
}

std::unique_ptr<SyncClient> sync_client(const ClientConfig& c) {
  auto s = SyncClient::create(c);
  if (!s.ok()) FAIL(s.error().message);
  return std::move(*s);
}

LinkRequest req(std::string body = R"({"infno":"9001","msgid":"H11010500001202611221030450001"})") {
  return LinkRequest{std::move(body), "9001", "H11010500001202611221030450001", std::nullopt};
}

// Waits (bounded) for a counter the server thread updates. Not a timing
// assertion: the condition is what is checked, the bound only stops a hang.
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

// Runs `n` requests concurrently on one io_context thread, as the daemon does.
std::vector<Outcome> post_concurrently(const ClientConfig& c, int n, ClientStats* stats = nullptr) {
  boost::asio::io_context io;
  auto client = Client::create(io.get_executor(), c);
  REQUIRE(client.ok());
  std::vector<Outcome> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    (*client)->post(req(R"({"n":)" + std::to_string(i) + "}"),
                    [&out, i](Outcome o) { out[static_cast<std::size_t>(i)] = std::move(o); });
  }
  io.run();
  if (stats) *stats = (*client)->stats();
  return out;
}

}  // namespace

TEST_CASE("answered: a signed POST over mutual TLS returns status and body") {
  TlsTestServer server;
  auto client = sync_client(config_for(server.port()));
  const std::string body = R"({"infno":"2207","input":{"medfee_sumamt":"12.30"}})";
  auto o = client->post(LinkRequest{body, "2207", "H11010500001202611221030450002", std::nullopt});
  REQUIRE_MESSAGE(o.kind == OutcomeClass::answered, o.detail);
  CHECK(o.error == LinkError::none);
  CHECK(o.http_status == 200);
  CHECK(nlohmann::json::parse(o.body).at("echo") == body);
  CHECK_FALSE(o.reused_connection);
  CHECK(server.bad_signatures == 0);
  CHECK(server.last_body() == body);
  CHECK(server.last_header("x-tif-paasid") == "H11010500001");
  CHECK(server.last_header("x-tif-nonce").size() == 32);
  CHECK(server.last_header("x-tif-signature") ==
        request_signature("test-secret", server.last_header("x-tif-timestamp"),
                          server.last_header("x-tif-nonce"), body));
  CHECK(server.last_header("Content-Type") == "application/json;charset=utf-8");
  CHECK(server.last_header("Host") == "insurer.test:" + std::to_string(server.port()));
}

TEST_CASE("TLS context: TLS 1.2 minimum, peer verification on, only the configured CA") {
  auto ctx = insurer::detail::make_client_tls_context(pki("ca.crt"), pki("client.crt"), pki("client.key"));
  REQUIRE(ctx.ok());
  SSL_CTX* native = (*ctx)->native_handle();
  CHECK(SSL_CTX_get_min_proto_version(native) == TLS1_2_VERSION);
  CHECK((SSL_CTX_get_verify_mode(native) & SSL_VERIFY_PEER) != 0);
  CHECK(SSL_CTX_get0_certificate(native) != nullptr);
}

TEST_CASE("answered: over TLS 1.2 as well as TLS 1.3") {
  TlsTestServer server(ServerOptions{.tls12_only = true});
  auto o = sync_client(config_for(server.port()))->post(req());
  CHECK_MESSAGE(o.answered(), o.detail);
  CHECK(o.http_status == 200);
}

TEST_CASE("TLS 1.2 only with forward-secret AEAD suites: a server offering only CBC or SHA-1 suites is refused") {
  for (const char* legacy : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"}) {
    CAPTURE(legacy);
    TlsTestServer server(ServerOptions{.tls12_only = true, .tls12_ciphers = legacy});
    auto o = sync_client(config_for(server.port()))->post(req());
    CHECK(o.kind == OutcomeClass::unreachable);
    CHECK(o.error == LinkError::tls_handshake_failed);
    CHECK(server.requests == 0);
  }
  // The same server with an AEAD suite of the list is answered.
  TlsTestServer gcm(ServerOptions{.tls12_only = true, .tls12_ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384"});
  auto o = sync_client(config_for(gcm.port()))->post(req());
  CHECK_MESSAGE(o.answered(), o.detail);
}

TEST_CASE("answered: a non-2xx status is still an answer for the codec to judge") {
  TlsTestServer server;
  auto c = config_for(server.port());
  c.secret = "not-the-secret";
  auto o = sync_client(c)->post(req());
  REQUIRE(o.kind == OutcomeClass::answered);
  CHECK(o.http_status == 401);
  CHECK(server.bad_signatures == 1);
}

TEST_CASE("pool: sequential requests reuse one keep-alive connection") {
  TlsTestServer server;
  auto client = sync_client(config_for(server.port()));
  for (int i = 0; i < 6; ++i) {
    auto o = client->post(req());
    REQUIRE_MESSAGE(o.answered(), o.detail);
    CHECK(o.reused_connection == (i > 0));
  }
  CHECK(server.accepts == 1);
  CHECK(server.requests == 6);
  auto s = client->stats();
  CHECK(s.connections_opened == 1);
  CHECK(s.reused == 5);
  CHECK(s.open_connections == 1);
  CHECK(s.idle_connections == 1);
}

TEST_CASE("pool: concurrent requests never use more than pool_size connections") {
  TlsTestServer server;
  server.answer_delay_ms = 30;
  auto c = config_for(server.port());
  c.pool_size = 2;
  c.request_timeout_ms = 5000;
  c.pool_wait_timeout_ms = 20'000;
  ClientStats stats;
  auto out = post_concurrently(c, 10, &stats);
  for (const auto& o : out) CHECK_MESSAGE(o.answered(), o.detail);
  CHECK(server.accepts == 2);
  CHECK(server.max_active_requests <= 2);
  CHECK(server.requests == 10);
  CHECK(stats.connections_opened == 2);
  CHECK(stats.reused == 8);
  CHECK(stats.waiting == 0);
}

TEST_CASE("pool: callers beyond the wait queue's bound are refused at once") {
  TlsTestServer server;
  server.answer_delay_ms = 50;
  auto c = config_for(server.port());
  c.pool_size = 1;
  c.max_waiting = 1;
  c.request_timeout_ms = 5000;
  c.pool_wait_timeout_ms = 20'000;
  auto out = post_concurrently(c, 3);
  CHECK(out[0].answered());
  CHECK(out[1].answered());
  CHECK(out[1].reused_connection);
  CHECK(out[2].kind == OutcomeClass::unreachable);
  CHECK(out[2].error == LinkError::pool_queue_full);
  CHECK(server.requests == 2);
}

TEST_CASE("pool: a caller that waits past its deadline is unreachable, nothing sent") {
  TlsTestServer server;
  server.set_mode(ServerMode::read_no_answer);
  auto c = config_for(server.port());
  c.pool_size = 1;
  c.request_timeout_ms = 1000;
  c.pool_wait_timeout_ms = 50;
  auto out = post_concurrently(c, 2);
  CHECK(out[0].kind == OutcomeClass::in_doubt);
  CHECK(out[0].error == LinkError::reply_timeout);
  CHECK(out[1].kind == OutcomeClass::unreachable);
  CHECK(out[1].error == LinkError::pool_wait_timeout);
  CHECK(server.requests == 1);
}

TEST_CASE("unreachable: connection refused") {
  auto o = sync_client(config_for(closed_port()))->post(req());
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::connect_refused);
  CHECK(o.detail.find("refused") != std::string::npos);
}

TEST_CASE("unreachable: the server accepts TCP but never completes the handshake") {
  TlsTestServer server;
  server.set_mode(ServerMode::never_handshake);
  auto c = config_for(server.port());
  c.connect_timeout_ms = 300;
  auto o = sync_client(c)->post(req());
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::connect_timeout);
  CHECK(o.detail.find("TLS handshake") != std::string::npos);
  CHECK(server.accepts == 1);
  CHECK(server.requests == 0);
}

TEST_CASE("unreachable: a host name the certificate does not carry is refused") {
  TlsTestServer server;
  auto c = config_for(server.port());
  c.server_name = "wrong.test";
  auto o = sync_client(c)->post(req());
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::host_name_mismatch);
  CHECK(o.detail.find("does not name 'wrong.test'") != std::string::npos);
  CHECK(server.requests == 0);

  // The names and the address the certificate does carry are accepted.
  for (const char* name : {"localhost", "127.0.0.1", "insurer.test"}) {
    CAPTURE(name);
    c.server_name = name;
    auto ok = sync_client(c)->post(req());
    CHECK_MESSAGE(ok.answered(), ok.detail);
  }
}

TEST_CASE("unreachable: a server certificate from another CA is refused") {
  TlsTestServer server(ServerOptions{.cert = "other-server"});
  auto o = sync_client(config_for(server.port()))->post(req());
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::server_cert_rejected);
  CHECK(o.detail.find("unable to get local issuer certificate") != std::string::npos);
  CHECK(server.requests == 0);
}

TEST_CASE("unreachable: the server refuses a client certificate from another CA, or none") {
  for (bool tls12 : {false, true}) {
    CAPTURE(tls12);
    TlsTestServer server(ServerOptions{.tls12_only = tls12});
    auto c = config_for(server.port());
    c.cert_file = pki("other-client.crt");
    c.key_file = pki("other-client.key");
    auto o = sync_client(c)->post(req());
    CHECK(o.kind == OutcomeClass::unreachable);
    CHECK(o.error == LinkError::client_cert_rejected);
    CHECK_MESSAGE(o.detail.find("refused this institution's certificate") != std::string::npos, o.detail);

    c.cert_file.clear();
    c.key_file.clear();
    auto none = sync_client(c)->post(req());
    CHECK(none.kind == OutcomeClass::unreachable);
    CHECK(none.error == LinkError::client_cert_rejected);
    CHECK(server.requests == 0);
    // The client can read the server's alert before the server's thread has
    // counted the failed handshake: give it a moment to finish counting.
    for (int i = 0; i < 200 && server.handshake_failures < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(server.handshake_failures == 2);
  }
}

TEST_CASE("in_doubt: the server reads the request and never answers") {
  TlsTestServer server;
  server.set_mode(ServerMode::read_no_answer);
  auto c = config_for(server.port());
  c.request_timeout_ms = 300;
  auto o = sync_client(c)->post(req());
  CHECK(o.kind == OutcomeClass::in_doubt);
  CHECK(o.error == LinkError::reply_timeout);
  CHECK(o.detail.find("300 ms") != std::string::npos);
  CHECK(server.requests == 1);
}

TEST_CASE("in_doubt: the server closes the connection after reading the request") {
  TlsTestServer server;
  server.set_mode(ServerMode::close_after_read);
  auto o = sync_client(config_for(server.port()))->post(req());
  CHECK(o.kind == OutcomeClass::in_doubt);
  CHECK(o.error == LinkError::connection_closed);
  CHECK(server.requests == 1);
}

TEST_CASE("in_doubt: a reply that is not HTTP") {
  TlsTestServer server;
  server.set_mode(ServerMode::garbage);
  auto client = sync_client(config_for(server.port()));
  auto o = client->post(req());
  CHECK(o.kind == OutcomeClass::in_doubt);
  CHECK(o.error == LinkError::bad_reply);
  CHECK(o.detail.find("not HTTP") != std::string::npos);
  // The connection that carried garbage is not kept.
  CHECK(client->stats().open_connections == 0);
}

TEST_CASE("in_doubt: a reply larger than max_reply_bytes") {
  TlsTestServer server;
  server.set_mode(ServerMode::big_answer);
  auto c = config_for(server.port());
  c.max_reply_bytes = 1024;
  auto o = sync_client(c)->post(req());
  CHECK(o.kind == OutcomeClass::in_doubt);
  CHECK(o.error == LinkError::reply_too_large);
}

TEST_CASE("a pooled connection the server closed while idle is replaced, not in doubt") {
  TlsTestServer server;
  server.set_mode(ServerMode::answer_then_close);
  auto client = sync_client(config_for(server.port()));
  REQUIRE(client->post(req()).answered());
  REQUIRE(eventually([&] { return server.closed_by_server == 1; }));
  server.set_mode(ServerMode::answer);
  // The FIN has been sent; give it the loopback's moment to arrive.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto o = client->post(req());
  CHECK_MESSAGE(o.answered(), o.detail);
  CHECK_FALSE(o.reused_connection);
  CHECK(client->stats().stale_discarded == 1);
  CHECK(server.accepts == 2);
  CHECK(server.requests == 2);
}

TEST_CASE("a reply with Connection: close is answered and its connection not pooled") {
  TlsTestServer server;
  server.set_mode(ServerMode::connection_close);
  auto client = sync_client(config_for(server.port()));
  CHECK(client->post(req()).answered());
  CHECK(client->stats().open_connections == 0);
  CHECK(client->post(req()).answered());
  CHECK(server.accepts == 2);
}

TEST_CASE("connections idle longer than idle_timeout_ms are not reused") {
  TlsTestServer server;
  auto c = config_for(server.port());
  c.idle_timeout_ms = 1;
  auto client = sync_client(c);
  REQUIRE(client->post(req()).answered());
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto o = client->post(req());
  CHECK(o.answered());
  CHECK_FALSE(o.reused_connection);
  CHECK(client->stats().idle_expired == 1);
  CHECK(server.accepts == 2);
}

TEST_CASE("a per-request timeout overrides the configured one") {
  TlsTestServer server;
  server.set_mode(ServerMode::read_no_answer);
  auto c = config_for(server.port());
  c.request_timeout_ms = 60'000;
  auto r = req();
  r.request_timeout_ms = 100;
  auto o = sync_client(c)->post(r);
  CHECK(o.kind == OutcomeClass::in_doubt);
  CHECK(o.detail.find("within 100 ms") != std::string::npos);
}

TEST_CASE("close(): waiting and later requests are unreachable") {
  TlsTestServer server;
  server.answer_delay_ms = 50;
  auto c = config_for(server.port());
  c.pool_size = 1;
  c.request_timeout_ms = 5000;
  c.pool_wait_timeout_ms = 20'000;
  boost::asio::io_context io;
  auto client = Client::create(io.get_executor(), c).value();
  std::vector<Outcome> out(3);
  client->post(req(), [&](Outcome o) {
    out[0] = std::move(o);
    client->post(req(), [&](Outcome p) { out[2] = std::move(p); });
  });
  client->post(req(), [&](Outcome o) { out[1] = std::move(o); });
  // Close once the second request is queued behind the first.
  boost::asio::steady_timer t(io);
  std::function<void()> close_when_waiting = [&] {
    if (client->stats().waiting == 1) {
      client->close();
      return;
    }
    t.expires_after(std::chrono::milliseconds(1));
    t.async_wait([&](auto) { close_when_waiting(); });
  };
  close_when_waiting();
  io.run();
  CHECK(out[0].answered());  // in flight when closed: finishes
  CHECK(out[1].kind == OutcomeClass::unreachable);
  CHECK(out[1].error == LinkError::client_closed);
  CHECK(out[2].error == LinkError::client_closed);
  CHECK(client->stats().open_connections == 0);
  CHECK(server.requests == 1);
}

TEST_CASE("config errors name the field") {
  auto c = config_for(443);
  auto bad = [](ClientConfig k) { return SyncClient::create(std::move(k)); };
  {
    auto k = c;
    k.ca_file = "/nonexistent/ca.crt";
    auto r = bad(k);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == Reason::invalid_config);
    CHECK(r.error().field == "ca_file");
  }
  {
    auto k = c;
    k.key_file = pki("other-client.key");
    auto r = bad(k);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field == "key_file");
    CHECK(r.error().message.find("does not match") != std::string::npos);
  }
  {
    auto k = c;
    k.cert_file = pki("ca.key");
    auto r = bad(k);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field == "cert_file");
  }
  {
    // The private key open to other users is refused; to the owner and a group, it is taken.
    const std::string copy = std::filesystem::temp_directory_path() / fmt::format("settle-key-{}.key", ::getpid());
    std::filesystem::copy_file(c.key_file, copy, std::filesystem::copy_options::overwrite_existing);
    auto k = c;
    k.key_file = copy;
    for (const auto mode : {0644, 0604, 0602}) {
      CAPTURE(mode);
      REQUIRE(::chmod(copy.c_str(), static_cast<mode_t>(mode)) == 0);
      auto r = bad(k);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().field == "key_file");
      CHECK(r.error().message.find("open to other users") != std::string::npos);
    }
    for (const auto mode : {0600, 0640}) {
      CAPTURE(mode);
      REQUIRE(::chmod(copy.c_str(), static_cast<mode_t>(mode)) == 0);
      CHECK(bad(k).ok());
    }
    std::filesystem::remove(copy);
  }
  {
    auto k = c;
    k.key_file.clear();
    CHECK(bad(k).error().field == "key_file");
  }
  {
    auto k = c;
    k.pool_size = 0;
    CHECK(bad(k).error().field == "pool_size");
  }
  {
    auto k = c;
    k.request_timeout_ms = 0;
    CHECK(bad(k).error().field == "request_timeout_ms");
  }
  {
    auto k = c;
    k.target = "fsi";
    CHECK(bad(k).error().field == "target");
  }
  {
    auto k = c;
    k.secret.clear();
    CHECK(bad(k).error().field == "secret");
  }
  {
    auto k = c;
    k.host.clear();
    CHECK(bad(k).error().field == "host");
  }
}

TEST_CASE("unreachable: a host name that does not resolve") {
  auto c = config_for(443);
  c.host = "no-such-host.invalid";
  c.server_name = "insurer.test";
  c.connect_timeout_ms = 3000;
  auto o = sync_client(c)->post(req());
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK((o.error == LinkError::resolve_failed || o.error == LinkError::connect_timeout));
}
