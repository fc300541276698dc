// The metrics page: every family with HELP and TYPE, labelled series at 0
// before any traffic, durations in seconds, the gauges read at scrape time,
// and the HTTP routing (GET /metrics only).
#include "tools/settled/metrics.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>

using namespace settle::daemon;

namespace {

bool has_line(const std::string& page, const std::string& line) {
  std::istringstream in(page);
  for (std::string l; std::getline(in, l);)
    if (l == line) return true;
  return false;
}

}  // namespace

TEST_CASE("before any traffic: every counter family and its labelled series at 0, with HELP and TYPE") {
  Metrics m;
  m.gauges = [] { return Metrics::Gauges{}; };
  const std::string page = m.render();
  CHECK(has_line(page, "settled_settlements_total{mode=\"online\",outcome=\"settled\"} 0"));
  CHECK(has_line(page, "settled_settlements_total{mode=\"offline\",outcome=\"stored\"} 0"));
  CHECK(has_line(page, "settled_refunds_total{outcome=\"refunded\"} 0"));
  CHECK(has_line(page, "settled_insurer_calls_total{infno=\"2207\",outcome=\"in_doubt\"} 0"));
  CHECK(has_line(page, "settled_reversals_total{outcome=\"parked\"} 0"));
  CHECK(has_line(page, "settled_uploads_total{outcome=\"accepted\"} 0"));
  CHECK(has_line(page, "settled_redlist_syncs_total{kind=\"delta\",outcome=\"failed\"} 0"));
  CHECK(has_line(page, "settled_closeouts_total 0"));
  CHECK(has_line(page, "settled_audit_failures_total 0"));
  CHECK(has_line(page, "settled_request_duration_seconds_count{method=\"settle.commit\"} 0"));
  CHECK(has_line(page, "settled_line_state{state=\"online\"} 1"));
  CHECK(has_line(page, "settled_line_state{state=\"offline\"} 0"));
  CHECK(has_line(page, "settled_redlist_age_seconds +Inf"));
  CHECK(has_line(page, "settled_insurer_clock_skew_seconds NaN"));
  CHECK(page.find("_ms") == std::string::npos);
  CHECK(page.find("method=\"?\"") == std::string::npos);  // every cashier method by its name

  // Every sample's family has a HELP (non-empty) and a TYPE line, once each.
  std::set<std::string> helped, typed;
  std::istringstream in(page);
  const std::regex help(R"(# HELP (\w+) \S.*)"), type(R"(# TYPE (\w+) (counter|gauge|histogram))");
  const std::regex sample(R"((\w+?)(_bucket|_sum|_count)?(\{.*\})? \S+)");
  std::smatch mm;
  for (std::string l; std::getline(in, l);) {
    if (std::regex_match(l, mm, help)) {
      CHECK(helped.insert(mm[1]).second);
    } else if (std::regex_match(l, mm, type)) {
      CHECK(typed.insert(mm[1]).second);
      if (mm[2] == "counter") CHECK(mm[1].str().ends_with("_total"));
    } else {
      REQUIRE_MESSAGE(std::regex_match(l, mm, sample), l);
      const std::string name = l.substr(0, l.find_first_of("{ "));
      const bool known = typed.contains(name) ||
                         typed.contains(std::regex_replace(name, std::regex("_(bucket|sum|count)$"), ""));
      CHECK_MESSAGE(known, l);
    }
  }
  CHECK(helped == typed);
}

TEST_CASE("counting: settlements, insurer calls in seconds, red-list syncs, close-outs, gauges") {
  Metrics m;
  m.settlement("online", "settled");
  m.settlement("online", "settled");
  m.insurer_call("2207", "answered", 30'000);    // 30 ms
  m.insurer_call("2207", "answered", 700'000);   // 700 ms
  m.redlist_sync(false, true);
  m.closeout_recorded();
  m.upload("accepted", 5);
  m.gauges = [] {
    Metrics::Gauges g;
    g.network_state = 2;
    g.in_doubt = 1;
    g.parked_uploads = 3;
    g.redlist_version = 17;
    g.redlist_synced_at_ms = 1'000'000;
    g.now_ms = 1'090'500;
    g.clock_skew_s = -4;
    return g;
  };
  const std::string page = m.render();
  CHECK(has_line(page, "settled_settlements_total{mode=\"online\",outcome=\"settled\"} 2"));
  CHECK(has_line(page, "settled_insurer_calls_total{infno=\"2207\",outcome=\"answered\"} 2"));
  CHECK(has_line(page, "settled_insurer_call_duration_seconds_bucket{infno=\"2207\",le=\"0.025\"} 0"));
  CHECK(has_line(page, "settled_insurer_call_duration_seconds_bucket{infno=\"2207\",le=\"0.05\"} 1"));
  CHECK(has_line(page, "settled_insurer_call_duration_seconds_bucket{infno=\"2207\",le=\"1\"} 2"));
  CHECK(has_line(page, "settled_insurer_call_duration_seconds_bucket{infno=\"2207\",le=\"+Inf\"} 2"));
  CHECK(has_line(page, "settled_insurer_call_duration_seconds_sum{infno=\"2207\"} 0.73"));
  CHECK(has_line(page, "settled_insurer_call_duration_seconds_count{infno=\"2207\"} 2"));
  CHECK(has_line(page, "settled_redlist_syncs_total{kind=\"delta\",outcome=\"ok\"} 1"));
  CHECK(has_line(page, "settled_closeouts_total 1"));
  CHECK(has_line(page, "settled_uploads_total{outcome=\"accepted\"} 5"));
  CHECK(has_line(page, "settled_line_state{state=\"offline\"} 1"));
  CHECK(has_line(page, "settled_line_state{state=\"online\"} 0"));
  CHECK(has_line(page, "settled_network_state 2"));
  CHECK(has_line(page, "settled_in_doubt 1"));
  CHECK(has_line(page, "settled_parked_items{kind=\"offline_upload\"} 3"));
  CHECK(has_line(page, "settled_redlist_version 17"));
  CHECK(has_line(page, "settled_redlist_age_seconds 90.5"));
  CHECK(has_line(page, "settled_redlist_last_sync_timestamp_seconds 1000"));
  CHECK(has_line(page, "settled_insurer_clock_skew_seconds -4"));
}

TEST_CASE("a money flow's steps: every step's series from the start, each observation in its own, no other name") {
  Metrics m;
  for (const std::string_view step : Metrics::flow_steps)
    CHECK(has_line(m.render(), fmt::format("settled_flow_step_duration_seconds_count{{step=\"{}\"}} 0", step)));
  m.flow_step("ledger_commit", 650);    // 0.65 ms
  m.flow_step("ledger_commit", 1'350);  // 1.35 ms
  m.flow_step("claim", 400);
  m.flow_step("no_such_step", 5'000);   // a bug in the caller: not a new series
  const std::string page = m.render();
  CHECK(has_line(page, "settled_flow_step_duration_seconds_bucket{step=\"ledger_commit\",le=\"0.001\"} 1"));
  CHECK(has_line(page, "settled_flow_step_duration_seconds_bucket{step=\"ledger_commit\",le=\"0.0025\"} 2"));
  CHECK(has_line(page, "settled_flow_step_duration_seconds_sum{step=\"ledger_commit\"} 0.002"));
  CHECK(has_line(page, "settled_flow_step_duration_seconds_count{step=\"ledger_commit\"} 2"));
  CHECK(has_line(page, "settled_flow_step_duration_seconds_count{step=\"claim\"} 1"));
  CHECK(has_line(page, "settled_flow_step_duration_seconds_count{step=\"card_check\"} 0"));
  CHECK(page.find("no_such_step") == std::string::npos);
}

TEST_CASE("HTTP routing: GET /metrics only") {
  Metrics m;
  CHECK(answer_metrics_request("GET", "/metrics", m).status == 200);
  CHECK(answer_metrics_request("GET", "/", m).status == 404);
  CHECK(answer_metrics_request("POST", "/metrics", m).status == 404);
  CHECK(answer_metrics_request("GET", "/metrics/../etc", m).status == 404);
  CHECK(answer_metrics_request("GET", "/metrics", m).body.find("settled_settlements_total") != std::string::npos);
}
