// The card holder's data as read from the card, and the pure functions that
// turn raw record bytes into it: TLV unwrapping, padding, GBK text, the
// GB 11643 ID check digit. A record that fails any rule is CARD_UNREADABLE.
#pragma once

#include "engine/result.hpp"
#include "reader/apdu.hpp"
#include "reader/profile.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace settle::reader {

// GB/T 2261.1 codes.
enum class Gender : std::uint8_t { unknown = 0, male = 1, female = 2, unstated = 9 };

struct BirthDate {
  int year = 0;
  int month = 0;
  int day = 0;
  friend bool operator==(const BirthDate&, const BirthDate&) = default;
};

// Everything read from one card. Only ever handed out complete.
struct CardIdentity {
  std::string card_sn;    // card identification code, ASCII
  std::string card_type;  // one ASCII character
  std::string card_no;    // ASCII, profile length
  std::string id_no;      // 18 characters, check digit verified
  std::string name;       // UTF-8
  Gender gender = Gender::unknown;
  BirthDate birth_date;
  friend bool operator==(const CardIdentity&, const CardIdentity&) = default;
};

// The value of a record answered as TLV (tag = record number, length, value),
// trailing 00/FF/20 padding stripped. `field` names the element in errors.
Result<Bytes> unwrap_record(std::span<const std::uint8_t> raw, std::uint8_t record_no, std::string_view field);

// GBK (read as GB18030, its superset) to UTF-8; invalid or truncated sequences
// and control characters are errors.
Result<std::string> gbk_to_utf8(std::span<const std::uint8_t> gbk, std::string_view field);

// GB 11643-1999: 17 digits, then the mod 11-2 check character ('0'-'9' or 'X').
bool id_check_digit_valid(std::string_view id_no) noexcept;
// The check character for the first 17 digits; '?' if they are not digits.
char id_check_char(std::string_view first17) noexcept;

// Validates each element; the error names the element.
Result<std::string> parse_ascii_field(std::span<const std::uint8_t> value, std::size_t min_len, std::size_t max_len,
                                      std::string_view field);
Result<std::string> parse_id_no(std::span<const std::uint8_t> value);
Result<Gender> parse_gender(std::span<const std::uint8_t> value);
Result<BirthDate> parse_birth_date(std::span<const std::uint8_t> value);
bool valid_date(int year, int month, int day) noexcept;

// Cross-checks between elements: the birth date and gender written on the card
// must agree with the ID number (digits 7-14 and the parity of digit 17).
Status check_consistency(const CardIdentity& id);

// "110101********123X": how an ID number may appear in logs and responses.
std::string mask_id_no(std::string_view id_no);

}  // namespace settle::reader
