// ClockSkew (clock_skew.hpp): the state from the offset and the refusals,
// and one log line each time the state moves.
#include "tools/settled/clock_skew.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace settle::daemon {

std::string_view clock_skew_state_name(ClockSkewState s) noexcept {
  switch (s) {
    case ClockSkewState::unknown: return "unknown";
    case ClockSkewState::ok: return "ok";
    case ClockSkewState::alert: return "alert";
    case ClockSkewState::refused: return "refused";
  }
  return "unknown";
}

void ClockSkew::measured(std::int64_t offset_s, std::int64_t at_ms) {
  offset_s_.store(offset_s);
  at_ms_.store(at_ms);
  log_if_moved();
}

void ClockSkew::refused(bool yes, std::string_view detail) {
  const bool was = refusing_.exchange(yes);
  if (yes && !was)
    spdlog::error("insurer clock: the insurer refuses this host's request timestamps ({}); the line is offline "
                  "until the clock is right: check the time service (chrony)",
                  detail);
  log_if_moved();
}

std::optional<std::int64_t> ClockSkew::offset_s() const {
  if (at_ms_.load() == 0) return std::nullopt;
  return offset_s_.load();
}

ClockSkewState ClockSkew::state() const {
  if (refusing_.load()) return ClockSkewState::refused;
  const auto off = offset_s();
  if (!off) return ClockSkewState::unknown;
  const std::int64_t a = std::llabs(*off);
  if (a > window_s) return ClockSkewState::refused;
  if (a > alert_s) return ClockSkewState::alert;
  return ClockSkewState::ok;
}

void ClockSkew::log_if_moved() {
  const ClockSkewState now = state();
  if (now == logged_) return;
  const ClockSkewState was = logged_;
  logged_ = now;
  const std::int64_t off = offset_s_.load();
  // The offset is the insurer's clock less ours: positive, this host is behind.
  const std::string_view way = off > 0 ? "behind" : "ahead of";
  switch (now) {
    case ClockSkewState::unknown: break;
    case ClockSkewState::ok:
      if (was != ClockSkewState::unknown)
        spdlog::info("insurer clock: this host's clock is within {} s of the insurer's again ({} s)", alert_s, off);
      break;
    case ClockSkewState::alert:
      spdlog::warn("insurer clock: this host's clock is {} s {} the insurer's (alert past {} s; the insurer refuses "
                   "requests past {} s): check the time service (chrony)",
                   std::llabs(off), way, alert_s, window_s);
      break;
    case ClockSkewState::refused:
      spdlog::error("insurer clock: this host's clock is {} s {} the insurer's, past its {} s window: requests are "
                    "refused and charges settle offline until the clock is right (check chrony)",
                    std::llabs(off), way, window_s);
      break;
  }
}

}  // namespace settle::daemon
