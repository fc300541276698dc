// A real write failure after the insurer acted: settled runs with a shim
// (tests/support/failwrite_shim.cpp) that fails the ledger's writes while a
// flag file exists. The 2207 is answered by the insurer, the ledger cannot
// record it: the request must never run again, the daemon stops so that
// start-up recovery reverses the call, and a retry charges nobody twice.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

namespace settle::storage_fault_e2e {
namespace {

using settle::testing::effective_at_insurer;
using settle::testing::engine_status;
using settle::testing::Json;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using settle::testing::wait_status;
using Clock = std::chrono::steady_clock;

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "125.00"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

}  // namespace

// The 2207 is held `delay_ms` at the insurer; the disk fails `flag_after_ms`
// after the request was sent and stays failed until settled has stopped.
void unrecordable_2207(const std::string& name, int delay_ms, int flag_after_ms) {
  Stack s(name);
  s.extra_config = "[network]\noffline_deadline_ms = 2000\n";
  const std::filesystem::path flag = s.dir() / "fail-writes";
  // The daemon runs with the shim; the flag file switches the failures on.
  const std::string wrapper =
      fmt::format("/usr/bin/env LD_PRELOAD={} SETTLE_FAIL_WRITES={}", SETTLE_FAILWRITE_SHIM, flag.string());
  ::setenv("SETTLED_WRAPPER", wrapper.c_str(), 1);
  s.start_all({settle::testing::person(1)});
  ::unsetenv("SETTLED_WRAPPER");
  s.insert_card(0, settle::testing::person(1));
  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));
  const Json params{{"request_id", "sf-1"}, {"lines", lines()}, {"use_account", false}};
  // Signed in with one settlement first.
  CHECK(result_of(c->call("settle.commit", Json{{"request_id", "sf-0"}, {"lines", lines()}, {"use_account", false}}))["mode"] ==
        "online");

  // The insurer holds the 2207 for a while; the disk fails meanwhile.
  s.set_faults({fmt::format("delay:ms={},infno=2207", delay_ms)});
  const auto id = c->send("settle.commit", params);
  std::this_thread::sleep_for(std::chrono::milliseconds(flag_after_ms));
  { std::ofstream(flag) << "on\n"; }
  const Json answer = c->wait_id(id, std::chrono::seconds(30));
  INFO(answer.dump());
  CHECK(reason_of(answer) == "IN_DOUBT");
  CHECK(effective_at_insurer(s, "sf-1") == 1);  // the insurer did settle it

  // Neither the outcome nor its in-doubt record could be written: settled stops.
  const auto until = Clock::now() + std::chrono::seconds(30);
  while (s.daemon_alive() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE_FALSE(s.daemon_alive());
  CHECK(s.daemon_log().find("cannot be recorded") != std::string::npos);

  // The disk is back; the start reverses the 2207 and the retry charges nobody.
  std::filesystem::remove(flag);
  s.clear_faults();
  ::setenv("SETTLED_WRAPPER", wrapper.c_str(), 1);
  s.start_daemon();
  ::unsetenv("SETTLED_WRAPPER");
  auto c2 = s.session(Stack::cashier);
  wait_status(
      *c2, [](const Json& st) { return st["in_doubt"] == 0 && st["pending_reversals"] == 0; }, std::chrono::seconds(20),
      "the 2207 was not reversed after the restart");
  CHECK(effective_at_insurer(s, "sf-1") == 0);
  REQUIRE(c2->call("card.read").contains("result"));
  const Json again = c2->call("settle.commit", params);
  INFO(again.dump());
  CHECK(reason_of(again) == "IN_DOUBT");
  CHECK(effective_at_insurer(s, "sf-1") == 0);
  s.stop_daemon();
}

TEST_CASE("a 2207 settled by the insurer that the ledger cannot record is never run again") {
  // Answered within the deadline: the settlement's own record fails.
  unrecordable_2207("daemon-storage-fault-answered", 900, 400);
}

TEST_CASE("a 2207 left in doubt whose offline settlement the ledger cannot store is never run again") {
  // Past the deadline: the charge goes offline, and that record fails.
  unrecordable_2207("daemon-storage-fault-in-doubt", 2600, 700);
}

}  // namespace settle::storage_fault_e2e
