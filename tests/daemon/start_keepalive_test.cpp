// StartKeepalive: what systemd hears while settled starts. A datagram socket
// stands in for systemd's notify socket (NOTIFY_SOCKET), as the unit gives it.
#include "tests/offline/test_dir.hpp"
#include "tests/support/notify_socket.hpp"
#include "tools/settled/start_keepalive.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

namespace {

// The notify socket, named to this process as systemd names it.
struct Systemd : settle::test::NotifySocket {
  explicit Systemd(const std::string& path) : NotifySocket(path) { ::setenv("NOTIFY_SOCKET", path.c_str(), 1); }
  ~Systemd() { ::unsetenv("NOTIFY_SOCKET"); }
  Systemd(const Systemd&) = delete;
  Systemd& operator=(const Systemd&) = delete;
};

}  // namespace

TEST_CASE("while settled starts, systemd is told to wait, with the step under way; not after it is ready") {
  const settle::test::TestDir dir("keepalive");
  Systemd sd(dir.file("notify.sock"));
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
