// Builds the insurer link's TLS client context and configures each
// connection's peer name. OpenSSL calls are confined here and to the error
// translation in client_errors.cpp.
#include "protocol/insurer/tls_context.hpp"

#include <boost/asio/ip/address.hpp>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include <sys/stat.h>

#include <fstream>

namespace settle::insurer::detail {

namespace ssl = boost::asio::ssl;

namespace {

Error config_error(std::string field, std::string message) {
  return make_error(Reason::invalid_config, std::move(field), std::move(message));
}

bool readable(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return f.good();
}

}  // namespace

Status apply_tls_protocols(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return config_error("", "OpenSSL refused to set TLS 1.2 as the minimum version");
  }
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  // TLS 1.2 with forward-secret AEAD suites only (no CBC, no SHA-1 MAC, no
  // static RSA key exchange, which OpenSSL's defaults still offer); TLS 1.3
  // keeps OpenSSL's suites, all AEAD.
  if (SSL_CTX_set_cipher_list(native, kTls12CipherSuites) != 1) {
    return config_error("", "OpenSSL refused the TLS 1.2 cipher suites");
  }
  return Ok{};
}

Result<std::shared_ptr<ssl::context>> make_client_tls_context(const std::string& ca_file,
                                                               const std::string& cert_file,
                                                               const std::string& key_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  if (Status s = apply_tls_protocols(*ctx); !s) return s.error();

  boost::system::error_code ec;
  if (ca_file.empty()) return config_error("ca_file", "ca_file is required");
  if (!readable(ca_file)) return config_error("ca_file", fmt::format("cannot read CA file '{}'", ca_file));
  ctx->load_verify_file(ca_file, ec);
  if (ec) {
    return config_error("ca_file", fmt::format("CA file '{}' is not usable PEM: {}", ca_file, ec.message()));
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return config_error("ca_file", fmt::format("cannot enable peer verification: {}", ec.message()));

  if (cert_file.empty() != key_file.empty()) {
    return config_error(cert_file.empty() ? "cert_file" : "key_file",
                        "cert_file and key_file must be given together");
  }
  if (!cert_file.empty()) {
    if (!readable(cert_file)) {
      return config_error("cert_file", fmt::format("cannot read certificate file '{}'", cert_file));
    }
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) {
      return config_error("cert_file",
                          fmt::format("certificate file '{}' is not usable PEM: {}", cert_file, ec.message()));
    }
    if (!readable(key_file)) {
      return config_error("key_file", fmt::format("cannot read key file '{}'", key_file));
    }
    // The institution's private key: its owner (and the service's group) only.
    struct stat st {};
    if (::stat(key_file.c_str(), &st) == 0 && (st.st_mode & S_IRWXO) != 0) {
      return config_error("key_file", fmt::format("key file '{}' is open to other users (mode {:04o}): it is this "
                                                  "institution's private key; chmod o-rwx it (600, or 640 with the "
                                                  "service's group)",
                                                  key_file, st.st_mode & 07777));
    }
    ctx->use_private_key_file(key_file, ssl::context::pem, ec);
    if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
      return config_error("key_file", fmt::format("key file '{}' does not match certificate '{}'",
                                                  key_file, cert_file));
    }
    if (ec) {
      return config_error("key_file",
                          fmt::format("key file '{}' is not a usable PEM key: {}", key_file, ec.message()));
    }
    if (SSL_CTX_check_private_key(native) != 1) {
      return config_error("key_file", fmt::format("key file '{}' does not match certificate '{}'",
                                                  key_file, cert_file));
    }
  }
  return ctx;
}

bool configure_peer_name(SSL* ssl_handle, const std::string& server_name) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(server_name, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
  if (!ec) {
    // An address: checked against the certificate's IP SANs; no SNI (RFC 6066).
    return X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) == 1;
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(ssl_handle, server_name.c_str()) != 1) return false;
  // SSL_set_tlsext_host_name, spelt without the macro's C cast.
  return SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(server_name.c_str())) == 1;
}

}  // namespace settle::insurer::detail
