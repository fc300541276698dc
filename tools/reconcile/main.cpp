// reconcile: the nightly reconciliation (对账). Logs in to settled over its
// socket (settlectl's client), calls recon.run for a clearing date, prints a
// text report, optionally writes HTML and JSON. Exit status as every tool's
// (tools/common/exit_codes.hpp): 0 balanced, 1 not, 2 usage, 3 the daemon not
// reached, 4 refused, 5 a file not written, 6 the ledger's hash chain broken
// (whether or not the day balanced). Progress lines go to stderr.
#include "tools/common/exit_codes.hpp"
#include "tools/common/paths.hpp"
#include "tools/common/version.hpp"
#include "tools/reconcile/report.hpp"
#include "tools/settlectl/client.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

using settle::json::Json;

struct Options {
  std::string socket = settle::default_cashier_socket;
  std::string credentials;  // KEY=VALUE lines: operator, password, window, socket
  std::string operator_name;
  std::string password_file;  // else $CREDENTIALS_DIRECTORY/reconcile-password
  std::string window;
  std::string date;
  std::string html;
  std::string json_file;  // "-" = stdout instead of the text report
  int timeout_s = 900;
};

// With --json a failure is {"error": {"reason", "message", "field",
// "exit_code"}} on stdout; otherwise a line on stderr.
bool json_errors = false;

int error(int code, const std::string& what, const std::string& reason = "", const std::string& field = "") {
  if (json_errors) {
    static const std::map<int, std::string> names{{settle::exit_code::usage, "USAGE"},
                                                  {settle::exit_code::unreachable, "UNREACHABLE"},
                                                  {settle::exit_code::refused, "REFUSED"},
                                                  {settle::exit_code::local, "LOCAL_FILE"}};
    const auto n = names.find(code);
    std::cout << Json{{"error", Json{{"reason", !reason.empty() ? reason : n != names.end() ? n->second : "FAILED"},
                                     {"message", what},
                                     {"field", field.empty() ? Json(nullptr) : Json(field)},
                                     {"exit_code", code}}}}
                     .dump()
              << "\n";
  } else {
    std::cerr << "reconcile: " << what << "\n";
  }
  return code;
}

// "reconcile: ..." progress lines on stderr while recon.run works (it sends
// no progress of its own): one when it starts, one every 10 s, one at the end.
class Ticker {
 public:
  explicit Ticker(std::string what) : what_(std::move(what)), t0_(std::chrono::steady_clock::now()) {
    std::cerr << "reconcile: " << what_ << " ...\n" << std::flush;
    thread_ = std::thread([this] {
      std::unique_lock lock(m_);
      while (!cv_.wait_for(lock, std::chrono::seconds(10), [this] { return done_; }))
        std::cerr << fmt::format("reconcile: {} ... {:.0f} s\n", what_, seconds()) << std::flush;
    });
  }
  ~Ticker() { stop(""); }
  void stop(const std::string& outcome) {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (!outcome.empty())
      std::cerr << fmt::format("reconcile: {} {} in {:.1f} s\n", what_, outcome, seconds()) << std::flush;
  }

 private:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
  std::string what_;
  std::chrono::steady_clock::time_point t0_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Yesterday's clearing date: the insurer's and the hospital's calendar day
// (UTC+8), whatever the host's zone is.
std::string yesterday_local() {
  const std::time_t now = std::time(nullptr) - 24 * 3600 + 8 * 3600;
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

bool read_lines(const std::string& path, std::map<std::string, std::string>& kv, std::string& err) {
  std::ifstream f(path);
  if (!f) {
    err = fmt::format("cannot read the credentials file {}", path);
    return false;
  }
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      err = fmt::format("{} line {}: expected KEY=VALUE", path, n);
      return false;
    }
    const std::string key = line.substr(0, eq);
    if (key != "operator" && key != "password" && key != "window" && key != "socket") {
      err = fmt::format("{} line {}: unknown key \"{}\" (operator, password, window, socket)", path, n, key);
      return false;
    }
    kv[key] = line.substr(eq + 1);
  }
  return true;
}

bool write_file(const std::string& path, const std::string& text, std::string& err) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f || !(f << text) || !f.flush()) {
    err = fmt::format("cannot write {}", path);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reconcile — the nightly reconciliation of a clearing date with the insurer (recon.run)"};
  app.set_version_flag("--version", std::string("reconcile ") + settle::version);
  Options o;
  if (const char* s = std::getenv("SETTLED_SOCKET")) o.socket = s;
  if (const char* c = std::getenv("SETTLE_RECON_CREDENTIALS")) o.credentials = c;
  std::string socket_opt;
  app.add_option("--date", o.date, "clearing date YYYY-MM-DD (default: yesterday, UTC+8)");
  app.add_option("--socket", socket_opt, "the daemon's socket (env SETTLED_SOCKET)");
  app.add_option("--credentials", o.credentials,
                 "file of KEY=VALUE lines: operator, password, window[, socket] (env SETTLE_RECON_CREDENTIALS)");
  app.add_option("--operator", o.operator_name, "operator (supervisor or auditor)");
  app.add_option("--password-file", o.password_file,
                 "file whose first line is the password (else, under systemd, the credential reconcile-password: "
                 "$CREDENTIALS_DIRECTORY/reconcile-password)");
  app.add_option("--window", o.window, "a window of the daemon to log in at");
  app.add_option("--html", o.html, "also write the report as a self-contained HTML page");
  app.add_option("--json", o.json_file, "also write the daemon's JSON answer to FILE (\"-\": stdout, no text report)")
      ->expected(0, 1)
      ->default_str("-");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for the answer (default 900)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    for (int i = 1; i < argc; ++i) json_errors = json_errors || std::string(argv[i]).starts_with("--json");
    if (json_errors && e.get_exit_code() != 0) return error(settle::exit_code::usage, e.what());
    const int rc = app.exit(e);
    return rc == 0 ? settle::exit_code::ok : settle::exit_code::usage;
  }
  json_errors = app.count("--json") > 0;
  if (app.count("--json") > 0 && o.json_file.empty()) o.json_file = "-";

  std::map<std::string, std::string> creds;
  std::string err;
  if (!o.credentials.empty() && !read_lines(o.credentials, creds, err))
    return error(settle::exit_code::usage, err, "USAGE", "--credentials");
  if (o.operator_name.empty()) o.operator_name = creds["operator"];
  if (o.window.empty()) o.window = creds["window"];
  if (!socket_opt.empty()) {
    o.socket = socket_opt;
  } else if (!creds["socket"].empty()) {
    o.socket = creds["socket"];
  }
  std::string password = creds["password"];
  // The password's file: --password-file, else (no password in a --credentials
  // file) the systemd credential reconcile-password (LoadCredential=).
  std::string password_file = o.password_file;
  if (password_file.empty() && password.empty()) {
    if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr && *dir != '\0')
      password_file = std::string(dir) + "/reconcile-password";
  }
  if (!password_file.empty()) {
    std::ifstream f(password_file);
    if (!f || !std::getline(f, password))
      return error(settle::exit_code::usage, fmt::format("cannot read the password from {}", password_file), "USAGE",
                   "--password-file");
    while (!password.empty() && (password.back() == '\r' || password.back() == '\n')) password.pop_back();
  }
  if (o.operator_name.empty() || o.window.empty() || password.empty())
    return error(settle::exit_code::usage,
                 "operator, window and password are needed (--credentials FILE, or --operator, --window and "
                 "--password-file, or the credential reconcile-password)",
                 "USAGE", o.operator_name.empty() ? "--operator" : o.window.empty() ? "--window" : "--password-file");
  if (o.date.empty()) o.date = yesterday_local();

  std::cerr << fmt::format("reconcile: connecting to {} as {} at {}\n", o.socket, o.operator_name, o.window);
  auto client = settle::tools::CashierClient::connect(o.socket);
  if (!client) {
    // reconcile never starts the daemon: a stopped settled is the operator's to start.
    return error(settle::exit_code::unreachable,
                 fmt::format("settled is not running or not reachable ({}); reconcile does not start it: start it "
                             "(systemctl start settled) and run reconcile again",
                             client.error().message),
                 "UNREACHABLE", "--socket");
  }
  auto login = client->call("session.login", Json{{"operator", o.operator_name}, {"password", password}, {"window", o.window}},
                            std::chrono::seconds(30));
  std::fill(password.begin(), password.end(), '\0');
  if (!login) return error(settle::exit_code::unreachable, login.error().message, "UNREACHABLE");
  if (!login->ok)
    return error(settle::exit_code::refused,
                 fmt::format("login as {} refused: {} ({})", o.operator_name, login->message, login->reason),
                 login->reason);
  Ticker ticker(fmt::format("reconciling {} with the insurer (recon.run)", o.date));
  auto run = client->call("recon.run", Json{{"date", o.date}}, std::chrono::seconds(o.timeout_s));
  ticker.stop(!run ? "got no answer" : run->ok ? (run->result.value("balanced", false) ? "balanced" : "NOT balanced")
                                               : "refused");
  if (!run) return error(settle::exit_code::unreachable, run.error().message, "UNREACHABLE");
  if (!run->ok)
    return error(settle::exit_code::refused,
                 fmt::format("recon.run {} failed: {} ({})", o.date, run->message, run->reason), run->reason);
  (void)client->call("session.logout", Json::object(), std::chrono::seconds(5));

  const Json& result = run->result;
  if (o.json_file == "-") {
    std::cout << result.dump(2) << "\n";
  } else {
    std::cout << settle::tools::recon_text(result);
    if (!o.json_file.empty() && !write_file(o.json_file, result.dump(2) + "\n", err))
      return error(settle::exit_code::local, err, "LOCAL_FILE", "--json");
  }
  if (!o.html.empty() && !write_file(o.html, settle::tools::recon_html(result), err))
    return error(settle::exit_code::local, err, "LOCAL_FILE", "--html");
  const int status = settle::tools::recon_exit_status(result);
  if (status == settle::exit_code::chain_broken)
    std::cerr << "reconcile: the ledger's hash chain is broken: see the report's \"Ledger chain\" line\n";
  return status;
}
