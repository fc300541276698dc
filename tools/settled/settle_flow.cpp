// The money-moving methods: settle.commit, settle.refund and settle.resettle.
// Each claims its request, runs its flow (engine/flows.hpp) through the
// call's seams (call_seams.hpp) and answers how it ended; a held record
// (an outcome the ledger refused twice) stops the daemon for recovery.
#include "engine/flows.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "tools/settled/call_seams.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/key_lock.hpp"
#include "tools/settled/logging.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <set>
#include <string_view>
#include <vector>

namespace settle::daemon {

namespace {

// One refund or re-settlement of a settlement at a time: each plans against
// what the one before it left.
using SettlementLock = KeyLock<std::int64_t>;

}  // namespace

// ---- settle.commit ---------------------------------------------------------------

awaitable<Reply> Service::settle_commit(const cashier::SessionInfo& s, const cashier::Call& call,
                                        const cashier::SettleCommitParams& p) {
  // The national interface registers a visit only with its department and main diagnosis.
  if (p_.config.insurer.profile.name == flow::ProfileName::national)
    if (Status visit = cashier::require_national_visit(p.visit); !visit) co_return fail(visit.error());
  const WindowSession& ws = session_of(s.connection_id);
  if (!ws.holds_any())
    co_return fail(Reason::card_absent, "card",
                   "read the card (card.read), or give the e-voucher (credential.scan) or the ID number (credential.id) first");
  const bool pin_verified = ws.pin_verified;
  const HeldIdentity held = identity_of(ws);
  const std::optional<reader::CardIdentity> held_card = ws.card;
  CallSeams seams(*this, s, held_card);
  // The card is checked while the request's claim is made durable: neither
  // sends anything to the insurer, and both must hold before anything is.
  seams.start_card_check();
  if (auto early = co_await claim_request(call, s)) {
    (void)co_await seams.check_card();  // the reader is left as it was found
    co_return *early;
  }
  const std::string request_id = p.request_id;

  flow::CommitInput in;
  in.request_id = request_id;
  in.window = s.window;
  in.operator_id = s.operator_name;
  if (held_card) {
    in.card_no = held_card->card_no;
    in.card_sn = held_card->card_sn;
  }
  in.cert_type = held.cert_type;
  in.cert_no = held.cert_no;
  in.acct_auth = held.acct_auth;
  in.insuplc_admdvs = held.insuplc_admdvs;
  in.facts = visit_facts(p.visit);
  in.profile = &p_.config.insurer.profile;
  in.med_type = p.med_type;
  in.lines = p.lines;
  in.use_account = p.use_account;
  in.pin_verified = pin_verified;
  // The line is down (or its stored work is being forwarded): no cashier waits on it.
  in.line_online = network_.accepts_online_work();
  in.line_cause = line_cause();
  in.budget = seams.budget();
  in.limits = p_.config.offline_limits;
  in.policy = &p_.policy;
  flow::Flow f = flow::commit_flow(std::move(in));
  const flow::Outcome out = co_await drive(f, seams.seams());
  const Reply reply = co_await flow_answer(out, request_id);

  const flow::Answer& a = out.answer;
  if (a.settlement && a.ok()) {
    const flow::SettlementRecord& st = *a.settlement;
    if (st.mode == Mode::online) {
      p_.metrics.settlement("online", "settled");
      // The balance and this year's accumulators moved: keep the person with the insurer's new balance.
      if (WindowSession& after = session_of(s.connection_id); after.person && identity_of(after).cert_no == held.cert_no) {
        after.person->insu.balc = a.balance_after;
        after.person->insu.deductible_used += st.deductible_part;
        after.person->insu.fund_paid_ytd += st.parts.fund;
      }
      log_with(spdlog::level::info,
               LogFields{s.window, s.operator_name, request_id, std::to_string(st.setl_id), "2207", st.msgid},
               "window {}: settlement {} online, total {} (fund {}, account {}, cash {})", s.window, st.setl_id,
               format_amount(st.parts.total), format_amount(st.parts.fund), format_amount(st.parts.account),
               format_amount(st.parts.cash));
    } else {
      p_.metrics.settlement("offline", "stored");
      std::vector<std::string_view> why;
      for (SplitReason r : st.reasons) why.push_back(split_reason_name(r));
      log_with(spdlog::level::warn, LogFields{s.window, s.operator_name, request_id, std::to_string(st.setl_id), "", ""},
               "window {}: settlement {} offline ({}), total {} (fund estimate {}, cash {}); stored for upload",
               s.window, st.setl_id, fmt::join(why, ","), format_amount(st.parts.total), format_amount(st.parts.fund),
               format_amount(st.parts.cash));
    }
  } else if (a.error) {
    p_.metrics.settlement("online", failure_label(a.error->reason));
  }
  release_request(request_id);
  co_return reply;
}

// ---- settle.refund ---------------------------------------------------------------

awaitable<Reply> Service::settle_refund(const cashier::SessionInfo& s, const cashier::Call& call,
                                        const cashier::SettleRefundParams& p) {
  const WindowSession& ws = session_of(s.connection_id);
  // The original's credential: its card, or for an original made with an
  // e-voucher or ID number, any credential of its person (engine: not_now).
  if (!ws.holds_any())
    co_return fail(Reason::card_absent, "card",
                   "a refund needs the patient at the window: read the original's card, or give the person's e-voucher "
                   "(credential.scan) or ID number (credential.id) first");
  const auto id = parse_setl_id(p.setl_id);
  if (!id) co_return fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", p.setl_id));
  // One refund or re-settlement of a settlement at a time: each plans against what the one before it left.
  const SettlementLock lock(changing_settlements_, *id);
  if (!lock.taken())
    co_return fail(Reason::invalid_state, "setl_id",
                   fmt::format("another refund or re-settlement of settlement {} is in progress; ask again in a moment", *id));
  CallSeams seams(*this, s, ws.card);
  // A refund of part the profile makes as the undo and a new settlement
  // answers as a refund: the money back net of both (records.hpp).
  seams.use_conventions(&refund_conventions_);
  const std::string card_no = ws.card ? ws.card->card_no : std::string();
  const std::string psn_no = ws.person ? ws.person->base.psn_no : std::string();
  const HeldIdentity held = identity_of(ws);  // a national refund of part settles the kept lines with it
  if (auto early = co_await claim_request(call, s)) co_return *early;
  const std::string request_id = p.request_id;

  Reply reply = co_await [&]() -> awaitable<Reply> {
    Reply not_it;
    auto original = co_await original_of(*id, request_id, not_it);
    if (!original) co_return not_it;
    flow::RefundInput in;
    in.request_id = request_id;
    in.window = s.window;
    in.operator_id = s.operator_name;
    in.card_no = card_no;
    in.psn_no = psn_no;  // an original made with an e-voucher or ID number: its person's credential
    in.cert_type = held.cert_type;
    in.cert_no = held.cert_no;
    in.insuplc_admdvs = held.insuplc_admdvs;
    in.original = std::move(*original);
    in.profile = &p_.config.insurer.profile;
    in.policy = &p_.policy;
    if (p.lines)
      for (const auto& l : *p.lines) in.lines.push_back(LineRefund{l.code, l.amount});
    // Refunds are made online only: not while the line is down or its stored work is being forwarded.
    in.line_online = network_.state() == NetworkState::online;
    in.budget = seams.budget();
    flow::Flow f = flow::refund_flow(std::move(in));
    const flow::Outcome out = co_await drive(f, seams.seams());
    Reply r = co_await flow_answer(out, request_id, AnswerShape::refund);
    if (out.answer.refund && out.answer.ok()) {
      const flow::RefundRecord& rf = *out.answer.refund;
      p_.metrics.refund("refunded");
      log_with(spdlog::level::info,
               LogFields{s.window, s.operator_name, request_id, std::to_string(rf.setl_id), "2208", rf.msgid},
               "window {}: refund {} of settlement {}: {} (fund {}, account {}, cash {})", s.window, rf.refund_id,
               rf.setl_id, format_amount(rf.parts.total), format_amount(rf.parts.fund), format_amount(rf.parts.account),
               format_amount(rf.parts.cash));
    } else if (out.answer.error) {
      p_.metrics.refund(failure_label(out.answer.error->reason));
    }
    co_return r;
  }();
  release_request(request_id);
  co_return reply;
}

// ---- settle.resettle ------------------------------------------------------------

awaitable<Reply> Service::settle_resettle(const cashier::SessionInfo& s, const cashier::Call& call,
                                          const cashier::SettleResettleParams& p) {
  const WindowSession& ws = session_of(s.connection_id);
  // Re-settlement moves the payment onto the personal account: the card and
  // its PIN only (the engine refuses originals made with another credential).
  if (!ws.card)
    co_return fail(Reason::card_absent, "card",
                   ws.holds_any() ? "re-settlement with the personal account needs the card and its PIN; an e-voucher or "
                                    "an ID number cannot re-settle"
                                  : "re-settlement needs the original card at the window: read it first");
  if (!ws.pin_verified)
    co_return fail(Reason::pin_required, "pin", "re-settlement uses the personal account: verify the card's PIN first");
  const auto id = parse_setl_id(p.setl_id);
  if (!id) co_return fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", p.setl_id));
  const SettlementLock lock(changing_settlements_, *id);
  if (!lock.taken())
    co_return fail(Reason::invalid_state, "setl_id",
                   fmt::format("another refund or re-settlement of settlement {} is in progress; ask again in a moment", *id));
  CallSeams seams(*this, s, *ws.card);
  const reader::CardIdentity card = *ws.card;
  const std::string psn_no = ws.person ? ws.person->base.psn_no : std::string();
  const std::string area = identity_of(ws).insuplc_admdvs;
  if (auto early = co_await claim_request(call, s)) co_return *early;
  const std::string request_id = p.request_id;

  Reply reply = co_await [&]() -> awaitable<Reply> {
    Reply not_it;
    auto original = co_await original_of(*id, request_id, not_it);
    if (!original) co_return not_it;
    flow::ResettleInput in;
    in.request_id = request_id;
    in.window = s.window;
    in.operator_id = s.operator_name;
    in.card_no = card.card_no;
    in.card_sn = card.card_sn;
    in.psn_no = psn_no;
    in.insuplc_admdvs = area;
    in.original = std::move(*original);
    in.line_online = network_.state() == NetworkState::online;
    in.budget = seams.budget();
    in.policy = &p_.policy;
    in.profile = &p_.config.insurer.profile;
    flow::Flow f = flow::resettle_flow(std::move(in));
    const flow::Outcome out = co_await drive(f, seams.seams());
    if (out.answer.ok()) session_of(s.connection_id).person.reset();  // the balance moved: asked again next time
    co_return co_await flow_answer(out, request_id);
  }();
  release_request(request_id);
  co_return reply;
}

awaitable<std::optional<flow::OriginalView>> Service::original_of(std::int64_t setl_id, const std::string& request_id,
                                                                  Reply& refusal) {
  auto job = [setl_id](sql::Db& db) { return ledger::original_view(db, setl_id); };
  auto original = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!original) {
    refusal = fail(original.error().to_error());
    co_return std::nullopt;
  }
  if (!original->has_value()) {
    // No such settlement: the request's final answer.
    const Reply unknown = fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", setl_id));
    refusal = co_await answer_final(request_id, unknown);
    co_return std::nullopt;
  }
  co_return std::move(*original);
}

awaitable<Reply> Service::flow_answer(const flow::Outcome& o, const std::string& request_id, AnswerShape shape) {
  if (!o.hold) co_return reply_of(o.answer, home_, shape);
  // The request never runs again while its money call's outcome is not durable.
  held_requests_.insert(request_id);
  const flow::RecordCallFailed rec = *o.hold;
  auto job = [rec, conv = &conventions_, at = now_ms()](sql::Db& db) {
    return ledger::apply_change(db, flow::LedgerChange(rec), *conv, at);
  };
  auto w = co_await ledger_write(p_.ledger, std::move(job));
  if (w) {
    held_requests_.erase(request_id);  // durable now: a retry is answered from the ledger
    if (rec.outcome == flow::CallOutcome::in_doubt) reversal_wakeup_.cancel();
    co_return reply_of(o.answer, home_, shape);
  }
  // Not even that: the msgid is durable without an outcome, so start-up
  // recovery reverses it. Until then the request is held, never run again.
  spdlog::critical("ledger: msgid {} ({}) cannot be recorded ({}); settled stops so that recovery reverses it",
                   rec.msgid, flow::txn_code(rec.txn), w.error().message);
  if (on_fatal) on_fatal();
  co_return reply_of(o.answer, home_, shape);
}

awaitable<Reply> Service::answer_final(const std::string& request_id, const Reply& r) {
  const std::int64_t at = now_ms();
  auto job = [request_id, answer = answer_text(r), at](sql::Db& db) {
    return ledger::answer_request(db, request_id, answer, at);
  };
  auto w = co_await ledger_write(p_.ledger, std::move(job));
  if (!w) co_return fail(w.error().to_error());
  co_return r;
}

}  // namespace settle::daemon
