// The bench's process handling: fork/exec with PR_SET_PDEATHSIG, a fixed
// table of started pids that an atexit hook and SIGINT/SIGTERM handlers kill,
// and readiness checks through PC/SC instead of blind sleeps.
#include "tests/support/pcsc_harness.hpp"

#include <PCSC/winscard.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#ifndef SETTLE_VIRTUAL_CARD_PATH
#error "SETTLE_VIRTUAL_CARD_PATH must name the virtual-card binary"
#endif

namespace settle::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kPcscdSocket = "/run/pcscd/pcscd.comm";

// The vpcd readers listen on these TCP ports (reader 0, reader 1). The
// packaged /etc/reader.conf.d/vpcd uses 35963, inside Linux's ephemeral range
// (32768-60999): any client socket of another test still in TIME_WAIT on that
// port makes vpcd's bind fail and pcscd silently lists no reader. The harness
// runs pcscd with its own reader.conf.d (pcscd -c) on ports below that range.
constexpr int kVpcdBasePort = 32000;
constexpr const char* kVpcdDriverDefault = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

// Pids this process started; cleaned by atexit and signal handlers.
std::array<std::atomic<pid_t>, 16> g_children{};

void kill_children_now(int sig) {
  for (auto& c : g_children) {
    const pid_t p = c.load();
    if (p > 0) ::kill(p, sig);
  }
}

void on_exit_kill() {
  kill_children_now(SIGTERM);
  for (auto& c : g_children) {
    const pid_t p = c.exchange(0);
    if (p > 0) ::waitpid(p, nullptr, 0);
  }
}

void on_fatal_signal(int sig) {
  kill_children_now(SIGTERM);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_cleanup_once() {
  static const bool installed = [] {
    std::atexit(on_exit_kill);
    ::signal(SIGINT, on_fatal_signal);
    ::signal(SIGTERM, on_fatal_signal);
    ::signal(SIGHUP, on_fatal_signal);
    return true;
  }();
  (void)installed;
}

void remember(pid_t p) {
  for (auto& c : g_children) {
    pid_t expected = 0;
    if (c.compare_exchange_strong(expected, p)) return;
  }
  throw std::runtime_error("test harness: too many child processes");
}

void forget(pid_t p) {
  for (auto& c : g_children) {
    pid_t expected = p;
    if (c.compare_exchange_strong(expected, 0)) return;
  }
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  install_cleanup_once();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // exec takes char*
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // parent died before prctl
    ::setpgid(0, 0);                        // keep terminal signals for the parent to relay
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  remember(pid);
  return pid;
}

// SIGTERM, wait up to 5 s, then SIGKILL.
void terminate(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + 5s;
  for (;;) {
    const pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) break;
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  forget(pid);
}

bool exited(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == pid;
}

bool unix_connectable(const char* path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;  // NOLINT: sockets API
  ::close(fd);
  return ok;
}

std::string log_dir() { return std::string(SETTLE_BINARY_DIR) + "/Testing"; }

// The vpcd driver the package installed (its LIBPATH line), or Debian's path.
std::string vpcd_driver_path() {
  std::ifstream in("/etc/reader.conf.d/vpcd");
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find("LIBPATH");
    if (at == std::string::npos) continue;
    const auto begin = line.find_first_not_of(" \t", at + 7);
    const auto end = line.find_last_not_of(" \t\r");
    if (begin != std::string::npos && end >= begin) return line.substr(begin, end - begin + 1);
  }
  return kVpcdDriverDefault;
}

// Writes the harness's reader.conf.d (one vpcd reader = two slots on
// kVpcdBasePort and +1) and returns its directory for pcscd -c.
std::string write_reader_conf() {
  const std::string dir = log_dir() + "/reader.conf.d";
  ::mkdir(dir.c_str(), 0755);
  std::ofstream out(dir + "/vpcd", std::ios::trunc);
  char port_hex[16];
  std::snprintf(port_hex, sizeof port_hex, "0x%04X", kVpcdBasePort);
  out << "# written by the test harness: vpcd outside the ephemeral port range\n"
      << "FRIENDLYNAME \"Virtual PCD\"\n"
      << "DEVICENAME   /dev/null:" << port_hex << "\n"
      << "LIBPATH      " << vpcd_driver_path() << "\n"
      << "CHANNELID    " << port_hex << "\n";
  if (!out.flush()) throw std::runtime_error("cannot write " + dir + "/vpcd");
  return dir;
}

// True when a listening socket could bind the port now, as vpcd binds it
// (SO_REUSEADDR: its own old connections in TIME_WAIT do not count).
bool tcp_port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;  // NOLINT: sockets API
  ::close(fd);
  return ok;
}

// The lines of pcscd's log that say why a reader did not start.
std::string pcscd_failure_lines(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if (line.find("ifd-vpcd") != std::string::npos || line.find("Failed") != std::string::npos ||
        line.find("failed") != std::string::npos) {
      out += "\n  " + line;
    }
  }
  return out;
}

bool is_ours(pid_t p) {
  for (auto& c : g_children) {
    if (c.load() == p) return true;
  }
  return false;
}

// Readers pcscd lists now (empty on any failure).
std::vector<std::string> list_readers_now() {
  std::vector<std::string> out;
  SCARDCONTEXT ctx = 0;
  if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx) != SCARD_S_SUCCESS) return out;
  char buf[1024];
  DWORD len = sizeof buf;
  if (SCardListReaders(ctx, nullptr, buf, &len) == SCARD_S_SUCCESS) {
    for (DWORD i = 0; i < len && buf[i] != '\0';) {
      const std::string name(buf + i);
      out.push_back(name);
      i += static_cast<DWORD>(name.size() + 1);
    }
  }
  SCardReleaseContext(ctx);
  return out;
}

}  // namespace

std::string vpcd_reader_name(int index) { return index == 0 ? "Virtual PCD 00 00" : "Virtual PCD 00 01"; }
int vpcd_port(int index) { return kVpcdBasePort + index; }

pid_t foreign_pcscd_pid() {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return 0;
  pid_t found = 0;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long p = std::strtol(e->d_name, &end, 10);
    if (p <= 0 || *end != '\0') continue;
    std::ifstream comm(std::string("/proc/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "pcscd" && !is_ours(static_cast<pid_t>(p))) {
      found = static_cast<pid_t>(p);
      break;
    }
  }
  ::closedir(d);
  return found;
}

bool wait_card_state(const std::string& reader, bool present, std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  SCARDCONTEXT ctx = 0;
  while (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx) != SCARD_S_SUCCESS) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
  SCARD_READERSTATE st{};
  st.szReader = reader.c_str();
  st.dwCurrentState = SCARD_STATE_UNAWARE;
  bool ok = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    const LONG rc = SCardGetStatusChange(ctx, static_cast<DWORD>(std::max<long long>(0, left)), &st, 1);
    if (rc == SCARD_S_SUCCESS) {
      const bool has = (st.dwEventState & SCARD_STATE_PRESENT) != 0;
      if (has == present) {
        ok = true;
        break;
      }
      st.dwCurrentState = st.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
    } else if (rc != SCARD_E_TIMEOUT && rc != SCARD_E_UNKNOWN_READER) {
      break;
    }
    if (Clock::now() >= until) break;
    if (rc == SCARD_E_UNKNOWN_READER) std::this_thread::sleep_for(20ms);
  }
  SCardReleaseContext(ctx);
  return ok;
}

Pcscd::Pcscd() { start(); }
Pcscd::~Pcscd() { stop(); }

void Pcscd::start() {
  if (pid_ > 0) return;
  if (const pid_t other = foreign_pcscd_pid(); other > 0) {
    throw std::runtime_error("a pcscd this test did not start is running (pid " + std::to_string(other) +
                             "); stop it first (e.g. tests/support/pcscd-harness.sh stop, or kill " +
                             std::to_string(other) + ")");
  }
  if (unix_connectable(kPcscdSocket)) {
    throw std::runtime_error(std::string("something answers on ") + kPcscdSocket + " though no pcscd process is visible");
  }
  // A port still held (TIME_WAIT lasts 60 s) would fail the reader silently.
  for (int i = 0; i < 2; ++i) {
    const auto port_deadline = Clock::now() + 65s;
    while (!tcp_port_free(vpcd_port(i))) {
      if (Clock::now() >= port_deadline) {
        throw std::runtime_error("TCP port " + std::to_string(vpcd_port(i)) +
                                 " for vpcd reader " + std::to_string(i) + " stays in use (ss -tanp | grep " +
                                 std::to_string(vpcd_port(i)) + ")");
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  const std::string log_path = log_dir() + "/pcscd.log";
  pid_ = spawn({"pcscd", "-f", "-i", "-c", write_reader_conf()}, log_path);
  const auto deadline = Clock::now() + 10s;
  for (;;) {
    if (exited(pid_)) {
      forget(pid_);
      pid_ = -1;
      throw std::runtime_error("pcscd exited at start; see " + log_dir() + "/pcscd.log");
    }
    const auto readers = list_readers_now();
    int vpcd = 0;
    for (const auto& r : readers) vpcd += (r == vpcd_reader_name(0) || r == vpcd_reader_name(1)) ? 1 : 0;
    if (vpcd == 2) return;
    if (Clock::now() >= deadline) {
      stop();
      throw std::runtime_error("pcscd did not list both vpcd readers within 10 s (is vsmartcard-vpcd installed?); " +
                               log_path + " says:" + pcscd_failure_lines(log_path));
    }
    std::this_thread::sleep_for(10ms);
  }
}

void Pcscd::stop() {
  if (pid_ <= 0) return;
  terminate(pid_);
  pid_ = -1;
  // The next start must not race the old socket: wait until it stops answering.
  const auto deadline = Clock::now() + 5s;
  while (unix_connectable(kPcscdSocket) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
}

VirtualCard::VirtualCard(int index, std::vector<std::string> args)
    : index_(index), reader_(vpcd_reader_name(index)) {
  control_ = "/tmp/settle-vcard-" + std::to_string(::getpid()) + "-" + std::to_string(index) + ".sock";
  ::unlink(control_.c_str());
  bool removed = false;
  std::vector<std::string> argv{SETTLE_VIRTUAL_CARD_PATH, "--port", std::to_string(vpcd_port(index)), "--control",
                                control_};
  for (auto& a : args) {
    removed = removed || a == "--removed";
    argv.push_back(std::move(a));
  }
  pid_ = spawn(argv, log_dir() + "/virtual-card-" + std::to_string(index) + ".log");
  const auto deadline = Clock::now() + 5s;
  while (!unix_connectable(control_.c_str())) {
    if (exited(pid_)) {
      forget(pid_);
      pid_ = -1;
      throw std::runtime_error("virtual-card exited at start (bad options?); see " + log_dir() + "/virtual-card-" +
                               std::to_string(index) + ".log");
    }
    if (Clock::now() >= deadline) throw std::runtime_error("virtual-card control socket did not appear");
    std::this_thread::sleep_for(5ms);
  }
  if (!removed && !wait_card_state(reader_, true, 5s)) {
    throw std::runtime_error("pcscd did not see the virtual card in '" + reader_ + "' within 5 s");
  }
}

VirtualCard::~VirtualCard() { stop(); }

void VirtualCard::stop() {
  if (pid_ <= 0) return;
  terminate(pid_);
  pid_ = -1;
  ::unlink(control_.c_str());
  // pcscd notices the card is gone on its next poll of vpcd; the next card in
  // this reader must not meet the old card's state.
  (void)wait_card_state(reader_, false, 2s);
}

std::string VirtualCard::command(std::string_view cmd) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, control_.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {  // NOLINT: sockets API
    ::close(fd);
    throw std::runtime_error("virtual-card control: " + std::string(std::strerror(errno)));
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string line(cmd);
  line += '\n';
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    throw std::runtime_error("virtual-card control: send failed");
  }
  std::string reply;
  char ch = 0;
  while (::recv(fd, &ch, 1, 0) == 1 && ch != '\n') reply.push_back(ch);
  ::close(fd);
  if (reply.rfind("ok", 0) != 0) throw std::runtime_error("virtual-card refused '" + std::string(cmd) + "': " + reply);
  return reply;
}

void VirtualCard::remove(bool wait) {
  command("remove");
  if (wait && !wait_card_state(reader_, false, 5s)) throw std::runtime_error("reader still shows the card after remove");
}

void VirtualCard::insert(bool wait) {
  command("insert");
  if (wait && !wait_card_state(reader_, true, 5s)) throw std::runtime_error("reader shows no card after insert");
}

}  // namespace settle::testing
