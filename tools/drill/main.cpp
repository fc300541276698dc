// drill: the outage drill's command line (options, the report files, the
// exit status: 0 passed, 1 failed, 2 could not run (options, bring-up) or
// write the report).
// What a drill does is in drill.cpp; docs/drill.md is the guide.
#include "tools/common/version.hpp"
#include "tools/drill/drill.hpp"

#include <fmt/format.h>

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

constexpr const char* usage = R"(usage: drill [options]
  --windows N              cashier windows settling at once (1-16, default 2)
  --phase-seconds S        length of the online baseline and of each outage (default 10)
  --faults LIST            insurer faults to drill, in order (default refuse,stall,lost_reply)
  --drain-seconds S        longest wait for the drain after a restore (default 60)
  --max-wait-seconds S     longest acceptable cashier wait during an outage (default 5)
  --out FILE               the text report (default drill-YYYYMMDD-HHMMSS.txt); the JSON
                           report is written next to it (FILE with .json)
  --seed N                 charges, refunds and persons of the drill (default 1)
  --no-flush               after a restore, let the daemon find the line back by itself
                           (no uploads.flush)
  --no-inpatient           leave out the inpatient stay (admitted online, lines across
                           an outage, discharged offline, drained, reconciled)
 attaching to a running daemon and insurer simulator instead of starting them:
  --attach --socket PATH --control PORT
  --cashier NAME --cashier-password-file FILE
  --supervisor NAME --supervisor-password-file FILE
  [--window-names W01,W02] [--pin-file FILE]   (no PIN: settle without the account)
)";

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

Options parse(int argc, char** argv) {
  Options o;
  bool faults_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--version") {
      fmt::print("drill {}\n", settle::version);
      std::exit(0);
    } else if (a == "--windows") {
      o.windows = static_cast<int>(number(a, value(), 1, 16));
    } else if (a == "--phase-seconds") {
      o.phase_s = number(a, value(), 0.5, 3600);
    } else if (a == "--drain-seconds") {
      o.drain_s = number(a, value(), 1, 3600);
    } else if (a == "--max-wait-seconds") {
      o.max_wait_s = number(a, value(), 0.1, 600);
    } else if (a == "--faults") {
      o.faults = split(value());
      faults_given = true;
    } else if (a == "--out") {
      o.out = value();
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(number(a, value(), 0, 1e9));
    } else if (a == "--no-flush") {
      o.flush = false;
    } else if (a == "--no-inpatient") {
      o.inpatient = false;
    } else if (a == "--attach") {
      o.attach = true;
    } else if (a == "--socket") {
      o.socket = value();
    } else if (a == "--control") {
      o.control_port = static_cast<std::uint16_t>(number(a, value(), 1, 65535));
    } else if (a == "--cashier") {
      o.cashier = value();
    } else if (a == "--cashier-password-file") {
      o.cashier_password = first_line(a, value());
    } else if (a == "--supervisor") {
      o.supervisor = value();
    } else if (a == "--supervisor-password-file") {
      o.supervisor_password = first_line(a, value());
    } else if (a == "--window-names") {
      o.window_names = split(value());
    } else if (a == "--pin-file") {
      o.pin = first_line(a, value());
    } else if (a == "--help" || a == "-h") {
      std::cout << usage;
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (faults_given && o.faults.empty()) throw std::invalid_argument("--faults names no fault");
  for (const auto& f : o.faults)
    if (f != "refuse" && f != "stall" && f != "lost_reply")
      throw std::invalid_argument("--faults: '" + f + "' is not one of refuse, stall, lost_reply");
  if (o.attach) {
    if (o.socket.empty()) throw std::invalid_argument("--attach needs --socket (the daemon's cashier socket)");
    if (o.control_port == 0) throw std::invalid_argument("--attach needs --control (the simulator's control port)");
    if (o.cashier_password.empty() || o.supervisor_password.empty())
      throw std::invalid_argument("--attach needs --cashier-password-file and --supervisor-password-file");
  } else if (!o.socket.empty() || o.control_port != 0 || !o.window_names.empty()) {
    throw std::invalid_argument("--socket, --control and --window-names go with --attach");
  }
  if (o.out.empty()) {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&t, &tm);
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
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "drill: " << e.what() << "\n" << usage;
    return 2;
  }
  const settle::drill::Report r = settle::drill::run(o);
  const std::string text = settle::drill::report_text(r);
  std::cout << text << std::flush;
  const bool written = write(o.out, text) && write(json_path(o.out), settle::drill::report_json(r).dump(2) + "\n") &&
                       write(settle::drill::html_path(o.out), settle::drill::report_html(r));
  if (!written) return 2;
  std::cout << fmt::format("\nreport: {}, {} and {}\n", o.out, json_path(o.out), settle::drill::html_path(o.out));
  if (r.faults.empty()) return 2;  // nothing was drilled (bring-up failed)
  return r.passed() ? 0 : 1;
}
