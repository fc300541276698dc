// Making a file's contents, or a directory's names, durable by path: the one
// fsync by path of offline/ and the tools (a new file before its rename, the
// directory after it). Defined in offline/fsync.cpp.
#pragma once

#include "offline/sqlite.hpp"

#include <string>

namespace settle::sql {

// fsync of `path`, opened read-only (a directory when `directory`, so that a
// rename or a new file in it lasts a crash). On failure Errc::io, the step
// and the system's error in the message: "open PATH: <strerror>" or
// "fsync PATH: <strerror>"; callers add what they were doing.
Status fsync_path(const std::string& path, bool directory);

}  // namespace settle::sql
