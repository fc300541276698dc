// This host's clock against the insurer's: the offset read from the Date of
// every insurer reply, and whether the insurer refuses our request timestamps
// (its 300 s signature window). Kept in memory; engine.status and the metrics
// read it, the gateway feeds it.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace settle::daemon {

enum class ClockSkewState : std::uint8_t {
  unknown = 0,  // no insurer reply with a Date yet
  ok = 1,       // within the alert threshold
  alert = 2,    // past the alert threshold: the office should fix the clock (NTP)
  refused = 3,  // past the insurer's window, or the insurer refused our timestamps
};
std::string_view clock_skew_state_name(ClockSkewState s) noexcept;  // "unknown", "ok", "alert", "refused"

class ClockSkew {
 public:
  // Past this many seconds either way the skew is logged and shown as an alert.
  static constexpr std::int64_t alert_s = 60;
  // The insurer refuses a request whose timestamp is further than this from
  // its clock (insurer::signature_window_s).
  static constexpr std::int64_t window_s = 300;

  // An insurer reply's Date: the insurer's clock less ours, in seconds.
  void measured(std::int64_t offset_s, std::int64_t at_ms);
  // The insurer refused a request for its timestamp (true), or took one (false).
  void refused(bool yes, std::string_view detail = {});

  std::optional<std::int64_t> offset_s() const;
  std::int64_t measured_at_ms() const { return at_ms_.load(); }
  bool refusing() const { return refusing_.load(); }
  ClockSkewState state() const;

 private:
  void log_if_moved();

  std::atomic<std::int64_t> offset_s_{0};
  std::atomic<std::int64_t> at_ms_{0};  // 0: never measured
  std::atomic<bool> refusing_{false};
  ClockSkewState logged_ = ClockSkewState::unknown;  // the state last logged (gateway's thread only)
};

}  // namespace settle::daemon
