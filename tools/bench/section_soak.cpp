// Bench section "soak": settled under 32 windows of continuous online
// settlements for hours, on a stack seeded with the large fixtures (`bench
// fixtures`), its anonymous RSS (RssAnon) sampled all along: the memory
// target is ≤ 64 MiB after the first hour and no growth across three.
#include "tools/bench/bench.hpp"
#include "tools/bench/fixtures.hpp"
#include "tools/bench/settle_stack.hpp"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace settle::bench {
namespace {

using namespace stack;

std::int64_t rss_anon_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::atoll(line.c_str() + 8);
  return -1;
}

struct Sample {
  double at_s = 0;
  std::int64_t rss_kib = 0, settlements = 0;
  double per_s = 0, p99_ms = 0;
};

int run_soak(const Context& ctx) {
  std::string fixture_dir = ctx.dir + "/settle-fixtures";
  double hours = 1, every_s = 60;
  int many = 32;
  std::string csv;
  bool seeded = true;
  for (std::size_t i = 0; i < ctx.args.size(); ++i) {
    const std::string& k = ctx.args[i];
    if (k == "--empty") {
      seeded = false;
      continue;
    }
    if (i + 1 >= ctx.args.size()) return fmt::print(stderr, "soak: {} needs a value\n", k), 2;
    const std::string& v = ctx.args[++i];
    if (k == "--hours") hours = std::atof(v.c_str());
    else if (k == "--every") every_s = std::max(1.0, std::atof(v.c_str()));
    else if (k == "--fixtures") fixture_dir = v;
    else if (k == "--connections") many = std::max(1, std::atoi(v.c_str()));
    else if (k == "--csv") csv = v;
    else return fmt::print(stderr, "soak: unknown option {} (--hours H, --every S, --fixtures DIR, --empty, --connections N, --csv FILE)\n", k), 2;
  }
  if (hours <= 0) return fmt::print(stderr, "soak: --hours must be above 0\n"), 2;
  ScratchDir scratch(ctx, "bench-soak");
  std::vector<Sample> samples;
  fixtures::Info info;
  std::int64_t total = 0;
  std::ofstream out;
  if (!csv.empty()) {
    out.open(csv);
    out << "seconds,rss_anon_kib,settlements,per_s,p99_ms\n";
  }
  try {
    StackOptions opts;
    opts.redlist_sync = false;
    opts.pool = many;
    if (seeded) {
      info = fixtures::load(fixture_dir);
      opts.ledger_seed = info.ledger;
      opts.redlist_seed = info.redlist;
    }
    SettleStack st(scratch.path(), opts);
    const pid_t pid = st.daemon_pid();
    std::atomic<std::int64_t> seq{0};
    std::vector<std::unique_ptr<Cashier>> conns;
    for (int i = 0; i < many; ++i) conns.push_back(open_window(st.socket(), i % windows));
    samples.push_back({0, rss_anon_kib(pid), 0, 0, 0});
    const auto t0 = Clock::now();
    const double end_s = hours * 3600;
    for (;;) {
      const double at = std::chrono::duration<double>(Clock::now() - t0).count();
      if (at >= end_s) break;
      Run r;
      // Online, or offline while the line is down (on a loaded machine the
      // insurer's answers can come too late): memory either way.
      commits(r, conns, std::min(every_s, end_s - at), seq, "any");
      total += r.count;
      Sample s{std::chrono::duration<double>(Clock::now() - t0).count(), rss_anon_kib(pid), total, r.rate(),
               r.lat.percentile_ms(99)};
      samples.push_back(s);
      fmt::print(stderr, "  soak {:7.0f} s: RssAnon {:6.1f} MiB, {} settlements ({:.0f}/s, p99 {:.1f} ms)\n", s.at_s,
                 static_cast<double>(s.rss_kib) / 1024, s.settlements, s.per_s, s.p99_ms);
      if (out) out << fmt::format("{:.0f},{},{},{:.1f},{:.2f}\n", s.at_s, s.rss_kib, s.settlements, s.per_s, s.p99_ms) << std::flush;
    }
    conns.clear();
    st.stop();
  } catch (const std::exception& e) {
    fmt::print(stderr, "soak: {}\n  (files in {})\n", e.what(), scratch.path());
    return 2;
  }
  // The figures per hour: the highest RssAnon sampled in each.
  std::vector<std::int64_t> hour_max;
  for (const Sample& s : samples) {
    const auto h = s.at_s <= 0 ? std::size_t{0} : static_cast<std::size_t>((s.at_s - 1e-6) / 3600.0);
    if (hour_max.size() <= h) hour_max.resize(h + 1, 0);
    hour_max[h] = std::max(hour_max[h], s.rss_kib);
  }
  const double last_mib = static_cast<double>(samples.back().rss_kib) / 1024;
  std::vector<Target> targets{{fmt::format("settled RssAnon MiB after {:.2f} h of {} windows", hours, many), last_mib, "<=", 64}};
  if (hour_max.size() >= 3)
    targets.push_back({"RssAnon growth, hour 3's highest / hour 1's", static_cast<double>(hour_max[2]) / static_cast<double>(hour_max[0]), "<=", 1.05});
  bool pass = true;
  for (const auto& t : targets) pass = pass && t.pass();
  if (ctx.json) {
    std::string curve;
    for (std::size_t i = 0; i < samples.size(); ++i)
      curve += fmt::format(R"({}[{:.0f},{}])", i ? "," : "", samples[i].at_s, samples[i].rss_kib);
    fmt::print(R"({{"section":"soak","hours":{},"connections":{},"seeded":{},"settlements":{},"rss_anon_kib_curve":[{}],"pass":{}}})"
               "\n",
               hours, many, seeded, total, curve, pass);
    return pass ? 0 : 1;
  }
  fmt::print("  {} windows for {:.2f} h on {}: {} settlements; RssAnon sampled every {:.0f} s\n\n", many, hours,
             seeded ? fmt::format("the fixtures ({} settlements, {} red-list entries)", info.settlements, info.entries)
                    : std::string("empty files"),
             total, every_s);
  std::vector<std::vector<std::string>> rows{{"at s", "RssAnon MiB", "settlements", "per s", "p99 ms"}};
  for (const Sample& s : samples)
    rows.push_back({fmt::format("{:.0f}", s.at_s), fmt::format("{:.1f}", static_cast<double>(s.rss_kib) / 1024),
                    fmt::format("{}", s.settlements), fmt::format("{:.0f}", s.per_s), fmt::format("{:.1f}", s.p99_ms)});
  print_table(rows);
  fmt::print("\n");
  if (hour_max.size() < 3) fmt::print("  growth across three hours: not measured (the run was shorter)\n\n");
  print_targets(targets, "");
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("soak", "settled's RssAnon under 32 windows for hours on the fixtures (-- --hours H --csv FILE)",
                     run_soak);

}  // namespace settle::bench
