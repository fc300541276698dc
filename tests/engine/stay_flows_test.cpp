// The inpatient flows without a driver: each case answers the flow's actions
// from a small script (the ledger's commits succeed unless told otherwise,
// the insurer answers per transaction) and checks what was asked, in which
// order, and the answer. The simulation drives the same flows at scale.
#include "engine/stay_flows.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace settle;
using namespace settle::flow;

namespace {

Policy stay_policy() {
  Policy p;
  p.set("310", VisitType::outpatient,
        PolicyParams{Amount::fen(10'000), Ratio::ppm(700'000), Amount::fen(2'000'000), Ratio::ppm(100'000)});
  p.set("310", VisitType::inpatient,
        PolicyParams{Amount::fen(30'000), Ratio::ppm(850'000), Amount::fen(2'000'000), Ratio::ppm(100'000)});
  return p;
}

Person person() {
  Person p;
  p.insutype = "310";
  p.balance = Amount::fen(50'000);
  p.deductible_used = Amount::fen(10'000);  // this year's outpatient deductible is paid
  p.fund_paid_ytd = Amount::fen(100'000);
  return p;
}

// Runs a flow to its end, answering each action; records what it asked.
struct Script {
  std::vector<std::string> log;  // "call 2401", "commit record_admission", ...
  std::vector<LedgerChange> commits;
  std::vector<InsurerCall> calls;
  std::function<InsurerReply(const InsurerCall&)> insurer = [](const InsurerCall& c) {
    InsurerReply r;
    r.outcome = CallOutcome::ok;
    if (c.txn == Txn::admit) r.mdtrt_id = "V1";
    return r;
  };
  std::function<bool(const LedgerChange&)> commit_ok = [](const LedgerChange&) { return true; };
  bool online_person = true;
  bool on_redlist = true;
  std::optional<std::int64_t> open_stay;
  std::vector<HeldLine> held;
  std::int64_t reversals = 0;
  int msgids = 0;

  Event answer(const Action& a) {
    if (std::holds_alternative<CheckCard>(a)) {
      log.push_back("card");
      return CardChecked{Ok{}};
    }
    if (const auto* f = std::get_if<FindPerson>(&a)) {
      log.push_back(f->online ? "1101" : "redlist");
      PersonFound found;
      if (f->online && !online_person) {
        found.unanswered = true;
        return found;
      }
      if (!f->online && !on_redlist) return found;
      found.person = person();
      found.psn_no = "P1";
      found.from_redlist = !f->online;
      return found;
    }
    if (std::holds_alternative<ReversalsOpen>(a)) return ReversalsCount{reversals};
    if (const auto* o = std::get_if<OfflineOutstanding>(&a)) {
      log.push_back(o->visit == VisitType::inpatient ? "outstanding inpatient" : "outstanding outpatient");
      return OutstandingFigures{};
    }
    if (std::holds_alternative<NewMsgid>(a)) return MsgidIssued{"M" + std::to_string(++msgids)};
    if (std::holds_alternative<OpenStay>(a)) return OpenStayFound{open_stay};
    if (std::holds_alternative<LinesHeld>(a)) return LinesFound{held};
    if (const auto* c = std::get_if<Commit>(&a)) return commit(c->change);
    if (const auto* c = std::get_if<StartCommit>(&a)) {
      pending = commit(c->change);
      return CommitStarted{};
    }
    if (std::holds_alternative<AwaitCommit>(a)) return *pending;
    const InsurerCall& c = std::get<Call>(a).call;
    log.push_back(fmt_call(c));
    calls.push_back(c);
    return Replied{insurer(c)};
  }
  Committed commit(const LedgerChange& ch) {
    log.push_back(std::string("commit ") + std::string(change_name(ch)));
    commits.push_back(ch);
    Committed c;
    if (!commit_ok(ch)) {
      c.status = make_error(Reason::storage_failed, "ledger", "disk I/O error");
      return c;
    }
    c.id = 42;
    return c;
  }
  static std::string fmt_call(const InsurerCall& c) { return "call " + std::string(txn_code(c.txn)); }

  Outcome run(Flow f) {
    Ms t = 0;
    f.start(t);
    while (!f.done()) f.feed(answer(f.action()), ++t);
    return f.outcome();
  }
  template <class T>
  const T* last() const {
    for (auto it = commits.rbegin(); it != commits.rend(); ++it)
      if (const auto* x = std::get_if<T>(&*it)) return x;
    return nullptr;
  }
  std::optional<Committed> pending;
};

std::size_t pos(const std::vector<std::string>& log, const std::string& what) {
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i] == what) return i;
  FAIL("not asked: " << what);
  return 0;
}

AdmitInput admit_input(bool online) {
  AdmitInput in;
  in.request_id = "adm-1";
  in.window = "W1";
  in.operator_id = "c001";
  in.card_no = "C1";
  in.dept = "D01";
  in.diagnosis = "K35.8";
  in.admit_at = 1000;
  in.line_online = online;
  in.budget = Budget{10'000, 500};
  return in;
}

StayView stay(StayState state = StayState::admitted) {
  StayView v;
  v.stay.adm_id = 5;
  v.stay.request_id = "adm-1";
  v.stay.card_no = "C1";
  v.stay.psn_no = "P1";
  v.stay.insutype = "310";
  v.stay.mdtrt_id = "V1";
  v.stay.state = state;
  return v;
}

StayLine line(std::string sn, std::int64_t fen, LineClass cls = LineClass::a) {
  return StayLine{std::move(sn), ChargeLine{"I1", "item", cls, Amount::fen(fen), std::nullopt}};
}

DischargeInput discharge_input(StayView v, const Policy& policy) {
  DischargeInput in;
  in.request_id = "dis-1";
  in.window = "W1";
  in.operator_id = "c001";
  in.card_no = "C1";
  in.stay = std::move(v);
  in.use_account = true;
  in.pin_verified = true;
  in.discharge_at = 5000;
  in.budget = Budget{10'000, 500};
  in.limits = OfflineLimits{Amount::fen(1'000'000), Amount::fen(10'000'000), 100, 72 * 3600};
  in.policy = &policy;
  return in;
}

// An insurer that settles a stay as the local split does (the account as the call asks).
std::function<InsurerReply(const InsurerCall&)> settling_insurer(const Policy& policy, const StayView& v) {
  return [&policy, lines = v.live_lines](const InsurerCall& c) {
    InsurerReply r;
    r.outcome = CallOutcome::ok;
    if (c.txn == Txn::stay_settle) {
      SplitOptions o;
      o.visit = VisitType::inpatient;
      o.use_account = c.use_account;
      o.pin_verified = c.use_account;
      r.parts = parts_of(*split(policy, person(), lines, o));
      r.insurer_id = "S9";
    }
    return r;
  };
}

}  // namespace

TEST_CASE("an online admission: the 2401's msgid is durable before it is sent, and the stay keeps the visit id") {
  Script s;
  const Outcome o = s.run(admit_flow(admit_input(true)));
  REQUIRE(o.answer.ok());
  CHECK(pos(s.log, "commit write_msgid") < pos(s.log, "call 2401"));
  const auto* rec = s.last<RecordAdmission>();
  REQUIRE(rec != nullptr);
  CHECK(rec->stay.mode == Mode::online);
  CHECK(rec->stay.mdtrt_id == "V1");
  CHECK(rec->stay.psn_no == "P1");
  CHECK_FALSE(rec->in_doubt_msgid.has_value());
  CHECK(o.answer.stay->stay.adm_id == 42);
  CHECK(s.calls.front().request_id == "adm-1");  // the visit number the insurer admits once
}

TEST_CASE("an admission whose 2401 reply is lost is reversed and stored offline, to be forwarded after the reversal") {
  Script s;
  s.insurer = [](const InsurerCall&) {
    InsurerReply r;
    r.outcome = CallOutcome::in_doubt;
    r.detail = "timeout";
    return r;
  };
  const Outcome o = s.run(admit_flow(admit_input(true)));
  REQUIRE(o.answer.ok());
  const auto* rec = s.last<RecordAdmission>();
  REQUIRE(rec != nullptr);
  CHECK(rec->stay.mode == Mode::offline);
  CHECK(rec->in_doubt_msgid == std::optional<std::string>("M1"));
  CHECK(o.answer.stay->sent == false);
}

TEST_CASE("a second admission of a person with an open stay is refused, stored as the request's answer") {
  Script s;
  s.open_stay = 3;
  const Outcome o = s.run(admit_flow(admit_input(true)));
  REQUIRE_FALSE(o.answer.ok());
  CHECK(o.answer.error->reason == Reason::invalid_state);
  CHECK(o.answer.error->message.find("adm_id 3") != std::string::npos);
  CHECK(o.answer.final);
  CHECK(s.last<StoreAnswer>() != nullptr);
  CHECK(s.calls.empty());
}

TEST_CASE("an offline admission is stored without a call and without a visit id") {
  Script s;
  const Outcome o = s.run(admit_flow(admit_input(false)));
  REQUIRE(o.answer.ok());
  CHECK(s.calls.empty());
  const auto* rec = s.last<RecordAdmission>();
  REQUIRE(rec != nullptr);
  CHECK(rec->stay.mode == Mode::offline);
  CHECK(rec->stay.mdtrt_id.empty());
  CHECK(rec->stay.psn_no == "P1");  // from the red list
}

TEST_CASE("lines are stored, then sent at once when the insurer has the stay and nothing of it waits") {
  Script s;
  StayLinesInput in;
  in.request_id = "b1";
  in.stay = stay();
  in.stay.live_count = 1;
  in.stay.live_total = Amount::fen(1'000);
  in.added = {line("1", 2'000), line("2", 3'000)};
  in.budget = Budget{10'000, 500};
  const Outcome o = s.run(stay_lines_flow(std::move(in)));
  REQUIRE(o.answer.ok());
  CHECK(pos(s.log, "commit record_stay_lines") < pos(s.log, "call 2301"));
  CHECK(pos(s.log, "call 2301") < pos(s.log, "commit stay_item_sent"));
  CHECK(s.last<RecordStayLines>()->sending);
  CHECK(s.last<StayItemSent>()->taken);
  CHECK(o.answer.stay->sent);
  CHECK(o.answer.stay->lines_count == 3);
  CHECK(o.answer.stay->total_so_far == Amount::fen(6'000));
}

TEST_CASE("lines of a stay with items still waiting are queued behind them, not sent") {
  Script s;
  StayLinesInput in;
  in.request_id = "b2";
  in.stay = stay();
  in.stay.open_items = 1;  // its admission or an earlier batch is not forwarded yet
  in.added = {line("1", 2'000)};
  const Outcome o = s.run(stay_lines_flow(std::move(in)));
  REQUIRE(o.answer.ok());
  CHECK(s.calls.empty());
  CHECK_FALSE(s.last<RecordStayLines>()->sending);
  CHECK_FALSE(o.answer.stay->sent);
}

TEST_CASE("a line number the stay holds, or one given twice, refuses the batch whole, naming the line") {
  {
    Script s;
    s.held = {HeldLine{"7", false, Amount::fen(100)}};
    StayLinesInput in;
    in.request_id = "b3";
    in.stay = stay();
    in.added = {line("6", 100), line("7", 100)};
    const Outcome o = s.run(stay_lines_flow(std::move(in)));
    REQUIRE_FALSE(o.answer.ok());
    CHECK(o.answer.error->reason == Reason::invalid_request);
    CHECK(o.answer.error->field == "lines[1].feedetl_sn");
    CHECK(s.last<RecordStayLines>() == nullptr);
  }
  {
    Script s;
    StayLinesInput in;
    in.request_id = "b4";
    in.stay = stay();
    in.added = {line("6", 100), line("6", 200)};
    const Outcome o = s.run(stay_lines_flow(std::move(in)));
    REQUIRE_FALSE(o.answer.ok());
    CHECK(o.answer.error->field == "lines[1].feedetl_sn");
  }
}

TEST_CASE("cancelling: an unknown line is NOT_FOUND, a cancelled one refused, a live one takes its amount off") {
  Script s;
  s.held = {HeldLine{"1", false, Amount::fen(2'500)}, HeldLine{"2", true, Amount::fen(100)}};
  StayLinesInput in;
  in.request_id = "c1";
  in.stay = stay();
  in.stay.live_count = 3;
  in.stay.live_total = Amount::fen(9'000);
  in.cancelled = {"1"};
  Outcome o = s.run(stay_lines_flow(in));
  REQUIRE(o.answer.ok());
  CHECK(o.answer.stay->total_so_far == Amount::fen(6'500));
  CHECK(o.answer.stay->lines_count == 2);
  CHECK(s.calls.at(0).txn == Txn::cancel_lines);

  Script s2;
  s2.held = s.held;
  in.cancelled = {"2"};
  o = s2.run(stay_lines_flow(in));
  CHECK(o.answer.error->reason == Reason::invalid_request);
  Script s3;
  in.cancelled = {"9"};
  o = s3.run(stay_lines_flow(in));
  CHECK(o.answer.error->reason == Reason::not_found);
  CHECK(o.answer.error->field == "feedetl_sn[0]");
}

TEST_CASE("an online discharge: 2402 then 2304 on the stay's visit, its msgid durable first, the inpatient split") {
  const Policy policy = stay_policy();
  StayView v = stay();
  v.live_lines = charge_lines({line("1", 100'000), line("2", 50'000, LineClass::c), line("4", 20'000, LineClass::b)});
  v.live_count = 3;
  v.cancelled_count = 1;  // line 3
  v.live_total = Amount::fen(170'000);
  Script s;
  Split expected;
  s.insurer = [&](const InsurerCall& c) {
    InsurerReply r;
    r.outcome = CallOutcome::ok;
    if (c.txn == Txn::stay_settle) {
      SplitOptions o;
      o.visit = VisitType::inpatient;
      o.use_account = c.use_account;
      o.pin_verified = c.use_account;
      expected = *split(policy, person(), v.live_lines, o);
      r.parts = parts_of(expected);
      r.insurer_id = "S9";
    }
    return r;
  };
  const Outcome o = s.run(discharge_flow(discharge_input(v, policy)));
  REQUIRE(o.answer.ok());
  CHECK(pos(s.log, "call 2402") < pos(s.log, "call 2304"));
  CHECK(pos(s.log, "commit write_msgid") < pos(s.log, "call 2304"));
  const InsurerCall& settle_call = s.calls.back();
  CHECK(settle_call.mdtrt_id == "V1");
  CHECK(settle_call.total == Amount::fen(170'000));
  CHECK(settle_call.use_account);
  // The deductible is the stay's own (300.00), whatever this year's outpatient visits paid.
  CHECK(expected.deductible_part == Amount::fen(30'000));
  const auto* rec = s.last<RecordSettlement>();
  REQUIRE(rec != nullptr);
  CHECK(rec->settlement.visit == VisitType::inpatient);
  CHECK(rec->settlement.adm_id == 5);
  CHECK(rec->settlement.med_type == "21");
  CHECK(rec->settlement.parts == parts_of(expected));
  // Its lines by reference: the stay's four lines less its first cancelled
  // one, the class B line with the ratio the policy gave its code.
  CHECK(rec->settlement.lines.empty());
  REQUIRE(rec->settlement.stay_lines.has_value());
  CHECK(rec->settlement.stay_lines->lines_upto == 4);
  CHECK(rec->settlement.stay_lines->cancels_upto == 1);
  const PolicyParams* params = policy.find(person().insutype, VisitType::inpatient);
  REQUIRE(params != nullptr);
  CHECK(rec->settlement.stay_lines->classb_ratios ==
        std::map<std::string, Ratio, std::less<>>{{"I1", policy.classb_ratio(*params, "I1", std::nullopt)}});
}

TEST_CASE("a discharge of a stay whose items wait, or with the line down, is settled offline within the inpatient limits") {
  const Policy policy = stay_policy();
  for (bool pending : {true, false}) {
    CAPTURE(pending);
    StayView v = stay();
    v.live_lines = charge_lines({line("1", 100'000)});
    v.live_count = 1;
    v.open_items = pending ? 1 : 0;
    DischargeInput in = discharge_input(v, policy);
    in.line_online = pending;  // pending items: offline even with the line up
    Script s;
    const Outcome o = s.run(discharge_flow(std::move(in)));
    REQUIRE(o.answer.ok());
    CHECK(s.calls.empty());
    CHECK(pos(s.log, "outstanding inpatient") > 0);
    const auto* rec = s.last<RecordOffline>();
    REQUIRE(rec != nullptr);
    CHECK(rec->settlement.visit == VisitType::inpatient);
    CHECK(rec->settlement.mode == Mode::offline);
    CHECK(rec->settlement.parts.account.is_zero());
    CHECK(rec->estimate->visit == VisitType::inpatient);
    CHECK(rec->settlement.parts.fund > Amount::zero());  // on the red list: the fund's estimate
  }
}

TEST_CASE("an offline discharge of a person off the red list is recorded under the stay's insurance type") {
  Policy policy = stay_policy();
  policy.set("390", VisitType::inpatient,
             PolicyParams{Amount::fen(30'000), Ratio::ppm(600'000), Amount::fen(2'000'000), Ratio::ppm(100'000)});
  StayView v = stay();
  v.stay.insutype = "390";  // from its admission's 1101, not the policy's first ("310")
  v.live_lines = charge_lines({line("1", 100'000)});
  v.live_count = 1;
  DischargeInput in = discharge_input(v, policy);
  in.line_online = false;
  Script s;
  s.on_redlist = false;
  const Outcome o = s.run(discharge_flow(std::move(in)));
  REQUIRE(o.answer.ok());
  const auto* rec = s.last<RecordOffline>();
  REQUIRE(rec != nullptr);
  CHECK(rec->settlement.insutype == "390");
  CHECK(rec->settlement.parts.fund.is_zero());  // off the red list: self-pay
}

TEST_CASE("a discharge whose 2304 reply is lost is reversed and settled offline; the stay's estimate is capped by its limit") {
  const Policy policy = stay_policy();
  StayView v = stay();
  v.live_lines = charge_lines({line("1", 2'000'000)});
  v.live_count = 1;
  DischargeInput in = discharge_input(v, policy);
  in.limits.per_settlement_fund_max = Amount::fen(100'000);  // 1,000.00: the estimate is above it
  Script s;
  s.insurer = [](const InsurerCall& c) {
    InsurerReply r;
    r.outcome = c.txn == Txn::stay_settle ? CallOutcome::in_doubt : CallOutcome::ok;
    return r;
  };
  const Outcome o = s.run(discharge_flow(std::move(in)));
  REQUIRE(o.answer.ok());
  const auto* rec = s.last<RecordOffline>();
  REQUIRE(rec != nullptr);
  CHECK(rec->in_doubt_msgid == std::optional<std::string>("M1"));
  CHECK(rec->settlement.offline_cause == OfflineCause::in_doubt);
  CHECK(rec->settlement.parts.fund.is_zero());
  bool limited = false;
  for (SplitReason r : rec->settlement.reasons) limited = limited || r == SplitReason::offline_limit_per_settlement;
  CHECK(limited);
}

TEST_CASE("the undo of a discharge: online only, card present, everything left back, the stay open again") {
  StayView v = stay(StayState::discharged);
  OriginalView ov;
  ov.settlement.setl_id = 9;
  ov.settlement.visit = VisitType::inpatient;
  ov.settlement.adm_id = 5;
  ov.settlement.card_no = "C1";
  ov.settlement.psn_no = "P1";
  ov.settlement.insurer_setl_id = "S9";
  ov.settlement.mdtrt_id = "V1";
  ov.settlement.parts = Parts{Amount::fen(10'000), Amount::fen(6'000), Amount::fen(1'000), Amount::fen(3'000)};
  ov.settlement.lines = {ChargeLine{"I1", "item", LineClass::a, Amount::fen(10'000), std::nullopt}};
  v.settlement = ov;
  UndoDischargeInput in;
  in.request_id = "u1";
  in.card_no = "C1";
  in.stay = v;
  in.budget = Budget{10'000, 500};
  {
    Script s;
    in.line_online = false;
    const Outcome o = s.run(undo_discharge_flow(in));
    CHECK(o.answer.error->reason == Reason::offline_refund_forbidden);
    CHECK_FALSE(o.answer.final);
  }
  Script s;
  in.line_online = true;
  s.insurer = [&](const InsurerCall& c) {
    InsurerReply r;
    r.outcome = CallOutcome::ok;
    CHECK(c.txn == Txn::stay_undo);
    r.parts = ov.settlement.parts;
    r.insurer_id = "U1";
    return r;
  };
  const Outcome o = s.run(undo_discharge_flow(in));
  REQUIRE(o.answer.ok());
  CHECK(pos(s.log, "commit write_msgid") < pos(s.log, "call 2305"));
  const auto* rec = s.last<RecordUndo>();
  REQUIRE(rec != nullptr);
  CHECK(rec->reopens_adm_id == 5);
  CHECK(rec->answer.has_value());
  CHECK(rec->undo.parts == ov.settlement.parts);
  CHECK(o.answer.stay->stay.state == StayState::admitted);
  CHECK(o.answer.refund->parts.cash == Amount::fen(3'000));

  // The person admitted again since (another stay open): refused before any
  // call, since this stay would be open beside it.
  Script again;
  again.open_stay = 12;
  in.request_id = "u2";
  const Outcome refused = again.run(undo_discharge_flow(in));
  REQUIRE_FALSE(refused.answer.ok());
  CHECK(refused.answer.error->reason == Reason::invalid_state);
  CHECK(refused.answer.error->message.find("adm_id 12") != std::string::npos);
  CHECK(refused.answer.final);
  CHECK(again.calls.empty());
}

TEST_CASE("an inpatient settlement is never refunded in part: undone whole and settled again") {
  RefundInput in;
  in.request_id = "r1";
  in.card_no = "C1";
  in.original.settlement.setl_id = 9;
  in.original.settlement.visit = VisitType::inpatient;
  in.original.settlement.adm_id = 5;
  in.original.settlement.card_no = "C1";
  in.original.settlement.state = SettlementState::settled;
  Script s;
  const Outcome o = s.run(refund_flow(std::move(in)));
  CHECK(o.answer.error->reason == Reason::invalid_state);
  CHECK(o.answer.error->message.find("undo_discharge") != std::string::npos);
}

TEST_CASE("the undo of an admission: refused with live lines; local only when the insurer never had it; 2404 otherwise") {
  UndoAdmitInput in;
  in.request_id = "ua";
  in.budget = Budget{10'000, 500};
  {
    Script s;
    in.stay = stay();
    in.stay.live_count = 2;
    const Outcome o = s.run(undo_admit_flow(in));
    CHECK(o.answer.error->reason == Reason::invalid_state);
    CHECK(o.answer.final);
  }
  {
    Script s;
    in.stay = stay();
    in.stay.stay.mdtrt_id.clear();  // admitted offline, not forwarded yet
    in.stay.open_items = 1;
    in.line_online = false;
    const Outcome o = s.run(undo_admit_flow(in));
    REQUIRE(o.answer.ok());
    CHECK(s.calls.empty());
    CHECK(s.last<RecordUndoAdmission>() != nullptr);
  }
  {
    Script s;
    in.stay = stay();
    in.line_online = true;
    const Outcome o = s.run(undo_admit_flow(in));
    REQUIRE(o.answer.ok());
    CHECK(pos(s.log, "call 2404") < pos(s.log, "commit record_undo_admission"));
  }
}

TEST_CASE("a stay admitted by e-voucher: its discharge is refused for another person's credential and for none, made with "
          "its person's ID number without the account") {
  const Policy policy = stay_policy();
  StayView v = stay();
  v.stay.card_no.clear();  // admitted by e-voucher: no card
  v.live_lines = charge_lines({line("1", 100'000)});
  v.live_count = 1;
  v.live_total = Amount::fen(100'000);
  struct Window {
    const char* what;
    CertType cert;
    std::string card_no;
    std::string psn_no;
  };
  const Window refused[] = {{"another person's e-voucher", CertType::ec_voucher, "", "P2"},
                            {"another person's ID number", CertType::id_no, "", "P2"},
                            {"nobody: no card, no person", CertType::id_no, "", ""},
                            {"a card whose person is not known", CertType::card, "C9", ""},
                            {"another person's card", CertType::card, "C9", "P2"}};
  for (const Window& w : refused) {
    CAPTURE(w.what);
    DischargeInput in = discharge_input(v, policy);
    in.card_no = w.card_no;
    in.psn_no = w.psn_no;
    in.cert_type = w.cert;
    in.cert_no = w.cert == CertType::card ? w.card_no : "X";
    Script s;
    const Outcome o = s.run(discharge_flow(std::move(in)));
    REQUIRE_FALSE(o.answer.ok());
    CHECK(o.answer.error->reason == Reason::card_mismatch);
    CHECK_FALSE(o.answer.final);
    CHECK(s.calls.empty());
    CHECK(s.commits.empty());
  }
  // Its person's ID number: settled, the account not used (and why).
  DischargeInput in = discharge_input(v, policy);
  in.card_no.clear();
  in.psn_no = "P1";
  in.cert_type = CertType::id_no;
  in.cert_no = "110101199001011234";
  in.use_account = true;
  in.pin_verified = false;
  Script s;
  s.insurer = settling_insurer(policy, v);
  const Outcome o = s.run(discharge_flow(std::move(in)));
  CAPTURE(o.answer.error ? o.answer.error->message : std::string());
  REQUIRE(o.answer.ok());
  const InsurerCall& settle_call = s.calls.back();
  CHECK(settle_call.txn == Txn::stay_settle);
  CHECK_FALSE(settle_call.use_account);
  CHECK(settle_call.cert_type == CertType::id_no);
  const auto* rec = s.last<RecordSettlement>();
  REQUIRE(rec != nullptr);
  CHECK(rec->settlement.cert_type == CertType::id_no);
  CHECK(rec->settlement.psn_no == "P1");
  CHECK(rec->settlement.parts.account.is_zero());
  bool by_id = false;
  for (SplitReason r : rec->settlement.reasons) by_id = by_id || r == SplitReason::account_not_by_id;
  CHECK(by_id);
}

TEST_CASE("a stay admitted by card: discharged with its person's e-voucher; another card of the person is not the stay's") {
  const Policy policy = stay_policy();
  StayView v = stay();
  v.live_lines = charge_lines({line("1", 100'000)});
  v.live_count = 1;
  {
    DischargeInput in = discharge_input(v, policy);
    in.card_no = "C2";  // the same person, another card: where both have a card, it must be the stay's
    in.psn_no = "P1";
    Script s;
    const Outcome o = s.run(discharge_flow(std::move(in)));
    REQUIRE_FALSE(o.answer.ok());
    CHECK(o.answer.error->reason == Reason::card_mismatch);
    CHECK(s.calls.empty());
  }
  DischargeInput in = discharge_input(v, policy);
  in.card_no.clear();
  in.psn_no = "P1";
  in.cert_type = CertType::ec_voucher;
  in.cert_no = "EC1";
  in.acct_auth = false;  // not authorised on the phone: no account
  Script s;
  s.insurer = settling_insurer(policy, v);
  const Outcome o = s.run(discharge_flow(std::move(in)));
  CAPTURE(o.answer.error ? o.answer.error->message : std::string());
  REQUIRE(o.answer.ok());
  CHECK_FALSE(s.calls.back().use_account);
  const auto* rec = s.last<RecordSettlement>();
  REQUIRE(rec != nullptr);
  bool not_authorised = false;
  for (SplitReason r : rec->settlement.reasons) not_authorised = not_authorised || r == SplitReason::account_not_authorised;
  CHECK(not_authorised);
}

TEST_CASE("without the card a stay is neither admitted nor discharged offline: nothing stored, the 2401 in doubt reversed") {
  const Policy policy = stay_policy();
  for (CertType cert : {CertType::ec_voucher, CertType::id_no}) {
    CAPTURE(cert_type_name(cert));
    {
      // The line down: refused before anything is stored (the red list is by card).
      AdmitInput in = admit_input(false);
      in.card_no.clear();
      in.cert_type = cert;
      in.cert_no = "X1";
      Script s;
      const Outcome o = s.run(admit_flow(std::move(in)));
      REQUIRE_FALSE(o.answer.ok());
      CHECK(o.answer.error->reason == Reason::insurer_unreachable);
      CHECK(o.answer.error->message.find("needs the medical-insurance card") != std::string::npos);
      CHECK_FALSE(o.answer.final);
      CHECK(s.commits.empty());
    }
    {
      // Online: admitted with the credential, the stay the person's.
      AdmitInput in = admit_input(true);
      in.card_no.clear();
      in.cert_type = cert;
      in.cert_no = "X1";
      Script s;
      const Outcome o = s.run(admit_flow(std::move(in)));
      REQUIRE(o.answer.ok());
      CHECK(s.calls.front().cert_type == cert);
      CHECK(s.calls.front().cert_no == "X1");
      const auto* rec = s.last<RecordAdmission>();
      REQUIRE(rec != nullptr);
      CHECK(rec->stay.psn_no == "P1");
      CHECK(rec->stay.card_no.empty());
    }
    {
      // The 2401's reply lost: reversed, not stored offline.
      AdmitInput in = admit_input(true);
      in.card_no.clear();
      in.cert_type = cert;
      in.cert_no = "X1";
      Script s;
      s.insurer = [](const InsurerCall&) {
        InsurerReply r;
        r.outcome = CallOutcome::in_doubt;
        return r;
      };
      const Outcome o = s.run(admit_flow(std::move(in)));
      REQUIRE_FALSE(o.answer.ok());
      CHECK(o.answer.error->reason == Reason::in_doubt);
      CHECK(s.last<RecordAdmission>() == nullptr);
      const auto* failed = s.last<RecordCallFailed>();
      REQUIRE(failed != nullptr);
      CHECK(failed->outcome == CallOutcome::in_doubt);
    }
    {
      // A discharge with the line down: refused, nothing stored.
      StayView v = stay();
      v.stay.card_no.clear();
      v.live_lines = charge_lines({line("1", 100'000)});
      v.live_count = 1;
      DischargeInput in = discharge_input(v, policy);
      in.card_no.clear();
      in.psn_no = "P1";
      in.cert_type = cert;
      in.cert_no = "X1";
      in.line_online = false;
      Script s;
      const Outcome o = s.run(discharge_flow(std::move(in)));
      REQUIRE_FALSE(o.answer.ok());
      CHECK(o.answer.error->message.find("needs the medical-insurance card") != std::string::npos);
      CHECK(s.last<RecordOffline>() == nullptr);
    }
  }
}

TEST_CASE("the undo of a discharge settled by ID number: with its person's credential, not another's nor none") {
  StayView v = stay(StayState::discharged);
  v.stay.card_no.clear();
  OriginalView ov;
  ov.settlement.setl_id = 9;
  ov.settlement.visit = VisitType::inpatient;
  ov.settlement.adm_id = 5;
  ov.settlement.cert_type = CertType::id_no;
  ov.settlement.cert_no = "110101199001011234";
  ov.settlement.psn_no = "P1";
  ov.settlement.insurer_setl_id = "S9";
  ov.settlement.mdtrt_id = "V1";
  ov.settlement.parts = Parts{Amount::fen(10'000), Amount::fen(6'000), Amount::zero(), Amount::fen(4'000)};
  ov.settlement.lines = {ChargeLine{"I1", "item", LineClass::a, Amount::fen(10'000), std::nullopt}};
  v.settlement = ov;
  UndoDischargeInput in;
  in.request_id = "u1";
  in.stay = v;
  in.budget = Budget{10'000, 500};
  for (const char* other : {"P2", ""}) {
    CAPTURE(other);
    in.psn_no = other;
    Script s;
    const Outcome o = s.run(undo_discharge_flow(in));
    REQUIRE_FALSE(o.answer.ok());
    CHECK(o.answer.error->reason == Reason::card_mismatch);
    CHECK(s.calls.empty());
  }
  in.psn_no = "P1";
  Script s;
  s.insurer = [&](const InsurerCall& c) {
    InsurerReply r;
    r.outcome = CallOutcome::ok;
    r.parts = ov.settlement.parts;
    r.insurer_id = "U1";
    (void)c;
    return r;
  };
  const Outcome o = s.run(undo_discharge_flow(in));
  REQUIRE(o.answer.ok());
  CHECK(o.answer.stay->stay.state == StayState::admitted);
}
