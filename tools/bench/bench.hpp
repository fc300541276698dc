// The bench tool's frame: named sections registered from their own .cpp
// files (section_<name>.cpp), run by `bench <name>...` or `bench all`, and
// the helpers every section shares (a scratch directory on a real disk,
// latency percentiles, a table printer, PASS/FAIL targets).
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace settle::sql {
class StorageKey;
}

namespace settle::bench {

// The VFS every raw SQLite operation opens its file through: SQLite's own,
// without the gathering of WAL writes that settled's connections have
// (offline/wal_gather.hpp), so a raw commit stays a bare SQLite commit.
inline constexpr std::string_view kBareVfs = "unix";

struct Context {
  bool json = false;        // print one JSON object per section instead of tables
  std::string dir;          // scratch directory on a real disk (never tmpfs)
  double seconds = 3.0;     // how long each measurement runs
  std::vector<std::string> args;  // section-specific arguments (after "--")
};

// A section returns 0 when every target passed, 1 when one failed, 2 on error.
using SectionFn = int (*)(const Context&);

struct Section {
  std::string_view name;
  std::string_view summary;
  SectionFn run;
};

// Registers a section at static-initialisation time (see SETTLE_BENCH_SECTION).
bool register_section(const Section& s);
const std::vector<Section>& sections();

#define SETTLE_BENCH_SECTION(name, summary, fn) \
  static const bool settle_bench_registered_##fn = ::settle::bench::register_section({name, summary, fn})

// ---- helpers -------------------------------------------------------------------

using Clock = std::chrono::steady_clock;

// Latencies in microseconds.
struct Latencies {
  std::vector<std::int64_t> us;
  void add(Clock::duration d) { us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(d).count()); }
  // p in [0, 100]; sorts on first use.
  double percentile_ms(double p);
};

// The file system type of a directory ("ext4", "tmpfs", "overlay", ...).
std::string filesystem_type(const std::string& dir);
// True for memory-backed file systems where fsync costs nothing.
bool is_memory_filesystem(const std::string& dir);

// A storage key of 32 random bytes for the encrypted measurements (null and
// a message on stderr when it cannot be made).
std::shared_ptr<const settle::sql::StorageKey> bench_storage_key();

// A fresh directory under ctx.dir, removed by the destructor.
class ScratchDir {
 public:
  ScratchDir(const Context& ctx, std::string_view name);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(std::string_view name) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A target: "value op limit", printed as PASS or FAIL.
struct Target {
  std::string what;   // "32 writers / raw commits/s"
  double value = 0;
  std::string op;     // ">=" or "<="
  double limit = 0;
  bool pass() const { return op == ">=" ? value >= limit : value <= limit; }
};

// Prints rows as an aligned text table with a header row.
void print_table(const std::vector<std::vector<std::string>>& rows);

// Prints the targets as a table (value, limit, PASS/FAIL) and a blank line.
// `unit` follows each number ("x" for ratios, "" for plain values).
void print_targets(const std::vector<Target>& targets, std::string_view unit = "x");

}  // namespace settle::bench
