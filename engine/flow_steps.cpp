// The steps of the flows (flow_steps.hpp): answers, records, the sub-flows
// every flow is made of. Awaiters are named before they are awaited: GCC 12
// mishandles temporaries in co_await.
#include "engine/flow_steps.hpp"

#include "engine/flows.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace settle::flow {

std::string_view txn_code(Txn t) noexcept {
  switch (t) {
    case Txn::person: return "1101";
    case Txn::register_visit: return "2201";
    case Txn::upload_lines: return "2204";
    case Txn::settle: return "2207";
    case Txn::undo: return "2208";
    case Txn::refund: return "9301";
    case Txn::reversal: return "2601";
    case Txn::admit: return "2401";
    case Txn::stay_lines: return "2301";
    case Txn::cancel_lines: return "2302";
    case Txn::discharge: return "2402";
    case Txn::stay_settle: return "2304";
    case Txn::stay_undo: return "2305";
    case Txn::undo_admit: return "2404";
    case Txn::upload_offline: return "9302";
    case Txn::preview: return "2206";
    case Txn::stay_preview: return "2303";
  }
  return "?";
}

std::string_view cert_type_code(CertType t) noexcept {
  switch (t) {
    case CertType::ec_voucher: return "01";
    case CertType::id_no: return "02";
    case CertType::card: return "03";
  }
  return "?";
}

std::string_view cert_type_name(CertType t) noexcept {
  switch (t) {
    case CertType::ec_voucher: return "e-voucher";
    case CertType::id_no: return "id";
    case CertType::card: return "card";
  }
  return "?";
}

std::optional<CertType> cert_type_from_name(std::string_view s) noexcept {
  for (CertType t : {CertType::ec_voucher, CertType::id_no, CertType::card})
    if (cert_type_name(t) == s) return t;
  return std::nullopt;
}

std::optional<CertType> cert_type_from_code(std::string_view s) noexcept {
  for (CertType t : {CertType::ec_voucher, CertType::id_no, CertType::card})
    if (cert_type_code(t) == s) return t;
  return std::nullopt;
}

std::string_view call_outcome_name(CallOutcome o) noexcept {
  switch (o) {
    case CallOutcome::ok: return "ok";
    case CallOutcome::refused: return "refused";
    case CallOutcome::unreachable: return "unreachable";
    case CallOutcome::in_doubt: return "in_doubt";
  }
  return "?";
}

std::string_view change_name(const LedgerChange& c) noexcept {
  struct V {
    std::string_view operator()(const WriteMsgid&) const { return "write_msgid"; }
    std::string_view operator()(const StoreAnswer&) const { return "store_answer"; }
    std::string_view operator()(const RecordCallFailed&) const { return "record_call_failed"; }
    std::string_view operator()(const RecordSettlement&) const { return "record_settlement"; }
    std::string_view operator()(const RecordOffline&) const { return "record_offline"; }
    std::string_view operator()(const RecordRefund&) const { return "record_refund"; }
    std::string_view operator()(const RecordUndo&) const { return "record_undo"; }
    std::string_view operator()(const RecordAdmission&) const { return "record_admission"; }
    std::string_view operator()(const RecordStayLines&) const { return "record_stay_lines"; }
    std::string_view operator()(const StayItemSent&) const { return "stay_item_sent"; }
    std::string_view operator()(const RecordUndoAdmission&) const { return "record_undo_admission"; }
  };
  return std::visit(V{}, c);
}

Amount uncollected(const OriginalView& o) {
  if (!o.insurer_parts) return Amount::zero();
  const Parts& own = o.settlement.parts;
  const Amount patient = own.total - o.insurer_parts->fund - o.insurer_parts->account;
  return patient > own.cash ? patient - own.cash : Amount::zero();
}

Parts standing_parts(const OriginalView& o) {
  const Parts own = o.settlement.parts;
  if (!o.insurer_parts) return own;
  // The fund and account as the insurer settled them; the patient's cash
  // part is what is left of the total, less what was never taken.
  const Amount never = uncollected(o);
  Parts p{own.total - never, o.insurer_parts->fund, o.insurer_parts->account, Amount::zero()};
  p.cash = p.total - p.fund - p.account;
  return p;
}

Result<Parts> left_of(const OriginalView& o) {
  const Parts standing = standing_parts(o);
  Parts done;
  for (const RefundRecord& r : o.refunds) done += r.parts;
  const Parts left{standing.total - done.total, standing.fund - done.fund, standing.account - done.account,
                   standing.cash - done.cash};
  if (left.consistent()) return left;
  return make_error(Reason::invalid_state, "setl_id",
                    fmt::format("settlement {} counts fund {}, account {}, cash {} and its refunds took back fund {}, "
                                "account {}, cash {}: they do not fit, so nothing more is refunded or undone here; "
                                "the insurance office checks its corrections",
                                o.settlement.setl_id, format_amount(standing.fund), format_amount(standing.account),
                                format_amount(standing.cash), format_amount(done.fund), format_amount(done.account),
                                format_amount(done.cash)));
}

std::optional<Error> undo_refusal(const OriginalView& o, std::string_view field) {
  auto left = left_of(o);
  if (!left) {
    Error e = left.error();
    e.field = std::string(field);
    return e;
  }
  const Amount never = uncollected(o);
  if (never.is_zero()) return std::nullopt;
  return make_error(Reason::invalid_state, std::string(field),
                    fmt::format("settlement {}: the insurer's figures put {} more on the patient than the {} taken at the "
                                "window (its fund below the offline estimate); undoing it whole would give back what was "
                                "never taken, so it is not undone here: the insurance office handles it",
                                o.settlement.setl_id, format_amount(never), format_amount(o.settlement.parts.cash)));
}

std::string_view stay_state_name(StayState s) noexcept {
  switch (s) {
    case StayState::admitted: return "admitted";
    case StayState::discharged: return "discharged";
    case StayState::undone: return "undone";
  }
  return "?";
}

std::optional<StayState> stay_state_from_name(std::string_view s) noexcept {
  for (StayState st : {StayState::admitted, StayState::discharged, StayState::undone})
    if (stay_state_name(st) == s) return st;
  return std::nullopt;
}

Error unanswered_error(const InsurerReply& r, Txn t) {
  if (r.outcome == CallOutcome::in_doubt)
    return make_error(Reason::in_doubt, "insurer",
                      fmt::format("the insurer did not answer {} ({}); it is being reversed (冲正)", txn_code(t), r.detail));
  return make_error(Reason::insurer_unreachable, "insurer",
                    fmt::format("the insurer was not reached for {} ({}); nothing was sent", txn_code(t), r.detail));
}

// The insurer refused `t`: our words, and its infcode and message as they
// came in the refusal (the cashier server cleans and masks them on the way out).
Answer refused_answer(const InsurerReply& r, Txn t) {
  Answer a = Answer::fail(make_error(Reason::insurer_rejected, "insurer",
                                     fmt::format("the insurer refused {} (infcode {}); its message is in err_msg",
                                                 txn_code(t), r.infcode)));
  a.refusal = InsurerRefusal{r.infcode, r.detail};
  return a;
}

// The person could not be had: the insurer's refusal, or `otherwise`.
Answer person_refused(const PersonFound& found, Error otherwise) {
  Answer a = Answer::fail(found.refusal.value_or(std::move(otherwise)), false);
  a.refusal = found.insurer_refusal;
  return a;
}

bool answered(const InsurerReply& r) { return r.outcome == CallOutcome::ok || r.outcome == CallOutcome::refused; }

namespace {

// Whether a 2207 / 2304 success can be recorded as it is: its figures add up, match
// the charge, and take nothing from the account that was not allowed (nor
// more than the cap the call carried).
std::optional<std::string> settle_reply_problem(const InsurerReply& r, Amount local_total, bool account_allowed,
                                                const std::optional<Amount>& acct_cap) {
  if (!r.parts.consistent()) return "its parts do not add up to its total";
  if (r.parts.total != local_total)
    return fmt::format("its total {} is not the charge's {}", format_amount(r.parts.total), format_amount(local_total));
  if (!account_allowed && !r.parts.account.is_zero()) return "it took from the personal account without a verified PIN";
  if (acct_cap && r.parts.account > *acct_cap)
    return fmt::format("it took {} from the personal account, above the {} the call allowed (acct_pay_max)",
                       format_amount(r.parts.account), format_amount(*acct_cap));
  return std::nullopt;
}

}  // namespace

RecordCallFailed failed_call(std::string msgid, Txn txn, CallOutcome outcome, std::string psn_no, std::string request_id,
                             std::optional<Answer> answer, std::int64_t infcode, std::string detail) {
  RecordCallFailed r;
  r.msgid = std::move(msgid);
  r.txn = txn;
  r.outcome = outcome;
  r.psn_no = std::move(psn_no);
  r.request_id = std::move(request_id);
  r.answer = std::move(answer);
  r.infcode = infcode;
  r.detail = std::move(detail);
  return r;
}

// The request's final answer, stored. When the ledger cannot store it the
// cashier gets the ledger's error, not final: nothing was done, the request
// may run again.
BasicFlow<Outcome> store_final(std::string request_id, Answer answer) {
  auto a = ask(Commit{StoreAnswer{request_id, answer}});
  auto st = take<Committed>(co_await a);
  if (!st.status) co_return Outcome{Answer::fail(st.status.error(), false), std::nullopt};
  co_return Outcome{std::move(answer), std::nullopt};
}

// A money call that did not succeed, recorded (with rec.answer as the
// request's answer); the cashier gets `answer`. When the ledger refuses the
// record the flow ends holding it: the driver keeps the request from running
// again until it is written. If nothing moved and the request may run again
// then, the cashier gets the ledger's error and the record is held without
// an answer.
BasicFlow<Outcome> record_failed(RecordCallFailed rec, Answer answer, bool may_run_again) {
  auto a = ask(Commit{rec});
  auto st = take<Committed>(co_await a);
  if (st.status) co_return Outcome{std::move(answer), std::nullopt};
  if (!may_run_again) co_return Outcome{std::move(answer), std::move(rec)};
  rec.answer.reset();
  co_return Outcome{Answer::fail(st.status.error(), false), std::move(rec)};
}

// A money call (9301, 2208) that did not succeed, recorded: unsent (the
// cashier is told `unsent`), the request may run again; refused, or in doubt
// (reversed): the answer is final.
BasicFlow<Outcome> call_failed(std::string msgid, Txn txn, InsurerReply r, std::string psn_no, std::string request_id,
                               Error unsent) {
  const bool sent = r.outcome != CallOutcome::unreachable;
  Answer out = r.outcome == CallOutcome::refused ? refused_answer(r, txn)
               : sent                            ? Answer::fail(unanswered_error(r, txn))
                                                 : Answer::fail(std::move(unsent), false);
  RecordCallFailed rec = failed_call(std::move(msgid), txn, r.outcome, std::move(psn_no), std::move(request_id),
                                     sent ? std::optional<Answer>(out) : std::nullopt, r.infcode, r.detail);
  auto fin = record_failed(std::move(rec), std::move(out), r.outcome != CallOutcome::in_doubt);
  auto done = fin.run();
  co_return co_await done;
}

// Why a change of an original (a refund, a re-settlement) cannot be made
// now: the line is down (it wins over the original's state) or the card at
// the window is another. Not final, not stored: it may be made later.
std::optional<Answer> not_now(const OriginalView& o, const std::string& card_no, const std::string& psn_no,
                              bool line_online, std::string_view line_down) {
  if (!line_online) return Answer::fail(make_error(Reason::offline_refund_forbidden, "insurer", std::string(line_down)), false);
  const SettlementRecord& s = o.settlement;
  if (s.cert_type == CertType::card) {
    if (card_no.empty() || s.card_no != card_no)
      return Answer::fail(
          make_error(Reason::card_mismatch, "card", "the card at the window is not the one of the original settlement"), false);
  } else if (psn_no.empty() || s.psn_no.empty() || s.psn_no != psn_no) {
    return Answer::fail(make_error(Reason::card_mismatch, "credential",
                                   fmt::format("the original settlement was made with the person's {}; the credential at "
                                               "the window is not that person's",
                                               cert_type_name(s.cert_type))),
                        false);
  }
  return std::nullopt;
}

// A money call's msgid, issued and durable before the call is sent; or the
// ledger's error (nothing was sent).
BasicFlow<DurableMsgid> durable_msgid(Txn txn, std::string request_id, std::string psn_no, std::string insuplc_admdvs) {
  DurableMsgid out;
  {
    auto a = ask(NewMsgid{});
    out.msgid = take<MsgidIssued>(co_await a).msgid;
  }
  auto a = ask(Commit{WriteMsgid{out.msgid, txn, std::move(request_id), std::move(psn_no), std::move(insuplc_admdvs)}});
  auto w = take<Committed>(co_await a);
  if (!w.status) out.error = w.status.error();
  co_return out;
}

// The person's earlier requests still being reversed go first at the
// insurer: while one is open, `what` waits (IN_DOUBT, not final).
BasicFlow<std::optional<Answer>> reversals_first(std::string psn_no, std::string what) {
  auto a = ask(ReversalsOpen{std::move(psn_no)});
  if (take<ReversalsCount>(co_await a).open == 0) co_return std::nullopt;
  co_return Answer::fail(make_error(Reason::in_doubt, "insurer",
                                    fmt::format("an earlier request of this person is still being reversed (冲正); {} once it "
                                                "is acknowledged",
                                                what)),
                         false);
}

// A money call whose success cannot stand (figures that break the rules) or
// cannot be recorded: it is reversed (in doubt, its reversal queued) and the
// cashier gets `answer`, final; held when even that cannot be written.
BasicFlow<Outcome> reverse_call(std::string msgid, Txn txn, std::string psn_no, std::string request_id, Answer answer) {
  RecordCallFailed rec = failed_call(std::move(msgid), txn, CallOutcome::in_doubt, std::move(psn_no), std::move(request_id), answer);
  auto fin = record_failed(std::move(rec), std::move(answer), false);
  auto done = fin.run();
  co_return co_await done;
}

// What the cashier is told when the original was undone and settling it
// again did not succeed: the patient has been paid back and the charge must
// be settled again.
Answer after_undo(Error e, const RefundRecord& undo) {
  e.message += "; the original settlement was undone and its money given back: settle the charge again";
  Answer a = Answer::fail(std::move(e));
  a.refund = undo;
  return a;
}

SettlementRecord new_record(const RecordOf& of, std::string psn_no, std::string insutype, const Policy& policy,
                            std::span<const ChargeLine> lines, std::vector<SplitReason> reasons, Ms at) {
  SettlementRecord s;
  s.request_id = of.request_id;
  s.window = of.window;
  s.operator_id = of.operator_id;
  s.card_no = of.card_no;
  s.card_sn = of.card_sn;
  s.med_type = of.med_type;
  s.visit = of.visit;
  s.adm_id = of.adm_id;
  s.psn_no = std::move(psn_no);
  s.insutype = std::move(insutype);
  if (of.stay_lines) {
    s.stay_lines = *of.stay_lines;
    if (const PolicyParams* params = policy.find(s.insutype, of.visit))
      for (const ChargeLine& l : lines)
        if (l.cls == LineClass::b && !l.selfpay_ratio && !s.stay_lines->classb_ratios.contains(l.code))
          s.stay_lines->classb_ratios.emplace(l.code, policy.classb_ratio(*params, l.code, std::nullopt));
  } else {
    s.lines = applied_lines(policy, s.insutype, lines, of.visit);
  }
  s.reasons = std::move(reasons);
  s.created_at = at;
  s.cert_type = of.cert_type;
  s.cert_no = of.cert_no;
  s.insuplc_admdvs = of.insuplc_admdvs;
  s.facts = of.facts;
  return s;
}

// A money call on a settlement the insurer made (9301 refund, 2208 undo).
InsurerCall call_on(const SettlementRecord& s, Txn txn, const std::string& msgid, Ms deadline_at, const std::string& request_id,
                    const std::string& psn_no, const std::string& card_no) {
  InsurerCall c;
  c.txn = txn;
  c.msgid = msgid;
  c.deadline_at = deadline_at;
  c.request_id = request_id;
  c.psn_no = psn_no;
  c.card_no = card_no;
  c.insurer_setl_id = s.insurer_setl_id;
  c.mdtrt_id = s.mdtrt_id;
  c.cert_type = s.cert_type;
  c.cert_no = s.cert_type == CertType::card ? card_no : s.cert_no;
  c.insuplc_admdvs = s.insuplc_admdvs;
  return c;
}

// Money given back of settlement `setl_id` (a refund, or a re-settlement's undo).
RefundRecord money_back(const RecordOf& of, std::int64_t setl_id, const Parts& parts, std::string msgid, std::string insurer_id,
                        Ms at) {
  RefundRecord r;
  r.request_id = of.request_id;
  r.setl_id = setl_id;
  r.window = of.window;
  r.operator_id = of.operator_id;
  r.parts = parts;
  r.msgid = std::move(msgid);
  r.insurer_id = std::move(insurer_id);
  r.created_at = at;
  return r;
}

std::vector<ChargeLine> applied_lines(const Policy& policy, std::string_view insutype, std::span<const ChargeLine> lines,
                                      VisitType visit) {
  std::vector<ChargeLine> out(lines.begin(), lines.end());
  const PolicyParams* params = policy.find(insutype, visit);
  for (auto& l : out)
    if (l.cls == LineClass::b && params != nullptr) l.selfpay_ratio = policy.classb_ratio(*params, l.code, l.selfpay_ratio);
  return out;
}

// ---- the online settlement of lines: 2201 → 2204 → 2207, or 2402 → 2304 ------------------

BasicFlow<OnlineAttempt> online_settle(OnlineRequest in) {
  OnlineAttempt out;
  const bool inpatient = in.visit == VisitType::inpatient;
  const Txn settle_txn = inpatient ? Txn::stay_settle : Txn::settle;
  if (inpatient) out.mdtrt_id = in.mdtrt_id;
  // The settle call's msgid is issued first and made durable while the calls
  // before it go (2201 and 2204; or 2402): it is durable before it is sent.
  std::string msgid;
  {
    auto a = ask(NewMsgid{});
    msgid = take<MsgidIssued>(co_await a).msgid;
  }
  {
    auto a = ask(StartCommit{WriteMsgid{msgid, settle_txn, in.request_id, in.psn_no, in.insuplc_admdvs}});
    (void)take<CommitStarted>(co_await a);
  }
  // 2201, 2204 and 2402 move no money: unanswered, they leave nothing to undo.
  bool ended = false;
  // One call of the visit (2201, 2204, 2207; 2402, 2304), all under the same reference.
  const auto visit_call = [&](Txn t) {
    InsurerCall c;
    c.txn = t;
    c.deadline_at = in.deadline_at;
    c.request_id = in.request_id;
    c.psn_no = in.psn_no;
    c.card_no = in.card_no;
    c.insutype = in.insutype;
    c.med_type = in.med_type;
    c.mdtrt_id = out.mdtrt_id;
    c.visit_ref = msgid;
    c.adm_id = in.adm_id;
    c.at = in.at;
    c.cert_type = in.cert_type;
    c.cert_no = in.cert_no;
    c.insuplc_admdvs = in.insuplc_admdvs;
    c.facts = in.facts;
    return c;
  };
  const std::vector<Txn> before = inpatient ? std::vector<Txn>{Txn::discharge}
                                            : std::vector<Txn>{Txn::register_visit, Txn::upload_lines};
  for (Txn t : before) {
    InsurerCall c = visit_call(t);
    if (t == Txn::upload_lines) c.lines = in.lines;
    auto a = ask(Call{std::move(c)});
    auto r = take<Replied>(co_await a).reply;
    if (!answered(r) || r.outcome == CallOutcome::refused) {
      out.end = answered(r) ? OnlineAttempt::End::refused : OnlineAttempt::End::not_answered;
      out.txn = t;
      out.reply = std::move(r);
      ended = true;
      break;
    }
    if (t == Txn::register_visit) out.mdtrt_id = r.mdtrt_id;
  }
  // The insurer's preview (2206 after 2204; 2303 after 2402), when the
  // profile has one: its refusal is the request's (the settle call would be
  // refused the same); unanswered, or its system failing, the settlement
  // goes on without it (it moves nothing, so nothing is left to undo).
  if (!ended && in.preview) {
    const Txn t = inpatient ? Txn::stay_preview : Txn::preview;
    InsurerCall c = visit_call(t);
    c.total = in.total;
    c.use_account = in.use_account;
    c.acct_cap = in.acct_cap;
    auto a = ask(Call{std::move(c)});
    auto r = take<Replied>(co_await a).reply;
    if (r.outcome == CallOutcome::ok && r.parts.consistent()) {
      out.preview = r.parts;
    } else if (r.outcome == CallOutcome::refused && !r.system_error && !r.clock_refused) {
      out.end = OnlineAttempt::End::refused;
      out.txn = t;
      out.reply = std::move(r);
      ended = true;
    } else {
      out.preview_unanswered = true;
    }
  }
  {
    auto a = ask(AwaitCommit{});
    auto w = take<Committed>(co_await a);
    if (w.status) {
      out.msgid = msgid;
    } else if (!ended) {
      out.end = OnlineAttempt::End::no_msgid;
      out.error = w.status.error();
      co_return out;
    }
  }
  if (ended) co_return out;
  out.txn = settle_txn;
  if (const Ms now = co_await current_time(); now >= in.deadline_at) {
    out.end = OnlineAttempt::End::not_answered;  // no time is left for the insurer
    out.reply.detail = fmt::format("no time left for the {} within the call's budget", txn_code(settle_txn));
    co_return out;
  }
  InsurerCall c = visit_call(settle_txn);
  c.msgid = msgid;
  c.total = in.total;
  c.use_account = in.use_account;
  c.acct_cap = in.acct_cap;
  auto a = ask(Call{std::move(c)});
  out.reply = take<Replied>(co_await a).reply;
  if (!out.reply.carried_by.empty()) out.msgid = out.reply.carried_by;
  switch (out.reply.outcome) {
    case CallOutcome::unreachable: out.end = OnlineAttempt::End::not_answered; break;
    case CallOutcome::in_doubt: out.end = OnlineAttempt::End::in_doubt; break;
    case CallOutcome::refused: out.end = OnlineAttempt::End::refused; break;
    case CallOutcome::ok:
      if (auto problem = settle_reply_problem(out.reply, in.total, in.use_account, in.acct_cap)) {
        out.end = OnlineAttempt::End::unacceptable;
        out.problem = *problem;
      } else {
        out.end = OnlineAttempt::End::settled;
      }
      break;
  }
  co_return out;
}

void note_preview(Answer& a, const Parts& local, const OnlineAttempt& on) {
  a.preview_unanswered = on.preview_unanswered;
  if (!on.preview) return;
  const Parts& p = *on.preview;
  std::vector<std::string> why;
  const auto part = [&](std::string_view name, Amount mine, Amount theirs) {
    if (mine != theirs)
      why.push_back(fmt::format("{} {} locally, {} by the insurer", name, format_amount(mine), format_amount(theirs)));
  };
  part("total", local.total, p.total);
  part("fund", local.fund, p.fund);
  part("account", local.account, p.account);
  part("cash", local.cash, p.cash);
  if (why.empty()) return;
  a.insurer_preview = p;
  a.preview_differs = std::move(why);
}

std::optional<Error> offline_refused(const InsurerProfile& profile, CertType cert) {
  if (!profile.offline)
    return make_error(Reason::insurer_unreachable, "insurer",
                      fmt::format("this insurer ({} profile) has no offline settlement and it cannot be reached now: "
                                  "nothing was settled or stored; settle again when the line is back",
                                  profile_name(profile.name)));
  if (cert != CertType::card)
    return make_error(Reason::insurer_unreachable, "credential",
                      fmt::format("offline settlement needs the medical-insurance card (the red list is kept by card), and "
                                  "the patient was identified by {}: nothing was settled or stored; settle again when the "
                                  "line is back, or with the card",
                                  cert == CertType::id_no ? "ID number" : "e-voucher"));
  return std::nullopt;
}

// The settlement the 2207 / 2304 made, as the insurer split it.
void settled_by(SettlementRecord& s, const OnlineAttempt& on) {
  const InsurerReply& r = on.reply;
  s.mode = Mode::online;
  s.state = SettlementState::settled;
  s.parts = r.parts;
  s.fulamt_ownpay = r.fulamt_ownpay;
  s.preselfpay = r.preselfpay;
  s.inscp = r.inscp;
  s.deductible_part = r.deductible_part;
  s.msgid = on.msgid;
  s.insurer_setl_id = r.insurer_id;
  s.mdtrt_id = on.mdtrt_id;
}

// An online settlement recorded with its answer. If the ledger cannot record
// it, the settle call must never run again: it is held in doubt and reversed. `undo`:
// a re-settlement's undo of the original, which the cashier is told of then.
BasicFlow<Outcome> record_settled(SettlementRecord s, Answer yes, std::optional<RefundRecord> undo) {
  auto a = ask(Commit{RecordSettlement{s, yes}});
  auto st = take<Committed>(co_await a);
  if (st.status) {
    yes.settlement->setl_id = st.id;
    yes.settlement->receipt_no = st.receipt_no;
    co_return Outcome{std::move(yes), std::nullopt};
  }
  Error e = make_error(Reason::in_doubt, "ledger",
                       fmt::format("the insurer settled but the ledger could not record it ({}); it is being reversed (冲正): "
                                   "settle again with a new request id once the status shows nothing in doubt",
                                   st.status.error().message));
  Answer held = undo ? after_undo(std::move(e), *undo) : Answer::fail(std::move(e));
  auto fin = reverse_call(s.msgid, s.visit == VisitType::inpatient ? Txn::stay_settle : Txn::settle, s.psn_no, s.request_id,
                          std::move(held));
  auto r = fin.run();
  co_return co_await r;
}

BasicFlow<OnlineFallback> after_online(OnlineAttempt on, RecordOf of, std::string psn_no, std::string insutype,
                                       std::span<const ChargeLine> lines, std::vector<SplitReason> reasons, const Policy* policy,
                                       std::optional<Parts> local) {
  OnlineFallback out;
  const Ms at = co_await current_time();
  using End = OnlineAttempt::End;
  switch (on.end) {
    case End::no_msgid:
      // Nothing was sent: the request may run again.
      out.ends = Outcome{Answer::fail(*on.error, false), std::nullopt};
      co_return out;
    case End::not_answered:
      if (!on.msgid.empty()) out.unsent_msgid = on.msgid;
      // Refused for this host's clock: nothing was done, as with a line that is down.
      out.cause = on.reply.clock_refused ? OfflineCause::clock_skew : OfflineCause::network_down;
      co_return out;
    case End::in_doubt:
      out.in_doubt_msgid = on.msgid;
      out.cause = OfflineCause::in_doubt;
      co_return out;
    case End::refused: {
      if (on.reply.system_error && !moves_money(on.txn)) {
        // The insurer's system failed on a call before the settlement (an
        // error page, not its answer): nothing moved, and the window goes on
        // offline like a line that is down, with the reason said.
        if (!on.msgid.empty()) out.unsent_msgid = on.msgid;
        out.cause = OfflineCause::insurer_error;
        co_return out;
      }
      // A refusal before money moved is the request's final answer.
      Answer no = refused_answer(on.reply, on.txn);
      if (on.msgid.empty()) {
        auto fin = store_final(of.request_id, std::move(no));
        auto r = fin.run();
        out.ends = co_await r;
        co_return out;
      }
      // The settle call refused, or its msgid closed unsent (a call before
      // it refused): nothing moved, so the request may run again once that is recorded.
      const bool sent = moves_money(on.txn);
      RecordCallFailed rec = failed_call(on.msgid, of.visit == VisitType::inpatient ? Txn::stay_settle : Txn::settle,
                                         sent ? CallOutcome::refused : CallOutcome::unreachable, psn_no, of.request_id, no,
                                         on.reply.infcode, on.reply.detail);
      auto fin = record_failed(std::move(rec), std::move(no), true);
      auto r = fin.run();
      out.ends = co_await r;
      co_return out;
    }
    case End::unacceptable: {
      // A success that cannot stand as it is: reversed, and refused whole.
      Answer no = Answer::fail(make_error(Reason::insurer_rejected, "insurer",
                                          fmt::format("the insurer's {} answer is not acceptable ({}); it is being reversed (冲正)",
                                                      txn_code(on.txn), on.problem)));
      auto fin = reverse_call(on.msgid, on.txn, psn_no, of.request_id, std::move(no));
      auto r = fin.run();
      out.ends = co_await r;
      co_return out;
    }
    case End::settled: {
      SettlementRecord st = new_record(of, psn_no, insutype, *policy, lines, std::move(reasons), at);
      settled_by(st, on);
      Answer yes;
      yes.settlement = st;
      yes.balance_after = on.reply.balance_after;
      if (local) note_preview(yes, *local, on);
      auto fin = record_settled(std::move(st), std::move(yes), std::nullopt);
      auto r = fin.run();
      out.ends = co_await r;
      co_return out;
    }
  }
  co_return out;
}

Result<Split> estimate_offline(const OfflineEstimate& e, const OutstandingFigures& f) {
  SETTLE_ASSERT(e.policy != nullptr);
  SplitOptions opts;
  opts.visit = e.visit;
  opts.use_account = false;
  opts.pin_verified = false;
  OfflineContext ctx;
  ctx.cause = e.cause;
  ctx.on_redlist = e.on_redlist;
  ctx.outstanding_fund = f.fund;
  ctx.outstanding_count = f.count;
  ctx.oldest_age_s = f.oldest_age_s;
  ctx.limits = e.limits;
  opts.offline = ctx;
  return split(*e.policy, e.who, e.lines, opts);
}


// ---- the offline settlement: the red list's estimate within the limits, or self-pay ----

BasicFlow<Outcome> offline_settle(OfflineRequest in) {
  SETTLE_ASSERT(in.policy != nullptr);
  const RecordOf& of = in.of;
  const Txn settle_txn = of.visit == VisitType::inpatient ? Txn::stay_settle : Txn::settle;
  std::optional<Person> person = in.person;
  std::string psn_no = in.psn_no;
  bool on_redlist = false;
  {
    auto a = ask(FindPerson{false, 0});
    auto found = take<PersonFound>(co_await a);
    on_redlist = found.person.has_value() && found.from_redlist;
    if (found.person) {
      person = found.person;  // the red list's entry decides the estimate
      if (psn_no.empty()) psn_no = found.psn_no;
    }
  }
  Person who = person.value_or(Person{});
  // Neither the insurer nor the red list named the person: the type known
  // before (a stay's admission), else the policy's first of the visit type.
  if (who.insutype.empty()) who.insutype = in.insutype;
  if (who.insutype.empty()) {
    for (const auto& [key, params] : in.policy->entries())
      if (key.second == of.visit) {
        who.insutype = key.first;
        break;
      }
  }
  // The estimate is limited against the outstanding offline figures; the
  // ledger refuses it if they moved before it was written (another window
  // stored one meanwhile), and it is made again against the new ones.
  for (int attempt = 0;; ++attempt) {
    OutstandingFigures figures;
    {
      auto a = ask(OfflineOutstanding{of.visit});
      figures = take<OutstandingFigures>(co_await a);
    }
    OfflineEstimate inputs;
    inputs.policy = in.policy;
    inputs.visit = of.visit;
    inputs.who = who;
    inputs.lines = in.lines;
    inputs.cause = in.cause;
    inputs.on_redlist = on_redlist;
    inputs.limits = in.limits;
    auto est = estimate_offline(inputs, figures);
    const Ms at = co_await current_time();
    if (!est) {
      Answer no = Answer::fail(est.error());
      if (in.in_doubt_msgid || in.unsent_msgid) {
        const bool doubt = in.in_doubt_msgid.has_value();
        RecordCallFailed rec = failed_call(doubt ? *in.in_doubt_msgid : *in.unsent_msgid, settle_txn,
                                           doubt ? CallOutcome::in_doubt : CallOutcome::unreachable, psn_no, of.request_id, no);
        auto fin = record_failed(std::move(rec), std::move(no), !doubt);
        auto r = fin.run();
        co_return co_await r;
      }
      auto fin = store_final(of.request_id, std::move(no));
      auto r = fin.run();
      co_return co_await r;
    }
    SettlementRecord s =
        new_record(of, psn_no, who.insutype, *in.policy, in.lines, est->reasons, at);
    s.mode = Mode::offline;
    s.state = SettlementState::offline_pending;
    s.parts = parts_of(*est);
    s.fulamt_ownpay = est->fulamt_ownpay;
    s.preselfpay = est->preselfpay;
    s.inscp = est->inscp;
    s.deductible_part = est->deductible_part;
    s.offline_cause = in.cause;
    Answer yes;
    yes.settlement = s;
    RecordOffline rec{std::move(s), in.in_doubt_msgid, in.unsent_msgid, yes, figures.count, figures.fund, std::move(inputs)};
    auto a = ask(Commit{std::move(rec)});
    auto st = take<Committed>(co_await a);
    // Made again against figures that moved and came out otherwise (a limit
    // reached meanwhile): estimated anew.
    if (st.stale && attempt < 8) continue;
    if (!st.status) {
      if (in.in_doubt_msgid) {
        // The settle call may have settled: held in doubt, reversed, never run again.
        Answer held = Answer::fail(make_error(Reason::in_doubt, "ledger",
                                              fmt::format("the insurer did not answer and the ledger could not store the "
                                                          "offline settlement ({}); the charge is being reversed (冲正)",
                                                          st.status.error().message)));
        auto fin = reverse_call(*in.in_doubt_msgid, settle_txn, psn_no, of.request_id, std::move(held));
        auto r = fin.run();
        co_return co_await r;
      }
      // Nothing moved: the request may run again, once an unsent msgid is closed.
      std::optional<RecordCallFailed> close;
      if (in.unsent_msgid)
        close = failed_call(*in.unsent_msgid, settle_txn, CallOutcome::unreachable, psn_no, of.request_id, std::nullopt);
      co_return Outcome{Answer::fail(st.status.error(), false), close};
    }
    yes.settlement->setl_id = st.id;
    yes.settlement->receipt_no = st.receipt_no;
    co_return Outcome{std::move(yes), std::nullopt};
  }
}


// ---- the undo of a settlement the insurer made: 2208, or 2305 ------------------------

BasicFlow<UndoDone> undo_settlement(UndoRequest in) {
  UndoDone out;
  const SettlementRecord& orig = in.original;
  const Txn txn = orig.visit == VisitType::inpatient ? Txn::stay_undo : Txn::undo;
  auto issue = durable_msgid(txn, in.of.request_id, in.psn_no, orig.insuplc_admdvs);
  auto issuing = issue.run();
  DurableMsgid durable = co_await issuing;
  if (durable.error) {
    out.ends = Outcome{Answer::fail(*durable.error, false), std::nullopt};
    co_return out;
  }
  std::string msgid = durable.msgid;
  InsurerReply r;
  {
    InsurerCall c = call_on(orig, txn, msgid, in.deadline_at, in.of.request_id, in.psn_no, in.card_no);
    auto a = ask(Call{std::move(c)});
    r = take<Replied>(co_await a).reply;
    if (!r.carried_by.empty()) msgid = r.carried_by;
  }
  const Ms undone_at = co_await current_time();
  if (r.outcome != CallOutcome::ok) {
    Error unsent = make_error(Reason::insurer_unreachable, "insurer",
                              fmt::format("the insurer is unreachable ({}); nothing was changed", r.detail));
    auto fin = call_failed(msgid, txn, r, in.psn_no, in.of.request_id, std::move(unsent));
    auto done = fin.run();
    out.ends = co_await done;
    co_return out;
  }
  // The insurer must have given back what the ledger says is left: its
  // fund and account exactly (the cash it names may include an offline
  // adjustment the patient never paid; the patient gets back what is left).
  const Parts& left = in.left;
  if (r.parts.total != left.total || r.parts.fund != left.fund || r.parts.account != left.account) {
    Answer no = Answer::fail(make_error(
        Reason::insurer_rejected, "insurer",
        fmt::format("the insurer's {} answer gives back {} (fund {}, account {}), the ledger has {} (fund {}, account {}) "
                    "left; the undo is being reversed (冲正) and nothing was changed",
                    txn_code(txn), format_amount(r.parts.total), format_amount(r.parts.fund), format_amount(r.parts.account),
                    format_amount(left.total), format_amount(left.fund), format_amount(left.account))));
    auto fin = reverse_call(msgid, txn, in.psn_no, in.of.request_id, std::move(no));
    auto done = fin.run();
    out.ends = co_await done;
    co_return out;
  }
  out.undo = money_back(in.of, orig.setl_id, left, msgid, r.insurer_id, undone_at);
  for (const ChargeLine& l : in.rest) out.undo.lines.push_back(LineRefund{l.code, l.amount});
  std::optional<Answer> answer;
  if (in.answer) {
    answer = *in.answer;
    answer->refund = out.undo;
  }
  auto b = ask(Commit{RecordUndo{out.undo, in.reopens_adm_id, answer}});
  auto st = take<Committed>(co_await b);
  if (!st.status) {
    // The insurer undid it and the ledger cannot say so: the undo is reversed.
    Answer held = Answer::fail(make_error(Reason::in_doubt, "ledger",
                                          fmt::format("the insurer undid the settlement but the ledger could not record it "
                                                      "({}); the undo is being reversed (冲正)",
                                                      st.status.error().message)));
    auto fin = reverse_call(msgid, txn, in.psn_no, in.of.request_id, std::move(held));
    auto done = fin.run();
    out.ends = co_await done;
    co_return out;
  }
  out.undo.refund_id = st.id;
  co_return out;
}


// ---- a charge settled: online, else offline ---------------------------------------------

BasicFlow<Outcome> settle_charge(ChargeRequest in) {
  SETTLE_ASSERT(in.policy != nullptr);
  const InsurerProfile& profile = profile_or_regional(in.profile);
  RecordOf of = in.of;
  OnlineFallback fallback;
  fallback.cause = in.offline_cause;
  bool online = in.online;
  std::optional<Person> person;
  std::string psn_no = in.psn_no;
  if (online) {
    auto a = ask(FindPerson{true, in.budget.insurer_deadline(), in.fresh_person});
    auto found = take<PersonFound>(co_await a);
    if (found.unanswered) {
      online = false;
      if (found.clock_refused) fallback.cause = OfflineCause::clock_skew;
    } else if (!found.person) {
      co_return Outcome{person_refused(found, make_error(Reason::not_found, "card", "no such person")), std::nullopt};
    } else {
      person = found.person;
      psn_no = found.psn_no;
      if (!found.insuplc_admdvs.empty()) of.insuplc_admdvs = found.insuplc_admdvs;
    }
  }
  if (online) {
    auto a = ask(ReversalsOpen{psn_no});
    // An earlier request of this person is still being reversed: it goes
    // first at the insurer, so this charge is stored and forwarded after it.
    if (take<ReversalsCount>(co_await a).open > 0) online = false;
  }
  if (online) {
    // The account by the credential: the card with its PIN verified; an
    // e-voucher the patient authorised for the account; an ID number never.
    SplitOptions opts;
    opts.visit = of.visit;
    opts.use_account = in.use_account;
    opts.pin_verified = in.pin_verified;
    bool account_allowed = in.pin_verified;
    if (of.cert_type == CertType::ec_voucher) {
      opts.pin_verified = account_allowed = in.acct_auth;
      if (in.use_account && !in.acct_auth) opts.no_account = SplitReason::account_not_authorised;
    } else if (of.cert_type == CertType::id_no) {
      account_allowed = false;
      if (in.use_account) opts.no_account = SplitReason::account_not_by_id;
    }
    opts.account_cap = in.acct_cap;
    auto local = split(*in.policy, *person, in.lines, opts);
    if (!local) {
      Answer no = Answer::fail(local.error());
      auto fin = store_final(of.request_id, std::move(no));
      auto r = fin.run();
      co_return co_await r;
    }
    OnlineRequest req;
    req.request_id = of.request_id;
    req.psn_no = psn_no;
    req.card_no = of.card_no;
    req.insutype = person->insutype;
    req.med_type = of.med_type;
    // A stay's lines are at the insurer already (2301): only an outpatient charge uploads them.
    if (of.visit == VisitType::outpatient) req.lines = in.lines;
    req.total = local->total;
    req.use_account = in.use_account && account_allowed;
    req.deadline_at = in.budget.insurer_deadline();
    req.visit = of.visit;
    req.mdtrt_id = in.mdtrt_id;
    req.adm_id = of.adm_id;
    req.at = in.at;
    req.cert_type = of.cert_type;
    req.cert_no = of.cert_no;
    req.insuplc_admdvs = of.insuplc_admdvs;
    req.facts = of.facts;
    req.preview = profile.preview;
    if (profile.account_cap) req.acct_cap = in.acct_cap;
    BasicFlow<OnlineAttempt> sub = online_settle(std::move(req));
    auto settling = sub.run();
    OnlineAttempt on = co_await settling;
    const std::optional<Parts> local_parts = parts_of(*local);
    auto after = after_online(std::move(on), of, psn_no, person->insutype, in.lines, local->reasons, in.policy,
                              local_parts);
    auto deciding = after.run();
    fallback = co_await deciding;
    if (fallback.ends) co_return std::move(*fallback.ends);
  }
  // No offline settlement for this profile or this credential: the request
  // ends here, nothing stored (a settle call in doubt is reversed, an unsent
  // msgid closed; the request may run again unless a call is in doubt).
  if (auto no = offline_refused(profile, of.cert_type)) {
    const Txn settle_txn = of.visit == VisitType::inpatient ? Txn::stay_settle : Txn::settle;
    if (fallback.in_doubt_msgid) {
      Error e = make_error(Reason::in_doubt, "insurer",
                           fmt::format("the insurer did not answer {}; it is being reversed (冲正). {}", txn_code(settle_txn),
                                       no->message));
      Answer held = Answer::fail(std::move(e));
      auto fin = reverse_call(*fallback.in_doubt_msgid, settle_txn, psn_no, of.request_id, std::move(held));
      auto r = fin.run();
      co_return co_await r;
    }
    if (fallback.unsent_msgid) {
      RecordCallFailed rec =
          failed_call(*fallback.unsent_msgid, settle_txn, CallOutcome::unreachable, psn_no, of.request_id, std::nullopt);
      Answer again = Answer::fail(std::move(*no), false);
      auto fin = record_failed(std::move(rec), std::move(again), true);
      auto r = fin.run();
      co_return co_await r;
    }
    co_return Outcome{Answer::fail(std::move(*no), false), std::nullopt};
  }
  OfflineRequest off;
  off.of = of;
  off.psn_no = psn_no;
  off.person = person;
  off.insutype = in.insutype;
  off.lines = std::move(in.lines);
  off.cause = fallback.cause;
  off.in_doubt_msgid = fallback.in_doubt_msgid;
  off.unsent_msgid = fallback.unsent_msgid;
  off.limits = in.limits;
  off.policy = in.policy;
  auto offline = offline_settle(std::move(off));
  auto storing = offline.run();
  co_return co_await storing;
}


bool paid_without_account(const SettlementRecord& s) {
  if (!s.parts.account.is_zero()) return false;
  for (SplitReason r : s.reasons)
    if (r == SplitReason::pin_not_verified || r == SplitReason::account_skipped || r == SplitReason::not_on_redlist ||
        split_reason_name(r).starts_with("offline"))
      return true;
  return s.mode == Mode::offline;
}

Result<std::vector<ChargeLine>> lines_left(const OriginalView& o) {
  std::vector<LineRefund> taken;
  for (const auto& r : o.refunds)
    for (const auto& l : r.lines) taken.push_back(l);
  if (taken.empty()) return o.settlement.lines;
  // The refunds so far as one request against the original's lines.
  auto plan = plan_line_refund(o.settlement.lines, {}, taken);
  if (!plan) return plan.error();
  return plan->remaining_after;
}


}  // namespace settle::flow

namespace settle::flow {

CallOutcome classify_reply(int http_status, bool envelope_readable, bool envelope_ok, bool money) noexcept {
  if (envelope_readable && !envelope_ok) return CallOutcome::refused;  // the insurer's own refusal, whatever the status
  if (http_status == 200) return envelope_readable ? CallOutcome::ok : CallOutcome::in_doubt;
  // An error page (a proxy's 502/504) or an envelope that says ok under an error status.
  return money ? CallOutcome::in_doubt : CallOutcome::refused;
}

}  // namespace settle::flow
