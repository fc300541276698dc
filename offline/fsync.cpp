// The fsync by path of offline/fsync.hpp: open read-only, fsync, close, and
// the step that failed with its system error.
#include "offline/fsync.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace settle::sql {

Status fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return DbError{Errc::io, 0, fmt::format("open {}: {}", path, std::strerror(errno))};
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return DbError{Errc::io, 0, fmt::format("fsync {}: {}", path, std::strerror(err))};
  return settle::Ok{};
}

}  // namespace settle::sql
