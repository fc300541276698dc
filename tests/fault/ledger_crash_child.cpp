// Fault-test helper: commits through the ledger's group-commit writer from
// several threads and prints each id to stdout (a pipe) only from its
// completion callback, i.e. after its COMMIT returned. The parent kills it
// with SIGKILL at a random moment and checks every printed id is in the file.
//
//   ledger_crash_child <ledger path> <id prefix> <threads> <max seconds>
#include "offline/ledger.hpp"
#include "tests/offline/sample.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace settle;

namespace {

// One write(2) per line: a line of < PIPE_BUF bytes reaches the pipe whole.
void ack(const std::string& id) {
  const std::string line = id + "\n";
  const ssize_t n = ::write(STDOUT_FILENO, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) std::_Exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <ledger> <prefix> <threads> <max seconds>\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const std::string prefix = argv[2];
  const int threads = std::atoi(argv[3]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[4]));

  auto opened = ledger::Ledger::open(path);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  auto& l = **opened;
  std::atomic<bool> failed{false};
  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; std::chrono::steady_clock::now() < deadline && !failed; ++i) {
        const std::string id = fmt::format("{}-t{}-{}", prefix, t, i);
        std::promise<void> done;
        auto future = done.get_future();
        if (t == 0 && i % 10 == 9) {
          // A job that fails inside a batch: never acknowledged, never stored.
          l.write([id](sql::Db& db) -> sql::Status {
                    SETTLE_SQL_TRY(ledger::record_request(db, test::sample_request(id + "-fails")));
                    return sql::DbError{sql::Errc::invalid_state, 0, "deliberate failure"};
                  },
                  [&done](const sql::Status& s) {
                    if (s.ok()) std::_Exit(4);
                    done.set_value();
                  });
        } else {
          l.write([id, i](sql::Db& db) { return test::record_sample(db, id, 100 + i); },
                  [&done, &failed, id](const sql::Result<std::int64_t>& r) {
                    if (r.ok()) {
                      ack(id);  // durable: COMMIT has returned
                    } else {
                      std::fprintf(stderr, "commit of %s failed: %s\n", id.c_str(), r.error().message.c_str());
                      failed = true;
                    }
                    done.set_value();
                  });
        }
        future.wait();
      }
    });
  workers.clear();
  return failed ? 1 : 0;
}
