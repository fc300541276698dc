// Opening a ledger: creation, reopening, configuration, and every refusal of
// a file that is not a sound ledger of this version, with the file's bytes
// unchanged by the attempt.
#include "ledger_fixture.hpp"
#include "offline/ledger.hpp"
#include "offline/schema.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

std::unique_ptr<Ledger> must_open(const std::string& path) {
  auto l = Ledger::open(path);
  if (!l) FAIL(l.error().message);
  return std::move(l).value();
}

// A real ledger with `n` settlements, closed cleanly.
void make_ledger(const std::string& path, int n) {
  auto l = must_open(path);
  REQUIRE(l->write_wait([n](sql::Db& db) -> sql::Status {
                for (int i = 0; i < n; ++i) {
                  auto id = test::record_sample(db, fmt::format("req-{:05}", i), 1000 + i);
                  if (!id) return id.error();
                }
                return settle::Ok{};
              }).ok());
}

// Opens `path`, expects refusal with `problem`, and checks that the file's
// bytes are exactly what they were and no ledger was made in its place.
void expect_refused(const std::string& path, OpenProblem problem, std::string_view words) {
  const auto before = test::file_bytes(path);
  const auto hash_before = test::file_hash(path);
  auto l = Ledger::open(path);
  REQUIRE_FALSE(l.ok());
  INFO("message: " << l.error().message);
  CHECK(l.error().problem == problem);
  CHECK(l.error().path == path);
  CHECK(l.error().message.find(path) != std::string::npos);
  CHECK(l.error().message.find(words) != std::string::npos);
  CHECK(l.error().to_error().reason == Reason::storage_failed);
  CHECK(test::file_hash(path) == hash_before);
  CHECK(test::file_bytes(path) == before);
  CHECK_FALSE(std::filesystem::exists(path + ".creating"));
  // A second attempt is refused the same way (nothing was "repaired").
  auto again = Ledger::open(path);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().problem == problem);
  CHECK(test::file_bytes(path) == before);
}

}  // namespace

TEST_CASE("a new ledger is created, configured, and reopened with its data") {
  TestDir d("ledger-open");
  const std::string path = d.file("ledger.db");
  {
    auto l = must_open(path);
    CHECK(l->schema_version() == current_schema_version());
    auto cfg = l->write_wait([](sql::Db& db) -> sql::Result<std::string> {
      auto mode = db.query_text("PRAGMA journal_mode");
      auto sync = db.query_int64("PRAGMA synchronous");
      auto fk = db.query_int64("PRAGMA foreign_keys");
      auto app = db.query_int64("PRAGMA application_id");
      auto ver = db.query_int64("PRAGMA user_version");
      auto page = db.query_int64("PRAGMA page_size");
      if (!mode || !sync || !fk || !app || !ver || !page) return sql::DbError{sql::Errc::other, 0, "pragma failed"};
      return fmt::format("{} {} {} {} {} {}", mode->value_or(""), sync->value_or(-1), fk->value_or(-1),
                         app->value_or(0), ver->value_or(-1), page->value_or(-1));
    });
    REQUIRE(cfg.ok());
    CHECK(*cfg == fmt::format("wal 2 1 {} {} {}", kApplicationId, current_schema_version(), kLedgerPageSize));
    REQUIRE(l->write_wait([](sql::Db& db) { return test::record_sample(db, "r1"); }).ok());
  }
  CHECK_FALSE(std::filesystem::exists(path + ".creating"));
  auto l = must_open(path);
  CHECK(l->schema_version() == current_schema_version());
  auto found = l->read([](sql::Db& db) { return find_request(db, "r1"); });
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->method == "settle.commit");
  // Reads run on read-only connections.
  CHECK(l->read([](sql::Db& db) { return db.exec("DELETE FROM requests"); }).is(sql::Errc::read_only));
}

TEST_CASE("a second process (or a second open) is refused while the ledger is open") {
  TestDir d("ledger-inuse");
  const std::string path = d.file("ledger.db");
  auto first = must_open(path);
  auto second = Ledger::open(path);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().problem == OpenProblem::in_use);
  first.reset();
  CHECK(Ledger::open(path).ok());
}

TEST_CASE("a missing ledger is not created when creation is off") {
  TestDir d("ledger-missing");
  auto l = Ledger::open(d.file("nope.db"), LedgerOptions{.create_if_missing = false});
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().problem == OpenProblem::cannot_open);
  CHECK_FALSE(std::filesystem::exists(d.file("nope.db")));
  auto nodir = Ledger::open(d.file("no/such/dir/ledger.db"));
  REQUIRE_FALSE(nodir.ok());
  CHECK(nodir.error().problem == OpenProblem::cannot_open);
}

TEST_CASE("a ledger with corrupt bytes in the middle is refused and left untouched") {
  TestDir d("ledger-corrupt");
  const std::string path = d.file("ledger.db");
  make_ledger(path, 3000);
  REQUIRE_FALSE(std::filesystem::exists(path + "-wal"));  // checkpointed on close
  const auto size = std::filesystem::file_size(path);
  const std::uint64_t page = 4096;
  REQUIRE(size > 20 * page);
  {
    // Scribble over the start of a page in the middle: its b-tree header
    // and cell pointers become garbage.
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>((size / page / 2) * page));
    for (int i = 0; i < 600; ++i) f.put(static_cast<char>(0xA5 ^ (i * 7)));
  }
  expect_refused(path, OpenProblem::damaged, "restore the ledger from the last backup");
}

// The ledger's last word on settled's runs: "started" (a crash followed) or
// "stopped" (a clean stop).
void last_run(const std::string& path, const char* state) {
  auto l = must_open(path);
  REQUIRE(l->write_wait([state](sql::Db& db) -> sql::Status {
                for (const char* s : {"started", state}) {
                  auto e = append_event(db, Event{0, 1'700'000'000'000, Entity::ledger, "settled", std::nullopt, s, ""});
                  if (!e) return e.error();
                }
                return settle::Ok{};
              }).ok());
}

void scribble_mid_page(const std::string& path) {
  const auto size = std::filesystem::file_size(path);
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>((size / 4096 / 2) * 4096));
  for (int i = 0; i < 600; ++i) f.put(static_cast<char>(0xA5 ^ (i * 7)));
}

TEST_CASE("after a clean stop the page check waits for check_integrity(); after a crash it runs at open") {
  TestDir d("ledger-deferred-check");
  const LedgerOptions deferred{.check = IntegrityCheck::after_unclean_stop};
  SUBCASE("a sound ledger after a clean stop: open at once, checked later") {
    const std::string path = d.file("sound.db");
    make_ledger(path, 500);
    last_run(path, "stopped");
    auto l = Ledger::open(path, deferred);
    REQUIRE(l.ok());
    CHECK((*l)->integrity_check_deferred());
    for (const auto pass : {Ledger::CheckPass::tables, Ledger::CheckPass::file}) {
      auto found = (*l)->check_integrity(pass);
      REQUIRE(found.ok());
      CHECK(found->empty());
      // settled's stop interrupts a check in progress.
      const std::atomic<bool> stop{true};
      CHECK_FALSE((*l)->check_integrity(pass, &stop).ok());
    }
  }
  SUBCASE("damaged after a clean stop: opened, and check_integrity() finds it") {
    const std::string path = d.file("damaged-clean.db");
    make_ledger(path, 3000);
    last_run(path, "stopped");
    scribble_mid_page(path);
    auto l = Ledger::open(path, deferred);
    REQUIRE_MESSAGE(l.ok(), (l.ok() ? "" : l.error().message));
    CHECK((*l)->integrity_check_deferred());
    // Each pass finds it: the page is in a table's b-tree.
    for (const auto pass : {Ledger::CheckPass::tables, Ledger::CheckPass::file}) {
      auto found = (*l)->check_integrity(pass);
      CHECK_MESSAGE((!found.ok() || !found->empty()), "the damage went unseen");
    }
  }
  SUBCASE("a wrong free-page count after a clean stop: only the whole file's pass sees it") {
    const std::string path = d.file("freelist-clean.db");
    make_ledger(path, 500);
    last_run(path, "stopped");
    {
      // The header's count of free pages (bytes 36-39, big-endian), three more than there are.
      std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
      f.seekg(36);
      unsigned char b[4];
      f.read(reinterpret_cast<char*>(b), 4);
      const std::uint32_t n = (std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | b[3]) + 3;
      for (int i = 0; i < 4; ++i) b[i] = static_cast<unsigned char>(n >> (24 - 8 * i));
      f.seekp(36);
      f.write(reinterpret_cast<const char*>(b), 4);
    }
    auto l = Ledger::open(path, deferred);
    REQUIRE_MESSAGE(l.ok(), (l.ok() ? "" : l.error().message));
    auto tables = (*l)->check_integrity(Ledger::CheckPass::tables);
    REQUIRE(tables.ok());
    CHECK(*tables == "");  // each table's b-trees are sound
    auto file = (*l)->check_integrity(Ledger::CheckPass::file);
    REQUIRE(file.ok());
    CHECK_MESSAGE(file->find("freelist") != std::string::npos, *file);
  }
  SUBCASE("damaged after a crash: refused at open, as with the quick check") {
    const std::string path = d.file("damaged-crash.db");
    make_ledger(path, 3000);
    last_run(path, "started");
    scribble_mid_page(path);
    auto l = Ledger::open(path, deferred);
    REQUIRE_FALSE(l.ok());
    CHECK(l.error().problem == OpenProblem::damaged);
  }
  SUBCASE("a ledger settled never ran on (made by settlectl): checked at open") {
    const std::string path = d.file("fresh.db");
    make_ledger(path, 10);
    auto l = Ledger::open(path, deferred);
    REQUIRE(l.ok());
    CHECK_FALSE((*l)->integrity_check_deferred());
  }
}

TEST_CASE("a foreign SQLite file is refused and left untouched") {
  TestDir d("ledger-foreign");
  const std::string path = d.file("other.db");
  {
    auto db = sql::Db::open(path);
    REQUIRE(db.ok());
    REQUIRE(db->exec("CREATE TABLE patients(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO patients VALUES(1,'x')").ok());
  }
  expect_refused(path, OpenProblem::foreign, "another application");

  const std::string tagged = d.file("tagged.db");
  {
    auto db = sql::Db::open(tagged);
    REQUIRE(db.ok());
    REQUIRE(db->exec("PRAGMA application_id = 305419896; CREATE TABLE t(x)").ok());
  }
  expect_refused(tagged, OpenProblem::foreign, "0x12345678");

  const std::string empty_db = d.file("empty-sqlite.db");
  {
    auto db = sql::Db::open(empty_db);
    REQUIRE(db.ok());
    REQUIRE(db->exec("PRAGMA user_version = 1; PRAGMA page_size = 4096; VACUUM").ok());
  }
  expect_refused(empty_db, OpenProblem::foreign, "0 table(s)");
}

TEST_CASE("a ledger of a newer schema version is refused and left untouched") {
  TestDir d("ledger-newer");
  const std::string path = d.file("ledger.db");
  make_ledger(path, 10);
  {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_write});
    REQUIRE(db.ok());
    REQUIRE(db->exec(fmt::format("PRAGMA user_version = {}", current_schema_version() + 1)).ok());
  }
  REQUIRE_FALSE(std::filesystem::exists(path + "-wal"));
  expect_refused(path, OpenProblem::newer_version, "newer version of the program");
}

TEST_CASE("files that are not SQLite at all are refused and left untouched") {
  TestDir d("ledger-notsqlite");
  const std::string text = d.file("notes.txt");
  {
    std::ofstream f(text);
    for (int i = 0; i < 200; ++i) f << "line " << i << " of a text file that is not a ledger\n";
  }
  expect_refused(text, OpenProblem::not_sqlite, "is not an SQLite database");

  const std::string empty = d.file("empty.db");
  { std::ofstream f(empty); }
  expect_refused(empty, OpenProblem::not_sqlite, "is empty");

  const std::string truncated = d.file("truncated.db");
  make_ledger(d.file("whole.db"), 1);
  {
    const auto bytes = test::file_bytes(d.file("whole.db"));
    std::ofstream f(truncated, std::ios::binary);
    f.write(bytes.data(), 60);
  }
  expect_refused(truncated, OpenProblem::not_sqlite, "is cut short (60 bytes");
}

TEST_CASE("the full integrity check is available and passes on a sound ledger") {
  TestDir d("ledger-full");
  const std::string path = d.file("ledger.db");
  make_ledger(path, 50);
  auto l = Ledger::open(path, LedgerOptions{.check = IntegrityCheck::full});
  REQUIRE(l.ok());
}

TEST_CASE("migrations are ordered, start at 1 and end at the current version") {
  const auto ms = migrations();
  REQUIRE_FALSE(ms.empty());
  for (std::size_t i = 0; i < ms.size(); ++i) CHECK(ms[i].to_version == static_cast<int>(i) + 1);
  CHECK(current_schema_version() == ms.back().to_version);
}

namespace {
// The built-in migrations and one more, as a later build would ship.
std::vector<Migration> with_next(std::string_view summary, std::string_view sql) {
  std::vector<Migration> list(migrations().begin(), migrations().end());
  list.push_back({current_schema_version() + 1, summary, sql});
  return list;
}
}  // namespace

TEST_CASE("an older ledger is backed up, then migrated; a build that knows less then refuses it") {
  TestDir d("ledger-migrate");
  const std::string path = d.file("ledger.db");
  make_ledger(path, 5);
  const int now = current_schema_version();
  const int next = now + 1;
  const auto newer_list = with_next("test: a notes table", "CREATE TABLE notes(x TEXT NOT NULL) STRICT;");
  LedgerOptions newer;
  newer.migrations = newer_list;
  {
    auto l = Ledger::open(path, newer);
    if (!l) FAIL(l.error().message);
    CHECK((*l)->schema_version() == next);
    auto n = (*l)->read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM settlements"); });
    REQUIRE(n.ok());
    CHECK(n->value_or(0) == 5);
    CHECK((*l)->write_wait([](sql::Db& db) { return db.exec("INSERT INTO notes VALUES('after the migration')"); }).ok());
  }
  // The copy taken before the migration is a whole ledger of the old version.
  const std::string bak = fmt::format("{}.v{}.bak", path, now);
  REQUIRE(std::filesystem::exists(bak));
  {
    auto db = sql::Db::open(bak, {.mode = sql::OpenMode::read_only});
    REQUIRE(db.ok());
    CHECK(db->query_int64("PRAGMA user_version")->value_or(0) == now);
    CHECK(db->query_int64("PRAGMA application_id")->value_or(0) == kApplicationId);
    CHECK(db->query_int64("SELECT count(*) FROM settlements")->value_or(0) == 5);
  }
  const auto bak_bytes = test::file_bytes(bak);
  // This build refuses the migrated file.
  expect_refused(path, OpenProblem::newer_version,
                 fmt::format("has schema version {}, newer than this build's {}", next, now));
  // Opening again with the longer list migrates nothing and keeps the first backup.
  auto again = Ledger::open(path, newer);
  REQUIRE(again.ok());
  CHECK((*again)->schema_version() == next);
  CHECK(test::file_bytes(bak) == bak_bytes);
}

namespace {
// The ids and rows of the history, in order: what a migration must keep.
std::vector<std::string> event_rows(sql::Db& db) {
  std::vector<std::string> rows;
  auto st = db.prepare("SELECT event_id, at_ms, entity, entity_id, coalesce(from_state, '-'), to_state, detail "
                       "FROM events ORDER BY event_id");
  REQUIRE(st.ok());
  for (auto row = st->step(); row.ok() && *row; row = st->step())
    rows.push_back(fmt::format("{}|{}|{}|{}|{}|{}|{}", st->column_int64(0), st->column_int64(1), st->column_text(2),
                               st->column_text(3), st->column_text(4), st->column_text(5), st->column_text(6)));
  return rows;
}
}  // namespace

TEST_CASE("a v1 ledger migrates to v2: the history kept with its ids, two pages fewer per commit") {
  TestDir d("ledger-v1-v2");
  const std::string path = d.file("ledger.db");
  const std::vector<Migration> v1_only(migrations().begin(), migrations().begin() + 1);
  {
    LedgerOptions v1;
    v1.migrations = v1_only;
    auto l = Ledger::open(path, v1);
    if (!l) FAIL(l.error().message);
    REQUIRE((*l)->write_wait([](sql::Db& db) -> sql::Status {
                  for (int i = 0; i < 40; ++i) {
                    auto id = test::record_sample(db, fmt::format("req-{:05}", i), 1000 + i);
                    if (!id) return id.error();
                  }
                  return settle::Ok{};
                }).ok());
  }
  std::vector<std::string> before;
  {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_only});
    REQUIRE(db.ok());
    REQUIRE(db->query_int64("PRAGMA user_version")->value_or(0) == 1);
    before = event_rows(*db);
    REQUIRE(before.size() >= 40);
  }
  // To v2 only (the later migrations have their own tests).
  const std::vector<Migration> v2_only(migrations().begin(), migrations().begin() + 2);
  LedgerOptions to_v2;
  to_v2.migrations = v2_only;
  auto opened = Ledger::open(path, to_v2);
  if (!opened) FAIL(opened.error().message);
  auto l = std::move(opened).value();
  CHECK(l->schema_version() == 2);
  CHECK(std::filesystem::exists(path + ".v1.bak"));
  auto check = l->read([&](sql::Db& db) -> sql::Status {
    CHECK(event_rows(db) == before);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE name = 'requests_in_progress'")->value_or(-1) == 0);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE name = 'outbox_open_reversals'")->value_or(-1) == 1);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE name = 'events' AND sql LIKE '%AUTOINCREMENT%'")
              ->value_or(-1) == 0);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_sequence WHERE name = 'events'")->value_or(-1) == 0);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'events' AND type IN ('index', 'trigger')")
              ->value_or(-1) == 3);
    return settle::Ok{};
  });
  REQUIRE(check.ok());
  const auto last = static_cast<std::int64_t>(before.size());
  // New events continue after the last id; the history still refuses changes.
  REQUIRE(l->write_wait([](sql::Db& db) -> sql::Status {
               auto id = test::record_sample(db, "req-after", 5000);
               return id ? sql::Status{settle::Ok{}} : sql::Status{id.error()};
             }).ok());
  auto next_id = l->read([](sql::Db& db) {
    return db.query_int64("SELECT min(event_id) FROM events WHERE entity = 'settlement' AND entity_id = "
                          "(SELECT CAST(setl_id AS TEXT) FROM settlements WHERE request_id = 'req-after')");
  });
  REQUIRE(next_id.ok());
  CHECK(next_id->value_or(0) > last);
  CHECK_FALSE(l->write_wait([](sql::Db& db) { return db.exec("UPDATE events SET detail = 'x' WHERE event_id = 1"); }).ok());
  CHECK_FALSE(l->write_wait([](sql::Db& db) { return db.exec("DELETE FROM events WHERE event_id = 1"); }).ok());
  l.reset();
  auto full = Ledger::open(path, LedgerOptions{.check = IntegrityCheck::full});
  if (!full) FAIL(full.error().message);
}

TEST_CASE("a failing migration leaves the ledger whole at its old version") {
  TestDir d("ledger-migrate-fail");
  const std::string path = d.file("ledger.db");
  make_ledger(path, 3);
  const auto bad = with_next("test: broken", "CREATE TABLE extra(x); CREATE TABLE settlements(x);");
  LedgerOptions opt;
  opt.migrations = bad;
  auto l = Ledger::open(path, opt);
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().problem == OpenProblem::storage);
  CHECK(l.error().message.find(fmt::format("migration to v{}", current_schema_version() + 1)) != std::string::npos);
  auto ok = Ledger::open(path);
  if (!ok) FAIL(ok.error().message);
  CHECK((*ok)->schema_version() == current_schema_version());
  auto extra = (*ok)->read([](sql::Db& db) {
    return db.query_int64("SELECT count(*) FROM sqlite_schema WHERE name = 'extra'");
  });
  REQUIRE(extra.ok());
  CHECK(extra->value_or(-1) == 0);
}

namespace {

// A ledger (test::LedgerFixture) with a table `filler`; fill(rows) writes
// `rows` rows of 1,800 random bytes (about a 2 KiB page each) as one job.
struct Filler : test::LedgerFixture {
  explicit Filler(const char* name) : LedgerFixture(name) { REQUIRE(shell("CREATE TABLE filler(b BLOB)").ok()); }
  sql::Status fill(int rows) {
    return ledger->write_wait([rows](sql::Db& db) {
      return db.exec(fmt::format("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) "
                                 "INSERT INTO filler SELECT randomblob(1800) FROM n",
                                 rows));
    });
  }
};

// The lines Ledger::check_deferred logs, kept for the test to look at.
struct LogLines {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mu);
      lines.push_back(line);
    };
  }
  bool said(std::string_view what) {
    std::lock_guard lock(mu);
    return std::any_of(lines.begin(), lines.end(), [what](const std::string& l) { return l.find(what) != std::string::npos; });
  }
  std::string all() {
    std::lock_guard lock(mu);
    return fmt::format("{}", fmt::join(lines, " | "));
  }
  // Waits (at most 30 s) until a line says `what`.
  void wait_for(std::string_view what) {
    for (int i = 0; i < 600 && !said(what); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
};

// A check_deferred run that must end within a minute and find the file sound.
void expect_sound(std::future<sql::Result<std::string>>& checked) {
  REQUIRE(checked.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  auto found = checked.get();
  REQUIRE_MESSAGE(found.ok(), (found.ok() ? "" : found.error().message));
  CHECK(*found == "");
}

}  // namespace

// The page check beside the service reads one snapshot for minutes on a
// ledger of years; no checkpoint copies the WAL past it meanwhile, so every
// commit lengthened the WAL (at 32 busy windows, 1.5 GB a minute) and the
// commit that checkpointed it after the check copied all of it. The check
// now gives up once the WAL has grown by its bound, for the caller to try
// again later; without commits beside it, it runs through.
TEST_CASE("the page check beside the service gives up, postponed, once the windows' commits grow the WAL it holds back") {
  Filler f("ledger-check-wal");
  Ledger& ledger = *f.ledger;
  const auto fill = [&f](int rows) { return f.fill(rows); };
  for (int i = 0; i < 30; ++i) REQUIRE(fill(1'000).ok());  // about 60 MB to check

  const auto whole = Ledger::CheckPass::file;
  // Alone, it runs through.
  auto alone = ledger.check_integrity(whole, nullptr, 256 << 10);
  REQUIRE_MESSAGE(alone.ok(), (alone.ok() ? "" : alone.error().message));
  CHECK(*alone == "");

  // With the windows committing beside it, it gives up at 256 KiB of WAL.
  std::atomic<bool> done{false};
  std::atomic<int> commits{0};
  std::thread windows([&] {
    while (!done) {
      if (fill(100).ok()) ++commits;
    }
  });
  auto busy = ledger.check_integrity(whole, nullptr, 256 << 10);
  done = true;
  windows.join();
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.error().code == sql::Errc::busy);
  CHECK(busy.error().message.find("postponed") != std::string::npos);
  CHECK(commits > 0);

  // Given up, it changed nothing: the file checks sound once the windows rest.
  auto after = ledger.check_integrity(whole);
  REQUIRE(after.ok());
  CHECK(*after == "");

  // After a clean stop the same windows make the table's check give up; it
  // is tried again once they rest.
  LogLines log;
  const Ledger::DeferredCheck how{.pace_window = std::chrono::seconds(1), .max_wal_growth = 256 << 10, .log = log.sink()};
  done = false;
  commits = 0;
  std::thread again([&] {
    while (!done)
      if (fill(100).ok()) ++commits;
  });
  // The windows are busy before the check begins (on a loaded machine the
  // check could otherwise walk the table before their first commit).
  while (commits < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::atomic<bool> stop{false};
  auto checked = std::async(std::launch::async, [&] { return ledger.check_deferred(stop, how); });
  log.wait_for("waits for quieter windows");
  CHECK_MESSAGE(log.said("the check of table filler read its snapshot"), log.all());
  CHECK_MESSAGE(log.said("the check of that table waits for quieter windows"), log.all());
  done = true;
  again.join();
  expect_sound(checked);
}

// The whole file's walk holds the WAL back for as long as it takes (SQLite
// cannot end it), so after a clean stop the ledger is checked table by table
// (each table in a snapshot of its own, held for that table's walk) and the
// whole file only once the windows' pace is low enough for the whole walk.
TEST_CASE("after a clean stop the tables are checked beside busy windows, the whole file once they are quiet") {
  test::LedgerFixture f("ledger-check-deferred");
  Ledger& ledger = *f.ledger;
  // 60 tables of about 1 MB: each table's walk is short, the whole file's sixty times as long.
  for (int t = 0; t < 60; ++t)
    REQUIRE(f.shell(fmt::format("CREATE TABLE filler_{0}(b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
                                "i + 1 FROM n WHERE i < 500) INSERT INTO filler_{0} SELECT randomblob(1800) FROM n",
                                t))
                .ok());
  // The windows rewrite the same 40 rows (a page each): their table stays as
  // small as it starts, so its own walk stays short however long they run.
  REQUIRE(f.shell("CREATE TABLE windows(b BLOB); INSERT INTO windows SELECT randomblob(1800) FROM filler_0 LIMIT 40")
              .ok());

  // The tables pass notes its progress: a second call with it has nothing left.
  Ledger::CheckProgress progress;
  auto tables = ledger.check_integrity(Ledger::CheckPass::tables, nullptr, Ledger::kCheckWalGrowth, &progress);
  REQUIRE(tables.ok());
  CHECK(*tables == "");
  CHECK(progress.tables_done > 60);
  CHECK(progress.checks_s > 0);
  const double first = progress.checks_s;
  REQUIRE(ledger.check_integrity(Ledger::CheckPass::tables, nullptr, Ledger::kCheckWalGrowth, &progress).ok());
  CHECK(progress.checks_s == first);

  // Windows at a steady pace: 80 KB of pages every millisecond or so (on a
  // loaded machine each commit takes longer, and the pace falls with it: at
  // 18 KB a commit it fell below what makes the whole file's walk wait).
  // Rows rewritten in place, not added: a growing table's own walk grew
  // long enough under the sanitizers for its check to wait as well. Not
  // deleted and inserted either: the freed pages' zeroing doubled the pace.
  std::atomic<int> commits{0};
  const auto busy = [&f, &commits](const std::atomic<bool>& done) {
    while (!done) {
      if (f.shell("UPDATE windows SET b = randomblob(1800)").ok()) ++commits;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  std::atomic<bool> done{false};
  std::thread windows([&] { busy(done); });
  // The windows are busy before the check begins.
  while (commits < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  LogLines log;
  // A table's walk grows the WAL by tens of KB, the whole file's by about a
  // MB: the bound lies between.
  const Ledger::DeferredCheck how{.pace_window = std::chrono::seconds(1), .max_wal_growth = 1 << 20, .log = log.sink()};
  std::atomic<bool> stop{false};
  auto checked = std::async(std::launch::async, [&] { return ledger.check_deferred(stop, how); });
  // Busy windows: the whole file's check waits for them.
  log.wait_for("the whole file's page check waits for quieter windows");
  CHECK_MESSAGE(log.said("the whole file's page check waits for quieter windows"), log.all());
  CHECK(checked.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
  done = true;
  windows.join();
  // Quiet: it runs through.
  expect_sound(checked);

  // settled's stop ends it while it waits.
  done = false;
  std::thread again([&] { busy(done); });
  auto stopped = std::async(std::launch::async, [&] { return ledger.check_deferred(stop, how); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  REQUIRE(stopped.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  done = true;
  again.join();
  auto ended = stopped.get();
  REQUIRE_FALSE(ended.ok());
  CHECK(ended.error().code == sql::Errc::interrupted);
}

// A WAL that grew while a read held its snapshot keeps its size on disk
// unless cut back: the writer's journal_size_limit cuts it to 16 MiB once
// the WAL is started over.
TEST_CASE("a WAL that grew behind a long read is cut back to 16 MiB once it is started over") {
  Filler f("ledger-wal-limit");
  const auto fill = [&f](int rows) { return f.fill(rows); };
  const std::string wal = f.dir.file("ledger.db") + "-wal";
  {
    // A read that holds its snapshot (as a page check does) while 24 MB are written.
    auto reader = open_connection(f.dir.file("ledger.db"), sql::OpenMode::read_only);
    REQUIRE(reader.ok());
    REQUIRE(reader->exec("BEGIN").ok());
    REQUIRE(reader->query_int64("SELECT count(*) FROM filler").ok());
    for (int i = 0; i < 12; ++i) REQUIRE(fill(1'000).ok());
    CHECK(std::filesystem::file_size(wal) > (std::uintmax_t{20} << 20));
    REQUIRE(reader->exec("COMMIT").ok());
  }
  // The next commits copy it all, start it over, and cut the file back.
  for (int i = 0; i < 3; ++i) REQUIRE(fill(600).ok());
  CHECK(std::filesystem::file_size(wal) <= (std::uintmax_t{16} << 20) + (std::uintmax_t{2} << 20));
}
