// insurer-sim's command line: serve (the insurer over mutual TLS plus the
// control endpoint), gen (synthetic persons), add-person and init-demo.
// Thin: options in, library calls, exit status out.
#include "tools/common/exit_codes.hpp"
#include "tools/common/version.hpp"
#include "protocol/policy_file.hpp"
#include "tools/insurer-sim/generator.hpp"
#include "tools/insurer-sim/server.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace {

using namespace settle;
using namespace settle::sim;

// Exit status (tools/common/exit_codes.hpp): 2 a bad option or input file,
// 5 a file or port that could not be opened.
int fail(const Error& e) {
  std::fprintf(stderr, "insurer-sim: %s\n", e.message.c_str());
  return e.reason == Reason::invalid_config || e.reason == Reason::invalid_request ? exit_code::usage : exit_code::local;
}

Result<std::pair<std::string, std::uint16_t>> host_port(const std::string& s, std::string_view what) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos)
    return make_error(Reason::invalid_config, std::string(what), fmt::format("{} \"{}\": expected HOST:PORT", what, s));
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1) throw std::invalid_argument("port");
  } catch (const std::exception&) {
    return make_error(Reason::invalid_config, std::string(what), fmt::format("{} \"{}\": bad port", what, s));
  }
  if (port > 65535) return make_error(Reason::invalid_config, std::string(what), fmt::format("{} \"{}\": bad port", what, s));
  return std::pair{s.substr(0, colon), static_cast<std::uint16_t>(port)};
}

Result<Amount> amount_opt(const std::string& text, std::string_view what) { return parse_amount(text, what); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"insurer-sim: a simulated medical-insurance centre for tests and drills"};
  app.set_version_flag("--version", std::string("insurer-sim ") + settle::version);
  app.require_subcommand(1);

  // serve
  auto* serve = app.add_subcommand("serve", "serve the insurer protocol over mutual TLS");
  std::string db, listen = "127.0.0.1:0", control = "127.0.0.1:0", cert, key, ca, secret, paasid = "H11010500001",
                  policy_path, sync = "full", profile_name = "regional";
  std::vector<std::string> fault_specs;
  std::uint64_t seed = 1;
  std::size_t replay_cache = 2'000'000;
  std::int64_t clock_offset_s = 0;
  serve->add_option("--db", db, "SQLite file")->required();
  serve->add_option("--listen", listen, "HOST:PORT of the insurer endpoint (port 0 = any free)");
  serve->add_option("--control", control, "loopback HOST:PORT of the control endpoint");
  serve->add_option("--cert", cert, "server certificate (PEM)")->required();
  serve->add_option("--key", key, "server key (PEM)")->required();
  serve->add_option("--ca", ca, "CA of accepted client certificates (PEM)")->required();
  serve->add_option("--secret", secret, "signing secret of the institution")->required();
  serve->add_option("--paasid", paasid, "x-tif-paasid of the institution");
  serve->add_option("--policy", policy_path, "policy file (TOML)")->required();
  serve->add_option("--sync", sync, "SQLite synchronous: full or normal")->check(CLI::IsMember({"full", "normal"}));
  serve->add_option("--profile", profile_name,
                    "which insurer to play: regional (the extensions 9301..9304) or national (the national interface only)")
      ->check(CLI::IsMember({"regional", "national"}));
  serve->add_option("--seed", seed, "seed of the fault dice");
  serve->add_option("--replay-cache", replay_cache,
                    "nonces remembered for 300 s (bounds the signed requests per 300 s; about 100 bytes each)")
      ->check(CLI::Range(std::size_t{1000}, std::size_t{50'000'000}));
  serve->add_option("--clock-offset-s", clock_offset_s,
                    "run the simulator's clock this many seconds ahead (negative: behind) of the real one")
      ->check(CLI::Range(std::int64_t{-86'400'000}, std::int64_t{86'400'000}));
  serve->add_option("--fault", fault_specs, "fault KIND[:p=P][,count=N][,ms=M] (repeatable)");

  // gen
  auto* gen = app.add_subcommand("gen", "generate synthetic persons into a new file");
  std::string gen_db;
  GenOptions gopt;
  std::vector<std::string> shares;
  gen->add_option("--db", gen_db, "SQLite file")->required();
  gen->add_option("--persons", gopt.persons, "number of persons")->required();
  gen->add_option("--seed", gopt.seed, "seed (same seed, same persons)")->required();
  gen->add_option("--flag-share", shares, "FLAG=PERMILLE for unit_arrears, not_designated, supervised, temp_settle_change");
  gen->add_option("--frozen", gopt.frozen, "exactly this many persons with a frozen account");
  gen->add_option("--area", gopt.home_area, "the insured area (6 digits) of the persons insured here");
  gen->add_option("--elsewhere-share", gopt.elsewhere_permille,
                  "per mille of persons insured in another area (cross-region patients)");

  // add-person
  auto* add = app.add_subcommand("add-person", "add one person");
  std::string add_db, balance = "0.00", ded = "0.00", fund = "0.00", flags;
  PersonRow p;
  p.insutype = "310";
  add->add_option("--db", add_db, "SQLite file")->required();
  add->add_option("--card-no", p.card_no, "card number (9 characters)")->required();
  add->add_option("--card-sn", p.card_sn, "card identification code (16 or 32 letters or digits)")->required();
  add->add_option("--id-no", p.certno, "ID number (18 characters)")->required();
  add->add_option("--name", p.name, "name")->required();
  add->add_option("--psn-no", p.psn_no, "person number (allocated when omitted)");
  add->add_option("--insutype", p.insutype, "310 or 390");
  add->add_option("--balance", balance, "personal account balance, e.g. 500.00");
  add->add_option("--deductible-used", ded, "deductible used this year");
  add->add_option("--fund-paid-ytd", fund, "fund paid this year");
  add->add_option("--flags", flags, "comma-separated flags");
  add->add_option("--insuplc-admdvs", p.insuplc_admdvs, "the insured area, 6 digits");

  // init-demo
  auto* demo = app.add_subcommand("init-demo", "create the demo persons (idempotent)");
  std::string demo_db;
  demo->add_option("--db", demo_db, "SQLite file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_code::ok : exit_code::usage;
  }

  if (*gen) {
    for (const std::string& s : shares) {
      const auto eq = s.find('=');
      const auto flag = person_flag_from_name(s.substr(0, eq));
      if (eq == std::string::npos || !flag || *flag == PersonFlag::account_frozen)
        return fail(make_error(Reason::invalid_request, "flag-share", fmt::format("--flag-share \"{}\": expected STATUSFLAG=PERMILLE", s)));
      try {
        const long v = std::stol(s.substr(eq + 1));
        if (v < 0 || v > 1000) throw std::out_of_range("permille");
        gopt.flag_permille[static_cast<std::size_t>(*flag)] = v;
      } catch (const std::exception&) {
        return fail(make_error(Reason::invalid_request, "flag-share", fmt::format("--flag-share \"{}\": permille 0..1000", s)));
      }
    }
    auto r = generate(gen_db, gopt);
    if (!r) return fail(r.error());
    std::printf("insurer-sim: generated %lld persons (seed %llu) in %lld ms\n", static_cast<long long>(r->persons),
                static_cast<unsigned long long>(gopt.seed), static_cast<long long>(r->elapsed_ms));
    return 0;
  }
  if (*add) {
    auto b = amount_opt(balance, "--balance");
    if (!b) return fail(b.error());
    auto d = amount_opt(ded, "--deductible-used");
    if (!d) return fail(d.error());
    auto f = amount_opt(fund, "--fund-paid-ytd");
    if (!f) return fail(f.error());
    p.balance = *b;
    p.deductible_used = *d;
    p.fund_paid_ytd = *f;
    std::string_view rest = flags;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view name = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      const auto flag = person_flag_from_name(name);
      if (!flag) return fail(make_error(Reason::invalid_request, "flags", fmt::format("--flags: unknown flag \"{}\"", name)));
      p.flags.set(*flag);
    }
    auto store = Store::open(add_db);
    if (!store) return fail(store.error());
    auto id = add_person(*store, p);
    if (!id) return fail(id.error());
    std::printf("%s\n", id->c_str());
    return 0;
  }
  if (*demo) {
    auto store = Store::open(demo_db);
    if (!store) return fail(store.error());
    if (Status s = init_demo(*store); !s) return fail(s.error());
    std::printf("insurer-sim: demo persons ready in %s\n", demo_db.c_str());
    return 0;
  }

  // serve
  if (secret.empty() || paasid.empty())
    return fail(make_error(Reason::invalid_config, "secret", "--secret and --paasid must not be empty"));
  auto policy = load_policy_file(policy_path);
  if (!policy) return fail(policy.error());
  auto lp = host_port(listen, "--listen");
  if (!lp) return fail(lp.error());
  auto cp = host_port(control, "--control");
  if (!cp) return fail(cp.error());
  FaultSet faults(seed);
  for (const std::string& spec : fault_specs) {
    auto f = parse_fault(spec);
    if (!f) return fail(f.error());
    faults.add(*f);
  }
  auto store = Store::open(db, sync == "normal" ? SyncMode::normal : SyncMode::full);
  if (!store) return fail(store.error());
  faults.set_clock_offset_s(clock_offset_s);
  // Every clock of the simulator is the real one moved by the clock offset.
  Insurer insurer(*store, std::move(*policy),
                  [&faults, real = system_clock_ms()] { return real() + faults.clock_offset_s() * 1000; },
                  /*group_commit=*/true, sim_profile_from_name(profile_name).value_or(SimProfile::regional));
  insurer::Verifier verifier({insurer::Institution{paasid, secret}},
                             [&faults, real = insurer::system_clock()] { return real() + faults.clock_offset_s(); },
                             replay_cache);
  boost::asio::io_context ioc(1);
  ServerConfig cfg;
  cfg.listen_host = lp->first;
  cfg.listen_port = lp->second;
  cfg.control_host = cp->first;
  cfg.control_port = cp->second;
  cfg.cert_file = cert;
  cfg.key_file = key;
  cfg.ca_file = ca;
  Server server(ioc, cfg, insurer, faults, verifier);
  if (Status s = server.start(); !s) return fail(s.error());
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    ioc.stop();
  });
  std::printf("insurer-sim: listening on %s:%u control %s:%u (profile %s, sync %s, fault seed %llu)\n",
              cfg.listen_host.c_str(), static_cast<unsigned>(server.port()), cfg.control_host.c_str(),
              static_cast<unsigned>(server.control_port()), profile_name.c_str(), sync.c_str(),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  ioc.run();
  if (Status s = insurer.commit(); !s) return fail(s.error());
  std::printf("insurer-sim: stopped\n");
  return 0;
}
