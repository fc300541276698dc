// The closed set of error reasons with fixed numbers. The names are the
// cashier API's stable `reason` strings (cashier-api.md); the numbers are
// never reused or renumbered, so logs and stored rows stay readable.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace settle {

enum class Reason : std::uint16_t {
  internal = 1,                    // INTERNAL: a bug or an unexpected failure of the host
  invalid_request = 2,             // INVALID_REQUEST
  invalid_amount = 3,              // INVALID_AMOUNT
  unauthenticated = 4,             // UNAUTHENTICATED
  login_failed = 5,                // LOGIN_FAILED
  locked_out = 6,                  // LOCKED_OUT
  forbidden = 7,                   // FORBIDDEN
  card_absent = 8,                 // CARD_ABSENT
  card_removed = 9,                // CARD_REMOVED
  card_unreadable = 10,            // CARD_UNREADABLE
  reader_unavailable = 11,         // READER_UNAVAILABLE
  pin_wrong = 12,                  // PIN_WRONG
  pin_blocked = 13,                // PIN_BLOCKED
  card_mismatch = 14,              // CARD_MISMATCH
  not_found = 15,                  // NOT_FOUND
  duplicate_request_conflict = 16, // DUPLICATE_REQUEST_CONFLICT
  offline_refund_forbidden = 17,   // OFFLINE_REFUND_FORBIDDEN
  refund_exceeds_original = 18,    // REFUND_EXCEEDS_ORIGINAL
  not_refundable_yet = 19,         // NOT_REFUNDABLE_YET
  insurer_rejected = 20,           // INSURER_REJECTED
  offline_limit = 21,              // OFFLINE_LIMIT
  limit_exceeded = 22,             // LIMIT_EXCEEDED
  in_doubt = 23,                   // IN_DOUBT: sent, no reply; a reversal is queued
  insurer_unreachable = 24,        // INSURER_UNREACHABLE: nothing was sent
  not_supported = 25,              // NOT_SUPPORTED: a contract method this build does not serve yet
  invalid_state = 26,              // INVALID_STATE: the settlement's state does not allow this
  pin_required = 27,               // PIN_REQUIRED: the operation needs a PIN verified on this connection
  storage_failed = 28,             // STORAGE_FAILED: the ledger could not make the write durable
  invalid_config = 29,             // INVALID_CONFIG: a config or policy file is malformed
  password_change_required = 30,   // PASSWORD_CHANGE_REQUIRED: the session must change its password first
};

// The API name of a reason ("REFUND_EXCEEDS_ORIGINAL").
std::string_view reason_name(Reason r) noexcept;
// The reason for an API name, if it is one.
std::optional<Reason> reason_from_name(std::string_view name) noexcept;
// The JSON-RPC error code used for a reason (-32600 for malformed requests,
// 1000 + number for domain errors).
int reason_rpc_code(Reason r) noexcept;

}  // namespace settle
