// insurer-sim's control endpoint from the outside: a blocking socket, one
// request, the answer read up to its Content-Length (or the close).
#include "tools/insurer-sim/control_client.hpp"

#include "protocol/json.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <stdexcept>

namespace settle::sim {

ControlHttpReply control_request(std::uint16_t port, std::string_view method, std::string_view target,
                                 const std::optional<std::string>& json_body) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)  // NOLINT: sockets API
    throw std::runtime_error(fmt::format("cannot reach the simulator's control endpoint 127.0.0.1:{}", port));
  const std::string payload = json_body.value_or(std::string());
  std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, target);
  if (json_body) req += "Content-Type: application/json\r\n";
  req += fmt::format("Content-Length: {}\r\n\r\n", payload.size()) + payload;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    throw std::runtime_error(fmt::format("control request {} {} not sent", method, target));
  std::string resp;
  char tmp[65536];
  static const std::regex content_length(R"([Cc]ontent-[Ll]ength:\s*(\d+))");
  for (;;) {
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    resp.append(tmp, static_cast<std::size_t>(n));
    // Stop once Content-Length bytes of body are in.
    const auto head_end = resp.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::smatch m;
      const std::string head = resp.substr(0, head_end);
      if (std::regex_search(head, m, content_length) && resp.size() - head_end - 4 >= std::stoul(m[1].str())) break;
    }
  }
  const auto sp = resp.find(' ');
  if (sp == std::string::npos || resp.size() < sp + 4)
    throw std::runtime_error(fmt::format("no HTTP answer from the control endpoint to {} {}", method, target));
  ControlHttpReply r;
  r.status = static_cast<unsigned>(std::stoi(resp.substr(sp + 1, 3)));
  const auto head_end = resp.find("\r\n\r\n");
  if (head_end != std::string::npos) r.body = resp.substr(head_end + 4);
  return r;
}

std::string mint_ec_qr(std::uint16_t port, std::string_view psn_no, bool acct_auth) {
  const auto j = json::Json{{"psn_no", std::string(psn_no)}, {"acct_auth", acct_auth}};
  const ControlHttpReply r = control_request(port, "POST", "/ec-qr", j.dump());
  auto doc = json::parse(r.body, "POST /ec-qr");
  const json::Json* code = doc ? json::find(*doc, "ec_qrcode") : nullptr;
  if (r.status != 200 || code == nullptr || !code->is_string())
    throw std::runtime_error(fmt::format("insurer-sim POST /ec-qr answered {}: {}", r.status, r.body));
  return code->get<std::string>();
}

}  // namespace settle::sim
