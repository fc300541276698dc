// TLS settings of the insurer link in one place: TLS 1.2 minimum, the
// insurer's certificate checked against the configured CA only, the
// institution's client certificate, and per-connection SNI + host name check.
#pragma once

#include "engine/result.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace settle::insurer::detail {

// The TLS 1.2 suites the insurer link offers: ECDHE with AES-GCM or
// ChaCha20-Poly1305, for ECDSA or RSA certificates.
inline constexpr const char* kTls12CipherSuites =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The link's protocol rules on a client context: TLS 1.2 at least, TLS 1.2
// with kTls12CipherSuites only, TLS 1.3 with OpenSSL's suites (all AEAD), no
// compression. Also used for the daemon's webhooks (tools/settled/notify.cpp).
// INVALID_CONFIG if OpenSSL refuses them.
Status apply_tls_protocols(boost::asio::ssl::context& ctx);

// INVALID_CONFIG naming the field whose file is missing or unusable.
// cert_file and key_file may both be empty (no client certificate: tests only).
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::string& ca_file, const std::string& cert_file, const std::string& key_file);

// Sets SNI (names only, never for an IP address) and the name or address the
// peer's certificate must carry. False if OpenSSL refused the name.
bool configure_peer_name(SSL* ssl, const std::string& server_name);

}  // namespace settle::insurer::detail
