// A write-failure shim for fault tests: loaded with LD_PRELOAD into a real
// daemon, it makes every write, flush, truncation and allocation of the
// ledger's files (a path with "ledger.db" in it: the file, its WAL, shared
// memory, journal and lock) fail while the file named by SETTLE_FAIL_WRITES
// exists. The error is the one the flag file names ("ENOSPC": a full disk,
// "EROFS": a read-only file system, which also refuses opening for writing),
// else SETTLE_FAIL_ERRNO's, else EIO. With ENOSPC a truncation that does not
// grow the file still succeeds, as on a real full disk; statvfs() of a ledger
// file says what the failure plays (no space left, or mounted read-only).
// Nothing else is touched.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int errno_named(const char* s) {
  if (std::strncmp(s, "ENOSPC", 6) == 0) return ENOSPC;
  if (std::strncmp(s, "EROFS", 5) == 0) return EROFS;
  if (std::strncmp(s, "EIO", 3) == 0) return EIO;
  return 0;
}

// The errno to fail with now, or 0 when the flag file does not exist.
int failing_errno() {
  const char* flag = std::getenv("SETTLE_FAIL_WRITES");
  if (flag == nullptr) return 0;
  // Read with the raw syscalls: this shim replaces open() and read() is not ours to recurse into.
  const int fd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, flag, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 0;
  char text[16] = {};
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n > 0) {
    if (const int e = errno_named(text)) return e;
  }
  if (const char* env = std::getenv("SETTLE_FAIL_ERRNO"); env != nullptr) {
    if (const int e = errno_named(env)) return e;
  }
  return EIO;
}

bool ledger_path(const char* path) { return path != nullptr && std::strstr(path, "ledger.db") != nullptr; }

// The errno to fail this descriptor's write with, or 0.
int failing(int fd) {
  const int e = failing_errno();
  if (e == 0) return 0;
  char link[64];
  char path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return ledger_path(path) ? e : 0;
}

// An open for writing of a ledger file on a read-only file system.
bool refuse_open(const char* path, int flags) {
  if ((flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) == 0 || !ledger_path(path)) return false;
  return failing_errno() == EROFS;
}

// Whether truncating the file to `length` makes it longer.
bool grows(int fd, off_t length) {
  struct stat st {};
  return ::fstat(fd, &st) != 0 || length > st.st_size;
}

// A file system's figures as the failure plays it.
template <class S>
void played(S& buf) {
  const int e = failing_errno();
  if (e == ENOSPC) {
    buf.f_bfree = 0;
    buf.f_bavail = 0;
  } else if (e == EROFS) {
    buf.f_flag |= ST_RDONLY;
  }
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

#define SETTLE_FAIL_FD(fd)     \
  if (const int e_ = failing(fd)) { \
    errno = e_;                \
    return -1;                 \
  }

extern "C" {

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  SETTLE_FAIL_FD(fd)
  return next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64")(fd, buf, count, offset);
}
ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  SETTLE_FAIL_FD(fd)
  return next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(fd, buf, count, offset);
}
ssize_t write(int fd, const void* buf, size_t count) {
  SETTLE_FAIL_FD(fd)
  return next<ssize_t (*)(int, const void*, size_t)>("write")(fd, buf, count);
}
int fsync(int fd) {
  SETTLE_FAIL_FD(fd)
  return next<int (*)(int)>("fsync")(fd);
}
int fdatasync(int fd) {
  SETTLE_FAIL_FD(fd)
  return next<int (*)(int)>("fdatasync")(fd);
}
int ftruncate(int fd, off_t length) {
  if (const int e = failing(fd); e != 0 && !(e == ENOSPC && !grows(fd, length))) {
    errno = e;
    return -1;
  }
  return next<int (*)(int, off_t)>("ftruncate")(fd, length);
}
int ftruncate64(int fd, off_t length) {
  if (const int e = failing(fd); e != 0 && !(e == ENOSPC && !grows(fd, length))) {
    errno = e;
    return -1;
  }
  return next<int (*)(int, off_t)>("ftruncate64")(fd, length);
}
int statvfs(const char* path, struct statvfs* buf) {
  const int r = next<int (*)(const char*, struct statvfs*)>("statvfs")(path, buf);
  if (r == 0 && ledger_path(path)) played(*buf);
  return r;
}
int statvfs64(const char* path, struct statvfs64* buf) {
  const int r = next<int (*)(const char*, struct statvfs64*)>("statvfs64")(path, buf);
  if (r == 0 && ledger_path(path)) played(*buf);
  return r;
}
int fallocate(int fd, int mode, off_t offset, off_t len) {
  SETTLE_FAIL_FD(fd)
  return next<int (*)(int, int, off_t, off_t)>("fallocate")(fd, mode, offset, len);
}
int fallocate64(int fd, int mode, off_t offset, off_t len) {
  SETTLE_FAIL_FD(fd)
  return next<int (*)(int, int, off_t, off_t)>("fallocate64")(fd, mode, offset, len);
}
int posix_fallocate(int fd, off_t offset, off_t len) {
  if (const int e = failing(fd)) return e;  // returns the error, errno untouched
  return next<int (*)(int, off_t, off_t)>("posix_fallocate")(fd, offset, len);
}
int posix_fallocate64(int fd, off_t offset, off_t len) {
  if (const int e = failing(fd)) return e;
  return next<int (*)(int, off_t, off_t)>("posix_fallocate64")(fd, offset, len);
}

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & (O_CREAT | O_TMPFILE)) != 0) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  if (refuse_open(path, flags)) {
    errno = EROFS;
    return -1;
  }
  return next<int (*)(const char*, int, ...)>("open")(path, flags, mode);
}
int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & (O_CREAT | O_TMPFILE)) != 0) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  if (refuse_open(path, flags)) {
    errno = EROFS;
    return -1;
  }
  return next<int (*)(const char*, int, ...)>("open64")(path, flags, mode);
}
int openat(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & (O_CREAT | O_TMPFILE)) != 0) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  if (refuse_open(path, flags)) {
    errno = EROFS;
    return -1;
  }
  return next<int (*)(int, const char*, int, ...)>("openat")(dirfd, path, flags, mode);
}

}  // extern "C"
