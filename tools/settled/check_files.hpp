// settled --check-config beyond the config's own syntax: every file the
// config names is looked at as the daemon will use it (readable, parses,
// the client certificate matches its key, key files closed to other users).
#pragma once

#include "tools/settled/config.hpp"

#include <string>
#include <vector>

namespace settle::daemon {

// One problem: the config option, the file it names, and what is wrong.
struct FileProblem {
  std::string option;  // e.g. "insurer.ca_file"
  std::string file;
  std::string what;
  std::string text() const;  // "insurer.ca_file: /etc/settled/pki/insurer-ca.pem: cannot be read: ..."
};

// Every problem found (none: the files are usable). The policy file and the
// storage key are checked by their own loaders; this checks the rest:
// [insurer] ca_file, cert_file, key_file (PEM, the pair matches) and
// secret_file, [ledger] checkpoint_key, [storage] key_file (modes),
// [daemon] data_dir and the ledger and red list files in it when they exist.
std::vector<FileProblem> check_config_files(const Config& config);

}  // namespace settle::daemon
