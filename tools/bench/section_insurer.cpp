// Bench section "insurer": the insurer link against a local simulator process
// over mutual TLS — 2207 settlements/s and p50/p99 with 1 and 32 concurrent
// requests over pooled connections, and a fresh TLS handshake vs a pooled call.
#include "tools/bench/bench.hpp"

#include "offline/msgid.hpp"
#include "protocol/insurer/client.hpp"
#include "protocol/insurer/codecs.hpp"
#include "tools/insurer-sim/control_client.hpp"

#include <boost/asio/io_context.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace settle::bench {
namespace {

namespace asio = boost::asio;
using namespace settle::insurer;

constexpr const char* institution = "H11010500001";
constexpr const char* secret = "bench-secret";

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The simulator as a child process on ephemeral ports.
class Sim {
 public:
  Sim(const std::string& dir, const std::string& pki) {
    const std::string out = dir + "/sim.out";
    std::vector<std::string> args = {SETTLE_SIM_BINARY, "serve", "--db", dir + "/sim.db",
                                     "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
                                     "--cert", pki + "/server.crt", "--key", pki + "/server.key",
                                     "--ca", pki + "/ca.crt", "--secret", secret, "--paasid", institution,
                                     "--policy", std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (dir + "/sim.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error(fmt::format("cannot start {}", argv[0]));
    const std::regex ready(R"(listening on 127\.0\.0\.1:(\d+) control 127\.0\.0\.1:(\d+))");
    for (int i = 0; i < 2000; ++i) {
      std::smatch m;
      const std::string text = slurp(out);
      if (std::regex_search(text, m, ready)) {
        port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
        control_port = static_cast<std::uint16_t>(std::stoi(m[2].str()));
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("insurer-sim did not start: " + slurp(dir + "/sim.err"));
  }
  ~Sim() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;

  nlohmann::json control(std::string_view method, const std::string& target, const nlohmann::json& body) const {
    const sim::ControlHttpReply res = sim::control_request(control_port, method, target, body.dump());
    if (res.status != 200) throw std::runtime_error("control " + target + ": " + res.body);
    return nlohmann::json::parse(res.body);
  }

  std::uint16_t port = 0;
  std::uint16_t control_port = 0;

 private:
  pid_t pid_ = -1;
};

// The hospital's side of the calls the bench makes.
class Hospital {
 public:
  explicit Hospital(ledger::MsgidAllocator& msgids) : msgids_(msgids) {}

  RequestHeader head(std::string_view infno) {
    RequestHeader h;
    h.infno = std::string(infno);
    h.msgid = msgids_.next(ledger::from_seconds(unix_now_s() + 8 * 3600));
    h.mdtrtarea_admvs = "110105";
    h.insuplc_admdvs = "110105";
    h.opter = "C007";
    h.opter_name = "Bench";
    h.inf_time = inf_time_text(unix_now_s());
    h.fixmedins_code = institution;
    h.fixmedins_name = "Bench Hospital";
    h.sign_no = sign_no;
    return h;
  }

  template <class T>
  std::pair<std::string, LinkRequest> request(const typename T::Input& in) {
    auto h = head(T::infno);
    return {h.msgid, LinkRequest{encode_call<T>(h, in), std::string(T::infno), h.msgid, std::nullopt}};
  }

  template <class T>
  typename T::Output call(SyncClient& c, const typename T::Input& in) {
    auto [msgid, req] = request<T>(in);
    auto o = c.post(std::move(req));
    if (!o.answered()) throw std::runtime_error(fmt::format("{} not answered: {}", T::infno, o.detail));
    auto out = decode_reply<T>(o.body, msgid);
    if (!out.ok()) throw std::runtime_error(fmt::format("{} refused: {}", T::infno, out.error().message));
    return std::move(*out);
  }

  SignIn::Input sign_in_input() const { return SignIn::Input{"C007", "00-11-22-33-44-55", "127.0.0.1"}; }

  // 2201 + 2204 (one class A line of 20.00); returns the 2207 input.
  SettleInput prepare(SyncClient& c, const std::string& psn_no, const std::string& card_no) {
    ++visits_;
    const std::string now_text = inf_time_text(unix_now_s());
    OutpatientRegister::Input reg;
    reg.psn_no = psn_no;
    reg.insutype = "310";
    reg.mdtrt_cert_type = std::string(cert_type_card);
    reg.mdtrt_cert_no = card_no;
    reg.med_type = "11";
    reg.ipt_otp_no = fmt::format("BENCH{}", visits_);
    reg.begntime = now_text;
    reg.dept_code = "D01";
    reg.dept_name = "General";
    const auto opened = call<OutpatientRegister>(c, reg);
    FeeDetail line;
    line.feedetl_sn = "1";
    line.mdtrt_id = opened.mdtrt_id;
    line.psn_no = psn_no;
    line.chrg_bchno = "B1";
    line.fee_ocur_time = now_text;
    line.med_list_codg = "001101000010000";
    line.medins_list_codg = "REG01";
    line.medins_list_name = "Consultation";
    line.det_item_fee_sumamt = Amount::fen(2000);
    line.cnt = "1";
    line.pric = Amount::fen(2000);
    line.cls = LineClass::a;
    FeeUploadInput lines;
    lines.feedetail.push_back(line);
    (void)call<OutpatientLines>(c, lines);
    SettleInput s;
    s.psn_no = psn_no;
    s.mdtrt_cert_type = std::string(cert_type_card);
    s.mdtrt_cert_no = card_no;
    s.med_type = "11";
    s.medfee_sumamt = Amount::fen(2000);
    s.mdtrt_id = opened.mdtrt_id;
    s.chrg_bchno = "B1";
    s.insutype = "310";
    s.acct_used_flag = "0";
    s.medins_setl_id = fmt::format("BENCH-L{}", visits_);
    return s;
  }

  std::string sign_no;

 private:
  ledger::MsgidAllocator& msgids_;
  int visits_ = 0;
};

// An 18-character ID number with a valid GB 11643 check character.
std::string id_number(const std::string& first17) {
  static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char check[] = "10X98765432";
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * weights[i];
  return first17 + check[sum % 11];
}

struct Figures {
  std::size_t requests = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double per_s() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

// 2207 in rounds of `concurrency` requests posted together on one io_context
// thread; the visits are prepared (untimed) before each round.
Figures settle_rounds(const Context& ctx, const ClientConfig& cfg, Hospital& hospital, SyncClient& setup,
                      const std::vector<std::pair<std::string, std::string>>& persons, int concurrency) {
  asio::io_context io;
  auto client = Client::create(io.get_executor(), cfg);
  if (!client.ok()) throw std::runtime_error(client.error().message);
  Latencies lat;
  Figures f;
  std::size_t person = 0;
  while (f.seconds < ctx.seconds) {
    std::vector<std::pair<std::string, LinkRequest>> batch;
    for (int i = 0; i < concurrency; ++i) {
      const auto& [psn, card] = persons[person++ % persons.size()];
      batch.push_back(hospital.request<OutpatientSettle>(hospital.prepare(setup, psn, card)));
    }
    std::size_t failures = 0;
    const auto round_start = Clock::now();
    for (auto& [msgid, req] : batch) {
      const auto start = Clock::now();
      (*client)->post(std::move(req), [&lat, &failures, start, id = msgid](Outcome o) {
        lat.add(Clock::now() - start);
        if (!o.answered() || !decode_reply<OutpatientSettle>(o.body, id).ok()) ++failures;
      });
    }
    io.restart();
    io.run();
    f.seconds += std::chrono::duration<double>(Clock::now() - round_start).count();
    if (failures != 0) throw std::runtime_error(fmt::format("{} settlements failed", failures));
    f.requests += batch.size();
  }
  f.p50_ms = lat.percentile_ms(50);
  f.p99_ms = lat.percentile_ms(99);
  return f;
}

int run_insurer(const Context& ctx) {
  ScratchDir scratch(ctx, "insurer");
  const std::string pki = scratch.file("pki");
  const std::string gen = fmt::format("{}/tools/gen-test-pki.sh '{}' >/dev/null", SETTLE_SOURCE_DIR, pki);
  if (std::system(gen.c_str()) != 0) {
    fmt::print(stderr, "insurer: gen-test-pki.sh failed\n");
    return 2;
  }
  try {
    Sim sim(scratch.path(), pki);
    std::vector<std::pair<std::string, std::string>> persons;
    for (int i = 0; i < 32; ++i) {
      const std::string card = fmt::format("B{:08}", i);
      auto r = sim.control("POST", "/persons",
                           {{"card_no", card}, {"card_sn", fmt::format("{:032x}", i + 1)}, {"id_no", id_number(fmt::format("11010519800101{:03}", i))},
                            {"name", fmt::format("Bench {}", i)}, {"insutype", "310"}, {"balance", "100000.00"},
                            {"flags", nlohmann::json::array()}});
      persons.emplace_back(r.at("psn_no").get<std::string>(), card);
    }

    ClientConfig cfg;
    cfg.host = "127.0.0.1";
    cfg.port = sim.port;
    cfg.server_name = "insurer.test";
    cfg.ca_file = pki + "/ca.crt";
    cfg.cert_file = pki + "/client.crt";
    cfg.key_file = pki + "/client.key";
    cfg.paasid = institution;
    cfg.secret = secret;
    cfg.pool_size = 8;
    cfg.max_waiting = 64;

    auto setup = SyncClient::create(cfg);
    if (!setup.ok()) throw std::runtime_error(setup.error().message);
    auto msgids = ledger::MsgidAllocator::create(institution, std::nullopt);
    if (!msgids.ok()) throw std::runtime_error("msgid allocator");
    Hospital hospital(*msgids);
    hospital.sign_no = hospital.call<SignIn>(**setup, hospital.sign_in_input()).sign_no;

    // The raw link: a pooled request the insurer refuses at the signature
    // check (HTTP 401, nothing stored) — TLS record + HTTP + HMAC, no work.
    Latencies raw;
    Figures raw_f;
    auto unsigned_cfg = cfg;
    unsigned_cfg.secret = "not-the-bench-secret";
    {
      auto raw_client = SyncClient::create(unsigned_cfg);
      if (!raw_client.ok()) throw std::runtime_error(raw_client.error().message);
      while (raw_f.seconds < ctx.seconds / 2) {
        auto [msgid, req] = hospital.request<SignIn>(hospital.sign_in_input());
        const auto start = Clock::now();
        auto o = (*raw_client)->post(std::move(req));
        const auto d = Clock::now() - start;
        if (!o.answered() || o.http_status != 401) throw std::runtime_error("raw link: " + o.detail);
        raw.add(d);
        raw_f.seconds += std::chrono::duration<double>(d).count();
        ++raw_f.requests;
      }
    }

    // A pooled 9001 (TLS record + HTTP + signature check + one
    // small insurer transaction), and the same call with a fresh handshake.
    Latencies pooled, fresh;
    Figures pooled_f;
    while (pooled_f.seconds < ctx.seconds / 2) {
      auto [msgid, req] = hospital.request<SignIn>(hospital.sign_in_input());
      const auto start = Clock::now();
      auto o = (*setup)->post(std::move(req));
      const auto d = Clock::now() - start;
      if (!o.answered()) throw std::runtime_error("9001: " + o.detail);
      pooled.add(d);
      pooled_f.seconds += std::chrono::duration<double>(d).count();
      ++pooled_f.requests;
    }
    // The same raw request over a fresh connection each time: the difference
    // is the TCP connect + mutual TLS handshake (EC P-256, TLS 1.3).
    Figures fresh_f;
    while (fresh_f.seconds < ctx.seconds / 2) {
      auto one = SyncClient::create(unsigned_cfg);
      if (!one.ok()) throw std::runtime_error(one.error().message);
      auto [msgid, req] = hospital.request<SignIn>(hospital.sign_in_input());
      const auto start = Clock::now();
      auto o = (*one)->post(std::move(req));
      const auto d = Clock::now() - start;
      if (!o.answered() || o.http_status != 401 || o.reused_connection) {
        throw std::runtime_error("raw link, fresh connection: " + o.detail);
      }
      fresh.add(d);
      fresh_f.seconds += std::chrono::duration<double>(d).count();
      ++fresh_f.requests;
    }

    const Figures one = settle_rounds(ctx, cfg, hospital, **setup, persons, 1);
    const Figures many = settle_rounds(ctx, cfg, hospital, **setup, persons, 32);

    const double raw_p50 = raw.percentile_ms(50);
    const double pooled_p50 = pooled.percentile_ms(50);
    const double fresh_p50 = fresh.percentile_ms(50);
    std::vector<Target> targets = {
        {"raw link p50: fresh connection / pooled connection", fresh_p50 / raw_p50, ">=", 2.0},
        {"2207 x32 p99 ms (5000 ms request deadline / 10)", many.p99_ms, "<=", 500},
        {"2207 x32 / 2207 x1 settlements/s", many.per_s() / one.per_s(), ">=", 1.0},
    };

    if (ctx.json) {
      nlohmann::json j = {{"section", "insurer"},
                          {"pool_size", cfg.pool_size},
                          {"raw_link_401", {{"per_s", raw_f.per_s()}, {"p50_ms", raw_p50}, {"p99_ms", raw.percentile_ms(99)}}},
                          {"pooled_9001", {{"per_s", pooled_f.per_s()}, {"p50_ms", pooled_p50}, {"p99_ms", pooled.percentile_ms(99)}}},
                          {"raw_link_401_fresh_connection", {{"per_s", fresh_f.per_s()}, {"p50_ms", fresh_p50}, {"p99_ms", fresh.percentile_ms(99)}}},
                          {"settle_2207_x1", {{"per_s", one.per_s()}, {"p50_ms", one.p50_ms}, {"p99_ms", one.p99_ms}, {"n", one.requests}}},
                          {"settle_2207_x32", {{"per_s", many.per_s()}, {"p50_ms", many.p50_ms}, {"p99_ms", many.p99_ms}, {"n", many.requests}}}};
      nlohmann::json t = nlohmann::json::array();
      for (const auto& x : targets) t.push_back({{"what", x.what}, {"value", x.value}, {"op", x.op}, {"limit", x.limit}, {"pass", x.pass()}});
      j["targets"] = t;
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("insurer link: local insurer-sim over mutual TLS 1.3, pool_size {}, loopback\n", cfg.pool_size);
      print_table({{"measurement", "requests", "per s", "p50 ms", "p99 ms"},
                   {"raw link: pooled request refused at signature (no storage)", std::to_string(raw_f.requests),
                    fmt::format("{:.0f}", raw_f.per_s()), fmt::format("{:.2f}", raw_p50), fmt::format("{:.2f}", raw.percentile_ms(99))},
                   {"9001 sign-in, pooled connection", std::to_string(pooled_f.requests), fmt::format("{:.0f}", pooled_f.per_s()),
                    fmt::format("{:.2f}", pooled_p50), fmt::format("{:.2f}", pooled.percentile_ms(99))},
                   {"raw link, fresh connection + TLS handshake each time", std::to_string(fresh_f.requests), fmt::format("{:.0f}", fresh_f.per_s()),
                    fmt::format("{:.2f}", fresh_p50), fmt::format("{:.2f}", fresh.percentile_ms(99))},
                   {"2207 settle, 1 at a time", std::to_string(one.requests), fmt::format("{:.0f}", one.per_s()),
                    fmt::format("{:.2f}", one.p50_ms), fmt::format("{:.2f}", one.p99_ms)},
                   {"2207 settle, 32 concurrent", std::to_string(many.requests), fmt::format("{:.0f}", many.per_s()),
                    fmt::format("{:.2f}", many.p50_ms), fmt::format("{:.2f}", many.p99_ms)}});
      fmt::print("ratios: raw link fresh/pooled p50 {:.1f}x (a connect + handshake costs {:.2f} ms); "
                 "2207 x1 p50 / raw link p50 {:.1f}x; 9001 / raw link p50 {:.1f}x; 2207 x32/x1 throughput {:.2f}x\n",
                 fresh_p50 / raw_p50, fresh_p50 - raw_p50, one.p50_ms / raw_p50, pooled_p50 / raw_p50,
                 many.per_s() / one.per_s());
      for (const auto& x : targets) {
        fmt::print("{} {}: {:.2f} {} {:.2f}\n", x.pass() ? "PASS" : "FAIL", x.what, x.value, x.op, x.limit);
      }
    }
    for (const auto& x : targets) {
      if (!x.pass()) return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "insurer: {}\n", e.what());
    return 2;
  }
}

}  // namespace

SETTLE_BENCH_SECTION("insurer", "insurer link: 2207 over pooled mutual TLS (x1, x32), fresh handshake vs pooled",
                     run_insurer);

}  // namespace settle::bench
