// The console's HTTPS server (http_server.hpp) on Boost.Beast over Asio SSL:
// TLS 1.2+ with ECDHE AEAD suites only, one coroutine per connection, the
// /api routes forwarding to each session's own daemon connection, static
// pages from web_dir, Server-Sent Events, the engine.status poller, idle
// expiry and the stop on SIGTERM/SIGINT. The rules themselves are in
// web_rules.*, sessions in sessions.*, the socket client in daemon_link.*.
#include "tools/console/http_server.hpp"

#include "tools/console/config.hpp"
#include "tools/console/daemon_link.hpp"
#include "tools/console/sessions.hpp"
#include "tools/console/web_rules.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace settle::console {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using json::Json;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto header_timeout = 10s;   // TLS handshake, and a request's head and body
constexpr auto write_timeout = 30s;
constexpr auto keep_alive_every = 15s;
constexpr auto status_every = 2s;
constexpr std::size_t max_stream_backlog = 256;  // events waiting for a slow browser

// AEAD suites with ECDHE only (TLS 1.2); TLS 1.3's suites are all AEAD.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string dump(const Json& j) { return json::dump_exact(j); }

Response make_response(unsigned status, std::string body, std::string_view content_type, Page page, bool api) {
  Response r{static_cast<http::status>(status), 11};
  r.set(http::field::server, "settle-console");
  for (const auto& [name, value] : security_headers(page)) r.set(name, value);
  if (api) r.set(http::field::cache_control, "no-store");
  if (!content_type.empty()) r.set(http::field::content_type, content_type);
  r.body() = std::move(body);
  r.prepare_payload();
  return r;
}

Response json_response(unsigned status, std::string body) {
  return make_response(status, std::move(body), "application/json; charset=utf-8", Page::normal, true);
}

Response console_error(unsigned status, std::string_view reason, std::string_view message) {
  return json_response(status, error_body(reason, message));
}

// The daemon's error object with data.reason also as error.reason.
Json daemon_error(const Json& response) {
  Json err = response.contains("error") && response["error"].is_object() ? response["error"] : Json::object();
  std::string reason = "INTERNAL";
  if (err.contains("data") && err["data"].is_object() && err["data"].contains("reason") &&
      err["data"]["reason"].is_string())
    reason = err["data"]["reason"].get<std::string>();
  err["reason"] = reason;
  return err;
}

std::string reason_of(const Json& err) { return err.value("reason", std::string("INTERNAL")); }

std::string iso_utc(fs::file_time_type t) {
  const auto sys = std::chrono::time_point_cast<std::chrono::seconds>(
      t - fs::file_time_type::clock::now() + std::chrono::system_clock::now());
  const std::time_t tt = std::chrono::system_clock::to_time_t(sys);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// key=value pairs of a query string; nullopt when a key is not in `allowed`
// or a value holds an escape.
std::optional<std::map<std::string, std::string>> query_params(std::string_view query,
                                                               std::initializer_list<std::string_view> allowed) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    const std::string key(part.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return std::nullopt;
    if (value.find_first_of("%+") != std::string::npos) return std::nullopt;
    out[key] = value;
  }
  return out;
}

// One /api/events stream: events queued by the session, written by the
// connection's coroutine.
class EventStream : public EventSink {
 public:
  explicit EventStream(const asio::any_io_executor& ex) : wake(ex) {}
  void send(std::string_view event, const std::string& data_json) override {
    if (ended) return;
    if (queue.size() >= max_stream_backlog) {
      end();
      return;
    }
    queue.push_back(fmt::format("event: {}\ndata: {}\n\n", event, data_json));
    wake.cancel();
  }
  void end() override {
    ended = true;
    wake.cancel();
  }
  asio::steady_timer wake;
  std::deque<std::string> queue;
  bool ended = false;
};

struct Reply {
  Response res;
  std::shared_ptr<Session> events_for;  // set: answer with the event stream of this session
};

class Console {
 public:
  Console(asio::io_context& io, const Config& c, ssl::context& t)
      : ioc(io),
        cfg(c),
        tls(t),
        sessions(c.max_sessions, std::chrono::seconds(c.session_idle_s)),
        throttle(c.login_failures_per_minute),
        acceptor(io),
        poll_wake(io),
        signals(io, SIGINT, SIGTERM) {}

  asio::io_context& ioc;
  Config cfg;
  ssl::context& tls;
  SessionStore sessions;
  LoginThrottle throttle;
  tcp::acceptor acceptor;
  asio::steady_timer poll_wake;
  asio::signal_set signals;
  bool stopping = false;

  // The last engine.status result from the anonymous connection.
  std::shared_ptr<DaemonLink> status_link;
  std::optional<Json> status;
  std::string status_failure = "no answer from settled yet";

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> connection(tcp::socket socket);
  asio::awaitable<void> poll_status();
  asio::awaitable<void> sweep_idle();
  void stop();

 private:
  asio::awaitable<Reply> route(Request& req, const std::string& ip);
  asio::awaitable<Reply> api_login(Request& req, const std::string& ip);
  asio::awaitable<Reply> api_logout(const std::shared_ptr<Session>& s);
  asio::awaitable<Reply> api_call(Request& req, const std::shared_ptr<Session>& s);
  asio::awaitable<Reply> api_sheet(std::string_view target, const std::shared_ptr<Session>& s);
  Reply api_public();
  Reply api_reports(std::string_view target, const std::shared_ptr<Session>& s);
  Reply static_file(const Request& req);
  asio::awaitable<void> stream_events(Stream& stream, const Request& req, const std::shared_ptr<Session>& s);
  std::shared_ptr<Session> session_of(const Request& req) const;
  std::optional<Response> post_checks(const Request& req, const std::shared_ptr<Session>& s, bool need_token) const;
  void end_session(const std::shared_ptr<Session>& s, const std::string& reason, bool logout);
  void on_notification(const std::weak_ptr<Session>& ws, const std::string& method, const Json& params);
  std::string hospital_name();
  std::string hospital_from_reports() const;
  std::string hospital_cache;
  std::optional<Clock::time_point> hospital_read_at;
};

std::shared_ptr<Session> Console::session_of(const Request& req) const {
  const auto it = req.find(http::field::cookie);
  if (it == req.end()) return nullptr;
  return sessions.find(cookie_value(it->value(), cookie_name));
}

// Content-Type, Origin and (after a login) the CSRF token of a POST.
std::optional<Response> Console::post_checks(const Request& req, const std::shared_ptr<Session>& s,
                                             bool need_token) const {
  const auto origin = req.find(http::field::origin);
  const std::optional<std::string_view> origin_value =
      origin == req.end() ? std::nullopt : std::optional<std::string_view>(origin->value());
  if (!origin_ok(origin_value, req[http::field::host]))
    return console_error(403, "CSRF", "the Origin header is not this console's address");
  if (!json_content_type(req[http::field::content_type]))
    return console_error(403, "CSRF", "a POST must be sent as Content-Type: application/json");
  if (need_token && !same_secret(req["X-CSRF-Token"], s->csrf))
    return console_error(403, "CSRF", "the X-CSRF-Token header is missing or not this session's token");
  return std::nullopt;
}

void Console::end_session(const std::shared_ptr<Session>& s, const std::string& reason, bool logout) {
  if (s->ended) return;
  sessions.remove(s);
  s->expire_streams(reason);
  spdlog::info("console: session of {} at {} ended ({})", s->operator_name, s->window, reason);
  auto link = s->link;
  if (!link) return;
  link->on_notification = nullptr;
  link->on_closed = nullptr;
  if (!logout || !link->is_open()) {
    link->close();
    return;
  }
  asio::co_spawn(
      ioc,
      [link]() -> asio::awaitable<void> {
        const Json params = Json::object();
        const std::string method = "session.logout";
        co_await link->call(method, params, 5s);
        link->close();
      },
      asio::detached);
}

void Console::on_notification(const std::weak_ptr<Session>& ws, const std::string& method, const Json& params) {
  auto s = ws.lock();
  if (!s || s->ended) return;
  if (method == "network.changed") {
    s->emit("network", dump(Json{{"network", params.value("network", std::string())}}));
    poll_wake.cancel();
  } else if (method == "card.inserted" || method == "card.removed") {
    s->emit("card", dump(Json{{"event", method}, {"window", params.value("window", std::string())}}));
    poll_wake.cancel();
  } else if (method == "work.added") {
    s->emit("work", dump(params));
  } else if (method == "session.expired") {
    end_session(s, params.value("reason", std::string("expired")), false);
  }
}

std::string Console::hospital_name() {
  if (!cfg.hospital.empty()) return cfg.hospital;
  // Read again at most once a minute (a month's report may be megabytes).
  const auto now = Clock::now();
  if (hospital_read_at && now - *hospital_read_at < 60s) return hospital_cache;
  hospital_read_at = now;
  hospital_cache = hospital_from_reports();
  return hospital_cache;
}

std::string Console::hospital_from_reports() const {
  // The newest reconciliation report names the hospital (recon.run's `hospital`).
  std::error_code ec;
  fs::path newest;
  for (const auto& e : fs::directory_iterator(cfg.reports_dir, ec)) {
    const auto name = e.path().filename().string();
    const auto r = parse_report_name(name);
    if (r && r->kind == "recon" && r->format == "json" && !r->date.empty() &&
        (newest.empty() || name > newest.filename().string()))
      newest = e.path();
  }
  if (newest.empty()) return "";
  const auto text = read_file(newest);
  if (!text || text->size() > 16 * 1024 * 1024) return "";
  auto j = json::parse(*text, "report");
  if (!j || !j->is_object() || !j->contains("hospital")) return "";
  const Json& h = (*j)["hospital"];
  if (h.is_string()) return h.get<std::string>();
  if (h.is_object() && h.contains("name") && h["name"].is_string()) return h["name"].get<std::string>();
  return "";
}

Reply Console::api_public() {
  if (!status) return {console_error(502, "DAEMON_UNREACHABLE", status_failure), nullptr};
  Json windows = Json::array();
  if (status->contains("readers") && (*status)["readers"].is_array())
    for (const auto& r : (*status)["readers"])
      if (r.is_object() && r.contains("window")) windows.push_back(r["window"]);
  const Json out{{"api_version", status->value("api_version", Json())},
                 {"network", status->value("network", Json())},
                 {"since", status->value("since", Json())},
                 {"windows", windows},
                 {"hospital", hospital_name()}};
  return {json_response(200, dump(out)), nullptr};
}

asio::awaitable<Reply> Console::api_login(Request& req, const std::string& ip) {
  if (auto wait = throttle.blocked(ip, Clock::now())) {
    Json body{{"error",
               {{"reason", "LIMIT_EXCEEDED"},
                {"message", fmt::format("too many failed logins from {} in the last minute; wait {} s", ip, *wait)},
                {"retry_after_s", *wait}}}};
    Response r = json_response(429, dump(body));
    r.set(http::field::retry_after, std::to_string(*wait));
    co_return Reply{std::move(r), nullptr};
  }
  auto body = json::parse(req.body(), "request body");
  if (!body || !body->is_object())
    co_return Reply{console_error(400, "BAD_REQUEST", "the body must be a JSON object {operator, password, window}"),
                    nullptr};
  for (const char* key : {"operator", "password", "window"})
    if (!body->contains(key) || !(*body)[key].is_string())
      co_return Reply{console_error(400, "BAD_REQUEST", fmt::format("\"{}\" must be a string", key)), nullptr};
  // A new login from a browser that has a session ends that session first.
  if (auto old = session_of(req)) end_session(old, "logout", true);
  if (sessions.full())
    co_return Reply{console_error(429, "LIMIT_EXCEEDED",
                                  fmt::format("the console has its {} sessions open (max_sessions)", cfg.max_sessions)),
                    nullptr};

  auto link = DaemonLink::create(ioc.get_executor(), cfg.socket);
  const std::string failure = co_await link->connect();
  if (!failure.empty()) co_return Reply{console_error(502, "DAEMON_UNREACHABLE", failure), nullptr};
  const Json params{{"operator", (*body)["operator"]}, {"password", (*body)["password"]}, {"window", (*body)["window"]}};
  const std::string login = "session.login";
  const DaemonLink::Answer a = co_await link->call(login, params, 30s);
  if (!a.reached) {
    link->close();
    co_return Reply{console_error(502, "DAEMON_UNREACHABLE", a.failure), nullptr};
  }
  const std::string who = (*body)["operator"].get<std::string>();
  if (!a.response.contains("result") || !a.response["result"].is_object()) {
    link->close();
    const Json err = daemon_error(a.response);
    const std::string reason = reason_of(err);
    if (reason == "LOGIN_FAILED" || reason == "LOCKED_OUT") throttle.failed(ip, Clock::now());
    spdlog::warn("console: login of {} from {} refused: {}", who, ip, reason);
    co_return Reply{json_response(status_of_reason(reason), dump(Json{{"error", err}})), nullptr};
  }
  const Json& result = a.response["result"];
  auto s = sessions.add(link, Clock::now());
  s->operator_name = result.value("operator", who);
  s->role = result.value("role", std::string());
  s->window = result.value("window", std::string());
  s->password_change_required = result.value("password_change_required", false);
  s->client_ip = ip;
  const std::weak_ptr<Session> ws = s;
  link->on_notification = [this, ws](const std::string& method, const Json& p) { on_notification(ws, method, p); };
  link->on_closed = [this, ws](const std::string& why) {
    if (auto live = ws.lock()) {
      spdlog::warn("console: the daemon connection of {}'s session closed: {}", live->operator_name, why);
      end_session(live, "disconnected", false);
    }
  };
  Json topics = Json::array({"card", "network"});
  if (s->role == "supervisor" || s->role == "auditor") topics.push_back("work");
  const std::string subscribe = "events.subscribe";
  const Json sub_params{{"topics", topics}};
  const DaemonLink::Answer sub = co_await link->call(subscribe, sub_params, 10s);
  if (!sub.reached || !sub.response.contains("result"))
    spdlog::warn("console: events.subscribe for {} failed: {}", s->operator_name,
                 sub.reached ? dump(sub.response) : sub.failure);
  spdlog::info("console: {} ({}) logged in at {} from {}", s->operator_name, s->role, s->window, ip);
  Response r = json_response(200, s->describe(cfg.session_idle_s));
  r.set(http::field::set_cookie, session_cookie(s->token));
  co_return Reply{std::move(r), nullptr};
}

asio::awaitable<Reply> Console::api_logout(const std::shared_ptr<Session>& s) {
  auto link = s->link;
  if (link) {
    link->on_notification = nullptr;
    link->on_closed = nullptr;
  }
  sessions.remove(s);
  s->expire_streams("logout");
  if (link && link->is_open()) {
    const std::string method = "session.logout";
    const Json params = Json::object();
    co_await link->call(method, params, 5s);
  }
  if (link) link->close();
  spdlog::info("console: {} logged out", s->operator_name);
  Response r = json_response(200, "{}");
  r.set(http::field::set_cookie, cleared_cookie());
  co_return Reply{std::move(r), nullptr};
}

asio::awaitable<Reply> Console::api_call(Request& req, const std::shared_ptr<Session>& s) {
  auto body = json::parse(req.body(), "request body");
  if (!body || !body->is_object() || !body->contains("method") || !(*body)["method"].is_string())
    co_return Reply{console_error(400, "BAD_REQUEST", "the body must be {\"method\": NAME, \"params\": {...}}"),
                    nullptr};
  for (const auto& item : body->items())
    if (item.key() != "method" && item.key() != "params")
      co_return Reply{console_error(400, "BAD_REQUEST", fmt::format("unknown member \"{}\"", item.key())), nullptr};
  const std::string method = (*body)["method"].get<std::string>();
  Json params = Json::object();
  if (body->contains("params") && !(*body)["params"].is_null()) {
    if (!(*body)["params"].is_object())
      co_return Reply{console_error(400, "BAD_REQUEST", "\"params\" must be an object"), nullptr};
    params = (*body)["params"];
  }
  if (!method_offered(method))
    co_return Reply{console_error(403, "FORBIDDEN",
                                  fmt::format("the console does not offer {} (a window's terminal does)", method)),
                    nullptr};
  auto link = s->link;
  const auto timeout = method == "recon.run" || method == "redlist.sync" || method == "uploads.flush" ? 900s : 120s;
  const DaemonLink::Answer a = co_await link->call(method, params, timeout);
  if (!a.reached) co_return Reply{console_error(502, "DAEMON_UNREACHABLE", a.failure), nullptr};
  if (a.response.contains("result")) {
    if (method == "session.change_password" && a.response["result"].is_object())
      s->password_change_required = a.response["result"].value("password_change_required", false);
    co_return Reply{json_response(200, dump(Json{{"result", a.response["result"]}})), nullptr};
  }
  co_return Reply{json_response(200, dump(Json{{"error", daemon_error(a.response)}})), nullptr};
}

asio::awaitable<Reply> Console::api_sheet(std::string_view target, const std::shared_ptr<Session>& s) {
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  std::string method;
  std::string id_key;
  std::string_view id;
  if (path.substr(0, 22) == "/api/sheet/settlement/") {
    method = "settle.sheet";
    id_key = "setl_id";
    id = path.substr(22);
  } else if (path.substr(0, 20) == "/api/sheet/closeout/") {
    method = "closeout.sheet";
    id_key = "closeout_id";
    id = path.substr(20);
  }
  const auto plain = [](unsigned code, const std::string& text) {
    return make_response(code, text + "\n", "text/plain; charset=utf-8", Page::sheet, true);
  };
  const bool id_ok = !id.empty() && id.size() <= 64 &&
                     std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f && c != '%'; });
  if (method.empty() || !id_ok) co_return Reply{plain(404, "NOT_FOUND: no such sheet"), nullptr};
  const auto qp = query_params(query, method == "settle.sheet" ? std::initializer_list<std::string_view>{"refund_id", "paper"}
                                                                : std::initializer_list<std::string_view>{"paper"});
  if (!qp) co_return Reply{plain(400, "BAD_REQUEST: the query takes refund_id (settlements) and paper=A4|A5"), nullptr};
  Json params{{id_key, std::string(id)}};
  for (const auto& [k, v] : *qp) params[k] = v;
  const DaemonLink::Answer a = co_await s->link->call(method, params, 60s);
  if (!a.reached) co_return Reply{plain(502, "DAEMON_UNREACHABLE: " + a.failure), nullptr};
  if (!a.response.contains("result") || !a.response["result"].is_object() ||
      !a.response["result"].contains("html") || !a.response["result"]["html"].is_string()) {
    const Json err = daemon_error(a.response);
    const std::string reason = reason_of(err);
    co_return Reply{plain(status_of_reason(reason), reason + ": " + err.value("message", std::string())), nullptr};
  }
  co_return Reply{make_response(200, a.response["result"]["html"].get<std::string>(), "text/html; charset=utf-8",
                                Page::sheet, true),
                  nullptr};
}

Reply Console::api_reports(std::string_view target, const std::shared_ptr<Session>& s) {
  if (s->role != "supervisor" && s->role != "auditor")
    return {console_error(403, "FORBIDDEN", "reports are for supervisors and auditors"), nullptr};
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/api/reports") {
    struct Entry {
      std::string name;
      ReportName r;
      std::uintmax_t size;
      fs::file_time_type mtime;
    };
    std::vector<Entry> entries;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cfg.reports_dir, ec)) {
      const auto name = e.path().filename().string();
      auto r = parse_report_name(name);
      std::error_code ec2;
      if (!r || !e.is_regular_file(ec2) || e.is_symlink(ec2)) continue;
      entries.push_back(Entry{name, *r, e.file_size(ec2), e.last_write_time(ec2)});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.mtime != b.mtime ? a.mtime > b.mtime : a.name > b.name;
    });
    Json list = Json::array();
    for (const auto& e : entries)
      list.push_back(Json{{"name", e.name},
                          {"kind", e.r.kind},
                          {"date", e.r.date.empty() ? Json() : Json(e.r.date)},
                          {"format", e.r.format},
                          {"size", e.size},
                          {"mtime", iso_utc(e.mtime)}});
    return {json_response(200, dump(Json{{"reports", list}})), nullptr};
  }
  const std::string_view name = path.substr(std::string_view("/api/reports/").size());
  if (!report_name_ok(name)) return {console_error(404, "NOT_FOUND", "no such report"), nullptr};
  const fs::path file = fs::path(cfg.reports_dir) / std::string(name);
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) return {console_error(404, "NOT_FOUND", "no such report"), nullptr};
  auto text = read_file(file);
  if (!text) return {console_error(404, "NOT_FOUND", "the report cannot be read"), nullptr};
  const bool html = parse_report_name(name)->format == "html";
  return {make_response(200, std::move(*text), html ? "text/html; charset=utf-8" : "application/json; charset=utf-8",
                        Page::report, true),
          nullptr};
}

Reply Console::static_file(const Request& req) {
  const auto not_found = [] {
    return make_response(404, "not found\n", "text/plain; charset=utf-8", Page::normal, false);
  };
  const auto rel = static_path(req.target());
  if (!rel) return {not_found(), nullptr};
  const std::string_view type = content_type_of(*rel);
  const fs::path file = fs::path(cfg.web_dir) / *rel;
  std::error_code ec;
  if (type.empty() || !fs::is_regular_file(fs::status(file, ec))) return {not_found(), nullptr};
  auto text = read_file(file);
  if (!text) return {not_found(), nullptr};
  Response r = make_response(200, std::move(*text), type, Page::normal, false);
  r.set(http::field::cache_control, *rel == "index.html" ? "no-cache" : "no-cache, max-age=0");
  return {std::move(r), nullptr};
}

asio::awaitable<Reply> Console::route(Request& req, const std::string& ip) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const auto method = req.method();
  if (path.substr(0, 5) != "/api/" && path != "/api") {
    if (method != http::verb::get && method != http::verb::head)
      co_return Reply{make_response(405, "GET or HEAD only\n", "text/plain; charset=utf-8", Page::normal, false),
                      nullptr};
    co_return static_file(req);
  }
  const auto wrong_method = [](std::string_view allowed) {
    Response r = console_error(405, "BAD_REQUEST", fmt::format("use {}", allowed));
    r.set(http::field::allow, allowed);
    return r;
  };
  if (path == "/api/public") {
    if (method != http::verb::get) co_return Reply{wrong_method("GET"), nullptr};
    co_return api_public();
  }
  if (path == "/api/login") {
    if (method != http::verb::post) co_return Reply{wrong_method("POST"), nullptr};
    if (auto refused = post_checks(req, nullptr, false)) co_return Reply{std::move(*refused), nullptr};
    co_return co_await api_login(req, ip);
  }
  const bool known = path == "/api/logout" || path == "/api/session" || path == "/api/call" ||
                     path == "/api/events" || path == "/api/reports" || path.substr(0, 13) == "/api/reports/" ||
                     path.substr(0, 11) == "/api/sheet/";
  if (!known) co_return Reply{console_error(404, "NOT_FOUND", "no such endpoint"), nullptr};
  const bool post = path == "/api/logout" || path == "/api/call";
  if (post && method != http::verb::post) co_return Reply{wrong_method("POST"), nullptr};
  if (!post && method != http::verb::get) co_return Reply{wrong_method("GET"), nullptr};
  if (post) {
    // Content-Type and Origin before the session: a forged request learns nothing.
    if (auto refused = post_checks(req, nullptr, false)) co_return Reply{std::move(*refused), nullptr};
  }
  auto s = session_of(req);
  if (!s) {
    Response r = console_error(401, "UNAUTHENTICATED", "no session or the session has ended: log in");
    if (req.find(http::field::cookie) != req.end()) r.set(http::field::set_cookie, cleared_cookie());
    co_return Reply{std::move(r), nullptr};
  }
  if (post) {
    if (auto refused = post_checks(req, s, true)) co_return Reply{std::move(*refused), nullptr};
  }
  if (path == "/api/events") co_return Reply{Response{}, s};
  s->last_activity = Clock::now();
  if (path == "/api/session") co_return Reply{json_response(200, s->describe(cfg.session_idle_s)), nullptr};
  if (path == "/api/logout") co_return co_await api_logout(s);
  if (!s->link || !s->link->is_open()) {
    end_session(s, "disconnected", false);
    co_return Reply{console_error(502, "DAEMON_UNREACHABLE", "the session's connection to settled is gone: log in again"),
                    nullptr};
  }
  if (path == "/api/call") co_return co_await api_call(req, s);
  if (path.substr(0, 11) == "/api/sheet/") co_return co_await api_sheet(target, s);
  co_return api_reports(target, s);
}

asio::awaitable<void> Console::stream_events(Stream& stream, const Request& req, const std::shared_ptr<Session>& s) {
  auto sink = std::make_shared<EventStream>(ioc.get_executor());
  s->streams.push_back(sink);
  if (status) sink->send("status", dump(*status));
  // The head and the chunks written as bytes: one write path for the whole
  // stream (fewer Beast serializer instantiations in this file).
  std::string head = fmt::format("HTTP/1.{} 200 OK\r\nServer: settle-console\r\n", req.version() == 10 ? 0 : 1);
  for (const auto& [name, value] : security_headers(Page::normal)) head += fmt::format("{}: {}\r\n", name, value);
  head += "Cache-Control: no-store\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  boost::system::error_code ec;
  beast::get_lowest_layer(stream).expires_after(write_timeout);
  co_await asio::async_write(stream, asio::buffer(head), asio::redirect_error(asio::use_awaitable, ec));
  while (!ec) {
    std::string out;
    while (!sink->queue.empty()) {
      out += sink->queue.front();
      sink->queue.pop_front();
    }
    if (out.empty() && !sink->ended) {
      sink->wake.expires_after(keep_alive_every);
      boost::system::error_code wait_ec;
      co_await sink->wake.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
      if (wait_ec) continue;  // woken: an event or the end
      out = ": keep-alive\n\n";
    }
    std::string frame = out.empty() ? std::string() : fmt::format("{:x}\r\n{}\r\n", out.size(), out);
    if (sink->ended && sink->queue.empty()) frame += "0\r\n\r\n";
    beast::get_lowest_layer(stream).expires_after(write_timeout);
    co_await asio::async_write(stream, asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec));
    if (sink->ended && sink->queue.empty()) break;
  }
  sink->ended = true;
}

asio::awaitable<void> Console::connection(tcp::socket socket) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  const std::string ip = ec ? std::string("unknown") : remote.address().to_string();
  Stream stream(std::move(socket), tls);
  beast::get_lowest_layer(stream).expires_after(header_timeout);
  co_await stream.async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buffer;
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(header_timeout);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      Response r = console_error(413, "TOO_LARGE", fmt::format("a request body may hold at most {} bytes", max_body_bytes));
      r.keep_alive(false);
      beast::get_lowest_layer(stream).expires_after(write_timeout);
      co_await http::async_write(stream, r, asio::redirect_error(asio::use_awaitable, ec));
      // A lingering close: the client may still be sending the body, and a
      // close with bytes unread resets the connection before it reads the
      // 413. What still comes is read and dropped (at most 2 s and 1 MiB).
      if (!ec) {
        std::array<char, 16 * 1024> scratch{};
        std::size_t dropped = 0;
        beast::get_lowest_layer(stream).expires_after(2s);
        while (dropped < 1024 * 1024) {
          dropped += co_await stream.async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
        }
      }
      break;
    }
    if (ec) break;
    Request req = parser.release();
    beast::get_lowest_layer(stream).expires_never();
    Reply reply = co_await route(req, ip);
    if (reply.events_for) {
      co_await stream_events(stream, req, reply.events_for);
      break;
    }
    Response& res = reply.res;
    res.version(req.version());
    res.keep_alive(req.keep_alive() && !stopping);
    if (req.method() == http::verb::head) {
      // The head alone: Content-Length stays the body's, the body is not sent.
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    beast::get_lowest_layer(stream).expires_after(write_timeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  beast::get_lowest_layer(stream).expires_after(2s);
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Console::accept_loop() {
  while (!stopping) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) co_return;
    if (ec) {
      spdlog::warn("console: accept failed: {}", ec.message());
      asio::steady_timer pause(ioc, 100ms);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(ioc, connection(std::move(socket)), asio::detached);
  }
}

// engine.status every 2 s (at once when a session reports a network or card
// event) on one anonymous connection; reconnects with a growing pause.
asio::awaitable<void> Console::poll_status() {
  auto backoff = 1s;
  bool reported_down = false;
  const std::string method = "engine.status";
  const Json params = Json::object();
  while (!stopping) {
    if (!status_link || !status_link->is_open()) {
      status_link = DaemonLink::create(ioc.get_executor(), cfg.socket);
      const std::string failure = co_await status_link->connect();
      if (!failure.empty()) {
        status.reset();
        status_failure = failure;
        if (!reported_down) spdlog::warn("console: {}; trying again", failure);
        reported_down = true;
        poll_wake.expires_after(backoff);
        boost::system::error_code ec;
        co_await poll_wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        backoff = std::min<std::chrono::seconds>(backoff * 2, 30s);
        continue;
      }
      if (reported_down) spdlog::info("console: settled's cashier socket {} answers again", cfg.socket);
      reported_down = false;
      backoff = 1s;
    }
    const DaemonLink::Answer a = co_await status_link->call(method, params, 10s);
    if (a.reached && a.response.contains("result")) {
      status = a.response["result"];
      sessions.broadcast("status", dump(*status));
    } else if (!a.reached) {
      status.reset();
      status_failure = a.failure;
      status_link->close();
      continue;
    }
    poll_wake.expires_after(status_every);
    boost::system::error_code ec;
    co_await poll_wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Console::sweep_idle() {
  asio::steady_timer tick(ioc);
  while (!stopping) {
    for (const auto& s : sessions.idle_at(Clock::now())) end_session(s, "idle", true);
    tick.expires_after(1s);
    boost::system::error_code ec;
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void Console::stop() {
  if (stopping) return;
  stopping = true;
  spdlog::info("console: stopping; logging out {} sessions", sessions.size());
  boost::system::error_code ignored;
  acceptor.close(ignored);
  for (const auto& s : sessions.all()) end_session(s, "shutdown", true);
  poll_wake.cancel();
  if (status_link) status_link->close();
}

}  // namespace

int serve(const Config& cfg) {
  asio::io_context ioc(1);
  ssl::context tls(ssl::context::tls_server);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                  ssl::context::single_dh_use);
  SSL_CTX* ctx = tls.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
    spdlog::critical("console: the TLS cipher list is not supported by this OpenSSL");
    return 2;
  }
  boost::system::error_code ec;
  tls.use_certificate_chain_file(cfg.cert_file, ec);
  if (ec) {
    spdlog::critical("console: console.cert_file {}: {}", cfg.cert_file, ec.message());
    return 2;
  }
  tls.use_private_key_file(cfg.key_file, ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(ctx) != 1) {
    spdlog::critical("console: console.key_file {}: {}", cfg.key_file,
                     ec ? ec.message() : std::string("the key does not belong to the certificate"));
    return 2;
  }

  Console console(ioc, cfg, tls);
  const tcp::endpoint ep(asio::ip::make_address(cfg.listen_host, ec), cfg.listen_port);
  if (!ec) console.acceptor.open(ep.protocol(), ec);
  if (!ec) console.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) console.acceptor.bind(ep, ec);
  if (!ec) console.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    spdlog::critical("console: console.listen {}:{}: {}", cfg.listen_host, cfg.listen_port, ec.message());
    return 2;
  }
  spdlog::info("console: listening on https://{}:{} (settled at {})",
               ep.address().is_v6() ? "[" + cfg.listen_host + "]" : cfg.listen_host, cfg.listen_port, cfg.socket);

  asio::steady_timer grace(ioc);
  console.signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    spdlog::info("console: signal {}", sig);
    console.stop();
    // The logouts have a moment to be answered, then everything stops.
    grace.expires_after(1500ms);
    grace.async_wait([&ioc](const boost::system::error_code&) { ioc.stop(); });
  });
  asio::co_spawn(ioc, console.accept_loop(), asio::detached);
  asio::co_spawn(ioc, console.poll_status(), asio::detached);
  asio::co_spawn(ioc, console.sweep_idle(), asio::detached);
  ioc.run();
  spdlog::info("console: stopped");
  return 0;
}

}  // namespace settle::console
