// Helpers shared by the simulator's tests: a fresh directory, request
// headers with unique msgids, and reading figures out of replies.
#pragma once

#include "protocol/insurer/codecs.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <unistd.h>

namespace doctest {
template <>
struct StringMaker<settle::Amount> {
  static String convert(const settle::Amount& a) { return settle::format_amount(a).c_str(); }
};
}  // namespace doctest

namespace settle::simtest {

class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    path_ = std::filesystem::path(SETTLE_BINARY_DIR) / "test-tmp" /
            fmt::format("{}-{}-{}", name, ::getpid(), counter()++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::filesystem::path path_;
};

inline constexpr const char* kInstitution = "H11010500001";

// Headers with msgids H11010500001 20261122103045 nnnn (sequence per test).
class Headers {
 public:
  insurer::RequestHeader next(std::string_view infno, const std::string& sign_no) {
    insurer::RequestHeader h;
    h.infno = std::string(infno);
    h.msgid = fmt::format("{}2026112210{:04}{:04}", kInstitution, seq_ / 10000, seq_ % 10000);
    ++seq_;
    h.mdtrtarea_admvs = "110105";
    h.insuplc_admdvs = "110105";
    h.opter = "C007";
    h.opter_name = "cashier 7";
    h.inf_time = "2026-11-22 10:30:45";
    h.fixmedins_code = kInstitution;
    h.fixmedins_name = "test hospital";
    h.sign_no = sign_no;
    return h;
  }

 private:
  int seq_ = 1;
};

}  // namespace settle::simtest
