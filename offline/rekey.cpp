// Encrypting, decrypting and rekeying a database file in place: the backup
// API into a fresh file beside it, checked, made durable, and renamed over
// the original, which stays whole until that rename.
#include "offline/file_lock.hpp"
#include "offline/fsync.hpp"
#include "offline/storage_key.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace settle::sql {
namespace {

DbError io(std::string message) { return DbError{Errc::io, 0, std::move(message)}; }

void remove_with_sidecars(const std::string& file) {
  std::error_code ec;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) std::filesystem::remove(file + suffix, ec);
}

}  // namespace

Result<std::int64_t> rewrite_file(const std::string& path, const Key& from, const Key& to) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return io(fmt::format("{}: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return io(fmt::format("{} is not a regular file", path));
  const auto lock = FileLock::take(path);  // held to the end
  if (lock.is(Errc::busy))
    return DbError{Errc::busy, 0, fmt::format("{} {}: stop settled first", path, lock.error().message)};
  if (!lock) return lock.error();

  const std::string tmp = path + ".rekey";
  remove_with_sidecars(tmp);  // a leftover of an interrupted run (we hold the lock)
  std::int64_t pages = 0;
  {
    auto src = Db::open(path, {.mode = OpenMode::read_write, .key = from});
    if (!src) return src.error();
    // Everything committed into the main file, so no -wal outlives it.
    auto mode = src->query_text("PRAGMA journal_mode");
    if (!mode) return mode.error();
    const bool wal = mode->value_or("") == "wal";
    if (wal) SETTLE_SQL_TRY(src->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    {
      auto dst = Db::open(tmp, {.mode = OpenMode::read_write_create, .key = to});
      if (!dst) return dst.error();
      SETTLE_SQL_TRY(dst->exec("PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL"));
      if (auto b = backup(*src, *dst); !b) {
        dst = DbError{};
        remove_with_sidecars(tmp);
        return b.error();
      }
      auto check = dst->query_text("PRAGMA integrity_check(1)");
      if (!check || check->value_or("") != "ok") {
        std::string what = check ? check->value_or("?") : check.error().message;
        dst = DbError{};
        remove_with_sidecars(tmp);
        return DbError{Errc::corrupt, 0, fmt::format("the copy of {} failed its integrity check ({}); the "
                                                     "original is untouched", path, what)};
      }
      auto n = dst->query_int64("PRAGMA page_count");
      if (!n) return n.error();
      pages = n->value_or(0);
      // The copy keeps the original's journal mode (WAL is in page 1's header).
      if (wal) {
        auto m = dst->query_text("PRAGMA journal_mode = WAL");
        if (!m) return m.error();
      }
    }
    if (::chown(tmp.c_str(), st.st_uid, st.st_gid) != 0 && errno != EPERM)
      return io(fmt::format("chown {}: {}", tmp, std::strerror(errno)));
    if (::chmod(tmp.c_str(), st.st_mode & 07777) != 0) return io(fmt::format("chmod {}: {}", tmp, std::strerror(errno)));
    SETTLE_SQL_TRY(fsync_path(tmp, false));
  }  // the original's last connection: its -wal and -shm are removed
  std::error_code ec;
  std::filesystem::remove(tmp + "-wal", ec);
  std::filesystem::remove(tmp + "-shm", ec);
  if (std::filesystem::exists(path + "-wal", ec) && std::filesystem::file_size(path + "-wal", ec) > 0) {
    remove_with_sidecars(tmp);
    return io(fmt::format("{} still has a write-ahead log after closing (another program has it open?); nothing "
                          "was changed", path));
  }
  std::filesystem::remove(path + "-wal", ec);
  std::filesystem::remove(path + "-shm", ec);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return io(fmt::format("rename {} to {}: {}", tmp, path, std::strerror(errno)));
  auto dir = std::filesystem::absolute(path).parent_path().string();
  SETTLE_SQL_TRY(fsync_path(dir, true));
  return pages;
}

}  // namespace settle::sql
