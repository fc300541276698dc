// settled on a full disk and a read-only ledger, with real failures: the
// daemon's data folder on a size-limited tmpfs of its own when this machine
// lets the test mount one (root with the right to mount), else the write-
// failure shim (tests/support/failwrite_shim.cpp) failing the ledger's files
// with ENOSPC or EROFS. A disk that fills during service is played by the shim
// either way (a real full disk still takes writes that reuse WAL space
// already allocated; the shim refuses them all, the harder case).
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace settle::storage_full {
namespace {

namespace fs = std::filesystem;
using settle::testing::effective_at_insurer;
using settle::testing::engine_status;
using settle::testing::Json;
using settle::testing::ProgramRun;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::run_shell;
using settle::testing::Stack;

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "125.00"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

// The daemon's data folder (ledger, red list, socket) and how its failures are made.
class Disk {
 public:
  // `real_allowed`: try a tmpfs of its own first (SETTLE_STORAGE_FAULT=shim forces the shim).
  Disk(Stack& s, bool real_allowed) : s_(s), data_(s.dir() / "data"), flag_(s.dir() / "fail-writes") {
    fs::create_directories(data_);
    const char* force = std::getenv("SETTLE_STORAGE_FAULT");
    const bool shim_forced = force != nullptr && std::string(force) == "shim";
    if (real_allowed && !shim_forced) {
      const ProgramRun m = run_shell(fmt::format("mount -t tmpfs -o size=8m,mode=0750 settle-test {}", data_.string()),
                                     s.dir(), "mount");
      real_ = m.status == 0;
      if (!real_) MESSAGE("no tmpfs of its own (" << m.err << "): the shim plays the disk");
    }
    MESSAGE("disk: " << std::string(real_ ? "a real 8 MiB tmpfs" : "the write-failure shim"));
  }
  ~Disk() {
    if (real_) (void)run_shell(fmt::format("umount -l {}", data_.string()), s_.dir(), "umount");
  }
  Disk(const Disk&) = delete;
  Disk& operator=(const Disk&) = delete;

  bool real() const { return real_; }
  fs::path ledger() const { return data_ / "ledger.db"; }

  // What settled runs under: the shim, or nothing.
  std::string wrapper() const {
    if (real_) return "";
    return fmt::format("/usr/bin/env LD_PRELOAD={} SETTLE_FAIL_WRITES={}", SETTLE_FAILWRITE_SHIM, flag_.string());
  }
  // The disk full now: every byte of the tmpfs taken, or the shim failing with ENOSPC.
  void fill() {
    if (!real_) {
      std::ofstream(flag_) << "ENOSPC\n";
      return;
    }
    const ProgramRun r =
        run_shell(fmt::format("dd if=/dev/zero of={} bs=64k 2>&1; sync", (data_ / "filler").string()), s_.dir(), "fill");
    const ProgramRun df = run_shell(fmt::format("df -k --output=avail {} | tail -1", data_.string()), s_.dir(), "df");
    REQUIRE_MESSAGE(std::stol(df.out) == 0, "the tmpfs is not full: " << df.out << r.out);
  }
  // Read-only now: the tmpfs remounted so, or the shim failing with EROFS.
  void read_only() {
    if (!real_) {
      std::ofstream(flag_) << "EROFS\n";
      return;
    }
    const ProgramRun r = run_shell(fmt::format("mount -o remount,ro {}", data_.string()), s_.dir(), "remount-ro");
    REQUIRE_MESSAGE(r.status == 0, r.err);
  }
  // Space and writes back.
  void mend() {
    if (!real_) {
      fs::remove(flag_);
      return;
    }
    const ProgramRun r = run_shell(fmt::format("mount -o remount,rw {} && rm -f {}", data_.string(),
                                               (data_ / "filler").string()),
                                   s_.dir(), "mend");
    REQUIRE_MESSAGE(r.status == 0, r.err);
  }

 private:
  Stack& s_;
  fs::path data_;
  fs::path flag_;
  bool real_ = false;
};

// The simulator and settled under the disk's wrapper; with `window`, pcscd
// and the cashier too (the other operators are not needed here).
void start(Stack& s, const Disk& d, bool window) {
  s.add_person(settle::testing::person(1));
  s.start_sim();
  if (window) {
    s.start_pcscd();
    s.add_operator(Stack::cashier);
  }
  const std::string w = d.wrapper();
  if (!w.empty()) ::setenv("SETTLED_WRAPPER", w.c_str(), 1);
  s.start_daemon();
  ::unsetenv("SETTLED_WRAPPER");
}

// settled started once more on the stack's config, expected to refuse: its
// exit status and what it said (20 s at most, else 124 from timeout).
ProgramRun start_refused(Stack& s, const Disk& d) {
  return run_shell(fmt::format("{} timeout 20 {} --config {}", d.wrapper(), SETTLE_SETTLED_BINARY,
                               (s.dir() / "settled.toml").string()),
                   s.dir(), "settled-refused");
}

// Every row of the ledger, as sqlite3's dump prints it (read-only, beside the daemon).
std::string dump(const Disk& d) {
  const ProgramRun r = run_shell(fmt::format("sqlite3 -readonly {} .dump", d.ledger().string()), d.ledger().parent_path(),
                                 "dump");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  return r.out;
}

// The dump's rows of one table ("INSERT INTO <table> VALUES(...)" lines).
std::vector<std::string> rows(const std::string& dump_text, const std::string& table) {
  std::vector<std::string> out;
  std::istringstream in(dump_text);
  const std::string head = "INSERT INTO " + table + " VALUES(";
  const std::string quoted = "INSERT INTO \"" + table + "\" VALUES(";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(head, 0) == 0 || line.rfind(quoted, 0) == 0) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("start-up on a full disk is refused, naming the ledger and the cause; it starts once there is space") {
  Stack s("fault-disk-full-start");
  Disk d(s, true);
  start(s, d, false);
  s.stop_daemon();
  d.fill();
  const ProgramRun r = start_refused(s, d);
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  CHECK(r.err.find(fmt::format("ledger {} cannot be written", d.ledger().string())) != std::string::npos);
  CHECK(r.err.find("full") != std::string::npos);
  CHECK(r.out.find("ready on") == std::string::npos);
  d.mend();
  const std::string w = d.wrapper();
  if (!w.empty()) ::setenv("SETTLED_WRAPPER", w.c_str(), 1);
  s.start_daemon();
  ::unsetenv("SETTLED_WRAPPER");
  CHECK(engine_status(*s.connect())["network"].is_string());  // engine.status needs no login
  s.stop_daemon();
}

TEST_CASE("start-up on a read-only ledger is refused, naming the ledger and the cause") {
  Stack s("fault-ledger-read-only");
  Disk d(s, true);
  start(s, d, false);
  s.stop_daemon();
  d.read_only();
  const ProgramRun r = start_refused(s, d);
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  CHECK(r.err.find(d.ledger().string()) != std::string::npos);
  CHECK(r.err.find("read-only") != std::string::npos);
  CHECK(r.out.find("ready on") == std::string::npos);
  d.mend();
}

TEST_CASE("the disk full during service: STORAGE_FAILED, status answers, nothing stored changes, nothing charged "
          "twice; service resumes without a restart once there is space") {
  Stack s("fault-disk-full-service");
  Disk d(s, false);  // the shim: every write refused (see the top of this file)
  start(s, d, true);
  s.insert_card(0, settle::testing::person(1));
  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));
  const Json first = result_of(c->call("settle.commit", Json{{"request_id", "df-0"}, {"lines", lines()}, {"use_account", false}}));
  CHECK(first["mode"] == "online");
  // The first charge's audit entry and its queries' outcomes are written behind its answer.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const std::string before = dump(d);
  REQUIRE(rows(before, "settlements").size() == 1);

  d.fill();
  const Json params{{"request_id", "df-1"}, {"lines", lines()}, {"use_account", false}};
  const Json refused = c->call("settle.commit", params);
  INFO(refused.dump());
  CHECK(reason_of(refused) == "STORAGE_FAILED");
  const Json st = engine_status(*c);
  CHECK(st["in_doubt"] == 0);
  CHECK(st["pending_reversals"] == 0);
  // A second try while full: the same, and still nothing charged.
  CHECK(reason_of(c->call("settle.commit", params)) == "STORAGE_FAILED");
  CHECK(effective_at_insurer(s, "df-1") == 0);
  CHECK(s.daemon_alive());
  CHECK(dump(d) == before);

  // Space again: the same request settles, once, without a restart.
  d.mend();
  const Json ok = result_of(c->call("settle.commit", params));
  CHECK(ok["mode"] == "online");
  CHECK(effective_at_insurer(s, "df-1") == 1);
  const Json replay = result_of(c->call("settle.commit", params));
  CHECK(replay["setl_id"] == ok["setl_id"]);
  CHECK(effective_at_insurer(s, "df-1") == 1);
  CHECK(effective_at_insurer(s, "df-0") == 1);
  // What was stored before is still there, unchanged, beside the new settlement.
  const std::string after = dump(d);
  for (const char* table : {"settlements", "settlement_lines", "events"}) {
    const auto had = rows(before, table);
    const auto has = rows(after, table);
    for (const auto& row : had) CHECK_MESSAGE(std::find(has.begin(), has.end(), row) != has.end(), table << ": " << row);
  }
  CHECK(rows(after, "settlements").size() == 2);
  s.stop_daemon();
}

}  // namespace settle::storage_full
