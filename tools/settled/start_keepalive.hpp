// settled's messages to systemd (sd_notify, the one place that calls it):
// notify_systemd for READY, RELOADING, STOPPING and their STATUS; and
// StartKeepalive, which keeps systemd's start timeout (TimeoutStartSec, 90 s by
// default) from killing settled while it does long work before it is ready:
// the copy and migration of a years-old ledger, the page checks after an
// unclean stop, start-up recovery. Until stopped it tells systemd every
// period to wait longer (EXTEND_TIMEOUT_USEC), with the step under way as
// the unit's STATUS. Without a NOTIFY_SOCKET it sends nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace settle::daemon {

// Sends `message` (e.g. "READY=1\nSTATUS=...") to systemd; nothing without
// a NOTIFY_SOCKET.
void notify_systemd(const std::string& message);

class StartKeepalive {
 public:
  explicit StartKeepalive(std::chrono::milliseconds period = std::chrono::seconds(20));
  ~StartKeepalive();
  StartKeepalive(const StartKeepalive&) = delete;
  StartKeepalive& operator=(const StartKeepalive&) = delete;

  // The step under way, sent now and with every extension.
  void step(std::string what);
  // Ready (or failed): no more extensions. Idempotent.
  void stop();

 private:
  void send_locked() const;
  void run();

  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::string step_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace settle::daemon
