// Bench section "inpatient": a stay of 10,000 lines added through the real
// settled in batches of 100 (each batch stored, then sent to insurer-sim as a
// 2301), beside raw SQLite commits in the same run; then the discharge
// settlement (2402 → 2304 over every line, recorded naming them) of that
// stay, five times with its undo (2305) between, alternating with discharges of
// 10-line stays in the same run.
#include "tools/bench/bench.hpp"
#include "tools/bench/settle_stack.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace settle::bench {
namespace {

using namespace stack;

struct Args {
  std::int64_t lines = 10'000;
  std::int64_t batch = 100;
  int big_rounds = 5;        // discharges of the big stay (undone between): the median is compared
  int small_per_round = 2;   // 10-line stays discharged before each: the reference latency's median
};

bool parse_args(const Context& ctx, Args& a) {
  for (std::size_t i = 0; i < ctx.args.size(); ++i) {
    const std::string& k = ctx.args[i];
    if (i + 1 >= ctx.args.size()) return false;
    const std::string& v = ctx.args[++i];
    if (k == "--lines") a.lines = std::atoll(v.c_str());
    else if (k == "--batch") a.batch = std::atoll(v.c_str());
    else return false;
  }
  return a.lines >= a.batch && a.batch >= 1 && a.batch <= 500;
}

Json stay_line(std::int64_t n) {
  const std::int64_t fen = 100 + n % 977;
  return Json{{"feedetl_sn", fmt::format("{:06}", n)},
              {"code", n % 5 == 0 ? "86900001" : "250101001"},
              {"name", "住院床位费"},
              {"class", n % 5 == 0 ? "B" : "A"},
              {"amount", fmt::format("{}.{:02}", fen / 100, fen % 100)}};
}

// A stay of `lines` lines admitted at window `w` with the card there; its adm_id.
std::string admit(Cashier& c, const std::string& tag) {
  const Json a = c.call("inpatient.admit", Json{{"request_id", tag + "-adm"}, {"dept", "0301"}, {"diagnosis", "K35.8"}});
  if (a["mode"] != "online") throw std::runtime_error("admission not online: " + a.dump());
  return a["adm_id"].get<std::string>();
}

void add_lines(Cashier& c, const std::string& adm_id, const std::string& tag, std::int64_t from, std::int64_t n,
               Latencies* lat) {
  Json lines = Json::array();
  for (std::int64_t i = 0; i < n; ++i) lines.push_back(stay_line(from + i));
  const auto t0 = Clock::now();
  const Json r = c.call("inpatient.add_lines", Json{{"request_id", fmt::format("{}-b{}", tag, from)}, {"adm_id", adm_id}, {"lines", lines}});
  if (lat != nullptr) lat->add(Clock::now() - t0);
  if (r["upload"] != "sent") throw std::runtime_error("a batch was not sent at once: " + r.dump());
}

double undo_ms(Cashier& c, const std::string& adm_id, const std::string& tag) {
  const auto t0 = Clock::now();
  const Json u = c.call("inpatient.undo_discharge", Json{{"request_id", tag + "-undo"}, {"adm_id", adm_id}});
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (u["state"] != "admitted") throw std::runtime_error("the undo did not open the stay again: " + u.dump());
  return ms;
}

// The discharge's time; the stay's view read after it (a page of one line
// and its settlements so far) timed into `view` when given.
double discharge_ms(Cashier& c, const std::string& adm_id, const std::string& tag, std::int64_t expect_lines,
                    Latencies* view) {
  const auto t0 = Clock::now();
  const Json d = c.call("inpatient.discharge", Json{{"request_id", tag + "-dis"}, {"adm_id", adm_id}, {"use_account", false}});
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (d["mode"] != "online") throw std::runtime_error("discharge not online: " + d.dump());
  const auto t1 = Clock::now();
  const Json st = c.call("inpatient.get", Json{{"adm_id", adm_id}, {"limit", 1}});
  if (view != nullptr) view->add(Clock::now() - t1);
  if (st["lines_count"] != expect_lines) throw std::runtime_error("the stay has other lines than added: " + st.dump());
  return ms;
}

int run_inpatient(const Context& ctx) {
  Args args;
  if (!parse_args(ctx, args)) {
    fmt::print(stderr, "inpatient: usage: bench inpatient -- [--lines N] [--batch 1..500]\n");
    return 2;
  }
  ScratchDir scratch(ctx, "bench-inpatient");
  const std::string dir = scratch.path();
  const std::string fs = filesystem_type(dir);
  Run raw, batches;
  raw.name = "raw SQLite, 1 insert per transaction";
  batches.name = fmt::format("inpatient.add_lines, {} lines per batch", args.batch);
  Latencies bigs, undos, small, views;
  try {
    StackOptions opts;
    SettleStack st(dir, opts);
    RawSqlite raw_db;
    if (!raw_db.open(scratch.file("raw.db"))) return 2;
    // Window 0 holds the big stay, window 1 the small ones (one open stay per person).
    auto big = open_window(st.socket(), 0);
    auto other = open_window(st.socket(), 1);
    const std::string adm_id = admit(*big, "big");
    // Batches beside raw commits, in alternating slices of the same length.
    const std::int64_t n_batches = args.lines / args.batch;
    const std::int64_t per_slice = std::max<std::int64_t>(1, n_batches / 10);
    std::int64_t done = 0;
    while (done < n_batches) {
      const std::int64_t k = std::min(per_slice, n_batches - done);
      const auto t0 = Clock::now();
      for (std::int64_t i = 0; i < k; ++i) add_lines(*big, adm_id, "big", (done + i) * args.batch, args.batch, &batches.lat);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      batches.seconds += s;
      batches.count += k * args.batch;
      done += k;
      timed(raw, s, [&] {
        if (!raw_db.commit()) throw std::runtime_error("raw SQLite commit failed");
      });
    }
    // The discharges, the two kinds alternating so that both are timed in the
    // same minutes of a shared machine: a 10-line stay first (a warm-up, not
    // counted), then each round 10-line stays and a discharge of the big one
    // (undone before it from the second round on).
    int smalls = 0;
    const auto small_stay = [&](bool counted) {
      const std::string tag = fmt::format("small{}", smalls++);
      const std::string small_id = admit(*other, tag);
      add_lines(*other, small_id, tag, 0, 10, nullptr);
      const double ms = discharge_ms(*other, small_id, tag, 10, nullptr);
      if (counted) small.us.push_back(static_cast<std::int64_t>(ms * 1000));
    };
    small_stay(false);
    for (int k = 0; k < args.big_rounds; ++k) {
      for (int j = 0; j < args.small_per_round; ++j) small_stay(true);
      const std::string tag = fmt::format("big{}", k);
      if (k > 0) undos.us.push_back(static_cast<std::int64_t>(undo_ms(*big, adm_id, tag) * 1000));
      bigs.us.push_back(static_cast<std::int64_t>(discharge_ms(*big, adm_id, tag, args.lines, &views) * 1000));
    }
    st.stop();
  } catch (const std::exception& e) {
    fmt::print(stderr, "inpatient: {}\n  (files in {})\n", e.what(), dir);
    return 2;
  }
  const double lines_per_s = batches.rate();
  const double small_ms = small.percentile_ms(50);
  const double big_ms = bigs.percentile_ms(50);
  // Lines per second is reported against the raw commit rate, without a
  // limit: on a disk whose flush costs 0.1 ms a batch is bounded by the two
  // processes' work and the insurer round trip, not by commits (see
  // docs/benchmarks.md, "inpatient").
  const double lines_vs_raw = lines_per_s / raw.rate();
  std::vector<Target> targets{
      {fmt::format("discharge of {} lines / of 10 lines (latency p50)", args.lines), big_ms / small_ms, "<=", 3.0}};
  bool pass = true;
  for (const auto& t : targets) pass = pass && t.pass();
  if (ctx.json) {
    fmt::print(R"({{"section":"inpatient","dir":"{}","fs":"{}","lines":{},"batch":{},"raw_commits_per_s":{:.1f},)"
               R"("lines_per_s":{:.1f},"lines_vs_raw":{:.3f},"batch_p50_ms":{:.3f},"batch_p99_ms":{:.3f},"discharge_big_p50_ms":{:.3f},)"
               R"("undo_big_p50_ms":{:.3f},"discharge_small_p50_ms":{:.3f},"get_big_p50_ms":{:.3f},"pass":{}}})"
               "\n",
               dir, fs, args.lines, args.batch, raw.rate(), lines_per_s, lines_vs_raw, batches.lat.percentile_ms(50),
               batches.lat.percentile_ms(99), big_ms, undos.percentile_ms(50), small_ms, views.percentile_ms(50), pass);
    return pass ? 0 : 1;
  }
  fmt::print("  scratch dir {} ({}); a stay of {} lines in batches of {}, each stored and sent (2301) at once\n\n", dir, fs,
             args.lines, args.batch);
  std::vector<std::vector<std::string>> rows{{"measurement", "count", "per s", "p50 ms", "p99 ms"}};
  rows.push_back({raw.name, fmt::format("{}", raw.count), fmt::format("{:.0f}", raw.rate()),
                  fmt::format("{:.3f}", raw.lat.percentile_ms(50)), fmt::format("{:.3f}", raw.lat.percentile_ms(99))});
  rows.push_back({batches.name + " (lines)", fmt::format("{}", batches.count), fmt::format("{:.0f}", lines_per_s),
                  fmt::format("{:.3f}", batches.lat.percentile_ms(50)), fmt::format("{:.3f}", batches.lat.percentile_ms(99))});
  rows.push_back({fmt::format("inpatient.discharge, {} lines", args.lines), fmt::format("{}", bigs.us.size()), "",
                  fmt::format("{:.3f}", big_ms), fmt::format("{:.3f}", bigs.percentile_ms(100))});
  rows.push_back({fmt::format("inpatient.undo_discharge, {} lines", args.lines), fmt::format("{}", undos.us.size()), "",
                  fmt::format("{:.3f}", undos.percentile_ms(50)), fmt::format("{:.3f}", undos.percentile_ms(100))});
  rows.push_back({"inpatient.discharge, 10 lines", fmt::format("{}", small.us.size()), "", fmt::format("{:.3f}", small_ms),
                  ""});
  rows.push_back({fmt::format("inpatient.get of the {}-line stay, after a discharge", args.lines),
                  fmt::format("{}", views.us.size()), "", fmt::format("{:.3f}", views.percentile_ms(50)),
                  fmt::format("{:.3f}", views.percentile_ms(100))});
  print_table(rows);
  fmt::print("\n  lines per second / raw commits per second: {:.2f}x (reported; no limit)\n\n", lines_vs_raw);
  print_targets(targets);
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("inpatient",
                     "a stay of 10,000 lines in batches of 100 vs raw commits; discharge of 10,000 lines vs 10 lines",
                     run_inpatient);

}  // namespace settle::bench
