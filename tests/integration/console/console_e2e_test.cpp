// The console process against the real settled over real HTTPS (curl): the
// public status, logins refused and accepted, the CSRF and Origin checks,
// the method whitelist, the event stream, reports, logout, the console's own
// login throttle, static files, and a clean stop on SIGTERM.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace settle::testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;
  // The value of a response header (case-insensitive name), or "".
  std::string header(std::string name) const {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::size_t pos = 0;
    while (pos < headers.size()) {
      const auto eol = headers.find('\n', pos);
      std::string line = headers.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      pos = eol == std::string::npos ? headers.size() : eol + 1;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string n = line.substr(0, colon);
      std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
      if (n != name) continue;
      std::string v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ')) v.erase(v.begin());
      while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
      return v;
    }
    return "";
  }
  Json json() const { return Json::parse(body); }
};

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class Console {
 public:
  Console(const fs::path& dir, const std::string& socket) : dir_(dir), port_(free_port()) {
    fs::create_directories(dir_ / "web");
    fs::create_directories(dir_ / "reports");
    fs::create_directories(dir_ / ".hidden");
    std::ofstream(dir_ / "web" / "index.html") << "<!DOCTYPE html><title>console test page</title>\n";
    std::ofstream(dir_ / "web" / "app.js") << "// app\n";
    std::ofstream(dir_ / "reports" / "recon-2026-12-03.json") << R"({"hospital":{"code":"H1","name":"示例医院"}})";
    std::ofstream(dir_ / "reports" / "recon-2026-12-03.html") << "<p>report</p>";
    std::ofstream(dir_ / "reports" / "notes.txt") << "not a report";
    fs::copy_file(fs::path(SETTLE_BINARY_DIR) / "pki" / "server.crt", dir_ / "console.crt",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(fs::path(SETTLE_BINARY_DIR) / "pki" / "server.key", dir_ / "console.key",
                  fs::copy_options::overwrite_existing);
    ::chmod((dir_ / "console.key").c_str(), 0600);
    std::ofstream(dir_ / "console.toml") << fmt::format(
        "[console]\nlisten = \"127.0.0.1:{}\"\ncert_file = \"console.crt\"\nkey_file = \"console.key\"\n"
        "socket = \"{}\"\nweb_dir = \"web\"\nreports_dir = \"reports\"\nsession_idle_s = 900\n"
        "login_failures_per_minute = 3\n",
        port_, socket);
  }
  ~Console() { stop(); }

  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string log = (dir_ / "console.log").string();
      std::freopen(log.c_str(), "a", stdout);
      std::freopen(log.c_str(), "a", stderr);
      const std::string config = (dir_ / "console.toml").string();
      ::execl(SETTLE_CONSOLE_BINARY, SETTLE_CONSOLE_BINARY, "--config", config.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    // Up once /api/public answers with the daemon's status.
    for (int i = 0; i < 100; ++i) {
      if (get("/api/public").status == 200) return;
      std::this_thread::sleep_for(100ms);
    }
    FAIL("the console did not answer /api/public: " << slurp(dir_ / "console.log"));
  }
  // SIGTERM; the exit status.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  // curl with `extra` options (already quoted) on a path.
  HttpReply curl(const std::string& extra, const std::string& path, int max_time = 10) {
    const fs::path hdr = dir_ / "curl.headers", body = dir_ / "curl.body";
    const auto run = run_shell(fmt::format("curl -sk --max-time {} -D '{}' -o '{}' -w '%{{http_code}}' {} "
                                           "'https://127.0.0.1:{}{}'",
                                           max_time, hdr.string(), body.string(), extra, port_, path),
                               dir_, "curl");
    HttpReply r;
    r.status = std::atoi(run.out.c_str());
    r.headers = slurp(hdr);
    r.body = slurp(body);
    return r;
  }
  HttpReply get(const std::string& path, const std::string& extra = "") { return curl(extra, path); }
  HttpReply post(const std::string& path, const Json& body, const std::string& extra) {
    std::ofstream(dir_ / "request.json") << body.dump();
    return curl(fmt::format("-X POST --data-binary '@{}' {}", (dir_ / "request.json").string(), extra), path);
  }
  std::string origin() const { return fmt::format("https://127.0.0.1:{}", port_); }
  std::string json_headers() const {
    return fmt::format("-H 'Content-Type: application/json' -H 'Origin: {}'", origin());
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  std::uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("the console over HTTPS against the real settled") {
  Stack stack("console");
  stack.start_all({});
  Console console(stack.dir() / "console", stack.socket_path());
  console.start();

  // The public status, from the shared anonymous connection.
  const HttpReply pub = console.get("/api/public");
  const Json p = pub.json();
  CHECK(p["api_version"] == "1.3");
  CHECK(p["network"].is_string());
  CHECK(std::find(p["windows"].begin(), p["windows"].end(), Json("W01")) != p["windows"].end());
  CHECK(p["hospital"] == "示例医院");  // from the newest reconciliation report
  CHECK(pub.header("Cache-Control") == "no-store");
  CHECK(pub.header("Content-Type") == "application/json; charset=utf-8");
  CHECK(pub.header("X-Frame-Options") == "DENY");
  CHECK(pub.header("Strict-Transport-Security") == "max-age=31536000");
  CHECK(pub.header("Content-Security-Policy").find("frame-ancestors 'none'") != std::string::npos);

  // Static pages, and what is never served.
  const HttpReply index = console.get("/");
  CHECK(index.status == 200);
  CHECK(index.body.find("console test page") != std::string::npos);
  CHECK(index.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(index.header("X-Content-Type-Options") == "nosniff");
  CHECK(console.get("/app.js").header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(console.get("/nothing.js").status == 404);
  CHECK(console.get("/%2e%2e/console.toml", "--path-as-is").status == 404);
  CHECK(console.get("/../console.toml", "--path-as-is").status == 404);
  CHECK(console.get("/.hidden/", "--path-as-is").status == 404);

  // A wrong password: the daemon's refusal as it sent it; then the right one.
  const Json wrong{{"operator", Stack::supervisor.name}, {"password", "Wrong-Pass-2026"}, {"window", "W01"}};
  const HttpReply refused = console.post("/api/login", wrong, console.json_headers());
  CHECK(refused.status == 401);
  CHECK(refused.json()["error"]["reason"] == "LOGIN_FAILED");
  CHECK(refused.json()["error"]["data"]["attempts_left"] == 2);
  CHECK(refused.header("Set-Cookie").empty());
  // A login from another site's page is refused before the daemon is asked.
  CHECK(console.post("/api/login", wrong, "-H 'Content-Type: application/json' -H 'Origin: https://evil.example'")
            .status == 403);
  CHECK(console.post("/api/login", wrong, "-H 'Content-Type: text/plain'").status == 403);

  const Json right{{"operator", Stack::supervisor.name}, {"password", Stack::supervisor.password}, {"window", "W01"}};
  const HttpReply in = console.post("/api/login", right, console.json_headers());
  REQUIRE_MESSAGE(in.status == 200, in.body);
  const Json session = in.json();
  CHECK(session["operator"] == Stack::supervisor.name);
  CHECK(session["role"] == "supervisor");
  CHECK(session["window"] == "W01");
  CHECK(session["idle_s"] == 900);
  const std::string csrf = session["csrf_token"].get<std::string>();
  CHECK(csrf.size() >= 43);
  const std::string set_cookie = in.header("Set-Cookie");
  CHECK(set_cookie.find("; Path=/; Secure; HttpOnly; SameSite=Strict") != std::string::npos);
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  REQUIRE(cookie.size() >= std::string("settle_console=").size() + 43);
  const std::string with_cookie = fmt::format("-H 'Cookie: {}'", cookie);
  const std::string with_token = fmt::format("{} {} -H 'X-CSRF-Token: {}'", with_cookie, console.json_headers(), csrf);

  CHECK(console.get("/api/session", with_cookie).json()["csrf_token"] == csrf);
  CHECK(console.get("/api/session").status == 401);

  // /api/call: without the token 403; with it engine.status answers.
  const Json status_call{{"method", "engine.status"}, {"params", Json::object()}};
  const HttpReply no_token = console.post("/api/call", status_call, with_cookie + " " + console.json_headers());
  CHECK(no_token.status == 403);
  CHECK(no_token.json()["error"]["reason"] == "CSRF");
  CHECK(console.post("/api/call", status_call, with_cookie + " " + console.json_headers() + " -H 'X-CSRF-Token: x'")
            .status == 403);
  const HttpReply st = console.post("/api/call", status_call, with_token);
  REQUIRE_MESSAGE(st.status == 200, st.body);
  CHECK(st.json()["result"]["api_version"] == "1.3");
  CHECK(st.header("Cache-Control") == "no-store");
  // The daemon's own refusal passes through with its reason.
  const HttpReply nf = console.post("/api/call", Json{{"method", "settle.get"}, {"params", {{"setl_id", "999999"}}}},
                                    with_token);
  CHECK(nf.status == 200);
  CHECK(nf.json()["error"]["reason"] == "NOT_FOUND");
  // A method the console does not offer: 403, nothing sent.
  const HttpReply card = console.post("/api/call", Json{{"method", "card.read"}, {"params", Json::object()}}, with_token);
  CHECK(card.status == 403);
  CHECK(card.json()["error"]["reason"] == "FORBIDDEN");
  CHECK(console.post("/api/call", Json{{"method", "settle.commit"}}, with_token).status == 403);
  CHECK(console.post("/api/call", Json::array(), with_token).status == 400);
  // A body past 64 KiB.
  CHECK(console.post("/api/call", Json{{"method", "engine.status"}, {"pad", std::string(70 * 1024, 'x')}}, with_token)
            .status == 413);

  // The sheet of a settlement that does not exist: the daemon's NOT_FOUND as a 404 page.
  const HttpReply sheet = console.get("/api/sheet/settlement/999999?paper=A4", with_cookie);
  CHECK(sheet.status == 404);
  CHECK(sheet.header("Content-Security-Policy").find("sandbox") == 0);

  // Reports, newest first; only report-shaped names.
  const HttpReply reports = console.get("/api/reports", with_cookie);
  REQUIRE_MESSAGE(reports.status == 200, reports.body);
  CHECK(reports.json()["reports"].size() == 2);
  const HttpReply report = console.get("/api/reports/recon-2026-12-03.html", with_cookie);
  CHECK(report.status == 200);
  CHECK(report.header("Content-Security-Policy") ==
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  CHECK(console.get("/api/reports/notes.txt", with_cookie).status == 404);

  // The event stream: `status` at once (and every 2 s).
  const HttpReply events = console.curl("-N " + with_cookie, "/api/events", 3);
  CHECK(events.header("Content-Type") == "text/event-stream; charset=utf-8");
  CHECK(events.body.find("event: status\ndata: {") != std::string::npos);
  CHECK(console.get("/api/events").status == 401);

  // Logout: the session and its cookie end.
  const HttpReply out = console.post("/api/logout", Json::object(), with_token);
  CHECK(out.status == 200);
  CHECK(out.header("Set-Cookie").find("Max-Age=0") != std::string::npos);
  CHECK(console.get("/api/session", with_cookie).status == 401);
  CHECK(console.post("/api/call", status_call, with_token).status == 401);

  // The console's own throttle: the supervisor's wrong password above and two
  // more failures make 3 a minute from this address; the 4th is not sent on.
  const Json unknown{{"operator", "nobody"}, {"password", "Wrong-Pass-2026"}, {"window", "W01"}};
  CHECK(console.post("/api/login", unknown, console.json_headers()).status == 401);
  CHECK(console.post("/api/login", unknown, console.json_headers()).status == 401);
  const HttpReply throttled = console.post("/api/login", right, console.json_headers());
  CHECK(throttled.status == 429);
  CHECK(throttled.json()["error"]["reason"] == "LIMIT_EXCEEDED");
  CHECK(throttled.json()["error"]["retry_after_s"].get<int>() >= 1);

  CHECK(console.stop() == 0);
  const std::string log = slurp(console.dir() / "console.log");
  CHECK(log.find("console: stopped") != std::string::npos);
}
