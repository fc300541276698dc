// drill: the outage drill's command line (CLI11 options, progress lines on
// stderr, the report files, the exit status of tools/common/exit_codes.hpp:
// 0 passed, 1 failed, 2 bad options, 3 the attached stack not reached, 5 the
// stack could not be started or the report not written).
// What a drill does is in drill.cpp; docs/drill.md is the guide.
#include "tools/common/exit_codes.hpp"
#include "tools/common/version.hpp"
#include "tools/drill/drill.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

using settle::drill::Options;
namespace exit_code = settle::exit_code;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

double number(const std::string& opt, const std::string& v, double lo, double hi) {
  double d = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || p != v.data() + v.size() || d < lo || d > hi)
    throw std::invalid_argument(fmt::format("{} must be a number from {} to {}, not '{}'", opt, lo, hi, v));
  return d;
}

std::string first_line(const std::string& opt, const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) throw std::invalid_argument(fmt::format("{}: cannot read {}", opt, path));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// The options as text from CLI11 (`--windows 2` and `--windows=2`), then
// checked here: each number within its range, each file readable.
struct Args {
  std::string windows, phase_s, drain_s, max_wait_s, faults, scenarios, seed, control;
  std::string cashier_password_file, supervisor_password_file, pin_file, window_names;
  bool faults_given = false;  // --faults "" is an error, not the default
  bool scenarios_given = false;
  bool no_flush = false, no_inpatient = false;
};

void add_options(CLI::App& app, Options& o, Args& a) {
  app.add_option("--windows", a.windows, "cashier windows settling at once (1-16, default 2)")->type_name("N");
  app.add_option("--phase-seconds", a.phase_s, "length of the online baseline and of each outage (0.5-3600, default 10)")
      ->type_name("S");
  app.add_option("--faults", a.faults, "insurer faults to drill, in order (default refuse,stall,lost_reply)")
      ->type_name("LIST");
  app.add_option("--scenario", a.scenarios,
                 "scenarios to drill, in order: line (the insurer faults, the inpatient stay), network, reader, daemon, "
                 "disk (default all)")
      ->type_name("NAME[,NAME...]");
  app.add_option("--drain-seconds", a.drain_s, "longest wait for the drain after a restore (1-3600, default 60)")
      ->type_name("S");
  app.add_option("--max-wait-seconds", a.max_wait_s,
                 "longest acceptable cashier wait during an outage (0.1-600, default 5)")->type_name("S");
  app.add_option("--out", o.out,
                 "the text report (default drill-YYYYMMDD-HHMMSS.txt); the JSON report is written next to it "
                 "(FILE with .json)")
      ->type_name("FILE");
  app.add_option("--seed", a.seed, "charges, refunds and persons of the drill (0-1000000000, default 1)")
      ->type_name("N");
  app.add_flag("--no-flush", a.no_flush,
               "after a restore, let the daemon find the line back by itself (no uploads.flush)");
  app.add_flag("--no-inpatient", a.no_inpatient,
               "leave out the inpatient stay (admitted online, lines across an outage, discharged offline, drained, "
               "reconciled)");
  const char* attach = "Attaching to a running daemon and insurer simulator instead of starting them";
  app.add_flag("--attach", o.attach, "attach: needs --socket, --control and both password files")->group(attach);
  app.add_option("--socket", o.socket, "the daemon's cashier socket")->type_name("PATH")->group(attach);
  app.add_option("--control", a.control, "the simulator's control port on 127.0.0.1 (1-65535)")
      ->type_name("PORT")->group(attach);
  app.add_option("--cashier", o.cashier, "the cashier operator (default c001)")->type_name("NAME")->group(attach);
  app.add_option("--cashier-password-file", a.cashier_password_file, "its password, first line")
      ->type_name("FILE")->group(attach);
  app.add_option("--supervisor", o.supervisor, "the supervisor operator (default s001)")
      ->type_name("NAME")->group(attach);
  app.add_option("--supervisor-password-file", a.supervisor_password_file, "its password, first line")
      ->type_name("FILE")->group(attach);
  app.add_option("--window-names", a.window_names, "the windows to settle at (default W01,W02)")
      ->type_name("W01,W02")->group(attach);
  app.add_flag("--allow-disruptive", o.allow_disruptive,
               "attached: let the daemon scenario kill and restart settled (with the two commands below)")
      ->group(attach);
  app.add_option("--daemon-kill-command", o.daemon_kill_command,
                 "attached, daemon scenario: the shell command that SIGKILLs settled (e.g. systemctl kill -s KILL settled)")
      ->type_name("CMD")->group(attach);
  app.add_option("--daemon-start-command", o.daemon_start_command,
                 "attached, daemon scenario: the shell command that starts settled again")
      ->type_name("CMD")->group(attach);
  app.add_option("--ledger", o.ledger, "attached: the ledger file, verified read-only after the daemon scenario")
      ->type_name("FILE")->group(attach);
  app.add_option("--pin-file", a.pin_file, "the drill cards' PIN, first line (none: settle without the account)")
      ->type_name("FILE")->group(attach);
}

Options checked(Options o, const Args& a) {
  const bool faults_given = a.faults_given;
  if (a.no_flush) o.flush = false;
  if (a.no_inpatient) o.inpatient = false;
  if (!a.windows.empty()) o.windows = static_cast<int>(number("--windows", a.windows, 1, 16));
  if (!a.phase_s.empty()) o.phase_s = number("--phase-seconds", a.phase_s, 0.5, 3600);
  if (!a.drain_s.empty()) o.drain_s = number("--drain-seconds", a.drain_s, 1, 3600);
  if (!a.max_wait_s.empty()) o.max_wait_s = number("--max-wait-seconds", a.max_wait_s, 0.1, 600);
  if (faults_given) o.faults = split(a.faults);
  if (!a.seed.empty()) o.seed = static_cast<std::uint64_t>(number("--seed", a.seed, 0, 1e9));
  if (!a.control.empty()) o.control_port = static_cast<std::uint16_t>(number("--control", a.control, 1, 65535));
  if (!a.cashier_password_file.empty())
    o.cashier_password = first_line("--cashier-password-file", a.cashier_password_file);
  if (!a.supervisor_password_file.empty())
    o.supervisor_password = first_line("--supervisor-password-file", a.supervisor_password_file);
  if (!a.window_names.empty()) o.window_names = split(a.window_names);
  if (!a.pin_file.empty()) o.pin = first_line("--pin-file", a.pin_file);
  if (faults_given && o.faults.empty()) throw std::invalid_argument("--faults names no fault");
  if (a.scenarios_given) {
    o.scenarios = split(a.scenarios);
    if (o.scenarios.empty()) throw std::invalid_argument("--scenario names no scenario");
    const auto& known = settle::drill::scenario_names();
    for (const auto& s : o.scenarios)
      if (std::find(known.begin(), known.end(), s) == known.end())
        throw std::invalid_argument(fmt::format("--scenario: '{}' is not one of {}", s, fmt::join(known, ", ")));
  }
  const auto asked = [&o](const char* s) { return std::find(o.scenarios.begin(), o.scenarios.end(), s) != o.scenarios.end(); };
  if (faults_given && !asked("line")) throw std::invalid_argument("--faults goes with the line scenario (--scenario line)");
  for (const auto& f : o.faults)
    if (f != "refuse" && f != "stall" && f != "lost_reply")
      throw std::invalid_argument("--faults: '" + f + "' is not one of refuse, stall, lost_reply");
  if (o.attach) {
    if (o.socket.empty()) throw std::invalid_argument("--attach needs --socket (the daemon's cashier socket)");
    if (o.control_port == 0) throw std::invalid_argument("--attach needs --control (the simulator's control port)");
    if (o.cashier_password.empty() || o.supervisor_password.empty())
      throw std::invalid_argument("--attach needs --cashier-password-file and --supervisor-password-file");
    // A production stack: the disruptive scenarios only when asked for by name and allowed.
    if (a.scenarios_given && asked("disk"))
      throw std::invalid_argument("--scenario disk cannot run with --attach: it fails the ledger's disk through a test "
                                  "shim preloaded into a settled the drill starts itself (docs/drill.md)");
    if (a.scenarios_given && asked("reader"))
      throw std::invalid_argument("--scenario reader cannot run with --attach: it pulls a virtual card and restarts "
                                  "the pcscd the drill starts itself (docs/drill.md says how to rehearse it by hand)");
    if (a.scenarios_given && asked("daemon") && !o.allow_disruptive)
      throw std::invalid_argument("--scenario daemon with --attach kills the running settled: refused without "
                                  "--allow-disruptive");
    if (asked("daemon") && o.allow_disruptive && (o.daemon_kill_command.empty() || o.daemon_start_command.empty()))
      throw std::invalid_argument("--allow-disruptive needs --daemon-kill-command and --daemon-start-command");
  } else if (!o.socket.empty() || o.control_port != 0 || !o.window_names.empty() || o.allow_disruptive ||
             !o.daemon_kill_command.empty() || !o.daemon_start_command.empty() || !o.ledger.empty()) {
    throw std::invalid_argument("--socket, --control, --window-names, --allow-disruptive, --daemon-kill-command, "
                                "--daemon-start-command and --ledger go with --attach");
  }
  if (o.out.empty()) {
    // Named by the hospital's clock (UTC+8), as the report's own times are,
    // whatever the host's zone is.
    const std::time_t t = std::time(nullptr) + 8 * 3600;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "drill-%Y%m%d-%H%M%S.txt", &tm);
    o.out = buf;
  }
  return o;
}

std::string json_path(const std::string& out) {
  if (out.size() > 4 && out.compare(out.size() - 4, 4, ".txt") == 0) return out.substr(0, out.size() - 4) + ".json";
  return out + ".json";
}

bool write(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.flush();
  if (!f) {
    std::cerr << "drill: cannot write the report to " << path << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"drill — the outage drill (断网应急演练) of the emergency plan against the settlement daemon: the "
               "insurer line, the hospital network, the readers, the daemon, the disk; docs/drill.md is the guide"};
  app.set_version_flag("--version", std::string("drill ") + settle::version);
  Options o;
  Args args;
  add_options(app, o, args);
  try {
    app.parse(argc, argv);
    args.faults_given = app.count("--faults") > 0;
    args.scenarios_given = app.count("--scenario") > 0;
    o = checked(o, args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_code::ok : exit_code::usage;
  } catch (const std::exception& e) {
    std::cerr << "drill: " << e.what() << "\n(drill --help lists the options)\n";
    return exit_code::usage;
  }
  std::cerr << fmt::format(
      "drill: scenarios {}, {} window(s), faults {}, {} s per phase; progress below, the report at the end\n",
      fmt::join(o.scenarios, ","), o.windows, fmt::join(o.faults, ","), o.phase_s);
  settle::drill::Report r = settle::drill::run(o, [](const std::string& line) {
    std::cerr << "drill: " << line << "\n" << std::flush;
  });
  const std::string text = settle::drill::report_text(r);
  std::cout << text << std::flush;
  const bool written = write(o.out, text) && write(json_path(o.out), settle::drill::report_json(r).dump(2) + "\n") &&
                       write(settle::drill::html_path(o.out), settle::drill::report_html(r));
  if (!written) return exit_code::local;
  std::cout << fmt::format("\nreport: {}, {} and {}\n", o.out, json_path(o.out), settle::drill::html_path(o.out));
  // Nothing drilled: the stack attached to was not there, or this machine
  // could not start one.
  if (r.faults.empty() && std::none_of(r.scenarios.begin(), r.scenarios.end(),
                                       [](const settle::drill::ScenarioResult& s) { return s.run; }))
    return o.attach ? exit_code::unreachable : exit_code::local;
  return r.passed() ? exit_code::ok : exit_code::not_right;
}
