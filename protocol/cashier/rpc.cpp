// The JSON-RPC envelope of the cashier API: method names written once, the
// request line checks in the order a client would fix them, and an exact
// writer that keeps raw numbers (echoed ids) as their own text.
#include "protocol/cashier/rpc.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace settle::cashier {
namespace {

struct MethodInfo {
  Method method;
  std::string_view name;
  bool mutating;
};

constexpr std::array<MethodInfo, method_count> kMethods{{
    {Method::session_login, "session.login", false},
    {Method::session_logout, "session.logout", false},
    {Method::engine_status, "engine.status", false},
    {Method::events_subscribe, "events.subscribe", false},
    {Method::card_read, "card.read", false},
    {Method::card_verify_pin, "card.verify_pin", false},
    {Method::person_query, "person.query", false},
    {Method::account_history, "account.history", false},
    {Method::settle_preview, "settle.preview", false},
    {Method::settle_commit, "settle.commit", true},
    {Method::settle_refund, "settle.refund", true},
    {Method::settle_resettle, "settle.resettle", true},
    {Method::settle_get, "settle.get", false},
    {Method::settle_list, "settle.list", false},
    {Method::inpatient_admit, "inpatient.admit", true},
    {Method::inpatient_add_lines, "inpatient.add_lines", true},
    {Method::inpatient_preview, "inpatient.preview", false},
    {Method::inpatient_discharge, "inpatient.discharge", true},
    {Method::inpatient_undo_discharge, "inpatient.undo_discharge", true},
    {Method::inpatient_cancel_lines, "inpatient.cancel_lines", true},
    {Method::inpatient_undo_admit, "inpatient.undo_admit", true},
    {Method::inpatient_get, "inpatient.get", false},
    {Method::inpatient_list, "inpatient.list", false},
    {Method::recon_run, "recon.run", false},
    {Method::uploads_flush, "uploads.flush", false},
    {Method::redlist_sync, "redlist.sync", false},
    {Method::outbox_parked, "outbox.parked", false},
    {Method::outbox_retry, "outbox.retry", false},
    {Method::outbox_resolve, "outbox.resolve", false},
    {Method::session_change_password, "session.change_password", false},
    {Method::operator_list, "operator.list", false},
    {Method::operator_add, "operator.add", false},
    {Method::operator_reset_password, "operator.reset_password", false},
    {Method::operator_unlock, "operator.unlock", false},
    {Method::operator_set_role, "operator.set_role", false},
    {Method::operator_disable, "operator.disable", false},
    {Method::operator_enable, "operator.enable", false},
    {Method::audit_list, "audit.list", false},
    {Method::settle_sheet, "settle.sheet", false},
    {Method::closeout_preview, "closeout.preview", false},
    {Method::closeout_record, "closeout.record", false},
    {Method::closeout_get, "closeout.get", false},
    {Method::closeout_list, "closeout.list", false},
    {Method::closeout_sheet, "closeout.sheet", false},
    {Method::correction_record, "correction.record", false},
    {Method::correction_approve, "correction.approve", false},
    {Method::correction_refuse, "correction.refuse", false},
    {Method::correction_list, "correction.list", false},
    {Method::work_list, "work.list", false},
    {Method::outage_list, "outage.list", false},
    {Method::outage_get, "outage.get", false},
    {Method::outage_note, "outage.note", false},
    {Method::notice_get, "notice.get", false},
    {Method::reentry_record, "reentry.record", false},
    {Method::reentry_approve, "reentry.approve", false},
    {Method::reentry_refuse, "reentry.refuse", false},
    {Method::reentry_list, "reentry.list", false},
    {Method::reentry_get, "reentry.get", false},
    {Method::outage_record, "outage.record", false},
    {Method::session_list, "session.list", false},
    {Method::credential_scan, "credential.scan", false},
    {Method::credential_id, "credential.id", false},
}};

// Longest string id echoed back; longer ids are refused (id null).
constexpr std::size_t kMaxIdLen = 256;
// Longest unknown method name quoted in an error message.
constexpr std::size_t kMaxQuotedMethodLen = 64;

LineError envelope_error(Json id, int code, std::string field, std::string message) {
  return LineError{std::move(id),
                   RpcError{code, make_error(Reason::invalid_request, std::move(field), std::move(message)),
                            Json::object()}};
}

ParsedLine fail(LineError e) { return ParsedLine{std::nullopt, std::move(e)}; }

bool valid_id(const Json& id) {
  if (id.is_null() || id.is_number_integer() || json::is_raw_number(id)) return true;
  return id.is_string() && id.get_ref<const std::string&>().size() <= kMaxIdLen;
}

void dump_to(const Json& v, std::string& out) {
  if (json::is_raw_number(v)) {
    out += json::raw_number_text(v);
    return;
  }
  switch (v.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, member] : v.items()) {
        if (!first) out += ',';
        first = false;
        out += Json(k).dump(-1, ' ', false, Json::error_handler_t::replace);
        out += ':';
        dump_to(member, out);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& member : v) {
        if (!first) out += ',';
        first = false;
        dump_to(member, out);
      }
      out += ']';
      return;
    }
    case Json::value_t::binary:
      SETTLE_ASSERT(false && "binary values other than raw numbers are never written");
      return;
    default:
      out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
      return;
  }
}

}  // namespace

std::string_view method_name(Method m) noexcept {
  for (const auto& info : kMethods)
    if (info.method == m) return info.name;
  return "?";
}

std::optional<Method> method_from_name(std::string_view name) noexcept {
  for (const auto& info : kMethods)
    if (info.name == name) return info.method;
  return std::nullopt;
}

bool is_mutating(Method m) noexcept {
  for (const auto& info : kMethods)
    if (info.method == m) return info.mutating;
  return false;
}

int code_for_params_error(const Error& e) noexcept {
  if (e.reason == Reason::invalid_request) return rpc_invalid_params;
  return reason_rpc_code(e.reason);
}

RpcError domain_error(Error e, Json extra_data) {
  const int code = reason_rpc_code(e.reason);
  return RpcError{code, std::move(e), extra_data.is_object() ? std::move(extra_data) : Json::object()};
}

ParsedLine parse_request_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto doc = json::parse(line, "request");
  if (!doc) return fail(envelope_error(nullptr, rpc_parse_error, "", doc.error().message));
  Json& j = *doc;
  if (j.is_array())
    return fail(envelope_error(nullptr, rpc_invalid_request, "", "batch requests are not supported: send one request per line"));
  if (!j.is_object())
    return fail(envelope_error(nullptr, rpc_invalid_request, "",
                               fmt::format("a request must be a JSON object, got {}", json::type_name(j))));

  const Json* id = json::find(j, "id");
  if (id == nullptr)
    return fail(envelope_error(nullptr, rpc_invalid_request, "id",
                               "id: required field is missing (every request is answered, notifications are not accepted)"));
  if (!valid_id(*id))
    return fail(envelope_error(nullptr, rpc_invalid_request, "id",
                               id->is_string() ? fmt::format("id: longer than {} characters", kMaxIdLen)
                                               : fmt::format("id: expected a string, an integer or null, got {}",
                                                             json::type_name(*id))));
  Json echo_id = *id;

  const Json* version = json::find(j, "jsonrpc");
  if (version == nullptr)
    return fail(envelope_error(std::move(echo_id), rpc_invalid_request, "jsonrpc", "jsonrpc: required field is missing (\"2.0\")"));
  if (!version->is_string() || version->get_ref<const std::string&>() != "2.0")
    return fail(envelope_error(std::move(echo_id), rpc_invalid_request, "jsonrpc", "jsonrpc: must be the string \"2.0\""));

  const Json* method = json::find(j, "method");
  if (method == nullptr)
    return fail(envelope_error(std::move(echo_id), rpc_invalid_request, "method", "method: required field is missing"));
  if (!method->is_string())
    return fail(envelope_error(std::move(echo_id), rpc_invalid_request, "method",
                               fmt::format("method: expected a string, got {}", json::type_name(*method))));

  Json params = Json::object();
  if (const Json* p = json::find(j, "params"); p != nullptr) {
    if (!p->is_object())
      return fail(envelope_error(std::move(echo_id), rpc_invalid_request, "params",
                                 fmt::format("params: expected an object, got {}", json::type_name(*p))));
    params = *p;
  }

  for (const auto& [key, value] : j.items()) {
    if (key != "jsonrpc" && key != "method" && key != "params" && key != "id")
      return fail(envelope_error(std::move(echo_id), rpc_invalid_request, key,
                                 fmt::format("{}: not a JSON-RPC 2.0 request member", key.substr(0, kMaxQuotedMethodLen))));
  }

  const auto& name = method->get_ref<const std::string&>();
  const auto m = method_from_name(name);
  if (!m) {
    std::string quoted = name.substr(0, kMaxQuotedMethodLen);
    return fail(envelope_error(std::move(echo_id), rpc_method_not_found, "method",
                               fmt::format("method: unknown method \"{}\"", quoted)));
  }
  return ParsedLine{Request{std::move(echo_id), *m, std::move(params)}, std::nullopt};
}

Json error_object(const RpcError& e) {
  Json data = Json::object();
  data["reason"] = std::string(reason_name(e.error.reason));
  if (!e.error.field.empty()) data["field"] = e.error.field;
  if (e.data.is_object())
    for (const auto& [k, v] : e.data.items())
      if (k != "reason" && k != "field") data[k] = v;
  Json obj = Json::object();
  obj["code"] = e.code;
  obj["message"] = e.error.message.empty() ? std::string(reason_name(e.error.reason)) : e.error.message;
  obj["data"] = std::move(data);
  return obj;
}

std::string dump(const Json& v) {
  std::string out;
  dump_to(v, out);
  return out;
}

std::string encode_result(const Json& id, const Json& result) {
  std::string out = "{\"jsonrpc\":\"2.0\",\"id\":";
  dump_to(id, out);
  out += ",\"result\":";
  dump_to(result, out);
  out += "}\n";
  return out;
}

std::string encode_error(const Json& id, const RpcError& e) {
  std::string out = "{\"jsonrpc\":\"2.0\",\"id\":";
  dump_to(id, out);
  out += ",\"error\":";
  dump_to(error_object(e), out);
  out += "}\n";
  return out;
}

std::string encode_notification(std::string_view method, const Json& params) {
  std::string out = "{\"jsonrpc\":\"2.0\",\"method\":";
  out += Json(std::string(method)).dump(-1, ' ', false, Json::error_handler_t::replace);
  out += ",\"params\":";
  dump_to(params.is_null() ? Json::object() : params, out);
  out += "}\n";
  return out;
}

}  // namespace settle::cashier
