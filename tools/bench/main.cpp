// bench: runs named benchmark sections on this machine's real disk.
//   bench [--json] [--dir DIR] [--seconds S] <section>... | all | --list
// Each section lives in its own section_<name>.cpp and registers itself.
// Exit status: 0 every target passed, 1 a target failed, 2 usage or error.
#include "tools/bench/bench.hpp"
#include "tools/common/version.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace settle::bench;

namespace {

void usage() {
  fmt::print(stderr,
             "usage: bench [--json] [--dir DIR] [--seconds S] <section>... | all | --list\n"
             "  --dir DIR      scratch directory on a real disk (default /var/tmp; tmpfs is refused)\n"
             "  --seconds S    length of each measurement (default 3)\n"
             "sections:\n");
  for (const auto& s : sections()) fmt::print(stderr, "  {:<12} {}\n", s.name, s.summary);
}

}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  ctx.dir = "/var/tmp";
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--version") {
      fmt::print("bench {}\n", settle::version);
      return 0;
    } else if (a == "--json") {
      ctx.json = true;
    } else if (a == "--dir" && i + 1 < argc) {
      ctx.dir = argv[++i];
    } else if (a == "--seconds" && i + 1 < argc) {
      ctx.seconds = std::atof(argv[++i]);
    } else if (a == "--list") {
      for (const auto& s : sections()) fmt::print("{:<12} {}\n", s.name, s.summary);
      return 0;
    } else if (a == "--") {
      for (++i; i < argc; ++i) ctx.args.emplace_back(argv[i]);
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      usage();
      return 2;
    } else {
      names.push_back(a);
    }
  }
  if (names.empty() || ctx.seconds <= 0) {
    usage();
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(ctx.dir, ec);
  if (!std::filesystem::is_directory(ctx.dir)) {
    fmt::print(stderr, "bench: {} is not a directory\n", ctx.dir);
    return 2;
  }
  if (is_memory_filesystem(ctx.dir)) {
    fmt::print(stderr, "bench: {} is on {} (memory): fsync costs nothing there; give --dir on a real disk\n",
               ctx.dir, filesystem_type(ctx.dir));
    return 2;
  }
  std::vector<const Section*> run;
  for (const auto& n : names) {
    if (n == "all") {
      for (const auto& s : sections()) run.push_back(&s);
      continue;
    }
    const Section* found = nullptr;
    for (const auto& s : sections())
      if (s.name == n) found = &s;
    if (found == nullptr) {
      fmt::print(stderr, "bench: no section \"{}\"\n", n);
      usage();
      return 2;
    }
    run.push_back(found);
  }
  int worst = 0;
  for (const Section* s : run) {
    if (!ctx.json) fmt::print("== {}: {}\n", s->name, s->summary);
    worst = std::max(worst, s->run(ctx));
  }
  return worst;
}
