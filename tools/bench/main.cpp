// bench: runs named benchmark sections on this machine's real disk.
//   bench [--json] [--dir DIR] [--seconds S] <section>... | all | --list [-- section args]
// Each section lives in its own section_<name>.cpp and registers itself.
// Exit status (tools/common/exit_codes.hpp): 0 every target passed, 1 a
// target failed, 2 usage, 5 a section could not set itself up.
#include "tools/bench/bench.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/common/version.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <malloc.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace settle::bench;

namespace exit_code = settle::exit_code;

int main(int argc, char** argv) {
  // The raw side runs with the allocator setting settled runs with
  // (tools/settled/main.cpp): freed memory kept instead of handed back to the
  // kernel and faulted in again at the next burst, which would count against
  // the raw operations what settled does not pay.
  ::mallopt(M_TRIM_THRESHOLD, 16 << 20);
  Context ctx;
  ctx.dir = "/var/tmp";
  std::vector<std::string> names;
  bool list = false;
  std::string section_help = "sections (or all):";
  for (const auto& s : sections()) section_help += fmt::format("\n  {:<12} {}", s.name, s.summary);
  CLI::App app{"bench — benchmark sections on this machine's real disk; arguments after -- go to the sections"};
  app.set_version_flag("--version", std::string("bench ") + settle::version);
  app.footer(section_help);
  app.add_flag("--json", ctx.json, "print JSON for programs");
  app.add_option("--dir", ctx.dir, "scratch directory on a real disk (default /var/tmp; tmpfs is refused)")
      ->type_name("DIR");
  app.add_option("--seconds", ctx.seconds, "length of each measurement (0.01-86400, default 3)")
      ->type_name("S")
      ->check(CLI::Range(0.01, 86400.0));
  app.add_flag("--list", list, "list the sections and exit");
  app.add_option("section", names, "sections to run, or all");
  // Everything after "--" is the sections' own (ctx.args), not bench's.
  int own = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      own = i;
      for (int j = i + 1; j < argc; ++j) ctx.args.emplace_back(argv[j]);
      break;
    }
  try {
    app.parse(own, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_code::ok : exit_code::usage;
  }
  if (list) {
    for (const auto& s : sections()) fmt::print("{:<12} {}\n", s.name, s.summary);
    return exit_code::ok;
  }
  if (names.empty()) {
    fmt::print(stderr, "bench: name a section, or all (bench --help lists them)\n");
    return exit_code::usage;
  }
  std::error_code ec;
  std::filesystem::create_directories(ctx.dir, ec);
  if (!std::filesystem::is_directory(ctx.dir)) {
    fmt::print(stderr, "bench: {} is not a directory\n", ctx.dir);
    return exit_code::usage;
  }
  if (is_memory_filesystem(ctx.dir)) {
    fmt::print(stderr, "bench: {} is on {} (memory): fsync costs nothing there; give --dir on a real disk\n",
               ctx.dir, filesystem_type(ctx.dir));
    return exit_code::usage;
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
      fmt::print(stderr, "bench: no section \"{}\" (bench --list names them)\n", n);
      return exit_code::usage;
    }
    run.push_back(found);
  }
  int worst = 0;
  for (const Section* s : run) {
    if (!ctx.json) fmt::print("== {}: {}\n", s->name, s->summary);
    // A section answers 0 passed, 1 a target failed, 2 it could not run.
    const int rc = s->run(ctx);
    worst = std::max(worst, rc == 2 ? exit_code::local : rc);
  }
  return worst;
}
