// The simulator harness: a real `insurer-sim` child process per test (own
// database and ports), its control endpoint over plain loopback HTTP, and
// the hospital's side of an outpatient conversation.
#include "sim_harness.hpp"

#include "tests/protocol/insurer_client/test_pki.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace settle::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A 32-hex-digit card serial derived from the card number.
std::string card_sn_for(const std::string& card_no) {
  std::string sn;
  for (char c : card_no) sn += fmt::format("{:02x}", static_cast<unsigned char>(c));
  sn.resize(32, '0');
  return sn;
}

// An 18-character ID number with a valid GB 11643 check character.
std::string id_number(const std::string& first17) {
  static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char check[] = "10X98765432";
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * weights[i];
  return first17 + check[sum % 11];
}

}  // namespace

SimProcess::SimProcess(std::filesystem::path dir, SimOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  std::filesystem::create_directories(dir_);
  start();
}

SimProcess::~SimProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void SimProcess::start() {
  REQUIRE(pid_ < 0);
  const std::string out_file = (dir_ / "sim.out").string();
  const std::string err_file = (dir_ / "sim.err").string();
  std::filesystem::remove(out_file);
  std::vector<std::string> args = {SETTLE_SIM_BINARY, "serve",
                                   "--db", (dir_ / "sim.db").string(),
                                   "--listen", "127.0.0.1:0",
                                   "--control", "127.0.0.1:0",
                                   "--cert", pki("server.crt"),
                                   "--key", pki("server.key"),
                                   "--ca", pki("ca.crt"),
                                   "--secret", sim_secret,
                                   "--paasid", institution,
                                   "--policy", std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml",
                                   "--sync", "normal"};
  for (const auto& f : options_.faults) {
    args.push_back("--fault");
    args.push_back(f);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(rc == 0, "cannot start " << argv[0]);

  // Wait for the ready line (bounded; not a timing assertion).
  const std::regex ready(R"(listening on 127\.0\.0\.1:(\d+) control 127\.0\.0\.1:(\d+))");
  for (int i = 0; i < 2000; ++i) {
    std::smatch m;
    const std::string out = slurp(out_file);
    if (std::regex_search(out, m, ready)) {
      port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
      control_port_ = static_cast<std::uint16_t>(std::stoi(m[2].str()));
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("insurer-sim exited at start: " << slurp(err_file));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("insurer-sim did not print its ready line: " << slurp(err_file));
}

void SimProcess::stop() {
  REQUIRE(pid_ > 0);
  ::kill(pid_, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(pid_, &status, 0) == pid_);
  pid_ = -1;
  CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0),
                "insurer-sim did not exit cleanly: " << slurp(dir_ / "sim.err"));
}

SimProcess::ControlReply SimProcess::control(const std::string& method, const std::string& target,
                                             const std::optional<nlohmann::json>& body) const {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), control_port_));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump();
  }
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  ControlReply r;
  r.status = res.result_int();
  r.body = res.body().empty() ? nlohmann::json() : nlohmann::json::parse(res.body());
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return r;
}

void SimProcess::set_faults(const std::vector<std::string>& faults) const {
  auto r = control("POST", "/faults", nlohmann::json{{"faults", faults}});
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
}

void SimProcess::clear_faults() const {
  auto r = control("DELETE", "/faults");
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
}

nlohmann::json SimProcess::counters() const {
  auto r = control("GET", "/counters");
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  return r.body;
}

nlohmann::json SimProcess::report() const {
  auto r = control("GET", "/report");
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  return r.body;
}

std::string SimProcess::add_person(const std::string& card_no, const std::string& balance) const {
  nlohmann::json p = {{"card_no", card_no},
                      {"card_sn", card_sn_for(card_no)},
                      {"id_no", id_number("11010519800101" + card_no.substr(card_no.size() - 3))},
                      {"name", "Test " + card_no},
                      {"insutype", "310"},
                      {"balance", balance},
                      {"flags", nlohmann::json::array()}};
  auto r = control("POST", "/persons", p);
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  return r.body.at("psn_no").get<std::string>();
}

insurer::ClientConfig SimProcess::client_config() const {
  insurer::ClientConfig c;
  c.host = "127.0.0.1";
  c.port = port_;
  c.server_name = "insurer.test";
  c.ca_file = pki("ca.crt");
  c.cert_file = pki("client.crt");
  c.key_file = pki("client.key");
  c.pool_size = 4;
  c.connect_timeout_ms = 2000;
  c.request_timeout_ms = 5000;
  c.pool_wait_timeout_ms = 10'000;
  c.paasid = institution;
  c.secret = sim_secret;
  return c;
}

ledger::CivilTime insurer_now() {
  const auto unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return ledger::from_seconds(unix_s + 8 * 3600);
}

std::string Hospital::next_msgid() { return msgids_.next(insurer_now()); }

insurer::RequestHeader Hospital::head(std::string_view infno) {
  insurer::RequestHeader h;
  h.infno = std::string(infno);
  h.msgid = next_msgid();
  h.mdtrtarea_admvs = "110105";
  h.insuplc_admdvs = "110105";
  h.opter = "C007";
  h.opter_name = "Cashier Seven";
  const auto unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  h.inf_time = insurer::inf_time_text(unix_s);
  h.fixmedins_code = institution;
  h.fixmedins_name = "Test Hospital";
  h.sign_no = sign_no_;
  return h;
}

void Hospital::sign_in() {
  insurer::SignIn::Input in{"C007", "00-11-22-33-44-55", "127.0.0.1"};
  auto s = send<insurer::SignIn>(in);
  REQUIRE_MESSAGE(s.outcome.answered(), s.outcome.detail);
  auto out = insurer::decode_reply<insurer::SignIn>(s.outcome.body, s.msgid);
  REQUIRE_MESSAGE(out.ok(), out.error().message);
  sign_no_ = out->sign_no;
}

Hospital::Visit Hospital::open_visit_with_line(const std::string& psn_no, const std::string& card_no,
                                               Amount amount) {
  ++visits_;
  const auto unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string now_text = insurer::inf_time_text(unix_s);
  insurer::OutpatientRegister::Input reg;
  reg.psn_no = psn_no;
  reg.insutype = "310";
  reg.mdtrt_cert_type = std::string(insurer::cert_type_card);
  reg.mdtrt_cert_no = card_no;
  reg.med_type = "11";
  reg.ipt_otp_no = fmt::format("OP{}-{}", ::getpid(), visits_);
  reg.begntime = now_text;
  reg.dept_code = "D01";
  reg.dept_name = "General";
  auto r = send<insurer::OutpatientRegister>(reg);
  REQUIRE_MESSAGE(r.outcome.answered(), r.outcome.detail);
  auto opened = insurer::decode_reply<insurer::OutpatientRegister>(r.outcome.body, r.msgid);
  REQUIRE_MESSAGE(opened.ok(), opened.error().message);

  Visit v{psn_no, card_no, opened->mdtrt_id, fmt::format("B{}", visits_), amount};
  insurer::FeeDetail line;
  line.feedetl_sn = "1";
  line.mdtrt_id = v.mdtrt_id;
  line.psn_no = psn_no;
  line.chrg_bchno = v.chrg_bchno;
  line.fee_ocur_time = now_text;
  line.med_list_codg = "001101000010000";
  line.medins_list_codg = "REG01";
  line.medins_list_name = "Consultation";
  line.det_item_fee_sumamt = amount;
  line.cnt = "1";
  line.pric = amount;
  line.cls = LineClass::a;
  insurer::OutpatientLines::Input lines;
  lines.feedetail.push_back(line);
  auto l = send<insurer::OutpatientLines>(lines);
  REQUIRE_MESSAGE(l.outcome.answered(), l.outcome.detail);
  auto up = insurer::decode_reply<insurer::OutpatientLines>(l.outcome.body, l.msgid);
  REQUIRE_MESSAGE(up.ok(), up.error().message);
  return v;
}

insurer::SettleInput Hospital::settle_input(const Visit& v) const {
  insurer::SettleInput s;
  s.psn_no = v.psn_no;
  s.mdtrt_cert_type = std::string(insurer::cert_type_card);
  s.mdtrt_cert_no = v.card_no;
  s.med_type = "11";
  s.medfee_sumamt = v.total;
  s.mdtrt_id = v.mdtrt_id;
  s.chrg_bchno = v.chrg_bchno;
  s.insutype = "310";
  s.acct_used_flag = "0";
  s.medins_setl_id = "L-" + v.mdtrt_id;
  return s;
}

}  // namespace settle::testing
