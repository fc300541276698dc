// virtual-card: a social security card of the project's own, inserted into a
// vpcd virtual reader (pcscd's vsmartcard driver) over TCP, implementing the
// card profile (SSSE select, records, PIN) with faults on demand for tests.
//
// Usage: virtual-card [--port 32000] [--control PATH] [--seed N] [identity options] ...
//        virtual-card --control PATH --send remove|insert|quit|delay N|status
// Control commands (one per line on the Unix socket, answered "ok ..." or
// "error ..."): remove (close the vpcd connection: the card is pulled),
// insert (connect again), delay <ms> (answer each APDU that much later),
// status ("ok inserted=1 connected=1 seen=1 tries=3"; seen = pcscd has
// asked for the ATR, i.e. it knows the card is there), quit.
#include <arpa/inet.h>
#include <fcntl.h>
#include <iconv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 32000;  // the test harness's vpcd reader 0 (pcsc_harness.cpp)
  std::string control;
  std::string send;  // client mode
  std::string card_sn = "110000D156000005";
  std::string card_type = "1";
  std::string card_no = "A12345678";
  std::string id_no = "11010519491231002X";
  std::string name = "张伟";
  std::string gender;      // default: from the ID number
  std::string birth_date;  // YYYYMMDD, default: from the ID number
  std::string pin = "123456";
  int tries = 3;
  int max_tries = 3;
  bool blocked = false;
  std::string malformed = "none";  // none|tlv|id-check|gbk|garbage|no-app|short
  int delay_ms = 0;
  std::uint32_t seed = 0;  // for --malformed garbage and GET CHALLENGE; 0: from the clock
  bool start_removed = false;
  bool no_61 = false;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "virtual-card: %s\n", msg.c_str());
  std::exit(2);
}

Bytes to_gbk(const std::string& utf8) {
  iconv_t cd = iconv_open("GB18030", "UTF-8");
  if (cd == reinterpret_cast<iconv_t>(-1)) die("iconv: no GB18030");  // NOLINT: iconv's failure value
  std::string in = utf8;
  std::string out(in.size() * 2 + 8, '\0');
  char* ip = in.data();
  std::size_t il = in.size();
  char* op = out.data();
  std::size_t ol = out.size();
  if (iconv(cd, &ip, &il, &op, &ol) == static_cast<std::size_t>(-1)) die("name is not valid UTF-8");
  iconv_close(cd);
  out.resize(out.size() - ol);
  return Bytes(out.begin(), out.end());
}

Bytes ascii(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes tlv(std::uint8_t tag, const Bytes& value, std::size_t width) {
  Bytes out;
  out.push_back(tag);
  out.push_back(static_cast<std::uint8_t>(width));
  for (std::size_t i = 0; i < width; ++i) out.push_back(i < value.size() ? value[i] : std::uint8_t{0x00});
  return out;
}

Bytes bcd_date(const std::string& yyyymmdd) {
  if (yyyymmdd.size() != 8) die("birth date must be YYYYMMDD");
  Bytes out;
  for (std::size_t i = 0; i < 8; i += 2) {
    out.push_back(static_cast<std::uint8_t>(((yyyymmdd[i] - '0') << 4) | (yyyymmdd[i + 1] - '0')));
  }
  return out;
}

Bytes pin_bcd(const std::string& digits) {
  Bytes out;
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    const int hi = digits[i] - '0';
    const int lo = i + 1 < digits.size() ? digits[i + 1] - '0' : 0x0F;
    out.push_back(static_cast<std::uint8_t>((hi << 4) | lo));
  }
  return out;
}

// ATR for T=1 with historical bytes "SSSE-VC1", TCK computed.
Bytes make_atr() {
  Bytes atr{0x3B, 0x88, 0x80, 0x01};
  for (char c : std::string_view("SSSE-VC1")) atr.push_back(static_cast<std::uint8_t>(c));
  std::uint8_t tck = 0;
  for (std::size_t i = 1; i < atr.size(); ++i) tck = static_cast<std::uint8_t>(tck ^ atr[i]);
  atr.push_back(tck);
  return atr;
}

const Bytes kSsse{0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};

class Card {
 public:
  explicit Card(const Options& o) : o_(o), tries_(o.blocked ? 0 : o.tries), rng_(o.seed) {
    std::string id = o.id_no;
    if (o.malformed == "id-check") {
      id.back() = id.back() == '0' ? '1' : '0';
      if (id.back() == o.id_no.back()) id.back() = '2';
    }
    std::string gender = o.gender;
    if (gender.empty()) gender = ((o.id_no.size() == 18 ? o.id_no[16] - '0' : 1) % 2 == 1) ? "1" : "2";
    std::string birth = o.birth_date.empty() && o.id_no.size() == 18 ? o.id_no.substr(6, 8) : o.birth_date;
    Bytes name = to_gbk(o.name);
    if (name.size() > 30) die("name longer than 30 GBK bytes");
    records_[{0xEF05, 0x01}] = tlv(0x01, ascii(o.card_sn), 16);
    records_[{0xEF05, 0x02}] = tlv(0x02, ascii(o.card_type), 1);
    records_[{0xEF05, 0x07}] = tlv(0x07, ascii(o.card_no), 9);
    records_[{0xEF06, 0x08}] = tlv(0x08, ascii(id), 18);
    records_[{0xEF06, 0x09}] = tlv(0x09, name, 30);
    records_[{0xEF06, 0x0A}] = tlv(0x0A, ascii(gender), 1);
    records_[{0xEF06, 0x0D}] = tlv(0x0D, bcd_date(birth), 4);
    if (o.malformed == "tlv") records_[{0xEF06, 0x09}] = Bytes{0x09, 0x40, 0xD5, 0xC5, 0xCE, 0xB0};
    if (o.malformed == "gbk") records_[{0xEF06, 0x09}] = tlv(0x09, Bytes{0xD5, 0xC5, 0xCE, 0x0A}, 30);
  }

  void reset() {
    app_selected_ = false;
    ef_ = 0;
    pending_.clear();
  }

  Bytes process(const Bytes& c) {
    if (c.size() < 4) return sw(0x6700);
    const std::uint8_t ins = c[1];
    const std::size_t lc = c.size() > 5 ? c[4] : 0;
    const Bytes data = c.size() > 5 ? Bytes(c.begin() + 5, c.begin() + static_cast<std::ptrdiff_t>(std::min(c.size(), 5 + lc))) : Bytes{};
    if (c[0] != 0x00) return sw(0x6E00);
    switch (ins) {
      case 0xA4:
        if (c[2] == 0x04) {
          if (o_.malformed == "no-app" || data != kSsse) return sw(0x6A82);
          reset();
          app_selected_ = true;
          const Bytes fci{0x6F, 0x11, 0x84, 0x0F, 0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E,
                          0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};
          if (o_.no_61) return with_sw(fci, 0x9000);
          pending_ = fci;
          return sw(static_cast<std::uint16_t>(0x6100 | fci.size()));
        }
        if (c[2] == 0x00 && data.size() == 2) {
          const auto fid = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
          if (!app_selected_ || (fid != 0xEF05 && fid != 0xEF06)) return sw(0x6A82);
          ef_ = fid;
          return sw(0x9000);
        }
        return sw(0x6A86);
      case 0xC0: {
        if (pending_.empty()) return sw(0x6985);
        Bytes out = pending_;
        pending_.clear();
        return with_sw(out, 0x9000);
      }
      case 0xB2: {
        if (ef_ == 0) return sw(0x6986);
        if (c[3] != 0x04) return sw(0x6A86);
        const auto it = records_.find({ef_, c[2]});
        if (it == records_.end()) return sw(0x6A83);
        if (o_.malformed == "garbage") {
          Bytes junk(it->second.size());
          for (auto& b : junk) b = static_cast<std::uint8_t>(rng_());
          return with_sw(junk, 0x9000);
        }
        if (o_.malformed == "short") return Bytes{0x90};
        const std::size_t le = c.size() == 5 ? (c[4] == 0 ? 256u : c[4]) : 256u;
        if (le < it->second.size()) return sw(static_cast<std::uint16_t>(0x6C00 | it->second.size()));
        return with_sw(it->second, 0x9000);
      }
      case 0x20: {
        if (!app_selected_) return sw(0x6985);
        if (tries_ == 0) return sw(0x6983);
        if (c.size() == 4 || (c.size() == 5 && c[4] == 0)) return sw(static_cast<std::uint16_t>(0x63C0 | tries_));
        if (data == pin_bcd(o_.pin)) {
          tries_ = o_.max_tries;
          return sw(0x9000);
        }
        --tries_;
        if (tries_ == 0) return sw(0x6983);
        return sw(static_cast<std::uint16_t>(0x63C0 | tries_));
      }
      case 0x84: {
        const std::size_t n = c.size() == 5 ? (c[4] == 0 ? 256u : c[4]) : 8u;
        Bytes out(n);
        for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
        return with_sw(out, 0x9000);
      }
      default:
        return sw(0x6D00);
    }
  }

  int tries() const { return tries_; }

 private:
  static Bytes sw(std::uint16_t s) { return Bytes{static_cast<std::uint8_t>(s >> 8), static_cast<std::uint8_t>(s & 0xFF)}; }
  static Bytes with_sw(Bytes data, std::uint16_t s) {
    data.push_back(static_cast<std::uint8_t>(s >> 8));
    data.push_back(static_cast<std::uint8_t>(s & 0xFF));
    return data;
  }

  const Options& o_;
  int tries_;
  std::mt19937 rng_;
  std::map<std::pair<std::uint16_t, std::uint8_t>, Bytes> records_;
  bool app_selected_ = false;
  std::uint16_t ef_ = 0;
  Bytes pending_;
};

void quickack(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

bool write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    quickack(fd);
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  quickack(fd);
  return true;
}

bool send_frame(int fd, const Bytes& payload) {
  std::vector<std::uint8_t> frame;
  frame.reserve(payload.size() + 2);
  frame.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
  frame.push_back(static_cast<std::uint8_t>(payload.size() & 0xFF));
  frame.insert(frame.end(), payload.begin(), payload.end());
  return write_all(fd, frame.data(), frame.size());  // one write: no Nagle stall
}

int connect_vpcd(const Options& o) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &a.sin_addr) != 1) die("bad --host");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {  // NOLINT: sockets API
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  quickack(fd);
  return fd;
}

int listen_control(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("control socket");
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) die("control path too long");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind " + path + ": " + std::strerror(errno));  // NOLINT
  if (::listen(fd, 4) != 0) die("listen");
  return fd;
}

int client_send(const Options& o) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (o.control.size() >= sizeof a.sun_path) die("control path too long");
  std::memcpy(a.sun_path, o.control.c_str(), o.control.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect " + o.control + ": " + std::strerror(errno));  // NOLINT
  std::string line = o.send + "\n";
  write_all(fd, reinterpret_cast<const std::uint8_t*>(line.data()), line.size());  // NOLINT
  std::string reply;
  char ch = 0;
  while (::recv(fd, &ch, 1, 0) == 1 && ch != '\n') reply.push_back(ch);
  ::close(fd);
  std::printf("%s\n", reply.c_str());
  return reply.rfind("ok", 0) == 0 ? 0 : 1;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--host") o.host = val();
    else if (a == "--port") o.port = std::stoi(val());
    else if (a == "--control") o.control = val();
    else if (a == "--send") o.send = val();
    else if (a == "--card-sn") o.card_sn = val();
    else if (a == "--card-type") o.card_type = val();
    else if (a == "--card-no") o.card_no = val();
    else if (a == "--id-no") o.id_no = val();
    else if (a == "--name") o.name = val();
    else if (a == "--gender") o.gender = val();
    else if (a == "--birth-date") o.birth_date = val();
    else if (a == "--pin") o.pin = val();
    else if (a == "--tries") o.tries = std::stoi(val());
    else if (a == "--blocked") o.blocked = true;
    else if (a == "--malformed") o.malformed = val();
    else if (a == "--delay-ms") o.delay_ms = std::stoi(val());
    else if (a == "--seed") o.seed = static_cast<std::uint32_t>(std::stoul(val()));
    else if (a == "--removed") o.start_removed = true;
    else if (a == "--no-61") o.no_61 = true;
    else die("unknown option " + std::string(a));
  }
  static const std::array<std::string_view, 7> kinds{"none", "tlv", "id-check", "gbk", "garbage", "no-app", "short"};
  bool known = false;
  for (auto k : kinds) known = known || k == o.malformed;
  if (!known) die("unknown --malformed kind " + o.malformed);
  if (o.tries < 0 || o.tries > 15) die("--tries must be 0-15");
  if (o.id_no.size() != 18 && o.birth_date.empty()) die("--id-no is not 18 characters; give --birth-date");
  if (o.seed == 0) o.seed = static_cast<std::uint32_t>(Clock::now().time_since_epoch().count());
  return o;
}

volatile sig_atomic_t g_quit = 0;
void on_signal(int) { g_quit = 1; }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    die(std::string("bad option value (") + e.what() + ")");
  }
  if (!o.send.empty()) {
    if (o.control.empty()) die("--send needs --control");
    return client_send(o);
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  Card card(o);
  const Bytes atr = make_atr();
  const int ctl = o.control.empty() ? -1 : listen_control(o.control);
  std::vector<int> clients;
  int vpcd = -1;
  bool inserted = !o.start_removed;
  int delay_ms = o.delay_ms;
  std::optional<std::pair<Clock::time_point, Bytes>> pending;  // a delayed answer
  auto next_connect = Clock::now();

  std::printf("virtual-card: port %d control %s seed %u\n", o.port, o.control.c_str(), o.seed);
  std::fflush(stdout);

  bool atr_asked = false;  // pcscd asks for the ATR once it has seen the card
  auto pull = [&] {
    if (vpcd >= 0) ::close(vpcd);
    vpcd = -1;
    atr_asked = false;
    pending.reset();
    card.reset();
  };

  while (!g_quit) {
    if (inserted && vpcd < 0 && Clock::now() >= next_connect) {
      vpcd = connect_vpcd(o);
      // pcscd not there (yet, or restarting): try again shortly.
      if (vpcd < 0) next_connect = Clock::now() + std::chrono::milliseconds(100);
    }
    std::vector<pollfd> fds;
    if (ctl >= 0) fds.push_back({ctl, POLLIN, 0});
    for (int c : clients) fds.push_back({c, POLLIN, 0});
    const bool read_vpcd = vpcd >= 0 && !pending;
    if (read_vpcd) fds.push_back({vpcd, POLLIN, 0});
    int timeout_ms = 200;
    if (pending) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(pending->first - Clock::now()).count();
      timeout_ms = static_cast<int>(std::max<long long>(0, left));
    }
    if (inserted && vpcd < 0) timeout_ms = std::min(timeout_ms, 100);
    const int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) die("poll");

    if (pending && Clock::now() >= pending->first) {
      if (vpcd >= 0 && !send_frame(vpcd, pending->second)) pull();
      pending.reset();
    }
    if (n <= 0) continue;

    for (const auto& p : fds) {
      if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (p.fd == ctl) {
        const int c = ::accept4(ctl, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) clients.push_back(c);
      } else if (p.fd == vpcd) {
        std::uint8_t len_bytes[2];
        if (!read_all(vpcd, len_bytes, 2)) {
          pull();  // pcscd went away; reconnect while "inserted"
          next_connect = Clock::now() + std::chrono::milliseconds(100);
          continue;
        }
        const std::size_t len = static_cast<std::size_t>((len_bytes[0] << 8) | len_bytes[1]);
        Bytes msg(len);
        if (len > 0 && !read_all(vpcd, msg.data(), len)) {
          pull();
          next_connect = Clock::now() + std::chrono::milliseconds(100);
          continue;
        }
        if (len == 1) {
          switch (msg[0]) {
            case 0: case 1: case 2: card.reset(); break;  // power off / on / reset
            case 4:
              atr_asked = true;
              if (!send_frame(vpcd, atr)) pull();
              break;
            default: break;
          }
          continue;
        }
        Bytes answer = card.process(msg);
        if (delay_ms > 0) {
          pending.emplace(Clock::now() + std::chrono::milliseconds(delay_ms), std::move(answer));
        } else if (!send_frame(vpcd, answer)) {
          pull();
        }
      } else {
        // A control client: read one line, act, answer, close.
        std::string line;
        char ch = 0;
        while (::recv(p.fd, &ch, 1, 0) == 1 && ch != '\n') line.push_back(ch);
        std::string reply = "ok";
        if (line == "remove") {
          inserted = false;
          pull();
        } else if (line == "insert") {
          inserted = true;
          next_connect = Clock::now();
        } else if (line.rfind("delay ", 0) == 0) {
          delay_ms = std::atoi(line.c_str() + 6);
        } else if (line == "status") {
          reply = "ok inserted=" + std::to_string(inserted ? 1 : 0) + " connected=" + std::to_string(vpcd >= 0 ? 1 : 0) +
                  " seen=" + std::to_string(atr_asked ? 1 : 0) +
                  " tries=" + std::to_string(card.tries());
        } else if (line == "quit") {
          g_quit = 1;
        } else {
          reply = "error unknown command";
        }
        reply += "\n";
        write_all(p.fd, reinterpret_cast<const std::uint8_t*>(reply.data()), reply.size());  // NOLINT
        ::close(p.fd);
        std::erase(clients, p.fd);
      }
    }
  }
  pull();
  if (ctl >= 0) {
    ::close(ctl);
    ::unlink(o.control.c_str());
  }
  return 0;
}
