// A fresh directory per test case under the build tree (a real disk, so
// fsync and WAL behave as in production), removed when the case ends.
#pragma once

#include <filesystem>
#include <string>
#include <unistd.h>

namespace settle::test {

class TestDir {
 public:
  explicit TestDir(const std::string& name) {
    path_ = std::filesystem::path(SETTLE_BINARY_DIR) / "test-tmp" /
            (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TestDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static int& counter() { static int c = 0; return c; }
  std::filesystem::path path_;
};

}  // namespace settle::test

#include <cstdint>
#include <fstream>
#include <iterator>
#include <vector>

namespace settle::test {

// The whole content of a file (empty if it cannot be read).
inline std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// FNV-1a 64 of a file's bytes: printed in failure messages.
inline std::uint64_t file_hash(const std::string& path) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : file_bytes(path)) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace settle::test
