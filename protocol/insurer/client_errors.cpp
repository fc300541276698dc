// The one switch from boost::system / SSL / Beast error codes to the link's
// outcome classes. The rule it encodes: before the first byte of a request is
// written, every failure is unreachable; after, every failure is in_doubt,
// except a TLS alert refusing our certificate on a fresh connection.
#include "protocol/insurer/client_errors.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <fmt/format.h>

namespace settle::insurer::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

bool is_ssl_error(const boost::system::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category();
}

// A TLS alert sent by the peer saying it will not accept our certificate.
bool is_certificate_alert(const boost::system::error_code& ec) {
  if (!is_ssl_error(ec)) return false;
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return true;
    default:
      return false;
  }
}

// The peer went away: FIN, RST, or a TLS stream cut without close_notify.
bool is_closed(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == asio::ssl::error::stream_truncated || ec == beast::http::error::end_of_stream;
}

Translated unreachable(LinkError e, std::string detail) {
  return {OutcomeClass::unreachable, e, std::move(detail)};
}
Translated in_doubt(LinkError e, std::string detail) {
  return {OutcomeClass::in_doubt, e, std::move(detail)};
}

}  // namespace

Translated translate(Phase phase, const boost::system::error_code& ec, const ErrorContext& ctx) {
  const std::string where = fmt::format("{}:{}", ctx.host, ctx.port);
  switch (phase) {
    case Phase::resolve:
      if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
        return unreachable(LinkError::connect_timeout,
                           fmt::format("resolving {} took longer than {} ms", ctx.host, ctx.timeout_ms));
      }
      return unreachable(LinkError::resolve_failed,
                         fmt::format("cannot resolve {}: {}", ctx.host, ec.message()));

    case Phase::connect:
      if (ec == beast::error::timeout) {
        return unreachable(LinkError::connect_timeout,
                           fmt::format("no TCP connection to {} within {} ms", where, ctx.timeout_ms));
      }
      if (ec == asio::error::connection_refused) {
        return unreachable(LinkError::connect_refused, fmt::format("{} refused the connection", where));
      }
      return unreachable(LinkError::connect_failed,
                         fmt::format("cannot connect to {}: {}", where, ec.message()));

    case Phase::handshake:
      if (ec == beast::error::timeout) {
        return unreachable(LinkError::connect_timeout,
                           fmt::format("TLS handshake with {} not finished within {} ms", where,
                                       ctx.timeout_ms));
      }
      if (ctx.verify_result == X509_V_ERR_HOSTNAME_MISMATCH ||
          ctx.verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        return unreachable(LinkError::host_name_mismatch,
                           fmt::format("the certificate of {} does not name '{}'", where,
                                       ctx.server_name));
      }
      if (ctx.verify_result != X509_V_OK) {
        return unreachable(LinkError::server_cert_rejected,
                           fmt::format("the certificate of {} was refused: {}", where,
                                       X509_verify_cert_error_string(ctx.verify_result)));
      }
      if (is_certificate_alert(ec) && !ctx.server_certificate_seen) {
        return unreachable(LinkError::tls_handshake_failed,
                           fmt::format("TLS handshake with {} failed before its certificate: no TLS version or cipher "
                                       "suite in common ({}; this link offers TLS 1.3, and TLS 1.2 with ECDHE and "
                                       "AES-GCM or ChaCha20-Poly1305 only)",
                                       where, ec.message()));
      }
      if (is_certificate_alert(ec)) {
        return unreachable(LinkError::client_cert_rejected,
                           fmt::format("{} refused this institution's certificate: {}", where,
                                       ec.message()));
      }
      if (is_closed(ec)) {
        return unreachable(LinkError::tls_handshake_failed,
                           fmt::format("{} closed the connection during the TLS handshake", where));
      }
      return unreachable(LinkError::tls_handshake_failed,
                         fmt::format("TLS handshake with {} failed: {}", where, ec.message()));

    case Phase::write:
    case Phase::read: {
      if (ctx.first_request_on_fresh_connection && is_certificate_alert(ec)) {
        return unreachable(LinkError::client_cert_rejected,
                           fmt::format("{} refused this institution's certificate: {}", where,
                                       ec.message()));
      }
      if (ec == beast::error::timeout) {
        return in_doubt(LinkError::reply_timeout,
                        fmt::format("no complete reply from {} within {} ms", where, ctx.timeout_ms));
      }
      if (ec == beast::http::error::body_limit || ec == beast::http::error::header_limit ||
          ec == beast::http::error::buffer_overflow) {
        return in_doubt(LinkError::reply_too_large,
                        fmt::format("the reply from {} is too large: {}", where, ec.message()));
      }
      if (is_closed(ec) || ec == beast::http::error::partial_message) {
        return in_doubt(LinkError::connection_closed,
                        fmt::format("{} closed the connection {} ({})", where,
                                    phase == Phase::write ? "while the request was being written"
                                                          : "before a complete reply",
                                    ec.message()));
      }
      if (ec.category() == beast::http::make_error_code(beast::http::error::bad_version).category()) {
        return in_doubt(LinkError::bad_reply,
                        fmt::format("the reply from {} is not HTTP/1.1: {}", where, ec.message()));
      }
      if (phase == Phase::write) {
        return in_doubt(LinkError::write_failed,
                        fmt::format("writing the request to {} failed: {}", where, ec.message()));
      }
      return in_doubt(LinkError::bad_reply,
                      fmt::format("reading the reply from {} failed: {}", where, ec.message()));
    }
  }
  SETTLE_ASSERT(false && "unknown phase");
  return {};
}

}  // namespace settle::insurer::detail
