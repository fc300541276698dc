// Bench section "startup": settled's start to ready (the cashier socket
// answering engine.status with the insurer line online) on the large
// fixtures (`bench fixtures`) against the same start on empty files, in one
// run, starts alternating; every measured start follows a clean stop.
#include "tools/bench/bench.hpp"
#include "tools/bench/fixtures.hpp"
#include "tools/bench/settle_stack.hpp"

#include "tools/settlectl/client.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <regex>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace settle::bench {
namespace {

using namespace std::chrono_literals;
using stack::Child;

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Start {
  double socket_s = 0;  // the first engine.status answered
  double ready_s = 0;   // ... with network online (the line probed)
};

// settled.toml in `base` (its secret beside it) with its data in `data_dir`,
// the red list's sync off (the fixture's list stays as it is).
void write_config(const std::string& base, const std::string& data_dir, const std::string& pki, int sim_port) {
  std::filesystem::create_directories(base);
  std::filesystem::create_directories(data_dir);
  std::ofstream(base + "/secret") << stack::secret << "\n";
  std::string toml = stack::settled_toml(pki, sim_port,
                                         "[readers.windows]\n\"W01\" = \"Bench Reader 00 00\"\n[redlist]\nsync_interval_s = 0\n");
  const auto swap = [&](const std::string& from, const std::string& to) {
    const auto at = toml.find(from);
    if (at == std::string::npos) throw std::runtime_error("settled_toml changed: no " + from);
    toml.replace(at, from.size(), to);
  };
  swap("data_dir = \"data\"", fmt::format("data_dir = \"{}\"", data_dir));
  swap("socket = \"data/cashier.sock\"", fmt::format("socket = \"{}/cashier.sock\"", base));
  std::ofstream(base + "/settled.toml") << toml;
}

// The page checks a start after a clean stop runs once it serves: waited
// for (their log line) before the stop, since a stop that cuts them short
// makes the next start check both files before it serves. "" if not logged.
std::string wait_page_checks(const std::string& base, Child& d) {
  static const std::regex checks(R"(page checks of the ledger[^\n]*)");
  const auto c0 = Clock::now();
  while (d.running() && secs(Clock::now() - c0) < 900) {
    const std::string log = stack::slurp(base + "/settled.log");
    std::smatch m;
    if (std::regex_search(log, m, checks)) return m[0].str();
    std::this_thread::sleep_for(200ms);
  }
  return "";
}

// Starts settled on `base`'s config and times it to ready, then (when
// `checks`: a start after a clean stop whose ready came in seconds, so the
// page checks were left for after it) waits for the page checks and stops
// it cleanly. `checks_line`: their log line.
Start start_once(const std::string& base, bool checks, std::string* checks_line = nullptr) {
  const std::string sock = base + "/cashier.sock";
  std::error_code ec;
  std::filesystem::remove(base + "/settled.out", ec);
  Start s;
  const auto t0 = Clock::now();
  auto daemon = std::make_unique<Child>(std::vector<std::string>{SETTLE_SETTLED_BINARY, "--config", base + "/settled.toml"},
                                        base + "/settled.out", base + "/settled.log", base);
  std::optional<tools::CashierClient> client;
  while (!s.ready_s) {
    if (!daemon->running()) throw std::runtime_error(fmt::format("settled ended during its start: {}", stack::slurp(base + "/settled.log")));
    if (secs(Clock::now() - t0) > 900) throw std::runtime_error("settled not ready after 900 s");
    if (!client) {
      auto c = tools::CashierClient::connect(sock);
      if (!c) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      client.emplace(std::move(*c));
    }
    auto a = client->call("engine.status", json::Json::object(), 10'000ms);
    if (!a) {
      client.reset();
      continue;
    }
    if (!a->ok) {  // LIMIT_EXCEEDED before a login: wait as told
      std::this_thread::sleep_for(std::chrono::milliseconds(a->data.value("retry_after_ms", 50)));
      continue;
    }
    if (!s.socket_s) s.socket_s = secs(Clock::now() - t0);
    if (a->result.value("network", std::string()) == "online") s.ready_s = secs(Clock::now() - t0);
    else std::this_thread::sleep_for(5ms);
  }
  if (checks && s.ready_s < 10) {
    const std::string line = wait_page_checks(base, *daemon);
    if (checks_line) *checks_line = line;
  }
  daemon->stop();
  return s;
}

int run_startup(const Context& ctx) {
  std::string fixture_dir = ctx.dir + "/settle-fixtures";
  int rounds = 3;
  for (std::size_t i = 0; i + 1 < ctx.args.size(); i += 2) {
    if (ctx.args[i] == "--fixtures") fixture_dir = ctx.args[i + 1];
    else if (ctx.args[i] == "--rounds") rounds = std::max(1, std::atoi(ctx.args[i + 1].c_str()));
    else return fmt::print(stderr, "startup: unknown option {} (--fixtures DIR, --rounds N)\n", ctx.args[i]), 2;
  }
  ScratchDir scratch(ctx, "bench-startup");
  const std::string dir = scratch.path();
  Start first_fix, first_empty;
  std::vector<Start> fix, empty;
  fixtures::Info info;
  std::string checks_line;
  try {
    info = fixtures::load(fixture_dir);
    const std::string pki = dir + "/pki";
    if (std::system(fmt::format("{}/tools/gen-test-pki.sh '{}' >/dev/null", SETTLE_SOURCE_DIR, pki).c_str()) != 0)
      throw std::runtime_error("gen-test-pki.sh failed");
    const stack::Person p = stack::person(0);
    stack::run_tool({SETTLE_SIM_BINARY, "add-person", "--db", dir + "/insurer.db", "--card-no", p.card_no, "--card-sn",
                     p.card_sn, "--id-no", p.id_no, "--name", p.name, "--insutype", "310", "--balance", "500.00"},
                    dir + "/add-person.out");
    stack::SimProcess sim = stack::start_sim(dir, pki, stack::secret, "normal");
    write_config(dir + "/empty", dir + "/empty/data", pki, sim.port);
    write_config(dir + "/fixture", info.dir + "/data", pki, sim.port);
    // First starts: the empty files are made; a fixture that never saw a
    // clean stop is checked before serving. Not part of the ratio.
    first_empty = start_once(dir + "/empty", false);
    first_fix = start_once(dir + "/fixture", true);
    for (int r = 0; r < rounds; ++r) {
      empty.push_back(start_once(dir + "/empty", true));
      fix.push_back(start_once(dir + "/fixture", true, &checks_line));
    }
    sim.child->stop();
  } catch (const std::exception& e) {
    fmt::print(stderr, "startup: {}\n  (files in {})\n", e.what(), dir);
    return 2;
  }
  const auto median = [](std::vector<Start> v, double Start::*f) {
    std::sort(v.begin(), v.end(), [&](const Start& a, const Start& b) { return a.*f < b.*f; });
    return v[v.size() / 2].*f;
  };
  const double fix_ready = median(fix, &Start::ready_s), empty_ready = median(empty, &Start::ready_s);
  std::vector<Target> targets{
      {fmt::format("start to ready, {} settlements + {} red-list entries vs empty (median of {})", info.settlements,
                   info.entries, rounds),
       fix_ready / empty_ready, "<=", 2.0}};
  const bool pass = targets[0].pass();
  if (ctx.json) {
    std::string runs;
    for (std::size_t i = 0; i < fix.size(); ++i)
      runs += fmt::format(R"({}{{"empty_socket_s":{:.3f},"empty_ready_s":{:.3f},"fixture_socket_s":{:.3f},"fixture_ready_s":{:.3f}}})",
                          i ? "," : "", empty[i].socket_s, empty[i].ready_s, fix[i].socket_s, fix[i].ready_s);
    fmt::print(R"({{"section":"startup","fixtures":"{}","settlements":{},"redlist_entries":{},"first_empty_ready_s":{:.3f},)"
               R"("first_fixture_ready_s":{:.3f},"rounds":[{}],"ratio":{:.2f},"page_checks":"{}","pass":{}}})"
               "\n",
               info.dir, info.settlements, info.entries, first_empty.ready_s, first_fix.ready_s, runs,
               targets[0].value, checks_line, pass);
    return pass ? 0 : 1;
  }
  fmt::print("  fixtures {}: {} settlements, {} red-list entries; settled with its red-list sync off\n\n", info.dir,
             info.settlements, info.entries);
  std::vector<std::vector<std::string>> rows{{"start", "socket answers s", "line online s"}};
  rows.push_back({"first start, empty (files made)", fmt::format("{:.3f}", first_empty.socket_s), fmt::format("{:.3f}", first_empty.ready_s)});
  rows.push_back({"first start, fixtures (checked before serving unless stopped cleanly before)",
                  fmt::format("{:.3f}", first_fix.socket_s), fmt::format("{:.3f}", first_fix.ready_s)});
  for (std::size_t i = 0; i < fix.size(); ++i) {
    rows.push_back({fmt::format("after a clean stop, empty #{}", i + 1), fmt::format("{:.3f}", empty[i].socket_s), fmt::format("{:.3f}", empty[i].ready_s)});
    rows.push_back({fmt::format("after a clean stop, fixtures #{}", i + 1), fmt::format("{:.3f}", fix[i].socket_s), fmt::format("{:.3f}", fix[i].ready_s)});
  }
  print_table(rows);
  fmt::print("\n  {}\n\n", checks_line);
  print_targets(targets);
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("startup", "settled's start to ready on the large fixtures vs empty files (-- --fixtures DIR)",
                     run_startup);

}  // namespace settle::bench
