// The console's security rules without I/O: cookies, static paths, report
// names, Origin and Content-Type, the method whitelist, the headers, the
// login throttle, tokens, and the session store's idle expiry.
#include "tools/console/sessions.hpp"
#include "tools/console/web_rules.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace settle::console;

TEST_CASE("cookie_value finds the session cookie among others") {
  CHECK(cookie_value("settle_console=abc", "settle_console") == "abc");
  CHECK(cookie_value("a=1; settle_console=xyz-_; b=2", "settle_console") == "xyz-_");
  CHECK(cookie_value("a=1;settle_console=\"q\"", "settle_console") == "q");
  CHECK(cookie_value("xsettle_console=1; settle_consolex=2", "settle_console").empty());
  CHECK(cookie_value("", "settle_console").empty());
  CHECK(cookie_value("settle_console", "settle_console").empty());
}

TEST_CASE("the session cookie's attributes and the cleared cookie") {
  const std::string c = session_cookie("TOKEN");
  CHECK(c == "settle_console=TOKEN; Path=/; Secure; HttpOnly; SameSite=Strict");
  const std::string cleared = cleared_cookie();
  CHECK(cleared.find("Max-Age=0") != std::string::npos);
  CHECK(cleared.find("settle_console=;") == 0);
}

TEST_CASE("base64url and random tokens") {
  const unsigned char f[] = {'f', 'o', 'o', 'b', 'a', 'r'};
  CHECK(base64url(f, 1) == "Zg");
  CHECK(base64url(f, 2) == "Zm8");
  CHECK(base64url(f, 3) == "Zm9v");
  CHECK(base64url(f, 6) == "Zm9vYmFy");
  const unsigned char hi[] = {0xfb, 0xff, 0xbf};
  CHECK(base64url(hi, 3) == "-_-_");
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string t = random_token();
    CHECK(t.size() == 43);
    CHECK(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos);
    seen.insert(t);
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("same_secret compares whole tokens") {
  CHECK(same_secret("abc", "abc"));
  CHECK_FALSE(same_secret("abc", "abd"));
  CHECK_FALSE(same_secret("abc", "ab"));
  CHECK_FALSE(same_secret("", ""));
}

TEST_CASE("static_path maps targets under web_dir and refuses escapes") {
  CHECK(static_path("/") == std::optional<std::string>("index.html"));
  CHECK(static_path("/app.js") == std::optional<std::string>("app.js"));
  CHECK(static_path("/vendor/uPlot.min.js?v=1") == std::optional<std::string>("vendor/uPlot.min.js"));
  CHECK(static_path("/app.css#x") == std::optional<std::string>("app.css"));
  for (const char* bad : {"", "app.js", "/../etc/passwd", "/a/../b", "/.git/config", "/.env", "/a//b", "/a/",
                          "/%2e%2e/x", "/a\\b", "//etc/passwd", "/a b", "/ü.js", "/vendor/.hidden"})
    CHECK_MESSAGE(!static_path(bad).has_value(), std::string(bad));
}

TEST_CASE("content types by extension; others are not served") {
  CHECK(content_type_of("index.html") == "text/html; charset=utf-8");
  CHECK(content_type_of("app.js") == "text/javascript; charset=utf-8");
  CHECK(content_type_of("m.mjs") == "text/javascript; charset=utf-8");
  CHECK(content_type_of("app.css") == "text/css; charset=utf-8");
  CHECK(content_type_of("a.svg") == "image/svg+xml");
  CHECK(content_type_of("a.woff2") == "font/woff2");
  CHECK(content_type_of("a.js.map") == "application/json; charset=utf-8");
  CHECK(content_type_of("package.json") == "application/json; charset=utf-8");
  CHECK(content_type_of("a.exe").empty());
  CHECK(content_type_of("Makefile").empty());
}

TEST_CASE("report names: recon-DATE and drill-*, html or json") {
  auto r = parse_report_name("recon-2026-12-03.html");
  REQUIRE(r);
  CHECK(r->kind == "recon");
  CHECK(r->date == "2026-12-03");
  CHECK(r->format == "html");
  r = parse_report_name("drill-20261204T0800.json");
  REQUIRE(r);
  CHECK(r->kind == "drill");
  CHECK(r->date.empty());
  CHECK(r->format == "json");
  CHECK(report_name_ok("recon-x.y_z-1.json"));
  for (const char* bad : {"recon-.html", "recon-a.txt", "other-2026-01-01.html", "recon-../x.html",
                          "recon-a/b.html", "recon-..html", "drill-a b.json", "recon-2026-12-03.html.bak",
                          "RECON-2026-12-03.html", ".recon-1.html"})
    CHECK_MESSAGE(!report_name_ok(bad), std::string(bad));
}

TEST_CASE("Origin must be this console's https address when present") {
  CHECK(origin_ok(std::nullopt, "console.lan:8443"));
  CHECK(origin_ok(std::string_view("https://console.lan:8443"), "console.lan:8443"));
  CHECK(origin_ok(std::string_view("HTTPS://Console.LAN:8443"), "console.lan:8443"));
  CHECK_FALSE(origin_ok(std::string_view("http://console.lan:8443"), "console.lan:8443"));
  CHECK_FALSE(origin_ok(std::string_view("https://evil.example"), "console.lan:8443"));
  CHECK_FALSE(origin_ok(std::string_view("null"), "console.lan:8443"));
  CHECK_FALSE(origin_ok(std::string_view("https://"), ""));
}

TEST_CASE("Content-Type application/json with or without parameters") {
  CHECK(json_content_type("application/json"));
  CHECK(json_content_type("application/json; charset=utf-8"));
  CHECK(json_content_type("Application/JSON"));
  CHECK_FALSE(json_content_type("text/plain"));
  CHECK_FALSE(json_content_type("application/x-www-form-urlencoded"));
  CHECK_FALSE(json_content_type("multipart/form-data; boundary=x"));
  CHECK_FALSE(json_content_type(""));
}

TEST_CASE("the /api/call whitelist: office methods, never a card or money move") {
  CHECK(offered_methods().size() == 42);
  for (const char* m : {"engine.status", "session.change_password", "settle.sheet", "closeout.record", "recon.run",
                        "outbox.resolve", "operator.unlock", "audit.list", "reentry.get", "outage.record", "session.list"})
    CHECK_MESSAGE(method_offered(m), std::string(m));
  for (const char* m : {"card.read", "card.verify_pin", "person.query", "account.history", "settle.commit",
                        "settle.preview", "settle.refund", "settle.resettle", "inpatient.admit",
                        "inpatient.discharge", "session.login", "session.logout", "events.subscribe", "", "x"})
    CHECK_MESSAGE(!method_offered(m), std::string(m));
}

TEST_CASE("every response's security headers, and the sandboxed documents'") {
  const auto find = [](const auto& headers, std::string_view name) -> std::string {
    for (const auto& [n, v] : headers)
      if (n == name) return std::string(v);
    return "";
  };
  const auto normal = security_headers(Page::normal);
  CHECK(find(normal, "Content-Security-Policy") ==
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
  CHECK(find(normal, "X-Content-Type-Options") == "nosniff");
  CHECK(find(normal, "X-Frame-Options") == "DENY");
  CHECK(find(normal, "Referrer-Policy") == "no-referrer");
  CHECK(find(normal, "Strict-Transport-Security") == "max-age=31536000");
  CHECK(find(security_headers(Page::report), "Content-Security-Policy") ==
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  const auto sheet = security_headers(Page::sheet);
  CHECK(find(sheet, "Content-Security-Policy") ==
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'");
  CHECK(find(sheet, "X-Frame-Options") != "DENY");
  CHECK(find(sheet, "Strict-Transport-Security") == "max-age=31536000");
}

TEST_CASE("daemon reasons to HTTP statuses, console error bodies") {
  CHECK(status_of_reason("LOGIN_FAILED") == 401);
  CHECK(status_of_reason("LOCKED_OUT") == 423);
  CHECK(status_of_reason("LIMIT_EXCEEDED") == 429);
  CHECK(status_of_reason("FORBIDDEN") == 403);
  CHECK(status_of_reason("INVALID_REQUEST") == 400);
  CHECK(status_of_reason("NOT_FOUND") == 404);
  CHECK(error_body("CSRF", "no \"token\"") == R"({"error":{"message":"no \"token\"","reason":"CSRF"}})");
}

TEST_CASE("the login throttle blocks an address after its failures of the last minute") {
  LoginThrottle t(3);
  const auto t0 = LoginThrottle::Clock::time_point{} + std::chrono::hours(1);
  CHECK_FALSE(t.blocked("10.0.0.1", t0));
  t.failed("10.0.0.1", t0);
  t.failed("10.0.0.1", t0 + std::chrono::seconds(10));
  CHECK_FALSE(t.blocked("10.0.0.1", t0 + std::chrono::seconds(11)));
  t.failed("10.0.0.1", t0 + std::chrono::seconds(20));
  const auto wait = t.blocked("10.0.0.1", t0 + std::chrono::seconds(21));
  REQUIRE(wait);
  CHECK(*wait == 39);
  CHECK_FALSE(t.blocked("10.0.0.2", t0 + std::chrono::seconds(21)));  // another address
  // The first failure a minute old: one more login may be tried.
  CHECK_FALSE(t.blocked("10.0.0.1", t0 + std::chrono::seconds(60)));
  CHECK_FALSE(t.blocked("10.0.0.1", t0 + std::chrono::seconds(200)));
  CHECK(t.tracked() == 0);
}

namespace {
struct RecordingSink : EventSink {
  std::vector<std::string> events;
  bool ended = false;
  void send(std::string_view event, const std::string& data) override { events.push_back(std::string(event) + " " + data); }
  void end() override { ended = true; }
};
}  // namespace

TEST_CASE("sessions: tokens, lookup, idle expiry, events to their streams") {
  SessionStore store(2, std::chrono::seconds(900));
  const auto t0 = SessionStore::Clock::time_point{} + std::chrono::hours(1);
  auto a = store.add(nullptr, t0);
  auto b = store.add(nullptr, t0 + std::chrono::seconds(100));
  CHECK(store.full());
  CHECK(a->token != a->csrf);
  CHECK(store.find(a->token) == a);
  CHECK(store.find(a->csrf) == nullptr);
  CHECK(store.find(a->token.substr(0, 42)) == nullptr);
  CHECK(store.find("") == nullptr);
  CHECK(store.idle_at(t0 + std::chrono::seconds(899)).empty());
  const auto idle = store.idle_at(t0 + std::chrono::seconds(900));
  REQUIRE(idle.size() == 1);
  CHECK(idle[0] == a);

  auto sink = std::make_shared<RecordingSink>();
  a->streams.push_back(sink);
  store.broadcast("status", "{}");
  a->expire_streams("idle");
  CHECK(sink->events == std::vector<std::string>{"status {}", R"(expired {"reason":"idle"})"});
  CHECK(sink->ended);
  CHECK(store.remove(a));
  CHECK(a->ended);
  CHECK(store.find(a->token) == nullptr);
  CHECK_FALSE(store.full());
  a->operator_name = "s001";
  a->role = "supervisor";
  a->window = "W01";
  CHECK(a->describe(900).find(R"("idle_s":900)") != std::string::npos);
  (void)b;
}
