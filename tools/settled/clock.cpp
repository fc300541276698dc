// Civil-time conversions of the daemon, all in the insurer's zone (UTC+8).
#include "tools/settled/clock.hpp"

#include <fmt/format.h>

#include <charconv>

namespace settle::daemon {
namespace {

bool num(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  const char* b = s.data() + pos;
  const auto r = std::from_chars(b, b + len, out);
  return r.ec == std::errc() && r.ptr == b + len;
}

}  // namespace

std::string clearing_date(std::int64_t unix_ms) {
  const auto t = insurer_civil_time(unix_ms);
  return fmt::format("{:04}-{:02}-{:02}", t.year, t.month, t.day);
}

std::optional<std::int64_t> clearing_day_start_ms(std::string_view date) {
  ledger::CivilTime t;
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  if (!num(date, 0, 4, t.year) || !num(date, 5, 2, t.month) || !num(date, 8, 2, t.day)) return std::nullopt;
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > 31) return std::nullopt;
  const std::int64_t local = ledger::to_seconds(t);
  if (ledger::from_seconds(local) != t) return std::nullopt;  // 2026-02-30
  return (local - insurer_utc_offset_s) * 1000;
}

std::string iso_time(std::int64_t unix_ms) {
  const auto t = insurer_civil_time(unix_ms);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+08:00", t.year, t.month, t.day, t.hour, t.minute, t.second);
}

std::optional<std::int64_t> parse_iso_time(std::string_view s) {
  if (s.size() == 10) return clearing_day_start_ms(s);
  // YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm)
  if (s.size() < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  const auto day = clearing_day_start_ms(s.substr(0, 10));
  if (!day) return std::nullopt;
  int hh = 0, mm = 0, ss = 0;
  if (!num(s, 11, 2, hh) || !num(s, 14, 2, mm) || !num(s, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  std::size_t i = 19;
  int frac_ms = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) frac_ms *= 10;
  }
  std::int64_t offset_s = 0;
  if (i < s.size() && s[i] == 'Z' && i + 1 == s.size()) {
    offset_s = 0;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh = 0, om = 0;
    if (!num(s, i + 1, 2, oh) || !num(s, i + 4, 2, om) || oh > 14 || om > 59) return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  // *day is the UTC instant of 00:00 UTC+8 of that date; undo that offset, apply the given one.
  const std::int64_t local_midnight_as_utc_s = *day / 1000 + insurer_utc_offset_s;
  return (local_midnight_as_utc_s + hh * 3600 + mm * 60 + ss - offset_s) * 1000 + frac_ms;
}

}  // namespace settle::daemon
