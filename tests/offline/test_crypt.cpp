// Unit tests of encryption at rest (offline/crypt_vfs.cpp, offline/rekey.cpp):
// round trips through the settle-xts VFS (WAL with a reader and a writer,
// checkpoints, crash recovery, a rollback journal, VACUUM, a sort spilled to
// temp files), no plaintext on disk, the wrong/missing/unwanted key refused
// without a byte changed, and plain -> encrypted -> rekeyed keeping every row.
#include "offline/ledger.hpp"
#include "offline/redlist.hpp"
#include "offline/sqlite.hpp"
#include "offline/storage_key.hpp"
#include "tests/offline/test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace settle;
using settle::test::file_bytes;
using settle::test::file_hash;
using settle::test::TestDir;

namespace {

constexpr std::string_view kCard = "6222020200112233445";  // a distinctive card number

sql::Key make_key(char fill) {
  std::string secret(32, fill);
  auto k = sql::StorageKey::from_secret(
      sql::BytesView(reinterpret_cast<const std::byte*>(secret.data()), secret.size()), fmt::format("test key {}", fill));
  REQUIRE(k.ok());
  return *k;
}

sql::Db open_db(const std::string& path, const sql::Key& key, sql::OpenMode mode = sql::OpenMode::read_write_create) {
  auto db = sql::Db::open(path, {.mode = mode, .key = key});
  REQUIRE_MESSAGE(db.ok(), (db.ok() ? "" : db.error().message));
  return std::move(*db);
}

void run(sql::Db& db, std::string_view sqltext) {
  auto s = db.exec(sqltext);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
}

std::int64_t count(sql::Db& db, std::string_view q) {
  auto v = db.query_int64(q);
  REQUIRE_MESSAGE(v.ok(), (v.ok() ? "" : v.error().message));
  return v->value_or(-1);
}

bool contains(const std::vector<char>& bytes, std::string_view needle) {
  return std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end()) != bytes.end();
}

bool starts_with_magic(const std::string& path) {
  const auto b = file_bytes(path);
  return b.size() >= 16 && std::memcmp(b.data(), "SQLite format 3", 16) == 0;
}

// Rows holding the card number, padded so that they fill many pages.
void fill(sql::Db& db, int from, int n, bool own_tx = true) {
  run(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, card TEXT NOT NULL, pad TEXT NOT NULL) STRICT");
  std::optional<sql::Transaction> tx;
  if (own_tx) {
    auto begun = sql::Transaction::begin(db);
    REQUIRE(begun.ok());
    tx.emplace(std::move(*begun));
  }
  auto st = db.prepare("INSERT INTO t(id, card, pad) VALUES (?1, ?2, ?3)");
  REQUIRE(st.ok());
  for (int i = from; i < from + n; ++i) {
    REQUIRE(st->bind_all(i, fmt::format("{}-{}", kCard, i), std::string(200, static_cast<char>('a' + i % 26))).ok());
    REQUIRE(st->run().ok());
    st->reset();
  }
  if (tx) REQUIRE(tx->commit().ok());
}

std::string dump(sql::Db& db, std::string_view q) {
  auto st = db.prepare(q);
  REQUIRE(st.ok());
  std::string out;
  for (;;) {
    auto row = st->step();
    REQUIRE(row.ok());
    if (!*row) break;
    for (int c = 0; c < st->column_count(); ++c) out += st->column_text(c) + "|";
    out += "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("crypt: WAL round trip with a concurrent reader, checkpoints and a reopen, at 2, 4 and 8 KiB pages") {
  for (int page : {2048, 4096, 8192}) {
    CAPTURE(page);
    TestDir dir("crypt-wal");
    const auto path = dir.file("ledger.db");
    const auto key = make_key('k');
    {
      sql::Db w = open_db(path, key);
      run(w, fmt::format("PRAGMA page_size = {}; PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0", page));
      fill(w, 0, 50);
      std::atomic<bool> stop{false};
      std::atomic<int> reads{0};
      std::atomic<bool> bad{false};
      std::thread reader([&] {
        auto r = sql::Db::open(path, {.mode = sql::OpenMode::read_only, .key = key});
        if (!r) {
          bad = true;
          return;
        }
        std::int64_t last = 0;
        while (!stop) {
          auto n = r->query_int64("SELECT count(*) FROM t WHERE card LIKE '6222%'");
          if (!n || n->value_or(0) < last || n->value_or(0) % 50 != 0) bad = true;
          if (n) last = n->value_or(0);
          ++reads;
        }
      });
      for (int b = 1; b < 20; ++b) {
        fill(w, b * 50, 50);
        if (b % 5 == 0) run(w, "PRAGMA wal_checkpoint(PASSIVE)");
      }
      while (reads < 5) std::this_thread::yield();
      stop = true;
      reader.join();
      CHECK_FALSE(bad.load());
      CHECK(count(w, "PRAGMA page_size") == page);
      run(w, "PRAGMA wal_checkpoint(TRUNCATE)");
      fill(w, 1000, 10);  // frames again from the WAL's first slot
    }
    sql::Db r = open_db(path, key, sql::OpenMode::read_only);
    CHECK(count(r, "SELECT count(*) FROM t") == 1010);
    CHECK(count(r, "SELECT sum(id) FROM t") == 1009 * 1010 / 2);
    CHECK(dump(r, "PRAGMA integrity_check") == "ok|\n");
    CHECK_FALSE(starts_with_magic(path));
  }
}

TEST_CASE("crypt: no card number in the file, its WAL or its rollback journal") {
  TestDir dir("crypt-plain");
  const auto key = make_key('k');
  const auto path = dir.file("ledger.db");
  {
    sql::Db w = open_db(path, key);
    run(w, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
    fill(w, 0, 300);
    // Both the WAL (nothing checkpointed yet) and, after a checkpoint, the file.
    const auto wal = file_bytes(path + "-wal");
    REQUIRE(wal.size() > 50'000);
    CHECK_FALSE(contains(wal, kCard));
    CHECK_FALSE(contains(wal, std::string(200, 'c')));
    run(w, "PRAGMA wal_checkpoint(PASSIVE)");
    const auto db = file_bytes(path);
    REQUIRE(db.size() > 50'000);
    CHECK_FALSE(contains(db, kCard));
    CHECK_FALSE(contains(db, "CREATE TABLE"));
    CHECK_FALSE(starts_with_magic(path));
  }
  // The same file, but the control: without the key the bytes are there.
  {
    const auto plain = dir.file("plain.db");
    sql::Db w = open_db(plain, nullptr);
    fill(w, 0, 10);
    CHECK(contains(file_bytes(plain), kCard));
  }
  // A rollback journal that stays (PERSIST) and a transaction spilled into it.
  const auto jpath = dir.file("journal.db");
  {
    sql::Db w = open_db(jpath, key);
    run(w, "PRAGMA journal_mode = PERSIST; PRAGMA cache_size = 10");
    fill(w, 0, 300);
    run(w, "UPDATE t SET card = card || 'x'");  // every page's old image journalled
    const auto j = file_bytes(jpath + "-journal");
    REQUIRE(j.size() > 50'000);
    CHECK_FALSE(contains(j, kCard));
    CHECK_FALSE(contains(file_bytes(jpath), kCard));
  }
}

TEST_CASE("crypt: a sort spilled to temp files leaves no plaintext and sorts right") {
  TestDir dir("crypt-temp");
  const auto key = make_key('k');
  const auto path = dir.file("big.db");
  sql::Db db = open_db(path, key);
  fill(db, 0, 10000);  // 2 MB of rows: more than the sorter keeps in memory
  run(db, "PRAGMA cache_size = 5; PRAGMA temp_store = FILE");
  auto st = db.prepare("SELECT pad || card FROM t ORDER BY pad DESC, card");
  REQUIRE(st.ok());
  auto row = st->step();
  REQUIRE(row.ok());
  REQUIRE(*row);
  // While the sorter holds its temp files (unlinked, still open), read them.
  int temps = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (ec || target.find("etilqs_") == std::string::npos) continue;
    ++temps;
    const auto bytes = file_bytes(e.path().string());
    CHECK(bytes.size() > 100'000);
    CHECK_FALSE(contains(bytes, kCard));
  }
  CHECK(temps > 0);
  std::vector<std::string> got{st->column_text(0)};
  for (;;) {
    auto r = st->step();
    REQUIRE(r.ok());
    if (!*r) break;
    got.push_back(st->column_text(0));
  }
  std::vector<std::string> want;
  for (int i = 0; i < 10000; ++i)
    want.push_back(std::string(200, static_cast<char>('a' + i % 26)) + fmt::format("{}-{}", kCard, i));
  std::sort(want.begin(), want.end(), [](const std::string& a, const std::string& b) {
    const auto pa = a.substr(0, 200), pb = b.substr(0, 200);
    return pa != pb ? pa > pb : a.substr(200) < b.substr(200);
  });
  CHECK(got == want);
}

TEST_CASE("crypt: a rollback-journal database, its hot journal played back after a crash, and VACUUM") {
  TestDir dir("crypt-journal");
  const auto key = make_key('k');
  const auto path = dir.file("j.db");
  {
    sql::Db db = open_db(path, key);
    run(db, "PRAGMA journal_mode = DELETE");
    fill(db, 0, 200);
  }
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_write, .key = key});
    if (!db) ::_exit(2);
    // A transaction larger than the cache spills changed pages into the file
    // with their old images in the journal; the process dies before COMMIT.
    if (!db->exec("PRAGMA cache_size = 5; BEGIN; DELETE FROM t WHERE id % 2 = 0; UPDATE t SET pad = 'gone'")) ::_exit(3);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(std::filesystem::exists(path + "-journal"));
  CHECK_FALSE(contains(file_bytes(path + "-journal"), kCard));
  {
    sql::Db db = open_db(path, key);
    CHECK(count(db, "SELECT count(*) FROM t") == 200);
    CHECK(count(db, "SELECT count(*) FROM t WHERE pad = 'gone'") == 0);
    CHECK(dump(db, "PRAGMA integrity_check") == "ok|\n");
    run(db, "DELETE FROM t WHERE id < 150; VACUUM");
    CHECK(count(db, "SELECT count(*) FROM t") == 50);
    CHECK(dump(db, "PRAGMA integrity_check") == "ok|\n");
    // VACUUM INTO (the ledger's copy before a migration) writes through the
    // same VFS: the copy is encrypted with the same key.
    run(db, fmt::format("VACUUM INTO '{}'", dir.file("copy.db")));
  }
  CHECK_FALSE(contains(file_bytes(path), kCard));
  CHECK_FALSE(contains(file_bytes(dir.file("copy.db")), kCard));
  CHECK_FALSE(starts_with_magic(dir.file("copy.db")));
  sql::Db copy = open_db(dir.file("copy.db"), key, sql::OpenMode::read_only);
  CHECK(count(copy, "SELECT count(*) FROM t") == 50);
}

TEST_CASE("crypt: a WAL left by a killed process is recovered (whole frames read back)") {
  TestDir dir("crypt-crash");
  const auto key = make_key('k');
  const auto path = dir.file("w.db");
  {
    sql::Db db = open_db(path, key);
    run(db, "PRAGMA journal_mode = WAL");
    fill(db, 0, 10);
  }
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_write, .key = key});
    if (!db || !db->exec("PRAGMA wal_autocheckpoint = 0")) ::_exit(2);
    fill(*db, 10, 100);
    fill(*db, 110, 100);
    // An open transaction whose frames reach the WAL uncommitted (cache spill).
    if (!db->exec("PRAGMA cache_size = 5; BEGIN; UPDATE t SET pad = 'uncommitted'")) ::_exit(3);
    ::_exit(0);  // no close, no checkpoint: the WAL and -shm stay
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(std::filesystem::file_size(path + "-wal") > 0);
  // A copy of the files as they are (as a backup or a crash would leave them),
  // without the -shm: recovery rebuilds the index by reading every frame whole.
  const auto copy = dir.file("copy.db");
  std::filesystem::copy_file(path, copy);
  std::filesystem::copy_file(path + "-wal", copy + "-wal");
  for (const auto& p : {path, copy}) {
    CAPTURE(p);
    sql::Db db = open_db(p, key);
    CHECK(count(db, "SELECT count(*) FROM t") == 210);
    CHECK(count(db, "SELECT count(*) FROM t WHERE pad = 'uncommitted'") == 0);
    CHECK(dump(db, "PRAGMA integrity_check") == "ok|\n");
  }
}

TEST_CASE("crypt: page 1's header is read in parts before the page size is known") {
  TestDir dir("crypt-header");
  const auto key = make_key('k');
  const auto path = dir.file("h.db");
  {
    sql::Db db = open_db(path, key);
    run(db, "PRAGMA page_size = 2048; PRAGMA application_id = 1397052492; PRAGMA user_version = 7");
    fill(db, 0, 5);
  }
  const std::string head = sql::file_head(path, key.get());
  REQUIRE(head.size() == 100);
  CHECK(head.substr(0, 16) == std::string("SQLite format 3\0", 16));
  CHECK(static_cast<unsigned char>(head[16]) * 256 + static_cast<unsigned char>(head[17]) == 2048);
  // A second connection reads the header (100 bytes at 0, 16 at 24) first.
  sql::Db db = open_db(path, key, sql::OpenMode::read_only);
  CHECK(count(db, "PRAGMA user_version") == 7);
  CHECK(count(db, "PRAGMA application_id") == 1397052492);
  CHECK(count(db, "PRAGMA page_size") == 2048);
}

TEST_CASE("crypt: the wrong key, no key, or a key for a plain file: each its message, no byte changed") {
  TestDir dir("crypt-refuse");
  const auto key = make_key('k');
  const auto other = make_key('o');
  const auto enc = dir.file("ledger.db");
  const auto plain = dir.file("plain.db");
  {
    sql::Db db = open_db(enc, key);
    run(db, "PRAGMA journal_mode = WAL");
    fill(db, 0, 20);
    sql::Db p = open_db(plain, nullptr);
    fill(p, 0, 20);
  }
  const auto enc_hash = file_hash(enc);
  const auto plain_hash = file_hash(plain);
  const auto refused = [](const std::string& path, const sql::Key& k, std::string_view message) {
    for (auto mode : {sql::OpenMode::read_only, sql::OpenMode::read_write, sql::OpenMode::read_write_create}) {
      auto db = sql::Db::open(path, {.mode = mode, .key = k});
      REQUIRE_FALSE(db.ok());
      CHECK(db.error().code == sql::Errc::key);
      CHECK_MESSAGE(db.error().message.find(message) != std::string::npos, db.error().message);
    }
  };
  refused(enc, other, "ledger.db cannot be decrypted with this key");
  refused(enc, nullptr, "ledger.db is encrypted: the key is missing (storage.key_file or the ledger-key credential)");
  refused(plain, key, "plain.db is not encrypted: run `settlectl ledger encrypt`");
  CHECK(file_hash(enc) == enc_hash);
  CHECK(file_hash(plain) == plain_hash);
  CHECK_FALSE(std::filesystem::exists(enc + "-wal"));

  // The ledger and the red list say the same through their own open.
  const auto led = ledger::Ledger::open(enc, {.create_if_missing = false, .key = other});
  REQUIRE_FALSE(led.ok());
  CHECK(led.error().problem == ledger::OpenProblem::key);
  CHECK(led.error().message.find("cannot be decrypted with this key") != std::string::npos);
  const auto led2 = ledger::Ledger::open(plain, {.create_if_missing = false, .key = key});
  REQUIRE_FALSE(led2.ok());
  CHECK(led2.error().message.find("is not encrypted: run `settlectl ledger encrypt`") != std::string::npos);
  const auto red = redlist::Store::open(enc, nullptr);
  REQUIRE_FALSE(red.ok());
  CHECK(red.error().message.find("is encrypted: the key is missing") != std::string::npos);
  CHECK(file_hash(enc) == enc_hash);
  CHECK(file_hash(plain) == plain_hash);

  // A plain file whose header was wiped is damaged, not encrypted.
  const auto wiped = dir.file("wiped.db");
  std::filesystem::copy_file(plain, wiped);
  {
    std::fstream f(wiped, std::ios::in | std::ios::out | std::ios::binary);
    f.write(std::string(16, '\0').data(), 16);
  }
  CHECK(sql::look_at(wiped, nullptr) == sql::FileLook::other);
  const auto led3 = ledger::Ledger::open(wiped, {.create_if_missing = false});
  REQUIRE_FALSE(led3.ok());
  CHECK(led3.error().problem == ledger::OpenProblem::not_sqlite);
}

TEST_CASE("crypt: a key file open to other users, or too short, is refused") {
  TestDir dir("crypt-keyfile");
  const auto f = dir.file("key");
  std::ofstream(f) << std::string(64, 'a') << "\n";
  ::chmod(f.c_str(), 0644);
  auto k = sql::StorageKey::load(f);
  REQUIRE_FALSE(k.ok());
  CHECK(k.error().message.find("is open to other users (mode 0644)") != std::string::npos);
  ::chmod(f.c_str(), 0640);
  CHECK(sql::StorageKey::load(f).ok());
  ::chmod(f.c_str(), 0600);
  auto text = sql::StorageKey::load(f);
  REQUIRE(text.ok());
  // The trailing newline of a text key is not part of it.
  std::ofstream(f, std::ios::trunc) << std::string(64, 'a');
  auto same = sql::StorageKey::load(f);
  REQUIRE(same.ok());
  CHECK((*same)->db_key() == (*text)->db_key());
  CHECK((*same)->db_key() != (*same)->wal_key());
  std::ofstream(f, std::ios::trunc) << "short";
  auto shorter = sql::StorageKey::load(f);
  REQUIRE_FALSE(shorter.ok());
  CHECK(shorter.error().message.find("needs at least 32") != std::string::npos);
}

TEST_CASE("crypt: a ledger and a red list plain -> encrypted -> rekeyed keep every row, owner and mode") {
  TestDir dir("crypt-migrate");
  const auto key = make_key('k');
  const auto next = make_key('n');
  const auto path = dir.file("ledger.db");
  std::string before;
  {
    auto led = ledger::Ledger::open(path);
    REQUIRE(led.ok());
    auto s = (*led)->write_wait([](sql::Db& db) -> sql::Status {
      fill(db, 0, 100, false);
      return settle::Ok{};
    });
    REQUIRE(s.ok());
    before = (*led)->read([](sql::Db& db) -> sql::Result<std::string> { return dump(db, "SELECT * FROM t ORDER BY id"); }).value();
  }
  ::chmod(path.c_str(), 0640);
  // The rows are in the file or still in its WAL (a read-only connection closed last).
  REQUIRE((contains(file_bytes(path), kCard) || contains(file_bytes(path + "-wal"), kCard)));

  // While another process holds the ledger: refused, nothing changed.
  {
    auto held = ledger::Ledger::open(path);
    REQUIRE(held.ok());
    const auto h = file_hash(path);
    auto busy = sql::rewrite_file(path, nullptr, key);
    REQUIRE_FALSE(busy.ok());
    CHECK(busy.error().message.find("stop settled first") != std::string::npos);
    CHECK(file_hash(path) == h);
  }
  auto pages = sql::rewrite_file(path, nullptr, key);
  REQUIRE_MESSAGE(pages.ok(), (pages.ok() ? "" : pages.error().message));
  CHECK(*pages > 10);
  CHECK_FALSE(contains(file_bytes(path), kCard));
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));
  CHECK_FALSE(starts_with_magic(path));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  const auto check_rows = [&](const sql::Key& k) {
    auto led = ledger::Ledger::open(path, {.create_if_missing = false, .key = k});
    REQUIRE_MESSAGE(led.ok(), (led.ok() ? "" : led.error().message));
    CHECK((*led)->schema_version() == ledger::current_schema_version());
    auto after = (*led)->read([](sql::Db& db) -> sql::Result<std::string> { return dump(db, "SELECT * FROM t ORDER BY id"); });
    CHECK(after.value() == before);
  };
  check_rows(key);
  // The old key no longer opens it after a rekey; the new one does.
  auto re = sql::rewrite_file(path, key, next);
  REQUIRE_MESSAGE(re.ok(), (re.ok() ? "" : re.error().message));
  check_rows(next);
  auto old = sql::Db::open(path, {.mode = sql::OpenMode::read_only, .key = key});
  REQUIRE_FALSE(old.ok());
  CHECK(old.error().message.find("cannot be decrypted with this key") != std::string::npos);
  // With the wrong key the rewrite itself is refused and changes nothing.
  const auto h = file_hash(path);
  CHECK_FALSE(sql::rewrite_file(path, key, next).ok());
  CHECK(file_hash(path) == h);

  // The red list: built encrypted, found by card, and moved from plain.
  const auto list = dir.file("redlist.db");
  {
    auto store = redlist::Store::open(list, key);
    REQUIRE_MESSAGE(store.ok(), (store.ok() ? "" : store.error().message));
    auto sync = (*store)->begin_sync(true);
    REQUIRE(sync.ok());
    insurer::RedList::Output page;
    page.since_version = 0;
    page.version = 4;
    page.page_num = 1;
    page.total = 1;
    page.more = false;
    page.entries.push_back(insurer::RedListEntry{std::string(kCard), "P1", "310", PersonFlags::from_bits(0),
                                                 Amount::fen(1), Amount::fen(2), "upsert"});
    REQUIRE((*sync)->add(page).ok());
    REQUIRE((*sync)->commit(1).ok());
    auto e = (*store)->lookup(kCard);
    REQUIRE(e.ok());
    REQUIRE(e->has_value());
    CHECK((*e)->psn_no == "P1");
  }
  CHECK_FALSE(contains(file_bytes(list), kCard));
  REQUIRE(sql::rewrite_file(list, key, nullptr).ok());
  CHECK(contains(file_bytes(list), kCard));
  REQUIRE(sql::rewrite_file(list, nullptr, next).ok());
  auto store = redlist::Store::open(list, next);
  REQUIRE_MESSAGE(store.ok(), (store.ok() ? "" : store.error().message));
  CHECK((*store)->info().version == 4);
  CHECK((*store)->lookup(kCard).value().has_value());
}
