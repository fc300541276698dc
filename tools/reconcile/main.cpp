// reconcile: the nightly reconciliation (对账). Logs in to settled over its
// socket (settlectl's client), calls recon.run for a clearing date, prints a
// text report, optionally writes HTML and JSON. Exit 0 balanced, 1 not, 2 error.
#include "tools/common/version.hpp"
#include "tools/reconcile/report.hpp"
#include "tools/settlectl/client.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

namespace {

using settle::json::Json;

struct Options {
  std::string socket = "/var/lib/settled/cashier.sock";
  std::string credentials;  // KEY=VALUE lines: operator, password, window, socket
  std::string operator_name;
  std::string password_file;
  std::string window;
  std::string date;
  std::string html;
  std::string json_file;  // "-" = stdout instead of the text report
  int timeout_s = 900;
};

int error(const std::string& what) {
  std::cerr << "reconcile: " << what << "\n";
  return 2;
}

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
  app.add_option("--password-file", o.password_file, "file whose first line is the password");
  app.add_option("--window", o.window, "a window of the daemon to log in at");
  app.add_option("--html", o.html, "also write the report as a self-contained HTML page");
  app.add_option("--json", o.json_file, "also write the daemon's JSON answer to FILE (\"-\": stdout, no text report)")
      ->expected(0, 1)
      ->default_str("-");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for the answer (default 900)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (app.count("--json") > 0 && o.json_file.empty()) o.json_file = "-";

  std::map<std::string, std::string> creds;
  std::string err;
  if (!o.credentials.empty() && !read_lines(o.credentials, creds, err)) return error(err);
  if (o.operator_name.empty()) o.operator_name = creds["operator"];
  if (o.window.empty()) o.window = creds["window"];
  if (!socket_opt.empty()) {
    o.socket = socket_opt;
  } else if (!creds["socket"].empty()) {
    o.socket = creds["socket"];
  }
  std::string password = creds["password"];
  if (!o.password_file.empty()) {
    std::ifstream f(o.password_file);
    if (!f || !std::getline(f, password)) return error(fmt::format("cannot read the password from {}", o.password_file));
    while (!password.empty() && (password.back() == '\r' || password.back() == '\n')) password.pop_back();
  }
  if (o.operator_name.empty() || o.window.empty() || password.empty())
    return error("operator, window and password are needed (--credentials FILE, or --operator, --window and --password-file)");
  if (o.date.empty()) o.date = yesterday_local();

  auto client = settle::tools::CashierClient::connect(o.socket);
  if (!client) return error(client.error().message);
  auto login = client->call("session.login", Json{{"operator", o.operator_name}, {"password", password}, {"window", o.window}},
                            std::chrono::seconds(30));
  std::fill(password.begin(), password.end(), '\0');
  if (!login) return error(login.error().message);
  if (!login->ok) return error(fmt::format("login as {} refused: {} ({})", o.operator_name, login->message, login->reason));
  auto run = client->call("recon.run", Json{{"date", o.date}}, std::chrono::seconds(o.timeout_s));
  if (!run) return error(run.error().message);
  if (!run->ok) return error(fmt::format("recon.run {} failed: {} ({})", o.date, run->message, run->reason));
  (void)client->call("session.logout", Json::object(), std::chrono::seconds(5));

  const Json& result = run->result;
  const bool balanced = result.value("balanced", false);
  if (o.json_file == "-") {
    std::cout << result.dump(2) << "\n";
  } else {
    std::cout << settle::tools::recon_text(result);
    if (!o.json_file.empty() && !write_file(o.json_file, result.dump(2) + "\n", err)) return error(err);
  }
  if (!o.html.empty() && !write_file(o.html, settle::tools::recon_html(result), err)) return error(err);
  return balanced ? 0 : 1;
}
