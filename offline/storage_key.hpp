// The storage key of encryption at rest: a secret of 32 bytes or more (a key
// file or a systemd credential) expanded with HKDF-SHA256 into the AES-256-XTS
// keys of the "settle-xts" SQLite VFS (offline/crypt_vfs.cpp), and the checks
// that tell a plain file from an encrypted one before SQLite opens it.
#pragma once

#include "offline/sqlite.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace settle::sql {

class StorageKey {
 public:
  // The secret's bytes (at least kMinSecret) expanded into the file keys;
  // `source` names where it came from (for messages only).
  static Result<Key> from_secret(BytesView secret, std::string source);
  // Reads a key file: a regular file, closed to other users (mode 600, or 640
  // for the service's group), holding at least 32 bytes (raw, or text such as
  // `openssl rand -hex 32` whose trailing newline is ignored).
  static Result<Key> load(const std::string& path);
  ~StorageKey();
  StorageKey(const StorageKey&) = delete;
  StorageKey& operator=(const StorageKey&) = delete;

  static constexpr std::size_t kMinSecret = 32;
  using XtsKey = std::array<unsigned char, 64>;
  const XtsKey& db_key() const noexcept { return db_; }
  const XtsKey& wal_key() const noexcept { return wal_; }
  const XtsKey& journal_key() const noexcept { return journal_; }
  const std::string& source() const noexcept { return source_; }
  // The name of the SQLite VFS registered for this key ("settle-xts#3"):
  // registered while the key lives.
  const std::string& vfs_name() const noexcept { return vfs_name_; }

 private:
  StorageKey() = default;
  XtsKey db_{}, wal_{}, journal_{};
  std::string source_;
  std::string vfs_name_;
  void* vfs_ = nullptr;  // the sqlite3_vfs registered under vfs_name_
};

// What a database file is, seen from its first bytes.
enum class FileLook : std::uint8_t {
  missing,    // no file, or an empty one
  plain,      // starts with "SQLite format 3\0"
  encrypted,  // does not; with a key: page 1 decrypts to the SQLite magic
  wrong_key,  // with a key: page 1 does not decrypt to the SQLite magic
  other,      // without a key: neither the magic nor an encrypted file's shape
};
FileLook look_at(const std::string& path, const StorageKey* key);

// The message when a file cannot be opened with this key, or without one;
// nullopt when it can (missing, plain without a key, encrypted with its key).
// Messages name the file: "ledger.db cannot be decrypted with this key".
std::optional<std::string> key_problem(const std::string& path, const StorageKey* key);

// The first 100 bytes of a database file (SQLite's header), decrypted with
// `key` when one is given; fewer when the file is shorter.
std::string file_head(const std::string& path, const StorageKey* key);

// Where the storage key comes from: the configured key file, else
// $CREDENTIALS_DIRECTORY/ledger-key when it exists, else nothing.
std::optional<std::string> key_source(const std::string& configured_key_file);

}  // namespace settle::sql

namespace settle::sql {

// Rewrites the SQLite file at `path` from key `from` to key `to` (either may
// be null: a plain file): under its `<path>.lock` (refused while another
// process, the daemon, holds it), the WAL checkpointed, every page copied by
// the backup API into `<path>.rekey`, the copy's integrity checked and made
// durable with the original's owner and mode, then renamed over the original
// (its -wal and -shm gone with the old file). A failure leaves the original
// as it was. Returns the number of pages copied.
Result<std::int64_t> rewrite_file(const std::string& path, const Key& from, const Key& to);

}  // namespace settle::sql
