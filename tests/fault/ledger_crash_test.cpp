// Fault test of the ledger's durability promise: a real child process
// commits through the group-commit writer with several threads and
// acknowledges each id only after its completion callback; it is killed
// with SIGKILL at a random point; the ledger is then reopened (integrity
// checked) and every acknowledged id must be there. Many seeded rounds on
// the same file; the seed is printed and can be replayed with
// SETTLE_FAULT_SEED=<n>.
#include "offline/ledger.hpp"
#include "tests/offline/test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <poll.h>
#include <random>
#include <set>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace settle;

namespace {

struct Round {
  std::set<std::string> acked;
  int status = 0;
};

// Starts the child, reads its acknowledgements, kills it after kill_after_ms,
// and keeps reading until the pipe closes.
Round run_child(const std::string& ledger, const std::string& prefix, int threads, int kill_after_ms) {
  const std::string child = LEDGER_CRASH_CHILD;
  const std::string threads_arg = std::to_string(threads);
  const char* argv[] = {child.c_str(), ledger.c_str(), prefix.c_str(), threads_arg.c_str(), "20", nullptr};
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  Round r;
  std::string buf;
  const auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(kill_after_ms);
  bool killed = false;
  for (;;) {
    int timeout = -1;
    if (!killed) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        ::kill(pid, SIGKILL);
        killed = true;
      } else {
        timeout = static_cast<int>(left.count());
      }
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, timeout);
    if (n < 0 && errno == EINTR) continue;
    REQUIRE(n >= 0);
    if (n == 0) continue;  // time to kill
    char chunk[4096];
    const ssize_t got = ::read(fds[0], chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    REQUIRE(got >= 0);
    if (got == 0) break;  // every writer end is closed: the child is gone
    buf.append(chunk, static_cast<std::size_t>(got));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      r.acked.insert(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  }
  ::close(fds[0]);
  REQUIRE(::waitpid(pid, &r.status, 0) == pid);
  CHECK(buf.empty());  // acknowledgements are whole lines
  return r;
}

}  // namespace

TEST_CASE("every acknowledged commit survives SIGKILL of the writing process") {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("SETTLE_FAULT_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::mt19937_64 rng(seed);
  const int rounds = std::getenv("SETTLE_FAULT_ROUNDS") ? std::atoi(std::getenv("SETTLE_FAULT_ROUNDS")) : 30;
  INFO("seed " << seed << " (replay: SETTLE_FAULT_SEED=" << seed << ")");
  MESSAGE("ledger crash test: seed ", seed, ", ", rounds, " rounds");

  settle::test::TestDir dir("fault-ledger-crash");
  const std::string path = dir.file("ledger.db");
  std::size_t total_acked = 0;
  for (int round = 0; round < rounds; ++round) {
    const int threads = std::uniform_int_distribution<int>(2, 12)(rng);
    const int kill_after_ms = std::uniform_int_distribution<int>(30, 600)(rng);
    const std::string prefix = fmt::format("r{}", round);
    INFO("round " << round << ": " << threads << " threads, SIGKILL after " << kill_after_ms << " ms");
    const Round r = run_child(path, prefix, threads, kill_after_ms);
    if (!WIFSIGNALED(r.status)) FAIL("the child ended on its own (status " << r.status << ") before SIGKILL");
    CHECK(WTERMSIG(r.status) == SIGKILL);

    // Reopen: the file passes the integrity check, and holds every ack.
    auto l = ledger::Ledger::open(path);
    if (!l) FAIL(l.error().message);
    auto stored = (*l)->read([&prefix](sql::Db& db) -> sql::Result<std::set<std::string>> {
      auto st = db.prepare("SELECT request_id FROM settlements WHERE request_id GLOB ?1");
      if (!st) return st.error();
      SETTLE_SQL_TRY(st->bind(1, prefix + "-*"));
      std::set<std::string> ids;
      for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        ids.insert(st->column_text(0));
      }
      return ids;
    });
    REQUIRE(stored.ok());
    std::size_t missing = 0;
    for (const auto& id : r.acked)
      if (stored->count(id) == 0) {
        if (missing++ < 5) FAIL_CHECK("acknowledged but missing after SIGKILL: " << id);
      }
    CHECK(missing == 0);
    CHECK(stored->size() >= r.acked.size());
    // Failed jobs left nothing behind.
    auto half = (*l)->read([&prefix](sql::Db& db) {
      return db.query_int64("SELECT count(*) FROM requests WHERE request_id GLOB '" + prefix + "-*-fails'");
    });
    REQUIRE(half.ok());
    CHECK(half->value_or(-1) == 0);
    total_acked += r.acked.size();
  }
  MESSAGE("acknowledged ", total_acked, " commits over ", rounds, " rounds, all present");
  CHECK(total_acked > 0);
}
