// The flows' named ledger changes as transactions over ledger_ops (see
// flow_ledger.hpp): each writes its rows, their events and the request's
// answer inside the caller's transaction, so all of it is durable or none.
#include "offline/flow_ledger.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace settle::ledger {
namespace {

constexpr std::string_view kStaleOffline = "offline figures moved";

std::optional<std::string> opt(const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>(s); }

// A JSON string of characters that need no escaping beyond quotes and backslashes.
std::string json_text(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

sql::Status answer(sql::Db& db, const std::string& request_id, const flow::Answer& a, const FlowConventions& conv,
                   std::int64_t at) {
  return answer_request(db, request_id, conv.answer_text(a), at);
}

// The money call in doubt with its reversal queued (for the person, when known).
sql::Status in_doubt_with_reversal(sql::Db& db, const std::string& msgid, std::string_view oinfno, const std::string& psn_no,
                                   std::int64_t at) {
  SETTLE_SQL_TRY(mark_in_doubt(db, msgid, at));
  const std::string payload = fmt::format("{{\"psn_no\":{},\"oinfno\":{}}}", json_text(psn_no), json_text(oinfno));
  auto id = enqueue_outbox(db, OutboxKind::reversal, std::nullopt, msgid, payload, at);
  if (!id) return id.error();
  return settle::Ok{};
}

Refund refund_row(const flow::RefundRecord& r, const FlowConventions& conv) {
  Refund out;
  out.request_id = r.request_id;
  out.setl_id = r.setl_id;
  out.window_id = r.window;
  out.operator_id = r.operator_id;
  out.total = r.parts.total;
  out.fund = r.parts.fund;
  out.account = r.parts.account;
  out.cash = r.parts.cash;
  out.insurer_refund_id = opt(r.insurer_id);
  out.msgid = opt(r.msgid);
  out.created_at_ms = r.created_at;
  out.clearing_date = conv.clearing_date(r.created_at);
  for (const auto& l : r.lines) out.lines.push_back(RefundLine{l.code, l.amount});
  return out;
}

}  // namespace

LineClass row_class(settle::LineClass c) noexcept {
  switch (c) {
    case settle::LineClass::a: return LineClass::a;
    case settle::LineClass::b: return LineClass::b;
    case settle::LineClass::c: return LineClass::c;
  }
  return LineClass::a;
}

settle::LineClass flow_class(LineClass c) noexcept {
  switch (c) {
    case LineClass::a: return settle::LineClass::a;
    case LineClass::b: return settle::LineClass::b;
    case LineClass::c: return settle::LineClass::c;
  }
  return settle::LineClass::a;
}

bool is_stale_offline(const sql::DbError& e) noexcept {
  return e.code == sql::Errc::invalid_state && e.message.find(kStaleOffline) != std::string::npos;
}

std::vector<SettlementLine> line_rows(std::span<const ChargeLine> lines) {
  std::vector<SettlementLine> out;
  out.reserve(lines.size());
  for (const ChargeLine& l : lines)
    out.push_back(SettlementLine{l.code, l.name, row_class(l.cls), l.amount,
                                 l.cls == settle::LineClass::b ? l.selfpay_ratio.value_or(Ratio{}) : Ratio{}});
  return out;
}

Settlement settlement_row(const flow::SettlementRecord& r) {
  Settlement s;
  s.setl_id = r.setl_id;
  s.request_id = r.request_id;
  s.window_id = r.window;
  s.operator_id = r.operator_id;
  s.card_no = r.card_no;
  s.card_sn = opt(r.card_sn);
  s.psn_no = opt(r.psn_no);
  s.insutype = opt(r.insutype);
  s.visit_type = VisitType::outpatient;
  s.med_type = r.med_type;
  s.mode = r.mode == settle::Mode::offline ? Mode::offline : Mode::online;
  s.total = r.parts.total;
  s.fund = r.parts.fund;
  s.account = r.parts.account;
  s.cash = r.parts.cash;
  s.fulamt_ownpay = r.fulamt_ownpay;
  s.preselfpay = r.preselfpay;
  s.inscp = r.inscp;
  s.deductible_part = r.deductible_part;
  for (SplitReason reason : r.reasons) s.reasons.emplace_back(split_reason_name(reason));
  s.insurer_setl_id = opt(r.insurer_setl_id);
  s.mdtrt_id = opt(r.mdtrt_id);
  s.msgid = opt(r.msgid);
  s.state = r.state;
  s.created_at_ms = r.created_at;
  if (r.offline_cause) s.offline_reason = std::string(split_reason_name(offline_cause_reason(*r.offline_cause)));
  s.resettles_setl_id = r.resettles_setl_id;
  return s;
}

flow::SettlementRecord settlement_record(const Settlement& s, std::span<const SettlementLine> lines) {
  flow::SettlementRecord r;
  r.setl_id = s.setl_id;
  r.request_id = s.request_id;
  r.window = s.window_id;
  r.operator_id = s.operator_id;
  r.card_no = s.card_no;
  r.card_sn = s.card_sn.value_or("");
  r.psn_no = s.psn_no.value_or("");
  r.insutype = s.insutype.value_or("");
  r.med_type = s.med_type;
  r.mode = s.mode == Mode::offline ? settle::Mode::offline : settle::Mode::online;
  r.state = s.state;
  r.parts = Parts{s.total, s.fund, s.account, s.cash};
  r.fulamt_ownpay = s.fulamt_ownpay;
  r.preselfpay = s.preselfpay;
  r.inscp = s.inscp;
  r.deductible_part = s.deductible_part;
  for (const auto& l : lines) {
    ChargeLine c{l.code, l.name, flow_class(l.cls), l.amount, std::nullopt};
    if (l.cls == LineClass::b) c.selfpay_ratio = l.selfpay_ratio;
    r.lines.push_back(std::move(c));
  }
  for (const auto& name : s.reasons)
    if (auto reason = split_reason_from_name(name)) r.reasons.push_back(*reason);
  r.msgid = s.msgid.value_or("");
  r.insurer_setl_id = s.insurer_setl_id.value_or("");
  r.mdtrt_id = s.mdtrt_id.value_or("");
  r.resettles_setl_id = s.resettles_setl_id;
  r.created_at = s.created_at_ms;
  return r;
}

sql::Result<Applied> apply_change(sql::Db& db, const flow::LedgerChange& change, const FlowConventions& conv,
                                  std::int64_t at) {
  using namespace flow;
  if (const auto* w = std::get_if<WriteMsgid>(&change)) {
    Message m;
    m.msgid = w->msgid;
    m.infno = std::string(txn_code(w->txn));
    m.request_id = opt(w->request_id);
    m.psn_no = opt(w->psn_no);
    m.created_at_ms = at;
    m.updated_at_ms = at;
    SETTLE_SQL_TRY(record_message(db, m));
    return Applied{};
  }
  if (const auto* a = std::get_if<StoreAnswer>(&change)) {
    SETTLE_SQL_TRY(answer(db, a->request_id, a->answer, conv, at));
    return Applied{};
  }
  if (const auto* f = std::get_if<RecordCallFailed>(&change)) {
    switch (f->outcome) {
      case CallOutcome::in_doubt: SETTLE_SQL_TRY(in_doubt_with_reversal(db, f->msgid, txn_code(f->txn), f->psn_no, at)); break;
      case CallOutcome::refused:
        SETTLE_SQL_TRY(mark_answered(db, f->msgid, at, f->infcode, std::optional<std::string_view>(f->detail)));
        break;
      case CallOutcome::unreachable: SETTLE_SQL_TRY(mark_unsent(db, f->msgid, at)); break;
      case CallOutcome::ok: SETTLE_ASSERT(false && "a successful call is recorded with its settlement or refund");
    }
    if (f->answer) SETTLE_SQL_TRY(answer(db, f->request_id, *f->answer, conv, at));
    return Applied{};
  }
  if (const auto* r = std::get_if<RecordSettlement>(&change)) {
    SETTLE_SQL_TRY(mark_answered(db, r->settlement.msgid, at, 0));
    Settlement row = settlement_row(r->settlement);
    row.receipt_no = conv.receipt_no(r->settlement);
    row.clearing_date = conv.clearing_date(r->settlement.created_at);
    const std::vector<SettlementLine> lines = line_rows(r->settlement.lines);
    auto id = record_settlement(db, row, lines);
    if (!id) return id.error();
    Answer a = r->answer;
    if (a.settlement) {
      a.settlement->setl_id = *id;
      a.settlement->receipt_no = row.receipt_no;
    }
    SETTLE_SQL_TRY(answer(db, r->settlement.request_id, a, conv, at));
    return Applied{*id, row.receipt_no};
  }
  if (const auto* o = std::get_if<RecordOffline>(&change)) {
    // The limits were measured against these figures: they must still hold.
    auto now = offline_outstanding_tracked(db);
    if (!now) return now.error();
    if (now->count != o->assumed_count || now->fund != o->assumed_fund) {
      // Made again against the figures of now: it stands if it comes out the same.
      bool same = false;
      if (o->estimate) {
        auto figures = outstanding_figures(db, at);
        if (!figures) return figures.error();
        auto again = flow::estimate_offline(*o->estimate, *figures);
        same = again && parts_of(*again) == o->settlement.parts && again->reasons == o->settlement.reasons;
      }
      if (!same)
        return sql::DbError{sql::Errc::invalid_state, 0,
                            fmt::format("{}: {} stored for {} (the estimate assumed {} for {})", kStaleOffline, now->count,
                                        format_amount(now->fund), o->assumed_count, format_amount(o->assumed_fund))};
    }
    if (o->in_doubt_msgid)
      SETTLE_SQL_TRY(in_doubt_with_reversal(db, *o->in_doubt_msgid, txn_code(Txn::settle), o->settlement.psn_no, at));
    if (o->unsent_msgid) SETTLE_SQL_TRY(mark_unsent(db, *o->unsent_msgid, at));
    Settlement row = settlement_row(o->settlement);
    row.receipt_no = conv.receipt_no(o->settlement);
    row.clearing_date = conv.clearing_date(o->settlement.created_at);
    const std::vector<SettlementLine> lines = line_rows(o->settlement.lines);
    auto id = record_settlement(db, row, lines);
    if (!id) return id.error();
    // The upload's local id is the request id, as 2207's medins_setl_id is
    // online: the insurer keeps one effective settlement per id.
    const std::string payload = fmt::format("{{\"local_id\":{}}}", json_text(o->settlement.request_id));
    auto q = enqueue_outbox(db, OutboxKind::offline_upload, *id, std::nullopt, payload, at);
    if (!q) return q.error();
    Answer a = o->answer;
    if (a.settlement) {
      a.settlement->setl_id = *id;
      a.settlement->msgid.clear();
      a.settlement->receipt_no = row.receipt_no;
    }
    SETTLE_SQL_TRY(answer(db, o->settlement.request_id, a, conv, at));
    return Applied{*id, row.receipt_no};
  }
  if (const auto* r = std::get_if<RecordRefund>(&change)) {
    SETTLE_SQL_TRY(mark_answered(db, r->refund.msgid, at, 0));
    auto id = record_refund(db, refund_row(r->refund, conv));
    if (!id) return id.error();
    SETTLE_SQL_TRY(set_settlement_state(db, r->refund.setl_id, r->new_state, at, fmt::format("refund {}", *id)));
    Answer a = r->answer;
    if (a.refund) a.refund->refund_id = *id;
    SETTLE_SQL_TRY(answer(db, r->refund.request_id, a, conv, at));
    return Applied{*id, {}};
  }
  if (const auto* u = std::get_if<RecordUndo>(&change)) {
    SETTLE_SQL_TRY(mark_answered(db, u->undo.msgid, at, 0));
    auto id = record_refund(db, refund_row(u->undo, conv));
    if (!id) return id.error();
    SETTLE_SQL_TRY(set_settlement_state(db, u->undo.setl_id, SettlementState::undone, at,
                                        fmt::format("undone for re-settlement (refund {})", *id)));
    return Applied{*id, {}};
  }
  SETTLE_ASSERT(false && "every named change is applied above");
  return Applied{};
}

flow::Committed committed(const sql::Result<Applied>& r) {
  flow::Committed c;
  if (!r) {
    c.status = r.error().to_error();
    c.stale = is_stale_offline(r.error());
    return c;
  }
  c.status = settle::Ok{};
  c.id = r->id;
  c.receipt_no = r->receipt_no;
  return c;
}

sql::Result<bool> recover_message(sql::Db& db, const Message& m, const FlowConventions& conv, std::int64_t at) {
  if (!flow::moves_money(m.infno)) {
    // A query whose reply was lost has nothing to undo.
    SETTLE_SQL_TRY(mark_abandoned(db, m.msgid, at));
    return false;
  }
  SETTLE_SQL_TRY(in_doubt_with_reversal(db, m.msgid, m.infno, m.psn_no.value_or(""), at));
  if (!m.request_id) return true;
  auto req = find_request(db, *m.request_id);
  if (!req) return req.error();
  if (!req->has_value() || (**req).state == RequestState::answered) return true;
  const flow::Answer a = flow::Answer::fail(make_error(
      Reason::in_doubt, "insurer",
      fmt::format("settled was stopped while the insurer handled {} (msgid {}); it is being reversed", m.infno, m.msgid)));
  SETTLE_SQL_TRY(answer(db, *m.request_id, a, conv, at));
  return true;
}

sql::Result<flow::OutstandingFigures> outstanding_figures(sql::Db& db, std::int64_t now_ms) {
  auto o = offline_outstanding_tracked(db);
  if (!o) return o.error();
  flow::OutstandingFigures f;
  f.fund = o->fund;
  f.count = o->count;
  f.oldest_age_s = o->oldest_created_ms ? std::max<std::int64_t>(0, (now_ms - *o->oldest_created_ms) / 1000) : 0;
  return f;
}

sql::Result<std::optional<flow::OriginalView>> original_view(sql::Db& db, std::int64_t setl_id) {
  auto d = get_settlement(db, setl_id);
  if (!d) return d.error();
  if (!d->has_value()) return std::optional<flow::OriginalView>{};
  const SettlementDetail& detail = **d;
  flow::OriginalView v;
  v.settlement = settlement_record(detail.settlement, detail.lines);
  for (const Refund& r : detail.refunds) {
    flow::RefundRecord rr;
    rr.refund_id = r.refund_id;
    rr.request_id = r.request_id;
    rr.setl_id = r.setl_id;
    rr.window = r.window_id;
    rr.operator_id = r.operator_id;
    rr.parts = Parts{r.total, r.fund, r.account, r.cash};
    for (const auto& l : r.lines) rr.lines.push_back(LineRefund{l.code, l.amount});
    rr.msgid = r.msgid.value_or("");
    rr.insurer_id = r.insurer_refund_id.value_or("");
    rr.created_at = r.created_at_ms;
    v.refunds.push_back(std::move(rr));
  }
  for (const Adjustment& a : detail.adjustments)
    if (a.kind == AdjustmentKind::offline_upload) v.insurer_parts = Parts{v.settlement.parts.total, a.insurer_fund, a.insurer_account, a.insurer_cash};
  return std::optional<flow::OriginalView>(std::move(v));
}

}  // namespace settle::ledger
