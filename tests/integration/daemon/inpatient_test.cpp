// Inpatient stays end to end (docs/inpatient.md): the real daemon over its
// cashier socket, the real insurer-sim over mutual TLS with its faults
// switched at run time, virtual cards. A stay admitted, charged in batches
// (one repeated, one conflicting), corrected, previewed, discharged with the
// PIN, undone, corrected and discharged again; a stay across an outage and
// settled offline, then drained; a stay of 5,000 lines. The insurer's own
// view of each visit (its control endpoint) is checked against the ledger's.
// Built twice: SETTLE_E2E_PROFILE "regional" (the default) or "national",
// where the discharge the line fails is refused and made online once it is back.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <memory>
#include <string>
#include <string_view>

namespace settle::inpatient_e2e {
namespace {

using settle::testing::amount_at;
using settle::testing::fen;
using settle::testing::Json;
using settle::testing::PersonSpec;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using settle::testing::wait_status;

#ifndef SETTLE_E2E_PROFILE
#define SETTLE_E2E_PROFILE "regional"
#endif

// The insurer profile of both sides (settled's [insurer] profile, insurer-sim --profile).
bool national() { return std::string_view(SETTLE_E2E_PROFILE) == "national"; }

std::unique_ptr<Stack> g_stack;

Stack& stack() {
  if (!g_stack) {
    g_stack = std::make_unique<Stack>(national() ? "daemon-inpatient-national" : "daemon-inpatient");
    g_stack->profile = SETTLE_E2E_PROFILE;
    g_stack->extra_config = R"(
[network]
probe_interval_ms = 300
failures_to_offline = 1
offline_deadline_ms = 1500
[reversal]
retry_initial_ms = 200
retry_max_ms = 1000
)";
    std::vector<PersonSpec> persons;
    for (int n = 1; n <= 4; ++n) persons.push_back(settle::testing::person(n));
    g_stack->start_all(persons);
  }
  REQUIRE_MESSAGE(g_stack->daemon_alive(), "settled exited: " << g_stack->daemon_log());
  return *g_stack;
}

// A window with person n's card read (and the PIN verified).
std::unique_ptr<RpcClient> window(int n, bool pin) {
  Stack& s = stack();
  s.insert_card(0, settle::testing::person(n));
  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));
  if (pin) REQUIRE(c->call("card.verify_pin", Json{{"pin", "123456"}}).contains("result"));
  return c;
}

Json line(const std::string& sn, const std::string& amount, const std::string& cls = "A") {
  return Json{{"feedetl_sn", sn}, {"code", cls == "C" ? "C0001" : "250101001"}, {"name", "住院床位费"},
              {"class", cls}, {"amount", amount}};
}

Json visit_at_insurer(const std::string& mdtrt_id) {
  const auto r = stack().sim_control("GET", "/visits/" + mdtrt_id);
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  return r.body;
}

Json get_stay(RpcClient& c, const std::string& adm_id) {
  return result_of(c.call("inpatient.get", Json{{"adm_id", adm_id}, {"limit", 500}}));
}

Json wait_drained(RpcClient& c) {
  return wait_status(
      c, [](const Json& st) { return st["network"] == "online" && st["pending_uploads"] == 0 && st["pending_reversals"] == 0; },
      std::chrono::seconds(60), "not drained");
}

}  // namespace

TEST_CASE("a stay online: admitted, lines in batches (one repeated, one conflicting), corrected, discharged, undone, "
          "discharged again") {
  Stack& s = stack();
  auto c = window(1, true);
  const Json adm = result_of(c->call("inpatient.admit", Json{{"request_id", "in-adm-1"}, {"dept", "0301"},
                                                           {"dept_name", "普外科"}, {"diagnosis", "K35.8"}}));
  CHECK(adm["mode"] == "online");
  CHECK(adm["state"] == "admitted");
  REQUIRE(adm["mdtrt_id"].is_string());
  const std::string adm_id = adm["adm_id"].get<std::string>();
  const std::string mdtrt_id = adm["mdtrt_id"].get<std::string>();
  // A second admission of the same person is refused while the stay is open.
  const Json again = c->call("inpatient.admit", Json{{"request_id", "in-adm-2"}, {"dept", "0301"}, {"diagnosis", "K35.8"}});
  CHECK(reason_of(again) == "INVALID_STATE");

  const Json b1 = Json{{"request_id", "in-b1"}, {"adm_id", adm_id},
                       {"lines", Json::array({line("0001", "300.00"), line("0002", "1200.50"), line("0003", "80.00", "C")})}};
  Json r = result_of(c->call("inpatient.add_lines", b1));
  CHECK(r["upload"] == "sent");
  CHECK(r["lines_count"] == 3);
  CHECK(amount_at(r, "total_so_far") == fen(158'050));
  const Json b2 = Json{{"request_id", "in-b2"}, {"adm_id", adm_id},
                       {"lines", Json::array({line("0004", "2000.00", "B"), line("0005", "150.00")})}};
  r = result_of(c->call("inpatient.add_lines", b2));
  CHECK(r["lines_count"] == 5);
  // The same batch again (the terminal's reply was lost): the stored answer,
  // nothing stored twice (its `upload` is as stored: the window's own send came after).
  Json r2 = result_of(c->call("inpatient.add_lines", b2));
  CHECK(r2["upload"] == "queued");
  r2["upload"] = r["upload"];
  CHECK(r2 == r);
  CHECK(get_stay(*c, adm_id)["lines_count"] == 5);
  // The same request id with other lines: a conflict.
  Json b2x = b2;
  b2x["lines"][1]["amount"] = "151.00";
  CHECK(reason_of(c->call("inpatient.add_lines", b2x)) == "DUPLICATE_REQUEST_CONFLICT");
  // A line number the stay holds: refused whole, naming the line.
  const Json dup = c->call("inpatient.add_lines", Json{{"request_id", "in-b3"}, {"adm_id", adm_id},
                                                       {"lines", Json::array({line("0006", "1.00"), line("0002", "9.00")})}});
  CHECK(reason_of(dup) == "INVALID_REQUEST");
  CHECK(dup["error"]["data"]["field"] == "lines[1].feedetl_sn");

  r = result_of(c->call("inpatient.cancel_lines", Json{{"request_id", "in-c1"}, {"adm_id", adm_id}, {"feedetl_sn", {"0005"}}}));
  CHECK(r["lines_count"] == 4);
  CHECK(amount_at(r, "total_so_far") == fen(358'050));

  const Json preview = result_of(c->call("inpatient.preview", Json{{"adm_id", adm_id}}));
  CHECK(amount_at(preview, "total") == fen(358'050));

  const Json d1 = result_of(c->call("inpatient.discharge", Json{{"request_id", "in-d1"}, {"adm_id", adm_id}}));
  CHECK(d1["visit"] == "inpatient");
  CHECK(d1["mode"] == "online");
  CHECK(d1["state"] == "settled");
  CHECK(amount_at(d1, "total") == fen(358'050));
  CHECK(amount_at(d1, "fund") == amount_at(preview, "fund"));
  CHECK(amount_at(d1, "account") > fen(0));  // the PIN was verified
  Json v = visit_at_insurer(mdtrt_id);
  CHECK(v["state"] == "settled");
  CHECK(v["lines"]["live"] == 4);
  CHECK(amount_at(v["lines"], "live_total") == fen(358'050));
  // The admission's facts (2401), which both interfaces take and the national one needs.
  CHECK(v["dept_code"] == "0301");
  CHECK(v["dise_codg"] == "K35.8");
  // An inpatient settlement is never refunded in part (under the national
  // profile the answer says what to do instead).
  const Json rf = c->call("settle.refund", Json{{"request_id", "in-rf"}, {"setl_id", d1["setl_id"]}});
  CHECK(reason_of(rf) == "INVALID_STATE");
  if (national())
    CHECK_MESSAGE(rf["error"]["message"].get<std::string>().find("undo the discharge settlement and discharge again") !=
                      std::string::npos,
                  rf.dump());
  // No lines on a discharged stay.
  CHECK(reason_of(c->call("inpatient.add_lines", Json{{"request_id", "in-b4"}, {"adm_id", adm_id},
                                                      {"lines", Json::array({line("0009", "1.00")})}})) == "INVALID_STATE");

  // Undo: everything back, the stay open again.
  const Json u = result_of(c->call("inpatient.undo_discharge", Json{{"request_id", "in-u1"}, {"adm_id", adm_id}}));
  CHECK(u["state"] == "admitted");
  CHECK(amount_at(u["undo"], "refund_total") == fen(358'050));
  CHECK(amount_at(u["undo"], "account") == amount_at(d1, "account"));
  v = visit_at_insurer(mdtrt_id);
  CHECK(v["state"] == "admitted");

  // Corrected: one line cancelled, one added; discharged again.
  result_of(c->call("inpatient.cancel_lines", Json{{"request_id", "in-c2"}, {"adm_id", adm_id}, {"feedetl_sn", {"0003"}}}));
  result_of(c->call("inpatient.add_lines", Json{{"request_id", "in-b5"}, {"adm_id", adm_id},
                                                {"lines", Json::array({line("0007", "45.00")})}}));
  REQUIRE(c->call("card.verify_pin", Json{{"pin", "123456"}}).contains("result"));
  const Json d2 = result_of(c->call("inpatient.discharge", Json{{"request_id", "in-d2"}, {"adm_id", adm_id}}));
  CHECK(amount_at(d2, "total") == fen(354'550));
  v = visit_at_insurer(mdtrt_id);
  CHECK(v["state"] == "settled");
  CHECK(v["lines"]["live"] == 4);
  CHECK(amount_at(v["lines"], "live_total") == fen(354'550));

  const Json st = get_stay(*c, adm_id);
  CHECK(st["state"] == "discharged");
  CHECK(st["lines_count"] == 4);
  CHECK(st["cancelled_count"] == 2);
  CHECK(st["pending_uploads"] == 0);
  REQUIRE(st["settlements"].size() == 2);
  CHECK(st["settlements"][0]["state"] == "undone");
  CHECK(st["settlements"][1]["state"] == "settled");
  CHECK(st["lines"].size() == 6);
  for (const Json& l : st["lines"]) CHECK(l["uploaded"] == true);
  (void)s;
}

TEST_CASE("a stay across an outage: lines queued, discharged offline against the red list (national: the discharge "
          "refused, made online once the line is back), drained in order") {
  Stack& s = stack();
  // The national profile has no red list (9303): nothing to sync.
  if (!national()) {
    auto sup = s.session(Stack::supervisor);
    REQUIRE(sup->call("redlist.sync", Json{{"full", true}}).contains("result"));
  }
  auto c = window(2, true);
  const Json adm = result_of(c->call("inpatient.admit", Json{{"request_id", "out-adm"}, {"dept", "0401"}, {"diagnosis", "I21.9"}}));
  CHECK(adm["mode"] == "online");
  const std::string adm_id = adm["adm_id"].get<std::string>();
  const std::string mdtrt_id = adm["mdtrt_id"].get<std::string>();
  result_of(c->call("inpatient.add_lines", Json{{"request_id", "out-b1"}, {"adm_id", adm_id},
                                                {"lines", Json::array({line("1", "500.00"), line("2", "700.00")})}}));
  s.set_faults({"refuse"});
  // The line goes down: the next batch is stored and queued.
  Json r = result_of(c->call("inpatient.add_lines", Json{{"request_id", "out-b2"}, {"adm_id", adm_id},
                                                         {"lines", Json::array({line("3", "900.00"), line("4", "60.00", "C")})}}));
  CHECK(r["upload"] == "queued");
  r = result_of(c->call("inpatient.cancel_lines", Json{{"request_id", "out-c1"}, {"adm_id", adm_id}, {"feedetl_sn", {"1"}}}));
  CHECK(r["upload"] == "queued");
  if (national()) {
    // No offline discharge: refused, naming the profile; nothing stored, the stay as it was.
    const Json before = get_stay(*c, adm_id);
    const Json no = c->call("inpatient.discharge", Json{{"request_id", "out-d"}, {"adm_id", adm_id}});
    CHECK(reason_of(no) == "INSURER_UNREACHABLE");
    const std::string why = no["error"]["message"].get<std::string>();
    CHECK_MESSAGE(why.find("national profile") != std::string::npos, why);
    CHECK_MESSAGE(why.find("no offline settlement") != std::string::npos, why);
    CHECK_MESSAGE(why.find("nothing was settled or stored") != std::string::npos, why);
    const Json after = get_stay(*c, adm_id);
    CHECK(after["state"] == "admitted");
    CHECK(after["settlements"].empty());
    CHECK(after == before);
    CHECK(visit_at_insurer(mdtrt_id)["state"] == "admitted");
    // The line back: the queued items go first, then the discharge is made online
    // (the same request id: nothing of the refused one was kept).
    s.clear_faults();
    wait_drained(*c);
    const Json d = result_of(c->call("inpatient.discharge", Json{{"request_id", "out-d"}, {"adm_id", adm_id}}));
    CHECK(d["mode"] == "online");
    CHECK(d["state"] == "settled");
    CHECK(amount_at(d, "total") == fen(166'000));
    const Json st = get_stay(*c, adm_id);
    CHECK(st["state"] == "discharged");
    CHECK(st["pending_uploads"] == 0);
    REQUIRE(st["settlements"].size() == 1);
    CHECK(st["settlements"][0]["state"] == "settled");
    const Json v = visit_at_insurer(mdtrt_id);
    CHECK(v["state"] == "settled");
    CHECK(v["lines"]["live"] == 3);
    CHECK(amount_at(v["lines"], "live_total") == fen(166'000));
    // (The undo of an offline discharge, refused while offline, has no national counterpart.)
    return;
  }
  // Discharged offline: never the account, the fund the red list's estimate.
  const Json d = result_of(c->call("inpatient.discharge", Json{{"request_id", "out-d"}, {"adm_id", adm_id}}));
  CHECK(d["mode"] == "offline");
  CHECK(d["state"] == "offline_pending");
  CHECK(amount_at(d, "account") == fen(0));
  CHECK(amount_at(d, "total") == fen(166'000));
  // The undo of a discharge is made online only.
  CHECK(reason_of(c->call("inpatient.undo_discharge", Json{{"request_id", "out-u"}, {"adm_id", adm_id}})) ==
        "OFFLINE_REFUND_FORBIDDEN");
  s.clear_faults();
  wait_drained(*c);
  const Json st = get_stay(*c, adm_id);
  CHECK(st["pending_uploads"] == 0);
  REQUIRE(st["settlements"].size() == 1);
  CHECK(st["settlements"][0]["state"] == "offline_accepted");
  const Json v = visit_at_insurer(mdtrt_id);
  CHECK(v["state"] == "settled");
  CHECK(v["lines"]["live"] == 3);
  CHECK(amount_at(v["lines"], "live_total") == fen(166'000));
}

// An admission moves no money: by the card it is stored and its 2401 queued
// under both profiles (the national one refuses only the offline discharge).
TEST_CASE("a stay admitted while the line is down is forwarded with its lines when it is back") {
  Stack& s = stack();
  auto c = window(3, false);
  s.set_faults({"refuse"});
  const Json adm = result_of(c->call("inpatient.admit", Json{{"request_id", "off-adm"}, {"dept", "0501"}, {"diagnosis", "J18.9"}}));
  CHECK(adm["mode"] == "offline");
  CHECK(adm["mdtrt_id"].is_null());
  const std::string adm_id = adm["adm_id"].get<std::string>();
  Json r = result_of(c->call("inpatient.add_lines", Json{{"request_id", "off-b1"}, {"adm_id", adm_id},
                                                         {"lines", Json::array({line("A", "88.00"), line("B", "12.00")})}}));
  CHECK(r["upload"] == "queued");
  s.clear_faults();
  wait_drained(*c);
  const Json st = get_stay(*c, adm_id);
  REQUIRE(st["mdtrt_id"].is_string());
  CHECK(st["pending_uploads"] == 0);
  const Json v = visit_at_insurer(st["mdtrt_id"].get<std::string>());
  CHECK(v["state"] == "admitted");
  CHECK(v["lines"]["live"] == 2);
  // The queued 2401 carried the admission's facts.
  CHECK(v["dept_code"] == "0501");
  CHECK(v["dise_codg"] == "J18.9");
  // An admission with nothing on it can be undone (2404 at the insurer).
  result_of(c->call("inpatient.cancel_lines", Json{{"request_id", "off-c1"}, {"adm_id", adm_id}, {"feedetl_sn", {"A", "B"}}}));
  r = result_of(c->call("inpatient.undo_admit", Json{{"request_id", "off-ua"}, {"adm_id", adm_id}}));
  CHECK(r["state"] == "undone");
  CHECK(visit_at_insurer(st["mdtrt_id"].get<std::string>())["state"] == "undone");
}

TEST_CASE("a stay admitted offline by card alone gets its person from the insurer; a refused batch is parked and retried") {
  Stack& s = stack();
  s.clear_faults();
  PersonSpec late = settle::testing::person(41);
  s.add_person(late);  // known to the insurer, not on the daemon's copy of the red list
  s.set_faults({"refuse"});
  s.insert_card(0, late);
  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));
  const Json adm = result_of(c->call("inpatient.admit", Json{{"request_id", "late-adm"}, {"dept", "0601"}, {"diagnosis", "S72.0"}}));
  CHECK(adm["mode"] == "offline");
  const std::string adm_id = adm["adm_id"].get<std::string>();
  Json r = result_of(c->call("inpatient.add_lines", Json{{"request_id", "late-b1"}, {"adm_id", adm_id},
                                                         {"lines", Json::array({line("L1", "320.00")})}}));
  CHECK(r["upload"] == "queued");
  // The line is back, but the insurer refuses every 2301: the admission goes
  // (the person named by 1101 first), the batch is refused until parked.
  s.set_faults({"error:infno=2301"});
  wait_status(
      *c, [](const Json& j) { return j["network"] == "online" && j["parked_uploads"] == 1 && j["pending_uploads"] == 0; },
      std::chrono::seconds(30), "the refused batch was not parked");
  Json st = get_stay(*c, adm_id);
  REQUIRE(st["mdtrt_id"].is_string());
  const std::string mdtrt_id = st["mdtrt_id"].get<std::string>();
  CHECK(visit_at_insurer(mdtrt_id)["state"] == "admitted");
  CHECK(visit_at_insurer(mdtrt_id)["lines"]["live"] == 0);

  auto sup = s.session(Stack::supervisor);
  const Json parked = result_of(sup->call("outbox.parked"));
  REQUIRE(parked["items"].size() == 1);
  const Json item = parked["items"][0];
  CHECK(item["queue"] == "stay");
  CHECK(item["kind"] == "stay_lines");
  CHECK(item["adm_id"] == adm_id);
  CHECK(item["request_id"] == "late-b1");
  CHECK(item["behind"].is_null());
  CHECK_FALSE(item["psn_no_masked"].is_null());
  CHECK(item["reason"].get<std::string>().find("2301") != std::string::npos);
  const std::int64_t item_id = item["item_id"].get<std::int64_t>();
  // The supervisor retries it once the insurer takes 2301 again (settlectl parked retry --stay).
  s.clear_faults();
  const settle::testing::ProgramRun ctl = s.settlectl_as(Stack::supervisor, fmt::format("parked retry --stay --item {}", item_id));
  CHECK_MESSAGE(ctl.status == 0, ctl.out << ctl.err);
  wait_drained(*c);
  st = get_stay(*c, adm_id);
  CHECK(st["pending_uploads"] == 0);
  CHECK(visit_at_insurer(mdtrt_id)["lines"]["live"] == 1);
  CHECK(result_of(sup->call("outbox.parked"))["items"].empty());
  // Done is final: neither queue takes it again.
  CHECK(reason_of(sup->call("outbox.retry", Json{{"item_id", item_id}, {"queue", "stay"}})) == "INVALID_STATE");
}

TEST_CASE("a stay of 5,000 lines is charged in batches and settled over every line") {
  auto c = window(4, false);
  const Json adm = result_of(c->call("inpatient.admit", Json{{"request_id", "big-adm"}, {"dept", "0601"}, {"diagnosis", "C34.9"}}));
  const std::string adm_id = adm["adm_id"].get<std::string>();
  std::int64_t total = 0;
  for (int b = 0; b < 10; ++b) {
    Json lines = Json::array();
    for (int i = 0; i < 500; ++i) {
      const std::int64_t f = 100 + (b * 500 + i) % 977;
      total += f;
      lines.push_back(line(fmt::format("{:05}", b * 500 + i), fmt::format("{}.{:02}", f / 100, f % 100), i % 7 == 0 ? "B" : "A"));
    }
    const Json r = result_of(c->call("inpatient.add_lines", Json{{"request_id", fmt::format("big-b{}", b)}, {"adm_id", adm_id},
                                                                 {"lines", lines}}));
    CHECK(r["upload"] == "sent");
  }
  const Json d = result_of(c->call("inpatient.discharge", Json{{"request_id", "big-d"}, {"adm_id", adm_id}}));
  CHECK(d["mode"] == "online");
  CHECK(amount_at(d, "total") == fen(total));
  const Json v = visit_at_insurer(adm["mdtrt_id"].get<std::string>());
  CHECK(v["lines"]["live"] == 5000);
  CHECK(v["state"] == "settled");
  const Json st = get_stay(*c, adm_id);
  CHECK(st["lines_count"] == 5000);
  CHECK(st["next_cursor"].is_string());
}

}  // namespace settle::inpatient_e2e
