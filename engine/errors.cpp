// Names and JSON-RPC codes of the error reasons: one table, so the API names
// are written exactly once.
#include "engine/errors.hpp"

#include <array>
#include <utility>

namespace settle {
namespace {

constexpr std::array<std::pair<Reason, std::string_view>, 30> kNames{{
    {Reason::internal, "INTERNAL"},
    {Reason::invalid_request, "INVALID_REQUEST"},
    {Reason::invalid_amount, "INVALID_AMOUNT"},
    {Reason::unauthenticated, "UNAUTHENTICATED"},
    {Reason::login_failed, "LOGIN_FAILED"},
    {Reason::locked_out, "LOCKED_OUT"},
    {Reason::forbidden, "FORBIDDEN"},
    {Reason::card_absent, "CARD_ABSENT"},
    {Reason::card_removed, "CARD_REMOVED"},
    {Reason::card_unreadable, "CARD_UNREADABLE"},
    {Reason::reader_unavailable, "READER_UNAVAILABLE"},
    {Reason::pin_wrong, "PIN_WRONG"},
    {Reason::pin_blocked, "PIN_BLOCKED"},
    {Reason::card_mismatch, "CARD_MISMATCH"},
    {Reason::not_found, "NOT_FOUND"},
    {Reason::duplicate_request_conflict, "DUPLICATE_REQUEST_CONFLICT"},
    {Reason::offline_refund_forbidden, "OFFLINE_REFUND_FORBIDDEN"},
    {Reason::refund_exceeds_original, "REFUND_EXCEEDS_ORIGINAL"},
    {Reason::not_refundable_yet, "NOT_REFUNDABLE_YET"},
    {Reason::insurer_rejected, "INSURER_REJECTED"},
    {Reason::offline_limit, "OFFLINE_LIMIT"},
    {Reason::limit_exceeded, "LIMIT_EXCEEDED"},
    {Reason::in_doubt, "IN_DOUBT"},
    {Reason::insurer_unreachable, "INSURER_UNREACHABLE"},
    {Reason::not_supported, "NOT_SUPPORTED"},
    {Reason::invalid_state, "INVALID_STATE"},
    {Reason::pin_required, "PIN_REQUIRED"},
    {Reason::storage_failed, "STORAGE_FAILED"},
    {Reason::invalid_config, "INVALID_CONFIG"},
    {Reason::password_change_required, "PASSWORD_CHANGE_REQUIRED"},
}};

}  // namespace

std::string_view reason_name(Reason r) noexcept {
  for (const auto& [reason, name] : kNames)
    if (reason == r) return name;
  return "INTERNAL";
}

std::optional<Reason> reason_from_name(std::string_view name) noexcept {
  for (const auto& [reason, n] : kNames)
    if (n == name) return reason;
  return std::nullopt;
}

int reason_rpc_code(Reason r) noexcept {
  switch (r) {
    case Reason::invalid_request: return -32600;
    case Reason::internal: return -32603;
    default: return 1000 + static_cast<int>(r);
  }
}

}  // namespace settle
