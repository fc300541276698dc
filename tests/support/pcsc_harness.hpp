// A reader test bench with no hardware: starts the real pcscd in the
// foreground (refusing to touch one it did not start), starts virtual cards in
// the vpcd readers, waits on PC/SC for readiness, and stops what it started.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace settle::testing {

// "Virtual PCD 00 00" for vpcd reader 0 (TCP 32000), "... 00 01" for 1 (32001):
// the harness runs pcscd with its own reader.conf.d, off the ephemeral ports.
std::string vpcd_reader_name(int index);
int vpcd_port(int index);

// The pid of a pcscd this process did not start, or 0.
pid_t foreign_pcscd_pid();

// Whether the reader shows a card (true) or is empty (false) within the
// deadline, polled through SCardGetStatusChange.
bool wait_card_state(const std::string& reader, bool present, std::chrono::milliseconds deadline);

// pcscd -f, started by the constructor, stopped by the destructor (also at
// exit and on SIGINT/SIGTERM of the test process; and the kernel sends it
// SIGTERM if this process dies, via PR_SET_PDEATHSIG). Throws
// std::runtime_error with a clear message if another pcscd runs or it does
// not become ready.
class Pcscd {
 public:
  Pcscd();
  ~Pcscd();
  Pcscd(const Pcscd&) = delete;
  Pcscd& operator=(const Pcscd&) = delete;

  void start();
  void stop();
  bool running() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
};

// One virtual-card process in vpcd reader `index`. `args` are the
// virtual-card options (identity, PIN, faults); port and control socket are
// chosen here. Unless args contain "--removed", waits until pcscd sees it.
class VirtualCard {
 public:
  VirtualCard(int index, std::vector<std::string> args);
  ~VirtualCard();
  VirtualCard(const VirtualCard&) = delete;
  VirtualCard& operator=(const VirtualCard&) = delete;

  // Sends a control command, returns the reply line ("ok ...").
  std::string command(std::string_view cmd);
  // Pulls the card; with wait, returns once pcscd reports the reader empty.
  void remove(bool wait = true);
  // Re-inserts it; with wait, returns once pcscd reports a card.
  void insert(bool wait = true);
  void stop();

  const std::string& reader() const noexcept { return reader_; }
  pid_t pid() const noexcept { return pid_; }

 private:
  int index_;
  std::string reader_;
  std::string control_;
  pid_t pid_ = -1;
};

}  // namespace settle::testing
