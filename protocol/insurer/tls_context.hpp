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

// INVALID_CONFIG naming the field whose file is missing or unusable.
// cert_file and key_file may both be empty (no client certificate: tests only).
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::string& ca_file, const std::string& cert_file, const std::string& key_file);

// Sets SNI (names only, never for an IP address) and the name or address the
// peer's certificate must carry. False if OpenSSL refused the name.
bool configure_peer_name(SSL* ssl, const std::string& server_name);

}  // namespace settle::insurer::detail
