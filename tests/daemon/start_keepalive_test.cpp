// StartKeepalive: what systemd hears while settled starts. A datagram socket
// stands in for systemd's notify socket (NOTIFY_SOCKET), as the unit gives it.
#include "tests/offline/test_dir.hpp"
#include "tools/settled/start_keepalive.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace {

struct NotifySocket {
  int fd = -1;
  explicit NotifySocket(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof a.sun_path);
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd);
  }
  // The next message within `ms`, if any.
  std::optional<std::string> next(int ms) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return std::nullopt;
    char buf[512];
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
};

}  // namespace

TEST_CASE("while settled starts, systemd is told to wait, with the step under way; not after it is ready") {
  const settle::test::TestDir dir("keepalive");
  NotifySocket sd(dir.file("notify.sock"));
  settle::daemon::StartKeepalive keep(std::chrono::milliseconds(40));
  keep.step("migrating the ledger");
  const auto first = sd.next(2000);
  REQUIRE(first.has_value());
  CHECK(*first == "EXTEND_TIMEOUT_USEC=80000\nSTATUS=starting: migrating the ledger");
  // Then every period, with the same step, until stopped.
  const auto again = sd.next(2000);
  REQUIRE(again.has_value());
  CHECK(*again == *first);
  keep.stop();
  while (sd.next(0)) {
  }  // one may have been on its way
  CHECK_FALSE(sd.next(200).has_value());
  keep.step("too late");  // after stop: nothing
  CHECK_FALSE(sd.next(100).has_value());
}
