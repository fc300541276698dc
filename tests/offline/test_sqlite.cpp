// The SQLite wrapper: typed bind/column round trips, error translation,
// transactions and savepoints (their journal kept in memory), the library's
// settings, the statement cache.
#include "offline/sqlite.hpp"
#include "offline/wal_gather.hpp"
#include "test_dir.hpp"

#include <sqlite3.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>

using namespace settle;
using settle::test::TestDir;

namespace {
sql::Db open_db(const TestDir& d, const std::string& vfs = {}) {
  auto db = sql::Db::open(d.file("t.db"), {.vfs = vfs});
  REQUIRE(db.ok());
  return std::move(db).value();
}

// The VFS Db::open uses, counting the savepoint (sub-)journals SQLite opens
// as files: what it writes there instead of keeping in memory.
struct SubJournalCounter {
  static inline sqlite3_vfs* real = nullptr;
  static inline std::atomic<int> opened{0};
  sqlite3_vfs vfs{};
  SubJournalCounter() {
    sql::configure_library();  // registering a VFS initialises SQLite: the settings come first
    real = sqlite3_vfs_find(sql::kWalGatherVfs);  // what Db::open uses
    REQUIRE(real != nullptr);
    vfs = *real;
    vfs.zName = "count-subjournals";
    vfs.pNext = nullptr;
    vfs.xOpen = [](sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
      if ((flags & SQLITE_OPEN_SUBJOURNAL) != 0) ++opened;
      return real->xOpen(real, name, f, flags, out);
    };
    REQUIRE(sqlite3_vfs_register(&vfs, 0) == SQLITE_OK);
  }
  ~SubJournalCounter() { sqlite3_vfs_unregister(&vfs); }
  SubJournalCounter(const SubJournalCounter&) = delete;
  SubJournalCounter& operator=(const SubJournalCounter&) = delete;
};
}  // namespace

TEST_CASE("bind and column round trip every type") {
  TestDir d("sqlite-types");
  auto db = open_db(d);
  REQUIRE(db.exec("CREATE TABLE t(i INTEGER, s TEXT, b BLOB, n TEXT)").ok());
  auto ins = db.prepare("INSERT INTO t VALUES(?1, ?2, ?3, ?4)");
  REQUIRE(ins.ok());
  const sql::Bytes blob{std::byte{0}, std::byte{0xff}, std::byte{7}};
  REQUIRE(ins->bind_all(std::int64_t{-9'000'000'000'000}, std::string_view("héllo"), sql::BytesView(blob),
                        std::optional<std::string>{})
              .ok());
  REQUIRE(ins->run().ok());
  CHECK(db.changes() == 1);
  CHECK(db.last_insert_rowid() == 1);

  auto sel = db.prepare("SELECT i, s, b, n FROM t");
  REQUIRE(sel.ok());
  auto row = sel->step();
  REQUIRE(row.ok());
  REQUIRE(*row);
  CHECK(sel->column_int64(0) == -9'000'000'000'000);
  CHECK(sel->column_text(1) == "héllo");
  CHECK(sel->column_blob(2) == blob);
  CHECK(sel->is_null(3));
  CHECK(!sel->column_opt_text(3).has_value());
  CHECK(sel->column_name(1) == "s");
  CHECK(sel->column_type(0) == sql::ColumnType::integer);
  auto done = sel->step();
  REQUIRE(done.ok());
  CHECK(!*done);
}

TEST_CASE("errors are translated once into sql::Errc") {
  TestDir d("sqlite-errors");
  auto db = open_db(d);
  REQUIRE(db.exec("CREATE TABLE u(k TEXT UNIQUE, v INTEGER NOT NULL);"
                  "CREATE TRIGGER no_upd BEFORE UPDATE ON u BEGIN SELECT RAISE(ABORT, 'u is append-only'); END;")
              .ok());
  REQUIRE(db.exec("INSERT INTO u VALUES('a', 1)").ok());
  auto dup = db.exec("INSERT INTO u VALUES('a', 2)");
  CHECK(dup.is(sql::Errc::unique));
  CHECK(db.exec("INSERT INTO u VALUES('b', NULL)").is(sql::Errc::constraint));
  auto upd = db.exec("UPDATE u SET v = 3");
  CHECK(upd.is(sql::Errc::trigger));
  CHECK(upd.error().message.find("append-only") != std::string::npos);
  CHECK(db.prepare("SELEC nonsense").error().code == sql::Errc::other);
  auto st = db.prepare("INSERT INTO u VALUES(?1, ?2)");
  REQUIRE(st.ok());
  CHECK(st->bind(3, std::int64_t{1}).is(sql::Errc::range));
  CHECK(upd.error().to_error().reason == Reason::storage_failed);

  auto missing = sql::Db::open(d.file("nope.db"), {.mode = sql::OpenMode::read_only});
  CHECK(missing.is(sql::Errc::cannot_open));
}

TEST_CASE("read-only connection refuses writes") {
  TestDir d("sqlite-ro");
  { auto db = open_db(d); REQUIRE(db.exec("CREATE TABLE t(x)").ok()); }
  auto ro = sql::Db::open(d.file("t.db"), {.mode = sql::OpenMode::read_only});
  REQUIRE(ro.ok());
  CHECK(ro->read_only());
  CHECK(ro->exec("INSERT INTO t VALUES(1)").is(sql::Errc::read_only));
}

TEST_CASE("transactions and savepoints") {
  TestDir d("sqlite-tx");
  auto db = open_db(d);
  REQUIRE(db.exec("CREATE TABLE t(x INTEGER)").ok());
  {
    auto tx = sql::Transaction::begin(db);
    REQUIRE(tx.ok());
    REQUIRE(db.exec("INSERT INTO t VALUES(1)").ok());
    // dropped without commit: rolled back
  }
  CHECK(*db.query_int64("SELECT count(*) FROM t").value() == 0);
  {
    auto tx = sql::Transaction::begin(db);
    REQUIRE(tx.ok());
    REQUIRE(db.exec("INSERT INTO t VALUES(1)").ok());
    {
      auto sp = sql::Savepoint::begin(db, "a");
      REQUIRE(sp.ok());
      REQUIRE(db.exec("INSERT INTO t VALUES(2)").ok());
      REQUIRE(sp->rollback().ok());
    }
    {
      auto sp = sql::Savepoint::begin(db, "b");
      REQUIRE(sp.ok());
      REQUIRE(db.exec("INSERT INTO t VALUES(3)").ok());
      REQUIRE(sp->release().ok());
    }
    REQUIRE(tx->commit().ok());
  }
  CHECK(*db.query_int64("SELECT sum(x) FROM t").value() == 4);
  CHECK(!db.in_transaction());
}

TEST_CASE("cached statements are reset and cleared on reuse") {
  TestDir d("sqlite-cache");
  auto db = open_db(d);
  REQUIRE(db.exec("CREATE TABLE t(x INTEGER)").ok());
  for (int i = 1; i <= 3; ++i) {
    auto st = db.cached("INSERT INTO t VALUES(?1)");
    REQUIRE(st.ok());
    REQUIRE((*st)->bind(1, i).ok());
    REQUIRE((*st)->run().ok());
  }
  auto a = db.cached("SELECT x FROM t ORDER BY x");
  REQUIRE(a.ok());
  REQUIRE(*(*a)->step());
  CHECK((*a)->column_int64(0) == 1);
  auto b = db.cached("SELECT x FROM t ORDER BY x");  // same object, reset
  REQUIRE(b.ok());
  CHECK(*a == *b);
  REQUIRE(*(*b)->step());
  CHECK((*b)->column_int64(0) == 1);
  CHECK(*db.query_text("SELECT 'x' || count(*) FROM t").value() == "x3");
}

TEST_CASE("SQLite counts no memory statistics: its allocations take no process-wide lock") {
  TestDir d("sqlite-memstatus");
  auto db = open_db(d);  // Db::open makes the library's settings first
  REQUIRE(db.exec("CREATE TABLE t(i INTEGER PRIMARY KEY, s TEXT); "
                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
                  "INSERT INTO t SELECT i, printf('%0500d', i) FROM n")
              .ok());
  sqlite3_int64 used = -1, highest = -1;
  REQUIRE(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used, &highest, 0) == SQLITE_OK);
  // With the statistics on, the pages and statements above hold hundreds of KiB.
  CHECK(used == 0);
  CHECK(highest == 0);
}

TEST_CASE("a savepoint's journal stays in memory for a settlement-sized job, and spills past its bound") {
  SubJournalCounter counter;
  TestDir d("sqlite-subjournal");
  {
    auto db = open_db(d, "count-subjournals");
    // As the ledger: 2 KiB pages, WAL. One 1,500-byte row per page.
    REQUIRE(db.exec("PRAGMA page_size = 2048; PRAGMA journal_mode = WAL; "
                    "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB NOT NULL)").ok());
    REQUIRE(db.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
                    "INSERT INTO t SELECT i, zeroblob(1500) FROM n").ok());
    const auto change = [&](int from, int to, int value) {
      return db.exec(fmt::format("UPDATE t SET b = zeroblob(1500 + {}) WHERE id BETWEEN {} AND {}", value, from, to));
    };
    // A group commit of two jobs, each in its savepoint, each changing 50
    // pages that were there before it: 50 x (2,048 + 4) bytes of journal
    // each, past SQLite's default of 64 KiB, within kSubJournalInMemory. (A
    // settlement's job changes up to 46 pages: docs/ledger.md, "Group commit".)
    static_assert(50 * (2048 + 4) > 64 * 1024 && 50 * (2048 + 4) < sql::kSubJournalInMemory);
    {
      auto tx = sql::Transaction::begin(db);
      REQUIRE(tx.ok());
      for (int job = 0; job < 2; ++job) {
        auto sp = sql::Savepoint::begin(db, "job");
        REQUIRE(sp.ok());
        REQUIRE(change(1 + job * 100, 50 + job * 100, 1).ok());
        REQUIRE(sp->release().ok());
      }
      REQUIRE(tx->commit().ok());
    }
    CHECK(SubJournalCounter::opened.load() == 0);
    CHECK(*db.query_int64("SELECT count(*) FROM t WHERE length(b) = 1501").value() == 100);

    // A job of 120 pages goes past the bound: its journal goes to a file
    // (memory stays bounded) and still rolls the job back whole.
    {
      auto tx = sql::Transaction::begin(db);
      REQUIRE(tx.ok());
      auto sp = sql::Savepoint::begin(db, "big");
      REQUIRE(sp.ok());
      REQUIRE(change(151, 270, 2).ok());
      REQUIRE(sp->rollback().ok());
      REQUIRE(tx->commit().ok());
    }
    CHECK(SubJournalCounter::opened.load() >= 1);
    CHECK(*db.query_int64("SELECT count(*) FROM t WHERE length(b) = 1502").value() == 0);
    CHECK(*db.query_int64("SELECT count(*) FROM t WHERE length(b) = 1500").value() == 200);
  }
}
