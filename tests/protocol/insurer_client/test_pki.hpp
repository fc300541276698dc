// The test PKI for insurer link tests: generated once per build tree by
// tools/gen-test-pki.sh (which locks, so parallel test programs are safe).
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace settle::testing {

inline const std::string& test_pki_dir() {
  static const std::string dir = [] {
    std::string d = std::string(SETTLE_BINARY_DIR) + "/pki";
    const std::string cmd =
        std::string(SETTLE_SOURCE_DIR) + "/tools/gen-test-pki.sh '" + d + "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("gen-test-pki.sh failed: " + cmd);
    return d;
  }();
  return dir;
}

inline std::string pki(const std::string& file) { return test_pki_dir() + "/" + file; }

}  // namespace settle::testing
