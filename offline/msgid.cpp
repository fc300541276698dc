// msgid allocation: civil-time arithmetic (days from civil, after Howard
// Hinnant's public-domain algorithms) and the never-go-back rule.
#include "offline/msgid.hpp"

#include <fmt/format.h>

namespace settle::ledger {
namespace {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

CivilTime civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  CivilTime t;
  t.year = static_cast<int>(y + (m <= 2 ? 1 : 0));
  t.month = static_cast<int>(m);
  t.day = static_cast<int>(d);
  return t;
}

bool digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

std::int64_t to_seconds(const CivilTime& t) noexcept {
  return days_from_civil(t.year, static_cast<unsigned>(t.month), static_cast<unsigned>(t.day)) * 86400 +
         t.hour * 3600 + t.minute * 60 + t.second;
}

CivilTime from_seconds(std::int64_t s) noexcept {
  std::int64_t days = s / 86400;
  std::int64_t rem = s % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  CivilTime t = civil_from_days(days);
  t.hour = static_cast<int>(rem / 3600);
  t.minute = static_cast<int>(rem % 3600 / 60);
  t.second = static_cast<int>(rem % 60);
  return t;
}

sql::Result<MsgidAllocator> MsgidAllocator::create(std::string institution_code,
                                                   std::optional<std::string_view> highest_recorded) {
  bool good = institution_code.size() == kInstitutionLen;
  for (char c : institution_code)
    good = good && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
  if (!good)
    return sql::DbError{sql::Errc::other, 0,
                        fmt::format("institution code \"{}\" is not 12 letters or digits", institution_code)};
  MsgidAllocator a(std::move(institution_code));
  if (highest_recorded) {
    auto p = parse(*highest_recorded, a.institution_);
    if (!p)
      return sql::DbError{sql::Errc::other, 0,
                          fmt::format("recorded msgid \"{}\" is not a msgid of institution {}", *highest_recorded,
                                      a.institution_)};
    a.last_sec_ = p->first;
    a.last_seq_ = p->second;
  }
  return a;
}

MsgidAllocator::MsgidAllocator(MsgidAllocator&& o) noexcept
    : institution_(std::move(o.institution_)), last_sec_(o.last_sec_), last_seq_(o.last_seq_) {}

std::optional<std::pair<std::int64_t, int>> MsgidAllocator::parse(std::string_view msgid,
                                                                  std::string_view institution) {
  if (msgid.size() != kMsgidLen || msgid.substr(0, kInstitutionLen) != institution) return std::nullopt;
  const std::string_view ts = msgid.substr(kInstitutionLen, 14);
  const std::string_view seq = msgid.substr(kInstitutionLen + 14, 4);
  if (!digits(ts) || !digits(seq)) return std::nullopt;
  CivilTime t{num(ts.substr(0, 4)), num(ts.substr(4, 2)), num(ts.substr(6, 2)),
              num(ts.substr(8, 2)), num(ts.substr(10, 2)), num(ts.substr(12, 2))};
  const std::int64_t sec = to_seconds(t);
  if (from_seconds(sec) != t) return std::nullopt;  // not a real date/time ("20261340...")
  const int s = num(seq);
  if (s < 1 || s > kMaxSequence) return std::nullopt;
  return std::pair{sec, s};
}

std::string MsgidAllocator::format(std::int64_t sec, int seq) const {
  const CivilTime t = from_seconds(sec);
  SETTLE_ASSERT(t.year >= 0 && t.year <= 9999);  // four digits in a msgid
  return fmt::format("{}{:04}{:02}{:02}{:02}{:02}{:02}{:04}", institution_, t.year, t.month, t.day, t.hour,
                     t.minute, t.second, seq);
}

std::string MsgidAllocator::next(const CivilTime& now) {
  const std::int64_t now_sec = to_seconds(now);
  std::lock_guard lock(mu_);
  if (last_sec_ == INT64_MIN || now_sec > last_sec_) {
    last_sec_ = now_sec;
    last_seq_ = 1;
  } else if (last_seq_ < kMaxSequence) {
    ++last_seq_;  // same second, or the clock went back: keep counting on the last second
  } else {
    ++last_sec_;  // this second is used up: borrow the next one
    last_seq_ = 1;
  }
  return format(last_sec_, last_seq_);
}

std::optional<std::string> MsgidAllocator::last() const {
  std::lock_guard lock(mu_);
  if (last_sec_ == INT64_MIN) return std::nullopt;
  return format(last_sec_, last_seq_);
}

}  // namespace settle::ledger
