// The flows' named ledger changes as transactions over ledger_ops (see
// flow_ledger.hpp): each writes its rows, their events and the request's
// answer inside the caller's transaction, so all of it is durable or none.
#include "offline/flow_ledger.hpp"

#include "offline/rows.hpp"
#include "offline/stay_ops.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace settle::ledger {
namespace {

constexpr std::string_view kStaleOffline = "offline figures moved";

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

// The money call in doubt with its reversal queued (for the person, when
// known), to go with the insured area the call's envelope carried (recorded
// with its msgid; none: the hospital's).
sql::Status in_doubt_with_reversal(sql::Db& db, const std::string& msgid, std::string_view oinfno, const std::string& psn_no,
                                   std::int64_t at) {
  SETTLE_SQL_TRY(mark_in_doubt(db, msgid, at));
  auto m = find_message(db, msgid);
  if (!m) return m.error();
  const std::string area = m->has_value() ? (**m).insuplc_admdvs : std::string();
  std::string payload = fmt::format("{{\"psn_no\":{},\"oinfno\":{}", json_text(psn_no), json_text(oinfno));
  if (!area.empty()) payload += fmt::format(",\"insuplc_admdvs\":{}", json_text(area));
  payload += "}";
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
  s.visit_type = r.visit == settle::VisitType::inpatient ? VisitType::inpatient : VisitType::outpatient;
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
  if (r.adm_id != 0) s.adm_id = r.adm_id;
  if (r.stay_lines) s.stay_lines = StayLinesRef{r.stay_lines->lines_upto, r.stay_lines->cancels_upto, r.stay_lines->classb_ratios};
  s.cert_type = static_cast<int>(r.cert_type);
  s.insuplc_admdvs = r.insuplc_admdvs;
  s.facts = visit_facts_json(r.facts);
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
  r.visit = s.visit_type == VisitType::inpatient ? settle::VisitType::inpatient : settle::VisitType::outpatient;
  r.adm_id = s.adm_id.value_or(0);
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
  if (s.stay_lines)
    r.stay_lines = flow::StayLinesRef{s.stay_lines->lines_upto, s.stay_lines->cancels_upto, s.stay_lines->classb_ratios};
  r.created_at = s.created_at_ms;
  if (s.cert_type >= 1 && s.cert_type <= 3) r.cert_type = static_cast<flow::CertType>(s.cert_type);
  r.insuplc_admdvs = s.insuplc_admdvs;
  if (s.facts)
    if (auto f = visit_facts_from_json(*s.facts)) r.facts = std::move(*f);
  return r;
}

namespace {

// A JSON string with every character a JSON string needs escaped.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(u));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Reads the facts' JSON: objects, arrays and strings only (what
// visit_facts_json writes), whitespace between tokens allowed.
class FactsReader {
 public:
  explicit FactsReader(std::string_view t) : t_(t) {}
  std::optional<flow::VisitFacts> read() {
    flow::VisitFacts f;
    bool ok = object([&](const std::string& key) {
      if (key == "diagnoses") return array([&] {
        flow::Diagnosis d;
        const bool got = object([&](const std::string& k) {
          auto v = string();
          if (!v) return false;
          if (k == "code") d.code = *v;
          else if (k == "name") d.name = *v;
          return true;
        });
        if (got) f.diagnoses.push_back(std::move(d));
        return got;
      });
      auto v = string();
      if (!v) return false;
      if (key == "dept_code") f.dept_code = *v;
      else if (key == "dept_name") f.dept_name = *v;
      else if (key == "doctor_code") f.doctor_code = *v;
      else if (key == "doctor_name") f.doctor_name = *v;
      return true;
    });
    space();
    if (!ok || i_ != t_.size()) return std::nullopt;
    return f;
  }

 private:
  void space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::optional<std::string> string() {
    if (!eat('"')) return std::nullopt;
    std::string out;
    while (i_ < t_.size() && t_[i_] != '"') {
      char c = t_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= t_.size()) return std::nullopt;
      const char e = t_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i_ + 4 > t_.size()) return std::nullopt;
          unsigned v = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = t_[i_++];
            v <<= 4;
            if (h >= '0' && h <= '9') v |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') v |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') v |= static_cast<unsigned>(h - 'A' + 10);
            else return std::nullopt;
          }
          if (v >= 0x80) return std::nullopt;  // written raw as UTF-8, never escaped
          out += static_cast<char>(v);
          break;
        }
        default: return std::nullopt;
      }
    }
    if (i_ >= t_.size()) return std::nullopt;
    ++i_;
    return out;
  }
  template <class F>
  bool object(F&& member) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    do {
      auto key = string();
      if (!key || !eat(':') || !member(*key)) return false;
    } while (eat(','));
    return eat('}');
  }
  template <class F>
  bool array(F&& element) {
    if (!eat('[')) return false;
    if (eat(']')) return true;
    do {
      if (!element()) return false;
    } while (eat(','));
    return eat(']');
  }

  std::string_view t_;
  std::size_t i_ = 0;
};

}  // namespace

std::optional<std::string> visit_facts_json(const flow::VisitFacts& f) {
  if (f.empty()) return std::nullopt;
  std::string out = fmt::format("{{\"dept_code\":{},\"dept_name\":{},\"doctor_code\":{},\"doctor_name\":{},\"diagnoses\":[",
                                json_string(f.dept_code), json_string(f.dept_name), json_string(f.doctor_code),
                                json_string(f.doctor_name));
  for (std::size_t i = 0; i < f.diagnoses.size(); ++i)
    out += fmt::format("{}{{\"code\":{},\"name\":{}}}", i == 0 ? "" : ",", json_string(f.diagnoses[i].code),
                       json_string(f.diagnoses[i].name));
  return out + "]}";
}

std::optional<flow::VisitFacts> visit_facts_from_json(std::string_view text) { return FactsReader(text).read(); }

sql::Result<Applied> apply_change(sql::Db& db, const flow::LedgerChange& change, const FlowConventions& conv,
                                  std::int64_t at) {
  using namespace flow;
  if (const auto* w = std::get_if<WriteMsgid>(&change)) {
    Message m;
    m.msgid = w->msgid;
    m.infno = std::string(txn_code(w->txn));
    m.request_id = opt(w->request_id);
    m.psn_no = opt(w->psn_no);
    m.insuplc_admdvs = w->insuplc_admdvs;
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
    if (r->settlement.adm_id != 0)
      SETTLE_SQL_TRY(set_stay_state(db, r->settlement.adm_id, StayState::discharged, at,
                                    fmt::format("discharge settlement {} (online)", *id)));
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
    const bool inpatient = o->settlement.visit == settle::VisitType::inpatient;
    auto now = inpatient ? offline_outstanding(db, VisitType::inpatient) : offline_outstanding_tracked(db);
    if (!now) return now.error();
    if (now->count != o->assumed_count || now->fund != o->assumed_fund) {
      // Made again against the figures of now: it stands if it comes out the same.
      bool same = false;
      if (o->estimate) {
        auto figures = outstanding_figures(db, at, o->settlement.visit);
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
      SETTLE_SQL_TRY(in_doubt_with_reversal(db, *o->in_doubt_msgid, txn_code(inpatient ? Txn::stay_settle : Txn::settle),
                                            o->settlement.psn_no, at));
    if (o->unsent_msgid) SETTLE_SQL_TRY(mark_unsent(db, *o->unsent_msgid, at));
    Settlement row = settlement_row(o->settlement);
    row.receipt_no = conv.receipt_no(o->settlement);
    row.clearing_date = conv.clearing_date(o->settlement.created_at);
    const std::vector<SettlementLine> lines = line_rows(o->settlement.lines);
    auto id = record_settlement(db, row, lines);
    if (!id) return id.error();
    if (inpatient) {
      // A stay's discharge goes to the insurer after its admission and lines (a stay item).
      SETTLE_SQL_TRY(set_stay_state(db, o->settlement.adm_id, StayState::discharged, at,
                                    fmt::format("discharge settlement {} (offline)", *id)));
      auto q = enqueue_stay_item(db, o->settlement.adm_id, StayItemKind::discharge, std::nullopt, *id, false, at, at);
      if (!q) return q.error();
    } else {
      // The upload's local id is the request id, as 2207's medins_setl_id is
      // online: the insurer keeps one effective settlement per id.
      const std::string payload = fmt::format("{{\"local_id\":{}}}", json_text(o->settlement.request_id));
      auto q = enqueue_outbox(db, OutboxKind::offline_upload, *id, std::nullopt, payload, at);
      if (!q) return q.error();
    }
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
                                        u->reopens_adm_id != 0 ? fmt::format("discharge undone (refund {})", *id)
                                                               : fmt::format("undone for re-settlement (refund {})", *id)));
    if (u->reopens_adm_id != 0)
      SETTLE_SQL_TRY(set_stay_state(db, u->reopens_adm_id, StayState::admitted, at,
                                    fmt::format("settlement {} undone (refund {}): open again", u->undo.setl_id, *id)));
    if (u->answer) {
      Answer a = *u->answer;
      if (a.refund) a.refund->refund_id = *id;
      SETTLE_SQL_TRY(answer(db, u->undo.request_id, a, conv, at));
    }
    return Applied{*id, {}};
  }
  if (const auto* ad = std::get_if<RecordAdmission>(&change)) {
    const bool online = ad->stay.mode == settle::Mode::online;
    if (online) SETTLE_SQL_TRY(mark_answered(db, ad->stay.msgid, at, 0));
    if (ad->in_doubt_msgid)
      SETTLE_SQL_TRY(in_doubt_with_reversal(db, *ad->in_doubt_msgid, txn_code(Txn::admit), ad->stay.psn_no, at));
    if (ad->unsent_msgid) SETTLE_SQL_TRY(mark_unsent(db, *ad->unsent_msgid, at));
    auto id = insert_stay(db, ad->stay, at);
    if (!id) return id.error();
    if (!online) {
      auto q = enqueue_stay_item(db, *id, StayItemKind::admission, std::nullopt, std::nullopt, false, at, at);
      if (!q) return q.error();
    }
    Answer a = ad->answer;
    if (a.stay) a.stay->stay.adm_id = *id;
    SETTLE_SQL_TRY(answer(db, ad->stay.request_id, a, conv, at));
    return Applied{*id, {}};
  }
  if (const auto* ln = std::get_if<RecordStayLines>(&change)) {
    const bool adding = !ln->added.empty();
    if (adding) SETTLE_SQL_TRY(add_stay_lines(db, ln->adm_id, ln->request_id, ln->added, at));
    else SETTLE_SQL_TRY(cancel_stay_lines(db, ln->adm_id, ln->request_id, ln->cancelled, at));
    // Pending even when the flow sends it now, due only when the flow's
    // budget is over: if its word that the insurer took it never comes, the
    // forwarder sends it then (2301 and 2302 may be sent again).
    auto q = enqueue_stay_item(db, ln->adm_id, adding ? StayItemKind::lines : StayItemKind::cancel, ln->request_id,
                               std::nullopt, false, at, ln->sending ? std::max(at, ln->sending_until) : at);
    if (!q) return q.error();
    SETTLE_SQL_TRY(answer(db, ln->request_id, ln->answer, conv, at));
    return Applied{*q, {}};
  }
  if (const auto* sent = std::get_if<StayItemSent>(&change)) {
    SETTLE_SQL_TRY(mark_stay_item_sent(db, sent->item_id, sent->taken, at));
    return Applied{};
  }
  if (const auto* ua = std::get_if<RecordUndoAdmission>(&change)) {
    SETTLE_SQL_TRY(close_stay_items(db, ua->adm_id, "the admission was undone", at));
    SETTLE_SQL_TRY(set_stay_state(db, ua->adm_id, StayState::undone, at, fmt::format("admission undone by request {}", ua->request_id)));
    SETTLE_SQL_TRY(answer(db, ua->request_id, ua->answer, conv, at));
    return Applied{ua->adm_id, {}};
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
  if (!flow::reversed_when_lost(m.infno)) {
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

flow::OutstandingFigures outstanding_figures_of(const OfflineOutstanding& o, std::int64_t now_ms) {
  flow::OutstandingFigures f;
  f.fund = o.fund;
  f.count = o.count;
  f.oldest_age_s = o.oldest_created_ms ? std::max<std::int64_t>(0, (now_ms - *o.oldest_created_ms) / 1000) : 0;
  return f;
}

sql::Result<flow::OutstandingFigures> outstanding_figures(sql::Db& db, std::int64_t now_ms, settle::VisitType visit) {
  auto o = visit == settle::VisitType::inpatient ? offline_outstanding(db, VisitType::inpatient) : offline_outstanding_tracked(db);
  if (!o) return o.error();
  return outstanding_figures_of(*o, now_ms);
}

sql::Result<std::optional<flow::StayView>> stay_view(sql::Db& db, std::int64_t adm_id, bool with_lines) {
  auto row = find_stay(db, adm_id);
  if (!row) return row.error();
  if (!row->has_value()) return std::optional<flow::StayView>{};
  flow::StayView v;
  v.stay = (**row).stay;
  v.live_count = (**row).live_count;
  v.live_total = (**row).live_total;
  v.cancelled_count = (**row).cancelled_count;
  auto open = open_stay_items(db, adm_id);
  if (!open) return open.error();
  v.open_items = *open;
  // The standing settlement, without its lines (a discharge's are the
  // stay's, named by reference; an undo takes the whole of it).
  auto standing = standing_stay_settlement(db, adm_id);
  if (!standing) return standing.error();
  if (standing->has_value()) {
    auto o = original_view(db, **standing, false);
    if (!o) return o.error();
    if (o->has_value()) v.settlement = std::move(**o);
  }
  if (with_lines) {
    auto lines = live_lines(db, adm_id);
    if (!lines) return lines.error();
    v.live_lines = std::move(*lines);
  }
  return std::optional<flow::StayView>(std::move(v));
}

sql::Result<std::optional<StayWork>> claim_stay_work(sql::Db& db, std::int64_t now_ms) {
  auto item = claim_stay_item(db, now_ms);
  if (!item) return item.error();
  if (!item->has_value()) return std::optional<StayWork>{};
  StayWork w;
  w.item = **item;
  auto row = find_stay(db, w.item.adm_id);
  if (!row) return row.error();
  SETTLE_ASSERT(row->has_value());
  const flow::StayRecord& st = (**row).stay;
  w.card_sn = st.card_sn;
  flow::InsurerCall& c = w.call;
  c.request_id = st.request_id;
  c.psn_no = st.psn_no;
  c.card_no = st.card_no;
  c.insutype = st.insutype;
  c.med_type = "21";
  c.mdtrt_id = st.mdtrt_id;
  c.adm_id = st.adm_id;
  c.visit_ref = st.request_id;
  c.insuplc_admdvs = st.insuplc_admdvs;  // "" not known: the hospital's
  switch (w.item.kind) {
    case StayItemKind::admission:
      c.txn = flow::Txn::admit;
      c.dept = st.dept;
      c.dept_name = st.dept_name;
      c.diagnosis = st.diagnosis;
      c.diagnosis_name = st.diagnosis_name;
      c.at = st.admit_at;
      break;
    case StayItemKind::lines: {
      c.txn = flow::Txn::stay_lines;
      c.request_id = *w.item.request_id;
      auto lines = batch_lines(db, st.adm_id, *w.item.request_id);
      if (!lines) return lines.error();
      c.stay_lines = std::move(*lines);
      break;
    }
    case StayItemKind::cancel: {
      c.txn = flow::Txn::cancel_lines;
      c.request_id = *w.item.request_id;
      auto sns = batch_cancelled(db, st.adm_id, *w.item.request_id);
      if (!sns) return sns.error();
      c.feedetl_sns = std::move(*sns);
      break;
    }
    case StayItemKind::discharge: {
      c.txn = flow::Txn::upload_offline;
      auto setl = settlement_row(db, *w.item.setl_id);  // the insurer has the stay's lines
      if (!setl) return setl.error();
      SETTLE_ASSERT(setl->has_value());
      const Settlement& s = **setl;
      c.request_id = s.request_id;
      if (s.psn_no) c.psn_no = *s.psn_no;
      if (s.insutype) c.insutype = *s.insutype;
      if (!s.insuplc_admdvs.empty()) c.insuplc_admdvs = s.insuplc_admdvs;
      c.total = s.total;
      c.estimate = Parts{s.total, s.fund, s.account, s.cash};
      c.reason_code = s.offline_reason.value_or("offline_network_down");
      c.at = s.created_at_ms;
      break;
    }
  }
  return std::optional<StayWork>(std::move(w));
}

sql::Result<ForwardVerdict> finish_stay_work(sql::Db& db, const StayWork& work, const flow::InsurerReply& reply, const ForwardPolicy& policy,
                             std::int64_t at_ms) {
  const StayItem& it = work.item;
  // A 2401 taken without a visit id is of no use to what follows it: a
  // refusal, counted, so that it parks for the office like any other.
  const bool no_visit =
      reply.outcome == flow::CallOutcome::ok && it.kind == StayItemKind::admission && reply.mdtrt_id.empty();
  const ForwardAnswer answer = no_visit || reply.outcome == flow::CallOutcome::refused ? ForwardAnswer::refused
                               : reply.outcome == flow::CallOutcome::ok                ? ForwardAnswer::acknowledged
                                                                                       : ForwardAnswer::unanswered;
  const ForwardDecision d = decide_forward(policy, answer, it.attempts, it.refusals, at_ms);
  const std::string why = no_visit ? std::string("2401 answered without a visit id (mdtrt_id)")
                          : answer == ForwardAnswer::refused
                              ? fmt::format("the insurer refused {} (infcode {}): {}", flow::txn_code(work.call.txn),
                                            reply.infcode, reply.detail)
                              : fmt::format("{} not answered: {}", flow::txn_code(work.call.txn), reply.detail);
  switch (d.verdict) {
    case ForwardVerdict::retry:
      SETTLE_SQL_TRY(finish_stay_item(db, it.item_id, StayItemOutcome::retry, at_ms, d.next_attempt_at_ms, why, d.refusals));
      return ForwardVerdict::retry;
    case ForwardVerdict::park:
      SETTLE_SQL_TRY(finish_stay_item(db, it.item_id, StayItemOutcome::park, at_ms, 0, why, d.refusals));
      if (it.kind == StayItemKind::admission)
        SETTLE_SQL_TRY(set_stay_flag(db, it.adm_id,
                                     fmt::format("admission_rejected: {}; the stay's lines and settlement wait for the "
                                                 "insurance office",
                                                 why),
                                     at_ms));
      return ForwardVerdict::park;
    case ForwardVerdict::done: break;
  }
  // Taken by the insurer.
  if (it.kind == StayItemKind::admission) SETTLE_SQL_TRY(set_stay_visit(db, it.adm_id, reply.mdtrt_id, at_ms));
  if (it.kind == StayItemKind::discharge) {
    UploadResult r;
    r.item_id = 0;
    r.setl_id = *it.setl_id;
    r.accepted = reply.rejected.empty();
    r.insurer_setl_id = reply.insurer_id;
    r.mdtrt_id = reply.mdtrt_id.empty() ? work.call.mdtrt_id : reply.mdtrt_id;
    if (r.accepted) {
      r.detail = fmt::format("accepted by the insurer: fund {}", format_amount(reply.parts.fund));
      if (reply.parts.fund != work.call.estimate.fund || reply.parts.cash != work.call.estimate.cash) {
        Adjustment a;
        a.setl_id = r.setl_id;
        a.kind = AdjustmentKind::offline_upload;
        a.local_fund = work.call.estimate.fund;
        a.insurer_fund = reply.parts.fund;
        a.local_account = work.call.estimate.account;
        a.insurer_account = reply.parts.account;
        a.local_cash = work.call.estimate.cash;
        a.insurer_cash = reply.parts.cash;
        a.note = "the insurer's figures for the stay's offline discharge settlement";
        a.created_at_ms = at_ms;
        r.adjustment = a;
      }
    } else {
      r.detail = fmt::format("rejected by the insurer: {}", reply.rejected);
    }
    const std::array<UploadResult, 1> one{r};
    SETTLE_SQL_TRY(record_upload_results(db, one, at_ms));
  }
  SETTLE_SQL_TRY(finish_stay_item(db, it.item_id, StayItemOutcome::done, at_ms, 0,
                                  it.kind == StayItemKind::discharge && !reply.rejected.empty() ? reply.rejected
                                                                                                 : std::string()));
  return ForwardVerdict::done;
}

sql::Result<std::optional<flow::OriginalView>> original_view(sql::Db& db, std::int64_t setl_id, bool with_lines) {
  auto row = settlement_row(db, setl_id);
  if (!row) return row.error();
  if (!row->has_value()) return std::optional<flow::OriginalView>{};
  std::vector<SettlementLine> lines;
  if (with_lines) {
    auto l = settlement_lines_of(db, **row);
    if (!l) return l.error();
    lines = std::move(*l);
  }
  auto refunds = refunds_of(db, setl_id);
  if (!refunds) return refunds.error();
  auto adjustments = adjustments_of(db, setl_id);
  if (!adjustments) return adjustments.error();
  flow::OriginalView v;
  v.settlement = settlement_record(**row, lines);
  for (const Refund& r : *refunds) {
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
  // The figures the settlement counts now: the latest adjustment's, whether
  // the insurer's answer to an offline upload or an approved correction (the
  // same rule as reconciliation and close-outs).
  for (const Adjustment& a : *adjustments)
    v.insurer_parts = Parts{v.settlement.parts.total, a.insurer_fund, a.insurer_account, a.insurer_cash};
  return std::optional<flow::OriginalView>(std::move(v));
}

}  // namespace settle::ledger
