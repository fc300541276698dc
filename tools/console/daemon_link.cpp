// The cashier socket line client (daemon_link.hpp) on Boost.Asio's Unix
// stream sockets and coroutines: one reader loop per connection, one writer
// draining a queue, a timer per waiting request.
#include "tools/console/daemon_link.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <deque>
#include <map>
#include <optional>

namespace settle::console {

namespace asio = boost::asio;
using json::Json;

namespace {
struct Pending {
  explicit Pending(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::optional<Json> response;
};
}  // namespace

struct DaemonLink::Impl {
  Impl(const asio::any_io_executor& ex, std::string p) : executor(ex), socket(ex), path(std::move(p)) {}
  asio::any_io_executor executor;
  asio::local::stream_protocol::socket socket;
  std::string path;
  std::int64_t next_id = 1;
  std::map<std::int64_t, std::shared_ptr<Pending>> pending;
  std::deque<std::string> out;
  bool writing = false;
  bool open = false;
  bool closed_by_us = false;
};

DaemonLink::DaemonLink(const asio::any_io_executor& ex, const std::string& socket_path)
    : impl_(std::make_unique<Impl>(ex, socket_path)) {}

DaemonLink::~DaemonLink() = default;

std::shared_ptr<DaemonLink> DaemonLink::create(const asio::any_io_executor& ex, const std::string& socket_path) {
  return std::shared_ptr<DaemonLink>(new DaemonLink(ex, socket_path));
}

bool DaemonLink::is_open() const { return impl_->open; }

asio::awaitable<std::string> DaemonLink::connect() {
  auto self = shared_from_this();
  boost::system::error_code ec;
  const asio::local::stream_protocol::endpoint ep(impl_->path);
  co_await impl_->socket.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fmt::format("settled's cashier socket {} does not answer: {}", impl_->path, ec.message());
  impl_->open = true;
  asio::co_spawn(impl_->executor, read_loop(self), asio::detached);
  co_return "";
}

void DaemonLink::close() {
  impl_->closed_by_us = true;
  fail("closed");
}

void DaemonLink::fail(const std::string& why) {
  const bool was_open = impl_->open;
  impl_->open = false;
  boost::system::error_code ignored;
  impl_->socket.shutdown(asio::socket_base::shutdown_both, ignored);
  impl_->socket.close(ignored);
  impl_->out.clear();
  for (auto& [id, p] : impl_->pending) p->timer.cancel();
  if (was_open && !impl_->closed_by_us && on_closed) {
    auto cb = on_closed;  // the callback may drop the last reference holder's state
    cb(why);
  }
}

void DaemonLink::send_line(std::string line) {
  impl_->out.push_back(std::move(line));
  if (impl_->writing) return;
  impl_->writing = true;
  asio::co_spawn(impl_->executor, write_loop(shared_from_this()), asio::detached);
}

asio::awaitable<void> DaemonLink::write_loop(std::shared_ptr<DaemonLink> self) {
  const auto keep = std::move(self);  // the link lives while its writer runs
  while (impl_->open && !impl_->out.empty()) {
    boost::system::error_code ec;
    co_await asio::async_write(impl_->socket, asio::buffer(impl_->out.front()),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      impl_->writing = false;
      fail(fmt::format("writing to settled failed: {}", ec.message()));
      co_return;
    }
    if (!impl_->out.empty()) impl_->out.pop_front();
  }
  impl_->writing = false;
}

asio::awaitable<void> DaemonLink::read_loop(std::shared_ptr<DaemonLink> self) {
  const auto keep = std::move(self);  // the link lives while its reader runs
  asio::streambuf buf(4 * 1024 * 1024);  // a sheet's html fits; more is a broken line
  while (impl_->open) {
    boost::system::error_code ec;
    const std::size_t n = co_await asio::async_read_until(impl_->socket, buf, '\n',
                                                          asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (impl_->open)
        fail(ec == asio::error::eof ? std::string("settled closed the connection")
                                    : fmt::format("reading from settled failed: {}", ec.message()));
      co_return;
    }
    std::string line(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
    buf.consume(n);
    auto parsed = json::parse(line, "settled's answer");
    if (!parsed || !parsed->is_object()) continue;
    Json& msg = *parsed;
    const Json* id = json::find(msg, "id");
    if (id != nullptr && id->is_number_integer()) {
      const auto it = impl_->pending.find(id->get<std::int64_t>());
      if (it != impl_->pending.end()) {
        it->second->response = std::move(msg);
        it->second->timer.cancel();
      }
      continue;
    }
    const Json* method = json::find(msg, "method");
    if (id == nullptr && method != nullptr && method->is_string() && on_notification) {
      const Json* params = json::find(msg, "params");
      auto cb = on_notification;
      cb(method->get<std::string>(), params != nullptr ? *params : Json::object());
    }
  }
}

asio::awaitable<DaemonLink::Answer> DaemonLink::call(const std::string& method, const Json& params,
                                                    std::chrono::seconds timeout) {
  auto self = shared_from_this();
  Answer a;
  if (!impl_->open) {
    a.failure = fmt::format("not connected to settled's cashier socket {}", impl_->path);
    co_return a;
  }
  const std::int64_t id = impl_->next_id++;
  auto p = std::make_shared<Pending>(impl_->executor);
  impl_->pending.emplace(id, p);
  const Json request{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  send_line(json::dump_exact(request) + "\n");
  p->timer.expires_after(timeout);
  boost::system::error_code ec;
  co_await p->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  impl_->pending.erase(id);
  if (p->response) {
    a.reached = true;
    a.response = std::move(*p->response);
  } else if (!ec) {
    a.failure = fmt::format("settled did not answer {} within {} s", method, timeout.count());
  } else {
    a.failure = fmt::format("the connection to settled ({}) closed before {} was answered", impl_->path, method);
  }
  co_return a;
}

}  // namespace settle::console
