// Exact decimal parsing and printing of amounts and ratios, by hand over the
// characters: the only way to be sure no binary floating point is involved.
#include "engine/money.hpp"

#include "engine/limits.hpp"

#include <fmt/format.h>

namespace settle {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Parses "<int>[.<frac>]" with at most max_decimals digits after the point,
// returning the value scaled by 10^max_decimals, or an explanation.
struct Scaled {
  std::int64_t value = 0;
  const char* problem = nullptr;
};

Scaled parse_scaled(std::string_view s, int max_decimals, std::int64_t max_value) {
  if (s.empty()) return {0, "is empty"};
  std::size_t i = 0;
  std::int64_t int_part = 0;
  const std::size_t int_start = i;
  while (i < s.size() && is_digit(s[i])) {
    int_part = int_part * 10 + (s[i] - '0');
    if (int_part > max_value) return {0, "is too large"};
    ++i;
  }
  const std::size_t int_len = i - int_start;
  if (int_len == 0) return {0, "is not a decimal number"};
  if (int_len > 1 && s[int_start] == '0') return {0, "has a leading zero"};
  std::int64_t frac = 0;
  int decimals = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) {
      if (decimals == max_decimals) return {0, "has too many decimals"};
      frac = frac * 10 + (s[i] - '0');
      ++decimals;
      ++i;
    }
    if (decimals == 0) return {0, "has no digits after the decimal point"};
  }
  if (i != s.size()) {
    const char c = s[i];
    if (c == 'e' || c == 'E') return {0, "has an exponent"};
    if (is_digit(c)) return {0, "has too many decimals"};
    return {0, "is not a decimal number"};
  }
  std::int64_t scale = 1;
  for (int k = 0; k < max_decimals; ++k) scale *= 10;
  for (int k = decimals; k < max_decimals; ++k) frac *= 10;
  if (int_part > (max_value - frac) / scale) return {0, "is too large"};
  return {int_part * scale + frac, nullptr};
}

}  // namespace

Result<Amount> parse_amount(std::string_view text, std::string_view field, Sign sign) {
  const auto fail = [&](std::string_view why) {
    return make_error(Reason::invalid_amount, std::string(field),
                      fmt::format("{}: amount \"{}\" {}", field, text.substr(0, 40), why));
  };
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') {
    if (sign == Sign::non_negative) return fail("is negative");
    negative = true;
    digits.remove_prefix(1);
  }
  const Scaled s = parse_scaled(digits, limits::amount_decimals, limits::amount_max_fen);
  if (s.problem != nullptr) {
    if (std::string_view(s.problem) == "is too large")
      return fail(fmt::format("is above the limit of {} fen", limits::amount_max_fen));
    return fail(s.problem);
  }
  return Amount::fen(negative ? -s.value : s.value);
}

std::string format_amount(Amount a) {
  const std::int64_t f = a.fen();
  // Magnitude in unsigned arithmetic so INT64_MIN cannot overflow.
  const std::uint64_t mag = f < 0 ? 0 - static_cast<std::uint64_t>(f) : static_cast<std::uint64_t>(f);
  return fmt::format("{}{}.{:02}", f < 0 ? "-" : "", mag / 100, mag % 100);
}

Result<Ratio> parse_ratio(std::string_view text, std::string_view field, bool for_config) {
  const Scaled s = parse_scaled(text, limits::ratio_decimals, limits::ratio_denominator);
  if (s.problem != nullptr || s.value > limits::ratio_denominator) {
    const char* why = s.problem != nullptr ? s.problem : "is above 1";
    if (std::string_view(why) == "is too large") why = "is above 1";
    return make_error(for_config ? Reason::invalid_config : Reason::invalid_request,
                      std::string(field),
                      fmt::format("{}: ratio \"{}\" {} (write a decimal from 0 to 1 with at most {} decimals, e.g. \"0.10\")",
                                  field, text.substr(0, 40), why, limits::ratio_decimals));
  }
  return Ratio::ppm(s.value);
}

std::string format_ratio(Ratio r) {
  const std::int64_t whole = r.ppm() / limits::ratio_denominator;
  std::int64_t frac = r.ppm() % limits::ratio_denominator;
  if (frac == 0) return fmt::format("{}", whole);
  std::string digits = fmt::format("{:06}", frac);
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return fmt::format("{}.{}", whole, digits);
}

Amount mul_round_half_up(Amount a, Ratio r) {
  // amount_max_fen × ratio_denominator fits in int64 (limits.hpp).
  SETTLE_ASSERT(a.fen() >= 0 && a.fen() <= limits::amount_max_fen);
  return Amount::fen((a.fen() * r.ppm() + limits::ratio_denominator / 2) / limits::ratio_denominator);
}

Amount mul_floor(Amount a, Ratio r) {
  SETTLE_ASSERT(a.fen() >= 0 && a.fen() <= limits::amount_max_fen);
  return Amount::fen(a.fen() * r.ppm() / limits::ratio_denominator);
}

}  // namespace settle
