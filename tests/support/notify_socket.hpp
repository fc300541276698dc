// NotifySocket: a datagram socket standing in for systemd's notify socket in
// tests. Binding it sets nothing; the test gives its path to the process as
// NOTIFY_SOCKET (setenv for the test's own process, or in a child's env).
// Header-only, with doctest's REQUIRE for its own setup.
#pragma once

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>

namespace settle::test {

class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof a.sun_path);
    std::memcpy(a.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const noexcept { return path_; }

  // The next message within `ms` milliseconds, if any.
  std::optional<std::string> next(int ms) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return std::nullopt;
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  // Messages until one contains `want` (or `seconds` pass), joined with
  // "\n--\n" between them.
  std::string until(const std::string& want, int seconds) const {
    std::string seen;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
      const auto msg = next(100);
      if (!msg) continue;
      seen += *msg + "\n--\n";
      if (msg->find(want) != std::string::npos) return seen;
    }
    return seen;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace settle::test
