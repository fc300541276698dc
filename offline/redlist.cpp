// The red-list store: its file (identity checks, creation by rename), the
// pool of read connections for lookups, and syncs (a full snapshot built in
// a fresh file and renamed over the live one; a delta in one transaction).
#include "offline/redlist.hpp"

#include "offline/file_lock.hpp"
#include "offline/fsync.hpp"
#include "offline/storage_key.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace settle::redlist {

namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE entries(
  card_no TEXT PRIMARY KEY,
  psn_no TEXT NOT NULL,
  insutype TEXT NOT NULL,
  flags INTEGER NOT NULL,
  deductible_used INTEGER NOT NULL,
  fund_paid_ytd INTEGER NOT NULL) WITHOUT ROWID;
)sql";

constexpr std::string_view kAdvice =
    "it is left untouched: check the configured [redlist] path, or move the file aside and let the daemon "
    "download the whole list again (settlectl redlist sync --full)";

// Lookups read through mmap: the list's pages are the page cache's, not the
// process's anonymous memory.
constexpr std::int64_t kMmapBytes = 2'000'000'000;

Error storage(const std::string& path, std::string message) {
  return make_error(Reason::storage_failed, path, fmt::format("red list {} {}", path, message));
}
Error storage(const std::string& path, const sql::DbError& e) { return storage(path, e.message); }

Error bad_page(std::string field, std::string message) {
  return make_error(Reason::invalid_request, std::move(field), "9303 page refused: " + std::move(message));
}

std::string masked(std::string_view card_no) {
  if (card_no.size() <= 4) return std::string(card_no.size(), '*');
  return fmt::format("{}{}{}", card_no.substr(0, 2), std::string(card_no.size() - 4, '*'),
                     card_no.substr(card_no.size() - 2));
}

// A red list file or its directory made durable, the failure worded as the red list's.
Status fsync_path(const std::string& path, bool directory) {
  if (auto s = sql::fsync_path(path, directory); !s) return storage(path, s.error());
  return Ok{};
}

std::string dir_of(const std::string& path) {
  auto d = std::filesystem::path(path).parent_path();
  return d.empty() ? std::string(".") : d.string();
}

void remove_with_sidecars(const std::string& file) {
  std::error_code ec;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) std::filesystem::remove(file + suffix, ec);
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Decides from the file's first 100 bytes, without SQLite, whether it is a
// red list at all (a foreign file is never opened read-write).
Status inspect_header(const std::string& path, const sql::Key& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return storage(path, fmt::format("cannot be read ({}); {}", std::strerror(errno), kAdvice));
  if (auto problem = sql::key_problem(path, key.get())) return make_error(Reason::storage_failed, path, *problem);
  const std::string head = sql::file_head(path, key.get());
  unsigned char h[100] = {};
  std::memcpy(h, head.data(), head.size());
  const auto n = head.size();
  static constexpr char kMagic[] = "SQLite format 3";
  if (n == 0) return storage(path, fmt::format("is empty (0 bytes), not a red list; {}", kAdvice));
  if (n < sizeof h || std::memcmp(h, kMagic, sizeof kMagic) != 0)
    return storage(path, fmt::format("is not an SQLite database (or is cut short); {}", kAdvice));
  const std::uint32_t app = be32(h + 68), version = be32(h + 60);
  if (app != static_cast<std::uint32_t>(kApplicationId))
    return storage(path, fmt::format("is an SQLite database of another kind, not a red list (application_id "
                                     "{:#010x}, expected {:#010x}); {}",
                                     app, static_cast<std::uint32_t>(kApplicationId), kAdvice));
  if (version != static_cast<std::uint32_t>(kSchemaVersion))
    return storage(path, fmt::format("has schema version {}, this build reads {}; {}", version, kSchemaVersion,
                                     kAdvice));
  return Ok{};
}

Result<Info> read_info(sql::Db& db) {
  auto st = db.prepare("SELECT key, value FROM meta");
  if (!st) return storage(db.path(), st.error());
  Info info;
  int seen = 0;
  for (;;) {
    auto row = st->step();
    if (!row) return storage(db.path(), row.error());
    if (!*row) break;
    const std::string_view key = st->column_text_view(0);
    const std::int64_t v = st->column_int64(1);
    if (key == "version") info.version = v, seen |= 1;
    if (key == "entries") info.entries = v, seen |= 2;
    if (key == "synced_at_ms") info.synced_at_ms = v, seen |= 4;
  }
  if (seen != 7) return storage(db.path(), fmt::format("lacks its version, entries or synced_at_ms; {}", kAdvice));
  return info;
}

Status write_info(sql::Db& db, const Info& info) {
  auto st = db.cached("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
  if (!st) return storage(db.path(), st.error());
  for (auto [k, v] : {std::pair{"version", info.version}, std::pair{"entries", info.entries},
                      std::pair{"synced_at_ms", info.synced_at_ms}}) {
    if (auto b = (*st)->bind_all(k, v); !b) return storage(db.path(), b.error());
    if (auto r = (*st)->run(); !r) return storage(db.path(), r.error());
    (*st)->reset();
  }
  return Ok{};
}

// A fresh file at `file` with the schema and identity, configured for a bulk
// load (no journal, no fsync: a crash leaves a file that is thrown away).
Result<std::unique_ptr<sql::Db>> create_fresh(const std::string& file, const sql::Key& key) {
  remove_with_sidecars(file);
  auto db = sql::Db::open(file, {.mode = sql::OpenMode::read_write_create, .key = key});
  if (!db) return storage(file, db.error());
  auto p = std::make_unique<sql::Db>(std::move(*db));
  const std::string setup = fmt::format(
      "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16384;"
      "PRAGMA application_id={}; PRAGMA user_version={};",
      kApplicationId, kSchemaVersion);
  if (auto s = p->exec(setup); !s) return storage(file, s.error());
  if (auto s = p->exec(kSchema); !s) return storage(file, s.error());
  return p;
}

// Makes a fresh file's content final: WAL mode recorded in its header,
// connection closed (which removes its -wal), data on disk.
Status finish_fresh(std::unique_ptr<sql::Db> db) {
  const std::string file = db->path();
  if (auto s = db->query_text("PRAGMA journal_mode=WAL"); !s) return storage(file, s.error());
  db.reset();
  return fsync_path(file, false);
}

}  // namespace

std::string fresh_path(const std::string& path) { return path + ".new"; }

// ---- Store -----------------------------------------------------------------------

Store::Store(std::string path, sql::FileLock lock, sql::Key key)
    : path_(std::move(path)), lock_(std::move(lock)), key_(std::move(key)) {}

Store::~Store() {
  pool_.clear();
  writer_.reset();
  // lock_, declared before them, is released after: the flock outlives every connection.
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path, sql::Key key, bool check_pages) {
  auto lock = sql::FileLock::take(path);
  if (!lock) return storage(path, lock.error().message);
  std::unique_ptr<Store> store(new Store(path, std::move(*lock), std::move(key)));
  remove_with_sidecars(fresh_path(path));  // an interrupted full sync (we hold the lock)

  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    auto fresh = create_fresh(fresh_path(path), store->key_);
    if (!fresh) return fresh.error();
    if (auto s = write_info(**fresh, Info{}); !s) return s.error();
    if (auto s = finish_fresh(std::move(*fresh)); !s) return s.error();
    if (::rename(fresh_path(path).c_str(), path.c_str()) != 0)
      return storage(path, fmt::format("cannot be created: {}", std::strerror(errno)));
    if (auto s = fsync_path(dir_of(path), true); !s) return s.error();
  } else if (!std::filesystem::is_regular_file(path, ec)) {
    return storage(path, fmt::format("is not a regular file; {}", kAdvice));
  } else if (auto h = inspect_header(path, store->key_); !h) {
    return h.error();
  }
  if (auto s = store->open_writer(); !s) return s.error();
  if (check_pages) {
    auto problems = store->writer_->check_pages("PRAGMA quick_check(3)");
    if (!problems) return storage(path, fmt::format("is damaged ({}); {}", problems.error().message, kAdvice));
    if (!problems->empty())
      return storage(path, fmt::format("failed its integrity check ({}); {}", *problems, kAdvice));
  }
  auto info = read_info(*store->writer_);
  if (!info) return info.error();
  store->set_info(*info);
  return store;
}

Status Store::open_writer() {
  auto db = sql::Db::open(path_, {.mode = sql::OpenMode::read_write, .key = key_});
  if (!db) return storage(path_, fmt::format("cannot be opened ({}); {}", db.error().message, kAdvice));
  writer_ = std::make_unique<sql::Db>(std::move(*db));
  // journal_mode first: it reads the header, so a damaged file fails here.
  auto mode = writer_->query_text("PRAGMA journal_mode=WAL");
  if (!mode) return storage(path_, fmt::format("cannot be read ({}); {}", mode.error().message, kAdvice));
  if (auto s = writer_->exec("PRAGMA synchronous=FULL; PRAGMA cache_size=-4096"); !s) return storage(path_, s.error());
  return Ok{};
}

void Store::set_info(const Info& info) {
  std::lock_guard lock(info_mu_);
  info_ = info;
}

Info Store::info() const {
  std::lock_guard lock(info_mu_);
  return info_;
}

Result<std::string> Store::check_integrity(const std::atomic<bool>* stop) const {
  auto db = sql::Db::open(path_, {.mode = sql::OpenMode::read_only, .key = key_});
  if (!db) return storage(path_, db.error());
  auto problems = db->check_pages("PRAGMA quick_check(3)", stop);
  if (!problems) return storage(path_, problems.error());
  return *problems;
}

Result<std::optional<Entry>> Store::lookup(std::string_view card_no) const {
  std::shared_lock swap_lock(swap_mu_, std::defer_lock);
  {
    std::lock_guard gate(gate_);
    swap_lock.lock();
  }
  std::unique_ptr<sql::Db> db;
  {
    std::lock_guard lock(pool_mu_);
    if (!pool_.empty()) {
      db = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (!db) {
    auto opened = sql::Db::open(path_, {.mode = sql::OpenMode::read_write, .key = key_});
    if (!opened) return storage(path_, opened.error());
    db = std::make_unique<sql::Db>(std::move(*opened));
    // An encrypted list is never mapped (its pages are ciphertext on disk).
    const std::int64_t mmap_bytes = key_ ? 0 : kMmapBytes;
    if (auto s = db->exec(fmt::format("PRAGMA query_only=1; PRAGMA cache_size=-512; PRAGMA mmap_size={}", mmap_bytes));
        !s)
      return storage(path_, s.error());
  }
  auto st = db->cached(
      "SELECT psn_no, insutype, flags, deductible_used, fund_paid_ytd FROM entries WHERE card_no = ?1");
  if (!st) return storage(path_, st.error());
  if (auto b = (*st)->bind(1, card_no); !b) return storage(path_, b.error());
  auto row = (*st)->step();
  if (!row) return storage(path_, row.error());
  std::optional<Entry> e;
  if (*row) {
    e = Entry{std::string(card_no),
              (*st)->column_text(0),
              (*st)->column_text(1),
              PersonFlags::from_bits(static_cast<std::uint8_t>((*st)->column_int64(2))),
              Amount::fen((*st)->column_int64(3)),
              Amount::fen((*st)->column_int64(4))};
  }
  (*st)->reset();
  std::lock_guard lock(pool_mu_);
  pool_.push_back(std::move(db));
  return e;
}

Result<std::unique_ptr<Sync>> Store::begin_sync(bool full) {
  if (syncing_.exchange(true))
    return make_error(Reason::invalid_state, "redlist", "a red-list sync is already running");
  const Info now = info();
  std::unique_ptr<Sync> sync(new Sync(*this, full, full ? 0 : now.version, full ? 0 : now.entries));
  if (full) {
    auto fresh = create_fresh(fresh_path(path_), key_);
    if (!fresh) return fresh.error();  // ~Sync clears syncing_
    sync->fresh_ = std::move(*fresh);
    sync->db_ = sync->fresh_.get();
  } else {
    sync->db_ = writer_.get();
  }
  auto tx = sql::Transaction::begin(*sync->db_, sql::TxKind::immediate);
  if (!tx) return storage(sync->db_->path(), tx.error());
  sync->tx_.emplace(std::move(*tx));
  return sync;
}

Status Store::swap_in(const std::string& fresh, const Info& info) {
  std::lock_guard gate(gate_);
  std::unique_lock lock(swap_mu_);
  {
    std::lock_guard pool_lock(pool_mu_);
    pool_.clear();
  }
  writer_.reset();  // the last connection: checkpoints and removes -wal and -shm
  std::error_code ec;
  if (std::filesystem::exists(path_ + "-wal", ec)) {
    // Someone else (another program) still has the live file open: renaming
    // over it now would pair its WAL with the new file.
    auto s = open_writer();
    return storage(path_, fmt::format("still has a write-ahead log after closing (another program has it open?); "
                                      "the new version was not installed{}",
                                      s ? "" : " and the file cannot be reopened"));
  }
  std::filesystem::remove(path_ + "-shm", ec);
  if (::rename(fresh.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    (void)open_writer();
    return storage(path_, fmt::format("cannot be replaced by {}: {}", fresh, std::strerror(err)));
  }
  if (auto s = fsync_path(dir_of(path_), true); !s) {
    (void)open_writer();
    return s;
  }
  set_info(info);
  return open_writer();
}

// ---- Sync ------------------------------------------------------------------------

Sync::Sync(Store& store, bool full, std::int64_t since, std::int64_t entries)
    : store_(store), full_(full), since_(since), entries_(entries) {}

Sync::~Sync() {
  tx_.reset();  // rolls back an uncommitted delta
  if (fresh_) {
    const std::string file = fresh_->path();
    fresh_.reset();
    remove_with_sidecars(file);
  }
  store_.syncing_.store(false);
}

Status Sync::add(const insurer::RedList::Output& page) {
  if (failed_) return make_error(Reason::invalid_state, "redlist", "this sync failed earlier; start a new one");
  if (committed_ || complete_)
    return bad_page("page_num", fmt::format("page {} comes after the last page", page.page_num));
  Status s = apply(page);
  if (!s) failed_ = true;
  return s;
}

Status Sync::apply(const insurer::RedList::Output& page) {
  if (page.since_version != since_)
    return bad_page("since_version",
                    fmt::format("since_version {} is not the requested {}", page.since_version, since_));
  if (page.page_num != next_page_)
    return bad_page("page_num", fmt::format("page_num {} is not the requested {}", page.page_num, next_page_));
  const auto n = static_cast<std::int64_t>(page.entries.size());
  if (next_page_ == 1) {
    if (page.version < since_)
      return bad_page("version", fmt::format("version {} is below since_version {}", page.version, since_));
    if (!full_ && page.version == since_ && page.total != 0)
      return bad_page("total", fmt::format("{} entries for no change of version", page.total));
    to_ = page.version;
    total_ = page.total;
  } else {
    if (page.version != to_)
      return bad_page("version", fmt::format("page {} is of version {}, page 1 was of version {}", page.page_num,
                                             page.version, to_));
    if (page.total != *total_)
      return bad_page("total", fmt::format("page {} counts {} entries, page 1 counted {} (the list changed "
                                           "while it was being paged)",
                                           page.page_num, page.total, *total_));
  }
  if (applied_ + n > *total_)
    return bad_page("entries", fmt::format("page {} brings the entries to {}, above the total {}", page.page_num,
                                           applied_ + n, *total_));
  if (n == 0 && *total_ != 0)
    return bad_page("entries", fmt::format("page {} is empty before the total {} was reached", page.page_num, *total_));
  const bool last = applied_ + n == *total_;
  if (page.more == last)
    return bad_page("more", fmt::format("page {} says more={} with {} of {} entries received", page.page_num,
                                        page.more ? "true" : "false", applied_ + n, *total_));
  sql::Db& db = *db_;
  auto fail_db = [&](const sql::DbError& e) { return storage(db.path(), e); };
  if (full_) {
    auto ins = db.cached(
        "INSERT INTO entries(card_no, psn_no, insutype, flags, deductible_used, fund_paid_ytd) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!ins) return fail_db(ins.error());
    for (std::size_t i = 0; i < page.entries.size(); ++i) {
      const insurer::RedListEntry& e = page.entries[i];
      if (e.op != "upsert") continue;  // nothing to delete in a snapshot
      if (auto b = (*ins)->bind_all(e.card_no, e.psn_no, e.insutype, static_cast<std::int64_t>(e.flags.bits()),
                                    e.deductible_used.fen(), e.fund_paid_ytd.fen());
          !b)
        return fail_db(b.error());
      auto r = (*ins)->run();
      (*ins)->reset();
      if (r.is(sql::Errc::unique))
        return bad_page("entries", fmt::format("entry {} of page {}: card_no {} appears twice in the snapshot", i + 1,
                                               page.page_num, masked(e.card_no)));
      if (!r) return fail_db(r.error());
      ++entries_;
    }
  } else {
    auto upd = db.cached(
        "UPDATE entries SET psn_no = ?2, insutype = ?3, flags = ?4, deductible_used = ?5, fund_paid_ytd = ?6 "
        "WHERE card_no = ?1");
    if (!upd) return fail_db(upd.error());
    auto ins = db.cached(
        "INSERT INTO entries(card_no, psn_no, insutype, flags, deductible_used, fund_paid_ytd) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!ins) return fail_db(ins.error());
    auto del = db.cached("DELETE FROM entries WHERE card_no = ?1");
    if (!del) return fail_db(del.error());
    for (const insurer::RedListEntry& e : page.entries) {
      if (e.op == "delete") {
        if (auto b = (*del)->bind(1, e.card_no); !b) return fail_db(b.error());
        auto r = (*del)->run();
        (*del)->reset();
        if (!r) return fail_db(r.error());
        entries_ -= db.changes();
        continue;
      }
      for (sql::Statement* st : {*upd, *ins}) {
        if (auto b = st->bind_all(e.card_no, e.psn_no, e.insutype, static_cast<std::int64_t>(e.flags.bits()),
                                  e.deductible_used.fen(), e.fund_paid_ytd.fen());
            !b)
          return fail_db(b.error());
        auto r = st->run();
        st->reset();
        if (!r) return fail_db(r.error());
        if (db.changes() == 1) {
          if (st == *ins) ++entries_;
          break;
        }
      }
    }
  }
  applied_ += n;
  ++next_page_;
  complete_ = last;
  return Ok{};
}

Result<Info> Sync::commit(std::int64_t now_ms) {
  if (failed_) return make_error(Reason::invalid_state, "redlist", "this sync failed earlier; nothing was applied");
  if (committed_) return make_error(Reason::invalid_state, "redlist", "this sync was committed already");
  if (!complete_)
    return make_error(Reason::invalid_state, "redlist",
                      fmt::format("the sync is incomplete ({} entries received{}); nothing was applied", applied_,
                                  total_ ? fmt::format(" of {}", *total_) : std::string()));
  const Info info{to_, entries_, now_ms};
  if (auto s = write_info(*db_, info); !s) {
    failed_ = true;
    return s.error();
  }
  if (auto c = tx_->commit(); !c) {
    failed_ = true;
    return storage(db_->path(), c.error());
  }
  tx_.reset();
  committed_ = true;
  if (!full_) {
    store_.set_info(info);
    return info;
  }
  const std::string file = fresh_->path();
  db_ = nullptr;
  if (auto s = finish_fresh(std::move(fresh_)); !s) {
    remove_with_sidecars(file);
    return s.error();
  }
  if (auto s = store_.swap_in(file, info); !s) {
    remove_with_sidecars(file);
    return s.error();
  }
  return info;
}

}  // namespace settle::redlist
