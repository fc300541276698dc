// bench card: what the card module costs on top of the PC/SC round trips it
// must make. In one run, through a pcscd started here and a virtual card in
// vpcd reader 0: the raw single-APDU round trip (GET CHALLENGE on an open
// handle), the same APDU sequences the module sends replayed raw (connect,
// transaction, SCardTransmit each, disconnect; no parsing), then the module's
// full card read, PIN verification and card_sn re-check. Targets: each
// operation's p50 within 1.3x of its raw replay, and the raw round trip under
// 5 ms (the vpcd delayed-ACK trap costs ~48 ms per APDU).
#include "reader/card_service.hpp"
#include "tests/support/pcsc_harness.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/raw_ops.hpp"

#include <PCSC/winscard.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace settle::bench {
namespace {

struct Measure {
  std::string name;
  int apdus = 0;  // APDUs the operation sends (0 for the raw rows)
  Latencies lat;
};

int iterations_from(const Context& ctx) {
  for (std::size_t i = 0; i + 1 < ctx.args.size(); ++i) {
    if (ctx.args[i] == "--iterations") return std::max(10, std::atoi(ctx.args[i + 1].c_str()));
  }
  return 200;
}

using raw::Script;
using raw::kPinScript;
using raw::kReadScript;
using raw::kRecheckScript;
using raw::replay;

bool raw_replays(const std::string& reader, int n, std::vector<std::pair<const Script*, Measure*>> rows) {
  SCARDCONTEXT ctx = 0;
  if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx) != SCARD_S_SUCCESS) return false;
  bool ok = true;
  for (auto& [script, m] : rows) {
    for (int i = -5; i < n && ok; ++i) {
      const auto t0 = Clock::now();
      ok = replay(ctx, reader, *script);
      if (i >= 0) m->lat.add(Clock::now() - t0);
    }
  }
  SCardReleaseContext(ctx);
  return ok;
}

bool raw_rows(const std::string& reader, int n, Measure& apdu, Measure& session) {
  SCARDCONTEXT ctx = 0;
  if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx) != SCARD_S_SUCCESS) return false;
  SCARDHANDLE h = 0;
  DWORD proto = 0;
  if (SCardConnect(ctx, reader.c_str(), SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h, &proto) !=
      SCARD_S_SUCCESS) {
    SCardReleaseContext(ctx);
    return false;
  }
  const SCARD_IO_REQUEST* pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
  const unsigned char challenge[] = {0x00, 0x84, 0x00, 0x00, 0x08};
  bool ok = true;
  for (int i = -20; i < n && ok; ++i) {  // 20 warm-up round trips
    unsigned char out[258];
    DWORD len = sizeof out;
    const auto t0 = Clock::now();
    ok = SCardTransmit(h, pci, challenge, sizeof challenge, nullptr, out, &len) == SCARD_S_SUCCESS && len == 10 &&
         out[8] == 0x90;
    if (i >= 0) apdu.lat.add(Clock::now() - t0);
  }
  SCardDisconnect(h, SCARD_LEAVE_CARD);
  for (int i = 0; i < n && ok; ++i) {
    const auto t0 = Clock::now();
    ok = SCardConnect(ctx, reader.c_str(), SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h, &proto) ==
             SCARD_S_SUCCESS &&
         SCardBeginTransaction(h) == SCARD_S_SUCCESS;
    if (ok) {
      SCardEndTransaction(h, SCARD_LEAVE_CARD);
      SCardDisconnect(h, SCARD_LEAVE_CARD);
    }
    session.lat.add(Clock::now() - t0);
  }
  SCardReleaseContext(ctx);
  return ok;
}

int run_card(const Context& ctx) {
  const int n = iterations_from(ctx);
  std::unique_ptr<testing::Pcscd> pcscd;
  std::unique_ptr<testing::VirtualCard> card;
  try {
    pcscd = std::make_unique<testing::Pcscd>();
    card = std::make_unique<testing::VirtualCard>(0, std::vector<std::string>{"--name", "欧阳娜娜", "--pin", "123456"});
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench card: {}\n", e.what());
    return 2;
  }
  Measure raw_apdu{"raw APDU round trip (GET CHALLENGE)", 1, {}};
  Measure raw_session{"raw session (connect+transaction+disconnect)", 0, {}};
  if (!raw_rows(card->reader(), n, raw_apdu, raw_session)) {
    fmt::print(stderr, "bench card: raw PC/SC round trip failed\n");
    return 2;
  }

  Measure raw_read{"raw replay of the read's 11 APDUs", 11, {}};
  Measure raw_pin{"raw replay of the PIN check's 3 APDUs", 3, {}};
  Measure raw_recheck{"raw replay of the re-check's 4 APDUs", 4, {}};
  if (!raw_replays(card->reader(), n, {{&kReadScript, &raw_read}, {&kPinScript, &raw_pin}, {&kRecheckScript, &raw_recheck}})) {
    fmt::print(stderr, "bench card: raw replay failed\n");
    return 2;
  }

  reader::ReaderConfig cfg;
  cfg.window_readers = {{"W1", card->reader()}};
  reader::CardService service(cfg);
  Measure read{"card read (select + 7 records, validated)", 11, {}};
  Measure pin{"PIN verification (select + VERIFY)", 3, {}};
  Measure recheck{"card_sn re-check", 4, {}};
  for (int i = -5; i < n; ++i) {
    const auto t0 = Clock::now();
    auto id = service.read_card("W1", std::chrono::milliseconds{0});
    if (!id) return fmt::print(stderr, "bench card: read failed: {}\n", id.error().message), 2;
    if (i >= 0) read.lat.add(Clock::now() - t0);
  }
  const std::string sn = service.read_card_sn("W1").value();
  for (int i = 0; i < n; ++i) {
    auto p = reader::Pin::from_digits("123456");
    const auto t0 = Clock::now();
    auto v = service.verify_pin("W1", std::move(p).value());
    if (!v || v->kind != reader::PinVerdict::Kind::verified) return fmt::print(stderr, "bench card: PIN failed\n"), 2;
    pin.lat.add(Clock::now() - t0);
  }
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    if (!service.check_same_card("W1", sn)) return fmt::print(stderr, "bench card: re-check failed\n"), 2;
    recheck.lat.add(Clock::now() - t0);
  }

  const double raw_p50 = raw_apdu.lat.percentile_ms(50);
  std::vector<Target> targets{
      {"card read p50 / raw replay p50", read.lat.percentile_ms(50) / raw_read.lat.percentile_ms(50), "<=", 1.3},
      {"PIN check p50 / raw replay p50", pin.lat.percentile_ms(50) / raw_pin.lat.percentile_ms(50), "<=", 1.3},
      {"re-check p50 / raw replay p50", recheck.lat.percentile_ms(50) / raw_recheck.lat.percentile_ms(50), "<=", 1.3},
      {"raw APDU p50 ms (no delayed-ACK stall)", raw_p50, "<=", 5.0},
  };
  bool pass = true;
  for (const auto& t : targets) pass = pass && t.pass();
  std::vector<Measure*> all{&raw_apdu, &raw_session, &raw_read, &read, &raw_pin, &pin, &raw_recheck, &recheck};

  if (ctx.json) {
    std::string out = fmt::format(R"({{"section":"card","iterations":{},"reader":"{}","runs":[)", n, card->reader());
    for (std::size_t i = 0; i < all.size(); ++i) {
      out += fmt::format(R"({}{{"name":"{}","apdus":{},"p50_ms":{:.3f},"p99_ms":{:.3f},"vs_raw_p50":{:.2f}}})",
                         i ? "," : "", all[i]->name, all[i]->apdus, all[i]->lat.percentile_ms(50),
                         all[i]->lat.percentile_ms(99), all[i]->lat.percentile_ms(50) / raw_p50);
    }
    out += R"(],"targets":[)";
    for (std::size_t i = 0; i < targets.size(); ++i)
      out += fmt::format(R"({}{{"what":"{}","value":{:.2f},"op":"{}","limit":{},"pass":{}}})", i ? "," : "",
                         targets[i].what, targets[i].value, targets[i].op, targets[i].limit, targets[i].pass());
    out += fmt::format(R"(],"pass":{}}})", pass);
    fmt::print("{}\n", out);
    return pass ? 0 : 1;
  }

  fmt::print("  pcscd {} with virtual-card in '{}', {} iterations each\n\n", pcscd->pid(), card->reader(), n);
  std::vector<std::vector<std::string>> rows{{"measurement", "APDUs", "p50 ms", "p99 ms", "p50 / raw APDU p50"}};
  for (Measure* m : all)
    rows.push_back({m->name, m->apdus ? fmt::format("{}", m->apdus) : "-", fmt::format("{:.3f}", m->lat.percentile_ms(50)),
                    fmt::format("{:.3f}", m->lat.percentile_ms(99)),
                    fmt::format("{:.1f}x", m->lat.percentile_ms(50) / raw_p50)});
  print_table(rows);
  fmt::print("\n");
  print_targets(targets, "");
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("card", "card read and PIN check through pcscd vs the raw APDU round trip", run_card);

}  // namespace settle::bench
