// The simulated insurer's transactions in-process against a real SQLite
// file: sign-in, person info, the outpatient path, idempotent msgids, refunds,
// undo, reversal in all its outcomes, reconciliation, offline upload, red
// list, inpatient stays (2401..2404, 2301..2305), the control endpoint, and
// the two profiles (regional, national): refusals, previews, the account cap,
// e-vouchers (9401), credentials and insured areas, 3201 by area, and the
// regional 9301 against the national 2208 + 2207 of the kept lines.
#include "protocol/policy_file.hpp"
#include "tests/integration/insurer_sim/sim_fixture.hpp"
#include "tools/insurer-sim/control.hpp"
#include "tools/insurer-sim/generator.hpp"
#include "tools/insurer-sim/insurer.hpp"

#include <doctest/doctest.h>

using namespace settle;
using namespace settle::sim;
using namespace settle::simtest;
using json::Json;

namespace {

Amount yuan(std::string_view s) { return *parse_amount(s, "test"); }

struct World {
  TempDir dir{"sim-handlers"};
  std::int64_t now_ms = 1'795'314'645'000;  // 2026-11-22 10:30:45 UTC+8; tests move it
  Store store = Store::open(dir.file("sim.db"), SyncMode::normal).value();  // no fsync per request: these tests are about rules
  Insurer insurer;
  Headers headers;
  std::string sign_no;
  std::string area = "110105";  // the envelope's insuplc_admdvs

  explicit World(SimProfile profile = SimProfile::regional)
      : insurer{store, *load_policy_file(std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml"),
                [this] { return now_ms; }, false, profile} {
    REQUIRE(init_demo(store).ok());
    // A person whose deductible is used up, so the fund pays.
    PersonRow p;
    p.psn_no = "11000000000000010";
    p.card_no = "T00000010";
    p.card_sn = "AAAA456789ABCDEF0123456789ABCDEF";
    p.certno = "110105198203030015";
    p.certno[17] = id_check_char(std::string_view(p.certno).substr(0, 17));
    p.name = "钱七";
    p.insutype = "310";
    p.balance = yuan("500.00");
    p.deductible_used = yuan("1800.00");
    REQUIRE(add_person(store, p).ok());
    auto r = call<insurer::SignIn>({"C007", "", ""});
    REQUIRE(r.infcode == 0);
    sign_no = insurer::SignIn::Output::decode(r.output).value().sign_no;
  }

  Reply raw(const insurer::RequestHeader& h, const Json& input) {
    auto req = insurer::decode_request(insurer::encode_request(h, input));
    REQUIRE(req.ok());
    auto r = insurer.handle(*req);
    REQUIRE(r.ok());
    return *r;
  }
  template <class T>
  Reply call(const typename T::Input& in, std::string* msgid = nullptr) {
    auto h = headers.next(T::infno, sign_no);
    h.insuplc_admdvs = area;
    if (msgid != nullptr) *msgid = h.msgid;
    return raw(h, in.encode());
  }
  template <class T>
  typename T::Output ok(const typename T::Input& in, std::string* msgid = nullptr) {
    const Reply r = call<T>(in, msgid);
    INFO("err_msg: " << r.err_msg);
    REQUIRE(r.infcode == 0);
    // The output as sent: its recorded text (3202 pages are written as text only).
    const Json output = r.output_text.empty() ? r.output : json::parse(r.output_text).value();
    auto out = T::Output::decode(output);
    INFO("decode: " << (out.ok() ? "" : out.error().message));
    REQUIRE(out.ok());
    return *out;
  }
  Amount balance(std::string_view psn) { return (*store.person_by_psn_no(psn)).value().balance; }
  PersonRow person(std::string_view psn) { return (*store.person_by_psn_no(psn)).value(); }
  Json report() { return *insurer.report(); }
  // GET /visits/<mdtrt_id> of the control endpoint.
  Json visit(const std::string& mdtrt) {
    NetCounters net;
    FaultSet faults(1);
    ControlContext ctx{insurer, faults, net};
    const ControlAnswer a = control_handle(ctx, "GET", "/visits/" + mdtrt, "");
    INFO(a.body.dump());
    REQUIRE(a.status == 200);
    return a.body;
  }

  // ---- inpatient stays of the fund-paying person ----
  insurer::Admission::Input admission(const std::string& ipt = "IP1", const std::string& psn = "11000000000000010",
                                      const std::string& card = "T00000010") {
    insurer::Admission::Input adm;
    adm.psn_no = psn;
    adm.insutype = "310";
    adm.mdtrt_cert_type = "03";
    adm.mdtrt_cert_no = card;
    adm.med_type = "21";
    adm.ipt_otp_no = ipt;
    adm.begntime = "2026-11-20 08:00:00";
    adm.dept_code = "D03";
    adm.dept_name = "心内科";
    adm.dise_codg = "I21.9";
    adm.dise_name = "急性心肌梗死";
    return adm;
  }
  static insurer::FeeDetail stay_line(const std::string& mdtrt, const char* batch, const char* sn, const char* code,
                                      LineClass cls, const char* amount,
                                      const std::string& psn = "11000000000000010") {
    insurer::FeeDetail d;
    d.feedetl_sn = sn;
    d.mdtrt_id = mdtrt;
    d.psn_no = psn;
    d.chrg_bchno = batch;
    d.fee_ocur_time = "2026-11-21 09:00:00";
    d.med_list_codg = code;
    d.medins_list_codg = code;
    d.medins_list_name = code;
    d.det_item_fee_sumamt = yuan(amount);
    d.cnt = "1";
    d.pric = yuan(amount);
    d.cls = cls;
    return d;
  }
  insurer::SettleInput stay_settle(const std::string& mdtrt, const char* total, const char* flag = "1",
                                   const std::string& psn = "11000000000000010", const std::string& card = "T00000010") {
    insurer::SettleInput s = settle_input(mdtrt, total, flag, psn, card, "");
    s.med_type = "21";
    s.medins_setl_id = "IPL-" + mdtrt;
    return s;
  }
  static insurer::Discharge::Input discharge(const std::string& mdtrt, const std::string& psn = "11000000000000010") {
    return {mdtrt, psn, "310", "2026-11-25 10:00:00", "1"};
  }
  // The engine's inpatient split of `lines` for the person as stored now.
  Split engine_split(std::string_view psn, const std::vector<insurer::FeeDetail>& lines, bool use_account) {
    const PersonRow p = person(psn);
    std::vector<ChargeLine> charge;
    for (const insurer::FeeDetail& d : lines) charge.push_back(insurer::to_charge_line(d));
    SplitOptions opt;
    opt.visit = VisitType::inpatient;
    opt.use_account = use_account;
    opt.pin_verified = true;
    return split(insurer.policy(), Person{p.insutype, p.flags, p.balance, p.deductible_used, p.fund_paid_ytd}, charge,
                 opt)
        .value();
  }

  // Registers an outpatient visit for the fund-paying person with lines A 100, B 50 (20 %), C 20.
  std::string visit_with_lines(const std::string& psn = "11000000000000010", const std::string& card = "T00000010",
                               const std::string& batch = "B1") {
    insurer::OutpatientRegister::Input reg;
    reg.psn_no = psn;
    reg.insutype = "310";
    reg.mdtrt_cert_type = "03";
    reg.mdtrt_cert_no = card;
    reg.med_type = "11";
    reg.ipt_otp_no = "OP1";
    reg.begntime = "2026-11-22 10:00:00";
    reg.dept_code = "D01";  // the national profile requires the department and the diagnosis
    reg.dise_codg = "J06.9";
    const std::string mdtrt = ok<insurer::OutpatientRegister>(reg).mdtrt_id;
    add_lines(mdtrt, psn, batch);
    return mdtrt;
  }
  insurer::FeeUploadOutput add_lines(const std::string& mdtrt, const std::string& psn, const std::string& batch) {
    insurer::FeeUploadInput in;
    const auto line = [&](const char* sn, const char* code, LineClass cls, const char* amount) {
      insurer::FeeDetail d;
      d.feedetl_sn = sn;
      d.mdtrt_id = mdtrt;
      d.psn_no = psn;
      d.chrg_bchno = batch;
      d.fee_ocur_time = "2026-11-22 10:05:00";
      d.med_list_codg = code;
      d.medins_list_codg = code;
      d.medins_list_name = code;
      d.det_item_fee_sumamt = yuan(amount);
      d.cnt = "1";
      d.pric = yuan(amount);
      d.cls = cls;
      in.feedetail.push_back(d);
    };
    line((batch + "-1").c_str(), "A001", LineClass::a, "100.00");
    line((batch + "-2").c_str(), "250310005", LineClass::b, "50.00");
    line((batch + "-3").c_str(), "C001", LineClass::c, "20.00");
    return ok<insurer::OutpatientLines>(in);
  }
  insurer::SettleInput settle_input(const std::string& mdtrt, const char* total = "170.00", const char* flag = "1",
                                    const std::string& psn = "11000000000000010", const std::string& card = "T00000010",
                                    const std::string& batch = "B1") {
    insurer::SettleInput s;
    s.psn_no = psn;
    s.mdtrt_cert_type = "03";
    s.mdtrt_cert_no = card;
    s.med_type = "11";
    s.medfee_sumamt = yuan(total);
    s.mdtrt_id = mdtrt;
    s.chrg_bchno = batch;
    s.insutype = "310";
    s.acct_used_flag = flag;
    s.medins_setl_id = "L-" + mdtrt;
    return s;
  }
};

}  // namespace

TEST_CASE("business calls need a signed-in sign_no; sign-out ends it") {
  World w;
  const std::string signed_in = w.sign_no;
  w.sign_no = "nonsense";
  insurer::PersonInfo::Input in{"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""};
  Reply r = w.call<insurer::PersonInfo>(in);
  CHECK(r.infcode == -1);
  CHECK(r.err_msg.find("sign_no") != std::string::npos);
  w.sign_no = signed_in;
  CHECK(w.call<insurer::PersonInfo>(in).infcode == 0);
  w.ok<insurer::SignOut>({signed_in, "C007"});
  CHECK(w.call<insurer::PersonInfo>(in).infcode == -1);
}

TEST_CASE("person info by card (with card_sn) and by ID number") {
  World w;
  auto out = w.ok<insurer::PersonInfo>({"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""});
  CHECK(out.baseinfo.psn_name == "张三");
  CHECK(out.baseinfo.certno == "11010519491231002X");
  REQUIRE(out.insuinfo.size() == 1);
  CHECK(out.insuinfo[0].insutype == "310");
  CHECK(out.insuinfo[0].balc == yuan("500.00"));
  auto by_id = w.ok<insurer::PersonInfo>({"02", "11010519491231002X", "", "01", "", ""});
  CHECK(by_id.baseinfo.psn_no == out.baseinfo.psn_no);
  CHECK(w.call<insurer::PersonInfo>({"03", "D00000001", "FFFF456789ABCDEF0123456789ABCDEF", "01", "", ""}).infcode == -1);
  CHECK(w.call<insurer::PersonInfo>({"03", "X99999999", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""}).infcode == -1);
  auto flagged = w.ok<insurer::PersonInfo>({"03", "D00000003", "2123456789ABCDEF0123456789ABCDEF", "01", "", ""});
  CHECK(flagged.insuinfo[0].flags.has(PersonFlag::supervised));
}

TEST_CASE("outpatient: lines, preview, settle; a repeated msgid returns the first answer with no second charge") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  // Preview moves no money.
  auto preview = w.ok<insurer::OutpatientPreview>(w.settle_input(mdtrt));
  CHECK(preview.setlinfo.setl_id.empty());
  CHECK(w.balance("11000000000000010") == yuan("500.00"));
  // Rules: C 20 own pay; B 50 × 20 % = 10 preselfpay; inscp 140; deductible used up;
  // fund = floor(140 × 0.70) = 98; patient 72 from the account.
  std::string msgid;
  const Reply first = w.call<insurer::OutpatientSettle>(w.settle_input(mdtrt), &msgid);
  REQUIRE(first.infcode == 0);
  const auto s = insurer::SettleOutput::decode(first.output).value().setlinfo;
  CHECK(s.medfee_sumamt == yuan("170.00"));
  CHECK(s.fulamt_ownpay_amt == yuan("20.00"));
  CHECK(s.preselfpay_amt == yuan("10.00"));
  CHECK(s.inscp_scp_amt == yuan("140.00"));
  CHECK(s.act_pay_dedc == yuan("0.00"));
  CHECK(s.fund_pay_sumamt == yuan("98.00"));
  CHECK(s.acct_pay == yuan("72.00"));
  CHECK(s.psn_cash_pay == yuan("0.00"));
  CHECK(s.balc == yuan("428.00"));
  CHECK(s.fund_pay_sumamt == preview.setlinfo.fund_pay_sumamt);
  CHECK(s.acct_pay == preview.setlinfo.acct_pay);
  CHECK(w.balance("11000000000000010") == yuan("428.00"));

  // The same msgid again: same answer, no effect.
  insurer::RequestHeader h = w.headers.next("2207", w.sign_no);
  h.msgid = msgid;
  const Reply again = w.raw(h, w.settle_input(mdtrt).encode());
  CHECK(again.replayed);
  CHECK(again.output == first.output);
  CHECK(w.balance("11000000000000010") == yuan("428.00"));
  CHECK(w.insurer.counters().idempotent_replays == 1);

  // A new msgid for the same lines: nothing left to settle.
  CHECK(w.call<insurer::OutpatientSettle>(w.settle_input(mdtrt)).infcode == -1);
  // Report: exactly one effective settlement.
  const Json rep = w.report();
  CHECK(rep["totals"]["effective_settlements"] == 1);
  CHECK(rep["totals"]["acct_pay"] == "72.00");
  CHECK(rep["settlements"][0]["medins_setl_id"] == "L-" + mdtrt);
}

TEST_CASE("settle refusals leave nothing behind: wrong total, wrong card, unknown visit") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  CHECK(w.call<insurer::OutpatientSettle>(w.settle_input(mdtrt, "169.99")).infcode == -1);
  CHECK(w.call<insurer::OutpatientSettle>(w.settle_input(mdtrt, "170.00", "1", "11000000000000010", "D00000001")).infcode == -1);
  CHECK(w.call<insurer::OutpatientSettle>(w.settle_input("M999999999999999")).infcode == -1);
  CHECK(w.balance("11000000000000010") == yuan("500.00"));
  CHECK(w.report()["settlements"].empty());
  // The lines are still there to settle.
  CHECK(w.call<insurer::OutpatientSettle>(w.settle_input(mdtrt)).infcode == 0);
}

TEST_CASE("acct_used_flag 0 and flags: the account is not used / the fund does not pay") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt, "170.00", "0")).setlinfo;
  CHECK(s.acct_pay == yuan("0.00"));
  CHECK(s.psn_cash_pay == yuan("72.00"));
  CHECK(w.balance("11000000000000010") == yuan("500.00"));
  // Supervised person (王五, balance 300): fund 0, all from the account.
  const std::string m2 = w.visit_with_lines("11000000000000003", "D00000003", "B9");
  auto s2 = w.ok<insurer::OutpatientSettle>(w.settle_input(m2, "170.00", "1", "11000000000000003", "D00000003", "B9")).setlinfo;
  CHECK(s2.fund_pay_sumamt == yuan("0.00"));
  CHECK(s2.acct_pay == yuan("170.00"));
  CHECK(s2.balc == yuan("130.00"));
}

TEST_CASE("partial refund: insurer decides fund_r; cash first then account; wrong card refused") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  const auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt)).setlinfo;
  insurer::PartialRefund::Input in;
  in.setl_id = s.setl_id;
  in.psn_no = "11000000000000010";
  in.mdtrt_cert_no = "D00000001";  // not the original's card
  in.medins_refd_id = "RF1";
  in.lines = {{"C001", yuan("20.00")}};
  CHECK(w.call<insurer::PartialRefund>(in).infcode == -1);
  in.mdtrt_cert_no = "T00000010";
  // Class C line back: the fund share of the rest is unchanged, so fund_r = 0,
  // and the patient's 20 goes to the account (no cash was paid).
  auto r = w.ok<insurer::PartialRefund>(in);
  CHECK(r.refund_total == yuan("20.00"));
  CHECK(r.fund_r == yuan("0.00"));
  CHECK(r.acct_r == yuan("20.00"));
  CHECK(r.cash_r == yuan("0.00"));
  CHECK(r.balc == yuan("448.00"));
  // More of C001 than is left: refused whole.
  in.lines = {{"C001", yuan("0.01")}};
  CHECK(w.call<insurer::PartialRefund>(in).infcode == -1);
  // A001 back: remaining B 50 -> inscp 40 -> fund 28; fund_r = 98 - 28 = 70; patient part 30 to the account.
  in.lines = {{"A001", yuan("100.00")}};
  auto r2 = w.ok<insurer::PartialRefund>(in);
  CHECK(r2.fund_r == yuan("70.00"));
  CHECK(r2.acct_r == yuan("30.00"));
  CHECK(w.balance("11000000000000010") == yuan("478.00"));
  const Json rep = w.report();
  CHECK(rep["totals"]["medfee_sumamt"] == "50.00");
  CHECK(rep["totals"]["fund_pay_sumamt"] == "28.00");
  CHECK(rep["totals"]["acct_pay"] == "22.00");
}

TEST_CASE("undo gives back what is left; reversal of the undo restores the settlement; reversals are idempotent") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  std::string settle_msgid;
  const auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt), &settle_msgid).setlinfo;
  std::string undo_msgid;
  auto u = w.ok<insurer::OutpatientUndo>({s.setl_id, mdtrt, "11000000000000010"}, &undo_msgid);
  CHECK(u.medfee_sumamt == yuan("170.00"));
  CHECK(u.acct_pay == yuan("72.00"));
  CHECK(u.balc == yuan("500.00"));
  CHECK(w.report()["totals"]["effective_settlements"] == 0);
  CHECK(w.call<insurer::OutpatientUndo>({s.setl_id, mdtrt, "11000000000000010"}).infcode == -1);  // already undone

  auto rv = w.ok<insurer::Reversal>({"11000000000000010", undo_msgid, "2208"});
  CHECK(rv.result == insurer::ReversalResult::reversed);
  CHECK(rv.acct_pay == yuan("72.00"));
  CHECK(w.balance("11000000000000010") == yuan("428.00"));
  CHECK(w.report()["totals"]["effective_settlements"] == 1);
  CHECK(w.ok<insurer::Reversal>({"11000000000000010", undo_msgid, "2208"}).result ==
        insurer::ReversalResult::already_reversed);
  CHECK(w.balance("11000000000000010") == yuan("428.00"));

  // Reversal of the settlement itself.
  auto rs = w.ok<insurer::Reversal>({"11000000000000010", settle_msgid, "2207"});
  CHECK(rs.result == insurer::ReversalResult::reversed);
  CHECK(rs.medfee_sumamt == yuan("170.00"));
  CHECK(w.balance("11000000000000010") == yuan("500.00"));
  CHECK(w.report()["totals"]["medfee_sumamt"] == "0.00");
  // The lines are free again: the hospital can settle them anew.
  CHECK(w.call<insurer::OutpatientSettle>(w.settle_input(mdtrt)).infcode == 0);
}

TEST_CASE("an undo whose lines were settled again cannot be reversed; nothing changes") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  const auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt)).setlinfo;
  std::string undo_msgid;
  w.ok<insurer::OutpatientUndo>({s.setl_id, mdtrt, "11000000000000010"}, &undo_msgid);
  const auto again = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt, "170.00", "0")).setlinfo;
  CHECK(again.psn_cash_pay == yuan("72.00"));
  const Reply r = w.call<insurer::Reversal>({"11000000000000010", undo_msgid, "2208"});
  CHECK(r.infcode == -1);
  CHECK(w.balance("11000000000000010") == yuan("500.00"));
  const Json rep = w.report();
  CHECK(rep["totals"]["effective_settlements"] == 1);
  CHECK(rep["totals"]["psn_cash_pay"] == "72.00");
}

TEST_CASE("reversal of a msgid never seen: not_found, and the late original is refused") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  insurer::RequestHeader late = w.headers.next("2207", w.sign_no);
  auto rv = w.ok<insurer::Reversal>({"11000000000000010", late.msgid, "2207"});
  CHECK(rv.result == insurer::ReversalResult::not_found);
  const Reply r = w.raw(late, w.settle_input(mdtrt).encode());
  CHECK(r.infcode == -1);
  CHECK(w.balance("11000000000000010") == yuan("500.00"));
  // A query msgid reversed: no_effect.
  std::string qmsgid;
  w.ok<insurer::PersonInfo>({"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""}, &qmsgid);
  CHECK(w.ok<insurer::Reversal>({"", qmsgid, "1101"}).result == insurer::ReversalResult::no_effect);
  CHECK(w.report()["reversals"].size() == 2);
}

TEST_CASE("account history lists account movements, most recent first") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  const auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt)).setlinfo;
  w.ok<insurer::OutpatientUndo>({s.setl_id, mdtrt, "11000000000000010"});
  auto h = w.ok<insurer::AccountHistory>({"11000000000000010", 10});
  CHECK(h.balc == yuan("500.00"));
  REQUIRE(h.records.size() == 2);
  CHECK(h.records[0].kind == "undo");
  CHECK(h.records[0].amount == yuan("72.00"));
  CHECK(h.records[1].kind == "settle");
  CHECK(h.records[1].amount == Amount::zero() - yuan("72.00"));
  CHECK(h.records[1].balc == yuan("428.00"));
}

TEST_CASE("daily totals and detail: balanced, then an injected difference shows") {
  World w;
  const std::string mdtrt = w.visit_with_lines();
  const auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt)).setlinfo;
  insurer::DailyTotals::Input t{"310", "11", "2026-11-22", "2026-11-22", yuan("170.00"), yuan("98.00"), yuan("72.00"), 1};
  CHECK(w.ok<insurer::DailyTotals>(t).stmt_rslt == "0");
  NetCounters net;
  FaultSet faults(1);
  ControlContext ctx{w.insurer, faults, net};
  auto a = control_handle(ctx, "POST", "/inject",
                          R"({"op":"alter_amount","setl_id":")" + s.setl_id + R"(","field":"fund_pay_sumamt","amount":"90.00"})");
  CHECK(a.status == 200);
  auto out = w.ok<insurer::DailyTotals>(t);
  CHECK(out.stmt_rslt == "1");
  CHECK(out.fund_pay_sumamt == yuan("90.00"));
  CHECK(out.medfee_sumamt == yuan("162.00"));
  auto added = control_handle(ctx, "POST", "/inject",
                              R"({"op":"add_settlement","psn_no":"11000000000000001","medfee_sumamt":"10.00",)"
                              R"("fund_pay_sumamt":"0.00","acct_pay":"0.00","psn_cash_pay":"10.00","setl_time":"2026-11-22 11:00:00"})");
  CHECK(added.status == 200);
  auto d = w.ok<insurer::DetailReconcile>({"", "", "2026-11-22", "2026-11-22", 1, 1});
  CHECK(d.total == 2);
  CHECK(d.rows.size() == 1);
  CHECK(d.rows[0].setl_id == s.setl_id);
  auto d2 = w.ok<insurer::DetailReconcile>({"", "", "2026-11-22", "2026-11-22", 2, 1});
  CHECK(d2.rows.size() == 1);
  CHECK(d2.rows[0].psn_cash_pay == yuan("10.00"));
  // Pages cut from the same snapshot: both rows on one page, none past the end.
  auto both = w.ok<insurer::DetailReconcile>({"", "", "2026-11-22", "2026-11-22", 1, 5});
  REQUIRE(both.rows.size() == 2);
  CHECK(both.rows[0] == d.rows[0]);
  CHECK(both.rows[1] == d2.rows[0]);
  auto past = w.ok<insurer::DetailReconcile>({"", "", "2026-11-22", "2026-11-22", 3, 1});
  CHECK(past.total == 2);
  CHECK(past.rows.empty());
  CHECK(control_handle(ctx, "POST", "/inject", R"({"op":"delete","setl_id":"S999999999999999"})").status == 404);
  CHECK(control_handle(ctx, "POST", "/inject", R"({"op":"teleport"})").status == 400);
}

TEST_CASE("offline upload: accepted with the insurer's figures, duplicate local id returns the earlier result, unknown person rejected") {
  World w;
  insurer::OfflineRecord rec;
  rec.local_id = "OFF-1";
  rec.psn_no = "11000000000000010";
  rec.card_no = "T00000010";
  rec.insutype = "310";
  rec.setl_time = "2026-11-22 09:00:00";
  rec.reason_code = "offline_network_down";
  rec.medfee_sumamt = yuan("100.00");
  rec.est_fund_pay = yuan("60.00");
  rec.psn_cash_pay = yuan("40.00");
  insurer::FeeDetail d;
  d.feedetl_sn = "1";
  d.med_list_codg = "A001";
  d.det_item_fee_sumamt = yuan("100.00");
  d.cnt = "1";
  d.pric = yuan("100.00");
  rec.lines = {d};
  insurer::OfflineRecord unknown = rec;
  unknown.local_id = "OFF-2";
  unknown.psn_no = "99999999999999999";
  unknown.card_no = "";
  auto out = w.ok<insurer::OfflineUpload>({{rec, unknown}});
  REQUIRE(out.results.size() == 2);
  CHECK(out.results[0].status == "accepted");
  CHECK(out.results[0].fund_pay_sumamt == yuan("70.00"));  // floor(100 × 0.70), not the estimate
  CHECK(out.results[0].acct_pay == yuan("0.00"));
  CHECK_FALSE(out.results[0].mdtrt_id.empty());
  CHECK(out.results[1].status == "rejected");
  CHECK(out.results[1].mdtrt_id.empty());
  CHECK(out.results[1].rej_reason == "unknown_person");
  auto again = w.ok<insurer::OfflineUpload>({{rec}});
  CHECK(again.results[0] == out.results[0]);
  CHECK(w.report()["totals"]["effective_settlements"] == 1);
  CHECK(w.balance("11000000000000010") == yuan("500.00"));
}

TEST_CASE("an accepted offline record is settled in a visit of its own: 2208 undoes it, reconciliation sees it") {
  World w;
  insurer::OfflineRecord rec;
  rec.local_id = "OFF-V1";
  rec.psn_no = "11000000000000010";
  rec.card_no = "T00000010";
  rec.insutype = "310";
  rec.setl_time = "2026-11-22 09:00:00";
  rec.reason_code = "offline_network_down";
  rec.medfee_sumamt = yuan("120.00");
  rec.est_fund_pay = yuan("70.00");
  rec.psn_cash_pay = yuan("50.00");
  const auto line = [](const char* sn, const char* code, LineClass cls, const char* amount) {
    insurer::FeeDetail d;
    d.feedetl_sn = sn;
    d.med_list_codg = code;
    d.det_item_fee_sumamt = yuan(amount);
    d.cnt = "1";
    d.pric = yuan(amount);
    d.cls = cls;
    return d;
  };
  rec.lines = {line("1", "A001", LineClass::a, "100.00"), line("2", "C001", LineClass::c, "20.00")};
  const auto out = w.ok<insurer::OfflineUpload>({{rec}});
  REQUIRE(out.results.size() == 1);
  const insurer::OfflineResult& res = out.results[0];
  REQUIRE(res.status == "accepted");
  CHECK(res.fund_pay_sumamt == yuan("70.00"));
  CHECK(res.psn_cash_pay == yuan("50.00"));
  REQUIRE_FALSE(res.mdtrt_id.empty());
  // The same answer again, visit included; no second visit or settlement.
  CHECK(w.ok<insurer::OfflineUpload>({{rec}}).results[0] == res);
  CHECK(w.report()["totals"]["effective_settlements"] == 1);

  // Reconciliation counts it with its visit, as an online settlement.
  insurer::DailyTotals::Input t{"310", "11", "2026-11-22", "2026-11-22", yuan("120.00"), yuan("70.00"), yuan("0.00"), 1};
  CHECK(w.ok<insurer::DailyTotals>(t).stmt_rslt == "0");
  auto d = w.ok<insurer::DetailReconcile>({"", "", "2026-11-22", "2026-11-22", 1, 10});
  REQUIRE(d.rows.size() == 1);
  CHECK(d.rows[0].setl_id == res.setl_id);
  CHECK(d.rows[0].mdtrt_id == res.mdtrt_id);
  CHECK(d.rows[0].medins_setl_id == "OFF-V1");
  CHECK(w.report()["settlements"][0]["mdtrt_id"] == res.mdtrt_id);

  // 2208 names the settlement and its visit, as for an online one.
  const std::string other_visit = w.visit_with_lines();
  CHECK(w.call<insurer::OutpatientUndo>({res.setl_id, other_visit, "11000000000000010"}).infcode == -1);
  std::string undo_msgid;
  const auto u = w.ok<insurer::OutpatientUndo>({res.setl_id, res.mdtrt_id, "11000000000000010"}, &undo_msgid);
  CHECK(u.medfee_sumamt == yuan("120.00"));
  CHECK(u.fund_pay_sumamt == yuan("70.00"));
  CHECK(u.acct_pay == yuan("0.00"));
  CHECK(u.psn_cash_pay == yuan("50.00"));
  CHECK(u.balc == yuan("500.00"));
  CHECK(w.report()["totals"]["effective_settlements"] == 0);
  CHECK(w.report()["settlements"][0]["state"] == "undone");
  t.medfee_sumamt = t.fund_pay_sumamt = Amount::zero();
  t.fixmedins_setl_cnt = 0;
  CHECK(w.ok<insurer::DailyTotals>(t).stmt_rslt == "0");
  d = w.ok<insurer::DetailReconcile>({"", "", "2026-11-22", "2026-11-22", 1, 10});
  REQUIRE(d.rows.size() == 1);
  CHECK(d.rows[0].refd_setl_flag == "2");

  // The undo reverses (its lines were not settled again), then goes again.
  CHECK(w.ok<insurer::Reversal>({"11000000000000010", undo_msgid, "2208"}).result == insurer::ReversalResult::reversed);
  CHECK(w.report()["settlements"][0]["state"] == "effective");
  w.ok<insurer::OutpatientUndo>({res.setl_id, res.mdtrt_id, "11000000000000010"});
  // Its lines are free in its visit, stored as a 2204 upload would be (the
  // record's id as their batch): they settle again, now with the account.
  const auto again = w.ok<insurer::OutpatientSettle>(
                          w.settle_input(res.mdtrt_id, "120.00", "1", "11000000000000010", "T00000010", "OFF-V1"))
                         .setlinfo;
  CHECK(again.fund_pay_sumamt == yuan("70.00"));
  CHECK(again.acct_pay == yuan("50.00"));
  CHECK(w.balance("11000000000000010") == yuan("450.00"));

  // A record naming one line twice is rejected and opens nothing.
  insurer::OfflineRecord twice = rec;
  twice.local_id = "OFF-V2";
  twice.lines = {line("1", "A001", LineClass::a, "100.00"), line("1", "C001", LineClass::c, "20.00")};
  const auto bad = w.ok<insurer::OfflineUpload>({{twice}});
  CHECK(bad.results[0].status == "rejected");
  CHECK(bad.results[0].rej_reason == "invalid_record");
  CHECK(bad.results[0].mdtrt_id.empty());
  CHECK(w.report()["settlements"].size() == 2);
}

TEST_CASE("red list: full snapshot in pages, then a delta after a change") {
  World w;
  auto p1 = w.ok<insurer::RedList>({0, 0, 1, 3});
  CHECK(p1.total == 5);
  CHECK(p1.entries.size() == 3);
  CHECK(p1.more);
  auto p2 = w.ok<insurer::RedList>({0, p1.version, 2, 3});
  CHECK(p2.entries.size() == 2);
  CHECK_FALSE(p2.more);
  const std::string mdtrt = w.visit_with_lines();
  w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt));
  auto delta = w.ok<insurer::RedList>({p1.version, 0, 1, 100});
  REQUIRE(delta.entries.size() == 1);
  CHECK(delta.entries[0].psn_no == "11000000000000010");
  CHECK(delta.entries[0].fund_paid_ytd == yuan("98.00"));
  CHECK(delta.version > p1.version);
}

// The figures of a discharge settlement as the engine's split gives them.
void check_setlinfo_is_split(const insurer::SetlInfo& info, const Split& s) {
  CHECK(info.medfee_sumamt == s.total);
  CHECK(info.fulamt_ownpay_amt == s.fulamt_ownpay);
  CHECK(info.preselfpay_amt == s.preselfpay);
  CHECK(info.inscp_scp_amt == s.inscp);
  CHECK(info.act_pay_dedc == s.deductible_part);
  CHECK(info.fund_pay_sumamt == s.fund);
  CHECK(info.acct_pay == s.account);
  CHECK(info.psn_cash_pay == s.cash);
}

TEST_CASE("inpatient: a whole stay, lines corrected after an undo, settled again to the fen") {
  World w;
  const std::string psn = "11000000000000010";
  // 2401: the admission; the same admission number again is the same mdtrt_id.
  const std::string mdtrt = w.ok<insurer::Admission>(w.admission()).mdtrt_id;
  const Reply again = w.call<insurer::Admission>(w.admission());
  REQUIRE(again.infcode == 0);
  CHECK(insurer::Admission::Output::decode(again.output).value().mdtrt_id == mdtrt);
  CHECK(again.err_msg.find(mdtrt) != std::string::npos);
  // Another admission for this person while this one is open: refused, naming it.
  const Reply second = w.call<insurer::Admission>(w.admission("IP2"));
  CHECK(second.infcode == -1);
  CHECK(second.err_msg.find(mdtrt) != std::string::npos);

  // 2301 in two batches; the first again, identical, is answered as before.
  using insurer::FeeUploadInput;
  const FeeUploadInput d1{{World::stay_line(mdtrt, "D1", "1", "A001", LineClass::a, "2000.00"),
                           World::stay_line(mdtrt, "D1", "2", "250310005", LineClass::b, "500.00"),
                           World::stay_line(mdtrt, "D1", "3", "C001", LineClass::c, "300.00")}};
  const FeeUploadInput d2{{World::stay_line(mdtrt, "D2", "4", "A002", LineClass::a, "1000.00"),
                           World::stay_line(mdtrt, "D2", "5", "A003", LineClass::a, "200.00")}};
  const auto r1 = w.ok<insurer::InpatientLines>(d1);
  CHECK(r1.result[1].preselfpay_amt == yuan("100.00"));  // 250310005: 20 %
  w.ok<insurer::InpatientLines>(d2);
  CHECK(w.ok<insurer::InpatientLines>(d1) == r1);
  // A batch holding a new line and line 1 with another amount: refused whole, naming line 1.
  const FeeUploadInput conflict{{World::stay_line(mdtrt, "D3", "6", "A004", LineClass::a, "50.00"),
                                 World::stay_line(mdtrt, "D3", "1", "A001", LineClass::a, "2100.00")}};
  const Reply refused = w.call<insurer::InpatientLines>(conflict);
  CHECK(refused.infcode == -1);
  CHECK(refused.err_msg.find("\"1\"") != std::string::npos);
  Json v = w.visit(mdtrt);
  CHECK(v["state"] == "admitted");
  CHECK(v["psn_no"] == psn);
  CHECK(v["dise_codg"] == "I21.9");
  CHECK(v["lines"]["live"] == 5);  // line 6 was not stored
  CHECK(v["lines"]["live_total"] == "4000.00");

  // 2302: line 5 cancelled; again, it is listed again; an unknown line refuses the call.
  CHECK(w.ok<insurer::CancelLines>({mdtrt, psn, {"5"}}).cancelled == std::vector<std::string>{"5"});
  CHECK(w.ok<insurer::CancelLines>({mdtrt, psn, {"5"}}).cancelled == std::vector<std::string>{"5"});
  const Reply unknown = w.call<insurer::CancelLines>({mdtrt, psn, {"4", "99"}});
  CHECK(unknown.infcode == -1);
  CHECK(unknown.err_msg.find("\"99\"") != std::string::npos);
  // A cancelled line's number is not used again.
  CHECK(w.call<insurer::InpatientLines>({{World::stay_line(mdtrt, "D4", "5", "A003", LineClass::a, "200.00")}}).infcode == -1);
  v = w.visit(mdtrt);
  CHECK(v["lines"]["live"] == 4);
  CHECK(v["lines"]["live_total"] == "3800.00");
  CHECK(v["lines"]["cancelled"] == 1);

  // 2303 over the live lines: the total must be theirs (the cancelled line's 200.00 is not).
  const Reply wrong_total = w.call<insurer::InpatientPreview>(w.stay_settle(mdtrt, "4000.00"));
  CHECK(wrong_total.infcode == -1);
  CHECK(wrong_total.err_msg.find("4000.00") != std::string::npos);
  CHECK(wrong_total.err_msg.find("3800.00") != std::string::npos);
  const auto preview = w.ok<insurer::InpatientPreview>(w.stay_settle(mdtrt, "3800.00")).setlinfo;
  CHECK(preview.setl_id.empty());
  // 2304 before 2402: refused.
  const Reply early = w.call<insurer::InpatientSettle>(w.stay_settle(mdtrt, "3800.00"));
  CHECK(early.infcode == -1);
  CHECK(early.err_msg.find("2402") != std::string::npos);
  // 2402, twice: the second answers ok.
  w.ok<insurer::Discharge>(World::discharge(mdtrt));
  CHECK(w.ok<insurer::Discharge>(World::discharge(mdtrt)).mdtrt_id == mdtrt);
  CHECK(w.visit(mdtrt)["state"] == "discharged");
  // A line added to a visit discharged without a settlement opens it again
  // (the hospital corrects it before settling): 2402 is asked again after it.
  w.ok<insurer::InpatientLines>({{World::stay_line(mdtrt, "D5", "7", "A005", LineClass::a, "1.00")}});
  CHECK(w.visit(mdtrt)["state"] == "admitted");
  w.ok<insurer::CancelLines>({mdtrt, psn, {"7"}});
  w.ok<insurer::Discharge>(World::discharge(mdtrt));

  // 2304: the engine's inpatient split. This person's year has 1800.00 of
  // outpatient deductible used, yet the stay pays its own 1300.00:
  // C 300 own pay; B 500 x 20 % = 100; inscp 3400; deductible 1300;
  // fund floor(2100 x 0.85) = 1785; patient 2015: account 500, cash 1515.
  const std::vector<insurer::FeeDetail> live1 = {d1.feedetail[0], d1.feedetail[1], d1.feedetail[2], d2.feedetail[0]};
  const Split expect1 = w.engine_split(psn, live1, true);
  const auto s1 = w.ok<insurer::InpatientSettle>(w.stay_settle(mdtrt, "3800.00")).setlinfo;
  check_setlinfo_is_split(s1, expect1);
  CHECK(s1.act_pay_dedc == yuan("1300.00"));
  CHECK(s1.fund_pay_sumamt == yuan("1785.00"));
  CHECK(s1.acct_pay == yuan("500.00"));
  CHECK(s1.psn_cash_pay == yuan("1515.00"));
  CHECK(s1.balc == yuan("0.00"));
  CHECK(preview.fund_pay_sumamt == s1.fund_pay_sumamt);
  PersonRow p = w.person(psn);
  CHECK(p.balance == yuan("0.00"));
  CHECK(p.fund_paid_ytd == yuan("1785.00"));     // the shared annual cap counts it
  CHECK(p.deductible_used == yuan("1800.00"));   // the stay's deductible is not the year's
  CHECK(w.visit(mdtrt)["state"] == "settled");
  CHECK(w.call<insurer::InpatientSettle>(w.stay_settle(mdtrt, "3800.00")).infcode == -1);  // once
  CHECK(w.call<insurer::UndoAdmission>({mdtrt, psn}).infcode == -1);                      // a standing settlement
  // An inpatient settlement is refunded only whole (2305), never in part.
  CHECK(w.call<insurer::PartialRefund>({s1.setl_id, psn, "T00000010", "RF1", {{"C001", yuan("300.00")}}}).infcode == -1);

  // 2305: everything back; the stay is open again.
  const auto u = w.ok<insurer::InpatientUndo>({s1.setl_id, mdtrt, psn});
  CHECK(u.medfee_sumamt == yuan("3800.00"));
  CHECK(u.fund_pay_sumamt == yuan("1785.00"));
  CHECK(u.acct_pay == yuan("500.00"));
  CHECK(u.psn_cash_pay == yuan("1515.00"));
  p = w.person(psn);
  CHECK(p.balance == yuan("500.00"));
  CHECK(p.fund_paid_ytd == yuan("0.00"));
  CHECK(p.deductible_used == yuan("1800.00"));
  CHECK(w.visit(mdtrt)["state"] == "admitted");

  // The stay corrected: line 4 cancelled, then 2402 and 2304 again over 2800.00:
  // inscp 2400; deductible 1300; fund floor(1100 x 0.85) = 935; patient 1865: account 500, cash 1365.
  CHECK(w.ok<insurer::CancelLines>({mdtrt, psn, {"4"}}).cancelled == std::vector<std::string>{"4"});
  w.ok<insurer::Discharge>(World::discharge(mdtrt));
  const std::vector<insurer::FeeDetail> live2 = {d1.feedetail[0], d1.feedetail[1], d1.feedetail[2]};
  const Split expect2 = w.engine_split(psn, live2, true);
  const auto s2 = w.ok<insurer::InpatientSettle>(w.stay_settle(mdtrt, "2800.00")).setlinfo;
  check_setlinfo_is_split(s2, expect2);
  CHECK(s2.act_pay_dedc == yuan("1300.00"));
  CHECK(s2.fund_pay_sumamt == yuan("935.00"));
  CHECK(s2.acct_pay == yuan("500.00"));
  CHECK(s2.psn_cash_pay == yuan("1365.00"));
  CHECK(s2.setl_id != s1.setl_id);
  CHECK(w.person(psn).fund_paid_ytd == yuan("935.00"));

  // The control endpoint's view of the stay.
  v = w.visit(mdtrt);
  CHECK(v["state"] == "settled");
  CHECK(v["visit"] == "inpatient");
  CHECK(v["ipt_otp_no"] == "IP1");
  CHECK(v["lines"]["live"] == 3);
  CHECK(v["lines"]["live_total"] == "2800.00");
  CHECK(v["lines"]["cancelled"] == 3);  // two corrections and line 7, cancelled after it reopened the visit
  REQUIRE(v["settlements"].size() == 2);
  CHECK(v["settlements"][0]["setl_id"] == s1.setl_id);
  CHECK(v["settlements"][0]["state"] == "undone");
  CHECK(v["settlements"][1]["setl_id"] == s2.setl_id);
  CHECK(v["settlements"][1]["state"] == "effective");
  CHECK(v["settlements"][1]["fund_pay_sumamt"] == "935.00");
  // Settled, the stay is no longer open: a new admission is allowed.
  CHECK(w.call<insurer::Admission>(w.admission("IP2")).infcode == 0);
  NetCounters net;
  FaultSet faults(1);
  ControlContext ctx{w.insurer, faults, net};
  CHECK(control_handle(ctx, "GET", "/visits/M999999999999999", "").status == 404);
}

TEST_CASE("inpatient: 2404 is refused while lines live, allowed once none is left; a second admission is refused") {
  World w;
  const std::string psn = "11000000000000010";
  const std::string mdtrt = w.ok<insurer::Admission>(w.admission()).mdtrt_id;
  w.ok<insurer::InpatientLines>({{World::stay_line(mdtrt, "D1", "1", "A001", LineClass::a, "100.00"),
                                  World::stay_line(mdtrt, "D1", "2", "A002", LineClass::a, "50.00")}});
  const Reply refused = w.call<insurer::UndoAdmission>({mdtrt, psn});
  CHECK(refused.infcode == -1);
  CHECK(refused.err_msg.find("2302") != std::string::npos);
  CHECK(w.visit(mdtrt)["state"] == "admitted");
  // Discharged and not settled, the admission is still open: another is refused.
  w.ok<insurer::Discharge>(World::discharge(mdtrt));
  const Reply second = w.call<insurer::Admission>(w.admission("IP2"));
  CHECK(second.infcode == -1);
  CHECK(second.err_msg.find(mdtrt) != std::string::npos);
  // Lines cancelled after 2402 (not settled) open the visit again.
  w.ok<insurer::CancelLines>({mdtrt, psn, {"0000"}});
  CHECK(w.visit(mdtrt)["state"] == "admitted");
  // Another person's admission is theirs.
  CHECK(w.call<insurer::Admission>(w.admission("IP9", "11000000000000001", "D00000001")).infcode == 0);

  // A fresh admission, its lines all cancelled ("0000"), then undone; twice.
  World w2;
  const std::string m2 = w2.ok<insurer::Admission>(w2.admission()).mdtrt_id;
  w2.ok<insurer::InpatientLines>({{World::stay_line(m2, "D1", "1", "A001", LineClass::a, "100.00"),
                                   World::stay_line(m2, "D1", "2", "A002", LineClass::a, "50.00")}});
  w2.ok<insurer::CancelLines>({m2, psn, {"1"}});
  CHECK(w2.ok<insurer::CancelLines>({m2, psn, {"0000"}}).cancelled == std::vector<std::string>{"2"});
  CHECK(w2.ok<insurer::UndoAdmission>({m2, psn}).mdtrt_id == m2);
  const Reply twice = w2.call<insurer::UndoAdmission>({m2, psn});
  CHECK(twice.infcode == 0);
  CHECK_FALSE(twice.err_msg.empty());
  const Json v = w2.visit(m2);
  CHECK(v["state"] == "undone");
  CHECK(v["lines"]["live"] == 0);
  CHECK(v["lines"]["cancelled"] == 2);
  // Undone: nothing more happens in it, and the person may be admitted again.
  CHECK(w2.call<insurer::InpatientLines>({{World::stay_line(m2, "D2", "3", "A003", LineClass::a, "1.00")}}).infcode == -1);
  CHECK(w2.call<insurer::Discharge>(World::discharge(m2)).infcode == -1);
  CHECK(w2.call<insurer::Admission>(w2.admission("IP2")).infcode == 0);
}

TEST_CASE("inpatient reversals: of 2401 (only while empty), of 2304 (money back, discharged again), of 2305") {
  World w;
  const std::string psn = "11000000000000010";
  // 2401 with a live line: no_effect, saying why; once the line is cancelled: reversed.
  std::string adm_msgid;
  const std::string mdtrt = w.ok<insurer::Admission>(w.admission(), &adm_msgid).mdtrt_id;
  w.ok<insurer::InpatientLines>({{World::stay_line(mdtrt, "D1", "1", "A001", LineClass::a, "2000.00")}});
  std::string rev_msgid;
  const Reply busy = w.call<insurer::Reversal>({psn, adm_msgid, "2401"}, &rev_msgid);
  REQUIRE(busy.infcode == 0);
  CHECK(insurer::Reversal::Output::decode(busy.output).value().result == insurer::ReversalResult::no_effect);
  CHECK(busy.err_msg.find("live line") != std::string::npos);
  CHECK(w.visit(mdtrt)["state"] == "admitted");

  World w1;
  std::string m1_msgid;
  const std::string m1 = w1.ok<insurer::Admission>(w1.admission(), &m1_msgid).mdtrt_id;
  CHECK(w1.ok<insurer::Reversal>({psn, m1_msgid, "2401"}).result == insurer::ReversalResult::reversed);
  CHECK(w1.visit(m1)["state"] == "reversed");
  CHECK(w1.ok<insurer::Reversal>({psn, m1_msgid, "2401"}).result == insurer::ReversalResult::already_reversed);
  CHECK(w1.call<insurer::InpatientLines>({{World::stay_line(m1, "D1", "1", "A001", LineClass::a, "1.00")}}).infcode == -1);
  // The same admission number opens a new admission now.
  CHECK(w1.ok<insurer::Admission>(w1.admission()).mdtrt_id != m1);

  // 2304 reversed: money and the annual accumulator back, the stay discharged and unsettled.
  w.ok<insurer::Discharge>(World::discharge(mdtrt));
  std::string settle_msgid;
  const auto s = w.ok<insurer::InpatientSettle>(w.stay_settle(mdtrt, "2000.00"), &settle_msgid).setlinfo;
  // inscp 2000; deductible 1300; fund floor(700 x 0.85) = 595; patient 1405: account 500, cash 905.
  CHECK(s.fund_pay_sumamt == yuan("595.00"));
  CHECK(s.acct_pay == yuan("500.00"));
  CHECK(w.person(psn).fund_paid_ytd == yuan("595.00"));
  const auto rs = w.ok<insurer::Reversal>({psn, settle_msgid, "2304"});
  CHECK(rs.result == insurer::ReversalResult::reversed);
  CHECK(rs.medfee_sumamt == yuan("2000.00"));
  CHECK(rs.fund_pay_sumamt == yuan("595.00"));
  CHECK(rs.acct_pay == yuan("500.00"));
  CHECK(rs.psn_cash_pay == yuan("905.00"));
  PersonRow p = w.person(psn);
  CHECK(p.balance == yuan("500.00"));
  CHECK(p.fund_paid_ytd == yuan("0.00"));
  CHECK(p.deductible_used == yuan("1800.00"));
  Json v = w.visit(mdtrt);
  CHECK(v["state"] == "discharged");
  CHECK(v["settlements"][0]["state"] == "reversed");
  // Settled again (2304 without a new 2402), then undone, then the undo reversed.
  const auto s2 = w.ok<insurer::InpatientSettle>(w.stay_settle(mdtrt, "2000.00")).setlinfo;
  CHECK(s2.fund_pay_sumamt == yuan("595.00"));
  std::string undo_msgid;
  w.ok<insurer::InpatientUndo>({s2.setl_id, mdtrt, psn}, &undo_msgid);
  CHECK(w.visit(mdtrt)["state"] == "admitted");
  const auto ru = w.ok<insurer::Reversal>({psn, undo_msgid, "2305"});
  CHECK(ru.result == insurer::ReversalResult::reversed);
  CHECK(ru.acct_pay == yuan("500.00"));
  v = w.visit(mdtrt);
  CHECK(v["state"] == "settled");
  CHECK(v["settlements"][1]["state"] == "effective");
  p = w.person(psn);
  CHECK(p.balance == yuan("0.00"));
  CHECK(p.fund_paid_ytd == yuan("595.00"));
  CHECK(p.deductible_used == yuan("1800.00"));

  // Undone again, then settled again: that undo can no longer be reversed; nothing changes.
  std::string undo2_msgid;
  w.ok<insurer::InpatientUndo>({s2.setl_id, mdtrt, psn}, &undo2_msgid);
  w.ok<insurer::Discharge>(World::discharge(mdtrt));
  const auto s3 = w.ok<insurer::InpatientSettle>(w.stay_settle(mdtrt, "2000.00", "0")).setlinfo;
  CHECK(s3.acct_pay == yuan("0.00"));
  const Reply late = w.call<insurer::Reversal>({psn, undo2_msgid, "2305"});
  CHECK(late.infcode == -1);
  CHECK(late.err_msg.find(s3.setl_id) != std::string::npos);
  v = w.visit(mdtrt);
  CHECK(v["state"] == "settled");
  CHECK(v["settlements"][1]["state"] == "undone");
  CHECK(v["settlements"][2]["state"] == "effective");
  CHECK(w.balance(psn) == yuan("500.00"));

  // Undone once more and a line added since: that undo cannot be reversed
  // either (the stay's lines are no longer the settlement's); nothing changes.
  std::string undo3_msgid;
  w.ok<insurer::InpatientUndo>({s3.setl_id, mdtrt, psn}, &undo3_msgid);
  w.ok<insurer::InpatientLines>({{World::stay_line(mdtrt, "D2", "2", "A001", LineClass::a, "1.00")}});
  const Reply changed = w.call<insurer::Reversal>({psn, undo3_msgid, "2305"});
  CHECK(changed.infcode == -1);
  CHECK(changed.err_msg.find("changed since the undo") != std::string::npos);
  v = w.visit(mdtrt);
  CHECK(v["state"] == "admitted");
  CHECK(v["settlements"][2]["state"] == "undone");
  CHECK(v["lines"]["live"] == 2);
  CHECK(w.balance(psn) == yuan("500.00"));
}

TEST_CASE("9302 inpatient record: the stay discharged and settled with the insurer's figures; a wrong total rejected") {
  World w;
  const std::string psn = "11000000000000010";
  const std::string mdtrt = w.ok<insurer::Admission>(w.admission()).mdtrt_id;
  const std::vector<insurer::FeeDetail> lines = {World::stay_line(mdtrt, "D1", "1", "A001", LineClass::a, "2000.00"),
                                                 World::stay_line(mdtrt, "D1", "2", "C001", LineClass::c, "100.00")};
  w.ok<insurer::InpatientLines>({lines});
  insurer::OfflineRecord rec;
  rec.local_id = "OFF-IP1";
  rec.psn_no = psn;
  rec.card_no = "T00000010";
  rec.insutype = "310";
  rec.med_type = "21";
  rec.mdtrt_id = mdtrt;
  rec.setl_time = "2026-11-22 09:00:00";
  rec.reason_code = "offline_network_down";
  rec.medfee_sumamt = yuan("2099.00");  // not the stay's 2100.00
  rec.est_fund_pay = yuan("600.00");
  rec.psn_cash_pay = yuan("1499.00");
  insurer::OfflineRecord unknown = rec;
  unknown.local_id = "OFF-IP0";
  unknown.mdtrt_id = "M999999999999999";
  auto bad = w.ok<insurer::OfflineUpload>({{rec, unknown}});
  REQUIRE(bad.results.size() == 2);
  CHECK(bad.results[0].status == "rejected");
  CHECK(bad.results[0].rej_reason == "invalid_record");
  CHECK(bad.results[0].err_msg.find("2099.00") != std::string::npos);
  CHECK(bad.results[0].err_msg.find("2100.00") != std::string::npos);
  CHECK(bad.results[1].rej_reason == "invalid_record");
  CHECK(w.visit(mdtrt)["state"] == "admitted");

  // The right total (no 2402 was possible offline): accepted with the
  // insurer's split, no account: C 100; inscp 2000; deductible 1300;
  // fund floor(700 x 0.85) = 595 (the estimate said 600).
  rec.local_id = "OFF-IP2";
  rec.medfee_sumamt = yuan("2100.00");
  rec.psn_cash_pay = yuan("1500.00");
  const Split expect = w.engine_split(psn, lines, false);
  const auto out = w.ok<insurer::OfflineUpload>({{rec}});
  REQUIRE(out.results.size() == 1);
  const insurer::OfflineResult& res = out.results[0];
  REQUIRE(res.status == "accepted");
  CHECK(res.mdtrt_id == mdtrt);
  CHECK(res.medfee_sumamt == expect.total);
  CHECK(res.fund_pay_sumamt == expect.fund);
  CHECK(res.fund_pay_sumamt == yuan("595.00"));
  CHECK(res.acct_pay == yuan("0.00"));
  CHECK(res.psn_cash_pay == yuan("1505.00"));
  CHECK(w.ok<insurer::OfflineUpload>({{rec}}).results[0] == res);  // idempotent per local_id
  const PersonRow p = w.person(psn);
  CHECK(p.balance == yuan("500.00"));
  CHECK(p.fund_paid_ytd == yuan("595.00"));
  CHECK(p.deductible_used == yuan("1800.00"));
  const Json v = w.visit(mdtrt);
  CHECK(v["state"] == "settled");
  CHECK(v["endtime"] == "2026-11-22 09:00:00");
  REQUIRE(v["settlements"].size() == 1);
  CHECK(v["settlements"][0]["origin"] == "offline_upload");
  CHECK(v["settlements"][0]["setl_id"] == res.setl_id);
  // The same stay again under another local id: already settled, rejected.
  rec.local_id = "OFF-IP3";
  const auto twice = w.ok<insurer::OfflineUpload>({{rec}});
  CHECK(twice.results[0].status == "rejected");
  CHECK(twice.results[0].rej_reason == "invalid_record");
  CHECK(twice.results[0].err_msg.find(res.setl_id) != std::string::npos);
  // Another person's record naming this stay: rejected.
  rec.local_id = "OFF-IP4";
  rec.psn_no = "11000000000000001";
  rec.card_no = "D00000001";
  CHECK(w.ok<insurer::OfflineUpload>({{rec}}).results[0].rej_reason == "invalid_record");
  // 2305 undoes the offline discharge settlement like an online one.
  const auto u = w.ok<insurer::InpatientUndo>({res.setl_id, mdtrt, psn});
  CHECK(u.fund_pay_sumamt == yuan("595.00"));
  CHECK(w.visit(mdtrt)["state"] == "admitted");
}

TEST_CASE("3201/3202 by clearing type: 21 counts inpatient settlements only, 11 outpatient only, empty both") {
  World w;
  const std::string psn = "11000000000000010";
  const std::string op = w.visit_with_lines();
  const auto out_s = w.ok<insurer::OutpatientSettle>(w.settle_input(op)).setlinfo;  // 170.00, fund 98.00, account 72.00
  const std::string mdtrt = w.ok<insurer::Admission>(w.admission()).mdtrt_id;
  w.ok<insurer::InpatientLines>({{World::stay_line(mdtrt, "D1", "1", "A001", LineClass::a, "2000.00")}});
  w.ok<insurer::Discharge>(World::discharge(mdtrt));
  const auto in_s = w.ok<insurer::InpatientSettle>(w.stay_settle(mdtrt, "2000.00")).setlinfo;
  CHECK(in_s.fund_pay_sumamt == yuan("595.00"));
  CHECK(in_s.acct_pay == yuan("428.00"));  // what the outpatient settlement left

  using T = insurer::DailyTotals::Input;
  const auto totals = [&](const char* clr) {
    return w.ok<insurer::DailyTotals>(T{"310", clr, "2026-11-22", "2026-11-22", {}, {}, {}, 0});
  };
  const auto inpatient = totals("21");
  CHECK(inpatient.setl_cnt == 1);
  CHECK(inpatient.medfee_sumamt == yuan("2000.00"));
  CHECK(inpatient.fund_pay_sumamt == yuan("595.00"));
  CHECK(inpatient.acct_pay == yuan("428.00"));
  const auto outpatient = totals("11");
  CHECK(outpatient.setl_cnt == 1);
  CHECK(outpatient.medfee_sumamt == yuan("170.00"));
  CHECK(outpatient.fund_pay_sumamt == yuan("98.00"));
  const auto all = totals("");
  CHECK(all.setl_cnt == 2);
  CHECK(all.medfee_sumamt == yuan("2170.00"));
  CHECK(w.ok<insurer::DailyTotals>(T{"310", "21", "2026-11-22", "2026-11-22", yuan("2000.00"), yuan("595.00"),
                                     yuan("428.00"), 1})
            .stmt_rslt == "0");
  CHECK(w.ok<insurer::DailyTotals>(T{"310", "11", "2026-11-22", "2026-11-22", yuan("2000.00"), yuan("595.00"),
                                     yuan("428.00"), 1})
            .stmt_rslt == "1");
  // Any other clearing type is refused, naming the field.
  insurer::RequestHeader h = w.headers.next("3201", w.sign_no);
  Json bad = T{"310", "21", "2026-11-22", "2026-11-22", {}, {}, {}, 0}.encode();
  bad["data"]["clr_type"] = "41";
  const Reply refused = w.raw(h, bad);
  CHECK(refused.infcode == -1);
  CHECK(refused.err_msg.find("clr_type") != std::string::npos);

  const auto rows = [&](const char* clr) {
    return w.ok<insurer::DetailReconcile>({"", clr, "2026-11-22", "2026-11-22", 1, 10}).rows;
  };
  const auto in_rows = rows("21");
  REQUIRE(in_rows.size() == 1);
  CHECK(in_rows[0].setl_id == in_s.setl_id);
  CHECK(in_rows[0].mdtrt_id == mdtrt);
  const auto out_rows = rows("11");
  REQUIRE(out_rows.size() == 1);
  CHECK(out_rows[0].setl_id == out_s.setl_id);
  CHECK(rows("").size() == 2);
  // An undone inpatient settlement leaves 3201's inpatient totals, and shows as "2" in 3202.
  w.ok<insurer::InpatientUndo>({in_s.setl_id, mdtrt, psn});
  CHECK(totals("21").setl_cnt == 0);
  CHECK(totals("11").setl_cnt == 1);
  CHECK(rows("21")[0].refd_setl_flag == "2");
}

TEST_CASE("generator: valid ID numbers, repeatable by seed, exact frozen count, some insured elsewhere") {
  GenOptions opt;
  opt.persons = 2000;
  opt.seed = 42;
  opt.frozen = 7;
  int frozen = 0, elsewhere = 0;
  for (std::int64_t n = 0; n < opt.persons; ++n) {
    const PersonRow p = generated_person(opt.seed, n, opt);
    INFO("seed " << opt.seed << " n " << n << " id " << p.certno);
    REQUIRE(valid_id_number(p.certno));
    REQUIRE(valid_card_no(p.card_no));
    REQUIRE(valid_card_sn(p.card_sn));
    if (p.flags.has(PersonFlag::account_frozen)) ++frozen;
    REQUIRE(valid_area(p.insuplc_admdvs));
    if (p.insuplc_admdvs != "110105") ++elsewhere;
    const PersonRow again = generated_person(opt.seed, n, opt);
    REQUIRE(again.certno == p.certno);
    REQUIRE(again.card_sn == p.card_sn);
    REQUIRE(again.balance == p.balance);
  }
  CHECK(frozen == 7);
  CHECK(elsewhere > 60);  // 50 per mille of 2000 by default
  CHECK(elsewhere < 140);
  CHECK(generated_person(43, 5, opt).card_sn != generated_person(42, 5, opt).card_sn);
  CHECK(id_check_char("11010519491231002") == 'X');
  CHECK_FALSE(valid_id_number("110105194912310021"));
  TempDir dir("sim-gen");
  auto st = generate(dir.file("gen.db"), opt);
  REQUIRE(st.ok());
  auto store = Store::open(dir.file("gen.db"));
  REQUIRE(store.ok());
  auto p = store->person_by_psn_no(psn_no_of(1));
  REQUIRE(p.ok());
  REQUIRE(p->has_value());
  CHECK((*p)->certno == generated_person(42, 0, opt).certno);
  CHECK((*p)->insuplc_admdvs == generated_person(42, 0, opt).insuplc_admdvs);
  CHECK_FALSE(generate(dir.file("gen.db"), opt).ok());  // never into a filled file
}

TEST_CASE("add-person refuses bad input and duplicates, changing nothing") {
  World w;
  PersonRow p;
  p.card_no = "D00000001";  // taken
  p.card_sn = "0123456789ABCDEF0123456789ABCDEF";
  p.certno = "110105198203030015";
  p.certno[17] = id_check_char(std::string_view(p.certno).substr(0, 17));
  p.name = "x";
  p.insutype = "310";
  auto r = add_person(w.store, p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().field == "card_no");
  p.card_no = "D00000099";
  p.certno[17] = p.certno[17] == '0' ? '1' : '0';
  CHECK(add_person(w.store, p).error().field == "id_no");
  CHECK(w.report()["settlements"].empty());
}

TEST_CASE("fault specs: parsing, counts, probabilities, delay combined with another fault") {
  CHECK(parse_fault("lost_reply:p=0.3,count=5").ok());
  CHECK(parse_fault("delay:ms=200").value().delay_ms == 200);
  CHECK(fault_text(parse_fault("lost_reply:p=0.3,count=5").value()) == "lost_reply:p=0.3,count=5");
  for (const char* bad : {"", "teleport", "error:p=1.5", "error:count=-1", "delay", "delay:ms=x", "error:q=1", "error:p",
                          "error:infno=22", "error:infno=22x7"}) {
    INFO(bad);
    auto f = parse_fault(bad);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().field == "fault");
  }
  // msg= (error only) takes the rest of the spec as it is, commas and control characters included.
  const auto with_msg = parse_fault("error:count=1,infno=1101,msg=card E00000001, id 110101199003071234\x01");
  REQUIRE(with_msg.ok());
  CHECK(with_msg.value().message == "card E00000001, id 110101199003071234\x01");
  CHECK(with_msg.value().infno == "1101");
  CHECK_FALSE(parse_fault("lost_reply:msg=x").ok());
  CHECK_FALSE(parse_fault("error:msg=").ok());
  FaultSet said(7);
  said.add(with_msg.value());
  CHECK(said.for_request([] { return std::string("1101"); }).error_msg == "card E00000001, id 110101199003071234\x01");
  said.add(parse_fault("error").value());
  CHECK(said.for_request([] { return std::string("1101"); }).error_msg == "simulated insurer error");
  FaultSet fs(7);
  fs.add(parse_fault("delay:ms=50").value());
  fs.add(parse_fault("lost_reply:count=2").value());
  fs.add(parse_fault("error").value());
  RequestFaults r = fs.for_request();
  CHECK(r.delay_ms == 50);
  CHECK(r.action == FaultKind::lost_reply);
  CHECK(fs.for_request().action == FaultKind::lost_reply);
  CHECK(fs.for_request().action == FaultKind::error);  // lost_reply used up
  CHECK_FALSE(fs.refuse_connection());
  // A fault limited to one transaction leaves the others alone.
  FaultSet only(7);
  only.add(parse_fault("lost_reply:count=1,infno=2207").value());
  CHECK(fault_text(only.faults().front()) == "lost_reply:p=1,count=1,infno=2207");
  int asked = 0;
  CHECK_FALSE(only.for_request([&] { ++asked; return std::string("2201"); }).action.has_value());
  CHECK_FALSE(only.for_request([&] { ++asked; return std::string("2204"); }).action.has_value());
  CHECK(only.for_request([&] { ++asked; return std::string("2207"); }).action == FaultKind::lost_reply);
  CHECK_FALSE(only.for_request([&] { ++asked; return std::string("2207"); }).action.has_value());  // used up
  CHECK(asked == 4);
  FaultSet never(7);
  never.add(parse_fault("refuse:p=0").value());
  for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(never.refuse_connection());
  // The same seed gives the same sequence of decisions.
  const std::uint64_t seed = 12345;
  FaultSet a(seed), b(seed);
  a.add(parse_fault("drop_request:p=0.5").value());
  b.add(parse_fault("drop_request:p=0.5").value());
  int fired = 0;
  for (int i = 0; i < 1000; ++i) {
    const bool x = a.for_request().action.has_value();
    INFO("seed " << seed << " request " << i);
    REQUIRE(x == b.for_request().action.has_value());
    fired += x ? 1 : 0;
  }
  CHECK(fired > 400);
  CHECK(fired < 600);
}

TEST_CASE("control endpoint: persons, faults and errors") {
  World w;
  NetCounters net;
  FaultSet faults(1);
  ControlContext ctx{w.insurer, faults, net};
  std::string id_no = "110105199001010012";
  id_no[17] = id_check_char(std::string_view(id_no).substr(0, 17));
  const std::string person = R"({"card_no":"T00000099","card_sn":"ABCDEF0123456789ABCDEF0123456789","id_no":")" + id_no +
                             R"(","name":"孙八","insutype":"390","balance":"12.34","flags":["not_designated"]})";
  auto added = control_handle(ctx, "POST", "/persons", person);
  REQUIRE(added.status == 200);
  const std::string psn = added.body["psn_no"];
  auto got = control_handle(ctx, "GET", "/persons/" + psn, "");
  CHECK(got.body["balance"] == "12.34");
  CHECK(got.body["flags"] == Json::array({"not_designated"}));
  CHECK(control_handle(ctx, "POST", "/persons", person).status == 400);  // same card again
  CHECK(control_handle(ctx, "GET", "/persons/nobody", "").status == 404);
  CHECK(control_handle(ctx, "POST", "/faults/add", R"({"fault":"garbage:count=1"})").status == 200);
  CHECK(faults.faults().size() == 1);
  CHECK(control_handle(ctx, "POST", "/faults", R"({"faults":["error", 3]})").status == 400);
  CHECK(faults.faults().size() == 1);  // a refused change changes nothing
  CHECK(control_handle(ctx, "POST", "/faults", "{not json").status == 400);
  CHECK(control_handle(ctx, "GET", "/nowhere", "").status == 404);
  CHECK(control_handle(ctx, "GET", "/counters", "").body["requests"] == 1);  // the World's sign-in
  // Report filters.
  const std::string mdtrt = w.visit_with_lines();
  std::string msgid;
  w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt), &msgid);
  auto by_local = control_handle(ctx, "GET", "/report?medins_setl_id=L-" + mdtrt, "");
  REQUIRE(by_local.body["settlements"].size() == 1);
  CHECK(by_local.body["settlements"][0]["msgid"] == msgid);
  CHECK(control_handle(ctx, "GET", "/report?msgid=" + msgid, "").body["settlements"].size() == 1);
  CHECK(control_handle(ctx, "GET", "/report?medins_setl_id=none", "").body["settlements"].empty());
  CHECK(control_handle(ctx, "GET", "/report?medins_setl_id=none", "").body["totals"]["effective_settlements"] == 1);
}

TEST_CASE("the control endpoint moves the simulator's clock: read, set, and bad offsets refused unchanged") {
  World w;
  NetCounters net;
  FaultSet faults(1);
  ControlContext ctx{w.insurer, faults, net};
  CHECK(control_handle(ctx, "GET", "/clock", "").body["offset_s"] == 0);
  const ControlAnswer set = control_handle(ctx, "POST", "/clock", R"({"offset_s": 400})");
  CHECK(set.status == 200);
  CHECK(set.body["offset_s"] == 400);
  CHECK(faults.clock_offset_s() == 400);
  CHECK(control_handle(ctx, "POST", "/clock", R"({"offset_s": "400"})").status == 400);
  CHECK(control_handle(ctx, "POST", "/clock", R"({"offset_s": 1.5})").status == 400);
  CHECK(control_handle(ctx, "POST", "/clock", R"({})").status == 400);
  CHECK(faults.clock_offset_s() == 400);
  CHECK(control_handle(ctx, "POST", "/clock", R"({"offset_s": -30})").body["offset_s"] == -30);
}

// ---- the two profiles ----
namespace {

constexpr SimProfile kProfiles[] = {SimProfile::regional, SimProfile::national};

// A person insured in another area (310101), deductible used up.
const std::string kElsewhere = "11000000000000011";
void add_person(World& w, const std::string& psn, const std::string& card, std::string certno, const char* balance,
                const char* deductible_used, const std::string& area = "110105") {
  PersonRow p;
  p.psn_no = psn;
  p.card_no = card;
  p.card_sn = "BBBB456789ABCDEF0123456789ABCDEF";
  certno[17] = id_check_char(std::string_view(certno).substr(0, 17));
  p.certno = certno;
  p.name = "孙九";
  p.insutype = "310";
  p.balance = yuan(balance);
  p.deductible_used = yuan(deductible_used);
  p.insuplc_admdvs = area;
  REQUIRE(add_person(w.store, p).ok());
}
void add_elsewhere(World& w) { add_person(w, kElsewhere, "T00000011", "310101198505050010", "200.00", "1800.00", "310101"); }

// POST /ec-qr of the control endpoint: the code the person's phone shows.
std::string mint(World& w, const std::string& psn, bool acct_auth) {
  NetCounters net;
  FaultSet faults(1);
  ControlContext ctx{w.insurer, faults, net};
  const ControlAnswer a = control_handle(ctx, "POST", "/ec-qr", Json{{"psn_no", psn}, {"acct_auth", acct_auth}}.dump());
  INFO(a.body.dump());
  REQUIRE(a.status == 200);
  return a.body["ec_qrcode"].get<std::string>();
}

struct Line {
  std::string code;
  LineClass cls = LineClass::a;
  Amount amount;
};
const std::vector<Line> kLines{{"A001", LineClass::a, Amount::fen(10'000)},
                               {"250310005", LineClass::b, Amount::fen(5'000)},
                               {"C001", LineClass::c, Amount::fen(2'000)}};

// 2201 (with department and diagnosis) and 2204 of `lines` in batch `batch`; the mdtrt_id.
std::string visit_of(World& w, const std::string& psn, const std::string& card, const std::string& batch,
                     const std::vector<Line>& lines, const std::string& cert_type = "03") {
  insurer::OutpatientRegister::Input reg;
  static_cast<insurer::VisitOpen&>(reg) = {psn, "310", cert_type, card, "11", "OP-" + batch, "2026-11-22 10:00:00",
                                           "D01", "内科", "DR7", "王医生", "J06.9", "急性上呼吸道感染"};
  const std::string mdtrt = w.ok<insurer::OutpatientRegister>(reg).mdtrt_id;
  insurer::FeeUploadInput up;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    insurer::FeeDetail d;
    d.feedetl_sn = fmt::format("{}-{}", batch, i + 1);
    d.mdtrt_id = mdtrt;
    d.psn_no = psn;
    d.chrg_bchno = batch;
    d.fee_ocur_time = "2026-11-22 10:05:00";
    d.med_list_codg = d.medins_list_codg = d.medins_list_name = lines[i].code;
    d.det_item_fee_sumamt = d.pric = lines[i].amount;
    d.cnt = "1";
    d.cls = lines[i].cls;
    up.feedetail.push_back(d);
  }
  w.ok<insurer::OutpatientLines>(up);
  return mdtrt;
}
insurer::SettleInput settle_of(const std::string& mdtrt, const std::string& psn, const std::string& card,
                               const std::string& batch, const std::vector<Line>& lines, bool account,
                               const std::string& cert_type = "03") {
  insurer::SettleInput s;
  s.psn_no = psn;
  s.mdtrt_cert_type = cert_type;
  s.mdtrt_cert_no = card;
  s.med_type = "11";
  for (const Line& l : lines) s.medfee_sumamt += l.amount;
  s.mdtrt_id = mdtrt;
  s.chrg_bchno = batch;
  s.insutype = "310";
  s.acct_used_flag = account ? "1" : "0";
  s.medins_setl_id = "L-" + batch;
  return s;
}

}  // namespace

TEST_CASE("profiles: the national interface has no 9301..9304; the regional insurer serves them") {
  for (const SimProfile profile : kProfiles) {
    CAPTURE(sim_profile_name(profile));
    World w(profile);
    const bool national = profile == SimProfile::national;
    const std::string mdtrt = w.visit_with_lines();
    const auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt)).setlinfo;
    insurer::OfflineRecord rec;
    rec.local_id = "OFF-1";
    rec.psn_no = "11000000000000010";
    rec.card_no = "T00000010";
    rec.insutype = "310";
    rec.setl_time = "2026-11-22 09:00:00";
    rec.reason_code = "offline_network_down";
    rec.medfee_sumamt = rec.psn_cash_pay = yuan("20.00");
    insurer::FeeDetail d;
    d.feedetl_sn = "1";
    d.med_list_codg = "C001";
    d.det_item_fee_sumamt = d.pric = yuan("20.00");
    d.cnt = "1";
    d.cls = LineClass::c;
    rec.lines = {d};
    const std::pair<const char*, Reply> replies[] = {
        {"9301", w.call<insurer::PartialRefund>({s.setl_id, "11000000000000010", "T00000010", "RF1", {{"C001", yuan("20.00")}}})},
        {"9302", w.call<insurer::OfflineUpload>({{rec}})},
        {"9303", w.call<insurer::RedList>({0, 0, 1, 10})},
        {"9304", w.call<insurer::AccountHistory>({"11000000000000010", 5})},
    };
    for (const auto& [infno, r] : replies) {
      CAPTURE(infno);
      CHECK(r.infcode == (national ? -1 : 0));
      if (national) CHECK(r.err_msg == fmt::format("no such transaction {} in the national interface", infno));
    }
    // Nothing moved in the national profile: the settlement stands whole, no offline settlement.
    CHECK(w.report()["totals"]["effective_settlements"] == (national ? 1 : 2));
    CHECK(w.balance("11000000000000010") == (national ? yuan("428.00") : yuan("448.00")));
    // 2208 (the whole undo) is in both.
    CHECK(w.call<insurer::OutpatientUndo>({s.setl_id, mdtrt, "11000000000000010"}).infcode == 0);
  }
}

TEST_CASE("profiles: 2206 previews move no money and store nothing; the national 2201 needs dept_code and a diagnosis") {
  for (const SimProfile profile : kProfiles) {
    CAPTURE(sim_profile_name(profile));
    World w(profile);
    const bool national = profile == SimProfile::national;
    const std::string mdtrt = w.visit_with_lines();
    const auto preview = w.ok<insurer::OutpatientPreview>(w.settle_input(mdtrt)).setlinfo;
    CHECK(preview.setl_id.empty());
    CHECK(preview.fund_pay_sumamt == yuan("98.00"));
    CHECK(preview.acct_pay == yuan("72.00"));
    CHECK(w.balance("11000000000000010") == yuan("500.00"));
    CHECK(w.report()["settlements"].empty());
    CHECK(w.visit(mdtrt)["lines"]["settled"] == 0);
    // The settlement answers what the preview said.
    const auto s = w.ok<insurer::OutpatientSettle>(w.settle_input(mdtrt)).setlinfo;
    CHECK(s.fund_pay_sumamt == preview.fund_pay_sumamt);
    CHECK(s.acct_pay == preview.acct_pay);

    // 2201 without a department, then without a diagnosis.
    insurer::OutpatientRegister::Input reg;
    static_cast<insurer::VisitOpen&>(reg) = {"11000000000000010", "310", "03", "T00000010", "11", "OP2",
                                             "2026-11-22 10:00:00", "", "", "", "", "J06.9", ""};
    const Reply no_dept = w.call<insurer::OutpatientRegister>(reg);
    CHECK(no_dept.infcode == (national ? -1 : 0));
    if (national) CHECK(no_dept.err_msg.find("dept_code is required") != std::string::npos);
    reg.dept_code = "D01";
    reg.dise_codg.clear();
    reg.ipt_otp_no = "OP3";
    const Reply no_dise = w.call<insurer::OutpatientRegister>(reg);
    CHECK(no_dise.infcode == (national ? -1 : 0));
    if (national) CHECK(no_dise.err_msg.find("dise_codg is required") != std::string::npos);
    if (!national) {
      // A visit registered without them (regional) is settled by the regional insurer.
      const std::string bare = insurer::OutpatientRegister::Output::decode(no_dise.output).value().mdtrt_id;
      w.add_lines(bare, "11000000000000010", "B5");
      CHECK(w.call<insurer::OutpatientSettle>(w.settle_input(bare, "170.00", "1", "11000000000000010", "T00000010", "B5"))
                .infcode == 0);
    }
  }
}

TEST_CASE("profiles: exp_content.acct_pay_max caps the account in the national profile; the regional ignores it") {
  for (const SimProfile profile : kProfiles) {
    CAPTURE(sim_profile_name(profile));
    World w(profile);
    const bool national = profile == SimProfile::national;
    const std::string mdtrt = w.visit_with_lines();
    insurer::SettleInput in = w.settle_input(mdtrt);
    in.exp_content.acct_pay_max = yuan("30.00");
    const auto preview = w.ok<insurer::OutpatientPreview>(in).setlinfo;
    const auto s = w.ok<insurer::OutpatientSettle>(in).setlinfo;
    CHECK(preview.acct_pay == s.acct_pay);
    CHECK(s.fund_pay_sumamt == yuan("98.00"));  // the fund is not the cap's business
    CHECK(s.acct_pay == (national ? yuan("30.00") : yuan("72.00")));
    CHECK(s.psn_cash_pay == (national ? yuan("42.00") : yuan("0.00")));
    CHECK(w.balance("11000000000000010") == (national ? yuan("470.00") : yuan("428.00")));
    // A cap above the patient's part changes nothing; a cap of 0.00 means cash only.
    const std::string m2 = w.visit_with_lines("11000000000000010", "T00000010", "B2");
    insurer::SettleInput in2 = w.settle_input(m2, "170.00", "1", "11000000000000010", "T00000010", "B2");
    in2.exp_content.acct_pay_max = Amount::zero();
    const auto s2 = w.ok<insurer::OutpatientSettle>(in2).setlinfo;
    CHECK(s2.acct_pay == (national ? yuan("0.00") : yuan("72.00")));
  }
}

TEST_CASE("profiles: 9401 decodes an e-voucher; 1101 and the settle calls take its token, for one person, 300 s") {
  for (const SimProfile profile : kProfiles) {
    CAPTURE(sim_profile_name(profile));
    World w(profile);
    add_elsewhere(w);
    const std::string psn = "11000000000000010";
    const std::string qr = mint(w, psn, true);
    w.area = "999999";  // 9401 and 1101 answer whatever area the envelope names: the hospital learns it here
    const auto ec = w.ok<insurer::EcQuery>({qr, "01101"});
    CHECK(ec.certno == w.person(psn).certno);
    CHECK(ec.psn_name == "钱七");
    CHECK(ec.insuplc_admdvs == "110105");
    CHECK(ec.acct_auth == "1");
    CHECK(ec.expires_in == 300);
    const auto again = w.ok<insurer::EcQuery>({qr, "01101"});  // the same code again: the same token
    CHECK(again.ec_token == ec.ec_token);
    const auto info = w.ok<insurer::PersonInfo>({"01", ec.ec_token, "", "01", "", ""});
    CHECK(info.baseinfo.psn_no == psn);
    CHECK(info.insuinfo[0].insuplc_admdvs == "110105");
    w.area = "110105";
    // The visit and the settlement by the token, with the account (authorised).
    const std::string mdtrt = visit_of(w, psn, ec.ec_token, "E1", kLines, "01");
    const auto s = w.ok<insurer::OutpatientSettle>(settle_of(mdtrt, psn, ec.ec_token, "E1", kLines, true, "01")).setlinfo;
    CHECK(s.acct_pay == yuan("72.00"));
    // Another person's token: refused.
    const auto other = w.ok<insurer::EcQuery>({mint(w, kElsewhere, true), "01101"});
    const Reply wrong = w.call<insurer::OutpatientRegister>(
        [&] {
          insurer::OutpatientRegister::Input reg;
          static_cast<insurer::VisitOpen&>(reg) = {psn, "310", "01", other.ec_token, "11", "OPX", "2026-11-22 10:00:00",
                                                   "D01", "内科", "", "", "J06.9", ""};
          return reg;
        }());
    CHECK(wrong.infcode == -1);
    CHECK(wrong.err_msg.find("another person's") != std::string::npos);
    // Without the patient's authorisation the account is not used.
    const auto no_acct = w.ok<insurer::EcQuery>({mint(w, psn, false), "01101"});
    CHECK(no_acct.acct_auth == "0");
    const std::string m2 = visit_of(w, psn, no_acct.ec_token, "E2", kLines, "01");
    const Reply refused = w.call<insurer::OutpatientSettle>(settle_of(m2, psn, no_acct.ec_token, "E2", kLines, true, "01"));
    CHECK(refused.infcode == -1);
    CHECK(refused.err_msg.find("acct_auth") != std::string::npos);
    CHECK(w.ok<insurer::OutpatientSettle>(settle_of(m2, psn, no_acct.ec_token, "E2", kLines, false, "01"))
              .setlinfo.acct_pay == yuan("0.00"));
    // 300 s after the decode the token is refused; a code not decoded within 300 s too.
    const std::string late_qr = mint(w, psn, true);
    w.now_ms += 301'000;
    const Reply expired = w.call<insurer::PersonInfo>({"01", ec.ec_token, "", "01", "", ""});
    CHECK(expired.infcode == -1);
    CHECK(expired.err_msg.find("expired") != std::string::npos);
    CHECK(w.call<insurer::EcQuery>({late_qr, "01101"}).infcode == -1);
    CHECK(w.call<insurer::EcQuery>({qr, "01101"}).infcode == -1);  // decoded, token expired
    CHECK(w.call<insurer::EcQuery>({"ECQR-not-issued", "01101"}).infcode == -1);
    CHECK(w.call<insurer::PersonInfo>({"01", "ECT-unknown", "", "01", "", ""}).infcode == -1);
  }
}

TEST_CASE("profiles: 1101 by ID number; an ID number never uses the account") {
  for (const SimProfile profile : kProfiles) {
    CAPTURE(sim_profile_name(profile));
    World w(profile);
    const std::string psn = "11000000000000010";
    const std::string id_no = w.person(psn).certno;
    CHECK(w.ok<insurer::PersonInfo>({"02", id_no, "", "01", "", ""}).baseinfo.psn_no == psn);
    CHECK(w.call<insurer::PersonInfo>({"02", id_no, "", "02", "", ""}).infcode == -1);  // psn_cert_type not 居民身份证
    const std::string mdtrt = visit_of(w, psn, id_no, "I1", kLines, "02");
    const Reply with_acct = w.call<insurer::OutpatientSettle>(settle_of(mdtrt, psn, id_no, "I1", kLines, true, "02"));
    CHECK(with_acct.infcode == -1);
    CHECK(with_acct.err_msg.find("ID number") != std::string::npos);
    const auto s = w.ok<insurer::OutpatientSettle>(settle_of(mdtrt, psn, id_no, "I1", kLines, false, "02")).setlinfo;
    CHECK(s.acct_pay == yuan("0.00"));
    CHECK(s.psn_cash_pay == yuan("72.00"));
  }
}

TEST_CASE("profiles: a person insured elsewhere: calls naming another area are refused; 3201 groups by area, 3202 rows carry it") {
  for (const SimProfile profile : kProfiles) {
    CAPTURE(sim_profile_name(profile));
    World w(profile);
    add_elsewhere(w);
    // 1101 tells the hospital the area (whatever area the envelope named).
    CHECK(w.ok<insurer::PersonInfo>({"03", "T00000011", "BBBB456789ABCDEF0123456789ABCDEF", "01", "", ""})
              .insuinfo[0]
              .insuplc_admdvs == "310101");
    // The hospital's own area for this person: refused, naming both.
    insurer::OutpatientRegister::Input reg;
    static_cast<insurer::VisitOpen&>(reg) = {kElsewhere, "310", "03", "T00000011", "11", "OPE", "2026-11-22 10:00:00",
                                             "D01", "内科", "", "", "J06.9", ""};
    const Reply refused = w.call<insurer::OutpatientRegister>(reg);
    CHECK(refused.infcode == -1);
    CHECK(refused.err_msg.find("insured area \"110105\"") != std::string::npos);
    CHECK(refused.err_msg.find("\"310101\"") != std::string::npos);
    w.area = "310101";
    const std::string far = visit_of(w, kElsewhere, "T00000011", "X1", kLines);
    w.area = "110105";
    CHECK(w.call<insurer::OutpatientSettle>(settle_of(far, kElsewhere, "T00000011", "X1", kLines, true)).infcode == -1);
    w.area = "310101";
    const auto s_far = w.ok<insurer::OutpatientSettle>(settle_of(far, kElsewhere, "T00000011", "X1", kLines, true)).setlinfo;
    // The home-area person with 310101 in the envelope: refused too.
    const std::string home_card = "T00000010";
    CHECK(w.call<insurer::OutpatientRegister>([&] {
             insurer::OutpatientRegister::Input r = reg;
             r.psn_no = "11000000000000010";
             r.mdtrt_cert_no = home_card;
             return r;
           }())
              .infcode == -1);
    w.area = "110105";
    const std::string home = w.visit_with_lines();
    const auto s_home = w.ok<insurer::OutpatientSettle>(w.settle_input(home)).setlinfo;

    // 3201 per area and clearing type: each group has its own settlement.
    insurer::DailyTotals::Input t{"", "11", "2026-11-22", "2026-11-22", s_home.medfee_sumamt, s_home.fund_pay_sumamt,
                                  s_home.acct_pay, 1, "110105"};
    CHECK(w.ok<insurer::DailyTotals>(t).stmt_rslt == "0");
    t.setl_optins = "310101";
    t.fund_pay_sumamt = s_far.fund_pay_sumamt;
    t.acct_pay = s_far.acct_pay;
    CHECK(w.ok<insurer::DailyTotals>(t).stmt_rslt == "0");
    t.setl_optins = "440103";
    const auto none = w.ok<insurer::DailyTotals>(t);
    CHECK(none.setl_cnt == 0);
    CHECK(none.stmt_rslt_dscr.find("440103") != std::string::npos);
    t.setl_optins.clear();  // every area
    CHECK(w.ok<insurer::DailyTotals>(t).setl_cnt == 2);
    t.clr_type = "21";
    t.setl_optins = "310101";
    CHECK(w.ok<insurer::DailyTotals>(t).setl_cnt == 0);
    const auto rows = w.ok<insurer::DetailReconcile>({"", "11", "2026-11-22", "2026-11-22", 1, 10}).rows;
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].insuplc_admdvs == "310101");
    CHECK(rows[1].insuplc_admdvs == "110105");
  }
}

TEST_CASE("profiles: a person insured elsewhere: a reversal (2601) and an offline upload (9302) naming another area are refused") {
  for (const SimProfile profile : kProfiles) {
    CAPTURE(sim_profile_name(profile));
    World w(profile);
    const bool national = profile == SimProfile::national;
    add_elsewhere(w);
    w.area = "310101";
    const std::string far = visit_of(w, kElsewhere, "T00000011", "R1", kLines);
    std::string settle_msgid;
    w.ok<insurer::OutpatientSettle>(settle_of(far, kElsewhere, "T00000011", "R1", kLines, true), &settle_msgid);
    // Its reversal with the hospital's area: refused, naming both areas; nothing reversed.
    w.area = "110105";
    const Reply refused = w.call<insurer::Reversal>({kElsewhere, settle_msgid, "2207"});
    CHECK(refused.infcode == -1);
    CHECK(refused.err_msg.find("insured area \"110105\"") != std::string::npos);
    CHECK(refused.err_msg.find("\"310101\"") != std::string::npos);
    CHECK(w.report()["totals"]["effective_settlements"] == 1);
    // With the person's area: reversed.
    w.area = "310101";
    CHECK(w.ok<insurer::Reversal>({kElsewhere, settle_msgid, "2207"}).result == insurer::ReversalResult::reversed);
    CHECK(w.report()["totals"]["effective_settlements"] == 0);
    // A home-area person's reversal with another area: refused too.
    w.area = "110105";
    const std::string home = w.visit_with_lines();
    std::string home_msgid;
    w.ok<insurer::OutpatientSettle>(w.settle_input(home), &home_msgid);
    w.area = "310101";
    CHECK(w.call<insurer::Reversal>({"11000000000000010", home_msgid, "2207"}).infcode == -1);
    w.area = "110105";
    CHECK(w.ok<insurer::Reversal>({"11000000000000010", home_msgid, "2207"}).result == insurer::ReversalResult::reversed);
    if (national) continue;  // no 9302
    // 9302: the batch's envelope names the records' person's area, or the
    // home area (an offline settlement from the red list does not know it).
    insurer::OfflineRecord rec;
    rec.local_id = "OFF-FAR";
    rec.psn_no = kElsewhere;
    rec.card_no = "T00000011";
    rec.insutype = "310";
    rec.setl_time = "2026-11-22 09:00:00";
    rec.reason_code = "offline_network_down";
    rec.medfee_sumamt = rec.psn_cash_pay = yuan("20.00");
    insurer::FeeDetail d;
    d.feedetl_sn = "1";
    d.med_list_codg = "C001";
    d.det_item_fee_sumamt = d.pric = yuan("20.00");
    d.cnt = "1";
    d.cls = LineClass::c;
    rec.lines = {d};
    w.area = "440103";
    const Reply up = w.call<insurer::OfflineUpload>({{rec}});
    CHECK(up.infcode == -1);
    CHECK(up.err_msg.find("insured area \"440103\"") != std::string::npos);
    CHECK(up.err_msg.find("\"310101\"") != std::string::npos);
    w.area = "310101";
    CHECK(w.ok<insurer::OfflineUpload>({{rec}}).results[0].status == "accepted");
    rec.local_id = "OFF-FAR-2";
    w.area = "110105";
    CHECK(w.ok<insurer::OfflineUpload>({{rec}}).results[0].status == "accepted");
  }
}

// The regional 9301 and the national refund of part (2208 of the original,
// then 2201/2204/2207 of the kept lines with the account capped at the
// original's account part) give the patient the same money, fund, account and
// cash, when nothing else of the person changed in between.
TEST_CASE("profiles: the regional 9301 and the national 2208 + 2207 of the kept lines give back the same money") {
  struct Person {
    std::string psn, card, certno;
    const char* balance;
    const char* deductible_used;
  };
  const Person persons[] = {
      {"11000000000000010", "T00000010", "", "", ""},                          // deductible used up, balance 500
      {"11000000000000012", "T00000012", "110105198606060013", "30.00", "1800.00"},   // the account short of the patient's part
      {"11000000000000013", "T00000013", "110105198707070014", "500.00", "1750.00"},  // 50 of the deductible left
      {"11000000000000014", "T00000014", "110105198808080015", "0.00", "0.00"},       // no account, the whole deductible left
  };
  const std::vector<std::vector<std::pair<std::string, Amount>>> refunds{
      {{"C001", yuan("20.00")}},
      {{"A001", yuan("100.00")}},
      {{"250310005", yuan("50.00")}},
      {{"A001", yuan("40.00")}},
      {{"A001", yuan("100.00")}, {"C001", yuan("20.00")}},
  };
  World reg(SimProfile::regional), nat(SimProfile::national);
  for (World* w : {&reg, &nat})
    for (const Person& p : persons)
      if (!p.certno.empty()) add_person(*w, p.psn, p.card, p.certno, p.balance, p.deductible_used);
  int n = 0;
  for (const Person& p : persons) {
    for (const auto& refund : refunds) {
      const std::string batch = fmt::format("R{}", ++n);
      CAPTURE(p.psn);
      CAPTURE(batch);
      // The same original in both.
      const std::string m_reg = visit_of(reg, p.psn, p.card, batch, kLines);
      const std::string m_nat = visit_of(nat, p.psn, p.card, batch, kLines);
      const auto o = reg.ok<insurer::OutpatientSettle>(settle_of(m_reg, p.psn, p.card, batch, kLines, true)).setlinfo;
      const auto o2 = nat.ok<insurer::OutpatientSettle>(settle_of(m_nat, p.psn, p.card, batch, kLines, true)).setlinfo;
      REQUIRE(o.fund_pay_sumamt == o2.fund_pay_sumamt);
      REQUIRE(o.acct_pay == o2.acct_pay);
      // Regional: 9301.
      insurer::PartialRefund::Input r9301{o.setl_id, p.psn, p.card, "RF-" + batch, {}};
      for (const auto& [code, amount] : refund) r9301.lines.push_back({code, amount});
      const auto r = reg.ok<insurer::PartialRefund>(r9301);
      // National: the whole undo, then the kept lines settled anew, the account capped.
      nat.ok<insurer::OutpatientUndo>({o2.setl_id, m_nat, p.psn});
      std::vector<Line> kept = kLines;
      for (const auto& [code, amount] : refund)
        for (Line& l : kept)
          if (l.code == code) l.amount -= amount;
      std::erase_if(kept, [](const Line& l) { return l.amount.is_zero(); });
      const std::string again = batch + "K";
      const std::string m_new = visit_of(nat, p.psn, p.card, again, kept);
      insurer::SettleInput in = settle_of(m_new, p.psn, p.card, again, kept, o2.acct_pay.fen() > 0);
      in.exp_content.acct_pay_max = o2.acct_pay;
      const auto s = nat.ok<insurer::OutpatientSettle>(in).setlinfo;
      CHECK(o2.fund_pay_sumamt - s.fund_pay_sumamt == r.fund_r);
      CHECK(o2.acct_pay - s.acct_pay == r.acct_r);
      CHECK(o2.psn_cash_pay - s.psn_cash_pay == r.cash_r);
      const PersonRow a = reg.person(p.psn), b = nat.person(p.psn);
      CHECK(a.balance == b.balance);
      CHECK(a.fund_paid_ytd == b.fund_paid_ytd);
      // The one state that differs: 9301 leaves the original's deductible part
      // counted; 2208 + 2207 count the kept lines'.
      CHECK(a.deductible_used - b.deductible_used == o2.act_pay_dedc - s.act_pay_dedc);
      // The next original starts from the same accumulators in both.
      reg.ok<insurer::OutpatientUndo>({o.setl_id, m_reg, p.psn});
      nat.ok<insurer::OutpatientUndo>({s.setl_id, m_new, p.psn});
      REQUIRE(reg.person(p.psn).deductible_used == nat.person(p.psn).deductible_used);
    }
  }
}

// Where they differ: an earlier settlement of the person undone between the
// original and the refund gives deductible room back; the national 2207 of the
// kept lines uses it (less fund), the regional 9301 splits with the person as
// at the original.
TEST_CASE("profiles: 9301 and 2208 + 2207 differ when an earlier settlement is undone in between") {
  World reg(SimProfile::regional), nat(SimProfile::national);
  const std::string psn = "11000000000000015", card = "T00000015";
  Amount fund_back[2];
  int i = 0;
  for (World* w : {&reg, &nat}) {
    add_person(*w, psn, card, "110105198909090016", "500.00", "1700.00");  // 100 of the deductible left
    const std::vector<Line> earlier{{"A001", LineClass::a, yuan("50.00")}};
    const std::string m0 = visit_of(*w, psn, card, "E0", earlier);
    const auto e = w->ok<insurer::OutpatientSettle>(settle_of(m0, psn, card, "E0", earlier, true)).setlinfo;
    const std::string m1 = visit_of(*w, psn, card, "O1", kLines);
    const auto o = w->ok<insurer::OutpatientSettle>(settle_of(m1, psn, card, "O1", kLines, true)).setlinfo;
    CHECK(o.act_pay_dedc == yuan("50.00"));
    w->ok<insurer::OutpatientUndo>({e.setl_id, m0, psn});  // 50 of the deductible room back
    if (w == &reg) {
      fund_back[i] = w->ok<insurer::PartialRefund>({o.setl_id, psn, card, "RF", {{"C001", yuan("20.00")}}}).fund_r;
    } else {
      w->ok<insurer::OutpatientUndo>({o.setl_id, m1, psn});
      const std::vector<Line> kept(kLines.begin(), kLines.begin() + 2);
      const std::string m2 = visit_of(*w, psn, card, "K1", kept);
      insurer::SettleInput in = settle_of(m2, psn, card, "K1", kept, true);
      in.exp_content.acct_pay_max = o.acct_pay;
      fund_back[i] = o.fund_pay_sumamt - w->ok<insurer::OutpatientSettle>(in).setlinfo.fund_pay_sumamt;
    }
    ++i;
  }
  CHECK(fund_back[0] == yuan("0.00"));   // the kept lines' fund with the deductible room at the original: 63.00 stays
  CHECK(fund_back[1] == yuan("35.00"));  // with 100 of room now: 28.00 stays
}
