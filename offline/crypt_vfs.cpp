// Encryption at rest: the "settle-xts" SQLite VFS, a shim over the unix VFS
// (through "settle-gather", offline/wal_gather.hpp) that encrypts every
// database page with AES-256-XTS (OpenSSL EVP), the storage key's derivation
// (HKDF-SHA256) and the look at a file's head.
//
// Where the bytes go (docs/encryption.md):
//   main database   every page, tweak = its page number; the page size is the
//                   size of SQLite's page writes, and page 1's header can be
//                   read before it is known (an XTS prefix decrypts alone);
//   WAL             the 32-byte header and each frame's 24-byte header plain,
//                   each frame's page encrypted, tweak = the frame's number;
//   rollback journal page images (page-sized, 4 bytes after an 8-aligned
//                   record start) encrypted, tweak = their byte offset; the
//                   headers, page numbers and checksums plain;
//   temp files      (statement journals, sorter, temp and transient databases)
//                   AES-256-CTR by byte offset under a random key of the open;
//   -shm, super-journal: plain (no row data).
// The io_methods are version 2: no xFetch, so SQLite never maps a file.
#include "offline/storage_key.hpp"
#include "offline/wal_gather.hpp"

#include <sqlite3.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace settle::sql {
namespace {

constexpr unsigned char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', 0};
constexpr std::int64_t kWalHeader = 32;

bool power_of_two_page(std::int64_t n) { return n >= 512 && n <= 65536 && (n & (n - 1)) == 0; }

// ---- ciphers -------------------------------------------------------------------------

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// AES-256-XTS with a 64-bit little-endian tweak (dm-crypt's "plain64").
class Xts {
 public:
  bool init(const StorageKey::XtsKey& key) {
    enc_.reset(EVP_CIPHER_CTX_new());
    dec_.reset(EVP_CIPHER_CTX_new());
    return enc_ && dec_ && EVP_EncryptInit_ex(enc_.get(), EVP_aes_256_xts(), nullptr, key.data(), nullptr) == 1 &&
           EVP_DecryptInit_ex(dec_.get(), EVP_aes_256_xts(), nullptr, key.data(), nullptr) == 1;
  }
  // One unit (16 bytes or more) in place.
  bool run(bool encrypt, std::uint64_t tweak, unsigned char* data, int n) const {
    unsigned char iv[16] = {};
    for (int i = 0; i < 8; ++i) iv[i] = static_cast<unsigned char>(tweak >> (8 * i));
    EVP_CIPHER_CTX* c = encrypt ? enc_.get() : dec_.get();
    int out = 0;
    if (EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, iv, encrypt ? 1 : 0) != 1) return false;
    return EVP_CipherUpdate(c, data, &out, data, n) == 1 && out == n;
  }

 private:
  Ctx enc_, dec_;
};

// AES-256-CTR keyed at random per open: the counter is the byte offset / 16.
class Ctr {
 public:
  bool init() {
    unsigned char key[32];
    if (RAND_bytes(key, sizeof key) != 1) return false;
    ctx_.reset(EVP_CIPHER_CTX_new());
    const bool ok = ctx_ && EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_ctr(), nullptr, key, nullptr) == 1;
    OPENSSL_cleanse(key, sizeof key);
    return ok;
  }
  bool run(std::int64_t offset, unsigned char* data, int n) const {
    unsigned char iv[16] = {};
    const auto block = static_cast<std::uint64_t>(offset) / 16;
    for (int i = 0; i < 8; ++i) iv[15 - i] = static_cast<unsigned char>(block >> (8 * i));
    if (EVP_EncryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, iv) != 1) return false;
    int out = 0;
    unsigned char skip[16];
    const int lead = static_cast<int>(offset % 16);
    if (lead > 0 && EVP_EncryptUpdate(ctx_.get(), skip, &out, skip, lead) != 1) return false;
    return EVP_EncryptUpdate(ctx_.get(), data, &out, data, n) == 1;
  }

 private:
  Ctx ctx_;
};

// ---- the file ------------------------------------------------------------------------

enum class Kind : std::uint8_t { db, wal, journal, temp, plain };

struct CryptFile {
  sqlite3_file base;  // first: SQLite sees a sqlite3_file*
  Kind kind;
  Xts* xts;
  Ctr* ctr;
  std::int64_t wal_page;  // the WAL's page size, 0 until its header was seen
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

struct VfsData {
  sqlite3_vfs vfs;
  sqlite3_vfs* real;
  const StorageKey* key;
};

sqlite3_vfs* real_vfs(sqlite3_vfs* v) { return reinterpret_cast<VfsData*>(v->pAppData)->real; }
const StorageKey& key_of(sqlite3_vfs* v) { return *reinterpret_cast<VfsData*>(v->pAppData)->key; }

CryptFile* cf(sqlite3_file* f) { return reinterpret_cast<CryptFile*>(f); }

int raw_read(CryptFile* f, void* buf, int n, sqlite3_int64 off) {
  return f->real()->pMethods->xRead(f->real(), buf, n, off);
}
int raw_write(CryptFile* f, const void* buf, int n, sqlite3_int64 off) {
  return f->real()->pMethods->xWrite(f->real(), buf, n, off);
}

// Reads one whole encrypted unit and decrypts it. A unit beyond the end of
// the file reads as zeros (SQLITE_IOERR_SHORT_READ); a unit cut short cannot
// be decrypted and reads as zeros too.
int read_unit(CryptFile* f, std::uint64_t tweak, unsigned char* unit, int n, sqlite3_int64 off) {
  const int rc = raw_read(f, unit, n, off);
  if (rc == SQLITE_IOERR_SHORT_READ) {
    std::memset(unit, 0, static_cast<std::size_t>(n));
    return rc;
  }
  if (rc != SQLITE_OK) return rc;
  return f->xts->run(false, tweak, unit, n) ? SQLITE_OK : SQLITE_IOERR_READ;
}

int write_unit(CryptFile* f, std::uint64_t tweak, const unsigned char* plain, int n, sqlite3_int64 off) {
  std::vector<unsigned char> buf(plain, plain + n);
  if (!f->xts->run(true, tweak, buf.data(), n)) return SQLITE_IOERR_WRITE;
  return raw_write(f, buf.data(), n, off);
}

// The WAL's page size, from its plaintext header (read once).
std::int64_t wal_page_size(CryptFile* f) {
  if (f->wal_page != 0) return f->wal_page;
  unsigned char h[kWalHeader];
  if (raw_read(f, h, sizeof h, 0) != SQLITE_OK) return 0;
  const std::int64_t p = (std::int64_t{h[8]} << 24) | (std::int64_t{h[9]} << 16) | (std::int64_t{h[10]} << 8) | h[11];
  if (!power_of_two_page(p)) return 0;
  f->wal_page = p;
  return p;
}

// One piece of a WAL request: [from, to) of the file, and when it is a page
// the page's unit [unit, unit + page) and its tweak.
struct Piece {
  std::int64_t from = 0, to = 0;
  bool page = false;
  std::int64_t unit = 0;
  std::uint64_t tweak = 0;
};

Piece wal_piece(std::int64_t off, std::int64_t end, std::int64_t page) {
  if (off < kWalHeader) return {off, std::min(end, kWalHeader), false, 0, 0};
  const std::int64_t frame = kWalFrameHeader + page;
  const std::int64_t k = (off - kWalHeader) / frame;
  const std::int64_t start = kWalHeader + k * frame;
  if (off < start + kWalFrameHeader) return {off, std::min(end, start + kWalFrameHeader), false, 0, 0};
  const std::int64_t unit = start + kWalFrameHeader;
  return {off, std::min(end, unit + page), true, unit, static_cast<std::uint64_t>(k + 1)};
}

bool journal_page(std::int64_t off, int n) { return power_of_two_page(n) && off % 8 == 4; }

int x_read(sqlite3_file* file, void* out, int n, sqlite3_int64 off) {
  CryptFile* f = cf(file);
  auto* buf = static_cast<unsigned char*>(out);
  switch (f->kind) {
    case Kind::plain: return raw_read(f, out, n, off);
    case Kind::temp: {
      const int rc = raw_read(f, out, n, off);
      if (rc == SQLITE_IOERR_SHORT_READ) {  // the bytes before the end, then zeros
        sqlite3_int64 size = 0;
        if (f->real()->pMethods->xFileSize(f->real(), &size) != SQLITE_OK) return SQLITE_IOERR_READ;
        const auto have = static_cast<int>(std::clamp<sqlite3_int64>(size - off, 0, n));
        if (have > 0 && !f->ctr->run(off, buf, have)) return SQLITE_IOERR_READ;
        return rc;
      }
      if (rc != SQLITE_OK) return rc;
      return f->ctr->run(off, buf, n) ? SQLITE_OK : SQLITE_IOERR_READ;
    }
    case Kind::journal: {
      const int rc = raw_read(f, out, n, off);
      if (rc != SQLITE_OK || !journal_page(off, n)) return rc;
      return f->xts->run(false, static_cast<std::uint64_t>(off), buf, n) ? SQLITE_OK : SQLITE_IOERR_READ;
    }
    case Kind::db: {
      if (power_of_two_page(n) && off % n == 0) return read_unit(f, static_cast<std::uint64_t>(off / n + 1), buf, n, off);
      // A part of page 1's header (100 bytes at 0, 16 at 24): decrypt the
      // prefix of page 1 that covers it.
      if (off + n > 512) return SQLITE_IOERR_READ;
      const int len = static_cast<int>((off + n + 15) / 16 * 16);
      unsigned char unit[512];
      const int rc = read_unit(f, 1, unit, len, 0);
      std::memcpy(buf, unit + off, static_cast<std::size_t>(n));
      return rc;
    }
    case Kind::wal: {
      const std::int64_t end = off + n;
      std::int64_t at = off;
      int result = SQLITE_OK;
      while (at < end) {
        const std::int64_t page = at < kWalHeader ? 1 : wal_page_size(f);
        if (page == 0) return SQLITE_IOERR_READ;
        const Piece p = wal_piece(at, end, page);
        unsigned char* dst = buf + (p.from - off);
        const int len = static_cast<int>(p.to - p.from);
        int rc;
        if (!p.page) {
          rc = raw_read(f, dst, len, p.from);
        } else if (p.from == p.unit && p.to == p.unit + page) {
          rc = read_unit(f, p.tweak, dst, len, p.unit);
        } else {
          std::vector<unsigned char> unit(static_cast<std::size_t>(page));
          rc = read_unit(f, p.tweak, unit.data(), static_cast<int>(page), p.unit);
          std::memcpy(dst, unit.data() + (p.from - p.unit), static_cast<std::size_t>(len));
        }
        if (rc == SQLITE_IOERR_SHORT_READ) {
          std::memset(buf + (p.from - off), 0, static_cast<std::size_t>(end - p.from));
          return rc;
        }
        if (rc != SQLITE_OK) return rc;
        at = p.to;
      }
      return result;
    }
  }
  return SQLITE_IOERR_READ;
}

int x_write(sqlite3_file* file, const void* in, int n, sqlite3_int64 off) {
  CryptFile* f = cf(file);
  const auto* buf = static_cast<const unsigned char*>(in);
  switch (f->kind) {
    case Kind::plain: return raw_write(f, in, n, off);
    case Kind::temp: {
      std::vector<unsigned char> c(buf, buf + n);
      if (!f->ctr->run(off, c.data(), n)) return SQLITE_IOERR_WRITE;
      return raw_write(f, c.data(), n, off);
    }
    case Kind::journal:
      if (!journal_page(off, n)) return raw_write(f, in, n, off);
      return write_unit(f, static_cast<std::uint64_t>(off), buf, n, off);
    case Kind::db:
      // SQLite writes the database file in whole pages only.
      if (!power_of_two_page(n) || off % n != 0) return SQLITE_IOERR_WRITE;
      return write_unit(f, static_cast<std::uint64_t>(off / n + 1), buf, n, off);
    case Kind::wal: {
      if (off == 0 && n >= kWalHeader) {  // a (new) header: learn the page size
        const std::int64_t p =
            (std::int64_t{buf[8]} << 24) | (std::int64_t{buf[9]} << 16) | (std::int64_t{buf[10]} << 8) | buf[11];
        if (!power_of_two_page(p)) return SQLITE_IOERR_WRITE;
        f->wal_page = p;
      }
      const std::int64_t end = off + n;
      std::int64_t at = off;
      while (at < end) {
        const std::int64_t page = at < kWalHeader ? 1 : wal_page_size(f);
        if (page == 0) return SQLITE_IOERR_WRITE;
        const Piece p = wal_piece(at, end, page);
        const unsigned char* src = buf + (p.from - off);
        const int len = static_cast<int>(p.to - p.from);
        int rc;
        if (!p.page) {
          rc = raw_write(f, src, len, p.from);
        } else if (p.from == p.unit && p.to == p.unit + page) {
          rc = write_unit(f, p.tweak, src, len, p.unit);
        } else {  // a part of a page (a write split at a sync point): read, merge, write
          std::vector<unsigned char> unit(static_cast<std::size_t>(page));
          rc = read_unit(f, p.tweak, unit.data(), static_cast<int>(page), p.unit);
          if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
          std::memcpy(unit.data() + (p.from - p.unit), src, static_cast<std::size_t>(len));
          rc = write_unit(f, p.tweak, unit.data(), static_cast<int>(page), p.unit);
        }
        if (rc != SQLITE_OK) return rc;
        at = p.to;
      }
      return SQLITE_OK;
    }
  }
  return SQLITE_IOERR_WRITE;
}

int x_close(sqlite3_file* file) {
  CryptFile* f = cf(file);
  const int rc = f->real()->pMethods != nullptr ? f->real()->pMethods->xClose(f->real()) : SQLITE_OK;
  delete f->xts;
  delete f->ctr;
  f->xts = nullptr;
  f->ctr = nullptr;
  return rc;
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return cf(f)->real()->pMethods->xTruncate(cf(f)->real(), size); }
int x_sync(sqlite3_file* f, int flags) { return cf(f)->real()->pMethods->xSync(cf(f)->real(), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return cf(f)->real()->pMethods->xFileSize(cf(f)->real(), size);
}
int x_lock(sqlite3_file* f, int l) { return cf(f)->real()->pMethods->xLock(cf(f)->real(), l); }
int x_unlock(sqlite3_file* f, int l) { return cf(f)->real()->pMethods->xUnlock(cf(f)->real(), l); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return cf(f)->real()->pMethods->xCheckReservedLock(cf(f)->real(), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  // No memory map of an encrypted file: SQLite would read ciphertext from it.
  if (op == SQLITE_FCNTL_MMAP_SIZE) {
    *static_cast<sqlite3_int64*>(arg) = 0;
    return SQLITE_OK;
  }
  return cf(f)->real()->pMethods->xFileControl(cf(f)->real(), op, arg);
}
int x_sector_size(sqlite3_file* f) { return cf(f)->real()->pMethods->xSectorSize(cf(f)->real()); }
int x_device(sqlite3_file* f) { return cf(f)->real()->pMethods->xDeviceCharacteristics(cf(f)->real()); }
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return cf(f)->real()->pMethods->xShmMap(cf(f)->real(), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return cf(f)->real()->pMethods->xShmLock(cf(f)->real(), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { cf(f)->real()->pMethods->xShmBarrier(cf(f)->real()); }
int x_shm_unmap(sqlite3_file* f, int del) { return cf(f)->real()->pMethods->xShmUnmap(cf(f)->real(), del); }

// Version 2: the wal-index (xShm*) but no xFetch/xUnfetch, so no memory map.
const sqlite3_io_methods kMethods = {
    2,           x_close,     x_read,           x_write,   x_truncate,    x_sync,        x_file_size,
    x_lock,      x_unlock,    x_check_reserved, x_file_control, x_sector_size, x_device, x_shm_map,
    x_shm_lock,  x_shm_barrier, x_shm_unmap,    nullptr,   nullptr,
};

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  CryptFile* f = cf(file);
  f->base.pMethods = nullptr;
  f->xts = nullptr;
  f->ctr = nullptr;
  f->wal_page = 0;
  sqlite3_vfs* real = real_vfs(vfs);
  std::memset(f->real(), 0, static_cast<std::size_t>(real->szOsFile));
  const StorageKey& key = key_of(vfs);
  const StorageKey::XtsKey* xk = nullptr;
  if ((flags & SQLITE_OPEN_MAIN_DB) != 0) {
    f->kind = Kind::db;
    xk = &key.db_key();
  } else if ((flags & SQLITE_OPEN_WAL) != 0) {
    f->kind = Kind::wal;
    xk = &key.wal_key();
  } else if ((flags & SQLITE_OPEN_MAIN_JOURNAL) != 0) {
    f->kind = Kind::journal;
    xk = &key.journal_key();
  } else if ((flags & SQLITE_OPEN_SUPER_JOURNAL) != 0) {
    f->kind = Kind::plain;  // the names of journals, no row data
  } else {
    f->kind = Kind::temp;  // statement journals, sorter, temp and transient databases
  }
  if (xk != nullptr) {
    f->xts = new Xts;
    if (!f->xts->init(*xk)) {
      delete f->xts;
      f->xts = nullptr;
      return SQLITE_CANTOPEN;
    }
  } else if (f->kind == Kind::temp) {
    f->ctr = new Ctr;
    if (!f->ctr->init()) {
      delete f->ctr;
      f->ctr = nullptr;
      return SQLITE_CANTOPEN;
    }
  }
  const int rc = real->xOpen(real, name, f->real(), flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real()->pMethods != nullptr) f->real()->pMethods->xClose(f->real());
    delete f->xts;
    delete f->ctr;
    f->xts = nullptr;
    f->ctr = nullptr;
    return rc;
  }
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs* v, const char* name, int sync) { return real_vfs(v)->xDelete(real_vfs(v), name, sync); }
int x_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return real_vfs(v)->xAccess(real_vfs(v), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return real_vfs(v)->xFullPathname(real_vfs(v), name, n, out);
}
void* x_dl_open(sqlite3_vfs* v, const char* name) { return real_vfs(v)->xDlOpen(real_vfs(v), name); }
void x_dl_error(sqlite3_vfs* v, int n, char* out) { real_vfs(v)->xDlError(real_vfs(v), n, out); }
void (*x_dl_sym(sqlite3_vfs* v, void* h, const char* sym))(void) { return real_vfs(v)->xDlSym(real_vfs(v), h, sym); }
void x_dl_close(sqlite3_vfs* v, void* h) { real_vfs(v)->xDlClose(real_vfs(v), h); }
int x_randomness(sqlite3_vfs* v, int n, char* out) { return real_vfs(v)->xRandomness(real_vfs(v), n, out); }
int x_sleep(sqlite3_vfs* v, int us) { return real_vfs(v)->xSleep(real_vfs(v), us); }
int x_current_time(sqlite3_vfs* v, double* out) { return real_vfs(v)->xCurrentTime(real_vfs(v), out); }
int x_last_error(sqlite3_vfs* v, int n, char* out) { return real_vfs(v)->xGetLastError(real_vfs(v), n, out); }
int x_current_time64(sqlite3_vfs* v, sqlite3_int64* out) {
  return real_vfs(v)->xCurrentTimeInt64(real_vfs(v), out);
}

std::atomic<int> g_vfs_count{0};

// ---- HKDF ----------------------------------------------------------------------------

bool hkdf(BytesView secret, std::string_view info, unsigned char* out, std::size_t n) {
  EVP_PKEY_CTX* c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  if (c == nullptr) return false;
  static constexpr std::string_view kSalt = "settle storage key v1";
  std::size_t len = n;
  const bool ok =
      EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
      EVP_PKEY_CTX_set1_hkdf_salt(c, reinterpret_cast<const unsigned char*>(kSalt.data()), static_cast<int>(kSalt.size())) == 1 &&
      EVP_PKEY_CTX_set1_hkdf_key(c, reinterpret_cast<const unsigned char*>(secret.data()), static_cast<int>(secret.size())) == 1 &&
      EVP_PKEY_CTX_add1_hkdf_info(c, reinterpret_cast<const unsigned char*>(info.data()), static_cast<int>(info.size())) == 1 &&
      EVP_PKEY_derive(c, out, &len) == 1 && len == n;
  EVP_PKEY_CTX_free(c);
  return ok;
}

DbError key_error(std::string message) { return DbError{Errc::key, 0, std::move(message)}; }

}  // namespace

// ---- StorageKey ----------------------------------------------------------------------

Result<Key> StorageKey::from_secret(BytesView secret, std::string source) {
  if (secret.size() < kMinSecret)
    return key_error(fmt::format("the storage key {} holds {} bytes; it needs at least {} random bytes "
                                 "(openssl rand -out FILE 32)",
                                 source, secret.size(), kMinSecret));
  std::unique_ptr<StorageKey> k(new StorageKey);
  k->source_ = std::move(source);
  if (!hkdf(secret, "settle-xts database pages", k->db_.data(), k->db_.size()) ||
      !hkdf(secret, "settle-xts wal frames", k->wal_.data(), k->wal_.size()) ||
      !hkdf(secret, "settle-xts rollback journal", k->journal_.data(), k->journal_.size()))
    return key_error(fmt::format("the storage key {} could not be derived (OpenSSL HKDF failed)", k->source_));
  sql::configure_library();  // before SQLite's initialisation
  sqlite3_initialize();
  // Over the VFS that gathers WAL frames: the encrypted frames are written in one call too.
  sqlite3_vfs* real = sqlite3_vfs_find(kWalGatherVfs);
  if (real == nullptr) return key_error(fmt::format("SQLite has no VFS named {}", kWalGatherVfs));
  auto* d = new VfsData{};
  d->real = real;
  d->key = k.get();
  k->vfs_name_ = fmt::format("settle-xts#{}", ++g_vfs_count);
  sqlite3_vfs& v = d->vfs;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(sizeof(CryptFile)) + real->szOsFile;
  v.mxPathname = real->mxPathname;
  v.zName = k->vfs_name_.c_str();
  v.pAppData = d;
  v.xOpen = x_open;
  v.xDelete = x_delete;
  v.xAccess = x_access;
  v.xFullPathname = x_full_pathname;
  v.xDlOpen = x_dl_open;
  v.xDlError = x_dl_error;
  v.xDlSym = x_dl_sym;
  v.xDlClose = x_dl_close;
  v.xRandomness = x_randomness;
  v.xSleep = x_sleep;
  v.xCurrentTime = x_current_time;
  v.xGetLastError = x_last_error;
  v.xCurrentTimeInt64 = x_current_time64;
  if (sqlite3_vfs_register(&v, 0) != SQLITE_OK) {
    delete d;
    return key_error("the settle-xts VFS could not be registered");
  }
  k->vfs_ = d;
  return Key(k.release());
}

StorageKey::~StorageKey() {
  if (vfs_ != nullptr) {
    auto* d = static_cast<VfsData*>(vfs_);
    sqlite3_vfs_unregister(&d->vfs);
    delete d;
  }
  OPENSSL_cleanse(db_.data(), db_.size());
  OPENSSL_cleanse(wal_.data(), wal_.size());
  OPENSSL_cleanse(journal_.data(), journal_.size());
}

Result<Key> StorageKey::load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return key_error(fmt::format("the storage key file {} cannot be read: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return key_error(fmt::format("the storage key file {} is not a regular file", path));
  // The same rule as the insurer's private key: its owner, and at most the
  // service's group reading it.
  if ((st.st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0)
    return key_error(fmt::format("the storage key file {} is open to other users (mode {:04o}): it is the owner's "
                                 "alone (chmod 600, or 640 with the service's group)",
                                 path, st.st_mode & 07777));
  if (st.st_size > 4096) return key_error(fmt::format("the storage key file {} is too large to be a key", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return key_error(fmt::format("the storage key file {} cannot be read: {}", path, std::strerror(errno)));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A text key (hex or base64) may end with a newline: it is not part of it.
  bool text = !bytes.empty();
  for (char c : bytes)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\r') text = false;
  if (text)
    while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
  auto k = from_secret(BytesView(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()),
                       fmt::format("file {}", path));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return k;
}

// ---- looking at a file -----------------------------------------------------------------

FileLook look_at(const std::string& path, const StorageKey* key) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileLook::missing;
  unsigned char head[112] = {};
  const ssize_t n = ::pread(fd, head, sizeof head, 0);
  struct stat st {};
  const bool sized = ::fstat(fd, &st) == 0;
  ::close(fd);
  if (n <= 0) return FileLook::missing;
  if (n >= 16 && std::memcmp(head, kMagic, sizeof kMagic) == 0) return FileLook::plain;
  if (key == nullptr) {
    // An encrypted file is whole pages of what looks random: a header wiped
    // to zeros is a damaged file, not an encrypted one.
    const bool zeros = std::all_of(head, head + 16, [](unsigned char c) { return c == 0; });
    return sized && !zeros && st.st_size >= 512 && st.st_size % 512 == 0 ? FileLook::encrypted : FileLook::other;
  }
  if (n < static_cast<ssize_t>(sizeof head)) return FileLook::wrong_key;
  Xts x;
  if (!x.init(key->db_key()) || !x.run(false, 1, head, sizeof head)) return FileLook::wrong_key;
  return std::memcmp(head, kMagic, sizeof kMagic) == 0 ? FileLook::encrypted : FileLook::wrong_key;
}

std::string file_head(const std::string& path, const StorageKey* key) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  unsigned char head[112] = {};
  const ssize_t n = ::pread(fd, head, sizeof head, 0);
  ::close(fd);
  if (n <= 0) return {};
  if (key != nullptr && n == static_cast<ssize_t>(sizeof head)) {
    Xts x;
    if (!x.init(key->db_key()) || !x.run(false, 1, head, sizeof head)) return {};
  }
  return std::string(reinterpret_cast<const char*>(head), static_cast<std::size_t>(std::min<ssize_t>(n, 100)));
}

std::optional<std::string> key_problem(const std::string& path, const StorageKey* key) {
  switch (look_at(path, key)) {
    case FileLook::missing:
    case FileLook::other: return std::nullopt;
    case FileLook::plain:
      if (key == nullptr) return std::nullopt;
      return fmt::format("{} is not encrypted: run `settlectl ledger encrypt`", path);
    case FileLook::encrypted:
      if (key != nullptr) return std::nullopt;
      return fmt::format("{} is encrypted: the key is missing (storage.key_file or the ledger-key credential)", path);
    case FileLook::wrong_key: return fmt::format("{} cannot be decrypted with this key ({})", path, key->source());
  }
  return std::nullopt;
}

std::optional<std::string> key_source(const std::string& configured_key_file) {
  if (!configured_key_file.empty()) return configured_key_file;
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') return std::nullopt;
  std::string cred = (std::filesystem::path(dir) / "ledger-key").string();
  std::error_code ec;
  if (std::filesystem::exists(cred, ec)) return cred;
  return std::nullopt;
}

}  // namespace settle::sql
