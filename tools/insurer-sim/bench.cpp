// insurer-sim-bench: load for the simulator over mutual TLS, through the
// daemon's own insurer client (a pool of C connections). Prepares N
// outpatient visits with their lines, then times N settlements (2207), one
// outstanding per connection, and prints the rate. It measures the
// simulator; the figures are printed, never asserted.
#include "protocol/insurer/client.hpp"
#include "protocol/insurer/codecs.hpp"
#include "tools/common/exit_codes.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <optional>

namespace {

using namespace settle;
namespace asio = boost::asio;
using json::Json;

struct Options {
  std::uint16_t port = 0;
  std::string cert, key, ca, secret, paasid = "H11010500001";
  std::string card_no = "D00000001", card_sn = "0123456789ABCDEF0123456789ABCDEF";
  int connections = 8;
  int settlements = 5000;
};

struct Shared {
  const Options& opt;
  std::shared_ptr<insurer::Client> client;
  std::int64_t msg_seq = 0;
  std::int64_t base_s = 0;
  std::string sign_no;
  std::string psn_no;
  std::int64_t failures = 0;

  insurer::RequestHeader next(std::string_view infno) {
    insurer::RequestHeader h;
    h.infno = std::string(infno);
    const std::int64_t n = msg_seq++;
    // 10,000 msgids per second of the fake clock: unique for the whole run.
    const std::string t = insurer::compact_time_ms((base_s + n / 10000) * 1000).substr(0, 14);
    h.msgid = fmt::format("{}{}{:04}", opt.paasid, t, n % 10000);
    h.mdtrtarea_admvs = "110105";
    h.insuplc_admdvs = "110105";
    h.opter = "BENCH";
    h.inf_time = insurer::inf_time_text(base_s);
    h.fixmedins_code = opt.paasid;
    h.sign_no = sign_no;
    return h;
  }
};

// One lane of calls, one outstanding at a time (the client gives it a pooled connection).
class Conn {
 public:
  explicit Conn(Shared& sh) : sh_(sh) {}

  // One call; the decoded output, or nullopt (counted as a failure).
  template <class T>
  asio::awaitable<std::optional<typename T::Output>> call(const typename T::Input& in) {
    const auto h = sh_.next(T::infno);
    insurer::LinkRequest req{insurer::encode_request(h, in.encode()), std::string(T::infno), h.msgid, std::nullopt};
    const insurer::Outcome o = co_await sh_.client->post(std::move(req));
    auto out = o.answered() ? insurer::decode_reply<T>(o.body, h.msgid)
                            : Result<typename T::Output>(make_error(Reason::insurer_unreachable, "link", o.detail));
    if (!out) {
      ++sh_.failures;
      if (sh_.failures <= 3) std::fprintf(stderr, "insurer-sim-bench: %s\n", out.error().message.c_str());
      co_return std::nullopt;
    }
    co_return std::move(*out);
  }

  std::vector<std::string> visits;

 private:
  Shared& sh_;
};

insurer::SettleInput settle_input(const Shared& sh, const std::string& mdtrt) {
  return {sh.psn_no, "03", sh.opt.card_no, "11", Amount::fen(1000), "01", mdtrt, "B", "310", "0", "BENCH-" + mdtrt};
}

insurer::OutpatientRegister::Input register_input(const Shared& sh, int i) {
  insurer::OutpatientRegister::Input in;
  in.psn_no = sh.psn_no;
  in.insutype = "310";
  in.mdtrt_cert_type = "03";
  in.mdtrt_cert_no = sh.opt.card_no;
  in.med_type = "11";
  in.ipt_otp_no = fmt::format("B{}", i);
  in.begntime = "2026-11-22 10:00:00";
  return in;
}

insurer::FeeUploadInput lines_input(const Shared& sh, const std::string& mdtrt) {
  insurer::FeeDetail d;
  d.feedetl_sn = "1";
  d.mdtrt_id = mdtrt;
  d.psn_no = sh.psn_no;
  d.chrg_bchno = "B";
  d.fee_ocur_time = "2026-11-22 10:00:00";
  d.med_list_codg = "A001";
  d.det_item_fee_sumamt = Amount::fen(1000);
  d.cnt = "1";
  d.pric = Amount::fen(1000);
  return insurer::FeeUploadInput{{d}};
}

// GCC 12 miscompiles string literals inside coroutine frames; inputs are built outside.
asio::awaitable<void> prepare(Conn& c, Shared& sh, int n) {
  for (int i = 0; i < n; ++i) {
    const insurer::OutpatientRegister::Input reg = register_input(sh, i);
    auto v = co_await c.call<insurer::OutpatientRegister>(reg);
    if (!v) continue;
    const insurer::FeeUploadInput lines = lines_input(sh, v->mdtrt_id);
    if (co_await c.call<insurer::OutpatientLines>(lines)) c.visits.push_back(v->mdtrt_id);
  }
}

insurer::SignIn::Input sign_in_input() { return {"BENCH", "", ""}; }
insurer::PersonInfo::Input person_input(const Options& o) { return {"03", o.card_no, o.card_sn, "01", "", ""}; }

asio::awaitable<void> settle_all(Conn& c, Shared& sh) {
  for (const std::string& m : c.visits) {
    const insurer::SettleInput in = settle_input(sh, m);
    co_await c.call<insurer::OutpatientSettle>(in);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"insurer-sim-bench: settlements per second against a running insurer-sim"};
  app.add_option("--port", opt.port, "the simulator's TLS port")->required();
  app.add_option("--cert", opt.cert, "client certificate")->required();
  app.add_option("--key", opt.key, "client key")->required();
  app.add_option("--ca", opt.ca, "CA of the simulator's certificate")->required();
  app.add_option("--secret", opt.secret, "signing secret")->required();
  app.add_option("--paasid", opt.paasid, "institution code / paasid");
  app.add_option("--connections", opt.connections, "parallel connections")->check(CLI::Range(1, 256));
  app.add_option("--settlements", opt.settlements, "settlements to time")->check(CLI::Range(1, 10'000'000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? settle::exit_code::ok : settle::exit_code::usage;
  }

  asio::io_context ioc(1);
  insurer::ClientConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = opt.port;
  cfg.server_name = "insurer.test";
  cfg.ca_file = opt.ca;
  cfg.cert_file = opt.cert;
  cfg.key_file = opt.key;
  cfg.pool_size = static_cast<std::size_t>(opt.connections);
  cfg.request_timeout_ms = 10'000;
  cfg.paasid = opt.paasid;
  cfg.secret = opt.secret;
  auto client = insurer::Client::create(ioc.get_executor(), cfg);
  if (!client) {
    std::fprintf(stderr, "insurer-sim-bench: %s\n", client.error().message.c_str());
    return settle::exit_code::usage;
  }
  Shared sh{opt, *client, 0,
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(),
            "", "", 0};
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < opt.connections; ++i) conns.push_back(std::make_unique<Conn>(sh));

  const auto run_phase = [&](auto make) {
    for (auto& c : conns) asio::co_spawn(ioc, make(*c), asio::detached);
    ioc.restart();
    ioc.run();
  };
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    const insurer::SignIn::Input si = sign_in_input();
    auto s = co_await conns[0]->call<insurer::SignIn>(si);
    if (s) sh.sign_no = s->sign_no;
    const insurer::PersonInfo::Input pi = person_input(opt);
    auto p = co_await conns[0]->call<insurer::PersonInfo>(pi);
    if (p) sh.psn_no = p->baseinfo.psn_no;
  }, asio::detached);
  ioc.restart();
  ioc.run();
  if (sh.sign_no.empty() || sh.psn_no.empty()) {
    std::fprintf(stderr, "insurer-sim-bench: sign-in or person info failed\n");
    return settle::exit_code::unreachable;
  }
  const int per = opt.settlements / opt.connections;
  const auto t0 = std::chrono::steady_clock::now();
  run_phase([&](Conn& c) { return prepare(c, sh, per); });
  const auto t1 = std::chrono::steady_clock::now();
  const std::int64_t prep_failures = sh.failures;
  run_phase([&](Conn& c) { return settle_all(c, sh); });
  const auto t2 = std::chrono::steady_clock::now();
  std::size_t settled = 0;
  for (auto& c : conns) settled += c->visits.size();
  const double prep_s = std::chrono::duration<double>(t1 - t0).count();
  const double settle_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf("insurer-sim-bench: %d connections; setup %zu visits (2201+2204) in %.2f s = %.0f calls/s; "
              "%zu settlements (2207) in %.2f s = %.0f/s; failures %lld\n",
              opt.connections, settled, prep_s, 2.0 * static_cast<double>(settled) / prep_s, settled, settle_s,
              static_cast<double>(settled) / settle_s, static_cast<long long>(sh.failures));
  (*client)->close();
  return sh.failures == 0 && prep_failures == 0 ? settle::exit_code::ok : settle::exit_code::not_right;
}
