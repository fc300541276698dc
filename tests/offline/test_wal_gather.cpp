// The "settle-gather" VFS (offline/wal_gather.hpp): a transaction's WAL frames
// reach the file in one write, another connection sees a commit at once at
// every synchronous setting, large transactions, rollbacks (another writer's
// frames after them untouched) and a crash.
#include "offline/sqlite.hpp"
#include "offline/wal_gather.hpp"
#include "test_dir.hpp"

#include <sqlite3.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace settle;
using settle::test::TestDir;

namespace {

// SQLite's own VFS, counting the writes to WAL files (registered once as
// "count-wal-writes"), with a gathering VFS over it ("gather-counted").
struct WalWrites {
  static inline sqlite3_vfs* real = nullptr;
  static inline const sqlite3_io_methods* real_methods = nullptr;
  static inline sqlite3_io_methods counting{};
  static inline std::atomic<int> writes{0};
  static inline sqlite3_vfs vfs{};

  static void install() {
    static const bool done = [] {
      sql::configure_library();
      real = sqlite3_vfs_find("unix");
      REQUIRE(real != nullptr);
      vfs = *real;
      vfs.zName = "count-wal-writes";
      vfs.pNext = nullptr;
      vfs.xOpen = [](sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
        const int rc = real->xOpen(real, name, f, flags, out);
        if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0) {
          real_methods = f->pMethods;
          counting = *f->pMethods;
          counting.xWrite = [](sqlite3_file* file, const void* b, int n, sqlite3_int64 off) {
            ++writes;
            return real_methods->xWrite(file, b, n, off);
          };
          f->pMethods = &counting;
        }
        return rc;
      };
      REQUIRE(sqlite3_vfs_register(&vfs, 0) == SQLITE_OK);
      REQUIRE(sql::register_wal_gather(&vfs, "gather-counted") == SQLITE_OK);
      return true;
    }();
    (void)done;
  }
};

sql::Db open_through(const TestDir& d, const std::string& vfs, const char* sync = "FULL") {
  auto db = sql::Db::open(d.file("t.db"), {.vfs = vfs});
  REQUIRE(db.ok());
  REQUIRE(db->exec(fmt::format("PRAGMA page_size = 2048; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; "
                               "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, b BLOB NOT NULL)",
                               sync))
              .ok());
  return std::move(db).value();
}

// One transaction of `rows` rows of 1,500 bytes (a 2 KiB page each), ids from `first`.
sql::Status insert_rows(sql::Db& db, int first, int rows) {
  return db.exec(fmt::format("BEGIN IMMEDIATE; WITH RECURSIVE n(i) AS (SELECT {0} UNION ALL SELECT i + 1 FROM n "
                             "WHERE i < {1}) INSERT INTO t SELECT i, randomblob(1500) FROM n; COMMIT",
                             first, first + rows - 1));
}

// -1 when the read fails (a log overwritten under it reads as a damaged file).
std::int64_t int_of(sql::Db& db, const char* query) {
  auto r = db.query_int64(query);
  return r ? r->value_or(-1) : -1;
}
std::int64_t rows_of(sql::Db& db) { return int_of(db, "SELECT count(*) FROM t"); }
std::int64_t bytes_of(sql::Db& db) { return int_of(db, "SELECT sum(length(b)) FROM t"); }
std::string check_of(sql::Db& db) {
  auto r = db.query_text("PRAGMA integrity_check");
  return r ? r->value_or("") : r.error().message;
}

}  // namespace

TEST_CASE("a transaction's WAL frames reach the file in one write, two a frame without the gathering") {
  WalWrites::install();
  for (const bool gather : {true, false}) {
    CAPTURE(gather);
    TestDir d("wal-gather-count");
    auto db = open_through(d, gather ? "gather-counted" : "count-wal-writes");
    REQUIRE(insert_rows(db, 1, 5).ok());  // the log's header and first frames
    WalWrites::writes = 0;
    REQUIRE(insert_rows(db, 100, 30).ok());  // 30 table pages and the pages above them
    if (gather)
      CHECK(WalWrites::writes.load() == 1);
    else
      CHECK(WalWrites::writes.load() >= 60);
    CHECK(rows_of(db) == 35);
  }
}

TEST_CASE("another connection sees what one commits through the gathering VFS at once, at every synchronous setting") {
  // With synchronous OFF or NORMAL SQLite never syncs the log at a commit:
  // the commit frame's page is what hands the frames on.
  for (const char* sync : {"OFF", "NORMAL", "FULL"}) {
    CAPTURE(sync);
    TestDir d("wal-gather-visible");
    auto writer = open_through(d, sql::kWalGatherVfs, sync);
    auto reader = open_through(d, sql::kWalGatherVfs, sync);
    for (int round = 0; round < 5; ++round) {
      REQUIRE(insert_rows(writer, 1 + round * 40, 40).ok());
      CHECK(rows_of(reader) == 40 * (round + 1));
      CHECK(bytes_of(reader) == 1500 * 40 * (round + 1));
    }
    CHECK(check_of(reader) == "ok");
  }
}

TEST_CASE("a large transaction is written in bounded pieces, reads its own spilled pages, rolls back and commits") {
  WalWrites::install();
  TestDir d("wal-gather-large");
  auto db = open_through(d, "gather-counted");
  REQUIRE(db.exec("PRAGMA cache_size = 20").ok());  // the transaction's pages spill to the log before it commits
  REQUIRE(insert_rows(db, 1, 10).ok());
  constexpr int kRows = 600;  // 600 pages of 2 KiB and their frames: about 1.2 MiB, several times kWalGatherMax
  static_assert(kRows * (2048 + 24) > 4 * sql::kWalGatherMax);

  const auto big = [&](bool commit) {
    REQUIRE(db.exec("BEGIN IMMEDIATE").ok());
    REQUIRE(db.exec(fmt::format("WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < {}) "
                                "INSERT INTO t SELECT i, zeroblob(1500) FROM n",
                                1000 + kRows - 1))
                .ok());
    // Read back inside the transaction: the pages that spilled come from the log.
    CHECK(int_of(db, "SELECT sum(length(b)) FROM t WHERE id >= 1000") == 1500 * kRows);
    REQUIRE(db.exec(commit ? "COMMIT" : "ROLLBACK").ok());
  };
  WalWrites::writes = 0;
  big(false);
  CHECK(WalWrites::writes.load() >= 4);  // pieces of at most kWalGatherMax
  CHECK(WalWrites::writes.load() < kRows);
  CHECK(rows_of(db) == 10);
  big(true);
  CHECK(rows_of(db) == 10 + kRows);
  CHECK(check_of(db) == "ok");
}

TEST_CASE("a transaction rolled back after its pages spilled leaves nothing that overwrites another writer's frames") {
  // The rolled-back frames still pending when the write lock is released are
  // dropped: handed on at the connection's next read they would land on the
  // frames the other connection committed in the same place of the log.
  WalWrites::install();
  TestDir d("wal-gather-rollback");
  auto a = open_through(d, "gather-counted");
  auto b = open_through(d, "gather-counted");
  REQUIRE(insert_rows(a, 1, 300).ok());
  REQUIRE(a.exec("PRAGMA cache_size = 10").ok());  // a's pages spill to the log before it commits
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    // Every page in the database file, none in the log: a's update reads
    // each of 80 pages from the file once and spills it (less than
    // kWalGatherMax, all pending), and reads nothing back. b's commit of
    // 120 pages then lies over the same place of the log.
    REQUIRE(a.exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
    REQUIRE(a.exec("BEGIN IMMEDIATE; UPDATE t SET b = zeroblob(1400) WHERE id <= 80; ROLLBACK").ok());
    REQUIRE(insert_rows(b, 1000 + round * 120, 120).ok());
    CHECK(rows_of(a) == 300 + 120 * (round + 1));
    CHECK(bytes_of(a) == 1500 * (300 + 120 * (round + 1)));
    CHECK(check_of(a) == "ok");
  }
  CHECK(rows_of(b) == 660);
}

TEST_CASE("a process that dies in a transaction leaves the commits before it whole") {
  TestDir d("wal-gather-crash");
  { auto setup = open_through(d, sql::kWalGatherVfs); }
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto db = sql::Db::open(d.file("t.db"));
    bool ok = db.ok() && db->exec("PRAGMA synchronous = FULL; PRAGMA cache_size = 20").ok();
    for (int i = 0; ok && i < 5; ++i) ok = insert_rows(*db, 1 + i * 30, 30).ok();
    // Frames gathered and frames written, never committed.
    ok = ok && db->exec("BEGIN IMMEDIATE; WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n "
                        "WHERE i < 1400) INSERT INTO t SELECT i, zeroblob(1500) FROM n")
                   .ok();
    ::_exit(ok ? 0 : 3);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto db = open_through(d, sql::kWalGatherVfs);
  CHECK(rows_of(db) == 150);
  CHECK(check_of(db) == "ok");
  REQUIRE(insert_rows(db, 2000, 10).ok());
  CHECK(rows_of(db) == 160);
}
