// Shared helpers of the bench tool: the section registry, percentiles, the
// scratch directory and its file-system check, the table printer.
#include "tools/bench/bench.hpp"

#include "offline/storage_key.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace settle::bench {

namespace {
std::vector<Section>& registry() {
  static std::vector<Section> r;
  return r;
}
}  // namespace

bool register_section(const Section& s) {
  registry().push_back(s);
  std::sort(registry().begin(), registry().end(), [](const Section& a, const Section& b) { return a.name < b.name; });
  return true;
}

const std::vector<Section>& sections() { return registry(); }

std::shared_ptr<const sql::StorageKey> bench_storage_key() {
  std::random_device rd;
  std::vector<std::byte> secret(32);
  for (auto& b : secret) b = static_cast<std::byte>(rd());
  auto key = sql::StorageKey::from_secret(secret, "bench key");
  if (!key) {
    fmt::print(stderr, "bench: {}\n", key.error().message);
    return nullptr;
  }
  return *key;
}

double Latencies::percentile_ms(double p) {
  if (us.empty()) return 0;
  std::sort(us.begin(), us.end());
  const auto n = us.size();
  auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(n - 1) + 0.5);
  idx = std::min(idx, n - 1);
  return static_cast<double>(us[idx]) / 1000.0;
}

std::string filesystem_type(const std::string& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case TMPFS_MAGIC: return "tmpfs";
    case RAMFS_MAGIC: return "ramfs";
    case EXT4_SUPER_MAGIC: return "ext4";  // also ext2/ext3
    case XFS_SUPER_MAGIC: return "xfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlay";
    case NFS_SUPER_MAGIC: return "nfs";
    default: return fmt::format("0x{:x}", static_cast<unsigned long>(st.f_type));
  }
}

bool is_memory_filesystem(const std::string& dir) {
  const std::string t = filesystem_type(dir);
  return t == "tmpfs" || t == "ramfs";
}

ScratchDir::ScratchDir(const Context& ctx, std::string_view name) {
  // A name no other run holds: the pid alone is not enough (every bench in
  // a PID namespace of its own is pid 1: tools/bench/soak-isolated.sh).
  std::filesystem::create_directories(ctx.dir);
  std::string templ = fmt::format("{}/{}-{}-XXXXXX", ctx.dir, name, ::getpid());
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error(fmt::format("cannot make a scratch directory in {}: {}", ctx.dir, std::strerror(errno)));
  path_ = templ;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ScratchDir::file(std::string_view name) const { return fmt::format("{}/{}", path_, name); }

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    std::string line;
    for (std::size_t i = 0; i < rows[k].size(); ++i)
      line += i == 0 ? fmt::format("{:<{}}", rows[k][i], width[i]) : fmt::format("  {:>{}}", rows[k][i], width[i]);
    fmt::print("  {}\n", line);
    if (k == 0) {
      std::size_t total = 0;
      for (auto w : width) total += w + 2;
      fmt::print("  {}\n", std::string(total - 2, '-'));
    }
  }
}

void print_targets(const std::vector<Target>& targets, std::string_view unit) {
  std::vector<std::vector<std::string>> rows{{"target", unit == "x" ? "ratio" : "value", "limit", "result"}};
  for (const auto& t : targets)
    rows.push_back({t.what, fmt::format("{:.2f}{}", t.value, unit), fmt::format("{} {:.1f}{}", t.op, t.limit, unit),
                    t.pass() ? "PASS" : "FAIL"});
  print_table(rows);
  fmt::print("\n");
}

}  // namespace settle::bench
