// The owner and mode of the ledger's and the red list's files, taken before
// settlectl writes them and given back after (file_owner.hpp).
#include "tools/settlectl/file_owner.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace settle::tools {

std::optional<FileOwner> owner_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return FileOwner{st.st_uid, st.st_gid, static_cast<mode_t>(st.st_mode & 07777)};
  const auto dir = std::filesystem::absolute(path).parent_path().string();
  if (::stat(dir.c_str(), &st) == 0) return FileOwner{st.st_uid, st.st_gid, 0600};
  return std::nullopt;
}

std::optional<std::string> keep_owner(const std::string& path, const FileOwner& owner) {
  if (::geteuid() != 0) return std::nullopt;
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".lock"}) {
    const std::string p = path + suffix;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_uid != owner.uid || st.st_gid != owner.gid) && ::chown(p.c_str(), owner.uid, owner.gid) != 0)
      return fmt::format("chown {} to {}:{}: {}", p, owner.uid, owner.gid, std::strerror(errno));
    if (*suffix == '\0' && (st.st_mode & 07777) != owner.mode && ::chmod(p.c_str(), owner.mode) != 0)
      return fmt::format("chmod {}: {}", p, std::strerror(errno));
  }
  return std::nullopt;
}

}  // namespace settle::tools
