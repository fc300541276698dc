// The flows without a driver (settle.commit, settle.refund, re-settlement):
// each case feeds the events by hand and checks the actions asked for and
// the answer (the simulation drives them at scale).
#include "engine/flows.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace settle;
using namespace settle::flow;

namespace {

OriginalView original(SettlementState state) {
  OriginalView o;
  o.settlement.setl_id = 7;
  o.settlement.card_no = "C1";
  o.settlement.psn_no = "P1";
  o.settlement.state = state;
  o.settlement.parts = Parts{Amount::fen(10'000), Amount::fen(6'000), Amount::fen(1'000), Amount::fen(3'000)};
  o.settlement.lines = {ChargeLine{"A1", "a", LineClass::a, Amount::fen(6'000), std::nullopt},
                        ChargeLine{"A1", "a", LineClass::a, Amount::fen(4'000), std::nullopt}};
  return o;
}

RefundInput refund_input(SettlementState state, bool online) {
  RefundInput in;
  in.request_id = "r1";
  in.card_no = "C1";
  in.original = original(state);
  in.line_online = online;
  in.budget = Budget{10'000, 500};
  return in;
}

// The original partly refunded: an earlier refund took 50.00 of A1 (fund
// 30.00, cash 20.00); 50.00 of the two A1 lines are left.
RefundInput partly_refunded_input() {
  RefundInput in = refund_input(SettlementState::partly_refunded, true);
  RefundRecord before;
  before.setl_id = 7;
  before.parts = Parts{Amount::fen(5'000), Amount::fen(3'000), Amount::zero(), Amount::fen(2'000)};
  before.lines = {LineRefund{"A1", Amount::fen(5'000)}};
  in.original.refunds.push_back(before);
  return in;
}

// The final refusal a flow stores, started, before any call.
Error stored_refusal(Flow f) {
  f.start(0);
  REQUIRE_FALSE(f.done());
  const auto* c = std::get_if<Commit>(&f.action());
  REQUIRE(c != nullptr);
  const auto* a = std::get_if<StoreAnswer>(&c->change);
  REQUIRE(a != nullptr);
  REQUIRE(a->answer.error.has_value());
  const Error e = *a->answer.error;
  f.feed(Committed{}, 1);
  REQUIRE(f.done());
  CHECK(f.outcome().answer.error == e);
  CHECK(f.outcome().answer.final);
  return e;
}

// A refund fed up to its 9301: the card, no reversals open, its msgid durable.
void to_refund_call(Flow& f) {
  f.start(0);
  f.feed(CardChecked{Ok{}}, 1);               // the card
  f.feed(ReversalsCount{0}, 2);               // nothing being reversed
  f.feed(MsgidIssued{"M1"}, 3);               // the 9301's msgid
  f.feed(Committed{Ok{}, 0, false, {}}, 4);  // durable
}

// The insurer's answer (ok, with `parts`) fed at `at`: the commit asked for
// next, if it is a T.
template <class T>
const T* answered(Flow& f, const Parts& parts, Ms at) {
  InsurerReply r;
  r.outcome = CallOutcome::ok;
  r.parts = parts;
  f.feed(Replied{r}, at);
  const auto* c = std::get_if<Commit>(&f.action());
  REQUIRE(c != nullptr);
  return std::get_if<T>(&c->change);
}

}  // namespace

TEST_CASE("a refund while the line is down is OFFLINE_REFUND_FORBIDDEN whatever the original's state, and not stored") {
  for (SettlementState st : {SettlementState::settled, SettlementState::offline_pending, SettlementState::refunded}) {
    CAPTURE(settlement_state_name(st));
    RefundInput in = refund_input(st, false);
    Flow f = refund_flow(std::move(in));
    f.start(0);
    REQUIRE(f.done());
    CHECK(f.outcome().answer.error->reason == Reason::offline_refund_forbidden);
    CHECK_FALSE(f.outcome().answer.final);
  }
}

TEST_CASE("an original made with an e-voucher or an ID number is refunded only for its person, never for an empty card") {
  for (CertType t : {CertType::ec_voucher, CertType::id_no}) {
    CAPTURE(cert_type_name(t));
    const auto first = [&](std::string card, std::string psn) {
      RefundInput in = refund_input(SettlementState::settled, true);
      in.original.settlement.cert_type = t;
      in.original.settlement.card_no.clear();
      in.original.settlement.psn_no = "P1";
      in.card_no = std::move(card);
      in.psn_no = std::move(psn);
      Flow f = refund_flow(std::move(in));
      f.start(0);
      return f.done() ? f.outcome().answer.error : std::optional<Error>{};
    };
    // Another person's credential, or no person at all: refused, nothing sent.
    for (const auto& [card, psn] : {std::pair<std::string, std::string>{"", "P2"}, {"", ""}, {"C9", ""}}) {
      const auto e = first(card, psn);
      REQUIRE(e.has_value());
      CHECK(e->reason == Reason::card_mismatch);
      CHECK(e->field == "credential");
    }
    // The same person (whatever credential the window holds): the flow goes on.
    CHECK_FALSE(first("", "P1").has_value());
  }
  // A card original with no card at the window (an empty card no longer matches an empty one).
  RefundInput in = refund_input(SettlementState::settled, true);
  in.original.settlement.card_no.clear();
  in.card_no.clear();
  in.psn_no = in.original.settlement.psn_no;
  Flow f = refund_flow(std::move(in));
  f.start(0);
  REQUIRE(f.done());
  CHECK(f.outcome().answer.error->reason == Reason::card_mismatch);
}

TEST_CASE("a refund of an offline settlement not yet accepted is NOT_REFUNDABLE_YET, stored as the request's answer") {
  RefundInput in = refund_input(SettlementState::offline_pending, true);
  const Error e = stored_refusal(refund_flow(std::move(in)));
  CHECK(e.reason == Reason::not_refundable_yet);
}

TEST_CASE("the refund of everything left counts lines that share an item code once each") {
  RefundInput in = partly_refunded_input();
  Flow f = refund_flow(std::move(in));
  to_refund_call(f);
  const auto* call = std::get_if<Call>(&f.action());
  REQUIRE(call != nullptr);
  CHECK(call->call.txn == Txn::refund);
  CHECK(call->call.total == Amount::fen(5'000));
  const auto* rec = answered<RecordRefund>(
      f, Parts{Amount::fen(5'000), Amount::fen(3'000), Amount::fen(1'000), Amount::fen(1'000)}, 5);
  REQUIRE(rec != nullptr);
  REQUIRE(rec->refund.lines.size() == 1);
  CHECK(rec->refund.lines[0].amount == Amount::fen(5'000));
  CHECK(rec->new_state == SettlementState::refunded);
}

TEST_CASE("the HTTP reply rule: only a readable refusal proves nothing happened") {
  struct Row {
    int status;
    bool readable, ok, money;
    CallOutcome expect;
  };
  const Row rows[] = {
      {200, true, true, true, CallOutcome::ok},        {200, true, false, true, CallOutcome::refused},
      {200, false, false, true, CallOutcome::in_doubt}, {200, false, false, false, CallOutcome::in_doubt},
      {502, false, false, true, CallOutcome::in_doubt}, {504, false, false, false, CallOutcome::refused},
      {500, true, false, true, CallOutcome::refused},   {500, true, true, true, CallOutcome::in_doubt},
  };
  for (const Row& r : rows) {
    CAPTURE(r.status);
    CHECK(classify_reply(r.status, r.readable, r.ok, r.money) == r.expect);
  }
}

namespace {

Policy resettle_policy() {
  Policy p;
  p.set("310", VisitType::outpatient,
        PolicyParams{Amount::zero(), Ratio::ppm(700'000), Amount::fen(100'000'000), Ratio::ppm(100'000)});
  return p;
}

// An accepted offline settlement paid without the account, ready to re-settle.
ResettleInput resettle_input(const Policy& policy) {
  ResettleInput in;
  in.request_id = "rs1";
  in.card_no = "C1";
  in.original = original(SettlementState::offline_accepted);
  in.original.settlement.mode = Mode::offline;
  in.original.settlement.parts = Parts{Amount::fen(10'000), Amount::fen(7'000), Amount::zero(), Amount::fen(3'000)};
  in.original.settlement.insutype = "310";
  in.original.settlement.insurer_setl_id = "S9";
  in.original.settlement.mdtrt_id = "V9";
  in.budget = Budget{10'000, 500};
  in.policy = &policy;
  return in;
}

Person resettle_person() {
  Person p;
  p.insutype = "310";
  p.balance = Amount::fen(50'000);
  return p;
}

}  // namespace

TEST_CASE("re-settlement of an offline settlement the insurer gave no visit id is refused before any call") {
  const Policy policy = resettle_policy();
  ResettleInput in = resettle_input(policy);
  in.original.settlement.mdtrt_id.clear();
  const Error e = stored_refusal(resettle_flow(std::move(in)));
  CHECK(e.reason == Reason::invalid_state);
  CHECK(e.message.find("refund it instead") != std::string::npos);
}

namespace {

// A re-settlement fed up to its 2208 (the card, a fresh 1101, no reversals
// open, the undo's msgid durable), the 2208 asked for.
Flow resettle_to_undo(const Policy& policy) {
  Flow f = resettle_flow(resettle_input(policy));
  f.start(0);
  f.feed(CardChecked{Ok{}}, 1);
  PersonFound found;
  found.person = resettle_person();
  found.psn_no = "P1";
  REQUIRE(std::get<FindPerson>(f.action()).fresh);
  f.feed(found, 2);
  f.feed(ReversalsCount{0}, 3);
  f.feed(MsgidIssued{"M1"}, 4);
  REQUIRE(std::holds_alternative<WriteMsgid>(std::get<Commit>(f.action()).change));
  f.feed(Committed{}, 5);
  const auto* call = std::get_if<Call>(&f.action());
  REQUIRE(call != nullptr);
  CHECK(call->call.txn == Txn::undo);
  CHECK(call->call.mdtrt_id == "V9");
  return f;
}

}  // namespace

TEST_CASE("a 2208 that gives back other figures than the ledger has left is reversed and nothing is recorded as undone") {
  const Policy policy = resettle_policy();
  Flow f = resettle_to_undo(policy);
  // The insurer gives back more of the fund than the ledger says is left.
  const auto* rec = answered<RecordCallFailed>(
      f, Parts{Amount::fen(10'000), Amount::fen(8'000), Amount::zero(), Amount::fen(2'000)}, 6);
  REQUIRE(rec != nullptr);  // not RecordUndo
  CHECK(rec->outcome == CallOutcome::in_doubt);  // its reversal is queued
  CHECK(rec->txn == Txn::undo);
  f.feed(Committed{}, 7);
  REQUIRE(f.done());
  CHECK(f.outcome().answer.error->reason == Reason::insurer_rejected);
  CHECK(f.outcome().answer.final);
}

TEST_CASE("a 2208 that gives back what is left is recorded as the undo, then the lines are settled again") {
  const Policy policy = resettle_policy();
  Flow f = resettle_to_undo(policy);
  const auto* undo = answered<RecordUndo>(
      f, Parts{Amount::fen(10'000), Amount::fen(7'000), Amount::zero(), Amount::fen(3'000)}, 6);
  REQUIRE(undo != nullptr);
  CHECK(undo->undo.parts.total == Amount::fen(10'000));
  f.feed(Committed{Ok{}, 41, false, {}}, 7);
  // The online settlement of the lines left, as a sub-flow: its msgid first.
  CHECK(std::holds_alternative<NewMsgid>(f.action()));
}

namespace {

// An accepted offline settlement of 100.00, estimated at fund 60.00 and cash
// 40.00 taken at the window, that the insurer settled at fund 50.00: its
// figures put 10.00 more on the patient than was taken.
OriginalView fund_below_estimate() {
  OriginalView o = original(SettlementState::offline_accepted);
  o.settlement.mode = Mode::offline;
  o.settlement.parts = Parts{Amount::fen(10'000), Amount::fen(6'000), Amount::zero(), Amount::fen(4'000)};
  o.settlement.insurer_setl_id = "S9";
  o.settlement.mdtrt_id = "V9";
  o.insurer_parts = Parts{Amount::fen(10'000), Amount::fen(5'000), Amount::zero(), Amount::fen(5'000)};
  return o;
}


}  // namespace

TEST_CASE("the insurer's fund below the offline estimate: the original stands at what was received, never more cash back") {
  const OriginalView o = fund_below_estimate();
  CHECK(uncollected(o) == Amount::fen(1'000));
  CHECK(standing_parts(o) == Parts{Amount::fen(9'000), Amount::fen(5'000), Amount::zero(), Amount::fen(4'000)});
  REQUIRE(left_of(o).ok());

  SUBCASE("a refund of everything is refused before any call, naming the part never taken") {
    RefundInput in = refund_input(SettlementState::offline_accepted, true);
    in.original = o;
    const Error e = stored_refusal(refund_flow(std::move(in)));
    CHECK(e.reason == Reason::refund_exceeds_original);
    CHECK(e.message.find("10.00 more on the patient") != std::string::npos);
    CHECK(e.message.find("90.00 left") != std::string::npos);
  }
  SUBCASE("a refund of part: the insurer's split is checked against what was received") {
    RefundInput in = refund_input(SettlementState::offline_accepted, true);
    in.original = o;
    in.lines = {LineRefund{"A1", Amount::fen(3'000)}};
    Flow f = refund_flow(std::move(in));
    to_refund_call(f);
    REQUIRE(std::holds_alternative<Call>(f.action()));
    const Parts insurer{Amount::fen(3'000), Amount::fen(1'500), Amount::zero(), Amount::fen(1'500)};
    const auto* rec = answered<RecordRefund>(f, insurer, 5);
    REQUIRE(rec != nullptr);
    CHECK(rec->refund.parts == insurer);
    CHECK(rec->new_state == SettlementState::partly_refunded);
  }
  SUBCASE("a re-settlement, which undoes it whole, is refused before any call") {
    const Policy policy = resettle_policy();
    ResettleInput in = resettle_input(policy);
    in.original = o;
    in.original.settlement.insutype = "310";
    const Error e = stored_refusal(resettle_flow(std::move(in)));
    CHECK(e.reason == Reason::invalid_state);
    CHECK(e.message.find("never taken") != std::string::npos);
  }
}

TEST_CASE("refunds above the figures a settlement counts now (a correction approved after them) are a refusal, not a stop") {
  // Settled fund 60.00, account 10.00, cash 30.00; 20.00 of cash paid back;
  // then corrected to cash 5.00.
  RefundInput in = partly_refunded_input();
  in.original.insurer_parts = Parts{Amount::fen(10'000), Amount::fen(9'000), Amount::fen(500), Amount::fen(500)};
  REQUIRE_FALSE(left_of(in.original).ok());
  const Error e = stored_refusal(refund_flow(std::move(in)));
  CHECK(e.reason == Reason::invalid_state);
  CHECK(e.message.find("do not fit") != std::string::npos);
}

TEST_CASE("the visit's medical type goes to the insurer with the registration and the settlement") {
  const Policy policy = resettle_policy();
  CommitInput in;
  in.request_id = "c1";
  in.card_no = "C1";
  in.med_type = "14";  // 门诊慢特病
  in.lines = {ChargeLine{"A1", "a", LineClass::a, Amount::fen(10'000), std::nullopt}};
  in.budget = Budget{10'000, 500};
  in.policy = &policy;
  Flow f = commit_flow(std::move(in));
  f.start(0);
  f.feed(CardChecked{Ok{}}, 1);
  PersonFound found;
  found.person = resettle_person();
  found.psn_no = "P1";
  f.feed(found, 2);
  f.feed(ReversalsCount{0}, 3);
  f.feed(MsgidIssued{"M1"}, 4);
  REQUIRE(std::holds_alternative<StartCommit>(f.action()));
  f.feed(CommitStarted{}, 5);
  const auto* reg = std::get_if<Call>(&f.action());
  REQUIRE(reg != nullptr);
  CHECK(reg->call.txn == Txn::register_visit);
  CHECK(reg->call.med_type == "14");
  InsurerReply ok;
  ok.outcome = CallOutcome::ok;
  ok.mdtrt_id = "V1";
  f.feed(Replied{ok}, 6);
  f.feed(Replied{ok}, 7);                  // 2204
  f.feed(Committed{}, 8);                  // the 2207's msgid is durable
  const auto* settle = std::get_if<Call>(&f.action());
  REQUIRE(settle != nullptr);
  CHECK(settle->call.txn == Txn::settle);
  CHECK(settle->call.med_type == "14");
  CHECK(settle->call.mdtrt_id == "V1");
}

namespace {

CommitInput offline_reason_input(const Policy& policy) {
  CommitInput in;
  in.request_id = "c-off";
  in.card_no = "C1";
  in.lines = {ChargeLine{"A1", "a", LineClass::a, Amount::fen(10'000), std::nullopt}};
  in.budget = Budget{10'000, 500};
  in.policy = &policy;
  return in;
}

// Feeds the offline settlement's steps (the red list's person, the
// outstanding figures) and returns what it asks the ledger to record.
const RecordOffline& recorded_offline(Flow& f, Ms at) {
  PersonFound red;
  red.person = resettle_person();
  red.psn_no = "P1";
  red.from_redlist = true;
  f.feed(red, at);
  f.feed(OutstandingFigures{}, at + 1);
  const auto* c = std::get_if<Commit>(&f.action());
  REQUIRE(c != nullptr);
  const auto* rec = std::get_if<RecordOffline>(&c->change);
  REQUIRE(rec != nullptr);
  return *rec;
}

bool has(const std::vector<SplitReason>& reasons, SplitReason r) {
  return std::find(reasons.begin(), reasons.end(), r) != reasons.end();
}

}  // namespace

TEST_CASE("the insurer's system failing on the registration (an error page): settled offline, reason insurer error") {
  const Policy policy = resettle_policy();
  Flow f = commit_flow(offline_reason_input(policy));
  f.start(0);
  f.feed(CardChecked{Ok{}}, 1);
  PersonFound found;
  found.person = resettle_person();
  found.psn_no = "P1";
  f.feed(found, 2);
  f.feed(ReversalsCount{0}, 3);
  f.feed(MsgidIssued{"M1"}, 4);
  f.feed(CommitStarted{}, 5);
  REQUIRE(std::holds_alternative<Call>(f.action()));
  InsurerReply page;
  page.outcome = CallOutcome::refused;
  page.system_error = true;
  page.detail = "HTTP 503";
  f.feed(Replied{page}, 6);
  f.feed(Committed{}, 7);  // the 2207's msgid, durable and never sent
  const RecordOffline& rec = recorded_offline(f, 8);
  CHECK(rec.settlement.mode == Mode::offline);
  CHECK(rec.settlement.offline_cause == OfflineCause::insurer_error);
  CHECK(has(rec.settlement.reasons, SplitReason::offline_insurer_error));
  CHECK(rec.settlement.parts.account.is_zero());
  REQUIRE(rec.unsent_msgid.has_value());
  CHECK(*rec.unsent_msgid == "M1");
}

// The insurer refused the request's timestamp (this host's clock is off past
// its window): nothing was done, as the driver reports it (unreachable, clock_refused).
InsurerReply refused_for_clock() {
  InsurerReply r;
  r.outcome = CallOutcome::unreachable;
  r.clock_refused = true;
  r.infcode = -1;
  r.detail = "x-tif-timestamp is 400 s in the future (at most 300 s allowed)";
  return r;
}

TEST_CASE("the registration refused for this host's clock: settled offline, reason clock skew, not a refusal") {
  const Policy policy = resettle_policy();
  Flow f = commit_flow(offline_reason_input(policy));
  f.start(0);
  f.feed(CardChecked{Ok{}}, 1);
  PersonFound found;
  found.person = resettle_person();
  found.psn_no = "P1";
  f.feed(found, 2);
  f.feed(ReversalsCount{0}, 3);
  f.feed(MsgidIssued{"M1"}, 4);
  f.feed(CommitStarted{}, 5);
  REQUIRE(std::holds_alternative<Call>(f.action()));
  f.feed(Replied{refused_for_clock()}, 6);
  f.feed(Committed{}, 7);  // the 2207's msgid, durable and never sent
  const RecordOffline& rec = recorded_offline(f, 8);
  CHECK(rec.settlement.mode == Mode::offline);
  CHECK(rec.settlement.offline_cause == OfflineCause::clock_skew);
  CHECK(has(rec.settlement.reasons, SplitReason::offline_clock_skew));
  CHECK_FALSE(has(rec.settlement.reasons, SplitReason::offline_network_down));
  CHECK(rec.settlement.parts.account.is_zero());
  REQUIRE(rec.unsent_msgid.has_value());
  CHECK(*rec.unsent_msgid == "M1");
  CHECK_FALSE(rec.in_doubt_msgid.has_value());
}

TEST_CASE("the 2207 refused for this host's clock: its msgid closed unsent, settled offline for the clock") {
  const Policy policy = resettle_policy();
  Flow f = commit_flow(offline_reason_input(policy));
  f.start(0);
  f.feed(CardChecked{Ok{}}, 1);
  PersonFound found;
  found.person = resettle_person();
  found.psn_no = "P1";
  f.feed(found, 2);
  f.feed(ReversalsCount{0}, 3);
  f.feed(MsgidIssued{"M1"}, 4);
  f.feed(CommitStarted{}, 5);
  InsurerReply reg;
  reg.outcome = CallOutcome::ok;
  reg.infcode = 0;
  reg.mdtrt_id = "V1";
  f.feed(Replied{reg}, 6);  // 2201
  InsurerReply up;
  up.outcome = CallOutcome::ok;
  up.infcode = 0;
  f.feed(Replied{up}, 7);   // 2204
  f.feed(Committed{}, 8);   // the 2207's msgid durable
  const auto* call = std::get_if<Call>(&f.action());
  REQUIRE(call != nullptr);
  CHECK(call->call.txn == Txn::settle);
  f.feed(Replied{refused_for_clock()}, 9);
  const RecordOffline& rec = recorded_offline(f, 10);
  CHECK(rec.settlement.offline_cause == OfflineCause::clock_skew);
  CHECK(has(rec.settlement.reasons, SplitReason::offline_clock_skew));
  // Nothing was done at the insurer: closed as unsent, no reversal.
  REQUIRE(rec.unsent_msgid.has_value());
  CHECK(*rec.unsent_msgid == "M1");
  CHECK_FALSE(rec.in_doubt_msgid.has_value());
}

TEST_CASE("the person's 1101 refused for this host's clock, or the line offline for it: settled offline, reason clock skew") {
  const Policy policy = resettle_policy();
  {
    Flow f = commit_flow(offline_reason_input(policy));
    f.start(0);
    f.feed(CardChecked{Ok{}}, 1);
    PersonFound found;
    found.unanswered = true;
    found.clock_refused = true;
    f.feed(found, 2);
    const RecordOffline& rec = recorded_offline(f, 3);
    CHECK(rec.settlement.offline_cause == OfflineCause::clock_skew);
    CHECK(has(rec.settlement.reasons, SplitReason::offline_clock_skew));
    CHECK_FALSE(rec.unsent_msgid.has_value());
  }
  {
    CommitInput in = offline_reason_input(policy);
    in.line_online = false;
    in.line_cause = OfflineCause::clock_skew;
    Flow f = commit_flow(std::move(in));
    f.start(0);
    f.feed(CardChecked{Ok{}}, 1);
    const RecordOffline& rec = recorded_offline(f, 2);
    CHECK(rec.settlement.offline_cause == OfflineCause::clock_skew);
    CHECK(has(rec.settlement.reasons, SplitReason::offline_clock_skew));
  }
  {
    // A person unanswered for another reason stays network_down.
    Flow f = commit_flow(offline_reason_input(policy));
    f.start(0);
    f.feed(CardChecked{Ok{}}, 1);
    PersonFound found;
    found.unanswered = true;
    f.feed(found, 2);
    const RecordOffline& rec = recorded_offline(f, 3);
    CHECK(rec.settlement.offline_cause == OfflineCause::network_down);
  }
}

TEST_CASE("the insurer's own refusal of the registration stays a refusal (not offline)") {
  const Policy policy = resettle_policy();
  Flow f = commit_flow(offline_reason_input(policy));
  f.start(0);
  f.feed(CardChecked{Ok{}}, 1);
  PersonFound found;
  found.person = resettle_person();
  found.psn_no = "P1";
  f.feed(found, 2);
  f.feed(ReversalsCount{0}, 3);
  f.feed(MsgidIssued{"M1"}, 4);
  f.feed(CommitStarted{}, 5);
  InsurerReply no;
  no.outcome = CallOutcome::refused;
  no.infcode = -1;
  no.detail = "not insured on that day";
  f.feed(Replied{no}, 6);
  f.feed(Committed{}, 7);
  // The refusal is recorded as the request's answer: no offline settlement.
  const auto* c = std::get_if<Commit>(&f.action());
  REQUIRE(c != nullptr);
  CHECK(std::get_if<RecordOffline>(&c->change) == nullptr);
}

TEST_CASE("the window's reader failing after the card was read: settled offline, reason reader failure; a card "
          "taken out is not settled") {
  const Policy policy = resettle_policy();
  {
    Flow f = commit_flow(offline_reason_input(policy));
    f.start(0);
    f.feed(CardChecked{make_error(Reason::reader_unavailable, "reader", "reader 'W01' is not available")}, 1);
    // Nothing online: straight to the red list.
    const RecordOffline& rec = recorded_offline(f, 2);
    CHECK(rec.settlement.offline_cause == OfflineCause::reader_failure);
    CHECK(has(rec.settlement.reasons, SplitReason::offline_reader_failure));
    CHECK(rec.settlement.parts.account.is_zero());
    CHECK_FALSE(rec.unsent_msgid.has_value());
  }
  {
    Flow f = commit_flow(offline_reason_input(policy));
    f.start(0);
    f.feed(CardChecked{make_error(Reason::card_removed, "card", "the card was taken out")}, 1);
    REQUIRE(f.done());
    CHECK(f.outcome().answer.error->reason == Reason::card_removed);
  }
}
