// Transitions of the line's state; every change is returned so the daemon can
// tell the cashiers (network.changed) and write it to the log.
#include "engine/network_state.hpp"

#include "engine/result.hpp"

namespace settle {

std::string_view network_state_name(NetworkState s) noexcept {
  switch (s) {
    case NetworkState::online: return "online";
    case NetworkState::offline: return "offline";
    case NetworkState::draining: return "draining";
  }
  return "online";
}

NetworkStateMachine::NetworkStateMachine(std::uint32_t failures_to_offline, std::int64_t now_ms)
    : failures_to_offline_(failures_to_offline), since_ms_(now_ms) {
  SETTLE_ASSERT(failures_to_offline >= 1);
}

std::optional<NetworkState> NetworkStateMachine::move(NetworkState to, std::int64_t now_ms) {
  if (to == state_) return std::nullopt;
  state_ = to;
  since_ms_ = now_ms;
  return to;
}

std::optional<NetworkState> NetworkStateMachine::on_outcome(LineOutcome o, std::int64_t now_ms,
                                                            std::optional<std::int64_t> sent_at_ms) {
  if (o != LineOutcome::answered && state_ != NetworkState::offline && sent_at_ms && *sent_at_ms < since_ms_)
    return std::nullopt;
  if (o == LineOutcome::answered) {
    consecutive_failures_ = 0;
    // An answer while offline is as good as a probe.
    if (state_ == NetworkState::offline) return move(NetworkState::draining, now_ms);
    return std::nullopt;
  }
  ++consecutive_failures_;
  if (consecutive_failures_ >= failures_to_offline_ || state_ == NetworkState::draining)
    return move(NetworkState::offline, now_ms);
  return std::nullopt;
}

std::optional<NetworkState> NetworkStateMachine::on_probe(bool answered, std::int64_t now_ms) {
  return on_outcome(answered ? LineOutcome::answered : LineOutcome::unreachable, now_ms);
}

std::optional<NetworkState> NetworkStateMachine::on_drained(std::int64_t now_ms) {
  if (state_ != NetworkState::draining) return std::nullopt;
  consecutive_failures_ = 0;
  return move(NetworkState::online, now_ms);
}

}  // namespace settle
