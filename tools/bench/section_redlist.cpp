// bench redlist: the red list at N entries (default 1,000,000; `-- --entries
// 20000000` for the long run). In one run, in one scratch directory:
// a full sync through redlist::Store (each 9303 reply body decoded as the
// daemon decodes it, envelope and output, then applied; the insurer's side,
// building the bodies, is not timed) against a raw bulk load of the same rows
// (one transaction, one prepared INSERT into a WITHOUT ROWID table); then
// lookups of random cards through Store::lookup against a raw primary-key
// SELECT on the same file; then the process's anonymous RSS with the list
// open and looked up. Targets: sync <= 1.5x raw, lookup p50 and p99 <= 2x
// raw, RssAnon <= 64 MiB. Last, the same sync and lookups on a list encrypted
// at rest: the encryption's cost beside the plain figures (no target).
#include "offline/redlist.hpp"
#include "offline/sqlite.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/insurer/redlist_fast.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/fixtures.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace settle::bench {
namespace {

constexpr std::int64_t kPageSize = 1000;  // the insurer's maximum page

insurer::RedListEntry entry_of(std::int64_t n) {
  PersonFlags flags;
  if (n % 97 == 0) flags.set(PersonFlag::unit_arrears);
  return insurer::RedListEntry{fmt::format("G{:08}", n), fmt::format("11{:014}", n), n % 10 < 7 ? "310" : "390",
                               flags, Amount::fen((n * 37) % 150'000), Amount::fen((n * 53) % 3'000'000), "upsert"};
}

// Page `num` (1-based) of a full snapshot of n entries, as the insurer's reply body.
std::string page_body(std::int64_t num, std::int64_t n, const std::string& msgid) {
  insurer::RedList::Output out;
  out.since_version = 0;
  out.version = 42;
  out.page_num = num;
  out.total = n;
  const std::int64_t first = (num - 1) * kPageSize + 1, last = std::min(n, num * kPageSize);
  for (std::int64_t i = first; i <= last; ++i) out.entries.push_back(entry_of(i));
  out.more = last < n;
  return insurer::encode_ok_reply(msgid, out.encode(), 0, 0);
}

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::int64_t rss_anon_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::atoll(line.c_str() + 8);
  return -1;
}

double pct_us(std::vector<std::int64_t>& ns, double p) {
  if (ns.empty()) return 0;
  std::sort(ns.begin(), ns.end());
  const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(ns.size() - 1));
  return static_cast<double>(ns[i]) / 1000.0;
}

struct SyncFigures {
  double wall_s = 0;    // decode + apply (pipelined as in the daemon) + commit
  double decode_s = 0;  // decoding time on the decoding thread
  double apply_s = 0;   // Sync::add time on the applying thread
  double commit_s = 0;  // Sync::commit (fresh file made durable, swapped in)
};

// The store's full sync as the daemon runs it: page n+1 is decoded on one
// thread (the daemon's io thread) while page n is applied on another (its
// red-list worker), at most one page waiting. The bodies are built (the
// insurer's work, untimed) in batches of 64 pages before each timed batch.
Result<SyncFigures> store_sync(const std::string& path, std::int64_t n, sql::Key key = {}) {
  auto store = redlist::Store::open(path, std::move(key));
  if (!store) return store.error();
  SyncFigures f;
  auto sync = (*store)->begin_sync(true);
  if (!sync) return sync.error();
  std::mutex mu;
  std::condition_variable cv;
  std::deque<insurer::RedList::Output> queue;
  bool busy = false, quit = false;
  std::optional<Error> failed;
  Clock::duration applying{};
  std::thread worker([&] {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return quit || !queue.empty(); });
      if (queue.empty()) return;
      insurer::RedList::Output page = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      const auto a = Clock::now();
      Status st = (*sync)->add(page);
      const auto d = Clock::now() - a;
      lock.lock();
      applying += d;
      if (!st && !failed) failed = st.error();
      busy = false;
      cv.notify_all();
    }
  });
  const std::int64_t pages = (n + kPageSize - 1) / kPageSize;
  Clock::duration wall{}, decoding{};
  std::vector<std::pair<std::string, std::string>> batch;  // msgid, body
  for (std::int64_t p = 1; p <= pages && !failed;) {
    batch.clear();
    for (std::int64_t k = 0; k < 64 && p + k <= pages; ++k) {
      const std::string msgid = fmt::format("H11010500001{:014}{:04}", p + k, (p + k) % 10000);
      batch.emplace_back(msgid, page_body(p + k, n, msgid));
    }
    const auto t0 = Clock::now();
    for (const auto& [msgid, body] : batch) {
      const auto a = Clock::now();
      auto page = insurer::decode_red_list_reply(body, msgid);
      decoding += Clock::now() - a;
      if (!page) return page.error();
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return queue.empty() || failed; });  // one page waiting at most
      queue.push_back(std::move(*page));
      cv.notify_all();
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return (queue.empty() && !busy) || failed; });
    }
    wall += Clock::now() - t0;
    p += static_cast<std::int64_t>(batch.size());
  }
  {
    std::lock_guard lock(mu);
    quit = true;
    cv.notify_all();
  }
  worker.join();
  if (failed) return *failed;
  const auto c0 = Clock::now();
  auto info = (*sync)->commit(1);
  if (!info) return info.error();
  sync->reset();
  const auto commit = Clock::now() - c0;
  f.wall_s = secs(wall + commit);
  f.decode_s = secs(decoding);
  f.apply_s = secs(applying);
  f.commit_s = secs(commit);
  return f;
}

// The raw limit: the same rows, one transaction, one prepared INSERT.
Result<double> raw_load(const std::string& path, std::int64_t n) {
  auto db = sql::Db::open(path, {.vfs = std::string(kBareVfs)});
  if (!db) return make_error(Reason::storage_failed, path, db.error().message);
  if (auto s = db->exec("PRAGMA cache_size=-16384; CREATE TABLE entries(card_no TEXT PRIMARY KEY, psn_no TEXT NOT NULL, "
                        "insutype TEXT NOT NULL, flags INTEGER NOT NULL, deductible_used INTEGER NOT NULL, "
                        "fund_paid_ytd INTEGER NOT NULL) WITHOUT ROWID");
      !s)
    return make_error(Reason::storage_failed, path, s.error().message);
  Clock::duration timed{};
  auto t0 = Clock::now();
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return make_error(Reason::storage_failed, path, tx.error().message);
  auto st = db->prepare("INSERT INTO entries VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st) return make_error(Reason::storage_failed, path, st.error().message);
  timed += Clock::now() - t0;
  std::vector<insurer::RedListEntry> rows;
  for (std::int64_t first = 1; first <= n; first += kPageSize) {
    rows.clear();
    for (std::int64_t i = first; i <= std::min(n, first + kPageSize - 1); ++i) rows.push_back(entry_of(i));
    const auto a = Clock::now();
    for (const auto& e : rows) {
      if (!st->bind_all(e.card_no, e.psn_no, e.insutype, static_cast<std::int64_t>(e.flags.bits()),
                        e.deductible_used.fen(), e.fund_paid_ytd.fen()) ||
          !st->run())
        return make_error(Reason::storage_failed, path, "raw insert failed");
      st->reset();
    }
    timed += Clock::now() - a;
  }
  t0 = Clock::now();
  if (auto c = tx->commit(); !c) return make_error(Reason::storage_failed, path, c.error().message);
  timed += Clock::now() - t0;
  return secs(timed);
}

int run_redlist(const Context& ctx) {
  std::int64_t n = 1'000'000;
  for (std::size_t i = 0; i + 1 < ctx.args.size(); ++i)
    if (ctx.args[i] == "--entries") n = std::atoll(ctx.args[i + 1].c_str());
  if (n < 1000) {
    fmt::print(stderr, "bench redlist: --entries must be at least 1000\n");
    return 2;
  }
  ScratchDir dir(ctx, "bench-redlist");
  const std::string fs = filesystem_type(dir.path());
  const std::string store_path = dir.file("redlist.db"), raw_path = dir.file("raw.db");
  const std::int64_t rss_start = rss_anon_kib();

  // 1. Full sync vs raw bulk load (raw first, then the store; both from cold files).
  auto raw_s = raw_load(raw_path, n);
  if (!raw_s) return fmt::print(stderr, "raw load: {}\n", raw_s.error().message), 2;
  auto figs = store_sync(store_path, n);
  if (!figs) return fmt::print(stderr, "store sync: {}\n", figs.error().message), 2;
  const double sync_wall = figs->wall_s;
  const double* sync_s = &sync_wall;
  std::error_code ec;
  const auto store_bytes = std::filesystem::file_size(store_path, ec);
  const auto raw_bytes = std::filesystem::file_size(raw_path, ec);
  std::filesystem::remove(raw_path, ec);

  // 2. Lookups: the store vs a raw primary-key SELECT on the same file, in alternating slices.
  const auto open_t0 = Clock::now();
  auto store = redlist::Store::open(store_path);
  const double open_s = secs(Clock::now() - open_t0);
  if (!store) return fmt::print(stderr, "store open: {}\n", store.error().message), 2;
  auto raw = sql::Db::open(store_path, {.mode = sql::OpenMode::read_only});
  if (!raw) return fmt::print(stderr, "raw open: {}\n", raw.error().message), 2;
  auto raw_st = raw->prepare(
      "SELECT psn_no, insutype, flags, deductible_used, fund_paid_ytd FROM entries WHERE card_no = ?1");
  if (!raw_st) return fmt::print(stderr, "raw prepare: {}\n", raw_st.error().message), 2;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> pick(1, n);
  std::vector<std::int64_t> store_ns, raw_ns;
  std::int64_t misses = 0;
  const int slices = std::max(2, static_cast<int>(ctx.seconds / 0.25));
  const auto slice = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ctx.seconds / slices));
  std::string card;
  for (int k = 0; k < slices; ++k) {
    for (int which = 0; which < 2; ++which) {
      const auto end = Clock::now() + slice;
      while (Clock::now() < end) {
        card = fmt::format("G{:08}", pick(rng));
        const auto a = Clock::now();
        bool found = false;
        if (which == 0) {
          auto r = (*store)->lookup(card);
          found = r && r->has_value();
        } else {
          (void)raw_st->bind(1, card);
          auto r = raw_st->step();
          found = r && *r;
          if (found) {
            // Read the row as the store does.
            std::string psn = raw_st->column_text(0), ins = raw_st->column_text(1);
            found = !psn.empty() && !ins.empty() && raw_st->column_int64(3) >= 0;
          }
          raw_st->reset();
        }
        (which == 0 ? store_ns : raw_ns)
            .push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - a).count());
        if (!found) ++misses;
      }
    }
  }
  const std::size_t lookups = store_ns.size() + raw_ns.size();
  const double s50 = pct_us(store_ns, 50), s99 = pct_us(store_ns, 99), r50 = pct_us(raw_ns, 50),
               r99 = pct_us(raw_ns, 99);
  const std::size_t store_count = store_ns.size(), raw_count = raw_ns.size();
  std::vector<std::int64_t>().swap(store_ns);
  std::vector<std::int64_t>().swap(raw_ns);
  const std::int64_t rss = rss_anon_kib();
  if (misses > 0) return fmt::print(stderr, "bench redlist: {} lookups found nothing\n", misses), 2;

  // 3. The same list encrypted at rest: its full sync and its lookups.
  const sql::Key key = bench_storage_key();
  if (!key) return 2;
  const std::string enc_path = dir.file("redlist-enc.db");
  auto enc_figs = store_sync(enc_path, n, key);
  if (!enc_figs) return fmt::print(stderr, "encrypted store sync: {}\n", enc_figs.error().message), 2;
  auto enc_store = redlist::Store::open(enc_path, key);
  if (!enc_store) return fmt::print(stderr, "encrypted store open: {}\n", enc_store.error().message), 2;
  std::vector<std::int64_t> enc_ns;
  {
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ctx.seconds / 2));
    while (Clock::now() < end) {
      card = fmt::format("G{:08}", pick(rng));
      const auto a = Clock::now();
      auto r = (*enc_store)->lookup(card);
      enc_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - a).count());
      if (!r || !r->has_value()) ++misses;
    }
  }
  if (misses > 0) return fmt::print(stderr, "bench redlist: {} encrypted lookups found nothing\n", misses), 2;
  const std::size_t enc_count = enc_ns.size();
  const double e50 = pct_us(enc_ns, 50), e99 = pct_us(enc_ns, 99);
  const double enc_sync = enc_figs->wall_s;

  std::vector<Target> targets{
      {"full sync (decode + apply) vs raw bulk load", *sync_s / *raw_s, "<=", 1.5},
      {"lookup p50 vs raw primary-key SELECT p50", s50 / r50, "<=", 2.0},
      {"lookup p99 vs raw primary-key SELECT p99", s99 / r99, "<=", 2.0},
  };
  const Target rss_target{"RssAnon with the list open and looked up (MiB)", static_cast<double>(rss) / 1024.0, "<=", 64};
  bool pass = rss_target.pass();
  for (const auto& t : targets) pass = pass && t.pass();
  if (ctx.json) {
    fmt::print(
        R"({{"section":"redlist","dir":"{}","fs":"{}","entries":{},"sync_s":{:.3f},"decode_s":{:.3f},"raw_load_s":{:.3f},)"
        R"("apply_s":{:.3f},"commit_s":{:.3f},"store_bytes":{},"raw_bytes":{},"open_s":{:.3f},"lookups":{},"lookup_p50_us":{:.2f},"lookup_p99_us":{:.2f},)"
        R"("raw_p50_us":{:.2f},"raw_p99_us":{:.2f},"rss_anon_kib":{},"rss_anon_start_kib":{},)"
        R"("encrypted":{{"sync_s":{:.3f},"lookups":{},"lookup_p50_us":{:.2f},"lookup_p99_us":{:.2f},"sync_ratio":{:.2f},"p50_ratio":{:.2f}}},"targets":[)",
        dir.path(), fs, n, *sync_s, figs->decode_s, *raw_s, figs->apply_s, figs->commit_s, store_bytes, raw_bytes, open_s, lookups, s50, s99, r50, r99, rss,
        rss_start, enc_sync, enc_count, e50, e99, enc_sync / *sync_s, e50 / s50);
    for (std::size_t i = 0; i < targets.size(); ++i)
      fmt::print(R"({}{{"what":"{}","ratio":{:.2f},"op":"{}","limit":{},"pass":{}}})", i ? "," : "", targets[i].what,
                 targets[i].value, targets[i].op, targets[i].limit, targets[i].pass());
    fmt::print(R"(],"pass":{}}})"
               "\n",
               pass);
    return pass ? 0 : 1;
  }
  fmt::print("  scratch dir {} ({}), {} entries, pages of {}, SQLite {}\n\n", dir.path(), fs, n, kPageSize,
             sql::library_version());
  print_table({{"measurement", "value"},
               {"raw bulk load (1 transaction, prepared INSERT)", fmt::format("{:.2f} s ({:.0f} rows/s)", *raw_s, static_cast<double>(n) / *raw_s)},
               {"store full sync (decode | apply, then commit)", fmt::format("{:.2f} s ({:.0f} rows/s)", *sync_s, static_cast<double>(n) / *sync_s)},
               {"  decoding 9303 bodies (decoding thread)", fmt::format("{:.2f} s", figs->decode_s)},
               {"  applying pages (applying thread)", fmt::format("{:.2f} s", figs->apply_s)},
               {"  commit (fsync, swap)", fmt::format("{:.2f} s", figs->commit_s)},
               {"file size store / raw", fmt::format("{:.1f} / {:.1f} MiB", static_cast<double>(store_bytes) / 1048576.0,
                                                     static_cast<double>(raw_bytes) / 1048576.0)},
               {"store open (with quick_check)", fmt::format("{:.2f} s", open_s)},
               {"lookups store / raw", fmt::format("{} / {}", store_count, raw_count)},
               {"lookup p50 / p99 store", fmt::format("{:.2f} / {:.2f} us", s50, s99)},
               {"lookup p50 / p99 raw SELECT", fmt::format("{:.2f} / {:.2f} us", r50, r99)},
               {"RssAnon at start / after", fmt::format("{:.1f} / {:.1f} MiB", static_cast<double>(rss_start) / 1024.0, static_cast<double>(rss) / 1024.0)},
               {"encrypted: full sync", fmt::format("{:.2f} s ({:.0f} rows/s), {:.2f}x plain", enc_sync,
                                                    static_cast<double>(n) / enc_sync, enc_sync / *sync_s)},
               {"encrypted: lookups, p50 / p99", fmt::format("{}, {:.2f} / {:.2f} us, p50 {:.2f}x plain", enc_count, e50,
                                                             e99, e50 / s50)}});
  fmt::print("\n");
  print_targets(targets);
  print_targets({rss_target}, " MiB");
  return pass ? 0 : 1;
}

}  // namespace

// The pages given to the store's sync as decoded (no reply bodies built and
// decoded: this is a fixture, not a measurement).
double fixtures::make_redlist(const std::string& path, std::int64_t n) {
  const auto t0 = Clock::now();
  auto store = redlist::Store::open(path);
  if (!store) throw std::runtime_error(fmt::format("red list {}: {}", path, store.error().message));
  auto sync = (*store)->begin_sync(true);
  if (!sync) throw std::runtime_error(fmt::format("red list {}: {}", path, sync.error().message));
  const std::int64_t pages = (n + kPageSize - 1) / kPageSize;
  for (std::int64_t num = 1; num <= pages; ++num) {
    insurer::RedList::Output out;
    out.version = 42;
    out.page_num = num;
    out.total = n;
    const std::int64_t first = (num - 1) * kPageSize + 1, last = std::min(n, num * kPageSize);
    for (std::int64_t i = first; i <= last; ++i) out.entries.push_back(entry_of(i));
    out.more = last < n;
    if (auto st = (*sync)->add(out); !st) throw std::runtime_error(fmt::format("red list {}: {}", path, st.error().message));
  }
  if (auto info = (*sync)->commit(1); !info) throw std::runtime_error(fmt::format("red list {}: {}", path, info.error().message));
  return secs(Clock::now() - t0);
}

SETTLE_BENCH_SECTION("redlist", "red list: full sync vs raw bulk load, lookups vs raw SELECT, RssAnon (-- --entries N)",
                     run_redlist);

}  // namespace settle::bench
