// Insurer calls of the flows as transactions, and their replies
// (insurer_calls.hpp).
#include "tools/settled/insurer_calls.hpp"

#include "tools/settled/records.hpp"

#include <fmt/format.h>

namespace settle::daemon {

using json::Json;

EncodedCall encode_call(const flow::InsurerCall& c, const Policy& policy, std::int64_t now_ms) {
  EncodedCall out;
  const std::string visit_no = c.visit_ref.size() > 12 ? c.visit_ref.substr(12) : c.visit_ref;
  const std::string batch = "B" + visit_no;
  const std::string at_text = insurer::inf_time_text(now_ms / 1000);
  const std::string when = insurer::inf_time_text((c.at != 0 ? c.at : now_ms) / 1000);
  // The lines' details with the policy's class B ratios (of the visit type).
  const auto details = [&](std::span<const ChargeLine> lines, VisitType visit, const std::string& mdtrt_id,
                           const std::string& chrg_bchno) -> std::optional<std::vector<insurer::FeeDetail>> {
    const PolicyParams* params = policy.find(c.insutype, visit);
    if (params == nullptr) {
      out.cannot = fmt::format("no policy for insurance type \"{}\", {} visits", c.insutype, visit_type_name(visit));
      return std::nullopt;
    }
    return fee_details(lines, FeeContext{mdtrt_id, c.psn_no, chrg_bchno, at_text}, policy, *params);
  };
  // The credential the patient was identified by: the card (its number), the
  // e-voucher's token or the ID number (mdtrt_cert_type 03 / 01 / 02).
  const std::string cert_type(flow::cert_type_code(c.cert_type));
  const std::string cert_no = c.cert_type == flow::CertType::card && c.cert_no.empty() ? c.card_no : c.cert_no;
  const flow::VisitFacts& f = c.facts;
  const auto settle_input = [&](bool inpatient) {
    insurer::SettleInput s;
    s.psn_no = c.psn_no;
    s.mdtrt_cert_type = cert_type;
    s.mdtrt_cert_no = cert_no;
    s.med_type = c.med_type.empty() ? (inpatient ? "21" : "11") : c.med_type;
    s.medfee_sumamt = c.total;
    s.mdtrt_id = c.mdtrt_id;
    s.chrg_bchno = inpatient ? std::string() : batch;  // inpatient: every live line of the stay
    s.insutype = c.insutype;
    s.acct_used_flag = c.use_account ? "1" : "0";
    s.medins_setl_id = c.request_id;
    // The national profile's cap on the account (a refund of part settled anew).
    if (c.acct_cap) s.exp_content.acct_pay_max = *c.acct_cap;
    return s;
  };
  switch (c.txn) {
    case flow::Txn::register_visit: {
      insurer::OutpatientRegister::Input reg;
      reg.psn_no = c.psn_no;
      reg.insutype = c.insutype;
      reg.mdtrt_cert_type = cert_type;
      reg.mdtrt_cert_no = cert_no;
      reg.med_type = c.med_type.empty() ? "11" : c.med_type;
      reg.ipt_otp_no = visit_no;
      reg.begntime = at_text;
      // The visit's facts when the cashier gave them; else the outpatient department as a whole.
      reg.dept_code = f.dept_code.empty() ? "OP" : f.dept_code;
      reg.dept_name = !f.dept_name.empty() ? f.dept_name : f.dept_code.empty() ? "门诊" : f.dept_code;
      reg.atddr_no = f.doctor_code;
      reg.dr_name = f.doctor_name;
      if (!f.diagnoses.empty()) {
        reg.dise_codg = f.diagnoses.front().code;
        reg.dise_name = f.diagnoses.front().name;
      }
      out.infno = std::string(insurer::OutpatientRegister::infno);
      out.input = reg.encode();
      break;
    }
    case flow::Txn::upload_lines: {
      auto d = details(c.lines, VisitType::outpatient, c.mdtrt_id, batch);
      if (!d) return out;
      insurer::OutpatientLines::Input up;
      up.feedetail = std::move(*d);
      out.infno = std::string(insurer::OutpatientLines::infno);
      out.input = up.encode();
      break;
    }
    case flow::Txn::settle:
    case flow::Txn::stay_settle: {
      const bool inpatient = c.txn == flow::Txn::stay_settle;
      out.infno = std::string(inpatient ? insurer::InpatientSettle::infno : insurer::OutpatientSettle::infno);
      out.input = settle_input(inpatient).encode();
      break;
    }
    case flow::Txn::preview:
    case flow::Txn::stay_preview: {
      // The insurer's split before the settle call (2206 / 2303): the settle call's input.
      const bool inpatient = c.txn == flow::Txn::stay_preview;
      out.infno = std::string(inpatient ? insurer::InpatientPreview::infno : insurer::OutpatientPreview::infno);
      out.input = settle_input(inpatient).encode();
      break;
    }
    case flow::Txn::undo:
    case flow::Txn::stay_undo: {
      insurer::UndoInput u;
      u.setl_id = c.insurer_setl_id;
      u.mdtrt_id = c.mdtrt_id;
      u.psn_no = c.psn_no;
      out.infno = std::string(c.txn == flow::Txn::stay_undo ? insurer::InpatientUndo::infno : insurer::OutpatientUndo::infno);
      out.input = u.encode();
      break;
    }
    case flow::Txn::refund: {
      insurer::PartialRefund::Input r;
      r.setl_id = c.insurer_setl_id;
      r.psn_no = c.psn_no;
      r.mdtrt_cert_no = cert_no;
      r.medins_refd_id = c.request_id;
      for (const auto& l : c.refund_lines) r.lines.push_back(insurer::RefundLine{l.code, l.amount});
      out.infno = std::string(insurer::PartialRefund::infno);
      out.input = r.encode();
      break;
    }
    case flow::Txn::admit: {
      insurer::Admission::Input a;
      a.psn_no = c.psn_no;
      a.insutype = c.insutype;
      a.mdtrt_cert_type = cert_type;
      a.mdtrt_cert_no = cert_no;
      a.med_type = "21";
      a.atddr_no = f.doctor_code;
      a.dr_name = f.doctor_name;
      a.ipt_otp_no = c.request_id;  // the admission's request id: the insurer admits one stay per number
      a.begntime = when;
      a.dept_code = c.dept;
      a.dept_name = c.dept_name.empty() ? c.dept : c.dept_name;
      a.dise_codg = c.diagnosis;
      a.dise_name = c.diagnosis_name;
      out.infno = std::string(insurer::Admission::infno);
      out.input = a.encode();
      break;
    }
    case flow::Txn::stay_lines: {
      std::vector<ChargeLine> lines;
      lines.reserve(c.stay_lines.size());
      for (const flow::StayLine& l : c.stay_lines) lines.push_back(l.line);
      auto d = details(lines, VisitType::inpatient, c.mdtrt_id, "S" + std::to_string(c.adm_id));
      if (!d) return out;
      for (std::size_t i = 0; i < d->size(); ++i) (*d)[i].feedetl_sn = c.stay_lines[i].feedetl_sn;
      insurer::InpatientLines::Input up;
      up.feedetail = std::move(*d);
      out.infno = std::string(insurer::InpatientLines::infno);
      out.input = up.encode();
      break;
    }
    case flow::Txn::cancel_lines: {
      insurer::CancelLines::Input x;
      x.mdtrt_id = c.mdtrt_id;
      x.psn_no = c.psn_no;
      x.feedetl_sn = c.feedetl_sns;
      out.infno = std::string(insurer::CancelLines::infno);
      out.input = x.encode();
      break;
    }
    case flow::Txn::discharge: {
      insurer::Discharge::Input d;
      d.mdtrt_id = c.mdtrt_id;
      d.psn_no = c.psn_no;
      d.insutype = c.insutype;
      d.endtime = when;
      out.infno = std::string(insurer::Discharge::infno);
      out.input = d.encode();
      break;
    }
    case flow::Txn::undo_admit: {
      insurer::UndoAdmission::Input u;
      u.mdtrt_id = c.mdtrt_id;
      u.psn_no = c.psn_no;
      out.infno = std::string(insurer::UndoAdmission::infno);
      out.input = u.encode();
      break;
    }
    case flow::Txn::upload_offline: {
      insurer::OfflineRecord rec;
      rec.local_id = c.request_id;
      rec.psn_no = c.psn_no;
      rec.card_no = c.card_no;
      rec.insutype = c.insutype;
      rec.med_type = "21";
      rec.mdtrt_id = c.mdtrt_id;
      rec.setl_time = when;
      rec.reason_code = c.reason_code;
      rec.medfee_sumamt = c.total;
      rec.est_fund_pay = c.estimate.fund;
      rec.psn_cash_pay = c.estimate.cash;
      insurer::OfflineUpload::Input in;
      in.records.push_back(std::move(rec));
      out.infno = std::string(insurer::OfflineUpload::infno);
      out.input = in.encode();
      break;
    }
    case flow::Txn::person:
    case flow::Txn::reversal: SETTLE_ASSERT(false && "not a flow's call"); break;
  }
  return out;
}

flow::InsurerReply reply_of(flow::Txn txn, const CallResult& r, const std::string& given_msgid) {
  flow::InsurerReply out;
  out.detail = r.detail;
  const bool money = flow::reversed_when_lost(txn);
  if (money && !r.msgid.empty() && r.msgid != given_msgid) out.carried_by = r.msgid;
  switch (r.kind) {
    case insurer::OutcomeClass::unreachable:
      out.outcome = flow::CallOutcome::unreachable;
      out.clock_refused = r.clock_refused;
      return out;
    case insurer::OutcomeClass::in_doubt: out.outcome = flow::CallOutcome::in_doubt; return out;
    case insurer::OutcomeClass::answered: break;
  }
  if (!r.response || r.response->infcode != insurer::infcode_ok) {
    out.outcome = flow::CallOutcome::refused;
    out.system_error = r.error_page;  // an error page, not the insurer's answer
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
    case flow::Txn::upload_lines:
    case flow::Txn::stay_lines:
    case flow::Txn::cancel_lines:
    case flow::Txn::discharge:
    case flow::Txn::undo_admit: return out;
    case flow::Txn::admit: {
      auto o = insurer::Admission::Output::decode(output);
      if (!o) return unreadable(o.error().message);
      out.mdtrt_id = o->mdtrt_id;
      return out;
    }
    case flow::Txn::upload_offline: {
      auto o = insurer::OfflineUpload::Output::decode(output);
      if (!o) return unreadable(o.error().message);
      if (o->results.size() != 1) return unreadable(fmt::format("{} results for one record", o->results.size()));
      const insurer::OfflineResult& res = o->results.front();
      if (res.status == "accepted") {
        out.insurer_id = res.setl_id;
        out.mdtrt_id = res.mdtrt_id;
        out.parts = Parts{res.medfee_sumamt, res.fund_pay_sumamt, res.acct_pay, res.psn_cash_pay};
      } else {
        out.rejected = fmt::format("{}: {}", res.rej_reason, res.err_msg);
      }
      return out;
    }
    case flow::Txn::preview:
    case flow::Txn::stay_preview:
    case flow::Txn::stay_settle:
    case flow::Txn::settle: {
      // A preview (2206 / 2303) settles nothing: its reply has no setl_id.
      const bool preview = txn == flow::Txn::preview || txn == flow::Txn::stay_preview;
      auto o = preview ? insurer::SettleOutput::decode_preview(output) : insurer::SettleOutput::decode(output);
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
    case flow::Txn::stay_undo:
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

}  // namespace settle::daemon
