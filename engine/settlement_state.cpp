// Names of the settlement states (the ledger's and the cashier API's words).
#include "engine/settlement_state.hpp"

namespace settle {

std::string_view settlement_state_name(SettlementState s) noexcept {
  switch (s) {
    case SettlementState::settled: return "settled";
    case SettlementState::offline_pending: return "offline_pending";
    case SettlementState::offline_accepted: return "offline_accepted";
    case SettlementState::offline_rejected: return "offline_rejected";
    case SettlementState::refunded: return "refunded";
    case SettlementState::partly_refunded: return "partly_refunded";
    case SettlementState::undone: return "undone";
  }
  return "?";
}

std::optional<SettlementState> settlement_state_from_name(std::string_view name) noexcept {
  for (SettlementState s : all_settlement_states)
    if (settlement_state_name(s) == name) return s;
  return std::nullopt;
}

}  // namespace settle
