// Answer wording and the JSON shapes of settlements and refunds.
#include "tools/settled/replies.hpp"

#include "engine/flow.hpp"
#include "protocol/cashier/mask.hpp"
#include "tools/settled/clock.hpp"

#include <fmt/format.h>

#include <charconv>

namespace settle::daemon {

using json::Json;

std::string answer_text(const Reply& r) {
  if (r.result) return cashier::dump(Json{{"result", *r.result}});
  const cashier::RpcError& e = *r.error;
  return cashier::dump(Json{{"error",
                             {{"reason", reason_name(e.error.reason)},
                              {"field", e.error.field},
                              {"message", e.error.message},
                              {"data", e.data}}}});
}

Reply stored_reply(std::string_view text) {
  auto j = json::parse(text, "stored answer");
  if (!j || !j->is_object())
    return Reply::fail(make_error(Reason::internal, "request_id", "the stored answer of this request is unreadable"));
  if (const Json* res = json::find(*j, "result")) return Reply::ok(*res);
  const Json* e = json::find(*j, "error");
  if (e == nullptr || !e->is_object())
    return Reply::fail(make_error(Reason::internal, "request_id", "the stored answer of this request is unreadable"));
  const auto reason = reason_from_name(e->value("reason", std::string("INTERNAL"))).value_or(Reason::internal);
  Json data = e->contains("data") ? (*e)["data"] : Json::object();
  data.erase("reason");
  data.erase("field");
  return Reply::fail(make_error(reason, e->value("field", std::string()), e->value("message", std::string())),
                     std::move(data));
}

std::string_view outcome_label(const CallResult& r) {
  switch (r.kind) {
    case insurer::OutcomeClass::answered: return r.succeeded() ? "answered" : "rejected";
    case insurer::OutcomeClass::unreachable: return "unreachable";
    case insurer::OutcomeClass::in_doubt: return "in_doubt";
  }
  return "unknown";
}

std::string_view failure_label(Reason r) {
  switch (r) {
    case Reason::insurer_rejected: return "rejected";
    case Reason::in_doubt: return "in_doubt";
    case Reason::insurer_unreachable:
    case Reason::offline_refund_forbidden: return "unreachable";
    case Reason::storage_failed:
    case Reason::internal: return "error";
    default: return "refused";
  }
}

Error unanswered_error(const CallResult& r) {
  // Only calls that move money are in doubt; a query without a reply changed nothing.
  if (r.kind == insurer::OutcomeClass::in_doubt && !moves_money(r.infno))
    return make_error(Reason::insurer_unreachable, "insurer",
                      fmt::format("the insurer did not answer {} in time ({}); nothing was charged, ask again", r.infno,
                                  r.detail));
  if (r.kind == insurer::OutcomeClass::in_doubt)
    return make_error(Reason::in_doubt, "insurer",
                      fmt::format("the insurer did not answer {} (msgid {}): {}; it is being reversed", r.infno,
                                  r.msgid, r.detail));
  return make_error(Reason::insurer_unreachable, "insurer",
                    fmt::format("the insurer is unreachable, nothing was sent ({}): {}", r.infno, r.detail));
}

Error rejected_error(const CallResult& r) {
  // Our words first, then the insurer's, cleaned, masked and bounded.
  const std::int64_t code = r.response ? r.response->infcode : insurer::infcode_error;
  const std::string said = cashier::clean_foreign_text(r.response ? r.response->err_msg : r.detail, 200);
  return make_error(Reason::insurer_rejected, "insurer",
                    fmt::format("the insurer refused {} (infcode {}): {}", r.infno, code, said));
}

Reply rejected_reply(const CallResult& r) {
  // The insurer's own words go in err_msg only (the server cleans and masks them).
  const std::int64_t code = r.response ? r.response->infcode : insurer::infcode_error;
  return Reply::fail(make_error(Reason::insurer_rejected, "insurer",
                                fmt::format("the insurer refused {} (infcode {}); its message is in err_msg", r.infno,
                                            code)),
                     Json{{"infcode", code}, {"err_msg", r.response ? r.response->err_msg : r.detail}});
}

std::optional<std::int64_t> parse_setl_id(std::string_view s) {
  std::int64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

Json settlement_summary_json(const ledger::Settlement& s) {
  Json reasons = Json::array();
  for (const auto& r : s.reasons) reasons.push_back(r);
  return Json{{"setl_id", std::to_string(s.setl_id)},
              {"receipt_no", s.receipt_no},
              {"time", iso_time(s.created_at_ms)},
              {"window", s.window_id},
              {"operator", s.operator_id},
              {"card_no", s.card_no},
              {"mode", ledger::name(s.mode)},
              {"state", ledger::name(s.state)},
              {"total", json::amount_value(s.total)},
              {"fund", json::amount_value(s.fund)},
              {"account", json::amount_value(s.account)},
              {"cash", json::amount_value(s.cash)},
              {"reasons", reasons}};
}

Json refund_json(const ledger::Refund& r) {
  Json lines = Json::array();
  for (const auto& l : r.lines) lines.push_back(Json{{"code", l.code}, {"amount", json::amount_value(l.amount)}});
  return Json{{"refund_id", std::to_string(r.refund_id)},
              {"setl_id", std::to_string(r.setl_id)},
              {"time", iso_time(r.created_at_ms)},
              {"refund_total", json::amount_value(r.total)},
              {"fund", json::amount_value(r.fund)},
              {"account", json::amount_value(r.account)},
              {"cash", json::amount_value(r.cash)},
              {"insurer_refund_id", r.insurer_refund_id ? Json(*r.insurer_refund_id) : Json(nullptr)},
              {"msgid", r.msgid ? Json(*r.msgid) : Json(nullptr)},
              {"lines", lines}};
}

json::Json time_or_null(const std::optional<std::int64_t>& unix_ms) {
  return unix_ms ? json::Json(iso_time(*unix_ms)) : json::Json(nullptr);
}

Result<std::optional<std::int64_t>> list_bound(const std::optional<std::string>& text, std::string_view field,
                                               bool end) {
  if (!text) return std::optional<std::int64_t>{};
  const auto at = parse_iso_time(*text);
  if (!at)
    return make_error(Reason::invalid_request, std::string(field),
                      fmt::format("{}: expected a date or an ISO 8601 time with offset", field));
  return std::optional<std::int64_t>(end && text->size() == 10 ? *at + 86'400'000 : *at);
}

Json settlement_detail_json(const ledger::SettlementDetail& d, bool /*auditor*/) {
  const ledger::Settlement& s = d.settlement;
  Json j = settlement_summary_json(s);
  j["psn_no"] = s.psn_no ? Json(*s.psn_no) : Json(nullptr);
  j["insutype"] = s.insutype ? Json(*s.insutype) : Json(nullptr);
  j["med_type"] = s.med_type;
  j["fulamt_ownpay"] = json::amount_value(s.fulamt_ownpay);
  j["preselfpay"] = json::amount_value(s.preselfpay);
  j["inscp"] = json::amount_value(s.inscp);
  j["deductible_part"] = json::amount_value(s.deductible_part);
  j["insurer"] = Json{{"setl_id", s.insurer_setl_id ? Json(*s.insurer_setl_id) : Json(nullptr)},
                      {"mdtrt_id", s.mdtrt_id ? Json(*s.mdtrt_id) : Json(nullptr)},
                      {"msgid", s.msgid ? Json(*s.msgid) : Json(nullptr)}};
  j["clearing_date"] = s.clearing_date;
  j["offline_reason"] = s.offline_reason ? Json(*s.offline_reason) : Json(nullptr);
  j["resettles_setl_id"] = s.resettles_setl_id ? Json(std::to_string(*s.resettles_setl_id)) : Json(nullptr);
  // 1.3: the credential (never its number but the card's), the insured area ("" before schema v11), the visit.
  const auto cert = s.cert_type >= 1 && s.cert_type <= 3 ? std::optional(static_cast<flow::CertType>(s.cert_type))
                                                          : std::nullopt;
  j["cert_type"] = cert ? Json(flow::cert_type_name(*cert)) : Json(nullptr);
  j["insuplc_admdvs"] = s.insuplc_admdvs;
  if (s.facts) {
    auto facts = json::parse(*s.facts, "facts");
    j["visit"] = facts ? *facts : Json(nullptr);
  }
  Json lines = Json::array();
  for (const auto& l : d.lines) {
    Json line{{"code", l.code}, {"name", l.name}, {"class", ledger::name(l.cls)}, {"amount", json::amount_value(l.amount)}};
    if (l.cls == ledger::LineClass::b) line["selfpay_ratio"] = format_ratio(l.selfpay_ratio);
    lines.push_back(std::move(line));
  }
  j["lines"] = lines;
  Json refunds = Json::array();
  for (const auto& r : d.refunds) refunds.push_back(refund_json(r));
  j["refunds"] = refunds;
  Json adjustments = Json::array();
  for (const auto& a : d.adjustments)
    adjustments.push_back(Json{{"kind", ledger::name(a.kind)},
                               {"local_fund", json::amount_value(a.local_fund)},
                               {"insurer_fund", json::amount_value(a.insurer_fund)},
                               {"local_account", json::amount_value(a.local_account)},
                               {"insurer_account", json::amount_value(a.insurer_account)},
                               {"local_cash", json::amount_value(a.local_cash)},
                               {"insurer_cash", json::amount_value(a.insurer_cash)},
                               {"note", a.note},
                               {"time", iso_time(a.created_at_ms)}});
  j["adjustments"] = adjustments;
  Json uploads = Json::array();
  for (const auto& o : d.outbox)
    uploads.push_back(Json{{"kind", ledger::name(o.kind)},
                           {"state", ledger::name(o.state)},
                           {"attempts", o.attempts},
                           {"last_error", o.last_error ? Json(*o.last_error) : Json(nullptr)}});
  j["uploads"] = uploads;
  Json history = Json::array();
  for (const auto& e : d.events)
    history.push_back(Json{{"time", iso_time(e.at_ms)},
                           {"from", e.from_state ? Json(*e.from_state) : Json(nullptr)},
                           {"to", e.to_state},
                           {"detail", e.detail}});
  j["history"] = history;
  return j;
}

}  // namespace settle::daemon
