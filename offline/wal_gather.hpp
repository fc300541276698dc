// Gathering a transaction's WAL frames into one write: the "settle-gather"
// VFS, through which Db::open opens every file unless told otherwise.
// Defined in offline/wal_gather.cpp; reachable from offline/ and its tests.
#pragma once

#include <cstddef>
#include <cstdint>

struct sqlite3_vfs;

namespace settle::sql {

// SQLite writes each WAL frame as two calls, its 24-byte header and then
// its page, so a settlement's commits cost about a hundred write calls.
// Through this VFS the WAL's writes that continue one another are kept in
// memory and handed to the real VFS as one write:
//  - when the page of a commit frame (a header naming the database's size)
//    has been written: the transaction's frames are complete, and they
//    reach the file before SQLite syncs it or records them in the
//    wal-index, whatever the connection's synchronous setting;
//  - before a write elsewhere in the file, a read, a sync, a size, a
//    truncation, a file control and the close;
//  - when kWalGatherMax bytes are pending (a large transaction);
// each handed on in writes of at most 128 KiB, the most the unix VFS takes.
// Nothing is acknowledged earlier than before: an error of the gathered
// write is the error of the call that handed it on (the commit's page
// write or a sync), and frames still pending at a crash belonged to a
// transaction that had not committed. A transaction rolled back after its
// pages spilled to the log leaves frames pending: they are dropped when its
// connection releases the wal-index's write lock (the database file is
// wrapped to see that), so they never land on frames another writer put in
// the same place since. A WAL whose database is not open through this VFS
// is written through, one call a write as before. Every other file (journals,
// temporary files) is the real VFS's own, opened in place.
inline constexpr const char* kWalGatherVfs = "settle-gather";
// A WAL frame's header: the page's number, the database's size in pages
// after a commit frame (zero in the others), the salts and the checksums.
inline constexpr std::int64_t kWalFrameHeader = 24;
inline constexpr std::size_t kWalGatherMax = 256 * 1024;

// Registers a gathering VFS named `name` over `real` (not as the default);
// nothing if one of that name exists. An SQLite result code.
// configure_library() registers kWalGatherVfs over SQLite's default VFS.
int register_wal_gather(sqlite3_vfs* real, const char* name) noexcept;

}  // namespace settle::sql
