// This host's clock off past the insurer's signature window, with the real
// settled and insurer-sim (its clock moved by its control endpoint): a charge
// settles offline for the clock (offline_clock_skew), nothing is charged at
// the insurer, engine.status and the metrics show the skew, and once the
// clock is right again the line comes back and the stored settlement is forwarded.
#include "tests/support/daemon_harness.hpp"
#include "tools/insurer-sim/control_client.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <regex>
#include <string>

namespace settle::clock_skew_e2e {
namespace {

using settle::testing::effective_at_insurer;
using settle::testing::engine_status;
using settle::testing::Json;
using settle::testing::result_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using settle::testing::wait_status;

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "125.00"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

bool has_reason(const Json& result, const std::string& reason) {
  for (const auto& r : result["reasons"])
    if (r == reason) return true;
  return false;
}

void set_sim_clock(const Stack& s, std::int64_t offset_s) {
  const auto r = s.sim_control("POST", "/clock", Json{{"offset_s", offset_s}});
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  CHECK(r.body["offset_s"] == offset_s);
}

// settled's metrics page (its port from the log's "metrics: serving" line).
std::string metrics(const Stack& s) {
  std::smatch m;
  const std::string log = s.daemon_log();
  const std::regex serving(R"(metrics: serving http://127\.0\.0\.1:(\d+)/metrics)");
  REQUIRE_MESSAGE(std::regex_search(log, m, serving), log);
  const auto r = sim::control_request(static_cast<std::uint16_t>(std::stoi(m[1].str())), "GET", "/metrics");
  REQUIRE(r.status == 200);
  return r.body;
}

}  // namespace

TEST_CASE("the insurer's clock 400 s ahead: offline for the clock, nothing charged; the line back once it is right") {
  Stack s("daemon-clock-skew");
  s.extra_config = "[network]\nprobe_interval_ms = 300\nfailures_to_offline = 1\noffline_deadline_ms = 1500\n";
  s.start_all({settle::testing::person(1)});
  s.insert_card(0, settle::testing::person(1));
  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));

  // Online first: signed in, the clocks agree.
  const Json first = result_of(c->call("settle.commit", Json{{"request_id", "ck-0"}, {"lines", lines()}, {"use_account", false}}));
  CHECK(first["mode"] == "online");
  Json st = engine_status(*c);
  CHECK(st["clock_skew"] == "ok");
  REQUIRE(st["clock_skew_s"].is_number_integer());
  CHECK(std::abs(st["clock_skew_s"].get<std::int64_t>()) <= 2);

  // The insurer's clock 400 s ahead: it refuses every request for its timestamp.
  set_sim_clock(s, 400);
  const Json off = result_of(c->call("settle.commit", Json{{"request_id", "ck-1"}, {"lines", lines()}, {"use_account", false}}));
  INFO(off.dump());
  CHECK(off["mode"] == "offline");
  CHECK(off["state"] == "offline_pending");
  CHECK(has_reason(off, "offline_clock_skew"));
  CHECK_FALSE(has_reason(off, "offline_network_down"));
  CHECK(effective_at_insurer(s, "ck-1") == 0);  // the refused request did nothing at the insurer

  st = wait_status(
      *c, [](const Json& x) { return x["network"] == "offline" && x["clock_skew"] == "refused"; },
      std::chrono::seconds(10), "the line did not go offline for the clock");
  REQUIRE(st["clock_skew_s"].is_number_integer());
  CHECK(st["clock_skew_s"].get<std::int64_t>() >= 398);
  CHECK(st["clock_skew_s"].get<std::int64_t>() <= 402);
  CHECK(st["pending_uploads"] == 1);
  const std::string page = metrics(s);
  CHECK(page.find("settled_insurer_clock_refused 1") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(page, m, std::regex(R"(settled_insurer_clock_skew_seconds (-?\d+))")));
  CHECK(std::stoll(m[1].str()) >= 398);
  CHECK(s.daemon_log().find("refuses this host's request timestamps") != std::string::npos);

  // While it stays so, the next charge settles offline for the clock at once.
  const Json again = result_of(c->call("settle.commit", Json{{"request_id", "ck-2"}, {"lines", lines()}, {"use_account", false}}));
  CHECK(again["mode"] == "offline");
  CHECK(has_reason(again, "offline_clock_skew"));

  // The clock right again: the probe signs in, the stored settlements are forwarded.
  set_sim_clock(s, 0);
  st = wait_status(
      *c,
      [](const Json& x) { return x["network"] == "online" && x["pending_uploads"] == 0 && x["clock_skew"] == "ok"; },
      std::chrono::seconds(20), "the line did not come back once the clock was right");
  CHECK(effective_at_insurer(s, "ck-1") == 1);
  CHECK(effective_at_insurer(s, "ck-2") == 1);
  const Json d = result_of(c->call("settle.get", Json{{"setl_id", off["setl_id"]}}));
  CHECK(d["state"] == "offline_accepted");
  CHECK(metrics(s).find("settled_insurer_clock_refused 0") != std::string::npos);
  s.stop_daemon();
}

}  // namespace settle::clock_skew_e2e
