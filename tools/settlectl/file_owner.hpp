// Keeping a data file's owner and mode when settlectl, run as root while
// settled is stopped, writes the ledger or the red list that belong to the
// service's user: the new or changed files (-wal, -shm, .lock too) get them back.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace settle::tools {

struct FileOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0600;  // the permission bits
};

// The owner and mode of `path`; of its directory (mode 0600) when the file is
// not there yet; nullopt when neither is.
std::optional<FileOwner> owner_of(const std::string& path);

// Gives `path` and its sidecars (-wal, -shm, -journal, .lock) that exist the
// owner (and, for the file itself, the mode). Only root can give files away:
// run as anyone else it changes nothing. Returns the first problem, if any.
std::optional<std::string> keep_owner(const std::string& path, const FileOwner& owner);

}  // namespace settle::tools
