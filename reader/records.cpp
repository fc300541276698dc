// Record bytes to card holder data. Every rule the card's data must satisfy
// lives here, as a pure function over bytes, so the unit tests reach all of it.
#include "reader/records.hpp"

#include "reader/errors.hpp"

#include <fmt/format.h>
#include <iconv.h>

#include <array>
#include <cerrno>

namespace settle::reader {
namespace {

Error unreadable(std::string_view field, std::string_view what) {
  return reader_error(ReaderErrc::unreadable, std::string{field}, fmt::format("{}: {}", field, what));
}

bool is_padding(std::uint8_t b) noexcept { return b == 0x00 || b == 0xFF || b == 0x20; }

int digit(char c) noexcept { return c >= '0' && c <= '9' ? c - '0' : -1; }

// Decodes one UTF-8 code point starting at s[i]; returns the code point and
// advances i. Input is iconv's output, so it is well formed.
char32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int extra = b0 < 0x80 ? 0 : b0 < 0xE0 ? 1 : b0 < 0xF0 ? 2 : 3;
  char32_t cp = extra == 0 ? b0 : extra == 1 ? (b0 & 0x1Fu) : extra == 2 ? (b0 & 0x0Fu) : (b0 & 0x07u);
  ++i;
  for (; extra > 0 && i < s.size(); --extra, ++i) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3Fu);
  }
  return cp;
}

}  // namespace

Result<Bytes> unwrap_record(std::span<const std::uint8_t> raw, std::uint8_t record_no, std::string_view field) {
  if (raw.size() < 2) return unreadable(field, fmt::format("record {:02X} has {} byte(s), no TLV header", record_no, raw.size()));
  if (raw[0] != record_no) {
    return unreadable(field, fmt::format("record {:02X} carries tag {:02X}", record_no, raw[0]));
  }
  const std::size_t len = raw[1];
  if (len > raw.size() - 2) {
    return unreadable(field, fmt::format("record {:02X} says {} value bytes, only {} came", record_no, len, raw.size() - 2));
  }
  // Bytes after the value must be padding too; anything else is a broken record.
  for (std::size_t i = 2 + len; i < raw.size(); ++i) {
    if (!is_padding(raw[i])) return unreadable(field, fmt::format("record {:02X} has data after its value", record_no));
  }
  Bytes value(raw.begin() + 2, raw.begin() + static_cast<std::ptrdiff_t>(2 + len));
  while (!value.empty() && is_padding(value.back())) value.pop_back();
  return value;
}

Result<std::string> gbk_to_utf8(std::span<const std::uint8_t> gbk, std::string_view field) {
  if (gbk.empty()) return unreadable(field, "empty text");
  iconv_t cd = iconv_open("UTF-8", "GB18030");
  if (cd == reinterpret_cast<iconv_t>(-1)) {  // NOLINT: iconv's documented failure value
    return reader_error(ReaderErrc::internal, std::string{field}, "iconv has no GB18030 converter (glibc gconv modules missing)");
  }
  std::string in(gbk.begin(), gbk.end());
  std::string out(gbk.size() * 4 + 4, '\0');  // GB18030 never grows more than 2x into UTF-8
  char* inp = in.data();
  std::size_t inleft = in.size();
  char* outp = out.data();
  std::size_t outleft = out.size();
  const std::size_t rc = iconv(cd, &inp, &inleft, &outp, &outleft);
  const int err = errno;
  iconv_close(cd);
  if (rc == static_cast<std::size_t>(-1)) {
    const auto at = in.size() - inleft;
    if (err == EINVAL) return unreadable(field, fmt::format("GBK text ends inside a character (byte {})", at));
    return unreadable(field, fmt::format("invalid GBK sequence at byte {}", at));
  }
  out.resize(out.size() - outleft);
  for (std::size_t i = 0; i < out.size();) {
    const char32_t cp = next_code_point(out, i);
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return unreadable(field, "control character in text");
    if (cp >= 0xE000 && cp <= 0xF8FF) return unreadable(field, "text maps to a private-use character");
  }
  return out;
}

char id_check_char(std::string_view first17) noexcept {
  static constexpr std::array<int, 17> kWeights{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr std::array<char, 11> kCheck{'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  if (first17.size() < 17) return '?';
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) {
    const int d = digit(first17[i]);
    if (d < 0) return '?';
    sum += d * kWeights[i];
  }
  return kCheck[static_cast<std::size_t>(sum % 11)];
}

bool id_check_digit_valid(std::string_view id_no) noexcept {
  if (id_no.size() != 18) return false;
  const char c = id_check_char(id_no.substr(0, 17));
  return c != '?' && c == id_no[17];
}

bool valid_date(int year, int month, int day) noexcept {
  if (year < 1850 || year > 2200 || month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int max = kDays[static_cast<std::size_t>(month - 1)];
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && leap) max = 29;
  return day <= max;
}

Result<std::string> parse_ascii_field(std::span<const std::uint8_t> value, std::size_t min_len, std::size_t max_len,
                                      std::string_view field) {
  if (value.size() < min_len || value.size() > max_len) {
    return unreadable(field, min_len == max_len ? fmt::format("{} characters, expected {}", value.size(), min_len)
                                                : fmt::format("{} characters, expected {}-{}", value.size(), min_len, max_len));
  }
  std::string out;
  out.reserve(value.size());
  for (const std::uint8_t b : value) {
    const bool alnum = (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
    if (!alnum) return unreadable(field, fmt::format("byte {:02X} is not a letter or digit", b));
    out.push_back(static_cast<char>(b));
  }
  return out;
}

Result<std::string> parse_id_no(std::span<const std::uint8_t> value) {
  constexpr std::string_view field = "id_no";
  if (value.size() != 18) return unreadable(field, fmt::format("{} characters, expected 18", value.size()));
  std::string id(value.begin(), value.end());
  for (std::size_t i = 0; i < 17; ++i) {
    if (digit(id[i]) < 0) return unreadable(field, fmt::format("character {} is not a digit", i + 1));
  }
  if (id[17] == 'x') id[17] = 'X';
  if (digit(id[17]) < 0 && id[17] != 'X') return unreadable(field, "check character is not a digit or X");
  if (!id_check_digit_valid(id)) return unreadable(field, "GB 11643 check digit does not match");
  const int y = std::stoi(id.substr(6, 4));
  const int m = std::stoi(id.substr(10, 2));
  const int d = std::stoi(id.substr(12, 2));
  if (!valid_date(y, m, d)) return unreadable(field, "birth date inside the ID number is not a date");
  return id;
}

Result<Gender> parse_gender(std::span<const std::uint8_t> value) {
  if (value.size() != 1) return unreadable("gender", fmt::format("{} bytes, expected 1", value.size()));
  switch (value[0]) {
    case '0': return Gender::unknown;
    case '1': return Gender::male;
    case '2': return Gender::female;
    case '9': return Gender::unstated;
    default: return unreadable("gender", fmt::format("code {:02X} is not a GB/T 2261.1 gender", value[0]));
  }
}

Result<BirthDate> parse_birth_date(std::span<const std::uint8_t> value) {
  if (value.size() != 4) return unreadable("birth_date", fmt::format("{} bytes, expected 4 (BCD YYYYMMDD)", value.size()));
  int n[8];
  for (std::size_t i = 0; i < 4; ++i) {
    const int hi = value[i] >> 4;
    const int lo = value[i] & 0x0F;
    if (hi > 9 || lo > 9) return unreadable("birth_date", "not BCD");
    n[2 * i] = hi;
    n[2 * i + 1] = lo;
  }
  BirthDate b{n[0] * 1000 + n[1] * 100 + n[2] * 10 + n[3], n[4] * 10 + n[5], n[6] * 10 + n[7]};
  if (!valid_date(b.year, b.month, b.day)) return unreadable("birth_date", "not a calendar date");
  return b;
}

Status check_consistency(const CardIdentity& id) {
  const BirthDate in_id{std::stoi(id.id_no.substr(6, 4)), std::stoi(id.id_no.substr(10, 2)),
                        std::stoi(id.id_no.substr(12, 2))};
  if (!(in_id == id.birth_date)) return unreadable("birth_date", "differs from the birth date in the ID number");
  const int sex_digit = digit(id.id_no[16]);
  const Gender in_id_gender = sex_digit % 2 == 1 ? Gender::male : Gender::female;
  if ((id.gender == Gender::male || id.gender == Gender::female) && id.gender != in_id_gender) {
    return unreadable("gender", "differs from the gender digit of the ID number");
  }
  return Ok{};
}

std::string mask_id_no(std::string_view id_no) {
  if (id_no.size() <= 10) return std::string(id_no.size(), '*');
  std::string out{id_no.substr(0, 6)};
  out.append(id_no.size() - 10, '*');
  out.append(id_no.substr(id_no.size() - 4));
  return out;
}

}  // namespace settle::reader
