// settlectl ledger: the ledger file's own tools for IT and the auditor:
// `verify` walks the hash chain and the signed checkpoints and names the
// first row that breaks them; `keygen` makes the checkpoint signing key.
#pragma once

#include <iosfwd>
#include <string>

namespace settle::tools {

struct LedgerVerifyCommand {
  std::string ledger;  // the ledger file (read beside a running daemon)
  std::string key;     // the checkpoint key (public or private PEM); "" = <ledger dir>/checkpoint.key if there
  std::string storage_key;  // the storage key of an encrypted ledger; "" = the ledger-key credential if any
  bool json = false;
};
// 0: intact; 1: broken (the problems are printed); 3: the file or key cannot be read.
int run_ledger_verify(const LedgerVerifyCommand& c, std::ostream& out, std::ostream& err);

struct LedgerKeygenCommand {
  std::string out;         // the new private key (0600; never overwritten)
  std::string public_out;  // and its public key, for the auditor ("" = none)
};
int run_ledger_keygen(const LedgerKeygenCommand& c, std::ostream& out, std::ostream& err);

}  // namespace settle::tools
