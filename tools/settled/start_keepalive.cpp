// settled's messages to systemd (start_keepalive.hpp): notify_systemd, and a
// thread that extends systemd's start timeout every period until settled is
// ready, naming the step under way.
#include "tools/settled/start_keepalive.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <systemd/sd-daemon.h>

namespace settle::daemon {

void notify_systemd(const std::string& message) { (void)::sd_notify(0, message.c_str()); }

StartKeepalive::StartKeepalive(std::chrono::milliseconds period) : period_(period) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "start-keepalive");
    run();
  });
}

StartKeepalive::~StartKeepalive() { stop(); }

void StartKeepalive::step(std::string what) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  step_ = std::move(what);
  send_locked();
}

void StartKeepalive::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StartKeepalive::send_locked() const {
  // Twice the period: one lost or late message does not end the start.
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(period_ * 2).count();
  const std::string msg = step_.empty() ? fmt::format("EXTEND_TIMEOUT_USEC={}", usec)
                                        : fmt::format("EXTEND_TIMEOUT_USEC={}\nSTATUS=starting: {}", usec, step_);
  notify_systemd(msg);
}

void StartKeepalive::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (wake_.wait_for(lock, period_, [this] { return stopping_; })) break;
    send_locked();
  }
}

}  // namespace settle::daemon
