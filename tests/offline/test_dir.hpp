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
