// The daemon's seams for one cashier call (call_seams.hpp): each action a
// flow names becomes a ledger job, a read, a gateway call with its codec, or
// a card check; each outcome goes back as the flow's event.
#include "tools/settled/call_seams.hpp"

#include "offline/flow_ledger.hpp"
#include "protocol/cashier/mask.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

namespace settle::daemon {

using json::Json;

namespace {

// Whether a change queues a reversal (the line worker is woken for it).
bool queues_reversal(const flow::LedgerChange& c) {
  if (const auto* f = std::get_if<flow::RecordCallFailed>(&c)) return f->outcome == flow::CallOutcome::in_doubt;
  if (const auto* o = std::get_if<flow::RecordOffline>(&c)) return o->in_doubt_msgid.has_value();
  return false;
}

// What one gateway call came to, as the flow reads it: the reply's output
// decoded for the call that was made. An output that cannot be read proves
// nothing: a money call is then in doubt (reversed), any other is refused.
flow::InsurerReply reply_of(flow::Txn txn, const CallResult& r, const std::string& given_msgid) {
  flow::InsurerReply out;
  out.detail = r.detail;
  const bool money = flow::moves_money(txn);
  if (money && !r.msgid.empty() && r.msgid != given_msgid) out.carried_by = r.msgid;
  switch (r.kind) {
    case insurer::OutcomeClass::unreachable: out.outcome = flow::CallOutcome::unreachable; return out;
    case insurer::OutcomeClass::in_doubt: out.outcome = flow::CallOutcome::in_doubt; return out;
    case insurer::OutcomeClass::answered: break;
  }
  if (!r.response || r.response->infcode != insurer::infcode_ok) {
    out.outcome = flow::CallOutcome::refused;
    out.infcode = r.response ? r.response->infcode : insurer::infcode_error;
    out.detail = r.response ? r.response->err_msg : r.detail;
    return out;
  }
  out.infcode = insurer::infcode_ok;
  out.outcome = flow::CallOutcome::ok;
  const auto unreadable = [&](const std::string& why) {
    out.outcome = money ? flow::CallOutcome::in_doubt : flow::CallOutcome::refused;
    out.detail = fmt::format("the insurer's {} answer cannot be read: {}", flow::txn_code(txn), why);
    return out;
  };
  const Json& output = r.response->output;
  switch (txn) {
    case flow::Txn::register_visit: {
      auto o = insurer::OutpatientRegister::Output::decode(output);
      if (!o) return unreadable(o.error().message);
      out.mdtrt_id = o->mdtrt_id;
      return out;
    }
    case flow::Txn::upload_lines: return out;
    case flow::Txn::settle: {
      auto o = insurer::SettleOutput::decode(output);
      if (!o) return unreadable(o.error().message);
      const insurer::SetlInfo& si = o->setlinfo;
      out.insurer_id = si.setl_id;
      out.parts = Parts{si.medfee_sumamt, si.fund_pay_sumamt, si.acct_pay, si.psn_cash_pay};
      out.balance_after = si.balc;
      out.fulamt_ownpay = si.fulamt_ownpay_amt;
      out.preselfpay = si.preselfpay_amt;
      out.inscp = si.inscp_scp_amt;
      out.deductible_part = si.act_pay_dedc;
      return out;
    }
    case flow::Txn::undo: {
      auto o = insurer::UndoOutput::decode(output);
      if (!o) return unreadable(o.error().message);
      out.insurer_id = o->setl_id;
      out.parts = Parts{o->medfee_sumamt, o->fund_pay_sumamt, o->acct_pay, o->psn_cash_pay};
      out.balance_after = o->balc;
      return out;
    }
    case flow::Txn::refund: {
      auto o = insurer::PartialRefund::Output::decode(output);
      if (!o) return unreadable(o.error().message);
      out.insurer_id = o->refd_id;
      out.parts = Parts{o->refund_total, o->fund_r, o->acct_r, o->cash_r};
      out.balance_after = o->balc;
      return out;
    }
    case flow::Txn::person:
    case flow::Txn::reversal: break;
  }
  SETTLE_ASSERT(false && "person queries and reversals do not go through the flows' calls");
  return out;
}

}  // namespace

CallSeams::CallSeams(Service& service, const cashier::SessionInfo& session, reader::CardIdentity card)
    : svc_(service), session_(session), card_(std::move(card)) {}

void CallSeams::start_card_check() {
  auto job = [cards = &svc_.p_.cards, window = session_.window, card_sn = card_.card_sn] {
    return cards->check_same_card(window, card_sn);
  };
  card_check_.emplace(Pending<Status>::start_on(svc_.p_.card_pool, svc_.ioc_.get_executor(), std::move(job)));
}

flow::Budget CallSeams::budget() const {
  const NetworkConfig& n = svc_.p_.config.network;
  return flow::Budget{now_ms() + n.offline_deadline_ms + n.offline_reserve_ms, n.offline_reserve_ms};
}

// ---- the ledger ----

awaitable<flow::Committed> CallSeams::commit(const flow::LedgerChange& change) {
  const bool reversal = queues_reversal(change);
  auto job = [change, conv = &svc_.conventions_, at = now_ms()](sql::Db& db) {
    return ledger::apply_change(db, change, *conv, at);
  };
  auto r = co_await ledger_write(svc_.p_.ledger, std::move(job));
  if (r && reversal) svc_.reversal_wakeup_.cancel();  // the line worker forwards it now
  if (!r && !ledger::is_stale_offline(r.error()))
    spdlog::error("ledger: {} failed: {}", flow::change_name(change), r.error().message);
  co_return ledger::committed(r);
}

void CallSeams::start(const flow::LedgerChange& change) {
  SETTLE_ASSERT(!started_.has_value());
  started_queues_reversal_ = queues_reversal(change);
  started_name_ = flow::change_name(change);
  auto job = [change, conv = &svc_.conventions_, at = now_ms()](sql::Db& db) {
    return ledger::apply_change(db, change, *conv, at);
  };
  started_.emplace(
      Pending<sql::Result<ledger::Applied>>::start(svc_.p_.ledger, svc_.ioc_.get_executor(), std::move(job)));
}

awaitable<flow::Committed> CallSeams::finish_started() {
  SETTLE_ASSERT(started_.has_value());
  auto r = co_await started_->get();
  started_.reset();
  if (r && started_queues_reversal_) svc_.reversal_wakeup_.cancel();
  if (!r) spdlog::error("ledger: {} failed: {}", started_name_, r.error().message);
  co_return ledger::committed(r);
}

awaitable<std::int64_t> CallSeams::reversals_open(const std::string& psn_no) {
  auto job = [psn = psn_no](sql::Db& db) { return ledger::pending_reversals_for(db, psn); };
  auto n = co_await ledger_read(svc_.p_.ledger, svc_.p_.db_pool, std::move(job));
  if (!n) {
    // Unknown: as if one were open, so nothing new is sent for the person.
    spdlog::error("ledger: reading the open reversals failed: {}", n.error().message);
    co_return 1;
  }
  if (*n > 0) svc_.reversal_wakeup_.cancel();  // they go first: the line worker forwards them now
  co_return *n;
}

awaitable<flow::OutstandingFigures> CallSeams::outstanding(flow::Ms now) {
  auto job = [now](sql::Db& db) { return ledger::outstanding_figures(db, now); };
  auto f = co_await ledger_read(svc_.p_.ledger, svc_.p_.db_pool, std::move(job));
  if (!f) {
    // Figures that never match: the writer refuses an estimate made against them.
    spdlog::error("ledger: reading the outstanding offline figures failed: {}", f.error().message);
    flow::OutstandingFigures unknown;
    unknown.count = -1;
    co_return unknown;
  }
  co_return *f;
}

// ---- the insurer ----

std::string CallSeams::new_msgid() { return svc_.p_.gateway.next_msgid(); }

awaitable<flow::PersonFound> CallSeams::person(const flow::FindPerson& f) {
  const bool online = f.online;
  const bool fresh = f.fresh;
  const flow::Ms deadline = f.deadline_at;
  flow::PersonFound found;
  if (!online) {
    // The red list decides; else what the insurer said of this card at this window before.
    if (auto listed = co_await svc_.redlist_person(card_.card_no)) {
      found.person = listed->engine_person();
      found.psn_no = listed->base.psn_no;
      found.from_redlist = true;
      co_return found;
    }
    const WindowSession& ws = svc_.session_of(session_.connection_id);
    if (ws.person && !ws.person->from_redlist && ws.card && ws.card->card_no == card_.card_no) {
      found.person = ws.person->engine_person();
      found.psn_no = ws.person->base.psn_no;
    }
    co_return found;
  }
  Reply refusal;
  auto v = co_await svc_.person_of(session_, fresh, refusal, deadline);
  if (v && !v->from_redlist) {
    found.person = v->engine_person();
    found.psn_no = v->base.psn_no;
    co_return found;
  }
  // From the red list: the insurer was not reached.
  if (v || (refusal.error && is_unanswered(refusal.error->error.reason))) {
    found.unanswered = true;
    co_return found;
  }
  if (refusal.error) {
    found.refusal = refusal.error->error;
    const Json& data = refusal.error->data;
    if (data.contains("infcode"))
      found.insurer_refusal = flow::InsurerRefusal{data.value("infcode", std::int64_t{-1}), data.value("err_msg", std::string())};
  }
  co_return found;
}

awaitable<flow::InsurerReply> CallSeams::call(const flow::InsurerCall& in) {
  const flow::InsurerCall c = in;
  const flow::Ms left = c.deadline_at - now();
  if (left <= 0) {
    flow::InsurerReply none;
    none.outcome = flow::CallOutcome::unreachable;
    none.detail = fmt::format("no time left for {} within the cashier call's budget", flow::txn_code(c.txn));
    co_return none;
  }
  const Policy& policy = svc_.p_.policy;
  CallSpec spec;
  spec.opter = session_.operator_name;
  spec.opter_name = session_.operator_name;
  if (!c.request_id.empty()) spec.request_id = c.request_id;
  if (!c.psn_no.empty()) spec.psn_no = c.psn_no;
  spec.timeout_ms = static_cast<std::uint32_t>(std::min<flow::Ms>(left, std::numeric_limits<std::uint32_t>::max()));
  const std::string visit_no = c.visit_ref.size() > 12 ? c.visit_ref.substr(12) : c.visit_ref;
  const std::string batch = "B" + visit_no;
  const std::string at_text = insurer::inf_time_text(now_ms() / 1000);
  switch (c.txn) {
    case flow::Txn::register_visit: {
      insurer::OutpatientRegister::Input reg;
      reg.psn_no = c.psn_no;
      reg.insutype = c.insutype;
      reg.mdtrt_cert_type = std::string(insurer::cert_type_card);
      reg.mdtrt_cert_no = c.card_no;
      reg.med_type = c.med_type.empty() ? "11" : c.med_type;
      reg.ipt_otp_no = visit_no;
      reg.begntime = at_text;
      reg.dept_code = "OP";
      reg.dept_name = "门诊";
      spec.infno = std::string(insurer::OutpatientRegister::infno);
      spec.input = reg.encode();
      break;
    }
    case flow::Txn::upload_lines: {
      const PolicyParams* params = policy.find(c.insutype, VisitType::outpatient);
      if (params == nullptr) {
        flow::InsurerReply no;
        no.outcome = flow::CallOutcome::refused;
        no.detail = fmt::format("no policy for insurance type \"{}\"", c.insutype);
        co_return no;
      }
      insurer::OutpatientLines::Input up;
      up.feedetail = fee_details(c.lines, FeeContext{c.mdtrt_id, c.psn_no, batch, at_text}, policy, *params);
      spec.infno = std::string(insurer::OutpatientLines::infno);
      spec.input = up.encode();
      break;
    }
    case flow::Txn::settle: {
      insurer::SettleInput s;
      s.psn_no = c.psn_no;
      s.mdtrt_cert_type = std::string(insurer::cert_type_card);
      s.mdtrt_cert_no = c.card_no;
      s.med_type = c.med_type.empty() ? "11" : c.med_type;
      s.medfee_sumamt = c.total;
      s.mdtrt_id = c.mdtrt_id;
      s.chrg_bchno = batch;
      s.insutype = c.insutype;
      s.acct_used_flag = c.use_account ? "1" : "0";
      s.medins_setl_id = c.request_id;
      spec.infno = std::string(insurer::OutpatientSettle::infno);
      spec.input = s.encode();
      break;
    }
    case flow::Txn::undo: {
      insurer::UndoInput u;
      u.setl_id = c.insurer_setl_id;
      u.mdtrt_id = c.mdtrt_id;
      u.psn_no = c.psn_no;
      spec.infno = std::string(insurer::OutpatientUndo::infno);
      spec.input = u.encode();
      break;
    }
    case flow::Txn::refund: {
      insurer::PartialRefund::Input r;
      r.setl_id = c.insurer_setl_id;
      r.psn_no = c.psn_no;
      r.mdtrt_cert_no = c.card_no;
      r.medins_refd_id = c.request_id;
      for (const auto& l : c.refund_lines) r.lines.push_back(insurer::RefundLine{l.code, l.amount});
      spec.infno = std::string(insurer::PartialRefund::infno);
      spec.input = r.encode();
      break;
    }
    case flow::Txn::person:
    case flow::Txn::reversal: SETTLE_ASSERT(false && "not a flow's call"); break;
  }
  if (flow::moves_money(c.txn)) {
    spec.moves_money = true;
    spec.msgid = c.msgid;  // made durable by the flow
  }
  const std::string infno = spec.infno;
  const CallResult r = co_await svc_.p_.gateway.call(std::move(spec));
  svc_.p_.metrics.insurer_call(infno, outcome_label(r), r.elapsed_ms * 1000LL);
  co_return reply_of(c.txn, r, c.msgid);
}

// ---- the card ----

awaitable<Status> CallSeams::check_card() {
  std::optional<Status> st;
  if (card_check_) {
    st.emplace(co_await card_check_->get());
    card_check_.reset();
  } else {
    auto job = [cards = &svc_.p_.cards, window = session_.window, card_sn = card_.card_sn] {
      return cards->check_same_card(window, card_sn);
    };
    st.emplace(co_await on_pool(svc_.p_.card_pool, std::move(job)));
  }
  // Another card: the window's session starts over (read the card again).
  if (!*st && st->error().reason == Reason::card_mismatch) svc_.session_of(session_.connection_id) = WindowSession{};
  co_return std::move(*st);
}

// ---- the clock ----

flow::Ms CallSeams::now() { return now_ms(); }

}  // namespace settle::daemon
