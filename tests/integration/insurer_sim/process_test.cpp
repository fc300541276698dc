// The real insurer-sim process over mutual TLS: start it with the test PKI,
// drive it with a small signed HTTPS client, switch faults through the
// control endpoint, and check through its report that every lost reply was
// resolved without a double charge; restart it and find the state kept; the
// national profile over the wire, with an e-voucher minted by the control client.
#include "protocol/insurer/codecs.hpp"
#include "protocol/insurer/signing.hpp"
#include "tests/integration/insurer_sim/sim_fixture.hpp"
#include "tools/insurer-sim/control_client.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sys/wait.h>
#include <unistd.h>

using namespace settle;
using namespace settle::simtest;
using json::Json;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

const std::string kSecret = "test-secret-0001";
const std::string kSim = std::string(SETTLE_BINARY_DIR) + "/tools/insurer-sim/insurer-sim";
const std::string kPki = std::string(SETTLE_BINARY_DIR) + "/test-pki-insurer-sim";

Amount yuan(std::string_view s) { return parse_amount(s, "test").value(); }

void make_pki() {
  static bool done = false;
  if (done) return;
  const std::string cmd = "bash " + std::string(SETTLE_SOURCE_DIR) + "/tools/gen-test-pki.sh " + kPki + " >/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  done = true;
}

// The simulator process: started with a fresh or given database, stopped by SIGTERM.
class SimProcess {
 public:
  SimProcess(const std::string& db, std::vector<std::string> extra = {}) {
    make_pki();
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      std::vector<std::string> args{kSim, "serve", "--db", db, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
                                    "--cert", kPki + "/server.crt", "--key", kPki + "/server.key", "--ca",
                                    kPki + "/ca.crt", "--secret", kSecret, "--policy",
                                    std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml", "--sync", "normal"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kSim.c_str(), argv.data());
      std::_Exit(127);
    }
    ::close(out[1]);
    out_ = ::fdopen(out[0], "r");
    char line[512];
    REQUIRE(std::fgets(line, sizeof line, out_) != nullptr);
    unsigned p = 0, c = 0;
    REQUIRE(std::sscanf(line, "insurer-sim: listening on 127.0.0.1:%u control 127.0.0.1:%u", &p, &c) == 2);
    port = static_cast<std::uint16_t>(p);
    control_port = static_cast<std::uint16_t>(c);
  }
  ~SimProcess() { stop(); }

  // SIGTERM; the exit status (0 for a clean shutdown).
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    if (out_ != nullptr) std::fclose(out_);
    out_ = nullptr;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }

  std::uint16_t port = 0;
  std::uint16_t control_port = 0;

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int status_ = 0;
};

// Plain HTTP to the control endpoint.
std::pair<unsigned, Json> control(std::uint16_t port, http::verb verb, const std::string& target, const std::string& body = "") {
  asio::io_context ioc;
  beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req(verb, target, 11);
  req.set(http::field::host, "127.0.0.1");
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  return {res.result_int(), Json::parse(res.body())};
}

struct HttpResult {
  bool answered = false;  // a full HTTP response came back
  unsigned status = 0;
  std::string body;
  std::string error;      // transport error when not answered
};

// One HTTPS connection to the simulator with a client certificate.
class TlsClient {
 public:
  TlsClient(std::uint16_t port, const std::string& cert_prefix = "client", bool with_cert = true)
      : ctx_(ssl::context::tls_client), port_(port) {
    ctx_.load_verify_file(kPki + "/ca.crt");
    ctx_.set_verify_mode(ssl::verify_peer);
    if (with_cert) {
      ctx_.use_certificate_chain_file(kPki + "/" + cert_prefix + ".crt");
      ctx_.use_private_key_file(kPki + "/" + cert_prefix + ".key", ssl::context::pem);
    }
  }

  // Connects and completes the handshake; false with the reason otherwise.
  bool connect(std::string* why = nullptr) {
    stream_.emplace(ioc_, ctx_);
    beast::error_code ec;
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(5));
    beast::get_lowest_layer(*stream_).async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_),
                                                    [&](beast::error_code e) { ec = e; });
    run();
    if (!ec) {
      stream_->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
      run();
    }
    // TLS 1.3 reports a refused client certificate only on the first read.
    if (why != nullptr && ec) *why = ec.message();
    return !ec;
  }

  HttpResult post(const std::string& body, const insurer::SignedHeaders& h, int timeout_s = 5) {
    HttpResult r;
    if (!stream_ && !connect(&r.error)) return r;
    http::request<http::string_body> req(http::verb::post, "/fsi/api/rsfComIfsService/callService", 11);
    req.set(http::field::host, "insurer.test");
    req.set(http::field::content_type, "application/json");
    req.set(insurer::header_paasid, h.paasid);
    req.set(insurer::header_timestamp, h.timestamp);
    req.set(insurer::header_nonce, h.nonce);
    req.set(insurer::header_signature, h.signature);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    beast::error_code ec;
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(timeout_s));
    http::async_write(*stream_, req, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    http::response<http::string_body> res;
    beast::flat_buffer buf;
    if (!ec) {
      http::async_read(*stream_, buf, res, [&](beast::error_code e, std::size_t) { ec = e; });
      run();
    }
    if (ec) {
      r.error = ec.message();
      stream_.reset();  // the connection is gone
      return r;
    }
    r.answered = true;
    r.status = res.result_int();
    r.body = res.body();
    if (!res.keep_alive()) stream_.reset();
    return r;
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }
  asio::io_context ioc_;
  ssl::context ctx_;
  std::uint16_t port_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
};

// Signed calls with unique msgids.
struct Hospital {
  explicit Hospital(std::uint16_t port) : client(port) {}
  TlsClient client;
  insurer::Signer signer{kInstitution, kSecret};
  Headers headers;
  std::string sign_no;

  HttpResult send(const insurer::RequestHeader& h, const Json& input) {
    const std::string body = insurer::encode_request(h, input);
    return client.post(body, signer.sign(body).value());
  }
  template <class T>
  Result<typename T::Output> call(const typename T::Input& in, std::string* msgid = nullptr) {
    const auto h = headers.next(T::infno, sign_no);
    if (msgid != nullptr) *msgid = h.msgid;
    HttpResult r = send(h, in.encode());
    if (!r.answered) return make_error(Reason::in_doubt, "", r.error);
    return insurer::decode_reply<T>(r.body, h.msgid);
  }
  template <class T>
  typename T::Output ok(const typename T::Input& in, std::string* msgid = nullptr) {
    auto r = call<T>(in, msgid);
    INFO(T::infno << ": " << (r.ok() ? "" : r.error().message));
    REQUIRE(r.ok());
    return *r;
  }
  void sign_in() { sign_no = ok<insurer::SignIn>({"C007", "", ""}).sign_no; }
};

insurer::SettleInput settle_input(const std::string& mdtrt, const std::string& batch) {
  return {"11000000000000001", "03", "D00000001", "11", yuan("100.00"), "01", mdtrt, batch, "310", "1", "L-" + batch};
}

// Registers a visit of the demo person and uploads one class A line of 100.00.
std::string visit(Hospital& h, const std::string& batch) {
  const std::string mdtrt = h.ok<insurer::OutpatientRegister>(
                                 {{"11000000000000001", "310", "03", "D00000001", "11", "OP-" + batch, "2026-11-22 10:00:00", "", ""}})
                                .mdtrt_id;
  insurer::FeeDetail d;
  d.feedetl_sn = batch + "-1";
  d.mdtrt_id = mdtrt;
  d.psn_no = "11000000000000001";
  d.chrg_bchno = batch;
  d.fee_ocur_time = "2026-11-22 10:05:00";
  d.med_list_codg = "A001";
  d.det_item_fee_sumamt = yuan("100.00");
  d.cnt = "1";
  d.pric = yuan("100.00");
  h.ok<insurer::OutpatientLines>({{d}});
  return mdtrt;
}

Json report(const SimProcess& sim) {
  auto [status, body] = control(sim.control_port, http::verb::get, "/report");
  REQUIRE(status == 200);
  return body;
}

std::string init_db(const TempDir& dir) {
  const std::string db = dir.file("sim.db");
  REQUIRE(std::system((kSim + " init-demo --db " + db + " >/dev/null").c_str()) == 0);
  return db;
}

}  // namespace

TEST_CASE("sign-in, person, register, lines, settle, history over mutual TLS; the report shows the charge") {
  TempDir dir("sim-process");
  SimProcess sim(init_db(dir));
  Hospital h(sim.port);
  // Without a sign-in the business call is refused by infcode.
  auto refused = h.call<insurer::PersonInfo>({"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == Reason::insurer_rejected);
  h.sign_in();
  auto person = h.ok<insurer::PersonInfo>({"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""});
  CHECK(person.baseinfo.psn_name == "张三");
  const std::string mdtrt = visit(h, "B1");
  // Deductible 1800 not used: all 100.00 is the patient's, from the account.
  auto s = h.ok<insurer::OutpatientSettle>(settle_input(mdtrt, "B1")).setlinfo;
  CHECK(s.fund_pay_sumamt == yuan("0.00"));
  CHECK(s.acct_pay == yuan("100.00"));
  CHECK(s.balc == yuan("400.00"));
  auto hist = h.ok<insurer::AccountHistory>({"11000000000000001", 5});
  CHECK(hist.balc == yuan("400.00"));
  const Json rep = report(sim);
  CHECK(rep["totals"]["effective_settlements"] == 1);
  CHECK(rep["totals"]["acct_pay"] == "100.00");
  CHECK(rep["settlements"][0]["medins_setl_id"] == "L-B1");
  CHECK(sim.stop() == 0);
}

TEST_CASE("signatures: a bad one, a replayed nonce and a stale timestamp are refused with HTTP 401 and infcode -1") {
  TempDir dir("sim-process");
  SimProcess sim(init_db(dir));
  Hospital h(sim.port);
  const auto head = h.headers.next("9001", "");
  const std::string body = insurer::encode_request(head, insurer::SignIn::Input{"C007", "", ""}.encode());
  insurer::SignedHeaders sig = h.signer.sign(body).value();
  insurer::SignedHeaders bad = sig;
  bad.signature[0] = bad.signature[0] == 'a' ? 'b' : 'a';
  HttpResult r = h.client.post(body, bad);
  REQUIRE(r.answered);
  CHECK(r.status == 401);
  auto decoded = insurer::decode_response(r.body, head.msgid);
  REQUIRE(decoded.ok());
  CHECK(decoded->infcode == -1);
  CHECK(h.client.post(body, sig).status == 200);
  CHECK(h.client.post(body, sig).status == 401);  // same nonce again
  insurer::Signer stale(kInstitution, kSecret, [] { return std::int64_t{1'000'000'000}; });
  CHECK(h.client.post(body, stale.sign(body).value()).status == 401);
  auto [st, counters] = control(sim.control_port, http::verb::get, "/counters");
  CHECK(st == 200);
  CHECK(counters["refused_signature"] == 3);
  // The simulator's own time covers the answered transaction only (refusals are not timed).
  REQUIRE(counters["processing"].contains("9001"));
  CHECK(counters["processing"]["9001"]["answers"] == 1);
  CHECK(counters["processing"]["9001"]["us"].get<std::int64_t>() > 0);
  CHECK(counters["processing"].size() == 1);
}

TEST_CASE("TLS: a client certificate from another CA, or none, gets no answer") {
  TempDir dir("sim-process");
  SimProcess sim(init_db(dir));
  Hospital ok(sim.port);
  ok.sign_in();
  for (bool with_cert : {true, false}) {
    TlsClient other(sim.port, "other-client", with_cert);
    insurer::Signer signer(kInstitution, kSecret);
    Headers headers;
    const auto head = headers.next("9001", "");
    const std::string body = insurer::encode_request(head, insurer::SignIn::Input{"C007", "", ""}.encode());
    HttpResult r = other.post(body, signer.sign(body).value());
    CHECK_FALSE(r.answered);
  }
}

TEST_CASE("lost reply: the charge is committed, a reversal undoes it, and the retry charges exactly once") {
  TempDir dir("sim-process");
  SimProcess sim(init_db(dir));
  Hospital h(sim.port);
  h.sign_in();
  const std::string mdtrt = visit(h, "B2");
  auto [st, faults] = control(sim.control_port, http::verb::post, "/faults", R"({"faults":["lost_reply:count=1"]})");
  REQUIRE(st == 200);
  CHECK(faults["faults"][0]["kind"] == "lost_reply");
  std::string lost_msgid;
  auto lost = h.call<insurer::OutpatientSettle>(settle_input(mdtrt, "B2"), &lost_msgid);
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().reason == Reason::in_doubt);
  CHECK(report(sim)["totals"]["effective_settlements"] == 1);  // the insurer did it

  // The same msgid sent again gets the first answer, not a second charge.
  insurer::RequestHeader again = h.headers.next("2207", h.sign_no);
  again.msgid = lost_msgid;
  HttpResult replay = h.send(again, settle_input(mdtrt, "B2").encode());
  REQUIRE(replay.answered);
  auto first = insurer::decode_reply<insurer::OutpatientSettle>(replay.body, lost_msgid);
  REQUIRE(first.ok());
  CHECK(first->setlinfo.acct_pay == yuan("100.00"));
  CHECK(report(sim)["totals"]["effective_settlements"] == 1);

  // The hospital's rule: reverse the in-doubt msgid, then settle anew.
  auto rev = h.ok<insurer::Reversal>({"11000000000000001", lost_msgid, "2207"});
  CHECK(rev.result == insurer::ReversalResult::reversed);
  CHECK(rev.acct_pay == yuan("100.00"));
  CHECK(h.ok<insurer::Reversal>({"11000000000000001", lost_msgid, "2207"}).result ==
        insurer::ReversalResult::already_reversed);
  CHECK(report(sim)["totals"]["effective_settlements"] == 0);
  auto s = h.ok<insurer::OutpatientSettle>(settle_input(mdtrt, "B2")).setlinfo;
  CHECK(s.balc == yuan("400.00"));
  const Json rep = report(sim);
  CHECK(rep["totals"]["effective_settlements"] == 1);
  CHECK(rep["totals"]["medfee_sumamt"] == "100.00");
  CHECK(rep["settlements"].size() == 2);
  CHECK(rep["settlements"][0]["state"] == "reversed");
  CHECK(rep["reversals"].size() == 2);
}

TEST_CASE("an inpatient stay over TLS: faults apply to its calls; lost replies are reversed; the control shows the visit") {
  TempDir dir("sim-process");
  SimProcess sim(init_db(dir));
  Hospital h(sim.port);
  h.sign_in();
  const std::string psn = "11000000000000001";
  insurer::Admission::Input adm;
  static_cast<insurer::VisitOpen&>(adm) = {psn, "310", "03", "D00000001", "21", "IP-1", "2026-11-20 08:00:00", "D03", ""};
  adm.dise_codg = "I21.9";
  const auto visit_of = [&](const std::string& mdtrt) {
    auto [st, body] = control(sim.control_port, http::verb::get, "/visits/" + mdtrt);
    REQUIRE(st == 200);
    return body;
  };
  // The admission's reply is lost: it is reversed, and the admission made again.
  REQUIRE(control(sim.control_port, http::verb::post, "/faults", R"({"faults":["lost_reply:count=1,infno=2401"]})").first == 200);
  std::string lost_msgid;
  auto lost = h.call<insurer::Admission>(adm, &lost_msgid);
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().reason == Reason::in_doubt);
  CHECK(h.ok<insurer::Reversal>({psn, lost_msgid, "2401"}).result == insurer::ReversalResult::reversed);
  const std::string mdtrt = h.ok<insurer::Admission>(adm).mdtrt_id;
  CHECK(visit_of(mdtrt)["state"] == "admitted");
  insurer::FeeDetail d;
  d.feedetl_sn = "1";
  d.mdtrt_id = mdtrt;
  d.psn_no = psn;
  d.chrg_bchno = "D1";
  d.fee_ocur_time = "2026-11-21 09:00:00";
  d.med_list_codg = "A001";
  d.det_item_fee_sumamt = yuan("2000.00");
  d.cnt = "1";
  d.pric = yuan("2000.00");
  h.ok<insurer::InpatientLines>({{d}});

  // An error answer to 2402 changes nothing; the retry discharges.
  REQUIRE(control(sim.control_port, http::verb::post, "/faults", R"({"faults":["error:count=1,infno=2402"]})").first == 200);
  const insurer::Discharge::Input dscg{mdtrt, psn, "310", "2026-11-25 10:00:00", "1"};
  auto refused = h.call<insurer::Discharge>(dscg);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == Reason::insurer_rejected);
  CHECK(visit_of(mdtrt)["state"] == "admitted");
  h.ok<insurer::Discharge>(dscg);
  CHECK(visit_of(mdtrt)["state"] == "discharged");

  // The discharge settlement's reply is lost: committed, reversed, settled again once.
  REQUIRE(control(sim.control_port, http::verb::post, "/faults", R"({"faults":["lost_reply:count=1,infno=2304"]})").first == 200);
  insurer::SettleInput si{psn, "03", "D00000001", "21", yuan("2000.00"), "01", mdtrt, "", "310", "1", "IPL-1"};
  std::string settle_msgid;
  REQUIRE_FALSE(h.call<insurer::InpatientSettle>(si, &settle_msgid).ok());
  CHECK(visit_of(mdtrt)["state"] == "settled");
  const auto rev = h.ok<insurer::Reversal>({psn, settle_msgid, "2304"});
  CHECK(rev.result == insurer::ReversalResult::reversed);
  CHECK(visit_of(mdtrt)["state"] == "discharged");
  // inscp 2000; the stay's deductible 1300; fund floor(700 x 0.85) = 595; account 500, cash 905.
  const auto s = h.ok<insurer::InpatientSettle>(si).setlinfo;
  CHECK(s.act_pay_dedc == yuan("1300.00"));
  CHECK(s.fund_pay_sumamt == yuan("595.00"));
  CHECK(s.acct_pay == yuan("500.00"));
  CHECK(s.psn_cash_pay == yuan("905.00"));
  const Json v = visit_of(mdtrt);
  CHECK(v["state"] == "settled");
  CHECK(v["lines"]["live"] == 1);
  CHECK(v["lines"]["live_total"] == "2000.00");
  REQUIRE(v["settlements"].size() == 2);
  CHECK(v["settlements"][0]["state"] == "reversed");
  CHECK(v["settlements"][1]["state"] == "effective");
  CHECK(report(sim)["totals"]["effective_settlements"] == 1);
  CHECK(control(sim.control_port, http::verb::get, "/visits/M999999999999999").first == 404);
  CHECK(sim.stop() == 0);
}

TEST_CASE("faults: error answers infcode -1 with no effect; drop_request and refuse give no answer; garbage is not JSON") {
  TempDir dir("sim-process");
  SimProcess sim(init_db(dir), {"--fault", "error:count=1"});
  Hospital h(sim.port);
  auto e = h.call<insurer::SignIn>({"C007", "", ""});
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().reason == Reason::insurer_rejected);
  h.sign_in();
  const std::string mdtrt = visit(h, "B3");

  control(sim.control_port, http::verb::post, "/faults", R"({"faults":["error:count=1"]})");
  std::string msgid;
  auto err = h.call<insurer::OutpatientSettle>(settle_input(mdtrt, "B3"), &msgid);
  REQUIRE_FALSE(err.ok());
  CHECK(err.error().reason == Reason::insurer_rejected);
  CHECK(report(sim)["totals"]["effective_settlements"] == 0);
  // The same msgid once the fault is gone is processed: the error left no trace.
  insurer::RequestHeader retry = h.headers.next("2207", h.sign_no);
  retry.msgid = msgid;
  HttpResult ok = h.send(retry, settle_input(mdtrt, "B3").encode());
  REQUIRE(ok.answered);
  CHECK(insurer::decode_reply<insurer::OutpatientSettle>(ok.body, msgid).ok());

  control(sim.control_port, http::verb::post, "/faults", R"({"faults":["drop_request:count=1"]})");
  auto dropped = h.call<insurer::PersonInfo>({"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""});
  REQUIRE_FALSE(dropped.ok());
  CHECK(dropped.error().reason == Reason::in_doubt);

  control(sim.control_port, http::verb::post, "/faults", R"({"faults":["garbage:count=1"]})");
  auto garbled = h.call<insurer::PersonInfo>({"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""});
  REQUIRE_FALSE(garbled.ok());
  CHECK(garbled.error().reason == Reason::invalid_request);

  control(sim.control_port, http::verb::post, "/faults", R"({"faults":["refuse:count=1"]})");
  TlsClient fresh(sim.port);
  std::string why;
  CHECK_FALSE(fresh.connect(&why));
  CHECK(fresh.connect(&why));  // count used up

  control(sim.control_port, http::verb::post, "/faults", R"({"faults":["stall:count=1"]})");
  auto stalled_start = std::chrono::steady_clock::now();
  auto head = h.headers.next("1101", h.sign_no);
  const std::string body = insurer::encode_request(
      head, insurer::PersonInfo::Input{"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""}.encode());
  HttpResult stalled = h.client.post(body, h.signer.sign(body).value(), 1);
  CHECK_FALSE(stalled.answered);
  CHECK(std::chrono::steady_clock::now() - stalled_start >= std::chrono::milliseconds(900));

  auto [st, counters] = control(sim.control_port, http::verb::get, "/counters");
  CHECK(counters["faults"]["error"] == 2);
  CHECK(counters["faults"]["refuse"] == 1);
  CHECK(counters["faults"]["stall"] == 1);
  auto [cleared_st, cleared] = control(sim.control_port, http::verb::delete_, "/faults");
  CHECK(cleared["faults"].empty());
  auto [bad_st, bad] = control(sim.control_port, http::verb::post, "/faults", R"({"faults":["lost_reply:p=2"]})");
  CHECK(bad_st == 400);
}

TEST_CASE("state survives a restart; the control endpoint refuses a non-loopback address") {
  TempDir dir("sim-process");
  const std::string db = init_db(dir);
  {
    SimProcess sim(db);
    Hospital h(sim.port);
    h.sign_in();
    const std::string mdtrt = visit(h, "B4");
    h.ok<insurer::OutpatientSettle>(settle_input(mdtrt, "B4"));
    CHECK(sim.stop() == 0);
  }
  SimProcess again(db);
  auto [st, person] = control(again.control_port, http::verb::get, "/persons/11000000000000001");
  CHECK(st == 200);
  CHECK(person["balance"] == "400.00");
  CHECK(report(again)["totals"]["effective_settlements"] == 1);
  const std::string cmd = kSim + " serve --db " + db + " --control 0.0.0.0:0 --cert " + kPki + "/server.crt --key " + kPki +
                          "/server.key --ca " + kPki + "/ca.crt --secret x --policy " + SETTLE_SOURCE_DIR +
                          "/docs/examples/policy.toml 2>/dev/null >/dev/null";
  CHECK(std::system(cmd.c_str()) != 0);
}

TEST_CASE("--profile national over TLS: /health names it, 9304 is refused, an e-voucher minted by the control client decodes") {
  TempDir dir("sim-process-national");
  SimProcess sim(init_db(dir), {"--profile", "national"});
  auto [status, health] = control(sim.control_port, http::verb::get, "/health");
  CHECK(status == 200);
  CHECK(health["profile"] == "national");
  Hospital h(sim.port);
  h.sign_in();
  auto history = h.call<insurer::AccountHistory>({"11000000000000001", 5});
  REQUIRE_FALSE(history.ok());
  CHECK(history.error().message == "no such transaction 9304 in the national interface");
  const std::string qr = sim::mint_ec_qr(sim.control_port, "11000000000000001", true);
  const auto ec = h.ok<insurer::EcQuery>({qr, "01101"});
  CHECK(ec.psn_name == "张三");
  CHECK(ec.acct_auth == "1");
  CHECK(ec.insuplc_admdvs == "110105");
  CHECK(h.ok<insurer::PersonInfo>({"01", ec.ec_token, "", "01", "", ""}).baseinfo.psn_no == "11000000000000001");
  CHECK_THROWS_AS(sim::mint_ec_qr(sim.control_port, "nobody", true), std::runtime_error);
  CHECK(sim.stop() == 0);
}
