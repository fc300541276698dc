// The notifier's thread: one queue per hook (a hook hears its events in the
// order they happened), each notice tried up to the hook's attempts with
// growing pauses; commands are spawned in their own process group and killed
// at the time-out, webhooks are posted with Beast over plain TCP or TLS.
#include "tools/settled/notify.hpp"

#include "protocol/insurer/tls_context.hpp"
#include "tools/common/version.hpp"
#include "tools/settled/clock.hpp"

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <pthread.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace settle::daemon {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::size_t kQueueMax = 100;  // notices waiting per hook; the oldest go first

struct Outcome {
  bool ok = false;
  std::string detail;
};

struct Url {
  bool https = false;
  std::string host, port, target;
};

Url split_url(const std::string& url) {
  Url u;
  u.https = url.rfind("https://", 0) == 0;
  std::string rest = url.substr(u.https ? 8 : 7);
  const auto slash = rest.find('/');
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string authority = rest.substr(0, slash);
  u.port = u.https ? "443" : "80";
  if (!authority.empty() && authority.front() == '[') {  // [::1]:8443
    const auto close = authority.find(']');
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = authority.substr(close + 2);
  } else if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
  }
  return u;
}

// The command's exit, in words.
std::string exit_text(int status) {
  if (WIFEXITED(status)) return fmt::format("exit {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "ended";
}

}  // namespace

struct Notifier::Impl {
  struct Notice {
    NotifyEvent event;
    std::string body;
  };
  struct HookState {
    std::deque<Notice> queue;
    bool busy = false;
  };
  // Declared before the io_context: the coroutines it still holds when it is
  // destroyed go first.
  NotifyConfig config;
  json::Json hospital;
  std::vector<std::shared_ptr<ssl::context>> tls;  // per hook, for https
  std::vector<HookState> states;
  Notifier* owner = nullptr;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;

  void enqueue(std::size_t i, Notice n) {
    HookState& st = states[i];
    if (st.queue.size() >= kQueueMax) {
      spdlog::warn("notify {}: {} notices waiting; the oldest ({}) is dropped", config.hooks[i].name, st.queue.size(),
                   notify_event_name(st.queue.front().event));
      st.queue.pop_front();
    }
    st.queue.push_back(std::move(n));
    if (!st.busy) {
      st.busy = true;
      asio::co_spawn(ioc, drain(i), asio::detached);
    }
  }

  awaitable<void> drain(std::size_t i) {
    HookState& st = states[i];
    while (!st.queue.empty()) {
      Notice n = std::move(st.queue.front());
      st.queue.pop_front();
      co_await deliver(i, n);
    }
    st.busy = false;
  }

  awaitable<void> deliver(std::size_t i, const Notice& n) {
    const NotifyHook& h = config.hooks[i];
    for (std::uint32_t attempt = 1; attempt <= h.attempts; ++attempt) {
      Outcome o;  // (GCC 12 miscompiles co_await inside ?: with class types)
      if (h.url.empty())
        o = co_await run_command(h, n);
      else
        o = co_await post_webhook(i, n);
      const bool last = o.ok || attempt == h.attempts;
      if (o.ok)
        spdlog::info("notify {}: {} told ({}, attempt {})", h.name, notify_event_name(n.event), o.detail, attempt);
      else
        spdlog::warn("notify {}: {} not told: {} (attempt {} of {}{})", h.name, notify_event_name(n.event), o.detail,
                     attempt, h.attempts, last ? "; given up" : "");
      if (owner->on_attempt) {
        Attempt a;
        a.hook = h.name;
        a.event = n.event;
        a.attempt = static_cast<int>(attempt);
        a.ok = o.ok;
        a.last = last;
        a.detail = std::move(o.detail);
        a.at_ms = now_ms();
        owner->on_attempt(a);
      }
      if (last) break;
      asio::steady_timer pause(ioc);
      pause.expires_after(std::chrono::seconds(std::min<std::int64_t>(60, std::int64_t{1} << (attempt - 1))));
      co_await pause.async_wait(use_tuple);
    }
  }

  // The command with the body on its stdin, SETTLE_EVENT and SETTLE_HOOK in
  // its environment, in a process group of its own (killed whole at the time-out).
  awaitable<Outcome> run_command(const NotifyHook& h, const Notice& n) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      co_return Outcome{false, fmt::format("cannot make its stdin: {}", std::strerror(errno))};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGHUP);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<std::string> env_text;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e)
      if (std::strncmp(*e, "SETTLE_EVENT=", 13) != 0 && std::strncmp(*e, "SETTLE_HOOK=", 12) != 0) env_text.emplace_back(*e);
    env_text.push_back(fmt::format("SETTLE_EVENT={}", notify_event_name(n.event)));
    env_text.push_back(fmt::format("SETTLE_HOOK={}", h.name));
    std::vector<char*> envp;
    for (auto& s : env_text) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = h.command;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(sv[1]);
    if (rc != 0) {
      ::close(sv[0]);
      co_return Outcome{false, fmt::format("cannot run {}: {}", args.front(), std::strerror(rc))};
    }
    // The body is small (well under a socket buffer): written at once, the
    // end marked; a command that does not read it is not waited for here.
    const std::string& body = n.body;
    std::size_t off = 0;
    while (off < body.size()) {
      const ssize_t w = ::send(sv[0], body.data() + off, body.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
    ::shutdown(sv[0], SHUT_WR);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(h.timeout_ms);
    asio::steady_timer tick(ioc);
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) {
        ::close(sv[0]);
        co_return Outcome{false, fmt::format("lost the command: {}", std::strerror(errno))};
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        ::close(sv[0]);
        co_return Outcome{false, fmt::format("timed out after {} ms (killed)", h.timeout_ms)};
      }
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(use_tuple);
    }
    ::close(sv[0]);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    co_return Outcome{ok, exit_text(status)};
  }

  // POST of the body; a 2xx answer is told. The whole attempt within the
  // hook's time-out (resolve, connect, handshake, request, answer).
  awaitable<Outcome> post_webhook(std::size_t i, const Notice& n) {
    using namespace asio::experimental::awaitable_operators;
    const NotifyHook& h = config.hooks[i];
    asio::steady_timer timer(ioc);
    timer.expires_after(std::chrono::milliseconds(h.timeout_ms));
    auto which = co_await (post_once(i, n) || timer.async_wait(use_tuple));
    if (which.index() == 1) co_return Outcome{false, fmt::format("timed out after {} ms", h.timeout_ms)};
    co_return std::get<0>(std::move(which));
  }

  awaitable<Outcome> post_once(std::size_t i, const Notice& n) {
    const NotifyHook& h = config.hooks[i];
    const Url u = split_url(h.url);
    tcp::resolver resolver(ioc);
    auto [rec, results] = co_await resolver.async_resolve(u.host, u.port, use_tuple);
    if (rec) co_return Outcome{false, fmt::format("cannot resolve {}: {}", u.host, rec.message())};
    http::request<http::string_body> req{http::verb::post, u.target, 11};
    req.set(http::field::host, u.host);
    req.set(http::field::user_agent, std::string("settled/") + settle::version);
    req.set(http::field::content_type, "application/json; charset=utf-8");
    req.set("X-Settle-Event", std::string(notify_event_name(n.event)));
    req.body() = n.body;
    req.prepare_payload();
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    if (!u.https) {
      beast::tcp_stream stream(ioc);
      auto [cec, ep] = co_await stream.async_connect(results, use_tuple);
      if (cec) co_return Outcome{false, fmt::format("cannot connect to {}:{}: {}", u.host, u.port, cec.message())};
      auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
      if (wec) co_return Outcome{false, fmt::format("sending: {}", wec.message())};
      auto [rdec, rn] = co_await http::async_read(stream, buf, res, use_tuple);
      if (rdec) co_return Outcome{false, fmt::format("reading the answer: {}", rdec.message())};
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    } else {
      beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls[i]);
      // The name checked against the certificate (and sent as SNI unless an
      // address), as the insurer link does it.
      if (!insurer::detail::configure_peer_name(stream.native_handle(), u.host))
        co_return Outcome{false, fmt::format("TLS: cannot check the certificate against {}", u.host)};
      auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(results, use_tuple);
      if (cec) co_return Outcome{false, fmt::format("cannot connect to {}:{}: {}", u.host, u.port, cec.message())};
      auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
      if (hec) co_return Outcome{false, fmt::format("TLS handshake with {}: {}", u.host, hec.message())};
      auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
      if (wec) co_return Outcome{false, fmt::format("sending: {}", wec.message())};
      auto [rdec, rn] = co_await http::async_read(stream, buf, res, use_tuple);
      if (rdec) co_return Outcome{false, fmt::format("reading the answer: {}", rdec.message())};
      auto [sec] = co_await stream.async_shutdown(use_tuple);
      (void)sec;  // many servers close without a TLS close_notify
    }
    const unsigned code = res.result_int();
    co_return Outcome{code >= 200 && code < 300, fmt::format("HTTP {}", code)};
  }
};

Notifier::Notifier(NotifyConfig config, json::Json hospital) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->hospital = std::move(hospital);
  impl_->states.resize(impl_->config.hooks.size());
  impl_->owner = this;
}

Notifier::~Notifier() { stop(); }

Status Notifier::start() {
  for (const NotifyHook& h : impl_->config.hooks) {
    std::shared_ptr<ssl::context> ctx;
    if (h.url.rfind("https://", 0) == 0) {
      ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
      // The insurer link's rules: TLS 1.2 with AEAD suites only, or TLS 1.3.
      if (Status s = insurer::detail::apply_tls_protocols(*ctx); !s)
        return make_error(Reason::invalid_config, "notify.hook",
                          fmt::format("notify hook {}: {}", h.name, s.error().message));
      ctx->set_verify_mode(ssl::verify_peer);
      boost::system::error_code ec;
      if (!h.ca_file.empty())
        ctx->load_verify_file(h.ca_file, ec);
      else
        ctx->set_default_verify_paths(ec);
      if (ec)
        return make_error(Reason::invalid_config, "notify.hook",
                          fmt::format("notify hook {}: the CA {} cannot be used: {}", h.name,
                                      h.ca_file.empty() ? std::string("of the system") : h.ca_file, ec.message()));
    }
    impl_->tls.push_back(std::move(ctx));
  }
  if (impl_->config.hooks.empty()) return Ok{};
  impl_->guard.emplace(impl_->ioc.get_executor());
  impl_->thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "notify");
    impl_->ioc.run();
  });
  return Ok{};
}

void Notifier::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  asio::post(impl_->ioc, [this] {
    std::size_t waiting = 0;
    for (const auto& st : impl_->states) waiting += st.queue.size() + (st.busy ? 1 : 0);
    if (waiting > 0) spdlog::warn("notify: stopping with {} notices not yet told", waiting);
    impl_->ioc.stop();
  });
  impl_->guard.reset();
  impl_->thread.join();
}

bool Notifier::any_hook_for(NotifyEvent e) const {
  for (const NotifyHook& h : impl_->config.hooks)
    if (std::find(h.events.begin(), h.events.end(), e) != h.events.end()) return true;
  return false;
}

void Notifier::post(NotifyEvent e, json::Json fields) {
  if (!any_hook_for(e) || !impl_->thread.joinable()) return;
  json::Json body = json::Json::object();
  body["event"] = notify_event_name(e);
  body["at"] = iso_time(now_ms());
  body["hospital"] = impl_->hospital;
  body["summary"] = notify_summary(e, fields);
  for (auto& [k, v] : fields.items()) body[k] = v;
  Impl::Notice n{e, body.dump()};
  asio::post(impl_->ioc, [impl = impl_.get(), n = std::move(n)] {
    for (std::size_t i = 0; i < impl->config.hooks.size(); ++i) {
      const auto& ev = impl->config.hooks[i].events;
      if (std::find(ev.begin(), ev.end(), n.event) != ev.end()) impl->enqueue(i, n);
    }
  });
}

void Notifier::redlist_seen(std::int64_t synced_at_ms, std::int64_t now, std::int64_t version) {
  const std::int64_t limit_ms = std::int64_t{impl_->config.redlist_stale_after_s} * 1000;
  if (limit_ms == 0) return;
  const bool stale = synced_at_ms <= 0 || now - synced_at_ms > limit_ms;
  if (!stale) {
    redlist_told_ = false;
    return;
  }
  if (redlist_told_) return;
  redlist_told_ = true;
  json::Json f{{"redlist_version", version},
               {"synced_at", synced_at_ms > 0 ? json::Json(iso_time(synced_at_ms)) : json::Json(nullptr)},
               {"age_s", synced_at_ms > 0 ? json::Json((now - synced_at_ms) / 1000) : json::Json(nullptr)},
               {"stale_after_s", impl_->config.redlist_stale_after_s}};
  post(NotifyEvent::redlist_stale, std::move(f));
}

std::string notify_summary(NotifyEvent e, const json::Json& fields) {
  switch (e) {
    case NotifyEvent::line_offline:
      return fmt::format("医保中心线路中断，窗口已转为脱机（红名单）结算。The insurer line is offline; the windows settle "
                         "offline against the red list. {}",
                         fields.value("cause", std::string()));
    case NotifyEvent::line_online:
      return "医保中心线路已恢复，脱机结算正在上传。The insurer line is back; the offline settlements are being "
             "forwarded.";
    case NotifyEvent::parked:
      return fmt::format("有待医保办处理的事项（{}）。An item waits for the insurance office ({}): {}",
                         fields.value("kind", std::string()), fields.value("kind", std::string()),
                         fields.value("reason", std::string()));
    case NotifyEvent::redlist_stale:
      return "红名单已过期未更新，脱机结算将按过期名单估算。The red list has not been updated within its limit; offline "
             "settlements would use a stale list.";
  }
  return "";
}

}  // namespace settle::daemon
