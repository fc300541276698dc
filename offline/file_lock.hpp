// The sidecar lock of a database file (PATH.lock, flock'd exclusively without
// waiting): how the ledger, the red list, a rekey and a restore make sure one
// process at a time has the file. Defined in offline/file_lock.cpp.
#pragma once

#include "offline/sqlite.hpp"

#include <string>

namespace settle::sql {

// Held while the object lives: closing its descriptor releases the flock.
// Never taken on the database file itself, whose POSIX locks belong to SQLite.
class FileLock {
 public:
  FileLock() = default;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  // Takes PATH.lock, made with mode 0600 when missing. Errc::busy when another
  // process holds it ("is open in another process (its .lock is held)");
  // Errc::io when it cannot be made or opened ("cannot create its lock file
  // PATH.lock: <strerror>"). Callers name PATH and say what to do.
  static Result<FileLock> take(const std::string& path);

  int fd() const noexcept { return fd_; }
  bool created() const noexcept { return created_; }  // take() made the lock file

 private:
  FileLock(int fd, bool created) noexcept : fd_(fd), created_(created) {}

  int fd_ = -1;
  bool created_ = false;
};

}  // namespace settle::sql
