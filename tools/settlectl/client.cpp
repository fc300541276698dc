// A small blocking JSON-RPC client over a Unix stream socket: poll() gives
// every wait its deadline; answers are read line by line.
#include "tools/settlectl/client.hpp"

#include <fmt/format.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace settle::tools {

using json::Json;

namespace {

// Longest answer line accepted (a settle.list page with its settlements).
constexpr std::size_t max_answer_bytes = 16 * 1024 * 1024;

Error io_error(std::string what) { return make_error(Reason::internal, "socket", std::move(what)); }

}  // namespace

Result<CashierClient> CashierClient::connect(const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof(addr.sun_path))
    return io_error(fmt::format("socket path {} is too long", socket_path));
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error(fmt::format("socket: {}", std::strerror(errno)));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    ::close(fd);
    return io_error(fmt::format("cannot connect to settled at {}: {}{}", socket_path, std::strerror(e),
                                e == ENOENT || e == ECONNREFUSED ? " (is settled running? see --socket)" : ""));
  }
  return CashierClient(fd);
}

CashierClient::CashierClient(CashierClient&& o) noexcept
    : fd_(o.fd_), next_id_(o.next_id_), buffer_(std::move(o.buffer_)) {
  o.fd_ = -1;
}

CashierClient::~CashierClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::string> CashierClient::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (buffer_.size() > max_answer_bytes) return io_error("the daemon's answer is too long");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error(Reason::internal, "socket", "no answer from settled in time");
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(fmt::format("poll: {}", std::strerror(errno)));
    if (n == 0) continue;
    char buf[65536];
    const ssize_t got = ::read(fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return io_error(fmt::format("read: {}", std::strerror(errno)));
    if (got == 0) return io_error("settled closed the connection");
    buffer_.append(buf, static_cast<std::size_t>(got));
  }
}

Result<RpcAnswer> CashierClient::call(std::string_view method, const Json& params, std::chrono::milliseconds timeout,
                                      const NoteHandler& on_note) {
  const std::int64_t id = next_id_++;
  // Exact numbers read from a file (an amount 12.30) go out as their own text.
  const std::string line =
      json::dump_exact(Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}) + "\n";
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(fmt::format("send: {}", std::strerror(errno)));
    off += static_cast<std::size_t>(n);
  }
  for (;;) {
    auto text = read_line(timeout);
    if (!text) return text.error();
    auto j = json::parse(*text, "the daemon's answer");
    if (!j) return j.error();
    if (!j->contains("id")) {  // a notification
      if (on_note && j->is_object() && (*j)["method"].is_string())
        on_note((*j)["method"].get<std::string>(), j->contains("params") ? (*j)["params"] : Json::object());
      continue;
    }
    if ((*j)["id"] != Json(id)) continue;
    RpcAnswer a;
    if (const Json* r = json::find(*j, "result")) {
      a.ok = true;
      a.result = *r;
      return a;
    }
    const Json* e = json::find(*j, "error");
    if (e == nullptr || !e->is_object()) return io_error("the daemon's answer has neither result nor error");
    a.message = e->value("message", std::string());
    a.data = e->contains("data") ? (*e)["data"] : Json::object();
    a.reason = a.data.is_object() ? a.data.value("reason", std::string("INTERNAL")) : std::string("INTERNAL");
    return a;
  }
}

}  // namespace settle::tools
