// The insurer line's state as the cashier windows see it: online → offline →
// draining → online, fed by request outcomes and the periodic sign-in probe.
// Pure: the daemon feeds it events with their times and reads the state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace settle {

enum class NetworkState : std::uint8_t { online = 1, offline = 2, draining = 3 };
std::string_view network_state_name(NetworkState s) noexcept;  // "online", "offline", "draining"

// What one request to the insurer came to, as far as the line is concerned.
enum class LineOutcome : std::uint8_t {
  answered = 1,     // any reply, even a refusal: the line works
  unreachable = 2,  // nothing was sent
  in_doubt = 3,     // sent, no reply
};

class NetworkStateMachine {
 public:
  // `failures_to_offline` consecutive unreachable / in-doubt outcomes take the
  // line offline.
  explicit NetworkStateMachine(std::uint32_t failures_to_offline, std::int64_t now_ms);

  NetworkState state() const noexcept { return state_; }
  std::int64_t since_ms() const noexcept { return since_ms_; }

  // Each returns the new state when it changed. `sent_at_ms`: when the call
  // left; a failure of a call sent before the line's present state began
  // (online, or draining) says nothing of the line now (a probe sent during
  // the outage that times out after it) and is not counted.
  std::optional<NetworkState> on_outcome(LineOutcome o, std::int64_t now_ms,
                                         std::optional<std::int64_t> sent_at_ms = std::nullopt);
  // A sign-in probe while offline: answered → draining (the stored work is
  // forwarded before new work goes online again).
  std::optional<NetworkState> on_probe(bool answered, std::int64_t now_ms);
  // Draining: everything stored has reached the insurer → online.
  std::optional<NetworkState> on_drained(std::int64_t now_ms);

  // Whether new cashier work should go to the insurer now (online only;
  // while draining, new work waits behind the stored work, so it settles offline).
  bool accepts_online_work() const noexcept { return state_ == NetworkState::online; }

 private:
  std::optional<NetworkState> move(NetworkState to, std::int64_t now_ms);

  std::uint32_t failures_to_offline_;
  std::uint32_t consecutive_failures_ = 0;
  NetworkState state_ = NetworkState::online;
  std::int64_t since_ms_;
};

}  // namespace settle
