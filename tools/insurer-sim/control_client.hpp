// A client for insurer-sim's control endpoint (plain HTTP/1.1 on loopback,
// docs/insurer-sim.md "Control endpoint"): one request per connection, for
// the test harnesses, the bench and the drill.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace settle::sim {

struct ControlHttpReply {
  unsigned status = 0;
  std::string body;  // the answer's body (JSON from the simulator), maybe empty
};

// Sends METHOD TARGET (with a JSON body if given) to 127.0.0.1:port and reads
// the whole answer; a 30 s limit on each send and receive. Throws
// std::runtime_error naming the endpoint when it cannot be reached or answers
// no HTTP.
ControlHttpReply control_request(std::uint16_t port, std::string_view method, std::string_view target,
                                 const std::optional<std::string>& json_body = std::nullopt);

// POST /ec-qr: mints the e-voucher code a person's phone would show (with the
// personal account authorised or not) and returns its text, for 9401.
// Throws std::runtime_error with the simulator's answer when it refuses.
std::string mint_ec_qr(std::uint16_t port, std::string_view psn_no, bool acct_auth);

}  // namespace settle::sim
