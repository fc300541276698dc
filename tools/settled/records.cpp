// Conversions between engine lines, ledger rows and insurer fee details, and
// the answer of a recorded settlement (see records.hpp).
#include "tools/settled/records.hpp"

#include "engine/reconcile.hpp"
#include "offline/flow_ledger.hpp"
#include "protocol/cashier/mask.hpp"
#include "protocol/engine_json.hpp"

#include <fmt/format.h>

namespace settle::daemon {

using json::Json;

ledger::LineClass ledger_class(LineClass c) { return ledger::row_class(c); }

LineClass engine_class(ledger::LineClass c) { return ledger::flow_class(c); }

std::vector<ledger::SettlementLine> ledger_lines(const Policy& policy, const PolicyParams& params,
                                                 std::span<const ChargeLine> lines) {
  std::vector<ledger::SettlementLine> rows;
  rows.reserve(lines.size());
  for (const ChargeLine& l : lines)
    rows.push_back(ledger::SettlementLine{l.code, l.name, ledger_class(l.cls), l.amount,
                                          l.cls == LineClass::b ? policy.classb_ratio(params, l.code, l.selfpay_ratio)
                                                                : Ratio{}});
  return rows;
}

std::vector<ChargeLine> charge_lines_of(std::span<const ledger::SettlementLine> lines) {
  std::vector<ChargeLine> out;
  out.reserve(lines.size());
  for (const auto& l : lines) {
    ChargeLine c{l.code, l.name, engine_class(l.cls), l.amount, std::nullopt};
    if (c.cls == LineClass::b) c.selfpay_ratio = l.selfpay_ratio;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<insurer::FeeDetail> fee_details(std::span<const ChargeLine> lines, const FeeContext& ctx,
                                            const Policy& policy, const PolicyParams& params) {
  std::vector<insurer::FeeDetail> out;
  out.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const ChargeLine& l = lines[i];
    insurer::FeeDetail d;
    d.feedetl_sn = std::to_string(i + 1);
    d.mdtrt_id = ctx.mdtrt_id;
    d.psn_no = ctx.psn_no;
    d.chrg_bchno = ctx.chrg_bchno;
    d.fee_ocur_time = ctx.fee_time;
    d.med_list_codg = l.code;
    d.medins_list_codg = l.code;
    d.medins_list_name = l.name.empty() ? l.code : l.name;
    d.det_item_fee_sumamt = l.amount;
    d.cnt = std::string(1, '1');  // not a literal: GCC 12 -Wrestrict false positive (PR 105329)
    d.pric = l.amount;
    d.cls = l.cls;
    if (l.cls == LineClass::b) d.selfpay_prop = policy.classb_ratio(params, l.code, l.selfpay_ratio);
    out.push_back(std::move(d));
  }
  return out;
}

flow::VisitFacts visit_facts(const std::optional<cashier::VisitParams>& v) {
  flow::VisitFacts f;
  if (!v) return f;
  f.dept_code = v->dept_code;
  f.dept_name = v->dept_name;
  f.doctor_code = v->doctor_code;
  f.doctor_name = v->doctor_name;
  for (const auto& d : v->diagnoses) f.diagnoses.push_back(flow::Diagnosis{d.code, d.name});
  return f;
}

std::string receipt_no_of(std::string_view msgid) { return fmt::format("R{}", msgid.substr(12)); }

Json commit_answer(const ledger::Settlement& s, std::int64_t setl_id, std::optional<Amount> balance_after) {
  Json reasons = Json::array();
  for (const auto& r : s.reasons) reasons.push_back(r);
  Json j{{"setl_id", std::to_string(setl_id)},
         {"mode", ledger::name(s.mode)},
         {"total", json::amount_value(s.total)},
         {"fund", json::amount_value(s.fund)},
         {"account", json::amount_value(s.account)},
         {"cash", json::amount_value(s.cash)},
         {"reasons", reasons},
         {"receipt_no", s.receipt_no},
         {"state", ledger::name(s.state)}};
  if (balance_after) j["balance_after"] = json::amount_value(*balance_after);
  return j;
}

Json refund_answer(const flow::RefundRecord& r) {
  return Json{{"refund_id", std::to_string(r.refund_id)},
              {"setl_id", std::to_string(r.setl_id)},
              {"refund_total", json::amount_value(r.parts.total)},
              {"fund", json::amount_value(r.parts.fund)},
              {"account", json::amount_value(r.parts.account)},
              {"cash", json::amount_value(r.parts.cash)}};
}

Json stay_answer(const flow::StayRecord& s) {
  Json j{{"adm_id", std::to_string(s.adm_id)},
         {"state", flow::stay_state_name(s.state)},
         {"mode", mode_name(s.mode)},
         {"psn_no", s.psn_no},
         {"insutype", s.insutype},
         {"card_no", cashier::mask_card_no(s.card_no)},
         {"dept", s.dept},
         {"dept_name", s.dept_name},
         {"diagnosis", s.diagnosis},
         {"diagnosis_name", s.diagnosis_name}};
  j["mdtrt_id"] = s.mdtrt_id.empty() ? Json(nullptr) : Json(s.mdtrt_id);
  j["flag"] = s.flag.empty() ? Json(nullptr) : Json(s.flag);
  return j;
}

cashier::Reply reply_of(const flow::Answer& a, const HomeArea& home, AnswerShape shape) {
  if (a.error) {
    // The insurer's refusal carries its own words; a failed re-settlement the undo made.
    Json data = Json::object();
    if (a.refusal) {
      data["infcode"] = a.refusal->infcode;
      data["err_msg"] = a.refusal->err_msg;
    }
    if (a.refund) data["undo"] = refund_answer(*a.refund);
    return cashier::Reply::fail(*a.error, std::move(data));
  }
  if (a.stay && !a.settlement) {
    const flow::StayAnswer& st = *a.stay;
    using Kind = flow::StayAnswer::Kind;
    switch (st.kind) {
      case Kind::admitted: return cashier::Reply::ok(stay_answer(st.stay));
      case Kind::lines_added:
      case Kind::lines_cancelled:
        return cashier::Reply::ok(Json{{"adm_id", std::to_string(st.stay.adm_id)},
                                       {st.kind == Kind::lines_added ? "added" : "cancelled", st.changed},
                                       {"lines_count", st.lines_count},
                                       {"total_so_far", json::amount_value(st.total_so_far)},
                                       {"upload", st.sent ? "sent" : "queued"}});
      case Kind::reopened: {
        Json j{{"adm_id", std::to_string(st.stay.adm_id)}, {"state", "admitted"}};
        if (a.refund) j["undo"] = refund_answer(*a.refund);
        return cashier::Reply::ok(std::move(j));
      }
      case Kind::undone: return cashier::Reply::ok(Json{{"adm_id", std::to_string(st.stay.adm_id)}, {"state", "undone"}});
    }
  }
  if (a.settlement) {
    ledger::Settlement row = ledger::settlement_row(*a.settlement);
    row.receipt_no = a.settlement->receipt_no;
    const bool online = a.settlement->mode == Mode::online;
    Json settled = commit_answer(row, a.settlement->setl_id, online ? std::optional<Amount>(a.balance_after) : std::nullopt);
    if (a.settlement->visit == VisitType::inpatient) {
      settled["visit"] = "inpatient";
      settled["adm_id"] = std::to_string(a.settlement->adm_id);
    }
    // 1.3: the credential, the person's insured area, and the insurer's preview when it differed.
    const flow::SettlementRecord& rec = *a.settlement;
    settled["cert_type"] = flow::cert_type_name(rec.cert_type);
    settled["insuplc_admdvs"] = rec.insuplc_admdvs.empty() ? home.insurer_area : rec.insuplc_admdvs;
    settled["cross_region"] = recon::cross_region(rec.insuplc_admdvs, home.area, home.insurer_area);
    if (a.insurer_preview) {
      settled["insurer_preview"] = Json{{"total", json::amount_value(a.insurer_preview->total)},
                                        {"fund", json::amount_value(a.insurer_preview->fund)},
                                        {"account", json::amount_value(a.insurer_preview->account)},
                                        {"cash", json::amount_value(a.insurer_preview->cash)}};
      settled["preview_differs"] = a.preview_differs;
    }
    if (!a.refund) return cashier::Reply::ok(std::move(settled));
    if (shape == AnswerShape::refund) {
      // A refund of part made as the whole undo and a new settlement (the
      // national profile): the money back net of both, as a refund answers it,
      // and the new settlement of the kept lines.
      Json back = refund_answer(*a.refund);
      back["settlement"] = std::move(settled);
      return cashier::Reply::ok(std::move(back));
    }
    // A re-settlement: the undo, the new settlement, and the cash back (negative: the patient pays).
    return cashier::Reply::ok(Json{{"undo", refund_answer(*a.refund)},
                                   {"settlement", std::move(settled)},
                                   {"cash_back", json::amount_value(a.refund->parts.cash - a.settlement->parts.cash)}});
  }
  SETTLE_ASSERT(a.refund.has_value());
  return cashier::Reply::ok(refund_answer(*a.refund));
}

}  // namespace settle::daemon
