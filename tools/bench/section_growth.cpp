// Bench section "growth": what the large fixtures (`bench fixtures`: years
// of settlements, a 20 M red list) cost the daily paths: settle.commit p50,
// engine.status, settle.list of a day, closeout.preview of a shift and
// recon.run of a day, on a stack seeded with copies of the fixtures against
// the same stack on empty files, in one run (the two alternating with --rounds N);
// and where each stack's settlements spent their time inside settled.
#include "tools/bench/bench.hpp"
#include "tools/bench/fixtures.hpp"
#include "tools/bench/settle_stack.hpp"

#include <fmt/format.h>

#include <array>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace settle::bench {
namespace {

using namespace std::chrono_literals;
using namespace stack;

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string today_china() {
  const std::time_t t = std::time(nullptr) + 8 * 3600;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

// Until the start's deferred page checks are done (settled's "page-checks"
// thread, there after a clean stop, has ended) and settled has been (nearly)
// idle for 2 s. The checks alone are not enough to watch the CPU for: read
// from a cold disk they wait on it most of the time, below the idle mark,
// and the paths timed beside them share that disk. The seconds waited.
double wait_idle(SettleStack& st, double max_s) {
  const auto t0 = Clock::now();
  double before = st.cpu().settled;
  while (secs(Clock::now() - t0) < max_s) {
    std::this_thread::sleep_for(2s);
    const double now = st.cpu().settled;
    if (now - before < 0.1 && !st.threads().by_name.contains("page-checks")) break;  // < 5 % of a core
    before = now;
  }
  return secs(Clock::now() - t0);
}

// What settled read through the kernel (/proc/PID/io): its read calls, and
// the bytes of them that came from the disk, not the page cache.
struct Reads {
  double calls = 0, disk_bytes = 0;
  Reads& operator+=(const Reads& o) {
    calls += o.calls;
    disk_bytes += o.disk_bytes;
    return *this;
  }
  Reads since(const Reads& before) const { return Reads{calls - before.calls, disk_bytes - before.disk_bytes}; }
};

Reads reads_of(pid_t pid) {
  Reads r;
  std::ifstream io(fmt::format("/proc/{}/io", pid));
  std::string key;
  double value = 0;
  while (io >> key >> value) {
    if (key == "syscr:") r.calls = value;
    else if (key == "read_bytes:") r.disk_bytes = value;
  }
  return r;
}

struct Figures {
  double setup_s = 0, idle_wait_s = 0;
  Latencies settle, status, list, closeout, recon;
  // The timed settlements inside settled: its steps, its threads' CPU, its reads.
  SettleStack::Steps settle_steps;
  SettleStack::Threads settle_threads;
  Reads settle_reads;
  Latencies first_closeout;  // the preview of a cashier's first shift (no close-out of theirs before)
  double recon_first_ms = 0;
  std::string recon_failed;  // why recon.run was not measured
  std::int64_t listed = 0, closeout_items = 0, recon_rows = 0;
};

// Every sample a stack's run takes: the five paths and the first shift's close-out.
constexpr std::array<Latencies Figures::*, 6> kSamples{&Figures::settle,   &Figures::status, &Figures::list,
                                                       &Figures::closeout, &Figures::recon,  &Figures::first_closeout};

// The rounds' samples of each path together; the once-per-stack figures
// (set-up, idle wait, first recon.run) of the first round, the counts of the last.
Figures pooled(const std::vector<Figures>& rounds) {
  Figures all = rounds.front();
  for (std::size_t i = 1; i < rounds.size(); ++i) {
    const Figures& f = rounds[i];
    for (Latencies Figures::* m : kSamples) (all.*m).us.insert((all.*m).us.end(), (f.*m).us.begin(), (f.*m).us.end());
    all.settle_steps += f.settle_steps;
    all.settle_threads += f.settle_threads;
    all.settle_reads += f.settle_reads;
    all.listed = f.listed;
    all.closeout_items = f.closeout_items;
    all.recon_rows = f.recon_rows;
    if (all.recon_failed.empty()) all.recon_failed = f.recon_failed;
  }
  return all;
}

template <class F>
void repeat(Latencies& lat, int n, F&& f) {
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    f();
    lat.add(Clock::now() - t0);
  }
}

Figures measure(const std::string& dir, const StackOptions& opts, std::int64_t settlements) {
  Figures f;
  const auto t0 = Clock::now();
  SettleStack st(dir, opts);
  f.setup_s = secs(Clock::now() - t0);
  f.idle_wait_s = wait_idle(st, 900);
  const std::string day = today_china();
  std::atomic<std::int64_t> seq{0};
  std::vector<std::unique_ptr<Cashier>> one;
  one.push_back(open_window(st.socket(), 0));
  {
    Run warm;
    commits(warm, one, 0.3, seq, "online", 20);
  }
  Cashier& c = *one[0];
  // A cashier's first shift reads from the ledger's start; then a close-out
  // is recorded, and the shift measured below starts after it.
  repeat(f.first_closeout, 3, [&] { (void)c.call("closeout.preview"); });
  (void)c.call("closeout.record", Json{{"request_id", "bench-closeout-1"}});
  Run run;
  const auto steps0 = st.flow_steps();
  const auto threads0 = st.threads();
  const Reads reads0 = reads_of(st.daemon_pid());
  commits(run, one, 0, seq, "online", settlements);
  f.settle = run.lat;
  f.settle_steps = st.flow_steps().since(steps0);
  f.settle_threads = st.threads().since(threads0);
  f.settle_reads = reads_of(st.daemon_pid()).since(reads0);
  repeat(f.status, 200, [&] { (void)c.call("engine.status"); });
  repeat(f.list, 50, [&] {
    const Json r = c.call("settle.list", Json{{"from", day}, {"to", day}, {"limit", 100}});
    f.listed = static_cast<std::int64_t>(r.at("settlements").size());
  });
  repeat(f.closeout, 20, [&] {
    const Json r = c.call("closeout.preview");
    f.closeout_items = static_cast<std::int64_t>(r.at("items").size());
  });
  // recon.run walks the hash chain from the last reconciliation's checkpoint
  // (a fixture has none: the first walks it whole) and writes one.
  try {
    Cashier super(st.socket());
    super.call("session.login", Json{{"operator", "s001"}, {"password", password}, {"window", "W01"}});
    const auto r0 = Clock::now();
    (void)super.call("recon.run", Json{{"date", day}});
    f.recon_first_ms = secs(Clock::now() - r0) * 1000;
    repeat(f.recon, 20, [&] {
      const Json r = super.call("recon.run", Json{{"date", day}});
      f.recon_rows = r.value("local_rows", std::int64_t{0});
    });
  } catch (const std::exception& e) {
    f.recon_failed = e.what();
  }
  one.clear();
  st.stop();
  return f;
}

int run_growth(const Context& ctx) {
  std::string fixture_dir = ctx.dir + "/settle-fixtures";
  std::int64_t settlements = 300;
  int rounds = 1;
  for (std::size_t i = 0; i + 1 < ctx.args.size(); i += 2) {
    if (ctx.args[i] == "--fixtures") fixture_dir = ctx.args[i + 1];
    else if (ctx.args[i] == "--settlements") settlements = std::max<std::int64_t>(20, std::atoll(ctx.args[i + 1].c_str()));
    else if (ctx.args[i] == "--rounds") rounds = std::max(1, std::atoi(ctx.args[i + 1].c_str()));
    else
      return fmt::print(stderr, "growth: unknown option {} (--fixtures DIR, --settlements N, --rounds N)\n", ctx.args[i]),
             2;
  }
  ScratchDir scratch(ctx, "bench-growth");
  // With --rounds N the two stacks alternate N times (empty, fixtures, empty,
  // ...) and each path's samples of all rounds are pooled per stack: a
  // shared machine that is slower for some minutes then weighs on both.
  Figures empty, big;
  std::vector<Figures> empties, bigs;
  fixtures::Info info;
  try {
    info = fixtures::load(fixture_dir);
    StackOptions opts;
    opts.supervisor = true;
    opts.redlist_sync = false;
    opts.sim_sync = "normal";
    StackOptions seeded = opts;
    seeded.ledger_seed = info.ledger;
    seeded.redlist_seed = info.redlist;
    for (int r = 0; r < rounds; ++r) {
      const std::string e_dir = fmt::format("{}/empty{}", scratch.path(), r);
      const std::string b_dir = fmt::format("{}/fixtures{}", scratch.path(), r);
      empties.push_back(measure(e_dir, opts, settlements));
      bigs.push_back(measure(b_dir, seeded, settlements));
      std::filesystem::remove_all(b_dir);  // a copy of the fixtures at a time on the disk
    }
    empty = pooled(empties);
    big = pooled(bigs);
  } catch (const std::exception& e) {
    fmt::print(stderr, "growth: {}\n  (files in {})\n", e.what(), scratch.path());
    return 2;
  }
  struct Row {
    std::string what;
    Latencies Figures::* path;
    Latencies* e;
    Latencies* b;
  };
  const auto row = [&](std::string what, Latencies Figures::* path) {
    return Row{std::move(what), path, &(empty.*path), &(big.*path)};
  };
  std::vector<Row> rows{
      row(fmt::format("settle.commit p50 ({} settlements, 1 connection)", settlements), &Figures::settle),
      row("engine.status p50 (200 calls)", &Figures::status),
      row(fmt::format("settle.list of today p50 ({} rows, 50 calls)", big.listed), &Figures::list),
      row(fmt::format("closeout.preview of a shift after a close-out p50 ({} items, 20 calls)", big.closeout_items),
          &Figures::closeout),
      row(fmt::format("recon.run of today p50 ({} rows, 20 calls after a first)", big.recon_rows), &Figures::recon)};
  if (!big.recon_failed.empty() || !empty.recon_failed.empty()) {
    fmt::print("  recon.run not measured: {}{}\n", big.recon_failed, empty.recon_failed.empty() ? "" : " (empty: " + empty.recon_failed + ")");
    rows.pop_back();
  }
  std::vector<Target> targets;
  for (Row& r : rows) targets.push_back({r.what + ", fixtures vs empty", r.b->percentile_ms(50) / r.e->percentile_ms(50), "<=", 1.1});
  bool pass = true;
  for (const auto& t : targets) pass = pass && t.pass();
  if (ctx.json) {
    std::string out =
        fmt::format(R"({{"section":"growth","fixtures":"{}","settlements":{},"redlist_entries":{},"rounds":{},"rows":[)",
                    info.dir, info.settlements, info.entries, rounds);
    for (std::size_t i = 0; i < rows.size(); ++i)
      out += fmt::format(R"({}{{"what":"{}","empty_p50_ms":{:.3f},"empty_p99_ms":{:.3f},"fixtures_p50_ms":{:.3f},"fixtures_p99_ms":{:.3f},"ratio":{:.2f}}})",
                         i ? "," : "", rows[i].what, rows[i].e->percentile_ms(50), rows[i].e->percentile_ms(99),
                         rows[i].b->percentile_ms(50), rows[i].b->percentile_ms(99), targets[i].value);
    out += fmt::format(R"(],"setup_s":[{:.1f},{:.1f}],"idle_wait_s":[{:.1f},{:.1f}],"first_recon_ms":[{:.1f},{:.1f}],"first_shift_closeout_ms":[{:.1f},{:.1f}],"pass":{}}})",
                       empty.setup_s, big.setup_s, empty.idle_wait_s, big.idle_wait_s, empty.recon_first_ms,
                       big.recon_first_ms, empty.first_closeout.percentile_ms(50), big.first_closeout.percentile_ms(50), pass);
    fmt::print("{}\n", out);
    return pass ? 0 : 1;
  }
  fmt::print("  fixtures {}: {} settlements, {} red-list entries (copied into the stack: {:.0f} s with the start;\n"
             "  empty stack {:.0f} s); settled idle after {:.0f} s (empty {:.0f} s); first recon.run {:.0f} ms (empty {:.0f} ms);\n"
             "  closeout.preview of a cashier's first shift p50 {:.1f} ms (empty {:.1f} ms)\n\n",
             info.dir, info.settlements, info.entries, big.setup_s, empty.setup_s, big.idle_wait_s, empty.idle_wait_s,
             big.recon_first_ms, empty.recon_first_ms, big.first_closeout.percentile_ms(50),
             empty.first_closeout.percentile_ms(50));
  std::vector<std::vector<std::string>> table{{"path", "empty p50 / p99 ms", "fixtures p50 / p99 ms"}};
  for (Row& r : rows)
    table.push_back({r.what, fmt::format("{:.3f} / {:.3f}", r.e->percentile_ms(50), r.e->percentile_ms(99)),
                     fmt::format("{:.3f} / {:.3f}", r.b->percentile_ms(50), r.b->percentile_ms(99))});
  print_table(table);
  if (rounds > 1) {
    // Each round's own ratios: how far the machine moved between rounds.
    fmt::print("\n  {} rounds, the stacks alternating; each round's p50 ratio, fixtures vs empty:\n", rounds);
    for (const Row& line : rows) {
      std::string per;
      for (int r = 0; r < rounds; ++r) {
        Latencies& e = empties[static_cast<std::size_t>(r)].*line.path;
        Latencies& b = bigs[static_cast<std::size_t>(r)].*line.path;
        per += fmt::format("{}{:.2f}x", r ? ", " : "", b.percentile_ms(50) / e.percentile_ms(50));
      }
      fmt::print("  {}: {}\n", line.what, per);
    }
  }
  // Where the timed settlements went inside settled, each stack: a path that
  // grew shows in the step that grew, its CPU or its reads.
  const std::int64_t n = settlements * rounds;
  fmt::print("\n");
  for (const auto& [name, f] : {std::pair<const char*, Figures*>{"empty", &empty}, {"fixtures", &big}}) {
    print_steps({}, f->settle_steps, n, fmt::format("{} stack's timed settlements", name));
    const ThreadCpu cpu = settled_cpu_by_thread({}, f->settle_threads, n);
    fmt::print("  settled's CPU per settlement {:.3f} ms ({}); {:.1f} read calls, {:.2f} KiB from the disk\n\n", cpu.ms,
               cpu.parts, f->settle_reads.calls / static_cast<double>(n),
               f->settle_reads.disk_bytes / 1024 / static_cast<double>(n));
  }
  print_targets(targets);
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("growth",
                     "daily paths on the large fixtures vs empty files (-- --fixtures DIR --settlements N --rounds N)",
                     run_growth);

}  // namespace settle::bench
