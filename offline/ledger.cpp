// Opening a ledger: lock, inspect an existing file read-only (or create a new
// one atomically beside it and rename it into place), migrate, configure the
// writer connection (WAL, synchronous=FULL, foreign keys) and start the
// group-commit writer.
#include "offline/ledger.hpp"

#include "offline/chain.hpp"
#include "offline/file_lock.hpp"
#include "offline/fsync.hpp"

#include "offline/schema.hpp"
#include "offline/storage_key.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace settle::ledger {
namespace {

using OpenResult = sql::Result<int, OpenError>;

OpenError fail(OpenProblem p, const std::string& path, std::string_view what) {
  return OpenError{p, path, fmt::format("ledger file {}: {}", path, what)};
}

constexpr std::string_view kRestoreAdvice =
    "it is left exactly as it is; stop, keep a copy of it for analysis, and restore the ledger from the "
    "last backup (docs/ledger.md, \"A damaged ledger\")";

// Maps an SQLite error met while inspecting an existing file.
OpenError inspect_error(const std::string& path, const sql::DbError& e) {
  switch (e.code) {
    case sql::Errc::not_a_database:
      return fail(OpenProblem::not_sqlite, path,
                  fmt::format("is not an SQLite database ({}); {}", e.message, kRestoreAdvice));
    case sql::Errc::corrupt:
      return fail(OpenProblem::damaged, path, fmt::format("is damaged ({}); {}", e.message, kRestoreAdvice));
    case sql::Errc::busy:
    case sql::Errc::locked:
      return fail(OpenProblem::in_use, path, fmt::format("is locked by another process ({})", e.message));
    case sql::Errc::cannot_open:
      return fail(OpenProblem::cannot_open, path, e.message);
    case sql::Errc::key:
      return OpenError{OpenProblem::key, path, e.message};
    default:
      return fail(OpenProblem::storage, path, e.message);
  }
}

std::string printable_prefix(const char* bytes, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n && out.size() < 24; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

// The schema version the migrations of `opt` lead to.
int target_version(const LedgerOptions& opt) {
  return opt.migrations.empty() ? current_schema_version() : opt.migrations.back().to_version;
}

std::span<const Migration> migration_list(const LedgerOptions& opt) {
  return opt.migrations.empty() ? migrations() : opt.migrations;
}

// Decides, without writing a byte, whether an existing file may be opened as
// a ledger. Returns its schema version.
// Whether the last run of settled ended with a clean stop: its last event
// on the ledger is "stopped" (read through events_entity, whatever the size).
bool stopped_cleanly(sql::Db& db) {
  auto last = db.query_text(
      "SELECT to_state FROM events WHERE entity = 'ledger' AND entity_id = 'settled' ORDER BY event_id DESC LIMIT 1");
  return last && last->value_or("") == "stopped";
}

// The schema version of an existing, sound ledger; `deferred` is set when the
// page check was left for later (after_unclean_stop after a clean stop).
OpenResult inspect_existing(const std::string& path, const LedgerOptions& opt, bool& deferred) {
  if (auto problem = sql::key_problem(path, opt.key.get())) return OpenError{OpenProblem::key, path, *problem};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(OpenProblem::cannot_open, path, fmt::format("cannot be read ({})", std::strerror(errno)));
    const std::string head = sql::file_head(path, opt.key.get());
    char header[100] = {};
    std::memcpy(header, head.data(), head.size());
    const auto n = head.size();
    if (n == 0)
      return fail(OpenProblem::not_sqlite, path,
                  "is empty (0 bytes), not a ledger; a ledger is never recreated over an existing file: move it "
                  "away if a new ledger is really wanted, or restore the ledger from backup");
    static constexpr char kMagic[] = "SQLite format 3";  // 16 bytes with the NUL
    if (n < sizeof header && n >= sizeof kMagic && std::memcmp(header, kMagic, sizeof kMagic) == 0)
      return fail(OpenProblem::not_sqlite, path,
                  fmt::format("is cut short ({} bytes, less than an SQLite header); {}", n, kRestoreAdvice));
    if (n < sizeof header || std::memcmp(header, kMagic, sizeof kMagic) != 0)
      return fail(OpenProblem::not_sqlite, path,
                  fmt::format("is not an SQLite database (it starts with \"{}\"); {}",
                              printable_prefix(header, n), kRestoreAdvice));
  }
  auto db = open_connection(path, sql::OpenMode::read_only, opt.busy_timeout_ms, opt.key);
  if (!db) return inspect_error(path, db.error());

  auto app = db->query_int64("PRAGMA application_id");
  if (!app) return inspect_error(path, app.error());
  auto version = db->query_int64("PRAGMA user_version");
  if (!version) return inspect_error(path, version.error());
  const std::int64_t app_id = app->value_or(0);
  const std::int64_t v = version->value_or(0);
  if (app_id != kApplicationId) {
    auto tables = db->query_text(
        "SELECT count(*) || ' table(s): ' || coalesce(group_concat(name, ', '), 'none') FROM "
        "(SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name LIMIT 5)");
    return fail(OpenProblem::foreign, path,
                fmt::format("is an SQLite database of another application, not a settlement ledger "
                            "(application_id {:#010x}, expected {:#010x}; {}); it is left untouched: check the "
                            "configured ledger path",
                            static_cast<std::uint32_t>(app_id), static_cast<std::uint32_t>(kApplicationId),
                            tables ? tables->value_or("?") : "tables unreadable"));
  }
  if (v > target_version(opt))
    return fail(OpenProblem::newer_version, path,
                fmt::format("has schema version {}, newer than this build's {}: it was written by a newer "
                            "version of the program; run that version (a ledger is never downgraded)",
                            v, target_version(opt)));
  if (v < 1)
    return fail(OpenProblem::damaged, path,
                fmt::format("carries the ledger's application_id but no schema version; {}", kRestoreAdvice));

  if (opt.check == IntegrityCheck::after_unclean_stop && stopped_cleanly(*db)) {
    deferred = true;
    return static_cast<int>(v);
  }
  auto found = db->check_pages(opt.check == IntegrityCheck::full ? "PRAGMA integrity_check(5)" : "PRAGMA quick_check(5)");
  if (!found) return inspect_error(path, found.error());
  const std::string& problems = *found;
  if (!problems.empty())
    return fail(OpenProblem::damaged, path,
                fmt::format("failed the integrity check ({}); {}", problems, kRestoreAdvice));
  return static_cast<int>(v);
}

// Builds a new ledger at a temporary name beside `path`, makes it durable,
// and renames it into place: a crash leaves either no ledger or a whole one.
sql::Status create_new(const std::string& path, const LedgerOptions& opt) {
  const std::string tmp = path + ".creating";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);  // a leftover of a crash during creation (we hold the lock)
  std::filesystem::remove(tmp + "-journal", ec);
  {
    auto db = open_connection(tmp, sql::OpenMode::read_write_create, opt.busy_timeout_ms, opt.key);
    if (!db) return db.error();
    SETTLE_SQL_TRY(db->exec("PRAGMA synchronous = FULL"));
    // Before the first table: a page size fixes itself then (docs/ledger.md).
    SETTLE_SQL_TRY(db->exec(fmt::format("PRAGMA page_size = {}", kLedgerPageSize)));
    SETTLE_SQL_TRY(migrate(*db, 0, migration_list(opt)));
  }
  SETTLE_SQL_TRY(sql::fsync_path(tmp, false));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return sql::DbError{sql::Errc::io, 0, fmt::format("rename {} to {}: {}", tmp, path, std::strerror(errno))};
  const auto dir = std::filesystem::absolute(path).parent_path().string();
  return sql::fsync_path(dir, true);
}

// A copy of the ledger before a migration changes it (only for ledgers that
// already hold data, i.e. from version 1 on).
sql::Status backup_before_migration(sql::Db& db, const std::string& path, int from) {
  const std::string bak = fmt::format("{}.v{}.bak", path, from);
  std::error_code ec;
  if (std::filesystem::exists(bak, ec)) return settle::Ok{};  // an earlier attempt already made it
  std::filesystem::remove(bak + ".tmp", ec);                   // VACUUM INTO needs a new (or empty) file
  // Made empty first, readable by the ledger's owner alone: the copy holds
  // what the ledger holds, whatever the umask of whoever migrates it.
  const int fd = ::open((bak + ".tmp").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return sql::DbError{sql::Errc::io, 0, fmt::format("create {}.tmp: {}", bak, std::strerror(errno))};
  ::close(fd);
  auto st = db.prepare("VACUUM INTO ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY(st->bind(1, bak + ".tmp"));
  SETTLE_SQL_TRY(st->run());
  SETTLE_SQL_TRY(sql::fsync_path(bak + ".tmp", false));
  if (::rename((bak + ".tmp").c_str(), bak.c_str()) != 0)
    return sql::DbError{sql::Errc::io, 0, fmt::format("rename to {}: {}", bak, std::strerror(errno))};
  return settle::Ok{};
}

}  // namespace

sql::Status configure_writer(sql::Db& db) {
  auto mode = db.query_text("PRAGMA journal_mode = WAL");
  if (!mode) return mode.error();
  if (mode->value_or("") != "wal")
    return sql::DbError{sql::Errc::io, 0,
                        fmt::format("the file system refused WAL mode (journal_mode is {})", mode->value_or("?"))};
  // journal_size_limit: once the WAL is started over, its file is cut back to
  // 16 MiB, so that a WAL that grew (a long read held its snapshot) does not
  // keep the space, and its size keeps following what it holds
  // (check_integrity watches it). In steady use the WAL holds about 2 MiB.
  SETTLE_SQL_TRY(db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 16777216;"));
  auto sync = db.query_int64("PRAGMA synchronous");
  if (!sync) return sync.error();
  SETTLE_ASSERT(sync->value_or(0) == 2);  // FULL
  return settle::Ok{};
}

sql::Result<sql::Db> open_connection(const std::string& path, sql::OpenMode mode, int busy_timeout_ms,
                                     const sql::Key& key) {
  return open_connection(path, {.mode = mode, .busy_timeout_ms = busy_timeout_ms, .key = key});
}

sql::Result<sql::Db> open_connection(const std::string& path, const sql::OpenOptions& opt) {
  auto db = sql::Db::open(path, opt);
  if (!db) return db.error();
  SETTLE_SQL_TRY(chain::register_functions(*db));
  return db;
}

std::string_view name(OpenProblem p) noexcept {
  switch (p) {
    case OpenProblem::cannot_open: return "cannot_open";
    case OpenProblem::in_use: return "in_use";
    case OpenProblem::not_sqlite: return "not_sqlite";
    case OpenProblem::foreign: return "foreign";
    case OpenProblem::newer_version: return "newer_version";
    case OpenProblem::damaged: return "damaged";
    case OpenProblem::storage: return "storage";
    case OpenProblem::key: return "key";
  }
  return "storage";
}

settle::Error OpenError::to_error() const { return settle::make_error(settle::Reason::storage_failed, path, message); }

sql::Result<std::unique_ptr<Ledger>, OpenError> Ledger::open(const std::string& path, const LedgerOptions& opt) {
  // One process at a time: the ledger's sidecar lock, held while it is open.
  auto lock = sql::FileLock::take(path);
  if (!lock)
    return fail(lock.is(sql::Errc::busy) ? OpenProblem::in_use : OpenProblem::cannot_open, path,
                lock.error().message);

  int version = 0;
  bool deferred = false;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail(OpenProblem::cannot_open, path, std::strerror(errno));
    if (!opt.create_if_missing) return fail(OpenProblem::cannot_open, path, "does not exist");
    if (auto c = create_new(path, opt); !c)
      return fail(OpenProblem::storage, path, fmt::format("could not be created: {}", c.error().message));
    version = target_version(opt);
  } else {
    if (!S_ISREG(st.st_mode)) return fail(OpenProblem::cannot_open, path, "is not a regular file");
    auto v = inspect_existing(path, opt, deferred);
    if (!v) return v.error();
    version = *v;
  }

  // The file is a sound ledger of a version this build knows: now it may be written.
  auto db = open_connection(path, sql::OpenMode::read_write, opt.busy_timeout_ms, opt.key);
  if (!db) return inspect_error(path, db.error());
  if (version < target_version(opt)) {
    if (auto b = backup_before_migration(*db, path, version); !b)
      return fail(OpenProblem::storage, path,
                  fmt::format("backup before migrating from v{} failed: {}", version, b.error().message));
    if (auto m = migrate(*db, version, migration_list(opt)); !m)
      return fail(OpenProblem::storage, path, fmt::format("migration failed: {}", m.error().message));
    version = target_version(opt);
  }
  if (auto c = configure_writer(*db); !c)
    return fail(OpenProblem::storage, path, fmt::format("configuring failed: {}", c.error().message));

  auto writer = std::make_unique<Writer>(std::move(db).value(), opt.writer);
  std::unique_ptr<Ledger> ledger(new Ledger(path, std::move(*lock), version, std::move(writer), opt));
  ledger->integrity_deferred_ = deferred;
  return ledger;
}

Ledger::Ledger(std::string path, sql::FileLock lock, int schema_version, std::unique_ptr<Writer> writer,
               const LedgerOptions& options)
    : path_(std::move(path)),
      lock_(std::move(lock)),
      schema_version_(schema_version),
      options_(options),
      writer_(std::move(writer)) {}

Ledger::~Ledger() {
  writer_.reset();  // drains the queue and closes the write connection
  idle_readers_.clear();
  // lock_, declared before them, is released after: the flock outlives every connection.
}

sql::Result<std::string> Ledger::check_integrity(CheckPass pass, const std::atomic<bool>* stop,
                                                 std::int64_t max_wal_growth, CheckProgress* progress) {
  auto db = open_connection(path_, sql::OpenMode::read_only, options_.busy_timeout_ms, options_.key);
  if (!db) return db.error();
  const auto stopped = [stop] { return stop != nullptr && stop->load(); };
  // The WAL a check holds back: the pages the writer wrote to it since the
  // check began (no checkpoint copies a page written after a snapshot still
  // read). Not the file's size: a WAL started over is written from the
  // file's start again, and the file is only cut back to its
  // journal_size_limit.
  const auto wal_written = [this] { return static_cast<std::int64_t>(writer_stats().wal_bytes); };
  // One check in one snapshot, given up once the WAL grew past the bound.
  const auto check = [&](const std::string& pragma, const std::string& what) -> sql::Result<std::string> {
    const std::int64_t at_start = wal_written();
    std::int64_t grown = 0;
    auto next_look = std::chrono::steady_clock::now();
    const std::function<bool()> give_up = [&] {
      if (stopped()) return true;
      const auto now = std::chrono::steady_clock::now();
      if (now < next_look) return false;
      next_look = now + std::chrono::milliseconds(50);
      grown = wal_written() - at_start;
      return grown > max_wal_growth;
    };
    auto found = db->check_pages(pragma, give_up);
    if (!found && grown > max_wal_growth && !stopped())
      return sql::DbError{sql::Errc::busy, 0,
                          fmt::format("postponed: the WAL grew by {} MiB while the check of {} read its snapshot "
                                      "(at most {} MiB), so the windows' commits could not be copied into the file",
                                      grown >> 20, what, max_wal_growth >> 20)};
    return found;
  };
  if (pass == CheckPass::file) return check("PRAGMA quick_check(5)", "the whole file");

  std::vector<std::string> tables;
  {
    auto st = db->prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND rootpage > 0 ORDER BY name");
    if (!st) return st.error();
    for (;;) {
      auto row = st->step();
      if (!row) return row.error();
      if (!*row) break;
      tables.push_back(st->column_text(0));
    }
  }
  CheckProgress here;
  CheckProgress& at = progress != nullptr ? *progress : here;
  for (; at.tables_done < tables.size(); ++at.tables_done) {
    const std::string& table = tables[at.tables_done];
    std::string quoted;
    for (const char c : table) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    const auto t0 = std::chrono::steady_clock::now();
    auto found = check(fmt::format("PRAGMA quick_check('{}')", quoted), "table " + table);
    at.last_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!found) return found;
    at.checks_s += at.last_s;
    if (!found->empty()) return fmt::format("table {}: {}", table, *found);
  }
  return std::string();
}

sql::Result<std::string> Ledger::check_deferred(const std::atomic<bool>& stop, const DeferredCheck& how) {
  const auto interrupted = [] { return sql::DbError{sql::Errc::interrupted, 0, "the page check was stopped"}; };
  // Waits until, at the windows' pace, a walk of `walk_s` seconds would grow
  // the WAL by at most half the bound; false when stopped meanwhile.
  const auto wait_for_pace = [&](double walk_s, const std::string& what) {
    struct Seen {
      std::chrono::steady_clock::time_point at;
      std::uint64_t wal_bytes;
    };
    std::deque<Seen> seen;
    const auto span_needed = std::clamp(std::chrono::milliseconds(static_cast<std::int64_t>(walk_s * 1000)),
                                        std::chrono::milliseconds(1000), how.pace_window);
    bool told = false;
    while (!stop) {
      const auto now = std::chrono::steady_clock::now();
      seen.push_back(Seen{now, writer_stats().wal_bytes});
      while (seen.size() > 2 && now - seen[1].at >= how.pace_window) seen.pop_front();
      const auto span = now - seen.front().at;
      if (span >= span_needed) {
        const double pace = static_cast<double>(seen.back().wal_bytes - seen.front().wal_bytes) /
                            std::chrono::duration<double>(span).count();  // WAL bytes a second
        const double growth = pace * walk_s;
        if (growth <= static_cast<double>(how.max_wal_growth) / 2) return true;
        if (!told && how.log) {
          constexpr double mib = 1 << 20;
          how.log(fmt::format("{} waits for quieter windows: at their pace ({:.1f} MiB of WAL a second) its walk of "
                              "about {:.1f} s would grow the WAL by {:.1f} MiB (it begins at {:.1f} MiB or less)",
                              what, pace / mib, walk_s, growth / mib,
                              static_cast<double>(how.max_wal_growth) / 2 / mib));
          told = true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  };

  // Table by table. A table whose check gave up is tried again once the
  // pace is low enough for a walk as long as that attempt took.
  CheckProgress progress;
  for (;;) {
    auto found = check_integrity(CheckPass::tables, &stop, how.max_wal_growth, &progress);
    if (stop) return interrupted();
    if (found || found.error().code != sql::Errc::busy) {
      if (!found || !found->empty()) return found;
      break;
    }
    if (how.log) how.log(fmt::format("the tables' page check is {}", found.error().message));
    if (!wait_for_pace(progress.last_s, "the check of that table")) return interrupted();
  }
  // The whole file: its walk takes about as long as the tables pass did.
  for (;;) {
    if (!wait_for_pace(progress.checks_s, "the whole file's page check")) return interrupted();
    auto found = check_integrity(CheckPass::file, &stop, how.max_wal_growth);
    if (stop) return interrupted();
    if (found || found.error().code != sql::Errc::busy) return found;
    if (how.log) how.log(fmt::format("the whole file's page check is {}", found.error().message));
  }
}

sql::Result<std::unique_ptr<sql::Db>> Ledger::borrow_reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!idle_readers_.empty()) {
      auto db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return db;
    }
  }
  auto db = open_connection(path_, sql::OpenMode::read_only, options_.busy_timeout_ms, options_.key);
  if (!db) return db.error();
  return std::make_unique<sql::Db>(std::move(db).value());
}

void Ledger::return_reader(std::unique_ptr<sql::Db> db) {
  db->reset_active_statements();  // no stale snapshot for the next reader
  std::lock_guard lock(readers_mu_);
  if (idle_readers_.size() < options_.max_idle_readers) idle_readers_.push_back(std::move(db));
}

}  // namespace settle::ledger
