// Bench section "fixtures": the large data the start-up, growth and soak
// sections run against, made once in a directory of its own (not in the
// test command): a red list of 20,000,000 entries through the store's own
// full sync, and a ledger of 10,000,000 settlements over five years (each
// with its request and stored answer, two lines, its 2207 message and an
// audit entry, chained as the daemon chains them), in bulk SQL transactions
// on a ledger made by the project's own schema code, so it follows it.
#include "tools/bench/bench.hpp"
#include "tools/bench/fixtures.hpp"
#include "tools/bench/settle_stack.hpp"

#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "offline/schema.hpp"
#include "offline/sqlite.hpp"
#include "protocol/json.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <malloc.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace settle::bench {

fixtures::Info fixtures::load(const std::string& dir) {
  std::ifstream in(dir + "/fixtures.json");
  if (!in) throw std::runtime_error(fmt::format("{}/fixtures.json is missing: make the fixtures first (bench --dir D fixtures)", dir));
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), "fixtures.json");
  if (!j) throw std::runtime_error(fmt::format("{}/fixtures.json is not JSON", dir));
  Info i;
  i.dir = dir;
  i.ledger = dir + "/data/ledger.db";
  i.redlist = dir + "/data/redlist.db";
  i.settlements = j->value("settlements", std::int64_t{0});
  i.entries = j->value("redlist_entries", std::int64_t{0});
  i.first_day = j->value("first_day", std::string());
  i.last_day = j->value("last_day", std::string());
  for (const auto& f : {i.ledger, i.redlist})
    if (!std::filesystem::exists(f)) throw std::runtime_error(fmt::format("fixture file {} is missing", f));
  return i;
}

namespace {

void check(const sql::Status& s, const std::string& what) {
  if (!s) throw std::runtime_error(fmt::format("{}: {}", what, s.error().message));
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The settlements first..last (1-based) of n spread over `days` days from
// day0_ms (that day's 08:00 in China), 08:00-17:00 each day. ?1 first,
// ?2 last, ?3 day0_ms, ?4 settlements per day.
constexpr const char* kNumbers =
    "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2), "
    "r AS (SELECT i, ?3 + ((i - 1) / ?4) * 86400000 + ((i - 1) % ?4) * (32400000 / ?4) AS at_ms, "
    "  i % 100 = 42 AS offline, CASE WHEN i % 3 = 0 THEN '390' ELSE '310' END AS insutype, "
    "  5000 + i % 9000 AS fund, CASE WHEN i % 100 <> 42 AND i % 2 = 0 THEN 1500 ELSE 0 END AS account, "
    "  200 + i % 700 AS cash, printf('%02d', i % 40 + 1) AS win, printf('h%03d', i % 60 + 1) AS op, "
    "  printf('%08d', (i * 7919) % 3000000) AS person FROM n), "
    // a msgid as the daemon makes them: institution, China time to the second, a number
    "m AS (SELECT *, 'H11010500001' || strftime('%Y%m%d%H%M%S', at_ms / 1000 + 60, 'unixepoch', '+8 hours') || "
    "  printf('%04d', i % 9999 + 1) AS msgid FROM r) ";

const char* kRequests =
    "INSERT INTO requests(request_id, method, payload_hash, state, answer, operator_id, window_id, created_at_ms, "
    "answered_at_ms) SELECT 'fx' || i, 'settle.commit', printf('%064x', i * 2654435761), 'answered', "
    "json_object('setl_id', CAST(i AS TEXT), 'mode', CASE WHEN offline THEN 'offline' ELSE 'online' END, "
    "  'receipt_no', 'R' || i, 'total', printf('%.2f', (fund + account + cash) / 100.0), "
    "  'fund', printf('%.2f', fund / 100.0), 'account', printf('%.2f', account / 100.0), "
    "  'cash', printf('%.2f', cash / 100.0), 'balance', '412.50', 'reasons', json_array()), "
    "op, 'W' || win, at_ms, at_ms + 180 FROM r";
const char* kMessages =
    "INSERT INTO insurer_messages(msgid, infno, state, request_id, infcode, created_at_ms, updated_at_ms) "
    "SELECT msgid, '2207', 'answered', 'fx' || i, 0, at_ms + 60, at_ms + 150 "
    "FROM m WHERE NOT offline";
const char* kSettlements =
    "INSERT INTO settlements(setl_id, request_id, window_id, operator_id, card_no, card_sn, psn_no, insutype, "
    "visit_type, med_type, mode, total_fen, fund_fen, account_fen, cash_fen, fulamt_ownpay_fen, preselfpay_fen, "
    "inscp_fen, deductible_part_fen, insurer_setl_id, mdtrt_id, msgid, receipt_no, state, created_at_ms, "
    "clearing_date, offline_reason) "
    "SELECT i, 'fx' || i, 'W' || win, op, 'E' || person, printf('%032X', i), 'P000' || person, insutype, "
    "'outpatient', '11', CASE WHEN offline THEN 'offline' ELSE 'online' END, fund + account + cash, fund, account, "
    "cash, 0, 0, fund + account + cash, 0, CASE WHEN offline THEN NULL ELSE 'S' || i END, 'M' || i, "
    "CASE WHEN offline THEN NULL ELSE msgid END, 'R' || i, "
    "CASE WHEN offline THEN 'offline_accepted' ELSE 'settled' END, at_ms + 150, "
    "date(at_ms / 1000, 'unixepoch', '+8 hours'), CASE WHEN offline THEN 'insurer_unreachable' END FROM m";
const char* kLines =
    "INSERT INTO settlement_lines(setl_id, line_no, code, name, class, amount_fen, selfpay_ratio_ppm) "
    "SELECT i, k, CASE k WHEN 1 THEN '110200001' ELSE '86900001' END, CASE k WHEN 1 THEN '普通门诊诊查费' "
    "ELSE '阿莫西林胶囊' END, CASE k WHEN 1 THEN 'A' ELSE 'B' END, "
    "CASE k WHEN 1 THEN 2500 ELSE fund + account + cash - 2500 END, CASE k WHEN 1 THEN 0 ELSE 150000 END "
    "FROM r, (SELECT 1 AS k UNION ALL SELECT 2)";
const char* kAudit =
    "INSERT INTO audit(at_ms, operator_name, window_id, action, detail) "
    "SELECT at_ms + 150, op, 'W' || win, 'settle.commit', 'setl_id ' || i FROM r";

// Unix ms of 08:00 China time on the day `days_back` days before today.
std::int64_t day0_ms(int days_back) {
  const std::int64_t now_s = static_cast<std::int64_t>(std::time(nullptr)) + 8 * 3600;
  const std::int64_t today = now_s / 86400;
  return (today - days_back) * 86400 * 1000;  // that day's 00:00 UTC is 08:00 in China
}

std::string date_of(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000 + 8 * 3600);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

// A ledger in use is reconciled every night, and each reconciliation signs
// the chain's head (reason "reconciliation"): the next one verifies the
// chain from there, a day of entries, not five years. The fixture carries
// the last night's (23:00 of its last day, which starts at last_day_ms),
// signed with a key kept beside the ledger as settled keeps its own (the
// stacks copy it with the ledger).
void reconciled_checkpoint(sql::Db& db, const std::string& out, std::int64_t last_day_ms) {
  const std::string key_path = out + "/data/checkpoint.key";
  auto signer = std::filesystem::exists(key_path) ? ledger::chain::Signer::load(key_path)
                                                  : ledger::chain::Signer::generate(key_path);
  if (!signer) throw std::runtime_error(fmt::format("checkpoint key {}: {}", key_path, signer.error().message));
  auto tx = sql::Transaction::begin(db);
  if (!tx) throw std::runtime_error(tx.error().message);
  auto cp = ledger::chain::write_checkpoint(db, *signer, "reconciliation", last_day_ms + 15 * 3'600'000);
  if (!cp) throw std::runtime_error(fmt::format("reconciliation checkpoint: {}", cp.error().message));
  check(tx->commit(), "checkpoint commit");
  if (*cp) fmt::print(stderr, "  ledger: checkpoint {} of the last night's reconciliation at chain entry {}\n", (*cp)->checkpoint_id,
                      (*cp)->head_seq);
}

int run_fixtures(const Context& ctx) {
  std::int64_t settlements = 10'000'000, entries = 20'000'000;
  int days = 5 * 365 + 1;
  std::string out = ctx.dir + "/settle-fixtures";
  bool keep_ledger = false;  // --keep-ledger: a ledger made before stays; the red list is made again
  for (std::size_t i = 0; i < ctx.args.size(); i += 2) {
    const std::string& k = ctx.args[i];
    if (k == "--keep-ledger") {
      keep_ledger = true;
      --i;
      continue;
    }
    if (i + 1 >= ctx.args.size()) return fmt::print(stderr, "fixtures: {} needs a value\n", k), 2;
    if (k == "--settlements") settlements = std::atoll(ctx.args[i + 1].c_str());
    else if (k == "--entries") entries = std::atoll(ctx.args[i + 1].c_str());
    else if (k == "--days") days = std::atoi(ctx.args[i + 1].c_str());
    else if (k == "--out") out = ctx.args[i + 1];
    else return fmt::print(stderr, "fixtures: unknown option {} (--settlements N, --entries N, --days N, --out DIR, --keep-ledger)\n", k), 2;
  }
  if (settlements < days || entries < 1000 || days < 1)
    return fmt::print(stderr, "fixtures: --settlements must be at least --days ({}), --entries at least 1000\n", days), 2;
  if (std::filesystem::exists(out + "/fixtures.json") && !keep_ledger)
    return fmt::print(stderr, "fixtures: {} holds fixtures already; remove it first\n", out), 2;
  std::error_code ec;
  std::filesystem::create_directories(out + "/data", ec);
  const std::string ledger_path = out + "/data/ledger.db", redlist_path = out + "/data/redlist.db";
  // SQLite's large blocks of a bulk INSERT ... SELECT into a table with
  // triggers: without these glibc maps and unmaps them for every row
  // (measured: 20,000 requests with their chain entries 33 s, with them 1 s).
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  std::int64_t per_day = (settlements + days - 1) / days;
  const std::int64_t first_ms = day0_ms(days);
  // The start (08:00) of the settlements' last day.
  const auto last_day_ms = [&] { return first_ms + ((settlements - 1) / per_day) * 86'400'000; };
  double ledger_s = 0, redlist_s = 0, analyze_s = 0;
  try {
    if (keep_ledger) {
      if (!std::filesystem::exists(ledger_path)) throw std::runtime_error(ledger_path + " is missing (--keep-ledger)");
      auto db = ledger::open_connection(ledger_path, sql::OpenMode::read_write);
      if (!db) throw std::runtime_error(db.error().message);
      auto count = db->query_int64("SELECT max(setl_id) FROM settlements");
      if (!count) throw std::runtime_error(count.error().message);
      settlements = count->value_or(0);
      per_day = (settlements + days - 1) / days;
      // A ledger made before the fixtures carried their night's checkpoint.
      auto signed_ = db->query_int64("SELECT count(*) FROM chain_checkpoints WHERE reason = 'reconciliation'");
      if (!signed_) throw std::runtime_error(signed_.error().message);
      if (signed_->value_or(0) == 0)
        reconciled_checkpoint(*db, out, last_day_ms());
      std::filesystem::remove(redlist_path, ec);
    }
    const auto t0 = Clock::now();
    if (!keep_ledger) {
    // The schema as the daemon makes it, with the operators the growth and
    // soak stacks log in as (their initial password as the stacks have it).
    std::ofstream(out + "/initial-password") << "Init-" << stack::password << "\n";
    for (const auto& [name, role] : {std::pair{"c001", "cashier"}, std::pair{"c002", "cashier"}, std::pair{"s001", "supervisor"}})
      stack::run_tool({SETTLE_SETTLECTL_BINARY, "operator", "add", "--ledger", ledger_path, "--name", name, "--role",
                       role, "--initial-password-file", out + "/initial-password"},
                      out + "/settlectl.out");
    auto db = ledger::open_connection(ledger_path, sql::OpenMode::read_write);
    if (!db) throw std::runtime_error(db.error().message);
    // Bulk rows: the fixture's 2207 messages stand for the three a settlement makes.
    check(db->exec("PRAGMA foreign_keys = OFF; PRAGMA cache_size = -262144; PRAGMA synchronous = NORMAL"), "pragma");
    const std::int64_t batch = 100'000;
    const std::vector<const char*> inserts{kRequests, kMessages, kSettlements, kLines, kAudit};
    std::vector<sql::Statement> stmts;
    std::vector<double> per_table(inserts.size(), 0.0);
    for (const char* s : inserts) {
      auto st = db->prepare(std::string(kNumbers) + s);
      if (!st) throw std::runtime_error(fmt::format("prepare: {}", st.error().message));
      stmts.push_back(std::move(*st));
    }
    for (std::int64_t first = 1; first <= settlements; first += batch) {
      const std::int64_t last = std::min(settlements, first + batch - 1);
      auto tx = sql::Transaction::begin(*db);
      if (!tx) throw std::runtime_error(tx.error().message);
      for (std::size_t k = 0; k < stmts.size(); ++k) {
        const auto s0 = Clock::now();
        check(stmts[k].bind_all(first, last, first_ms, per_day), "bind");
        check(stmts[k].run(), "bulk insert");
        stmts[k].reset();
        per_table[k] += since(s0);
      }
      check(tx->commit(), "commit");
      if ((last / batch) % 5 == 0 || last == settlements)
        fmt::print(stderr, "  ledger: {} of {} settlements ({:.0f} s; requests, messages, settlements, lines, audit: {:.0f} s)\n",
                   last, settlements, since(t0), fmt::join(per_table, ", "));
    }
    const auto a0 = Clock::now();
    check(db->exec("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)"), "analyze");
    analyze_s = since(a0);
    reconciled_checkpoint(*db, out, last_day_ms());
    ledger_s = since(t0);
    }
    redlist_s = fixtures::make_redlist(redlist_path, entries);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fixtures: {}\n  (files in {})\n", e.what(), out);
    return 2;
  }
  const auto ledger_bytes = std::filesystem::file_size(ledger_path, ec);
  const auto redlist_bytes = std::filesystem::file_size(redlist_path, ec);
  const std::string first_day = date_of(first_ms), last_day = date_of(last_day_ms());
  const json::Json info{{"settlements", settlements}, {"redlist_entries", entries}, {"days", days},
                        {"per_day", per_day}, {"first_day", first_day}, {"last_day", last_day},
                        {"schema_version", ledger::current_schema_version()}, {"ledger_bytes", ledger_bytes},
                        {"redlist_bytes", redlist_bytes}, {"ledger_s", ledger_s}, {"analyze_s", analyze_s},
                        {"redlist_s", redlist_s}};
  std::ofstream(out + "/fixtures.json") << info.dump(2) << "\n";
  if (ctx.json) {
    fmt::print("{}\n", json::Json{{"section", "fixtures"}, {"dir", out}, {"info", info}}.dump());
    return 0;
  }
  fmt::print("  {}: ledger {} settlements ({} to {}, {}/day; schema v{}) {:.2f} GiB in {:.0f} s (ANALYZE {:.0f} s);\n"
             "  red list {} entries {:.2f} GiB in {:.0f} s\n\n",
             out, settlements, first_day, last_day, per_day, ledger::current_schema_version(),
             static_cast<double>(ledger_bytes) / (1 << 30), ledger_s, analyze_s, entries,
             static_cast<double>(redlist_bytes) / (1 << 30), redlist_s);
  return 0;
}

}  // namespace

SETTLE_BENCH_SECTION("fixtures",
                     "make the large fixtures once: 20 M red list, 10 M-settlement ledger (-- --settlements N --entries N --out DIR)",
                     run_fixtures);

}  // namespace settle::bench
