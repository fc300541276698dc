// How the service words its answers: errors with reasons, the JSON of
// settlements and refunds as the cashier API defines them, and the stored
// first answer of a request (replayed for a repeated request_id).
#pragma once

#include "offline/ledger_ops.hpp"
#include "protocol/cashier/server.hpp"
#include "tools/settled/gateway.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace settle::daemon {

using cashier::Reply;

inline Reply fail(Error e) { return Reply::fail(std::move(e)); }
inline Reply fail(Reason r, std::string field, std::string message) {
  return Reply::fail(make_error(r, std::move(field), std::move(message)));
}

// The answer as stored in the request log, and back.
std::string answer_text(const Reply& r);
Reply stored_reply(std::string_view text);

// "answered", "rejected", "unreachable", "in_doubt" for metrics.
std::string_view outcome_label(const CallResult& r);
// The metrics label of a flow's failure: "rejected" (the insurer refused),
// "in_doubt", "unreachable", "error" (the ledger or the daemon failed), or
// "refused" (the rules refused it here).
std::string_view failure_label(Reason r);
// INSURER_UNREACHABLE (nothing sent) or IN_DOUBT (sent, no reply).
Error unanswered_error(const CallResult& r);
// Whether an error says the insurer did not answer (unreachable, or no reply in time).
inline bool is_unanswered(Reason r) { return r == Reason::insurer_unreachable || r == Reason::in_doubt; }
// INSURER_REJECTED: our words, then the insurer's err_msg cleaned, masked and
// bounded (cashier::clean_foreign_text) in the message.
Error rejected_error(const CallResult& r);
// INSURER_REJECTED with our words as the message and the insurer's infcode and
// err_msg in the data (cleaned and masked by the server on the way out).
Reply rejected_reply(const CallResult& r);

// The API's settlement ids are the ledger's local ids in decimal.
std::optional<std::int64_t> parse_setl_id(std::string_view s);
// A list's `from` or `to` (a date or an ISO 8601 time with offset) as unix
// ms; a plain date as `to` (`end`) means the whole of that day. Absent:
// nullopt. Errors: INVALID_REQUEST naming the field.
Result<std::optional<std::int64_t>> list_bound(const std::optional<std::string>& text, std::string_view field, bool end);

// A time as the API writes it (ISO 8601, +08:00), or null when absent.
json::Json time_or_null(const std::optional<std::int64_t>& unix_ms);

json::Json settlement_summary_json(const ledger::Settlement& s);
json::Json refund_json(const ledger::Refund& r);
json::Json settlement_detail_json(const ledger::SettlementDetail& d, bool auditor);

}  // namespace settle::daemon
