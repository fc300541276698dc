// settlectl ledger encrypt | rekey | status: encryption at rest of the ledger
// and the red list (docs/encryption.md), on the files while settled is
// stopped (their .lock keeps a running daemon's files out of reach).
#pragma once

#include <iosfwd>
#include <string>

namespace settle::tools {

struct StorageCommand {
  std::string action;       // encrypt, rekey, status
  std::string config = "/etc/settled/settled.toml";  // where the files and the key are found
  std::string ledger;       // the ledger file (default: the config's)
  std::string redlist;      // the red-list file (default: the config's)
  std::string key_file;     // the key (default: [storage] key_file, else the ledger-key credential)
  std::string new_key_file; // rekey: the new key
};
// Exit status (tools/common/exit_codes.hpp): 0 done, 1 nothing could be done as
// asked (a file refused), 2 usage, 5 a file in use (settled runs) or not written.
int run_storage(const StorageCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
