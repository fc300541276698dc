// The sidecar lock of offline/file_lock.hpp: open (or make) PATH.lock, flock
// it without waiting, and release it by closing the descriptor.
#include "offline/file_lock.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <utility>

namespace settle::sql {

FileLock::FileLock(FileLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), created_(std::exchange(other.created_, false)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    created_ = std::exchange(other.created_, false);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<FileLock> FileLock::take(const std::string& path) {
  const std::string lock_path = path + ".lock";
  bool created = true;
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {
    created = false;
    fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0)
    return DbError{Errc::io, 0, fmt::format("cannot create its lock file {}: {}", lock_path, std::strerror(errno))};
  FileLock lock(fd, created);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return DbError{Errc::busy, 0, "is open in another process (its .lock is held)"};
    return DbError{Errc::io, 0, fmt::format("cannot lock {}: {}", lock_path, std::strerror(errno))};
  }
  return lock;
}

}  // namespace settle::sql
