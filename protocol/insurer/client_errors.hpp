// Translation of foreign error codes (boost::system, Asio SSL, Beast HTTP,
// X509 verify results) into the insurer link's outcome classes. This is the
// one place where those codes are read; everything else sees LinkError.
#pragma once

#include "protocol/insurer/client.hpp"

#include <boost/system/error_code.hpp>

#include <string>

namespace settle::insurer::detail {

// Where in a request's life the error happened.
enum class Phase : std::uint8_t { resolve, connect, handshake, write, read };

struct ErrorContext {
  std::string_view host;
  std::uint16_t port = 0;
  std::string_view server_name;
  std::uint32_t timeout_ms = 0;  // the deadline that applied to the phase
  long verify_result = 0;        // SSL_get_verify_result after a handshake (X509_V_OK = 0)
  // The server's certificate had arrived when the handshake failed: only then
  // can an alert be about ours (before it, a handshake_failure alert means no
  // TLS version or cipher suite in common).
  bool server_certificate_seen = true;
  // The connection was just made and this is its first request. Only then can
  // a TLS alert refusing our certificate arrive after the request was written
  // (TLS 1.3 finishes the client's side before the server checks it), and such
  // an alert proves the server never accepted the connection's data.
  bool first_request_on_fresh_connection = false;
};

struct Translated {
  OutcomeClass kind;
  LinkError error;
  std::string detail;
};

Translated translate(Phase phase, const boost::system::error_code& ec, const ErrorContext& ctx);

}  // namespace settle::insurer::detail
