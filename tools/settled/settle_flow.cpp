// The money-moving methods: settle.commit (online outpatient settlement),
// settle.refund, settle.resettle, and what keeps them safe: the request log,
// reversals (冲正) of calls left in doubt, and start-up recovery. Every step
// is durable before the next external one: request and msgid → send →
// outcome with its consequences in one commit → answer.
#include "engine/flows.hpp"
#include "engine/refund.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "protocol/cashier/mask.hpp"
#include "protocol/engine_json.hpp"
#include "tools/settled/call_seams.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <boost/asio/redirect_error.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace settle::daemon {

using json::Json;

namespace {

std::vector<ChargeLine> charge_lines_of(const ledger::SettlementDetail& d) { return daemon::charge_lines_of(d.lines); }

Parts parts_of(const ledger::Settlement& s) { return Parts{s.total, s.fund, s.account, s.cash}; }
// What a settlement stands at with the insurer: its recorded parts, or for an
// offline settlement the insurer's figures of its upload's adjustment.
Parts parts_of(const ledger::SettlementDetail& d) {
  Parts p = parts_of(d.settlement);
  for (const auto& a : d.adjustments)
    if (a.kind == ledger::AdjustmentKind::offline_upload) p = Parts{p.total, a.insurer_fund, a.insurer_account, a.insurer_cash};
  return p;
}
Parts parts_of(const ledger::Refund& r) { return Parts{r.total, r.fund, r.account, r.cash}; }

std::vector<Parts> refund_parts(const ledger::SettlementDetail& d) {
  std::vector<Parts> out;
  for (const auto& r : d.refunds) out.push_back(parts_of(r));
  return out;
}

std::vector<LineRefund> refunded_lines(const ledger::SettlementDetail& d) {
  std::vector<LineRefund> out;
  for (const auto& r : d.refunds)
    for (const auto& l : r.lines) out.push_back(LineRefund{l.code, l.amount});
  return out;
}


// The original's lines less what its refunds took, line by line: a refund
// of N of an item code takes from that code's lines in order, so lines that
// share a code are each reduced by their own part, never each by all of it.
std::vector<ChargeLine> lines_left(const ledger::SettlementDetail& d) {
  std::vector<ChargeLine> out = charge_lines_of(d);
  for (const auto& done : refunded_lines(d)) {
    Amount rest = done.amount;
    for (auto& l : out) {
      if (l.code != done.code || rest.is_zero()) continue;
      const Amount t = min(l.amount, rest);
      l.amount -= t;
      rest -= t;
    }
  }
  std::erase_if(out, [](const ChargeLine& l) { return l.amount.is_zero(); });
  return out;
}

// One refund or re-settlement of a settlement at a time: each plans against
// what the one before it left. Held for the life of the guard.
class SettlementLock {
 public:
  SettlementLock(std::set<std::int64_t>& busy, std::int64_t setl_id) : busy_(busy), id_(setl_id) {
    taken_ = busy_.insert(id_).second;
  }
  ~SettlementLock() {
    if (taken_) busy_.erase(id_);
  }
  SettlementLock(const SettlementLock&) = delete;
  SettlementLock& operator=(const SettlementLock&) = delete;
  bool taken() const { return taken_; }

 private:
  std::set<std::int64_t>& busy_;
  std::int64_t id_;
  bool taken_ = false;
};

// Whether a settlement was paid without the personal account (the cases
// settlement-rules.md allows to be refunded and re-settled with it).
bool paid_without_account(const ledger::Settlement& s) {
  if (!s.account.is_zero()) return false;
  for (const auto& r : s.reasons)
    if (r == "pin_not_verified" || r == "account_skipped" || r.rfind("offline", 0) == 0 || r == "not_on_redlist")
      return true;
  return s.mode == ledger::Mode::offline;
}

// The ledger job recording a money-moving call that did not succeed: its
// outcome (an in-doubt call with its reversal queued) and, unless nothing was
// sent (the request may then run again), the request's final answer.
auto failed_call_job(const CallResult& r, const std::string& psn_no, const std::string& request_id, const Reply& reply,
                     std::int64_t at) {
  return [r, psn_no, request_id, answer = answer_text(reply), at](sql::Db& db) -> sql::Status {
    if (r.in_doubt()) {
      SETTLE_SQL_TRY(record_in_doubt_with_reversal(db, r, psn_no, at));
    } else {
      SETTLE_SQL_TRY(record_outcome(db, r, at));
    }
    if (r.kind == insurer::OutcomeClass::unreachable) return settle::Ok{};
    return ledger::answer_request(db, request_id, answer, at);
  };
}

}  // namespace

// ---- the online settlement of one visit -----------------------------------------------

// The answer of a successful settlement (settle.commit's, or settle.resettle's around it).
using AnswerOf = std::function<Json(const ledger::Settlement&, std::int64_t, Amount)>;

struct OnlineSettlement {
  bool ok = false;
  Reply reply;                       // the answer when !ok (already durable when stored)
  ledger::Settlement settlement;     // when ok: recorded
  std::int64_t setl_id = 0;
  Amount balance_after;
  // With offline fallback: the call that went unanswered (nothing recorded
  // for it yet; the caller settles offline and records it with that).
  std::optional<CallResult> unanswered;
  // The 2207 succeeded and the ledger could not record it: the caller must
  // never let the request run again (Service::unrecorded_outcome).
  std::optional<CallResult> unrecorded;
  std::string unrecorded_why;
};

// 2201 → 2204 → 2207 for `lines`, recording the outcome with `request_id`'s
// answer. `pending_msgid` is the 2207 msgid, recorded durably by `msgid_write`.
// Each call waits at most `deadline_ms` (the cashier is waiting). With
// `offline_fallback`, an unanswered call ends the attempt with nothing
// recorded for it and `unanswered` set. Shared by settle.commit and settle.resettle.
static awaitable<OnlineSettlement> settle_online(
    InsurerGateway& gateway, ledger::Ledger& ledger, Metrics& metrics, const Policy& policy,
    const cashier::SessionInfo& s, const reader::CardIdentity& card, const PersonView& person,
    const std::vector<ChargeLine>& lines, bool use_account, bool pin_verified, const std::string& med_type,
    const std::string& request_id, const std::string& msgid_2207, Pending<sql::Status>& msgid_write,
    std::optional<std::int64_t> resettles, const AnswerOf& answer_of, std::uint32_t deadline_ms,
    bool offline_fallback) {
  OnlineSettlement out;
  SplitOptions opts;
  opts.visit = VisitType::outpatient;
  opts.use_account = use_account;
  opts.pin_verified = pin_verified;
  auto local = split(policy, person.engine_person(), lines, opts);
  if (!local) {
    out.reply = fail(local.error());
    co_return out;
  }

  const auto call = [&](std::string_view infno, const Json& input) -> awaitable<CallResult> {
    CallSpec spec;
    spec.infno = std::string(infno);
    spec.input = input;
    spec.opter = s.operator_name;
    spec.opter_name = s.operator_name;
    spec.request_id = request_id;
    spec.timeout_ms = deadline_ms;
    CallResult r = co_await gateway.call(std::move(spec));
    metrics.insurer_call(infno, outcome_label(r), r.elapsed_ms * 1000LL);
    co_return r;
  };

  // 2201 registration (门诊挂号).
  insurer::OutpatientRegister::Input reg;
  reg.psn_no = person.base.psn_no;
  reg.insutype = person.insu.insutype;
  reg.mdtrt_cert_type = std::string(insurer::cert_type_card);
  reg.mdtrt_cert_no = card.card_no;
  reg.med_type = med_type;
  reg.ipt_otp_no = msgid_2207.substr(12);
  reg.begntime = insurer::inf_time_text(now_ms() / 1000);
  reg.dept_code = "OP";
  reg.dept_name = "门诊";
  const Json reg_input = reg.encode();
  const CallResult r_reg = co_await call(insurer::OutpatientRegister::infno, reg_input);
  const auto unanswered = [&](const CallResult& r) -> Reply {
    if (offline_fallback) {
      out.unanswered = r;
      return fail(unanswered_error(r));
    }
    metrics.settlement("online", outcome_label(r));
    return fail(unanswered_error(r));
  };
  if (!r_reg.answered()) co_return out.reply = unanswered(r_reg), out;
  // A refusal is final for the request (a retry with the same request_id gets it again).
  const auto refused = [&](const CallResult& r) -> awaitable<Reply> {
    metrics.settlement("online", "rejected");
    const Reply reply = rejected_reply(r);
    const std::int64_t at = now_ms();
    auto job = [request_id, answer = answer_text(reply), at](sql::Db& db) {
      return ledger::answer_request(db, request_id, answer, at);
    };
    auto w = co_await ledger_write(ledger, std::move(job));
    if (!w) co_return fail(w.error().to_error());
    co_return reply;
  };
  if (!r_reg.succeeded()) co_return out.reply = co_await refused(r_reg), out;
  auto opened = insurer::OutpatientRegister::Output::decode(r_reg.response->output);
  if (!opened) co_return out.reply = fail(Reason::insurer_rejected, "output", "insurer's 2201 reply: " + opened.error().message), out;

  // 2204 charge lines (费用明细上传).
  insurer::OutpatientLines::Input up;
  const std::string batch = "B" + msgid_2207.substr(12);
  const PolicyParams* params = policy.find(person.insu.insutype, VisitType::outpatient);
  SETTLE_ASSERT(params != nullptr);  // split() above found them
  up.feedetail = fee_details(lines, FeeContext{opened->mdtrt_id, person.base.psn_no, batch,
                                               insurer::inf_time_text(now_ms() / 1000)},
                             policy, *params);
  const Json up_input = up.encode();
  const CallResult r_up = co_await call(insurer::OutpatientLines::infno, up_input);
  if (!r_up.answered()) co_return out.reply = unanswered(r_up), out;
  if (!r_up.succeeded()) co_return out.reply = co_await refused(r_up), out;

  // The 2207 msgid must be durable before it is sent.
  const sql::Status recorded = co_await msgid_write.get();
  if (!recorded) co_return out.reply = fail(recorded.error().to_error()), out;

  insurer::SettleInput in;
  in.psn_no = person.base.psn_no;
  in.mdtrt_cert_type = std::string(insurer::cert_type_card);
  in.mdtrt_cert_no = card.card_no;
  in.med_type = med_type;
  in.medfee_sumamt = local->total;
  in.mdtrt_id = opened->mdtrt_id;
  in.chrg_bchno = batch;
  in.insutype = person.insu.insutype;
  in.acct_used_flag = use_account && pin_verified ? "1" : "0";
  in.medins_setl_id = request_id;
  CallSpec spec;
  spec.infno = std::string(insurer::OutpatientSettle::infno);
  spec.input = in.encode();
  spec.opter = s.operator_name;
  spec.opter_name = s.operator_name;
  spec.request_id = request_id;
  spec.moves_money = true;
  spec.msgid = msgid_2207;  // already durable
  spec.timeout_ms = deadline_ms;
  const CallResult r = co_await gateway.call(std::move(spec));
  metrics.insurer_call("2207", outcome_label(r), r.elapsed_ms * 1000LL);
  const std::int64_t at = now_ms();

  if (r.succeeded()) {
    auto so = insurer::SettleOutput::decode(r.response->output);
    // A success we cannot read, or one that settled another total or parts
    // that do not add up: reverse it, as if no reply came.
    std::optional<std::string> unacceptable;
    if (!so) {
      unacceptable = so.error().message;
    } else if (const insurer::SetlInfo& got = so->setlinfo; got.medfee_sumamt != local->total) {
      unacceptable = fmt::format("the insurer settled a total of {}, the charge is {}", format_amount(got.medfee_sumamt),
                                 format_amount(local->total));
    } else if (!Parts{got.medfee_sumamt, got.fund_pay_sumamt, got.acct_pay, got.psn_cash_pay}.consistent()) {
      unacceptable = "the insurer's parts do not add up to its total";
    }
    if (unacceptable) {
      CallResult doubtful = r;
      doubtful.kind = insurer::OutcomeClass::in_doubt;
      doubtful.detail = *unacceptable;
      Reply reply = fail(unanswered_error(doubtful));
      const std::string answer = answer_text(reply);
      const std::string psn = person.base.psn_no;
      auto job1 = [doubtful, psn, answer, request_id, at](sql::Db& db) -> sql::Status {
        SETTLE_SQL_TRY(ledger::mark_answered(db, doubtful.msgid, at, doubtful.response->infcode));
        auto id = ledger::enqueue_outbox(db, ledger::OutboxKind::reversal, std::nullopt, doubtful.msgid,
                                         Json{{"psn_no", psn}, {"oinfno", doubtful.infno}}.dump(), at);
        if (!id) return id.error();
        return ledger::answer_request(db, request_id, answer, at);
      };
      auto w = co_await ledger_write(ledger, std::move(job1));
      if (!w) {
        // Not recorded either: the caller holds the request (never run again).
        reply = fail(w.error().to_error());
        out.unrecorded = doubtful;
        out.unrecorded_why = w.error().message;
      }
      metrics.settlement("online", "in_doubt");
      co_return out.reply = reply, out;
    }
    const insurer::SetlInfo& si = so->setlinfo;
    ledger::Settlement st;
    st.request_id = request_id;
    st.window_id = s.window;
    st.operator_id = s.operator_name;
    st.card_no = card.card_no;
    st.card_sn = card.card_sn;
    st.psn_no = person.base.psn_no;
    st.insutype = person.insu.insutype;
    st.visit_type = ledger::VisitType::outpatient;
    st.med_type = med_type;
    st.mode = ledger::Mode::online;
    st.total = si.medfee_sumamt;
    st.fund = si.fund_pay_sumamt;
    st.account = si.acct_pay;
    st.cash = si.psn_cash_pay;
    st.fulamt_ownpay = si.fulamt_ownpay_amt;
    st.preselfpay = si.preselfpay_amt;
    st.inscp = si.inscp_scp_amt;
    st.deductible_part = si.act_pay_dedc;
    for (SplitReason reason : local->reasons) st.reasons.emplace_back(split_reason_name(reason));
    st.insurer_setl_id = si.setl_id;
    st.mdtrt_id = opened->mdtrt_id;
    st.msgid = r.msgid;
    st.receipt_no = receipt_no_of(r.msgid);
    st.state = ledger::SettlementState::settled;
    st.created_at_ms = at;
    st.clearing_date = clearing_date(at);
    st.resettles_setl_id = resettles;
    if (si.fund_pay_sumamt != local->fund || si.acct_pay != local->account)
      spdlog::warn("settlement {}: the insurer's split (fund {}, account {}) differs from the local estimate (fund {}, account {}); the insurer's is recorded",
                   r.msgid, format_amount(si.fund_pay_sumamt), format_amount(si.acct_pay), format_amount(local->fund),
                   format_amount(local->account));
    const std::vector<ledger::SettlementLine> rows = ledger_lines(policy, *params, lines);
    const Amount balc = si.balc;
    auto job2 = [r, st, rows, request_id, at, balc, answer_of](sql::Db& db) -> sql::Result<std::int64_t> {
      SETTLE_SQL_TRY(record_outcome(db, r, at));
      auto setl_id = ledger::record_settlement(db, st, rows);
      if (!setl_id) return setl_id.error();
      SETTLE_SQL_TRY(ledger::answer_request(db, request_id, answer_text(Reply::ok(answer_of(st, *setl_id, balc))), at));
      return *setl_id;
    };
    auto id = co_await ledger_write(ledger, std::move(job2));
    if (!id) {
      // The insurer settled but the ledger cannot say so: the request must
      // never run again; the caller records it in doubt (reversed) or holds it.
      spdlog::critical("ledger: could not record settlement msgid {}: {}", r.msgid, id.error().message);
      metrics.settlement("online", "error");
      out.unrecorded = r;
      out.unrecorded_why = id.error().message;
      co_return out.reply = fail(id.error().to_error()), out;
    }
    metrics.settlement("online", "settled");
    out.ok = true;
    out.settlement = st;
    out.setl_id = *id;
    out.balance_after = balc;
    co_return out;
  }

  if (!r.answered() && offline_fallback) {
    out.unanswered = r;
    out.reply = fail(unanswered_error(r));
    co_return out;
  }
  Reply reply;
  if (r.answered()) {
    reply = rejected_reply(r);
    metrics.settlement("online", "rejected");
  } else {
    reply = fail(unanswered_error(r));
    metrics.settlement("online", outcome_label(r));
  }
  auto job3 = failed_call_job(r, person.base.psn_no, request_id, reply, at);
  auto w = co_await ledger_write(ledger, std::move(job3));
  if (!w) reply = fail(w.error().to_error());
  co_return out.reply = reply, out;
}

// Starts the durable write of a request's 2207 msgid (the request row itself
// is already durable from claim_request), with the person when known: a
// reversal queued for it by start-up recovery then names that person.
static Pending<sql::Status> start_msgid_write(ledger::Ledger& ledger, asio::any_io_executor ex, const std::string& msgid,
                                              const std::string& request_id, std::optional<std::string> psn_no) {
  ledger::Message m;
  m.msgid = msgid;
  m.infno = "2207";
  m.request_id = request_id;
  m.psn_no = std::move(psn_no);
  m.created_at_ms = now_ms();
  m.updated_at_ms = m.created_at_ms;
  return Pending<sql::Status>::start(ledger, ex, [m](sql::Db& db) { return ledger::record_message(db, m); });
}

awaitable<Reply> Service::settle_commit(const cashier::SessionInfo& s, const cashier::Call& call,
                                        const cashier::SettleCommitParams& p) {
  const WindowSession& ws = session_of(s.connection_id);
  if (!ws.card) co_return fail(Reason::card_absent, "card", "read the card first (card.read)");
  const bool pin_verified = ws.pin_verified;
  CallSeams seams(*this, s, *ws.card);
  // The card is checked while the request's claim is made durable: neither
  // sends anything to the insurer, and both must hold before anything is.
  seams.start_card_check();
  if (auto early = co_await claim_request(call, s)) {
    (void)co_await seams.check_card();  // the reader is left as it was found
    co_return *early;
  }
  const std::string request_id = p.request_id;
  const reader::CardIdentity card = *session_of(s.connection_id).card;

  flow::CommitInput in;
  in.request_id = request_id;
  in.window = s.window;
  in.operator_id = s.operator_name;
  in.card_no = card.card_no;
  in.card_sn = card.card_sn;
  in.med_type = p.med_type;
  in.lines = p.lines;
  in.use_account = p.use_account;
  in.pin_verified = pin_verified;
  // The line is down (or its stored work is being forwarded): no cashier waits on it.
  in.line_online = network_.accepts_online_work();
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
      if (WindowSession& after = session_of(s.connection_id);
          after.person && after.card && after.card->card_sn == card.card_sn) {
        after.person->insu.balc = a.balance_after;
        after.person->insu.deductible_used += st.deductible_part;
        after.person->insu.fund_paid_ytd += st.parts.fund;
      }
      spdlog::info("window {}: settlement {} online, total {} (fund {}, account {}, cash {})", s.window, st.setl_id,
                   format_amount(st.parts.total), format_amount(st.parts.fund), format_amount(st.parts.account),
                   format_amount(st.parts.cash));
    } else {
      p_.metrics.settlement("offline", "stored");
      std::vector<std::string_view> why;
      for (SplitReason r : st.reasons) why.push_back(split_reason_name(r));
      spdlog::warn("window {}: settlement {} offline ({}), total {} (fund estimate {}, cash {}); stored for upload",
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
  if (!ws.card) co_return fail(Reason::card_absent, "card", "a refund needs the original card at the window: read it first");
  const auto id = parse_setl_id(p.setl_id);
  if (!id) co_return fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", p.setl_id));
  // One refund or re-settlement of a settlement at a time: each plans against what the one before it left.
  const SettlementLock lock(changing_settlements_, *id);
  if (!lock.taken())
    co_return fail(Reason::invalid_state, "setl_id",
                   fmt::format("another refund or re-settlement of settlement {} is in progress; ask again in a moment", *id));
  CallSeams seams(*this, s, *ws.card);
  const std::string card_no = ws.card->card_no;
  if (auto early = co_await claim_request(call, s)) co_return *early;
  const std::string request_id = p.request_id;

  Reply reply = co_await [&]() -> awaitable<Reply> {
    const std::int64_t setl_id = *id;
    auto job = [setl_id](sql::Db& db) { return ledger::original_view(db, setl_id); };
    auto original = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
    if (!original) co_return fail(original.error().to_error());
    if (!original->has_value()) {
      const Reply unknown = fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", setl_id));
      co_return co_await answer_final(request_id, unknown);
    }
    flow::RefundInput in;
    in.request_id = request_id;
    in.window = s.window;
    in.operator_id = s.operator_name;
    in.card_no = card_no;
    in.original = std::move(**original);
    if (p.lines)
      for (const auto& l : *p.lines) in.lines.push_back(LineRefund{l.code, l.amount});
    // Refunds are made online only: not while the line is down or its stored work is being forwarded.
    in.line_online = network_.state() == NetworkState::online;
    in.budget = seams.budget();
    flow::Flow f = flow::refund_flow(std::move(in));
    const flow::Outcome out = co_await drive(f, seams.seams());
    Reply r = co_await flow_answer(out, request_id);
    if (out.answer.refund && out.answer.ok()) {
      const flow::RefundRecord& rf = *out.answer.refund;
      p_.metrics.refund("refunded");
      spdlog::info("window {}: refund {} of settlement {}: {} (fund {}, account {}, cash {})", s.window, rf.refund_id,
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
  if (!ws.card) co_return fail(Reason::card_absent, "card", "re-settlement needs the original card at the window: read it first");
  if (!ws.pin_verified)
    co_return fail(Reason::pin_required, "pin", "re-settlement uses the personal account: verify the card's PIN first");
  const reader::CardIdentity card = *ws.card;
  const auto id = parse_setl_id(p.setl_id);
  if (!id) co_return fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", p.setl_id));
  const SettlementLock lock(changing_settlements_, *id);
  if (!lock.taken())
    co_return fail(Reason::invalid_state, "setl_id",
                   fmt::format("another refund or re-settlement of settlement {} is in progress; ask again in a moment", *id));
  if (auto early = co_await claim_request(call, s)) co_return *early;
  const std::string request_id = p.request_id;

  Reply reply = co_await [&]() -> awaitable<Reply> {
    // Answers decided here are final for this request_id.
    const auto final_answer = [&](const Reply& r) { return answer_final(request_id, r); };
    Reply not_it;
    auto found = co_await original_for(*id, card, request_id, not_it);
    if (!found) co_return not_it;
    const ledger::SettlementDetail detail = std::move(*found);
    const ledger::Settlement& orig = detail.settlement;
    if (orig.state != ledger::SettlementState::settled && orig.state != ledger::SettlementState::partly_refunded &&
        orig.state != ledger::SettlementState::offline_accepted) {
      const Reply refusal = fail(
          orig.state == ledger::SettlementState::offline_pending ? Reason::not_refundable_yet : Reason::invalid_state,
          "setl_id", fmt::format("settlement {} is {}: it cannot be re-settled", orig.setl_id, ledger::name(orig.state)));
      co_return co_await final_answer(refusal);
    }
    if (!paid_without_account(orig)) {
      const Reply refusal = fail(Reason::invalid_state, "setl_id",
                                 "re-settlement is for settlements paid without the personal account");
      co_return co_await final_answer(refusal);
    }
    if (network_.state() != NetworkState::online)
      co_return fail(Reason::offline_refund_forbidden, "insurer", "re-settlement is made online only; nothing was changed");

    const Parts original = parts_of(detail);
    const std::vector<Parts> before = refund_parts(detail);
    const Parts left = remaining(original, before);
    auto plan = plan_line_refund(charge_lines_of(detail), refunded_lines(detail), {});
    if (!plan) {
      const Reply refusal = fail(plan.error());
      co_return co_await final_answer(refusal);
    }
    // The lines still settled: what an undo gives back and the new settlement takes again.
    const std::vector<ChargeLine> rest = lines_left(detail);

    const std::string window = s.window;
    const std::string card_sn = card.card_sn;
    auto job15 = [this, window, card_sn] { return p_.cards.check_same_card(window, card_sn); };
    if (Status same = co_await on_pool(p_.card_pool, std::move(job15));
        !same)
      co_return fail(same.error());
    Reply refusal;
    auto person = co_await person_of(s, true, refusal);
    if (!person) co_return refusal;
    const std::string psn_no = person->base.psn_no;
    if (Status first = co_await reversals_first(psn_no); !first) co_return fail(first.error());

    // 1. Undo (2208) everything left of the original.
    insurer::UndoInput undo_in;
    undo_in.setl_id = orig.insurer_setl_id.value_or("");
    undo_in.mdtrt_id = orig.mdtrt_id.value_or("");
    undo_in.psn_no = psn_no;
    CallSpec spec;
    spec.infno = std::string(insurer::OutpatientUndo::infno);
    spec.input = undo_in.encode();
    spec.opter = s.operator_name;
    spec.opter_name = s.operator_name;
    spec.request_id = request_id;
    spec.moves_money = true;
    const CallResult r = co_await p_.gateway.call(std::move(spec));
    p_.metrics.insurer_call("2208", outcome_label(r), r.elapsed_ms * 1000LL);
    std::int64_t at = now_ms();
    if (!r.succeeded()) {
      Reply out = r.answered() ? rejected_reply(r) : fail(unanswered_error(r));
      auto job16 = failed_call_job(r, psn_no, request_id, out, at);
      auto w = co_await ledger_write(p_.ledger, std::move(job16));
      if (r.in_doubt()) reversal_wakeup_.cancel();
      if (!w && r.kind != insurer::OutcomeClass::unreachable)
        co_return co_await unrecorded_outcome(r, psn_no, request_id, w.error().message);
      if (!w) co_return fail(w.error().to_error());
      co_return out;
    }
    auto uo = insurer::UndoOutput::decode(r.response->output);
    ledger::Refund undo;
    undo.request_id = request_id;
    undo.setl_id = orig.setl_id;
    undo.window_id = s.window;
    undo.operator_id = s.operator_name;
    undo.total = left.total;
    undo.fund = left.fund;
    undo.account = left.account;
    undo.cash = left.cash;
    if (uo) undo.insurer_refund_id = uo->setl_id;
    undo.msgid = r.msgid;
    undo.created_at_ms = at;
    undo.clearing_date = clearing_date(at);
    for (const auto& l : rest) undo.lines.push_back(ledger::RefundLine{l.code, l.amount});
    const std::int64_t orig_id = orig.setl_id;
    auto job17 = [r, undo, orig_id, at](sql::Db& db) -> sql::Result<std::int64_t> {
      SETTLE_SQL_TRY(record_outcome(db, r, at));
      auto rid = ledger::record_refund(db, undo);
      if (!rid) return rid.error();
      SETTLE_SQL_TRY(ledger::set_settlement_state(db, orig_id, ledger::SettlementState::undone, at,
                                                  fmt::format("undone for re-settlement (refund {})", *rid)));
      return *rid;
    };
    auto undo_id = co_await ledger_write(p_.ledger, std::move(job17));
    if (!undo_id) co_return co_await unrecorded_outcome(r, psn_no, request_id, undo_id.error().message);
    const Json undo_json{{"refund_id", std::to_string(*undo_id)},
                         {"setl_id", std::to_string(orig_id)},
                         {"refund_total", json::amount_value(left.total)},
                         {"fund", json::amount_value(left.fund)},
                         {"account", json::amount_value(left.account)},
                         {"cash", json::amount_value(left.cash)}};

    // 2. Settle the same lines again with the account.
    const std::string msgid = p_.gateway.next_msgid();
    Pending<sql::Status> msgid_write = start_msgid_write(p_.ledger, ioc_.get_executor(), msgid, request_id, psn_no);
    const AnswerOf answer_of = [undo_json, left](const ledger::Settlement& st, std::int64_t new_id, Amount balc) {
      return Json{{"undo", undo_json},
                  {"settlement", commit_answer(st, new_id, balc)},
                  {"cash_back", json::amount_value(left.cash - st.cash)}};
    };
    OnlineSettlement done = co_await settle_online(p_.gateway, p_.ledger, p_.metrics, p_.policy, s, card, *person,
                                                   rest, true, true, orig.med_type, request_id, msgid, msgid_write,
                                                   orig_id, answer_of, p_.config.network.offline_deadline_ms, false);
    if (done.unrecorded)
      co_return co_await unrecorded_outcome(*done.unrecorded, psn_no, request_id, done.unrecorded_why);
    if (!done.ok) {
      auto job18 = [msgid](sql::Db& db) { return ledger::find_message(db, msgid); };
      auto m = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job18));
      if (m && m->has_value() && (**m).state == ledger::MessageState::written) {
        at = now_ms();
        auto job19 = [msgid, at](sql::Db& db) { return ledger::mark_unsent(db, msgid, at); };
        (void)co_await ledger_write(p_.ledger, std::move(job19));
      }
      // The original is undone: the patient has been paid back; the charge must be settled again.
      Reply out = done.reply;
      if (out.error) {
        out.error->data["undo"] = undo_json;
        out.error->error.message += "; the original settlement was undone and its money given back: settle the charge again";
      }
      co_return out;
    }
    session_of(s.connection_id).person.reset();
    co_return Reply::ok(Json{{"undo", undo_json},
                             {"settlement", commit_answer(done.settlement, done.setl_id, done.balance_after)},
                             {"cash_back", json::amount_value(left.cash - done.settlement.cash)}});
  }();
  release_request(request_id);
  co_return reply;
}

awaitable<std::optional<ledger::SettlementDetail>> Service::original_for(std::int64_t setl_id,
                                                                         const reader::CardIdentity& card,
                                                                         const std::string& request_id, Reply& refusal) {
  auto job = [setl_id](sql::Db& db) { return ledger::get_settlement(db, setl_id); };
  auto d = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!d) {
    refusal = fail(d.error().to_error());
    co_return std::nullopt;
  }
  if (!d->has_value()) {
    const Reply unknown = fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", setl_id));
    refusal = co_await answer_final(request_id, unknown);
    co_return std::nullopt;
  }
  const ledger::Settlement& orig = (**d).settlement;
  if (orig.card_no != card.card_no) {
    refusal = fail(Reason::card_mismatch, "card",
                   fmt::format("the card at the window ({}) is not the one of settlement {} ({})",
                               cashier::mask_card_no(card.card_no), orig.setl_id, cashier::mask_card_no(orig.card_no)));
    co_return std::nullopt;
  }
  co_return std::move(**d);
}

awaitable<Reply> Service::flow_answer(const flow::Outcome& o, const std::string& request_id) {
  if (!o.hold) co_return reply_of(o.answer);
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
    co_return reply_of(o.answer);
  }
  // Not even that: the msgid is durable without an outcome, so start-up
  // recovery reverses it. Until then the request is held, never run again.
  spdlog::critical("ledger: msgid {} ({}) cannot be recorded ({}); settled stops so that recovery reverses it",
                   rec.msgid, flow::txn_code(rec.txn), w.error().message);
  if (on_fatal) on_fatal();
  co_return reply_of(o.answer);
}

awaitable<Reply> Service::unrecorded_outcome(const CallResult& r, const std::string& psn_no,
                                             const std::string& request_id, const std::string& why) {
  held_requests_.insert(request_id);
  CallResult doubtful = r;
  doubtful.kind = insurer::OutcomeClass::in_doubt;
  const Reply reply = fail(Reason::in_doubt, "ledger",
                           fmt::format("the insurer carried out {} but the ledger could not record it ({}); it is being "
                                       "reversed (冲正): start again with a new request id once the status shows nothing in doubt",
                                       r.infno, why));
  const std::int64_t at = now_ms();
  auto job = [doubtful, psn_no, request_id, answer = answer_text(reply), at](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(record_in_doubt_with_reversal(db, doubtful, psn_no, at));
    return ledger::answer_request(db, request_id, answer, at);
  };
  auto w = co_await ledger_write(p_.ledger, std::move(job));
  if (w) {
    held_requests_.erase(request_id);  // durable now: a retry is answered from the ledger
    reversal_wakeup_.cancel();
    co_return reply;
  }
  // Not even that: the msgid is durable without an outcome, so start-up
  // recovery reverses it. Until then the request is held, never run again.
  spdlog::critical("ledger: msgid {} ({}) reached the insurer and cannot be recorded ({}); settled stops so that "
                   "recovery reverses it",
                   r.msgid, r.infno, w.error().message);
  if (on_fatal) on_fatal();
  co_return reply;
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
