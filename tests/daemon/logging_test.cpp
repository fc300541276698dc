// The daemon's log: the journal's priorities and fields (through the sink's
// send seam, and the real sd_journal_sendv where a journal socket exists),
// the terminal line's one +08:00 time, masking on both paths, and when
// stderr counts as the journal (JOURNAL_STREAM).
#include "tools/settled/logging.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

using namespace settle::daemon;

namespace {

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto i = text.find(what); i != std::string::npos; i = text.find(what, i + what.size())) ++n;
  return n;
}

std::string dev_ino(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

}  // namespace

TEST_CASE("spdlog levels map to syslog priorities") {
  CHECK(journal_priority(spdlog::level::critical) == 2);
  CHECK(journal_priority(spdlog::level::err) == 3);
  CHECK(journal_priority(spdlog::level::warn) == 4);
  CHECK(journal_priority(spdlog::level::info) == 6);
  CHECK(journal_priority(spdlog::level::debug) == 7);
  CHECK(journal_priority(spdlog::level::trace) == 7);
}

TEST_CASE("journal fields: message masked, priority, identifier, the event's fields, empty ones left out") {
  const LogFields f{.window = "3", .operator_name = "wang", .request_id = "r-1", .setl_id = "42", .infno = "2207",
                    .msgid = ""};
  const auto v = journal_fields(spdlog::level::warn, "card of 11010119900307123X settled", &f);
  CHECK(v.at(0) == "MESSAGE=card of 110101********123X settled");
  CHECK(has(v, "PRIORITY=4"));
  CHECK(has(v, "SYSLOG_IDENTIFIER=settled"));
  CHECK(has(v, "WINDOW=3"));
  CHECK(has(v, "OPERATOR=wang"));
  CHECK(has(v, "REQUEST_ID=r-1"));
  CHECK(has(v, "SETL_ID=42"));
  CHECK(has(v, "INFNO=2207"));
  CHECK(std::none_of(v.begin(), v.end(), [](const std::string& s) { return s.rfind("MSGID", 0) == 0; }));
  // A field value holding an ID number is masked like the message.
  const LogFields leak{.request_id = "110101199003071234"};
  CHECK(has(journal_fields(spdlog::level::info, "x", &leak), "REQUEST_ID=110101********1234"));
  // No fields: only the three.
  CHECK(journal_fields(spdlog::level::err, "x", nullptr).size() == 3);
}

TEST_CASE("a terminal line: one time, in the hospital's zone whatever TZ says, one line per event") {
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  ::setenv("TZ", "America/New_York", 1);
  ::tzset();
  // 2026-03-01T00:30:00.123Z is 08:30 in Beijing.
  const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1772325000123LL));
  CHECK(format_line(at, spdlog::level::warn, "insurer line: offline") ==
        "2026-03-01T08:30:00.123+08:00 warning insurer line: offline\n");
  CHECK(format_line(at, spdlog::level::info, "a\nb\r\n") == "2026-03-01T08:30:00.123+08:00 info a | b | \n");
  if (old_tz) ::setenv("TZ", saved.c_str(), 1); else ::unsetenv("TZ");
  ::tzset();
}

TEST_CASE("JOURNAL_STREAM names stderr only when device and inode match") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  const int fd = ::fileno(f);
  CHECK(detect_log_target(dev_ino(fd).c_str(), fd) == LogTarget::journal);
  CHECK(detect_log_target(nullptr, fd) == LogTarget::line);
  CHECK(detect_log_target("", fd) == LogTarget::line);
  CHECK(detect_log_target("12:", fd) == LogTarget::line);
  CHECK(detect_log_target("x:y", fd) == LogTarget::line);
  CHECK(detect_log_target((dev_ino(fd) + "9").c_str(), fd) == LogTarget::line);  // another inode
  std::FILE* g = std::tmpfile();
  CHECK(detect_log_target(dev_ino(::fileno(g)).c_str(), fd) == LogTarget::line);
  std::fclose(g);
  std::fclose(f);
}

TEST_CASE("the journal sink sends one entry per event with its fields; a failed send falls back to one line") {
  std::vector<std::vector<std::string>> sent;
  int answer = 0;
  std::FILE* fallback = std::tmpfile();
  auto logger = std::make_shared<spdlog::logger>(
      "t", make_journal_sink([&](const std::vector<std::string>& fields) {
        sent.push_back(fields);
        return answer;
      }, fallback));
  logger->set_level(spdlog::level::debug);
  auto before = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  log_with(spdlog::level::warn, LogFields{.window = "2", .setl_id = "7", .msgid = "H0001202603010830001234"},
           "window {}: settlement {} offline, card 110101199003071234", 2, 7);
  spdlog::error("reversals: cannot read the outbox");
  REQUIRE(sent.size() == 2);
  CHECK(has(sent[0], "PRIORITY=4"));
  CHECK(has(sent[0], "WINDOW=2"));
  CHECK(has(sent[0], "SETL_ID=7"));
  CHECK(has(sent[0], "MSGID=H0001202603010830001234"));
  CHECK(has(sent[0], "MESSAGE=window 2: settlement 7 offline, card 110101********1234"));
  // The fields were this event's only.
  CHECK(has(sent[1], "PRIORITY=3"));
  CHECK(sent[1].size() == 3);
  CHECK(read_all(fallback).empty());

  answer = -2;  // ENOENT: no journal socket
  spdlog::critical("ledger: 110101199003071234 cannot be written");
  const std::string line = read_all(fallback);
  CHECK(count(line, "\n") == 1);
  CHECK(count(line, "+08:00") == 1);
  CHECK(line.find("critical ledger: 110101********1234 cannot be written") != std::string::npos);

  spdlog::set_default_logger(before);
  std::fclose(fallback);
}

namespace {

// What setup_logging's logger writes on stderr (fd 2 pointed at a file) with
// JOURNAL_STREAM naming that file (`as_journal`) or another one.
std::string stderr_of_setup(bool as_journal) {
  std::FILE* capture = std::tmpfile();
  std::FILE* other = std::tmpfile();
  const int saved_err = ::dup(2);
  REQUIRE(::dup2(::fileno(capture), 2) == 2);
  ::setenv("JOURNAL_STREAM", dev_ino(as_journal ? 2 : ::fileno(other)).c_str(), 1);
  auto before = spdlog::default_logger();
  setup_logging("info");
  spdlog::warn("start-up check of the journal path");
  spdlog::debug("below the level: not sent");
  spdlog::default_logger()->flush();
  ::dup2(saved_err, 2);
  ::close(saved_err);
  ::unsetenv("JOURNAL_STREAM");
  spdlog::set_default_logger(before);
  const std::string err = read_all(capture);
  std::fclose(capture);
  std::fclose(other);
  return err;
}

}  // namespace

TEST_CASE("setup_logging: the journal when JOURNAL_STREAM names stderr, one line on stderr otherwise") {
  // Not the journal: one readable line, at the level set.
  const std::string line = stderr_of_setup(false);
  CHECK(count(line, "\n") == 1);
  CHECK(count(line, "+08:00") == 1);
  CHECK(line.find("warning start-up check of the journal path") != std::string::npos);
  // The journal: nothing on stderr (no second copy of the event). Where no
  // journald runs, sd_journal_sendv drops the entry silently (libsystemd's
  // rule when its socket is absent); daemon_observability_integration reads
  // the entries from a socket of its own.
  struct stat st {};
  MESSAGE((::stat("/run/systemd/journal/socket", &st) == 0 ? "a journal socket exists: the entry went to the journal"
                                                           : "no journald here: sd_journal_sendv dropped the entry"));
  CHECK(stderr_of_setup(true).empty());
}
