// settlectl backup / restore: a consistent copy of the ledger and the red
// list taken while settled runs (SQLite's online backup, encrypted with the
// same storage key when the files are), checked and described by a manifest;
// and its return in place of the live files while settled is stopped.
#pragma once

#include <iosfwd>
#include <string>

namespace settle::tools {

struct BackupCommand {
  std::string action;                                // backup, restore
  std::string config = "/etc/settled/settled.toml";  // the files, the socket and the key
  std::string ledger;                                // default: the config's
  std::string redlist;   // default: the config's (none when --ledger is given without --redlist)
  std::string key_file;  // default: [storage] key_file, else $CREDENTIALS_DIRECTORY/ledger-key
  std::string
      checkpoint_key;  // the checkpoints' key for the chain's verify (default: checkpoint.key beside the ledger)
  std::string socket;  // restore: the daemon's socket, to see it runs (default: the config's)
  std::string dir;     // backup --to, restore --from
  bool json = false;
};

// backup: writes DIR (created, mode 0700; refused when it already holds a
// backup) with ledger.db, redlist.db and manifest.json. Exit status as in
// tools/common/exit_codes.hpp: 1 a copy failed its checks, 2 usage, 5 a file.
int run_backup(const BackupCommand& c, std::ostream& out, std::ostream& err);
// restore: refused (5) while settled runs (its socket answers or the ledger's
// .lock is held); checks the copy first (1 when it is not right); the live
// files are kept aside as <file>.before-restore-<time>.
int run_restore(const BackupCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
