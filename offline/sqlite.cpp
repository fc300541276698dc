// The SQLite wrapper's implementation: the one place SQLITE_* result codes
// become sql::Errc (translate), and the RAII plumbing of connections,
// statements, transactions and savepoints.
#include "offline/sqlite.hpp"

#include "offline/storage_key.hpp"
#include "offline/wal_gather.hpp"

#include <sqlite3.h>

#include <fmt/format.h>

#include <cstring>

namespace settle::sql {
namespace {

// The one translation of SQLite's (extended) result codes.
Errc translate(int rc) noexcept {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID: return Errc::unique;
    case SQLITE_CONSTRAINT_TRIGGER: return Errc::trigger;
    default: break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY: return Errc::busy;
    case SQLITE_LOCKED: return Errc::locked;
    case SQLITE_CONSTRAINT: return Errc::constraint;
    case SQLITE_CORRUPT: return Errc::corrupt;
    case SQLITE_NOTADB: return Errc::not_a_database;
    case SQLITE_READONLY: return Errc::read_only;
    case SQLITE_IOERR: return Errc::io;
    case SQLITE_FULL: return Errc::disk_full;
    case SQLITE_CANTOPEN: return Errc::cannot_open;
    case SQLITE_NOMEM: return Errc::no_memory;
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT: return Errc::interrupted;
    case SQLITE_RANGE: return Errc::range;
    case SQLITE_MISMATCH: return Errc::type_mismatch;
    case SQLITE_TOOBIG: return Errc::too_big;
    case SQLITE_MISUSE: return Errc::misuse;
    case SQLITE_SCHEMA: return Errc::schema;
    default: return Errc::other;
  }
}

DbError make_db_error(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  // sqlite3_errmsg reflects the most recent call, which may not be rc's.
  if (db != nullptr && (sqlite3_extended_errcode(db) & 0xff) != (rc & 0xff)) msg = sqlite3_errstr(rc);
  return DbError{translate(rc), rc, fmt::format("{}: {}", what, msg != nullptr ? msg : "unknown error")};
}

}  // namespace

std::string_view errc_name(Errc c) noexcept {
  switch (c) {
    case Errc::busy: return "busy";
    case Errc::locked: return "locked";
    case Errc::unique: return "unique";
    case Errc::constraint: return "constraint";
    case Errc::trigger: return "trigger";
    case Errc::corrupt: return "corrupt";
    case Errc::not_a_database: return "not_a_database";
    case Errc::read_only: return "read_only";
    case Errc::io: return "io";
    case Errc::disk_full: return "disk_full";
    case Errc::cannot_open: return "cannot_open";
    case Errc::no_memory: return "no_memory";
    case Errc::interrupted: return "interrupted";
    case Errc::range: return "range";
    case Errc::type_mismatch: return "type_mismatch";
    case Errc::too_big: return "too_big";
    case Errc::misuse: return "misuse";
    case Errc::schema: return "schema";
    case Errc::key: return "key";
    case Errc::other: return "other";
    case Errc::not_found: return "not_found";
    case Errc::invalid_state: return "invalid_state";
    case Errc::stopped: return "stopped";
  }
  return "other";
}

settle::Error DbError::to_error() const {
  switch (code) {
    case Errc::not_found: return settle::make_error(settle::Reason::not_found, "", message);
    case Errc::invalid_state: return settle::make_error(settle::Reason::invalid_state, "", message);
    default: return settle::make_error(settle::Reason::storage_failed, "", message);
  }
}

std::string_view library_version() noexcept { return sqlite3_libversion(); }

// ---- Statement ---------------------------------------------------------------

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

DbError Statement::error(int rc, std::string_view what) const {
  return make_db_error(db_, rc, fmt::format("{} [{}]", what, sql().substr(0, 120)));
}

Status Statement::bind(int index, std::int64_t v) {
  const int rc = sqlite3_bind_int64(stmt_, index, v);
  if (rc != SQLITE_OK) return error(rc, fmt::format("bind ?{}", index));
  return settle::Ok{};
}

Status Statement::bind(int index, std::string_view text) {
  // SQLite takes a non-null pointer for an empty string to mean '' (not NULL).
  const char* p = text.data() != nullptr ? text.data() : "";
  const int rc = sqlite3_bind_text64(stmt_, index, p, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) return error(rc, fmt::format("bind ?{}", index));
  return settle::Ok{};
}

Status Statement::bind(int index, BytesView blob) {
  static const std::byte empty{};
  const void* p = blob.data() != nullptr ? static_cast<const void*>(blob.data()) : &empty;
  const int rc = sqlite3_bind_blob64(stmt_, index, p, blob.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) return error(rc, fmt::format("bind ?{}", index));
  return settle::Ok{};
}

Status Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) return error(rc, fmt::format("bind ?{}", index));
  return settle::Ok{};
}

int Statement::parameter_index(const char* name) const noexcept {
  return sqlite3_bind_parameter_index(stmt_, name);
}

Result<bool> Statement::step() {
  SETTLE_ASSERT(stmt_ != nullptr);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  DbError e = error(rc, "step");
  sqlite3_reset(stmt_);  // leave the statement reusable
  return e;
}

Status Statement::run() {
  for (;;) {
    auto r = step();
    if (!r) return r.error();
    if (!*r) return settle::Ok{};
  }
}

void Statement::reset() noexcept {
  if (stmt_ != nullptr) sqlite3_reset(stmt_);
}

void Statement::clear_bindings() noexcept {
  if (stmt_ != nullptr) sqlite3_clear_bindings(stmt_);
}

int Statement::column_count() const noexcept { return sqlite3_column_count(stmt_); }

std::string_view Statement::column_name(int col) const noexcept {
  const char* n = sqlite3_column_name(stmt_, col);
  return n != nullptr ? n : "";
}

ColumnType Statement::column_type(int col) const noexcept {
  switch (sqlite3_column_type(stmt_, col)) {
    case SQLITE_INTEGER: return ColumnType::integer;
    case SQLITE_FLOAT: return ColumnType::real;
    case SQLITE_TEXT: return ColumnType::text;
    case SQLITE_BLOB: return ColumnType::blob;
    default: return ColumnType::null;
  }
}

std::int64_t Statement::column_int64(int col) const noexcept { return sqlite3_column_int64(stmt_, col); }

std::string_view Statement::column_text_view(int col) const noexcept {
  const auto* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  const int n = sqlite3_column_bytes(stmt_, col);
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)};
}

std::string Statement::column_text(int col) const { return std::string(column_text_view(col)); }

Bytes Statement::column_blob(int col) const {
  const auto* p = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return {};
  return Bytes(p, p + n);
}

std::optional<std::int64_t> Statement::column_opt_int64(int col) const noexcept {
  if (is_null(col)) return std::nullopt;
  return column_int64(col);
}

std::optional<std::string> Statement::column_opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return column_text(col);
}

std::string_view Statement::sql() const noexcept {
  const char* s = stmt_ != nullptr ? sqlite3_sql(stmt_) : nullptr;
  return s != nullptr ? s : "";
}

// ---- Db ----------------------------------------------------------------------

void configure_library() noexcept {
  // SQLITE_MISUSE only if SQLite was already in use: its defaults then stay.
  static const bool configured = [] {
    (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kSubJournalInMemory);
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    // Initialises SQLite. Without it Db::open names a VFS that does not
    // exist, and the open fails with SQLite's message.
    (void)register_wal_gather(sqlite3_vfs_find(nullptr), kWalGatherVfs);
    return true;
  }();
  (void)configured;
}

Result<Db> Db::open(const std::string& path, const OpenOptions& opt) {
  configure_library();
  int flags = 0;
  switch (opt.mode) {
    case OpenMode::read_only: flags = SQLITE_OPEN_READONLY; break;
    case OpenMode::read_write: flags = SQLITE_OPEN_READWRITE; break;
    case OpenMode::read_write_create: flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
  }
  if (opt.uri) flags |= SQLITE_OPEN_URI;
  flags |= opt.no_mutex ? SQLITE_OPEN_NOMUTEX : SQLITE_OPEN_FULLMUTEX;
  // Before SQLite reads a byte: an encrypted file without its key (or with
  // another), or a plain file given a key, is refused with its own message.
  if (!opt.uri && !path.empty() && path != ":memory:")
    if (auto problem = key_problem(path, opt.key.get())) return DbError{Errc::key, SQLITE_NOTADB, *problem};
  sqlite3* raw = nullptr;
  const char* vfs = !opt.vfs.empty() ? opt.vfs.c_str() : opt.key ? opt.key->vfs_name().c_str() : kWalGatherVfs;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, vfs);
  if (rc != SQLITE_OK) {
    DbError e = make_db_error(raw, rc, fmt::format("open {}", path));
    sqlite3_close_v2(raw);  // a handle is returned even on failure
    return e;
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, opt.busy_timeout_ms);
  Db db;
  db.db_ = raw;
  db.path_ = path;
  db.key_ = opt.key;
  if (opt.key) {
    // Never a memory map of an encrypted file (the VFS has no xFetch either).
    if (Status s = db.exec("PRAGMA mmap_size = 0"); !s) return s.error();
  }
  return db;
}

Db::~Db() { close(); }

Db::Db(Db&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)),
      path_(std::move(o.path_)),
      key_(std::move(o.key_)),
      trace_(std::move(o.trace_)),
      cache_(std::move(o.cache_)) {}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    close();
    db_ = std::exchange(o.db_, nullptr);
    path_ = std::move(o.path_);
    key_ = std::move(o.key_);
    trace_ = std::move(o.trace_);
    cache_ = std::move(o.cache_);
  }
  return *this;
}

void Db::close() noexcept {
  cache_.clear();  // finalize the cached statements first
  if (db_ != nullptr) {
    // close_v2 defers the close until any statement still alive is finalized.
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

DbError Db::last_error(std::string_view what) const {
  return make_db_error(db_, db_ != nullptr ? sqlite3_extended_errcode(db_) : SQLITE_MISUSE, what);
}

Status Db::exec(std::string_view sql) {
  SETTLE_ASSERT(db_ != nullptr);
  const std::string text(sql);
  char* msg = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    DbError e{translate(rc), rc,
              fmt::format("exec [{}]: {}", sql.substr(0, 120), msg != nullptr ? msg : sqlite3_errstr(rc))};
    sqlite3_free(msg);
    return e;
  }
  return settle::Ok{};
}

Result<Statement> Db::prepare(std::string_view sql) {
  SETTLE_ASSERT(db_ != nullptr);
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK)
    return make_db_error(db_, rc, fmt::format("prepare [{}]", sql.substr(0, 120)));
  SETTLE_ASSERT(s != nullptr);  // empty SQL is a programmer error
  return Statement(db_, s);
}

Result<Statement*> Db::cached(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto st = prepare(sql);
    if (!st) return st.error();
    it = cache_.emplace(std::string(sql), std::make_unique<Statement>(std::move(*st))).first;
  } else {
    it->second->reset();
    it->second->clear_bindings();
  }
  return it->second.get();
}

Result<std::optional<std::int64_t>> Db::query_int64(std::string_view sql) {
  auto st = prepare(sql);
  if (!st) return st.error();
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::int64_t>{};
  return st->column_opt_int64(0);
}

Result<std::optional<std::string>> Db::query_text(std::string_view sql) {
  auto st = prepare(sql);
  if (!st) return st.error();
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>{};
  return st->column_opt_text(0);
}

Result<std::string> Db::check_pages(std::string_view pragma, const std::atomic<bool>* stop) {
  if (stop == nullptr) return check_pages(pragma, std::function<bool()>{});
  return check_pages(pragma, std::function<bool()>([stop] { return stop->load(); }));
}

Result<std::string> Db::check_pages(std::string_view pragma, const std::function<bool()>& stop) {
  auto st = prepare(pragma);
  if (!st) return st.error();
  // Asked every 10,000 virtual machine steps: true ends the check.
  struct Handler {
    sqlite3* db;
    explicit Handler(sqlite3* h, const std::function<bool()>& ask) : db(h) {
      if (ask)
        sqlite3_progress_handler(
            db, 10'000, [](void* f) { return (*static_cast<const std::function<bool()>*>(f))() ? 1 : 0; },
            const_cast<std::function<bool()>*>(&ask));
    }
    ~Handler() { sqlite3_progress_handler(db, 0, nullptr, nullptr); }
    Handler(const Handler&) = delete;
    Handler& operator=(const Handler&) = delete;
  } handler(db_, stop);
  std::string problems;
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    const std::string line = st->column_text(0);
    if (line == "ok") continue;
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  return problems;
}

std::int64_t Db::take_bytes_written() noexcept {
  int pages = 0;
  int highest = 0;
  if (sqlite3_db_status(db_, SQLITE_DBSTATUS_CACHE_WRITE, &pages, &highest, 1) != SQLITE_OK || pages == 0) return 0;
  // A file that has pages keeps its page size (only VACUUM could change it).
  if (page_size_ == 0) {
    auto size = query_int64("PRAGMA page_size");
    page_size_ = size && *size ? **size : 4096;
  }
  return pages * page_size_;
}

std::vector<Db::CachedStats> Db::cached_stats() const {
  std::vector<CachedStats> out;
  out.reserve(cache_.size());
  for (const auto& [text, st] : cache_) {
    out.push_back(CachedStats{text, sqlite3_stmt_status(st->stmt_, SQLITE_STMTSTATUS_RUN, 0),
                              sqlite3_stmt_status(st->stmt_, SQLITE_STMTSTATUS_REPREPARE, 0)});
  }
  return out;
}

void Db::trace_statements(std::function<void(std::string_view)> seen) {
  if (!seen) {
    sqlite3_trace_v2(db_, 0, nullptr, nullptr);
    trace_.reset();
    return;
  }
  trace_ = std::make_unique<std::function<void(std::string_view)>>(std::move(seen));
  sqlite3_trace_v2(
      db_, SQLITE_TRACE_STMT,
      [](unsigned type, void* fn, void*, void* text) {
        const char* t = static_cast<const char*>(text);
        // A trigger's program is reported as "-- TRIGGER name".
        if (type == SQLITE_TRACE_STMT && t != nullptr && std::strncmp(t, "--", 2) != 0)
          (*static_cast<std::function<void(std::string_view)>*>(fn))(t);
        return 0;
      },
      trace_.get());
}

std::int64_t Db::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
std::int64_t Db::changes() const noexcept { return sqlite3_changes64(db_); }
bool Db::in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }
bool Db::read_only() const noexcept { return sqlite3_db_readonly(db_, "main") == 1; }

void Db::reset_active_statements() noexcept {
  for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s != nullptr; s = sqlite3_next_stmt(db_, s))
    if (sqlite3_stmt_busy(s) != 0) sqlite3_reset(s);
}

Status backup(Db& from, Db& to) {
  sqlite3_backup* b = sqlite3_backup_init(to.db_, "main", from.db_, "main");
  if (b == nullptr) return to.last_error(fmt::format("backup {} to {}", from.path(), to.path()));
  const int step = sqlite3_backup_step(b, -1);
  const int fin = sqlite3_backup_finish(b);
  const int rc = step != SQLITE_DONE ? step : fin;
  if (rc != SQLITE_OK && rc != SQLITE_DONE)
    return make_db_error(to.db_, rc, fmt::format("backup {} to {}", from.path(), to.path()));
  return settle::Ok{};
}

// ---- Transaction / Savepoint -------------------------------------------------

namespace {
// BEGIN, COMMIT and the savepoints' statements are prepared once per
// connection (and savepoint name): the writer runs them for every batch and
// job, the readers for every read transaction.
Status run_cached(Db& db, std::string_view sql) {
  auto st = db.cached(sql);
  if (!st) return st.error();
  Status s = (*st)->run();
  (*st)->reset();
  return s;
}
}  // namespace

Result<Transaction> Transaction::begin(Db& db, TxKind kind) {
  const char* sql = kind == TxKind::immediate   ? "BEGIN IMMEDIATE"
                    : kind == TxKind::exclusive ? "BEGIN EXCLUSIVE"
                                                : "BEGIN DEFERRED";
  SETTLE_SQL_TRY(run_cached(db, sql));
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_ != nullptr && db_->in_transaction()) (void)db_->exec("ROLLBACK");
}

Status Transaction::commit() {
  SETTLE_ASSERT(db_ != nullptr);
  Status s = run_cached(*db_, "COMMIT");
  // A failed COMMIT (e.g. busy) leaves the transaction open; the destructor
  // rolls it back unless the caller retries.
  if (s) db_ = nullptr;
  return s;
}

Status Transaction::rollback() {
  SETTLE_ASSERT(db_ != nullptr);
  Db* db = std::exchange(db_, nullptr);
  if (!db->in_transaction()) return settle::Ok{};  // SQLite already rolled back
  return db->exec("ROLLBACK");
}

Result<Savepoint> Savepoint::begin(Db& db, std::string name) {
  SETTLE_SQL_TRY(run_cached(db, fmt::format("SAVEPOINT \"{}\"", name)));
  return Savepoint(db, std::move(name));
}

Savepoint::~Savepoint() {
  if (db_ != nullptr) (void)rollback();
}

Status Savepoint::release() {
  SETTLE_ASSERT(db_ != nullptr);
  Status s = run_cached(*db_, fmt::format("RELEASE \"{}\"", name_));
  if (s) db_ = nullptr;
  return s;
}

Status Savepoint::rollback() {
  SETTLE_ASSERT(db_ != nullptr);
  Db* db = std::exchange(db_, nullptr);
  // After an error that rolled back the whole transaction the savepoint is
  // gone; there is nothing left to undo.
  if (!db->in_transaction()) return settle::Ok{};
  SETTLE_SQL_TRY(run_cached(*db, fmt::format("ROLLBACK TO \"{}\"", name_)));
  return run_cached(*db, fmt::format("RELEASE \"{}\"", name_));
}

}  // namespace settle::sql
