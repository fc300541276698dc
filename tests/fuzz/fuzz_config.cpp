// Fuzz target for the daemon's config file parsed from a buffer: a Config
// keeping every documented rule, or an INVALID_CONFIG error naming the file;
// never an exception or a crash (docs/fuzzing.md).
#include "tools/settled/config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <optional>
#include <string_view>

#include <unistd.h>

using namespace settle;
using namespace settle::daemon;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

// The folder relative paths resolve against, with a readable "secret".
const std::string& base_dir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const fs::path d = fs::temp_directory_path() / ("settle-fuzz-config-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::ofstream(d / "secret") << "s3cret\n";
    return d.string();
  }();
  return dir;
}

bool digits(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool loopback(const std::optional<std::string>& a) { return !a || *a == "127.0.0.1" || *a == "::1"; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // secret_file is read from disk: keep the fuzzer off device files, /proc
  // and escapes that could spell them (a config is the operator's own file).
  for (std::string_view bad : {"dev", "proc", "sys", "\\u", "\\U"})
    if (text.find(bad) != std::string_view::npos) return 0;

  auto c = parse_config(text, "settled.toml", base_dir());
  if (!c) {
    const Error& e = c.error();
    require(e.reason == Reason::invalid_config, "config errors are INVALID_CONFIG");
    require(e.message.rfind("settled.toml", 0) == 0, "config errors start with the file's name");
    return 0;
  }
  require(c->source == "settled.toml", "the config names its source");
  require(c->institution.code.size() == 12, "the institution code has 12 characters");
  require(digits(c->institution.area, 6) && digits(c->institution.insurer_area, 6), "area codes have 6 digits");
  require(!c->insurer.secret.empty() && c->insurer.secret.back() != '\n', "the secret is read, trimmed");
  require(c->insurer.port >= 1, "the insurer's port is set");
  require(c->insurer.pool_size >= 1 && c->insurer.pool_size <= 64, "pool_size is 1..64");
  require(c->cashier.max_connections >= 1 && c->cashier.max_connections <= 4096, "max_connections is 1..4096");
  require(c->cashier.login_timeout.count() >= 1, "login_timeout_s is at least 1");
  require(loopback(c->cashier.tcp_address) && loopback(c->metrics_address), "listeners are on loopback only");
  require(c->reversal.retry_initial_ms <= c->reversal.retry_max_ms, "retry_max_ms is not below retry_initial_ms");
  require(c->network.failures_to_offline >= 1, "failures_to_offline is at least 1");
  require(c->redlist.page_size >= 1 && c->redlist.page_size <= 1000, "redlist.page_size is 1..1000");
  require(!c->redlist.path.empty() && c->redlist.path != c->ledger_path, "the red list has its own file");
  for (const auto& [window, reader] : c->windows)
    require(!window.empty() && window.size() <= 32 && !reader.empty(), "windows and readers are named");
  for (const OfflineLimits* l : {&c->offline_limits, &c->inpatient_offline_limits})
    require(!l->per_settlement_fund_max.is_negative() && !l->outstanding_fund_max.is_negative(),
            "offline limits are not negative");
  return 0;
}
