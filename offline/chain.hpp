// The ledger's hash chain: every row of its money history (settlements and
// their lines, refunds, adjustments, corrections and their decisions, stored
// answers, audit entries, events, stays, close-outs) appends an entry holding
// the SHA-256 of the row's recorded content and of the entry before it;
// signed checkpoints of the chain's head; and the walk that verifies both.
#pragma once

#include "offline/sqlite.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::ledger::chain {

using Hash = std::array<std::uint8_t, 32>;
std::string hex(const Hash& h);

// Registers settle_digest(kind, values...) on the connection: the SHA-256 of
// a canonical encoding of its arguments (each value with its type and
// length). The chain's triggers call it, so a connection without it (the
// sqlite3 shell) cannot write a chained table.
sql::Status register_functions(sql::Db& db);

// The schema v7 SQL: the chain and checkpoint tables and the triggers that
// chain each kind (generated from the table of kinds in chain.cpp).
const std::string& schema_sql();
// The triggers that chain the kinds a later migration adds (`version` > 7),
// for that migration's SQL after its tables.
std::string kinds_sql(int version);
// The triggers of every kind kept in `table`, in the v7 form: v13 rebuilt
// `requests` and made them again (a later rebuild needs the head form).
std::string table_triggers_sql(std::string_view table);
// The schema v14 SQL: the table chain_head (the chain's last entry, kept by
// the triggers, moved only to the entry after it) and every kind's
// triggers made again in the head form.
const std::string& head_sql();

// The schema version from which checkpoints sign each kind's top (below).
inline constexpr int kTopsSince = 13;
// Chains the rows written before v7, kind by kind in key order (run by the
// migration after schema_sql, on a connection with register_functions).
sql::Status backfill(sql::Db& db);

// The chain's last entry.
struct Head {
  std::int64_t seq = 0;
  Hash hash{};
};
sql::Result<Head> head(sql::Db& db);

// An Ed25519 key signing checkpoints, kept outside the ledger (a file of its
// own or a systemd credential). key_id: the first 16 hex digits of the
// SHA-256 of the raw public key.
class Signer {
 public:
  // Loads a PEM private key; refuses a file open to other users.
  static sql::Result<Signer> load(const std::string& path);
  // Writes a new key to `path` (mode 0600, refusing to overwrite).
  static sql::Result<Signer> generate(const std::string& path);
  ~Signer();
  Signer(Signer&&) noexcept;
  Signer& operator=(Signer&&) noexcept;

  const std::string& key_id() const noexcept { return key_id_; }
  std::vector<std::uint8_t> sign(std::string_view message) const;
  bool verify(std::string_view message, const std::vector<std::uint8_t>& signature) const;
  std::string public_pem() const;

 private:
  Signer() = default;
  struct Key;
  std::unique_ptr<Key> key_;
  std::string key_id_;
  friend class Verifier;
};

// Checks checkpoint signatures with a public key (PEM, public or private).
class Verifier {
 public:
  static sql::Result<Verifier> load(const std::string& path);
  static Verifier of(const Signer& s);
  ~Verifier();
  Verifier(Verifier&&) noexcept;
  Verifier& operator=(Verifier&&) noexcept;
  const std::string& key_id() const noexcept { return key_id_; }
  bool verify(std::string_view message, const std::vector<std::uint8_t>& signature) const;

 private:
  Verifier() = default;
  struct Key;
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

struct Checkpoint {
  std::int64_t checkpoint_id = 0;
  std::int64_t at_ms = 0;
  std::string reason;
  std::int64_t head_seq = 0;
  Hash head_hash{};
  std::string counts;  // "kind=n,kind=n" of the entries up to head_seq, kinds sorted
  // "kind=n,..." (v13 on, else ""): for each kind whose rows are numbered in
  // the order they are written, the highest number then. A walk starting
  // here looks for unchained rows above it only.
  std::string tops;
  std::string key_id;
  std::vector<std::uint8_t> signature;
  std::string message() const;  // what is signed
};

// Signs the chain's head and records it as a checkpoint (in the caller's
// transaction). Nothing is written when the head is the last checkpoint's
// and `only_if_advanced` is set; the answer is then nullopt.
sql::Result<std::optional<Checkpoint>> write_checkpoint(sql::Db& db, const Signer& signer, std::string_view reason,
                                                        std::int64_t now_ms, bool only_if_advanced = false);

// One thing the walk found wrong: where (the chain entry's seq, or -1 for a
// row found without one), what kind of break, and a line for people.
struct Problem {
  std::int64_t seq = -1;
  std::string kind;
  std::string ref;
  std::string what;  // link, gap, genesis, edited, deleted, inserted, checkpoint, signature
  std::string message;
};

struct VerifyReport {
  std::int64_t entries = 0;          // entries walked
  std::int64_t from_seq = 0;         // the first entry walked (0: the whole chain)
  std::int64_t head_seq = -1;
  Hash head_hash{};
  std::int64_t checkpoints = 0;
  std::int64_t checkpoints_signed = 0;  // signatures checked and good
  std::optional<Checkpoint> last_checkpoint;
  std::map<std::string, std::int64_t> counts;  // entries by kind
  std::vector<Problem> problems;               // in chain order; the first is the first break
  bool key_checked = false;
  bool ok() const noexcept { return problems.empty(); }
};

struct VerifyOptions {
  const Verifier* key = nullptr;                       // none: signatures are not checked
  std::size_t max_problems = 20;                       // the walk goes on to count, reports this many
  // Walk only the entries after this checkpoint, starting from the head it
  // signed (its signature must be good when a key is given): the nightly
  // check of what was written since the last one. Rows chained before it,
  // and the checkpoints signed before it, are not read again; when it signed
  // its kinds' tops, rows without an entry are looked for above those only.
  // A full walk (unset) reads every row.
  std::optional<std::int64_t> from_checkpoint = {};
  std::function<void(std::int64_t done, std::int64_t total)> progress = {};  // every 100,000 entries
};

// Walks the whole chain and the checkpoints on `db` (read-only is enough):
// each entry's link to the one before, each entry's row (still there, same
// content), rows without an entry, each checkpoint's head, counts and
// signature.
sql::Result<VerifyReport> verify(sql::Db& db, const VerifyOptions& options = {});

}  // namespace settle::ledger::chain
