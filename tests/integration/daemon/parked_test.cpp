// Parked items end to end: a reversal (冲正) the insurer refuses every time is
// parked after [reversal] park_after_refusals refusals, the line comes back
// online, the stored uploads reach the insurer past it, engine.status counts
// it, and only a supervisor retries it or records its resolution, which a
// second person approves (outbox.*, correction.*, settlectl parked). Also:
// a refund of an offline settlement stored without psn_no.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <thread>

namespace settle::parked_e2e {
namespace {

using settle::testing::effective_at_insurer;
using settle::testing::engine_status;
using settle::testing::Json;
using settle::testing::PersonSpec;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using settle::testing::wait_status;
using Clock = std::chrono::steady_clock;

constexpr int kParkAfter = 2;

std::unique_ptr<Stack> g_stack;

Stack& stack() {
  if (!g_stack) {
    g_stack = std::make_unique<Stack>("daemon-parked");
    g_stack->extra_config = fmt::format(R"(
[network]
probe_interval_ms = 200
failures_to_offline = 1
offline_deadline_ms = 1000
[reversal]
retry_initial_ms = 50
retry_max_ms = 100
park_after_refusals = {}
)",
                                        kParkAfter);
    g_stack->start_all({settle::testing::person(1)});
  }
  REQUIRE_MESSAGE(g_stack->daemon_alive(), "settled exited: " << g_stack->daemon_log());
  return *g_stack;
}

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "125.00"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

// settlectl parked ... as the supervisor; returns the exit status, its output in `out`.
int settlectl_parked(Stack& s, const std::string& args, std::string& out) {
  const settle::testing::ProgramRun r = s.settlectl_as(Stack::supervisor, "parked " + args);
  out = r.out + r.err;
  return r.status;
}

}  // namespace

TEST_CASE("a reversal the insurer refuses forever is parked; the uploads and the line go on; a supervisor retries "
          "and resolves it") {
  Stack& s = stack();
  s.insert_card(0, settle::testing::person(1));
  auto c = s.session(Stack::cashier);
  auto sup = s.session(Stack::supervisor);
  REQUIRE(c->call("card.read").contains("result"));

  // Signed in with one online settlement first.
  CHECK(result_of(c->call("settle.commit", Json{{"request_id", "pk-online"}, {"lines", lines()}}))["mode"] == "online");
  // 2207's reply lost: settled offline, its reversal queued; two more stored
  // while the line is down.
  s.set_faults({"lost_reply:count=1,infno=2207", "error:infno=2601", "drop_request:infno=9001"});
  const Json first = result_of(c->call("settle.commit", Json{{"request_id", "pk-0"}, {"lines", lines()}}));
  CHECK(first["state"] == "offline_pending");
  std::vector<std::string> stored{first["setl_id"].get<std::string>()};
  for (int k = 1; k <= 2; ++k) {
    const Json r = result_of(c->call("settle.commit", Json{{"request_id", fmt::format("pk-{}", k)}, {"lines", lines()}}));
    CHECK(r["state"] == "offline_pending");
    stored.push_back(r["setl_id"].get<std::string>());
  }
  const Json down = engine_status(*c);
  CHECK(down["network"] == "offline");
  CHECK(down["pending_reversals"].get<std::int64_t>() + down["parked_reversals"].get<std::int64_t>() == 1);
  CHECK(down["pending_uploads"] == 3);

  // The line is back (the probe answered), but every 2601 is still refused:
  // after kParkAfter refusals the
  // reversal is parked, the uploads go, the line is online.
  s.set_faults({"error:infno=2601"});
  const Json st = wait_status(
      *c,
      [](const Json& j) {
        return j["network"] == "online" && j["pending_uploads"] == 0 && j["pending_reversals"] == 0 &&
               j["parked_reversals"] == 1;
      },
      std::chrono::seconds(20), "the refused reversal did not get parked");
  CHECK(st["parked_uploads"] == 0);
  for (const auto& id : stored)
    CHECK(result_of(c->call("settle.get", Json{{"setl_id", id}}))["state"] == "offline_accepted");
  CHECK(s.daemon_log().find("parked after 2 refusals") != std::string::npos);

  // Cashiers may not see or touch parked items.
  CHECK(reason_of(c->call("outbox.parked")) == "FORBIDDEN");
  CHECK(reason_of(c->call("outbox.retry", Json{{"item_id", 1}})) == "FORBIDDEN");
  CHECK(reason_of(c->call("outbox.resolve", Json{{"item_id", 1}, {"note", "x"}})) == "FORBIDDEN");

  const Json parked = result_of(sup->call("outbox.parked"));
  REQUIRE(parked["items"].size() == 1);
  const Json item = parked["items"][0];
  CHECK(item["kind"] == "reversal");
  CHECK(item["refusals"] == kParkAfter);
  CHECK(item["msgid"].get<std::string>().size() == 30);
  CHECK(item["reason"].get<std::string>().find("simulated insurer error") != std::string::npos);
  CHECK_FALSE(item["psn_no_masked"].is_null());
  const std::int64_t item_id = item["item_id"].get<std::int64_t>();

  // A retry while the insurer still refuses: tried again, parked again.
  std::string out;
  CHECK(settlectl_parked(s, fmt::format("retry --item {}", item_id), out) == 0);
  INFO(out);
  CHECK(out.find("pending") != std::string::npos);
  wait_status(
      *c, [](const Json& j) { return j["parked_reversals"] == 1 && j["pending_reversals"] == 0; },
      std::chrono::seconds(10), "the retried reversal was not parked again");
  CHECK(settlectl_parked(s, "list", out) == 0);
  CHECK(out.find("reversal") != std::string::npos);
  // Resolved by the office: a correction one supervisor records and another
  // person approves; until then the item stays parked.
  CHECK(settlectl_parked(s, fmt::format("resolve --item {} --note 'reversed by phone'", item_id), out) == 0);
  INFO(out);
  CHECK(out.find("\"recorded\"") != std::string::npos);  // the correction, waiting for approval
  CHECK(engine_status(*c)["parked_reversals"] == 1);
  const Json waiting = result_of(sup->call("correction.list", Json{{"state", "recorded"}}));
  REQUIRE(waiting["corrections"].size() == 1);
  const std::int64_t corr = std::stoll(waiting["corrections"][0]["correction_id"].get<std::string>());
  CHECK(waiting["corrections"][0]["item_id"] == item_id);
  // The recorder may not approve it; a second person (the auditor) does.
  CHECK(reason_of(sup->call("correction.approve", Json{{"correction_id", corr}})) == "INVALID_STATE");
  CHECK(engine_status(*c)["parked_reversals"] == 1);
  auto aud = s.session(Stack::auditor);
  const Json approved = result_of(aud->call("correction.approve", Json{{"correction_id", corr}, {"note", "checked"}}));
  CHECK(approved["state"] == "approved");
  CHECK(approved["decided_by"] == Stack::auditor.name);
  CHECK(engine_status(*c)["parked_reversals"] == 0);
  CHECK(result_of(sup->call("outbox.parked"))["items"].empty());
  CHECK(reason_of(sup->call("outbox.retry", Json{{"item_id", item_id}})) == "INVALID_STATE");
  CHECK(reason_of(sup->call("outbox.resolve", Json{{"item_id", 99999}, {"note", "x"}})) == "NOT_FOUND");
  s.clear_faults();
}

TEST_CASE("an offline settlement of a person not on the red list is refunded once accepted") {
  Stack& s = stack();
  s.clear_faults();
  PersonSpec late = settle::testing::person(40);
  s.add_person(late);  // known to the insurer, not on the daemon's copy of the red list
  s.insert_card(0, late);
  auto c = s.session(Stack::cashier);
  wait_status(*c, [](const Json& j) { return j["network"] == "online"; }, std::chrono::seconds(10), "not online");
  REQUIRE(c->call("card.read").contains("result"));
  s.set_faults({"refuse"});
  const Json a = result_of(c->call("settle.commit", Json{{"request_id", "pk-late-1"}, {"lines", lines()}}));
  CHECK(a["state"] == "offline_pending");
  s.clear_faults();
  wait_status(
      *c, [](const Json& j) { return j["network"] == "online" && j["pending_uploads"] == 0; },
      std::chrono::seconds(20), "not drained");
  const std::string id = a["setl_id"].get<std::string>();
  CHECK(result_of(c->call("settle.get", Json{{"setl_id", id}}))["state"] == "offline_accepted");
  const Json refund = c->call("settle.refund", Json{{"request_id", "pk-late-refund"}, {"setl_id", id}});
  REQUIRE_MESSAGE(refund.contains("result"), refund.dump());
  CHECK(result_of(c->call("settle.get", Json{{"setl_id", id}}))["state"] == "refunded");
}

}  // namespace settle::parked_e2e
