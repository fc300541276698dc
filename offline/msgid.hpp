// MsgidAllocator: insurer message ids = institution code (12) +
// yyyyMMddHHmmss (14) + sequence (4), unique forever. Pure logic over an
// injected local time: seeded from the ledger's highest recorded msgid, it
// never issues a value <= the last one; when the clock goes back or a
// second's 9999 sequence numbers are used up it borrows the next second.
#pragma once

#include "offline/sqlite.hpp"

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace settle::ledger {

// A local civil time to the second (the insurer's clock zone).
struct CivilTime {
  int year = 1970;
  int month = 1;   // 1..12
  int day = 1;     // 1..31
  int hour = 0;    // 0..23
  int minute = 0;  // 0..59
  int second = 0;  // 0..59
  friend bool operator==(const CivilTime&, const CivilTime&) = default;
};

// Seconds since 1970-01-01T00:00:00 of the same zone, and back.
std::int64_t to_seconds(const CivilTime& t) noexcept;
CivilTime from_seconds(std::int64_t s) noexcept;

class MsgidAllocator {
 public:
  static constexpr std::size_t kInstitutionLen = 12;
  static constexpr std::size_t kMsgidLen = 30;
  static constexpr int kMaxSequence = 9999;  // sequences run 0001..9999

  // institution_code: 12 characters of [A-Za-z0-9]; highest_recorded: the
  // ledger's highest msgid for that institution (ledger::highest_msgid).
  // Errors (Errc::other) name what is malformed.
  static sql::Result<MsgidAllocator> create(std::string institution_code,
                                            std::optional<std::string_view> highest_recorded);

  MsgidAllocator(MsgidAllocator&& o) noexcept;
  MsgidAllocator& operator=(MsgidAllocator&&) = delete;
  MsgidAllocator(const MsgidAllocator&) = delete;
  MsgidAllocator& operator=(const MsgidAllocator&) = delete;

  // The next msgid for local time `now`; thread-safe.
  std::string next(const CivilTime& now);

  // The last msgid issued (or seeded), if any.
  std::optional<std::string> last() const;

  // Parses a 30-character msgid of this institution into (seconds, sequence).
  static std::optional<std::pair<std::int64_t, int>> parse(std::string_view msgid, std::string_view institution);

 private:
  explicit MsgidAllocator(std::string institution) : institution_(std::move(institution)) {}
  std::string format(std::int64_t sec, int seq) const;

  std::string institution_;
  mutable std::mutex mu_;
  std::int64_t last_sec_ = INT64_MIN;  // INT64_MIN: nothing issued yet
  int last_seq_ = 0;
};

}  // namespace settle::ledger
