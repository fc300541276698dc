// The insurer link end to end against the real simulator process over mutual
// TLS: who is refused at the door, how signatures and replays are refused,
// which outcome class each simulator fault produces — checked against the
// simulator's own record of what it settled — and msgid uniqueness under
// concurrency and across restarts.
#include "sim_harness.hpp"

#include "offline/msgid.hpp"
#include "protocol/insurer/signing.hpp"
#include "tests/offline/test_dir.hpp"
#include "tests/protocol/insurer_client/test_pki.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <thread>

using namespace settle;
using namespace settle::insurer;
using namespace settle::testing;

namespace {

std::unique_ptr<SyncClient> make_client(const ClientConfig& c) {
  auto s = SyncClient::create(c);
  if (!s.ok()) FAIL(s.error().field << ": " << s.error().message);
  return std::move(*s);
}

ledger::MsgidAllocator make_allocator(std::optional<std::string> highest = std::nullopt) {
  auto a = ledger::MsgidAllocator::create(institution, highest);
  REQUIRE(a.ok());
  return std::move(*a);
}

std::int64_t counter(const nlohmann::json& c, const char* name) {
  return c.contains(name) ? c.at(name).get<std::int64_t>() : 0;
}

// The simulator's report row for a msgid, or null.
nlohmann::json settlement_by_msgid(const nlohmann::json& report, const std::string& msgid) {
  for (const auto& s : report.at("settlements")) {
    if (s.at("msgid") == msgid) return s;
  }
  return nullptr;
}

// A POST with headers given verbatim (for replay tests): status and body.
std::pair<unsigned, std::string> raw_post(std::uint16_t port, const SignedHeaders& h, const std::string& body) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.load_verify_file(pki("ca.crt"));
  tls.use_certificate_chain_file(pki("client.crt"));
  tls.use_private_key_file(pki("client.key"), asio::ssl::context::pem);
  tls.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(stream).connect({asio::ip::make_address("127.0.0.1"), port});
  stream.handshake(asio::ssl::stream_base::client);
  http::request<http::string_body> req{http::verb::post, "/", 11};
  req.set(http::field::host, "insurer.test");
  req.set(http::field::content_type, "application/json;charset=utf-8");
  req.set(header_paasid, h.paasid);
  req.set(header_timestamp, h.timestamp);
  req.set(header_nonce, h.nonce);
  req.set(header_signature, h.signature);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  return {res.result_int(), res.body()};
}

}  // namespace

TEST_CASE("mutual TLS: clients the insurer must not talk to are refused before any request") {
  test::TestDir dir("insurer-door");
  SimProcess sim(dir.path());
  auto base = sim.client_config();

  auto no_cert = base;
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  auto o = make_client(no_cert)->post({R"({"x":1})", "9001", "none", std::nullopt});
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::client_cert_rejected);

  auto other_ca = base;
  other_ca.cert_file = pki("other-client.crt");
  other_ca.key_file = pki("other-client.key");
  o = make_client(other_ca)->post({R"({"x":1})", "9001", "none", std::nullopt});
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::client_cert_rejected);

  auto wrong_name = base;
  wrong_name.server_name = "not-the-insurer.test";
  o = make_client(wrong_name)->post({R"({"x":1})", "9001", "none", std::nullopt});
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::host_name_mismatch);

  auto trusts_other_ca = base;
  trusts_other_ca.ca_file = pki("other-ca.crt");
  o = make_client(trusts_other_ca)->post({R"({"x":1})", "9001", "none", std::nullopt});
  CHECK(o.kind == OutcomeClass::unreachable);
  CHECK(o.error == LinkError::server_cert_rejected);

  CHECK(counter(sim.counters(), "requests") == 0);

  // The right client gets through.
  auto client = make_client(base);
  auto msgids = make_allocator();
  Hospital hospital(*client, msgids);
  hospital.sign_in();
  CHECK_FALSE(hospital.sign_no().empty());
}

TEST_CASE("signatures: a wrong secret and a replayed request are refused without effect") {
  test::TestDir dir("insurer-sign");
  SimProcess sim(dir.path());
  auto msgids = make_allocator();

  auto wrong = sim.client_config();
  wrong.secret = "not-the-secret";
  auto bad_client = make_client(wrong);
  Hospital bad(*bad_client, msgids);
  auto s = bad.send<SignIn>(SignIn::Input{"C007", "00-11-22-33-44-55", "127.0.0.1"});
  REQUIRE(s.outcome.answered());  // the transport delivered a refusal; the codec reads it
  CHECK_FALSE(decode_reply<SignIn>(s.outcome.body, s.msgid).ok());
  CHECK(counter(sim.counters(), "refused_signature") == 1);

  // A request signed once and sent twice: the second is refused.
  auto client = make_client(sim.client_config());
  Hospital hospital(*client, msgids);
  const auto head = hospital.head(SignIn::infno);
  const std::string body = encode_call<SignIn>(head, SignIn::Input{"C007", "00-11-22-33-44-55", "127.0.0.1"});
  Signer signer(institution, sim_secret);
  const auto h = signer.sign(body).value();
  auto first = raw_post(sim.port(), h, body);
  CHECK(first.first == 200);
  auto out = decode_reply<SignIn>(first.second, head.msgid);
  CHECK_MESSAGE(out.ok(), first.second);
  auto second = raw_post(sim.port(), h, body);
  const bool refused = second.first != 200 || !decode_reply<SignIn>(second.second, head.msgid).ok();
  CHECK_MESSAGE(refused, second.second);
  CHECK(counter(sim.counters(), "refused_signature") == 2);
}

TEST_CASE("faults: each simulator fault lands in its outcome class, and the record agrees") {
  test::TestDir dir("insurer-faults");
  SimProcess sim(dir.path());
  const std::string psn = sim.add_person("C00000001", "500.00");
  auto cfg = sim.client_config();
  // Wide margins around the faults' delays: the machine is shared.
  cfg.request_timeout_ms = 1500;
  auto client = make_client(cfg);
  auto msgids = make_allocator();
  Hospital hospital(*client, msgids);
  hospital.sign_in();

  // `refuse` acts on new connections: those calls go through a client with
  // an empty pool, the others over the pooled connection.
  auto settle_with = [&](const std::vector<std::string>& faults, bool fresh_connection = false) {
    auto visit = hospital.open_visit_with_line(psn, "C00000001", Amount::fen(10'000));
    if (!faults.empty()) sim.set_faults(faults);
    Sent sent;
    if (fresh_connection) {
      auto head = hospital.head(OutpatientSettle::infno);
      sent.msgid = head.msgid;
      sent.outcome = make_client(cfg)->post(LinkRequest{encode_call<OutpatientSettle>(head, hospital.settle_input(visit)),
                                                    "2207", head.msgid, std::nullopt});
    } else {
      sent = hospital.send<OutpatientSettle>(hospital.settle_input(visit));
    }
    sim.clear_faults();
    return sent;
  };

  SUBCASE("refuse: unreachable, nothing recorded") {
    auto s = settle_with({"refuse:count=1"}, true);
    CHECK(s.outcome.kind == OutcomeClass::unreachable);
    CHECK(settlement_by_msgid(sim.report(), s.msgid).is_null());
  }
  SUBCASE("stall past the deadline: in doubt, nothing recorded") {
    auto s = settle_with({"stall:count=1"});
    CHECK(s.outcome.kind == OutcomeClass::in_doubt);
    CHECK(s.outcome.error == LinkError::reply_timeout);
    CHECK(settlement_by_msgid(sim.report(), s.msgid).is_null());
  }
  SUBCASE("drop the request: in doubt, nothing recorded") {
    auto s = settle_with({"drop_request:count=1"});
    CHECK(s.outcome.kind == OutcomeClass::in_doubt);
    CHECK(s.outcome.error == LinkError::connection_closed);
    CHECK(settlement_by_msgid(sim.report(), s.msgid).is_null());
  }
  SUBCASE("lost reply: in doubt, settled at the insurer; a 2601 reversal undoes it") {
    auto s = settle_with({"lost_reply:count=1"});
    CHECK(s.outcome.kind == OutcomeClass::in_doubt);
    auto row = settlement_by_msgid(sim.report(), s.msgid);
    REQUIRE_FALSE(row.is_null());
    CHECK(row.at("state") == "effective");

    auto rev = hospital.send<Reversal>(Reversal::Input{psn, s.msgid, "2207"});
    REQUIRE(rev.outcome.answered());
    auto out = decode_reply<Reversal>(rev.outcome.body, rev.msgid);
    REQUIRE_MESSAGE(out.ok(), out.error().message);
    CHECK(out->result == ReversalResult::reversed);
    CHECK(settlement_by_msgid(sim.report(), s.msgid).at("state") == "reversed");
    // Reversing again is idempotent.
    auto again = hospital.send<Reversal>(Reversal::Input{psn, s.msgid, "2207"});
    CHECK(decode_reply<Reversal>(again.outcome.body, again.msgid)->result == ReversalResult::already_reversed);
  }
  SUBCASE("reversal of a request that never arrived: not_found, and it stays unsettled") {
    auto s = settle_with({"refuse:count=1"}, true);
    REQUIRE(s.outcome.kind == OutcomeClass::unreachable);
    auto rev = hospital.send<Reversal>(Reversal::Input{psn, s.msgid, "2207"});
    auto out = decode_reply<Reversal>(rev.outcome.body, rev.msgid);
    REQUIRE(out.ok());
    CHECK(out->result == ReversalResult::not_found);
    CHECK(settlement_by_msgid(sim.report(), s.msgid).is_null());
  }
  SUBCASE("error infcode: answered; the codec reports the refusal; nothing recorded") {
    auto s = settle_with({"error:count=1"});
    REQUIRE(s.outcome.answered());
    auto out = decode_reply<OutpatientSettle>(s.outcome.body, s.msgid);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error().reason == Reason::insurer_rejected);
    CHECK(settlement_by_msgid(sim.report(), s.msgid).is_null());
  }
  SUBCASE("garbage body: answered by HTTP, undecodable, and it did settle (so in doubt)") {
    auto s = settle_with({"garbage:count=1"});
    REQUIRE(s.outcome.answered());
    CHECK_FALSE(decode_reply<OutpatientSettle>(s.outcome.body, s.msgid).ok());
    auto row = settlement_by_msgid(sim.report(), s.msgid);
    REQUIRE_FALSE(row.is_null());
    CHECK(row.at("state") == "effective");
  }
  SUBCASE("extra delay inside the deadline: answered and settled") {
    auto s = settle_with({"delay:ms=200"});
    REQUIRE_MESSAGE(s.outcome.answered(), s.outcome.detail);
    auto out = decode_reply<OutpatientSettle>(s.outcome.body, s.msgid);
    REQUIRE_MESSAGE(out.ok(), out.error().message);
    CHECK(settlement_by_msgid(sim.report(), s.msgid).at("state") == "effective");
    CHECK(out->setlinfo.medfee_sumamt == Amount::fen(10'000));
  }
  SUBCASE("extra delay past the deadline: in doubt, and it did settle") {
    auto s = settle_with({"delay:ms=3000"});
    CHECK(s.outcome.kind == OutcomeClass::in_doubt);
    CHECK(s.outcome.error == LinkError::reply_timeout);
    // The simulator commits before it waits out the delay; give it that long.
    nlohmann::json row;
    for (int i = 0; i < 500 && (row = settlement_by_msgid(sim.report(), s.msgid)).is_null(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE_FALSE(row.is_null());
    CHECK(row.at("state") == "effective");
  }
}

TEST_CASE("msgids: unique under many concurrent requests and across restarts") {
  test::TestDir dir("insurer-msgid");
  SimProcess sim(dir.path());
  auto cfg = sim.client_config();
  cfg.pool_size = 8;
  std::set<std::string> all;
  std::optional<std::string> last;

  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    // Round 1 is a restart of both sides: a new allocator seeded from the
    // highest msgid recorded, and a new simulator process on the same file.
    auto msgids = make_allocator(last);
    boost::asio::io_context io;
    auto client = Client::create(io.get_executor(), cfg).value();
    auto sync_client = make_client(cfg);
    Hospital hospital(*sync_client, msgids);
    hospital.sign_in();

    constexpr int n = 200;
    std::vector<std::pair<std::string, Outcome>> results(n);
    for (int i = 0; i < n; ++i) {
      auto head = hospital.head(SignIn::infno);
      results[static_cast<std::size_t>(i)].first = head.msgid;
      client->post(LinkRequest{encode_call<SignIn>(head, SignIn::Input{"C007", "00-11-22-33-44-55", "127.0.0.1"}),
                           "9001", head.msgid, std::nullopt},
                   [&results, i](Outcome o) { results[static_cast<std::size_t>(i)].second = std::move(o); });
    }
    io.run();
    for (const auto& [msgid, o] : results) {
      REQUIRE_MESSAGE(o.answered(), o.detail);
      auto r = decode_response(o.body, msgid);
      REQUIRE_MESSAGE(r.ok(), r.error().message);
      CHECK(r->infcode == infcode_ok);
      CHECK(all.insert(msgid).second);
    }
    CHECK(client->stats().connections_opened <= cfg.pool_size);
    CHECK(counter(sim.counters(), "idempotent_replays") == 0);
    last = msgids.last();
    if (round == 0) {
      sim.stop();
      sim.start();
      cfg = [&] {
        auto c = sim.client_config();
        c.pool_size = 8;
        return c;
      }();
    }
  }
  CHECK(all.size() == 2 * 200);

  // The simulator remembers msgids across its restart: an old one is a replay.
  auto msgids = make_allocator(last);
  auto client = make_client(cfg);
  Hospital hospital(*client, msgids);
  hospital.sign_in();
  auto head = hospital.head(SignIn::infno);
  head.msgid = *all.begin();
  auto o = client->post(LinkRequest{encode_call<SignIn>(head, SignIn::Input{"C007", "00-11-22-33-44-55", "127.0.0.1"}),
                                "9001", head.msgid, std::nullopt});
  REQUIRE(o.answered());
  CHECK(counter(sim.counters(), "idempotent_replays") == 1);
}
