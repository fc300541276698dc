// The settlement's states and the one table of moves between them. Every
// other place that needs to know a move (the ledger's trigger, the flows'
// checks, the docs' table) is generated from or tested equal to this table.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace settle {

enum class SettlementState : std::uint8_t {
  settled,           // online, the insurer has it
  offline_pending,   // stored offline, waiting for its upload
  offline_accepted,  // the insurer accepted the upload (its figures are final)
  offline_rejected,  // the insurer refused the upload; the insurance office handles it
  refunded,          // everything refunded
  partly_refunded,   // some lines refunded
  undone,            // undone whole (re-settlement, or the office's correction)
};

inline constexpr std::array<SettlementState, 7> all_settlement_states{
    SettlementState::settled,  SettlementState::offline_pending, SettlementState::offline_accepted,
    SettlementState::offline_rejected, SettlementState::refunded, SettlementState::partly_refunded,
    SettlementState::undone};

// One allowed move, with what makes it.
struct SettlementMove {
  SettlementState from;
  SettlementState to;
  std::string_view by;  // the step that makes it (for the docs and the trigger's error)
};

// THE table. A move not in it never happens; the ledger refuses it too.
inline constexpr std::array<SettlementMove, 11> settlement_moves{{
    {SettlementState::settled, SettlementState::partly_refunded, "refund of some lines"},
    {SettlementState::settled, SettlementState::refunded, "refund of everything"},
    {SettlementState::settled, SettlementState::undone, "undo for re-settlement"},
    {SettlementState::partly_refunded, SettlementState::refunded, "refund of the rest"},
    {SettlementState::partly_refunded, SettlementState::undone, "undo of the rest for re-settlement"},
    {SettlementState::offline_pending, SettlementState::offline_accepted, "upload accepted"},
    {SettlementState::offline_pending, SettlementState::offline_rejected, "upload rejected"},
    {SettlementState::offline_accepted, SettlementState::partly_refunded, "refund of some lines"},
    {SettlementState::offline_accepted, SettlementState::refunded, "refund of everything"},
    {SettlementState::offline_accepted, SettlementState::undone, "undo for re-settlement"},
    {SettlementState::offline_rejected, SettlementState::undone, "the office's correction"},
}};

constexpr bool can_move(SettlementState from, SettlementState to) noexcept {
  for (const auto& m : settlement_moves)
    if (m.from == from && m.to == to) return true;
  return false;
}

// What the cashier may do with a settlement in a state (derived from the table).
constexpr bool refundable(SettlementState s) noexcept { return can_move(s, SettlementState::refunded); }
// Re-settlement undoes what is left: the online states that can be undone.
constexpr bool resettleable(SettlementState s) noexcept {
  return s != SettlementState::offline_rejected && can_move(s, SettlementState::undone);
}

static_assert(!can_move(SettlementState::refunded, SettlementState::undone), "a refunded settlement has nothing left");
static_assert(can_move(SettlementState::partly_refunded, SettlementState::undone),
              "re-settlement of what is left of a partly refunded settlement");
static_assert(!refundable(SettlementState::offline_pending), "offline settlements are refunded once accepted");

// The names used in the ledger and the cashier API.
std::string_view settlement_state_name(SettlementState s) noexcept;
std::optional<SettlementState> settlement_state_from_name(std::string_view name) noexcept;

}  // namespace settle
