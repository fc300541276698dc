// The SQLite wrapper: typed bind/column round trips, error translation,
// transactions and savepoints, the statement cache.
#include "offline/sqlite.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

using namespace settle;
using settle::test::TestDir;

namespace {
sql::Db open_db(const TestDir& d) {
  auto db = sql::Db::open(d.file("t.db"));
  REQUIRE(db.ok());
  return std::move(db).value();
}
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
