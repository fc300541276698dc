// The cashier socket server over a real Unix socket and a real loopback TCP
// port, with a fake dispatcher: pipelining and out-of-order answers, bad and
// oversized lines, the bad-line disconnect, notifications, socket mode,
// refusing a second server, sessions, roles, lockout and masking.
#include "protocol/cashier/server.hpp"

#include "protocol/cashier/mask.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/system/error_code.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <mutex>
#include <thread>
#include <tuple>

using namespace settle;
using namespace settle::cashier;
using namespace std::chrono_literals;

namespace {

constexpr KdfParams kFast{std::uint64_t{1} << 10, 8, 1};
constexpr const char* kFullId = "11010119900307123X";

// A dispatcher whose answers the test controls: "settle.get" with a setl_id
// starting with "hold" is held until release(); "drop" drops the completion;
// everything else is answered at once.
class FakeDispatcher final : public Dispatcher {
 public:
  void dispatch(const SessionInfo& session, Call call, Completion done) override {
    std::unique_lock lock(mutex_);
    ++calls_;
    methods_.push_back(call.method);
    if (call.method == Method::settle_get) {
      const auto& p = std::get<SettleGetParams>(call.params);
      if (p.setl_id.rfind("hold", 0) == 0) {
        held_[p.setl_id] = std::move(done);
        cv_.notify_all();
        return;
      }
      if (p.setl_id == "drop") return;  // the Completion dies uncalled
      if (p.setl_id == "refused") {
        lock.unlock();
        done(Reply::fail(make_error(Reason::insurer_rejected, "insurer",
                                    fmt::format("the insurer refused 2207 for {}", kFullId)),
                         Json{{"infcode", -1}, {"err_msg", fmt::format("card A12345678\x01 of {}\n", kFullId)}}));
        return;
      }
      if (p.setl_id == "with-id") {
        lock.unlock();
        done(Reply::ok(Json{{"setl_id", p.setl_id}, {"person", {{"id_no", kFullId}, {"psn_name", "张三"}}}}));
        return;
      }
      lock.unlock();
      done(Reply::ok(Json{{"setl_id", p.setl_id}, {"total", json::amount_value(Amount::fen(1230))}}));
      return;
    }
    lock.unlock();
    switch (call.method) {
      case Method::engine_status:
        done(Reply::ok(Json{{"network", "online"}}));
        return;
      case Method::person_query:
        done(Reply::ok(Json{{"psn_name", "张三"}, {"id_no", kFullId}, {"operator", session.operator_name},
                            {"window", session.window}, {"source", session.source}}));
        return;
      case Method::settle_commit:
        done(Reply::ok(Json{{"request_id", *call.request_id}, {"canonical", *call.canonical}}));
        return;
      case Method::card_verify_pin:
        done(Reply::fail(make_error(Reason::pin_wrong, "", "wrong PIN"), Json{{"retries_left", 2}}));
        return;
      default:
        done(Reply::ok(Json::object()));
        return;
    }
  }
  void session_ended(std::uint64_t connection_id) override {
    std::lock_guard lock(mutex_);
    ended_.push_back(connection_id);
  }

  // Waits (bounded) until `n` calls are held.
  bool wait_held(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 10s, [&] { return held_.size() >= n; });
  }
  void release(const std::string& key) {
    Completion done;
    {
      std::lock_guard lock(mutex_);
      auto it = held_.find(key);
      REQUIRE(it != held_.end());
      done = std::move(it->second);
      held_.erase(it);
    }
    done(Reply::ok(Json{{"setl_id", key}}));  // from the test thread, not the io thread
  }
  int calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::size_t sessions_ended() {
    std::lock_guard lock(mutex_);
    return ended_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, Completion> held_;
  std::vector<Method> methods_;
  std::vector<std::uint64_t> ended_;
  int calls_ = 0;
};

std::string temp_dir() {
  std::string tmpl = "/tmp/settle-cashier-XXXXXX";
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

// A blocking line client over a Unix or TCP socket, with a receive timeout
// so a broken server fails the test instead of hanging it.
class Client {
 public:
  static Client unix_socket(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    return unix_socket_on(fd, path);
  }
  // Connects a socket made before (connect needs no new descriptor).
  static Client unix_socket_on(int fd, const std::string& path) {
    Client c;
    c.fd_ = fd;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    REQUIRE(::connect(c.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    c.set_timeout();
    return c;
  }
  static Client tcp(std::uint16_t port) {
    Client c;
    c.fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(c.fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(c.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    c.set_timeout();
    return c;
  }
  Client(Client&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  Client& operator=(Client&&) = delete;
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void request(const Json& id, std::string_view method, const Json& params = Json::object()) {
    Json r = Json::object();
    r["jsonrpc"] = "2.0";
    r["id"] = id;
    r["method"] = std::string(method);
    r["params"] = params;
    send(r.dump() + "\n");
  }
  // The next line, or nullopt at end of stream.
  std::optional<std::string> read_line() {
    for (;;) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return std::nullopt;
      if (n < 0) {
        FAIL("no answer from the server within the receive timeout (", std::strerror(errno), ")");
        return std::nullopt;
      }
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  Json read_json() {
    auto line = read_line();
    REQUIRE_MESSAGE(line.has_value(), "connection closed");
    auto j = json::parse(*line);
    REQUIRE_MESSAGE(j.ok(), *line);
    return *j;
  }
  Json call(const Json& id, std::string_view method, const Json& params = Json::object()) {
    request(id, method, params);
    Json out = read_json();
    CHECK(out["id"] == id);
    return out;
  }
  void shutdown_sending() { REQUIRE(::shutdown(fd_, SHUT_WR) == 0); }
  bool closed_by_server() {
    auto line = read_line();
    return !line.has_value();
  }

 private:
  Client() = default;
  void set_timeout() {
    timeval tv{};
    tv.tv_sec = 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  int fd_ = -1;
  std::string buf_;
};

const Actor kSetup{"setup", "", "local:test"};

AuthConfig fixture_auth() {
  AuthConfig c;
  c.max_failed_logins = 3;
  c.lockout_duration = 600s;
  c.source_failures_per_minute = 100;  // the throttle has its own unit tests
  c.kdf = kFast;
  return c;
}

struct Fixture {
  explicit Fixture(ServerConfig extra = {}, bool tcp = false) {
    dir = temp_dir();
    extra.unix_path = dir + "/cashier.sock";
    if (tcp) extra.tcp_address = "127.0.0.1";
    if (!extra.window_known) extra.window_known = [](std::string_view w) { return w.rfind("W", 0) == 0; };
    config = extra;
    // Operators past their first login (the initial password changed).
    for (const auto& [name, role, pw] : {std::tuple{"zhang", Role::cashier, "Window42pass!"},
                                         std::tuple{"li", Role::supervisor, "Superv1sor!x"},
                                         std::tuple{"wang", Role::auditor, "Aud1tor-pass"},
                                         std::tuple{"root", Role::admin, "Adm1n#secret"}}) {
      REQUIRE(auth.add_operator(name, role, std::string("Init-") + pw, kSetup).ok());
      REQUIRE(auth.change_own_password(name, std::string("Init-") + pw, pw, LoginContext{"setup", ""}).identity);
    }
    server = std::make_unique<Server>(ioc, config, auth, dispatcher);
    auto s = server->start();
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
    io_thread = std::thread([this] { ioc.run(); });
  }
  ~Fixture() {
    work.reset();
    server->stop(StopMode::abort);
    ioc.stop();
    io_thread.join();
    server.reset();
    std::error_code ec;
    ::unlink(config.unix_path.c_str());
    ::rmdir(dir.c_str());
  }
  Client connect() { return Client::unix_socket(config.unix_path); }
  Client login(const char* op, const char* pw, const char* window = "W01") {
    Client c = connect();
    Json r = c.call("login", "session.login", Json{{"operator", op}, {"password", pw}, {"window", window}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    return c;
  }

  std::string dir;
  ServerConfig config;
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
  FakeDispatcher dispatcher;
  MemoryOperatorStore store;
  Authenticator auth{store, fixture_auth()};
  std::unique_ptr<Server> server;
  std::thread io_thread;
};

std::string reason_of(const Json& answer) { return answer["error"]["data"]["reason"].get<std::string>(); }

}  // namespace

TEST_CASE("the socket is created with mode 0660") {
  Fixture f;
  struct stat st {};
  REQUIRE(::stat(f.config.unix_path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);
}

TEST_CASE("engine.status needs no login; other methods do") {
  Fixture f;
  Client c = f.connect();
  Json s = c.call(1, "engine.status");
  CHECK(s["result"]["network"] == "online");
  Json g = c.call(2, "settle.get", Json{{"setl_id", "S1"}});
  CHECK(reason_of(g) == "UNAUTHENTICATED");
  CHECK(g["error"]["code"] == reason_rpc_code(Reason::unauthenticated));
  Json lo = c.call(3, "session.logout");
  CHECK(reason_of(lo) == "UNAUTHENTICATED");
}

TEST_CASE("pipelined requests are answered by id, out of order when they finish so") {
  Fixture f;
  Client c = f.login("zhang", "Window42pass!");
  // Three requests in one write: the first is held, the others answered at once.
  std::string batch;
  batch += R"({"jsonrpc":"2.0","id":"a","method":"settle.get","params":{"setl_id":"hold-a"}})" "\n";
  batch += R"({"jsonrpc":"2.0","id":2,"method":"settle.get","params":{"setl_id":"S2"}})" "\n";
  batch += R"({"jsonrpc":"2.0","id":3.50,"method":"engine.status"})" "\n";
  c.send(batch);
  Json first = c.read_json();
  Json second = c.read_json();
  CHECK(first["id"] == 2);
  CHECK(first["result"]["setl_id"] == "S2");
  CHECK(first["result"]["total"] == "12.30");
  CHECK(json::raw_number_text(second["id"]) == "3.50");
  REQUIRE(f.dispatcher.wait_held(1));
  f.dispatcher.release("hold-a");
  Json third = c.read_json();
  CHECK(third["id"] == "a");
  CHECK(third["result"]["setl_id"] == "hold-a");
}

TEST_CASE("reading pauses at the in-flight bound") {
  ServerConfig cfg;
  cfg.max_in_flight_per_connection = 2;
  Fixture f(cfg);
  Client c = f.login("zhang", "Window42pass!");
  c.request(1, "settle.get", Json{{"setl_id", "hold-1"}});
  c.request(2, "settle.get", Json{{"setl_id", "hold-2"}});
  c.request(3, "engine.status");
  REQUIRE(f.dispatcher.wait_held(2));
  // Request 3 waits for a free slot: the first answer is 1, not 3.
  f.dispatcher.release("hold-1");
  CHECK(c.read_json()["id"] == 1);
  CHECK(c.read_json()["id"] == 3);
  f.dispatcher.release("hold-2");
  CHECK(c.read_json()["id"] == 2);
}

TEST_CASE("a 70 KiB line gets an error and the connection keeps working") {
  Fixture f;
  Client c = f.connect();
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"engine.status","params":{"pad":")";
  big += std::string(70 * 1024, 'x');
  big += "\"}}\n";
  // In pieces, so the server sees the line grow past the limit across reads.
  for (std::size_t i = 0; i < big.size(); i += 5000) c.send(std::string_view(big).substr(i, 5000));
  Json e = c.read_json();
  CHECK(e["id"].is_null());
  CHECK(reason_of(e) == "LIMIT_EXCEEDED");
  CHECK(e["error"]["data"]["limit_bytes"] == 65536);
  Json ok = c.call(2, "engine.status");
  CHECK(ok["result"]["network"] == "online");
  // An oversized line followed by a good one in the same write.
  c.send(std::string(66 * 1024, 'y') + "\n" + R"({"jsonrpc":"2.0","id":3,"method":"engine.status"})" "\n");
  CHECK(reason_of(c.read_json()) == "LIMIT_EXCEEDED");
  CHECK(c.read_json()["id"] == 3);
  // Exactly 64 KiB is still a line (and here a bad JSON one, not an oversized one).
  c.send(std::string(64 * 1024, 'z') + "\n");
  Json z = c.read_json();
  CHECK(z["error"]["code"] == rpc_parse_error);
}

TEST_CASE("invalid JSON and wrong types are answered and the connection stays usable") {
  Fixture f;
  Client c = f.login("zhang", "Window42pass!");
  c.send("{not json\n");
  Json a = c.read_json();
  CHECK(a["id"].is_null());
  CHECK(a["error"]["code"] == rpc_parse_error);
  CHECK(reason_of(a) == "INVALID_REQUEST");
  c.send(R"({"jsonrpc":"2.0","id":"x","method":"no.such"})" "\n");
  Json b = c.read_json();
  CHECK(b["id"] == "x");
  CHECK(b["error"]["code"] == rpc_method_not_found);
  Json d = c.call("y", "settle.commit", Json{{"request_id", "r1"}, {"lines", "many"}});
  CHECK(d["error"]["code"] == rpc_invalid_params);
  CHECK(d["error"]["data"]["field"] == "lines");
  Json amt = c.call("z", "settle.preview",
                    Json{{"lines", Json::array({Json{{"code", "c"}, {"name", "n"}, {"class", "A"}, {"amount", "1.234"}}})}});
  CHECK(reason_of(amt) == "INVALID_AMOUNT");
  CHECK(amt["error"]["data"]["field"] == "lines[0].amount");
  c.send("\n   \n");  // blank lines are ignored
  Json ok = c.call(9, "settle.get", Json{{"setl_id", "S9"}});
  CHECK(ok["result"]["setl_id"] == "S9");
}

TEST_CASE("nine bad lines in a row are tolerated, the tenth disconnects") {
  Fixture f;
  SUBCASE("nine") {
    Client c = f.connect();
    for (int i = 0; i < 9; ++i) {
      c.send("garbage\n");
      CHECK(c.read_json()["error"]["code"] == rpc_parse_error);
    }
    Json ok = c.call(1, "engine.status");
    CHECK(ok.contains("result"));
    // A good line reset the count: nine more are still fine.
    for (int i = 0; i < 9; ++i) c.send("[]\n");
    for (int i = 0; i < 9; ++i) CHECK(c.read_json()["error"]["code"] == rpc_invalid_request);
    CHECK(c.call(2, "engine.status").contains("result"));
  }
  SUBCASE("ten") {
    Client c = f.connect();
    std::string lines;
    for (int i = 0; i < 10; ++i) lines += "garbage\n";
    lines += R"({"jsonrpc":"2.0","id":1,"method":"engine.status"})" "\n";
    c.send(lines);
    for (int i = 0; i < 10; ++i) CHECK(c.read_json()["error"]["code"] == rpc_parse_error);
    CHECK(c.closed_by_server());
  }
}

TEST_CASE("notifications reach only logged-in subscribers of the topic") {
  Fixture f;
  Client card = f.login("zhang", "Window42pass!", "W01");
  Client net = f.login("li", "Superv1sor!x", "W02");
  Client none = f.login("wang", "Aud1tor-pass", "W03");
  Client anon = f.connect();
  CHECK(card.call(1, "events.subscribe", Json{{"topics", Json::array({"card"})}})["result"] == Json::object());
  CHECK(net.call(1, "events.subscribe", Json{{"topics", Json::array({"network"})}})["result"] == Json::object());
  CHECK(reason_of(anon.call(1, "events.subscribe", Json{{"topics", Json::array({"card"})}})) == "UNAUTHENTICATED");

  f.server->notify(Topic::card, "card.inserted", Json{{"window", "W01"}});
  f.server->notify(Topic::network, "network.changed", Json{{"network", "offline"}});

  Json n1 = card.read_json();
  CHECK(n1 == Json{{"jsonrpc", "2.0"}, {"method", "card.inserted"}, {"params", {{"window", "W01"}}}});
  Json n2 = net.read_json();
  CHECK(n2["method"] == "network.changed");
  CHECK(n2["params"]["network"] == "offline");
  // The next line each connection sees is its own answer, not someone else's notification.
  CHECK(card.call(2, "engine.status").contains("result"));
  CHECK(net.call(2, "engine.status").contains("result"));
  CHECK(none.call(2, "engine.status").contains("result"));
  CHECK(anon.call(2, "engine.status").contains("result"));

  // Logging out drops the subscription.
  CHECK(card.call(3, "session.logout")["result"] == Json::object());
  f.server->notify(Topic::card, "card.removed", Json{{"window", "W01"}});
  CHECK(card.call(4, "engine.status").contains("result"));
}

TEST_CASE("a second server refuses the path; a stale socket file is replaced; other files are left alone") {
  Fixture f;
  {
    boost::asio::io_context ioc2;
    FakeDispatcher d2;
    ServerConfig cfg;
    cfg.unix_path = f.config.unix_path;
    Server second(ioc2, cfg, f.auth, d2);
    auto s = second.start();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().reason == Reason::invalid_config);
    CHECK(s.error().message.find("another server") != std::string::npos);
  }
  // The first server still serves.
  Client c = f.connect();
  CHECK(c.call(1, "engine.status").contains("result"));

  const std::string dir = temp_dir();
  const std::string stale = dir + "/stale.sock";
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, stale.data(), stale.size());
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);  // bound, never listening: what a crashed daemon leaves
  }
  {
    boost::asio::io_context ioc3;
    FakeDispatcher d3;
    ServerConfig cfg;
    cfg.unix_path = stale;
    Server third(ioc3, cfg, f.auth, d3);
    auto s = third.start();
    CHECK_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  }
  const std::string regular = dir + "/not-a-socket";
  std::ofstream(regular) << "keep me";
  {
    boost::asio::io_context ioc4;
    FakeDispatcher d4;
    ServerConfig cfg;
    cfg.unix_path = regular;
    Server fourth(ioc4, cfg, f.auth, d4);
    auto s = fourth.start();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().reason == Reason::invalid_config);
  }
  std::ifstream in(regular);
  std::string content;
  std::getline(in, content);
  CHECK(content == "keep me");
  ::unlink(regular.c_str());
  ::unlink(stale.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("loopback TCP serves the same protocol; other addresses are refused") {
  Fixture f(ServerConfig{}, true);
  REQUIRE(f.server->tcp_port().has_value());
  Client c = Client::tcp(*f.server->tcp_port());
  CHECK(c.call(1, "engine.status")["result"]["network"] == "online");
  CHECK(reason_of(c.call(2, "settle.get", Json{{"setl_id", "S"}})) == "UNAUTHENTICATED");
  c.send("oops\n");
  CHECK(c.read_json()["error"]["code"] == rpc_parse_error);
  CHECK(c.call(3, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}})
            .contains("result"));
  CHECK(c.call(4, "settle.get", Json{{"setl_id", "S"}})["result"]["setl_id"] == "S");
  // The client is named by the user owning its end of the connection, as on the Unix socket.
  const std::string me = fmt::format("uid:{}", ::getuid());
  CHECK(c.call(5, "person.query")["result"]["source"] == me);
  Client u = f.login("li", "Superv1sor!x");
  CHECK(u.call(1, "person.query")["result"]["source"] == me);

  for (const char* addr : {"0.0.0.0", "192.168.1.10", "::", "localhost"}) {
    CAPTURE(addr);
    const std::string dir = temp_dir();
    boost::asio::io_context ioc2;
    FakeDispatcher d2;
    ServerConfig cfg;
    cfg.unix_path = dir + "/x.sock";
    cfg.tcp_address = addr;
    {
      Server s(ioc2, cfg, f.auth, d2);
      auto r = s.start();
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().reason == Reason::invalid_config);
    }
    struct stat st {};
    CHECK(::stat(cfg.unix_path.c_str(), &st) != 0);  // nothing left behind
    ::rmdir(dir.c_str());
  }
}

TEST_CASE("login, roles, lockout and unlock over the socket") {
  Fixture f;
  Client c = f.connect();
  Json ok = c.call(1, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}});
  CHECK(ok["result"] ==
        Json{{"operator", "zhang"}, {"role", "cashier"}, {"window", "W01"}, {"password_change_required", false}});
  // The dispatcher sees the session.
  Json pq = c.call(2, "person.query");
  CHECK(pq["result"]["operator"] == "zhang");
  CHECK(pq["result"]["window"] == "W01");
  // Cashiers see masked ID numbers.
  CHECK(pq["result"]["id_no"] == "110101********123X");
  // Role table.
  Json recon = c.call(3, "recon.run", Json{{"date", "2026-03-01"}});
  CHECK(reason_of(recon) == "FORBIDDEN");
  CHECK(recon["error"]["code"] == reason_rpc_code(Reason::forbidden));
  CHECK(reason_of(c.call(4, "uploads.flush")) == "FORBIDDEN");
  // Domain errors from the dispatcher keep their data.
  Json pin = c.call(5, "card.verify_pin", Json{{"pin", "1234"}});
  CHECK(reason_of(pin) == "PIN_WRONG");
  CHECK(pin["error"]["data"]["retries_left"] == 2);
  // Mutating calls reach the dispatcher with request_id and canonical form.
  Json commit = c.call(6, "settle.commit",
                       Json{{"request_id", "r-1"},
                            {"lines", Json::array({Json{{"code", "c"}, {"name", "n"}, {"class", "A"}, {"amount", "12.3"}}})}});
  CHECK(commit["result"]["request_id"] == "r-1");
  CHECK(commit["result"]["canonical"].get<std::string>().find("1230") != std::string::npos);
  // Logout ends the session.
  const std::size_t ended = f.dispatcher.sessions_ended();
  CHECK(c.call(7, "session.logout")["result"] == Json::object());
  CHECK(f.dispatcher.sessions_ended() == ended + 1);
  CHECK(reason_of(c.call(8, "person.query")) == "UNAUTHENTICATED");

  // An unknown window is refused without costing a login attempt.
  Json w = c.call(9, "session.login", Json{{"operator", "zhang"}, {"password", "x"}, {"window", "X9"}});
  CHECK(reason_of(w) == "INVALID_REQUEST");
  CHECK(w["error"]["data"]["field"] == "window");

  // Lockout after three failures, with attempts_left and until; the
  // connection that failed three times is closed after the third answer.
  Json f1 = c.call(10, "session.login", Json{{"operator", "zhang"}, {"password", "bad"}, {"window", "W01"}});
  CHECK(reason_of(f1) == "LOGIN_FAILED");
  CHECK(f1["error"]["data"]["attempts_left"] == 2);
  CHECK(f1["error"]["message"].get<std::string>().find("bad") == std::string::npos);
  Json f2 = c.call(11, "session.login", Json{{"operator", "zhang"}, {"password", "bad"}, {"window", "W01"}});
  CHECK(f2["error"]["data"]["attempts_left"] == 1);
  Json f3 = c.call(12, "session.login", Json{{"operator", "zhang"}, {"password", "bad"}, {"window", "W01"}});
  CHECK(reason_of(f3) == "LOCKED_OUT");
  CHECK(is_iso_datetime_offset(f3["error"]["data"]["until"].get<std::string>()));
  CHECK(c.closed_by_server());
  Client c2 = f.connect();
  Json f4 = c2.call(13, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}});
  CHECK(reason_of(f4) == "LOCKED_OUT");
  // The administrator's unlock (through the Authenticator the daemon shares).
  REQUIRE(f.auth.unlock("zhang", kSetup).ok());
  Json again = c2.call(14, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}});
  CHECK(again["result"]["operator"] == "zhang");

  // Supervisor and auditor.
  Client sup = f.login("li", "Superv1sor!x");
  CHECK(sup.call(1, "uploads.flush").contains("result"));
  CHECK(sup.call(2, "recon.run", Json{{"date", "2026-03-01"}}).contains("result"));
  Client aud = f.login("wang", "Aud1tor-pass");
  CHECK(aud.call(1, "recon.run", Json{{"date", "2026-03-01"}}).contains("result"));
  CHECK(reason_of(aud.call(2, "settle.commit",
                           Json{{"request_id", "r"},
                                {"lines", Json::array({Json{{"code", "c"}, {"name", "n"}, {"class", "A"}, {"amount", 1}}})}})) ==
        "FORBIDDEN");
  CHECK(reason_of(aud.call(3, "person.query")) == "FORBIDDEN");
}

TEST_CASE("ID numbers are masked for every role but auditor") {
  Fixture f;
  Client cashier = f.login("zhang", "Window42pass!");
  Client supervisor = f.login("li", "Superv1sor!x");
  Client auditor = f.login("wang", "Aud1tor-pass");
  CHECK(cashier.call(1, "settle.get", Json{{"setl_id", "with-id"}})["result"]["person"]["id_no"] == "110101********123X");
  CHECK(supervisor.call(1, "settle.get", Json{{"setl_id", "with-id"}})["result"]["person"]["id_no"] ==
        "110101********123X");
  CHECK(auditor.call(1, "settle.get", Json{{"setl_id", "with-id"}})["result"]["person"]["id_no"] == kFullId);
}

TEST_CASE("a completion dropped by the dispatcher answers INTERNAL and frees the slot") {
  ServerConfig cfg;
  cfg.max_in_flight_per_connection = 1;
  Fixture f(cfg);
  Client c = f.login("zhang", "Window42pass!");
  Json d = c.call(1, "settle.get", Json{{"setl_id", "drop"}});
  CHECK(reason_of(d) == "INTERNAL");
  CHECK(c.call(2, "settle.get", Json{{"setl_id", "S2"}})["result"]["setl_id"] == "S2");
}

TEST_CASE("a draining stop answers what is in flight, then closes") {
  Fixture f;
  Client c = f.login("zhang", "Window42pass!");
  c.request("h", "settle.get", Json{{"setl_id", "hold-x"}});
  REQUIRE(f.dispatcher.wait_held(1));
  std::promise<void> stopped;
  f.server->stop(StopMode::drain, [&] { stopped.set_value(); });
  f.dispatcher.release("hold-x");
  Json last = c.read_json();
  CHECK(last["id"] == "h");
  CHECK(c.closed_by_server());
  CHECK(stopped.get_future().wait_for(20s) == std::future_status::ready);
  struct stat st {};
  CHECK(::stat(f.config.unix_path.c_str(), &st) != 0);  // the socket file is gone
}

TEST_CASE("a subscriber that does not read its notifications is disconnected") {
  ServerConfig cfg;
  cfg.max_queued_output_bytes = 64 * 1024;
  Fixture f(cfg);
  Client slow = f.login("zhang", "Window42pass!");
  CHECK(slow.call(1, "events.subscribe", Json{{"topics", Json::array({"card"})}}).contains("result"));
  const std::string pad(1024, 'p');
  // Far more than the socket buffers and the output bound together.
  for (int i = 0; i < 4000; ++i) f.server->notify(Topic::card, "card.inserted", Json{{"window", "W01"}, {"pad", pad}});
  // Reading now: some notifications, then the end of the stream.
  int seen = 0;
  while (auto line = slow.read_line()) ++seen;
  CHECK(seen < 4000);
  // Other connections are unaffected.
  Client other = f.connect();
  CHECK(other.call(1, "engine.status").contains("result"));
}

TEST_CASE("an idle connection is closed when an idle timeout is set") {
  ServerConfig cfg;
  cfg.idle_timeout = 1000ms;
  Fixture f(cfg);
  Client c = f.login("zhang", "Window42pass!");
  const std::size_t ended = f.dispatcher.sessions_ended();
  CHECK(c.closed_by_server());
  // Closing ended the session for the dispatcher (bounded wait: the close
  // and the callback happen on the server's thread).
  for (int i = 0; i < 200 && f.dispatcher.sessions_ended() == ended; ++i) std::this_thread::sleep_for(10ms);
  CHECK(f.dispatcher.sessions_ended() == ended + 1);
}

TEST_CASE("an accept failing for want of descriptors backs off instead of spinning, then recovers") {
  std::mutex m;
  std::vector<std::string> logs;
  ServerConfig cfg;
  cfg.log = [&](std::string_view line) {
    std::lock_guard lock(m);
    logs.emplace_back(line);
  };
  Fixture f(cfg);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);  // made while descriptors are left
  REQUIRE(fd >= 0);
  // Under UBSan (clang), the first virtual call on an object reads its vtable
  // through a pipe to be sure the memory is there; with no descriptor left
  // that read fails and is reported as an invalid vptr. The server's log of
  // the failure asks the system category for its message: asked once here,
  // the check is cached and needs no pipe later.
  CHECK_FALSE(boost::system::error_code(EMFILE, boost::system::system_category()).message().empty());
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  // The lowest free descriptor number becomes the limit: accept gets EMFILE.
  const int lowest_free = ::dup(0);
  REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  rlimit none = before;
  none.rlim_cur = static_cast<rlim_t>(lowest_free);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &none) == 0);
  Client c = Client::unix_socket_on(fd, f.config.unix_path);  // waits in the backlog
  std::this_thread::sleep_for(400ms);
  const std::uint64_t failures = f.server->accept_failures();
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
  // Pauses of 10, 20, 40, 80, 160 ms: a handful of attempts, not thousands.
  CHECK(failures >= 1);
  CHECK(failures <= 10);
  {
    std::lock_guard lock(m);
    std::size_t accept_lines = 0;
    for (const std::string& l : logs)
      if (l.find("cashier accept (unix)") != std::string::npos) ++accept_lines;
    CHECK(accept_lines == 1);
  }
  // Descriptors back: the waiting connection is taken and served.
  for (int i = 0; i < 300 && f.server->connection_count() == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(f.server->connection_count() == 1);
  CHECK(c.call(1, "engine.status").contains("result"));
}

TEST_CASE("a client closing its end ends the session") {
  Fixture f;
  const std::size_t ended = f.dispatcher.sessions_ended();
  {
    Client c = f.login("zhang", "Window42pass!");
    CHECK(c.call(1, "engine.status").contains("result"));
  }
  for (int i = 0; i < 200 && f.dispatcher.sessions_ended() == ended; ++i) std::this_thread::sleep_for(10ms);
  CHECK(f.dispatcher.sessions_ended() == ended + 1);
  for (int i = 0; i < 200 && f.server->connection_count() != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(f.server->connection_count() == 0);
}

TEST_CASE("a client that stops sending still gets every answer, then the end of the stream") {
  Fixture f;
  Client c = f.login("zhang", "Window42pass!");
  c.request(1, "settle.get", Json{{"setl_id", "hold-eof"}});
  c.request(2, "engine.status");
  // The last line has no newline: it is still a request once the client is done.
  c.send(R"({"jsonrpc":"2.0","id":3,"method":"settle.get","params":{"setl_id":"S3"}})");
  c.shutdown_sending();
  REQUIRE(f.dispatcher.wait_held(1));
  std::set<int> ids;
  ids.insert(c.read_json()["id"].get<int>());
  ids.insert(c.read_json()["id"].get<int>());
  f.dispatcher.release("hold-eof");
  ids.insert(c.read_json()["id"].get<int>());
  CHECK(ids == std::set<int>{1, 2, 3});
  CHECK(c.closed_by_server());
}

TEST_CASE("an initial password must be changed before anything else") {
  Fixture f;
  REQUIRE(f.auth.add_operator("zhao", Role::cashier, "Initial-Pw-1", kSetup).ok());
  Client c = f.connect();
  Json in = c.call(1, "session.login", Json{{"operator", "zhao"}, {"password", "Initial-Pw-1"}, {"window", "W01"}});
  CHECK(in["result"]["password_change_required"] == true);
  Json pq = c.call(2, "person.query");
  CHECK(reason_of(pq) == "PASSWORD_CHANGE_REQUIRED");
  CHECK(pq["error"]["code"] == reason_rpc_code(Reason::password_change_required));
  CHECK(c.call(3, "engine.status").contains("result"));
  // A new password that breaks the rules is refused, naming the field only.
  Json weak = c.call(4, "session.change_password", Json{{"password", "Initial-Pw-1"}, {"new_password", "alllower12"}});
  CHECK(reason_of(weak) == "INVALID_REQUEST");
  CHECK(weak["error"]["data"]["field"] == "new_password");
  CHECK(weak["error"]["message"].get<std::string>().find("alllower12") == std::string::npos);
  Json changed =
      c.call(5, "session.change_password", Json{{"password", "Initial-Pw-1"}, {"new_password", "Chosen-Pw-22"}});
  REQUIRE_MESSAGE(changed.contains("result"), changed.dump());
  CHECK(changed["result"]["password_change_required"] == false);
  CHECK(c.call(6, "person.query").contains("result"));
  // The next login uses the new password and asks nothing.
  Client d = f.connect();
  Json next = d.call(1, "session.login", Json{{"operator", "zhao"}, {"password", "Chosen-Pw-22"}, {"window", "W02"}});
  CHECK(next["result"]["password_change_required"] == false);
}

TEST_CASE("operator administration over the socket; the sessions it changes end") {
  Fixture f;
  Client admin = f.login("root", "Adm1n#secret");
  Client cashier = f.login("zhang", "Window42pass!");
  // The office's work events are the office's.
  CHECK(reason_of(cashier.call(9, "events.subscribe", Json{{"topics", Json::array({"network", "work"})}})) == "FORBIDDEN");
  // A cashier may not administer; the administrator reads no settlements.
  CHECK(reason_of(cashier.call(1, "operator.list")) == "FORBIDDEN");
  CHECK(reason_of(admin.call(1, "settle.get", Json{{"setl_id", "S1"}})) == "FORBIDDEN");

  Json added = admin.call(2, "operator.add", Json{{"operator", "c002"}, {"role", "cashier"}, {"password", "Start-Pw-01"}});
  REQUIRE_MESSAGE(added.contains("result"), added.dump());
  CHECK(added["result"]["operator"] == "c002");
  CHECK(added["result"]["password_change_required"] == true);
  Json weak = admin.call(3, "operator.add", Json{{"operator", "c003"}, {"role", "cashier"}, {"password", "weak"}});
  CHECK(reason_of(weak) == "INVALID_REQUEST");
  CHECK(weak["error"]["data"]["field"] == "password");
  CHECK(reason_of(admin.call(4, "operator.add",
                             Json{{"operator", "c004"}, {"role", "king"}, {"password", "Start-Pw-01"}})) ==
        "INVALID_REQUEST");
  CHECK(reason_of(admin.call(5, "operator.unlock", Json{{"operator", "nobody"}})) == "NOT_FOUND");

  // Disabling zhang ends her session at once, with a notification.
  Json dis = admin.call(6, "operator.disable", Json{{"operator", "zhang"}});
  REQUIRE_MESSAGE(dis.contains("result"), dis.dump());
  CHECK(dis["result"]["disabled"] == true);
  Json note = cashier.read_json();
  CHECK(note["method"] == "session.expired");
  CHECK(note["params"]["reason"] == "operator.disable");
  CHECK(reason_of(cashier.call(2, "person.query")) == "UNAUTHENTICATED");
  Json refused = cashier.call(3, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}});
  CHECK(reason_of(refused) == "FORBIDDEN");
  CHECK(admin.call(7, "operator.enable", Json{{"operator", "zhang"}})["result"]["disabled"] == false);
  CHECK(cashier.call(4, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}})
            .contains("result"));

  // A role change ends the session too; the next login has the new role.
  CHECK(admin.call(8, "operator.set_role", Json{{"operator", "zhang"}, {"role", "supervisor"}})["result"]["role"] ==
        "supervisor");
  CHECK(cashier.read_json()["method"] == "session.expired");
  Json relog = cashier.call(5, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}});
  CHECK(relog["result"]["role"] == "supervisor");

  // The last administrator cannot remove itself.
  CHECK(reason_of(admin.call(9, "operator.disable", Json{{"operator", "root"}})) == "INVALID_STATE");

  // A lock is listed with its source, and the administrator's unlock clears it.
  Client guesser = f.connect();
  for (int i = 0; i < 3; ++i)
    (void)guesser.call(i, "session.login", Json{{"operator", "li"}, {"password", "guess"}, {"window", "W02"}});
  Json list = admin.call(10, "operator.list");
  bool li_locked = false;
  for (const auto& o : list["result"]["operators"])
    if (o["operator"] == "li") li_locked = o["locked"].get<bool>() && o["sources"][0]["source"].get<std::string>().rfind("uid:", 0) == 0;
  CHECK(li_locked);
  CHECK(admin.call(11, "operator.unlock", Json{{"operator", "li"}})["result"]["locked"] == false);
}

TEST_CASE("70 idle connections nobody logs in on do not keep a cashier out") {
  Fixture f;  // max_connections 64
  std::vector<Client> idle;
  for (int i = 0; i < 70; ++i) idle.push_back(f.connect());
  // The newest idle ones were taken in by closing the oldest.
  Client c = f.connect();
  Json in = c.call(1, "session.login", Json{{"operator", "zhang"}, {"password", "Window42pass!"}, {"window", "W01"}});
  CHECK(in["result"]["operator"] == "zhang");
  CHECK(f.server->evictions() >= 7);
  CHECK(f.server->connection_count() <= 64);
  // Logged-in sessions are never the ones closed to make room.
  std::vector<Client> more;
  for (int i = 0; i < 80; ++i) more.push_back(f.connect());
  CHECK(c.call(2, "person.query").contains("result"));
}

TEST_CASE("no login in time, an unfinished line, an idle session: each has its limit") {
  ServerConfig cfg;
  cfg.login_timeout = 1500ms;
  cfg.partial_line_timeout = 1000ms;
  cfg.session_idle_timeout = 3000ms;
  Fixture f(cfg);
  const auto t0 = std::chrono::steady_clock::now();
  Client silent = f.connect();
  Client halfway = f.login("zhang", "Window42pass!");
  halfway.send(R"({"jsonrpc":"2.0","id":1,"method":"engine.st)");
  Client idle = f.login("li", "Superv1sor!x");
  // The half-written line closes its connection (logged in or not).
  const auto half_line = halfway.read_line();
  CHECK_MESSAGE(!half_line.has_value(), half_line.value_or(""));
  // The connection that never logged in is closed.
  CHECK(silent.closed_by_server());
  CHECK(std::chrono::steady_clock::now() - t0 >= 1000ms);
  // The idle session ends with a notice; the connection stays for a new login.
  Json note = idle.read_json();
  CHECK(note["method"] == "session.expired");
  CHECK(note["params"]["reason"] == "idle");
  CHECK(reason_of(idle.call(2, "person.query")) == "UNAUTHENTICATED");
  CHECK(idle.call(3, "session.login", Json{{"operator", "li"}, {"password", "Superv1sor!x"}, {"window", "W01"}})
            .contains("result"));
}

TEST_CASE("error replies are masked for every role: an echoed ID, the insurer's message, a bad line") {
  Fixture f;
  for (const char* who : {"zhang", "wang"}) {  // a cashier and an auditor (whose results are not masked)
    Client c = std::string(who) == "zhang" ? f.login("zhang", "Window42pass!") : f.login("wang", "Aud1tor-pass");
    const Json r = c.call(1, "settle.get", Json{{"setl_id", "refused"}});
    INFO(r.dump());
    CHECK(r.dump().find(kFullId) == std::string::npos);
    CHECK(r.dump().find("A12345678") == std::string::npos);
    CHECK(r["error"]["data"]["err_msg"] == "card A1*****78 of 110101********123X");
  }
  // A line the server refuses itself quotes nothing whole either.
  Client c = f.connect();
  c.send(std::string(R"({"jsonrpc":"2.0","id":1,"method":"no.such","params":{}})") + "\n");
  CHECK(c.read_json().contains("error"));
}

TEST_CASE("calls before a login are limited per source; sessions are not") {
  ServerConfig cfg;
  cfg.unauthenticated_calls_per_second = 5;
  Fixture f(cfg);
  Client a = f.connect();
  int answered = 0, limited = 0;
  Json refusal;
  for (int i = 0; i < 12; ++i) {
    const Json r = a.call(i, "engine.status");
    if (r.contains("result")) {
      ++answered;
    } else {
      ++limited;
      refusal = r;
    }
  }
  CHECK(answered == 5);
  CHECK(limited == 7);
  CHECK(reason_of(refusal) == "LIMIT_EXCEEDED");
  CHECK(refusal["error"]["data"]["retry_after_ms"].get<std::int64_t>() >= 1);
  // The same source on another connection; a refused call counts too.
  Client b = f.connect();
  CHECK(reason_of(b.call(1, "engine.status")) == "LIMIT_EXCEEDED");
  CHECK(reason_of(b.call(2, "settle.list")) == "LIMIT_EXCEEDED");
  CHECK(f.server->unauthenticated_limited() == 9);
  // A login is not limited by it, nor is the session.
  Client s = f.login("zhang", "Window42pass!");
  for (int i = 0; i < 12; ++i) CHECK(s.call(i, "engine.status").contains("result"));
  std::this_thread::sleep_for(1100ms);
  CHECK(b.call(3, "engine.status").contains("result"));
}
