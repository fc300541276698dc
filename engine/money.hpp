// Amount: money as an exact integer number of fen, and Ratio: an exact
// fraction in parts per million. Parsing and printing follow the Money rules
// of settlement-rules.md; no float or double is ever on the way.
#pragma once

#include "engine/result.hpp"

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace settle {

class Amount {
 public:
  constexpr Amount() = default;
  static constexpr Amount fen(std::int64_t f) { return Amount(f); }
  static constexpr Amount zero() { return Amount(0); }

  constexpr std::int64_t fen() const { return fen_; }
  constexpr bool is_zero() const { return fen_ == 0; }
  constexpr bool is_negative() const { return fen_ < 0; }

  // Callers keep sums inside limits::amount_max_fen-bounded ranges; overflow
  // here is a programmer error (see limits.hpp for why it cannot happen).
  friend constexpr Amount operator+(Amount a, Amount b) { return Amount(a.fen_ + b.fen_); }
  friend constexpr Amount operator-(Amount a, Amount b) { return Amount(a.fen_ - b.fen_); }
  constexpr Amount& operator+=(Amount o) { fen_ += o.fen_; return *this; }
  constexpr Amount& operator-=(Amount o) { fen_ -= o.fen_; return *this; }
  friend constexpr auto operator<=>(Amount, Amount) = default;

 private:
  constexpr explicit Amount(std::int64_t f) : fen_(f) {}
  std::int64_t fen_ = 0;
};

constexpr Amount min(Amount a, Amount b) { return a < b ? a : b; }
constexpr Amount max(Amount a, Amount b) { return a < b ? b : a; }

enum class Sign { non_negative, any };

// Parses a decimal yuan amount as written on a wire: digits, optionally a
// point and one or two decimals ("12", "12.3", "12.30"); a leading '-' only
// with Sign::any. Rejects exponents, '+', spaces, leading zeros ("012"),
// a bare point, more than two decimals and anything above
// limits::amount_max_fen in magnitude. Errors are INVALID_AMOUNT naming `field`.
Result<Amount> parse_amount(std::string_view text, std::string_view field,
                            Sign sign = Sign::non_negative);

// "12.30", "-0.05", "0.00": always exactly two decimals.
std::string format_amount(Amount a);

// An exact ratio 0..1 in parts per million.
class Ratio {
 public:
  constexpr Ratio() = default;
  static constexpr Ratio ppm(std::int64_t p) { return Ratio(p); }
  static constexpr Ratio one() { return Ratio(1'000'000); }
  constexpr std::int64_t ppm() const { return ppm_; }
  friend constexpr auto operator<=>(Ratio, Ratio) = default;

 private:
  constexpr explicit Ratio(std::int64_t p) : ppm_(p) {}
  std::int64_t ppm_ = 0;
};

// Parses "0.10", "1", "0.875", "1.0" (at most six decimals, 0 <= r <= 1).
// Errors are INVALID_REQUEST naming `field` (INVALID_CONFIG with
// for_config = true).
Result<Ratio> parse_ratio(std::string_view text, std::string_view field, bool for_config = false);
// "0.1", "0.875", "1": the shortest exact form.
std::string format_ratio(Ratio r);

// amount × ratio, rounded half up (for non-negative amounts).
Amount mul_round_half_up(Amount a, Ratio r);
// amount × ratio, rounded down (for non-negative amounts).
Amount mul_floor(Amount a, Ratio r);

}  // namespace settle
