// The red list (红名单) store: the insurer's list of persons allowed to settle
// offline, kept in its own SQLite file (never the ledger), looked up by card
// number from any thread, and replaced version by version by 9303 syncs.
// A full snapshot is loaded into a fresh file beside the live one and swapped
// in by rename; a delta is one transaction on the live file (WAL). Either way
// a reader sees the old version or the new one, never a mix.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"
#include "engine/split.hpp"
#include "offline/file_lock.hpp"
#include "offline/sqlite.hpp"
#include "protocol/insurer/codecs.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace settle::redlist {

// PRAGMA application_id of a red-list file: "SRLS" in ASCII.
inline constexpr std::int32_t kApplicationId = 0x53524C53;
inline constexpr int kSchemaVersion = 1;

struct Entry {
  std::string card_no, psn_no, insutype;
  PersonFlags flags;
  Amount deductible_used, fund_paid_ytd;
  friend bool operator==(const Entry&, const Entry&) = default;
};

struct Info {
  std::int64_t version = 0;       // the insurer's list version held (0 = never synced)
  std::int64_t entries = 0;       // persons on the list
  std::int64_t synced_at_ms = 0;  // Unix ms of the last successful sync (0 = never)
};

class Store;

// One sync in progress: pages are added in order; commit() makes the new
// version visible at once. Destroying it uncommitted discards everything it
// added (the store keeps its previous version whole). One at a time per store.
// Not thread-safe itself; add() and commit() block on disk I/O.
class Sync {
 public:
  ~Sync();
  Sync(const Sync&) = delete;
  Sync& operator=(const Sync&) = delete;

  bool full() const noexcept { return full_; }
  std::int64_t since_version() const noexcept { return since_; }
  // 0 until page 1 was added; then the version every later page must carry.
  std::int64_t to_version() const noexcept { return to_; }
  std::int64_t next_page() const noexcept { return next_page_; }
  std::int64_t applied() const noexcept { return applied_; }
  std::optional<std::int64_t> total() const noexcept { return total_; }
  // True once the last page (more == false) was added.
  bool complete() const noexcept { return complete_; }

  // Checks one decoded 9303 page against the pages before it (since_version,
  // version, page_num, total, more, entry count) and applies its entries.
  // An error (INVALID_REQUEST naming the field, or STORAGE_FAILED) poisons the
  // sync: nothing of it will be committed.
  Status add(const insurer::RedList::Output& page);
  // Publishes the new version (after the last page). `now_ms` is recorded as
  // synced_at. Returns the store's new info.
  Result<Info> commit(std::int64_t now_ms);

 private:
  friend class Store;
  Sync(Store& store, bool full, std::int64_t since, std::int64_t entries);
  Status apply(const insurer::RedList::Output& page);

  Store& store_;
  bool full_;
  std::int64_t since_;
  std::int64_t to_ = 0;
  std::int64_t next_page_ = 1;
  std::int64_t applied_ = 0;
  std::optional<std::int64_t> total_;
  bool complete_ = false;
  bool failed_ = false;
  bool committed_ = false;
  std::int64_t entries_;               // the list's size as it will be after commit
  std::unique_ptr<sql::Db> fresh_;     // full: the fresh file being built
  sql::Db* db_ = nullptr;              // fresh_ (full) or the store's writer (delta)
  std::optional<sql::Transaction> tx_;  // open from begin to commit
};

class Store {  // lookups are thread-safe (any thread, concurrently)
 public:
  // Opens the list at `path`; creates an empty list (version 0) if missing.
  // Refuses a damaged or foreign file (STORAGE_FAILED, field = path, the
  // message says what is wrong) and leaves it untouched. A sidecar
  // `<path>.lock` keeps a second process out; a leftover `<path>.new` of an
  // interrupted full sync is removed.
  // With a key the list is encrypted at rest (docs/encryption.md): every
  // connection, and the fresh file of a full sync, opens with it.
  // `check_pages` false leaves the file's page check (PRAGMA quick_check,
  // seconds for tens of millions of entries) to check_integrity(), for a
  // start after a clean stop (docs/redlist.md).
  static Result<std::unique_ptr<Store>> open(const std::string& path, sql::Key key = {}, bool check_pages = true);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<std::optional<Entry>> lookup(std::string_view card_no) const;
  // PRAGMA quick_check on a read-only connection of its own (lookups and
  // syncs go on meanwhile): "" when sound, else what SQLite found.
  // `stop`, when set, interrupts it.
  Result<std::string> check_integrity(const std::atomic<bool>* stop = nullptr) const;
  Info info() const;
  const std::string& path() const noexcept { return path_; }

  // Starts a sync: full (since_version 0, loaded into a fresh file and
  // swapped in) or a delta from the current version. INVALID_STATE while
  // another sync of this store is open.
  Result<std::unique_ptr<Sync>> begin_sync(bool full);

 private:
  friend class Sync;
  Store(std::string path, sql::FileLock lock, sql::Key key);
  Status open_writer();
  Status swap_in(const std::string& fresh, const Info& info);
  void set_info(const Info& info);

  std::string path_;
  sql::FileLock lock_;  // released last, after the connections below close
  sql::Key key_;
  std::unique_ptr<sql::Db> writer_;  // the live file, read-write (deltas)
  std::atomic<bool> syncing_{false};

  mutable std::mutex info_mu_;
  Info info_;

  // Readers hold swap_mu_ shared while they use a connection; a swap takes it
  // exclusively, drops every pooled connection and renames the fresh file in.
  // Readers pass through gate_ before taking swap_mu_ shared; a swap holds
  // gate_ while it waits for swap_mu_, so a stream of lookups cannot starve it.
  mutable std::mutex gate_;
  mutable std::shared_mutex swap_mu_;
  mutable std::mutex pool_mu_;
  mutable std::vector<std::unique_ptr<sql::Db>> pool_;
};

// The fresh file a full sync builds beside `path`.
std::string fresh_path(const std::string& path);

}  // namespace settle::redlist
