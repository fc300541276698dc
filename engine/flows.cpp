// settle.commit, settle.refund and settle.resettle as pure flows (see
// flows.hpp), made of the steps of flow_steps.hpp. Awaiters are named before
// they are awaited: GCC 12 mishandles temporaries in co_await.
#include "engine/flows.hpp"

#include "engine/flow_steps.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace settle::flow {

// ---- settle.commit ----------------------------------------------------------------------

Flow commit_flow(CommitInput in) {
  SETTLE_ASSERT(in.policy != nullptr);
  bool reader_failed = false;
  {
    auto a = ask(CheckCard{});
    auto card = take<CardChecked>(co_await a);
    // The window's reader failed after the card was read here: the card
    // cannot be checked for the online settlement, so the window goes on
    // offline (no account, the red list's estimate), the reason said. A card
    // taken out or swapped is not settled: not final, the right card may
    // still come and the request run then.
    if (!card.status) {
      if (card.status.error().reason != Reason::reader_unavailable || in.card_no.empty())
        co_return Outcome{Answer::fail(card.status.error(), false), std::nullopt};
      reader_failed = true;
    }
  }
  ChargeRequest charge;
  charge.of = RecordOf{in.request_id, in.window, in.operator_id, in.card_no, in.card_sn, in.med_type};
  charge.lines = in.lines;
  charge.use_account = in.use_account;
  charge.pin_verified = in.pin_verified;
  charge.online = in.line_online && !reader_failed;
  if (reader_failed)
    charge.offline_cause = OfflineCause::reader_failure;
  else if (!in.line_online)
    charge.offline_cause = in.line_cause;
  charge.budget = in.budget;
  charge.limits = in.limits;
  charge.policy = in.policy;
  charge.profile = in.profile;
  charge.acct_auth = in.acct_auth;
  charge.of.cert_type = in.cert_type;
  charge.of.cert_no = in.cert_no;
  charge.of.insuplc_admdvs = in.insuplc_admdvs;
  charge.of.facts = in.facts;
  auto settling = settle_charge(std::move(charge));
  auto r = settling.run();
  co_return co_await r;
}

// ---- the original undone and lines settled again: re-settlement, national refund of part --

namespace {

struct Redo {
  RecordOf of;                    // the request at the window (its card, its credential)
  SettlementRecord original;
  std::string psn_no;
  std::string insutype;
  Parts left;                     // what is left of the original (undone)
  std::vector<ChargeLine> all_left;  // its lines left (the undo's)
  std::vector<ChargeLine> kept;      // the lines settled again
  Split local;                    // their local split
  bool use_account = false;
  std::optional<Amount> acct_cap; // the account pays at most this (national refund of part)
  // A refund of part: the answer's refund is the money back net of the undo
  // and the new settlement, for these lines.
  std::optional<std::vector<LineRefund>> refunded;
  Ms deadline_at = 0;
  const Policy* policy = nullptr;
  const InsurerProfile* profile = nullptr;
};

// The undo (2208) of everything left of the original, then `kept` settled
// as a new settlement linked to it (2201, 2204, [2206,] 2207). When the new
// settlement does not come about (refused, unanswered, in doubt, or a reply
// that cannot stand: above the account cap), the answer says the original
// was undone and the charge must be settled again (final).
BasicFlow<Outcome> undo_and_settle(Redo in) {
  const SettlementRecord& orig = in.original;
  // 1. Undo (2208) everything left of the original.
  UndoRequest u;
  u.of = RecordOf{in.of.request_id, in.of.window, in.of.operator_id, {}, {}, {}};
  u.original = orig;
  u.psn_no = in.psn_no;
  u.card_no = in.of.card_no;
  u.left = in.left;
  u.rest = in.all_left;
  u.deadline_at = in.deadline_at;
  auto undoing = undo_settlement(std::move(u));
  auto undo_run = undoing.run();
  UndoDone undone = co_await undo_run;
  if (undone.ends) co_return std::move(*undone.ends);
  const RefundRecord undo = undone.undo;

  // 2. The kept lines settled again, with the credential at the window and
  // the original's facts.
  const InsurerProfile& profile = profile_or_regional(in.profile);
  OnlineRequest req;
  req.request_id = in.of.request_id;
  req.psn_no = in.psn_no;
  req.card_no = in.of.card_no;
  req.insutype = in.insutype;
  req.med_type = orig.med_type;
  req.lines = in.kept;
  req.total = in.local.total;
  req.use_account = in.use_account;
  req.deadline_at = in.deadline_at;
  req.cert_type = in.of.cert_type;
  req.cert_no = in.of.cert_no;
  req.insuplc_admdvs = orig.insuplc_admdvs;
  req.facts = orig.facts;
  req.preview = profile.preview;
  if (profile.account_cap) req.acct_cap = in.acct_cap;
  BasicFlow<OnlineAttempt> sub = online_settle(std::move(req));
  auto settling = sub.run();
  const OnlineAttempt on = co_await settling;
  const Ms at = co_await current_time();
  using End = OnlineAttempt::End;
  if (on.end == End::settled) {
    RecordOf of = in.of;
    of.med_type = orig.med_type;
    of.insuplc_admdvs = orig.insuplc_admdvs;
    of.facts = orig.facts;
    SettlementRecord st = new_record(of, in.psn_no, in.insutype, *in.policy, in.kept, in.local.reasons, at);
    settled_by(st, on);
    st.resettles_setl_id = orig.setl_id;
    Answer yes;
    yes.settlement = st;
    yes.refund = undo;
    if (in.refunded) {
      // What the patient got back: the undo less the new settlement.
      RefundRecord net = undo;
      net.parts = Parts{undo.parts.total - st.parts.total, undo.parts.fund - st.parts.fund,
                        undo.parts.account - st.parts.account, undo.parts.cash - st.parts.cash};
      net.lines = *in.refunded;
      yes.refund = net;
    }
    yes.balance_after = on.reply.balance_after;
    note_preview(yes, parts_of(in.local), on);
    auto fin = record_settled(std::move(st), std::move(yes), undo);
    auto done = fin.run();
    co_return co_await done;
  }
  // The new settlement did not come about: the answer says the original was
  // undone (final: the request never runs again; the cashier settles anew).
  std::optional<RecordCallFailed> rec;
  Answer no;
  const std::string& request_id = in.of.request_id;
  switch (on.end) {
    case End::settled: break;
    case End::no_msgid: no = after_undo(*on.error, undo); break;
    case End::refused:
      no = after_undo(*refused_answer(on.reply, on.txn).error, undo);
      no.refusal = InsurerRefusal{on.reply.infcode, on.reply.detail};
      if (!on.msgid.empty())
        rec = failed_call(on.msgid, Txn::settle, on.txn == Txn::settle ? CallOutcome::refused : CallOutcome::unreachable,
                          in.psn_no, request_id, no, on.reply.infcode, on.reply.detail);
      break;
    case End::not_answered:
      no = after_undo(make_error(Reason::insurer_unreachable, "insurer",
                                 fmt::format("the insurer was not reached for {} ({})", txn_code(on.txn), on.reply.detail)),
                      undo);
      if (!on.msgid.empty())
        rec = failed_call(on.msgid, Txn::settle, CallOutcome::unreachable, in.psn_no, request_id, no);
      break;
    case End::in_doubt:
      no = after_undo(unanswered_error(on.reply, Txn::settle), undo);
      rec = failed_call(on.msgid, Txn::settle, CallOutcome::in_doubt, in.psn_no, request_id, no);
      break;
    case End::unacceptable:
      no = after_undo(make_error(Reason::insurer_rejected, "insurer",
                                 fmt::format("the insurer's 2207 answer is not acceptable ({}); it is being reversed (冲正)",
                                             on.problem)),
                      undo);
      rec = failed_call(on.msgid, Txn::settle, CallOutcome::in_doubt, in.psn_no, request_id, no);
      break;
  }
  if (!rec) {
    auto fin = store_final(request_id, no);
    auto done = fin.run();
    Outcome o = co_await done;
    if (!o.answer.ok() && !o.answer.final) o.answer = after_undo(*o.answer.error, undo);
    co_return o;
  }
  // The request must not run again (the original is undone): held until written.
  auto fin = record_failed(std::move(*rec), std::move(no), false);
  auto done = fin.run();
  co_return co_await done;
}

}  // namespace

// ---- settle.refund --------------------------------------------------------------------

// ---- settle.refund in a profile without a refund of lines (national) --------------------

namespace {

// A refund without 9301: everything left undone (2208); when lines are kept,
// they are settled again as a new settlement linked to the original, with
// the credential at the window, the account used if the original used it
// (never by ID number) and capped at what it has left, so
// the patient gets back what a refund of lines gives (cash first, the
// account never above what it paid).
BasicFlow<Outcome> refund_by_undo(RefundInput in, LineRefundPlan plan) {
  const SettlementRecord& orig = in.original.settlement;
  auto rest = lines_left(in.original);
  const std::vector<ChargeLine>& kept = plan.remaining_after;
  std::optional<Error> refused;
  if (!rest)
    refused = rest.error();
  else if (auto no = undo_refusal(in.original, "setl_id"))
    refused = std::move(no);
  else if (!can_move(orig.state, SettlementState::undone))
    refused = make_error(Reason::invalid_state, "setl_id",
                         fmt::format("settlement {} is {}: it cannot be undone, and this insurer has no refund of lines",
                                     orig.setl_id, settlement_state_name(orig.state)));
  else if (orig.insurer_setl_id.empty() || orig.mdtrt_id.empty())
    refused = make_error(Reason::invalid_state, "setl_id",
                         "the insurer gave no settlement or visit id for this settlement, so it cannot be undone (2208), "
                         "and this insurer has no refund of lines: the insurance office handles it");
  if (refused) {
    Answer no = Answer::fail(*refused);
    auto fin = store_final(in.request_id, std::move(no));
    auto done = fin.run();
    co_return co_await done;
  }
  const Parts left = *left_of(in.original);  // checked by undo_refusal
  {
    auto a = ask(CheckCard{});
    auto card = take<CardChecked>(co_await a);
    if (!card.status) co_return Outcome{Answer::fail(card.status.error(), false), std::nullopt};
  }
  std::string psn_no = orig.psn_no;
  std::optional<Person> person;
  if (psn_no.empty() || !kept.empty()) {
    // The person now: unknown (stored offline off the red list), or this
    // year's accumulators and balance for the new settlement's split.
    auto a = ask(FindPerson{true, in.budget.insurer_deadline(), true});
    auto found = take<PersonFound>(co_await a);
    if (found.unanswered)
      co_return Outcome{Answer::fail(make_error(Reason::insurer_unreachable, "insurer",
                                                "the insurer did not answer the person query; nothing was refunded"),
                                     false),
                        std::nullopt};
    if (!found.person || found.psn_no.empty())
      co_return Outcome{person_refused(found, make_error(Reason::not_found, "card", "the insurer does not know this card")),
                        std::nullopt};
    person = found.person;
    psn_no = found.psn_no;
  }
  // The kept lines are settled anew with the credential at the window: a
  // refund of part needs its number (2201 and 2207 carry it).
  const std::string cert_no = in.cert_no.empty() && in.cert_type == CertType::card ? in.card_no : in.cert_no;
  if (!kept.empty() && cert_no.empty())
    co_return Outcome{Answer::fail(make_error(Reason::card_absent, "credential",
                                              "a refund of part settles the kept lines again: it needs the patient's "
                                              "card, e-voucher or ID number at the window; nothing was refunded"),
                                   false),
                      std::nullopt};
  {
    auto first = reversals_first(psn_no, "refund");
    auto waiting = first.run();
    if (auto no = co_await waiting) co_return Outcome{std::move(*no), std::nullopt};
  }
  if (kept.empty()) {
    // Everything left: the undo alone is the refund.
    Answer yes;
    UndoRequest u;
    u.of = RecordOf{in.request_id, in.window, in.operator_id, {}, {}, {}};
    u.original = orig;
    u.psn_no = psn_no;
    u.card_no = in.card_no;
    u.left = left;
    u.rest = *rest;
    u.deadline_at = in.budget.insurer_deadline();
    u.answer = yes;
    auto undoing = undo_settlement(std::move(u));
    auto undo_run = undoing.run();
    UndoDone undone = co_await undo_run;
    if (undone.ends) co_return std::move(*undone.ends);
    yes.refund = undone.undo;
    co_return Outcome{std::move(yes), std::nullopt};
  }
  SETTLE_ASSERT(in.policy != nullptr);
  // The account as far as the original used it (capped at what it took:
  // its authorisation covered these lines), except by ID number: never.
  const bool took_account = left.account.fen() > 0;
  const bool use_account = took_account && in.cert_type != CertType::id_no;
  SplitOptions opts;
  opts.visit = VisitType::outpatient;
  opts.use_account = use_account;
  opts.pin_verified = use_account;
  if (took_account && !use_account) opts.no_account = SplitReason::account_not_by_id;
  if (use_account) opts.account_cap = left.account;
  // The person as the new settlement finds them: the undo gives back the
  // account and the fund it took, and the deductible it counted.
  Person after_undo = *person;
  after_undo.balance += left.account;
  after_undo.fund_paid_ytd = max(after_undo.fund_paid_ytd - left.fund, Amount::zero());
  if (in.original.refunds.empty())
    after_undo.deductible_used = max(after_undo.deductible_used - orig.deductible_part, Amount::zero());
  auto local = split(*in.policy, after_undo, kept, opts);
  if (!local) {
    Answer no = Answer::fail(local.error());
    auto fin = store_final(in.request_id, std::move(no));
    auto done = fin.run();
    co_return co_await done;
  }
  Redo redo;
  redo.of = RecordOf{in.request_id, in.window, in.operator_id, in.card_no, orig.card_sn, orig.med_type};
  redo.of.cert_type = in.cert_type;
  redo.of.cert_no = cert_no;
  redo.original = orig;
  redo.psn_no = psn_no;
  redo.insutype = person->insutype;
  redo.left = left;
  redo.all_left = *rest;
  redo.kept = kept;
  redo.local = *local;
  redo.use_account = use_account;
  if (use_account) redo.acct_cap = left.account;
  redo.refunded = in.lines;
  redo.deadline_at = in.budget.insurer_deadline();
  redo.policy = in.policy;
  redo.profile = in.profile;
  auto redoing = undo_and_settle(std::move(redo));
  auto done = redoing.run();
  co_return co_await done;
}

}  // namespace

Flow refund_flow(RefundInput in) {
  // The calls go to the person's insured area: the original's, else the window's.
  if (in.original.settlement.insuplc_admdvs.empty()) in.original.settlement.insuplc_admdvs = in.insuplc_admdvs;
  const SettlementRecord& orig = in.original.settlement;
  const InsurerProfile& profile = profile_or_regional(in.profile);
  // The line first: it is the first thing the cashier must know.
  if (auto no = not_now(in.original, in.card_no, in.psn_no, in.line_online,
                        "refunds are made online only, and the insurer is unreachable now; nothing was refunded"))
    co_return Outcome{std::move(*no), std::nullopt};

  const auto final_refusal = [&](Error e) -> Answer { return Answer::fail(std::move(e)); };
  std::optional<Answer> refused_now;
  if (orig.visit == VisitType::inpatient && !profile.line_refund) {
    refused_now = final_refusal(make_error(Reason::invalid_state, "setl_id",
                                           fmt::format("settlement {} is a stay's discharge settlement and this insurer "
                                                       "has no refund of part: undo the discharge settlement and "
                                                       "discharge again (inpatient.undo_discharge of stay {})",
                                                       orig.setl_id, orig.adm_id)));
  } else if (orig.visit == VisitType::inpatient) {
    refused_now = final_refusal(make_error(Reason::invalid_state, "setl_id",
                                           fmt::format("settlement {} is a stay's discharge settlement: it is undone whole "
                                                       "(inpatient.undo_discharge of stay {}) and settled again, never "
                                                       "refunded in part",
                                                       orig.setl_id, orig.adm_id)));
  } else if (!refundable(orig.state)) {
    if (orig.state == SettlementState::offline_pending)
      refused_now = final_refusal(make_error(Reason::not_refundable_yet, "setl_id",
                                             "this offline settlement has not been accepted by the insurer yet"));
    else if (orig.state == SettlementState::offline_rejected)
      refused_now = final_refusal(make_error(Reason::invalid_state, "setl_id",
                                             "the insurer rejected this offline settlement; the insurance office handles it"));
    else
      refused_now = final_refusal(make_error(Reason::refund_exceeds_original, "setl_id",
                                             fmt::format("settlement {} is {}: nothing is left to refund", orig.setl_id,
                                                         settlement_state_name(orig.state))));
  }
  std::vector<LineRefund> before_lines;
  std::vector<Parts> before;
  for (const auto& r : in.original.refunds) {
    before.push_back(r.parts);
    for (const auto& l : r.lines) before_lines.push_back(l);
  }
  const Parts standing = standing_parts(in.original);
  const auto left_now = left_of(in.original);
  if (!refused_now && !left_now) refused_now = final_refusal(left_now.error());
  std::optional<LineRefundPlan> plan;
  if (!refused_now) {
    auto p = plan_line_refund(orig.lines, before_lines, in.lines);
    if (!p) refused_now = final_refusal(p.error());
    else plan = *p;
  }
  if (!refused_now && plan->refund_total > left_now->total) {
    const Amount never = uncollected(in.original);
    refused_now = final_refusal(make_error(
        Reason::refund_exceeds_original, "lines",
        never.is_zero() ? std::string("the refund is above what is left of the original")
                        : fmt::format("the refund {} is above the {} left of the original: the insurer's figures put {} "
                                      "more on the patient than the cash taken at the window, and that was never taken",
                                      format_amount(plan->refund_total), format_amount(left_now->total),
                                      format_amount(never))));
  }
  if (refused_now) {
    auto fin = store_final(in.request_id, std::move(*refused_now));
    auto done = fin.run();
    co_return co_await done;
  }
  if (!profile.line_refund) {
    auto national = refund_by_undo(std::move(in), std::move(*plan));
    auto done = national.run();
    co_return co_await done;
  }

  {
    auto a = ask(CheckCard{});
    auto card = take<CardChecked>(co_await a);
    if (!card.status) co_return Outcome{Answer::fail(card.status.error(), false), std::nullopt};
  }
  std::string psn_no = orig.psn_no;
  if (psn_no.empty()) {
    // Stored offline without the person (not on the red list): ask the insurer now.
    auto a = ask(FindPerson{true, in.budget.insurer_deadline()});
    auto found = take<PersonFound>(co_await a);
    if (!found.person || found.psn_no.empty()) {
      if (found.unanswered)
        co_return Outcome{Answer::fail(make_error(Reason::offline_refund_forbidden, "insurer",
                                                  "the insurer did not answer the person query; nothing was refunded"),
                                       false),
                          std::nullopt};
      co_return Outcome{person_refused(found, make_error(Reason::not_found, "card", "the insurer does not know this card")),
                        std::nullopt};
    }
    psn_no = found.psn_no;
  }
  {
    auto first = reversals_first(psn_no, "refund");
    auto waiting = first.run();
    if (auto no = co_await waiting) co_return Outcome{std::move(*no), std::nullopt};
  }
  auto issue = durable_msgid(Txn::refund, in.request_id, psn_no, orig.insuplc_admdvs);
  auto issuing = issue.run();
  DurableMsgid durable = co_await issuing;
  if (durable.error) co_return Outcome{Answer::fail(*durable.error, false), std::nullopt};
  std::string msgid = durable.msgid;
  InsurerCall c = call_on(orig, Txn::refund, msgid, in.budget.insurer_deadline(), in.request_id, psn_no, in.card_no);
  c.refund_lines = in.lines;
  c.total = plan->refund_total;
  auto a = ask(Call{std::move(c)});
  auto r = take<Replied>(co_await a).reply;
  const Ms at = co_await current_time();
  if (!r.carried_by.empty()) msgid = r.carried_by;

  if (r.outcome != CallOutcome::ok) {
    Error unsent = make_error(Reason::offline_refund_forbidden, "insurer",
                              fmt::format("the insurer is unreachable ({}); refunds are made online only, nothing was refunded", r.detail));
    auto fin = call_failed(msgid, Txn::refund, r, psn_no, in.request_id, std::move(unsent));
    auto done = fin.run();
    co_return co_await done;
  }

  // The insurer's figures are checked against the refund rules: cash first, the
  // account never above what it paid; a refund that breaks them is reversed.
  Result<Parts> checked = split_refund(standing, before, r.parts.total, r.parts.fund);
  const bool agrees = checked && r.parts.total == plan->refund_total && checked->account == r.parts.account &&
                      checked->cash == r.parts.cash;
  if (!agrees) {
    Error e = !checked ? checked.error()
                       : make_error(Reason::refund_exceeds_original, "refund",
                                    "the insurer's refund split breaks the refund rules (cash first, account at most what it paid); it is being reversed (冲正)");
    e.reason = Reason::refund_exceeds_original;
    Answer no = Answer::fail(e);
    auto fin = reverse_call(msgid, Txn::refund, psn_no, in.request_id, std::move(no));
    auto done = fin.run();
    co_return co_await done;
  }

  RefundRecord rf = money_back(RecordOf{in.request_id, in.window, in.operator_id, {}, {}, {}}, orig.setl_id, *checked, msgid,
                               r.insurer_id, at);
  if (in.lines.empty()) {
    // Everything left, per item code (several lines may share a code).
    // (The ledger's refunds were planned by these rules: they plan again.)
    const auto left = lines_left(in.original);
    for (const ChargeLine& l : left ? *left : std::vector<ChargeLine>{}) {
      auto it = std::find_if(rf.lines.begin(), rf.lines.end(), [&](const LineRefund& x) { return x.code == l.code; });
      if (it == rf.lines.end()) rf.lines.push_back(LineRefund{l.code, l.amount});
      else it->amount += l.amount;
    }
  } else {
    rf.lines = in.lines;
  }
  std::vector<Parts> all = before;
  all.push_back(*checked);
  const SettlementState next =
      remaining(standing, all).total.is_zero() ? SettlementState::refunded : SettlementState::partly_refunded;
  SETTLE_ASSERT(next == orig.state || can_move(orig.state, next));
  Answer yes;
  yes.refund = rf;
  auto b = ask(Commit{RecordRefund{rf, next, yes}});
  auto st = take<Committed>(co_await b);
  if (!st.status) {
    Answer held = Answer::fail(make_error(Reason::in_doubt, "ledger",
                                          fmt::format("the insurer refunded but the ledger could not record it ({}); it is being reversed (冲正)",
                                                      st.status.error().message)));
    auto fin = reverse_call(msgid, Txn::refund, psn_no, in.request_id, std::move(held));
    auto done = fin.run();
    co_return co_await done;
  }
  yes.refund->refund_id = st.id;
  co_return Outcome{yes, std::nullopt};
}

// ---- settle.resettle ------------------------------------------------------------------

Flow resettle_flow(ResettleInput in) {
  SETTLE_ASSERT(in.policy != nullptr);
  if (in.original.settlement.insuplc_admdvs.empty()) in.original.settlement.insuplc_admdvs = in.insuplc_admdvs;
  const SettlementRecord& orig = in.original.settlement;
  // The line first, as for a refund (it wins over the original's state), and not stored.
  if (auto no = not_now(in.original, in.card_no, in.psn_no, in.line_online, "re-settlement is made online only; nothing was changed"))
    co_return Outcome{std::move(*no), std::nullopt};
  // Refusals decided from the ledger alone are the request's final answer.
  std::optional<Error> refused;
  if (orig.visit == VisitType::inpatient)
    refused = make_error(Reason::invalid_state, "setl_id",
                         fmt::format("settlement {} is a stay's discharge settlement: undo it (inpatient.undo_discharge of "
                                     "stay {}) and discharge the stay again",
                                     orig.setl_id, orig.adm_id));
  else if (!resettleable(orig.state))
    refused = make_error(orig.state == SettlementState::offline_pending ? Reason::not_refundable_yet : Reason::invalid_state,
                         "setl_id",
                         fmt::format("settlement {} is {}: it cannot be re-settled", orig.setl_id, settlement_state_name(orig.state)));
  else if (!paid_without_account(orig))
    refused = make_error(Reason::invalid_state, "setl_id", "re-settlement is for settlements paid without the personal account");
  else if (orig.cert_type != CertType::card)
    refused = make_error(Reason::invalid_state, "setl_id",
                         fmt::format("settlement {} was made with the patient's {}: re-settlement with the personal account "
                                     "needs the card and its PIN",
                                     orig.setl_id, orig.cert_type == CertType::id_no ? "ID number" : "e-voucher"));
  else if (orig.insurer_setl_id.empty() || orig.mdtrt_id.empty())
    refused = make_error(Reason::invalid_state, "setl_id",
                         "the insurer gave no settlement or visit id for this settlement, so it cannot be undone (2208): "
                         "refund it instead");
  std::vector<Parts> before;
  for (const auto& r : in.original.refunds) before.push_back(r.parts);
  if (!refused) refused = undo_refusal(in.original, "setl_id");
  const Parts left = refused ? Parts{} : *left_of(in.original);  // checked by undo_refusal
  auto rest = lines_left(in.original);
  if (!refused && !rest) refused = rest.error();
  if (!refused && (left.total.is_zero() || rest->empty()))
    refused = make_error(Reason::invalid_state, "setl_id", "the original settlement is fully refunded; nothing to re-settle");
  if (refused) {
    Answer no = Answer::fail(*refused);
    auto fin = store_final(in.request_id, std::move(no));
    auto done = fin.run();
    co_return co_await done;
  }
  {
    auto a = ask(CheckCard{});
    auto card = take<CardChecked>(co_await a);
    if (!card.status) co_return Outcome{Answer::fail(card.status.error(), false), std::nullopt};
  }
  // The person now (this year's accumulators and balance decide the new split).
  Person person;
  std::string psn_no;
  {
    auto a = ask(FindPerson{true, in.budget.insurer_deadline(), true});
    auto found = take<PersonFound>(co_await a);
    if (found.unanswered)
      co_return Outcome{Answer::fail(make_error(Reason::insurer_unreachable, "insurer",
                                                "the insurer did not answer the person query; nothing was changed"),
                                     false),
                        std::nullopt};
    if (!found.person)
      co_return Outcome{person_refused(found, make_error(Reason::not_found, "card", "the insurer does not know this card")),
                        std::nullopt};
    person = *found.person;
    psn_no = found.psn_no;
  }
  {
    auto first = reversals_first(psn_no, "re-settle");
    auto waiting = first.run();
    if (auto no = co_await waiting) co_return Outcome{std::move(*no), std::nullopt};
  }
  // The new settlement is split before anything moves: a split the rules
  // refuse leaves the original as it is.
  SplitOptions opts;
  opts.visit = VisitType::outpatient;
  opts.use_account = true;
  opts.pin_verified = true;
  auto local = split(*in.policy, person, *rest, opts);
  Result<Resettlement> plan = local ? resettle(standing_parts(in.original), before, *local) : Result<Resettlement>(local.error());
  if (!plan) {
    Answer no = Answer::fail(plan.error());
    auto fin = store_final(in.request_id, std::move(no));
    auto done = fin.run();
    co_return co_await done;
  }

  Redo redo;
  redo.of = RecordOf{in.request_id, in.window, in.operator_id, in.card_no, in.card_sn, orig.med_type};
  redo.of.cert_no = in.card_no;  // re-settlement is the card's (with its PIN)
  redo.original = orig;
  redo.psn_no = psn_no;
  redo.insutype = person.insutype;
  redo.left = left;
  redo.all_left = *rest;
  redo.kept = *rest;
  redo.local = *local;
  redo.use_account = true;
  redo.deadline_at = in.budget.insurer_deadline();
  redo.policy = in.policy;
  redo.profile = in.profile;
  auto redoing = undo_and_settle(std::move(redo));
  auto done = redoing.run();
  co_return co_await done;
}

}  // namespace settle::flow
