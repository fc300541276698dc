// What an operator's tools see of the real settled (with insurer-sim and a
// virtual card): its log as journal entries when stderr is the journal
// (JOURNAL_STREAM), read from a journal socket this test binds where no
// journald runs, and its /metrics page checked by Prometheus' own parser
// (check_metrics.py) before any traffic and counted after a settlement.
#include "tests/support/daemon_harness.hpp"
#include "tools/insurer-sim/control_client.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace settle::observability_e2e {
namespace {

using settle::testing::Json;
using settle::testing::result_of;
using settle::testing::Stack;
namespace fs = std::filesystem;

constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

using Entry = std::map<std::string, std::string>;

// journald's native protocol: "KEY=value\n", or "KEY\n" + 64-bit LE length + value + "\n".
Entry parse_entry(const std::string& d) {
  Entry e;
  std::size_t i = 0;
  while (i < d.size()) {
    const auto nl = d.find('\n', i);
    const std::string line = d.substr(i, nl == std::string::npos ? std::string::npos : nl - i);
    const auto eq = line.find('=');
    if (eq != std::string::npos) {
      e[line.substr(0, eq)] = line.substr(eq + 1);
      i = nl == std::string::npos ? d.size() : nl + 1;
    } else {
      std::uint64_t len = 0;
      std::memcpy(&len, d.data() + nl + 1, sizeof len);
      e[line] = d.substr(nl + 1 + 8, len);
      i = nl + 1 + 8 + len + 1;
    }
  }
  return e;
}

// A journal socket where no journald runs: every datagram kept as an entry.
class FakeJournal {
 public:
  bool open() {
    struct stat st {};
    if (::stat(kJournalSocket, &st) == 0) return false;  // a real journal (or another test's)
    std::error_code ec;
    const fs::path dir = fs::path(kJournalSocket).parent_path();
    made_dir_ = !fs::exists(dir) && fs::create_directories(dir, ec);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, kJournalSocket, sizeof a.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      return false;
    }
    bound_ = true;
    reader_ = std::thread([this] { read_loop(); });
    return true;
  }
  ~FakeJournal() {
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
    if (bound_) ::unlink(kJournalSocket);
    std::error_code ec;
    if (made_dir_) fs::remove(fs::path(kJournalSocket).parent_path(), ec);
  }
  std::vector<Entry> entries() const {
    const std::lock_guard lock(mu_);
    return entries_;
  }
  // The first entry whose MESSAGE contains `text`, waiting up to 10 s.
  std::optional<Entry> wait_for(const std::string& text) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      for (const Entry& e : entries())
        if (e.count("MESSAGE") && e.at("MESSAGE").find(text) != std::string::npos) return e;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  void read_loop() {
    std::vector<char> buf(1 << 20);
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      Entry e = parse_entry(std::string(buf.data(), static_cast<std::size_t>(n)));
      const std::lock_guard lock(mu_);
      entries_.push_back(std::move(e));
    }
  }
  int fd_ = -1;
  bool bound_ = false;
  bool made_dir_ = false;
  std::atomic<bool> stop_{false};
  std::thread reader_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::uint16_t metrics_port(const std::string& serving_line) {
  std::smatch m;
  const std::regex serving(R"(metrics: serving http://127\.0\.0\.1:(\d+)/metrics)");
  REQUIRE_MESSAGE(std::regex_search(serving_line, m, serving), serving_line);
  return static_cast<std::uint16_t>(std::stoi(m[1].str()));
}

int check_metrics(std::uint16_t port, const std::string& flags) {
  const std::string cmd = fmt::format("/usr/bin/python3 {}/tests/integration/daemon/check_metrics.py {} {}",
                                      SETTLE_SOURCE_DIR, port, flags);
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool has_line(const std::string& page, const std::string& line) {
  return page.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("settled under a journal: entries with priorities and fields; /metrics parsed by Prometheus' parser") {
  Stack s("daemon-observability");
  FakeJournal journal;
  const bool journaled = journal.open();
  if (journaled) {
    // stderr is the file the harness appends to; its dev:ino is the journal stream, as systemd sets it.
    const fs::path log = s.dir() / "settled.log";
    std::ofstream(log).flush();
    struct stat st {};
    REQUIRE(::stat(log.c_str(), &st) == 0);
    ::setenv("JOURNAL_STREAM", fmt::format("{}:{}", st.st_dev, st.st_ino).c_str(), 1);
  } else {
    MESSAGE("a journal socket exists at " << kJournalSocket << " (or cannot be bound): journal checks skipped, "
            "metrics checked from the stderr log");
  }
  s.start_all({settle::testing::person(1)});
  ::unsetenv("JOURNAL_STREAM");

  std::uint16_t port = 0;
  if (journaled) {
    const auto serving = journal.wait_for("metrics: serving");
    REQUIRE(serving.has_value());
    port = metrics_port(serving->at("MESSAGE"));
    CHECK(serving->at("PRIORITY") == "6");
    CHECK(serving->at("SYSLOG_IDENTIFIER") == "settled");
    // The storage is not encrypted here: a warning, filed as one (4), with no time of its own.
    const auto plain = journal.wait_for("not encrypted at rest");
    REQUIRE(plain.has_value());
    CHECK(plain->at("PRIORITY") == "4");
    CHECK(std::regex_search(plain->at("MESSAGE"), std::regex(R"(^\d{4}-\d\d-\d\d)")) == false);
  } else {
    port = metrics_port(s.daemon_log());
  }

  // Before any traffic: every family, HELP and TYPE, counters at 0.
  CHECK(check_metrics(port, "--before-traffic") == 0);

  s.insert_card(0, settle::testing::person(1));
  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));
  const Json lines = Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "125.00"}}});
  const Json done = result_of(c->call("settle.commit", Json{{"request_id", "obs-1"}, {"lines", lines}, {"use_account", false}}));
  REQUIRE(done["mode"] == "online");
  const std::string setl_id = done["setl_id"].is_string() ? done["setl_id"].get<std::string>() : done["setl_id"].dump();

  if (journaled) {
    const auto settled = journal.wait_for("settlement " + setl_id + " online");
    REQUIRE(settled.has_value());
    const Entry& e = *settled;
    CHECK(e.at("PRIORITY") == "6");
    CHECK(e.at("WINDOW") == "W01");
    CHECK(e.at("OPERATOR") == Stack::cashier.name);
    CHECK(e.at("REQUEST_ID") == "obs-1");
    CHECK(e.at("SETL_ID") == setl_id);
    CHECK(e.at("INFNO") == "2207");
    REQUIRE(e.count("MSGID") == 1);
    CHECK(e.at("MSGID").size() > 10);
    // Reader noise is at debug: at the daemon's info level nothing of the card's coming is sent.
    for (const Entry& x : journal.entries()) {
      CHECK_MESSAGE(x.at("MESSAGE").find("card_inserted") == std::string::npos, x.at("MESSAGE"));
      CHECK(x.count("PRIORITY") == 1);
    }
    // Nothing was written twice on stderr: it stays empty while the journal takes the log.
    CHECK(slurp(s.dir() / "settled.log").empty());
  }

  // Counted: one online settlement, its 2207 call timed in seconds.
  const auto r = sim::control_request(port, "GET", "/metrics");
  REQUIRE(r.status == 200);
  CHECK(has_line(r.body, "settled_settlements_total{mode=\"online\",outcome=\"settled\"} 1"));
  CHECK(has_line(r.body, "settled_insurer_calls_total{infno=\"2207\",outcome=\"answered\"} 1"));
  CHECK(has_line(r.body, "settled_insurer_call_duration_seconds_count{infno=\"2207\"} 1"));
  CHECK(has_line(r.body, "settled_line_state{state=\"online\"} 1"));
  // Where the window's time went, step by step: the claim, the card's
  // re-check, the three calls (2201, 2204, 2207), the 2207 msgid's commit
  // awaited, the outcome's commit.
  CHECK(has_line(r.body, "settled_flow_step_duration_seconds_count{step=\"claim\"} 1"));
  CHECK(has_line(r.body, "settled_flow_step_duration_seconds_count{step=\"card_check\"} 1"));
  CHECK(has_line(r.body, "settled_flow_step_duration_seconds_count{step=\"insurer_call\"} 3"));
  CHECK(has_line(r.body, "settled_flow_step_duration_seconds_count{step=\"ledger_await\"} 1"));
  CHECK(has_line(r.body, "settled_flow_step_duration_seconds_count{step=\"ledger_commit\"} 1"));
  CHECK(has_line(r.body, "settled_flow_step_duration_seconds_count{step=\"offline_figures\"} 0"));
  // The ledger's writer: the settlement's writes were committed, and their pages went to the WAL.
  const auto counted = [&](const char* name) {
    std::smatch m;
    const std::regex line(std::string("(^|\n)") + name + R"( (\d+)\n)");
    return std::regex_search(r.body, m, line) ? std::stoll(m[2].str()) : -1LL;
  };
  const long long commits = counted("settled_ledger_commits_total");
  CHECK(commits >= 2);  // the request before its 2207, the outcome after
  CHECK(counted("settled_ledger_writes_total") >= commits);
  CHECK(counted("settled_ledger_wal_bytes_total") >= commits * 2048);
  CHECK(check_metrics(port, "") == 0);

  // Its threads by name, as `top -H -p` and perf show them (docs/operations.md).
  std::set<std::string> names;
  for (const auto& t : fs::directory_iterator(fmt::format("/proc/{}/task", s.daemon_pid()))) {
    std::string n;
    std::getline(std::ifstream(t.path() / "comm"), n);
    names.insert(n);
  }
  for (const char* n : {"settled", "ledger-writer", "card-1", "ledger-read-1", "ledger-read-2", "card-watcher",
                        "cashier-auth", "redlist-sync-1"})
    CHECK_MESSAGE(names.count(n) == 1, "no thread named ", n);
  s.stop_daemon();
}

}  // namespace settle::observability_e2e
