// The cashier API's JSON-RPC 2.0 line codec: one line in, a Request or the
// error response to send back; result, error and notification lines out.
// No I/O here; the socket server and the fuzz target both drive it.
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace settle::cashier {

using json::Json;

// JSON-RPC 2.0 error codes used on the wire (docs/cashier-api.md, "Errors").
inline constexpr int rpc_parse_error = -32700;
inline constexpr int rpc_invalid_request = -32600;
inline constexpr int rpc_method_not_found = -32601;
inline constexpr int rpc_invalid_params = -32602;

// Every method of the contract (cashier-api.md, Methods).
enum class Method : std::uint8_t {
  session_login,
  session_logout,
  engine_status,
  events_subscribe,
  card_read,
  card_verify_pin,
  person_query,
  account_history,
  settle_preview,
  settle_commit,
  settle_refund,
  settle_resettle,
  settle_get,
  settle_list,
  inpatient_admit,
  inpatient_add_lines,
  inpatient_preview,
  inpatient_discharge,
  inpatient_undo_discharge,
  inpatient_cancel_lines,
  inpatient_undo_admit,
  inpatient_get,
  inpatient_list,
  recon_run,
  uploads_flush,
  redlist_sync,  // docs/redlist.md
  outbox_parked,   // docs/offline.md "Parked items" (supervisor)
  outbox_retry,    // extension
  outbox_resolve,  // extension
  session_change_password,  // the office's day: docs/cashier-api.md "Operators"
  operator_list,
  operator_add,
  operator_reset_password,
  operator_unlock,
  operator_set_role,
  operator_disable,
  operator_enable,
  audit_list,
  settle_sheet,
  closeout_preview,
  closeout_record,
  closeout_get,
  closeout_list,
  closeout_sheet,
  correction_record,
  correction_approve,
  correction_refuse,
  correction_list,
  work_list,
  outage_list,
  outage_get,
  outage_note,
  notice_get,  // docs/patient-notices.md
  reentry_record,
  reentry_approve,
  reentry_refuse,
  reentry_list,
  reentry_get,
  outage_record,  // docs/outages.md
  session_list,   // who is logged in at which window (1.2)
  credential_scan,  // the e-voucher (医保电子凭证) QR code (1.3)
  credential_id,    // the ID number (1.3)
};
inline constexpr int method_count = 62;

std::string_view method_name(Method m) noexcept;  // "settle.commit"
std::optional<Method> method_from_name(std::string_view name) noexcept;
// Methods that change something and so carry a request_id.
bool is_mutating(Method m) noexcept;

// One well-formed JSON-RPC request. `id` is exactly what the client sent
// (string, integer, a number kept as its text, or null), echoed back as is.
struct Request {
  Json id;
  Method method = Method::engine_status;
  Json params;  // always an object (an absent "params" becomes {})
};

// An error to send: the JSON-RPC code, the operating error (reason, field,
// message) and extra data members (attempts_left, until, retries_left, ...).
struct RpcError {
  int code = rpc_invalid_request;
  Error error;
  Json data = Json::object();
};

// The code for an error found while handling a well-formed request: the
// reason's own code (engine reason_rpc_code), except INVALID_REQUEST found
// in the params, which is -32602 (invalid params).
int code_for_params_error(const Error& e) noexcept;
RpcError domain_error(Error e, Json extra_data = Json::object());

// A line that could not become a Request: the id to answer with (null when
// it could not be read) and the error.
struct LineError {
  Json id;
  RpcError error;
};

// Parses one line (without its newline; a trailing '\r' is tolerated).
// Returns the Request, or the error response to send:
//   invalid JSON          -> -32700, reason INVALID_REQUEST, id null
//   not JSON-RPC 2.0      -> -32600, reason INVALID_REQUEST (id echoed when readable)
//   unknown method        -> -32601, reason INVALID_REQUEST, data.field "method"
// A request without "id" is refused (-32600): every line is answered.
struct ParsedLine {
  std::optional<Request> request;
  std::optional<LineError> error;
};
ParsedLine parse_request_line(std::string_view line);

// Encoders: each returns one line including its terminating '\n'.
std::string encode_result(const Json& id, const Json& result);
std::string encode_error(const Json& id, const RpcError& e);
std::string encode_notification(std::string_view method, const Json& params);

// The error object alone ({"code", "message", "data": {"reason", "field"?, ...}}).
Json error_object(const RpcError& e);

// Writes a JSON value; raw numbers (json::parse) are written as their exact
// text. Output is compact and UTF-8 (invalid UTF-8 in strings is replaced).
std::string dump(const Json& v);

}  // namespace settle::cashier
