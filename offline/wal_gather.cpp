// The "settle-gather" SQLite VFS: a shim over another VFS (SQLite's default,
// unix) that writes a transaction's WAL frames to the file in one call instead
// of two a frame (its 24-byte header, then its page), and drops the frames of
// a transaction rolled back when its write lock is released. See
// offline/wal_gather.hpp for the rules.
#include "offline/wal_gather.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace settle::sql {
namespace {

struct GatherVfs {
  sqlite3_vfs vfs;  // first: SQLite sees a sqlite3_vfs*
  sqlite3_vfs* real;
};

// A main database or its WAL, the real VFS's file after it. A WAL holds the
// bytes written and not yet handed on, [start, start + pending->size()).
struct GatherFile {
  sqlite3_file base;  // first: SQLite sees a sqlite3_file*
  GatherFile* partner;  // the database's WAL while it is open, the WAL's database
  const char* db_name;  // a database: its name as SQLite passed it (the key of the open databases)
  std::vector<unsigned char>* pending;  // a WAL: the bytes not yet handed on
  sqlite3_int64 start;
  bool commit_page_next;  // the last frame header was a commit's: what follows it is written through
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
static_assert(sizeof(GatherFile) % 8 == 0, "the real file that follows must stay aligned");

GatherFile* gf(sqlite3_file* f) { return reinterpret_cast<GatherFile*>(f); }
const sqlite3_io_methods& real_of(sqlite3_file* f) { return *gf(f)->real()->pMethods; }

// The open main databases by the name SQLite passed to xOpen: a WAL's name
// leads to it (sqlite3_filename_database), so the WAL finds its database.
// The mutex guards the map only. A database and its WAL belong to one
// connection, whose calls SQLite makes one at a time, so their links to each
// other are read and changed without it.
std::mutex g_open_mu;
std::unordered_map<const char*, GatherFile*>& open_dbs() {
  static auto* dbs = new std::unordered_map<const char*, GatherFile*>;  // never destroyed: files close at exit
  return *dbs;
}

// The most SQLite's unix VFS writes in one call (it cuts a write to 17 bits
// and reports the rest as a full disk).
constexpr std::size_t kWalWriteMax = 0x1ffff;

// ---- the WAL ---------------------------------------------------------------------------

// Hands the pending bytes on in one write (pieces of kWalWriteMax if more).
// They are dropped whether it succeeds or not: on failure SQLite sees the
// error and the transaction's frames are never made part of the log.
int flush(GatherFile* f) {
  const auto& pending = *f->pending;
  int rc = SQLITE_OK;
  for (std::size_t at = 0; at < pending.size() && rc == SQLITE_OK; at += kWalWriteMax) {
    const auto n = static_cast<int>(std::min(kWalWriteMax, pending.size() - at));
    rc = f->real()->pMethods->xWrite(f->real(), pending.data() + at, n, f->start + static_cast<sqlite3_int64>(at));
  }
  f->pending->clear();
  return rc;
}

// One write as SQLite made it, after the pending ones.
int write_through(GatherFile* f, const void* in, int n, sqlite3_int64 off) {
  if (int rc = flush(f); rc != SQLITE_OK) return rc;
  return f->real()->pMethods->xWrite(f->real(), in, n, off);
}

int w_write(sqlite3_file* file, const void* in, int n, sqlite3_int64 off) {
  GatherFile* f = gf(file);
  // Without a database to learn the end of a transaction from, nothing is gathered.
  if (f->partner == nullptr) return write_through(f, in, n, off);
  auto& pending = *f->pending;
  const auto* bytes = static_cast<const unsigned char*>(in);
  // A frame header names the database's size in pages after a commit (bytes
  // 4-7), zero otherwise.
  const bool header = n == kWalFrameHeader;
  if (header) f->commit_page_next = (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
  // Only a write that continues the pending bytes joins them; any other (a
  // frame written again, its checksums rewritten, a new log's header) hands
  // them on first, so the file sees every write in SQLite's order.
  const bool append = !pending.empty() && off == f->start + static_cast<sqlite3_int64>(pending.size());
  if (!append) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    f->start = off;
  }
  try {
    pending.insert(pending.end(), bytes, bytes + n);
  } catch (const std::bad_alloc&) {  // no room to gather: this write goes alone, after the others
    return write_through(f, in, n, off);
  }
  // The commit's page: the transaction's frames are all here. They reach the
  // file before SQLite syncs it or tells other connections of them. So does
  // every write until the next frame header (the rest of a page cut at a
  // sync point, the padding frames after a commit).
  if (!header && f->commit_page_next) return flush(f);
  return pending.size() >= kWalGatherMax ? flush(f) : SQLITE_OK;
}

int w_read(sqlite3_file* file, void* out, int n, sqlite3_int64 off) {
  GatherFile* f = gf(file);
  if (int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_of(file).xRead(f->real(), out, n, off);
}

int w_close(sqlite3_file* file) {
  GatherFile* f = gf(file);
  int rc = flush(f);
  if (f->partner != nullptr) f->partner->partner = nullptr;
  f->partner = nullptr;
  if (f->real()->pMethods != nullptr) {
    const int closed = f->real()->pMethods->xClose(f->real());
    if (rc == SQLITE_OK) rc = closed;
  }
  delete f->pending;
  f->pending = nullptr;
  return rc;
}

int w_truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (int rc = flush(gf(file)); rc != SQLITE_OK) return rc;
  return real_of(file).xTruncate(gf(file)->real(), size);
}
int w_sync(sqlite3_file* file, int flags) {
  if (int rc = flush(gf(file)); rc != SQLITE_OK) return rc;
  return real_of(file).xSync(gf(file)->real(), flags);
}
int w_file_size(sqlite3_file* file, sqlite3_int64* size) {
  if (int rc = flush(gf(file)); rc != SQLITE_OK) return rc;
  return real_of(file).xFileSize(gf(file)->real(), size);
}
int w_file_control(sqlite3_file* file, int op, void* arg) {
  if (int rc = flush(gf(file)); rc != SQLITE_OK) return rc;
  return real_of(file).xFileControl(gf(file)->real(), op, arg);
}

// ---- both ------------------------------------------------------------------------------

int f_lock(sqlite3_file* f, int l) { return real_of(f).xLock(gf(f)->real(), l); }
int f_unlock(sqlite3_file* f, int l) { return real_of(f).xUnlock(gf(f)->real(), l); }
int f_check_reserved(sqlite3_file* f, int* out) { return real_of(f).xCheckReservedLock(gf(f)->real(), out); }
int f_sector_size(sqlite3_file* f) { return real_of(f).xSectorSize(gf(f)->real()); }
int f_device(sqlite3_file* f) { return real_of(f).xDeviceCharacteristics(gf(f)->real()); }

// ---- the database ----------------------------------------------------------------------

int d_read(sqlite3_file* f, void* out, int n, sqlite3_int64 off) { return real_of(f).xRead(gf(f)->real(), out, n, off); }
int d_write(sqlite3_file* f, const void* in, int n, sqlite3_int64 off) {
  return real_of(f).xWrite(gf(f)->real(), in, n, off);
}
int d_truncate(sqlite3_file* f, sqlite3_int64 size) { return real_of(f).xTruncate(gf(f)->real(), size); }
int d_sync(sqlite3_file* f, int flags) { return real_of(f).xSync(gf(f)->real(), flags); }
int d_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f).xFileSize(gf(f)->real(), size); }
int d_file_control(sqlite3_file* f, int op, void* arg) { return real_of(f).xFileControl(gf(f)->real(), op, arg); }
int d_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real_of(f).xShmMap(gf(f)->real(), region, size, extend, out);
}
void d_shm_barrier(sqlite3_file* f) { real_of(f).xShmBarrier(gf(f)->real()); }
int d_shm_unmap(sqlite3_file* f, int del) { return real_of(f).xShmUnmap(gf(f)->real(), del); }
int d_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  if (real_of(f).iVersion < 3) return *out = nullptr, SQLITE_OK;
  return real_of(f).xFetch(gf(f)->real(), off, n, out);
}
int d_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  if (real_of(f).iVersion < 3) return SQLITE_OK;
  return real_of(f).xUnfetch(gf(f)->real(), off, p);
}

// The wal-index's write lock is its lock 0. Released, the connection's
// transaction has ended: committed, its frames were handed on with the
// commit's page; rolled back, what is still pending belongs to no transaction
// and is dropped (handed on later it would overwrite another writer's frames).
int d_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  if ((flags & SQLITE_SHM_UNLOCK) != 0 && (flags & SQLITE_SHM_EXCLUSIVE) != 0 && offset == 0 && n >= 1) {
    if (GatherFile* wal = gf(f)->partner; wal != nullptr) {
      wal->pending->clear();
      wal->commit_page_next = false;
    }
  }
  return real_of(f).xShmLock(gf(f)->real(), offset, n, flags);
}

int d_close(sqlite3_file* file) {
  GatherFile* f = gf(file);
  if (f->db_name != nullptr) {
    std::lock_guard lock(g_open_mu);
    auto it = open_dbs().find(f->db_name);
    if (it != open_dbs().end() && it->second == f) open_dbs().erase(it);
  }
  if (f->partner != nullptr) f->partner->partner = nullptr;
  f->partner = nullptr;
  return f->real()->pMethods != nullptr ? f->real()->pMethods->xClose(f->real()) : SQLITE_OK;
}

// Version 1: SQLite neither maps a WAL file nor keeps its wal-index there.
const sqlite3_io_methods kWalMethods = {
    1,       w_close,     w_read,           w_write,        w_truncate,    w_sync,   w_file_size,
    f_lock,  f_unlock,    f_check_reserved, w_file_control, f_sector_size, f_device, nullptr,
    nullptr, nullptr,     nullptr,          nullptr,        nullptr,
};
const sqlite3_io_methods kDbMethods = {
    3,          d_close,     d_read,           d_write,        d_truncate,    d_sync,   d_file_size,
    f_lock,     f_unlock,    f_check_reserved, d_file_control, f_sector_size, f_device, d_shm_map,
    d_shm_lock, d_shm_barrier, d_shm_unmap,    d_fetch,        d_unfetch,
};

int g_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* real = reinterpret_cast<GatherVfs*>(vfs)->real;
  const bool db = (flags & SQLITE_OPEN_MAIN_DB) != 0, wal = (flags & SQLITE_OPEN_WAL) != 0;
  // Every other file is the real VFS's own, in place (this VFS's files are larger).
  if (!db && !wal) return real->xOpen(real, name, file, flags, out_flags);
  GatherFile* f = gf(file);
  f->base.pMethods = nullptr;
  f->partner = nullptr;
  f->db_name = nullptr;
  f->pending = nullptr;
  f->start = 0;
  f->commit_page_next = false;
  if (wal) {
    f->pending = new (std::nothrow) std::vector<unsigned char>;
    if (f->pending == nullptr) return SQLITE_NOMEM;
  }
  std::memset(f->real(), 0, static_cast<std::size_t>(real->szOsFile));
  const int rc = real->xOpen(real, name, f->real(), flags, out_flags);
  if (rc != SQLITE_OK || f->real()->pMethods == nullptr) {
    if (f->real()->pMethods != nullptr) f->real()->pMethods->xClose(f->real());
    delete f->pending;
    f->pending = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  f->base.pMethods = db ? &kDbMethods : &kWalMethods;
  if (name == nullptr) return SQLITE_OK;
  std::lock_guard lock(g_open_mu);
  if (db) {
    f->db_name = name;
    open_dbs()[name] = f;
  } else if (auto it = open_dbs().find(sqlite3_filename_database(name));
             it != open_dbs().end() && it->second->partner == nullptr) {
    f->partner = it->second;
    it->second->partner = f;
  }
  return SQLITE_OK;
}

}  // namespace

int register_wal_gather(sqlite3_vfs* real, const char* name) noexcept {
  if (real == nullptr || name == nullptr) return SQLITE_MISUSE;
  if (sqlite3_vfs_find(name) != nullptr) return SQLITE_OK;
  auto* g = new (std::nothrow) GatherVfs{};
  if (g == nullptr) return SQLITE_NOMEM;
  // The real VFS's own functions for everything but opening a file: they are
  // handed this VFS, whose fields (pAppData among them) are the real one's.
  g->vfs = *real;
  g->vfs.pNext = nullptr;
  g->vfs.zName = name;
  g->vfs.szOsFile = static_cast<int>(sizeof(GatherFile)) + real->szOsFile;
  g->vfs.xOpen = g_open;
  g->real = real;
  const int rc = sqlite3_vfs_register(&g->vfs, 0);
  if (rc != SQLITE_OK) delete g;
  return rc;  // registered for the life of the process
}

}  // namespace settle::sql
