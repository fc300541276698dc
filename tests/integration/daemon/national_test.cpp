// The national insurer profile end to end (docs/insurer-profiles.md): settled
// with [insurer] profile = "national" against insurer-sim --profile national.
// Settlements by e-voucher, by ID number and for a cross-region patient (its
// area reconciled apart), the refund of part as the whole undo and a new
// settlement (the money back as the regional 9301 gives it), the refusals.
#include "e2e_stack.hpp"
#include "tools/insurer-sim/control_client.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <string>

namespace settle::e2e {
namespace {

using settle::testing::amount_at;
using settle::testing::effective_at_insurer;
using settle::testing::engine_status;
using settle::testing::fen;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::wait_status;
using namespace std::chrono_literals;

void check_error(const Json& r, const std::string& reason, const std::string& field) {
  INFO("answer: " << r.dump());
  REQUIRE(r.contains("error"));
  CHECK(reason_of(r) == reason);
  CHECK(r["error"]["data"].value("field", "") == field);
}

bool message_has(const Json& r, const std::string& words) {
  return r["error"]["message"].get<std::string>().find(words) != std::string::npos;
}

// credential.id for person n; REQUIREs success.
Json give_id(RpcClient& c, int n) {
  const Json r = c.call("credential.id", Json{{"id_no", who(n).id_no}});
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  return r["result"];
}

// The simulator's visit of a settlement (its department and diagnosis as registered).
Json insurer_visit(const Json& detail) {
  const auto v = stack().sim_control("GET", "/visits/" + detail["insurer"]["mdtrt_id"].get<std::string>());
  REQUIRE_MESSAGE(v.status == 200, v.body.dump());
  return v.body;
}

// The simulator and settled restarted with `name` as their profile (the
// ledger and the insurer's database kept; the cards stay in their readers).
void switch_profile(const std::string& name) {
  Stack& s = stack();
  s.stop_daemon();
  s.stop_sim();
  s.profile = name;
  s.start_sim();
  s.start_daemon();
}

Json refund_params(const std::string& request_id, const std::string& setl_id) {
  // Back: the class B drug (48.60) and the class C line (66.00).
  return Json{{"request_id", request_id},
              {"setl_id", setl_id},
              {"lines", Json::array({Json{{"code", "86900001"}, {"amount", "48.60"}},
                                     Json{{"code", "C0001"}, {"amount", "66.00"}}})}};
}

}  // namespace

TEST_CASE("national: the stack runs the national profile on both sides") {
  Stack& s = stack();
  const auto health = s.sim_control("GET", "/health");
  REQUIRE(health.status == 200);
  CHECK(health.body["profile"] == "national");
  auto c = s.session(Stack::cashier);
  // 9304 is the regional extension: account.history is refused, naming the profile.
  place_card(0, kMain);
  read_card(*c);
  const Json h = c->call("account.history", Json{{"from", "2020-01-01"}, {"to", "2100-01-01"}});
  check_error(h, "NOT_SUPPORTED", "insurer");
  CHECK(message_has(h, "national"));
}

TEST_CASE("national: an e-voucher decoded (9401) and settled by its token; the account only as the phone authorised") {
  Stack& s = stack();
  auto c = s.session(Stack::cashier);
  const std::string psn_no = give_id(*c, kVoucher)["psn_no"].get<std::string>();
  Amount balance = amount_at(s.sim_control("GET", "/persons/" + psn_no).body, "balance");
  for (const bool auth : {false, true}) {
    CAPTURE(auth);
    const std::string qr = sim::mint_ec_qr(s.control_port(), psn_no, auth);
    const Json r = c->call("credential.scan", Json{{"qr", qr}, {"window", "W01"}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    CHECK(r["result"]["cert_type"] == "e-voucher");
    CHECK(r["result"]["acct_auth"] == auth);
    CHECK(r["result"]["psn_no"] == psn_no);
    CHECK(r["result"]["card_no"].is_null());
    CHECK(r.dump().find(qr) == std::string::npos);

    const Json st = commit(*c, fmt::format("nat-ec-{}", auth ? "auth" : "noauth"), visit_lines());
    CHECK(st["state"] == "settled");
    CHECK(st["cert_type"] == "e-voucher");
    CHECK(st["insuplc_admdvs"] == "110105");
    CHECK(st["cross_region"] == false);
    CHECK(amount_at(st, "fund") > fen(0));
    if (auth) {
      CHECK(amount_at(st, "account") > fen(0));
    } else {
      CHECK(amount_at(st, "account") == fen(0));
      CHECK(has_reason(st, "account_not_authorised"));
    }
    const Json d = check_agrees_with_insurer(*c, st["setl_id"].get<std::string>());
    CHECK(d["cert_type"] == "e-voucher");
    // The visit's facts reached the insurer's registration (2201).
    const Json v = insurer_visit(d);
    CHECK(v["psn_no"] == psn_no);
    CHECK(v["dept_code"] == visit_facts()["dept_code"]);
    CHECK(v["dise_codg"] == visit_facts()["diagnoses"][0]["code"]);
    // The account moved by what the settlement took, no more.
    const Amount now = amount_at(s.sim_control("GET", "/persons/" + psn_no).body, "balance");
    CHECK(balance - now == amount_at(st, "account"));
    balance = now;
  }
  // A code the platform never issued: the insurer's refusal, and nothing held after it.
  const Json bad = c->call("credential.scan", Json{{"qr", "ECQR0000000000000000NOTISSUED000"}});
  CHECK(reason_of(bad) == "INSURER_REJECTED");
  CHECK(reason_of(c->call("person.query")) == "CARD_ABSENT");
}

TEST_CASE("national: by ID number, no card and no account, the answer says why") {
  Stack& s = stack();
  auto c = s.session(Stack::cashier);
  const PersonSpec p = who(kIdOnly);
  const Json held = give_id(*c, kIdOnly);
  CHECK(held["cert_type"] == "id");
  CHECK(held["acct_auth"] == false);
  const Json st = commit(*c, "nat-id-1", visit_lines(), true);
  CHECK(st["state"] == "settled");
  CHECK(st["cert_type"] == "id");
  CHECK(amount_at(st, "account") == fen(0));
  CHECK(amount_at(st, "fund") > fen(0));
  CHECK(has_reason(st, "account_not_by_id"));
  const Json d = check_agrees_with_insurer(*c, st["setl_id"].get<std::string>());
  CHECK(d.dump().find(p.id_no) == std::string::npos);
  // The balance at the insurer is untouched.
  const auto person = s.sim_control("GET", "/persons/" + held["psn_no"].get<std::string>());
  CHECK(amount_at(person.body, "balance") == amount_at(Json{{"balance", p.balance}}, "balance"));

  // Another person's credential cannot refund it: the original was made with this person's ID number.
  const std::string setl_id = st["setl_id"].get<std::string>();
  give_id(*c, kVoucher);
  check_error(c->call("settle.refund", refund_params("nat-id-1-other", setl_id)), "CARD_MISMATCH", "credential");
  CHECK(check_agrees_with_insurer(*c, setl_id)["state"] == "settled");
  // With the person's own ID number at the window (no card): the undo and a new
  // settlement of the kept lines, the money back all in cash and fund.
  give_id(*c, kIdOnly);
  const Json r = c->call("settle.refund", refund_params("nat-id-1-r", setl_id));
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  const Json& back = r["result"];
  CHECK(amount_at(back, "refund_total") == fen(11460));
  check_parts_add_up(back, "refund_total");
  CHECK(amount_at(back, "account") == fen(0));
  CHECK(check_agrees_with_insurer(*c, setl_id)["state"] == "undone");
  REQUIRE(back.contains("settlement"));
  const Json kept = check_agrees_with_insurer(*c, back["settlement"]["setl_id"].get<std::string>());
  CHECK(kept["cert_type"] == "id");
  CHECK(amount_at(kept, "account") == fen(0));
  CHECK(amount_at(kept, "total") == amount_at(st, "total") - fen(11460));
  // Re-settlement with the account is the card's (and its PIN's) alone.
  const Json rs = c->call("settle.resettle", Json{{"request_id", "nat-id-1-rs"}, {"setl_id", kept["setl_id"]}});
  check_error(rs, "CARD_ABSENT", "card");
  CHECK(message_has(rs, "ID number"));
}

TEST_CASE("national: a cross-region patient settled with the person's area; recon.run shows the area apart, balanced") {
  Stack& s = stack();
  place_card(0, kCrossRegion);
  auto c = s.session(Stack::cashier);
  read_card(*c, who(kCrossRegion).pin);
  const Json st = commit(*c, "nat-xr-1", visit_lines());
  CHECK(st["state"] == "settled");
  CHECK(st["insuplc_admdvs"] == kElsewhere);
  CHECK(st["cross_region"] == true);
  const Json d = check_agrees_with_insurer(*c, st["setl_id"].get<std::string>());
  CHECK(d["insuplc_admdvs"] == kElsewhere);

  auto sup = s.session(Stack::supervisor, "W02");
  const Json rr = sup->call("recon.run", Json{{"date", d["clearing_date"]}});
  REQUIRE_MESSAGE(rr.contains("result"), rr.dump());
  const Json& rec = rr["result"];
  INFO("recon.run: " << rec.dump());
  CHECK(rec["balanced"] == true);
  bool elsewhere = false, home = false;
  for (const auto& a : rec["by_area"]) {
    CHECK(a["balanced"] == true);
    CHECK(a["local"] == a["insurer"]);
    if (a["insuplc_admdvs"] == kElsewhere) {
      elsewhere = true;
      CHECK(a["cross_region"] == true);
      // The area's own totals: this patient's settlement only.
      CHECK(a["local"]["count"] == 1);
      CHECK(amount_at(a["local"], "total") == amount_at(st, "total"));
      CHECK(amount_at(a["local"], "fund") == amount_at(st, "fund"));
    } else if (a["insuplc_admdvs"] == "110105") {
      home = true;
      CHECK(a["cross_region"] == false);
      CHECK(a["local"]["count"].get<int>() >= 1);
    }
  }
  CHECK(elsewhere);
  CHECK(home);
}

TEST_CASE("national: the refusals: no dept or diagnosis, no offline settlement with the line down") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.session(Stack::cashier);
  read_card(*c, who(kMain).pin);

  // The visit's department and main diagnosis are required, each named.
  Json p{{"request_id", "nat-novisit-1"}, {"lines", visit_lines()}};
  check_error(c->call("settle.commit", p), "INVALID_REQUEST", "visit.dept_code");
  p["visit"] = visit_facts();
  p["visit"]["diagnoses"] = Json::array();
  const Json nodiag = c->call("settle.commit", p);
  check_error(nodiag, "INVALID_REQUEST", "visit.diagnoses");
  CHECK(effective_at_insurer(s, "nat-novisit-1") == 0);

  // The line down: the settlement is refused (no offline settlement in this
  // profile), nothing is stored, and the same request settles once the line is back.
  s.set_faults({"refuse"});
  const Json down = c->call("settle.commit", commit_params("nat-down-1", visit_lines()));
  check_error(down, "INSURER_UNREACHABLE", "insurer");
  CHECK(message_has(down, "no offline settlement"));
  wait_status(*c, [](const Json& st) { return st["network"] != "online"; }, 10s, "the line offline");
  const auto t0 = std::chrono::steady_clock::now();
  const Json offline = c->call("settle.commit", commit_params("nat-down-2", visit_lines()));
  check_error(offline, "INSURER_UNREACHABLE", "insurer");
  CHECK(message_has(offline, "no offline settlement"));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);  // answered at once: no offline work to try
  const Json status = engine_status(*c);
  CHECK(status["pending_uploads"] == 0);
  s.clear_faults();
  wait_status(*c, [](const Json& st) { return st["network"] == "online"; }, 10s, "the line back");
  CHECK(effective_at_insurer(s, "nat-down-1") == 0);
  const Json st = commit(*c, "nat-down-1", visit_lines());
  CHECK(st["state"] == "settled");
  CHECK(effective_at_insurer(s, "nat-down-1") == 1);
}

// It runs the regional profile for a while, and the national one again after it.
TEST_CASE("national: a refund of part is the undo and a new settlement, the money back as the regional 9301's") {
  Stack& s = stack();
  place_card(0, kPartRefund);
  auto c = s.session(Stack::cashier);
  read_card(*c, who(kPartRefund).pin);
  const Json orig = commit(*c, "nat-part-1", visit_lines());
  const std::string setl_id = orig["setl_id"].get<std::string>();
  REQUIRE(amount_at(orig, "account") > fen(0));  // the account pays a part, the rest is cash
  REQUIRE(amount_at(orig, "cash") > fen(0));

  const Json r = c->call("settle.refund", refund_params("nat-part-1-r", setl_id));
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  const Json back = r["result"];
  INFO("national refund: " << back.dump());
  CHECK(amount_at(back, "refund_total") == fen(11460));
  check_parts_add_up(back, "refund_total");
  CHECK(amount_at(back, "account") <= amount_at(orig, "account"));
  // The original undone at the insurer (2208), the kept lines settled anew (2207).
  CHECK(check_agrees_with_insurer(*c, setl_id)["state"] == "undone");
  REQUIRE(back.contains("settlement"));
  const std::string kept_id = back["settlement"]["setl_id"].get<std::string>();
  CHECK(kept_id != setl_id);
  const Json kept = check_agrees_with_insurer(*c, kept_id);
  CHECK(kept["state"] == "settled");
  CHECK(amount_at(kept, "total") == amount_at(orig, "total") - fen(11460));
  CHECK(amount_at(kept, "account") <= amount_at(orig, "account"));
  // The net of the two at the insurer is the money back.
  CHECK(amount_at(orig, "fund") - amount_at(kept, "fund") == amount_at(back, "fund"));
  CHECK(amount_at(orig, "account") - amount_at(kept, "account") == amount_at(back, "account"));
  CHECK(amount_at(orig, "cash") - amount_at(kept, "cash") == amount_at(back, "cash"));

  // The same charges for a person alike, settled and refunded by the regional
  // interface's 9301: the same money back, fund, account and cash to the fen.
  switch_profile("regional");
  auto rc = s.session(Stack::cashier);
  place_card(0, kPartRefundRegional);
  read_card(*rc, who(kPartRefundRegional).pin);
  const Json rorig = commit(*rc, "reg-part-1", visit_lines());
  const Json rr = rc->call("settle.refund", refund_params("reg-part-1-r", rorig["setl_id"].get<std::string>()));
  switch_profile("national");
  REQUIRE_MESSAGE(rr.contains("result"), rr.dump());
  const Json& rback = rr["result"];
  INFO("regional refund: " << rback.dump());
  CHECK_FALSE(rback.contains("settlement"));
  for (const char* part : {"fund", "account", "cash"}) {
    CAPTURE(part);
    CHECK(amount_at(rorig, part) == amount_at(orig, part));
    CHECK(amount_at(rback, part) == amount_at(back, part));
  }
}

// A reversal is routed by the person's insured area as the original was:
// sent with the hospital's, the insurer refuses it and it is parked.
TEST_CASE("national: a cross-region patient's lost 2207 reply is reversed (2601) with the person's insured area") {
  Stack& s = stack();
  place_card(0, kCrossRegion);
  auto c = s.session(Stack::cashier);
  read_card(*c, who(kCrossRegion).pin);
  const Json parked_before = engine_status(*c)["parked_reversals"];
  s.set_faults({"lost_reply:count=1,infno=2207"});
  const Json lost = c->call("settle.commit", commit_params("nat-xr-lost", visit_lines()));
  INFO("answer: " << lost.dump());
  CHECK(lost.contains("error"));  // no offline settlement here: in doubt, being reversed
  s.clear_faults();
  const Json st = wait_status(
      *c, [](const Json& j) { return j["pending_reversals"] == 0; }, 20s, "the reversal forwarded");
  CHECK(st["parked_reversals"] == parked_before);  // not refused: reversed
  CHECK(effective_at_insurer(s, "nat-xr-lost") == 0);
}

TEST_CASE("national: a stay admitted by e-voucher, discharged with the person's ID number (no account), refused for "
          "another person's credential, its discharge undone") {
  Stack& s = stack();
  auto c = s.session(Stack::cashier);
  const std::string psn_no = give_id(*c, kVoucher)["psn_no"].get<std::string>();
  const std::string qr = sim::mint_ec_qr(s.control_port(), psn_no, true);
  REQUIRE_MESSAGE(c->call("credential.scan", Json{{"qr", qr}, {"window", "W01"}}).contains("result"), "credential.scan");
  const Json adm = result_of(c->call("inpatient.admit", Json{{"request_id", "nat-stay-adm"}, {"dept", "A03"},
                                                           {"dept_name", "内科"}, {"diagnosis", "J18.9"},
                                                           {"diagnosis_name", "肺炎"}}));
  CHECK(adm["mode"] == "online");
  CHECK(adm["state"] == "admitted");
  REQUIRE(adm["mdtrt_id"].is_string());
  const std::string adm_id = adm["adm_id"].get<std::string>();
  const std::string mdtrt_id = adm["mdtrt_id"].get<std::string>();
  // One open stay per person: the same person's ID number admits no second one.
  give_id(*c, kVoucher);
  CHECK(reason_of(c->call("inpatient.admit", Json{{"request_id", "nat-stay-adm-2"}, {"dept", "A03"}, {"diagnosis", "J18.9"}})) ==
        "INVALID_STATE");

  Json lines = Json::array();
  int sn = 0;
  for (Json l : visit_lines()) {
    l["feedetl_sn"] = fmt::format("NS{:03}", ++sn);
    lines.push_back(std::move(l));
  }
  // Above the stay's deductible: the fund pays a part.
  lines.push_back(
      Json{{"feedetl_sn", "NS005"}, {"code", "110200001"}, {"name", "住院诊查费"}, {"class", "A"}, {"amount", "3000.00"}});
  const Json added =
      result_of(c->call("inpatient.add_lines", Json{{"request_id", "nat-stay-b1"}, {"adm_id", adm_id}, {"lines", lines}}));
  CHECK(added["lines_count"] == 5);
  const Json discharge{{"request_id", "nat-stay-dis"}, {"adm_id", adm_id}, {"use_account", true}};

  // Another person's ID number, another person's card: refused, nothing settled.
  give_id(*c, kIdOnly);
  const Json by_other = c->call("inpatient.discharge", discharge);
  check_error(by_other, "CARD_MISMATCH", "credential");
  CHECK(reason_of(c->call("inpatient.preview", Json{{"adm_id", adm_id}})) == "CARD_MISMATCH");
  place_card(0, kMain);
  read_card(*c, who(kMain).pin);
  CHECK(reason_of(c->call("inpatient.discharge", discharge)) == "CARD_MISMATCH");
  CHECK(effective_at_insurer(s, "nat-stay-dis") == 0);

  // The person's own ID number: settled without the account, the answer says why.
  give_id(*c, kVoucher);
  const Json preview = result_of(c->call("inpatient.preview", Json{{"adm_id", adm_id}, {"use_account", true}}));
  CHECK(amount_at(preview, "account") == fen(0));
  const Json d = result_of(c->call("inpatient.discharge", discharge));
  CHECK(d["visit"] == "inpatient");
  CHECK(d["mode"] == "online");
  CHECK(d["state"] == "settled");
  CHECK(d["cert_type"] == "id");
  CHECK(amount_at(d, "account") == fen(0));
  CHECK(amount_at(d, "fund") > fen(0));
  CHECK(has_reason(d, "account_not_by_id"));
  CHECK(amount_at(d, "fund") == amount_at(preview, "fund"));
  const std::string setl_id = d["setl_id"].get<std::string>();
  CHECK(check_agrees_with_insurer(*c, setl_id)["state"] == "settled");
  CHECK(effective_at_insurer(s, "nat-stay-dis") == 1);

  // The undo of the discharge: not for another person's ID number; for the person's, the stay is open again.
  give_id(*c, kIdOnly);
  CHECK(reason_of(c->call("inpatient.undo_discharge", Json{{"request_id", "nat-stay-undo-x"}, {"adm_id", adm_id}})) ==
        "CARD_MISMATCH");
  give_id(*c, kVoucher);
  const Json u = result_of(c->call("inpatient.undo_discharge", Json{{"request_id", "nat-stay-undo"}, {"adm_id", adm_id}}));
  CHECK(u["state"] == "admitted");
  CHECK(check_agrees_with_insurer(*c, setl_id)["state"] == "undone");
  const auto v = s.sim_control("GET", "/visits/" + mdtrt_id);
  REQUIRE_MESSAGE(v.status == 200, v.body.dump());
  CHECK(v.body["state"] == "admitted");
}

}  // namespace settle::e2e
