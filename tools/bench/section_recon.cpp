// Bench section "recon": the nightly reconciliation of a day of N settlements
// (default 100,000; `-- --settlements N`) through the real settled and
// insurer-sim, both sides' files filled directly in SQLite: the totals-only
// path on a balanced day, the full detail path on a day with differences,
// beside the raw SQLite aggregate over the same rows, in one run.
#include "tools/bench/bench.hpp"
#include "tools/bench/settle_stack.hpp"

#include "offline/ledger.hpp"
#include "offline/sqlite.hpp"
#include "protocol/json.hpp"
#include "tools/insurer-sim/store.hpp"
#include "tools/settlectl/client.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace settle::bench {
namespace {

using json::Json;
using namespace std::chrono_literals;

constexpr const char* kInstitution = stack::institution;
constexpr const char* kSecret = "bench-recon-secret";
constexpr const char* kPassword = "Bench-Super-2026";
constexpr const char* kBalancedDay = "2026-03-02";
constexpr const char* kDiffDay = "2026-03-03";
constexpr int kDiffEvery = 1000;  // one difference of each kind per this many settlements

using stack::Child;
using stack::run_tool;
using stack::slurp;
using stack::wait_for;

void check(const sql::Status& s, const char* what) {
  if (!s) throw std::runtime_error(fmt::format("{}: {}", what, s.error().message));
}

std::string msgid_of(std::int64_t n) { return fmt::format("{}{:018}", kInstitution, n); }
std::string setl_id_of(std::int64_t n) { return fmt::format("S{:015}", n); }

struct Row {
  std::int64_t id = 0;
  const char* insutype = "310";
  std::int64_t fund = 0, account = 0, cash = 0;
  bool refunded = false;  // a partial refund of 1.00 cash
};

Row row_of(std::int64_t id) {
  Row r;
  r.id = id;
  r.insutype = id % 3 == 0 ? "390" : "310";
  r.fund = 5000 + id % 9000;
  r.account = id % 2 == 0 ? 1500 : 0;
  r.cash = 200 + id % 700;
  r.refunded = id % 100 == 7;
  return r;
}

// Both sides of day `date`: settlements first..first+n-1 (ids shared by the
// ledger and the simulator), with differences built in when `diffs`.
void fill(sql::Db& ledger, sql::Db& sim, const char* date, std::int64_t first, std::int64_t n, bool diffs,
          std::int64_t& extra_id) {
  auto ls = ledger.prepare(
      "INSERT INTO settlements(setl_id, request_id, window_id, operator_id, card_no, psn_no, insutype, visit_type, "
      "med_type, mode, total_fen, fund_fen, account_fen, cash_fen, fulamt_ownpay_fen, preselfpay_fen, inscp_fen, "
      "deductible_part_fen, insurer_setl_id, mdtrt_id, msgid, receipt_no, state, created_at_ms, clearing_date) "
      "VALUES(?1, ?2, 'W01', 's001', 'B00000001', ?3, ?4, 'outpatient', '11', 'online', ?5, ?6, ?7, ?8, 0, 0, ?5, 0, "
      "?9, ?10, ?11, ?12, ?13, 1772400000000, ?14)");
  auto lr = ledger.prepare(
      "INSERT INTO refunds(request_id, setl_id, window_id, operator_id, refund_total_fen, fund_fen, account_fen, "
      "cash_fen, insurer_refund_id, msgid, created_at_ms, clearing_date) VALUES(?1, ?2, 'W01', 's001', 100, 0, 0, 100, "
      "?3, NULL, 1772400000000, ?4)");
  // The simulator's rows carry the insured area it gives its persons (the
  // hospital's own, settled's [institution] insurer_area); the ledger's rows
  // leave it empty, which settled counts as that area.
  auto ss = sim.prepare(
      "INSERT INTO settlements(id, msgid, infno, fixmedins_code, medins_setl_id, psn_no, visit_id, chrg_bchno, insutype, "
      "visit, use_account, origin, local_id, total, fund, account, cash, fulamt, preselfpay, inscp, deductible_part, "
      "balance_before, deductible_used_before, fund_paid_ytd_before, flags_before, lines_json, state, setl_time, clr_date, "
      "insuplc_admdvs) "
      "VALUES(?1, ?2, '2207', ?3, ?4, ?5, ?1, ?6, ?7, 1, 1, 'online', '', ?8, ?9, ?10, ?11, 0, 0, ?8, 0, 0, 0, 0, 0, '[]', "
      "?12, ?13, ?14, ?15)");
  auto sr = sim.prepare(
      "INSERT INTO refunds(kind, msgid, infno, setl_id, medins_refd_id, total, fund, account, cash, deductible_back, "
      "lines_json, state, time) VALUES('refund', ?1, '9301', ?2, ?3, 100, 0, 0, 100, 0, '[]', 'effective', ?4)");
  if (!ls || !lr || !ss || !sr) throw std::runtime_error("bench recon: cannot prepare the bulk inserts");
  const std::string setl_time = fmt::format("{} 10:00:00", date);
  for (std::int64_t id = first; id < first + n; ++id) {
    const Row r = row_of(id);
    const std::string psn = fmt::format("P{:011}", id % 50000);
    const std::string msgid = msgid_of(id), setl = setl_id_of(id), mdtrt = fmt::format("M{:015}", id);
    const std::int64_t total = r.fund + r.account + r.cash;
    check(ls->bind_all(id, fmt::format("b{}", id), psn, std::string(r.insutype), total, r.fund, r.account, r.cash, setl,
                       mdtrt, msgid, fmt::format("R{}", id), std::string(r.refunded ? "partly_refunded" : "settled"),
                       std::string(date)),
          "bind");
    check(ls->run(), "ledger insert");
    ls->reset();
    if (r.refunded) {
      check(lr->bind_all(fmt::format("r{}", id), id, fmt::format("F{}", id), std::string(date)), "bind");
      check(lr->run(), "ledger refund insert");
      lr->reset();
    }
    const std::int64_t k = (id - first) % kDiffEvery;
    if (diffs && k == 3) continue;  // only_local: the insurer never got it
    std::int64_t sfund = r.fund, stotal = total;
    std::string state = "effective";
    if (diffs && k == 1) {  // amount_mismatch
      sfund += 100;
      stotal += 100;
    }
    if (diffs && k == 2) state = "undone";  // state_mismatch
    check(ss->bind_all(id, msgid, std::string(kInstitution), fmt::format("b{}", id), psn, fmt::format("C{}", id),
                       std::string(r.insutype), stotal, sfund, r.account, r.cash, state, setl_time, std::string(date),
                       std::string(sim::default_area)),
          "bind");
    check(ss->run(), "sim insert");
    ss->reset();
    if (r.refunded) {
      check(sr->bind_all(msgid_of(id + 500'000'000), id, fmt::format("r{}", id), setl_time), "bind");
      check(sr->run(), "sim refund insert");
      sr->reset();
    }
    if (diffs && k == 4) {  // only_insurer: a settlement the hospital has no record of
      const std::int64_t x = extra_id++;
      check(ss->bind_all(x, msgid_of(x), std::string(kInstitution), fmt::format("x{}", x), psn, fmt::format("C{}", x),
                         std::string("310"), std::int64_t{1000}, std::int64_t{800}, std::int64_t{0}, std::int64_t{200},
                         std::string("effective"), setl_time, std::string(date), std::string(sim::default_area)),
            "bind");
      check(ss->run(), "sim insert");
      ss->reset();
    }
  }
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int run_recon(const Context& ctx) {
  std::int64_t n = 100'000;
  std::string sim_sync = "full";
  for (std::size_t i = 0; i + 1 < ctx.args.size(); ++i) {
    if (ctx.args[i] == "--settlements") n = std::max<std::int64_t>(kDiffEvery, std::atoll(ctx.args[i + 1].c_str()));
    if (ctx.args[i] == "--sim-sync") sim_sync = ctx.args[i + 1];
  }
  ScratchDir scratch(ctx, "bench-recon");
  const std::string dir = scratch.path();
  const std::string fs = filesystem_type(dir);
  const std::string pki = scratch.file("pki");
  double gen_s = 0, raw_s = 0, totals_s = 0, detail_s = 0, raw_detail_s = 0;
  std::int64_t diff_count = 0, insurer_rows = 0;
  Json diff_counts, timings;
  bool totals_balanced = false, diff_balanced = true;
  try {
    if (std::system(fmt::format("{}/tools/gen-test-pki.sh '{}' >/dev/null", SETTLE_SOURCE_DIR, pki).c_str()) != 0)
      throw std::runtime_error("gen-test-pki.sh failed");
    // The simulator's file (schema by add-person) and the ledger (schema and
    // the operator by settlectl), then both filled directly.
    run_tool({SETTLE_SIM_BINARY, "add-person", "--db", dir + "/insurer.db", "--card-no", "B00000001", "--card-sn",
              "0123456789ABCDEF0123456789ABCDEF", "--id-no", "11010519491231002X", "--name", "张三", "--insutype", "310",
              "--balance", "500.00", "--deductible-used", "1800.00"},
             dir + "/add-person.out");
    std::filesystem::create_directories(dir + "/data");
    std::ofstream(dir + "/password") << kPassword << "\n";
    std::ofstream(dir + "/initial-password") << "Init-" << kPassword << "\n";
    run_tool({SETTLE_SETTLECTL_BINARY, "operator", "add", "--ledger", dir + "/data/ledger.db", "--name", "s001", "--role",
              "supervisor", "--initial-password-file", dir + "/initial-password"},
             dir + "/settlectl.out");
    {
      const auto t0 = Clock::now();
      // With the ledger's functions: its rows are chained as the daemon's would be.
      auto ledger = ledger::open_connection(dir + "/data/ledger.db", sql::OpenMode::read_write);
      auto sim = sql::Db::open(dir + "/insurer.db");
      if (!ledger || !sim) throw std::runtime_error("cannot open the bench databases");
      // Bench rows only: the requests and messages they would reference are not written.
      check(ledger->exec("PRAGMA foreign_keys = OFF"), "pragma");
      check(sim->exec("PRAGMA foreign_keys = OFF"), "pragma");
      auto lt = sql::Transaction::begin(*ledger, sql::TxKind::immediate);
      auto st = sql::Transaction::begin(*sim, sql::TxKind::immediate);
      if (!lt || !st) throw std::runtime_error("cannot begin the bulk transactions");
      std::int64_t extra = 3 * n + 1;
      fill(*ledger, *sim, kBalancedDay, 1, n, false, extra);
      fill(*ledger, *sim, kDiffDay, n + 1, n, true, extra);
      check(lt->commit(), "ledger commit");
      check(st->commit(), "sim commit");
      check(ledger->exec("ANALYZE"), "analyze");
      check(sim->exec("ANALYZE"), "analyze");
      gen_s = seconds_since(t0);
    }

    stack::SimProcess sim = stack::start_sim(dir, pki, kSecret, sim_sync);
    const int sim_port = sim.port;
    std::ofstream(dir + "/secret") << kSecret << "\n";
    std::ofstream(dir + "/settled.toml") << stack::settled_toml(pki, sim_port, "[readers.windows]\n\"W01\" = \"Bench Reader 00 00\"\n");
    Child daemon({SETTLE_SETTLED_BINARY, "--config", dir + "/settled.toml"}, dir + "/settled.out", dir + "/settled.log",
                 dir);
    (void)wait_for(dir + "/settled.out", std::regex("ready on"), daemon, "settled");
    stack::first_login(dir, dir + "/data/cashier.sock", "s001");

    auto client = tools::CashierClient::connect(dir + "/data/cashier.sock");
    if (!client) throw std::runtime_error(client.error().message);
    auto login = client->call("session.login", Json{{"operator", "s001"}, {"password", kPassword}, {"window", "W01"}});
    if (!login || !login->ok) throw std::runtime_error("login refused");
    const auto recon = [&](const char* date) {
      auto a = client->call("recon.run", Json{{"date", date}}, std::chrono::milliseconds(600'000));
      if (!a) throw std::runtime_error(a.error().message);
      if (!a->ok) throw std::runtime_error(fmt::format("recon.run {}: {} ({})", date, a->message, a->reason));
      return a->result;
    };
    (void)recon("2001-01-01");  // sign-in and warm-up, no rows
    // The raw figure: SQLite's aggregate over the same day's rows.
    {
      auto db = sql::Db::open(dir + "/data/ledger.db");
      if (!db) throw std::runtime_error("cannot open the ledger");
      auto q = db->prepare(
          "SELECT insutype, count(*), sum(total_fen), sum(fund_fen), sum(account_fen), sum(cash_fen) FROM settlements "
          "WHERE clearing_date = ?1 GROUP BY insutype");
      if (!q) throw std::runtime_error("raw aggregate: cannot prepare");
      auto t0 = Clock::now();
      check(q->bind(1, std::string(kBalancedDay)), "bind");
      for (;;) {
        auto r = q->step();
        if (!r) throw std::runtime_error(r.error().message);
        if (!*r) break;
      }
      raw_s = seconds_since(t0);
      // The raw read of every row of the day (what the detail path reads locally).
      auto d = db->prepare("SELECT setl_id, insurer_setl_id, msgid, total_fen, fund_fen FROM settlements WHERE clearing_date = ?1");
      if (!d) throw std::runtime_error("raw detail: cannot prepare");
      t0 = Clock::now();
      check(d->bind(1, std::string(kDiffDay)), "bind");
      for (;;) {
        auto r = d->step();
        if (!r) throw std::runtime_error(r.error().message);
        if (!*r) break;
      }
      raw_detail_s = seconds_since(t0);
    }
    auto t0 = Clock::now();
    const Json balanced = recon(kBalancedDay);
    totals_s = seconds_since(t0);
    totals_balanced = balanced.value("balanced", false);
    if (!totals_balanced) {
      Json why = balanced;
      why.erase("differences");
      fmt::print(stderr, "recon: the balanced day was not answered balanced: {}\n", why.dump());
    }
    t0 = Clock::now();
    const Json diffs = recon(kDiffDay);
    detail_s = seconds_since(t0);
    diff_balanced = diffs.value("balanced", true);
    diff_count = static_cast<std::int64_t>(diffs["differences"].size());
    diff_counts = diffs["difference_counts"];
    timings = diffs.value("timings", Json::object());
    insurer_rows = diffs.value("insurer_rows", std::int64_t{0});
    daemon.stop();
    sim.child->stop();
  } catch (const std::exception& e) {
    fmt::print(stderr, "recon: {}\n  (files in {})\n", e.what(), dir);
    return 2;
  }
  const std::int64_t expected = 4 * (n / kDiffEvery);
  const double limit_s = 20.0 * static_cast<double>(n) / 1e6;
  std::vector<Target> targets{
      {fmt::format("full reconciliation, {} settlements with differences (s)", n), detail_s, "<=", limit_s},
  };
  const bool right = totals_balanced && !diff_balanced && diff_count == expected;
  bool pass = right;
  for (const auto& t : targets) pass = pass && t.pass();
  if (ctx.json) {
    fmt::print(R"({{"section":"recon","dir":"{}","fs":"{}","settlements":{},"generate_s":{:.2f},"raw_aggregate_s":{:.4f},)"
               R"("raw_day_read_s":{:.4f},"totals_path_s":{:.3f},"detail_path_s":{:.3f},"insurer_rows":{},"differences":{},)"
               R"("expected_differences":{},"classification_right":{},"timings":{},"limit_s":{:.2f},"pass":{}}})"
               "\n",
               dir, fs, n, gen_s, raw_s, raw_detail_s, totals_s, detail_s, insurer_rows, diff_count, expected, right,
               timings.dump(), limit_s, pass);
    return pass ? 0 : 1;
  }
  fmt::print("  scratch dir {} ({}); {} settlements per day on each side (filled in {:.1f} s), settled and\n"
             "  insurer-sim as child processes over mutual TLS; differences: {} of each kind per {}\n\n",
             dir, fs, n, gen_s, 1, kDiffEvery);
  std::vector<std::vector<std::string>> rows{{"measurement", "seconds", "vs raw aggregate"}};
  rows.push_back({"raw SQLite aggregate per insutype (ledger, same day)", fmt::format("{:.4f}", raw_s), "1.0x"});
  rows.push_back({"raw SQLite read of every row of a day (ledger)", fmt::format("{:.4f}", raw_detail_s),
                  fmt::format("{:.1f}x", raw_detail_s / raw_s)});
  rows.push_back({"recon.run, balanced day (totals only, 3201 x3)", fmt::format("{:.3f}", totals_s),
                  fmt::format("{:.1f}x", totals_s / raw_s)});
  rows.push_back({fmt::format("recon.run, day with differences (3202 {} rows, both lists)", insurer_rows),
                  fmt::format("{:.3f}", detail_s), fmt::format("{:.1f}x", detail_s / raw_s)});
  print_table(rows);
  fmt::print("\n  differences found {} (expected {}): {}; balanced day answered balanced: {}\n"
             "  settled's phases of the day with differences (ms): {}\n\n",
             diff_count, expected, diff_counts.dump(), totals_balanced, timings.dump());
  print_targets(targets, " s");
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("recon", "nightly reconciliation of a day of N settlements (totals and detail paths) vs raw SQLite",
                     run_recon);

}  // namespace settle::bench
