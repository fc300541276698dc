// The audit entry of each cashier call: the object is taken from the params
// (what was asked for) and the result (what was made: setl_id, refund_id,
// adm_id), amounts from the result; an error keeps its reason and, for a
// PIN, only the tries left.
#include "tools/settled/call_audit.hpp"

#include "protocol/cashier/mask.hpp"

#include <fmt/format.h>

#include <variant>

namespace settle::daemon {
namespace {

using cashier::Method;
using json::Json;

std::string text_at(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string text_of(const std::string& s) { return s; }
std::string text_of(std::int64_t n) { return std::to_string(n); }
template <class T>
std::string text_of(const std::optional<T>& v) {
  return v ? text_of(*v) : std::string();
}

// The ids the result adds to the seed's: what the call made or touched.
std::string object_of(const CallAuditSeed& seed, const Json& result) {
  std::vector<std::string> parts = seed.object;
  const auto add = [&parts](std::string_view key, const std::string& value) {
    if (!value.empty()) parts.push_back(fmt::format("{} {}", key, value));
  };
  const Method m = seed.method;
  if (m == Method::settle_commit || m == Method::settle_resettle || m == Method::inpatient_discharge)
    add("setl_id", text_at(result, "setl_id"));
  if (m == Method::inpatient_admit) add("adm_id", text_at(result, "adm_id"));
  if (m == Method::settle_refund) add("refund_id", text_at(result, "refund_id"));
  // Masked as in the logs: the trail names the card and person, an
  // auditor finds them whole through the settlement.
  if (m == Method::card_read) add("card_no", cashier::mask_card_no(text_at(result, "card_no")));
  if (m == Method::person_query || m == Method::account_history)
    add("psn_no", cashier::mask_card_no(text_at(result, "psn_no")));
  if (m == Method::closeout_record) add("closeout_id", text_at(result, "closeout_id"));
  if (m == Method::correction_record) add("correction_id", text_at(result, "correction_id"));
  if (m == Method::outbox_resolve && result.contains("correction"))
    add("correction_id", text_at(result["correction"], "correction_id"));
  std::string out;
  for (const auto& p : parts) {
    if (out.find(p) != std::string::npos) continue;
    if (!out.empty()) out += ", ";
    out += p;
  }
  return out;
}

// The money of a result, for people ("total 169.60 = fund 120.00 + ...").
std::string money_of(const Json& r) {
  const std::string total = !text_at(r, "total").empty() ? text_at(r, "total") : text_at(r, "refund_total");
  if (total.empty()) return "";
  return fmt::format("total {} = fund {} + account {} + cash {}{}", total, text_at(r, "fund"), text_at(r, "account"),
                     text_at(r, "cash"), text_at(r, "mode").empty() ? "" : fmt::format(" ({})", text_at(r, "mode")));
}

std::string detail_of(const CallAuditSeed& seed, const cashier::Reply& reply) {
  const Method m = seed.method;
  if (reply.error) {
    const Json& data = reply.error->data;
    std::string d = reply.error->error.message;
    if (const std::string said = text_at(data, "err_msg"); !said.empty()) d += ": " + said;
    if (m == Method::card_verify_pin) {
      // The message may say more than needed; keep the tries left only.
      const std::string left = text_at(data, "retries_left");
      d = left.empty() ? "PIN not verified" : fmt::format("PIN not verified; {} tries left", left);
    }
    // As on the wire: no personal number, no control character, bounded.
    return cashier::clean_foreign_text(d, 300);
  }
  const Json& r = *reply.result;
  switch (m) {
    case Method::card_verify_pin: return "PIN verified";
    case Method::settle_commit:
    case Method::settle_resettle:
    case Method::settle_refund:
    case Method::inpatient_discharge: return money_of(r);
    case Method::inpatient_undo_discharge: return r.contains("undo") ? money_of(r["undo"]) : "";
    case Method::inpatient_add_lines: return fmt::format("{} lines added", text_at(r, "added"));
    case Method::inpatient_cancel_lines: return fmt::format("{} lines cancelled", text_at(r, "cancelled"));
    case Method::settle_list:
    case Method::inpatient_list: {
      const auto it = r.find(m == Method::settle_list ? "settlements" : "stays");
      return it != r.end() && it->is_array() ? fmt::format("{} rows read", it->size()) : "";
    }
    case Method::closeout_record:
      return fmt::format("{} settlements, {} refunds, cash to hand over {}", text_at(r["settlements"], "count"),
                         text_at(r["refunds"], "count"), text_at(r, "cash_to_hand_over"));
    case Method::correction_approve:
    case Method::correction_refuse: return fmt::format("{} (recorded by {})", text_at(r, "state"), text_at(r, "recorded_by"));
    default: return seed.detail;  // what the params said (audit.list's filters, a note, a correction)
  }
}

}  // namespace

std::optional<CallAuditSeed> call_audit_seed(cashier::Method method, const cashier::MethodParams& params) {
  if (method == Method::engine_status || cashier::answered_by_server(method)) return std::nullopt;
  CallAuditSeed seed;
  seed.method = method;
  const auto add = [&seed](std::string_view key, const std::string& value) {
    if (!value.empty()) seed.object.push_back(fmt::format("{} {}", key, value));
  };
  std::visit(
      [&](const auto& p) {
        if constexpr (requires { p.setl_id; }) add("setl_id", text_of(p.setl_id));
        if constexpr (requires { p.adm_id; }) add("adm_id", text_of(p.adm_id));
        if constexpr (requires { p.request_id; }) add("request_id", text_of(p.request_id));
        if constexpr (requires { p.item_id; }) add("item_id", text_of(p.item_id));
        if constexpr (requires { p.closeout_id; }) add("closeout_id", text_of(p.closeout_id));
        if constexpr (requires { p.correction_id; }) add("correction_id", text_of(p.correction_id));
      },
      params);
  if (const auto* r = std::get_if<cashier::ReconRunParams>(&params)) add("date", r->date);
  if (const auto* a = std::get_if<cashier::AuditListParams>(&params))
    seed.detail = fmt::format("from {} to {}, operator {}, action {}", a->from.value_or("-"), a->to.value_or("-"),
                              a->operator_name.value_or("-"), a->action.value_or("-"));
  if (const auto* o = std::get_if<cashier::OutboxResolveParams>(&params)) seed.detail = o->note;
  if (const auto* c = std::get_if<cashier::CorrectionRecordParams>(&params))
    seed.detail = fmt::format("{} of {}: {}", c->action, c->target, c->reason);
  return seed;
}

ledger::AuditEntry call_audit_entry(const cashier::SessionInfo& session, const CallAuditSeed& seed,
                                    const cashier::Reply& reply, std::int64_t at_ms) {
  ledger::AuditEntry e;
  e.at_ms = at_ms;
  e.operator_name = session.operator_name;
  e.window = session.window;
  e.source = session.source;
  e.action = std::string(cashier::method_name(seed.method));
  // The ids a caller sent are its own words: masked as an error's are.
  e.object = cashier::clean_foreign_text(object_of(seed, reply.result ? *reply.result : Json::object()), 300);
  e.outcome = reply.error ? std::string(reason_name(reply.error->error.reason)) : "ok";
  e.detail = detail_of(seed, reply);
  return e;
}

}  // namespace settle::daemon
