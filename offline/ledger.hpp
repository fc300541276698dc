// Ledger: the durable SQLite ledger file of the settlement daemon. Opening
// checks the file before anything is written to it (SQLite magic, the
// project's application_id, the schema version, PRAGMA quick_check) and
// refuses a damaged, foreign or newer file with an error naming the file,
// never recreating it. Writes go through one group-commit Writer; reads go
// through a small pool of read-only connections (WAL lets them run while the
// writer commits).
#pragma once

#include "offline/file_lock.hpp"
#include "offline/ledger_ops.hpp"
#include "offline/schema.hpp"
#include "offline/sqlite.hpp"
#include "offline/writer.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace settle::ledger {

// Why a ledger file could not be opened.
enum class OpenProblem : std::uint8_t {
  cannot_open,    // missing (and creation not allowed), not a file, no permission, no such directory
  in_use,         // another process has this ledger open
  not_sqlite,     // the file is not an SQLite database at all (or is empty)
  foreign,        // an SQLite database, but not this project's ledger
  newer_version,  // a ledger written by a newer build (schema version above this build's)
  damaged,        // the integrity check failed, or SQLite reports corruption
  storage,        // the disk failed while opening, migrating or configuring
  key,            // encrypted and no key (or another key) given, or plain and a key given
};
std::string_view name(OpenProblem p) noexcept;

struct OpenError {
  OpenProblem problem = OpenProblem::storage;
  std::string path;
  std::string message;  // names the file, what is wrong and what to do
  settle::Error to_error() const;  // STORAGE_FAILED, field = path
};

// What open() checks of an existing file's pages before it is used: quick
// (PRAGMA quick_check), full (integrity_check), or after_unclean_stop: the
// quick check only when the last run of settled did not end with a clean stop
// (no "stopped" event after its "started"); after a clean stop the file is
// used at once and the caller runs check_deferred() off the start's critical
// path (docs/ledger.md, "Start-up").
enum class IntegrityCheck : std::uint8_t { quick, full, after_unclean_stop };

struct LedgerOptions {
  bool create_if_missing = true;
  IntegrityCheck check = IntegrityCheck::quick;
  WriterOptions writer{};
  std::size_t max_idle_readers = 4;  // read-only connections kept open between reads
  int busy_timeout_ms = 5000;
  // The schema's migrations; empty means the built-in ones (schema.hpp).
  // Only tests of the migration machinery give their own.
  std::span<const Migration> migrations{};
  // Encryption at rest (docs/encryption.md): every connection of the ledger
  // (writer, readers, the copy before a migration) opens with this key.
  sql::Key key{};
};

// A connection to a ledger file with the ledger's SQL functions (the hash
// chain's digest): every connection that writes the ledger needs them, and
// tools reading a ledger beside a running daemon open it this way.
// `key`: the storage key of an encrypted ledger (docs/encryption.md).
sql::Result<sql::Db> open_connection(const std::string& path, sql::OpenMode mode, int busy_timeout_ms = 5000,
                                     const sql::Key& key = {});
// The same with every option of the open (the VFS among them).
sql::Result<sql::Db> open_connection(const std::string& path, const sql::OpenOptions& opt);
// The writer connection's settings: WAL, synchronous FULL, foreign keys,
// the WAL's size limit once started over. The ledger's writer opens with
// them; so does anything that writes a ledger file as the writer would.
sql::Status configure_writer(sql::Db& db);

class Ledger {
 public:
  // Opens (or creates) the ledger at `path`. A sidecar `<path>.lock` keeps a
  // second process out. An existing file that is refused is left untouched.
  static sql::Result<std::unique_ptr<Ledger>, OpenError> open(const std::string& path,
                                                              const LedgerOptions& options = {});
  ~Ledger();  // finishes queued writes, then closes
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  const std::string& path() const noexcept { return path_; }
  int schema_version() const noexcept { return schema_version_; }
  // True when the ledger is encrypted at rest (opened with a key).
  bool encrypted() const noexcept { return options_.key != nullptr; }

  // Queues `fn(db)` (returning sql::Result<T> or sql::Status) as one job of
  // the group commit; `done(result)` runs on the writer thread once the job
  // is durable, or with its error. Capture by value: fn runs later.
  // `touches`: Writer::Touches::untracked for a job that changes nothing the
  // writer's after_commit reads (Writer::submit).
  template <class F, class D>
  void write(F fn, D done, Writer::Touches touches = Writer::Touches::tracked);
  // The same, waiting for the outcome (never call from a job or callback).
  template <class F>
  std::invoke_result_t<F&, sql::Db&> write_wait(F fn);
  // Runs `fn(db)` on a read-only connection and returns its result.
  template <class F>
  std::invoke_result_t<F&, sql::Db&> read(F fn);

  WriterStats writer_stats() const { return writer_->stats(); }

  // Whether open() left the pages' check to check_deferred()
  // (IntegrityCheck::after_unclean_stop after a clean stop).
  bool integrity_check_deferred() const noexcept { return integrity_deferred_; }
  // The page check, on a read-only connection of its own (the pool's are
  // left to the windows), in two passes: "" when sound, else what SQLite
  // found. `stop`, when set, interrupts it (settled's stop).
  //  - tables: PRAGMA quick_check(T) of each table with its indexes, each in
  //    a read snapshot of its own. `progress`, when given, keeps the tables
  //    found sound, so a pass that gave up goes on where it stopped.
  //  - file: PRAGMA quick_check of the whole file in one snapshot; it adds
  //    what only a walk of every b-tree at once sees (each page used once,
  //    the free list).
  //
  // A check reads one snapshot for as long as it runs (minutes for the
  // whole file of a ledger of years), and no checkpoint can copy the WAL past
  // a snapshot still read: every commit meanwhile makes the WAL longer, and
  // the commit that finally checkpoints copies all of it while its windows
  // wait. Once the WAL has grown by `max_wal_growth` bytes during one
  // snapshot, the check gives up: Errc::busy, "postponed: ...". The bound is
  // asked between SQLite's steps, and SQLite 3.40 walks the b-trees it checks
  // in one step, which it cannot end: the tables pass holds the WAL for one
  // table's walk, the file pass for the whole file's (docs/ledger.md,
  // "Start-up").
  enum class CheckPass : std::uint8_t { tables, file };
  struct CheckProgress {
    std::size_t tables_done = 0;
    double checks_s = 0;  // time the tables found sound took: about what the file pass's walk takes
    double last_s = 0;    // time the last table's check took, sound or not
  };
  static constexpr std::int64_t kCheckWalGrowth = std::int64_t{64} << 20;
  sql::Result<std::string> check_integrity(CheckPass pass, const std::atomic<bool>* stop = nullptr,
                                           std::int64_t max_wal_growth = kCheckWalGrowth,
                                           CheckProgress* progress = nullptr);

  // The checks a start after a clean stop left (integrity_check_deferred()),
  // run beside the windows until done or `stop`: the tables pass, then the
  // file pass. A walk SQLite cannot end begins only when, at the windows'
  // pace (the WAL pages the writer wrote in the last `pace_window`, or in a
  // span as long as the walk if that is shorter), it would grow the WAL by at
  // most half the bound: the file pass's walk takes about as long as the
  // tables pass did, and a table whose check gave up is tried again with the
  // time that attempt took.
  struct DeferredCheck {
    std::chrono::milliseconds pace_window{std::chrono::seconds(60)};
    std::int64_t max_wal_growth = kCheckWalGrowth;
    std::function<void(const std::string&)> log;  // what it waits for, and why
  };
  sql::Result<std::string> check_deferred(const std::atomic<bool>& stop, const DeferredCheck& how);

 private:
  Ledger(std::string path, sql::FileLock lock, int schema_version, std::unique_ptr<Writer> writer,
         const LedgerOptions& options);
  sql::Result<std::unique_ptr<sql::Db>> borrow_reader();
  void return_reader(std::unique_ptr<sql::Db> db);

  std::string path_;
  sql::FileLock lock_;  // released last, after the connections below close
  int schema_version_ = 0;
  bool integrity_deferred_ = false;
  LedgerOptions options_;
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<sql::Db>> idle_readers_;
  std::unique_ptr<Writer> writer_;  // destroyed first: drains before readers close
};

// ---- templates ----------------------------------------------------------------

template <class F, class D>
void Ledger::write(F fn, D done, Writer::Touches touches) {
  using R = std::invoke_result_t<F&, sql::Db&>;
  auto out = std::make_shared<std::optional<R>>();
  writer_->submit(
      [fn = std::move(fn), out](sql::Db& db) mutable -> sql::Status {
        out->emplace(fn(db));
        if (!(**out).ok()) return (**out).error();
        return settle::Ok{};
      },
      [out, done = std::move(done)](const sql::Status& s) mutable {
        // The first line deals with the error: a failed job or a failed COMMIT.
        if (!s) return done(R(s.error()));
        done(std::move(**out));
      },
      touches);
}

template <class F>
std::invoke_result_t<F&, sql::Db&> Ledger::write_wait(F fn) {
  using R = std::invoke_result_t<F&, sql::Db&>;
  std::promise<R> promise;
  auto future = promise.get_future();
  write(std::move(fn), [&promise](R r) { promise.set_value(std::move(r)); });
  return future.get();
}

template <class F>
std::invoke_result_t<F&, sql::Db&> Ledger::read(F fn) {
  using R = std::invoke_result_t<F&, sql::Db&>;
  auto db = borrow_reader();
  if (!db) return R(db.error());
  R r = fn(**db);
  return_reader(std::move(*db));
  return r;
}

}  // namespace settle::ledger
