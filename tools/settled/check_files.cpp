// The file checks of settled --check-config: TLS material through the same
// builder the insurer client uses at start, then the modes of key files and
// the data folder, ledger and red list, each problem naming option and file.
#include "tools/settled/check_files.hpp"

#include "protocol/insurer/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace settle::daemon {
namespace {

namespace fs = std::filesystem;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// No passphrase prompt: an encrypted key is reported, not asked about.
int no_passphrase(char*, int, int, void*) { return -1; }

BioPtr open_pem(const std::string& option, const std::string& path, std::vector<FileProblem>& out) {
  if (path.empty()) {
    out.push_back({option, path, "is not set"});
    return nullptr;
  }
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) out.push_back({option, path, fmt::format("cannot be read: {}", std::strerror(errno))});
  ERR_clear_error();
  return bio;
}

// The trusted CA: one PEM certificate at least, every one parses.
void check_ca(const std::string& path, std::vector<FileProblem>& out, const std::string& option = "insurer.ca_file") {
  BioPtr bio = open_pem(option, path, out);
  if (!bio) return;
  int n = 0;
  while (X509Ptr x{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)}) ++n;
  const unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  if (n == 0)
    out.push_back({option, path, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"});
  else if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE)
    out.push_back({option, path, fmt::format("certificate {} does not parse as PEM", n + 1)});
}

X509Ptr read_cert(const std::string& option, const std::string& path, std::vector<FileProblem>& out) {
  BioPtr bio = open_pem(option, path, out);
  if (!bio) return nullptr;
  X509Ptr x{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)};
  ERR_clear_error();
  if (!x) {
    out.push_back({option, path, "holds no PEM certificate that parses"});
    return nullptr;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(x.get())) < 0)
    out.push_back({option, path, "the certificate has expired (ask the insurer for a new one)"});
  return x;
}

KeyPtr read_key(const std::string& path, std::vector<FileProblem>& out) {
  BioPtr bio = open_pem("insurer.key_file", path, out);
  if (!bio) return nullptr;
  KeyPtr k{PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)};
  ERR_clear_error();
  if (!k)
    out.push_back({"insurer.key_file", path,
                   "holds no PEM private key that parses (a key protected by a passphrase must be stored without "
                   "it: openssl pkey -in KEY -out KEY.new)"});
  return k;
}

// A key file must be closed to other users and writable only by its owner:
// 0600 (owned by the daemon's user) or 0640 (root, with the daemon's group).
void check_key_mode(const std::string& option, const std::string& path, std::vector<FileProblem>& out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out.push_back({option, path, fmt::format("cannot be read: {}", std::strerror(errno))});
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    out.push_back({option, path, "is not a regular file"});
    return;
  }
  const unsigned mode = st.st_mode & 07777;
  if ((mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0)
    out.push_back({option, path,
                   fmt::format("mode {:04o} lets other users (or the group) at a secret; make it 0600 (owned by the "
                               "daemon's user) or 0640 (root, group settled): chmod 0640 {}",
                               mode, path)});
  if (::access(path.c_str(), R_OK) != 0)
    out.push_back({option, path, fmt::format("cannot be read by this user: {}", std::strerror(errno))});
}

// A file the daemon writes, if it exists already.
void check_writable_file(const std::string& option, const std::string& path, std::vector<FileProblem>& out) {
  std::error_code ec;
  const fs::file_status s = fs::status(path, ec);
  if (!fs::exists(s)) return;
  if (!fs::is_regular_file(s)) {
    out.push_back({option, path, "exists and is not a regular file"});
    return;
  }
  if (::access(path.c_str(), R_OK | W_OK) != 0)
    out.push_back({option, path, fmt::format("cannot be read and written by this user: {}", std::strerror(errno))});
}

}  // namespace

std::string FileProblem::text() const { return fmt::format("{}: {}: {}", option, file, what); }

std::vector<FileProblem> check_config_files(const Config& c) {
  std::vector<FileProblem> out;

  // [insurer]: the CA, the client certificate and its key, each on its own
  // (so that all their problems are reported at once), then together through
  // the builder the insurer client uses at start.
  check_ca(c.insurer.ca_file, out);
  X509Ptr cert = read_cert("insurer.cert_file", c.insurer.cert_file, out);
  if (::access(c.insurer.key_file.c_str(), F_OK) == 0) check_key_mode("insurer.key_file", c.insurer.key_file, out);
  KeyPtr key = read_key(c.insurer.key_file, out);
  if (cert && key && X509_check_private_key(cert.get(), key.get()) != 1)
    out.push_back({"insurer.key_file", c.insurer.key_file,
                   fmt::format("does not match the certificate {} (insurer.cert_file)", c.insurer.cert_file)});
  if (out.empty()) {
    if (auto tls = insurer::detail::make_client_tls_context(c.insurer.ca_file, c.insurer.cert_file, c.insurer.key_file);
        !tls) {
      const std::string field = tls.error().field.empty() ? "ca_file" : tls.error().field;
      const std::string& file = field == "cert_file" ? c.insurer.cert_file
                                : field == "key_file" ? c.insurer.key_file
                                                      : c.insurer.ca_file;
      out.push_back({"insurer." + field, file, tls.error().message});
    }
  }
  if (!c.insurer.secret_file.empty()) check_key_mode("insurer.secret_file", c.insurer.secret_file, out);

  // [ledger] checkpoint_key: a configured key must exist (only the default
  // <data_dir>/checkpoint.key is made at the first start).
  if (!c.ledger.checkpoint_key.empty()) check_key_mode("ledger.checkpoint_key", c.ledger.checkpoint_key, out);
  // [storage] key_file: its content is checked by the key's loader.
  if (!c.storage.key_file.empty()) check_key_mode("storage.key_file", c.storage.key_file, out);

  // [daemon] data_dir: made at the first start; if it exists the daemon must own its work there.
  std::error_code ec;
  if (fs::exists(c.data_dir, ec)) {
    if (!fs::is_directory(c.data_dir, ec))
      out.push_back({"daemon.data_dir", c.data_dir, "exists and is not a folder"});
    else if (::access(c.data_dir.c_str(), R_OK | W_OK | X_OK) != 0)
      out.push_back({"daemon.data_dir", c.data_dir,
                     fmt::format("cannot be written by this user: {}", std::strerror(errno))});
    else
      check_writable_file("daemon.data_dir", c.ledger_path, out);
  }
  // [redlist] path: made at the first start in a folder that must exist
  // (data_dir is made by the daemon; another folder is the site's).
  check_writable_file("redlist.path", c.redlist.path, out);
  const fs::path red_dir = fs::path(c.redlist.path).parent_path();
  if (!fs::exists(c.redlist.path, ec) && red_dir != fs::path(c.data_dir) && !fs::is_directory(red_dir, ec))
    out.push_back({"redlist.path", c.redlist.path, fmt::format("its folder {} does not exist", red_dir.string())});
  // [[notify.hook]]: a command's program runs, a webhook's CA reads.
  for (std::size_t i = 0; i < c.notify.hooks.size(); ++i) {
    const NotifyHook& h = c.notify.hooks[i];
    const std::string where = fmt::format("notify.hook[{}]", i);
    if (!h.command.empty() && ::access(h.command.front().c_str(), X_OK) != 0)
      out.push_back({where + ".command", h.command.front(),
                     fmt::format("cannot be run by this user: {}", std::strerror(errno))});
    if (!h.ca_file.empty()) check_ca(h.ca_file, out, where + ".ca_file");
  }
  return out;
}

}  // namespace settle::daemon
