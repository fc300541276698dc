// A write-failure shim for fault tests: loaded with LD_PRELOAD into a real
// daemon, it makes every write and flush of the ledger's files (a path with
// "ledger.db" in it: the file, its WAL and journal) fail with EIO while the
// file named by SETTLE_FAIL_WRITES exists. Nothing else is touched.
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool failing(int fd) {
  const char* flag = std::getenv("SETTLE_FAIL_WRITES");
  if (flag == nullptr || ::access(flag, F_OK) != 0) return false;
  char link[64];
  char path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, "ledger.db") != nullptr;
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64")(fd, buf, count, offset);
}
ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(fd, buf, count, offset);
}
ssize_t write(int fd, const void* buf, size_t count) {
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return next<ssize_t (*)(int, const void*, size_t)>("write")(fd, buf, count);
}
int fsync(int fd) {
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return next<int (*)(int)>("fsync")(fd);
}
int fdatasync(int fd) {
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return next<int (*)(int)>("fdatasync")(fd);
}

}  // extern "C"
