// bench ledger: what group commit buys on this disk. In one run, in one
// scratch directory: raw SQLite one-insert-per-transaction commits (WAL,
// synchronous=FULL: the physical fsync limit) and the ledger's durable
// commits (record_request through the group-commit writer) with 1 writer,
// alternating in short slices, then 32 concurrent writers: as settled
// submits them (32 jobs in flight from one thread, completions handed back
// to it) and as 32 blocking threads. Targets: 32 writers (as settled) >= 3x
// the raw commit rate; 1 writer p50 <= 1.5x the raw p50. And what the hash
// chain costs: a settlement's commit (request, settlement with 5 lines,
// answer, audit entry) with its chain entries against the same commit in a
// ledger whose chain triggers were dropped, alternating (reported: the
// ledger's targets above are what the chain must keep).
// The same ledger encrypted at rest (1 writer in the same slices, 32 as
// settled) gives the encryption's cost beside the plain figures.
#include "offline/ledger.hpp"
#include "offline/sqlite.hpp"
#include "offline/storage_key.hpp"
#include "tools/bench/bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace settle::bench {
namespace {

struct Run {
  std::string name;
  int threads = 1;
  std::int64_t commits = 0;
  double seconds = 0;
  Latencies lat;
  std::uint64_t transactions = 0;  // ledger runs: COMMITs the writer made
  double rate() const { return seconds > 0 ? static_cast<double>(commits) / seconds : 0; }
};

// Runs op(thread, i) from `threads` threads for `seconds`; each op is one
// durable commit. Adds to run's totals; returns false if an op failed.
bool measure(Run& run, double seconds, const std::function<bool(int, std::int64_t)>& op) {
  std::atomic<bool> ok{true};
  std::atomic<std::int64_t> commits{0};
  std::mutex mu;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < run.threads; ++t)
      workers.emplace_back([&, t] {
        Latencies mine;
        for (std::int64_t i = 0; ok && Clock::now() < end; ++i) {
          const auto t0 = Clock::now();
          if (!op(t, i)) {
            ok = false;
            break;
          }
          mine.add(Clock::now() - t0);
          commits++;
        }
        std::lock_guard lock(mu);
        run.lat.us.insert(run.lat.us.end(), mine.us.begin(), mine.us.end());
      });
  }
  run.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  run.commits += commits;
  return ok;
}

using Op = std::function<bool(int, std::int64_t)>;

// Raw SQLite: one INSERT per IMMEDIATE transaction, WAL, synchronous=FULL.
class RawSqlite {
 public:
  bool open(const std::string& path) {
    auto db = sql::Db::open(path, {.vfs = std::string(kBareVfs)});
    if (!db) return fmt::print(stderr, "raw: {}\n", db.error().message), false;
    db_ = std::move(db).value();
    auto setup = db_.exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        "CREATE TABLE t(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)");
    if (!setup) return fmt::print(stderr, "raw: {}\n", setup.error().message), false;
    for (int i = 0; i < 20; ++i) commit(0, -1 - i);  // warm up (file growth, caches)
    return true;
  }
  bool commit(int, std::int64_t i) {
    auto tx = sql::Transaction::begin(db_, sql::TxKind::immediate);
    if (!tx) return false;
    auto st = db_.cached("INSERT INTO t(request_id, payload) VALUES(?1, ?2)");
    if (!st || !(*st)->bind_all(fmt::format("raw-{}", i), "payload-hash").ok() || !(*st)->run().ok()) return false;
    return tx->commit().ok();
  }

 private:
  sql::Db db_;
};

// The ledger: record_request through the group-commit writer, waiting for
// durability, from any number of threads.
class LedgerBench {
 public:
  bool open(const std::string& path, sql::Key key = {}) {
    ledger::LedgerOptions lo;
    lo.key = std::move(key);
    auto l = ledger::Ledger::open(path, lo);
    if (!l) return fmt::print(stderr, "ledger: {}\n", l.error().message), false;
    ledger_ = std::move(l).value();
    for (int i = 0; i < 20; ++i) commit(999, i);  // warm up
    return true;
  }
  bool commit(int t, std::int64_t i) {
    ledger::Request r;
    r.request_id = fmt::format("w{}-{}", t, i);
    r.method = "settle.commit";
    r.payload_hash = "payload-hash";
    r.created_at_ms = i;
    auto out = ledger_->write_wait([r](sql::Db& db) { return ledger::record_request(db, r); });
    if (!out) fmt::print(stderr, "ledger: {}\n", out.error().message);
    return out.ok();
  }
  std::uint64_t transactions() const { return ledger_->writer_stats().transactions; }

  // `in_flight` writers as settled runs them: one thread submits, each
  // completion is handed back to that thread (settled posts it to its
  // io_context), which records it and submits that writer's next commit.
  bool in_flight_from_one_thread(Run& run, int in_flight, double seconds) {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<int, bool>> done;  // writer, ok
    std::vector<Clock::time_point> started(static_cast<std::size_t>(in_flight));
    std::vector<std::int64_t> next(static_cast<std::size_t>(in_flight), 0);
    const auto submit = [&](int w) {
      ledger::Request r;
      r.request_id = fmt::format("f{}-{}", w, next[static_cast<std::size_t>(w)]++);
      r.method = "settle.commit";
      r.payload_hash = "payload-hash";
      r.created_at_ms = next[static_cast<std::size_t>(w)];
      started[static_cast<std::size_t>(w)] = Clock::now();
      ledger_->write([r](sql::Db& db) { return ledger::record_request(db, r); },
                     [&mu, &cv, &done, w](const sql::Result<ledger::RecordedRequest>& out) {
                       {
                         std::lock_guard lock(mu);
                         done.emplace_back(w, out.ok());
                       }
                       cv.notify_one();
                     });
    };
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (int w = 0; w < in_flight; ++w) submit(w);
    int outstanding = in_flight;
    bool ok = true;
    std::deque<std::pair<int, bool>> mine;
    while (outstanding > 0) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !done.empty(); });
        mine.swap(done);
      }
      const auto now = Clock::now();
      for (const auto& [w, good] : mine) {
        --outstanding;
        ok = ok && good;
        run.lat.add(now - started[static_cast<std::size_t>(w)]);
        run.commits++;
        if (ok && now < end) {
          submit(w);
          ++outstanding;
        }
      }
      mine.clear();
    }
    run.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    return ok;
  }

  // A settlement as settled commits it: request, settlement with 5 lines,
  // stored answer, audit entry (and their chain entries unless dropped).
  bool settle(int, std::int64_t i) {
    auto out = ledger_->write_wait([i](sql::Db& db) -> sql::Result<std::int64_t> {
      ledger::Request r;
      r.request_id = fmt::format("s-{}", i);
      r.method = "settle.commit";
      r.payload_hash = "payload-hash";
      r.operator_id = "c001";
      r.window_id = "W01";
      r.created_at_ms = 1'700'000'000'000 + i;
      auto q = ledger::record_request(db, r);
      if (!q) return q.error();
      ledger::Settlement st;
      st.request_id = r.request_id;
      st.window_id = "W01";
      st.operator_id = "c001";
      st.card_no = "110101199001011234";
      st.psn_no = "11000019900101123400";
      st.insutype = "310";
      st.total = Amount::fen(50'000);
      st.fund = Amount::fen(30'000);
      st.account = Amount::fen(15'000);
      st.cash = Amount::fen(5'000);
      st.inscp = st.total;
      st.receipt_no = "R-" + r.request_id;
      st.created_at_ms = r.created_at_ms;
      st.clearing_date = "2026-12-03";
      std::vector<ledger::SettlementLine> lines;
      for (int k = 0; k < 5; ++k)
        lines.push_back({fmt::format("A00{}", k), "item", ledger::LineClass::a, Amount::fen(10'000), Ratio::ppm(0)});
      auto setl = ledger::record_settlement(db, st, lines);
      if (!setl) return setl.error();
      SETTLE_SQL_TRY(ledger::answer_request(db, r.request_id, R"({"setl_id":"1","total":"500.00"})",
                                            r.created_at_ms + 1));
      ledger::AuditEntry a;
      a.at_ms = r.created_at_ms + 1;
      a.operator_name = "c001";
      a.window = "W01";
      a.action = "settle.commit";
      a.detail = "settled 500.00";
      return ledger::append_audit(db, a);
    });
    if (!out) fmt::print(stderr, "ledger: {}\n", out.error().message);
    return out.ok();
  }

  // The same ledger without its chain: the chain's triggers dropped.
  bool drop_chain(const std::string& path) {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_write});
    if (!db) return false;
    auto names = db->prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name GLOB 'chain_*'");
    if (!names) return false;
    std::vector<std::string> all;
    while (true) {
      auto r = names->step();
      if (!r) return false;
      if (!*r) break;
      all.push_back(names->column_text(0));
    }
    names = db->prepare("SELECT 1");
    for (const auto& n : all)
      if (!db->exec("DROP TRIGGER " + n)) return false;
    return !all.empty();
  }

 private:
  std::unique_ptr<ledger::Ledger> ledger_;
};

int run_ledger(const Context& ctx) {
  ScratchDir dir(ctx, "bench-ledger");
  const std::string fs = filesystem_type(dir.path());
  std::vector<Run> runs(8);
  runs[0].name = "raw SQLite, 1 insert per transaction";
  runs[1].name = "ledger, 1 writer";
  runs[2].name = "ledger, 32 writers (as settled: 1 thread)";
  runs[2].threads = 32;
  runs[3].name = "ledger, 32 writers (32 blocking threads)";
  runs[3].threads = 32;
  runs[4].name = "encrypted ledger, 1 writer";
  runs[5].name = "encrypted ledger, 32 writers (as settled)";
  runs[5].threads = 32;
  runs[6].name = "settlement commit, hash chain";
  runs[7].name = "settlement commit, chain triggers dropped";
  const sql::Key key = bench_storage_key();
  if (!key) return 2;
  RawSqlite raw_db;
  LedgerBench one, many, threads, enc_one, enc_many, chained, unchained;
  if (!raw_db.open(dir.file("raw.db")) || !one.open(dir.file("ledger-1.db")) || !many.open(dir.file("ledger-32.db")) ||
      !threads.open(dir.file("ledger-32t.db")) || !enc_one.open(dir.file("ledger-1e.db"), key) ||
      !enc_many.open(dir.file("ledger-32e.db"), key) || !chained.open(dir.file("ledger-chain.db")) ||
      !unchained.open(dir.file("ledger-nochain.db")) || !unchained.drop_chain(dir.file("ledger-nochain.db")))
    return 2;
  // Raw and 1 writer alternate in short slices, so that a neighbour's I/O
  // burst or a drift of the disk weighs on both alike.
  const int slices = std::max(1, static_cast<int>(ctx.seconds / 0.25));
  const double slice = ctx.seconds / slices;
  const std::uint64_t one_before = one.transactions();
  const std::uint64_t enc_one_before = enc_one.transactions();
  for (int k = 0; k < slices; ++k) {
    const std::int64_t base = static_cast<std::int64_t>(k) << 32;  // unique ids across slices
    if (!measure(runs[0], slice, [&](int t, std::int64_t i) { return raw_db.commit(t, base + i); }) ||
        !measure(runs[1], slice, [&](int t, std::int64_t i) { return one.commit(t, base + i); }) ||
        !measure(runs[4], slice, [&](int t, std::int64_t i) { return enc_one.commit(t, base + i); }))
      return 2;
  }
  runs[1].transactions = one.transactions() - one_before;
  runs[4].transactions = enc_one.transactions() - enc_one_before;
  const std::uint64_t many_before = many.transactions();
  if (!many.in_flight_from_one_thread(runs[2], 32, ctx.seconds)) return 2;
  runs[2].transactions = many.transactions() - many_before;
  const std::uint64_t threads_before = threads.transactions();
  if (!measure(runs[3], ctx.seconds, [&](int t, std::int64_t i) { return threads.commit(t, i); })) return 2;
  runs[3].transactions = threads.transactions() - threads_before;
  const std::uint64_t enc_many_before = enc_many.transactions();
  if (!enc_many.in_flight_from_one_thread(runs[5], 32, ctx.seconds)) return 2;
  runs[5].transactions = enc_many.transactions() - enc_many_before;
  // The hash chain's cost and the encryption's: informative, no target.
  const double cost_rate = runs[5].rate() / runs[2].rate();
  const double cost_p50 = runs[4].lat.percentile_ms(50) / runs[1].lat.percentile_ms(50);
  // The hash chain's cost: a settlement's commit with and without it, alternating.
  for (int k = 0; k < slices; ++k) {
    const std::int64_t base = static_cast<std::int64_t>(k) << 32;
    if (!measure(runs[6], slice, [&](int t, std::int64_t i) { return chained.settle(t, base + i); }) ||
        !measure(runs[7], slice, [&](int t, std::int64_t i) { return unchained.settle(t, base + i); }))
      return 2;
  }
  const double chain_p50 = runs[6].lat.percentile_ms(50) / runs[7].lat.percentile_ms(50);
  const double chain_extra_ms = runs[6].lat.percentile_ms(50) - runs[7].lat.percentile_ms(50);
  Run& raw = runs[0];
  const double raw_p50 = raw.lat.percentile_ms(50);
  std::vector<Target> targets{
      {"32 writers (as settled) commits/s vs raw", runs[2].rate() / raw.rate(), ">=", 3.0},
      {"1 writer p50 vs raw p50", runs[1].lat.percentile_ms(50) / raw_p50, "<=", 1.5},
  };
  bool pass = true;
  for (const auto& t : targets) pass = pass && t.pass();

  if (ctx.json) {
    std::string out = fmt::format(R"({{"section":"ledger","dir":"{}","fs":"{}","seconds":{},"runs":[)", dir.path(), fs,
                                  ctx.seconds);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      Run& r = runs[i];
      out += fmt::format(
          R"({}{{"name":"{}","threads":{},"commits":{},"commits_per_s":{:.1f},"p50_ms":{:.3f},"p99_ms":{:.3f},"transactions":{}}})",
          i ? "," : "", r.name, r.threads, r.commits, r.rate(), r.lat.percentile_ms(50), r.lat.percentile_ms(99),
          r.transactions);
    }
    out += R"(],"targets":[)";
    for (std::size_t i = 0; i < targets.size(); ++i)
      out += fmt::format(R"({}{{"what":"{}","ratio":{:.2f},"op":"{}","limit":{},"pass":{}}})", i ? "," : "",
                         targets[i].what, targets[i].value, targets[i].op, targets[i].limit, targets[i].pass());
    out += fmt::format(
        R"(],"encrypted_vs_plain":{{"commits_per_s_32":{:.2f},"p50_1":{:.2f}}},"chain_vs_none":{{"settlement_p50":{:.2f},"extra_ms":{:.3f}}},"pass":{}}})",
        cost_rate, cost_p50, chain_p50, chain_extra_ms, pass);
    fmt::print("{}\n", out);
    return pass ? 0 : 1;
  }

  fmt::print("  scratch dir {} ({}), {:.1f} s per measurement, SQLite {}\n\n", dir.path(), fs, ctx.seconds,
             sql::library_version());
  std::vector<std::vector<std::string>> rows{
      {"measurement", "commits", "commits/s", "p50 ms", "p99 ms", "jobs/COMMIT"}};
  for (Run& r : runs)
    rows.push_back({r.name, fmt::format("{}", r.commits), fmt::format("{:.0f}", r.rate()),
                    fmt::format("{:.3f}", r.lat.percentile_ms(50)), fmt::format("{:.3f}", r.lat.percentile_ms(99)),
                    r.transactions ? fmt::format("{:.1f}", static_cast<double>(r.commits) /
                                                               static_cast<double>(r.transactions))
                                   : "1.0"});
  print_table(rows);
  fmt::print("\n  encryption at rest: 32 writers {:.2f}x the plain commit rate, 1 writer p50 {:.2f}x the plain p50\n",
             cost_rate, cost_p50);
  fmt::print("  hash chain: a settlement's commit p50 {:.2f}x the same without the chain ({:+.3f} ms)\n\n", chain_p50,
             chain_extra_ms);
  print_targets(targets);
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("ledger", "durable commits: raw SQLite vs the group-commit ledger (1 and 32 writers)",
                     run_ledger);

}  // namespace settle::bench
