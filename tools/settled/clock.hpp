// Time as the daemon records it: Unix milliseconds in the ledger, the
// insurer's civil time (UTC+8) for msgids and envelopes, clearing dates.
#pragma once

#include "offline/msgid.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace settle::daemon {

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The insurer's clock zone (China Standard Time, no daylight saving).
inline constexpr std::int64_t insurer_utc_offset_s = 8 * 3600;

inline ledger::CivilTime insurer_civil_time(std::int64_t unix_ms) {
  return ledger::from_seconds(unix_ms / 1000 + insurer_utc_offset_s);
}

// "YYYY-MM-DD" of the clearing day (the insurer's calendar day) of a time.
std::string clearing_date(std::int64_t unix_ms);
// Unix ms of 00:00 of a clearing date in the insurer's zone; nullopt if malformed.
std::optional<std::int64_t> clearing_day_start_ms(std::string_view date);
// ISO 8601 with offset in the insurer's zone: "2026-11-22T10:30:45+08:00".
std::string iso_time(std::int64_t unix_ms);
// Parses "YYYY-MM-DD" (start of that day) or an ISO 8601 date-time with offset.
std::optional<std::int64_t> parse_iso_time(std::string_view s);

}  // namespace settle::daemon
