// A small RAII wrapper over SQLite: Db (one connection), Statement (one
// prepared statement with typed bind/column), Transaction and Savepoint guards.
// The only SQLite API the rest of the project sees: sqlite3.h is included in
// offline/*.cpp alone, and every SQLITE_* code is translated once, in
// sqlite.cpp, into sql::Errc.
#pragma once

#include "engine/result.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace settle::sql {

// What went wrong, in this module's words. Callers branch on these, never on
// SQLite's numbers.
enum class Errc : std::uint8_t {
  busy = 1,           // another connection holds a lock past the busy timeout
  locked,             // a lock conflict inside this connection (shared cache)
  unique,             // a UNIQUE or PRIMARY KEY constraint failed
  constraint,         // another constraint failed (CHECK, NOT NULL, FOREIGN KEY)
  trigger,            // a trigger said RAISE(ABORT/FAIL/ROLLBACK, ...)
  corrupt,            // the database file is damaged
  not_a_database,     // the file is not an SQLite database (or is encrypted)
  read_only,          // a write on a read-only connection or file
  io,                 // the operating system reported an I/O error
  disk_full,          // the disk (or the database size limit) is full
  cannot_open,        // the file could not be opened (missing, permissions)
  no_memory,          // an allocation failed
  interrupted,        // sqlite3_interrupt or a rollback cut the operation short
  range,              // a bind index out of range
  type_mismatch,      // a value of the wrong type (e.g. non-integer rowid)
  too_big,            // a string or blob over SQLite's limit
  misuse,             // the API was used wrongly (a bug here)
  schema,             // the schema changed under a prepared statement
  key,                // encrypted with another key, encrypted without a key given, or plain with one
  other,              // anything else (message says what)
  // Not from SQLite: outcomes of this module's own operations.
  not_found,          // the row an operation names does not exist
  invalid_state,      // the row's state does not allow the operation
  stopped,            // the writer is stopped; the job never ran
};

// The stable lower-case name of an Errc ("unique", "corrupt").
std::string_view errc_name(Errc c) noexcept;

struct DbError {
  Errc code = Errc::other;
  int sqlite_code = 0;  // SQLite's extended result code, for logs only
  std::string message;  // SQLite's message with what was being done

  // As an engine error, for answers that leave the ledger: NOT_FOUND,
  // INVALID_STATE, else STORAGE_FAILED.
  settle::Error to_error() const;
};

// A value or an error (the shape of settle::Result, with this module's error).
template <class T, class E = DbError>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(E e) : v_(std::in_place_index<1>, std::move(e)) {}          // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { SETTLE_ASSERT(ok()); return std::get<0>(v_); }
  const T& value() const& { SETTLE_ASSERT(ok()); return std::get<0>(v_); }
  T&& value() && { SETTLE_ASSERT(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const E& error() const { SETTLE_ASSERT(!ok()); return std::get<1>(v_); }
  // True when this is an error with code c.
  template <class C>
  bool is(C c) const noexcept { return !ok() && std::get<1>(v_).code == c; }

 private:
  std::variant<T, E> v_;
};

using Status = Result<settle::Ok>;

// Evaluates a Result/Status expression; on error returns the error.
#define SETTLE_SQL_TRY(expr)                          \
  do {                                                \
    auto settle_sql_try_r_ = (expr);                  \
    if (!settle_sql_try_r_) return settle_sql_try_r_.error(); \
  } while (0)

// Blob payloads are bytes.
using Bytes = std::vector<std::byte>;
using BytesView = std::span<const std::byte>;

// SQLite's column storage classes.
enum class ColumnType : std::uint8_t { integer, real, text, blob, null };

class Db;
class StorageKey;  // offline/storage_key.hpp
// A storage key shared by every connection opened with it.
using Key = std::shared_ptr<const StorageKey>;

// One prepared statement. Indexes for bind are 1-based (as in SQL `?1`),
// for column 0-based (as SQLite). Move-only; finalized by the destructor.
class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)) {}
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool valid() const noexcept { return stmt_ != nullptr; }

  // Binding. Text is copied by SQLite (SQLITE_TRANSIENT), so the view may die.
  Status bind(int index, std::int64_t v);
  Status bind(int index, int v) { return bind(index, static_cast<std::int64_t>(v)); }
  Status bind(int index, std::string_view text);
  Status bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Status bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  Status bind(int index, BytesView blob);
  Status bind(int index, std::nullptr_t) { return bind_null(index); }
  Status bind_null(int index);
  template <class T>
  Status bind(int index, const std::optional<T>& v) {
    if (!v) return bind_null(index);
    return bind(index, *v);
  }
  // Binds every argument in order from ?1.
  template <class... Args>
  Status bind_all(const Args&... args) {
    int i = 0;
    Status s = settle::Ok{};
    ((s = s ? bind(++i, args) : s), ...);
    return s;
  }
  // Index of a named parameter (":name", "@name", "$name"), 0 if unknown.
  int parameter_index(const char* name) const noexcept;

  // One step: true when a row is ready, false when the statement is done.
  Result<bool> step();
  // Steps to completion, expecting no rows (INSERT/UPDATE/DELETE/DDL).
  Status run();
  // Ready to run again with the same bindings; clear_bindings drops them.
  void reset() noexcept;
  void clear_bindings() noexcept;

  // Columns of the current row.
  int column_count() const noexcept;
  std::string_view column_name(int col) const noexcept;
  ColumnType column_type(int col) const noexcept;
  bool is_null(int col) const noexcept { return column_type(col) == ColumnType::null; }
  std::int64_t column_int64(int col) const noexcept;
  std::string column_text(int col) const;        // "" for NULL
  std::string_view column_text_view(int col) const noexcept;  // valid until next step/reset
  Bytes column_blob(int col) const;
  std::optional<std::int64_t> column_opt_int64(int col) const noexcept;
  std::optional<std::string> column_opt_text(int col) const;

  // The SQL text as prepared (for messages).
  std::string_view sql() const noexcept;

 private:
  friend class Db;
  Statement(sqlite3* db, sqlite3_stmt* s) : db_(db), stmt_(s) {}
  DbError error(int rc, std::string_view what) const;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

enum class OpenMode : std::uint8_t {
  read_only,         // SQLITE_OPEN_READONLY: fails if the file is missing
  read_write,        // SQLITE_OPEN_READWRITE: fails if the file is missing
  read_write_create, // ... | SQLITE_OPEN_CREATE
};

struct OpenOptions {
  OpenMode mode = OpenMode::read_write_create;
  // Milliseconds a statement waits for another connection's lock before
  // failing with Errc::busy (0 = fail at once).
  int busy_timeout_ms = 5000;
  bool uri = false;  // path is a "file:" URI
  // The connection may be used from one thread at a time (SQLITE_OPEN_NOMUTEX);
  // that is this wrapper's contract, so the default is true.
  bool no_mutex = true;
  // Encryption at rest: with a key the file (and its WAL, journal and temp
  // files) is read and written through the "settle-xts" VFS; an existing file
  // must be encrypted with this key, and without a key it must be plain
  // (Errc::key, the message says which). See docs/encryption.md.
  Key key{};
  // The SQLite VFS by its registered name, over the key's: empty for the
  // key's, or without a key "settle-gather", which writes a transaction's
  // WAL frames in one call (offline/wal_gather.hpp). "unix" is SQLite's own.
  std::string vfs{};
};

// SQLite's process-wide settings, made once before its first use (Db::open
// and the encrypting VFS call it; later calls do nothing). A savepoint's
// journal of the pages it changed stays in memory up to kSubJournalInMemory
// bytes: past SQLite's default of 64 KiB a settlement's job (up to 46 pages of
// the ledger's 2 KiB) spilled it to a temporary file, and every later job of
// the same group commit wrote its pages there too (docs/ledger.md, "Group
// commit"). Below glibc's 128 KiB mmap threshold, so the buffer is heap memory.
// And no memory statistics: with them every allocation and free of SQLite's
// takes a process-wide mutex to count bytes nobody reads (the system's SQLite
// is built without lookaside, so a settlement's writes make hundreds of
// allocations). It also registers the VFS that gathers a transaction's WAL
// frames into one write (offline/wal_gather.hpp).
inline constexpr int kSubJournalInMemory = 120 * 1024;
void configure_library() noexcept;

// One connection. Move-only; closed by the destructor (outstanding
// statements must be destroyed first, which owners order by member order).
class Db {
 public:
  static Result<Db> open(const std::string& path, const OpenOptions& opt = {});

  Db() = default;
  ~Db();
  Db(Db&& o) noexcept;
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  bool valid() const noexcept { return db_ != nullptr; }
  const std::string& path() const noexcept { return path_; }
  // The SQLite handle, for what this wrapper does not cover (application
  // functions); offline/ sources only.
  sqlite3* handle() const noexcept { return db_; }
  const Key& key() const noexcept { return key_; }

  // Runs one or more statements with no results (DDL, PRAGMA setters).
  Status exec(std::string_view sql);
  // Compiles one statement.
  Result<Statement> prepare(std::string_view sql);
  // A statement compiled once per connection and kept: reset, bindings
  // cleared, ready to bind. The reference lives as long as the Db.
  Result<Statement*> cached(std::string_view sql);

  // First column of the first row, or nullopt when there is no row / NULL.
  Result<std::optional<std::int64_t>> query_int64(std::string_view sql);
  Result<std::optional<std::string>> query_text(std::string_view sql);
  // Runs a page check ("PRAGMA quick_check(N)", "PRAGMA integrity_check(N)")
  // and answers its findings joined by "; ", "" when the file is sound.
  // `stop`, when given and set, interrupts it (Errc::interrupted or the like).
  Result<std::string> check_pages(std::string_view pragma, const std::atomic<bool>* stop = nullptr);
  // The same, ended (Errc::interrupted) as soon as `stop()` answers true;
  // it is asked every 10,000 steps of SQLite's virtual machine.
  Result<std::string> check_pages(std::string_view pragma, const std::function<bool()>& stop);
  // Bytes of pages this connection wrote (in WAL mode: WAL frames, without
  // their headers) since the last call; the count starts again at each call.
  std::int64_t take_bytes_written() noexcept;
  // Calls `seen(sql)` with the text of every statement this connection runs
  // from now on (not the triggers' own programs); an empty function stops it.
  // For tests that look at what a path asks of SQLite (its query plans).
  void trace_statements(std::function<void(std::string_view)> seen);
  // The statements cached() keeps, each with how often it ran and how often
  // SQLite compiled it again (a schema change, or a plan that depends on a
  // bound value: a partial index matched against `?`). For tests that hold
  // the busy paths to compiling each statement once.
  struct CachedStats {
    std::string sql;
    int runs = 0;
    int recompiles = 0;
  };
  std::vector<CachedStats> cached_stats() const;

  std::int64_t last_insert_rowid() const noexcept;
  std::int64_t changes() const noexcept;  // rows changed by the last statement
  bool in_transaction() const noexcept;   // false in autocommit mode
  bool read_only() const noexcept;
  // Resets every statement of this connection that is part-way through its
  // rows, so none keeps an old read snapshot (or a write) open.
  void reset_active_statements() noexcept;

  // The error SQLite last reported on this connection, translated.
  DbError last_error(std::string_view what) const;

 private:
  friend Status backup(Db& from, Db& to);
  void close() noexcept;
  sqlite3* db_ = nullptr;
  std::int64_t page_size_ = 0;  // the file's, once it has pages (take_bytes_written)
  std::string path_;
  Key key_;  // keeps the key's VFS registered while the connection lives
  std::unique_ptr<std::function<void(std::string_view)>> trace_;  // trace_statements(); stays put for SQLite
  // unique_ptr so Statement* handed out by cached() stay put on rehash.
  // Looked up by string_view without building a std::string (transparent hash).
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view v) const noexcept { return std::hash<std::string_view>{}(v); }
  };
  std::unordered_map<std::string, std::unique_ptr<Statement>, TextHash, std::equal_to<>> cache_;
};

// Copies every page of `from` into `to` (SQLite's backup API, in one step),
// whatever either's key: the way a file is encrypted, decrypted or rekeyed.
Status backup(Db& from, Db& to);

enum class TxKind : std::uint8_t { deferred, immediate, exclusive };

// BEGIN ... COMMIT, rolled back by the destructor unless committed.
class Transaction {
 public:
  static Result<Transaction> begin(Db& db, TxKind kind = TxKind::immediate);
  Transaction(Transaction&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();
  Status commit();
  Status rollback();

 private:
  explicit Transaction(Db& db) : db_(&db) {}
  Db* db_ = nullptr;
};

// SAVEPOINT name ... RELEASE, rolled back to (and released) by the
// destructor unless released. Nests inside a Transaction or another Savepoint.
class Savepoint {
 public:
  static Result<Savepoint> begin(Db& db, std::string name = "sp");
  Savepoint(Savepoint&& o) noexcept : db_(std::exchange(o.db_, nullptr)), name_(std::move(o.name_)) {}
  Savepoint& operator=(Savepoint&&) = delete;
  Savepoint(const Savepoint&) = delete;
  ~Savepoint();
  Status release();
  Status rollback();  // ROLLBACK TO + RELEASE: the work since begin is gone

 private:
  Savepoint(Db& db, std::string name) : db_(&db), name_(std::move(name)) {}
  Db* db_ = nullptr;
  std::string name_;
};

// The linked SQLite library's version ("3.40.1").
std::string_view library_version() noexcept;

}  // namespace settle::sql
